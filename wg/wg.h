/* wg/: a userspace WireGuard device (Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s, cryptokey
 * routing, timers, cookies) on a libuv loop, configured through plain C calls or through
 * the cross-platform UAPI text protocol that the stock `wg` tool speaks.
 *
 * wg/ knows nothing of TUN, lwIP, SSH or JSON: IP packets to encrypt enter through
 * wg_device_send(); decrypted packets whose inner source is inside the sending peer's
 * AllowedIPs leave through ops->recv().  Everything runs on the loop thread.
 *
 * Usage:
 *
 *	static void on_packet(void *ctx, const uint8_t *pkt, size_t len)
 *	{
 *		write(tun_fd, pkt, len);   // pkt is only valid during the call
 *	}
 *	struct wg_device_ops ops = { .recv = on_packet };
 *	struct wg_device_config cfg = { .name = "wg0", .listen_port = 51820,
 *					.private_key = priv };   // or NULL, set later
 *	struct wg_device *dev;
 *	int err = wg_device_new(loop, &cfg, &ops, tun_ctx, &dev);
 *
 *	struct addr_prefix aip;
 *	addr_prefix_parse("10.0.0.2/32", &aip, NULL);  // common/addr.h
 *	struct wg_peer_config pc = { .allowed_ips = &aip, .n_allowed_ips = 1,
 *				     .persistent_keepalive = -1 };
 *	memcpy(pc.public_key, peer_pub, 32);
 *	err = wg_device_peer_set(dev, &pc);            // adds or updates the peer
 *
 *	wg_device_uapi_start(dev, "/var/run/wireguard/wg0.sock");  // optional: `wg show`
 *	...
 *	wg_device_send(dev, ip_packet, len);          // route by destination, encrypt, send
 *	...
 *	wg_device_free(dev);   // closes handles; memory goes in the close callbacks, so
 *			       // keep running the loop until uv_run() returns
 *
 * All int-returning functions return 0 or a negative errno value.  Secrets handed in are
 * copied; the caller wipes its own copy.
 *
 * Paths (for an embedder that does NAT traversal; wg/ itself knows nothing of NATs):
 * the UDP socket is shared, so datagrams that are not WireGuard go to ops->other (STUN,
 * TURN ChannelData, discovery) and wg_device_send_datagram() sends the embedder's own
 * from the same socket.  A peer may be given a path (a non-zero
 * handle of the embedder's, e.g. "TURN relay R, peer's relayed address X") instead of
 * its endpoint: each of its datagrams then asks ops->route where to go and what to put
 * in front (a ChannelData header, in WG_HEADROOM bytes reserved before every datagram, so
 * no copy).  WireGuard unwrapped from a relay comes back in through wg_device_inject()
 * with that path.  With ops->roam set, an authenticated packet from somewhere other than
 * the peer's path or endpoint is reported, not followed (built-in roaming is off).
 *
 *	static int route(void *ctx, uint64_t path, size_t len, struct wg_route *r)
 *	{
 *		struct relay_peer *rp = lookup(ctx, path);
 *		r->to = rp->relay_addr;
 *		put_channeldata_header(r->prefix, rp->channel, len);
 *		r->prefix_len = 4;
 *		return 0;
 *	}
 *
 * MTU: a relayed datagram is WG_HEADROOM bytes longer than a direct one.  The default
 * inner MTU of 1420 leaves a 1500-byte outer packet exactly full over IPv6 (1420 + 32 +
 * 8 + 40), so a peer reached through a relay over IPv6 needs an inner MTU of 1416 (over
 * IPv4 to the relay 1420 still fits: 1420 + 32 + 4 + 8 + 20 = 1484); the embedder sets the
 * tunnel's MTU, wg/ pads to at most its own and never fragments. */
#ifndef MESH_WG_WG_H
#define MESH_WG_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <uv.h>

#include "common/addr.h"

enum {
	WG_KEY_LEN = 32,
	WG_HEADROOM = 4, /* bytes ops->route may put in front of a datagram (TURN ChannelData) */
};

struct wg_device; /* opaque */

/* Where an authenticated packet came from: the device's socket (path 0, from addr) or a
 * path of the embedder's (wg_device_inject). */
struct wg_source {
	uint64_t path;
	struct sockaddr_storage addr; /* path 0 only */
};

/* ops->route's answer for one datagram: the socket address it leaves for and up to
 * WG_HEADROOM bytes that go in front of it. */
struct wg_route {
	struct sockaddr_storage to; /* AF_INET or AF_INET6 */
	uint8_t prefix[WG_HEADROOM];
	size_t prefix_len;
};

/* Callbacks; all but recv are optional and NULL leaves today's behaviour. */
struct wg_device_ops {
	/* A decrypted IP packet, AllowedIPs-checked; the buffer is valid only during the call. */
	void (*recv)(void *ctx, const uint8_t *ip_packet, size_t len);
	/* A datagram on the socket that is not WireGuard (not type 1-4 with three zero bytes
	 * and its type's exact length; nat_classify() agrees), with its source.  The buffer is
	 * the device's: valid during the call, and it may be changed (unwrapped, decrypted in
	 * place by wg_device_inject).  NULL: such datagrams are dropped and counted. */
	void (*other)(void *ctx, uint8_t *buf, size_t len, const struct sockaddr *src);
	/* Where a datagram of len bytes on a path goes; fills *r.  A negative errno drops the
	 * datagram (counted in drop_no_path).  Needed for paths and wg_device_inject(). */
	int (*route)(void *ctx, uint64_t path, size_t len, struct wg_route *r);
	/* An authenticated packet from the peer arrived from `from`, which is neither its path
	 * nor (without a path) its endpoint: a candidate, for the embedder to confirm before
	 * it moves the peer (wg_device_peer_set).  Called for every such packet.  When set,
	 * wg/ does not roam by itself, except that a peer with neither path nor endpoint
	 * takes the first source it hears from (it could not answer otherwise).  The call may
	 * change the peer's path or endpoint but must not remove peers. */
	void (*roam)(void *ctx, const uint8_t public_key[WG_KEY_LEN], const struct wg_source *from);
};

struct wg_device_config {
	const char *name;	    /* interface name for logs ("wg0"); copied */
	const uint8_t *private_key; /* 32 bytes, or NULL to set later; copied */
	uint16_t listen_port;	    /* 0: pick a free port */
	uint32_t fwmark;	    /* applied to the UDP sockets when non-zero (SO_MARK) */
	/* Test-only: protocol timers run `time_scale` times faster than real time
	 * (REKEY_AFTER_TIME 120 s becomes 120/time_scale s).  0 or 1: real time. */
	unsigned int time_scale;
	/* Extra threads for encryption/decryption of batches (0 or 1): the loop thread and
	 * the worker each take half of a batch; only crypto on copied keys leaves the loop. */
	unsigned int crypto_workers;
};

/* Peer settings for wg_device_peer_set(); fields that say "unchanged" keep the current
 * value of an existing peer. */
struct wg_peer_config {
	uint8_t public_key[WG_KEY_LEN];
	bool set_preshared_key;		   /* false: unchanged */
	uint8_t preshared_key[WG_KEY_LEN]; /* all zero: none */
	bool set_endpoint;		   /* false: unchanged */
	struct sockaddr_storage endpoint;  /* AF_INET or AF_INET6 */
	bool set_path;			   /* false: unchanged */
	uint64_t path; /* non-zero: datagrams go by ops->route, not to the endpoint; 0: none */
	int persistent_keepalive;	       /* seconds; 0 off; -1 unchanged */
	bool replace_allowed_ips;	       /* drop the current list before adding */
	const struct addr_prefix *allowed_ips; /* host bits are cleared as they go in */
	size_t n_allowed_ips;
};

struct wg_peer_status {
	uint8_t public_key[WG_KEY_LEN];
	bool has_endpoint;
	struct sockaddr_storage endpoint;
	uint64_t path;			 /* 0: none, the endpoint is used */
	uint64_t rx_bytes, tx_bytes;	 /* WireGuard bytes (no prefix), as `wg show transfer` */
	uint64_t last_handshake_wall_ns; /* 0: never */
	uint16_t persistent_keepalive;
	size_t n_allowed_ips;
};

/* Drop counters, one per reason (what the wire never gets an answer about). */
struct wg_device_stats {
	uint64_t rx_packets, tx_packets;
	uint64_t rx_other;	      /* not WireGuard, handed to ops->other */
	uint64_t tx_other;	      /* the embedder's, from wg_device_send_datagram() */
	uint64_t drop_short;	      /* shorter than its message type requires */
	uint64_t drop_type;	      /* unknown type or reserved bytes non-zero */
	uint64_t drop_size;	      /* handshake message of the wrong length */
	uint64_t drop_mac1;	      /* mac1 did not verify */
	uint64_t drop_mac2;	      /* under load without a valid mac2 (cookie sent) */
	uint64_t drop_ratelimit;      /* initiations over the per-source rate */
	uint64_t drop_handshake;      /* decryption / unknown peer / stale timestamp / flood */
	uint64_t drop_cookie;	      /* cookie reply that did not match or decrypt */
	uint64_t drop_no_keypair;     /* data for an unknown receiver index */
	uint64_t drop_decrypt;	      /* data AEAD failure */
	uint64_t drop_replay;	      /* counter replayed or too old */
	uint64_t drop_expired;	      /* keypair past REJECT_AFTER_TIME/MESSAGES */
	uint64_t drop_allowed_ips;    /* inner source outside the peer's AllowedIPs */
	uint64_t drop_inner;	      /* inner packet not IPv4/IPv6 or bad length */
	uint64_t drop_no_route;	      /* outbound: no peer for the destination */
	uint64_t drop_no_endpoint;    /* outbound: peer has neither endpoint nor path yet */
	uint64_t drop_no_path;	      /* outbound: ops->route refused or answered nonsense */
	uint64_t drop_queue_full;     /* outbound: staged queue full during handshake */
	uint64_t cookie_replies_sent; /* answers to initiations/responses under load */
	uint64_t handshakes_completed;
};

/* Creates a device bound to UDP on listen_port (IPv4 and, when available, IPv6). */
int wg_device_new(uv_loop_t *loop, const struct wg_device_config *cfg,
		  const struct wg_device_ops *ops, void *ctx, struct wg_device **out);
/* Wipes all keys, closes the sockets and UAPI; memory is released in close callbacks. */
void wg_device_free(struct wg_device *dev);

/* Routes by destination through AllowedIPs, encrypts and sends (or stages the packet and
 * starts a handshake).  -ENETUNREACH without a route, -EDESTADDRREQ when that peer has no
 * endpoint yet, -EINVAL for a non-IP packet.  The packet is copied; datagrams leave at the
 * end of the current loop iteration (or when a batch fills). */
int wg_device_send(struct wg_device *dev, const uint8_t *ip_packet, size_t len);
/* Same for n packets at once; returns how many were accepted.  Datagrams go out in one
 * sendmmsg() per batch. */
size_t wg_device_send_batch(struct wg_device *dev, const struct iovec *pkts, size_t n);

/* A WireGuard datagram that arrived on a path of the embedder's (unwrapped from TURN
 * ChannelData, say), handled as if it came from the socket with `path` as its source:
 * handshake rate limits and cookies are per path, replies go by ops->route.  buf is
 * decrypted in place.  -EINVAL for path 0, -EOPNOTSUPP without ops->route; a bad datagram
 * is dropped and counted as any other. */
int wg_device_inject(struct wg_device *dev, uint64_t path, uint8_t *buf, size_t len);
/* Sends the embedder's own datagram (STUN, TURN, discovery) from the device's socket, so
 * it leaves through the same NAT mapping as WireGuard.  The buffer is copied.
 * -EAFNOSUPPORT without a socket of that family, -EMSGSIZE beyond 2048 bytes. */
int wg_device_send_datagram(struct wg_device *dev, const struct sockaddr *to, const uint8_t *buf,
			    size_t len);

/* NULL removes the key (and all sessions).  Keys are copied. */
int wg_device_set_private_key(struct wg_device *dev, const uint8_t *key);
/* Rebinds the UDP sockets; 0 picks a free port.  When the port is taken (-EADDRINUSE) the
 * old sockets stay in place. */
int wg_device_set_listen_port(struct wg_device *dev, uint16_t port);
uint16_t wg_device_listen_port(const struct wg_device *dev);
int wg_device_set_fwmark(struct wg_device *dev, uint32_t fwmark);

/* Adds the peer or updates an existing one. -EINVAL for a bad allowed IP or endpoint,
 * -EOPNOTSUPP for a path without ops->route. */
int wg_device_peer_set(struct wg_device *dev, const struct wg_peer_config *pc);
/* -ENOENT when no such peer. */
int wg_device_peer_remove(struct wg_device *dev, const uint8_t public_key[static WG_KEY_LEN]);
void wg_device_peer_remove_all(struct wg_device *dev);
/* The embedder has a way to the peer that may work now where the last initiation's may
 * not have (its relay allocated, a pong proved an address): a handshake still waiting for
 * its response is sent again at once instead of at its retransmit timer (up to
 * REKEY_TIMEOUT away), at most once per WG_PATH_READY_SPACING_MS.  Returns 1 when an
 * initiation went out, 0 when none was due, -ENOENT when no such peer. */
enum { WG_PATH_READY_SPACING_MS = 250 };
int wg_device_peer_path_ready(struct wg_device *dev, const uint8_t public_key[static WG_KEY_LEN]);
/* -ENOENT when no such peer. */
int wg_device_peer_status(struct wg_device *dev, const uint8_t public_key[static WG_KEY_LEN],
			  struct wg_peer_status *out);
/* Calls cb for every peer in insertion order. */
void wg_device_foreach_peer(struct wg_device *dev,
			    void (*cb)(void *ctx, const struct wg_peer_status *st), void *ctx);
void wg_device_get_stats(const struct wg_device *dev, struct wg_device_stats *out);

/* Serves the UAPI protocol on a Unix socket at path (created 0600, replaced if stale;
 * removed by wg_device_free).  The directory must exist. */
int wg_device_uapi_start(struct wg_device *dev, const char *path);

/* Runs one UAPI request (the text up to and including the blank line) against the device
 * and writes the answer into *reply (malloc'd, caller frees).  For tests and fuzzing. */
int wg_device_uapi_request(struct wg_device *dev, const char *req, size_t len, char **reply,
			   size_t *reply_len);

#endif
