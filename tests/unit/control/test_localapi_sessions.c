/* The local API's list of live SSH sessions (meshctl sessions): what meshd encodes meshctl
 * decodes, and each kind of bad answer is refused with the exact message, its text cleared
 * of terminal controls. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "control/localapi/localapi.h"

#define ONE(extra)                                                                            \
	"{\"ok\":true,\"sessions\":[{\"id\":\"s1\",\"src_addr\":\"100.64.0.2\",\"ssh_user\":" \
	"\"vinay\",\"local_user\":\"vinay\"" extra "}]}"

static const struct {
	int n;
	const char *in;
	const char *msg;
} bad[] = {
	{ 1, "{\"ok\":true}", "\"sessions\" must be an array" },
	{ 2, "{\"ok\":true,\"sessions\":{}}", "\"sessions\" must be an array" },
	{ 3, "{\"ok\":true,\"sessions\":[1]}", "sessions[0]: a session must be an object" },
	{ 4, "{\"ok\":true,\"sessions\":[{}]}",
	  "sessions[0]: \"id\" must be \"s\" and 1 to 14 digits" },
	{ 5, "{\"ok\":true,\"sessions\":[{\"id\":\"s\"}]}",
	  "sessions[0]: \"id\" must be \"s\" and 1 to 14 digits" },
	{ 6, "{\"ok\":true,\"sessions\":[{\"id\":\"s1x\"}]}",
	  "sessions[0]: \"id\" must be \"s\" and 1 to 14 digits" },
	{ 7, "{\"ok\":true,\"sessions\":[{\"id\":\"s123456789012345\"}]}",
	  "sessions[0]: \"id\" must be \"s\" and 1 to 14 digits" },
	{ 8, "{\"ok\":true,\"sessions\":[{\"id\":\"s1\"}]}",
	  "sessions[0]: \"src_addr\" is missing" },
	{ 9, ONE(",\"ssh_user\":5"), NULL /* duplicate key */ },
	{ 10, ONE(",\"pid\":-1"), "sessions[0]: \"pid\" is -1, outside 0..2147483647" },
	{ 11, ONE(",\"since\":\"now\""), "sessions[0]: \"since\" must be an integer" },
	{ 12, ONE(",\"pty\":1"), "sessions[0]: \"pty\" must be true or false" },
	{ 13, ONE(",\"src_tags\":\"tag:x\""), NULL /* names src_tags; wording from netmap */ },
	{ 14, ONE(",\"recorder\":7"), "sessions[0]: \"recorder\" must be a string" },
};

int main(void)
{
	char err[600];
	struct ctl_lapi_session *v;
	size_t n;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		int rc =
		    ctl_lapi_sessions_parse(bad[i].in, strlen(bad[i].in), &v, &n, err, sizeof(err));
		if (rc != -EINVAL)
			fprintf(stderr, "bad %d: accepted\n", bad[i].n);
		CHECK_INT(rc, -EINVAL);
		CHECK(v == NULL && n == 0);
		if (bad[i].msg)
			CHECK_STR(err, bad[i].msg);
		else
			CHECK(err[0] != '\0');
		if (bad[i].n == 13)
			CHECK(strstr(err, "src_tags") != NULL);
	}

	/* a command longer than meshd lists */
	char big[600];
	snprintf(big, sizeof(big), ONE(",\"command\":\"%0256d\""), 0);
	CHECK_INT(ctl_lapi_sessions_parse(big, strlen(big), &v, &n, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "sessions[0]: \"command\" is longer than 255 bytes");

	/* more sessions than one answer may hold */
	size_t cap = (CTL_LAPI_SESSIONS_MAX + 1) * 3 + 64, o;
	char *many = malloc(cap);
	o = (size_t)snprintf(many, cap, "{\"ok\":true,\"sessions\":[");
	for (int i = 0; i <= CTL_LAPI_SESSIONS_MAX; i++)
		o += (size_t)snprintf(many + o, cap - o, "%s{}", i ? "," : "");
	snprintf(many + o, cap - o, "]}");
	CHECK_INT(ctl_lapi_sessions_parse(many, strlen(many), &v, &n, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "\"sessions\" has 2049 entries (at most 2048)");
	free(many);

	/* round trip, and terminal controls in what meshctl prints become '?' */
	char *tags[] = { "tag:ci", "tag:\x1b[2J" };
	struct ctl_lapi_session s[2] = {
		{ .id = "s7",
		  .conn_id = 12,
		  .src_node = "laptop",
		  .src_addr = "100.64.0.2",
		  .src_owner = "alice@example.com",
		  .ssh_user = "root",
		  .local_user = "root",
		  .pty = true,
		  .since = 1765000000,
		  .recorder = "100.64.0.9, local",
		  .pid = 4242,
		  .cgroup = "/system.slice/meshd.service/session-1-3" },
		{ .id = "s8",
		  .src_node = "ci",
		  .src_addr = "fd7a:115c:a1e0::3",
		  .src_tags = tags,
		  .n_src_tags = 2,
		  .ssh_user = "deploy",
		  .local_user = "deploy",
		  .command = "echo \x1b]0;owned\x07" },
	};
	char *line = ctl_lapi_sessions_format(s, 2);
	CHECK(line && line[strlen(line) - 1] == '\n');
	CHECK_INT(ctl_lapi_sessions_parse(line, strlen(line), &v, &n, err, sizeof(err)), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(v[0].id, "s7");
		CHECK_INT(v[0].conn_id, 12);
		CHECK_STR(v[0].src_node, "laptop");
		CHECK_STR(v[0].src_owner, "alice@example.com");
		CHECK(v[0].pty && !v[1].pty);
		CHECK_INT(v[0].since, 1765000000);
		CHECK_STR(v[0].recorder, "100.64.0.9, local");
		CHECK_INT(v[0].pid, 4242);
		CHECK_STR(v[0].cgroup, "/system.slice/meshd.service/session-1-3");
		CHECK(v[0].command == NULL && v[1].recorder == NULL && v[1].cgroup == NULL);
		CHECK_STR(v[1].src_addr, "fd7a:115c:a1e0::3");
		CHECK_INT(v[1].n_src_tags, 2);
		CHECK_STR(v[1].src_tags[1], "tag:?[2J");
		CHECK_STR(v[1].command, "echo ?]0;owned?");
		CHECK(v[1].src_owner == NULL);
	}
	ctl_lapi_sessions_free(v, n);
	free(line);
	line = ctl_lapi_sessions_format(NULL, 0);
	CHECK_STR(line, "{\"ok\":true,\"sessions\":[]}\n");
	CHECK_INT(ctl_lapi_sessions_parse(line, strlen(line), &v, &n, err, sizeof(err)), 0);
	CHECK(v == NULL && n == 0);
	free(line);
	return check_finish();
}
