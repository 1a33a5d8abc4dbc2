/* The PostgreSQL store's audit log (schema 6): replicas sharing the database append one at a
 * time (a transaction-level advisory lock taken before the last row is read), so each row is
 * chained to the one really before it and the chain never forks; the list with its filters;
 * the head.  A trigger refuses UPDATE and DELETE on the table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/server/store.h"
#include "control/server/store_pg_int.h"

/* pg_advisory_xact_lock's key for appending to the audit log ("meshaud") */
#define AUDIT_LOCK INT64_C(0x6d657368617564)

static int head(struct ctl__pg_store *s, int64_t *id, uint8_t hash[CTL_AUDIT_HASH_LEN])
{
	PGresult *r;
	int rc = ctl__pg_q(s, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", NULL, &r);
	*id = 0;
	memset(hash, 0, CTL_AUDIT_HASH_LEN);
	if (!rc && PQntuples(r) == 1) {
		*id = ctl__pg_get_int(r, 0, 0);
		ctl__pg_get_bytes(r, 0, 1, hash, CTL_AUDIT_HASH_LEN);
	}
	PQclear(r);
	return rc;
}

/* The highest seq held for node from queue (0: none); the queue is the body's member, read
 * through the index audit_queue_seq (schema 8). */
static int held_seq(struct ctl__pg_store *s, int64_t node, const char *queue, int64_t *seq)
{
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, node);
	ctl__pg_text(&p, queue ? queue : "");
	int rc = ctl__pg_q(s,
			   "SELECT COALESCE(MAX(node_seq), 0) FROM audit WHERE node_id = $1 "
			   "AND node_seq > 0 AND COALESCE(body::jsonb ->> 'queue', '') = $2",
			   &p, &r);
	if (!rc)
		*seq = ctl__pg_get_int(r, 0, 0);
	PQclear(r);
	return rc;
}

struct append_args {
	struct ctl_audit_rec *recs;
	size_t n;
	int64_t node_id, *held;
	const char *queue;
};

static int append_body(struct ctl__pg_store *s, void *ctx)
{
	struct append_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	int64_t last;
	uint8_t prev[CTL_AUDIT_HASH_LEN];
	ctl__pg_int(&p, AUDIT_LOCK);
	int rc = ctl__pg_q(s, "SELECT pg_advisory_xact_lock($1)", &p, NULL);
	if (!rc)
		rc = head(s, &last, prev);
	for (size_t i = 0; !rc && i < a->n; i++) {
		struct ctl_audit_rec *r = &a->recs[i];
		int64_t have = 0;
		r->id = 0;
		if (r->node_seq > 0 &&
		    ((rc = held_seq(s, r->node_id, r->queue, &have)) || r->node_seq <= have))
			continue;
		r->id = ++last;
		ctl_audit_chain(prev, r->id, r->body, r->hash);
		memcpy(prev, r->hash, sizeof(prev));
		p.n = 0;
		ctl__pg_int(&p, r->id);
		ctl__pg_int(&p, r->received_ms);
		ctl__pg_int(&p, r->node_id);
		ctl__pg_int(&p, r->node_seq);
		ctl__pg_text(&p, r->type);
		ctl__pg_text(&p, r->node ? r->node : "");
		ctl__pg_text(&p, r->who ? r->who : "");
		ctl__pg_text(&p, r->body);
		ctl__pg_bytes(&p, r->hash, CTL_AUDIT_HASH_LEN);
		rc = ctl__pg_q(s,
			       "INSERT INTO audit (id, received_ms, node_id, node_seq, type, node, "
			       "who, body, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			       &p, NULL);
	}
	if (!rc && a->held)
		rc = held_seq(s, a->node_id, a->queue, a->held);
	return rc;
}

/* Run again after a connection lost before COMMIT: ids and hashes are made afresh from
 * the head then, and node events already held are skipped. */
int ctl__pg_audit_append(struct ctl_store *s, struct ctl_audit_rec *recs, size_t n, int64_t node_id,
			 const char *queue, int64_t *held)
{
	struct append_args a = {
		.recs = recs, .n = n, .node_id = node_id, .held = held, .queue = queue
	};
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN, append_body, &a);
}

struct last_args {
	int64_t node_id, *held;
	char *queue;
};

static int last_body(struct ctl__pg_store *s, void *ctx)
{
	struct last_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, a->node_id);
	int rc = ctl__pg_q(s,
			   "SELECT COALESCE(body::jsonb ->> 'queue', '') FROM audit WHERE "
			   "node_id = $1 AND node_seq > 0 ORDER BY id DESC LIMIT 1",
			   &p, &r);
	if (!rc && PQntuples(r) != 1)
		rc = -ENOENT;
	if (!rc)
		snprintf(a->queue, CTL_AUDIT_QUEUE_MAX + 1, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	*a->held = 0;
	return rc ? rc : held_seq(s, a->node_id, a->queue, a->held);
}

int ctl__pg_audit_last_queue(struct ctl_store *s, int64_t node_id,
			     char queue[CTL_AUDIT_QUEUE_MAX + 1], int64_t *held)
{
	struct last_args a = { .node_id = node_id, .held = held, .queue = queue };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, last_body, &a);
}

struct list_args {
	const struct ctl_audit_filter *f;
	ctl_audit_cb cb;
	void *ctx;
};

/* The filters' parameters are folded into the plan (an unnamed statement is planned with
 * their values), so "($4 = '' OR who = $4)" reads the index on who (schema 9) when set; a type
 * prefix is a range of the index on type in bytes (COLLATE "C"). */
static int list_body(struct ctl__pg_store *s, void *ctx)
{
	struct list_args *a = ctx;
	const struct ctl_audit_filter *f = a->f;
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, f->after);
	ctl__pg_int(&p, f->since_ms);
	ctl__pg_int(&p, f->until_ms);
	ctl__pg_text(&p, f->who ? f->who : "");
	ctl__pg_text(&p, f->node ? f->node : "");
	ctl__pg_text(&p, f->type ? f->type : "");
	if (f->limit > 0)
		ctl__pg_int(&p, f->limit);
	else
		ctl__pg_text(&p, NULL);
	int rc = ctl__pg_q(
	    s,
	    "SELECT id, received_ms, node_id, node_seq, type, node, who, body, hash FROM audit "
	    "WHERE id > $1::bigint AND ($2::bigint = 0 OR received_ms >= $2::bigint) AND "
	    "($3::bigint = 0 OR received_ms <= $3::bigint) AND ($4::text = '' OR who = $4::text) "
	    "AND ($5::text = '' OR node = $5::text) AND ($6::text = '' OR "
	    "type COLLATE \"C\" = $6::text OR (type COLLATE \"C\" >= $6::text || '.' AND "
	    "type COLLATE \"C\" < $6::text || '/')) ORDER BY id LIMIT $7::bigint",
	    &p, &r);
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		struct ctl_audit_rec rec = {
			.id = ctl__pg_get_int(r, i, 0),
			.received_ms = ctl__pg_get_int(r, i, 1),
			.node_id = ctl__pg_get_int(r, i, 2),
			.node_seq = ctl__pg_get_int(r, i, 3),
			.type = PQgetvalue(r, i, 4),
			.node = PQgetvalue(r, i, 5),
			.who = PQgetvalue(r, i, 6),
			.body = PQgetvalue(r, i, 7),
		};
		/* a hash of another length (a row tampered with) compares unequal as zeros */
		ctl__pg_get_bytes(r, i, 8, rec.hash, CTL_AUDIT_HASH_LEN);
		rc = a->cb(a->ctx, &rec);
	}
	s->delivered = r && PQntuples(r) > 0;
	PQclear(r);
	return rc;
}

int ctl__pg_audit_list(struct ctl_store *s, const struct ctl_audit_filter *f, ctl_audit_cb cb,
		       void *ctx)
{
	struct list_args a = { .f = f, .cb = cb, .ctx = ctx };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, list_body, &a);
}

struct head_args {
	int64_t *id;
	uint8_t *hash;
};

static int head_body(struct ctl__pg_store *s, void *ctx)
{
	struct head_args *a = ctx;
	return head(s, a->id, a->hash);
}

int ctl__pg_audit_head(struct ctl_store *s, int64_t *id, uint8_t hash[CTL_AUDIT_HASH_LEN])
{
	struct head_args a = { .id = id, .hash = hash };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, head_body, &a);
}
