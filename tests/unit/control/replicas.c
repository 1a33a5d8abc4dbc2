/* Two servers on one PostgreSQL database (replicas.h). */
#include "replicas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/server/internal.h"
#include "tests/fuzz/control/srv_harness.h"

static struct ctl_server *replica(const char *url, const char *dir)
{
	struct ctl_server_config cfg = { .state_dir = dir, .store_url = url };
	struct ctl_server *srv = NULL;
	char err[512] = "";
	if (ctl_server_new(&cfg, &srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "replicas: server: %s\n", err);
		return NULL;
	}
	fz_srv_web(srv);
	if (ctl__replica_start(srv, err, sizeof(err)) != 0)
		fprintf(stderr, "replicas: %s\n", err); /* it cannot hear the other: tests fail */
	return srv;
}

bool replicas_open(struct replicas *rp, const char *url)
{
	char cmd[400], err[512] = "the copy failed", db[300];
	memset(rp, 0, sizeof(*rp));
	snprintf(rp->a_dir, sizeof(rp->a_dir), "/tmp/ctl-replica-a-XXXXXX");
	snprintf(rp->b_dir, sizeof(rp->b_dir), "/tmp/ctl-replica-b-XXXXXX");
	if (!mkdtemp(rp->a_dir) || !mkdtemp(rp->b_dir)) {
		perror("replicas: mkdtemp");
		return false;
	}
	struct ctl_server *t = fz_srv_open();
	snprintf(db, sizeof(db), "%s/state.db", t->cfg.state_dir);
	snprintf(cmd, sizeof(cmd), "cp %s/server.key %s/", t->cfg.state_dir, rp->a_dir);
	int rc = system(cmd);
	fz_srv_close(t);
	FILE *report = fopen("/dev/null", "w");
	if (!rc && report)
		rc = ctl_store_migrate(db, url, report, err, sizeof(err));
	if (report)
		fclose(report);
	if (rc) {
		fprintf(stderr, "replicas: cannot copy the harness's tailnet: %s\n", err);
		return false;
	}
	rp->a = replica(url, rp->a_dir);
	rp->b = replica(url, rp->b_dir);
	return rp->a && rp->b;
}

void replicas_close(struct replicas *rp)
{
	char cmd[200];
	ctl_server_free(rp->a);
	ctl_server_free(rp->b);
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", rp->a_dir, rp->b_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "replicas: cannot remove %s and %s\n", rp->a_dir, rp->b_dir);
}
