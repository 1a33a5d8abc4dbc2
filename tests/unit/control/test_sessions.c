/* The node API "sessions" codec (control/netmap/sessions.h): a numbered table of bad lists,
 * each refused with its exact sentence; a list's text exactly, and parsed back equal; the
 * bounds (entries, bytes, text) at their edges; the same ID twice. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control/netmap/sessions.h"

#define S(extra) "{\"sessions\":[{\"id\":\"s1\",\"since\":5,\"conn\":7" extra "}]}"

static const struct {
	const char *text, *err;
} bad[] = {
	/* 1 */ { "[]", "the list must be a JSON object" },
	/* 2 */ { "{", "JSON, line 1 column 1: string or '}' expected near end of file" },
	/* 3 */ { "{}", "\"sessions\" must be an array" },
	/* 4 */ { "{\"sessions\":[],\"x\":1}", "unknown member 'x' (only \"sessions\")" },
	/* 5 */ { "{\"sessions\":[1]}", "sessions[0]: must be an object" },
	/* 6 */ { S(",\"pid\":9"), "sessions[0]: unknown member 'pid'" },
	/* 7 */
	{ "{\"sessions\":[{\"since\":5,\"conn\":7}]}",
	  "sessions[0]: \"id\" must be \"s\" and 1 to 14 digits" },
	/* 8 */
	{ "{\"sessions\":[{\"id\":\"s1x\",\"since\":5,\"conn\":7}]}",
	  "sessions[0]: \"id\" must be \"s\" and 1 to 14 digits" },
	/* 9 */
	{ "{\"sessions\":[{\"id\":\"s123456789012345\",\"since\":5,\"conn\":7}]}",
	  "sessions[0]: \"id\" must be \"s\" and 1 to 14 digits" },
	/* 10 */
	{ "{\"sessions\":[{\"id\":\"s1\",\"since\":-1,\"conn\":7}]}",
	  "sessions[0]: \"since\" must be an integer >= 0" },
	/* 11 */
	{ "{\"sessions\":[{\"id\":\"s1\",\"since\":5}]}",
	  "sessions[0]: \"conn\" must be an integer >= 0" },
	/* 12 */ { S(",\"pty\":1"), "sessions[0]: \"pty\" must be true or false" },
	/* 13 */ { S(",\"who\":5"), "sessions[0]: \"who\" must be a string" },
	/* 14 */
	{ S(",\"command\":\"a\\u001b[2J\""),
	  "sessions[0]: \"command\" must be UTF-8 text without control characters" },
	/* 15 */
	{ S(",\"src_node\":\"a\\u007fb\""),
	  "sessions[0]: \"src_node\" must be UTF-8 text without control characters" },
	/* 16 */
	{ S(",\"ssh_user\":"
	    "\"0123456789012345678901234567890123456789012345678901234567890123\""),
	  "sessions[0]: \"ssh_user\" is longer than 63 bytes" },
	/* 17 */
	{ "{\"sessions\":[{\"id\":\"s1\",\"since\":5,\"conn\":7},{\"id\":\"s2\",\"since\":5,"
	  "\"conn\":7},{\"id\":\"s1\",\"since\":6,\"conn\":8}]}",
	  "session ID 's1' is in the list twice" },
	/* 18 */
	{ S(",\"recorder\":\"\\u0085\""),
	  "sessions[0]: \"recorder\" must be UTF-8 text without control characters" },
};

static void refused(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ctl_session *v = (void *)1;
		size_t n = 9;
		char err[512] = "";
		int rc =
		    ctl_sessions_parse(bad[i].text, strlen(bad[i].text), &v, &n, err, sizeof(err));
		if (rc != -EINVAL || strcmp(err, bad[i].err))
			fprintf(stderr, "bad %zu: %s\n", i + 1, err);
		CHECK_INT(rc, -EINVAL);
		CHECK_STR(err, bad[i].err);
		CHECK(v == NULL && n == 0);
	}
}

static void round_trip(void)
{
	struct ctl_session in[2] = {
		{ .id = "s3",
		  .since = 1765000000,
		  .conn = 42,
		  .src_node = "laptop",
		  .src_addr = "100.64.0.9",
		  .who = "alice@example.com",
		  .ssh_user = "vinay",
		  .local_user = "vinay",
		  .pty = true },
		{ .id = "s4",
		  .since = 1765000100,
		  .conn = 43,
		  .src_node = "ci-runner",
		  .src_addr = "fd7a:115c:a1e0::5",
		  .who = "tag:ci",
		  .ssh_user = "deploy",
		  .local_user = "deploy",
		  .command = "ansible-playbook site.yml",
		  .recorder = "100.64.0.7" },
	};
	char *text = ctl_sessions_format(in, 2);
	CHECK_STR(text, "{\"sessions\":[{\"id\":\"s3\",\"since\":1765000000,\"conn\":42,\"pty\":"
			"true,\"src_node\":\"laptop\",\"src_addr\":\"100.64.0.9\",\"who\":"
			"\"alice@example.com\",\"ssh_user\":\"vinay\",\"local_user\":\"vinay\","
			"\"command\":\"\",\"recorder\":\"\"},{\"id\":\"s4\",\"since\":1765000100,"
			"\"conn\":43,\"pty\":false,\"src_node\":\"ci-runner\",\"src_addr\":"
			"\"fd7a:115c:a1e0::5\",\"who\":\"tag:ci\",\"ssh_user\":\"deploy\","
			"\"local_user\":\"deploy\",\"command\":\"ansible-playbook site.yml\","
			"\"recorder\":\"100.64.0.7\"}]}");
	struct ctl_session *v;
	size_t n;
	char err[256] = "";
	CHECK_INT(ctl_sessions_parse(text, strlen(text), &v, &n, err, sizeof(err)), 0);
	CHECK_INT(n, 2);
	CHECK(n == 2 && memcmp(v, in, sizeof(in)) == 0);
	free(v);
	free(text);
	/* texts absent are "" */
	const char *min = "{\"sessions\":[{\"id\":\"s1\",\"since\":0,\"conn\":0}]}";
	CHECK_INT(ctl_sessions_parse(min, strlen(min), &v, &n, err, sizeof(err)), 0);
	CHECK(n == 1 && !v[0].who[0] && !v[0].pty && !strcmp(v[0].id, "s1"));
	free(v);
	const char *none = "{\"sessions\":[]}";
	CHECK_INT(ctl_sessions_parse(none, strlen(none), &v, &n, err, sizeof(err)), 0);
	CHECK(n == 0 && v == NULL);
}

static void bounds(void)
{
	struct ctl_session *in = calloc(CTL_SESSIONS_MAX + 1, sizeof(*in)), *v;
	size_t n;
	char err[256] = "";
	for (size_t i = 0; i <= CTL_SESSIONS_MAX; i++)
		snprintf(in[i].id, sizeof(in[i].id), "s%zu", i + 1);
	char *text = ctl_sessions_format(in, CTL_SESSIONS_MAX);
	CHECK_INT(ctl_sessions_parse(text, strlen(text), &v, &n, err, sizeof(err)), 0);
	CHECK_INT(n, CTL_SESSIONS_MAX);
	free(v);
	free(text);
	text = ctl_sessions_format(in, CTL_SESSIONS_MAX + 1);
	CHECK_INT(ctl_sessions_parse(text, strlen(text), &v, &n, err, sizeof(err)), -E2BIG);
	CHECK_STR(err, "\"sessions\" has 2049 entries (at most 2048)");
	free(text);
	/* every text at its longest: within the body's bound */
	for (size_t i = 0; i < CTL_SESSIONS_MAX; i++) {
		memset(in[i].src_node, 'n', sizeof(in[i].src_node) - 1);
		memset(in[i].src_addr, 'a', sizeof(in[i].src_addr) - 1);
		memset(in[i].who, 'w', sizeof(in[i].who) - 1);
		memset(in[i].ssh_user, 'u', sizeof(in[i].ssh_user) - 1);
		memset(in[i].local_user, 'l', sizeof(in[i].local_user) - 1);
		memset(in[i].command, 'c', sizeof(in[i].command) - 1);
		memset(in[i].recorder, 'r', sizeof(in[i].recorder) - 1);
		in[i].since = INT64_MAX;
		in[i].conn = INT64_MAX;
	}
	text = ctl_sessions_format(in, CTL_SESSIONS_MAX);
	CHECK(text && strlen(text) <= CTL_SESSIONS_BODY_MAX);
	CHECK_INT(ctl_sessions_parse(text, strlen(text), &v, &n, err, sizeof(err)), 0);
	CHECK(n == CTL_SESSIONS_MAX && memcmp(v, in, n * sizeof(*v)) == 0);
	free(v);
	free(text);
	char *big = malloc(CTL_SESSIONS_BODY_MAX + 2);
	memset(big, ' ', CTL_SESSIONS_BODY_MAX + 1);
	big[CTL_SESSIONS_BODY_MAX + 1] = '\0';
	CHECK_INT(ctl_sessions_parse(big, CTL_SESSIONS_BODY_MAX + 1, &v, &n, err, sizeof(err)),
		  -E2BIG);
	CHECK_STR(err, "the list is 2097153 bytes (at most 2097152)");
	free(big);
	free(in);
	/* what meshd cuts: on a character, clean */
	char cut[8];
	ctl_session_text_set(cut, sizeof(cut), "ab\x1b[2J\xc3\xa9\xc3\xa9");
	CHECK_STR(cut, "ab?[2J");
	CHECK(ctl_session_id_valid("s1") && ctl_session_id_valid("s12345678901234"));
	CHECK(!ctl_session_id_valid("s") && !ctl_session_id_valid("s123456789012345") &&
	      !ctl_session_id_valid("x1") && !ctl_session_id_valid("s-1"));
}

int main(void)
{
	refused();
	round_trip();
	bounds();
	return check_finish();
}
