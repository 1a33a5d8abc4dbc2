/* The asciicast v2 writer: a JSON header line and event lines into a caller's buffer, with
 * a JSON string escaper of arbitrary bytes (rec/asciicast.h says what each byte becomes). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"
#include "rec/asciicast.h"

/* Bytes that stand for themselves in a JSON string: printable ASCII but '"' and '\'. */
static bool json_plain(uint8_t c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* How many bytes at s are plain (json_plain), sixteen at a time: recording a bulk transfer
 * spends most of its escaping here (callgrind, tests/bench/record-upload: 14 instructions a
 * byte one by one, 9 eight at a time with a word's bit tricks; text has a newline every ~55
 * bytes).  GCC's vector extension (SSE2 on x86-64, NEON on arm64): as signed bytes, those
 * at or above 0x80 are negative, so "< 0x20" finds them with the control characters; each
 * lane that is not plain is all ones, and the first such byte is the answer. */
typedef int8_t rec_v16 __attribute__((vector_size(16)));

static size_t plain_run(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (len - i >= 16) {
		rec_v16 x;
		uint64_t w[2];
		memcpy(&x, s + i, 16);
		rec_v16 bad = (x < 0x20) | (x == 0x7f) | (x == '"') | (x == '\\');
		memcpy(w, &bad, 16);
		if (w[0] | w[1]) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + (w[0] ? (size_t)__builtin_ctzll(w[0]) / 8
					 : 8 + (size_t)__builtin_ctzll(w[1]) / 8);
#else
			break; /* the bytes below find it */
#endif
		}
		i += 16;
	}
	while (i < len && json_plain(s[i]))
		i++;
	return i;
}

ssize_t rec_json_escape(const uint8_t *s, size_t len, bool partial, size_t *used, char *out,
			size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	/* RFC 8259's two-character escapes: a terminal's "\r\n" is 4 bytes, not 12 */
	static const char short_esc[0x20] = {
		['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
	};
	size_t o = 0, i = 0;
	while (i < len) {
		/* the common case, a run of plain text, in one copy */
		size_t run = plain_run(s + i, len - i);
		if (run) {
			if (cap - o < run)
				return -ENOSPC;
			memcpy(out + o, s + i, run);
			o += run;
			i += run;
			continue;
		}
		size_t n = 1, tl = 2;
		char tmp[8];
		const char *src = tmp;
		uint8_t c = s[i];
		tmp[0] = '\\';
		if (c >= 0x80) { /* a UTF-8 sequence, kept when well formed */
			enum utf8_state st = utf8_seq(s + i, len - i, &n);
			if (st == UTF8_CUT && partial)
				break;
			if (st != UTF8_OK) {
				src = "\xef\xbf\xbd";
				tl = 3;
			} else {
				src = (const char *)s + i;
				tl = n;
			}
		} else if (c == '"' || c == '\\') {
			tmp[1] = (char)c;
		} else if (c < 0x20 && short_esc[c]) {
			tmp[1] = short_esc[c];
		} else { /* another control character, or DEL */
			memcpy(tmp, "\\u00", 4);
			tmp[4] = hex[c >> 4];
			tmp[5] = hex[c & 15];
			tl = 6;
		}
		if (cap - o < tl)
			return -ENOSPC;
		for (size_t k = 0; k < tl; k++) /* at most 6: no call to memcpy for it */
			out[o + k] = src[k];
		o += tl;
		i += n;
	}
	if (used)
		*used = i;
	return (ssize_t)o;
}

/* An output buffer that remembers running out of room. */
struct rec_out {
	char *b;
	size_t cap, n;
	bool full;
};

static void put(struct rec_out *o, const char *s, size_t n)
{
	if (o->full || o->cap - o->n < n) {
		o->full = true;
		return;
	}
	memcpy(o->b + o->n, s, n);
	o->n += n;
}

__attribute__((format(printf, 2, 3))) static void putf(struct rec_out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = o->full ? -1 : vsnprintf(o->b + o->n, o->cap - o->n, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->n)
		o->full = true;
	else
		o->n += (size_t)n;
}

#define put_lit(o, s) put(o, s, sizeof(s) - 1)

static void put_str(struct rec_out *o, const char *s, size_t len)
{
	put_lit(o, "\"");
	if (o->full)
		return;
	ssize_t n =
	    rec_json_escape((const uint8_t *)s, len, false, NULL, o->b + o->n, o->cap - o->n);
	if (n < 0)
		o->full = true;
	else
		o->n += (size_t)n;
	put_lit(o, "\"");
}

/* , "key": "value" when value is set */
static void put_member(struct rec_out *o, const char *key, const char *value)
{
	if (!value)
		return;
	putf(o, ", \"%s\": ", key);
	put_str(o, value, strlen(value));
}

static ssize_t done(const struct rec_out *o)
{
	return o->full ? -ENOSPC : (ssize_t)o->n;
}

ssize_t rec_cast_header(const struct rec_header *h, char *buf, size_t cap)
{
	struct rec_out o = { buf, cap, 0, false };
	putf(&o, "{\"version\": 2, \"width\": %u, \"height\": %u, \"timestamp\": %lld",
	     h->width ? h->width : 80, h->height ? h->height : 24, (long long)h->timestamp);
	put_member(&o, "command", h->command);
	if (h->term) {
		put_lit(&o, ", \"env\": {\"TERM\": ");
		put_str(&o, h->term, strlen(h->term));
		put_lit(&o, "}");
	}
	put_lit(&o, ", \"mesh\": {\"src_node\": ");
	put_str(&o, h->src_node ? h->src_node : "", h->src_node ? strlen(h->src_node) : 0);
	put_member(&o, "src_addr", h->src_addr);
	put_member(&o, "src_owner", h->src_owner);
	if (h->n_src_tags) {
		put_lit(&o, ", \"src_tags\": [");
		for (size_t i = 0; i < h->n_src_tags; i++) {
			if (i)
				put_lit(&o, ", ");
			put_str(&o, h->src_tags[i], strlen(h->src_tags[i]));
		}
		put_lit(&o, "]");
	}
	put_member(&o, "ssh_user", h->ssh_user);
	put_member(&o, "local_user", h->local_user);
	put_member(&o, "conn_id", h->conn_id);
	put_lit(&o, "}}\n");
	return done(&o);
}

void rec_cast_init(struct rec_cast *c, int64_t start_usec)
{
	memset(c, 0, sizeof(*c));
	c->start_usec = start_usec;
}

/* '[S.UUUUUU, "T", "' with the time since the start (never negative). */
static void event_start(const struct rec_cast *c, struct rec_out *o, int64_t now, char type)
{
	int64_t t = now > c->start_usec ? now - c->start_usec : 0;
	putf(o, "[%lld.%06lld, \"%c\", \"", (long long)(t / 1000000), (long long)(t % 1000000),
	     type);
}

static void escape_into(struct rec_out *o, const uint8_t *s, size_t len, bool partial, size_t *used)
{
	*used = 0;
	if (o->full)
		return;
	ssize_t n = rec_json_escape(s, len, partial, used, o->b + o->n, o->cap - o->n);
	if (n < 0)
		o->full = true;
	else
		o->n += (size_t)n;
}

ssize_t rec_cast_output(struct rec_cast *c, int64_t now_usec, const void *data, size_t len,
			char *buf, size_t cap)
{
	const uint8_t *d = data;
	struct rec_out o = { buf, cap, 0, false };
	uint8_t head[6], held[3];
	size_t n_head = c->n_held, off = 0, used = 0, n_held = 0;

	event_start(c, &o, now_usec, 'o');
	size_t mark = o.n;
	/* The held bytes with the few that may complete their sequence. */
	memcpy(head, c->held, c->n_held);
	while (n_head < sizeof(head) && off < len && off < 3)
		head[n_head++] = d[off++];
	escape_into(&o, head, n_head, true, &used);
	if (o.full)
		return -ENOSPC;
	if (used < c->n_held) {
		/* Still cut (a short chunk): everything is held, nothing is written. */
		if (n_head > sizeof(held))
			return -EINVAL; /* cannot happen: a cut sequence is under 4 bytes */
		memcpy(c->held, head, n_head);
		c->n_held = (uint8_t)n_head;
		return 0;
	}
	off = used - c->n_held;
	escape_into(&o, d + off, len - off, true, &used);
	if (o.full)
		return -ENOSPC;
	n_held = len - off - used; /* a cut sequence: under 4 bytes */
	memcpy(held, d + off + used, n_held);
	if (o.n == mark) {
		memcpy(c->held, held, n_held);
		c->n_held = (uint8_t)n_held;
		return 0;
	}
	put_lit(&o, "\"]\n");
	if (o.full)
		return -ENOSPC;
	memcpy(c->held, held, n_held);
	c->n_held = (uint8_t)n_held;
	return (ssize_t)o.n;
}

ssize_t rec_cast_resize(struct rec_cast *c, int64_t now_usec, unsigned width, unsigned height,
			char *buf, size_t cap)
{
	struct rec_out o = { buf, cap, 0, false };
	event_start(c, &o, now_usec, 'r');
	putf(&o, "%ux%u\"]\n", width, height);
	return done(&o);
}

/* An event of type carrying len bytes as one whole string (no sequence held back). */
static ssize_t text_event(struct rec_cast *c, int64_t now_usec, char type, const void *data,
			  size_t len, char *buf, size_t cap)
{
	struct rec_out o = { buf, cap, 0, false };
	size_t used;
	event_start(c, &o, now_usec, type);
	escape_into(&o, data, len, false, &used);
	put_lit(&o, "\"]\n");
	return done(&o);
}

ssize_t rec_cast_marker(struct rec_cast *c, int64_t now_usec, const char *label, char *buf,
			size_t cap)
{
	return text_event(c, now_usec, 'm', label, strlen(label), buf, cap);
}

ssize_t rec_cast_input(struct rec_cast *c, int64_t now_usec, const void *data, size_t len,
		       char *buf, size_t cap)
{
	return len ? text_event(c, now_usec, 'i', data, len, buf, cap) : 0;
}

ssize_t rec_cast_flush(struct rec_cast *c, int64_t now_usec, char *buf, size_t cap)
{
	if (!c->n_held)
		return 0;
	struct rec_out o = { buf, cap, 0, false };
	size_t used;
	event_start(c, &o, now_usec, 'o');
	escape_into(&o, c->held, c->n_held, false, &used);
	put_lit(&o, "\"]\n");
	if (o.full)
		return -ENOSPC;
	c->n_held = 0;
	return (ssize_t)o.n;
}
