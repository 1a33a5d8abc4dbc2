/* meshcontrol audit verify|export: the audit log read from the store directly (a running
 * server need not be asked; several may share a PostgreSQL store).
 *
 *   audit verify [--head HASH]        walk the hash chain; the first bad row named, exit 1
 *   audit export --to FILE|- [--follow] [--after ID]
 *                                     JSON lines; to a FILE that already holds some, from
 *                                     the row after its last; --follow polls each second
 *                                     (`... --to - --follow | systemd-cat -t mesh-audit`
 *                                     for journald) */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/server/server.h"
#include "control/server/store.h"
#include "meshcontrol.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = sig;
}

static const struct option opts[] = {
	{ "head", required_argument, NULL, 'H' },
	{ "to", required_argument, NULL, 't' },
	{ "follow", no_argument, NULL, 'f' },
	{ "after", required_argument, NULL, 'a' },
	{ "store", required_argument, NULL, 'B' },
	{ "state", required_argument, NULL, 's' },
	{ 0 },
};

/* The id of the last line of FILE (written by export: it starts {"id":N), 0 when empty. */
static int last_id(const char *path, int64_t *after)
{
	FILE *f = fopen(path, "r");
	char line[512];
	long long id = 0;
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	/* lines are read whole in pieces: only each line's start is looked at */
	bool at_start = true;
	while (fgets(line, sizeof(line), f)) {
		if (at_start && sscanf(line, "{\"id\":%lld", &id) != 1 && line[0] != '\n') {
			fclose(f);
			return -EBADMSG;
		}
		at_start = strchr(line, '\n') != NULL;
	}
	fclose(f);
	*after = id;
	return 0;
}

static int export(struct ctl_store *s, const char *to, bool follow, int64_t after)
{
	FILE *out = stdout;
	if (strcmp(to, "-") != 0) {
		int rc = last_id(to, &after);
		if (rc) {
			fprintf(stderr, "meshcontrol: audit export: %s: %s\n", to,
				rc == -EBADMSG ? "not an audit export (a line does not start "
						 "with {\"id\":N)"
					       : strerror(-rc));
			return 1;
		}
		if (!(out = fopen(to, "a"))) {
			fprintf(stderr, "meshcontrol: audit export: %s: %s\n", to, strerror(errno));
			return 1;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	int rc;
	while (!(rc = ctl_audit_export(s, &after, out)) && follow && !stopping)
		sleep(1);
	if (out != stdout && fclose(out) != 0 && !rc)
		rc = -errno;
	if (rc)
		fprintf(stderr, "meshcontrol: audit export: %s\n",
			rc == -EPIPE ? "the output took no more" : strerror(-rc));
	return rc ? 1 : 0;
}

int meshcontrol_audit(int argc, char **argv, const char *state_dir, const char *store_url)
{
	const char *head = NULL, *to = NULL;
	bool follow = false;
	int64_t after = 0;
	char err[1024], *end;
	int c;
	if (argc < 2 || (strcmp(argv[1], "verify") != 0 && strcmp(argv[1], "export") != 0)) {
		fprintf(stderr, "meshcontrol: audit: expected 'verify [--head HASH]' or 'export "
				"--to FILE|- [--follow]'\n");
		return 2;
	}
	bool verify = strcmp(argv[1], "verify") == 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			head = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'f':
			follow = true;
			break;
		case 'a':
			after = strtoll(optarg, &end, 10);
			if (*end || after < 0) {
				fprintf(stderr,
					"meshcontrol: audit: --after '%s': expected a row id\n",
					optarg);
				return 2;
			}
			break;
		case 'B':
			store_url = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc || (verify && (to || follow)) || (!verify && (head || !to))) {
		fprintf(stderr, verify ? "meshcontrol: audit verify: expected [--head HASH]\n"
				       : "meshcontrol: audit export: expected --to FILE|- "
					 "[--follow] [--after ID]\n");
		return 2;
	}
	struct ctl_store *s;
	if (ctl_state_open_store(state_dir, store_url, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshcontrol: %s\n", err);
		return 1;
	}
	int rc;
	if (verify) {
		rc = ctl_audit_verify(s, head, stdout, err, sizeof(err)) ? 1 : 0;
		if (rc)
			fprintf(stderr, "meshcontrol: audit verify: %s\n", err);
	} else {
		rc = export(s, to, follow, after);
	}
	s->ops->close(s);
	return rc;
}
