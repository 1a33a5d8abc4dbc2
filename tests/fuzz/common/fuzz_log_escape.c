/* Fuzz target for log_escape(), which every log line goes through with bytes from outside
 * (pre-auth SSH user names, host names).  Checks its contract: the output is one line of
 * printable text (no byte below 0x20, no DEL), it says how much of the input it took, and
 * undoing the escapes gives back exactly those input bytes. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t room = 1 + data[0] % 64 * 8; /* small buffers cut mid-input, too */
	data++;
	size--;
	char *out = malloc(room);
	uint8_t *back = malloc(size + 1);
	if (!out || !back)
		abort();
	size_t used = log_escape(out, room, (const char *)data, size);
	size_t olen = strlen(out);
	if (used > size || olen >= room || (used < size && olen + 4 < room - 1 && room > 5))
		abort(); /* claimed too much, overran, or stopped with room for any escape */
	size_t b = 0;
	for (size_t i = 0; i < olen; i++) {
		unsigned char c = (unsigned char)out[i];
		if (c < 0x20 || c == 0x7f)
			abort();
		if (c != '\\') {
			back[b++] = c;
			continue;
		}
		char e = out[++i];
		if (e == 'n' || e == 'r' || e == 't' || e == '\\') {
			back[b++] = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : '\\';
		} else if (e == 'x' && i + 2 < olen + 1 && hex(out[i + 1]) >= 0 &&
			   hex(out[i + 2]) >= 0) {
			back[b++] = (uint8_t)(hex(out[i + 1]) << 4 | hex(out[i + 2]));
			i += 2;
		} else {
			abort(); /* a backslash that is not one of our escapes */
		}
	}
	if (b != used || memcmp(back, data, used) != 0)
		abort();
	free(out);
	free(back);
	return 0;
}
