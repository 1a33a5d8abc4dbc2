/* The audit log's hash chain, shared by both backends, and `meshcontrol audit verify`.
 *
 * Row id's hash is SHA-256(prev || le64(id) || body), prev being row id-1's hash (32 zero
 * bytes for row 1), so each row commits to every row before it.  Someone who can write the
 * database can still rewrite a row and every hash after it; the head hash an operator
 * recorded (verify prints it) catches that, and a tail cut off, later (--head).  The columns
 * the filters read (type, node, who, ...) are copies of the body's members: verify checks
 * them too, so a row cannot be hidden from `meshctl audit --type=...` by editing one. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

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

int ctl_audit_verify(struct ctl_store *s, const char *head_hex, FILE *report, char *err,
		     size_t errlen)
{
	uint8_t head[CTL_AUDIT_HASH_LEN];
	size_t got = 0;
	struct walk w = { .err = err, .errlen = errlen };
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
	for (;;) {
		int64_t before = w.rows;
		struct ctl_audit_filter f = { .after = w.last, .limit = VERIFY_PAGE };
		int rc = s->ops->audit_list(s, &f, walk_row, &w);
		if (rc) {
			if (!err[0])
				snprintf(err, errlen, "cannot read the audit log: %s",
					 strerror(-rc));
			return rc;
		}
		if (w.rows - before < VERIFY_PAGE)
			break;
	}
	char hex[2 * CTL_AUDIT_HASH_LEN + 1];
	sodium_bin2hex(hex, sizeof(hex), w.prev, sizeof(w.prev));
	if (w.head && !w.head_seen) {
		snprintf(err, errlen,
			 "audit head %s is not in the log: rows cut off its end? (last row %" PRId64
			 ", hash %s)",
			 head_hex, w.last, hex);
		return -EBADMSG;
	}
	fprintf(report, "%" PRId64 " rows checked, head %s\n", w.rows, w.last ? hex : "none");
	return 0;
}
