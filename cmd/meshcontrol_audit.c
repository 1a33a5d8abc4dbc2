/* meshcontrol audit verify|export|prune: the audit log read from the store directly (a
 * running server need not be asked; several may share a PostgreSQL store).
 *
 *   audit verify [--head HASH]        walk the hash chain; the first bad row named, exit 1
 *   audit export --to FILE|- [--follow] [--after ID]
 *                                     JSON lines; to a FILE that already holds some, from
 *                                     the row after its last; --follow polls each second
 *                                     (`... --to - --follow | systemd-cat -t mesh-audit`
 *                                     for journald)
 *   audit prune --before TIME [--export FILE] [--dry-run]
 *                                     the oldest rows received before TIME (90d, or RFC
 *                                     3339) removed, the chain anchored at the last of
 *                                     them (store_audit.c); --export writes them to a new
 *                                     FILE, synced, before anything is removed */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/now.h"
#include "common/when.h"
#include "control/server/server.h"
#include "control/server/store.h"
#include "meshcontrol.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = sig;
}

static const struct option opts[] = {
	{ "head", required_argument, NULL, 'H' },   { "to", required_argument, NULL, 't' },
	{ "follow", no_argument, NULL, 'f' },	    { "after", required_argument, NULL, 'a' },
	{ "store", required_argument, NULL, 'B' },  { "state", required_argument, NULL, 's' },
	{ "before", required_argument, NULL, 'b' }, { "export", required_argument, NULL, 'e' },
	{ "dry-run", no_argument, NULL, 'n' },	    { 0 },
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
	while (!(rc = ctl_audit_export(s, &after, 0, out)) && follow && !stopping)
		sleep(1);
	if (out != stdout && fclose(out) != 0 && !rc)
		rc = -errno;
	if (rc)
		fprintf(stderr, "meshcontrol: audit export: %s\n",
			rc == -EPIPE ? "the output took no more" : strerror(-rc));
	return rc ? 1 : 0;
}

/* The rows p would remove into a new file path, synced (and its directory) before they
 * are: 0, or 1 with the reason on stderr (the file removed again). */
static int prune_export(struct ctl_store *s, const struct ctl_audit_prune_plan *p, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "meshcontrol: audit prune: --export %s: %s\n", path,
			errno == EEXIST ? "the file exists (not overwritten: name a new one)"
					: strerror(errno));
		return 1;
	}
	FILE *f = fdopen(fd, "w");
	int64_t after = p->prev.through;
	int rc = f ? ctl_audit_export(s, &after, p->next.through, f) : -errno;
	if (!rc && after != p->next.through)
		rc = -ESTALE; /* rows gone since the plan: another prune */
	if (!rc && (fflush(f) != 0 || fsync(fd) != 0))
		rc = -errno;
	if (!f)
		close(fd);
	else if (fclose(f) != 0 && !rc)
		rc = -errno;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	int dfd = rc ? -1 : open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!rc && (dfd < 0 || fsync(dfd) != 0))
		rc = -errno;
	if (dfd >= 0)
		close(dfd);
	if (rc) {
		fprintf(stderr, "meshcontrol: audit prune: --export %s: %s; nothing pruned\n", path,
			rc == -ESTALE  ? "the audit log changed meanwhile (another prune?)"
			: rc == -EPIPE ? "cannot write it (disk full?)"
				       : strerror(-rc));
		unlink(path);
		return 1;
	}
	return 0;
}

static int prune(struct ctl_store *s, int64_t before_ms, const char *export_path, bool dry_run)
{
	struct ctl_audit_prune_plan p;
	char err[1024], date[WHEN_TEXT], first[WHEN_TEXT], last[WHEN_TEXT], hex[65];
	int64_t event_id = 0;
	when_format(before_ms, date);
	if (ctl_audit_prune_plan(s, before_ms, &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshcontrol: audit prune: %s\n", err);
		return 1;
	}
	if (!p.next.count) {
		printf("nothing to prune: no event received before %s (the log starts after row "
		       "%" PRId64 ")\n",
		       date, p.prev.through);
		return 0;
	}
	when_format(p.first_ms, first);
	when_format(p.last_ms, last);
	sodium_bin2hex(hex, sizeof(hex), p.next.hash, sizeof(p.next.hash));
	if (dry_run) {
		printf("would prune %" PRId64 " events (rows %" PRId64 "..%" PRId64
		       ", received %s to %s); the log would start after row %" PRId64 ", hash %s\n",
		       p.next.count, p.prev.through + 1, p.next.through, first, last,
		       p.next.through, hex);
		if (export_path && access(export_path, F_OK) == 0) {
			fprintf(stderr,
				"meshcontrol: audit prune: --export %s: the file exists "
				"(not overwritten: name a new one)\n",
				export_path);
			return 1;
		}
		return 0;
	}
	if (export_path && prune_export(s, &p, export_path) != 0)
		return 1;
	char actor[CTL_LOGIN_MAX];
	struct passwd *pw = getpwuid(getuid());
	snprintf(actor, sizeof(actor), "meshcontrol audit prune (%s)",
		 pw ? pw->pw_name : "unknown user");
	if (ctl_audit_prune(s, &p, (int64_t)(now_wall_ns() / 1000000), actor, &event_id, err,
			    sizeof(err)) != 0) {
		fprintf(stderr, "meshcontrol: audit prune: %s\n", err);
		return 1;
	}
	printf("pruned %" PRId64 " events (rows %" PRId64 "..%" PRId64 ", received %s to %s)%s%s; "
	       "the log now starts after row %" PRId64 ", hash %s; row %" PRId64
	       " says so (admin.audit.prune)\n",
	       p.next.count, p.prev.through + 1, p.next.through, first, last,
	       export_path ? ", exported to " : "", export_path ? export_path : "", p.next.through,
	       hex, event_id);
	return 0;
}

static const char *const usage[] = {
	"expected 'verify [--head HASH]', 'export --to FILE|- [--follow] [--after ID]' or "
	"'prune --before TIME [--export FILE] [--dry-run]'",
	"verify: expected [--head HASH]",
	"export: expected --to FILE|- [--follow] [--after ID]",
	"prune: expected --before TIME (90d, 12h, or an RFC 3339 time like "
	"2026-03-01T00:00:00Z) [--export FILE] [--dry-run]",
};

int meshcontrol_audit(int argc, char **argv, const char *state_dir, const char *store_url)
{
	const char *head = NULL, *to = NULL, *before = NULL, *export_path = NULL;
	bool follow = false, dry_run = false;
	int64_t after = 0, before_ms = 0;
	char err[1024], *end;
	int c;
	int verb = argc < 2			    ? 0
		   : strcmp(argv[1], "verify") == 0 ? 1
		   : strcmp(argv[1], "export") == 0 ? 2
		   : strcmp(argv[1], "prune") == 0  ? 3
						    : 0;
	if (!verb) {
		fprintf(stderr, "meshcontrol: audit: %s\n", usage[0]);
		return 2;
	}
	bool verify = verb == 1;
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
		case 'b':
			before = optarg;
			break;
		case 'e':
			export_path = optarg;
			break;
		case 'n':
			dry_run = true;
			break;
		default:
			return 2;
		}
	}
	bool export_opts = to || follow || after, prune_opts = before || export_path || dry_run;
	if (optind != argc || (verb == 1 && (export_opts || prune_opts)) ||
	    (verb == 2 && (head || prune_opts || !to)) ||
	    (verb == 3 && (head || export_opts || !before))) {
		fprintf(stderr, "meshcontrol: audit %s\n", usage[verb]);
		return 2;
	}
	if (before && when_parse(before, (int64_t)(now_wall_ns() / 1000000), &before_ms) != 0) {
		fprintf(
		    stderr,
		    "meshcontrol: audit prune: --before '%.80s': expected a duration (30s, 10m, "
		    "12h, 90d) or an RFC 3339 time (2026-03-01T00:00:00Z)\n",
		    before);
		return 2;
	}
	if (export_path && !export_path[0]) {
		fprintf(stderr, "meshcontrol: audit prune: --export: expected a file name\n");
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
	} else if (verb == 3) {
		rc = prune(s, before_ms, export_path, dry_run);
	} else {
		rc = export(s, to, follow, after);
	}
	s->ops->close(s);
	return rc;
}
