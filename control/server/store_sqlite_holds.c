/* Check-mode holds in the SQLite store (schema 7; store.h says what each op does).  One
 * replica only, but the same code path as PostgreSQL's: hold.c and web.c write through. */
#include <errno.h>
#include <sqlite3.h>

#include "control/server/internal.h"
#include "control/server/store.h"

#define HOLD_COLS                                                                                \
	"id, src, dst, local_user, check_period, created, last_asked, state, reason, approver, " \
	"auth_at, reauth_session, reauth_user, reauth_at"

/* What update may change, from parameter i on: state, reason, approver, auth_at, then the
 * re-authentication's session, user and time. */
static void bind_decision(sqlite3_stmt *st, int i, const struct ctl__hold *h)
{
	sqlite3_bind_int(st, i, (int)h->state);
	sqlite3_bind_text(st, i + 1, h->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, i + 2, h->approver, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i + 3, h->auth_at);
	sqlite3_bind_text(st, i + 4, h->reauth_session, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i + 5, h->reauth_user);
	sqlite3_bind_int64(st, i + 6, h->reauth_at);
}

int ctl__sq_hold_put(struct ctl_store *s, const struct ctl__hold *h)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(db, "INSERT INTO holds (" HOLD_COLS ") VALUES "
					    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, h->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, h->src);
	sqlite3_bind_int64(st, 3, h->dst);
	sqlite3_bind_text(st, 4, h->local_user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, h->check_period_s);
	sqlite3_bind_int64(st, 6, h->created);
	sqlite3_bind_int64(st, 7, h->last_asked);
	bind_decision(st, 8, h);
	return ctl__sq_step_done(db, st);
}

int ctl__sq_hold_get(struct ctl_store *s, const char *id, struct ctl__hold *h)
{
	sqlite3_stmt *st =
	    ctl__sq_prep(ctl__sq(s)->db, "SELECT " HOLD_COLS " FROM holds WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc) {
		ctl__sq_copy_text(h->id, sizeof(h->id), sqlite3_column_text(st, 0));
		h->src = sqlite3_column_int64(st, 1);
		h->dst = sqlite3_column_int64(st, 2);
		ctl__sq_copy_text(h->local_user, sizeof(h->local_user), sqlite3_column_text(st, 3));
		h->check_period_s = sqlite3_column_int64(st, 4);
		h->created = sqlite3_column_int64(st, 5);
		h->last_asked = sqlite3_column_int64(st, 6);
		h->state = (enum ctl__decision)sqlite3_column_int(st, 7);
		ctl__sq_copy_text(h->reason, sizeof(h->reason), sqlite3_column_text(st, 8));
		ctl__sq_copy_text(h->approver, sizeof(h->approver), sqlite3_column_text(st, 9));
		h->auth_at = sqlite3_column_int64(st, 10);
		ctl__sq_copy_text(h->reauth_session, sizeof(h->reauth_session),
				  sqlite3_column_text(st, 11));
		h->reauth_user = sqlite3_column_int64(st, 12);
		h->reauth_at = sqlite3_column_int64(st, 13);
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl__sq_not_pending(sqlite3 *db, const char *sql, const char *id)
{
	sqlite3_stmt *st = ctl__sq_prep(db, sql);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? -ESTALE : -ENOENT;
	sqlite3_finalize(st);
	return rc;
}

int ctl__sq_hold_update(struct ctl_store *s, const struct ctl__hold *h)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(
	    db, "UPDATE holds SET state = ?, reason = ?, approver = ?, auth_at = ?, "
		"reauth_session = ?, reauth_user = ?, reauth_at = ? WHERE id = ? AND state = 0");
	if (!st)
		return -EIO;
	bind_decision(st, 1, h);
	sqlite3_bind_text(st, 8, h->id, -1, SQLITE_STATIC);
	int rc = ctl__sq_step_done(db, st);
	if (!rc && sqlite3_changes(db) == 0)
		rc = ctl__sq_not_pending(db, "SELECT 1 FROM holds WHERE id = ?", h->id);
	return rc;
}

int ctl__sq_hold_touch(struct ctl_store *s, const char *id, int64_t last_asked)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(db, "UPDATE holds SET last_asked = ? WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, last_asked);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	return ctl__sq_step_done(db, st);
}

int ctl__sq_hold_delete(struct ctl_store *s, const char *id)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(db, "DELETE FROM holds WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return ctl__sq_step_done(db, st);
}

int ctl__sq_hold_count(struct ctl_store *s, int64_t src, int64_t dst, struct ctl_hold_count *c)
{
	sqlite3_stmt *st = ctl__sq_prep(
	    ctl__sq(s)->db, "SELECT coalesce(sum(state = 0 AND src = ?), 0), "
			    "coalesce(sum(state = 0 AND dst = ?), 0), count(*) FROM holds");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, src);
	sqlite3_bind_int64(st, 2, dst);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -EIO;
	if (!rc) {
		c->from_src = sqlite3_column_int64(st, 0);
		c->to_dst = sqlite3_column_int64(st, 1);
		c->all = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl__sq_hold_expire(struct ctl_store *s, int64_t created_before, int64_t asked_before)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(
	    db, "DELETE FROM holds WHERE created < ? OR (state = 0 AND last_asked < ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, created_before);
	sqlite3_bind_int64(st, 2, asked_before);
	return ctl__sq_step_done(db, st);
}
