/* Live SSH sessions in the PostgreSQL store (schema 13; store.h says what each op does),
 * shared by every replica: each node's list as it last reported it, and the kills an admin
 * queued for it, for which the triggers (store_pg_notify.c) say "kill:NODE_ID" when one is
 * queued or removed, and the replica streaming that node sends it.  A kill is queued in the
 * lock of its node's list row, which storing a list takes too: two replicas queueing at once
 * count each other's, and a list dropping a kill does not race the kill's insert. */
#include <errno.h>
#include <string.h>

#include <libpq-fe.h>

#include "control/netmap/sessions.h"
#include "control/server/store_pg_int.h"

struct live_args {
	int64_t node_id;
	const char *list;
	int64_t reported_ms, made, max;
	const struct ctl_session_kill *kills;
	size_t n;
	ctl_ssh_sessions_cb sessions_cb;
	ctl_ssh_kill_cb kill_cb;
	void *ctx;
};

static int put_body(struct ctl__pg_store *s, void *ctx)
{
	struct live_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, a->node_id);
	ctl__pg_text(&p, a->list);
	ctl__pg_int(&p, a->reported_ms);
	int rc =
	    ctl__pg_q(s,
		      "INSERT INTO ssh_sessions (node_id, list, reported_ms) SELECT id, $2, $3 "
		      "FROM nodes WHERE id = $1 ON CONFLICT (node_id) DO UPDATE SET list = "
		      "EXCLUDED.list, reported_ms = EXCLUDED.reported_ms RETURNING node_id",
		      &p, &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT; /* no such node */
	PQclear(r);
	p.n = 2; /* node_id, list */
	if (!rc) /* a kill for a session no longer listed has nothing left to end */
		rc =
		    ctl__pg_q(s,
			      "DELETE FROM ssh_kills k WHERE node_id = $1 AND NOT EXISTS (SELECT 1 "
			      "FROM jsonb_array_elements($2::jsonb -> 'sessions') e WHERE "
			      "e ->> 'id' = k.id AND (e ->> 'since')::bigint = k.since)",
			      &p, NULL);
	return rc;
}

/* Idempotent: stored again, the same list drops nothing more. */
int ctl__pg_ssh_sessions_put(struct ctl_store *s, int64_t node_id, const char *list,
			     int64_t reported_ms)
{
	struct live_args a = { .node_id = node_id, .list = list, .reported_ms = reported_ms };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN | CTL__PG_IDEMPOTENT, put_body, &a);
}

/* sql's rows for a->node_id ($1; 0: every node), each handed to row, which calls the
 * caller's callback (once one has been, the op is not run again: store_pg_int.h). */
static int each_row(struct ctl__pg_store *s, struct live_args *a, const char *sql,
		    int (*row)(struct live_args *a, const PGresult *r, int i))
{
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, a->node_id);
	int rc = ctl__pg_q(s, sql, &p, &r);
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		s->delivered = true;
		rc = row(a, r, i);
	}
	PQclear(r);
	return rc;
}

static int session_row(struct live_args *a, const PGresult *r, int i)
{
	return a->sessions_cb(a->ctx, ctl__pg_get_int(r, i, 0), PQgetvalue(r, i, 1),
			      ctl__pg_get_int(r, i, 2));
}

static int sessions_list_body(struct ctl__pg_store *s, void *ctx)
{
	return each_row(s, ctx,
			"SELECT node_id, list, reported_ms FROM ssh_sessions WHERE $1 = 0 OR "
			"node_id = $1 ORDER BY node_id",
			session_row);
}

int ctl__pg_ssh_sessions_list(struct ctl_store *s, int64_t node_id, ctl_ssh_sessions_cb cb,
			      void *ctx)
{
	struct live_args a = { .node_id = node_id, .sessions_cb = cb, .ctx = ctx };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, sessions_list_body, &a);
}

static int kill_put_body(struct ctl__pg_store *s, void *ctx)
{
	struct live_args *a = ctx;
	const struct ctl_session_kill *k = a->kills;
	struct ctl__pg_params p = { 0 };
	PGresult *r = NULL;
	ctl__pg_int(&p, a->node_id);
	/* the node's row first, as the kill's foreign key would lock it: a node removed at
	 * the same time (its cascade then waits for the list's row) is no deadlock */
	int rc = ctl__pg_q(s, "SELECT 1 FROM nodes WHERE id = $1 FOR KEY SHARE", &p, NULL);
	if (!rc)
		rc = ctl__pg_q(s, "SELECT 1 FROM ssh_sessions WHERE node_id = $1 FOR UPDATE", &p,
			       &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT;
	PQclear(r);
	r = NULL;
	ctl__pg_text(&p, k->id);
	if (!rc)
		rc = ctl__pg_q(s,
			       "SELECT count(*), count(*) FILTER (WHERE id = $2) FROM ssh_kills "
			       "WHERE node_id = $1",
			       &p, &r);
	if (!rc && ctl__pg_get_int(r, 0, 1) == 0 && ctl__pg_get_int(r, 0, 0) >= a->max)
		rc = -ENOSPC;
	PQclear(r);
	ctl__pg_int(&p, k->since);
	ctl__pg_int(&p, a->made);
	if (!rc)
		rc = ctl__pg_q(s,
			       "INSERT INTO ssh_kills (node_id, id, since, made) VALUES ($1, $2, "
			       "$3, $4) ON CONFLICT (node_id, id) DO UPDATE SET since = "
			       "EXCLUDED.since",
			       &p, NULL);
	return rc;
}

/* Idempotent: queued again, the kill is found waiting. */
int ctl__pg_ssh_kill_put(struct ctl_store *s, int64_t node_id, const struct ctl_session_kill *k,
			 int64_t made, int64_t max)
{
	struct live_args a = { .node_id = node_id, .kills = k, .made = made, .max = max };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN | CTL__PG_IDEMPOTENT, kill_put_body, &a);
}

static int kill_row(struct live_args *a, const PGresult *r, int i)
{
	struct ctl_session_kill k = { .since = ctl__pg_get_int(r, i, 2) };
	ctl__pg_get_text(r, i, 1, k.id, sizeof(k.id));
	return a->kill_cb(a->ctx, ctl__pg_get_int(r, i, 0), &k);
}

static int kills_list_body(struct ctl__pg_store *s, void *ctx)
{
	return each_row(s, ctx,
			"SELECT node_id, id, since FROM ssh_kills WHERE $1 = 0 OR node_id = $1 "
			"ORDER BY node_id, made, id COLLATE \"C\"",
			kill_row);
}

int ctl__pg_ssh_kills_list(struct ctl_store *s, int64_t node_id, ctl_ssh_kill_cb cb, void *ctx)
{
	struct live_args a = { .node_id = node_id, .kill_cb = cb, .ctx = ctx };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, kills_list_body, &a);
}

static int kills_delete_body(struct ctl__pg_store *s, void *ctx)
{
	struct live_args *a = ctx;
	int rc = 0;
	for (size_t i = 0; !rc && i < a->n; i++) {
		struct ctl__pg_params p = { 0 };
		ctl__pg_int(&p, a->node_id);
		ctl__pg_text(&p, a->kills[i].id);
		ctl__pg_int(&p, a->kills[i].since);
		rc = ctl__pg_q(
		    s, "DELETE FROM ssh_kills WHERE node_id = $1 AND id = $2 AND since = $3", &p,
		    NULL);
	}
	return rc;
}

/* Idempotent: a kill deleted twice is gone once. */
int ctl__pg_ssh_kills_delete(struct ctl_store *s, int64_t node_id, const struct ctl_session_kill *v,
			     size_t n)
{
	struct live_args a = { .node_id = node_id, .kills = v, .n = n };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN | CTL__PG_IDEMPOTENT, kills_delete_body, &a);
}
