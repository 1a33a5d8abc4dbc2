/* lwIP as we configure it: a SYN built as raw IPv4 bytes is injected into a netif, the
 * SYN-ACK that comes out is parsed and checked (checksums, MSS from the netif MTU, window
 * scale option), the handshake is completed, and 1 MiB is pushed into an lwIP listener
 * segment by segment, honouring the advertised (scaled) window, with a checksum over the
 * bytes received. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip4.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

enum { MTU = 1280, MSS = MTU - 40, TOTAL = 1024 * 1024, PORT = 22 };

/* ---- packets out of lwIP ---- */
static uint8_t last_out[2048];
static size_t last_out_len;
static int out_count;

static err_t capture_output(struct netif *nif, struct pbuf *p, const ip4_addr_t *dst)
{
	(void)nif;
	(void)dst;
	last_out_len = pbuf_copy_partial(p, last_out, sizeof(last_out), 0);
	out_count++;
	return ERR_OK;
}

static err_t nif_init(struct netif *nif)
{
	nif->mtu = MTU;
	nif->output = capture_output;
	nif->name[0] = 't';
	nif->name[1] = 'n';
	return ERR_OK;
}

/* ---- the listener ---- */
static size_t received;
static uint32_t received_hash = 2166136261u; /* FNV-1a */
static int accepted;

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	if (!p)
		return ERR_OK;
	for (struct pbuf *q = p; q; q = q->next) {
		const uint8_t *d = q->payload;
		for (u16_t i = 0; i < q->len; i++)
			received_hash = (received_hash ^ d[i]) * 16777619u;
	}
	received += p->tot_len;
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return err;
}

static err_t on_accept(void *arg, struct tcp_pcb *newpcb, err_t err)
{
	(void)arg;
	CHECK_INT(err, ERR_OK);
	accepted++;
	tcp_recv(newpcb, on_recv);
	return ERR_OK;
}

/* ---- packet building and checking ---- */
static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(d[i] << 8 | d[i + 1]);
	if (n & 1)
		sum += (uint32_t)(d[n - 1] << 8);
	return sum;
}

static uint16_t tcp_csum(const uint8_t *ip, size_t total)
{
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	uint8_t pseudo[12];
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	pseudo[10] = (uint8_t)((total - ihl) >> 8);
	pseudo[11] = (uint8_t)(total - ihl);
	uint32_t sum = csum_add(0, pseudo, sizeof(pseudo));
	return csum_fold(csum_add(sum, ip + ihl, total - ihl));
}

static const uint8_t peer_ip[4] = { 100, 64, 0, 2 }, our_ip[4] = { 100, 64, 0, 1 };

/* Builds IPv4+TCP into buf and returns its length. */
static size_t build(uint8_t *buf, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
		    const uint8_t *opts, size_t optlen, const uint8_t *data, size_t len)
{
	size_t thl = 20 + optlen, total = 20 + thl + len;
	memset(buf, 0, 40);
	buf[0] = 0x45;
	buf[2] = (uint8_t)(total >> 8);
	buf[3] = (uint8_t)total;
	buf[8] = 64;
	buf[9] = 6;
	memcpy(buf + 12, peer_ip, 4);
	memcpy(buf + 16, our_ip, 4);
	uint16_t hc = csum_fold(csum_add(0, buf, 20));
	buf[10] = (uint8_t)(hc >> 8);
	buf[11] = (uint8_t)hc;
	uint8_t *t = buf + 20;
	t[0] = 40000 >> 8;
	t[1] = 40000 & 255;
	t[2] = 0;
	t[3] = PORT;
	uint32_t nseq = htonl(seq), nack = htonl(ack);
	memcpy(t + 4, &nseq, 4);
	memcpy(t + 8, &nack, 4);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = flags;
	t[14] = (uint8_t)(win >> 8);
	t[15] = (uint8_t)win;
	if (optlen)
		memcpy(t + 20, opts, optlen);
	if (len)
		memcpy(t + thl, data, len);
	uint16_t tc = tcp_csum(buf, total);
	t[16] = (uint8_t)(tc >> 8);
	t[17] = (uint8_t)tc;
	return total;
}

static struct netif nif;

static void inject(const uint8_t *buf, size_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
	CHECK(p != NULL);
	pbuf_take(p, buf, (u16_t)len);
	nif.input(p, &nif);
}

struct seg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	int mss, wscale; /* -1 when the option is absent */
	bool ip_csum_ok, tcp_csum_ok;
};

static struct seg parse_last(void)
{
	struct seg s = { .mss = -1, .wscale = -1 };
	const uint8_t *ip = last_out;
	size_t total = (size_t)(ip[2] << 8 | ip[3]);
	CHECK_INT(total, last_out_len);
	s.ip_csum_ok = csum_fold(csum_add(0, ip, 20)) == 0;
	s.tcp_csum_ok = tcp_csum(ip, total) == 0;
	const uint8_t *t = ip + 20;
	uint32_t v;
	memcpy(&v, t + 4, 4);
	s.seq = ntohl(v);
	memcpy(&v, t + 8, 4);
	s.ack = ntohl(v);
	s.flags = t[13];
	s.win = (uint16_t)(t[14] << 8 | t[15]);
	size_t thl = (size_t)(t[12] >> 4) * 4;
	for (size_t i = 20; i < thl;) {
		uint8_t kind = t[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		uint8_t olen = t[i + 1];
		if (kind == 2 && olen == 4)
			s.mss = t[i + 2] << 8 | t[i + 3];
		if (kind == 3 && olen == 3)
			s.wscale = t[i + 2];
		i += olen ? olen : 1;
	}
	return s;
}

int main(void)
{
	lwip_init();
	ip4_addr_t addr, mask, gw;
	IP4_ADDR(&addr, 100, 64, 0, 1);
	IP4_ADDR(&mask, 255, 192, 0, 0);
	IP4_ADDR(&gw, 0, 0, 0, 0);
	CHECK(netif_add(&nif, &addr, &mask, &gw, NULL, nif_init, ip_input) != NULL);
	netif_set_up(&nif);
	netif_set_link_up(&nif);

	struct tcp_pcb *lpcb = tcp_new();
	CHECK_INT(tcp_bind(lpcb, IP_ANY_TYPE, PORT), ERR_OK);
	lpcb = tcp_listen(lpcb);
	CHECK(lpcb != NULL);
	tcp_accept(lpcb, on_accept);

	/* SYN with MSS 1380 and window scale 7 (the peer's). */
	uint8_t pkt[2048];
	const uint8_t syn_opts[] = { 2, 4, 1380 >> 8, 1380 & 255, 1, 3, 3, 7 };
	uint32_t iss = 1000;
	inject(pkt, build(pkt, iss, 0, TCP_SYN, 65535, syn_opts, sizeof(syn_opts), NULL, 0));
	CHECK_INT(out_count, 1);
	struct seg sa = parse_last();
	CHECK_INT(sa.flags, TCP_SYN | TCP_ACK);
	CHECK_INT(sa.ack, iss + 1);
	CHECK(sa.ip_csum_ok);
	CHECK(sa.tcp_csum_ok);
	CHECK_INT(sa.mss, MSS); /* from the netif MTU, not TCP_MSS */
	CHECK(sa.wscale >= 4);	/* present, and large enough for a >= 1 MiB window */
	fprintf(stderr, "SYN-ACK: mss %d wscale %d win %u\n", sa.mss, sa.wscale, sa.win);

	/* ACK completes the handshake. */
	uint32_t snd_nxt = iss + 1, their_nxt = sa.seq + 1;
	inject(pkt, build(pkt, snd_nxt, their_nxt, TCP_ACK, 65535 >> 7, NULL, 0, NULL, 0));
	CHECK_INT(accepted, 1);

	/* Stream 1 MiB of patterned bytes, honouring the advertised window. */
	uint8_t data[MSS];
	uint32_t sent_hash = 2166136261u;
	uint32_t snd_una = snd_nxt, wnd = (uint32_t)sa.win; /* SYN-ACK window is unscaled */
	size_t sent = 0, max_wnd = 0;
	int stalls = 0;
	while (sent < TOTAL && stalls < 1000) {
		size_t inflight = snd_nxt - snd_una;
		size_t n = TOTAL - sent < MSS ? TOTAL - sent : MSS;
		if (inflight + n > wnd) {
			tcp_fasttmr(); /* flush a delayed ACK */
			struct seg a = parse_last();
			snd_una = a.ack;
			wnd = (uint32_t)a.win << sa.wscale;
			stalls++;
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			data[i] = (uint8_t)((sent + i) * 31 + ((sent + i) >> 12));
			sent_hash = (sent_hash ^ data[i]) * 16777619u;
		}
		int before = out_count;
		inject(pkt, build(pkt, snd_nxt, their_nxt, TCP_ACK | TCP_PSH, 65535 >> 7, NULL, 0,
				  data, n));
		snd_nxt += (uint32_t)n;
		sent += n;
		if (out_count != before) {
			struct seg a = parse_last();
			CHECK(a.tcp_csum_ok && a.ip_csum_ok);
			snd_una = a.ack;
			wnd = (uint32_t)a.win << sa.wscale;
			if (wnd > max_wnd)
				max_wnd = wnd;
		}
	}
	tcp_fasttmr();
	struct seg last = parse_last();
	CHECK_INT(sent, TOTAL);
	CHECK_INT(received, TOTAL);
	CHECK_INT(received_hash, sent_hash);
	CHECK_INT(last.ack, snd_nxt);		 /* everything acknowledged */
	CHECK(max_wnd >= 1024 * 1024 - 2 * MSS); /* the scaled window really is ~1 MiB */
	fprintf(stderr, "moved %zu bytes, %d packets out, largest window %zu, %d stalls\n",
		received, out_count, max_wnd, stalls);
	return check_finish();
}
