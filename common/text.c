/* Text from outside made safe to store, send as JSON and show (text.h). */
#include <string.h>

#include "common/text.h"
#include "common/utf8.h"

/* The character at s (n bytes left): its length when it is well formed and not a control
 * character, else 0 with *skip the bytes it covers (the ill-formed part, or the control). */
static size_t clean_char(const uint8_t *s, size_t n, size_t *skip)
{
	size_t k;
	enum utf8_state st = utf8_seq(s, n, &k);
	*skip = k;
	return st == UTF8_OK && !utf8_control(s, k) ? k : 0;
}

bool text_clean_valid(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	for (size_t i = 0; i < len;) {
		size_t skip;
		if (!clean_char(p + i, len - i, &skip))
			return false;
		i += skip;
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
		size_t skip, k = clean_char(p + i, n - i, &skip);
		if (k == 0) {
			if (o + 1 >= size)
				break;
			dst[o++] = '?';
			i += skip;
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
