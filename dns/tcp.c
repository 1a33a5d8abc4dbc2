/* DNS over TCP's framing (RFC 1035 4.2.2, RFC 7766 8): each message behind its length, two
 * bytes big-endian.  Pure, so the node's two TCP sides (clients of the tailnet resolver,
 * and upstreams after a truncated UDP answer) read the stream with the same code. */
#include <errno.h>

#include "dns/dns.h"

int dns_tcp_frame(const uint8_t *buf, size_t len, size_t max, size_t *msg_len, const char **why)
{
	*msg_len = 0;
	if (len < 2)
		return 0;
	size_t n = (size_t)buf[0] << 8 | buf[1];
	if (n == 0) {
		*why = "a zero-length message";
		return -EBADMSG;
	}
	if (n > max) {
		*why = "a message longer than the limit";
		return -EMSGSIZE;
	}
	if (len - 2 < n)
		return 0;
	*msg_len = n;
	return 1;
}
