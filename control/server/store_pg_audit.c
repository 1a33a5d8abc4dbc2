/* The PostgreSQL store's audit log (schema 6): replicas sharing the database append one at a
 * time (a transaction-level advisory lock taken before the last row is read), so each row is
 * chained to the one really before it (or to the anchor, when a prune left none) and the
 * chain never forks; the list with its filters; the head; prune, under the same lock.  A
 * trigger refuses UPDATE and DELETE on the table; prune disables it inside its transaction
 * (ALTER TABLE ... DISABLE TRIGGER: a lock that waits for no reader, and no other session
 * ever sees it disabled) and enables it again before COMMIT. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/server/store.h"
#include "control/server/store_pg_int.h"

/* pg_advisory_xact_lock's key for appending to the audit log ("meshaud") */
#define AUDIT_LOCK INT64_C(0x6d657368617564)

/* The stored anchor (zeros when nothing was pruned): 0, -EBADMSG or the store's error. */
static int anchor(struct ctl__pg_store *s, struct ctl_audit_anchor *a)
{
	char text[CTL_AUDIT_ANCHOR_TEXT] = "";
	int rc = ctl__pg_meta_get(s, CTL_AUDIT_ANCHOR_KEY, text, sizeof(text));
	return ctl_audit_anchor_read(rc, text, a);
}

static int head(struct ctl__pg_store *s, int64_t *id, uint8_t hash[CTL_AUDIT_HASH_LEN])
{
	PGresult *r;
	int rc = ctl__pg_q(s, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", NULL, &r);
	*id = 0;
	memset(hash, 0, CTL_AUDIT_HASH_LEN);
	bool none = !rc && PQntuples(r) == 0;
	if (!rc && PQntuples(r) == 1) {
		*id = ctl__pg_get_int(r, 0, 0);
		ctl__pg_get_bytes(r, 0, 1, hash, CTL_AUDIT_HASH_LEN);
	}
	PQclear(r);
	if (none) { /* no row: where a prune left the chain */
		struct ctl_audit_anchor a;
		rc = anchor(s, &a);
		*id = a.through;
		memcpy(hash, a.hash, CTL_AUDIT_HASH_LEN);
	}
	return rc;
}

/* The highest seq held for node from queue (0: none), pruned rows' too (audit_pruned); the
 * queue is the body's member, read through the index audit_queue_seq (schema 8). */
static int held_seq(struct ctl__pg_store *s, int64_t node, const char *queue, int64_t *seq)
{
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	ctl__pg_int(&p, node);
	ctl__pg_text(&p, queue ? queue : "");
	int rc =
	    ctl__pg_q(s,
		      "SELECT GREATEST((SELECT COALESCE(MAX(node_seq), 0) FROM audit WHERE "
		      "node_id = $1 AND node_seq > 0 AND COALESCE(body::jsonb ->> 'queue', '') "
		      "= $2), (SELECT COALESCE(MAX(seq), 0) FROM audit_pruned WHERE node_id = "
		      "$1 AND queue = $2))",
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

/* The appenders' lock, then the head: the last row's id and hash. */
static int lock_head(struct ctl__pg_store *s, int64_t *last, uint8_t prev[CTL_AUDIT_HASH_LEN])
{
	struct ctl__pg_params p = { 0 };
	ctl__pg_int(&p, AUDIT_LOCK);
	int rc = ctl__pg_q(s, "SELECT pg_advisory_xact_lock($1)", &p, NULL);
	return rc ? rc : head(s, last, prev);
}

/* r as the row after last (whose hash is prev): both moved to it. */
static int chain_insert(struct ctl__pg_store *s, int64_t *last, uint8_t prev[CTL_AUDIT_HASH_LEN],
			struct ctl_audit_rec *r)
{
	struct ctl__pg_params p = { 0 };
	r->id = ++*last;
	ctl_audit_chain(prev, r->id, r->body, r->hash);
	memcpy(prev, r->hash, CTL_AUDIT_HASH_LEN);
	ctl__pg_int(&p, r->id);
	ctl__pg_int(&p, r->received_ms);
	ctl__pg_int(&p, r->node_id);
	ctl__pg_int(&p, r->node_seq);
	ctl__pg_text(&p, r->type);
	ctl__pg_text(&p, r->node ? r->node : "");
	ctl__pg_text(&p, r->who ? r->who : "");
	ctl__pg_text(&p, r->body);
	ctl__pg_bytes(&p, r->hash, CTL_AUDIT_HASH_LEN);
	return ctl__pg_q(s,
			 "INSERT INTO audit (id, received_ms, node_id, node_seq, type, node, "
			 "who, body, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			 &p, NULL);
}

static int append_body(struct ctl__pg_store *s, void *ctx)
{
	struct append_args *a = ctx;
	int64_t last;
	uint8_t prev[CTL_AUDIT_HASH_LEN];
	int rc = lock_head(s, &last, prev);
	for (size_t i = 0; !rc && i < a->n; i++) {
		struct ctl_audit_rec *r = &a->recs[i];
		int64_t have = 0;
		r->id = 0;
		if (r->node_seq > 0 &&
		    ((rc = held_seq(s, r->node_id, r->queue, &have)) || r->node_seq <= have))
			continue;
		rc = chain_insert(s, &last, prev, r);
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
	/* the latest row's queue, or when a prune took them all, the latest pruned one's */
	int rc =
	    ctl__pg_q(s,
		      "(SELECT COALESCE(body::jsonb ->> 'queue', '') AS q, id AS k FROM audit "
		      "WHERE node_id = $1 AND node_seq > 0 ORDER BY id DESC LIMIT 1) UNION ALL "
		      "SELECT queue, last_id FROM audit_pruned WHERE node_id = $1 "
		      "ORDER BY 2 DESC LIMIT 1",
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

struct prune_args {
	int64_t prev_through;
	const struct ctl_audit_anchor *a;
	struct ctl_audit_rec *event;
};

/* -ESTALE unless row id holds hash. */
static int row_has(struct ctl__pg_store *s, int64_t id, const uint8_t hash[CTL_AUDIT_HASH_LEN])
{
	struct ctl__pg_params p = { 0 };
	PGresult *r;
	uint8_t got[CTL_AUDIT_HASH_LEN];
	ctl__pg_int(&p, id);
	int rc = ctl__pg_q(s, "SELECT hash FROM audit WHERE id = $1", &p, &r);
	if (!rc && (PQntuples(r) != 1 || !ctl__pg_get_bytes(r, 0, 0, got, sizeof(got)) ||
		    memcmp(got, hash, sizeof(got)) != 0))
		rc = -ESTALE;
	PQclear(r);
	return rc;
}

static int prune_body(struct ctl__pg_store *s, void *ctx)
{
	struct prune_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	struct ctl_audit_anchor cur;
	char text[CTL_AUDIT_ANCHOR_TEXT];
	int64_t last;
	uint8_t prev[CTL_AUDIT_HASH_LEN];
	int rc = lock_head(s, &last, prev); /* appends wait from here to COMMIT */
	if (!rc)
		rc = anchor(s, &cur);
	if (!rc && cur.through != a->prev_through)
		rc = -ESTALE;
	if (!rc)
		rc = row_has(s, a->a->through, a->a->hash);
	ctl__pg_int(&p, a->a->through);
	if (!rc) /* each node's highest seq and last row among them, kept */
		rc = ctl__pg_q(
		    s,
		    "INSERT INTO audit_pruned (node_id, queue, seq, last_id) SELECT "
		    "node_id, COALESCE(body::jsonb ->> 'queue', ''), MAX(node_seq), MAX(id) "
		    "FROM audit WHERE id <= $1 AND node_seq > 0 GROUP BY 1, 2 "
		    "ON CONFLICT (node_id, queue) DO UPDATE SET seq = "
		    "GREATEST(audit_pruned.seq, EXCLUDED.seq), last_id = "
		    "GREATEST(audit_pruned.last_id, EXCLUDED.last_id)",
		    &p, NULL);
	if (!rc)
		rc =
		    ctl__pg_q(s, "ALTER TABLE audit DISABLE TRIGGER audit_append_only", NULL, NULL);
	if (!rc)
		rc = ctl__pg_q(s, "DELETE FROM audit WHERE id <= $1", &p, NULL);
	if (!rc)
		rc = ctl__pg_q(s, "ALTER TABLE audit ENABLE TRIGGER audit_append_only", NULL, NULL);
	ctl_audit_anchor_text(a->a, text);
	if (!rc)
		rc = ctl__pg_meta_put(s, CTL_AUDIT_ANCHOR_KEY, text);
	if (!rc)
		rc = head(s, &last, prev);
	return rc ? rc : chain_insert(s, &last, prev, a->event);
}

/* Run again after a connection lost before COMMIT: the checks see the same log then. */
int ctl__pg_audit_prune(struct ctl_store *s, int64_t prev_through, const struct ctl_audit_anchor *a,
			struct ctl_audit_rec *event)
{
	struct prune_args args = { .prev_through = prev_through, .a = a, .event = event };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN, prune_body, &args);
}
