/* Connection tracking (finding 2 of the audit: "not a SYN" is not a reply).  A numbered
 * table of steps, each an outbound packet (noted) or an inbound one (tracked or not), on
 * one table whose clock the steps move; then a flood of half-open connections against an
 * established one, and more flows than slots. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "check.h"
#include "netstack/internal.h"

enum { FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10, SA = SYN | ACK };
enum { OUT, IN };
#define ME "100.64.0.1"
#define PEER "100.64.0.2"
#define OTHER "100.64.0.3"
#define ME6 "fd7a:115c:a1e0::1"
#define PEER6 "fd7a:115c:a1e0::2"

static struct ns_packet_info info(const char *src, uint16_t sport, const char *dst, uint16_t dport,
				  uint8_t proto, uint8_t flags)
{
	struct ns_packet_info pi = {
		.proto = proto, .sport = sport, .dport = dport, .tcp_flags = flags
	};
	pi.family = inet_pton(AF_INET, src, pi.src) == 1 ? AF_INET : AF_INET6;
	if (pi.family == AF_INET6)
		inet_pton(AF_INET6, src, pi.src);
	inet_pton(pi.family, dst, pi.dst);
	return pi;
}

struct step {
	int n;
	int dir;
	uint64_t t_ms;
	const char *src;
	uint16_t sport;
	const char *dst;
	uint16_t dport;
	uint8_t proto, flags;
	bool want;	  /* inbound: tracked */
	uint16_t icmp_id; /* ICMP echo: the identifier */
};

#define T 6
#define U 17
static const struct step steps[] = {
	/* UDP: our datagram lets its answer in, nothing else */
	{ 1, OUT, 1000, ME, 40000, PEER, 53, U, 0, false, 0 },
	{ 2, IN, 2000, PEER, 53, ME, 40000, U, 0, true, 0 },
	{ 3, IN, 2000, PEER, 54, ME, 40000, U, 0, false, 0 },	/* other remote port */
	{ 4, IN, 2000, OTHER, 53, ME, 40000, U, 0, false, 0 },	/* other peer */
	{ 5, IN, 2000, PEER, 53, ME, 40001, U, 0, false, 0 },	/* other local port */
	{ 6, IN, 2000, PEER, 40000, ME, 53, U, 0, false, 0 },	/* the wrong way round */
	{ 7, IN, 2000, PEER, 53, ME, 40000, T, ACK, false, 0 }, /* same ports, TCP */
	{ 8, IN, 2000 + NS__CT_UDP_MS, PEER, 53, ME, 40000, U, 0, true, 0 }, /* answers refresh */
	{ 9, IN, 2001 + 2 * NS__CT_UDP_MS, PEER, 53, ME, 40000, U, 0, false, 0 }, /* expired */
	/* TCP we open: SYN out, SYN|ACK in, then both ways */
	{ 10, IN, 300000, PEER, 8080, ME, 41000, T, SA, false, 0 }, /* nothing opened yet */
	{ 11, IN, 300000, PEER, 8080, ME, 41000, T, ACK, false, 0 },
	{ 12, OUT, 300000, ME, 41000, PEER, 8080, T, SYN, false, 0 },
	{ 13, IN, 300001, PEER, 8080, ME, 41000, T, SA, true, 0 },
	{ 14, OUT, 300002, ME, 41000, PEER, 8080, T, ACK, false, 0 },
	{ 15, IN, 300003, PEER, 8080, ME, 41000, T, ACK, true, 0 },
	{ 16, IN, 300003, PEER, 8080, ME, 41000, T, SYN, false,
	  0 }, /* a bare SYN asks the policy */
	{ 17, IN, 300003, PEER, 8081, ME, 41000, T, ACK, false, 0 },
	{ 18, IN, 300003, OTHER, 8080, ME, 41000, T, ACK, false, 0 },
	/* established lives for days; a FIN shortens it */
	{ 19, IN, 300003 + NS__CT_ESTABLISHED_MS, PEER, 8080, ME, 41000, T, ACK, true, 0 },
	{ 20, OUT, 300004 + NS__CT_ESTABLISHED_MS, ME, 41000, PEER, 8080, T, FIN | ACK, false, 0 },
	{ 21, IN, 300005 + NS__CT_ESTABLISHED_MS, PEER, 8080, ME, 41000, T, FIN | ACK, true, 0 },
	{ 22, IN, 300006 + NS__CT_ESTABLISHED_MS + NS__CT_FIN_MS, PEER, 8080, ME, 41000, T, ACK,
	  false, 0 },
	/* a half-open connection of ours expires after SYN_SENT's timeout */
	{ 23, OUT, 1000000, ME, 42000, PEER, 22, T, SYN, false, 0 },
	{ 24, IN, 1000001 + NS__CT_SYN_SENT_MS, PEER, 22, ME, 42000, T, SA, false, 0 },
	/* TCP we accept: the policy let the SYN in (not our business), we answer SYN|ACK */
	{ 25, IN, 2000000, PEER, 50000, ME, 22, T, ACK, false, 0 },
	{ 26, OUT, 2000000, ME, 22, PEER, 50000, T, SA, false, 0 },
	{ 27, IN, 2000001, PEER, 50000, ME, 22, T, ACK, true, 0 },
	{ 28, IN, 2000002, PEER, 50000, ME, 22, T, RST, true, 0 }, /* a RST closes it ... */
	{ 29, IN, 2000003, PEER, 50000, ME, 22, T, ACK, true, 0 },
	{ 30, IN, 2000004 + NS__CT_CLOSE_MS, PEER, 50000, ME, 22, T, ACK, false, 0 }, /* ... soon */
	/* a RST we send makes no entry (an attacker's probe to a closed port) */
	{ 31, OUT, 3000000, ME, 8080, PEER, 50001, T, RST | ACK, false, 0 },
	{ 32, IN, 3000001, PEER, 50001, ME, 8080, T, ACK, false, 0 },
	/* a SYN|ACK answered but never acknowledged expires after SYN_RECV's timeout */
	{ 33, OUT, 4000000, ME, 22, PEER, 50002, T, SA, false, 0 },
	{ 34, IN, 4000001 + NS__CT_SYN_RECV_MS, PEER, 50002, ME, 22, T, ACK, false, 0 },
	/* IPv6 */
	{ 35, OUT, 5000000, ME6, 43000, PEER6, 443, T, SYN, false, 0 },
	{ 36, IN, 5000001, PEER6, 443, ME6, 43000, T, SA, true, 0 },
	{ 37, IN, 5000001, PEER6, 443, ME6, 43001, T, SA, false, 0 },
	{ 38, OUT, 5000002, ME6, 5353, PEER6, 53, U, 0, false, 0 },
	{ 39, IN, 5000003, PEER6, 53, ME6, 5353, U, 0, true, 0 },
	/* ICMP: our echo request lets its reply in (type 8 out, type 0 back, same identifier),
	 * nothing else: not an unsolicited reply, not from another peer, not a request */
	{ 40, IN, 6000000, PEER, 0, ME, 0, 1, 0, false, 7 }, /* unsolicited echo reply */
	{ 41, OUT, 6000000, ME, 8, PEER, 0, 1, 0, false, 7 },
	{ 42, IN, 6000001, PEER, 0, ME, 0, 1, 0, true, 7 },
	{ 43, IN, 6000001, PEER, 0, ME, 0, 1, 0, false, 8 },  /* another identifier */
	{ 44, IN, 6000001, OTHER, 0, ME, 0, 1, 0, false, 7 }, /* another peer */
	{ 45, IN, 6000001, PEER, 8, ME, 0, 1, 0, false, 7 },  /* a request asks the policy */
	{ 46, IN, 6000001, PEER, 3, ME, 0, 1, 0, false, 0 },  /* errors ask the policy */
	{ 47, IN, 6000002 + NS__CT_ICMP_MS, PEER, 0, ME, 0, 1, 0, false, 7 }, /* expired */
	{ 48, OUT, 6100000, ME6, 128, PEER6, 0, 58, 0, false, 9 },
	{ 49, IN, 6100001, PEER6, 129, ME6, 0, 58, 0, true, 9 },
	{ 50, IN, 6100001, PEER6, 0, ME6, 0, 58, 0, false, 9 }, /* v4's reply type in v6 */
	/* our echo replies make no entry: they answer what the policy let in */
	{ 51, OUT, 6200000, ME, 0, PEER, 0, 1, 0, false, 5 },
	{ 52, IN, 6200001, PEER, 0, ME, 0, 1, 0, false, 5 },
	/* other protocols are never tracked */
	{ 53, OUT, 6300000, ME, 1000, PEER, 1000, 47, 0, false, 0 },
	{ 54, IN, 6300001, PEER, 1000, ME, 1000, 47, 0, false, 0 },
};

static void test_steps(void)
{
	static struct ns__ct ct;
	ns__ct_init(&ct);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *s = &steps[i];
		struct ns_packet_info pi =
		    info(s->src, s->sport, s->dst, s->dport, s->proto, s->flags);
		pi.icmp_id = s->icmp_id;
		if (s->dir == OUT) {
			ns__ct_outbound(&ct, &pi, s->t_ms);
			continue;
		}
		bool got = ns__ct_inbound(&ct, &pi, s->t_ms);
		if (got != s->want)
			fprintf(stderr, "step %d: tracked %d, want %d\n", s->n, got, s->want);
		CHECK(got == s->want);
	}
}

/* A peer allowed to open connections floods half-open ones (our SYN|ACKs); an
 * established connection of another peer stays tracked, the flood is what gets replaced. */
static void test_flood(void)
{
	static struct ns__ct ct;
	ns__ct_init(&ct);
	struct ns_packet_info out = info(ME, 41000, PEER, 8080, T, SYN);
	ns__ct_outbound(&ct, &out, 1000);
	struct ns_packet_info in = info(PEER, 8080, ME, 41000, T, SA);
	CHECK(ns__ct_inbound(&ct, &in, 1001));
	out.tcp_flags = ACK;
	ns__ct_outbound(&ct, &out, 1002);
	for (unsigned i = 0; i < 4 * NS__CT_SLOTS; i++) {
		struct ns_packet_info sa = info(ME, 22, OTHER, (uint16_t)(1024 + i % 60000), T, SA);
		sa.dst[3] = (uint8_t)(i / 60000 + 3);
		ns__ct_outbound(&ct, &sa, 2000 + i);
	}
	in.tcp_flags = ACK;
	CHECK(ns__ct_inbound(&ct, &in, 3000000));
	CHECK(ct.evicted > 0);

	/* More established flows than slots: the newest are tracked, nothing breaks. */
	uint64_t t = 4000000;
	for (unsigned i = 0; i < 2 * NS__CT_SLOTS; i++) {
		struct ns_packet_info u = info(ME, (uint16_t)(1024 + i), PEER, 53, U, 0);
		ns__ct_outbound(&ct, &u, t + i);
	}
	struct ns_packet_info newest =
	    info(PEER, 53, ME, (uint16_t)(1024 + 2 * NS__CT_SLOTS - 1), U, 0);
	CHECK(ns__ct_inbound(&ct, &newest, t + 2 * NS__CT_SLOTS));
}

int main(void)
{
	test_steps();
	test_flood();
	return check_finish();
}
