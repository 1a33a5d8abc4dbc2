/* meshctl sessions: the live SSH sessions on this node (who, as whom, since when, from
 * where, recorded or not), and `meshctl sessions kill ID` to end one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"

static const char usage_text[] =
    "Usage: meshctl sessions [--json]\n"
    "       meshctl sessions kill ID\n"
    "List the live SSH sessions on this node, or end one (root or the operator group):\n"
    "its client is told \"Session ended by the node's administrator.\" and every process\n"
    "the session started is killed.\n"
    "  --json   every field, as JSON (source address, connection id, pid, cgroup)\n";

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

int meshctl_sessions(int argc, char **argv)
{
	bool json = false;
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("%s", usage_text);
		return 0;
	}
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
