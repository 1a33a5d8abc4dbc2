/* The PostgreSQL backend of the control store, for several meshcontrol replicas sharing one
 * database: the same numbered migrations as SQLite written for PostgreSQL (BIGSERIAL,
 * BYTEA, BIGINT; a schema_version row), applied under a transaction-level advisory lock so
 * replicas starting together migrate once; one transaction per op; a lost connection reset
 * once per op (ctl__pg_run says when the op runs again).  This file: the connection and its
 * statement helpers, the schema, users, meta, policy and SSO identities; nodes and
 * auth keys are in store_pg_nodes.c, the audit log in store_pg_audit.c, check mode's approvals
 * and holds in store_pg_holds.c, web sessions, throttles and nonces in store_pg_transient.c,
 * live SSH sessions and their kills in store_pg_live.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/common.h"
#include "control/server/store.h"
#include "control/server/store_pg_int.h"

static const char *const migrations[] = {
	/* 1: the initial schema (booleans as INTEGER 0/1, as in SQLite, so rows copy as is) */
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE users (id BIGSERIAL PRIMARY KEY, login TEXT NOT NULL UNIQUE,"
	"  pwhash TEXT NOT NULL, created BIGINT NOT NULL);"
	"CREATE TABLE authkeys (id BIGSERIAL PRIMARY KEY, prefix TEXT NOT NULL UNIQUE,"
	"  hash BYTEA NOT NULL, user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  reusable INTEGER NOT NULL, ephemeral INTEGER NOT NULL, tags TEXT NOT NULL DEFAULT '',"
	"  expires BIGINT NOT NULL, created BIGINT NOT NULL, uses BIGINT NOT NULL DEFAULT 0,"
	"  revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE nodes (id BIGSERIAL PRIMARY KEY, machine_key BYTEA NOT NULL UNIQUE,"
	"  node_key BYTEA NOT NULL, key_expiry BIGINT NOT NULL, hostname TEXT NOT NULL,"
	"  user_id BIGINT REFERENCES users(id) ON DELETE CASCADE, tags TEXT NOT NULL DEFAULT '',"
	"  ipv4 BIGINT NOT NULL UNIQUE, ipv6 BYTEA NOT NULL UNIQUE, ephemeral INTEGER NOT NULL,"
	"  endpoints TEXT, ssh_host_keys TEXT, created BIGINT NOT NULL, last_seen BIGINT);"
	"CREATE TABLE policy (id BIGSERIAL PRIMARY KEY, text TEXT NOT NULL,"
	"  created BIGINT NOT NULL);"
	"CREATE TABLE approvals ("
	"  src_node BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
	"  dst_node BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
	"  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  approved_at BIGINT NOT NULL, PRIMARY KEY (src_node, dst_node));",
	/* 2: when the approver authenticated for the approval */
	"ALTER TABLE approvals ADD COLUMN auth_at BIGINT NOT NULL DEFAULT 0;",
	/* 3: each node's discovery key (NULL until the node sends one) */
	"ALTER TABLE nodes ADD COLUMN disco_key BYTEA;",
	/* 4: people who log in through an OpenID provider, by (iss, sub) */
	"CREATE TABLE sso_identities (iss TEXT NOT NULL, sub TEXT NOT NULL,"
	"  user_id BIGINT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,"
	"  email TEXT NOT NULL, groups TEXT NOT NULL, updated BIGINT NOT NULL,"
	"  PRIMARY KEY (iss, sub));",
	/* 5: tags as rows, the old "tag:a,tag:b" text split into them */
	"CREATE TABLE node_tags (node_id BIGINT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
	"  tag TEXT NOT NULL, PRIMARY KEY (node_id, tag));"
	"CREATE TABLE authkey_tags (authkey_id BIGINT NOT NULL REFERENCES authkeys(id)"
	"  ON DELETE CASCADE, tag TEXT NOT NULL, PRIMARY KEY (authkey_id, tag));"
	"INSERT INTO node_tags (node_id, tag) SELECT id, t FROM nodes,"
	"  unnest(string_to_array(tags, ',')) AS t WHERE t <> '' ON CONFLICT DO NOTHING;"
	"INSERT INTO authkey_tags (authkey_id, tag) SELECT id, t FROM authkeys,"
	"  unnest(string_to_array(tags, ',')) AS t WHERE t <> '' ON CONFLICT DO NOTHING;"
	"ALTER TABLE nodes DROP COLUMN tags;"
	"ALTER TABLE authkeys DROP COLUMN tags;",
	/* 6: the audit log (store_pg_audit.c): ids given by the appender, no gaps; a node's
	 * seqs unique; rows never changed (the trigger); IF NOT EXISTS, as in SQLite */
	"CREATE TABLE IF NOT EXISTS audit (id BIGINT PRIMARY KEY, received_ms BIGINT NOT NULL,"
	"  node_id BIGINT NOT NULL, node_seq BIGINT NOT NULL, type TEXT NOT NULL,"
	"  node TEXT NOT NULL, who TEXT NOT NULL, body TEXT NOT NULL, hash BYTEA NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS audit_node_seq ON audit (node_id, node_seq)"
	"  WHERE node_seq > 0;"
	"CREATE INDEX IF NOT EXISTS audit_received ON audit (received_ms);"
	"CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
	"  $$BEGIN RAISE EXCEPTION 'the audit log is append-only'; END$$;"
	"CREATE OR REPLACE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit"
	"  FOR EACH ROW EXECUTE FUNCTION audit_append_only();",
	/* 7: check-mode holds and pending interactive logins, shared by the replicas
	 * (store_pg_holds.c); node ids without foreign keys, as in SQLite */
	"CREATE TABLE IF NOT EXISTS holds (id TEXT PRIMARY KEY, src BIGINT NOT NULL,"
	"  dst BIGINT NOT NULL, local_user TEXT NOT NULL, check_period BIGINT NOT NULL,"
	"  created BIGINT NOT NULL, last_asked BIGINT NOT NULL, state INTEGER NOT NULL,"
	"  reason TEXT NOT NULL, approver TEXT NOT NULL, auth_at BIGINT NOT NULL,"
	"  reauth_session TEXT NOT NULL, reauth_user BIGINT NOT NULL,"
	"  reauth_at BIGINT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS holds_src ON holds (src) WHERE state = 0;"
	"CREATE INDEX IF NOT EXISTS holds_dst ON holds (dst) WHERE state = 0;"
	"CREATE TABLE IF NOT EXISTS pending_logins (token TEXT PRIMARY KEY,"
	"  machine_key BYTEA NOT NULL, node_key BYTEA NOT NULL, hostname TEXT NOT NULL,"
	"  tags TEXT, disco_key BYTEA, source TEXT NOT NULL, created BIGINT NOT NULL,"
	"  state INTEGER NOT NULL, reason TEXT NOT NULL, user_id BIGINT NOT NULL,"
	"  node_id BIGINT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS pending_logins_source ON pending_logins (source);",
	/* 8: a node's seqs count per queue (the body's "queue"), as in SQLite */
	"DROP INDEX IF EXISTS audit_node_seq;"
	"CREATE UNIQUE INDEX IF NOT EXISTS audit_queue_seq ON audit (node_id,"
	"  (COALESCE(body::jsonb ->> 'queue', '')), node_seq) WHERE node_seq > 0;"
	"CREATE INDEX IF NOT EXISTS audit_node_last ON audit (node_id, id) WHERE node_seq > 0;",
	/* 9: the audit log's filters, as in SQLite; a type prefix compares in bytes ("C"), as
	 * SQLite does, so that its range is one of the index */
	"CREATE INDEX IF NOT EXISTS audit_who ON audit (who, id);"
	"CREATE INDEX IF NOT EXISTS audit_node ON audit (node, id);"
	"CREATE INDEX IF NOT EXISTS audit_type ON audit ((type COLLATE \"C\"), id);",
	/* 10: web sessions (ids only as SHA-256), password throttles and node request nonces,
	 * shared by the replicas (store_pg_transient.c) */
	"CREATE TABLE IF NOT EXISTS web_sessions (id BIGSERIAL PRIMARY KEY,"
	"  id_hash BYTEA NOT NULL UNIQUE,"
	"  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  csrf TEXT NOT NULL, created BIGINT NOT NULL, expires BIGINT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions (user_id);"
	"CREATE INDEX IF NOT EXISTS web_sessions_expires ON web_sessions (expires);"
	"CREATE TABLE IF NOT EXISTS throttles (kind INTEGER NOT NULL, key TEXT NOT NULL,"
	"  tries BIGINT NOT NULL, ends BIGINT NOT NULL, PRIMARY KEY (kind, key));"
	"CREATE INDEX IF NOT EXISTS throttles_ends ON throttles (kind, ends);"
	"CREATE TABLE IF NOT EXISTS node_nonces (nonce BYTEA PRIMARY KEY,"
	"  expires BIGINT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS node_nonces_expires ON node_nonces (expires);",
	/* 11: SSO sign-ins in flight (store_pg_logins.c), as in SQLite */
	"CREATE TABLE IF NOT EXISTS sso_pending (state_id TEXT PRIMARY KEY, nonce TEXT NOT NULL,"
	"  verifier TEXT NOT NULL, pre TEXT NOT NULL, source TEXT NOT NULL, next TEXT NOT NULL,"
	"  hold TEXT NOT NULL, auth_after BIGINT NOT NULL, created BIGINT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS sso_pending_pre ON sso_pending (pre, created);"
	"CREATE INDEX IF NOT EXISTS sso_pending_source ON sso_pending (source, created);",
	/* 12: what a prune removed of each node's seqs (store_pg_audit.c), as in SQLite */
	"CREATE TABLE IF NOT EXISTS audit_pruned (node_id BIGINT NOT NULL, queue TEXT NOT NULL,"
	"  seq BIGINT NOT NULL, last_id BIGINT NOT NULL, PRIMARY KEY (node_id, queue));",
	/* 13: live SSH sessions and the kills waiting for each node (store_pg_live.c), as in
	 * SQLite */
	"CREATE TABLE IF NOT EXISTS ssh_sessions (node_id BIGINT PRIMARY KEY"
	"  REFERENCES nodes(id) ON DELETE CASCADE, list TEXT NOT NULL,"
	"  reported_ms BIGINT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS ssh_kills (node_id BIGINT NOT NULL"
	"  REFERENCES nodes(id) ON DELETE CASCADE, id TEXT NOT NULL, since BIGINT NOT NULL,"
	"  made BIGINT NOT NULL, PRIMARY KEY (node_id, id));",
};

enum { N_MIGRATIONS = sizeof(migrations) / sizeof(migrations[0]) };

struct ctl__pg_store *ctl__pg(struct ctl_store *s)
{
	return (struct ctl__pg_store *)s;
}

void ctl__pg_int(struct ctl__pg_params *p, int64_t x)
{
	snprintf(p->buf[p->n], sizeof(p->buf[0]), "%" PRId64, x);
	p->v[p->n] = p->buf[p->n];
	p->n++;
}

void ctl__pg_bytes(struct ctl__pg_params *p, const uint8_t *b, size_t len)
{
	memcpy(p->buf[p->n], "\\x", 2);
	sodium_bin2hex(p->buf[p->n] + 2, sizeof(p->buf[0]) - 2, b, len);
	p->v[p->n] = p->buf[p->n];
	p->n++;
}

void ctl__pg_text(struct ctl__pg_params *p, const char *t)
{
	p->v[p->n++] = t;
}

static int pg_error(struct ctl__pg_store *s, const PGresult *r)
{
	if (PQstatus(s->conn) != CONNECTION_OK)
		return -EPIPE;
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (state && strncmp(state, "23", 2) == 0)
		return -EEXIST;
	if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
		return -EBUSY;
	log_debug("meshcontrol", "store: %s", PQerrorMessage(s->conn));
	return -EIO;
}

int ctl__pg_q(struct ctl__pg_store *s, const char *sql, const struct ctl__pg_params *p,
	      PGresult **res)
{
	PGresult *r =
	    PQexecParams(s->conn, sql, p ? p->n : 0, NULL, p ? p->v : NULL, NULL, NULL, 0);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : pg_error(s, r);
	if (res && !rc) {
		*res = r;
		return 0;
	}
	if (res)
		*res = NULL;
	PQclear(r);
	return rc;
}

int ctl__pg_run(struct ctl__pg_store *s, int flags, int (*body)(struct ctl__pg_store *, void *),
		void *ctx)
{
	int rc = -EPIPE;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (PQstatus(s->conn) != CONNECTION_OK) {
			PQreset(s->conn);
			if (PQstatus(s->conn) != CONNECTION_OK) {
				log_warn("meshcontrol", "store: cannot reconnect: %s",
					 PQerrorMessage(s->conn));
				return -EPIPE;
			}
			log_info("meshcontrol", "store: reconnected to the database");
		}
		bool committing = false;
		s->delivered = false;
		rc = flags & CTL__PG_TXN ? ctl__pg_q(s, "BEGIN", NULL, NULL) : 0;
		if (!rc)
			rc = body(s, ctx);
		if (flags & CTL__PG_TXN) {
			if (!rc) {
				committing = true;
				rc = ctl__pg_q(s, "COMMIT", NULL, NULL);
			} else if (rc != -EPIPE) {
				ctl__pg_q(s, "ROLLBACK", NULL, NULL);
			}
		}
		if (rc != -EPIPE)
			return rc;
		bool again = !s->delivered && ((flags & (CTL__PG_READ | CTL__PG_IDEMPOTENT)) ||
					       ((flags & CTL__PG_TXN) && !committing));
		log_warn("meshcontrol", "store: the connection to the database was lost%s",
			 attempt == 0 && again ? "; reconnecting and trying again"
					       : " (the change may or may not have been made)");
		if (!again)
			break;
	}
	return rc;
}

int64_t ctl__pg_get_int(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool ctl__pg_get_bytes(const PGresult *r, int row, int col, uint8_t *out, size_t len)
{
	const char *v = PQgetvalue(r, row, col);
	size_t got = 0;
	if (PQgetisnull(r, row, col) || strncmp(v, "\\x", 2) != 0 ||
	    sodium_hex2bin(out, len, v + 2, strlen(v + 2), NULL, &got, NULL) != 0 || got != len) {
		memset(out, 0, len);
		return false;
	}
	return true;
}

char *ctl__pg_get_dup(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

void ctl__pg_get_text(const PGresult *r, int row, int col, char *out, size_t len)
{
	snprintf(out, len, "%s", PQgetvalue(r, row, col));
}

static int64_t now(void)
{
	return (int64_t)time(NULL);
}

static void pg_close(struct ctl_store *s)
{
	if (!s)
		return;
	PQfinish(ctl__pg(s)->conn);
	free(s);
}

/* meta */

struct meta_args {
	const char *key, *value;
	char *out;
	size_t outlen;
};

int ctl__pg_meta_get(struct ctl__pg_store *s, const char *key, char *out, size_t outlen)
{
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_text(&p, key);
	int rc = ctl__pg_q(s, "SELECT value FROM meta WHERE key = $1", &p, &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT;
	if (!rc)
		ctl__pg_get_text(r, 0, 0, out, outlen);
	PQclear(r);
	return rc;
}

static int meta_get_body(struct ctl__pg_store *s, void *ctx)
{
	struct meta_args *a = ctx;
	return ctl__pg_meta_get(s, a->key, a->out, a->outlen);
}

static int pg_meta_get(struct ctl_store *s, const char *key, char *out, size_t outlen)
{
	struct meta_args a = { .key = key, .out = out, .outlen = outlen };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, meta_get_body, &a);
}

int ctl__pg_meta_put(struct ctl__pg_store *s, const char *key, const char *value)
{
	struct ctl__pg_params p = { 0 };
	ctl__pg_text(&p, key);
	ctl__pg_text(&p, value);
	return ctl__pg_q(s,
			 "INSERT INTO meta (key, value) VALUES ($1, $2) "
			 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
			 &p, NULL);
}

static int meta_set_body(struct ctl__pg_store *s, void *ctx)
{
	struct meta_args *a = ctx;
	return ctl__pg_meta_put(s, a->key, a->value);
}

static int pg_meta_set(struct ctl_store *s, const char *key, const char *value)
{
	struct meta_args a = { .key = key, .value = value };
	return ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, meta_set_body, &a);
}

/* users */

struct user_args {
	const char *login, *pwhash;
	int64_t id;
	struct ctl_user *u;
	char *pw;
	size_t pwlen;
	ctl_user_cb ucb;
	ctl_node_cb ncb;
	void *ctx;
};

static int user_insert(struct ctl__pg_store *s, const char *login, const char *pwhash, int64_t *id)
{
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_text(&p, login);
	ctl__pg_text(&p, pwhash);
	ctl__pg_int(&p, now());
	int rc = ctl__pg_q(
	    s, "INSERT INTO users (login, pwhash, created) VALUES ($1, $2, $3) RETURNING id", &p,
	    &r);
	if (!rc && id)
		*id = ctl__pg_get_int(r, 0, 0);
	PQclear(r);
	return rc;
}

static int user_add_body(struct ctl__pg_store *s, void *ctx)
{
	struct user_args *a = ctx;
	return user_insert(s, a->login, a->pwhash, &a->id);
}

static int pg_user_add(struct ctl_store *s, const char *login, const char *pwhash, int64_t *id)
{
	struct user_args a = { .login = login, .pwhash = pwhash };
	int rc = ctl__pg_run(ctl__pg(s), 0, user_add_body, &a);
	if (!rc && id)
		*id = a.id;
	return rc;
}

static void user_row(const PGresult *r, int row, struct ctl_user *u)
{
	u->id = ctl__pg_get_int(r, row, 0);
	ctl__pg_get_text(r, row, 1, u->login, sizeof(u->login));
	u->created = ctl__pg_get_int(r, row, 2);
}

/* One user by sql's $1 (text or id) into a->u, and the password hash when a->pw. */
static int user_one(struct ctl__pg_store *s, const char *sql, const struct ctl__pg_params *p,
		    struct user_args *a)
{
	PGresult *r;
	int rc = ctl__pg_q(s, sql, p, &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT;
	if (!rc) {
		user_row(r, 0, a->u);
		if (a->pw)
			ctl__pg_get_text(r, 0, 3, a->pw, a->pwlen);
	}
	PQclear(r);
	return rc;
}

static int user_get_body(struct ctl__pg_store *s, void *ctx)
{
	struct user_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	ctl__pg_text(&p, a->login);
	return user_one(s, "SELECT id, login, created, pwhash FROM users WHERE login = $1", &p, a);
}

static int pg_user_get(struct ctl_store *s, const char *login, struct ctl_user *u, char *pwhash,
		       size_t pwlen)
{
	struct user_args a = { .login = login, .u = u, .pw = pwhash, .pwlen = pwlen };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, user_get_body, &a);
}

static int user_by_id_body(struct ctl__pg_store *s, void *ctx)
{
	struct user_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	ctl__pg_int(&p, a->id);
	return user_one(s, "SELECT id, login, created FROM users WHERE id = $1", &p, a);
}

static int pg_user_by_id(struct ctl_store *s, int64_t id, struct ctl_user *u)
{
	struct user_args a = { .id = id, .u = u };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, user_by_id_body, &a);
}

static int user_list_body(struct ctl__pg_store *s, void *ctx)
{
	struct user_args *a = ctx;
	PGresult *r;
	int rc = ctl__pg_q(s, "SELECT id, login, created FROM users ORDER BY id", NULL, &r);
	s->delivered = !rc;
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		struct ctl_user u;
		user_row(r, i, &u);
		rc = a->ucb(a->ctx, &u);
	}
	PQclear(r);
	return rc;
}

static int pg_user_list(struct ctl_store *s, ctl_user_cb cb, void *ctx)
{
	struct user_args a = { .ucb = cb, .ctx = ctx };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, user_list_body, &a);
}

static int user_remove_body(struct ctl__pg_store *s, void *ctx)
{
	struct user_args *a = ctx;
	struct ctl_user u = { 0 };
	struct user_args one = { .u = &u };
	struct ctl__pg_params p = { 0 };
	ctl__pg_text(&p, a->login);
	int rc = user_one(s, "SELECT id, login, created FROM users WHERE login = $1", &p, &one);
	p.n = 0;
	ctl__pg_int(&p, u.id);
	if (!rc && a->ncb)
		rc = ctl__pg_node_query(s, "WHERE n.user_id = $1", &p, a->ncb, a->ctx);
	if (!rc)
		rc = ctl__pg_q(s, "DELETE FROM users WHERE id = $1", &p, NULL);
	return rc;
}

static int pg_user_remove(struct ctl_store *s, const char *login, ctl_node_cb cb, void *ctx)
{
	struct user_args a = { .login = login, .ncb = cb, .ctx = ctx };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN, user_remove_body, &a);
}

/* policy */

struct policy_args {
	const char *text;
	char **out;
};

static int policy_get_body(struct ctl__pg_store *s, void *ctx)
{
	struct policy_args *a = ctx;
	PGresult *r;
	int rc = ctl__pg_q(s, "SELECT text FROM policy ORDER BY id DESC LIMIT 1", NULL, &r);
	*a->out = NULL;
	if (!rc && PQntuples(r) == 1 && !(*a->out = ctl__pg_get_dup(r, 0, 0)))
		rc = -ENOMEM;
	PQclear(r);
	return rc;
}

static int pg_policy_get(struct ctl_store *s, char **text)
{
	struct policy_args a = { .out = text };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, policy_get_body, &a);
}

static int policy_set_body(struct ctl__pg_store *s, void *ctx)
{
	struct policy_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	ctl__pg_text(&p, a->text);
	ctl__pg_int(&p, now());
	return ctl__pg_q(s, "INSERT INTO policy (text, created) VALUES ($1, $2)", &p, NULL);
}

/* Not run again after a lost connection: a second history row would be harmless, but the
 * caller learns the change may or may not have been made. */
static int pg_policy_set(struct ctl_store *s, const char *text)
{
	struct policy_args a = { .text = text };
	return ctl__pg_run(ctl__pg(s), 0, policy_set_body, &a);
}

/* single sign-on */

struct sso_args {
	const struct ctl_sso_login *in;
	struct ctl_user *u;
	bool *created;
	int64_t user_id;
	char **groups;
};

static int sso_user_of(struct ctl__pg_store *s, const struct ctl_sso_login *in, struct ctl_user *u)
{
	struct ctl__pg_params p = { 0 };
	struct user_args one = { .u = u };
	ctl__pg_text(&p, in->iss);
	ctl__pg_text(&p, in->sub);
	return user_one(s,
			"SELECT u.id, u.login, u.created FROM sso_identities i "
			"JOIN users u ON u.id = i.user_id WHERE i.iss = $1 AND i.sub = $2",
			&p, &one);
}

static int sso_login_body(struct ctl__pg_store *s, void *ctx)
{
	struct sso_args *a = ctx;
	const struct ctl_sso_login *in = a->in;
	struct ctl__pg_params p = { 0 };
	*a->created = false;
	int rc = sso_user_of(s, in, a->u);
	if (rc == -ENOENT) {
		/* a first login: a user without a password, then its identity */
		rc = user_insert(s, in->login, "!", &a->u->id);
		if (rc)
			return rc;
		ctl__pg_text(&p, in->iss);
		ctl__pg_text(&p, in->sub);
		ctl__pg_int(&p, a->u->id);
		ctl__pg_text(&p, in->email);
		ctl__pg_text(&p, in->groups);
		ctl__pg_int(&p, in->now);
		rc = ctl__pg_q(s,
			       "INSERT INTO sso_identities (iss, sub, user_id, email, "
			       "groups, updated) VALUES ($1, $2, $3, $4, $5, $6)",
			       &p, NULL);
		if (!rc)
			rc = sso_user_of(s, in, a->u);
		*a->created = !rc;
	} else if (!rc) {
		ctl__pg_text(&p, in->email);
		ctl__pg_text(&p, in->groups);
		ctl__pg_int(&p, in->now);
		ctl__pg_text(&p, in->iss);
		ctl__pg_text(&p, in->sub);
		rc = ctl__pg_q(s,
			       "UPDATE sso_identities SET email = $1, groups = $2, updated = $3 "
			       "WHERE iss = $4 AND sub = $5",
			       &p, NULL);
	}
	return rc;
}

static int pg_sso_login(struct ctl_store *s, const struct ctl_sso_login *in, struct ctl_user *u,
			bool *created)
{
	struct sso_args a = { .in = in, .u = u, .created = created };
	int rc = ctl__pg_run(ctl__pg(s), CTL__PG_TXN, sso_login_body, &a);
	if (rc)
		*created = false;
	return rc;
}

static int sso_groups_body(struct ctl__pg_store *s, void *ctx)
{
	struct sso_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, a->user_id);
	int rc = ctl__pg_q(s, "SELECT groups FROM sso_identities WHERE user_id = $1", &p, &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT;
	if (!rc && !(*a->groups = ctl__pg_get_dup(r, 0, 0)))
		rc = -ENOMEM;
	PQclear(r);
	return rc;
}

static int pg_sso_groups(struct ctl_store *s, int64_t user_id, char **groups)
{
	struct sso_args a = { .user_id = user_id, .groups = groups };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, sso_groups_body, &a);
}

static int sso_user_body(struct ctl__pg_store *s, void *ctx)
{
	struct sso_args *a = ctx;
	return sso_user_of(s, a->in, a->u);
}

static int pg_sso_user(struct ctl_store *s, const char *iss, const char *sub, struct ctl_user *u)
{
	struct ctl_sso_login in = { .iss = iss, .sub = sub };
	struct sso_args a = { .in = &in, .u = u };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, sso_user_body, &a);
}

struct sso_list_args {
	ctl_sso_cb cb;
	void *ctx;
};

static int sso_list_body(struct ctl__pg_store *s, void *ctx)
{
	struct sso_list_args *a = ctx;
	PGresult *r;
	int rc = ctl__pg_q(
	    s, "SELECT user_id, groups, updated FROM sso_identities ORDER BY user_id", NULL, &r);
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		struct ctl_sso_member m = { .user_id = ctl__pg_get_int(r, i, 0),
					    .groups = PQgetvalue(r, i, 1),
					    .at = ctl__pg_get_int(r, i, 2) };
		rc = a->cb(a->ctx, &m);
	}
	if (r)
		PQclear(r);
	return rc;
}

static int pg_sso_list(struct ctl_store *s, ctl_sso_cb cb, void *ctx)
{
	struct sso_list_args a = { .cb = cb, .ctx = ctx };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, sso_list_body, &a);
}

static const struct ctl_store_ops pg_ops = {
	.close = pg_close,
	.meta_get = pg_meta_get,
	.meta_set = pg_meta_set,
	.meta_add = ctl__pg_meta_add,
	.user_add = pg_user_add,
	.user_get = pg_user_get,
	.user_by_id = pg_user_by_id,
	.user_list = pg_user_list,
	.user_remove = pg_user_remove,
	.authkey_add = ctl__pg_authkey_add,
	.authkey_get = ctl__pg_authkey_get,
	.authkey_list = ctl__pg_authkey_list,
	.authkey_revoke = ctl__pg_authkey_revoke,
	.node_register = ctl__pg_node_register,
	.node_by_machine = ctl__pg_node_by_machine,
	.node_get = ctl__pg_node_get,
	.node_update = ctl__pg_node_update,
	.node_set_expiry = ctl__pg_node_set_expiry,
	.node_list = ctl__pg_node_list,
	.node_remove = ctl__pg_node_remove,
	.policy_get = pg_policy_get,
	.policy_set = pg_policy_set,
	.policy_current = ctl__pg_policy_current,
	.policy_set_if = ctl__pg_policy_set_if,
	.approval_put = ctl__pg_approval_put,
	.approval_get = ctl__pg_approval_get,
	.sso_login = pg_sso_login,
	.sso_groups = pg_sso_groups,
	.sso_user = pg_sso_user,
	.sso_list = pg_sso_list,
	.audit_append = ctl__pg_audit_append,
	.audit_last_queue = ctl__pg_audit_last_queue,
	.audit_list = ctl__pg_audit_list,
	.audit_head = ctl__pg_audit_head,
	.audit_prune = ctl__pg_audit_prune,
	.hold_put = ctl__pg_hold_put,
	.hold_get = ctl__pg_hold_get,
	.hold_update = ctl__pg_hold_update,
	.hold_touch = ctl__pg_hold_touch,
	.hold_delete = ctl__pg_hold_delete,
	.hold_count = ctl__pg_hold_count,
	.hold_expire = ctl__pg_hold_expire,
	.session_put = ctl__pg_session_put,
	.session_get = ctl__pg_session_get,
	.session_delete = ctl__pg_session_delete,
	.throttle_take = ctl__pg_throttle_take,
	.throttle_give_back = ctl__pg_throttle_give_back,
	.nonce_add = ctl__pg_nonce_add,
	.transient_expire = ctl__pg_transient_expire,
	.login_put = ctl__pg_login_put,
	.login_get = ctl__pg_login_get,
	.login_decide = ctl__pg_login_decide,
	.login_delete = ctl__pg_login_delete,
	.login_count = ctl__pg_login_count,
	.login_expire = ctl__pg_login_expire,
	.sso_pending_put = ctl__pg_sso_pending_put,
	.sso_pending_take = ctl__pg_sso_pending_take,
	.ssh_sessions_put = ctl__pg_ssh_sessions_put,
	.ssh_sessions_list = ctl__pg_ssh_sessions_list,
	.ssh_kill_put = ctl__pg_ssh_kill_put,
	.ssh_kills_list = ctl__pg_ssh_kills_list,
	.ssh_kills_delete = ctl__pg_ssh_kills_delete,
};

/* All migrations not yet applied, in one transaction holding the advisory lock: a replica
 * that starts while another migrates waits, then finds the schema current. */
static int migrate(struct ctl__pg_store *s, char *err, size_t errlen)
{
	struct ctl__pg_params p = { 0 };
	PGresult *r = NULL;
	int version = 0;
	ctl__pg_int(&p, CTL__PG_MIGRATE_LOCK);
	int rc = ctl__pg_q(s, "BEGIN", NULL, NULL);
	if (!rc)
		rc = ctl__pg_q(s, "SELECT pg_advisory_xact_lock($1)", &p, NULL);
	if (!rc)
		rc = ctl__pg_q(
		    s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", NULL,
		    NULL);
	if (!rc)
		rc = ctl__pg_q(s, "SELECT version FROM schema_version", NULL, &r);
	if (rc) {
		snprintf(err, errlen, "cannot read the schema version: %s",
			 PQerrorMessage(s->conn));
		goto out;
	}
	if (PQntuples(r) == 1)
		version = (int)ctl__pg_get_int(r, 0, 0);
	else
		rc = ctl__pg_q(s, "INSERT INTO schema_version (version) VALUES (0)", NULL, NULL);
	PQclear(r);
	if (version > N_MIGRATIONS) {
		snprintf(err, errlen,
			 "the database has schema version %d, newer than this meshcontrol (%d)",
			 version, N_MIGRATIONS);
		rc = -EPROTO;
		goto out;
	}
	for (; !rc && version < N_MIGRATIONS; version++) {
		PGresult *m = PQexec(s->conn, migrations[version]);
		rc = PQresultStatus(m) == PGRES_COMMAND_OK ? 0 : pg_error(s, m);
		PQclear(m);
		p.n = 0;
		ctl__pg_int(&p, version + 1);
		if (!rc)
			rc = ctl__pg_q(s, "UPDATE schema_version SET version = $1", &p, NULL);
		if (!rc && version == 0) {
			/* A tailnet's ULA /48: fd + 40 random bits (RFC 4193). */
			uint8_t ula[6] = { 0xfd };
			char hex[13];
			randombytes_buf(ula + 1, 5);
			sodium_bin2hex(hex, sizeof(hex), ula, sizeof(ula));
			p.n = 0;
			ctl__pg_text(&p, hex);
			rc = ctl__pg_q(s, "INSERT INTO meta (key, value) VALUES ('ula48', $1)", &p,
				       NULL);
		}
		if (rc)
			snprintf(err, errlen, "migration %d failed: %s", version + 1,
				 PQerrorMessage(s->conn));
	}
	if (!rc)
		rc = ctl__pg_q(s, "COMMIT", NULL, NULL);
out:
	if (rc) {
		ctl__pg_q(s, "ROLLBACK", NULL, NULL);
		if (!err[0])
			snprintf(err, errlen, "cannot migrate: %s", PQerrorMessage(s->conn));
	}
	return rc;
}

/* The server's NOTICEs ("relation already exists, skipping") as debug lines, not on stderr. */
static void on_notice(void *arg, const char *message)
{
	(void)arg;
	log_debug("meshcontrol", "store: %.*s", (int)strcspn(message, "\n"), message);
}

int ctl__pg_connect(const char *url, struct ctl__pg_store **out, char *err, size_t errlen)
{
	char shown[512];
	ctl_store_url_redact(url, shown, sizeof(shown));
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialize");
		return -EIO;
	}
	struct ctl__pg_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &pg_ops;
	/* libpq waits for a connection forever unless told: 10 s unless the URL or the
	 * environment says otherwise (also for the reconnection of a lost one, which reuses
	 * these options) */
	if (!strstr(url, "connect_timeout=") && !getenv("PGCONNECT_TIMEOUT"))
		setenv("PGCONNECT_TIMEOUT", "10", 0);
	s->conn = PQconnectdb(url);
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
		char why[512];
		snprintf(why, sizeof(why), "%s", s->conn ? PQerrorMessage(s->conn) : "no memory");
		why[strcspn(why, "\n")] = '\0';
		ctl_store_scrub(url, why);
		snprintf(err, errlen, "%s: %s", shown, why);
		pg_close(&s->base);
		return -EIO;
	}
	PQsetNoticeProcessor(s->conn, on_notice, NULL);
	err[0] = '\0';
	int rc = migrate(s, err, errlen);
	if (!rc)
		rc = ctl__pg_notify_install(s, err, errlen);
	if (rc) {
		err[strcspn(err, "\n")] = '\0'; /* libpq's messages end in one */
		ctl_store_scrub(url, err);
		pg_close(&s->base);
		return rc;
	}
	*out = s;
	return 0;
}

int ctl_store_open_pg(const char *url, struct ctl_store **out, char *err, size_t errlen)
{
	struct ctl__pg_store *s;
	int rc = ctl_store_url_check(url, err, errlen);
	if (!rc)
		rc = ctl__pg_connect(url, &s, err, errlen);
	if (!rc)
		*out = &s->base;
	return rc;
}
