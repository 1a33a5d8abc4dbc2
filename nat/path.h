/* The path manager of one peer, without I/O: it decides where that peer's WireGuard goes —
 * a direct address proven by a discovery pong, the TURN relay, or nowhere yet — and which
 * discovery pings and call-me-maybes to send.  The caller reports what happened (a pong, a
 * ping, traffic, a roam report, a call-me-maybe, the relay coming or going) with the time
 * of its monotonic clock in ms, calls nat_path_tick() at nat_path_next_deadline() and
 * after every report, and carries out the actions it is handed.  So meshd wires it to
 * wg/ and nat/disco, and unit tests drive it on a fake clock.
 *
 *	struct nat_path_config cfg = { 0 };          // txids from libsodium
 *	nat_path_init(&p, &cfg);
 *	nat_path_set_relay(&p, relay_handle, now);   // a TURN channel to the peer, or 0
 *	nat_path_add_candidate(&p, &addr, NAT_PATH_CAND_LOCAL, now);   // from the netmap
 *	nat_path_on_traffic(&p, now);                // per data packet, either way
 *	nat_path_tick(&p, now, act, ctx);            // SEND_PING: nat_disco_seal + send;
 *	                                             // CHANGED: wg_device_peer_set
 *	uv_timer_start(..., nat_path_next_deadline(&p) - now, ...);
 *
 * Policy (timers below; Tailscale's magicsock uses the same five):
 *  - no direct path trusted: WireGuard goes by the relay when there is one (else nowhere:
 *    NAT_PATH_NONE), and every candidate is pinged, each at most every PING_SPACING, with a
 *    call-me-maybe through the relay so the peer punches towards us at the same time;
 *  - a pong proves its candidate: the best proven one (lowest RTT, a LAN candidate's counted
 *    RTT_MARGIN lower) becomes the path when it beats the current one by more than
 *    RTT_MARGIN, or is on the LAN against one that is not, within it;
 *  - except that the current path counts no more once the peer has moved away from it:
 *    since the path's last pong, authenticated WireGuard came from another candidate (a
 *    roam report) and a pong proved that one.  A peer that restarted on another port, or
 *    whose NAT mapped it anew, answers there and no more on the old address, which would
 *    stay trusted until its TRUST runs out (and win on its older, often lower, RTT): our
 *    replies went there for up to 6.5 s (the first SSH connection's SYN-ACK lost, and the
 *    TCP retries after it);
 *  - while traffic flows the direct path is pinged every HEARTBEAT and trusted until its
 *    last pong + TRUST; then the relay takes over at once and all candidates are pinged;
 *  - with a direct path, all candidates are pinged again every UPGRADE for a better one;
 *    a candidate never pinged (new, or from a roam report) is pinged at once;
 *  - after IDLE without traffic either way no pings go out, except the punch a call-me-maybe
 *    (or a ping from a new address) asks for: the peer means to talk.
 *
 * Bounds (the peer, or whoever can make it look so, decides what arrives): at most
 * NAT_PATH_MAX_CANDIDATES candidates (a new one evicts the least useful: never the active
 * path; unproven before proven; then the one heard of longest ago), NAT_PATH_MAX_PINGS pings
 * in flight (the oldest is forgotten), and at most NAT_PATH_PING_CAP pings in any PING_SPACING
 * whatever arrives (a call-me-maybe flood cannot make us spray).  A pong counts only
 * with the txid of a ping we sent to exactly the address it comes from, within PING_TIMEOUT.
 * Disco seals pongs, so only the peer can make one; this stops a pong for one candidate
 * proving another.  Every entry point takes the time; a clock that goes back is taken as
 * standing still. */
#ifndef MESH_NAT_PATH_H
#define MESH_NAT_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "nat/disco.h"

/* Timers, ms.  Why these:
 *  HEARTBEAT 3 s and TRUST 6.5 s: one lost heartbeat pong (or one late by up to 0.5 s)
 *    keeps the path, two lost move traffic to the relay; a dead direct path blackholes at
 *    most 6.5 s, which TCP's retransmissions (1 s initial RTO, doubling) ride out.  3 s is
 *    also far inside the shortest UDP mapping timeouts of NATs seen in practice (~30 s).
 *  PING_SPACING 5 s: a candidate is pinged at most that often; with 16 candidates that is
 *    at most 3.2 pings/s per peer while probing.  PING_TIMEOUT 5 s: a path slower than that
 *    is no path; the answer to one ping is in or given up before the next is sent.
 *  UPGRADE 60 s: a round over all candidates costs up to 16 pings (and a call-me-maybe)
 *    per peer; once a minute finds a LAN path appearing without keeping peers busy.
 *  IDLE 45 s: longer than an interactive session's usual pauses, so a resumed keystroke
 *    finds the direct path still warm; the caller reports data packets only (not
 *    keepalives: a 25 s persistent keepalive would otherwise keep every peer awake).
 *  RTT_MARGIN: two RTTs closer than max(2 ms, 10 % of the larger) are a tie, so that the
 *    path does not flap between two equal ones and a LAN candidate wins over the NAT's
 *    hairpin (often the same RTT). */
enum {
	NAT_PATH_HEARTBEAT_MS = 3000,
	NAT_PATH_TRUST_MS = 6500,
	NAT_PATH_PING_SPACING_MS = 5000,
	NAT_PATH_PING_TIMEOUT_MS = 5000,
	NAT_PATH_UPGRADE_MS = 60000,
	NAT_PATH_IDLE_MS = 45000,
	NAT_PATH_RTT_MARGIN_MS = 2,
	NAT_PATH_RTT_MARGIN_PCT = 10,

	NAT_PATH_MAX_CANDIDATES = 16,
	NAT_PATH_MAX_PINGS = 32,
	/* Pings in any PING_SPACING: every candidate once and the heartbeats (3 s apart: two
	 * fit in 5 s). */
	NAT_PATH_PING_CAP = NAT_PATH_MAX_CANDIDATES + 2,
};

/* nat_path_next_deadline() when nothing is due until something is reported. */
#define NAT_PATH_NO_DEADLINE UINT64_MAX
/* A time that has not happened (no ping yet, no pong yet, no traffic yet). */
#define NAT_PATH_NEVER UINT64_MAX

/* Where a candidate came from.  The lower the value, the more it says: a candidate heard
 * of again keeps the lowest type it was given. */
enum nat_path_cand_type {
	NAT_PATH_CAND_LOCAL,	 /* a LAN address the peer published (netmap) */
	NAT_PATH_CAND_REFLEXIVE, /* its address as a STUN server saw it (netmap) */
	NAT_PATH_CAND_CALLED,	 /* carried by the peer's call-me-maybe */
	NAT_PATH_CAND_PING,	 /* the source of a discovery ping from the peer (we pong it) */
	NAT_PATH_CAND_ROAM,	 /* the source of authenticated WireGuard (wg ops.roam) */
};

enum nat_path_kind {
	NAT_PATH_NONE,	 /* no path known to work: no relay, no direct path proven */
	NAT_PATH_DIRECT, /* to a candidate's address */
	NAT_PATH_RELAY,	 /* through the relay (the caller's handle) */
};

enum nat_path_action_type {
	NAT_PATH_SEND_PING,	     /* seal a ping with txid, send it to addr */
	NAT_PATH_SEND_CALL_ME_MAYBE, /* send our candidates to the peer through relay */
	NAT_PATH_CHANGED,	     /* the peer's WireGuard goes by kind (addr or relay) now */
};

struct nat_path_action {
	enum nat_path_action_type type;
	enum nat_path_kind kind;      /* CHANGED */
	struct sockaddr_storage addr; /* SEND_PING; CHANGED to DIRECT */
	uint8_t txid[NAT_DISCO_TXID]; /* SEND_PING */
	uint64_t relay;		      /* CHANGED to RELAY; SEND_CALL_ME_MAYBE */
};

/* Fills buf with len random bytes (transaction ids). */
typedef void nat_path_random_fn(void *ctx, uint8_t *buf, size_t len);
/* Carries out one action; a is valid only during the call. */
typedef void nat_path_emit_fn(void *ctx, const struct nat_path_action *a);

struct nat_path_config {
	nat_path_random_fn *random; /* NULL: libsodium's randombytes_buf */
	void *random_ctx;
};

struct nat_path_cand {
	struct sockaddr_storage addr;
	enum nat_path_cand_type type;
	uint64_t seen_ms; /* added or last heard of */
	uint64_t ping_ms; /* last ping sent; NAT_PATH_NEVER */
	uint64_t pong_ms; /* last pong accepted; NAT_PATH_NEVER */
	uint32_t rtt_ms;  /* of that pong */
	uint64_t roam_ms; /* last authenticated WireGuard from it (roam report); NAT_PATH_NEVER */
	bool punch;	  /* ping at the next tick, spacing and idleness regardless */
};

struct nat_path_ping {
	bool used;
	uint8_t txid[NAT_DISCO_TXID];
	struct sockaddr_storage to;
	uint64_t sent_ms;
};

/* The state of one peer; plain memory, no resources (nothing to free). */
struct nat_path {
	struct nat_path_config cfg;
	struct nat_path_cand cand[NAT_PATH_MAX_CANDIDATES];
	size_t n_cand;
	struct nat_path_ping ping[NAT_PATH_MAX_PINGS];
	uint64_t relay;		 /* 0: none */
	enum nat_path_kind kind; /* what the last CHANGED said (NONE before any) */
	int active;		 /* DIRECT: index into cand */
	uint64_t relay_active;	 /* RELAY: the handle the last CHANGED named */
	bool decide;		 /* something changed that may move the path: tick now */
	uint64_t now_ms;	 /* latest time seen */
	uint64_t traffic_ms;	 /* last data either way; NAT_PATH_NEVER */
	uint64_t probe_ms;	 /* last round of pings to the candidates; NAT_PATH_NEVER */
	uint64_t cmm_ms;	 /* last call-me-maybe asked for; NAT_PATH_NEVER */
	uint64_t sent[NAT_PATH_PING_CAP]; /* times of the last pings (the cap's window) */
	size_t sent_at;			  /* the oldest of them, overwritten next */
};

/* What `meshctl status` shows for the peer. */
struct nat_path_status {
	enum nat_path_kind kind;
	struct sockaddr_storage addr;  /* DIRECT */
	enum nat_path_cand_type type;  /* DIRECT */
	uint32_t rtt_ms;	       /* DIRECT: the last pong's round trip */
	uint64_t pong_age_ms;	       /* DIRECT: since that pong */
	uint64_t relay;		       /* RELAY: the handle; else the relay known, 0: none */
	size_t n_candidates, n_proven; /* proven: a pong inside the trust window */
	size_t pings_in_flight;
	bool idle;
};

/* Starts a peer with no candidates, no relay, path NONE, idle.  cfg is copied. */
void nat_path_init(struct nat_path *p, const struct nat_path_config *cfg);

/* 0 when sa can be a peer's direct address: IPv4 or IPv6, a port, not unspecified,
 * multicast or broadcast.  -EINVAL with a sentence quoting it in err (when given). */
int nat_path_check_addr(const struct sockaddr *sa, char *err, size_t errlen);

/* A candidate address (netmap, or any source the caller learnt).  1 when new, 0 when
 * known (refreshed; keeps the lower type), -EINVAL when nat_path_check_addr refuses it. */
int nat_path_add_candidate(struct nat_path *p, const struct sockaddr *addr,
			   enum nat_path_cand_type type, uint64_t now_ms);

/* The peer's netmap entry now publishes exactly addrs (n of them, relayed ones left out):
 * a candidate only the netmap vouched for (local or reflexive) that is no longer among
 * them is forgotten with its pings in flight, unless it is the active path or a pong
 * proves it (it still works: it goes, if ever, the way any candidate does).  Without this,
 * addresses a peer left behind (a LAN it roamed away from, a NAT mapping that changed)
 * kept being pinged every upgrade round and kept slots.  Returns how many went. */
size_t nat_path_retain_netmap(struct nat_path *p, const struct sockaddr_storage *addrs, size_t n,
			      uint64_t now_ms);

/* The relay path to this peer (the caller's non-zero handle, e.g. a TURN channel to the
 * peer's relayed address), or 0 when there is none. */
void nat_path_set_relay(struct nat_path *p, uint64_t relay, uint64_t now_ms);

/* WireGuard data to or from the peer.  True when the peer was idle: pings start again, so
 * tick and re-arm the timer (false: nothing moved earlier; cheap, for every packet). */
bool nat_path_on_traffic(struct nat_path *p, uint64_t now_ms);

/* A pong (opened by disco) with txid, from the address from.  0 when it answers a ping we
 * sent to exactly that address within PING_TIMEOUT (the candidate is proven; tick now);
 * -ENOENT for a txid we did not send or gave up on, -EADDRNOTAVAIL when from is not where
 * that ping went. */
int nat_path_on_pong(struct nat_path *p, const uint8_t txid[NAT_DISCO_TXID],
		     const struct sockaddr *from, uint64_t now_ms);

/* A ping from the peer (opened by disco) came from `from`: the caller pongs it, and it
 * becomes a candidate (NAT_PATH_CAND_PING), pinged back at the next tick (unless pinged
 * within PING_SPACING and answered since).  As nat_path_add_candidate. */
int nat_path_on_ping(struct nat_path *p, const struct sockaddr *from, uint64_t now_ms);

/* wg ops.roam: authenticated WireGuard from an address that is not the peer's path.  It
 * becomes a candidate (NAT_PATH_CAND_ROAM), used only once a pong proves it.  As
 * nat_path_add_candidate, except that 1 also means the path may move now (tick): the
 * peer has moved there (see "moved" above).  Cheap (wg/ reports every such packet). */
int nat_path_on_roam(struct nat_path *p, const struct sockaddr *from, uint64_t now_ms);

/* A call-me-maybe from the peer with n candidates: they are added and every candidate is
 * pinged at the next tick (the peer punches towards us now).  The number added or
 * refreshed (refused addresses are skipped; nat_path_check_addr says why), or -E2BIG when
 * n > NAT_DISCO_MAX_CANDIDATES (nothing taken). */
int nat_path_on_call_me_maybe(struct nat_path *p, const struct sockaddr_storage *cand, size_t n,
			      uint64_t now_ms);

/* Does what is due by now_ms: moves the path (CHANGED), then pings (SEND_PING) and asks
 * for a call-me-maybe (SEND_CALL_ME_MAYBE), in that order, through emit. */
void nat_path_tick(struct nat_path *p, uint64_t now_ms, nat_path_emit_fn *emit, void *ctx);

/* When nat_path_tick next has something to do (ms, the caller's clock), or
 * NAT_PATH_NO_DEADLINE.  After a tick at t it is later than t. */
uint64_t nat_path_next_deadline(const struct nat_path *p);

/* The peer's path for status displays, as of the latest time seen. */
void nat_path_get_status(const struct nat_path *p, struct nat_path_status *out);

/* "local", "reflexive", "call-me-maybe", "ping" or "roam"; "none", "direct" or "relay". */
const char *nat_path_cand_type_name(enum nat_path_cand_type t);
const char *nat_path_kind_name(enum nat_path_kind k);

#endif
