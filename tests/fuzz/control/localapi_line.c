/* Fuzz target: meshd's local-socket framing (ctl_lapi_line_feed), what any local user
 * controls byte by byte.  The first byte picks the chunk sizes the input arrives in and
 * the limit; the line found must be exactly the bytes before the first newline when they
 * fit, an -EMSGSIZE when they do not, whatever the chunking; the line then goes to the
 * request parser as meshd would hand it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/localapi/localapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned seed = data[0];
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	size_t max = seed & 0x80 ? (size_t)(seed & 0x3f) : CTL_LAPI_MAX_LINE;
	struct ctl_lapi_line l = { .max = max };
	int rc = 0;
	size_t off = 0;
	while (off < n && rc == 0) {
		size_t chunk = 1 + (seed * (off + 7)) % 17; /* 1..17 bytes at a time */
		if (chunk > n - off)
			chunk = n - off;
		rc = ctl_lapi_line_feed(&l, p + off, chunk);
		off += chunk;
	}
	const char *nl = memchr(p, '\n', n);
	size_t want = nl ? (size_t)(nl - p) : n;
	if (want > max) {
		if (rc != -EMSGSIZE)
			abort(); /* a line longer than the limit was taken */
	} else if (nl) {
		if (rc != 1 || l.len != want || memcmp(l.buf, p, want) != 0 || l.buf[want] != '\0')
			abort(); /* the line is not the bytes before the first newline */
		if (ctl_lapi_line_feed(&l, "x\n", 2) != 1 || l.len != want)
			abort(); /* bytes after the line changed it */
		struct ctl_lapi_request r;
		char err[256];
		if (ctl_lapi_request_parse(l.buf, l.len, &r, err, sizeof(err)) == 0)
			ctl_lapi_request_clear(&r);
	} else if (rc != 0) {
		abort(); /* no newline yet, within the limit: more is needed */
	}
	ctl_lapi_line_clear(&l);
	return 0;
}
