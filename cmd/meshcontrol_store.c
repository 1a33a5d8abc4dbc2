/* meshcontrol store migrate --from sqlite:PATH --to postgres://...: a SQLite tailnet copied
 * into an empty PostgreSQL store (control/server/store_migrate.c), and the server key beside
 * the SQLite database made the store's. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "control/server/server.h"
#include "control/server/store.h"
#include "meshcontrol.h"

/* The server key beside the SQLite database (its state directory's server.key) made the
 * store's, as the first replica would: the nodes pinned it, and a replica started first
 * from another state directory would otherwise store a key of its own. */
static int migrate_server_key(const char *db, const char *to)
{
	char dir[4096];
	char path[4200], key[45], err[512];
	snprintf(dir, sizeof(dir), "%s", db);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	snprintf(path, sizeof(path), "%s/server.key", dir);
	if (access(path, F_OK) != 0) {
		printf("no %s: the first replica to start stores the tailnet's server key\n", path);
		return 0;
	}
	struct ctl_store *s;
	if (ctl_state_open_store(dir, to, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshcontrol: %s\n", err);
		return 1;
	}
	int rc = ctl_store_server_key(s, to, dir, key, err, sizeof(err));
	s->ops->close(s);
	if (rc) {
		fprintf(stderr, "meshcontrol: store migrate: %s\n", err);
		return 1;
	}
	printf("server key %s (%s) is the store's\n", key, path);
	return 0;
}

int meshcontrol_store(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ 0 },
	};
	const char *from = NULL, *to = NULL;
	char err[1024];
	int c;
	if (argc < 2 || strcmp(argv[1], "migrate") != 0) {
		fprintf(stderr, "meshcontrol: store: expected 'migrate --from sqlite:PATH --to "
				"postgres://...'\n");
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f')
			from = optarg;
		else if (c == 't')
			to = optarg;
		else
			return 2;
	}
	if (!from || strncmp(from, "sqlite:", 7) != 0 || !from[7] || !to || optind != argc) {
		fprintf(stderr, "meshcontrol: store migrate: expected --from sqlite:PATH --to "
				"postgres://...\n");
		return 2;
	}
	if (access(from + 7, R_OK) != 0) {
		fprintf(stderr, "meshcontrol: store migrate: %s: %s\n", from + 7, strerror(errno));
		return 1;
	}
	if (ctl_store_migrate(from + 7, to, stdout, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshcontrol: store migrate: %s\n", err);
		return 1;
	}
	char shown[512];
	ctl_store_url_redact(to, shown, sizeof(shown));
	printf("copied %s to %s\n", from + 7, shown);
	return migrate_server_key(from + 7, to);
}
