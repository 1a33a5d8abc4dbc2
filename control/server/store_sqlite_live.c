/* Live SSH sessions in the SQLite store (schema 13; store.h says what each op does): each
 * node's list as it last reported it and the kills an admin queued for it.  One replica only,
 * but the same rows and rules as PostgreSQL's (store_pg_live.c), so sessions.c has one path.
 * A list's kills are matched against it with SQLite's JSON functions, in the transaction
 * that stores it. */
#include <errno.h>
#include <string.h>

#include <sqlite3.h>

#include "control/netmap/sessions.h"
#include "control/server/internal.h"
#include "control/server/store.h"

int ctl__sq_ssh_sessions_put(struct ctl_store *s, int64_t node_id, const char *list,
			     int64_t reported_ms)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	sqlite3_stmt *st = ctl__sq_prep(db, "INSERT INTO ssh_sessions (node_id, list, reported_ms) "
					    "SELECT id, ?2, ?3 FROM nodes WHERE id = ?1 "
					    "ON CONFLICT (node_id) DO UPDATE SET list = "
					    "excluded.list, reported_ms = excluded.reported_ms");
	if (!st)
		rc = -EIO;
	if (st) {
		sqlite3_bind_int64(st, 1, node_id);
		sqlite3_bind_text(st, 2, list, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, reported_ms);
		rc = ctl__sq_step_done(db, st);
	}
	if (!rc && sqlite3_changes(db) == 0)
		rc = -ENOENT; /* no such node */
	/* a kill for a session no longer listed has nothing left to end */
	st = rc ? NULL
		: ctl__sq_prep(db, "DELETE FROM ssh_kills WHERE node_id = ?1 AND NOT EXISTS "
				   "(SELECT 1 FROM json_each(?2, '$.sessions') e WHERE "
				   "json_extract(e.value, '$.id') = ssh_kills.id AND "
				   "json_extract(e.value, '$.since') = ssh_kills.since)");
	if (!rc && !st)
		rc = -EIO;
	if (st) {
		sqlite3_bind_int64(st, 1, node_id);
		sqlite3_bind_text(st, 2, list, -1, SQLITE_STATIC);
		rc = ctl__sq_step_done(db, st);
	}
	return ctl__sq_finish(db, rc);
}

/* The caller's callback (one of them) and its context. */
struct rows_to {
	ctl_ssh_sessions_cb sessions;
	ctl_ssh_kill_cb kill;
	void *ctx;
};

/* sql's rows for node_id (?1; 0: every node), each handed to row, which calls the caller's. */
static int each_row(sqlite3 *db, const char *sql, int64_t node_id,
		    int (*row)(sqlite3_stmt *st, const struct rows_to *to),
		    const struct rows_to *to)
{
	sqlite3_stmt *st = ctl__sq_prep(db, sql);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, node_id);
	int rc = 0, step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = row(st, to);
	if (!rc && step != SQLITE_DONE)
		rc = -EIO;
	sqlite3_finalize(st);
	return rc;
}

static int session_row(sqlite3_stmt *st, const struct rows_to *to)
{
	return to->sessions(to->ctx, sqlite3_column_int64(st, 0),
			    (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2));
}

int ctl__sq_ssh_sessions_list(struct ctl_store *s, int64_t node_id, ctl_ssh_sessions_cb cb,
			      void *ctx)
{
	struct rows_to to = { .sessions = cb, .ctx = ctx };
	return each_row(ctl__sq(s)->db,
			"SELECT node_id, list, reported_ms FROM ssh_sessions WHERE ?1 = 0 OR "
			"node_id = ?1 ORDER BY node_id",
			node_id, session_row, &to);
}

/* The node's kills waiting (*all) and whether one of id is among them (*mine). */
static int count_kills(sqlite3 *db, int64_t node_id, const char *id, int64_t *all, int64_t *mine)
{
	sqlite3_stmt *st = ctl__sq_prep(db, "SELECT count(*), coalesce(sum(id = ?2), 0) FROM "
					    "ssh_kills WHERE node_id = ?1");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, node_id);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -EIO;
	if (!rc) {
		*all = sqlite3_column_int64(st, 0);
		*mine = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl__sq_ssh_kill_put(struct ctl_store *s, int64_t node_id, const struct ctl_session_kill *k,
			 int64_t made, int64_t max)
{
	sqlite3 *db = ctl__sq(s)->db;
	int64_t all = 0, mine = 0;
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	sqlite3_stmt *st = ctl__sq_prep(db, "SELECT 1 FROM ssh_sessions WHERE node_id = ?");
	if (!st)
		rc = -EIO;
	if (st) {
		sqlite3_bind_int64(st, 1, node_id);
		rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
		sqlite3_finalize(st);
	}
	if (!rc)
		rc = count_kills(db, node_id, k->id, &all, &mine);
	if (!rc && !mine && all >= max)
		rc = -ENOSPC;
	st = rc ? NULL
		: ctl__sq_prep(db, "INSERT INTO ssh_kills (node_id, id, since, made) VALUES "
				   "(?, ?, ?, ?) ON CONFLICT (node_id, id) DO UPDATE SET since = "
				   "excluded.since");
	if (!rc && !st)
		rc = -EIO;
	if (st) {
		sqlite3_bind_int64(st, 1, node_id);
		sqlite3_bind_text(st, 2, k->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, k->since);
		sqlite3_bind_int64(st, 4, made);
		rc = ctl__sq_step_done(db, st);
	}
	return ctl__sq_finish(db, rc);
}

static int kill_row(sqlite3_stmt *st, const struct rows_to *to)
{
	struct ctl_session_kill k = { .since = sqlite3_column_int64(st, 2) };
	ctl__sq_copy_text(k.id, sizeof(k.id), sqlite3_column_text(st, 1));
	return to->kill(to->ctx, sqlite3_column_int64(st, 0), &k);
}

int ctl__sq_ssh_kills_list(struct ctl_store *s, int64_t node_id, ctl_ssh_kill_cb cb, void *ctx)
{
	struct rows_to to = { .kill = cb, .ctx = ctx };
	return each_row(ctl__sq(s)->db,
			"SELECT node_id, id, since FROM ssh_kills WHERE ?1 = 0 OR node_id = ?1 "
			"ORDER BY node_id, made, id",
			node_id, kill_row, &to);
}

int ctl__sq_ssh_kills_delete(struct ctl_store *s, int64_t node_id, const struct ctl_session_kill *v,
			     size_t n)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < n; i++) {
		sqlite3_stmt *st = ctl__sq_prep(db, "DELETE FROM ssh_kills WHERE node_id = ? AND "
						    "id = ? AND since = ?");
		if (!st) {
			rc = -EIO;
			break;
		}
		sqlite3_bind_int64(st, 1, node_id);
		sqlite3_bind_text(st, 2, v[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, v[i].since);
		rc = ctl__sq_step_done(db, st);
	}
	return ctl__sq_finish(db, rc);
}
