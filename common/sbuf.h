/* A growable string: appends are amortized O(length) with memcpy, and running out of memory
 * is remembered (oom) and checked once at the end.  Used where text is made piece by piece in
 * a hot path (control's map messages and filters, a node's netmap cache): open_memstream and
 * fprintf cost 8 KiB of zeroing per stream and a byte loop per %s (#21).
 *
 *   struct sbuf b = { 0 };          // s is NULL until the first append
 *   sbuf_str(&b, "{\"a\":");
 *   sbuf_fmt(&b, "%u}", 7);
 *   if (b.oom) ... ; use b.s, b.len; free(b.s);
 */
#ifndef MESH_COMMON_SBUF_H
#define MESH_COMMON_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *s; /* NUL-terminated once anything was appended */
	size_t len, cap;
	bool oom; /* an allocation failed (or sbuf_fmt's text was too long): nothing more goes in */
};

/* Room for len + more bytes at once (the size a text had last time). */
void sbuf_reserve(struct sbuf *b, size_t more);
void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_str(struct sbuf *b, const char *s);
/* printf-formatted text of at most 255 bytes; longer sets oom rather than cut it. */
void sbuf_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
