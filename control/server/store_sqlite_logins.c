/* Pending interactive logins in the SQLite store (schema 7, pending_logins; store.h says
 * what each op does), and SSO sign-ins in flight (schema 8, sso_pending).  One replica only, but
 * the same code path as PostgreSQL's: register.c and web.c read and write through.  The row's
 * "token" column holds the login's id (the SHA-256 of the token, hex), never the token; tags are
 * "tag:a,tag:b" text, NULL when the node named none (a known node then keeps its own). */
#include <errno.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "common/strv.h"
#include "control/server/ident.h"
#include "control/server/internal.h"
#include "control/server/sso.h"
#include "control/server/store.h"

#define LOGIN_COLS                                                                          \
	"token, machine_key, node_key, hostname, tags, disco_key, source, created, state, " \
	"reason, user_id, node_id"

static int delete_pending_of(sqlite3 *db, const uint8_t mkey[32])
{
	sqlite3_stmt *st =
	    ctl__sq_prep(db, "DELETE FROM pending_logins WHERE machine_key = ? AND state = 0");
	if (!st)
		return -EIO;
	sqlite3_bind_blob(st, 1, mkey, 32, SQLITE_STATIC);
	return ctl__sq_step_done(db, st);
}

static int insert(sqlite3 *db, const struct ctl__login_req *lr)
{
	char tags[CTL_TAGS_TEXT_MAX];
	sqlite3_stmt *st = ctl__sq_prep(db, "INSERT INTO pending_logins (" LOGIN_COLS
					    ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
	if (!st)
		return -EIO;
	ctl_tags_join((const char *const *)lr->tags, lr->n_tags, tags, sizeof(tags));
	sqlite3_bind_text(st, 1, lr->id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, lr->machine_key, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, lr->node_key, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, lr->hostname, -1, SQLITE_STATIC);
	if (lr->has_tags)
		sqlite3_bind_text(st, 5, tags, -1, SQLITE_TRANSIENT);
	if (lr->has_disco_key)
		sqlite3_bind_blob(st, 6, lr->disco_key, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, lr->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, lr->created);
	sqlite3_bind_int(st, 9, (int)lr->state);
	sqlite3_bind_text(st, 10, lr->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, lr->user_id);
	sqlite3_bind_int64(st, 12, lr->node_id);
	return ctl__sq_step_done(db, st);
}

int ctl__sq_login_put(struct ctl_store *s, const struct ctl__login_req *lr)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = ctl__store_tags_check((const char *const *)lr->tags, lr->n_tags);
	if (!rc)
		rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	rc = delete_pending_of(db, lr->machine_key);
	if (!rc)
		rc = insert(db, lr);
	return ctl__sq_finish(db, rc);
}

static void copy_blob(uint8_t out[32], sqlite3_stmt *st, int col, bool *has)
{
	const void *b = sqlite3_column_blob(st, col);
	bool ok = b && sqlite3_column_bytes(st, col) == 32;
	memset(out, 0, 32);
	if (ok)
		memcpy(out, b, 32);
	if (has)
		*has = ok;
}

int ctl__sq_login_get(struct ctl_store *s, const char *id, struct ctl__login_req *lr)
{
	sqlite3_stmt *st = ctl__sq_prep(ctl__sq(s)->db, "SELECT " LOGIN_COLS
							" FROM pending_logins WHERE token = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc) {
		memset(lr, 0, sizeof(*lr));
		ctl__sq_copy_text(lr->id, sizeof(lr->id), sqlite3_column_text(st, 0));
		copy_blob(lr->machine_key, st, 1, NULL);
		copy_blob(lr->node_key, st, 2, NULL);
		ctl__sq_copy_text(lr->hostname, sizeof(lr->hostname), sqlite3_column_text(st, 3));
		lr->has_tags = sqlite3_column_type(st, 4) != SQLITE_NULL;
		rc = strv_split((const char *)sqlite3_column_text(st, 4), ',', CTL_TAGS_COUNT_MAX,
				&lr->tags, &lr->n_tags);
		copy_blob(lr->disco_key, st, 5, &lr->has_disco_key);
		ctl__sq_copy_text(lr->source, sizeof(lr->source), sqlite3_column_text(st, 6));
		lr->created = sqlite3_column_int64(st, 7);
		lr->state = (enum ctl__decision)sqlite3_column_int(st, 8);
		ctl__sq_copy_text(lr->reason, sizeof(lr->reason), sqlite3_column_text(st, 9));
		lr->user_id = sqlite3_column_int64(st, 10);
		lr->node_id = sqlite3_column_int64(st, 11);
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl__sq_login_decide(struct ctl_store *s, const struct ctl__login_req *lr)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st =
	    ctl__sq_prep(db, "UPDATE pending_logins SET state = ?, reason = ?, "
			     "user_id = ?, node_id = ? WHERE token = ? AND state = 0");
	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, (int)lr->state);
	sqlite3_bind_text(st, 2, lr->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, lr->user_id);
	sqlite3_bind_int64(st, 4, lr->node_id);
	sqlite3_bind_text(st, 5, lr->id, -1, SQLITE_STATIC);
	int rc = ctl__sq_step_done(db, st);
	if (!rc && sqlite3_changes(db) == 0)
		rc =
		    ctl__sq_not_pending(db, "SELECT 1 FROM pending_logins WHERE token = ?", lr->id);
	return rc;
}

int ctl__sq_login_delete(struct ctl_store *s, const char *id)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(db, "DELETE FROM pending_logins WHERE token = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return ctl__sq_step_done(db, st);
}

int ctl__sq_login_count(struct ctl_store *s, const char *source, const uint8_t mkey[static 32],
			struct ctl_login_count *c)
{
	sqlite3_stmt *st = ctl__sq_prep(
	    ctl__sq(s)->db, "SELECT coalesce(sum(source = ?), 0), count(*) FROM pending_logins "
			    "WHERE NOT (state = 0 AND machine_key = ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, mkey, 32, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -EIO;
	if (!rc) {
		c->from_src = sqlite3_column_int64(st, 0);
		c->all = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl__sq_login_expire(struct ctl_store *s, int64_t created_before)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(db, "DELETE FROM pending_logins WHERE created < ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, created_before);
	return ctl__sq_step_done(db, st);
}

/* ---- SSO sign-ins in flight (schema 8) ---- */

#define SSO_COLS "nonce, verifier, pre, source, next, hold, auth_after, created"

/* One statement with ?1 the text a (when it has one). */
static int sso_exec(sqlite3 *db, const char *sql, const char *a)
{
	sqlite3_stmt *st = ctl__sq_prep(db, sql);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	return ctl__sq_step_done(db, st);
}

static int sso_count(sqlite3 *db, const struct ctl__sso_pending *p, int64_t n[3])
{
	sqlite3_stmt *st =
	    ctl__sq_prep(db, "SELECT coalesce(sum(pre = ?), 0), "
			     "coalesce(sum(source = ?), 0), count(*) FROM sso_pending");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, p->pre, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->source, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -EIO;
	for (int i = 0; !rc && i < 3; i++)
		n[i] = sqlite3_column_int64(st, i);
	sqlite3_finalize(st);
	return rc;
}

static int sso_room(sqlite3 *db, const struct ctl__sso_pending *p)
{
	int64_t n[3]; /* in the browser, from the source, in all */
	int rc = sso_count(db, p, n);
	if (rc)
		return rc;
	if (n[0] >= SRV_SSO_PENDING_PER_BROWSER)
		return sso_exec(db,
				"DELETE FROM sso_pending WHERE state_id = (SELECT state_id FROM "
				"sso_pending WHERE pre = ?1 ORDER BY created, rowid LIMIT 1)",
				p->pre);
	if (n[1] >= SRV_SSO_PENDING_PER_SOURCE)
		return sso_exec(db,
				"DELETE FROM sso_pending WHERE state_id = (SELECT state_id FROM "
				"sso_pending WHERE source = ?1 ORDER BY created, rowid LIMIT 1)",
				p->source);
	if (n[2] >= SRV_SSO_PENDING_MAX)
		return sso_exec(db,
				"DELETE FROM sso_pending WHERE state_id = (SELECT state_id FROM "
				"sso_pending WHERE source = (SELECT source FROM sso_pending GROUP "
				"BY source ORDER BY count(*) DESC, min(created) LIMIT 1) ORDER BY "
				"created, rowid LIMIT 1)",
				NULL);
	return 0;
}

/* Rows expired at now forgotten (and any from the future: the clock went back). */
static int sso_expire(sqlite3 *db, int64_t now)
{
	sqlite3_stmt *st =
	    ctl__sq_prep(db, "DELETE FROM sso_pending WHERE created <= ?1 OR created > ?2");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, now - SRV_SSO_PENDING_TTL_S);
	sqlite3_bind_int64(st, 2, now);
	return ctl__sq_step_done(db, st);
}

int ctl__sq_sso_pending_put(struct ctl_store *s, const char *state_id, const char *sealed,
			    const struct ctl__sso_pending *p)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	rc = sso_expire(db, p->created);
	if (!rc)
		rc = sso_room(db, p);
	sqlite3_stmt *st = rc ? NULL
			      : ctl__sq_prep(db, "INSERT INTO sso_pending (state_id, " SSO_COLS
						 ") VALUES (?,?,?,?,?,?,?,?,?)");
	if (!rc && !st)
		rc = -EIO;
	if (!rc) {
		const char *text[] = { state_id,  p->nonce, sealed, p->pre,
				       p->source, p->next,  p->hold };
		for (int i = 0; i < 7; i++)
			sqlite3_bind_text(st, i + 1, text[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 8, p->auth_after);
		sqlite3_bind_int64(st, 9, p->created);
		rc = ctl__sq_step_done(db, st);
	}
	return ctl__sq_finish(db, rc);
}

int ctl__sq_sso_pending_take(struct ctl_store *s, const char *state_id, const char *pre,
			     int64_t now, struct ctl__sso_pending *p, char *sealed,
			     size_t sealed_len)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = sso_expire(db, now); /* kept whatever the take finds */
	if (!rc)
		rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	sqlite3_stmt *st =
	    ctl__sq_prep(db, "SELECT " SSO_COLS " FROM sso_pending WHERE state_id = ?");
	if (!st)
		return ctl__sq_finish(db, -EIO);
	sqlite3_bind_text(st, 1, state_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc) {
		memset(p, 0, sizeof(*p));
		ctl__sq_copy_text(p->nonce, sizeof(p->nonce), sqlite3_column_text(st, 0));
		ctl__sq_copy_text(sealed, sealed_len, sqlite3_column_text(st, 1));
		ctl__sq_copy_text(p->pre, sizeof(p->pre), sqlite3_column_text(st, 2));
		ctl__sq_copy_text(p->source, sizeof(p->source), sqlite3_column_text(st, 3));
		ctl__sq_copy_text(p->next, sizeof(p->next), sqlite3_column_text(st, 4));
		ctl__sq_copy_text(p->hold, sizeof(p->hold), sqlite3_column_text(st, 5));
		p->auth_after = sqlite3_column_int64(st, 6);
		p->created = sqlite3_column_int64(st, 7);
		if (!pre || strlen(pre) != SRV_SSO_PRE_HEX ||
		    sodium_memcmp(p->pre, pre, SRV_SSO_PRE_HEX) != 0)
			rc = -EPERM;
	}
	sqlite3_finalize(st);
	if (!rc)
		rc = sso_exec(db, "DELETE FROM sso_pending WHERE state_id = ?1", state_id);
	if (rc)
		sodium_memzero(sealed, sealed_len);
	return ctl__sq_finish(db, rc);
}
