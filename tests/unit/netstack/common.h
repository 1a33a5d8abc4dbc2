/* Shared fixtures for the netstack unit tests: addresses, a send callback that queues
 * what the netstack emits, and loop helpers. */
#ifndef MESH_TESTS_NETSTACK_COMMON_H
#define MESH_TESTS_NETSTACK_COMMON_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netstack/netstack.h"
#include "peer.h"

static const uint8_t own4[4] = { 100, 64, 0, 1 }, peer4[4] = { 100, 64, 0, 2 },
		     other4[4] = { 100, 64, 0, 9 };
static const uint8_t own6[16] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, [15] = 1 },
		     peer6[16] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, [15] = 2 },
		     other6[16] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, [15] = 9 };

/* Packets the netstack sent, in order (a ring; tests drain it). */
enum { OUTQ = 8192, OUTQ_PKT = 2048 };
struct outq {
	uint8_t pkt[OUTQ][OUTQ_PKT];
	size_t len[OUTQ];
	size_t head, tail;
	size_t dropped;
};

static struct outq *outq;

static inline int outq_send(void *ctx, const uint8_t *pkt, size_t len)
{
	(void)ctx;
	if (outq->tail - outq->head == OUTQ || len > OUTQ_PKT) {
		outq->dropped++;
		return -ENOBUFS;
	}
	size_t i = outq->tail++ % OUTQ;
	memcpy(outq->pkt[i], pkt, len);
	outq->len[i] = len;
	return 0;
}

static inline void outq_init(void)
{
	if (!outq)
		outq = calloc(1, sizeof(*outq));
	outq->head = outq->tail = outq->dropped = 0;
}

static inline void outq_free(void)
{
	free(outq);
	outq = NULL;
}

/* Hands every queued packet to the peer. */
static inline void outq_deliver(struct peer *p)
{
	while (outq->head != outq->tail) {
		size_t i = outq->head++ % OUTQ;
		peer_receive(p, outq->pkt[i], outq->len[i]);
	}
}

static inline void peer_setup(struct peer *p, int family, uint16_t port, uint16_t their_port,
			      const uint8_t *their_addr)
{
	memset(p, 0, sizeof(*p));
	p->family = family;
	if (family == AF_INET) {
		memcpy(p->addr, peer4, 4);
		memcpy(p->their_addr, their_addr ? their_addr : own4, 4);
	} else {
		memcpy(p->addr, peer6, 16);
		memcpy(p->their_addr, their_addr ? their_addr : own6, 16);
	}
	p->port = port;
	p->their_port = their_port;
	p->mss = 1240;
	p->iss = 1000;
	p->snd_nxt = p->iss;
	p->snd_una = p->iss;
	p->rcv_wnd = 4u << 20;
	p->their_wscale = -1;
}

static inline void base_config(struct ns_config *cfg, enum ns_mode mode, int tun_fd)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = mode;
	cfg->tun_fd = tun_fd;
	cfg->addr4.ip.family = AF_INET;
	memcpy(cfg->addr4.ip.bytes, own4, 4);
	cfg->addr4.bits = 32;
	cfg->addr6.ip.family = AF_INET6;
	memcpy(cfg->addr6.ip.bytes, own6, 16);
	cfg->addr6.bits = 128;
	cfg->send = outq_send;
}

/* Sends the peer's SYN and the ACK that completes the handshake (if a SYN-ACK came). */
static inline void peer_connect(struct ns *ns, struct peer *p)
{
	uint8_t pkt[128];
	ns_input(ns, pkt, peer_build(p, pkt, p->iss, 0, PEER_SYN, NULL, 0, true));
	p->snd_nxt = p->iss + 1;
	outq_deliver(p);
	if (p->got_synack)
		ns_input(ns, pkt,
			 peer_build(p, pkt, p->snd_nxt, p->rcv_nxt, PEER_ACK, NULL, 0, false));
}

static inline void spin(uv_loop_t *loop, int n)
{
	for (int i = 0; i < n; i++)
		uv_run(loop, UV_RUN_NOWAIT);
}

/* peer_connect for answers that take a loop turn (userspace-mode forwarding holds the SYN
 * until 127.0.0.1:port answers): runs the loop until a SYN-ACK or RST, then ACKs. */
static inline void peer_connect_loop(uv_loop_t *loop, struct ns *ns, struct peer *p)
{
	uint8_t pkt[128];
	ns_input(ns, pkt, peer_build(p, pkt, p->iss, 0, PEER_SYN, NULL, 0, true));
	p->snd_nxt = p->iss + 1;
	for (int i = 0; i < 2000 && !p->got_synack && !p->got_rst; i++) {
		spin(loop, 1);
		outq_deliver(p);
		if (i > 10)
			usleep(500);
	}
	if (p->got_synack)
		ns_input(ns, pkt,
			 peer_build(p, pkt, p->snd_nxt, p->rcv_nxt, PEER_ACK, NULL, 0, false));
}

#endif
