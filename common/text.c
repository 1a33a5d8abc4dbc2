/* Text from outside made safe to store, send as JSON and show (text.h). */
#include <string.h>

#include "common/text.h"

/* The length of the well-formed UTF-8 sequence at s (n bytes left), 0 when ill-formed
 * (overlong, surrogate, past U+10FFFF, cut short, stray continuation); *bad gets the
 * length of the ill-formed part, its maximal subpart (Unicode's "substitution of maximal
 * subparts": a cut-short sequence is one replacement, not one per byte). */
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

/* A control character, of k bytes at s: C0, DEL or C1 (U+0080-U+009F, "\xc2\x80".."\xc2\x9f");
 * none of them belongs in a log, an audit row or a terminal. */
static bool is_control(const uint8_t *s, size_t k)
{
	return (k == 1 && (s[0] < 0x20 || s[0] == 0x7f)) ||
	       (k == 2 && s[0] == 0xc2 && s[1] <= 0x9f);
}

bool text_clean_valid(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_len(p + i, len - i);
		if (k == 0 || is_control(p + i, k))
			return false;
		i += k;
	}
	return true;
}

size_t text_clean(char *dst, size_t size, const char *src)
{
	const uint8_t *p = (const uint8_t *)(src ? src : "");
	size_t n = strlen((const char *)p), o = 0;
	if (!size)
		return 0;
	for (size_t i = 0; i < n;) {
		size_t bad, k = utf8_len_bad(p + i, n - i, &bad);
		if (k == 0 || is_control(p + i, k)) {
			if (o + 1 >= size)
				break;
			dst[o++] = '?';
			i += k ? k : bad;
			continue;
		}
		if (o + k >= size)
			break;
		memcpy(dst + o, p + i, k);
		o += k;
		i += k;
	}
	dst[o] = '\0';
	return o;
}
