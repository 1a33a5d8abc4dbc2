/* tests/unit/control/replicas.h: two meshcontrol servers on one PostgreSQL database holding
 * the fuzz harness's tailnet (its users, nodes, policy and server key), A and B, as two
 * replicas behind a balancer would be; each listens for the other's changes.
 *
 *     struct replicas rp;
 *     if (replicas_open(&rp, url)) { ... rp.a ... rp.b ... }
 *     replicas_close(&rp);
 */
#ifndef MESH_TESTS_UNIT_CONTROL_REPLICAS_H
#define MESH_TESTS_UNIT_CONTROL_REPLICAS_H

#include <stdbool.h>

struct ctl_server;

struct replicas {
	char a_dir[32], b_dir[32]; /* their state directories, removed by replicas_close */
	struct ctl_server *a, *b;
};

/* The harness's state migrated into url's empty database, then A (with the harness's
 * server.key) and B, each with alice's web session FZ_SESSION (fz_srv_web).  false (the
 * reason on stderr) when either was not made; replicas_close is due either way. */
bool replicas_open(struct replicas *rp, const char *url);
void replicas_close(struct replicas *rp);

#endif
