/* The test peer (see peer.h): packet building with correct checksums, and a parser that
 * keeps the peer's view of one TCP connection up to date. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "peer.h"

static uint32_t csum_add(uint32_t sum, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(d[i] << 8 | d[i + 1]);
	if (n & 1)
		sum += (uint32_t)(d[n - 1] << 8);
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)get16(b) << 16 | get16(b + 2);
}

/* Checksum over the pseudo header and l4 (l4len bytes). */
static uint16_t l4_csum(int family, const uint8_t *ip, uint8_t proto, const uint8_t *l4,
			size_t l4len)
{
	uint32_t sum = 0;
	if (family == AF_INET)
		sum = csum_add(sum, ip + 12, 8);
	else
		sum = csum_add(sum, ip + 8, 32);
	sum += proto;
	sum += (uint32_t)l4len;
	return csum_fold(csum_add(sum, l4, l4len));
}

/* Writes the IP header for proto with l4len bytes of payload; returns header length. */
static size_t ip_header(const struct peer *p, uint8_t *buf, uint8_t proto, size_t l4len)
{
	if (p->family == AF_INET) {
		memset(buf, 0, 20);
		buf[0] = 0x45;
		put16(buf + 2, (uint16_t)(20 + l4len));
		buf[8] = 64;
		buf[9] = proto;
		memcpy(buf + 12, p->addr, 4);
		memcpy(buf + 16, p->their_addr, 4);
		put16(buf + 10, csum_fold(csum_add(0, buf, 20)));
		return 20;
	}
	memset(buf, 0, 40);
	buf[0] = 0x60;
	put16(buf + 4, (uint16_t)l4len);
	buf[6] = proto;
	buf[7] = 64;
	memcpy(buf + 8, p->addr, 16);
	memcpy(buf + 24, p->their_addr, 16);
	return 40;
}

size_t peer_build(const struct peer *p, uint8_t *buf, uint32_t seq, uint32_t ack, uint8_t flags,
		  const uint8_t *data, size_t len, bool syn_opts)
{
	uint8_t opts[8] = { 2, 4, (uint8_t)(p->mss >> 8), (uint8_t)p->mss, 1, 3, 3, PEER_WSCALE };
	size_t optlen = syn_opts ? sizeof(opts) : 0, thl = 20 + optlen;
	size_t hl = ip_header(p, buf, 6, thl + len);
	uint8_t *t = buf + hl;
	memset(t, 0, 20);
	put16(t, p->port);
	put16(t + 2, p->their_port);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = flags;
	uint32_t wnd = (flags & PEER_SYN) ? (p->rcv_wnd > 65535 ? 65535 : p->rcv_wnd)
					  : p->rcv_wnd >> PEER_WSCALE;
	put16(t + 14, (uint16_t)(wnd > 65535 ? 65535 : wnd));
	memcpy(t + 20, opts, optlen);
	if (len)
		memcpy(t + thl, data, len);
	put16(t + 16, l4_csum(p->family, buf, 6, t, thl + len));
	return hl + thl + len;
}

size_t peer_build_echo(const struct peer *p, uint8_t *buf, uint16_t id, uint16_t seq)
{
	bool v6 = p->family == AF_INET6;
	size_t hl = ip_header(p, buf, v6 ? 58 : 1, 16);
	uint8_t *t = buf + hl;
	memset(t, 0, 16);
	t[0] = v6 ? 128 : 8;
	put16(t + 4, id);
	put16(t + 6, seq);
	memcpy(t + 8, "pingpong", 8);
	uint16_t c = v6 ? l4_csum(p->family, buf, 58, t, 16) : csum_fold(csum_add(0, t, 16));
	put16(t + 2, c);
	return hl + 16;
}

size_t peer_build_udp(const struct peer *p, uint8_t *buf, uint16_t dport, const uint8_t *d,
		      size_t n)
{
	size_t hl = ip_header(p, buf, 17, 8 + n);
	uint8_t *u = buf + hl;
	put16(u, p->port);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + n));
	put16(u + 6, 0);
	memcpy(u + 8, d, n);
	uint16_t c = l4_csum(p->family, buf, 17, u, 8 + n);
	put16(u + 6, c ? c : 0xffff);
	return hl + 8 + n;
}

bool peer_csum_ok(const uint8_t *pkt, size_t len)
{
	int family = pkt[0] >> 4 == 4 ? AF_INET : AF_INET6;
	size_t hl;
	uint8_t proto;
	if (family == AF_INET) {
		hl = (size_t)(pkt[0] & 15) * 4;
		if (csum_fold(csum_add(0, pkt, hl)) != 0)
			return false;
		proto = pkt[9];
	} else {
		hl = 40;
		proto = pkt[6];
	}
	if (proto == 1)
		return csum_fold(csum_add(0, pkt + hl, len - hl)) == 0;
	return l4_csum(family, pkt, proto, pkt + hl, len - hl) == 0;
}

void peer_receive(struct peer *p, const uint8_t *pkt, size_t len)
{
	int family = pkt[0] >> 4 == 4 ? AF_INET : AF_INET6;
	size_t hl = family == AF_INET ? (size_t)(pkt[0] & 15) * 4 : 40;
	uint8_t proto = family == AF_INET ? pkt[9] : pkt[6];
	const uint8_t *dst = family == AF_INET ? pkt + 16 : pkt + 24;
	if (family != p->family || proto != 6 || memcmp(dst, p->addr, family == AF_INET ? 4 : 16))
		return;
	const uint8_t *t = pkt + hl;
	if (p->their_port == 0 && (t[13] & PEER_SYN) && get16(t + 2) == p->port)
		p->their_port = get16(t);
	if (get16(t) != p->their_port || get16(t + 2) != p->port) {
		p->stray++;
		return;
	}
	if (!peer_csum_ok(pkt, len))
		p->bad_csum++;
	size_t thl = (size_t)(t[12] >> 4) * 4, dlen = len - hl - thl;
	uint8_t flags = t[13];
	uint32_t seq = get32(t + 4), ack = get32(t + 8);
	uint32_t wnd = get16(t + 14);
	if (flags & PEER_RST) {
		p->got_rst = true;
		return;
	}
	if (flags & PEER_SYN) {
		p->got_synack = flags & PEER_ACK;
		p->got_syn = !(flags & PEER_ACK);
		p->their_wscale = 0;
		for (size_t i = 20; i < thl;) {
			if (t[i] == 0)
				break;
			if (t[i] == 1) {
				i++;
				continue;
			}
			if (t[i] == 3)
				p->their_wscale = t[i + 2];
			i += t[i + 1] ? t[i + 1] : 1;
		}
		p->rcv_nxt = seq + 1;
		if (flags & PEER_ACK)
			p->snd_una = ack;
		p->snd_wnd = wnd;
		p->established = true;
		p->min_wnd_seen = wnd;
		return;
	}
	if (flags & PEER_ACK) {
		if ((int32_t)(ack - p->snd_una) > 0)
			p->snd_una = ack;
		p->snd_wnd = wnd << (p->their_wscale > 0 ? p->their_wscale : 0);
		if (p->snd_wnd < p->min_wnd_seen)
			p->min_wnd_seen = p->snd_wnd;
	}
	if (dlen) {
		if (seq != p->rcv_nxt) {
			p->out_of_order++;
			return;
		}
		p->rcv_nxt += (uint32_t)dlen;
		p->received += dlen;
		if (p->on_data)
			p->on_data(p, t + thl, dlen);
	}
	if ((flags & PEER_FIN) && seq + dlen == p->rcv_nxt && !p->got_fin) {
		p->got_fin = true;
		p->rcv_nxt++;
	}
}
