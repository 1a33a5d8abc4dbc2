/* What the web pages and the node API keep for a while, in the PostgreSQL store shared by the
 * replicas (schema 8; store.h says what each op does): web sessions, so that a person signed
 * in through one replica is known to all and a logout on any ends it everywhere; password
 * throttles, so that N replicas allow no more guesses than one; request nonces, so that a
 * sealed request taken by one replica is refused by every other.  No notifications: every
 * replica reads these rows when it needs them. */
#include <errno.h>
#include <string.h>

#include <libpq-fe.h>

#include "control/server/internal.h"
#include "control/server/store_pg_int.h"

struct args {
	const struct ctl_web_session *in;
	struct ctl_web_session *out;
	const struct ctl_throttle_rule *rule;
	const uint8_t *bytes; /* an id hash (32) or a nonce (24) */
	size_t n_bytes;
	const char *key;
	int64_t now, a, b;
	bool all;
	int64_t *retry_at;
};

/* One statement: sql with the bytes (when any), then a and b as its parameters ($1...). */
static int exec_body(struct ctl__pg_store *s, const char *sql, const struct args *x, int n_ints)
{
	struct ctl__pg_params p = { 0 };
	if (x->bytes)
		ctl__pg_bytes(&p, x->bytes, x->n_bytes);
	if (n_ints > 0)
		ctl__pg_int(&p, x->a);
	if (n_ints > 1)
		ctl__pg_int(&p, x->b);
	return ctl__pg_q(s, sql, &p, NULL);
}

/* ---- web sessions ---- */

static int session_put_body(struct ctl__pg_store *s, void *ctx)
{
	const struct args *x = ctx;
	const struct ctl_web_session *ws = x->in;
	struct args old = { .a = ws->created };
	int rc = exec_body(s, "DELETE FROM web_sessions WHERE expires <= $1", &old, 1);
	struct ctl__pg_params p = { 0 };
	ctl__pg_bytes(&p, ws->id_hash, 32);
	ctl__pg_int(&p, ws->user_id);
	ctl__pg_text(&p, ws->csrf);
	ctl__pg_int(&p, ws->created);
	ctl__pg_int(&p, ws->expires);
	if (!rc)
		rc =
		    ctl__pg_q(s,
			      "INSERT INTO web_sessions (id_hash, user_id, csrf, created, expires) "
			      "VALUES ($1, $2, $3, $4, $5)",
			      &p, NULL);
	struct args user = { .a = ws->user_id, .b = x->a };
	if (!rc)
		rc = exec_body(s,
			       "DELETE FROM web_sessions WHERE user_id = $1 AND id NOT IN (SELECT "
			       "id FROM web_sessions WHERE user_id = $1 ORDER BY id DESC LIMIT $2)",
			       &user, 2);
	struct args all = { .a = x->b };
	if (!rc)
		rc = exec_body(s,
			       "DELETE FROM web_sessions WHERE id <= (SELECT id FROM web_sessions "
			       "ORDER BY id DESC LIMIT 1 OFFSET $1)",
			       &all, 1);
	return rc;
}

/* Not run again after a lost COMMIT: the second insert would find its own row (-EEXIST). */
int ctl__pg_session_put(struct ctl_store *s, const struct ctl_web_session *ws, int64_t per_user,
			int64_t max)
{
	struct args x = { .in = ws, .a = per_user, .b = max };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN, session_put_body, &x);
}

static int session_get_body(struct ctl__pg_store *s, void *ctx)
{
	struct args *x = ctx;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_bytes(&p, x->bytes, 32);
	ctl__pg_int(&p, x->now);
	int rc = ctl__pg_q(s,
			   "SELECT w.user_id, u.login, w.csrf, w.created, w.expires FROM "
			   "web_sessions w JOIN users u ON u.id = w.user_id "
			   "WHERE w.id_hash = $1 AND w.expires > $2",
			   &p, &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT;
	if (!rc) {
		struct ctl_web_session *ws = x->out;
		memcpy(ws->id_hash, x->bytes, 32);
		ws->user_id = ctl__pg_get_int(r, 0, 0);
		ctl__pg_get_text(r, 0, 1, ws->login, sizeof(ws->login));
		ctl__pg_get_text(r, 0, 2, ws->csrf, sizeof(ws->csrf));
		ws->created = ctl__pg_get_int(r, 0, 3);
		ws->expires = ctl__pg_get_int(r, 0, 4);
	}
	PQclear(r);
	return rc;
}

int ctl__pg_session_get(struct ctl_store *s, const uint8_t id_hash[static 32], int64_t now,
			struct ctl_web_session *ws)
{
	struct args x = { .bytes = id_hash, .n_bytes = 32, .now = now, .out = ws };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, session_get_body, &x);
}

static int session_delete_body(struct ctl__pg_store *s, void *ctx)
{
	return exec_body(s, "DELETE FROM web_sessions WHERE id_hash = $1", ctx, 0);
}

int ctl__pg_session_delete(struct ctl_store *s, const uint8_t id_hash[static 32])
{
	struct args x = { .bytes = id_hash, .n_bytes = 32 };
	return ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, session_delete_body, &x);
}

/* ---- password throttles ---- */

/* The key's window: its tries and end (0, 0 when it has none). */
static int throttle_row(struct ctl__pg_store *s, const struct args *x, int64_t *tries,
			int64_t *ends)
{
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, x->rule->kind);
	ctl__pg_text(&p, x->key);
	int rc =
	    ctl__pg_q(s, "SELECT tries, ends FROM throttles WHERE kind = $1 AND key = $2", &p, &r);
	*tries = *ends = 0;
	if (!rc && PQntuples(r) == 1) {
		*tries = ctl__pg_get_int(r, 0, 0);
		*ends = ctl__pg_get_int(r, 0, 1);
	}
	PQclear(r);
	return rc;
}

/* A new window needs room among the kind's live ones: 0 or -ENOSPC with *retry_at. */
static int throttle_room(struct ctl__pg_store *s, const struct args *x)
{
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, x->rule->kind);
	ctl__pg_int(&p, x->now);
	int rc = ctl__pg_q(
	    s, "SELECT count(*), min(ends) FROM throttles WHERE kind = $1 AND ends > $2", &p, &r);
	if (!rc && ctl__pg_get_int(r, 0, 0) >= x->rule->keys_max) {
		*x->retry_at = ctl__pg_get_int(r, 0, 1);
		rc = -ENOSPC;
	}
	PQclear(r);
	return rc;
}

/* The attempt counted by one upsert whose row lock orders replicas counting at once: a row
 * whose window is live and full is left alone (no row back), so the limit holds however many
 * replicas took the first read's answer at the same time. */
static int throttle_take_body(struct ctl__pg_store *s, void *ctx)
{
	const struct args *x = ctx;
	int64_t tries, ends;
	int rc = throttle_row(s, x, &tries, &ends);
	if (!rc && ends <= x->now)
		rc = throttle_room(s, x);
	if (rc)
		return rc;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, x->rule->kind);
	ctl__pg_text(&p, x->key);
	ctl__pg_int(&p, x->now);
	ctl__pg_int(&p, x->rule->window_s);
	ctl__pg_int(&p, x->rule->limit);
	rc = ctl__pg_q(s,
		       "INSERT INTO throttles AS t (kind, key, tries, ends) VALUES ($1, $2, 1, "
		       "$3::BIGINT + $4::BIGINT) ON CONFLICT (kind, key) DO UPDATE SET "
		       "tries = CASE WHEN t.ends <= $3 THEN 1 ELSE t.tries + 1 END, "
		       "ends = CASE WHEN t.ends <= $3 THEN EXCLUDED.ends ELSE t.ends END "
		       "WHERE t.ends <= $3 OR t.tries < $5 RETURNING t.tries",
		       &p, &r);
	if (!rc && PQntuples(r) == 0) {
		PQclear(r);
		rc = throttle_row(s, x, &tries, &ends);
		*x->retry_at = ends;
		return rc ? rc : -EAGAIN;
	}
	PQclear(r);
	return rc;
}

/* Not run again after a lost COMMIT: the attempt would count twice. */
int ctl__pg_throttle_take(struct ctl_store *s, const struct ctl_throttle_rule *rule,
			  const char *key, int64_t now, int64_t *retry_at)
{
	struct args x = { .rule = rule, .key = key, .now = now, .retry_at = retry_at };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN, throttle_take_body, &x);
}

static int give_back_body(struct ctl__pg_store *s, void *ctx)
{
	const struct args *x = ctx;
	struct ctl__pg_params p = { 0 };
	ctl__pg_int(&p, x->a);
	ctl__pg_text(&p, x->key);
	if (x->all)
		return ctl__pg_q(s, "DELETE FROM throttles WHERE kind = $1 AND key = $2", &p, NULL);
	ctl__pg_int(&p, x->now);
	return ctl__pg_q(s,
			 "UPDATE throttles SET tries = tries - 1 WHERE kind = $1 AND key = $2 AND "
			 "ends > $3 AND tries > 0",
			 &p, NULL);
}

/* all: idempotent; one back: not run again after a lost COMMIT (it would give two). */
int ctl__pg_throttle_give_back(struct ctl_store *s, enum ctl_throttle_kind kind, const char *key,
			       bool all, int64_t now)
{
	struct args x = { .a = kind, .key = key, .all = all, .now = now };
	return ctl__pg_run(ctl__pg(s), all ? CTL__PG_IDEMPOTENT : 0, give_back_body, &x);
}

/* ---- request nonces, and forgetting ---- */

static int nonce_add_body(struct ctl__pg_store *s, void *ctx)
{
	const struct args *x = ctx;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_bytes(&p, x->bytes, x->n_bytes);
	ctl__pg_int(&p, x->a);
	/* DO NOTHING, not a unique violation: a replay is no error in the server's log */
	int rc = ctl__pg_q(s,
			   "INSERT INTO node_nonces (nonce, expires) VALUES ($1, $2) "
			   "ON CONFLICT (nonce) DO NOTHING",
			   &p, &r);
	if (!rc && strcmp(PQcmdTuples(r), "1") != 0)
		rc = -EEXIST;
	PQclear(r);
	return rc;
}

/* Not run again after a lost COMMIT: the second insert would find its own nonce. */
int ctl__pg_nonce_add(struct ctl_store *s, const uint8_t nonce[static 24], int64_t expires)
{
	struct args x = { .bytes = nonce, .n_bytes = 24, .a = expires };
	return ctl__pg_run(ctl__pg(s), 0, nonce_add_body, &x);
}

static int expire_body(struct ctl__pg_store *s, void *ctx)
{
	int rc = exec_body(s, "DELETE FROM web_sessions WHERE expires <= $1", ctx, 1);
	if (!rc)
		rc = exec_body(s, "DELETE FROM throttles WHERE ends <= $1", ctx, 1);
	if (!rc)
		rc = exec_body(s, "DELETE FROM node_nonces WHERE expires <= $1", ctx, 1);
	return rc;
}

int ctl__pg_transient_expire(struct ctl_store *s, int64_t now)
{
	struct args x = { .a = now };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN | CTL__PG_IDEMPOTENT, expire_body, &x);
}
