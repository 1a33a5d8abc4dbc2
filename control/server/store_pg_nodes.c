/* The PostgreSQL store's nodes and auth keys (store_pg.c has the rest).  Rows are read with
 * their tags in one query (a LEFT JOIN ordered by id, then tag: one round trip for a list of
 * any length, where SQLite asks once per row); registration consumes the key, creates or
 * updates the node and allocates its addresses in one transaction.  Under several replicas:
 * the key's use is one UPDATE whose WHERE is evaluated again after its row lock, so a
 * single-use key is used once; the address counter is one upsert on its meta row, so two
 * registrations never get the same address; two first registrations of one machine key at
 * once leave one node and give the other -EEXIST (the unique machine_key). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/strv.h"
#include "control/server/internal.h"
#include "control/server/store.h"
#include "control/server/store_pg_int.h"

/* A row's tags from column col of rows first.. while column 0 (the id) stays the same; the
 * LEFT JOIN gives one NULL tag for none.  Returns the row after them. */
static int tags_rows(const PGresult *r, int first, int col, char ***v, size_t *n, int *next)
{
	int i = first;
	const char *id = PQgetvalue(r, first, 0);
	*v = NULL;
	*n = 0;
	for (; i < PQntuples(r) && strcmp(PQgetvalue(r, i, 0), id) == 0; i++) {
		if (PQgetisnull(r, i, col) || *n >= CTL_TAGS_COUNT_MAX)
			continue;
		char **grown = realloc(*v, (*n + 1) * sizeof(**v));
		if (grown)
			*v = grown;
		if (!grown || !((*v)[*n] = strdup(PQgetvalue(r, i, col)))) {
			strv_free(*v, *n);
			*v = NULL;
			*n = 0;
			return -ENOMEM;
		}
		(*n)++;
	}
	*next = i;
	return 0;
}

/* Replace the tags of id in table (node_tags or authkey_tags) inside the caller's
 * transaction; repeats stored once.  The two statements are constants per table. */
static int tags_save(struct ctl__pg_store *s, bool node, int64_t id, char *const *v, size_t n)
{
	struct ctl__pg_params p = { 0 };
	ctl__pg_int(&p, id);
	int rc = ctl__pg_q(s,
			   node ? "DELETE FROM node_tags WHERE node_id = $1"
				: "DELETE FROM authkey_tags WHERE authkey_id = $1",
			   &p, NULL);
	for (size_t i = 0; !rc && i < n; i++) {
		p.n = 1;
		ctl__pg_text(&p, v[i]);
		rc = ctl__pg_q(s,
			       node ? "INSERT INTO node_tags (node_id, tag) VALUES ($1, $2) "
				      "ON CONFLICT DO NOTHING"
				    : "INSERT INTO authkey_tags (authkey_id, tag) VALUES ($1, $2) "
				      "ON CONFLICT DO NOTHING",
			       &p, NULL);
	}
	return rc;
}

/* auth keys */

#define AUTHKEY_SELECT                                                                   \
	"SELECT k.id, k.prefix, k.hash, k.user_id, k.reusable, k.ephemeral, k.expires, " \
	"k.created, k.uses, k.revoked, t.tag FROM authkeys k "                           \
	"LEFT JOIN authkey_tags t ON t.authkey_id = k.id "

static int authkey_row(const PGresult *r, int row, struct ctl_authkey *k, int *next)
{
	memset(k, 0, sizeof(*k));
	k->id = ctl__pg_get_int(r, row, 0);
	ctl__pg_get_text(r, row, 1, k->prefix, sizeof(k->prefix));
	ctl__pg_get_bytes(r, row, 2, k->hash, sizeof(k->hash));
	k->user_id = ctl__pg_get_int(r, row, 3);
	k->reusable = ctl__pg_get_int(r, row, 4);
	k->ephemeral = ctl__pg_get_int(r, row, 5);
	k->expires = ctl__pg_get_int(r, row, 6);
	k->created = ctl__pg_get_int(r, row, 7);
	k->uses = ctl__pg_get_int(r, row, 8);
	k->revoked = ctl__pg_get_int(r, row, 9);
	return tags_rows(r, row, 10, &k->tags, &k->n_tags, next);
}

struct key_args {
	struct ctl_authkey *k;
	const char *prefix;
	ctl_authkey_cb cb;
	void *ctx;
};

static int authkey_add_body(struct ctl__pg_store *s, void *ctx)
{
	struct ctl_authkey *k = ((struct key_args *)ctx)->k;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	k->created = (int64_t)time(NULL);
	ctl__pg_text(&p, k->prefix);
	ctl__pg_bytes(&p, k->hash, sizeof(k->hash));
	ctl__pg_int(&p, k->user_id);
	ctl__pg_int(&p, k->reusable);
	ctl__pg_int(&p, k->ephemeral);
	ctl__pg_int(&p, k->expires);
	ctl__pg_int(&p, k->created);
	int rc = ctl__pg_q(s,
			   "INSERT INTO authkeys (prefix, hash, user_id, reusable, ephemeral, "
			   "expires, created) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
			   &p, &r);
	if (!rc)
		k->id = ctl__pg_get_int(r, 0, 0);
	PQclear(r);
	if (!rc)
		rc = tags_save(s, false, k->id, k->tags, k->n_tags);
	return rc;
}

int ctl__pg_authkey_add(struct ctl_store *s, struct ctl_authkey *k)
{
	struct key_args a = { .k = k };
	int rc = ctl__store_tags_check((const char *const *)k->tags, k->n_tags);
	return rc ? rc : ctl__pg_run(ctl__pg(s), CTL__PG_TXN, authkey_add_body, &a);
}

static int authkey_get_body(struct ctl__pg_store *s, void *ctx)
{
	struct key_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	int next;
	ctl__pg_text(&p, a->prefix);
	int rc = ctl__pg_q(s, AUTHKEY_SELECT "WHERE k.prefix = $1 ORDER BY t.tag", &p, &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT;
	if (!rc)
		rc = authkey_row(r, 0, a->k, &next);
	PQclear(r);
	return rc;
}

int ctl__pg_authkey_get(struct ctl_store *s, const char *prefix, struct ctl_authkey *k)
{
	struct key_args a = { .k = k, .prefix = prefix };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, authkey_get_body, &a);
}

static int authkey_list_body(struct ctl__pg_store *s, void *ctx)
{
	struct key_args *a = ctx;
	PGresult *r;
	int rc = ctl__pg_q(s, AUTHKEY_SELECT "ORDER BY k.id, t.tag", NULL, &r);
	s->delivered = !rc;
	for (int i = 0; !rc && i < PQntuples(r);) {
		struct ctl_authkey k;
		rc = authkey_row(r, i, &k, &i);
		if (!rc)
			rc = a->cb(a->ctx, &k);
		ctl_authkey_clear(&k);
	}
	PQclear(r);
	return rc;
}

int ctl__pg_authkey_list(struct ctl_store *s, ctl_authkey_cb cb, void *ctx)
{
	struct key_args a = { .cb = cb, .ctx = ctx };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, authkey_list_body, &a);
}

/* One UPDATE or DELETE of the row of an id or prefix: -ENOENT when there was none. */
static int change_one(struct ctl__pg_store *s, const char *sql, const struct ctl__pg_params *p)
{
	PGresult *r;
	int rc = ctl__pg_q(s, sql, p, &r);
	if (!rc && strcmp(PQcmdTuples(r), "0") == 0)
		rc = -ENOENT;
	PQclear(r);
	return rc;
}

static int authkey_revoke_body(struct ctl__pg_store *s, void *ctx)
{
	struct ctl__pg_params p = { 0 };
	ctl__pg_text(&p, ((struct key_args *)ctx)->prefix);
	return change_one(s, "UPDATE authkeys SET revoked = 1 WHERE prefix = $1", &p);
}

int ctl__pg_authkey_revoke(struct ctl_store *s, const char *prefix)
{
	struct key_args a = { .prefix = prefix };
	return ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, authkey_revoke_body, &a);
}

/* nodes */

#define NODE_SELECT                                                                     \
	"SELECT n.id, n.machine_key, n.node_key, n.key_expiry, n.hostname, n.user_id, " \
	"n.ipv4, n.ipv6, n.ephemeral, n.endpoints, n.ssh_host_keys, n.created, "        \
	"n.last_seen, n.disco_key, t.tag FROM nodes n "                                 \
	"LEFT JOIN node_tags t ON t.node_id = n.id "

static int node_row(const PGresult *r, int row, struct ctl_node_rec *n, int *next)
{
	memset(n, 0, sizeof(*n));
	n->id = ctl__pg_get_int(r, row, 0);
	ctl__pg_get_bytes(r, row, 1, n->machine_key, 32);
	ctl__pg_get_bytes(r, row, 2, n->node_key, 32);
	n->key_expiry = ctl__pg_get_int(r, row, 3);
	ctl__pg_get_text(r, row, 4, n->hostname, sizeof(n->hostname));
	n->user_id = ctl__pg_get_int(r, row, 5);
	n->ipv4 = (uint32_t)ctl__pg_get_int(r, row, 6);
	ctl__pg_get_bytes(r, row, 7, n->ipv6, 16);
	n->ephemeral = ctl__pg_get_int(r, row, 8);
	n->endpoints = ctl__pg_get_dup(r, row, 9);
	n->ssh_host_keys = ctl__pg_get_dup(r, row, 10);
	n->created = ctl__pg_get_int(r, row, 11);
	n->last_seen = ctl__pg_get_int(r, row, 12);
	n->has_disco_key = ctl__pg_get_bytes(r, row, 13, n->disco_key, 32);
	if ((!PQgetisnull(r, row, 9) && !n->endpoints) ||
	    (!PQgetisnull(r, row, 10) && !n->ssh_host_keys)) {
		ctl_node_rec_clear(n);
		return -ENOMEM;
	}
	return tags_rows(r, row, 14, &n->tags, &n->n_tags, next);
}

int ctl__pg_node_query(struct ctl__pg_store *s, const char *where, const struct ctl__pg_params *p,
		       ctl_node_cb cb, void *ctx)
{
	char sql[1024];
	PGresult *r;
	snprintf(sql, sizeof(sql), NODE_SELECT "%s ORDER BY n.id, t.tag", where);
	int rc = ctl__pg_q(s, sql, p, &r);
	s->delivered = !rc;
	for (int i = 0; !rc && i < PQntuples(r);) {
		struct ctl_node_rec n;
		rc = node_row(r, i, &n, &i);
		if (!rc)
			rc = cb(ctx, &n);
		ctl_node_rec_clear(&n);
	}
	PQclear(r);
	return rc;
}

struct node_args {
	struct ctl_node_rec *n;
	const struct ctl_node_rec *in;
	const uint8_t *mkey;
	int64_t id, value;
	ctl_node_cb cb;
	void *ctx;
};

static int node_one(void *ctx, const struct ctl_node_rec *n)
{
	struct ctl_node_rec *out = ctx;
	return ctl_node_rec_copy(out, n) != 0 ? -ENOMEM : 1;
}

/* The node of mkey into n (the caller's to clear): 0 or -ENOENT. */
static int node_by_machine(struct ctl__pg_store *s, const uint8_t *mkey, struct ctl_node_rec *n)
{
	struct ctl__pg_params p = { 0 };
	memset(n, 0, sizeof(*n));
	ctl__pg_bytes(&p, mkey, 32);
	int rc = ctl__pg_node_query(s, "WHERE n.machine_key = $1", &p, node_one, n);
	s->delivered = false; /* to our own record only */
	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : -ENOENT;
}

static int node_by_machine_body(struct ctl__pg_store *s, void *ctx)
{
	struct node_args *a = ctx;
	return node_by_machine(s, a->mkey, a->n);
}

int ctl__pg_node_by_machine(struct ctl_store *s, const uint8_t mkey[static 32],
			    struct ctl_node_rec *n)
{
	struct node_args a = { .n = n, .mkey = mkey };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, node_by_machine_body, &a);
}

static int node_get_body(struct ctl__pg_store *s, void *ctx)
{
	struct node_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	memset(a->n, 0, sizeof(*a->n));
	ctl__pg_int(&p, a->id);
	int rc = ctl__pg_node_query(s, "WHERE n.id = $1", &p, node_one, a->n);
	s->delivered = false; /* to our own record only */
	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : -ENOENT;
}

int ctl__pg_node_get(struct ctl_store *s, int64_t id, struct ctl_node_rec *n)
{
	struct node_args a = { .n = n, .id = id };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, node_get_body, &a);
}

static void param_user(struct ctl__pg_params *p, int64_t user_id)
{
	if (user_id)
		ctl__pg_int(p, user_id);
	else
		ctl__pg_text(p, NULL);
}

static void param_disco(struct ctl__pg_params *p, const struct ctl_node_rec *n)
{
	if (n->has_disco_key)
		ctl__pg_bytes(p, n->disco_key, 32);
	else
		ctl__pg_text(p, NULL);
}

/* A known machine registering again: new keys and owner, same id and addresses. */
static int node_reregister(struct ctl__pg_store *s, struct ctl_node_rec *n,
			   const struct ctl_node_rec *old)
{
	struct ctl__pg_params p = { 0 };
	ctl__pg_bytes(&p, n->node_key, 32);
	ctl__pg_int(&p, n->key_expiry);
	ctl__pg_text(&p, n->hostname);
	param_user(&p, n->user_id);
	ctl__pg_int(&p, n->ephemeral);
	param_disco(&p, n);
	ctl__pg_int(&p, old->id);
	if (!n->has_disco_key && old->has_disco_key) {
		memcpy(n->disco_key, old->disco_key, 32);
		n->has_disco_key = true;
	}
	n->id = old->id;
	n->ipv4 = old->ipv4;
	memcpy(n->ipv6, old->ipv6, 16);
	n->created = old->created;
	return ctl__pg_q(s,
			 "UPDATE nodes SET node_key = $1, key_expiry = $2, hostname = $3, "
			 "user_id = $4, ephemeral = $5, disco_key = COALESCE($6, disco_key) "
			 "WHERE id = $7",
			 &p, NULL);
}

/* The next host number: the meta counter bumped in one statement (its row locked until
 * the transaction ends), so no address is handed out twice, even after its node went. */
static int next_host(struct ctl__pg_store *s, int64_t *host)
{
	PGresult *r;
	int rc = ctl__pg_q(s,
			   "INSERT INTO meta (key, value) VALUES ('next_host', '2') "
			   "ON CONFLICT (key) DO UPDATE SET value = "
			   "(meta.value::bigint + 1)::text RETURNING value",
			   NULL, &r);
	if (!rc)
		*host = ctl__pg_get_int(r, 0, 0) - 1;
	PQclear(r);
	if (!rc && (*host < 1 || *host >= (1 << 22) - 1))
		rc = -ENOSPC;
	return rc;
}

static int node_insert(struct ctl__pg_store *s, struct ctl_node_rec *n)
{
	char ula[64];
	uint8_t prefix[6];
	int64_t host;
	int rc = ctl__pg_meta_get(s, "ula48", ula, sizeof(ula));
	if (!rc)
		rc = next_host(s, &host);
	if (rc)
		return rc;
	if (sodium_hex2bin(prefix, sizeof(prefix), ula, strlen(ula), NULL, NULL, NULL) != 0)
		return -EIO;
	n->ipv4 = 0x64400000u + (uint32_t)host;
	memset(n->ipv6, 0, 16);
	memcpy(n->ipv6, prefix, 6);
	for (int i = 0; i < 4; i++)
		n->ipv6[12 + i] = (uint8_t)(host >> (24 - 8 * i));
	n->created = (int64_t)time(NULL);
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_bytes(&p, n->machine_key, 32);
	ctl__pg_bytes(&p, n->node_key, 32);
	ctl__pg_int(&p, n->key_expiry);
	ctl__pg_text(&p, n->hostname);
	param_user(&p, n->user_id);
	ctl__pg_int(&p, n->ipv4);
	ctl__pg_bytes(&p, n->ipv6, 16);
	ctl__pg_int(&p, n->ephemeral);
	ctl__pg_int(&p, n->created);
	param_disco(&p, n);
	rc = ctl__pg_q(s,
		       "INSERT INTO nodes (machine_key, node_key, key_expiry, hostname, user_id, "
		       "ipv4, ipv6, ephemeral, created, last_seen, disco_key) "
		       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING id",
		       &p, &r);
	if (!rc)
		n->id = ctl__pg_get_int(r, 0, 0);
	PQclear(r);
	return rc;
}

static int node_register_body(struct ctl__pg_store *s, void *ctx)
{
	struct node_args *a = ctx;
	struct ctl_node_rec *n = a->n, old;
	int rc = 0;
	if (a->id) {
		struct ctl__pg_params p = { 0 };
		ctl__pg_int(&p, a->id);
		rc = change_one(s,
				"UPDATE authkeys SET uses = uses + 1 WHERE id = $1 AND revoked = 0 "
				"AND (reusable = 1 OR uses = 0)",
				&p);
		if (rc == -ENOENT)
			rc = -EKEYREVOKED;
		if (rc)
			return rc;
	}
	rc = node_by_machine(s, n->machine_key, &old);
	if (rc == 0) {
		rc = node_reregister(s, n, &old);
		ctl_node_rec_clear(&old);
	} else if (rc == -ENOENT) {
		rc = node_insert(s, n);
	}
	if (!rc)
		rc = tags_save(s, true, n->id, n->tags, n->n_tags);
	return rc;
}

int ctl__pg_node_register(struct ctl_store *s, struct ctl_node_rec *n, int64_t authkey_id)
{
	struct node_args a = { .n = n, .id = authkey_id };
	int rc = ctl__store_tags_check((const char *const *)n->tags, n->n_tags);
	return rc ? rc : ctl__pg_run(ctl__pg(s), CTL__PG_TXN, node_register_body, &a);
}

static int node_update_body(struct ctl__pg_store *s, void *ctx)
{
	const struct ctl_node_rec *n = ((struct node_args *)ctx)->in;
	struct ctl__pg_params p = { 0 };
	ctl__pg_text(&p, n->endpoints);
	ctl__pg_text(&p, n->ssh_host_keys);
	ctl__pg_text(&p, n->hostname);
	ctl__pg_int(&p, n->last_seen);
	param_disco(&p, n);
	ctl__pg_int(&p, n->id);
	return change_one(s,
			  "UPDATE nodes SET endpoints = $1, ssh_host_keys = $2, hostname = $3, "
			  "last_seen = $4, disco_key = COALESCE($5, disco_key) WHERE id = $6",
			  &p);
}

int ctl__pg_node_update(struct ctl_store *s, const struct ctl_node_rec *n)
{
	struct node_args a = { .in = n };
	return ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, node_update_body, &a);
}

static int node_set_expiry_body(struct ctl__pg_store *s, void *ctx)
{
	struct node_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	ctl__pg_int(&p, a->value);
	ctl__pg_int(&p, a->id);
	return change_one(s, "UPDATE nodes SET key_expiry = $1 WHERE id = $2", &p);
}

int ctl__pg_node_set_expiry(struct ctl_store *s, int64_t id, int64_t key_expiry)
{
	struct node_args a = { .id = id, .value = key_expiry };
	return ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, node_set_expiry_body, &a);
}

static int node_list_body(struct ctl__pg_store *s, void *ctx)
{
	struct node_args *a = ctx;
	return ctl__pg_node_query(s, "", NULL, a->cb, a->ctx);
}

int ctl__pg_node_list(struct ctl_store *s, ctl_node_cb cb, void *ctx)
{
	struct node_args a = { .cb = cb, .ctx = ctx };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, node_list_body, &a);
}

static int node_remove_body(struct ctl__pg_store *s, void *ctx)
{
	struct ctl__pg_params p = { 0 };
	ctl__pg_int(&p, ((struct node_args *)ctx)->id);
	return change_one(s, "DELETE FROM nodes WHERE id = $1", &p);
}

/* Not run again after a lost connection: a second DELETE would say -ENOENT for a node the
 * first removed. */
int ctl__pg_node_remove(struct ctl_store *s, int64_t id)
{
	struct node_args a = { .id = id };
	return ctl__pg_run(ctl__pg(s), 0, node_remove_body, &a);
}
