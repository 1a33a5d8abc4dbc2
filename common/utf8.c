/* The one UTF-8 decoder (utf8.h). */
#include "common/utf8.h"

enum utf8_state utf8_seq(const uint8_t *s, size_t len, size_t *n)
{
	uint8_t b = s[0], lo = 0x80, hi = 0xbf;
	size_t need;
	*n = 1;
	if (b < 0x80)
		return UTF8_OK;
	if (b >= 0xc2 && b <= 0xdf) {
		need = 2;
	} else if (b >= 0xe0 && b <= 0xef) {
		need = 3;
		lo = b == 0xe0 ? 0xa0 : 0x80;
		hi = b == 0xed ? 0x9f : 0xbf;
	} else if (b >= 0xf0 && b <= 0xf4) {
		need = 4;
		lo = b == 0xf0 ? 0x90 : 0x80;
		hi = b == 0xf4 ? 0x8f : 0xbf;
	} else {
		return UTF8_BAD;
	}
	for (size_t k = 1; k < need; k++) {
		*n = k;
		if (k >= len)
			return UTF8_CUT;
		if (s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xbf))
			return UTF8_BAD;
	}
	*n = need;
	return UTF8_OK;
}
