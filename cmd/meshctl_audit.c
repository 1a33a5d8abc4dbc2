/* meshctl audit: the tailnet's audit log from meshcontrol's admin API (GET /api/v1/audit),
 * as a table or JSON lines, every row matching (a page of 1000 at a time), then with
 * --follow the new ones as they come (long polls of 25 s) until interrupted. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/meshctl.h"
#include "common/when.h"
#include "control/admin/admin.h"

enum { PAGE = 1000, FOLLOW_WAIT_S = 25 };

static const char help[] =
    "Usage: meshctl audit [--json] [--follow] [--user=LOGIN] [--node=NAME] [--type=TYPE]\n"
    "                     [--since=WHEN]\n"
    "The audit log kept by meshcontrol: SSH decisions and sessions reported by the nodes,\n"
    "registrations, sign-ins to control and admin changes, oldest first.\n"
    "  --json         one JSON object a line (every member, with id and hash)\n"
    "  --follow       then wait for new events and print them as they come\n"
    "  --user=LOGIN   events whose who (a node event) or actor (control's) is LOGIN\n"
    "  --node=NAME    events of that node\n"
    "  --type=TYPE    ssh.refuse, or a prefix: ssh, admin, control\n"
    "  --since=WHEN   30s, 10m, 2h or 7d ago, an RFC 3339 time, or unix milliseconds\n";

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = sig;
}

/* --since: unix ms, a duration ago or an RFC 3339 time (common/when.h); -1 when it is none. */
static long long since_ms(const char *s)
{
	char *end;
	long long x = strtoll(s, &end, 10);
	int64_t ms;
	if (end != s && !*end)
		return x >= 0 ? x : -1;
	return when_parse(s, (int64_t)time(NULL) * 1000, &ms) == 0 ? ms : -1;
}

int meshctl_audit(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("%s\n%s", help, meshctl_admin_help());
			return 0;
		}
	char **args, filter[2048] = "";
	int n;
	bool json = false, follow = false;
	struct meshctl_admin *a = meshctl_admin_new(argc, argv, &args, &n);
	if (!a)
		return 2;
	static const char *const keys[] = { "--user=", "--node=", "--type=" };
	for (int i = 0; i < n; i++) {
		bool known = true;
		if (!strcmp(args[i], "--json"))
			json = true;
		else if (!strcmp(args[i], "--follow"))
			follow = true;
		else if (!strncmp(args[i], "--since=", 8)) {
			long long ms = since_ms(args[i] + 8);
			char v[32];
			if (ms < 0) {
				fprintf(stderr,
					"meshctl audit: --since '%s': expected 30s, 10m, 2h, "
					"7d or unix milliseconds\n",
					args[i] + 8);
				meshctl_admin_free(a);
				return 2;
			}
			snprintf(v, sizeof(v), "%lld", ms);
			meshctl_admin_param(filter, sizeof(filter), "since", v);
		} else {
			known = false;
			for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
				if (!strncmp(args[i], keys[k], strlen(keys[k]))) {
					char key[8];
					snprintf(key, sizeof(key), "%.4s", keys[k] + 2);
					meshctl_admin_param(filter, sizeof(filter), key,
							    args[i] + strlen(keys[k]));
					known = true;
				}
		}
		if (!known) {
			fprintf(stderr, "meshctl audit: unknown argument '%s'\n%s", args[i], help);
			meshctl_admin_free(a);
			return 2;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	long long after = 0;
	bool header = true, caught_up = false;
	int rc = 0;
	while (!stopping) {
		char path[2300];
		snprintf(path, sizeof(path), "audit?after=%lld&limit=%d%s", after, PAGE, filter);
		if (caught_up)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "&wait=%d",
				 FOLLOW_WAIT_S);
		char *body = meshctl_admin_request(a, "GET", path, NULL);
		long long next = after;
		size_t rows = 0;
		char *text = body ? ctl_admin_audit_text(body, json, header, &next, &rows) : NULL;
		if (body && !text)
			fprintf(stderr,
				"meshctl audit: meshcontrol's answer is not an audit list\n");
		free(body);
		if (!text) {
			rc = 1;
			break;
		}
		fputs(text, stdout);
		fflush(stdout);
		free(text);
		header = false;
		/* a full page: more right away; otherwise caught up */
		caught_up = rows < PAGE;
		after = next;
		if (caught_up && !follow)
			break;
	}
	meshctl_admin_free(a);
	return rc;
}
