/* The SQLite backend of the control store: WAL journal, foreign keys, a numbered list of
 * migrations applied in order inside one transaction each (PRAGMA user_version records
 * how far a database got), and one transaction per store operation so nothing is ever
 * half-written.  Addresses are allocated here, inside the registering transaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "control/server/store.h"

struct sq_store {
	struct ctl_store base;
	sqlite3 *db;
};

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
};

enum { N_MIGRATIONS = sizeof(migrations) / sizeof(migrations[0]) };

int ctl_store_schema_version(void)
{
	return N_MIGRATIONS;
}

static struct sq_store *sq(struct ctl_store *s)
{
	return (struct sq_store *)s;
}

static int64_t now_s(void)
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
static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	return st;
}

static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_err(db, rc);
}

static int begin(sqlite3 *db)
{
	return exec(db, "BEGIN IMMEDIATE");
}

static int finish(sqlite3 *db, int rc)
{
	if (rc == 0 && exec(db, "COMMIT") == 0)
		return 0;
	exec(db, "ROLLBACK");
	return rc ? rc : -EIO;
}

static void copy_text(char *dst, size_t len, const unsigned char *src)
{
	snprintf(dst, len, "%s", src ? (const char *)src : "");
}

static void sq_close(struct ctl_store *s)
{
	if (!s)
		return;
	sqlite3_close(sq(s)->db);
	free(s);
}

static int sq_meta_get(struct ctl_store *s, const char *key, char *out, size_t outlen)
{
	sqlite3_stmt *st = prep(sq(s)->db, "SELECT value FROM meta WHERE key = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc)
		copy_text(out, outlen, sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc;
}

static int sq_meta_set(struct ctl_store *s, const char *key, const char *value)
{
	sqlite3_stmt *st =
	    prep(sq(s)->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	return step_done(sq(s)->db, st);
}

static int sq_user_add(struct ctl_store *s, const char *login, const char *pwhash, int64_t *id)
{
	sqlite3 *db = sq(s)->db;
	sqlite3_stmt *st = prep(db, "INSERT INTO users (login, pwhash, created) VALUES (?, ?, ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, pwhash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_s());
	int rc = step_done(db, st);
	if (!rc && id)
		*id = sqlite3_last_insert_rowid(db);
	return rc;
}

static void user_row(sqlite3_stmt *st, struct ctl_user *u)
{
	u->id = sqlite3_column_int64(st, 0);
	copy_text(u->login, sizeof(u->login), sqlite3_column_text(st, 1));
	u->created = sqlite3_column_int64(st, 2);
}

static int sq_user_get(struct ctl_store *s, const char *login, struct ctl_user *u, char *pwhash,
		       size_t pwlen)
{
	sqlite3_stmt *st = prep(sq(s)->db, "SELECT id, login, created, pwhash FROM users "
					   "WHERE login = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc) {
		user_row(st, u);
		if (pwhash)
			copy_text(pwhash, pwlen, sqlite3_column_text(st, 3));
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_user_by_id(struct ctl_store *s, int64_t id, struct ctl_user *u)
{
	sqlite3_stmt *st = prep(sq(s)->db, "SELECT id, login, created FROM users WHERE id = ?");
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
	sqlite3_stmt *st = prep(sq(s)->db, "SELECT id, login, created FROM users ORDER BY id");
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

static const char node_cols[] = "id, machine_key, node_key, key_expiry, hostname, user_id, tags, "
				"ipv4, ipv6, ephemeral, endpoints, ssh_host_keys, created, "
				"last_seen, disco_key";

static char *dup_text(const unsigned char *t)
{
	return t ? strdup((const char *)t) : NULL;
}

static void blob32(sqlite3_stmt *st, int col, uint8_t *out, size_t len)
{
	const void *b = sqlite3_column_blob(st, col);
	if (b && (size_t)sqlite3_column_bytes(st, col) == len)
		memcpy(out, b, len);
	else
		memset(out, 0, len);
}

static void node_row(sqlite3_stmt *st, struct ctl_node_rec *n)
{
	memset(n, 0, sizeof(*n));
	n->id = sqlite3_column_int64(st, 0);
	blob32(st, 1, n->machine_key, 32);
	blob32(st, 2, n->node_key, 32);
	n->key_expiry = sqlite3_column_int64(st, 3);
	copy_text(n->hostname, sizeof(n->hostname), sqlite3_column_text(st, 4));
	n->user_id = sqlite3_column_int64(st, 5);
	copy_text(n->tags, sizeof(n->tags), sqlite3_column_text(st, 6));
	n->ipv4 = (uint32_t)sqlite3_column_int64(st, 7);
	blob32(st, 8, n->ipv6, 16);
	n->ephemeral = sqlite3_column_int(st, 9);
	n->endpoints = dup_text(sqlite3_column_text(st, 10));
	n->ssh_host_keys = dup_text(sqlite3_column_text(st, 11));
	n->created = sqlite3_column_int64(st, 12);
	n->last_seen = sqlite3_column_int64(st, 13);
	n->has_disco_key = sqlite3_column_bytes(st, 14) == 32;
	blob32(st, 14, n->disco_key, 32);
}

/* The discovery key as a parameter: NULL when the record has none. */
static void bind_disco(sqlite3_stmt *st, int col, const struct ctl_node_rec *n)
{
	if (n->has_disco_key)
		sqlite3_bind_blob(st, col, n->disco_key, 32, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, col);
}

void ctl_node_rec_clear(struct ctl_node_rec *n)
{
	free(n->endpoints);
	free(n->ssh_host_keys);
	n->endpoints = n->ssh_host_keys = NULL;
}

static int node_query(sqlite3 *db, const char *where, int64_t id, const uint8_t *blob,
		      ctl_node_cb cb, void *ctx)
{
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT %s FROM nodes %s ORDER BY id", node_cols, where);
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return -EIO;
	if (blob)
		sqlite3_bind_blob(st, 1, blob, 32, SQLITE_STATIC);
	else if (strchr(where, '?'))
		sqlite3_bind_int64(st, 1, id);
	int rc = 0;
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		struct ctl_node_rec n;
		node_row(st, &n);
		rc = cb(ctx, &n);
		ctl_node_rec_clear(&n);
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_user_remove(struct ctl_store *s, const char *login, ctl_node_cb cb, void *ctx)
{
	sqlite3 *db = sq(s)->db;
	struct ctl_user u;
	int rc = begin(db);
	if (rc)
		return rc;
	rc = sq_user_get(s, login, &u, NULL, 0);
	if (!rc && cb)
		rc = node_query(db, "WHERE user_id = ?", u.id, NULL, cb, ctx);
	if (!rc) {
		sqlite3_stmt *st = prep(db, "DELETE FROM users WHERE id = ?");
		if (!st)
			rc = -EIO;
		else {
			sqlite3_bind_int64(st, 1, u.id);
			rc = step_done(db, st);
		}
	}
	return finish(db, rc);
}

static int sq_authkey_add(struct ctl_store *s, struct ctl_authkey *k)
{
	sqlite3 *db = sq(s)->db;
	sqlite3_stmt *st = prep(db, "INSERT INTO authkeys (prefix, hash, user_id, reusable, "
				    "ephemeral, tags, expires, created) VALUES (?,?,?,?,?,?,?,?)");
	if (!st)
		return -EIO;
	k->created = now_s();
	sqlite3_bind_text(st, 1, k->prefix, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, k->hash, sizeof(k->hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, k->user_id);
	sqlite3_bind_int(st, 4, k->reusable);
	sqlite3_bind_int(st, 5, k->ephemeral);
	sqlite3_bind_text(st, 6, k->tags, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, k->expires);
	sqlite3_bind_int64(st, 8, k->created);
	int rc = step_done(db, st);
	if (!rc)
		k->id = sqlite3_last_insert_rowid(db);
	return rc;
}

static const char authkey_cols[] = "id, prefix, hash, user_id, reusable, ephemeral, tags, "
				   "expires, created, uses, revoked";

static void authkey_row(sqlite3_stmt *st, struct ctl_authkey *k)
{
	memset(k, 0, sizeof(*k));
	k->id = sqlite3_column_int64(st, 0);
	copy_text(k->prefix, sizeof(k->prefix), sqlite3_column_text(st, 1));
	blob32(st, 2, k->hash, sizeof(k->hash));
	k->user_id = sqlite3_column_int64(st, 3);
	k->reusable = sqlite3_column_int(st, 4);
	k->ephemeral = sqlite3_column_int(st, 5);
	copy_text(k->tags, sizeof(k->tags), sqlite3_column_text(st, 6));
	k->expires = sqlite3_column_int64(st, 7);
	k->created = sqlite3_column_int64(st, 8);
	k->uses = sqlite3_column_int64(st, 9);
	k->revoked = sqlite3_column_int(st, 10);
}

static int sq_authkey_get(struct ctl_store *s, const char *prefix, struct ctl_authkey *k)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM authkeys WHERE prefix = ?", authkey_cols);
	sqlite3_stmt *st = prep(sq(s)->db, sql);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc)
		authkey_row(st, k);
	sqlite3_finalize(st);
	return rc;
}

static int sq_authkey_list(struct ctl_store *s, ctl_authkey_cb cb, void *ctx)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM authkeys ORDER BY id", authkey_cols);
	sqlite3_stmt *st = prep(sq(s)->db, sql);
	if (!st)
		return -EIO;
	int rc = 0;
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		struct ctl_authkey k;
		authkey_row(st, &k);
		rc = cb(ctx, &k);
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_authkey_revoke(struct ctl_store *s, const char *prefix)
{
	sqlite3 *db = sq(s)->db;
	sqlite3_stmt *st = prep(db, "UPDATE authkeys SET revoked = 1 WHERE prefix = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	int rc = step_done(db, st);
	if (!rc && sqlite3_changes(db) == 0)
		rc = -ENOENT;
	return rc;
}

static int node_one(void *ctx, const struct ctl_node_rec *n)
{
	struct ctl_node_rec *out = ctx;
	*out = *n;
	out->endpoints = n->endpoints ? strdup(n->endpoints) : NULL;
	out->ssh_host_keys = n->ssh_host_keys ? strdup(n->ssh_host_keys) : NULL;
	out->id = n->id ? n->id : 1;
	return 1;
}

static int sq_node_by_machine(struct ctl_store *s, const uint8_t mkey[static 32],
			      struct ctl_node_rec *n)
{
	memset(n, 0, sizeof(*n));
	int rc = node_query(sq(s)->db, "WHERE machine_key = ?", 0, mkey, node_one, n);
	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : -ENOENT;
}

/* Next address: a counter in meta, so an address (like a node id) is never handed out
 * twice, even after its node was removed. */
static int next_host(struct ctl_store *s, int64_t *host)
{
	char v[32];
	int rc = sq_meta_get(s, "next_host", v, sizeof(v));
	*host = rc == 0 ? strtoll(v, NULL, 10) : 1;
	if (rc && rc != -ENOENT)
		return rc;
	if (*host < 1 || *host >= (1 << 22) - 1)
		return -ENOSPC;
	snprintf(v, sizeof(v), "%lld", (long long)*host + 1);
	return sq_meta_set(s, "next_host", v);
}

static int sq_node_register(struct ctl_store *s, struct ctl_node_rec *n, int64_t authkey_id)
{
	sqlite3 *db = sq(s)->db;
	sqlite3_stmt *st;
	int rc = begin(db);
	if (rc)
		return rc;
	if (authkey_id) {
		st = prep(db, "UPDATE authkeys SET uses = uses + 1 WHERE id = ? AND revoked = 0 "
			      "AND (reusable = 1 OR uses = 0)");
		if (!st) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int64(st, 1, authkey_id);
		rc = step_done(db, st);
		if (!rc && sqlite3_changes(db) == 0)
			rc = -EKEYREVOKED;
		if (rc)
			goto out;
	}
	struct ctl_node_rec old;
	if (sq_node_by_machine(s, n->machine_key, &old) == 0) {
		ctl_node_rec_clear(&old);
		st = prep(db, "UPDATE nodes SET node_key = ?, key_expiry = ?, hostname = ?, "
			      "user_id = ?, tags = ?, ephemeral = ?, "
			      "disco_key = COALESCE(?, disco_key) WHERE id = ?");
		if (!st) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_blob(st, 1, n->node_key, 32, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, n->key_expiry);
		sqlite3_bind_text(st, 3, n->hostname, -1, SQLITE_STATIC);
		if (n->user_id)
			sqlite3_bind_int64(st, 4, n->user_id);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_text(st, 5, n->tags, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 6, n->ephemeral);
		bind_disco(st, 7, n);
		sqlite3_bind_int64(st, 8, old.id);
		if (!n->has_disco_key && old.has_disco_key) {
			memcpy(n->disco_key, old.disco_key, 32);
			n->has_disco_key = true;
		}
		n->id = old.id;
		n->ipv4 = old.ipv4;
		memcpy(n->ipv6, old.ipv6, 16);
		n->created = old.created;
		rc = step_done(db, st);
		goto out;
	}
	char ula[64];
	int64_t host;
	rc = sq_meta_get(s, "ula48", ula, sizeof(ula));
	if (!rc)
		rc = next_host(s, &host);
	if (rc)
		goto out;
	uint8_t prefix[6];
	if (sodium_hex2bin(prefix, sizeof(prefix), ula, strlen(ula), NULL, NULL, NULL) != 0) {
		rc = -EIO;
		goto out;
	}
	n->ipv4 = 0x64400000u + (uint32_t)host;
	memset(n->ipv6, 0, 16);
	memcpy(n->ipv6, prefix, 6);
	for (int i = 0; i < 4; i++)
		n->ipv6[12 + i] = (uint8_t)(host >> (24 - 8 * i));
	n->created = now_s();
	st = prep(db, "INSERT INTO nodes (machine_key, node_key, key_expiry, hostname, user_id, "
		      "tags, ipv4, ipv6, ephemeral, created, last_seen, disco_key) "
		      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
	if (!st) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_blob(st, 1, n->machine_key, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, n->node_key, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, n->key_expiry);
	sqlite3_bind_text(st, 4, n->hostname, -1, SQLITE_STATIC);
	if (n->user_id)
		sqlite3_bind_int64(st, 5, n->user_id);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_text(st, 6, n->tags, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, n->ipv4);
	sqlite3_bind_blob(st, 8, n->ipv6, 16, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, n->ephemeral);
	sqlite3_bind_int64(st, 10, n->created);
	sqlite3_bind_int64(st, 11, n->created);
	bind_disco(st, 12, n);
	rc = step_done(db, st);
	if (!rc)
		n->id = sqlite3_last_insert_rowid(db);
out:
	return finish(db, rc);
}

static int sq_node_update(struct ctl_store *s, const struct ctl_node_rec *n)
{
	sqlite3 *db = sq(s)->db;
	sqlite3_stmt *st = prep(db, "UPDATE nodes SET endpoints = ?, ssh_host_keys = ?, "
				    "hostname = ?, last_seen = ?, "
				    "disco_key = COALESCE(?, disco_key) WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, n->endpoints, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, n->ssh_host_keys, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, n->hostname, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, n->last_seen);
	bind_disco(st, 5, n);
	sqlite3_bind_int64(st, 6, n->id);
	int rc = step_done(db, st);
	if (!rc && sqlite3_changes(db) == 0)
		rc = -ENOENT;
	return rc;
}

static int sq_node_set_expiry(struct ctl_store *s, int64_t id, int64_t key_expiry)
{
	sqlite3 *db = sq(s)->db;
	sqlite3_stmt *st = prep(db, "UPDATE nodes SET key_expiry = ? WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, key_expiry);
	sqlite3_bind_int64(st, 2, id);
	int rc = step_done(db, st);
	if (!rc && sqlite3_changes(db) == 0)
		rc = -ENOENT;
	return rc;
}

static int sq_node_list(struct ctl_store *s, ctl_node_cb cb, void *ctx)
{
	return node_query(sq(s)->db, "", 0, NULL, cb, ctx);
}

static int sq_node_remove(struct ctl_store *s, int64_t id)
{
	sqlite3 *db = sq(s)->db;
	sqlite3_stmt *st = prep(db, "DELETE FROM nodes WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	int rc = step_done(db, st);
	if (!rc && sqlite3_changes(db) == 0)
		rc = -ENOENT;
	return rc;
}

static int sq_policy_get(struct ctl_store *s, char **text)
{
	sqlite3_stmt *st = prep(sq(s)->db, "SELECT text FROM policy ORDER BY id DESC LIMIT 1");
	if (!st)
		return -EIO;
	*text = NULL;
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*text = dup_text(sqlite3_column_text(st, 0));
		if (!*text)
			rc = -ENOMEM;
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_policy_set(struct ctl_store *s, const char *text)
{
	sqlite3 *db = sq(s)->db;
	sqlite3_stmt *st = prep(db, "INSERT INTO policy (text, created) VALUES (?, ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_s());
	return step_done(db, st);
}

static int sq_approval_put(struct ctl_store *s, const struct ctl_approval *a)
{
	sqlite3 *db = sq(s)->db;
	sqlite3_stmt *st = prep(db, "INSERT OR REPLACE INTO approvals (src_node, dst_node, "
				    "user_id, approved_at, auth_at) VALUES (?,?,?,?,?)");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, a->src_node);
	sqlite3_bind_int64(st, 2, a->dst_node);
	sqlite3_bind_int64(st, 3, a->user_id);
	sqlite3_bind_int64(st, 4, a->approved_at);
	sqlite3_bind_int64(st, 5, a->auth_at);
	return step_done(db, st);
}

static int sq_approval_get(struct ctl_store *s, int64_t src, int64_t dst, struct ctl_approval *a)
{
	sqlite3_stmt *st = prep(sq(s)->db, "SELECT user_id, approved_at, auth_at FROM approvals "
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

static int sso_user_of(sqlite3 *db, const struct ctl_sso_login *in, struct ctl_user *u)
{
	sqlite3_stmt *st =
	    prep(db, "SELECT u.id, u.login, u.created FROM sso_identities i "
		     "JOIN users u ON u.id = i.user_id WHERE i.iss = ? AND i.sub = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, in->iss, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, in->sub, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc)
		user_row(st, u);
	sqlite3_finalize(st);
	return rc;
}

static int sq_sso_login(struct ctl_store *s, const struct ctl_sso_login *in, struct ctl_user *u,
			bool *created)
{
	sqlite3 *db = sq(s)->db;
	sqlite3_stmt *st;
	int rc = begin(db);
	if (rc)
		return rc;
	*created = false;
	rc = sso_user_of(db, in, u);
	if (rc == -ENOENT) {
		/* a first login: a user without a password, then its identity */
		rc = sq_user_add(s, in->login, "!", &u->id);
		st = rc ? NULL
			: prep(db, "INSERT INTO sso_identities (iss, sub, user_id, email, "
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
			rc = step_done(db, st);
		}
		if (!rc)
			rc = sso_user_of(db, in, u);
		*created = !rc;
	} else if (!rc) {
		st = prep(db, "UPDATE sso_identities SET email = ?, groups = ?, updated = ? "
			      "WHERE iss = ? AND sub = ?");
		if (!st) {
			rc = -EIO;
		} else {
			sqlite3_bind_text(st, 1, in->email, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, in->groups, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, in->now);
			sqlite3_bind_text(st, 4, in->iss, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 5, in->sub, -1, SQLITE_STATIC);
			rc = step_done(db, st);
		}
	}
	return finish(db, rc);
}

static int sq_sso_groups(struct ctl_store *s, int64_t user_id, char **groups)
{
	sqlite3_stmt *st = prep(sq(s)->db, "SELECT groups FROM sso_identities WHERE user_id = ?");
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

static const struct ctl_store_ops sqlite_ops = {
	.close = sq_close,
	.meta_get = sq_meta_get,
	.meta_set = sq_meta_set,
	.user_add = sq_user_add,
	.user_get = sq_user_get,
	.user_by_id = sq_user_by_id,
	.user_list = sq_user_list,
	.user_remove = sq_user_remove,
	.authkey_add = sq_authkey_add,
	.authkey_get = sq_authkey_get,
	.authkey_list = sq_authkey_list,
	.authkey_revoke = sq_authkey_revoke,
	.node_register = sq_node_register,
	.node_by_machine = sq_node_by_machine,
	.node_update = sq_node_update,
	.node_set_expiry = sq_node_set_expiry,
	.node_list = sq_node_list,
	.node_remove = sq_node_remove,
	.policy_get = sq_policy_get,
	.policy_set = sq_policy_set,
	.approval_put = sq_approval_put,
	.approval_get = sq_approval_get,
	.sso_login = sq_sso_login,
	.sso_groups = sq_sso_groups,
};

static int migrate(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = prep(db, "PRAGMA user_version");
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
		int rc = begin(db);
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
		if (finish(db, rc)) {
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
	struct sq_store *s = calloc(1, sizeof(*s));
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
