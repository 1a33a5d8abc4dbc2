/* common/utf8.h: the one UTF-8 decoder, for every module that walks text from outside
 * (common/text.c cleans it, common/log.c escapes it for logs, rec/asciicast.c for JSON).
 *
 *	size_t n;
 *	switch (utf8_seq(s, len, &n)) {
 *	case UTF8_OK:  ...	// n bytes: one character (n == 1: ASCII)
 *	case UTF8_BAD: ...	// n bytes: the ill-formed part, to be one replacement
 *	case UTF8_CUT: ...	// the input ends inside a sequence well formed so far (n bytes)
 *	}
 */
#ifndef MESH_COMMON_UTF8_H
#define MESH_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum utf8_state { UTF8_OK, UTF8_BAD, UTF8_CUT };

/* The sequence at s (len >= 1 bytes): UTF8_OK and its length; UTF8_BAD and the length of
 * its maximal ill-formed prefix (Unicode's "substitution of maximal subparts": a sequence
 * cut short by another byte is one replacement, not one per byte); UTF8_CUT when the input
 * ends inside a sequence that was well formed so far.  Table 3-7 of the Unicode standard:
 * the second byte's range depends on the first (no overlongs, no surrogates, nothing past
 * U+10FFFF). */
enum utf8_state utf8_seq(const uint8_t *s, size_t len, size_t *n);

/* The character of n bytes at s (as utf8_seq found it) is a control character: C0, DEL or
 * C1 (U+0080-U+009F, "\xc2\x80".."\xc2\x9f"). */
static inline bool utf8_control(const uint8_t *s, size_t n)
{
	return (n == 1 && (s[0] < 0x20 || s[0] == 0x7f)) ||
	       (n == 2 && s[0] == 0xc2 && s[1] <= 0x9f);
}

#endif
