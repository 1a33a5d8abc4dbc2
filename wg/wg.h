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
 *	struct wg_allowed_ip aip = { .family = AF_INET, .cidr = 32 };
 *	inet_pton(AF_INET, "10.0.0.2", aip.addr);
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
 * copied; the caller wipes its own copy. */
#ifndef MESH_WG_WG_H
#define MESH_WG_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <uv.h>

enum {
	WG_KEY_LEN = 32,
};

struct wg_device; /* opaque */

struct wg_device_ops {
	/* A decrypted IP packet, AllowedIPs-checked; the buffer is valid only during the call. */
	void (*recv)(void *ctx, const uint8_t *ip_packet, size_t len);
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

struct wg_allowed_ip {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t cidr;
};

/* Peer settings for wg_device_peer_set(); fields that say "unchanged" keep the current
 * value of an existing peer. */
struct wg_peer_config {
	uint8_t public_key[WG_KEY_LEN];
	bool set_preshared_key;		   /* false: unchanged */
	uint8_t preshared_key[WG_KEY_LEN]; /* all zero: none */
	bool set_endpoint;		   /* false: unchanged */
	struct sockaddr_storage endpoint;  /* AF_INET or AF_INET6 */
	int persistent_keepalive;	   /* seconds; 0 off; -1 unchanged */
	bool replace_allowed_ips;	   /* drop the current list before adding */
	const struct wg_allowed_ip *allowed_ips;
	size_t n_allowed_ips;
};

struct wg_peer_status {
	uint8_t public_key[WG_KEY_LEN];
	bool has_endpoint;
	struct sockaddr_storage endpoint;
	uint64_t rx_bytes, tx_bytes;	 /* UDP payload bytes, as `wg show transfer` */
	uint64_t last_handshake_wall_ns; /* 0: never */
	uint16_t persistent_keepalive;
	size_t n_allowed_ips;
};

/* Drop counters, one per reason (what the wire never gets an answer about). */
struct wg_device_stats {
	uint64_t rx_packets, tx_packets;
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
	uint64_t drop_no_endpoint;    /* outbound: peer has no endpoint yet */
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

/* NULL removes the key (and all sessions).  Keys are copied. */
int wg_device_set_private_key(struct wg_device *dev, const uint8_t *key);
/* Rebinds the UDP sockets; 0 picks a free port.  When the port is taken (-EADDRINUSE) the
 * old sockets stay in place. */
int wg_device_set_listen_port(struct wg_device *dev, uint16_t port);
uint16_t wg_device_listen_port(const struct wg_device *dev);
int wg_device_set_fwmark(struct wg_device *dev, uint32_t fwmark);

/* Adds the peer or updates an existing one. -EINVAL for a bad allowed IP or endpoint. */
int wg_device_peer_set(struct wg_device *dev, const struct wg_peer_config *pc);
/* -ENOENT when no such peer. */
int wg_device_peer_remove(struct wg_device *dev, const uint8_t public_key[static WG_KEY_LEN]);
void wg_device_peer_remove_all(struct wg_device *dev);
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
