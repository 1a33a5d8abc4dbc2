/* The SQLite store's audit log (schema 6): appends in one IMMEDIATE transaction (the
 * database's write lock: one writer at a time, so the chain never forks), each row given the
 * next id and chained to the last one (or to the anchor, when a prune left none); the list
 * with its filters; the head; prune.  Triggers refuse UPDATE and DELETE on the table, so only
 * someone who drops them can change a row, and `meshcontrol audit verify` then names it;
 * prune drops the DELETE one inside its transaction and makes it again before COMMIT. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "control/server/internal.h"
#include "control/server/store.h"

/* The stored anchor (zeros when nothing was pruned): 0, -EBADMSG, -EIO. */
static int anchor(struct ctl_store *s, struct ctl_audit_anchor *a)
{
	char text[CTL_AUDIT_ANCHOR_TEXT] = "";
	int rc = ctl__sq_meta_get(s, CTL_AUDIT_ANCHOR_KEY, text, sizeof(text));
	return ctl_audit_anchor_read(rc, text, a);
}

static int head(struct ctl_store *s, int64_t *id, uint8_t hash[CTL_AUDIT_HASH_LEN])
{
	sqlite3_stmt *st =
	    ctl__sq_prep(ctl__sq(s)->db, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1");
	if (!st)
		return -EIO;
	*id = 0;
	memset(hash, 0, CTL_AUDIT_HASH_LEN);
	int rc = 0, step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		if (sqlite3_column_bytes(st, 1) == CTL_AUDIT_HASH_LEN)
			memcpy(hash, sqlite3_column_blob(st, 1), CTL_AUDIT_HASH_LEN);
	} else if (step != SQLITE_DONE) {
		rc = -EIO;
	}
	sqlite3_finalize(st);
	if (!rc && step == SQLITE_DONE) { /* no row: where a prune left the chain */
		struct ctl_audit_anchor a;
		rc = anchor(s, &a);
		*id = a.through;
		memcpy(hash, a.hash, CTL_AUDIT_HASH_LEN);
	}
	return rc;
}

/* The highest seq held for node from queue (0: none), or a negative errno, pruned rows'
 * too (audit_pruned).  The queue is the body's member, read through the index
 * audit_queue_seq (schema 8). */
static int64_t held_seq(sqlite3 *db, int64_t node, const char *queue)
{
	sqlite3_stmt *st = ctl__sq_prep(
	    db, "SELECT MAX((SELECT COALESCE(MAX(node_seq), 0) FROM audit "
		"WHERE node_id = ?1 AND node_seq > 0 AND "
		"COALESCE(json_extract(body, '$.queue'), '') = ?2), "
		"COALESCE((SELECT seq FROM audit_pruned WHERE node_id = ?1 AND queue = ?2), 0))");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, node);
	sqlite3_bind_text(st, 2, queue ? queue : "", -1, SQLITE_STATIC);
	int64_t seq = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -EIO;
	sqlite3_finalize(st);
	return seq;
}

static int insert(sqlite3 *db, const struct ctl_audit_rec *r)
{
	sqlite3_stmt *st = ctl__sq_prep(db, "INSERT INTO audit (id, received_ms, node_id, "
					    "node_seq, type, node, who, body, hash) VALUES "
					    "(?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, r->id);
	sqlite3_bind_int64(st, 2, r->received_ms);
	sqlite3_bind_int64(st, 3, r->node_id);
	sqlite3_bind_int64(st, 4, r->node_seq);
	sqlite3_bind_text(st, 5, r->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->node ? r->node : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, r->who ? r->who : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, r->body, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 9, r->hash, CTL_AUDIT_HASH_LEN, SQLITE_STATIC);
	return ctl__sq_step_done(db, st);
}

/* r as the row after last (whose hash is prev): both moved to it. */
static int chain_insert(sqlite3 *db, int64_t *last, uint8_t prev[CTL_AUDIT_HASH_LEN],
			struct ctl_audit_rec *r)
{
	r->id = ++*last;
	ctl_audit_chain(prev, r->id, r->body, r->hash);
	memcpy(prev, r->hash, CTL_AUDIT_HASH_LEN);
	return insert(db, r);
}

int ctl__sq_audit_append(struct ctl_store *s, struct ctl_audit_rec *recs, size_t n, int64_t node_id,
			 const char *queue, int64_t *held)
{
	sqlite3 *db = ctl__sq(s)->db;
	int64_t last;
	uint8_t prev[CTL_AUDIT_HASH_LEN];
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	rc = head(s, &last, prev);
	for (size_t i = 0; !rc && i < n; i++) {
		struct ctl_audit_rec *r = &recs[i];
		r->id = 0;
		if (r->node_seq > 0) {
			int64_t have = held_seq(db, r->node_id, r->queue);
			if (have < 0)
				rc = (int)have;
			if (rc || r->node_seq <= have)
				continue;
		}
		rc = chain_insert(db, &last, prev, r);
	}
	if (!rc && held) {
		int64_t have = held_seq(db, node_id, queue);
		if (have < 0)
			rc = (int)have;
		else
			*held = have;
	}
	return ctl__sq_finish(db, rc);
}

int ctl__sq_audit_last_queue(struct ctl_store *s, int64_t node_id,
			     char queue[CTL_AUDIT_QUEUE_MAX + 1], int64_t *held)
{
	sqlite3 *db = ctl__sq(s)->db;
	/* the latest row's queue, or when a prune took them all, the latest pruned one's */
	sqlite3_stmt *st = ctl__sq_prep(
	    db, "SELECT q, k FROM (SELECT COALESCE(json_extract(body, '$.queue'), '') AS q, "
		"id AS k FROM audit WHERE node_id = ?1 AND node_seq > 0 ORDER BY id DESC LIMIT 1) "
		"UNION ALL SELECT queue, last_id FROM audit_pruned WHERE node_id = ?1 "
		"ORDER BY 2 DESC LIMIT 1");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, node_id);
	int rc = 0, step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const char *q = (const char *)sqlite3_column_text(st, 0);
		snprintf(queue, CTL_AUDIT_QUEUE_MAX + 1, "%s", q ? q : "");
	} else {
		rc = step == SQLITE_DONE ? -ENOENT : -EIO;
	}
	sqlite3_finalize(st);
	int64_t have = rc ? 0 : held_seq(db, node_id, queue);
	if (have < 0)
		rc = (int)have;
	*held = have;
	return rc;
}

/* audit_list's statement for f: only the filters f sets are in it, so that the planner can
 * read the index on who or node (schema 9, each with id) in id order; a clause like
 * "(?4 = '' OR who = ?4)" is one no index serves, SQLite plans before binding.  A type alone
 * is checked along the id scan (a prefix like "ssh" matches most rows: the page fills at
 * once; a rare type reads the log from `after` on, as before). */
static sqlite3_stmt *list_stmt(sqlite3 *db, const struct ctl_audit_filter *f)
{
	char sql[640];
	snprintf(
	    sql, sizeof(sql),
	    "SELECT id, received_ms, node_id, node_seq, type, node, who, body, hash FROM "
	    "audit WHERE id > ?1%s%s%s%s%s ORDER BY id LIMIT ?7",
	    f->since_ms ? " AND received_ms >= ?2" : "",
	    f->until_ms ? " AND received_ms <= ?3" : "", f->who && f->who[0] ? " AND who = ?4" : "",
	    f->node && f->node[0] ? " AND node = ?5" : "",
	    f->type && f->type[0] ? " AND (type = ?6 OR (type >= ?6 || '.' AND type < ?6 || '/'))"
				  : "");
	return ctl__sq_prep(db, sql);
}

int ctl__sq_audit_list(struct ctl_store *s, const struct ctl_audit_filter *f, ctl_audit_cb cb,
		       void *ctx)
{
	sqlite3_stmt *st = list_stmt(ctl__sq(s)->db, f);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, f->after);
	sqlite3_bind_int64(st, 2, f->since_ms);
	sqlite3_bind_int64(st, 3, f->until_ms);
	sqlite3_bind_text(st, 4, f->who ? f->who : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, f->node ? f->node : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, f->type ? f->type : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, f->limit > 0 ? f->limit : -1);
	int rc = 0, step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct ctl_audit_rec r = {
			.id = sqlite3_column_int64(st, 0),
			.received_ms = sqlite3_column_int64(st, 1),
			.node_id = sqlite3_column_int64(st, 2),
			.node_seq = sqlite3_column_int64(st, 3),
			.type = (const char *)sqlite3_column_text(st, 4),
			.node = (const char *)sqlite3_column_text(st, 5),
			.who = (const char *)sqlite3_column_text(st, 6),
			.body = (const char *)sqlite3_column_text(st, 7),
		};
		/* a hash of another length (a row tampered with) compares unequal as zeros */
		if (sqlite3_column_bytes(st, 8) == CTL_AUDIT_HASH_LEN)
			memcpy(r.hash, sqlite3_column_blob(st, 8), CTL_AUDIT_HASH_LEN);
		if (!r.type || !r.node || !r.who || !r.body)
			rc = -EIO;
		else
			rc = cb(ctx, &r);
	}
	if (!rc && step != SQLITE_DONE)
		rc = -EIO;
	sqlite3_finalize(st);
	return rc;
}

int ctl__sq_audit_head(struct ctl_store *s, int64_t *id, uint8_t hash[CTL_AUDIT_HASH_LEN])
{
	return head(s, id, hash);
}

/* -ESTALE unless row id holds hash. */
static int row_has(sqlite3 *db, int64_t id, const uint8_t hash[CTL_AUDIT_HASH_LEN])
{
	sqlite3_stmt *st = ctl__sq_prep(db, "SELECT hash FROM audit WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	int rc = step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? -ESTALE : -EIO;
	if (!rc && (sqlite3_column_bytes(st, 0) != CTL_AUDIT_HASH_LEN ||
		    memcmp(sqlite3_column_blob(st, 0), hash, CTL_AUDIT_HASH_LEN) != 0))
		rc = -ESTALE;
	sqlite3_finalize(st);
	return rc;
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* Rows up to through deleted, the trigger lifted for it only (this transaction's), each
 * node's highest seq and last row among them kept in audit_pruned first. */
static int delete_through(sqlite3 *db, int64_t through)
{
	sqlite3_stmt *st = ctl__sq_prep(
	    db,
	    "INSERT INTO audit_pruned (node_id, queue, seq, last_id) SELECT node_id, "
	    "COALESCE(json_extract(body, '$.queue'), ''), MAX(node_seq), MAX(id) FROM audit "
	    "WHERE id <= ? AND node_seq > 0 GROUP BY 1, 2 ON CONFLICT (node_id, queue) DO "
	    "UPDATE SET seq = MAX(seq, excluded.seq), last_id = MAX(last_id, excluded.last_id)");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, through);
	int rc = ctl__sq_step_done(db, st);
	if (!rc)
		rc = exec(db, "DROP TRIGGER audit_no_delete");
	if (rc)
		return rc;
	st = ctl__sq_prep(db, "DELETE FROM audit WHERE id <= ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, through);
	rc = ctl__sq_step_done(db, st);
	return rc ? rc : exec(db, CTL__SQ_AUDIT_NO_DELETE);
}

int ctl__sq_audit_prune(struct ctl_store *s, int64_t prev_through, const struct ctl_audit_anchor *a,
			struct ctl_audit_rec *event)
{
	sqlite3 *db = ctl__sq(s)->db;
	struct ctl_audit_anchor cur;
	char text[CTL_AUDIT_ANCHOR_TEXT];
	int64_t last;
	uint8_t prev[CTL_AUDIT_HASH_LEN];
	int rc = ctl__sq_begin(db);
	if (rc)
		return rc;
	rc = anchor(s, &cur);
	if (!rc && cur.through != prev_through)
		rc = -ESTALE;
	if (!rc)
		rc = row_has(db, a->through, a->hash);
	if (!rc)
		rc = delete_through(db, a->through);
	ctl_audit_anchor_text(a, text);
	if (!rc)
		rc = ctl__sq_meta_set(s, CTL_AUDIT_ANCHOR_KEY, text);
	if (!rc)
		rc = head(s, &last, prev);
	if (!rc)
		rc = chain_insert(db, &last, prev, event);
	return ctl__sq_finish(db, rc);
}
