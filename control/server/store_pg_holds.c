/* Check mode's rows in the PostgreSQL store (store.h says what each op does), shared by every
 * replica: approvals, one per (src, dst); holds (schema 7), for which the triggers
 * (store_pg_notify.c) say "hold:ID" when one is decided, re-authenticated for or removed, and
 * the replica holding its node's request answers it. */
#include <errno.h>
#include <string.h>

#include <libpq-fe.h>

#include "control/server/internal.h"
#include "control/server/store_pg_int.h"

/* ---- approvals: one row per (src, dst), newest wins ---- */

struct approval_args {
	const struct ctl_approval *in;
	int64_t src, dst;
	struct ctl_approval *out;
};

static int approval_put_body(struct ctl__pg_store *s, void *ctx)
{
	const struct ctl_approval *a = ((struct approval_args *)ctx)->in;
	struct ctl__pg_params p = { 0 };
	ctl__pg_int(&p, a->src_node);
	ctl__pg_int(&p, a->dst_node);
	ctl__pg_int(&p, a->user_id);
	ctl__pg_int(&p, a->approved_at);
	ctl__pg_int(&p, a->auth_at);
	return ctl__pg_q(s,
			 "INSERT INTO approvals (src_node, dst_node, user_id, approved_at, "
			 "auth_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (src_node, dst_node) "
			 "DO UPDATE SET user_id = EXCLUDED.user_id, approved_at = "
			 "EXCLUDED.approved_at, auth_at = EXCLUDED.auth_at",
			 &p, NULL);
}

int ctl__pg_approval_put(struct ctl_store *s, const struct ctl_approval *a)
{
	struct approval_args x = { .in = a };
	return ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, approval_put_body, &x);
}

static int approval_get_body(struct ctl__pg_store *s, void *ctx)
{
	struct approval_args *x = ctx;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, x->src);
	ctl__pg_int(&p, x->dst);
	int rc = ctl__pg_q(s,
			   "SELECT user_id, approved_at, auth_at FROM approvals "
			   "WHERE src_node = $1 AND dst_node = $2",
			   &p, &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT;
	if (!rc) {
		x->out->src_node = x->src;
		x->out->dst_node = x->dst;
		x->out->user_id = ctl__pg_get_int(r, 0, 0);
		x->out->approved_at = ctl__pg_get_int(r, 0, 1);
		x->out->auth_at = ctl__pg_get_int(r, 0, 2);
	}
	PQclear(r);
	return rc;
}

int ctl__pg_approval_get(struct ctl_store *s, int64_t src, int64_t dst, struct ctl_approval *a)
{
	struct approval_args x = { .src = src, .dst = dst, .out = a };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, approval_get_body, &x);
}

/* ---- holds ---- */

#define HOLD_COLS                                                                                \
	"id, src, dst, local_user, check_period, created, last_asked, state, reason, approver, " \
	"auth_at, reauth_session, reauth_user, reauth_at"

struct hold_args {
	const char *sql; /* write_body's */
	int n_ints;
	const struct ctl__hold *in;
	const char *id;
	struct ctl__hold *out;
	int64_t a, b;
	struct ctl_hold_count *count;
};

/* What update may change: state, reason, approver, auth_at, then the re-authentication's
 * session, user and time. */
static void params_decision(struct ctl__pg_params *p, const struct ctl__hold *h)
{
	ctl__pg_int(p, h->state);
	ctl__pg_text(p, h->reason);
	ctl__pg_text(p, h->approver);
	ctl__pg_int(p, h->auth_at);
	ctl__pg_text(p, h->reauth_session);
	ctl__pg_int(p, h->reauth_user);
	ctl__pg_int(p, h->reauth_at);
}

static int put_body(struct ctl__pg_store *s, void *ctx)
{
	const struct ctl__hold *h = ((struct hold_args *)ctx)->in;
	struct ctl__pg_params p = { 0 };
	ctl__pg_text(&p, h->id);
	ctl__pg_int(&p, h->src);
	ctl__pg_int(&p, h->dst);
	ctl__pg_text(&p, h->local_user);
	ctl__pg_int(&p, h->check_period_s);
	ctl__pg_int(&p, h->created);
	ctl__pg_int(&p, h->last_asked);
	params_decision(&p, h);
	return ctl__pg_q(s,
			 "INSERT INTO holds (" HOLD_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, "
			 "$8, $9, $10, $11, $12, $13, $14)",
			 &p, NULL);
}

/* Not run again after a lost COMMIT: the second insert would find its own row (-EEXIST). */
int ctl__pg_hold_put(struct ctl_store *s, const struct ctl__hold *h)
{
	struct hold_args x = { .in = h };
	return ctl__pg_run(ctl__pg(s), 0, put_body, &x);
}

static int get_body(struct ctl__pg_store *s, void *ctx)
{
	struct hold_args *x = ctx;
	struct ctl__hold *h = x->out;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_text(&p, x->id);
	int rc = ctl__pg_q(s, "SELECT " HOLD_COLS " FROM holds WHERE id = $1", &p, &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT;
	if (!rc) {
		ctl__pg_get_text(r, 0, 0, h->id, sizeof(h->id));
		h->src = ctl__pg_get_int(r, 0, 1);
		h->dst = ctl__pg_get_int(r, 0, 2);
		ctl__pg_get_text(r, 0, 3, h->local_user, sizeof(h->local_user));
		h->check_period_s = ctl__pg_get_int(r, 0, 4);
		h->created = ctl__pg_get_int(r, 0, 5);
		h->last_asked = ctl__pg_get_int(r, 0, 6);
		h->state = (enum ctl__decision)ctl__pg_get_int(r, 0, 7);
		ctl__pg_get_text(r, 0, 8, h->reason, sizeof(h->reason));
		ctl__pg_get_text(r, 0, 9, h->approver, sizeof(h->approver));
		h->auth_at = ctl__pg_get_int(r, 0, 10);
		ctl__pg_get_text(r, 0, 11, h->reauth_session, sizeof(h->reauth_session));
		h->reauth_user = ctl__pg_get_int(r, 0, 12);
		h->reauth_at = ctl__pg_get_int(r, 0, 13);
	}
	PQclear(r);
	return rc;
}

int ctl__pg_hold_get(struct ctl_store *s, const char *id, struct ctl__hold *h)
{
	struct hold_args x = { .id = id, .out = h };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, get_body, &x);
}

/* The row only while pending (FOR UPDATE: a decision on another replica waits for ours and
 * then finds it decided), then its new values: -ESTALE or -ENOENT as store.h says. */
int ctl__pg_lock_pending(struct ctl__pg_store *s, const char *sql, struct ctl__pg_params *p)
{
	PGresult *r;
	int rc = ctl__pg_q(s, sql, p, &r);
	if (!rc && PQntuples(r) == 0)
		rc = -ENOENT;
	else if (!rc && ctl__pg_get_int(r, 0, 0) != CTL__PENDING)
		rc = -ESTALE;
	PQclear(r);
	return rc;
}

static int update_body(struct ctl__pg_store *s, void *ctx)
{
	const struct ctl__hold *h = ((struct hold_args *)ctx)->in;
	struct ctl__pg_params p = { 0 };
	ctl__pg_text(&p, h->id);
	int rc = ctl__pg_lock_pending(s, "SELECT state FROM holds WHERE id = $1 FOR UPDATE", &p);
	if (rc)
		return rc;
	params_decision(&p, h);
	return ctl__pg_q(s,
			 "UPDATE holds SET state = $2, reason = $3, approver = $4, auth_at = $5, "
			 "reauth_session = $6, reauth_user = $7, reauth_at = $8 WHERE id = $1",
			 &p, NULL);
}

/* Not run again after a lost COMMIT: the second run would find the hold decided (-ESTALE). */
int ctl__pg_hold_update(struct ctl_store *s, const struct ctl__hold *h)
{
	struct hold_args x = { .in = h };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN, update_body, &x);
}

/* One statement of sql with, in order, the id (when not NULL), then n_ints of a and b. */
static int write_body(struct ctl__pg_store *s, void *ctx)
{
	struct hold_args *x = ctx;
	struct ctl__pg_params p = { 0 };
	if (x->id)
		ctl__pg_text(&p, x->id);
	if (x->n_ints > 0)
		ctl__pg_int(&p, x->a);
	if (x->n_ints > 1)
		ctl__pg_int(&p, x->b);
	return ctl__pg_q(s, x->sql, &p, NULL);
}

int ctl__pg_hold_touch(struct ctl_store *s, const char *id, int64_t last_asked)
{
	struct hold_args x = { .sql = "UPDATE holds SET last_asked = $2 WHERE id = $1",
			       .id = id,
			       .a = last_asked,
			       .n_ints = 1 };
	return ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, write_body, &x);
}

int ctl__pg_hold_delete(struct ctl_store *s, const char *id)
{
	struct hold_args x = { .sql = "DELETE FROM holds WHERE id = $1", .id = id };
	return ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, write_body, &x);
}

static int count_body(struct ctl__pg_store *s, void *ctx)
{
	struct hold_args *x = ctx;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, x->a);
	ctl__pg_int(&p, x->b);
	int rc = ctl__pg_q(s,
			   "SELECT count(*) FILTER (WHERE state = 0 AND src = $1), "
			   "count(*) FILTER (WHERE state = 0 AND dst = $2), count(*) FROM holds",
			   &p, &r);
	if (!rc) {
		x->count->from_src = ctl__pg_get_int(r, 0, 0);
		x->count->to_dst = ctl__pg_get_int(r, 0, 1);
		x->count->all = ctl__pg_get_int(r, 0, 2);
	}
	PQclear(r);
	return rc;
}

int ctl__pg_hold_count(struct ctl_store *s, int64_t src, int64_t dst, struct ctl_hold_count *c)
{
	struct hold_args x = { .a = src, .b = dst, .count = c };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, count_body, &x);
}

int ctl__pg_hold_expire(struct ctl_store *s, int64_t created_before, int64_t asked_before)
{
	struct hold_args x = {
		.sql = "DELETE FROM holds WHERE created < $1 OR (state = 0 AND last_asked < $2)",
		.a = created_before,
		.b = asked_before,
		.n_ints = 2
	};
	return ctl__pg_run(ctl__pg(s), CTL__PG_IDEMPOTENT, write_body, &x);
}
