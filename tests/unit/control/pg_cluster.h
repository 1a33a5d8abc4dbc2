/* tests/unit/control/pg_cluster.h: a throwaway PostgreSQL cluster for the store's tests.
 *
 *     struct pg_cluster c;
 *     char why[256];
 *     int rc = pg_cluster_run(&c, body, ctx, why, sizeof(why));  // 77: skipped, see why
 *
 * pg_cluster_run makes a temporary directory, runs initdb there as an unprivileged user
 * (nobody when the test runs as root; the cluster refuses root), starts postgres on a unix
 * socket in that directory only (no TCP; the port number only names the socket, chosen from
 * the pid), runs body in a child process, and then, whatever the child did (failed checks,
 * a crash, a sanitizer's abort) or when the test gets SIGTERM or SIGINT, stops the cluster
 * and removes the directory.  It returns the child's exit status, 77 when the PostgreSQL
 * binaries are missing (why says so) and 1 when the cluster does not start. */
#ifndef MESH_TESTS_PG_CLUSTER_H
#define MESH_TESTS_PG_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "control/server/store.h"

struct pg_cluster {
	char bin[256]; /* the directory of initdb, pg_ctl, createdb */
	char dir[64];  /* the temporary directory: data in dir/data, the socket in dir */
	int port;
};

int pg_cluster_run(struct pg_cluster *c, int (*body)(struct pg_cluster *c, void *ctx), void *ctx,
		   char *why, size_t whylen);

/* pg_cluster_run for a test's main(): its reason printed when there is one (77: skipped). */
int pg_cluster_main(int (*body)(struct pg_cluster *c, void *ctx), void *ctx);

/* A new, empty database in c: its URL (postgres:///NAME?host=DIR&port=N&user=mesh) in url.
 * 0 or -1. */
int pg_cluster_createdb(struct pg_cluster *c, const char *name, char *url, size_t urllen);

/* Stop the cluster's server (immediately; the directory stays until pg_cluster_run ends),
 * for tests of a database that went away.  0 or -1. */
int pg_cluster_stop_server(struct pg_cluster *c);

/* A store test's main(): cases on a SQLite store in a temporary directory, or with the
 * argument `postgres` on a database of a cluster of its own, then pg_more (NULL: nothing) on
 * another; finish (the test's check_finish) gives the exit status (77: skipped). */
int pg_cluster_store_main(int argc, char **argv, void (*cases)(const char *url),
			  void (*pg_more)(const char *url), int (*finish)(void));

/* A node record for a store test to register: keys all seed (node key seed + 100), host name
 * "hostSEED", owned by user (0: none, for a tagged node). */
struct ctl_node_rec pg_cluster_node(uint8_t seed, int64_t user);

#endif
