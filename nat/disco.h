/* Discovery messages: the datagrams peers exchange on the WireGuard socket to find a
 * direct path — ping (with a transaction id), pong (echoing it, with the source address
 * the answerer saw: a free reflexive endpoint) and call-me-maybe (fresh candidates, so
 * both sides punch at once).  Each is sealed with libsodium's crypto_box from the sender's
 * discovery key to the receiver's (published in the netmap, not the WireGuard key), so a
 * third party can neither forge nor read them.
 *
 * Wire: magic (6) | sender's discovery public key (32) | nonce (24) | box(payload).
 * The magic's first byte 0xF0 tells it apart from WireGuard (types 1-4), STUN (top two
 * bits zero) and TURN ChannelData (0x40-0x4F) on the shared socket. */
#ifndef MESH_NAT_DISCO_H
#define MESH_NAT_DISCO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum {
	NAT_DISCO_MAGIC_LEN = 6,
	NAT_DISCO_KEY = 32,
	NAT_DISCO_TXID = 12,
	NAT_DISCO_MAX_CANDIDATES = 16,
	NAT_DISCO_HEADER = NAT_DISCO_MAGIC_LEN + NAT_DISCO_KEY + 24,
	NAT_DISCO_MIN = NAT_DISCO_HEADER + 16 + 2, /* box tag, type and version */
	NAT_DISCO_MAX = 512,			   /* longest sealed message; more is not ours */
};

enum nat_disco_type {
	NAT_DISCO_PING = 1,
	NAT_DISCO_PONG = 2,
	NAT_DISCO_CALL_ME_MAYBE = 3,
};

struct nat_disco_msg {
	enum nat_disco_type type;
	uint8_t txid[NAT_DISCO_TXID]; /* ping, pong */
	uint8_t node_key[32];	      /* ping: the sender's WireGuard public key */
	struct sockaddr_storage src;  /* pong: where the ping came from */
	struct sockaddr_storage cand[NAT_DISCO_MAX_CANDIDATES]; /* call-me-maybe */
	size_t n_cand;
};

/* True when (p, n) starts with the discovery magic (cheap; says nothing else). */
bool nat_disco_looks_like(const uint8_t *p, size_t n);

/* The sender's discovery public key of a datagram that looks like one (to find its peer
 * before opening it); NULL when too short. */
const uint8_t *nat_disco_sender(const uint8_t *p, size_t n);

/* Seals m from (my_pub, my_priv) to their_pub into out; the length, or -ENOSPC, or
 * -EINVAL for a message that cannot be encoded (unknown type, a candidate that is not
 * IPv4/IPv6, more than NAT_DISCO_MAX_CANDIDATES). */
int nat_disco_seal(const struct nat_disco_msg *m, const uint8_t my_pub[NAT_DISCO_KEY],
		   const uint8_t my_priv[NAT_DISCO_KEY], const uint8_t their_pub[NAT_DISCO_KEY],
		   uint8_t *out, size_t cap);

/* Opens a datagram from the sender whose key is sender_pub (the caller checked it is a
 * peer's) with my_priv.  -EBADMSG with a message in err when it is not discovery, is not
 * from that key, fails authentication, or its payload is malformed. */
int nat_disco_open(const uint8_t *p, size_t n, const uint8_t sender_pub[NAT_DISCO_KEY],
		   const uint8_t my_priv[NAT_DISCO_KEY], struct nat_disco_msg *m, char *err,
		   size_t errlen);

#endif
