/* Inside meshd's reachability (reach.h): the state reach.c (peers, paths, discovery),
 * probe.c (the STUN probes of our mapping), relay.c (the TURN allocation) and
 * relay_stream.c (TURN over TCP and TLS) share, and the calls each makes into the others.
 * Not for anything outside cmd/daemon/reach/. */
#ifndef MESH_CMD_DAEMON_REACH_INTERNAL_H
#define MESH_CMD_DAEMON_REACH_INTERNAL_H

#include "cmd/daemon/reach/reach.h"

#include "common/common.h"
#include "nat/disco.h"
#include "nat/path.h"
#include "nat/stun.h"
#include "nat/turn.h"

enum {
	PROBE_EVERY_MS = 60000, /* a NAT's mapping behaviour changes when the network does */
	PROBE_SENDS = 3,
	PROBE_RTO_MS = 700,
	RETRY_MIN_MS = 1000, /* the allocation failed: again after 1 s, doubling to 60 s */
	RETRY_MAX_MS = 60000,
	/* ... and the doubling starts over only once an allocation lasted this long: a relay
	 * (or someone on the path) that cuts each allocation as soon as it is made must not get
	 * a new connection, allocation and publish every second */
	RELAY_STABLE_MS = 60000,
	/* What we publish reaches control at most PUBLISH_BURST times at once, then once per
	 * PUBLISH_EVERY_MS, the latest state winning: each publish is a new map request and a
	 * new netmap to every peer (a roam changes two or three things in a few seconds).  Not
	 * slower: a new relayed address is news peers need at once (until it reaches them they
	 * send to the old one, which is gone); a relay that cuts every allocation is held back
	 * by RELAY_STABLE_MS's backoff, not by this */
	PUBLISH_EVERY_MS = 2000,
	PUBLISH_BURST = 5,
	/* A Refresh at least this often while allocated: the relay forgets us when it restarts
	 * and our NAT may remap us (a short UDP timeout), and either shows only as the answer
	 * to a request (437).  So a lost allocation is found within 15 s, not at the lifetime's
	 * end (10 min); it also keeps the mapping to the relay open (ICE's 15 s keepalive). */
	RELAY_CHECK_MS = 15000,
	/* TCP connected and, for TLS, the handshake done within this, or the connection is
	 * given up (a relay that accepts and says nothing must not hold us) */
	STREAM_CONNECT_MS = 10000,
	/* On a TCP/TLS relay because UDP went unanswered: back to UDP no sooner than this, and
	 * only once a STUN probe over UDP to that relay was answered since (see reach.h) */
	UDP_AGAIN_MS = 300000,
	/* ... and after each failed return (UDP allocated in the background, the stream relay
	 * kept meanwhile, and UDP's allocation did not come) the wait doubles, up to this */
	UDP_AGAIN_MAX_MS = 3600000,
	/* The first Allocate over UDP unanswered this long (nat_turn's first three tries, at 0,
	 * 0.5 and 1.5 s, the third's RTO ending at 3.5 s): the TCP/TLS relays are tried now, and
	 * UDP goes on trying in the background as a return to UDP (make-before-break, below),
	 * not only after all seven tries (39.5 s).  A relay that is up answers the first try in
	 * one round trip; three lost in a row is a blocked way far more often than loss, and
	 * when it was loss UDP still wins: it replaces the stream relay once allocated. */
	UDP_ALONE_MS = 3500,
	/* A return to UDP that has not allocated, and bound the peers' channels, within this is
	 * given up (nat_turn's 7 tries take 39.5 s); allocated but not every channel bound by
	 * then, UDP is taken anyway (a peer whose ChannelBind is refused must not hold us) */
	UDP_TRY_MS = 45000,
	DISCO_RATE = 20, /* opens per second per peer: 18 pings in 5 s, pongs, call-me-maybes */
	KEEPALIVE_LEN = 32,
};

/* A peer's handle with this bit is the path WireGuard's datagrams from it through our relay
 * are injected with, so that wg/ answers them the same way: a handshake response to an
 * initiation that came through the relay goes back through it, not by the peer's path of
 * the moment (a direct address that may be stale: the peer restarted, or its NAT mapped it
 * anew, and initiates through the relay until its pings prove a direct path again). */
#define MESHD_VIA_RELAY (UINT64_C(1) << 63)

struct rpeer {
	struct meshd_reach *r;
	uint8_t key[KEY_LEN], disco[KEY_LEN];
	bool has_disco;
	char name[64];
	uint64_t handle; /* WireGuard's path handle, and the path manager's relay handle */
	struct nat_path path;
	struct sockaddr_storage relayed; /* its relayed address (netmap); family 0: none */
	struct sockaddr_storage first;	 /* its first netmap candidate */
	struct sockaddr_storage last_direct;
	enum nat_path_kind kind; /* what the path manager's last CHANGED said */
	struct sockaddr_storage direct;
	int64_t rtt_ms;
	unsigned disco_tokens;
	uint64_t disco_refill_ms;
};

struct probe {
	struct sockaddr_storage to;
	uint8_t txid[NAT_STUN_TXID];
	unsigned sends;
	uint64_t next_ms;
	bool answered;
	uint64_t heard_ms; /* the last answer; 0: none */
	struct sockaddr_storage seen;
};

struct meshd_reach {
	uv_loop_t *loop;
	struct wg_device *wg;
	uint8_t disco_pub[KEY_LEN], disco_priv[KEY_LEN], node_pub[KEY_LEN];
	bool have_disco;
	struct rpeer **peers;
	size_t n_peers;
	uint64_t next_handle;
	/* our own candidates, for call-me-maybes */
	struct sockaddr_storage own[NAT_DISCO_MAX_CANDIDATES];
	size_t n_own;
	uv_timer_t path_timer, relay_timer;
	/* the relays we may use, in the order tried: the first UDP relay, then the TCP and TLS
	 * ones as the netmap lists them (with our credentials: wiped when replaced) */
	struct ctl_relay choices[CTL_RELAYS_MAX];
	size_t n_choices, cur;	 /* cur: the one in use (relay_on) */
	uint64_t udp_again_at;	 /* on a stream relay since UDP went unanswered: when to look */
	uint64_t udp_again_wait; /* UDP_AGAIN_MS, doubled after each failed return to UDP */
	/* A return to UDP (make-before-break): choices[0] allocated over UDP while the stream
	 * relay stays in use; taken over once allocated (relay.c udp_try_*) */
	bool udp_trying;
	bool udp_try_first;	 /* the one started at UDP_ALONE_MS: UDP never answered yet */
	bool udp_try_deferred;	 /* ... due once the stream relay has its name's address */
	struct nat_turn udp_try; /* holds choices[0]'s password and its key: wiped after */
	struct sockaddr_storage udp_try_addr;
	uint64_t udp_try_deadline;
	/* the TURN allocation (relay.c) */
	bool relay_on;
	struct ctl_relay relay; /* with our credentials: wiped when replaced */
	struct sockaddr_storage relay_addr;
	struct nat_turn turn;
	unsigned failures;
	uint64_t retry_at;     /* 0: no retry pending */
	uint64_t udp_alone_at; /* UDP allocating, a stream relay to try: when (0: not) */
	struct sockaddr_storage logged_relayed;
	enum nat_turn_state turn_seen; /* what relay_check saw last */
	uint64_t allocations;	       /* made on this relay, a fresh one after a loss too */
	uint64_t allocated_at;	       /* when the allocation in use was made; 0: none */
	/* over TCP or TLS (relay_stream.c) */
	struct meshd_relay_conn *conn; /* NULL: none (UDP, or between attempts) */
	uint64_t stream_deadline;      /* 0: none; else connected and TLS ready by then */
	char *relay_ca_file;	       /* NULL: the system's trust store */
	/* relays named by DNS (names.c) */
	struct meshd_relay_name *names[CTL_RELAYS_MAX];
	size_t n_names;
	uv_timer_t names_timer; /* a name that did not resolve: asked again */
	/* STUN probes of our mapping, to the netmap's UDP relays */
	struct ctl_relay_url probe_urls[CTL_RELAYS_MAX];
	size_t n_probe_urls;
	struct probe probes[CTL_RELAYS_MAX];
	size_t n_probes;
	uint64_t probe_round_ms;
	bool eim;
	struct sockaddr_storage reflexive;
	/* what we publish */
	char eps[2][CTL_ENDPOINT_MAX];
	size_t n_eps;
	void (*on_endpoints)(void *ctx);
	void *ep_ctx;
	uv_timer_t publish_timer; /* a publish held back by the rate limit */
	bool publish_pending;
	uint64_t publish_tat; /* the rate limit's (GCRA) theoretical arrival time */
	struct {
		uint64_t drop_unknown, drop_stun, drop_channel, drop_disco_peer, drop_disco_bad,
		    drop_disco_rate, pings, pongs, relay_queue_drop;
	} stats;
	struct log_ratelimit rl;
	unsigned pending_closes;
	void (*done)(void *arg);
	void *done_arg;
};

/* ---- reach.c ---- */

/* The socket address of a netmap endpoint. */
void meshd__endpoint_to_sockaddr(const struct ctl_endpoint *e, struct sockaddr_storage *out);
/* Same address and port (and scope). */
bool meshd__same(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* Our own datagram from WireGuard's socket (a failure is logged, rate-limited). */
void meshd__send_to(struct meshd_reach *r, const struct sockaddr_storage *to, const uint8_t *buf,
		    size_t len);
/* The path managers tick on the next loop iteration. */
void meshd__tick_soon(struct meshd_reach *r);
/* What we publish is worked out again; control hears of it when it changed (rate-limited:
 * later, with the state of then). */
void meshd__publish(struct meshd_reach *r);
/* Whether control may hear of a change at now (counted then): PUBLISH_BURST at once, then
 * one per PUBLISH_EVERY_MS; else false with *at, when it may.  tat: 0 at first. */
bool meshd__publish_slot(uint64_t *tat, uint64_t now, uint64_t *at);
/* The STUN probes' targets: the netmap's UDP relays (their addresses now; one whose name
 * is not resolved yet joins when it is: meshd__probe_retarget).  A new round when they
 * changed. */
void meshd__probe_set_relays(struct meshd_reach *r, const struct ctl_netmap *nm, uint64_t now);
void meshd__probe_retarget(struct meshd_reach *r, uint64_t now);
/* A new round of STUN probes of our mapping, sent from the relay timer. */
void meshd__probe_round(struct meshd_reach *r, uint64_t now);
/* The probes' part of the relay timer: a round when due, sends, the verdict once a round
 * is over. */
void meshd__probe_timer(struct meshd_reach *r, uint64_t now);
/* When the probes want the relay timer next (UINT64_MAX: never). */
uint64_t meshd__probe_next(const struct meshd_reach *r);
/* A datagram on the shared socket: true when it answered one of our probes (and was taken). */
bool meshd__probe_answer(struct meshd_reach *r, const uint8_t *buf, size_t len,
			 const struct sockaddr *src);
/* Whether a STUN probe to this address was answered at or after since (ms). */
bool meshd__probe_heard(const struct meshd_reach *r, const struct sockaddr_storage *to,
			uint64_t since);
/* A datagram a peer sent to our relayed address (from is its relayed address), unwrapped:
 * WireGuard to wg/, discovery to the peer's path manager; anything else counted. */
void meshd__relay_data(struct meshd_reach *r, const struct sockaddr_storage *from,
		       const uint8_t *data, size_t n);

/* ---- names.c ---- */

/* The socket address of a relay: its host is an address, or a DNS name resolved on the
 * thread pool.  0 with out set; -EAGAIN while the name is being resolved (then
 * meshd__relay_names_changed is called); -EHOSTUNREACH when it did not resolve (asked again
 * later, then the same call); -EINVAL, -ENOMEM. */
int meshd__relay_addr(struct meshd_reach *r, const struct ctl_relay_url *u,
		      struct sockaddr_storage *out);
/* Forgets the names; answers still coming are dropped. */
void meshd__relay_names_close(struct meshd_reach *r);

/* ---- relay.c ---- */

/* A relay's name resolved to another address, or is due to be asked again: the probes
 * are aimed anew, and the relay in use (or the one waiting for its name) is started again
 * when its address is not the one in use. */
void meshd__relay_names_changed(struct meshd_reach *r);

/* After anything changed (a netmap, an answer): failures start the backoff, each peer's
 * relay handle follows its channel, what we publish follows the allocation, and the relay
 * timer is armed for the allocation's and the probes' next deadlines. */
void meshd__relay_kick(struct meshd_reach *r);
/* The relays of our netmap: starts, keeps or stops the allocation (new relay or new
 * credentials: allocates afresh). */
void meshd__relay_apply(struct meshd_reach *r, const struct ctl_netmap *nm);
/* Forgets the relays; release: end the allocation at the relay first. */
void meshd__relay_stop(struct meshd_reach *r, bool release);
/* A channel for this peer's relayed address (a fresh allocation when all are taken). */
void meshd__relay_add_peer(struct meshd_reach *r, const struct sockaddr_storage *relayed,
			   uint64_t now);
/* The channel to this relayed address is given up (its peer left, or was allocated anew):
 * not renewed, so the relay's permission for it ends and its slot is free again later. */
void meshd__relay_drop_peer(struct meshd_reach *r, const struct sockaddr_storage *relayed,
			    uint64_t now);
/* A STUN message or ChannelData from our relay. */
void meshd__relay_input(struct meshd_reach *r, uint8_t *buf, size_t len);
/* The same from WireGuard's socket, from an address meshd__relay_from took: to our UDP
 * allocation, or to the return to UDP under way while on a stream relay. */
void meshd__relay_udp_input(struct meshd_reach *r, uint8_t *buf, size_t len);
/* Whether a datagram from this address is our UDP relay's (in use, or being returned to). */
bool meshd__relay_from(const struct meshd_reach *r, const struct sockaddr_storage *from);
/* The failure count after a look at the allocation: back to 0 once the one in use has lasted
 * RELAY_STABLE_MS (allocated_at 0: none). */
unsigned meshd__relay_failures(unsigned failures, uint64_t allocated_at, uint64_t now);
/* How long to wait before the next return to UDP after one failed (wait: the last). */
uint64_t meshd__udp_again_next(uint64_t wait);
/* A sealed discovery message to the peer through our relay (ChannelData); dropped while
 * the peer has no bound channel. */
void meshd__relay_send(struct meshd_reach *r, struct rpeer *p, const uint8_t *buf, size_t len);
/* WireGuard's route for a datagram of len bytes to p through the relay: 0 with *out set,
 * -ENETUNREACH while the peer's channel is not bound. */
int meshd__relay_route(struct meshd_reach *r, const struct rpeer *p, size_t len,
		       struct wg_route *out);
/* The relay as a peer's path shows it: "relay turn:HOST:PORT (udp)"; false without one. */
bool meshd__relay_path_text(const struct meshd_reach *r, char text[static MESHD_REACH_PATH_TEXT]);

/* Whether the relay in use is reached over TCP or TLS (relay_stream.c), not UDP. */
static inline bool meshd__relay_on_stream(const struct meshd_reach *r)
{
	return r->relay_on && r->relay.url.transport != CTL_RELAY_UDP;
}
/* The stream is connected (and TLS verified): nat_turn may start. */
void meshd__relay_stream_ready(struct meshd_reach *r);
/* The stream failed or closed (already closed and detached): why, a sentence. */
void meshd__relay_stream_failed(struct meshd_reach *r, const char *why);

/* ---- relay_stream.c ---- */

/* Connects to r->relay (TCP, or TLS checked against r->relay_ca_file for its host); ready or
 * failed is said later through the calls above.  A negative errno with a sentence in err
 * when nothing could be started. */
int meshd__stream_open(struct meshd_reach *r, char *err, size_t errlen);
/* Closes the connection, if any (nothing is called back). */
void meshd__stream_close(struct meshd_reach *r);
/* A TURN message (control: ours, STUN) or ChannelData (padded) for the relay; false when
 * dropped (not open, or over the send queue's bound: counted). */
bool meshd__stream_write(struct meshd_reach *r, const uint8_t *buf, size_t len, bool control);
/* Why a connection not ready by its deadline is given up: a sentence. */
const char *meshd__stream_stalled(const struct meshd_reach *r);
/* Where WireGuard sends a datagram for the stream (the shim on 127.0.0.1); false while
 * the connection is not open. */
bool meshd__stream_route(const struct meshd_reach *r, struct sockaddr_storage *to);

#endif
