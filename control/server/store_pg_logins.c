/* Pending interactive logins in the PostgreSQL store (schema 7, pending_logins; store.h says
 * what each op does), shared by every replica: the triggers (store_pg_notify.c) say
 * "login:ID" when one is decided, and the replica holding its node's request answers it.
 * The "token" column holds the login's id (the SHA-256 of the token, hex), never the token;
 * tags are "tag:a,tag:b" text, NULL when the node named none.  And SSO sign-ins in flight
 * (schema 8, sso_pending), so that a callback on any replica finishes what another started. */
#include <errno.h>
#include <string.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "common/strv.h"
#include "control/server/ident.h"
#include "control/server/internal.h"
#include "control/server/sso.h"
#include "control/server/store_pg_int.h"

#define LOGIN_COLS                                                                          \
	"token, machine_key, node_key, hostname, tags, disco_key, source, created, state, " \
	"reason, user_id, node_id"

struct login_args {
	const struct ctl__login_req *in;
	struct ctl__login_req *out;
	const char *id, *source;
	const uint8_t *mkey;
	int64_t before;
	struct ctl_login_count *count;
};

static int put_body(struct ctl__pg_store *s, void *ctx)
{
	const struct ctl__login_req *lr = ((struct login_args *)ctx)->in;
	char tags[CTL_TAGS_TEXT_MAX];
	struct ctl__pg_params p = { 0 };
	ctl__pg_bytes(&p, lr->machine_key, 32);
	int rc = ctl__pg_q(s, "DELETE FROM pending_logins WHERE machine_key = $1 AND state = 0", &p,
			   NULL);
	if (rc)
		return rc;
	ctl_tags_join((const char *const *)lr->tags, lr->n_tags, tags, sizeof(tags));
	ctl__pg_text(&p, lr->id);
	ctl__pg_bytes(&p, lr->node_key, 32);
	ctl__pg_text(&p, lr->hostname);
	ctl__pg_text(&p, lr->has_tags ? tags : NULL);
	if (lr->has_disco_key)
		ctl__pg_bytes(&p, lr->disco_key, 32);
	else
		ctl__pg_text(&p, NULL);
	ctl__pg_text(&p, lr->source);
	ctl__pg_int(&p, lr->created);
	ctl__pg_int(&p, lr->state);
	ctl__pg_text(&p, lr->reason);
	ctl__pg_int(&p, lr->user_id);
	ctl__pg_int(&p, lr->node_id);
	return ctl__pg_q(s,
			 "INSERT INTO pending_logins (" LOGIN_COLS ") VALUES ($2, $1, $3, $4, $5, "
			 "$6, $7, $8, $9, $10, $11, $12)",
			 &p, NULL);
}

/* Not run again after a lost COMMIT: the second insert would find its own row (-EEXIST). */
int ctl__pg_login_put(struct ctl_store *s, const struct ctl__login_req *lr)
{
	int rc = ctl__store_tags_check((const char *const *)lr->tags, lr->n_tags);
	struct login_args x = { .in = lr };
	return rc ? rc : ctl__pg_run(ctl__pg(s), CTL__PG_TXN, put_body, &x);
}

static int get_body(struct ctl__pg_store *s, void *ctx)
{
	struct login_args *x = ctx;
	struct ctl__login_req *lr = x->out;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_text(&p, x->id);
	int rc = ctl__pg_q(s, "SELECT " LOGIN_COLS " FROM pending_logins WHERE token = $1", &p, &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT;
	if (!rc) {
		memset(lr, 0, sizeof(*lr));
		ctl__pg_get_text(r, 0, 0, lr->id, sizeof(lr->id));
		ctl__pg_get_bytes(r, 0, 1, lr->machine_key, 32);
		ctl__pg_get_bytes(r, 0, 2, lr->node_key, 32);
		ctl__pg_get_text(r, 0, 3, lr->hostname, sizeof(lr->hostname));
		lr->has_tags = !PQgetisnull(r, 0, 4);
		rc = strv_split(lr->has_tags ? PQgetvalue(r, 0, 4) : NULL, ',', CTL_TAGS_COUNT_MAX,
				&lr->tags, &lr->n_tags);
		lr->has_disco_key = ctl__pg_get_bytes(r, 0, 5, lr->disco_key, 32);
		ctl__pg_get_text(r, 0, 6, lr->source, sizeof(lr->source));
		lr->created = ctl__pg_get_int(r, 0, 7);
		lr->state = (enum ctl__decision)ctl__pg_get_int(r, 0, 8);
		ctl__pg_get_text(r, 0, 9, lr->reason, sizeof(lr->reason));
		lr->user_id = ctl__pg_get_int(r, 0, 10);
		lr->node_id = ctl__pg_get_int(r, 0, 11);
	}
	PQclear(r);
	return rc;
}

int ctl__pg_login_get(struct ctl_store *s, const char *id, struct ctl__login_req *lr)
{
	struct login_args x = { .id = id, .out = lr };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, get_body, &x);
}

/* The row only while pending (FOR UPDATE: a decision on another replica waits for ours and
 * then finds it decided), then its decision: -ESTALE or -ENOENT as store.h says. */
static int decide_body(struct ctl__pg_store *s, void *ctx)
{
	const struct ctl__login_req *lr = ((struct login_args *)ctx)->in;
	struct ctl__pg_params p = { 0 };
	ctl__pg_text(&p, lr->id);
	int rc = ctl__pg_lock_pending(
	    s, "SELECT state FROM pending_logins WHERE token = $1 FOR UPDATE", &p);
	if (rc)
		return rc;
	ctl__pg_int(&p, lr->state);
	ctl__pg_text(&p, lr->reason);
	ctl__pg_int(&p, lr->user_id);
	ctl__pg_int(&p, lr->node_id);
	return ctl__pg_q(s,
			 "UPDATE pending_logins SET state = $2, reason = $3, user_id = $4, "
			 "node_id = $5 WHERE token = $1",
			 &p, NULL);
}

/* Not run again after a lost COMMIT: the second run would find it decided (-ESTALE). */
int ctl__pg_login_decide(struct ctl_store *s, const struct ctl__login_req *lr)
{
	struct login_args x = { .in = lr };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN, decide_body, &x);
}

static int delete_body(struct ctl__pg_store *s, void *ctx)
{
	struct login_args *x = ctx;
	struct ctl__pg_params p = { 0 };
	if (x->id) {
		ctl__pg_text(&p, x->id);
		return ctl__pg_q(s, "DELETE FROM pending_logins WHERE token = $1", &p, NULL);
	}
	ctl__pg_int(&p, x->before);
	return ctl__pg_q(s, "DELETE FROM pending_logins WHERE created < $1", &p, NULL);
}

int ctl__pg_login_delete(struct ctl_store *s, const char *id)
{
	struct login_args x = { .id = id };
	return ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, delete_body, &x);
}

int ctl__pg_login_expire(struct ctl_store *s, int64_t created_before)
{
	struct login_args x = { .before = created_before };
	return ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, delete_body, &x);
}

static int count_body(struct ctl__pg_store *s, void *ctx)
{
	struct login_args *x = ctx;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_text(&p, x->source);
	ctl__pg_bytes(&p, x->mkey, 32);
	int rc = ctl__pg_q(s,
			   "SELECT count(*) FILTER (WHERE source = $1), count(*) FROM "
			   "pending_logins WHERE NOT (state = 0 AND machine_key = $2)",
			   &p, &r);
	if (!rc) {
		x->count->from_src = ctl__pg_get_int(r, 0, 0);
		x->count->all = ctl__pg_get_int(r, 0, 1);
	}
	PQclear(r);
	return rc;
}

int ctl__pg_login_count(struct ctl_store *s, const char *source, const uint8_t mkey[static 32],
			struct ctl_login_count *c)
{
	struct login_args x = { .source = source, .mkey = mkey, .count = c };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, count_body, &x);
}

/* ---- SSO sign-ins in flight (schema 8; as store_sqlite_logins.c's) ---- */

#define SSO_COLS "nonce, verifier, pre, source, next, hold, auth_after, created"

struct sso_args {
	const char *state_id, *sealed_in, *pre;
	const struct ctl__sso_pending *in;
	struct ctl__sso_pending *out;
	char *sealed;
	size_t sealed_len;
	int64_t now;
};

static int sso_room(struct ctl__pg_store *s, const struct ctl__sso_pending *in)
{
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_text(&p, in->pre);
	ctl__pg_text(&p, in->source);
	int rc = ctl__pg_q(s,
			   "SELECT count(*) FILTER (WHERE pre = $1), count(*) FILTER (WHERE "
			   "source = $2), count(*) FROM sso_pending",
			   &p, &r);
	if (rc)
		return rc;
	int64_t in_browser = ctl__pg_get_int(r, 0, 0), from_source = ctl__pg_get_int(r, 0, 1),
		all = ctl__pg_get_int(r, 0, 2);
	PQclear(r);
	struct ctl__pg_params one = { 0 };
	if (in_browser >= SRV_SSO_PENDING_PER_BROWSER || from_source >= SRV_SSO_PENDING_PER_SOURCE)
		ctl__pg_text(&one,
			     in_browser >= SRV_SSO_PENDING_PER_BROWSER ? in->pre : in->source);
	if (in_browser >= SRV_SSO_PENDING_PER_BROWSER)
		return ctl__pg_q(s,
				 "DELETE FROM sso_pending WHERE state_id = (SELECT state_id FROM "
				 "sso_pending WHERE pre = $1 ORDER BY created, ctid LIMIT 1)",
				 &one, NULL);
	if (from_source >= SRV_SSO_PENDING_PER_SOURCE)
		return ctl__pg_q(s,
				 "DELETE FROM sso_pending WHERE state_id = (SELECT state_id FROM "
				 "sso_pending WHERE source = $1 ORDER BY created, ctid LIMIT 1)",
				 &one, NULL);
	if (all >= SRV_SSO_PENDING_MAX)
		return ctl__pg_q(s,
				 "DELETE FROM sso_pending WHERE state_id = (SELECT state_id FROM "
				 "sso_pending WHERE source = (SELECT source FROM sso_pending GROUP "
				 "BY source ORDER BY count(*) DESC, min(created) LIMIT 1) ORDER BY "
				 "created, ctid LIMIT 1)",
				 NULL, NULL);
	return 0;
}

/* Rows expired at now forgotten (and any from the future: the clock went back). */
static int sso_expire(struct ctl__pg_store *s, int64_t now)
{
	struct ctl__pg_params p = { 0 };
	ctl__pg_int(&p, now - SRV_SSO_PENDING_TTL_S);
	ctl__pg_int(&p, now);
	return ctl__pg_q(s, "DELETE FROM sso_pending WHERE created <= $1 OR created > $2", &p,
			 NULL);
}

static int sso_put_body(struct ctl__pg_store *s, void *ctx)
{
	struct sso_args *x = ctx;
	const struct ctl__sso_pending *in = x->in;
	int rc = sso_expire(s, in->created);
	if (!rc)
		rc = sso_room(s, in);
	if (rc)
		return rc;
	struct ctl__pg_params v = { 0 };
	const char *text[] = { x->state_id, in->nonce, x->sealed_in, in->pre,
			       in->source,  in->next,  in->hold };
	for (int i = 0; i < 7; i++)
		ctl__pg_text(&v, text[i]);
	ctl__pg_int(&v, in->auth_after);
	ctl__pg_int(&v, in->created);
	return ctl__pg_q(s,
			 "INSERT INTO sso_pending (state_id, " SSO_COLS ") VALUES ($1, $2, $3, "
			 "$4, $5, $6, $7, $8, $9)",
			 &v, NULL);
}

/* Not run again after a lost COMMIT: the second insert would find its own row (-EEXIST). */
int ctl__pg_sso_pending_put(struct ctl_store *s, const char *state_id, const char *sealed,
			    const struct ctl__sso_pending *p)
{
	struct sso_args x = { .state_id = state_id, .sealed_in = sealed, .in = p };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN, sso_put_body, &x);
}

/* The row locked (a callback on another replica waits, then finds it gone). */
static int sso_take_body(struct ctl__pg_store *s, void *ctx)
{
	struct sso_args *x = ctx;
	struct ctl__sso_pending *o = x->out;
	struct ctl__pg_params p = { 0 };
	PGresult *r = NULL;
	ctl__pg_text(&p, x->state_id);
	int rc = ctl__pg_q(s, "SELECT " SSO_COLS " FROM sso_pending WHERE state_id = $1 FOR UPDATE",
			   &p, &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT;
	if (!rc) {
		memset(o, 0, sizeof(*o));
		ctl__pg_get_text(r, 0, 0, o->nonce, sizeof(o->nonce));
		ctl__pg_get_text(r, 0, 1, x->sealed, x->sealed_len);
		ctl__pg_get_text(r, 0, 2, o->pre, sizeof(o->pre));
		ctl__pg_get_text(r, 0, 3, o->source, sizeof(o->source));
		ctl__pg_get_text(r, 0, 4, o->next, sizeof(o->next));
		ctl__pg_get_text(r, 0, 5, o->hold, sizeof(o->hold));
		o->auth_after = ctl__pg_get_int(r, 0, 6);
		o->created = ctl__pg_get_int(r, 0, 7);
		if (!x->pre || strlen(x->pre) != SRV_SSO_PRE_HEX ||
		    sodium_memcmp(o->pre, x->pre, SRV_SSO_PRE_HEX) != 0)
			rc = -EPERM;
	}
	PQclear(r);
	struct ctl__pg_params id = { 0 };
	ctl__pg_text(&id, x->state_id);
	if (!rc)
		rc = ctl__pg_q(s, "DELETE FROM sso_pending WHERE state_id = $1", &id, NULL);
	if (rc)
		sodium_memzero(x->sealed, x->sealed_len);
	return rc;
}

static int sso_expire_body(struct ctl__pg_store *s, void *ctx)
{
	return sso_expire(s, ((struct sso_args *)ctx)->now);
}

/* Expired rows forgotten first, in a statement of their own (kept whatever the take finds);
 * the take not run again after a lost COMMIT: the second run would find it gone. */
int ctl__pg_sso_pending_take(struct ctl_store *s, const char *state_id, const char *pre,
			     int64_t now, struct ctl__sso_pending *p, char *sealed,
			     size_t sealed_len)
{
	struct sso_args e = { .now = now };
	int rc = ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, sso_expire_body, &e);
	if (rc)
		return rc;
	struct sso_args x = { .state_id = state_id,
			      .pre = pre,
			      .now = now,
			      .out = p,
			      .sealed = sealed,
			      .sealed_len = sealed_len };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN, sso_take_body, &x);
}
