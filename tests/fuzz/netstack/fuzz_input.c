/* Fuzz target for the netstack's inbound path: parse, connection tracking, filter,
 * dispatch table, lwIP input, the bridge behind ns_listen() and userspace-mode forwarding.
 *
 * Input: one flags byte, then packets as [2-byte big-endian length][bytes].  A length
 * with its top bit set marks a packet this node sends (noted by the connection tracking,
 * as TUN reads are; lengths are then 15 bits).  Flags: bit 0 userspace mode (else TUN
 * mode, the TUN being a datagram socketpair), bit 1 repairs the IPv4 header and
 * TCP/UDP/ICMP checksums so packets get past lwIP's checks, bit 2 points the destination
 * (of an outbound packet: the source) at our own address, bit 3 makes the filter drop odd
 * ports too, bit 4 keeps IPv4 fragment fields through the repair, bit 5 points an outbound
 * packet (TUN mode: one the host sends) at the tailnet resolver's address, where
 * ns_dns_start's lwIP side answers it (UDP echoed back with ns_dns_send).  The
 * filter always keeps userspace-mode TCP to ports 22 (intercepted) and 1 (nothing listens
 * on 127.0.0.1:1: the refusal path), so fuzzing never talks to real local services. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/policy/policy.h"
#include "netstack/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t own4[4] = { 100, 64, 0, 1 };
static const uint8_t own6[16] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, [15] = 1 };

static uv_loop_t loop;
static struct ns *ns;
static int cur_mode = -1;
static int tun_peer = -1;

static int discard(void *ctx, const uint8_t *pkt, size_t len)
{
	return 0;
}

static void on_accept(void *ctx, int fd, const struct ns_packet_info *info)
{
	close(fd);
}

static const uint8_t res4[4] = { 100, 100, 100, 100 };
static const uint8_t res6[16] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0x53, [15] = 0x53 };

static void on_dns_datagram(void *ctx, const struct addr_endpoint *client, const uint8_t *msg,
			    size_t len)
{
	(void)ns_dns_send(ns, client, msg, len);
}

/* The filter as compiled rules: TCP only to ports 1 and 22 when flag 8 is set or in
 * userspace mode (there a SYN would be forwarded to 127.0.0.1:port); otherwise anything. */
static const struct addr_prefix any_net[] = { { .ip = { .family = AF_INET } },
					      { .ip = { .family = AF_INET6 } } };
static const struct pol_port_range all_ports[] = { { 0, 65535 } };
static const struct pol_port_range ports_1_22[] = { { 1, 1 }, { 22, 22 } };
static const uint8_t tcp[] = { IPPROTO_TCP },
		     not_tcp[] = { IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP };
static const struct pol_filter_rule tcp_1_22 = { .srcs = any_net,
						 .n_srcs = 2,
						 .dsts = any_net,
						 .n_dsts = 2,
						 .ports = ports_1_22,
						 .n_ports = 2,
						 .protos = tcp,
						 .n_protos = 1 };
static const struct pol_filter_rule rest = { .srcs = any_net,
					     .n_srcs = 2,
					     .dsts = any_net,
					     .n_dsts = 2,
					     .ports = all_ports,
					     .n_ports = 1,
					     .protos = not_tcp,
					     .n_protos = 4 };
static const struct pol_filter_rule everything = {
	.srcs = any_net, .n_srcs = 2, .dsts = any_net, .n_dsts = 2, .ports = all_ports, .n_ports = 1
};
static const struct pol_filter_rule *const strict[] = { &tcp_1_22 };
static const struct pol_filter_rule *const userspace_rules[] = { &tcp_1_22, &rest };
static const struct pol_filter_rule *const open_rules[] = { &everything };

static void setup(int mode)
{
	if (mode == cur_mode)
		return;
	if (ns) {
		ns_free(ns);
		uv_run(&loop, UV_RUN_DEFAULT);
		ns = NULL;
	} else {
		uv_loop_init(&loop);
	}
	if (tun_peer >= 0)
		close(tun_peer);
	tun_peer = -1;
	struct ns_config cfg = { .mode = mode, .tun_fd = -1, .send = discard };
	cfg.addr4.ip.family = AF_INET;
	memcpy(cfg.addr4.ip.bytes, own4, 4);
	cfg.addr4.bits = 32;
	cfg.addr6.ip.family = AF_INET6;
	memcpy(cfg.addr6.ip.bytes, own6, 16);
	cfg.addr6.bits = 128;
	if (mode == NS_MODE_TUN) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
			abort();
		cfg.tun_fd = sv[0];
		tun_peer = sv[1];
	}
	if (ns_new(&loop, &cfg, &ns) < 0 || ns_listen(ns, 22, on_accept, NULL) < 0)
		abort();
	if (mode == NS_MODE_TUN) {
		struct ns_dns_config dc = { .datagram = on_dns_datagram, .accept = on_accept };
		dc.addr4.family = AF_INET;
		memcpy(dc.addr4.bytes, res4, 4);
		dc.addr6.family = AF_INET6;
		memcpy(dc.addr6.bytes, res6, 16);
		if (ns_dns_start(ns, &dc) < 0)
			abort();
	}
	cur_mode = mode;
}

static uint32_t sum16(const uint8_t *d, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(d[i] << 8 | d[i + 1]);
	if (n & 1)
		sum += (uint32_t)(d[n - 1] << 8);
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Makes lengths and checksums consistent so the packet is judged on its contents. */
static void repair(uint8_t *p, size_t len, bool to_own, bool outbound, bool keep_frag)
{
	if (len >= 20 && p[0] >> 4 == 4) {
		size_t ihl = (size_t)(p[0] & 15) * 4;
		if (ihl < 20 || ihl > len)
			return;
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
		if (to_own)
			memcpy(p + (outbound ? 12 : 16), own4, 4);
		if (!keep_frag) {
			p[6] &= 0x40; /* no fragments */
			p[7] = 0;
		}
		p[10] = p[11] = 0;
		uint16_t c = fold(sum16(p, ihl, 0));
		p[10] = (uint8_t)(c >> 8);
		p[11] = (uint8_t)c;
		uint8_t *l4 = p + ihl;
		size_t n = len - ihl;
		uint32_t ps = sum16(p + 12, 8, 0) + p[9] + (uint32_t)n;
		if (p[9] == 6 && n >= 20) {
			l4[16] = l4[17] = 0;
			c = fold(sum16(l4, n, ps));
			l4[16] = (uint8_t)(c >> 8);
			l4[17] = (uint8_t)c;
		} else if (p[9] == 17 && n >= 8) {
			l4[6] = l4[7] = 0;
			c = fold(sum16(l4, n, ps));
			l4[6] = (uint8_t)(c >> 8);
			l4[7] = (uint8_t)c;
		} else if (p[9] == 1 && n >= 4) {
			l4[2] = l4[3] = 0;
			c = fold(sum16(l4, n, 0));
			l4[2] = (uint8_t)(c >> 8);
			l4[3] = (uint8_t)c;
		}
	} else if (len >= 40 && p[0] >> 4 == 6) {
		size_t n = len - 40;
		p[4] = (uint8_t)(n >> 8);
		p[5] = (uint8_t)n;
		if (to_own)
			memcpy(p + (outbound ? 8 : 24), own6, 16);
		uint8_t *l4 = p + 40;
		uint32_t ps = sum16(p + 8, 32, 0) + p[6] + (uint32_t)n;
		size_t off = p[6] == 6 ? 16 : p[6] == 17 ? 6 : p[6] == 58 ? 2 : 0;
		if (off && n >= off + 2) {
			l4[off] = l4[off + 1] = 0;
			uint16_t c = fold(sum16(l4, n, ps));
			l4[off] = (uint8_t)(c >> 8);
			l4[off + 1] = (uint8_t)c;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pkt[65536];
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	setup(flags & 1 ? NS_MODE_USERSPACE : NS_MODE_TUN);

	if (flags & 8)
		ns_set_rules(ns, strict, 1);
	else if (cur_mode == NS_MODE_USERSPACE)
		ns_set_rules(ns, userspace_rules, 2);
	else
		ns_set_rules(ns, open_rules, 1);
	size_t off = 1;
	while (off + 2 <= size) {
		bool outbound = data[off] & 0x80;
		size_t len = (size_t)((data[off] & 0x7f) << 8 | data[off + 1]);
		off += 2;
		if (len > size - off)
			len = size - off;
		memcpy(pkt, data + off, len);
		off += len;
		if ((flags & 32) && outbound && len >= 40 && pkt[0] >> 4 == 6)
			memcpy(pkt + 24, res6, 16);
		else if ((flags & 32) && outbound && len >= 20 && pkt[0] >> 4 == 4)
			memcpy(pkt + 16, res4, 4);
		if (flags & 2)
			repair(pkt, len, flags & 4, outbound, flags & 16);
		if (outbound && !(cur_mode == NS_MODE_TUN && ns__dns_from_host(ns, pkt, len)))
			ns__note_outbound(ns, pkt,
					  len); /* as a TUN read: the resolver's, or noted */
		else
			ns_input(ns, pkt, len);
		/* also the parser alone, on the raw bytes */
		struct ns_packet_info pi;
		bool frag;
		(void)ns__parse(data + off - len, len, &pi, &frag);
	}
	uv_run(&loop, UV_RUN_NOWAIT);
	if (tun_peer >= 0) {
		while (recv(tun_peer, pkt, sizeof(pkt), MSG_DONTWAIT) > 0)
			;
	}
	return 0;
}
