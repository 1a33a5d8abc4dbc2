/* What the web pages and the node API keep for a while, in the SQLite store (schema 8;
 * store.h says what each op does): web sessions, password throttles, request nonces.  One
 * replica only, but the same rows and rules as PostgreSQL's (store_pg_transient.c), so
 * web.c, throttle.c and node_api.c have one path. */
#include <errno.h>
#include <string.h>

#include <sqlite3.h>

#include "control/server/internal.h"
#include "control/server/store.h"

/* One statement with up to three integers after an optional blob (len 0: none). */
static int run(sqlite3 *db, const char *sql, const uint8_t *blob, int len, int n,
	       const int64_t *ints)
{
	sqlite3_stmt *st = ctl__sq_prep(db, sql);
	if (!st)
		return -EIO;
	int i = 1;
	if (len)
		sqlite3_bind_blob(st, i++, blob, len, SQLITE_STATIC);
	for (int k = 0; k < n; k++)
		sqlite3_bind_int64(st, i++, ints[k]);
	return ctl__sq_step_done(db, st);
}

/* ---- web sessions ---- */

int ctl__sq_session_put(struct ctl_store *s, const struct ctl_web_session *ws, int64_t per_user,
			int64_t max)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	rc = run(db, "DELETE FROM web_sessions WHERE expires <= ?", NULL, 0, 1, &ws->created);
	sqlite3_stmt *st = rc ? NULL
			      : ctl__sq_prep(db, "INSERT INTO web_sessions (id_hash, user_id, "
						 "csrf, created, expires) VALUES (?, ?, ?, ?, ?)");
	if (!rc && !st)
		rc = -EIO;
	if (st) {
		sqlite3_bind_blob(st, 1, ws->id_hash, 32, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, ws->user_id);
		sqlite3_bind_text(st, 3, ws->csrf, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, ws->created);
		sqlite3_bind_int64(st, 5, ws->expires);
		rc = ctl__sq_step_done(db, st);
	}
	int64_t user[] = { ws->user_id, ws->user_id, per_user };
	if (!rc)
		rc = run(db,
			 "DELETE FROM web_sessions WHERE user_id = ? AND id NOT IN (SELECT id "
			 "FROM web_sessions WHERE user_id = ? ORDER BY id DESC LIMIT ?)",
			 NULL, 0, 3, user);
	if (!rc)
		rc = run(db,
			 "DELETE FROM web_sessions WHERE id <= (SELECT id FROM web_sessions "
			 "ORDER BY id DESC LIMIT 1 OFFSET ?)",
			 NULL, 0, 1, &max);
	return ctl__sq_finish(db, rc);
}

int ctl__sq_session_get(struct ctl_store *s, const uint8_t id_hash[static 32], int64_t now,
			struct ctl_web_session *ws)
{
	sqlite3_stmt *st = ctl__sq_prep(
	    ctl__sq(s)->db, "SELECT w.user_id, u.login, w.csrf, w.created, w.expires FROM "
			    "web_sessions w JOIN users u ON u.id = w.user_id "
			    "WHERE w.id_hash = ? AND w.expires > ?");
	if (!st)
		return -EIO;
	sqlite3_bind_blob(st, 1, id_hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc) {
		memcpy(ws->id_hash, id_hash, 32);
		ws->user_id = sqlite3_column_int64(st, 0);
		ctl__sq_copy_text(ws->login, sizeof(ws->login), sqlite3_column_text(st, 1));
		ctl__sq_copy_text(ws->csrf, sizeof(ws->csrf), sqlite3_column_text(st, 2));
		ws->created = sqlite3_column_int64(st, 3);
		ws->expires = sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl__sq_session_delete(struct ctl_store *s, const uint8_t id_hash[static 32])
{
	return run(ctl__sq(s)->db, "DELETE FROM web_sessions WHERE id_hash = ?", id_hash, 32, 0,
		   NULL);
}

/* ---- password throttles ---- */

/* The key's window: its tries and end (0, 0 when it has none). */
static int throttle_row(sqlite3 *db, int kind, const char *key, int64_t *tries, int64_t *ends)
{
	sqlite3_stmt *st =
	    ctl__sq_prep(db, "SELECT tries, ends FROM throttles WHERE kind = ? AND key = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	*tries = *ends = 0;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		*tries = sqlite3_column_int64(st, 0);
		*ends = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
}

static int throttle_take(sqlite3 *db, const struct ctl_throttle_rule *r, const char *key,
			 int64_t now, int64_t *retry_at)
{
	int64_t tries, ends;
	int rc = throttle_row(db, r->kind, key, &tries, &ends);
	if (rc)
		return rc;
	if (ends > now && tries >= r->limit) {
		*retry_at = ends;
		return -EAGAIN;
	}
	if (ends <= now) { /* a new window: is there room for it? */
		sqlite3_stmt *st = ctl__sq_prep(
		    db, "SELECT count(*), min(ends) FROM throttles WHERE kind = ? AND ends > ?");
		if (!st)
			return -EIO;
		sqlite3_bind_int(st, 1, r->kind);
		sqlite3_bind_int64(st, 2, now);
		rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -EIO;
		if (!rc && sqlite3_column_int64(st, 0) >= r->keys_max) {
			*retry_at = sqlite3_column_int64(st, 1);
			rc = -ENOSPC;
		}
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	sqlite3_stmt *st = ctl__sq_prep(
	    db, "INSERT INTO throttles (kind, key, tries, ends) VALUES (?1, ?2, 1, ?3 + ?4) "
		"ON CONFLICT (kind, key) DO UPDATE SET "
		"tries = CASE WHEN ends <= ?3 THEN 1 ELSE tries + 1 END, "
		"ends = CASE WHEN ends <= ?3 THEN excluded.ends ELSE ends END");
	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, r->kind);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, r->window_s);
	return ctl__sq_step_done(db, st);
}

int ctl__sq_throttle_take(struct ctl_store *s, const struct ctl_throttle_rule *rule,
			  const char *key, int64_t now, int64_t *retry_at)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	rc = throttle_take(db, rule, key, now, retry_at);
	if (rc == -EAGAIN || rc == -ENOSPC) {
		ctl__sq_finish(db, -EAGAIN); /* nothing was written */
		return rc;
	}
	return ctl__sq_finish(db, rc);
}

int ctl__sq_throttle_give_back(struct ctl_store *s, enum ctl_throttle_kind kind, const char *key,
			       bool all, int64_t now)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(
	    db, all ? "DELETE FROM throttles WHERE kind = ?1 AND key = ?2"
		    : "UPDATE throttles SET tries = tries - 1 WHERE kind = ?1 AND key = ?2 AND "
		      "ends > ?3 AND tries > 0");
	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (!all)
		sqlite3_bind_int64(st, 3, now);
	return ctl__sq_step_done(db, st);
}

/* ---- request nonces, and forgetting ---- */

int ctl__sq_nonce_add(struct ctl_store *s, const uint8_t nonce[static 24], int64_t expires)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = run(db, "INSERT OR IGNORE INTO node_nonces (nonce, expires) VALUES (?, ?)", nonce,
		     24, 1, &expires);
	return !rc && sqlite3_changes(db) == 0 ? -EEXIST : rc;
}

int ctl__sq_transient_expire(struct ctl_store *s, int64_t now)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = ctl__sq_begin(db);
	if (!rc)
		rc = run(db, "DELETE FROM web_sessions WHERE expires <= ?", NULL, 0, 1, &now);
	if (!rc)
		rc = run(db, "DELETE FROM throttles WHERE ends <= ?", NULL, 0, 1, &now);
	if (!rc)
		rc = run(db, "DELETE FROM node_nonces WHERE expires <= ?", NULL, 0, 1, &now);
	return ctl__sq_finish(db, rc);
}
