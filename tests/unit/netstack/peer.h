/* A deliberately small TCP endpoint for netstack tests: it plays the remote tailnet peer,
 * building raw IPv4/IPv6 packets for ns_input() and parsing what the netstack sends back
 * (checksums verified).  No loss happens in memory, so it needs no retransmission: it
 * sends in order within the advertised (scaled) window and acknowledges in order. */
#ifndef MESH_TESTS_NETSTACK_PEER_H
#define MESH_TESTS_NETSTACK_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	PEER_FIN = 0x01,
	PEER_SYN = 0x02,
	PEER_RST = 0x04,
	PEER_PSH = 0x08,
	PEER_ACK = 0x10,
	PEER_WSCALE = 7,
};

struct peer {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16], their_addr[16];
	uint16_t port, their_port; /* their_port 0: learnt from the first SYN (dialing) */
	uint16_t mss;
	uint32_t iss, snd_nxt, snd_una, rcv_nxt;
	uint32_t snd_wnd; /* their window, scaled */
	int their_wscale; /* -1 until the SYN-ACK */
	uint32_t rcv_wnd; /* what we advertise (bytes; scaled by PEER_WSCALE on the wire) */
	bool established, got_fin, got_rst, got_synack, got_syn;
	int bad_csum, out_of_order, stray;
	size_t received; /* payload bytes accepted in order */
	uint32_t min_wnd_seen;
	/* where accepted payload goes (may be NULL) */
	void (*on_data)(struct peer *p, const uint8_t *d, size_t n);
	void *ctx;
};

/* Fills ip with a packet from the peer; returns its length. */
size_t peer_build(const struct peer *p, uint8_t *buf, uint32_t seq, uint32_t ack, uint8_t flags,
		  const uint8_t *data, size_t len, bool syn_opts);
/* Processes one packet sent by the netstack (ignores packets for other flows). */
void peer_receive(struct peer *p, const uint8_t *pkt, size_t len);
/* Builds an ICMP/ICMPv6 echo request from the peer to its remote address. */
size_t peer_build_echo(const struct peer *p, uint8_t *buf, uint16_t id, uint16_t seq);
/* Builds a UDP datagram from the peer to its remote address. */
size_t peer_build_udp(const struct peer *p, uint8_t *buf, uint16_t dport, const uint8_t *d,
		      size_t n);

/* Verifies the IP (v4) and transport checksums of a packet; true when all are correct. */
bool peer_csum_ok(const uint8_t *pkt, size_t len);

#endif
