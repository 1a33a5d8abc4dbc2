/* Audit events (audit.h): the type names, the text rule every string member keeps, and the
 * queue file's record codec (record.h). */
#include <stddef.h>
#include <string.h>

#include <zlib.h>

#include "audit/audit.h"
#include "audit/record.h"

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

/* The length of the well-formed UTF-8 sequence at s (n bytes left), 0 when ill-formed
 * (overlong, surrogate, past U+10FFFF, cut short, stray continuation); *bad (may be NULL)
 * gets the length of the ill-formed part, its maximal subpart (Unicode's "substitution of
 * maximal subparts": a cut-short sequence is one replacement, not one per byte). */
static size_t utf8_len_bad(const uint8_t *s, size_t n, size_t *bad)
{
	uint8_t c = s[0];
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf;
	*bad = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	*bad = 1;
	if (n < 2 || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		*bad = i;
		if (i >= n || (s[i] & 0xc0) != 0x80)
			return 0;
	}
	return len;
}

static size_t utf8_len(const uint8_t *s, size_t n)
{
	size_t bad;
	return utf8_len_bad(s, n, &bad);
}

/* A control character, of k bytes at s: C0, DEL or C1 (U+0080-U+009F, "\xc2\x80".."\xc2\x9f").
 * control/server refuses all three in an event, so all three are cleaned here: an event
 * with one would be refused at every try and hold up the queue behind it. */
static bool is_control(const uint8_t *s, size_t k)
{
	return (k == 1 && (s[0] < 0x20 || s[0] == 0x7f)) ||
	       (k == 2 && s[0] == 0xc2 && s[1] <= 0x9f);
}

bool audit_text_valid(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	if (len > AUDIT_TEXT_MAX)
		return false;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_len(p + i, len - i);
		if (k == 0 || is_control(p + i, k))
			return false;
		i += k;
	}
	return true;
}

void audit_text_set(char dst[static AUDIT_TEXT_MAX + 1], const char *text)
{
	const uint8_t *p = (const uint8_t *)(text ? text : "");
	size_t n = strlen((const char *)p), o = 0;
	for (size_t i = 0; i < n;) {
		size_t bad, k = utf8_len_bad(p + i, n - i, &bad);
		if (k == 0 || is_control(p + i, k)) {
			if (o + 1 > AUDIT_TEXT_MAX)
				break;
			dst[o++] = '?';
			i += k ? k : bad;
			continue;
		}
		if (o + k > AUDIT_TEXT_MAX)
			break;
		memcpy(dst + o, p + i, k);
		o += k;
		i += k;
	}
	dst[o] = '\0';
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
