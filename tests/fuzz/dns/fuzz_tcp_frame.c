/* dns/: DNS over TCP's framing (dns_tcp_frame) on a stream of arbitrary bytes, fed in
 * pieces the first bytes choose, as meshd's TCP clients and upstream connections read it.
 * Invariants: a message is never empty nor over the limit, never reaches past the bytes
 * buffered, equals the length its two bytes say, and once the reader refuses it refuses for
 * good (the same answer for the same bytes). */
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[2 + DNS_TCP_MAX];
	if (size < 3)
		return 0;
	size_t max = (size_t)(data[0] << 8 | data[1]), step = 1 + data[2] % 64, have = 0;
	data += 3;
	size -= 3;
	for (size_t fed = 0; fed < size;) {
		size_t piece = step < size - fed ? step : size - fed;
		if (have + piece > sizeof(buf))
			return 0;
		memcpy(buf + have, data + fed, piece);
		have += piece;
		fed += piece;
		for (;;) {
			size_t n;
			const char *why = NULL;
			int rc = dns_tcp_frame(buf, have, max, &n, &why);
			if (rc < 0) {
				size_t n2;
				const char *why2 = NULL;
				if (!why || dns_tcp_frame(buf, have, max, &n2, &why2) != rc ||
				    why2 != why)
					abort();
				return 0;
			}
			if (rc == 0)
				break;
			if (n == 0 || n > max || 2 + n > have ||
			    n != (size_t)(buf[0] << 8 | buf[1]))
				abort();
			memmove(buf, buf + 2 + n, have - 2 - n);
			have -= 2 + n;
		}
	}
	return 0;
}
