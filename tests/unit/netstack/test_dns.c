/* The tailnet resolver's addresses (ns_dns_start), IPv4 and IPv6: a UDP query the host
 * writes to the TUN reaches the datagram callback with the host's address and port, and
 * ns_dns_send's answer comes back on the TUN from the resolver's address and port 53 with
 * good checksums, never through the send callback (WireGuard); a TCP connection from the
 * host reaches the accept callback and carries bytes both ways, again only over the TUN;
 * the host's packets to the resolver that are not UDP/TCP port 53 are dropped and counted
 * (never passed to WireGuard); a peer's query to the resolver's address arrives through
 * ns_input and is dropped as not ours without reaching the callback; config errors. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include "check.h"
#include "common.h"
#include "netstack/internal.h"

static const uint8_t res4[4] = { 100, 100, 100, 100 };
static const uint8_t res6[16] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0x53, [15] = 0x53 };

struct seen {
	int datagrams, accepts;
	struct addr_endpoint client;
	uint8_t msg[64];
	size_t len;
	int fd;
	struct ns *ns;
	bool answer;
};

static void on_datagram(void *ctx, const struct addr_endpoint *client, const uint8_t *msg,
			size_t len)
{
	struct seen *s = ctx;
	s->datagrams++;
	s->client = *client;
	s->len = len < sizeof(s->msg) ? len : sizeof(s->msg);
	memcpy(s->msg, msg, s->len);
	if (s->answer) /* at once, from inside the callback, as meshd does for local names */
		CHECK_INT(ns_dns_send(s->ns, client, (const uint8_t *)"answer", 6), 0);
}

static void on_accept(void *ctx, int fd, const struct ns_packet_info *info)
{
	struct seen *s = ctx;
	s->accepts++;
	s->fd = fd;
	s->client.ip.family = (uint8_t)info->family;
	memcpy(s->client.ip.bytes, info->src, 16);
	s->client.port = info->sport;
}

static struct ns *start(uv_loop_t *loop, int tun, struct seen *s)
{
	struct ns_config cfg;
	base_config(&cfg, NS_MODE_TUN, tun);
	struct ns *ns = NULL;
	CHECK_INT(ns_new(loop, &cfg, &ns), 0);
	struct ns_dns_config dc = { .datagram = on_datagram, .accept = on_accept, .ctx = s };
	dc.addr4.family = AF_INET;
	memcpy(dc.addr4.bytes, res4, 4);
	dc.addr6.family = AF_INET6;
	memcpy(dc.addr6.bytes, res6, 16);
	CHECK_INT(ns_dns_start(ns, &dc), 0);
	CHECK_INT(ns_dns_start(ns, &dc), -EALREADY);
	s->ns = ns;
	return ns;
}

/* The host: a peer whose address is ours and whose remote is the resolver. */
static void host_setup(struct peer *h, int family, uint16_t port)
{
	peer_setup(h, family, port, 53, family == AF_INET ? res4 : res6);
	memcpy(h->addr, family == AF_INET ? own4 : own6, family == AF_INET ? 4 : 16);
}

/* Packets the netstack wrote to the TUN, to the host. */
static int tun_drain(int tun, struct peer *h, uint8_t *last, size_t *last_len)
{
	uint8_t pkt[2048];
	int n = 0;
	ssize_t r;
	while ((r = recv(tun, pkt, sizeof(pkt), MSG_DONTWAIT)) > 0) {
		CHECK(peer_csum_ok(pkt, (size_t)r));
		if (h)
			peer_receive(h, pkt, (size_t)r);
		if (last) {
			memcpy(last, pkt, (size_t)r);
			*last_len = (size_t)r;
		}
		n++;
	}
	return n;
}

static void test_udp(uv_loop_t *loop, int family)
{
	int sv[2];
	CHECK_INT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	struct seen s = { .answer = true };
	outq_init();
	struct ns *ns = start(loop, sv[0], &s);
	struct peer h;
	host_setup(&h, family, 5353);
	uint8_t pkt[256], got[2048];
	size_t n = peer_build_udp(&h, pkt, 53, (const uint8_t *)"query", 5), got_len = 0;
	CHECK_INT(send(sv[1], pkt, n, 0), (ssize_t)n);
	spin(loop, 3);
	CHECK_INT(s.datagrams, 1);
	CHECK_INT(s.len, 5);
	CHECK(memcmp(s.msg, "query", 5) == 0);
	CHECK_INT(s.client.ip.family, family);
	CHECK(memcmp(s.client.ip.bytes, h.addr, family == AF_INET ? 4 : 16) == 0);
	CHECK_INT(s.client.port, 5353);
	CHECK_INT(tun_drain(sv[1], NULL, got, &got_len), 1);
	size_t hl = family == AF_INET ? 20 : 40;
	CHECK_INT(got_len, hl + 8 + 6);
	CHECK(memcmp(got + (family == AF_INET ? 12 : 8), family == AF_INET ? res4 : res6,
		     family == AF_INET ? 4 : 16) == 0);
	CHECK_INT(got[hl] << 8 | got[hl + 1], 53);
	CHECK_INT(got[hl + 2] << 8 | got[hl + 3], 5353);
	CHECK(memcmp(got + hl + 8, "answer", 6) == 0);
	/* not port 53, and not UDP/TCP: dropped, neither to the callback nor to WireGuard */
	n = peer_build_udp(&h, pkt, 54, (const uint8_t *)"query", 5);
	CHECK_INT(send(sv[1], pkt, n, 0), (ssize_t)n);
	n = peer_build_echo(&h, pkt, 7, 1);
	CHECK_INT(send(sv[1], pkt, n, 0), (ssize_t)n);
	spin(loop, 3);
	CHECK_INT(s.datagrams, 1);
	CHECK_INT(tun_drain(sv[1], NULL, NULL, NULL), 0);
	CHECK_INT(outq->tail, 0);
	struct ns_counters c;
	ns_get_counters(ns, &c);
	CHECK_INT(c.dns_in, 1);
	CHECK_INT(c.dns_dropped, 2);
	CHECK_INT(c.dns_out, 1);
	/* a peer's query for the resolver's address: not ours, never answered */
	struct peer p;
	peer_setup(&p, family, 5353, 53, family == AF_INET ? res4 : res6);
	n = peer_build_udp(&p, pkt, 53, (const uint8_t *)"query", 5);
	ns_input(ns, pkt, n);
	spin(loop, 3);
	ns_get_counters(ns, &c);
	CHECK_INT(c.drop[NS_DROP_NOT_OURS], 1);
	CHECK_INT(s.datagrams, 1);
	CHECK_INT(outq->tail, 0);
	CHECK_INT(tun_drain(sv[1], NULL, NULL, NULL), 0);
	ns_free(ns);
	uv_run(loop, UV_RUN_DEFAULT);
	close(sv[1]);
}

static void test_tcp(uv_loop_t *loop, int family)
{
	int sv[2];
	CHECK_INT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	struct seen s = { .fd = -1 };
	outq_init();
	struct ns *ns = start(loop, sv[0], &s);
	struct peer h;
	host_setup(&h, family, 40053);
	uint8_t pkt[256];
	size_t n = peer_build(&h, pkt, h.iss, 0, PEER_SYN, NULL, 0, true);
	CHECK_INT(send(sv[1], pkt, n, 0), (ssize_t)n);
	h.snd_nxt = h.iss + 1;
	spin(loop, 3);
	tun_drain(sv[1], &h, NULL, NULL);
	CHECK(h.got_synack);
	n = peer_build(&h, pkt, h.snd_nxt, h.rcv_nxt, PEER_ACK, NULL, 0, false);
	CHECK_INT(send(sv[1], pkt, n, 0), (ssize_t)n);
	spin(loop, 3);
	CHECK_INT(s.accepts, 1);
	CHECK(s.fd >= 0);
	CHECK_INT(s.client.port, 40053);
	/* host -> resolver: a framed query */
	n = peer_build(&h, pkt, h.snd_nxt, h.rcv_nxt, PEER_ACK | PEER_PSH,
		       (const uint8_t *)"\0\5query", 7, false);
	CHECK_INT(send(sv[1], pkt, n, 0), (ssize_t)n);
	h.snd_nxt += 7;
	uint8_t buf[64];
	ssize_t r = -1;
	for (int i = 0; i < 200 && r < 0; i++) {
		spin(loop, 1);
		r = recv(s.fd, buf, sizeof(buf), MSG_DONTWAIT);
	}
	CHECK_INT(r, 7);
	CHECK(memcmp(buf, "\0\5query", 7) == 0);
	/* resolver -> host */
	CHECK_INT(write(s.fd, "\0\6answer", 8), 8);
	for (int i = 0; i < 200 && h.received < 8; i++) {
		spin(loop, 1);
		tun_drain(sv[1], &h, NULL, NULL);
	}
	CHECK_INT(h.received, 8);
	CHECK_INT(outq->tail, 0); /* nothing of it went to WireGuard */
	close(s.fd);
	ns_free(ns);
	uv_run(loop, UV_RUN_DEFAULT);
	close(sv[1]);
}

static void test_config(uv_loop_t *loop)
{
	int sv[2];
	CHECK_INT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	struct ns_config cfg;
	struct seen s = { 0 };
	struct ns_dns_config dc = { .datagram = on_datagram, .accept = on_accept, .ctx = &s };
	struct ns *ns = NULL;
	base_config(&cfg, NS_MODE_USERSPACE, -1);
	CHECK_INT(ns_new(loop, &cfg, &ns), 0);
	dc.addr4.family = AF_INET;
	memcpy(dc.addr4.bytes, res4, 4);
	CHECK_INT(ns_dns_start(ns, &dc), -EOPNOTSUPP);
	CHECK_INT(ns_dns_send(ns, &s.client, (const uint8_t *)"x", 1), -ENOTCONN);
	ns_free(ns);
	uv_run(loop, UV_RUN_DEFAULT);
	base_config(&cfg, NS_MODE_TUN, sv[0]);
	CHECK_INT(ns_new(loop, &cfg, &ns), 0);
	memcpy(dc.addr4.bytes, own4, 4);
	CHECK_INT(ns_dns_start(ns, &dc), -EADDRINUSE);
	dc.addr4.family = 0;
	CHECK_INT(ns_dns_start(ns, &dc), -EINVAL);
	ns_free(ns);
	uv_run(loop, UV_RUN_DEFAULT);
	close(sv[1]);
}

int main(void)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	test_udp(&loop, AF_INET);
	test_udp(&loop, AF_INET6);
	test_tcp(&loop, AF_INET);
	test_tcp(&loop, AF_INET6);
	test_config(&loop);
	CHECK_INT(uv_loop_close(&loop), 0);
	outq_free();
	return check_finish();
}
