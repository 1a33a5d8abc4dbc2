/* A growable string for the text control sends (map messages, filters): appends are
 * amortized O(length) with memcpy, and running out of memory is remembered (oom) and checked
 * once at the end.  open_memstream and fprintf cost 8 KiB of zeroing per stream and a byte
 * loop per %s: a third of meshcontrol's registration work at 1 000 nodes (#21). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "control/server/internal.h"

void ctl__sb_add(struct ctl__sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->s, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void ctl__sb_str(struct ctl__sbuf *b, const char *s)
{
	ctl__sb_add(b, s, strlen(s));
}

void ctl__sb_fmt(struct ctl__sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	ctl__sb_add(b, tmp, n < 0 ? 0 : (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A byte in decimal into out: its length. */
static size_t dec_u8(char *out, unsigned v)
{
	size_t k = 0;
	if (v >= 100)
		out[k++] = (char)('0' + v / 100);
	if (v >= 10)
		out[k++] = (char)('0' + v / 10 % 10);
	out[k++] = (char)('0' + v % 10);
	return k;
}

void ctl__sb_prefix(struct ctl__sbuf *b, const struct addr_prefix *p)
{
	char t[ADDR_TEXT_MAX];
	if (p->ip.family != AF_INET || p->bits > 32) {
		ctl__sb_str(b, addr_prefix_format(p, t));
		return;
	}
	/* IPv4 by hand, as addr_prefix_format writes it: inet_ntop and snprintf cost ~3 000
	 * instructions an address, and every compile writes each node's address */
	size_t k = 0;
	for (int i = 0; i < 4; i++) {
		k += dec_u8(t + k, p->ip.bytes[i]);
		t[k++] = i < 3 ? '.' : '/';
	}
	k += dec_u8(t + k, p->bits);
	ctl__sb_add(b, t, k);
}
