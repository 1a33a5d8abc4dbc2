/* Fuzz target for the SOCKS5 parsers (RFC 1928 greeting and request), fed in arbitrary
 * pieces as a client's bytes would arrive: the first byte picks where the input splits
 * into greeting and request.  Checks the parsers' own contracts: a completed request
 * never claims more bytes than it was given, and a result never changes once complete. */
#include <stdlib.h>
#include <string.h>

#include "netstack/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t split = data[0] % (size < 64 ? size : 64);
	data++;
	size--;
	if (split > size)
		split = size;
	size_t used = 0;
	bool noauth = false;
	int g = ns__socks_parse_greeting(data, split, &used, &noauth);
	if (g == 0 && used > split)
		abort();
	struct ns__socks_request req, again;
	const uint8_t *r = data + split;
	size_t n = size - split, u1 = 0, u2 = 0;
	/* byte by byte, as a slow client sends it */
	int first = 1;
	size_t at = 0;
	for (size_t k = 0; k <= n && first == 1; k++) {
		first = ns__socks_parse_request(r, k, &req, &u1);
		at = k;
	}
	if (first == 0) {
		if (u1 > at || (req.family != AF_INET && req.family != AF_INET6 &&
				!(req.family == 0 && req.name[0] && strlen(req.name) < 256)))
			abort();
		if (ns__socks_parse_request(r, n, &again, &u2) != 0 || u2 != u1 ||
		    memcmp(&req, &again, sizeof(req)) != 0)
			abort();
	}
	return 0;
}
