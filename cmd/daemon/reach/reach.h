/* How this node reaches its peers: nat/ wired to wg/'s hooks on meshd's loop.
 *
 * One WireGuard UDP socket carries everything (wg ops.other hands us what is not
 * WireGuard): STUN Binding to the UDP relays in our netmap (our reflexive address, and
 * whether the NAT maps endpoint-independently), one TURN allocation (a channel to each
 * peer's relayed address: coturn relays only between its own relay addresses), and
 * discovery pings, pongs and call-me-maybes sealed with our
 * disco.key.  Each peer has a nat_path (nat/path.h) and a path handle that WireGuard
 * sends on: ops.route asks the path manager per datagram, a direct address or the relay
 * (ChannelData header in WG_HEADROOM).
 *
 *	meshd_reach_new(loop, wg, &r);             // before any netmap
 *	meshd_reach_set_disco_key(r, pub, priv);   // from the control client
 *	meshd_reach_apply_netmap(r, nm);           // peers, candidates, relays
 *	pc.path = meshd_reach_peer_handle(r, key); // WireGuard peer config
 *	// wg ops: other -> meshd_reach_on_other, route -> meshd_reach_route,
 *	//         roam -> meshd_reach_on_roam
 *
 * Which relay (relay.c): UDP first, from WireGuard's socket (it is the faster path, and the
 * one our reflexive address comes from).  When the first UDP relay does not answer at all
 * (UDP_ALONE_MS, 3.5 s: nat/turn's first three tries), the TCP and TLS relays of the netmap
 * are tried in order, while UDP goes on trying in the background (a return to UDP, below,
 * started at once: UDP is taken if it allocates after all)
 * (relay_stream.c: a network that lets only TCP 443 out), said in the log and in the
 * allocation's status ("turns:HOST:443 ... (tls) allocated ADDR:PORT").  A TCP/TLS relay
 * that never allocated gives way to the next at once; otherwise failures back off (1 s
 * doubling to 60 s; the doubling starts over only after an allocation lasted
 * RELAY_STABLE_MS, 60 s, so a relay that cuts each allocation at once is not reconnected to
 * every second) on the same relay, with the reason (nat/tls's sentence for a refused
 * certificate) in the status.  "No answer" means nothing at all was answered since the
 * allocation started: a Refresh of a working UDP allocation that times out (40 s of loss)
 * backs off on UDP; only the Allocate after it, unanswered too (3.5 s), moves to TCP/TLS.
 * Back to UDP, make-before-break: every UDP_AGAIN_MS (5 minutes) while on a stream relay we
 * look whether a STUN probe over UDP to the UDP relay was answered in that time (the probes
 * of our mapping go every minute anyway); only then is UDP allocated, in the background,
 * while the stream relay stays in use; UDP is taken (and the stream's allocation ended)
 * once allocated with the peers' channels bound (or allocated at UDP_TRY_MS, 45 s).  A
 * return that does not allocate within UDP_TRY_MS doubles the wait before the next (5, 10,
 * 20, 40 minutes, then every UDP_AGAIN_MAX_MS, an hour; a return that worked, or another
 * relay list, starts over at 5).  So a blocked UDP costs one 3.5 s wait, and a UDP that
 * answers STUN but not TURN (a firewall, or someone on the path) costs no relayed traffic
 * and a shrinking number of background tries.  New credentials keep the relay in use.
 *
 * What we publish (meshd_reach_endpoints, typed as control/netmap/endpoint.h): our
 * reflexive address only from behind an endpoint-independent NAT (two relay addresses
 * saw the same mapping), and our relayed address.  Control hears of a change at most
 * PUBLISH_BURST (5) times at once, then once per PUBLISH_EVERY_MS (2 s), with the state of
 * then: each publish is a new map request and a new netmap for every peer.
 *
 * MTU: a relayed datagram is 4 bytes longer (ChannelData).  The tunnel's MTU is the
 * netstack's 1280 for every peer, so a relayed packet is at most 1280 + 32 + 4 + 8 + 40 =
 * 1364 bytes on the wire: it fits a 1500-byte path to the relay over IPv4 or IPv6, and no
 * path needs an MTU of its own.  See README. */
#ifndef MESH_CMD_DAEMON_REACH_H
#define MESH_CMD_DAEMON_REACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "control/localapi/localapi.h"
#include "control/netmap/endpoint.h"
#include "control/netmap/netmap.h"
#include "wg/wg.h"

struct meshd_reach;

enum { MESHD_REACH_PATH_TEXT = 400 }; /* "relay turn:HOST:PORT (udp)" with a long host */

/* Creates the reachability of one node on wg's socket (no I/O until a netmap). */
int meshd_reach_new(uv_loop_t *loop, struct wg_device *wg, struct meshd_reach **out);
/* Stops timers; memory goes in the close callbacks, then done(arg). */
void meshd_reach_close(struct meshd_reach *r, void (*done)(void *arg), void *arg);

/* Our discovery key pair (disco.key) and WireGuard public key (pings carry it).  Copied;
 * the caller wipes its own copy of priv. */
void meshd_reach_set_disco_key(struct meshd_reach *r, const uint8_t pub[static 32],
			       const uint8_t priv[static 32]);
void meshd_reach_set_node_key(struct meshd_reach *r, const uint8_t pub[static 32]);

/* Takes peers (candidates, relayed addresses, disco keys), our own endpoints and the
 * relays from nm (borrowed during the call).  Peers missing from nm stay until
 * meshd_reach_remove_peer (WireGuard lingers them a moment). */
void meshd_reach_apply_netmap(struct meshd_reach *r, const struct ctl_netmap *nm);
/* The peer's WireGuard path handle (never 0); 0 when it is not in a netmap we applied. */
uint64_t meshd_reach_peer_handle(const struct meshd_reach *r, const uint8_t key[static 32]);
void meshd_reach_remove_peer(struct meshd_reach *r, const uint8_t key[static 32]);
void meshd_reach_remove_all(struct meshd_reach *r);

/* wg's hooks (struct wg_device_ops), with the reach as ctx. */
void meshd_reach_on_other(struct meshd_reach *r, uint8_t *buf, size_t len,
			  const struct sockaddr *src);
int meshd_reach_route(struct meshd_reach *r, uint64_t path, size_t len, struct wg_route *out);
void meshd_reach_on_roam(struct meshd_reach *r, const uint8_t key[static 32],
			 const struct wg_source *from);

/* The CA file (PEM) a TLS relay's certificate must chain to (copied); NULL: the system's
 * trust store.  Used from the next connection on. */
int meshd_reach_set_relay_ca_file(struct meshd_reach *r, const char *path);

/* Called when what meshd_reach_endpoints returns changed (control should hear of it). */
void meshd_reach_on_endpoints(struct meshd_reach *r, void (*cb)(void *ctx), void *ctx);
/* Our reflexive (when the NAT is endpoint-independent) and relayed endpoints, typed
 * texts; returns how many (at most max). */
size_t meshd_reach_endpoints(const struct meshd_reach *r, char out[][CTL_ENDPOINT_MAX], size_t max);

/* The peer's path for status: "direct 10.0.0.5:41641", "relay turn:HOST:3478 (udp)" or
 * "none", and the round trip of the last pong from it (-1: none yet).  -ENOENT when the
 * peer is unknown. */
int meshd_reach_peer_path(const struct meshd_reach *r, const uint8_t key[static 32],
			  char text[static MESHD_REACH_PATH_TEXT], int64_t *rtt_ms);

/* Our TURN allocation for status: the relay, its state, our relayed address, how many
 * allocations these credentials made, and after a failure why and when the next try is. */
void meshd_reach_alloc_status(const struct meshd_reach *r, struct ctl_lapi_alloc *out);

/* Calls cb for every counter ("nat.drop_unknown", ...). */
void meshd_reach_counters(const struct meshd_reach *r,
			  void (*cb)(void *ctx, const char *name, uint64_t value), void *ctx);

#endif
