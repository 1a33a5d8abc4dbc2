/* The audit log's hash chain, shared by both backends, and `meshcontrol audit verify`.
 *
 * Row id's hash is SHA-256(prev || le64(id) || body), prev being row id-1's hash (32 zero
 * bytes for row 1), so each row commits to every row before it.  Someone who can write the
 * database can still rewrite a row and every hash after it; the head hash an operator
 * recorded (verify prints it) catches that, and a tail cut off, later (--head).  The columns
 * the filters read (type, node, who, ...) are copies of the body's members: verify checks
 * them too, so a row cannot be hidden from `meshctl audit --type=...` by editing one.
 *
 * Prune (`meshcontrol audit prune`): the oldest rows removed in one transaction and the
 * last one's id and hash kept as the anchor (meta "audit_anchor"), so that verify starts
 * there and still proves every row left; the rows removed are checked first (a tampered
 * row is not destroyed quietly), and the prune is an event in the log itself.  Someone who
 * can write the database can forge a prune as they can cut a tail: the export of the rows
 * pruned, and a head recorded elsewhere, are what prove the history before the anchor. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "common/when.h"
#include "control/server/audit.h"
#include "control/server/store.h"

enum { VERIFY_PAGE = 1000 };

void ctl_audit_chain(const uint8_t prev[CTL_AUDIT_HASH_LEN], int64_t id, const char *body,
		     uint8_t out[CTL_AUDIT_HASH_LEN])
{
	crypto_hash_sha256_state st;
	uint8_t le[8];
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)((uint64_t)id >> (8 * i));
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, prev, CTL_AUDIT_HASH_LEN);
	crypto_hash_sha256_update(&st, le, sizeof(le));
	crypto_hash_sha256_update(&st, (const uint8_t *)body, strlen(body));
	crypto_hash_sha256_final(&st, out);
}

struct walk {
	int64_t last; /* the last row seen */
	uint8_t prev[CTL_AUDIT_HASH_LEN];
	const uint8_t *head; /* the recorded head, NULL: none */
	bool head_seen;
	int64_t rows;
	char *err;
	size_t errlen;
};

static const char *member_str(json_t *body, const char *key)
{
	const char *s = json_string_value(json_object_get(body, key));
	return s ? s : "\x01"; /* absent: equal to no column */
}

/* The first of r's columns that is not what its body says, or NULL. */
static const char *column_differs(const struct ctl_audit_rec *r)
{
	json_t *b = json_loads(r->body, JSON_REJECT_DUPLICATES, NULL);
	const char *bad = NULL;
	if (!json_is_object(b))
		bad = "body (not a JSON object)";
	else if (strcmp(member_str(b, "type"), r->type) != 0)
		bad = "type";
	else if (strcmp(member_str(b, "node"), r->node) != 0)
		bad = "node";
	else if (strcmp(member_str(b, r->node_seq ? "who" : "actor"), r->who) != 0)
		bad = "who";
	else if (json_integer_value(json_object_get(b, "node_id")) != r->node_id)
		bad = "node_id";
	else if (json_integer_value(json_object_get(b, "seq")) != r->node_seq)
		bad = "node_seq";
	else if (json_integer_value(json_object_get(b, "received")) != r->received_ms)
		bad = "received_ms";
	json_decref(b);
	return bad;
}

static int walk_row(void *ctx, const struct ctl_audit_rec *r)
{
	struct walk *w = ctx;
	uint8_t want[CTL_AUDIT_HASH_LEN];
	if (r->id != w->last + 1) {
		if (r->id == w->last + 2)
			snprintf(w->err, w->errlen,
				 "audit row %" PRId64 " missing (rows %" PRId64 " → %" PRId64 ")",
				 w->last + 1, w->last, r->id);
		else
			snprintf(w->err, w->errlen,
				 "audit rows %" PRId64 "..%" PRId64 " missing (rows %" PRId64
				 " → %" PRId64 ")",
				 w->last + 1, r->id - 1, w->last, r->id);
		return -EBADMSG;
	}
	ctl_audit_chain(w->prev, r->id, r->body, want);
	if (sodium_memcmp(want, r->hash, sizeof(want)) != 0) {
		snprintf(w->err, w->errlen, "audit row %" PRId64 ": hash mismatch (edited?)",
			 r->id);
		return -EBADMSG;
	}
	const char *col = column_differs(r);
	if (col) {
		snprintf(w->err, w->errlen,
			 "audit row %" PRId64 ": its %s column is not what its body says (edited?)",
			 r->id, col);
		return -EBADMSG;
	}
	if (w->head && memcmp(w->head, r->hash, CTL_AUDIT_HASH_LEN) == 0)
		w->head_seen = true;
	memcpy(w->prev, r->hash, sizeof(w->prev));
	w->last = r->id;
	w->rows++;
	return 0;
}

void ctl_audit_anchor_text(const struct ctl_audit_anchor *a, char out[CTL_AUDIT_ANCHOR_TEXT])
{
	char hex[2 * CTL_AUDIT_HASH_LEN + 1];
	sodium_bin2hex(hex, sizeof(hex), a->hash, sizeof(a->hash));
	snprintf(out, CTL_AUDIT_ANCHOR_TEXT, "%" PRId64 " %s %" PRId64 " %" PRId64, a->through, hex,
		 a->at_ms, a->count);
}

int ctl_audit_anchor_parse(const char *text, struct ctl_audit_anchor *a)
{
	char hex[2 * CTL_AUDIT_HASH_LEN + 1], back[CTL_AUDIT_ANCHOR_TEXT];
	long long through, at, count;
	size_t got = 0;
	memset(a, 0, sizeof(*a));
	if (sscanf(text, "%lld %64[0-9a-f] %lld %lld", &through, hex, &at, &count) != 4 ||
	    through < 1 || at < 0 || count < 1 || count > through ||
	    sodium_hex2bin(a->hash, sizeof(a->hash), hex, strlen(hex), NULL, &got, NULL) != 0 ||
	    got != sizeof(a->hash))
		goto bad;
	a->through = through;
	a->at_ms = at;
	a->count = count;
	ctl_audit_anchor_text(a, back); /* the one spelling: no trailing text, no "+1" */
	if (strcmp(back, text) == 0)
		return 0;
bad:
	memset(a, 0, sizeof(*a));
	return -EBADMSG;
}

int ctl_audit_anchor_read(int rc, const char *text, struct ctl_audit_anchor *a)
{
	memset(a, 0, sizeof(*a));
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : ctl_audit_anchor_parse(text, a);
}

int ctl_audit_anchor_get(struct ctl_store *s, struct ctl_audit_anchor *a)
{
	char text[CTL_AUDIT_ANCHOR_TEXT] = "";
	int rc = s->ops->meta_get(s, CTL_AUDIT_ANCHOR_KEY, text, sizeof(text));
	return ctl_audit_anchor_read(rc, text, a);
}

/* w from the store's anchor on: 0, or an error in w->err. */
static int walk_start(struct ctl_store *s, struct walk *w, struct ctl_audit_anchor *a)
{
	int rc = ctl_audit_anchor_get(s, a);
	if (rc == -EBADMSG)
		snprintf(w->err, w->errlen, "the audit log's anchor (meta %s) is not one (edited?)",
			 CTL_AUDIT_ANCHOR_KEY);
	else if (rc)
		snprintf(w->err, w->errlen, "cannot read the audit log's anchor: %s",
			 strerror(-rc));
	w->last = a->through;
	memcpy(w->prev, a->hash, sizeof(w->prev));
	return rc;
}

/* Walk from w->last on with cb (walk_row, or one stopping before it with a positive
 * code, returned): 0 at the end, or an error in w->err. */
static int walk_pages(struct ctl_store *s, struct walk *w, ctl_audit_cb cb)
{
	for (;;) {
		int64_t before = w->rows;
		struct ctl_audit_filter f = { .after = w->last, .limit = VERIFY_PAGE };
		int rc = s->ops->audit_list(s, &f, cb, w);
		if (rc < 0 && !w->err[0])
			snprintf(w->err, w->errlen, "cannot read the audit log: %s", strerror(-rc));
		if (rc || w->rows - before < VERIFY_PAGE)
			return rc;
	}
}

int ctl_audit_verify(struct ctl_store *s, const char *head_hex, FILE *report, char *err,
		     size_t errlen)
{
	uint8_t head[CTL_AUDIT_HASH_LEN];
	size_t got = 0;
	struct walk w = { .err = err, .errlen = errlen };
	struct ctl_audit_anchor a;
	if (head_hex) {
		if (sodium_hex2bin(head, sizeof(head), head_hex, strlen(head_hex), NULL, &got,
				   NULL) != 0 ||
		    got != sizeof(head) || strlen(head_hex) != 2 * sizeof(head)) {
			snprintf(err, errlen, "--head '%.80s': expected 64 hex digits", head_hex);
			return -EINVAL;
		}
		w.head = head;
	}
	err[0] = '\0';
	int rc = walk_start(s, &w, &a);
	if (!rc)
		rc = walk_pages(s, &w, walk_row);
	if (rc)
		return rc;
	char hex[2 * CTL_AUDIT_HASH_LEN + 1], anchor[2 * CTL_AUDIT_HASH_LEN + 1];
	sodium_bin2hex(hex, sizeof(hex), w.prev, sizeof(w.prev));
	sodium_bin2hex(anchor, sizeof(anchor), a.hash, sizeof(a.hash));
	if (w.head && a.through && memcmp(w.head, a.hash, CTL_AUDIT_HASH_LEN) == 0)
		w.head_seen = true;
	if (w.head && !w.head_seen) {
		if (a.through)
			snprintf(err, errlen,
				 "audit head %s is not in the log from row %" PRId64
				 " on: rows cut off its end, or it was pruned (rows up to %" PRId64
				 " are; their export has it)? (last row %" PRId64 ", hash %s)",
				 head_hex, a.through + 1, a.through, w.last, hex);
		else
			snprintf(err, errlen,
				 "audit head %s is not in the log: rows cut off its end? (last row "
				 "%" PRId64 ", hash %s)",
				 head_hex, w.last, hex);
		return -EBADMSG;
	}
	if (a.through) {
		char date[WHEN_TEXT];
		when_format(a.at_ms, date);
		fprintf(report, "%" PRId64 " events pruned up to seq %" PRId64 " (hash %s) on %s",
			a.count, a.through, anchor, date);
		if (a.through > a.count)
			fprintf(report, ", %" PRId64 " more before", a.through - a.count);
		fprintf(report, "\n");
	}
	fprintf(report, "%" PRId64 " rows checked, head %s\n", w.rows, w.last ? hex : "none");
	return 0;
}

/* ---- prune ---- */

struct plan_walk {
	struct walk w; /* first: walk_row's ctx is the plan's */
	int64_t before_ms, first_ms, last_ms;
};

enum { PLAN_DONE = 1 }; /* the first row received at or after before_ms */

static int plan_row(void *ctx, const struct ctl_audit_rec *r)
{
	struct plan_walk *p = ctx;
	if (r->received_ms >= p->before_ms)
		return PLAN_DONE;
	int rc = walk_row(&p->w, r);
	if (!rc) {
		if (p->w.rows == 1)
			p->first_ms = r->received_ms;
		p->last_ms = r->received_ms;
	}
	return rc;
}

int ctl_audit_prune_plan(struct ctl_store *s, int64_t before_ms, struct ctl_audit_prune_plan *p,
			 char *err, size_t errlen)
{
	struct plan_walk pw = { .w = { .err = err, .errlen = errlen }, .before_ms = before_ms };
	memset(p, 0, sizeof(*p));
	err[0] = '\0';
	int rc = walk_start(s, &pw.w, &p->prev);
	if (!rc)
		rc = walk_pages(s, &pw.w, plan_row);
	if (rc < 0) {
		if (rc == -EBADMSG) /* a row to prune is not sound: keep it as evidence */
			snprintf(err + strlen(err), errlen - strlen(err),
				 "; nothing pruned (`meshcontrol audit verify` names the row)");
		return rc;
	}
	p->next.through = pw.w.last;
	memcpy(p->next.hash, pw.w.prev, sizeof(p->next.hash));
	p->next.count = pw.w.last - p->prev.through;
	p->first_ms = pw.first_ms;
	p->last_ms = pw.last_ms;
	return 0;
}

int ctl_audit_prune(struct ctl_store *s, struct ctl_audit_prune_plan *p, int64_t now_ms,
		    const char *actor, int64_t *event_id, char *err, size_t errlen)
{
	char detail[CTL_AUDIT_STR_MAX], hex[2 * CTL_AUDIT_HASH_LEN + 1], first[WHEN_TEXT],
	    last[WHEN_TEXT];
	if (p->next.count < 1) {
		snprintf(err, errlen, "nothing to prune");
		return -EINVAL;
	}
	p->next.at_ms = now_ms;
	sodium_bin2hex(hex, sizeof(hex), p->next.hash, sizeof(p->next.hash));
	when_format(p->first_ms, first);
	when_format(p->last_ms, last);
	snprintf(detail, sizeof(detail),
		 "%" PRId64 " events pruned (rows %" PRId64 "..%" PRId64 ", received %s to %s); "
		 "the log now starts after row %" PRId64 ", hash %s",
		 p->next.count, p->prev.through + 1, p->next.through, first, last, p->next.through,
		 hex);
	struct ctl_audit_event e = { .time = now_ms, .type = "admin.audit.prune" };
	e.str[CTL_AUDIT_DETAIL] = detail;
	char *body = ctl_audit_body(&e, now_ms, "", 0, actor, "");
	struct ctl_audit_rec rec = {
		.received_ms = now_ms, .type = e.type, .node = "", .who = actor, .body = body
	};
	int rc = body ? s->ops->audit_prune(s, p->prev.through, &p->next, &rec) : -ENOMEM;
	free(body);
	if (rc == -ESTALE)
		snprintf(err, errlen,
			 "the audit log changed under the prune (another prune?); "
			 "nothing pruned: run it again");
	else if (rc)
		snprintf(err, errlen, "cannot prune the audit log: %s", strerror(-rc));
	else
		*event_id = rec.id;
	return rc;
}
