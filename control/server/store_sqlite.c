/* The SQLite backend of the control store: WAL journal, foreign keys, a numbered list of
 * migrations applied in order inside one transaction each (PRAGMA user_version records
 * how far a database got), and one transaction per store operation so nothing is ever
 * half-written.  This file: the schema, opening, the shared statement helpers, users,
 * meta, policy, approvals and SSO identities; nodes and auth keys are in
 * store_sqlite_nodes.c, the audit log in store_sqlite_audit.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "control/server/internal.h"
#include "control/server/store.h"

static const char *const migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, login TEXT NOT NULL UNIQUE,"
	"  pwhash TEXT NOT NULL, created INTEGER NOT NULL);"
	"CREATE TABLE authkeys (id INTEGER PRIMARY KEY, prefix TEXT NOT NULL UNIQUE,"
	"  hash BLOB NOT NULL, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  reusable INTEGER NOT NULL, ephemeral INTEGER NOT NULL, tags TEXT NOT NULL,"
	"  expires INTEGER NOT NULL, created INTEGER NOT NULL, uses INTEGER NOT NULL DEFAULT 0,"
	"  revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE nodes (id INTEGER PRIMARY KEY AUTOINCREMENT, machine_key BLOB NOT NULL "
	"UNIQUE,"
	"  node_key BLOB NOT NULL, key_expiry INTEGER NOT NULL, hostname TEXT NOT NULL,"
	"  user_id INTEGER REFERENCES users(id) ON DELETE CASCADE, tags TEXT NOT NULL,"
	"  ipv4 INTEGER NOT NULL UNIQUE, ipv6 BLOB NOT NULL UNIQUE, ephemeral INTEGER NOT NULL,"
	"  endpoints TEXT, ssh_host_keys TEXT, created INTEGER NOT NULL, last_seen INTEGER);"
	"CREATE TABLE policy (id INTEGER PRIMARY KEY, text TEXT NOT NULL, created INTEGER NOT "
	"NULL);"
	"CREATE TABLE approvals (src_node INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
	"  dst_node INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  approved_at INTEGER NOT NULL, PRIMARY KEY (src_node, dst_node));",
	/* 2: when the approver authenticated for the approval (a check is a fresh login) */
	"ALTER TABLE approvals ADD COLUMN auth_at INTEGER NOT NULL DEFAULT 0;",
	/* 3: each node's discovery key (NULL until the node sends one) */
	"ALTER TABLE nodes ADD COLUMN disco_key BLOB;",
	/* 4: people who log in through an OpenID provider, by (iss, sub); their users have
	 * the password hash "!" (never a valid one) */
	"CREATE TABLE sso_identities (iss TEXT NOT NULL, sub TEXT NOT NULL,"
	"  user_id INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,"
	"  email TEXT NOT NULL, groups TEXT NOT NULL, updated INTEGER NOT NULL,"
	"  PRIMARY KEY (iss, sub));",
	/* 5: tags as rows, one per (node or key, tag), instead of "tag:a,tag:b" text; the old
	 * text is split into them (a recursive CTE peels off one item per step) and its
	 * columns dropped (SQLite >= 3.35; Debian 12 has 3.40) */
	"CREATE TABLE node_tags (node_id INTEGER NOT NULL REFERENCES nodes(id) ON DELETE "
	"CASCADE, tag TEXT NOT NULL, PRIMARY KEY (node_id, tag)) WITHOUT ROWID;"
	"CREATE TABLE authkey_tags (authkey_id INTEGER NOT NULL REFERENCES authkeys(id) ON "
	"DELETE CASCADE, tag TEXT NOT NULL, PRIMARY KEY (authkey_id, tag)) WITHOUT ROWID;"
	"WITH RECURSIVE split(id, tag, rest) AS (SELECT id, '', tags || ',' FROM nodes"
	"  UNION ALL SELECT id, substr(rest, 1, instr(rest, ',') - 1),"
	"  substr(rest, instr(rest, ',') + 1) FROM split WHERE rest <> '')"
	" INSERT OR IGNORE INTO node_tags (node_id, tag) SELECT id, tag FROM split"
	"  WHERE tag <> '';"
	"WITH RECURSIVE split(id, tag, rest) AS (SELECT id, '', tags || ',' FROM authkeys"
	"  UNION ALL SELECT id, substr(rest, 1, instr(rest, ',') - 1),"
	"  substr(rest, instr(rest, ',') + 1) FROM split WHERE rest <> '')"
	" INSERT OR IGNORE INTO authkey_tags (authkey_id, tag) SELECT id, tag FROM split"
	"  WHERE tag <> '';"
	"ALTER TABLE nodes DROP COLUMN tags;"
	"ALTER TABLE authkeys DROP COLUMN tags;",
	/* 6: the audit log (store_sqlite_audit.c): ids given by the appender, no gaps; a
	 * node's seqs unique; rows never changed (the triggers).  IF NOT EXISTS: a database
	 * whose user_version was set back (the store's tests do) migrates again */
	"CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL,"
	"  node_id INTEGER NOT NULL, node_seq INTEGER NOT NULL, type TEXT NOT NULL,"
	"  node TEXT NOT NULL, who TEXT NOT NULL, body TEXT NOT NULL, hash BLOB NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS audit_node_seq ON audit (node_id, node_seq)"
	"  WHERE node_seq > 0;"
	"CREATE INDEX IF NOT EXISTS audit_received ON audit (received_ms);"
	"CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;" CTL__SQ_AUDIT_NO_DELETE,
	/* 7: check-mode holds and pending interactive logins, so that replicas share them
	 * (store_sqlite_holds.c); node ids without foreign keys: a hold whose node went is
	 * answered with that reason (hold.c), not forgotten */
	"CREATE TABLE IF NOT EXISTS holds (id TEXT PRIMARY KEY, src INTEGER NOT NULL,"
	"  dst INTEGER NOT NULL, local_user TEXT NOT NULL, check_period INTEGER NOT NULL,"
	"  created INTEGER NOT NULL, last_asked INTEGER NOT NULL, state INTEGER NOT NULL,"
	"  reason TEXT NOT NULL, approver TEXT NOT NULL, auth_at INTEGER NOT NULL,"
	"  reauth_session TEXT NOT NULL, reauth_user INTEGER NOT NULL,"
	"  reauth_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS holds_src ON holds (src) WHERE state = 0;"
	"CREATE INDEX IF NOT EXISTS holds_dst ON holds (dst) WHERE state = 0;"
	"CREATE TABLE IF NOT EXISTS pending_logins (token TEXT PRIMARY KEY,"
	"  machine_key BLOB NOT NULL, node_key BLOB NOT NULL, hostname TEXT NOT NULL,"
	"  tags TEXT, disco_key BLOB, source TEXT NOT NULL, created INTEGER NOT NULL,"
	"  state INTEGER NOT NULL, reason TEXT NOT NULL, user_id INTEGER NOT NULL,"
	"  node_id INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS pending_logins_source ON pending_logins (source);",
	/* 8: a node's seqs count per queue (the body's "queue", the id of the node's queue
	 * file: a queue made anew starts at 1 again); the node's latest event found by its
	 * index, not a scan of its rows */
	"DROP INDEX IF EXISTS audit_node_seq;"
	"CREATE UNIQUE INDEX IF NOT EXISTS audit_queue_seq ON audit (node_id,"
	"  COALESCE(json_extract(body, '$.queue'), ''), node_seq) WHERE node_seq > 0;"
	"CREATE INDEX IF NOT EXISTS audit_node_last ON audit (node_id, id) WHERE node_seq > 0;",
	/* 9: the audit log's filters user= and node= (GET /api/v1/audit) read an index in id
	 * order instead of the log from `after` on.  Not type: SQLite plans "type = X OR a
	 * prefix range" with ORDER BY id LIMIT as the id scan whatever the index (measured) */
	"CREATE INDEX IF NOT EXISTS audit_who ON audit (who, id);"
	"CREATE INDEX IF NOT EXISTS audit_node ON audit (node, id);",
	/* 10: web sessions (their ids only as SHA-256), password throttles and node request
	 * nonces, so that replicas share them (store_sqlite_transient.c); a user's sessions go
	 * with the user */
	"CREATE TABLE IF NOT EXISTS web_sessions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  id_hash BLOB NOT NULL UNIQUE,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  csrf TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions (user_id);"
	"CREATE INDEX IF NOT EXISTS web_sessions_expires ON web_sessions (expires);"
	"CREATE TABLE IF NOT EXISTS throttles (kind INTEGER NOT NULL, key TEXT NOT NULL,"
	"  tries INTEGER NOT NULL, ends INTEGER NOT NULL, PRIMARY KEY (kind, key));"
	"CREATE INDEX IF NOT EXISTS throttles_ends ON throttles (kind, ends);"
	"CREATE TABLE IF NOT EXISTS node_nonces (nonce BLOB PRIMARY KEY,"
	"  expires INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS node_nonces_expires ON node_nonces (expires);",
	/* 11: SSO sign-ins in flight, so that a callback on any replica finishes what another
	 * started (store_sqlite_logins.c): keyed by the state's SHA-256, the PKCE verifier
	 * sealed under a key derived from the state (sso_pending.c) */
	"CREATE TABLE IF NOT EXISTS sso_pending (state_id TEXT PRIMARY KEY, nonce TEXT NOT NULL,"
	"  verifier TEXT NOT NULL, pre TEXT NOT NULL, source TEXT NOT NULL, next TEXT NOT NULL,"
	"  hold TEXT NOT NULL, auth_after INTEGER NOT NULL, created INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS sso_pending_pre ON sso_pending (pre, created);"
	"CREATE INDEX IF NOT EXISTS sso_pending_source ON sso_pending (source, created);",
	/* 12: what a prune removed of each node's seqs (store_sqlite_audit.c): the highest seq
	 * and the last row's id per (node, queue), so that a node's held seq and last queue
	 * outlive the rows that held them */
	"CREATE TABLE IF NOT EXISTS audit_pruned (node_id INTEGER NOT NULL, queue TEXT NOT NULL,"
	"  seq INTEGER NOT NULL, last_id INTEGER NOT NULL, PRIMARY KEY (node_id, queue));",
	/* 13: each node's live SSH sessions as it last reported them and the kills an admin
	 * queued for it (store_sqlite_live.c), so that replicas share them; live state, gone
	 * with the node, not copied by store migrate */
	"CREATE TABLE IF NOT EXISTS ssh_sessions (node_id INTEGER PRIMARY KEY"
	"  REFERENCES nodes(id) ON DELETE CASCADE, list TEXT NOT NULL,"
	"  reported_ms INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS ssh_kills (node_id INTEGER NOT NULL"
	"  REFERENCES nodes(id) ON DELETE CASCADE, id TEXT NOT NULL, since INTEGER NOT NULL,"
	"  made INTEGER NOT NULL, PRIMARY KEY (node_id, id));",
};

enum { N_MIGRATIONS = sizeof(migrations) / sizeof(migrations[0]) };

int ctl_store_schema_version(void)
{
	return N_MIGRATIONS;
}

struct ctl__sq_store *ctl__sq(struct ctl_store *s)
{
	return (struct ctl__sq_store *)s;
}

int64_t ctl__sq_now(void)
{
	return (int64_t)time(NULL);
}

static int sq_err(sqlite3 *db, int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	default:
		return -EIO;
	}
}

static int exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sq_err(db, rc);
}

/* Prepare with printf-free binding: "?" placeholders bound by the caller. */
sqlite3_stmt *ctl__sq_prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	return st;
}

int ctl__sq_step_done(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_err(db, rc);
}

int ctl__sq_begin(sqlite3 *db)
{
	return exec(db, "BEGIN IMMEDIATE");
}

int ctl__sq_finish(sqlite3 *db, int rc)
{
	if (rc == 0 && exec(db, "COMMIT") == 0)
		return 0;
	exec(db, "ROLLBACK");
	return rc ? rc : -EIO;
}

void ctl__sq_copy_text(char *dst, size_t len, const unsigned char *src)
{
	snprintf(dst, len, "%s", src ? (const char *)src : "");
}

static void sq_close(struct ctl_store *s)
{
	if (!s)
		return;
	sqlite3_close(ctl__sq(s)->db);
	free(s);
}

int ctl__sq_meta_get(struct ctl_store *s, const char *key, char *out, size_t outlen)
{
	sqlite3_stmt *st = ctl__sq_prep(ctl__sq(s)->db, "SELECT value FROM meta WHERE key = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc)
		ctl__sq_copy_text(out, outlen, sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc;
}

int ctl__sq_meta_set(struct ctl_store *s, const char *key, const char *value)
{
	sqlite3_stmt *st =
	    ctl__sq_prep(ctl__sq(s)->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	return ctl__sq_step_done(ctl__sq(s)->db, st);
}

static int sq_meta_add(struct ctl_store *s, const char *key, const char *value, char *out,
		       size_t outlen)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	sqlite3_stmt *st =
	    ctl__sq_prep(db, "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)");
	if (!st)
		return ctl__sq_finish(db, -EIO);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	rc = ctl__sq_step_done(db, st);
	if (!rc)
		rc = ctl__sq_meta_get(s, key, out, outlen);
	return ctl__sq_finish(db, rc);
}

static int sq_user_add(struct ctl_store *s, const char *login, const char *pwhash, int64_t *id)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st =
	    ctl__sq_prep(db, "INSERT INTO users (login, pwhash, created) VALUES (?, ?, ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pwhash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, ctl__sq_now());
	int rc = ctl__sq_step_done(db, st);
	if (!rc && id)
		*id = sqlite3_last_insert_rowid(db);
	return rc;
}

static void user_row(sqlite3_stmt *st, struct ctl_user *u)
{
	u->id = sqlite3_column_int64(st, 0);
	ctl__sq_copy_text(u->login, sizeof(u->login), sqlite3_column_text(st, 1));
	u->created = sqlite3_column_int64(st, 2);
}

int ctl__sq_user_get(struct ctl_store *s, const char *login, struct ctl_user *u, char *pwhash,
		     size_t pwlen)
{
	sqlite3_stmt *st =
	    ctl__sq_prep(ctl__sq(s)->db, "SELECT id, login, created, pwhash FROM users "
					 "WHERE login = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc) {
		user_row(st, u);
		if (pwhash)
			ctl__sq_copy_text(pwhash, pwlen, sqlite3_column_text(st, 3));
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_user_by_id(struct ctl_store *s, int64_t id, struct ctl_user *u)
{
	sqlite3_stmt *st =
	    ctl__sq_prep(ctl__sq(s)->db, "SELECT id, login, created FROM users WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc)
		user_row(st, u);
	sqlite3_finalize(st);
	return rc;
}

static int sq_user_list(struct ctl_store *s, ctl_user_cb cb, void *ctx)
{
	sqlite3_stmt *st =
	    ctl__sq_prep(ctl__sq(s)->db, "SELECT id, login, created FROM users ORDER BY id");
	if (!st)
		return -EIO;
	int rc = 0;
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		struct ctl_user u;
		user_row(st, &u);
		rc = cb(ctx, &u);
	}
	sqlite3_finalize(st);
	return rc;
}

char *ctl__sq_dup_text(const unsigned char *t)
{
	return t ? strdup((const char *)t) : NULL;
}

static int sq_policy_get(struct ctl_store *s, char **text)
{
	sqlite3_stmt *st =
	    ctl__sq_prep(ctl__sq(s)->db, "SELECT text FROM policy ORDER BY id DESC LIMIT 1");
	if (!st)
		return -EIO;
	*text = NULL;
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*text = ctl__sq_dup_text(sqlite3_column_text(st, 0));
		if (!*text)
			rc = -ENOMEM;
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_policy_set(struct ctl_store *s, const char *text)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(db, "INSERT INTO policy (text, created) VALUES (?, ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ctl__sq_now());
	return ctl__sq_step_done(db, st);
}

/* The current policy's version (its row id; 0 when none) and, when text is not NULL, its
 * text, inside the caller's transaction or on its own. */
static int sq_policy_row(sqlite3 *db, char **text, int64_t *version)
{
	sqlite3_stmt *st = ctl__sq_prep(db, "SELECT id, text FROM policy ORDER BY id DESC LIMIT 1");
	if (!st)
		return -EIO;
	int rc = 0;
	*version = 0;
	if (text)
		*text = NULL;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*version = sqlite3_column_int64(st, 0);
		if (text && !(*text = ctl__sq_dup_text(sqlite3_column_text(st, 1))))
			rc = -ENOMEM;
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_policy_current(struct ctl_store *s, char **text, int64_t *version)
{
	return sq_policy_row(ctl__sq(s)->db, text, version);
}

/* BEGIN IMMEDIATE takes the write lock first: another connection's set waits (busy
 * timeout), then reads the version this one wrote. */
static int sq_policy_set_if(struct ctl_store *s, const char *text, int64_t expect, int64_t *version)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	rc = sq_policy_row(db, NULL, version);
	if (!rc && expect != CTL_POLICY_ANY && *version != expect)
		rc = -ESTALE;
	if (!rc)
		rc = sq_policy_set(s, text);
	if (!rc)
		*version = sqlite3_last_insert_rowid(db);
	return ctl__sq_finish(db, rc);
}

static int sq_approval_put(struct ctl_store *s, const struct ctl_approval *a)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(db, "INSERT OR REPLACE INTO approvals (src_node, dst_node, "
					    "user_id, approved_at, auth_at) VALUES (?,?,?,?,?)");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, a->src_node);
	sqlite3_bind_int64(st, 2, a->dst_node);
	sqlite3_bind_int64(st, 3, a->user_id);
	sqlite3_bind_int64(st, 4, a->approved_at);
	sqlite3_bind_int64(st, 5, a->auth_at);
	return ctl__sq_step_done(db, st);
}

static int sq_approval_get(struct ctl_store *s, int64_t src, int64_t dst, struct ctl_approval *a)
{
	sqlite3_stmt *st =
	    ctl__sq_prep(ctl__sq(s)->db, "SELECT user_id, approved_at, auth_at FROM approvals "
					 "WHERE src_node = ? AND dst_node = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, src);
	sqlite3_bind_int64(st, 2, dst);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc) {
		a->src_node = src;
		a->dst_node = dst;
		a->user_id = sqlite3_column_int64(st, 0);
		a->approved_at = sqlite3_column_int64(st, 1);
		a->auth_at = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return rc;
}

static int sso_user_of(sqlite3 *db, const char *iss, const char *sub, struct ctl_user *u)
{
	sqlite3_stmt *st =
	    ctl__sq_prep(db, "SELECT u.id, u.login, u.created FROM sso_identities i "
			     "JOIN users u ON u.id = i.user_id WHERE i.iss = ? AND i.sub = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, iss, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sub, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc)
		user_row(st, u);
	sqlite3_finalize(st);
	return rc;
}

static int sq_sso_login(struct ctl_store *s, const struct ctl_sso_login *in, struct ctl_user *u,
			bool *created)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st;
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	*created = false;
	rc = sso_user_of(db, in->iss, in->sub, u);
	if (rc == -ENOENT) {
		/* a first login: a user without a password, then its identity */
		rc = sq_user_add(s, in->login, "!", &u->id);
		st = rc ? NULL
			: ctl__sq_prep(db, "INSERT INTO sso_identities (iss, sub, user_id, email, "
					   "groups, updated) VALUES (?, ?, ?, ?, ?, ?)");
		if (!rc && !st)
			rc = -EIO;
		if (!rc) {
			sqlite3_bind_text(st, 1, in->iss, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, in->sub, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, u->id);
			sqlite3_bind_text(st, 4, in->email, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 5, in->groups, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 6, in->now);
			rc = ctl__sq_step_done(db, st);
		}
		if (!rc)
			rc = sso_user_of(db, in->iss, in->sub, u);
		*created = !rc;
	} else if (!rc) {
		st =
		    ctl__sq_prep(db, "UPDATE sso_identities SET email = ?, groups = ?, updated = ? "
				     "WHERE iss = ? AND sub = ?");
		if (!st) {
			rc = -EIO;
		} else {
			sqlite3_bind_text(st, 1, in->email, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, in->groups, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, in->now);
			sqlite3_bind_text(st, 4, in->iss, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 5, in->sub, -1, SQLITE_STATIC);
			rc = ctl__sq_step_done(db, st);
		}
	}
	return ctl__sq_finish(db, rc);
}

static int sq_sso_groups(struct ctl_store *s, int64_t user_id, char **groups)
{
	sqlite3_stmt *st =
	    ctl__sq_prep(ctl__sq(s)->db, "SELECT groups FROM sso_identities WHERE user_id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, user_id);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc) {
		*groups = strdup((const char *)sqlite3_column_text(st, 0));
		rc = *groups ? 0 : -ENOMEM;
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_sso_user(struct ctl_store *s, const char *iss, const char *sub, struct ctl_user *u)
{
	return sso_user_of(ctl__sq(s)->db, iss, sub, u);
}

static int sq_sso_list(struct ctl_store *s, ctl_sso_cb cb, void *ctx)
{
	sqlite3_stmt *st = ctl__sq_prep(ctl__sq(s)->db, "SELECT user_id, groups, updated FROM "
							"sso_identities ORDER BY user_id");
	if (!st)
		return -EIO;
	int rc = 0, step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct ctl_sso_member m = { .user_id = sqlite3_column_int64(st, 0),
					    .groups = (const char *)sqlite3_column_text(st, 1),
					    .at = sqlite3_column_int64(st, 2) };
		rc = cb(ctx, &m);
	}
	if (!rc && step != SQLITE_DONE)
		rc = -EIO;
	sqlite3_finalize(st);
	return rc;
}

static const struct ctl_store_ops sqlite_ops = {
	.close = sq_close,
	.meta_get = ctl__sq_meta_get,
	.meta_set = ctl__sq_meta_set,
	.meta_add = sq_meta_add,
	.user_add = sq_user_add,
	.user_get = ctl__sq_user_get,
	.user_by_id = sq_user_by_id,
	.user_list = sq_user_list,
	.user_remove = ctl__sq_user_remove,
	.authkey_add = ctl__sq_authkey_add,
	.authkey_get = ctl__sq_authkey_get,
	.authkey_list = ctl__sq_authkey_list,
	.authkey_revoke = ctl__sq_authkey_revoke,
	.node_register = ctl__sq_node_register,
	.node_by_machine = ctl__sq_node_by_machine,
	.node_get = ctl__sq_node_get,
	.node_update = ctl__sq_node_update,
	.node_set_expiry = ctl__sq_node_set_expiry,
	.node_list = ctl__sq_node_list,
	.node_remove = ctl__sq_node_remove,
	.policy_get = sq_policy_get,
	.policy_set = sq_policy_set,
	.policy_current = sq_policy_current,
	.policy_set_if = sq_policy_set_if,
	.approval_put = sq_approval_put,
	.approval_get = sq_approval_get,
	.sso_login = sq_sso_login,
	.sso_groups = sq_sso_groups,
	.sso_user = sq_sso_user,
	.sso_list = sq_sso_list,
	.audit_append = ctl__sq_audit_append,
	.audit_last_queue = ctl__sq_audit_last_queue,
	.audit_list = ctl__sq_audit_list,
	.audit_head = ctl__sq_audit_head,
	.audit_prune = ctl__sq_audit_prune,
	.hold_put = ctl__sq_hold_put,
	.hold_get = ctl__sq_hold_get,
	.hold_update = ctl__sq_hold_update,
	.hold_touch = ctl__sq_hold_touch,
	.hold_delete = ctl__sq_hold_delete,
	.hold_count = ctl__sq_hold_count,
	.hold_expire = ctl__sq_hold_expire,
	.session_put = ctl__sq_session_put,
	.session_get = ctl__sq_session_get,
	.session_delete = ctl__sq_session_delete,
	.throttle_take = ctl__sq_throttle_take,
	.throttle_give_back = ctl__sq_throttle_give_back,
	.nonce_add = ctl__sq_nonce_add,
	.transient_expire = ctl__sq_transient_expire,
	.login_put = ctl__sq_login_put,
	.login_get = ctl__sq_login_get,
	.login_decide = ctl__sq_login_decide,
	.login_delete = ctl__sq_login_delete,
	.login_count = ctl__sq_login_count,
	.login_expire = ctl__sq_login_expire,
	.sso_pending_put = ctl__sq_sso_pending_put,
	.sso_pending_take = ctl__sq_sso_pending_take,
	.ssh_sessions_put = ctl__sq_ssh_sessions_put,
	.ssh_sessions_list = ctl__sq_ssh_sessions_list,
	.ssh_kill_put = ctl__sq_ssh_kill_put,
	.ssh_kills_list = ctl__sq_ssh_kills_list,
	.ssh_kills_delete = ctl__sq_ssh_kills_delete,
};

static int migrate(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = ctl__sq_prep(db, "PRAGMA user_version");
	if (!st || sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	int version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > N_MIGRATIONS) {
		snprintf(err, errlen,
			 "the database has schema version %d, newer than this meshcontrol (%d)",
			 version, N_MIGRATIONS);
		return -EPROTO;
	}
	for (; version < N_MIGRATIONS; version++) {
		char sql[64];
		int rc = ctl__sq_begin(db);
		if (!rc)
			rc = exec(db, migrations[version]);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		if (!rc)
			rc = exec(db, sql);
		if (version == 0 && !rc) {
			/* A tailnet's ULA /48: fd + 40 random bits (RFC 4193). */
			uint8_t p[6] = { 0xfd };
			char hex[13], ins[128];
			randombytes_buf(p + 1, 5);
			sodium_bin2hex(hex, sizeof(hex), p, sizeof(p));
			snprintf(ins, sizeof(ins),
				 "INSERT INTO meta (key, value) VALUES ('ula48', '%s')", hex);
			rc = exec(db, ins);
		}
		if (ctl__sq_finish(db, rc)) {
			snprintf(err, errlen, "migration %d failed: %s", version + 1,
				 sqlite3_errmsg(db));
			return -EIO;
		}
	}
	return 0;
}

int ctl_store_open_sqlite(const char *path, struct ctl_store **out, char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialize");
		return -EIO;
	}
	struct ctl__sq_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &sqlite_ops;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "no memory");
		sq_close(&s->base);
		return -EIO;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (exec(s->db, "PRAGMA journal_mode = WAL") || exec(s->db, "PRAGMA foreign_keys = ON") ||
	    exec(s->db, "PRAGMA synchronous = NORMAL")) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
		sq_close(&s->base);
		return -EIO;
	}
	int rc = migrate(s->db, err, errlen);
	if (rc) {
		sq_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}
