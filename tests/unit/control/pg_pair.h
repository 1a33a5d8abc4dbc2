/* tests/unit/control/pg_pair.h: two meshcontrol servers on one store, as replicas are.
 *
 *     struct pg_pair p;
 *     struct pg_pair_opts o = { .from_state = dir_of_a_sqlite_tailnet, .feed_only = true };
 *     CHECK_INT(pg_pair_open(&p, url, &o), 0);   // p.a, p.b; their state in p.a_dir, p.b_dir
 *     ...
 *     pg_pair_close(&p);                          // frees both, removes the directories
 *
 * pg_pair_open makes a new state directory for each server under /tmp; with from_state it
 * first moves that SQLite tailnet (from_state/state.db) into the store at url, which must be
 * empty, as `meshcontrol store migrate` does, and copies from_state/server.key into A's
 * directory, so that A, made first, stores it as the tailnet's key the way an operator's
 * first replica does (its nodes keep the key they pinned).  Then A, then B: each made with
 * ctl_server_new and started, with listeners on an ephemeral port (ctl_server_start) or, with
 * feed_only, only the change feed from the other replicas (ctl__replica_start), for tests
 * that drive the handlers directly.  A failure prints its reason and leaves p closed. */
#ifndef MESH_TESTS_PG_PAIR_H
#define MESH_TESTS_PG_PAIR_H

#include <stdbool.h>

#include "control/server/internal.h"

struct pg_pair_opts {
	const char *from_state; /* a SQLite state directory to move into the store, or NULL */
	bool feed_only;		/* ctl__replica_start instead of ctl_server_start */
	/* called on each server before its start (e.g. the fuzz harness's fz_srv_web), or NULL */
	void (*prepare)(struct ctl_server *srv);
	const char *name_a, *name_b; /* --replica-name of each, or NULL */
	/* the servers' configuration but for state_dir, store_url and replica_name (e.g. single
	 * sign-on: the fuzz harness's fz_replica_config), or NULL */
	const struct ctl_server_config *base;
};

struct pg_pair {
	char a_dir[32], b_dir[32];
	struct ctl_server *a, *b;
};

/* 0, or -1 (the reason on stderr). */
int pg_pair_open(struct pg_pair *p, const char *url, const struct pg_pair_opts *o);
void pg_pair_close(struct pg_pair *p);

/* One server as pg_pair_open makes each (o may be NULL: listeners, no name): the store at
 * url, state in dir; NULL (the reason on stderr) when it cannot be made or started. */
struct ctl_server *pg_pair_server(const char *url, const char *dir, const char *name,
				  const struct pg_pair_opts *o);

#endif
