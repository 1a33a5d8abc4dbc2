/* common/sbuf.h: a growable string. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sbuf.h"

static bool grow(struct sbuf *b, size_t need)
{
	if (b->oom)
		return false;
	if (need <= b->cap)
		return true;
	size_t cap = need * 2;
	char *p = realloc(b->s, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->s = p;
	b->cap = cap;
	return true;
}

void sbuf_reserve(struct sbuf *b, size_t more)
{
	if (b->len + more + 1 > b->cap && !b->oom) {
		char *p = realloc(b->s, b->len + more + 1);
		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = b->len + more + 1;
	}
}

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (!grow(b, b->len + n + 1))
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sbuf_str(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void sbuf_fmt(struct sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->oom = true; /* never a cut text */
		return;
	}
	sbuf_add(b, tmp, (size_t)n);
}
