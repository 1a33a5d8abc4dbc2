/* Pending interactive logins in the PostgreSQL store (schema 7, pending_logins; store.h says
 * what each op does), shared by every replica: the triggers (store_pg_notify.c) say
 * "login:ID" when one is decided, and the replica holding its node's request answers it.
 * The "token" column holds the login's id (the SHA-256 of the token, hex), never the token;
 * tags are "tag:a,tag:b" text, NULL when the node named none. */
#include <errno.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/strv.h"
#include "control/server/ident.h"
#include "control/server/internal.h"
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
