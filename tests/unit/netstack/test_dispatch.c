/* Dispatch: the decision table itself (every combination of facts against a naive
 * restatement of the rules), then real packets through ns_input() in TUN mode (the TUN is
 * an AF_UNIX datagram pair) and in userspace mode, for IPv4 and their IPv6 twins: own
 * tcp/22 -> lwIP (a SYN-ACK comes back), own tcp/80 -> TUN (bytes identical), another
 * address -> TUN, filtered -> dropped and counted, malformed -> dropped; userspace mode:
 * own tcp -> lwIP proxied to 127.0.0.1 (data both ways; RST when nothing listens), ICMP
 * echo answered, UDP -> no handler, another address -> not ours.  Packets read from the
 * TUN go to the send callback. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include "check.h"
#include "common.h"
#include "control/policy/policy.h"
#include "netstack/internal.h"

/* ---- the table against a naive reference ---- */

static enum ns_path reference(const struct ns__facts *f, enum ns_drop *drop)
{
	*drop = NS_DROP_NONE;
	if (!f->parsed)
		return *drop = NS_DROP_MALFORMED, NS_PATH_DROP;
	if (f->fragment) /* finding 1: fragments never pass */
		return *drop = NS_DROP_FRAGMENT, NS_PATH_DROP;
	if (!f->own_dst) /* finding 3: only our own addresses */
		return *drop = NS_DROP_NOT_OURS, NS_PATH_DROP;
	bool tcp = f->proto == IPPROTO_TCP;
	if (tcp && !f->tcp_new && !f->tracked) /* finding 2: not a SYN is not a reply */
		return *drop = NS_DROP_NO_STATE, NS_PATH_DROP;
	if (!f->allowed)
		return *drop = NS_DROP_FILTERED, NS_PATH_DROP;
	if (f->intercepted)
		return NS_PATH_INTERCEPT;
	if (f->mode == NS_MODE_TUN)
		return NS_PATH_TUN;
	if (tcp || f->echo_request)
		return NS_PATH_LOCAL;
	return *drop = NS_DROP_NO_HANDLER, NS_PATH_DROP;
}

static void test_table(void)
{
	int cases = 0;
	for (unsigned bits = 0; bits < 1u << 11; bits++) {
		struct ns__facts f = {
			.mode = (bits & 1) ? NS_MODE_USERSPACE : NS_MODE_TUN,
			.parsed = bits & 2,
			.allowed = bits & 4,
			.own_dst = bits & 8,
			.intercepted = bits & 16,
			.fragment = bits & 32,
			.proto = (bits & 64) ? IPPROTO_TCP : IPPROTO_UDP,
			.echo_request = bits & 128,
			.tracked = bits & 512,
			.tcp_new = bits & 1024,
		};
		if (bits & 256)
			f.proto = IPPROTO_ICMP;
		enum ns_drop d1, d2;
		enum ns_path p1 = ns__classify(&f, &d1), p2 = reference(&f, &d2);
		CHECK_INT(p1, p2);
		CHECK_INT(d1, d2);
		cases++;
	}
	CHECK_INT(cases, 2048);
}

/* ---- fixtures ---- */

static int accepted;
static void on_accept(void *ctx, int fd, const struct ns_packet_info *info)
{
	accepted++;
	close(fd);
}

/* Compiled policy rules as a netmap carries them: from anywhere to anywhere, the protocols
 * and port ranges given (protos empty: any protocol). */
static const struct addr_prefix any_net[] = { { .ip = { .family = AF_INET } },
					      { .ip = { .family = AF_INET6 } } };
static const struct pol_port_range not_23[] = { { 0, 22 }, { 24, 65535 } };
static const struct pol_port_range only_22[] = { { 22, 22 } };
static const uint8_t tcp_only[] = { IPPROTO_TCP };
static const struct pol_filter_rule deny_23_rule = { .srcs = any_net,
						     .n_srcs = 2,
						     .dsts = any_net,
						     .n_dsts = 2,
						     .ports = not_23,
						     .n_ports = 2,
						     .section = "acls" };
static const struct pol_filter_rule allow_22_rule = { .srcs = any_net,
						      .n_srcs = 2,
						      .dsts = any_net,
						      .n_dsts = 2,
						      .ports = only_22,
						      .n_ports = 1,
						      .protos = tcp_only,
						      .n_protos = 1,
						      .section = "acls" };
static const struct pol_filter_rule *const deny_port_23[] = { &deny_23_rule };
static const struct pol_filter_rule *const allow_22_only[] = { &allow_22_rule };

/* How many packets the filter judged so far. */
static uint64_t filter_calls_of(const struct ns *ns)
{
	struct ns_counters c;
	ns_get_counters(ns, &c);
	return c.filter_asked;
}
#define filter_calls ((int)(filter_calls_of(ns) - filter_base))

static const uint8_t *addr_of(int family, const uint8_t *a4, const uint8_t *a6)
{
	return family == AF_INET ? a4 : a6;
}

/* Reads one datagram from the fake TUN; returns its length or 0. */
static size_t tun_read(int fd, uint8_t *buf, size_t cap)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 100) != 1)
		return 0;
	ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
	return n > 0 ? (size_t)n : 0;
}

/* A TUN-mode netstack whose TUN is sv[0] of a datagram pair (the test reads sv[1]). */
static struct ns *tun_netstack(uv_loop_t *loop, int sv[2])
{
	CHECK_INT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	struct ns_config cfg;
	base_config(&cfg, NS_MODE_TUN, sv[0]);
	struct ns *ns = NULL;
	outq_init();
	CHECK_INT(ns_new(loop, &cfg, &ns), 0);
	return ns;
}

static void test_tun_mode(uv_loop_t *loop, int family)
{
	int sv[2];
	struct ns *ns = tun_netstack(loop, sv);
	CHECK_INT(ns_listen(ns, 22, on_accept, NULL), 0);
	CHECK_INT(ns_listen(ns, 22, on_accept, NULL), -EADDRINUSE);
	struct ns_counters c;
	uint8_t pkt[256], got[2048];

	/* own address, tcp/22: lwIP answers with a SYN-ACK and the handler gets it */
	struct peer p;
	accepted = 0;
	peer_setup(&p, family, 40001, 22, NULL);
	peer_connect(ns, &p);
	CHECK(p.got_synack);
	CHECK_INT(p.bad_csum, 0);
	CHECK_INT(accepted, 1);
	ns_get_counters(ns, &c);
	CHECK_INT(c.path[NS_PATH_INTERCEPT], 2);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), 0); /* nothing reached the TUN */

	/* own address, tcp/80: to the TUN, byte for byte */
	peer_setup(&p, family, 40002, 80, NULL);
	size_t n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), n);
	CHECK_MEM(got, pkt, n);

	/* finding 3: another address (the node's LAN side, say) is not reachable */
	peer_setup(&p, family, 40003, 22, addr_of(family, other4, other6));
	n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), 0);
	ns_get_counters(ns, &c);
	CHECK_INT(c.drop[NS_DROP_NOT_OURS], 1);

	/* ICMP echo to our address: the kernel answers it in TUN mode */
	peer_setup(&p, family, 0, 0, NULL);
	n = peer_build_echo(&p, pkt, 7, 1);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), n);
	ns_get_counters(ns, &c);
	CHECK_INT(c.path[NS_PATH_TUN], 2);

	/* trailing bytes past the IP length are cut off */
	peer_setup(&p, family, 40004, 80, NULL);
	n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
	memset(pkt + n, 0xee, 5);
	ns_input(ns, pkt, n + 5);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), n);

	/* the filter: port 23 is denied, everything else allowed */
	ns_set_rules(ns, deny_port_23, 1);
	uint64_t filter_base = filter_calls_of(ns);
	peer_setup(&p, family, 40005, 23, NULL);
	n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), 0);
	CHECK_INT(filter_calls, 1);
	/* ... while allowed packets still reach interception */
	peer_setup(&p, family, 40006, 22, NULL);
	p.their_port = 22;
	n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
	ns_input(ns, pkt, n);
	outq_deliver(&p);
	CHECK(p.got_synack); /* allowed: port 22 */
	ns_get_counters(ns, &c);
	CHECK_INT(c.drop[NS_DROP_FILTERED], 1);

	/* malformed: truncated header, bad version, length beyond the buffer */
	ns_input(ns, pkt, 10);
	uint8_t bad[40] = { 0x50 };
	ns_input(ns, bad, sizeof(bad));
	n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
	ns_input(ns, pkt, n - 1);
	/* TCP options whose length byte or body would run past the header (lwIP would read
	 * past it), or a length below 2: malformed.  The 4 bytes after the MSS option: */
	static const uint8_t bad_opts[][4] = { { 1, 1, 1, 0x17 }, { 3, 5, 1, 1 }, { 8, 1, 1, 1 } };
	size_t hl = family == AF_INET ? 20 : 40;
	for (size_t i = 0; i < sizeof(bad_opts) / sizeof(bad_opts[0]); i++) {
		n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
		memcpy(pkt + hl + 20 + 4, bad_opts[i], 4);
		ns_input(ns, pkt, n);
	}
	ns_get_counters(ns, &c);
	CHECK_INT(c.drop[NS_DROP_MALFORMED], 3 + 3);
	CHECK_INT(c.path[NS_PATH_DROP], 5 + 3);
	/* ... while EOL padding after the last option is fine */
	static const uint8_t eol[4] = { 1, 1, 1, 0 };
	struct ns_packet_info pi;
	bool frag;
	n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
	memcpy(pkt + hl + 20 + 4, eol, 4);
	CHECK_INT(ns__parse(pkt, n, &pi, &frag), 0);
	n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);

	/* the other direction: a packet read from the TUN goes to the send callback */
	outq_init();
	CHECK_INT(send(sv[1], pkt, n, 0), (ssize_t)n);
	spin(loop, 3);
	ns_get_counters(ns, &c);
	CHECK_INT(c.out_tun, 1);
	bool found = false; /* (lwIP may have sent a FIN for the closed handler too) */
	for (size_t i = 0; i < outq->tail; i++)
		found |= outq->len[i] == n && memcmp(outq->pkt[i], pkt, n) == 0;
	CHECK(found);
	CHECK(strcmp(ns_tun_name(ns), "") != 0);

	ns_free(ns);
	uv_run(loop, UV_RUN_DEFAULT);
	close(sv[1]);
}

/* ---- the audit's packet-filter findings, as packets in TUN mode ---- */

/* Splits a TCP packet after the first 8 bytes of its TCP header into two fragments (the
 * ports in the first, the flags in the second); returns the two lengths. */
static void split(int family, const uint8_t *pkt, size_t n, uint8_t *f1, size_t *n1, uint8_t *f2,
		  size_t *n2)
{
	if (family == AF_INET) {
		memcpy(f1, pkt, 28);
		f1[2] = 0, f1[3] = 28, f1[6] = 0x20, f1[7] = 0; /* MF, offset 0 */
		memcpy(f2, pkt, 20);
		memcpy(f2 + 20, pkt + 28, n - 28);
		f2[2] = (uint8_t)((n - 8) >> 8), f2[3] = (uint8_t)(n - 8);
		f2[6] = 0, f2[7] = 1; /* offset 8 bytes, last */
		*n1 = 28, *n2 = n - 8;
		return;
	}
	uint8_t fh[8] = { IPPROTO_TCP, 0, 0, 1 /* M */, 0, 0, 0x12, 0x34 };
	memcpy(f1, pkt, 40);
	f1[6] = 44;
	memcpy(f1 + 40, fh, 8);
	memcpy(f1 + 48, pkt + 40, 8);
	f1[4] = 0, f1[5] = 16;
	memcpy(f2, f1, 48);
	f2[40 + 2] = 0, f2[40 + 3] = 8; /* offset 1 (8 bytes), last */
	memcpy(f2 + 48, pkt + 48, n - 48);
	f2[4] = (uint8_t)((n - 40) >> 8), f2[5] = (uint8_t)(n - 40);
	*n1 = 56, *n2 = n;
}

/* As if the kernel behind the TUN sent it: the peer's packet with the ends swapped. */
static void from_kernel(uv_loop_t *loop, int tun, int family, uint8_t *pkt, size_t n)
{
	size_t off = family == AF_INET ? 12 : 8, alen = family == AF_INET ? 4 : 16;
	size_t l4 = family == AF_INET ? 20 : 40;
	uint8_t t[16];
	memcpy(t, pkt + off, alen);
	memcpy(pkt + off, pkt + off + alen, alen);
	memcpy(pkt + off + alen, t, alen);
	memcpy(t, pkt + l4, 2);
	memcpy(pkt + l4, pkt + l4 + 2, 2);
	memcpy(pkt + l4 + 2, t, 2);
	CHECK_INT(send(tun, pkt, n, 0), (ssize_t)n);
	spin(loop, 3);
}

/* An ICMP echo request or reply from src to dst (no checksum: nothing here checks it). */
static size_t icmp_echo(int family, const uint8_t *src, const uint8_t *dst, bool reply, uint16_t id,
			uint8_t *pkt)
{
	size_t alen = family == AF_INET ? 4 : 16, l4 = family == AF_INET ? 20 : 40;
	memset(pkt, 0, l4 + 8);
	if (family == AF_INET) {
		pkt[0] = 0x45;
		pkt[3] = 28;
		pkt[8] = 64;
		pkt[9] = IPPROTO_ICMP;
		memcpy(pkt + 12, src, alen);
		memcpy(pkt + 16, dst, alen);
		pkt[l4] = reply ? 0 : 8;
	} else {
		pkt[0] = 0x60;
		pkt[5] = 8;
		pkt[6] = IPPROTO_ICMPV6;
		pkt[7] = 64;
		memcpy(pkt + 8, src, alen);
		memcpy(pkt + 24, dst, alen);
		pkt[l4] = reply ? 129 : 128;
	}
	pkt[l4 + 4] = (uint8_t)(id >> 8);
	pkt[l4 + 5] = (uint8_t)id;
	return l4 + 8;
}

static void test_tun_state(uv_loop_t *loop, int family)
{
	int sv[2];
	struct ns *ns = tun_netstack(loop, sv);
	ns_set_rules(ns, allow_22_only, 1);
	uint64_t filter_base = filter_calls_of(ns);
	struct ns_counters c;
	struct peer p;
	uint8_t pkt[256], f1[256], f2[256], got[2048];
	size_t n, n1, n2;

	/* finding 1: a SYN to :8080 in two fragments (the ports alone in the first) */
	peer_setup(&p, family, 40100, 8080, NULL);
	n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
	split(family, pkt, n, f1, &n1, f2, &n2);
	ns_input(ns, f1, n1);
	ns_input(ns, f2, n2);
	/* ... and a SYN to :22, which the policy allows, in fragments too */
	peer_setup(&p, family, 40101, 22, NULL);
	n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
	split(family, pkt, n, f1, &n1, f2, &n2);
	ns_input(ns, f2, n2);
	ns_input(ns, f1, n1);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), 0);
	ns_get_counters(ns, &c);
	CHECK_INT(c.drop[NS_DROP_FRAGMENT], 4);

	/* finding 2: not a SYN is not a reply: ACK, SYN|ACK, FIN, RST, data to :8080 */
	static const uint8_t flags[] = { PEER_ACK, PEER_SYN | PEER_ACK, PEER_FIN | PEER_ACK,
					 PEER_RST, PEER_PSH | PEER_ACK };
	peer_setup(&p, family, 40102, 8080, NULL);
	for (size_t i = 0; i < sizeof(flags); i++) {
		n = peer_build(&p, pkt, p.iss, 1, flags[i], (const uint8_t *)"x", 1, false);
		ns_input(ns, pkt, n);
	}
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), 0);
	ns_get_counters(ns, &c);
	CHECK_INT(c.drop[NS_DROP_NO_STATE], 5);
	CHECK_INT(filter_calls, 0); /* none of it was the filter's to judge */

	/* ... while the answer to a connection the kernel opened passes, without the filter */
	peer_setup(&p, family, 8080, 45000, NULL);
	n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
	from_kernel(loop, sv[1], family, pkt, n); /* our SYN to the peer's :8080 */
	n = peer_build(&p, pkt, p.iss, 1, PEER_SYN | PEER_ACK, NULL, 0, true);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), n);
	n = peer_build(&p, pkt, p.iss + 1, 1, PEER_ACK, (const uint8_t *)"data", 4, false);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), n);
	/* ... but not on another port of ours */
	peer_setup(&p, family, 8080, 45001, NULL);
	n = peer_build(&p, pkt, p.iss, 1, PEER_SYN | PEER_ACK, NULL, 0, true);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), 0);
	CHECK_INT(filter_calls, 0);

	/* UDP: the answer to our datagram passes; an unasked datagram asks the filter */
	peer_setup(&p, family, 53, 0, NULL);
	n = peer_build_udp(&p, pkt, 46000, (const uint8_t *)"q", 1);
	from_kernel(loop, sv[1], family, pkt, n);
	n = peer_build_udp(&p, pkt, 46000, (const uint8_t *)"a", 1);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), n);
	n = peer_build_udp(&p, pkt, 46001, (const uint8_t *)"a", 1);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), 0);
	CHECK_INT(filter_calls, 1);
	ns_get_counters(ns, &c);
	CHECK_INT(c.drop[NS_DROP_FILTERED], 1);

	/* ICMP (the rules allow none): an unsolicited echo reply asks the filter and is
	 * dropped; the reply to the kernel's own echo request passes, with its identifier only */
	n = icmp_echo(family, p.addr, p.their_addr, true, 77, pkt);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), 0);
	CHECK_INT(filter_calls, 2);
	n = icmp_echo(family, p.their_addr, p.addr, false, 77, pkt);
	CHECK_INT(send(sv[1], pkt, n, 0), (ssize_t)n);
	spin(loop, 3);
	n = icmp_echo(family, p.addr, p.their_addr, true, 77, pkt);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), n);
	CHECK_INT(filter_calls, 2);
	n = icmp_echo(family, p.addr, p.their_addr, true, 78, pkt);
	ns_input(ns, pkt, n);
	CHECK_INT(tun_read(sv[1], got, sizeof(got)), 0);
	ns_get_counters(ns, &c);
	CHECK_INT(c.drop[NS_DROP_FILTERED], 3);

	ns_free(ns);
	uv_run(loop, UV_RUN_DEFAULT);
	close(sv[1]);
}

static int batch_calls;
static size_t batch_pkts;
static size_t count_batch(void *ctx, const struct iovec *pkts, size_t n)
{
	batch_calls++;
	batch_pkts += n;
	return n;
}

/* With send_batch, packets read from the TUN in one wakeup go out in one call. */
static void test_tun_batch(uv_loop_t *loop)
{
	int sv[2];
	CHECK_INT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	struct ns_config cfg;
	base_config(&cfg, NS_MODE_TUN, sv[0]);
	cfg.send_batch = count_batch;
	struct ns *ns = NULL;
	outq_init();
	CHECK_INT(ns_new(loop, &cfg, &ns), 0);
	struct peer p;
	peer_setup(&p, AF_INET, 40010, 80, NULL);
	uint8_t pkt[256], big[1600] = { 0x45 };
	size_t n = peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true);
	for (int i = 0; i < 5; i++)
		CHECK_INT(send(sv[1], pkt, n, 0), (ssize_t)n);
	CHECK_INT(send(sv[1], big, sizeof(big), 0), (ssize_t)sizeof(big)); /* > MTU + slack */
	batch_calls = 0;
	batch_pkts = 0;
	spin(loop, 3);
	CHECK_INT(batch_calls, 1);
	CHECK_INT(batch_pkts, 5);
	struct ns_counters c;
	ns_get_counters(ns, &c);
	CHECK_INT(c.out_tun, 6);
	CHECK_INT(c.out_send_errors, 1);
	CHECK_INT(outq->tail, 0); /* nothing through the single-packet callback */
	ns_free(ns);
	uv_run(loop, UV_RUN_DEFAULT);
	close(sv[1]);
}

static int kernel_listener(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sin);
	CHECK_INT(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	CHECK_INT(listen(fd, 4), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A free loopback port: bound then closed, so nothing listens there. */
static uint16_t closed_port(void)
{
	uint16_t port;
	close(kernel_listener(&port));
	return port;
}

static void test_userspace_mode(uv_loop_t *loop, int family)
{
	struct ns_config cfg;
	base_config(&cfg, NS_MODE_USERSPACE, -1);
	struct ns *ns = NULL;
	outq_init();
	CHECK_INT(ns_new(loop, &cfg, &ns), 0);
	CHECK_STR(ns_tun_name(ns), "");
	CHECK_INT(ns_listen(ns, 22, on_accept, NULL), 0);
	struct ns_counters c;
	uint8_t pkt[256];
	struct peer p;

	/* own tcp/22: intercepted */
	accepted = 0;
	peer_setup(&p, family, 41001, 22, NULL);
	peer_connect(ns, &p);
	CHECK(p.got_synack);
	CHECK_INT(accepted, 1);

	/* own tcp/P: proxied to a kernel listener on 127.0.0.1:P, data both ways */
	uint16_t port;
	int lfd = kernel_listener(&port);
	peer_setup(&p, family, 41002, port, NULL);
	peer_connect_loop(loop, ns, &p);
	CHECK(p.got_synack);
	ns_input(ns, pkt,
		 peer_build(&p, pkt, p.snd_nxt, p.rcv_nxt, PEER_ACK | PEER_PSH,
			    (const uint8_t *)"hello", 5, false));
	p.snd_nxt += 5;
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	for (int i = 0; i < 100 && poll(&pfd, 1, 0) == 0; i++)
		spin(loop, 1), usleep(1000);
	int afd = accept(lfd, NULL, NULL);
	CHECK(afd >= 0);
	char rb[16] = { 0 };
	for (int i = 0; i < 200; i++) {
		spin(loop, 1);
		if (recv(afd, rb, sizeof(rb), MSG_DONTWAIT) == 5)
			break;
		usleep(1000);
	}
	CHECK_STR(rb, "hello");
	CHECK_INT(send(afd, "world", 5, 0), 5);
	size_t before = p.received;
	for (int i = 0; i < 200 && p.received == before; i++) {
		spin(loop, 1);
		outq_deliver(&p);
		usleep(1000);
	}
	CHECK_INT(p.received - before, 5);
	close(afd);
	close(lfd);

	/* own tcp to a port nothing listens on: the SYN is answered with RST, no handshake */
	uint16_t dead = closed_port();
	peer_setup(&p, family, 41003, dead, NULL);
	peer_connect_loop(loop, ns, &p);
	CHECK(p.got_rst);
	CHECK(!p.got_synack);
	ns_get_counters(ns, &c);
	CHECK_INT(c.forward_refused, 1);

	/* ICMP echo: answered by lwIP */
	outq_init();
	peer_setup(&p, family, 0, 0, NULL);
	ns_input(ns, pkt, peer_build_echo(&p, pkt, 9, 3));
	CHECK_INT(outq->tail, 1);
	if (outq->tail == 1) {
		const uint8_t *r = outq->pkt[0];
		size_t hl = family == AF_INET ? 20 : 40;
		CHECK_INT(r[hl], family == AF_INET ? 0 : 129); /* echo reply */
		CHECK(peer_csum_ok(r, outq->len[0]));
		CHECK_MEM(r + hl + 8, "pingpong", 8);
	}

	/* UDP to our address: nothing serves it */
	ns_input(ns, pkt, peer_build_udp(&p, pkt, 53, (const uint8_t *)"q", 1));
	/* anything to another address */
	peer_setup(&p, family, 41004, 80, addr_of(family, other4, other6));
	ns_input(ns, pkt, peer_build(&p, pkt, p.iss, 0, PEER_SYN, NULL, 0, true));
	ns_get_counters(ns, &c);
	CHECK_INT(c.drop[NS_DROP_NO_HANDLER], 1);
	CHECK_INT(c.drop[NS_DROP_NOT_OURS], 1);
	CHECK_INT(c.path[NS_PATH_TUN], 0);
	CHECK_INT(c.path[NS_PATH_LOCAL], 5); /* SYN, ACK, data; refused SYN; echo */

	/* interception takes over a port that was being forwarded, and gives it back */
	CHECK_INT(ns_listen(ns, port, on_accept, NULL), 0);
	accepted = 0;
	peer_setup(&p, family, 41005, port, NULL);
	peer_connect(ns, &p);
	CHECK(p.got_synack);
	CHECK_INT(accepted, 1);
	CHECK_INT(ns_unlisten(ns, port), 0);
	CHECK_INT(ns_unlisten(ns, port), -ENOENT);
	/* and again while the intercepted connection is still open (lwIP cannot re-bind a
	 * port live connections use, so the listener is kept, not closed) */
	CHECK_INT(ns_listen(ns, port, on_accept, NULL), 0);
	CHECK_INT(ns_unlisten(ns, port), 0);
	CHECK_INT(ns_listen(ns, 0, on_accept, NULL), -EINVAL);

	ns_free(ns);
	uv_run(loop, UV_RUN_DEFAULT);
}

struct names {
	char seen[64][48];
	int n;
	uint64_t filtered;
};

static void collect_name(void *ctx, const char *name, uint64_t value)
{
	struct names *nm = ctx;
	for (int i = 0; i < nm->n; i++)
		CHECK(strcmp(nm->seen[i], name) != 0); /* every name once */
	if (nm->n < 64)
		snprintf(nm->seen[nm->n++], sizeof(nm->seen[0]), "%s", name);
	if (strcmp(name, "drop.filtered") == 0)
		nm->filtered = value;
}

static void test_counter_names(void)
{
	struct ns_counters c = { 0 };
	c.drop[NS_DROP_FILTERED] = 7;
	struct names nm = { .n = 0 };
	ns_counters_foreach(&c, collect_name, &nm);
	CHECK_INT(nm.n, 2 + NS_PATH_MAX + (NS_DROP_MAX - 1) + 17);
	CHECK_INT(nm.filtered, 7);
	CHECK_STR(nm.seen[2], "path.intercept");
}

static void test_config_errors(uv_loop_t *loop)
{
	struct ns_config cfg;
	struct ns *ns = NULL;
	base_config(&cfg, NS_MODE_USERSPACE, -1);
	cfg.send = NULL;
	CHECK_INT(ns_new(loop, &cfg, &ns), -EINVAL);
	base_config(&cfg, NS_MODE_USERSPACE, -1);
	cfg.mtu = 500;
	CHECK_INT(ns_new(loop, &cfg, &ns), -EINVAL);
	base_config(&cfg, NS_MODE_USERSPACE, -1);
	cfg.addr4.ip.family = 0;
	cfg.addr6.ip.family = 0;
	CHECK_INT(ns_new(loop, &cfg, &ns), -EINVAL);
	base_config(&cfg, NS_MODE_USERSPACE, -1);
	CHECK_INT(ns_new(loop, &cfg, &ns), 0);
	struct ns *second = NULL;
	CHECK_INT(ns_new(loop, &cfg, &second), -EBUSY);
	ns_free(ns);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK_STR(ns_drop_name(NS_DROP_FILTERED), "filtered");
	CHECK_STR(ns_path_name(NS_PATH_INTERCEPT), "intercept");
}

int main(void)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	test_table();
	test_counter_names();
	test_config_errors(&loop);
	test_tun_mode(&loop, AF_INET);
	test_tun_mode(&loop, AF_INET6);
	test_tun_batch(&loop);
	test_tun_state(&loop, AF_INET);
	test_tun_state(&loop, AF_INET6);
	test_userspace_mode(&loop, AF_INET);
	test_userspace_mode(&loop, AF_INET6);
	CHECK_INT(uv_loop_close(&loop), 0);
	outq_free();
	return check_finish();
}
