/* Audit events (audit.h): the type names, the text rule every string member keeps, and the
 * queue file's record codec (record.h). */
#include <stddef.h>
#include <string.h>

#include <zlib.h>

#include "audit/audit.h"
#include "audit/record.h"
#include "common/text.h"

static const char *const type_names[AUDIT_TYPE_COUNT] = {
	[AUDIT_SSH_ACCEPT] = "ssh.accept",
	[AUDIT_SSH_REFUSE] = "ssh.refuse",
	[AUDIT_SSH_CHECK_HOLD] = "ssh.check.hold",
	[AUDIT_SSH_CHECK_APPROVE] = "ssh.check.approve",
	[AUDIT_SSH_CHECK_REJECT] = "ssh.check.reject",
	[AUDIT_SSH_REVOKE] = "ssh.revoke",
	[AUDIT_SSH_SESSION_START] = "ssh.session.start",
	[AUDIT_SSH_SESSION_END] = "ssh.session.end",
	[AUDIT_SSH_SESSION_KILL] = "ssh.session.kill",
	[AUDIT_SSH_FORWARD] = "ssh.forward",
	[AUDIT_RECORD_FAIL] = "record.fail",
	[AUDIT_LOST] = "audit.lost",
};

const char *const audit_field_names[AUDIT_FIELD_COUNT] = {
	"conn", "session", "src", "src_node", "who", "ssh_user", "local_user", "rule", "detail",
};

char *audit_field(struct audit_event *e, size_t i)
{
	char *const m[AUDIT_FIELD_COUNT] = { e->conn,	    e->session, e->src,
					     e->src_node,   e->who,	e->ssh_user,
					     e->local_user, e->rule,	e->detail };
	return i < AUDIT_FIELD_COUNT ? m[i] : NULL;
}

const char *audit_field_get(const struct audit_event *e, size_t i)
{
	return audit_field((struct audit_event *)e, i);
}

const char *audit_type_name(enum audit_type t)
{
	return (unsigned)t < AUDIT_TYPE_COUNT ? type_names[t] : NULL;
}

bool audit_type_parse(const char *name, enum audit_type *out)
{
	for (unsigned i = 0; i < AUDIT_TYPE_COUNT; i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*out = (enum audit_type)i;
			return true;
		}
	}
	return false;
}

bool audit_text_valid(const char *s, size_t len)
{
	return len <= AUDIT_TEXT_MAX && text_clean_valid(s, len);
}

/* C1 controls too: control refuses them in an event, so an event with one would be refused
 * at every try and hold up the queue behind it. */
void audit_text_set(char dst[static AUDIT_TEXT_MAX + 1], const char *text)
{
	text_clean(dst, AUDIT_TEXT_MAX + 1, text);
}

/* ---- records ---- */

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

size_t audit_record_encode(const struct audit_record *r, uint8_t *buf)
{
	uint8_t *p = buf + AUDIT_REC_HEAD;
	*p++ = (uint8_t)r->kind;
	if (r->kind == AUDIT_REC_ACK) {
		put_u64(p, r->ack);
		p += 8;
	} else {
		put_u64(p, r->ev.seq);
		put_u64(p + 8, (uint64_t)r->ev.time_ms);
		p[16] = (uint8_t)r->ev.type;
		p += 17;
		for (size_t i = 0; i < AUDIT_FIELD_COUNT; i++) {
			const char *s = audit_field_get(&r->ev, i);
			size_t n = strnlen(s, AUDIT_TEXT_MAX);
			put_u16(p, (uint16_t)n);
			memcpy(p + 2, s, n);
			p += 2 + n;
		}
	}
	size_t len = (size_t)(p - buf) - AUDIT_REC_HEAD;
	put_u32(buf, (uint32_t)len);
	put_u32(buf + 4, (uint32_t)crc32(0, buf + AUDIT_REC_HEAD, (uInt)len));
	return AUDIT_REC_HEAD + len;
}

static enum audit_rec_status bad(const char **why, const char *what)
{
	*why = what;
	return AUDIT_REC_BAD;
}

enum audit_rec_status audit_record_decode(const uint8_t *buf, size_t len, struct audit_record *out,
					  size_t *used, const char **why)
{
	*why = "torn record";
	if (len < AUDIT_REC_HEAD)
		return AUDIT_REC_SHORT;
	uint32_t n = get_u32(buf);
	if (n == 0 || n > AUDIT_REC_PAYLOAD_MAX)
		return bad(why, "bad record length");
	if (len - AUDIT_REC_HEAD < n)
		return AUDIT_REC_SHORT;
	const uint8_t *p = buf + AUDIT_REC_HEAD, *end = p + n;
	if (get_u32(buf + 4) != (uint32_t)crc32(0, p, n))
		return bad(why, "bad checksum");
	memset(out, 0, sizeof(*out));
	out->kind = (enum audit_rec_kind) * p++;
	if (out->kind == AUDIT_REC_ACK) {
		if (end - p != 8)
			return bad(why, "bad ack record");
		out->ack = get_u64(p);
		if (out->ack > AUDIT_SEQ_MAX)
			return bad(why, "seq out of range");
	} else if (out->kind == AUDIT_REC_EVENT) {
		if (end - p < 17)
			return bad(why, "short event record");
		out->ev.seq = get_u64(p);
		out->ev.time_ms = (int64_t)get_u64(p + 8);
		if (out->ev.seq == 0 || out->ev.seq > AUDIT_SEQ_MAX)
			return bad(why, "seq out of range");
		if (p[16] >= AUDIT_TYPE_COUNT)
			return bad(why, "unknown event type");
		out->ev.type = (enum audit_type)p[16];
		p += 17;
		for (size_t i = 0; i < AUDIT_FIELD_COUNT; i++) {
			if (end - p < 2)
				return bad(why, "short event record");
			size_t k = (size_t)p[0] | (size_t)p[1] << 8;
			p += 2;
			if ((size_t)(end - p) < k || !audit_text_valid((const char *)p, k))
				return bad(why, "bad text in an event");
			char *dst = audit_field(&out->ev, i);
			memcpy(dst, p, k);
			dst[k] = '\0';
			p += k;
		}
		if (p != end)
			return bad(why, "trailing bytes in an event record");
	} else {
		return bad(why, "unknown record kind");
	}
	*used = AUDIT_REC_HEAD + n;
	return AUDIT_REC_OK;
}

size_t audit_batch_fit(const struct audit_event *v, size_t n, size_t max_bytes)
{
	size_t total = 0, k;
	for (k = 0; k < n; k++) {
		const struct audit_event *e = &v[k];
		const char *text[] = { e->conn,	    e->session,	   e->src,  e->src_node, e->who,
				       e->ssh_user, e->local_user, e->rule, e->detail };
		size_t worst = 256; /* names, quotes, seq, time, type */
		for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
			worst += 3 * strlen(text[i]);
		if (k && total + worst > max_bytes)
			break;
		total += worst;
	}
	return k;
}
