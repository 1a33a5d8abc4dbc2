/* Two meshcontrol servers on one store (pg_pair.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/server/store.h"
#include "pg_pair.h"

struct ctl_server *pg_pair_server(const char *url, const char *dir, const char *name,
				  const struct pg_pair_opts *o)
{
	struct ctl_server_config cfg = { 0 };
	if (o && o->base)
		cfg = *o->base;
	cfg.state_dir = dir;
	cfg.store_url = url;
	cfg.replica_name = name;
	struct ctl_server *srv = NULL;
	char err[512] = "";
	int rc = ctl_server_new(&cfg, &srv, err, sizeof(err));
	if (!rc && o && o->prepare)
		o->prepare(srv);
	if (!rc)
		rc = o && o->feed_only ? ctl__replica_start(srv, err, sizeof(err))
				       : ctl_server_start(srv, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "pg_pair: the server in %s: %s\n", dir, err);
		ctl_server_free(srv);
		return NULL;
	}
	return srv;
}

/* from/state.db moved into the store at url, from/server.key copied into dir. */
static int migrate(const char *from, const char *url, const char *dir)
{
	char db[300], cmd[700], err[512] = "";
	snprintf(db, sizeof(db), "%s/state.db", from);
	FILE *report = fopen("/dev/null", "w");
	int rc = report ? ctl_store_migrate(db, url, report, err, sizeof(err)) : -1;
	if (report)
		fclose(report);
	if (rc) {
		fprintf(stderr, "pg_pair: store migrate %s: %s\n", db, err);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "cp %s/server.key %s/", from, dir);
	return system(cmd) == 0 ? 0 : -1;
}

int pg_pair_open(struct pg_pair *p, const char *url, const struct pg_pair_opts *o)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->a_dir, sizeof(p->a_dir), "/tmp/ctl-pair-a-XXXXXX");
	snprintf(p->b_dir, sizeof(p->b_dir), "/tmp/ctl-pair-b-XXXXXX");
	if (!mkdtemp(p->a_dir) || !mkdtemp(p->b_dir)) {
		perror("pg_pair: mkdtemp");
		pg_pair_close(p);
		return -1;
	}
	if ((o && o->from_state && migrate(o->from_state, url, p->a_dir) != 0) ||
	    !(p->a = pg_pair_server(url, p->a_dir, o ? o->name_a : NULL, o)) ||
	    !(p->b = pg_pair_server(url, p->b_dir, o ? o->name_b : NULL, o))) {
		pg_pair_close(p);
		return -1;
	}
	return 0;
}

void pg_pair_close(struct pg_pair *p)
{
	char cmd[100];
	ctl_server_free(p->a);
	ctl_server_free(p->b);
	p->a = p->b = NULL;
	for (int i = 0; i < 2; i++) {
		const char *d = i ? p->b_dir : p->a_dir;
		if (strncmp(d, "/tmp/ctl-pair-", 14) == 0 && !strstr(d, "XXXXXX")) {
			snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
			if (system(cmd) != 0)
				fprintf(stderr, "pg_pair: cannot remove %s\n", d);
		}
	}
	p->a_dir[0] = p->b_dir[0] = '\0';
}
