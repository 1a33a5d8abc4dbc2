/* A TURN client (RFC 8656) for one allocation on one relay, without I/O: the caller hands
 * it datagrams from the relay and the time, and it asks for datagrams to be sent through a
 * callback.  So the same code runs on meshd's loop, in unit tests with a scripted relay,
 * and in the lab against coturn.
 *
 * Life of an allocation: Allocate without credentials -> 401 with REALM and NONCE ->
 * Allocate with the long-term key (438 Stale Nonce: once more with the new nonce) ->
 * allocated (relayed and mapped addresses, lifetime).  Refresh before the lifetime ends;
 * 437 Allocation Mismatch (the NAT gave us a new port) or a lost allocation starts over.
 * Each peer gets a channel (ChannelBind also installs the permission for its IP); the
 * binding is renewed every 4 minutes, inside both the permission's 300 s and the channel's
 * 600 s at the relay.  Requests are retransmitted
 * over UDP (RTO 500 ms doubling, 7 sends, RFC 8489 6.2.1).
 *
 * Over TCP or TLS (nat_turn_set_transport, for networks that let only TCP 443 out) the
 * caller frames the stream with nat/stream.h and hands each whole message to
 * nat_turn_input; requests are sent once (the transport is reliable) and fail after 39.5 s
 * without an answer (RFC 8489 6.2.2), and ChannelData is padded to a multiple of 4 (RFC 8656
 * 12.5).  The allocation lives as long as the connection: when it closes, the caller
 * connects again and calls nat_turn_start. */
#ifndef MESH_NAT_TURN_H
#define MESH_NAT_TURN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "nat/stun.h"

enum nat_turn_state {
	NAT_TURN_IDLE,
	NAT_TURN_ALLOCATING,
	NAT_TURN_ALLOCATED,
	NAT_TURN_FAILED, /* refused (an error other than 401/437/438) or no answer: see why */
};

/* How the client reaches the relay; the relay reaches peers over UDP either way. */
enum nat_turn_transport {
	NAT_TURN_UDP = 0, /* what nat_turn_init sets */
	NAT_TURN_TCP,
	NAT_TURN_TLS,
};

enum {
	NAT_TURN_STREAM_TIMEOUT_MS = 39500, /* one send over TCP/TLS, then this long (Ti) */
	NAT_TURN_MAX_PEERS = 16,	    /* permissions/channels one allocation keeps */
	NAT_TURN_CHANNEL_FIRST = 0x4000,
	/* A channel no longer renewed lives on at the relay for its 10 minutes, and may not be
	 * bound to another address for 5 more (RFC 8656 12): only then is it reused. */
	NAT_TURN_CHANNEL_REUSE_MS = (600 + 300) * 1000,
	NAT_TURN_CHANNEL_HEADER = 4, /* ChannelData: channel number, length */
};

/* Sends one datagram to the relay. */
typedef void nat_turn_send_fn(void *ctx, const uint8_t *buf, size_t len);

struct nat_turn_peer {
	struct sockaddr_storage addr;
	uint16_t channel; /* NAT_TURN_CHANNEL_FIRST + index */
	bool bound;
	uint64_t bind_at_ms;  /* when the binding (or its renewal) is due; UINT64_MAX: gone */
	bool gone;	      /* nat_turn_remove_peer: not renewed, not used */
	uint64_t reuse_at_ms; /* gone: when another address may take the channel */
};

struct nat_turn_txn {
	bool active;
	uint16_t method;
	int peer;     /* CreatePermission/ChannelBind: index into peers, else -1 */
	bool release; /* a Refresh with lifetime 0: a stale allocation goes, then Allocate */
	uint8_t txid[NAT_STUN_TXID];
	uint8_t buf[512];
	size_t len;
	unsigned sends;
	uint64_t next_ms, rto_ms;
};

struct nat_turn {
	enum nat_turn_state state;
	char why[160];	 /* NAT_TURN_FAILED: what the relay said or that it did not answer */
	bool unanswered; /* NAT_TURN_FAILED for want of an answer, and the relay answered
			  * nothing since nat_turn_start (the way may be blocked): the caller may
			  * try another transport.  Not when a Refresh of a working allocation
			  * times out: a few seconds of loss are not proof of a blocked way */
	bool answered;	 /* the relay answered something since nat_turn_start */
	char username[128], password[128], realm[128], nonce[256];
	uint8_t key[NAT_STUN_LT_KEY];
	bool have_key;
	struct sockaddr_storage relayed, mapped;
	uint32_t lifetime_s;
	uint64_t refresh_at_ms;
	struct nat_turn_txn txn[8]; /* allocate/refresh + peer requests in flight */
	unsigned stale_retries;	    /* 438s in a row */
	bool release_tried;	    /* since start: a 437 to Allocate made us release once */
	struct nat_turn_peer peers[NAT_TURN_MAX_PEERS];
	size_t n_peers;
	nat_turn_send_fn *send;
	void *ctx;
	enum nat_turn_transport transport;
};

/* Sets up (no I/O yet).  -EINVAL when the username or password does not fit. */
int nat_turn_init(struct nat_turn *t, const char *username, const char *password,
		  nat_turn_send_fn *send, void *ctx);
/* Ends the allocation at the relay (a Refresh with lifetime 0, sent once, its answer not
 * awaited) and goes idle: for shutdown, so that the relay does not keep an allocation for
 * this address until its lifetime ends — meanwhile an Allocate from the same address and
 * port (meshd restarted on its port) gets 437.  Nothing is sent unless allocated. */
void nat_turn_release(struct nat_turn *t, uint64_t now_ms);
/* Chooses the transport to the relay (after init, before start): one send per request and
 * padded ChannelData over TCP and TLS, retransmission over UDP.  nat_turn_init sets UDP. */
void nat_turn_set_transport(struct nat_turn *t, enum nat_turn_transport transport);
/* The transport failed (over TCP/TLS: the connection closed or could not be made): the
 * allocation is gone with it; FAILED with why.  Nothing is sent. */
void nat_turn_fail(struct nat_turn *t, const char *why);
/* Starts (or restarts) the allocation. */
void nat_turn_start(struct nat_turn *t, uint64_t now_ms);
/* A datagram from the relay.  Returns 1 when it was a STUN answer or indication for us
 * (handled), 0 when it is not STUN/ChannelData (the caller's), -EBADMSG when malformed. For
 * data from a peer (Data indication or ChannelData) *peer and (*data, *len) are set and 2
 * is returned. */
int nat_turn_input(struct nat_turn *t, const uint8_t *buf, size_t len, uint64_t now_ms,
		   struct sockaddr_storage *peer, const uint8_t **data, size_t *data_len);
/* Retransmissions and refreshes due by now; returns the next time to call, ms. */
uint64_t nat_turn_timer(struct nat_turn *t, uint64_t now_ms);
/* Keeps a channel (and so a permission) for this peer address, bound once allocated: a
 * new channel, or one given up NAT_TURN_CHANNEL_REUSE_MS ago (its own again at once for the
 * address it had).  -ENOSPC when NAT_TURN_MAX_PEERS are kept or waiting for reuse. */
int nat_turn_add_peer(struct nat_turn *t, const struct sockaddr *peer, uint64_t now_ms);
/* Gives up this peer address's channel (the peer left, or has another relayed address now):
 * no more renewals, its ChannelData is neither sent nor taken, and the relay lets the
 * binding and the permission expire.  -ENOENT when it had none. */
int nat_turn_remove_peer(struct nat_turn *t, const struct sockaddr *peer, uint64_t now_ms);
/* Frames data for peer into out as ChannelData (padded to a multiple of 4 over TCP and
 * TLS, not over UDP); the length, or -ENOENT
 * (unknown peer), -EAGAIN (channel not bound yet), -ENOSPC. */
int nat_turn_wrap(struct nat_turn *t, const struct sockaddr *peer, const uint8_t *data, size_t len,
		  uint8_t *out, size_t cap);

#endif
