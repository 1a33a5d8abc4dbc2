/* meshctl sessions: the live SSH sessions on this node (who, as whom, since when, from
 * where, recorded or not), and `meshctl sessions kill ID` to end one; with --all every
 * node's, from meshcontrol's admin API, and `meshctl sessions kill NODE/ID` through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"
#include "control/admin/admin.h"

static const char usage_text[] =
    "Usage: meshctl sessions [--json]\n"
    "       meshctl sessions kill ID\n"
    "       meshctl sessions --all [--json] [--node=NAME] [--user=LOGIN] ADMIN-OPTIONS\n"
    "       meshctl sessions kill NODE/ID ADMIN-OPTIONS\n"
    "List the live SSH sessions on this node, or end one (root or the operator group):\n"
    "its client is told \"Session ended by the node's administrator.\" and every process\n"
    "the session started is killed.  With --all, every node's sessions as they reported\n"
    "them to meshcontrol (admin token); NODE/ID ends one through meshcontrol.\n"
    "  --json         every field, as JSON (source address, connection id, pid, cgroup)\n"
    "  --node=NAME    --all: that node's only\n"
    "  --user=LOGIN   --all: the sessions whose source is LOGIN's (or tagged so)\n";

/* The owner, or the tags joined by commas. */
static void who(const struct ctl_lapi_session *s, char *out, size_t len)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < s->n_src_tags && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : "", s->src_tags[i]);
	if (!s->n_src_tags)
		snprintf(out, len, "%s", s->src_owner ? s->src_owner : "-");
}

/* The start: the time of day today, else the date. */
static void since(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t, now = time(NULL);
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(out, len, now - tt < 20 * 3600 ? "%H:%M:%S" : "%Y-%m-%d", &tm);
}

enum { WHAT_WIDTH = 40 };

/* "shell (pty)", "exec: CMD" or "exec (pty): CMD", cut to WHAT_WIDTH bytes with "...". */
static void what(const struct ctl_lapi_session *s, char *out, size_t len)
{
	if (!s->command) {
		snprintf(out, len, "shell%s", s->pty ? " (pty)" : "");
		return;
	}
	int room = WHAT_WIDTH - (s->pty ? 12 : 6); /* after "exec (pty): " or "exec: " */
	bool cut = strlen(s->command) > (size_t)room;
	snprintf(out, len, "exec%s: %.*s%s", s->pty ? " (pty)" : "", cut ? room - 3 : room,
		 s->command, cut ? "..." : "");
}

static int list(bool json)
{
	struct ctl_lapi_request req = { .cmd = CTL_LAPI_SESSIONS };
	char *line = meshctl_call(&req, NULL);
	if (!line)
		return 1;
	struct ctl_lapi_session *v;
	size_t n;
	char err[600];
	if (ctl_lapi_sessions_parse(line, strlen(line), &v, &n, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshctl sessions: meshd sent an answer I cannot read: %s\n", err);
		free(line);
		return 1;
	}
	if (json) {
		char *pretty = ctl_lapi_pretty(line, strlen(line), "sessions");
		printf("%s\n", pretty ? pretty : "[]");
		free(pretty);
	} else if (!n) {
		printf("# no SSH sessions on this node\n");
	} else {
		printf("%-6s %-16s %-22s %-20s %-9s %-*s %s\n", "ID", "FROM", "WHO", "AS", "SINCE",
		       WHAT_WIDTH, "WHAT", "RECORDED");
	}
	for (size_t i = 0; !json && i < n; i++) {
		const struct ctl_lapi_session *s = &v[i];
		char w[256], as[2 * 64 + 8], t[32], cmd[64];
		who(s, w, sizeof(w));
		snprintf(as, sizeof(as), "%s\u2192%s", s->ssh_user, s->local_user);
		since(s->since, t, sizeof(t));
		what(s, cmd, sizeof(cmd));
		/* AS is 2 bytes wider than its column: the arrow is 3 bytes, 1 column */
		printf("%-6s %-16s %-22s %-22s %-9s %-*s %s\n", s->id,
		       s->src_node ? s->src_node : s->src_addr, w, as, t, WHAT_WIDTH, cmd,
		       s->recorder ? s->recorder : "no");
	}
	ctl_lapi_sessions_free(v, n);
	free(line);
	return 0;
}

static int kill_one(const char *id)
{
	struct ctl_lapi_request req = { .cmd = CTL_LAPI_KILL, .id = (char *)id };
	char *line = meshctl_call(&req, NULL); /* prints meshd's refusal */
	if (!line)
		return 1;
	free(line);
	printf("%s ended\n", id);
	return 0;
}

/* --all, or kill NODE/ID: through meshcontrol's admin API. */
static int tailnet(int argc, char **argv)
{
	char **args, filter[600] = "", path[620];
	int n, rc = 0;
	bool json = false;
	const char *target = NULL;
	struct meshctl_admin *a = meshctl_admin_new(argc, argv, &args, &n);
	if (!a)
		return 2;
	for (int i = 0; i < n && !rc; i++) {
		if (!strcmp(args[i], "--all"))
			continue;
		if (!strcmp(args[i], "--json"))
			json = true;
		else if (!strncmp(args[i], "--node=", 7))
			meshctl_admin_param(filter, sizeof(filter), "node", args[i] + 7);
		else if (!strncmp(args[i], "--user=", 7))
			meshctl_admin_param(filter, sizeof(filter), "user", args[i] + 7);
		else if (!strcmp(args[i], "kill") && i + 1 < n && !target)
			target = args[++i];
		else {
			fprintf(stderr, "meshctl sessions: unexpected argument '%s'\n%s", args[i],
				usage_text);
			rc = 2;
		}
	}
	if (!rc && target) {
		char node[256];
		const char *slash = strrchr(target, '/');
		snprintf(node, sizeof(node), "%.*s", (int)(slash - target), target);
		char *body = ctl_admin_session_kill_body(node, slash + 1);
		char *answer =
		    body ? meshctl_admin_request(a, "POST", "sessions/kill", body) : NULL;
		if (answer)
			printf("%s/%s: meshcontrol tells %s to end it\n", node, slash + 1, node);
		rc = answer ? 0 : 1;
		free(body);
		free(answer);
	} else if (!rc) {
		snprintf(path, sizeof(path), "sessions%s%s", filter[0] ? "?" : "",
			 filter[0] ? filter + 1 : "");
		char *answer = meshctl_admin_request(a, "GET", path, NULL);
		size_t rows = 0;
		char *text = answer ? ctl_admin_sessions_text(answer, json, &rows) : NULL;
		if (answer && !text)
			fprintf(stderr, "meshctl sessions: meshcontrol's answer is not a list\n");
		if (text && !json && !rows)
			printf("# no SSH sessions reported by any node\n");
		else if (text)
			fputs(text, stdout);
		rc = text ? 0 : 1;
		free(text);
		free(answer);
	}
	meshctl_admin_free(a);
	return rc;
}

int meshctl_sessions(int argc, char **argv)
{
	bool json = false;
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("%s", usage_text);
		return 0;
	}
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--all") ||
		    (i == 2 && !strcmp(argv[1], "kill") && strchr(argv[2], '/')))
			return tailnet(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "kill") == 0) {
		if (argc != 3) {
			fprintf(stderr, "Usage: meshctl sessions kill ID (an ID from meshctl "
					"sessions, like s7)\n");
			return 2;
		}
		return kill_one(argv[2]);
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0) {
			fprintf(stderr, "meshctl sessions: unexpected argument '%s'\n%s", argv[i],
				usage_text);
			return 2;
		}
		json = true;
	}
	return list(json);
}
