/* A JSON text into jansson values: what json_loadb(text, len, flags, error) gives, made
 * faster.  jansson reads a byte at a time through a stream that checks each one, saves it
 * and copies every string twice: ~136 instructions a byte, 57 % of a simulated laptop's
 * policy change at 1 000 nodes (a delta of ~5 KB: 200 address strings; #21).  This parser
 * scans runs of plain bytes and makes a string straight from the text, or from one scratch
 * buffer when it has escapes.
 *
 * Its grammar is jansson 2.14's (RFC 8259): an object or an array at the top, whitespace
 * ' ' '\t' '\n' '\r', no trailing commas, numbers with no leading zero (an integer when it
 * has no '.', 'e' or 'E': a json_int_t, refused past its range; otherwise a real, refused
 * past a double's), strings of valid UTF-8 (no overlong form, no surrogate, nothing past
 * U+10FFFF) with no byte below 0x20 and no \u0000, \u escapes' surrogates in pairs, at most
 * JSON_PARSER_MAX_DEPTH values deep; a key seen twice replaces the first's value, or is
 * refused with JSON_REJECT_DUPLICATES.  Stricter in one thing: a NUL byte is refused
 * wherever it is (jansson's stream drops one that follows a number or a true, false or
 * null: "[2\0]" is [2] to it).  Unlike jansson, json_error_code() of a refusal says
 * nothing (no caller reads it).  Unit
 * control-json_load holds it to jansson's values and refusals case by case, the fuzz target
 * control-json-load over any input (the same text dumped, key order included, or both refuse). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/netmap/netmap_json.h"

struct jl {
	const unsigned char *p, *start, *end;
	size_t flags;
	json_error_t *error;
	char *buf; /* scratch: a string with escapes, a number's text */
	size_t cap;
};

static json_t *fail(struct jl *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static json_t *fail(struct jl *l, const char *fmt, ...)
{
	if (!l->error || l->error->text[0]) /* the first reason stands */
		return NULL;
	va_list ap;
	char what[JSON_ERROR_TEXT_LENGTH - 32]; /* room for " at byte N" */
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(l->error->text, sizeof(l->error->text), "%s at byte %zu", what,
		 (size_t)(l->p - l->start));
	l->error->position = (int)(l->p - l->start);
	return NULL;
}

static bool grow(struct jl *l, size_t need)
{
	if (need <= l->cap)
		return true;
	size_t cap = l->cap ? l->cap : 256;
	while (cap < need)
		cap *= 2;
	char *b = realloc(l->buf, cap);
	if (!b)
		return false;
	l->buf = b;
	l->cap = cap;
	return true;
}

static void skip_ws(struct jl *l)
{
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\n' || *l->p == '\t' || *l->p == '\r'))
		l->p++;
}

/* The length of the valid UTF-8 sequence of two to four bytes at p (jansson's utf8_check_*
 * rules), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t n;
	uint32_t v;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, v = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, v = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, v = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
	    (n == 4 && v < 0x10000))
		return 0;
	return n;
}

static int hex4(const unsigned char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

static size_t utf8_put(char *t, uint32_t v)
{
	if (v < 0x80) {
		t[0] = (char)v;
		return 1;
	}
	if (v < 0x800) {
		t[0] = (char)(0xC0 | v >> 6);
		t[1] = (char)(0x80 | (v & 0x3F));
		return 2;
	}
	if (v < 0x10000) {
		t[0] = (char)(0xE0 | v >> 12);
		t[1] = (char)(0x80 | (v >> 6 & 0x3F));
		t[2] = (char)(0x80 | (v & 0x3F));
		return 3;
	}
	t[0] = (char)(0xF0 | v >> 18);
	t[1] = (char)(0x80 | (v >> 12 & 0x3F));
	t[2] = (char)(0x80 | (v >> 6 & 0x3F));
	t[3] = (char)(0x80 | (v & 0x3F));
	return 4;
}

/* The string whose opening quote l->p is on: *s (in the text, or in l->buf when it had
 * escapes) and *len, l->p past its closing quote.  false: refused (l->error). */
static bool scan_string(struct jl *l, const char **s, size_t *len)
{
	const unsigned char *begin = l->p + 1, *p = begin, *end = l->end, *run;
	size_t n = 0;
	bool in_buf = false;
	for (;;) {
		run = p;
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (in_buf) {
			if (!grow(l, n + (size_t)(p - run)))
				return fail(l, "out of memory"), false;
			memcpy(l->buf + n, run, (size_t)(p - run));
			n += (size_t)(p - run);
		}
		l->p = p;
		if (p == end)
			return fail(l, "end of text inside a string"), false;
		if (*p == '"')
			break;
		if (*p < 0x20)
			return fail(l, "control character 0x%02x in a string", *p), false;
		if (*p >= 0x80) {
			size_t k = utf8_len(p, end);
			if (!k)
				return fail(l, "invalid UTF-8 byte 0x%02x", *p), false;
			if (in_buf) {
				if (!grow(l, n + k))
					return fail(l, "out of memory"), false;
				memcpy(l->buf + n, p, k);
				n += k;
			}
			p += k;
			continue;
		}
		/* an escape: from here on the string is made in l->buf */
		if (!in_buf) {
			n = (size_t)(p - begin);
			if (!grow(l, n + 4))
				return fail(l, "out of memory"), false;
			memcpy(l->buf, begin, n);
			in_buf = true;
		}
		if (end - p < 2)
			return fail(l, "end of text inside a string"), false;
		static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
		const char *k = memchr(from, p[1], sizeof(from) - 1);
		if (!grow(l, n + 4))
			return fail(l, "out of memory"), false;
		if (k && p[1]) {
			l->buf[n++] = to[k - from];
			p += 2;
			continue;
		}
		if (p[1] != 'u')
			return fail(l, "invalid escape '\\%c'",
				    p[1] >= 0x20 && p[1] < 0x7F ? p[1] : '?'),
			       false;
		int v = end - p >= 6 ? hex4(p + 2) : -1;
		if (v < 0)
			return fail(l, "invalid \\u escape"), false;
		p += 6;
		if (v >= 0xDC00 && v <= 0xDFFF)
			return fail(l, "invalid Unicode '\\u%04X' (a second surrogate alone)", v),
			       false;
		if (v >= 0xD800 && v <= 0xDBFF) {
			int w = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -2;
			if (w == -1)
				return fail(l, "invalid \\u escape"), false;
			if (w < 0xDC00 || w > 0xDFFF)
				return fail(l,
					    "invalid Unicode '\\u%04X' (a first surrogate alone)",
					    v),
				       false;
			p += 6;
			v = ((v - 0xD800) << 10) + (w - 0xDC00) + 0x10000;
		}
		if (!v)
			return fail(l, "\\u0000 in a string"), false;
		n += utf8_put(l->buf + n, (uint32_t)v);
	}
	l->p = p + 1;
	*s = in_buf ? l->buf : (const char *)begin;
	*len = in_buf ? n : (size_t)(p - begin);
	return true;
}

static bool digits(struct jl *l)
{
	const unsigned char *p = l->p;
	while (l->p < l->end && *l->p >= '0' && *l->p <= '9')
		l->p++;
	return l->p > p;
}

/* A number at l->p (jansson's lexer's grammar and conversions: strtoll, strtod). */
static json_t *scan_number(struct jl *l)
{
	const unsigned char *p = l->p;
	bool real = false;
	if (l->p < l->end && *l->p == '-')
		l->p++;
	if (l->p < l->end && *l->p == '0') {
		l->p++;
		if (l->p < l->end && *l->p >= '0' && *l->p <= '9')
			return fail(l, "a number with a leading zero");
	} else if (!digits(l)) {
		return fail(l, "invalid token");
	}
	if (l->p < l->end && *l->p == '.') {
		l->p++;
		real = true;
		if (!digits(l))
			return fail(l, "no digit after a number's '.'");
	}
	if (l->p < l->end && (*l->p == 'e' || *l->p == 'E')) {
		l->p++;
		real = true;
		if (l->p < l->end && (*l->p == '+' || *l->p == '-'))
			l->p++;
		if (!digits(l))
			return fail(l, "no digit in a number's exponent");
	}
	size_t n = (size_t)(l->p - p);
	json_t *j;
	if (!real && n < 19) { /* 18 digits: no overflow */
		json_int_t v = 0;
		for (const unsigned char *d = p + (*p == '-'); d < l->p; d++)
			v = v * 10 + (*d - '0');
		j = json_integer(*p == '-' ? -v : v);
		return j ? j : fail(l, "out of memory");
	}
	if (!grow(l, n + 1))
		return fail(l, "out of memory");
	memcpy(l->buf, p, n);
	l->buf[n] = 0;
	errno = 0;
	if (!real) {
		long long v = strtoll(l->buf, NULL, 10);
		if (errno == ERANGE)
			return fail(l, "integer out of range");
		j = json_integer((json_int_t)v);
		return j ? j : fail(l, "out of memory");
	}
	char *stop;
	double d = strtod(l->buf, &stop);
	if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
		return fail(l, "real number out of range");
	if (stop != l->buf + n) /* a locale whose decimal point is not '.': never a wrong value */
		return fail(l, "real number not read whole (the locale's decimal point)");
	j = json_real(d);
	return j ? j : fail(l, "out of memory");
}

static json_t *value(struct jl *l, int depth);

static json_t *object(struct jl *l, int depth)
{
	json_t *o = json_object();
	if (!o)
		return fail(l, "out of memory");
	l->p++;
	skip_ws(l);
	if (l->p < l->end && *l->p == '}') {
		l->p++;
		return o;
	}
	for (;;) {
		const char *key;
		size_t len;
		char small[64], *copy = NULL;
		if (l->p == l->end || *l->p != '"') {
			fail(l, "a key (a string) expected");
			goto bad;
		}
		if (!scan_string(l, &key, &len))
			goto bad;
		if (key == l->buf) { /* the value's text would reuse l->buf */
			copy = len < sizeof(small) ? small : malloc(len + 1);
			if (!copy) {
				fail(l, "out of memory");
				goto bad;
			}
			memcpy(copy, key, len);
			key = copy;
		}
		if ((l->flags & JSON_REJECT_DUPLICATES) && json_object_getn(o, key, len)) {
			fail(l, "duplicate object key");
			goto bad_key;
		}
		skip_ws(l);
		if (l->p == l->end || *l->p != ':') {
			fail(l, "':' expected");
			goto bad_key;
		}
		l->p++;
		skip_ws(l);
		json_t *v = value(l, depth + 1);
		if (!v || json_object_setn_new_nocheck(o, key, len, v)) {
			if (v)
				fail(l, "out of memory");
			goto bad_key;
		}
		if (copy != small)
			free(copy);
		skip_ws(l);
		if (l->p < l->end && *l->p == ',') {
			l->p++;
			skip_ws(l);
			continue;
		}
		if (l->p < l->end && *l->p == '}') {
			l->p++;
			return o;
		}
		fail(l, "',' or '}' expected");
		goto bad;
	bad_key:
		if (copy != small)
			free(copy);
		goto bad;
	}
bad:
	json_decref(o);
	return NULL;
}

static json_t *array(struct jl *l, int depth)
{
	json_t *a = json_array();
	if (!a)
		return fail(l, "out of memory");
	l->p++;
	skip_ws(l);
	if (l->p < l->end && *l->p == ']') {
		l->p++;
		return a;
	}
	for (;;) {
		json_t *v = value(l, depth + 1);
		if (!v)
			break;
		if (json_array_append_new(a, v)) {
			fail(l, "out of memory");
			break;
		}
		skip_ws(l);
		if (l->p < l->end && *l->p == ',') {
			l->p++;
			skip_ws(l);
			continue;
		}
		if (l->p < l->end && *l->p == ']') {
			l->p++;
			return a;
		}
		fail(l, "',' or ']' expected");
		break;
	}
	json_decref(a);
	return NULL;
}

/* The word at l->p is w (and no letter follows it: jansson reads a token's letters whole). */
static bool word(struct jl *l, const char *w, size_t n)
{
	if ((size_t)(l->end - l->p) < n || memcmp(l->p, w, n) != 0)
		return false;
	const unsigned char *q = l->p + n;
	if (q < l->end && ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z'))
		return false;
	l->p = q;
	return true;
}

/* The value at l->p (no whitespace before it), depth values deep counting itself. */
static json_t *value(struct jl *l, int depth)
{
	if (depth > JSON_PARSER_MAX_DEPTH)
		return fail(l, "more than %d values deep", JSON_PARSER_MAX_DEPTH);
	if (l->p == l->end)
		return fail(l, "a value expected, end of text found");
	switch (*l->p) {
	case '{':
		return object(l, depth);
	case '[':
		return array(l, depth);
	case '"': {
		const char *s;
		size_t len;
		if (!scan_string(l, &s, &len))
			return NULL;
		json_t *j = json_stringn_nocheck(s, len);
		return j ? j : fail(l, "out of memory");
	}
	case 't':
		if (word(l, "true", 4))
			return json_true();
		break;
	case 'f':
		if (word(l, "false", 5))
			return json_false();
		break;
	case 'n':
		if (word(l, "null", 4))
			return json_null();
		break;
	default:
		if (*l->p == '-' || (*l->p >= '0' && *l->p <= '9'))
			return scan_number(l);
	}
	return fail(l, "invalid token");
}

json_t *ctl__json_loadb(const char *text, size_t len, size_t flags, json_error_t *error)
{
	struct jl l = {
		.p = (const unsigned char *)text,
		.start = (const unsigned char *)text,
		.end = (const unsigned char *)text + len,
		.flags = flags,
		.error = error,
	};
	json_t *j = NULL;
	if (error) {
		memset(error, 0, sizeof(*error));
		error->line = error->column = -1;
		snprintf(error->source, sizeof(error->source), "<buffer>");
	}
	if (!text) {
		fail(&l, "no text");
		return NULL;
	}
	if (flags & ~(size_t)JSON_REJECT_DUPLICATES) {
		fail(&l, "unsupported flags 0x%zx", flags);
		return NULL;
	}
	skip_ws(&l);
	if (l.p == l.end || (*l.p != '{' && *l.p != '['))
		fail(&l, "'[' or '{' expected");
	else if ((j = value(&l, 1))) {
		skip_ws(&l);
		if (l.p != l.end) {
			fail(&l, "end of text expected");
			json_decref(j);
			j = NULL;
		}
	}
	free(l.buf);
	return j;
}
