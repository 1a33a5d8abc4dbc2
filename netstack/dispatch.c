/* Inbound dispatch: parse just enough of a decrypted IP packet to decide its path, then
 * look the facts up in one first-match table.  The table is the whole policy of where a
 * packet goes; core.c only gathers the facts (filter verdict, own address, registered
 * port) and carries the packet out. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "netstack/internal.h"

enum {
	IPPROTO_ICMP_ = 1,
	IPPROTO_TCP_ = 6,
	IPPROTO_UDP_ = 17,
	IPPROTO_ICMPV6_ = 58,
	IPPROTO_SCTP_ = 132,
	ICMP_ECHO_REPLY = 0,
	ICMP_ECHO_REQUEST = 8,
	ICMPV6_ECHO_REQUEST = 128,
	ICMPV6_ECHO_REPLY = 129,
	TCP_SYN_ = 0x02,
	TCP_ACK_ = 0x10,
	EXT_HOPOPTS = 0,
	EXT_ROUTING = 43,
	EXT_FRAGMENT = 44,
	EXT_DSTOPTS = 60,
	EXT_MAX = 8,
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* TCP options must be well formed: every option but EOL and NOP has a length byte inside
 * the header and a length that stays inside it.  lwIP 2.1.3's tcp_parseopt reads the length
 * byte of an option that ends the header one byte past it (found by fuzz-netstack-input),
 * so such segments never reach lwIP; no real TCP sends them. */
static bool tcp_options_ok(const uint8_t *opt, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (opt[i] == 0) /* end of options */
			return true;
		if (opt[i] == 1) { /* no-op */
			i++;
			continue;
		}
		if (i + 1 >= n || opt[i + 1] < 2 || i + opt[i + 1] > n)
			return false;
		i += opt[i + 1];
	}
	return true;
}

/* Fills ports / ICMP type from the transport header at l4 (n bytes available). */
static int parse_l4(struct ns_packet_info *pi, const uint8_t *l4, size_t n)
{
	switch (pi->proto) {
	case IPPROTO_TCP_:
		if (n < 20 || (size_t)(l4[12] >> 4) * 4 < 20 || (size_t)(l4[12] >> 4) * 4 > n ||
		    !tcp_options_ok(l4 + 20, (size_t)(l4[12] >> 4) * 4 - 20))
			return -EINVAL;
		pi->sport = get16(l4);
		pi->dport = get16(l4 + 2);
		pi->tcp_flags = l4[13];
		pi->tcp_seq = (uint32_t)get16(l4 + 4) << 16 | get16(l4 + 6);
		return 0;
	case IPPROTO_UDP_:
		if (n < 8)
			return -EINVAL;
		pi->sport = get16(l4);
		pi->dport = get16(l4 + 2);
		return 0;
	case IPPROTO_SCTP_:
		if (n < 12) /* the common header: ports, verification tag, checksum */
			return -EINVAL;
		pi->sport = get16(l4);
		pi->dport = get16(l4 + 2);
		return 0;
	case IPPROTO_ICMP_:
	case IPPROTO_ICMPV6_:
		if (n < 4)
			return -EINVAL;
		pi->sport = l4[0]; /* type */
		pi->dport = l4[1]; /* code */
		if (ns__is_echo_request(pi) || ns__is_echo_reply(pi)) {
			if (n < 8)
				return -EINVAL;
			pi->icmp_id = get16(l4 + 4);
		}
		return 0;
	default:
		return 0;
	}
}

static int parse4(const uint8_t *pkt, size_t len, struct ns_packet_info *pi, bool *fragment)
{
	if (len < 20)
		return -EINVAL;
	size_t ihl = (size_t)(pkt[0] & 15) * 4, total = get16(pkt + 2);
	if (ihl < 20 || total < ihl || total > len)
		return -EINVAL;
	pi->family = AF_INET;
	pi->proto = pkt[9];
	pi->len = total;
	memcpy(pi->src, pkt + 12, 4);
	memcpy(pi->dst, pkt + 16, 4);
	uint16_t frag = get16(pkt + 6);
	if (frag & 0x3fff) { /* MF set or a non-zero offset: no ports to look at */
		*fragment = true;
		return 0;
	}
	return parse_l4(pi, pkt + ihl, total - ihl);
}

static int parse6(const uint8_t *pkt, size_t len, struct ns_packet_info *pi, bool *fragment)
{
	if (len < 40)
		return -EINVAL;
	size_t total = 40 + (size_t)get16(pkt + 4);
	if (total > len)
		return -EINVAL;
	pi->family = AF_INET6;
	pi->len = total;
	memcpy(pi->src, pkt + 8, 16);
	memcpy(pi->dst, pkt + 24, 16);
	uint8_t next = pkt[6];
	size_t off = 40;
	for (int i = 0; i < EXT_MAX; i++) {
		if (next == EXT_FRAGMENT) {
			pi->proto = next;
			*fragment = true;
			return 0;
		}
		if (next != EXT_HOPOPTS && next != EXT_ROUTING && next != EXT_DSTOPTS)
			break;
		if (off + 8 > total)
			return -EINVAL;
		size_t ext = ((size_t)pkt[off + 1] + 1) * 8;
		if (off + ext > total)
			return -EINVAL;
		next = pkt[off];
		off += ext;
	}
	if (next == EXT_HOPOPTS || next == EXT_ROUTING || next == EXT_DSTOPTS)
		return -EINVAL; /* more extension headers than we walk */
	pi->proto = next;
	return parse_l4(pi, pkt + off, total - off);
}

int ns__parse(const uint8_t *pkt, size_t len, struct ns_packet_info *pi, bool *fragment)
{
	memset(pi, 0, sizeof(*pi));
	*fragment = false;
	if (len == 0)
		return -EINVAL;
	switch (pkt[0] >> 4) {
	case 4:
		return parse4(pkt, len, pi, fragment);
	case 6:
		return parse6(pkt, len, pi, fragment);
	default:
		return -EINVAL;
	}
}

/* ---- the table ---- */

enum tri { ANY = 0, YES, NO };
enum kind { K_ANY = 0, K_TCP, K_ECHO };

struct rule {
	uint8_t intercepted; /* (proto, port) registered with lwIP */
	uint8_t userspace;   /* mode */
	uint8_t kind;	     /* what the packet is */
	enum ns_path path;
	enum ns_drop drop;
};

/* First match wins, for packets that passed the checks in ns__classify. */
static const struct rule rules[] = {
	{ YES, ANY, K_ANY, NS_PATH_INTERCEPT, NS_DROP_NONE },
	{ NO, NO, K_ANY, NS_PATH_TUN, NS_DROP_NONE },
	{ NO, YES, K_TCP, NS_PATH_LOCAL, NS_DROP_NONE },
	{ NO, YES, K_ECHO, NS_PATH_LOCAL, NS_DROP_NONE },
	{ NO, YES, K_ANY, NS_PATH_DROP, NS_DROP_NO_HANDLER },
};

static bool tri_ok(uint8_t want, bool have)
{
	return want == ANY || (want == YES) == have;
}

/* TCP that neither opens a connection nor belongs to one we track: never the filter's to
 * judge ("not a SYN" is not a reply). */
static bool tcp_without_state(const struct ns__facts *f)
{
	return f->proto == IPPROTO_TCP_ && !f->tcp_new && !f->tracked;
}

bool ns__filter_judges(const struct ns__facts *f)
{
	return f->parsed && !f->fragment && f->own_dst && !f->tracked && !tcp_without_state(f);
}

bool ns__tcp_bare_syn(const struct ns_packet_info *pi)
{
	return pi->proto == IPPROTO_TCP_ && (pi->tcp_flags & (TCP_SYN_ | TCP_ACK_)) == TCP_SYN_;
}

/* The checks before the table, in order; the first that fails names the drop:
 *  - a fragment never passes: its first piece may hide the ports (or carry ports the
 *    second overwrites), and the kernel behind the TUN would reassemble what we never
 *    examined.  Tailnet peers send at most the tunnel MTU, so TCP never fragments;
 *  - only our own addresses are reachable from peers (no subnet routes yet): anything
 *    else would reach the node's LAN side through the TUN;
 *  - TCP passes unasked only inside a connection we opened or accepted, and otherwise
 *    only as a bare SYN, which the filter then judges ("not a SYN" is not a reply);
 *  - the filter (or the connection tracking) must have said yes. */
enum ns_path ns__classify(const struct ns__facts *f, enum ns_drop *drop)
{
	if (!f->parsed)
		*drop = NS_DROP_MALFORMED;
	else if (f->fragment)
		*drop = NS_DROP_FRAGMENT;
	else if (!f->own_dst)
		*drop = NS_DROP_NOT_OURS;
	else if (tcp_without_state(f))
		*drop = NS_DROP_NO_STATE;
	else if (!f->allowed)
		*drop = NS_DROP_FILTERED;
	else
		*drop = NS_DROP_NONE;
	if (*drop != NS_DROP_NONE)
		return NS_PATH_DROP;
	bool tcp = f->proto == IPPROTO_TCP_;
	bool userspace = f->mode == NS_MODE_USERSPACE;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct rule *r = &rules[i];
		if (!tri_ok(r->intercepted, f->intercepted) || !tri_ok(r->userspace, userspace))
			continue;
		if ((r->kind == K_TCP && !tcp) || (r->kind == K_ECHO && !f->echo_request))
			continue;
		*drop = r->drop;
		return r->path;
	}
	*drop = NS_DROP_NO_HANDLER;
	return NS_PATH_DROP;
}

bool ns__is_echo_request(const struct ns_packet_info *pi)
{
	return (pi->family == AF_INET && pi->proto == IPPROTO_ICMP_ &&
		pi->sport == ICMP_ECHO_REQUEST) ||
	       (pi->family == AF_INET6 && pi->proto == IPPROTO_ICMPV6_ &&
		pi->sport == ICMPV6_ECHO_REQUEST);
}

bool ns__is_echo_reply(const struct ns_packet_info *pi)
{
	return (pi->family == AF_INET && pi->proto == IPPROTO_ICMP_ &&
		pi->sport == ICMP_ECHO_REPLY) ||
	       (pi->family == AF_INET6 && pi->proto == IPPROTO_ICMPV6_ &&
		pi->sport == ICMPV6_ECHO_REPLY);
}
