/* The SQLite store's nodes and auth keys (store_sqlite.c has the rest): node rows and
 * their queries, the auth keys, and registration, which consumes a key and creates or
 * updates the node in one transaction and allocates its addresses inside it.  Tags are
 * rows of node_tags and authkey_tags (schema 5), written with their node or key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "common/strv.h"
#include "control/server/internal.h"
#include "control/server/store.h"

static const char node_cols[] = "id, machine_key, node_key, key_expiry, hostname, user_id, "
				"ipv4, ipv6, ephemeral, endpoints, ssh_host_keys, created, "
				"last_seen, disco_key";

static void blob32(sqlite3_stmt *st, int col, uint8_t *out, size_t len)
{
	const void *b = sqlite3_column_blob(st, col);
	if (b && (size_t)sqlite3_column_bytes(st, col) == len)
		memcpy(out, b, len);
	else
		memset(out, 0, len);
}

/* The tags of one node or key (sql selects them for "?" = id), sorted. */
static int tags_load(sqlite3 *db, const char *sql, int64_t id, char ***v, size_t *n)
{
	*v = NULL;
	*n = 0;
	sqlite3_stmt *st = ctl__sq_prep(db, sql);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	int rc = 0;
	while (!rc && *n < CTL_TAGS_COUNT_MAX && sqlite3_step(st) == SQLITE_ROW) {
		char **grown = realloc(*v, (*n + 1) * sizeof(**v));
		if (grown)
			*v = grown;
		if (!grown || !((*v)[*n] = ctl__sq_dup_text(sqlite3_column_text(st, 0))))
			rc = -ENOMEM;
		else
			(*n)++;
	}
	sqlite3_finalize(st);
	if (rc) {
		strv_free(*v, *n);
		*v = NULL;
		*n = 0;
	}
	return rc;
}

/* Replace the tags of id in table (node_tags or authkey_tags, id column col); inside the
 * caller's transaction.  Repeats are stored once. */
static int tags_save(sqlite3 *db, const char *table, const char *col, int64_t id, char *const *v,
		     size_t n)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s = ?", table, col);
	sqlite3_stmt *st = ctl__sq_prep(db, sql);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	int rc = ctl__sq_step_done(db, st);
	snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO %s (%s, tag) VALUES (?, ?)", table, col);
	for (size_t i = 0; !rc && i < n; i++) {
		if (!(st = ctl__sq_prep(db, sql)))
			return -EIO;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, v[i], -1, SQLITE_STATIC);
		rc = ctl__sq_step_done(db, st);
	}
	return rc;
}

static const char node_tags_sql[] = "SELECT tag FROM node_tags WHERE node_id = ? ORDER BY tag";
static const char authkey_tags_sql[] =
    "SELECT tag FROM authkey_tags WHERE authkey_id = ? ORDER BY tag";

static void node_row(sqlite3_stmt *st, struct ctl_node_rec *n)
{
	memset(n, 0, sizeof(*n));
	n->id = sqlite3_column_int64(st, 0);
	blob32(st, 1, n->machine_key, 32);
	blob32(st, 2, n->node_key, 32);
	n->key_expiry = sqlite3_column_int64(st, 3);
	ctl__sq_copy_text(n->hostname, sizeof(n->hostname), sqlite3_column_text(st, 4));
	n->user_id = sqlite3_column_int64(st, 5);
	n->ipv4 = (uint32_t)sqlite3_column_int64(st, 6);
	blob32(st, 7, n->ipv6, 16);
	n->ephemeral = sqlite3_column_int(st, 8);
	n->endpoints = ctl__sq_dup_text(sqlite3_column_text(st, 9));
	n->ssh_host_keys = ctl__sq_dup_text(sqlite3_column_text(st, 10));
	n->created = sqlite3_column_int64(st, 11);
	n->last_seen = sqlite3_column_int64(st, 12);
	n->has_disco_key = sqlite3_column_bytes(st, 13) == 32;
	blob32(st, 13, n->disco_key, 32);
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
	strv_free(n->tags, n->n_tags);
	free(n->endpoints);
	free(n->ssh_host_keys);
	n->tags = NULL;
	n->n_tags = 0;
	n->endpoints = n->ssh_host_keys = NULL;
}

int ctl_node_rec_copy(struct ctl_node_rec *dst, const struct ctl_node_rec *src)
{
	*dst = *src;
	dst->tags = NULL;
	dst->n_tags = 0;
	dst->endpoints = src->endpoints ? strdup(src->endpoints) : NULL;
	dst->ssh_host_keys = src->ssh_host_keys ? strdup(src->ssh_host_keys) : NULL;
	if ((src->endpoints && !dst->endpoints) || (src->ssh_host_keys && !dst->ssh_host_keys) ||
	    strv_dup((const char *const *)src->tags, src->n_tags, &dst->tags) != 0) {
		ctl_node_rec_clear(dst);
		return -ENOMEM;
	}
	dst->n_tags = src->n_tags;
	return 0;
}

void ctl_authkey_clear(struct ctl_authkey *k)
{
	strv_free(k->tags, k->n_tags);
	k->tags = NULL;
	k->n_tags = 0;
}

static int node_query(sqlite3 *db, const char *where, int64_t id, const uint8_t *blob,
		      ctl_node_cb cb, void *ctx)
{
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT %s FROM nodes %s ORDER BY id", node_cols, where);
	sqlite3_stmt *st = ctl__sq_prep(db, sql);
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
		rc = tags_load(db, node_tags_sql, n.id, &n.tags, &n.n_tags);
		if (!rc)
			rc = cb(ctx, &n);
		ctl_node_rec_clear(&n);
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl__sq_user_remove(struct ctl_store *s, const char *login, ctl_node_cb cb, void *ctx)
{
	sqlite3 *db = ctl__sq(s)->db;
	struct ctl_user u;
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	rc = ctl__sq_user_get(s, login, &u, NULL, 0);
	if (!rc && cb)
		rc = node_query(db, "WHERE user_id = ?", u.id, NULL, cb, ctx);
	if (!rc) {
		sqlite3_stmt *st = ctl__sq_prep(db, "DELETE FROM users WHERE id = ?");
		if (!st)
			rc = -EIO;
		else {
			sqlite3_bind_int64(st, 1, u.id);
			rc = ctl__sq_step_done(db, st);
		}
	}
	return ctl__sq_finish(db, rc);
}

int ctl__sq_authkey_add(struct ctl_store *s, struct ctl_authkey *k)
{
	sqlite3 *db = ctl__sq(s)->db;
	int rc = ctl__store_tags_check((const char *const *)k->tags, k->n_tags);
	if (rc || (rc = ctl__sq_begin(db)) != 0)
		return rc;
	sqlite3_stmt *st =
	    ctl__sq_prep(db, "INSERT INTO authkeys (prefix, hash, user_id, reusable, "
			     "ephemeral, expires, created) VALUES (?,?,?,?,?,?,?)");
	if (!st)
		return ctl__sq_finish(db, -EIO);
	k->created = ctl__sq_now();
	sqlite3_bind_text(st, 1, k->prefix, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, k->hash, sizeof(k->hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, k->user_id);
	sqlite3_bind_int(st, 4, k->reusable);
	sqlite3_bind_int(st, 5, k->ephemeral);
	sqlite3_bind_int64(st, 6, k->expires);
	sqlite3_bind_int64(st, 7, k->created);
	rc = ctl__sq_step_done(db, st);
	if (!rc)
		k->id = sqlite3_last_insert_rowid(db);
	if (!rc)
		rc = tags_save(db, "authkey_tags", "authkey_id", k->id, k->tags, k->n_tags);
	return ctl__sq_finish(db, rc);
}

static const char authkey_cols[] = "id, prefix, hash, user_id, reusable, ephemeral, "
				   "expires, created, uses, revoked";

static void authkey_row(sqlite3_stmt *st, struct ctl_authkey *k)
{
	memset(k, 0, sizeof(*k));
	k->id = sqlite3_column_int64(st, 0);
	ctl__sq_copy_text(k->prefix, sizeof(k->prefix), sqlite3_column_text(st, 1));
	blob32(st, 2, k->hash, sizeof(k->hash));
	k->user_id = sqlite3_column_int64(st, 3);
	k->reusable = sqlite3_column_int(st, 4);
	k->ephemeral = sqlite3_column_int(st, 5);
	k->expires = sqlite3_column_int64(st, 6);
	k->created = sqlite3_column_int64(st, 7);
	k->uses = sqlite3_column_int64(st, 8);
	k->revoked = sqlite3_column_int(st, 9);
}

int ctl__sq_authkey_get(struct ctl_store *s, const char *prefix, struct ctl_authkey *k)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM authkeys WHERE prefix = ?", authkey_cols);
	sqlite3_stmt *st = ctl__sq_prep(ctl__sq(s)->db, sql);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -ENOENT;
	if (!rc)
		authkey_row(st, k);
	sqlite3_finalize(st);
	if (!rc)
		rc = tags_load(ctl__sq(s)->db, authkey_tags_sql, k->id, &k->tags, &k->n_tags);
	return rc;
}

int ctl__sq_authkey_list(struct ctl_store *s, ctl_authkey_cb cb, void *ctx)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT %s FROM authkeys ORDER BY id", authkey_cols);
	sqlite3_stmt *st = ctl__sq_prep(ctl__sq(s)->db, sql);
	if (!st)
		return -EIO;
	int rc = 0;
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		struct ctl_authkey k;
		authkey_row(st, &k);
		rc = tags_load(ctl__sq(s)->db, authkey_tags_sql, k.id, &k.tags, &k.n_tags);
		if (!rc)
			rc = cb(ctx, &k);
		ctl_authkey_clear(&k);
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl__sq_authkey_revoke(struct ctl_store *s, const char *prefix)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(db, "UPDATE authkeys SET revoked = 1 WHERE prefix = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	int rc = ctl__sq_step_done(db, st);
	if (!rc && sqlite3_changes(db) == 0)
		rc = -ENOENT;
	return rc;
}

static int node_one(void *ctx, const struct ctl_node_rec *n)
{
	struct ctl_node_rec *out = ctx;
	if (ctl_node_rec_copy(out, n) != 0)
		return -ENOMEM;
	out->id = n->id ? n->id : 1;
	return 1;
}

int ctl__sq_node_by_machine(struct ctl_store *s, const uint8_t mkey[static 32],
			    struct ctl_node_rec *n)
{
	memset(n, 0, sizeof(*n));
	int rc = node_query(ctl__sq(s)->db, "WHERE machine_key = ?", 0, mkey, node_one, n);
	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : -ENOENT;
}

int ctl__sq_node_get(struct ctl_store *s, int64_t id, struct ctl_node_rec *n)
{
	memset(n, 0, sizeof(*n));
	int rc = node_query(ctl__sq(s)->db, "WHERE id = ?", id, NULL, node_one, n);
	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : -ENOENT;
}

/* Next address: a counter in meta, so an address (like a node id) is never handed out
 * twice, even after its node was removed. */
static int next_host(struct ctl_store *s, int64_t *host)
{
	char v[32];
	int rc = ctl__sq_meta_get(s, "next_host", v, sizeof(v));
	*host = rc == 0 ? strtoll(v, NULL, 10) : 1;
	if (rc && rc != -ENOENT)
		return rc;
	if (*host < 1 || *host >= (1 << 22) - 1)
		return -ENOSPC;
	snprintf(v, sizeof(v), "%lld", (long long)*host + 1);
	return ctl__sq_meta_set(s, "next_host", v);
}

int ctl__sq_node_register(struct ctl_store *s, struct ctl_node_rec *n, int64_t authkey_id)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st;
	int rc = ctl__store_tags_check((const char *const *)n->tags, n->n_tags);
	if (rc || (rc = ctl__sq_begin(db)) != 0)
		return rc;
	if (authkey_id) {
		st = ctl__sq_prep(
		    db, "UPDATE authkeys SET uses = uses + 1 WHERE id = ? AND revoked = 0 "
			"AND (reusable = 1 OR uses = 0)");
		if (!st) {
			rc = -EIO;
			goto out;
		}
		sqlite3_bind_int64(st, 1, authkey_id);
		rc = ctl__sq_step_done(db, st);
		if (!rc && sqlite3_changes(db) == 0)
			rc = -EKEYREVOKED;
		if (rc)
			goto out;
	}
	struct ctl_node_rec old;
	if (ctl__sq_node_by_machine(s, n->machine_key, &old) == 0) {
		ctl_node_rec_clear(&old);
		st =
		    ctl__sq_prep(db, "UPDATE nodes SET node_key = ?, key_expiry = ?, hostname = ?, "
				     "user_id = ?, ephemeral = ?, "
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
		sqlite3_bind_int(st, 5, n->ephemeral);
		bind_disco(st, 6, n);
		sqlite3_bind_int64(st, 7, old.id);
		if (!n->has_disco_key && old.has_disco_key) {
			memcpy(n->disco_key, old.disco_key, 32);
			n->has_disco_key = true;
		}
		n->id = old.id;
		n->ipv4 = old.ipv4;
		memcpy(n->ipv6, old.ipv6, 16);
		n->created = old.created;
		rc = ctl__sq_step_done(db, st);
		goto tags;
	}
	char ula[64];
	int64_t host;
	rc = ctl__sq_meta_get(s, "ula48", ula, sizeof(ula));
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
	n->created = ctl__sq_now();
	st = ctl__sq_prep(
	    db, "INSERT INTO nodes (machine_key, node_key, key_expiry, hostname, user_id, "
		"ipv4, ipv6, ephemeral, created, last_seen, disco_key) "
		"VALUES (?,?,?,?,?,?,?,?,?,?,?)");
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
	sqlite3_bind_int64(st, 6, n->ipv4);
	sqlite3_bind_blob(st, 7, n->ipv6, 16, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, n->ephemeral);
	sqlite3_bind_int64(st, 9, n->created);
	sqlite3_bind_int64(st, 10, n->created);
	bind_disco(st, 11, n);
	rc = ctl__sq_step_done(db, st);
	if (!rc)
		n->id = sqlite3_last_insert_rowid(db);
tags:
	if (!rc)
		rc = tags_save(db, "node_tags", "node_id", n->id, n->tags, n->n_tags);
out:
	return ctl__sq_finish(db, rc);
}

int ctl__sq_node_update(struct ctl_store *s, const struct ctl_node_rec *n)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(db, "UPDATE nodes SET endpoints = ?, ssh_host_keys = ?, "
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
	int rc = ctl__sq_step_done(db, st);
	if (!rc && sqlite3_changes(db) == 0)
		rc = -ENOENT;
	return rc;
}

int ctl__sq_node_set_expiry(struct ctl_store *s, int64_t id, int64_t key_expiry)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(db, "UPDATE nodes SET key_expiry = ? WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, key_expiry);
	sqlite3_bind_int64(st, 2, id);
	int rc = ctl__sq_step_done(db, st);
	if (!rc && sqlite3_changes(db) == 0)
		rc = -ENOENT;
	return rc;
}

int ctl__sq_node_list(struct ctl_store *s, ctl_node_cb cb, void *ctx)
{
	return node_query(ctl__sq(s)->db, "", 0, NULL, cb, ctx);
}

int ctl__sq_node_remove(struct ctl_store *s, int64_t id)
{
	sqlite3 *db = ctl__sq(s)->db;
	sqlite3_stmt *st = ctl__sq_prep(db, "DELETE FROM nodes WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	int rc = ctl__sq_step_done(db, st);
	if (!rc && sqlite3_changes(db) == 0)
		rc = -ENOENT;
	return rc;
}