/* Which protocol one datagram on the shared WireGuard UDP socket belongs to, from its first
 * bytes and its length only (no state, no crypto): WireGuard, STUN (answers from STUN and
 * TURN servers), TURN ChannelData (a peer's datagram through the relay) or a discovery
 * message.  The classes are disjoint by construction (see classify.c); anything that fits
 * none of them exactly is NAT_CLASS_UNKNOWN and is dropped, so a near miss of one protocol
 * is never handed to another protocol's parser.
 *
 *	switch (nat_classify(buf, len)) {
 *	case NAT_CLASS_STUN:        nat_turn_input(...) or the STUN client;
 *	case NAT_CLASS_CHANNELDATA: nat_turn_input(...), then wg_device_inject(...);
 *	case NAT_CLASS_DISCO:       nat_disco_open(...);
 *	default:                    count and drop (nat_classify_why() says why, for a log);
 *	} */
#ifndef MESH_NAT_CLASSIFY_H
#define MESH_NAT_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

enum nat_class {
	NAT_CLASS_UNKNOWN = 0,
	NAT_CLASS_WIREGUARD,   /* type 1-4, three zero bytes, the exact length of its type */
	NAT_CLASS_STUN,	       /* top two bits zero, magic cookie, consistent length */
	NAT_CLASS_CHANNELDATA, /* channel 0x4000-0x4FFF, data length consistent */
	NAT_CLASS_DISCO,       /* discovery magic, a length a sealed message can have */
};

/* WireGuard's message lengths, as the classifier needs them (wg/messages.h is wg/'s). */
enum {
	NAT_WG_INITIATION_LEN = 148,
	NAT_WG_RESPONSE_LEN = 92,
	NAT_WG_COOKIE_LEN = 64,
	NAT_WG_DATA_MIN_LEN = 32, /* header and tag: a keepalive */
};

/* The class of the datagram (buf, len). */
enum nat_class nat_classify(const uint8_t *buf, size_t len);

/* Same, and for NAT_CLASS_UNKNOWN a sentence in err saying which protocol it nearly was
 * and why not (for a rate-limited log line).  err is left empty for the other classes. */
enum nat_class nat_classify_why(const uint8_t *buf, size_t len, char *err, size_t errlen);

/* "WireGuard", "STUN", "ChannelData", "discovery" or "unknown". */
const char *nat_class_name(enum nat_class c);

#endif
