/* control/server internal: the server's shared state and the helpers its request handlers
 * use.  One mutex (srv->lock) guards everything here; every handler runs under it, and so
 * does the timer thread.  Held requests are libmicrohttpd connections suspended on a wait
 * list and resumed when what they wait for happens or their deadline passes. */
#ifndef MESH_CONTROL_SERVER_INTERNAL_H
#define MESH_CONTROL_SERVER_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/sbuf.h"
#include "control/netmap/dns.h"
#include "control/netmap/sessions.h"
#include "control/netmap/wire.h"
#include "control/server/node_index.h"
#include "control/server/server.h"
#include "control/server/store.h"

struct pol_compiled;
struct ctl__sso;
struct ctl__sso_job;

enum ctl__wait {
	SRV_WAIT_NONE,
	SRV_WAIT_MAP,	   /* a map poll: any map change for its node */
	SRV_WAIT_REGISTER, /* interactive registration: its login request decided */
	SRV_WAIT_HOLD,	   /* check-mode hold: its hold decided */
	SRV_WAIT_SSO,	   /* an SSO callback: its token exchange done (sso_fetch.c) */
	SRV_WAIT_AUDIT,	   /* GET /api/v1/audit?wait=S: new audit rows (audit_api.c) */
	SRV_WAIT_KINDS
};

struct ctl__node {
	struct ctl_node_rec rec;
	char owner[CTL_LOGIN_MAX]; /* "" for a tagged node */
	uint64_t peer_version;	   /* bumped whenever peer_json changes */
	char *peer_json;	   /* this node as others see it */
	bool online;
	size_t *vis; /* indexes (into srv->nodes) of the peers it sees, ascending id (vis_stale) */
	size_t n_vis;
	char *filter_json, *ssh_json; /* its compiled packet filter and SSH rules */
	/* its relays with credentials for it alone (relay.c); never in peer_json */
	char *relays_json;
	int64_t relays_minted, relays_expire; /* 0: none minted (no relays, or key expired) */
	/* what the node was last sent */
	uint64_t sent_version;
	uint64_t *sent_ids, *sent_vers;
	size_t n_sent;
	/* sent_filter and sent_ssh are filter_json and ssh_json themselves while those did
	 * not change since (shared, not copied: a server's filter is ~70 KB at 10 000 nodes);
	 * ctl__node_set_texts replaces the current ones, keeping the sent ones alive */
	char *sent_filter, *sent_ssh, *sent_self, *sent_relays;
	/* its last map request said "filter_refs": it takes a rule's sources as the index of
	 * one it holds (filter_refs.c); a node built before that is sent whole lists */
	bool filter_refs;
	uint64_t sent_dns_gen; /* the DNS settings it was sent (srv->dns_gen then) */
	/* audit events it sent in the minute from audit_window_ms (now_mono_ms) */
	uint64_t audit_window_ms;
	size_t audit_count;
	int64_t seen_stored; /* shared store: when its last_seen was last written (map.c) */
	/* The sessions an admin asked to end (sessions.c), sent with its next map message: a
	 * copy of those waiting in the store (its live sessions are there), kills_taken of
	 * them in the message being made (ctl__kills_take) */
	struct ctl_session_kill kills[CTL_SESSIONS_KILL_MAX];
	size_t n_kills, kills_taken;
	uint64_t sessions_window_ms; /* lists it sent in the minute from then (now_mono_ms) */
	unsigned sessions_posts;
	/* the list this replica last stored for it (a BLAKE2b of its text) and when (mono ms;
	 * 0: none): the same list again within SRV_SESSIONS_SAME_MS is not written again */
	uint8_t sessions_hash[16];
	uint64_t sessions_stored_ms;
	/* where srv->node_ix holds it (node_index.c): bit k set when it is in node_ix[k],
	 * under ix_hash[k] */
	uint64_t ix_hash[CTL__IX_KINDS];
	unsigned ix_in;
};

enum {
	SRV_SOURCE_MAX = 64, /* "203.0.113.7", "2001:db8:1:2::/64" */
	/* Interactive registrations waiting for a person: anyone with a fresh machine key can
	 * start one, so they are capped, in all and per source address. */
	SRV_LOGINS_MAX = 1024,
	SRV_LOGINS_PER_SOURCE = 32,
	SRV_RELAY_SECRET_MAX = 256,
	/* TURN credentials last a day: long enough that a node cut off from control keeps a
	 * relay for at least half of it (they are minted again with half left), short enough
	 * that a removed node's credentials (the relay cannot be told) die within a day. */
	SRV_RELAY_TTL_S = 24 * 3600,
};

/* What became of a login request or a check-mode hold: a person decides (or it is refused
 * for them: the node went away, the policy changed). */
enum ctl__decision {
	CTL__PENDING = 0, /* a new request (zeroed) waits */
	CTL__APPROVED,
	CTL__REJECTED,
};

/* An interactive registration waiting for a person.  They live in the store (any replica
 * answers or decides one another started), keyed by id: the SHA-256 of the token in its
 * URL, in hex (ctl__login_id), so that the store never holds the token itself. */
enum { SRV_LOGIN_ID_HEX = 64 };
struct ctl__login_req {
	char id[SRV_LOGIN_ID_HEX + 1];
	uint8_t machine_key[32];
	/* what the node asked for, validated when it asked; nothing else of it is kept */
	uint8_t node_key[32];
	char hostname[CTL_HOSTNAME_MAX];
	char **tags; /* the list form (tags.h), malloc'd; freed by ctl__login_clear */
	size_t n_tags;
	bool has_tags; /* it named its tags (maybe none); otherwise a known node keeps its own */
	uint8_t disco_key[32]; /* its discovery key, when has_disco_key */
	bool has_disco_key;
	char source[SRV_SOURCE_MAX]; /* where it came from (see ctl__source) */
	int64_t created;
	enum ctl__decision state;
	char reason[256]; /* why it was rejected, when not by the person's choice */
	int64_t user_id;
	int64_t node_id;
};

struct ctl__hold { /* a check-mode hold */
	char id[33];
	int64_t src, dst;
	char local_user[64]; /* the user the SSH client asked for */
	int64_t check_period_s;
	int64_t created;
	int64_t last_asked; /* when its node last asked about it (forgotten when nobody does) */
	enum ctl__decision state;
	char reason[400]; /* why it was rejected, when not by the person's choice */
	/* approved: who, and when they authenticated for this hold (check_fresh_auth) */
	char approver[CTL_LOGIN_MAX];
	int64_t auth_at;
	/* check mode through the identity provider: the web session that re-authenticated for
	 * this hold (sso_web.c), its user and the provider's auth_time; "" / 0 until then */
	char reauth_session[65];
	int64_t reauth_user, reauth_at;
};

/* Failed passwords in fixed windows, counted in the store (throttle.c) */
enum {
	SRV_THROTTLE_WINDOW_S = 900, /* 15 minutes */
	SRV_THROTTLE_ACCOUNT = 5,    /* failed passwords per account per window */
	SRV_THROTTLE_SOURCE = 20,    /* ... and per source address */
	SRV_THROTTLE_KEYS = 4096,    /* keys with a live window, per kind */
};

/* A web session as a request sees it (session.c; its row is in the store). */
enum { SRV_SESSIONS_PER_USER = 16, SRV_SESSIONS_MAX = 4096 };
struct ctl__session {
	char id[65]; /* the cookie's value; the store has only id_hash, its SHA-256 */
	uint8_t id_hash[32];
	char csrf[33];
	int64_t user_id;
	char login[CTL_LOGIN_MAX];
	int64_t expires;
};

struct ctl__req {
	struct ctl_server *srv;
	struct MHD_Connection *conn;
	char *body;
	size_t len, cap;
	size_t max;	 /* this route's body limit, fixed before any of the body is read */
	size_t budgeted; /* bytes of body counted in srv->body_bytes */
	/* Refused before its body was read (or while it was): the rest of the body is
	 * dropped unread, then the refusal is the answer. */
	enum ctl__refusal {
		SRV_REFUSE_NONE,
		SRV_REFUSE_TOKEN,
		SRV_REFUSE_SIZE,
		SRV_REFUSE_BUSY
	} refusal;
	size_t dropped;
	bool answered; /* the refusal went out from the headers alone */
	/* node API */
	uint8_t machine_key[32], nonce[CTL_WIRE_NONCE_LEN];
	json_t *msg;
	/* held */
	enum ctl__wait wait;
	bool suspended;
	uint64_t deadline_ms; /* now_mono_ms() */
	int64_t node_id;
	char token[SRV_LOGIN_ID_HEX + 1]; /* what it waits for: a hold's id, a login's id */
	struct ctl__sso_job *sso_job;	  /* an SSO callback's exchange (sso_web.c) */
	/* headers of its answer (health.c): an ETag ("" for none), and Mesh-Replica (the
	 * admin API and /healthz) */
	char etag[24];
	bool replica_header;
	struct ctl__session session; /* its web session, read by ctl__session_of */
	struct ctl__req *prev, *next;
};

struct ctl_server {
	struct ctl_server_config cfg;
	char *state_dir, *public_url, *domain;
	struct ctl_store *store;
	uint8_t server_pub[32], server_priv[32];
	uint8_t admin_hash[32];
	struct MHD_Daemon *mhd;
	uint16_t port;
	char *tls_cert, *tls_key; /* PEM, kept while the daemon runs; the key wiped at free */
	size_t tls_key_len;
	pthread_mutex_t lock;
	pthread_t timer;
	bool timer_running, stopping;
	pthread_cond_t timer_cond;
	struct ctl_replay *replay;

	struct ctl__node **nodes; /* ascending id */
	size_t n_nodes, cap_nodes;
	/* the nodes by machine key, node key, discovery key, hostname and addresses
	 * (node_index.h); while ix_broken (an insert ran out of memory) lookups scan instead */
	struct ctl__ix node_ix[CTL__IX_KINDS];
	uint8_t ix_key[CTL__IX_HASH_KEY];
	bool ix_keyed, ix_broken;
	uint64_t map_version;
	bool dirty; /* the topology changed: rebuild on the next tick (batches registrations) */
	/* srv->nodes moved under the nodes' vis indexes (an insert before others, a removal)
	 * since a rebuild last made them all: until one does, map.c makes no map, as while
	 * dirty (a failed rebuild clears dirty, never this) */
	bool vis_stale;
	/* ... but not before this (now_mono_ms): a batch's rebuild is followed by as long
	 * again without one (node.c) */
	uint64_t rebuild_after_ms;
	uint64_t scan_after_ms; /* wall ms: the tick's next scan of every node (node.c) */
	/* what peers see of a node changed (online, endpoints, discovery key): the held map
	 * polls are woken by the next tick, once for every change made meanwhile.  Waking all
	 * of them per change was O(nodes) resumes per node coming online: O(N^2) while 10 000
	 * nodes came up (#21). */
	bool wake_maps;
	int64_t next_expiry;   /* earliest future node key expiry, 0 = none */
	int64_t holds_expired; /* when the tick last forgot stale holds and logins in the store */
	char *policy_text;
	/* the DNS settings' canonical JSON (dns.c), NULL when none; dns_gen counts changes */
	char *dns_json;
	uint64_t dns_gen;
	struct pol_compiled *compiled;
	uint64_t engine_ms; /* the policy engine's share of the last compile */

	struct ctl__hold *holds;
	size_t n_holds;
	/* binds the login form's token to its pre-session cookie; derived from the server key,
	 * so every replica has it (session.c) */
	uint8_t csrf_key[32];
	int64_t transient_swept; /* when the store's expired sessions, etc. were last forgotten */

	/* TURN relays and their shared secret (wiped at free) */
	struct ctl_relay_url relays[CTL_RELAYS_MAX];
	size_t n_relays;
	uint8_t relay_secret[SRV_RELAY_SECRET_MAX];
	size_t relay_secret_len;

	struct ctl__sso *sso; /* single sign-on (sso.h); NULL without --oidc-issuer */
	/* several replicas share the store (replica.c): its change listener, NULL otherwise */
	bool shared;
	struct ctl__replica *fanout;

	/* health and drain (health.c): this replica's name (--replica-name, else the host's),
	 * draining since ctl_server_drain (read without the lock when answers go out), and
	 * the store's last health probe, kept SRV_HEALTH_CACHE_MS */
	char replica[CTL_REPLICA_NAME_MAX + 1];
	atomic_bool draining;
	uint64_t health_at_ms;
	int health_rc;
	int quiesced_fd; /* the listening socket after ctl_server_quiesce (0: not yet; -1: ours) */
	/* with --trusted-proxy, our own listening socket and its thread (proxy_listen.c) */
	struct ctl__proxy_listener *proxy;

	/* Suspended requests, a list for each kind of wait (heads; [SRV_WAIT_NONE] unused) and
	 * their counts: waking one kind walks that kind's list only, so each node's audit
	 * event no longer walked 10 000 held map polls to find the audit waiters (#21). */
	struct ctl__req waiting[SRV_WAIT_KINDS];
	size_t n_waiting[SRV_WAIT_KINDS];
	uint64_t next_deadline_ms; /* the earliest held request's deadline or earlier; 0: none */
	/* Request bodies being received, over all connections (not under srv->lock): bounded
	 * by SRV_BODY_BUDGET before anyone is authenticated. */
	_Atomic size_t body_bytes;
};

/* http.c */
enum MHD_Result ctl__reply(struct MHD_Connection *c, unsigned status, const char *ctype, char *body,
			   size_t len); /* takes ownership of body */
enum MHD_Result ctl__reply_json(struct MHD_Connection *c, unsigned status, json_t *j); /* steals */
enum MHD_Result ctl__reply_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The body was decoded: free it now (a held request may wait a long time). */
void ctl__body_release(struct ctl__req *r);
void ctl__suspend(struct ctl__req *r, enum ctl__wait wait, uint64_t deadline_ms);
/* Resume held requests waiting for `wait` (and, when token is not NULL, that token); the
 * cost is the number of requests held for `wait` alone. */
void ctl__wake(struct ctl_server *srv, enum ctl__wait wait, const char *token);
/* Every kind's held requests resumed (stopping, draining). */
void ctl__wake_all(struct ctl_server *srv);
/* The requests held for `wait` that due says have something to answer resumed. */
void ctl__wake_if(struct ctl_server *srv, enum ctl__wait wait,
		  bool (*due)(struct ctl__req *r, void *ctx), void *ctx);
/* The address a request came from, as the key of per-source limits: an IPv4 address, or
 * the /64 of an IPv6 one (one host usually holds a whole /64). */
void ctl__source(struct MHD_Connection *c, char out[static SRV_SOURCE_MAX]);
/* Wall clock, for what is compared with timestamps stored or sent (last_seen, a request's
 * time, expiries).  Deadlines and intervals use common/now.h's now_mono_ms(). */
uint64_t ctl__wall_ms(void);
int64_t ctl__now_s(void);
void ctl__random_hex(char *out, size_t bytes); /* out holds 2*bytes+1 */

/* libmicrohttpd's request callbacks, for driving requests without a socket (fuzz target). */
enum MHD_Result ctl__http_request(struct ctl_server *srv, struct MHD_Connection *c, const char *url,
				  const char *method, const char *upload, size_t *upload_size,
				  void **con_cls);
void ctl__http_completed(struct ctl_server *srv, struct MHD_Connection *c, void **con_cls);

/* The node API's timings and caps (register.c, hold.c, map.c; the tick forgets by them). */
enum {
	SRV_HOLD_WAIT_MS = 25000,
	SRV_LOGIN_TTL_S = 3600,
	SRV_LAST_SEEN_WRITE_S = 60,
	/* Check-mode holds: any registered node can ask for them, so they are capped per node
	 * asking, per source device and in all; a pending hold nobody has asked about for a
	 * while (its SSH client left without a cancel) is dropped. */
	SRV_HOLDS_PER_NODE = 32,
	SRV_HOLDS_PER_SOURCE = 16,
	SRV_HOLDS_MAX = 4096,
	SRV_HOLD_IDLE_S = 90,	   /* > SRV_HOLD_WAIT_MS: a client waiting asks again before */
	SRV_SESSIONS_PER_MIN = 60, /* a node's lists of live sessions (sessions.c) */
	SRV_SESSIONS_SAME_MS = 60000,
	/* after a batch's rebuild that took T, none for SRV_REBUILD_REST x T (node.c's tick):
	 * rebuilds hold the lock at most half the time while nodes register */
	SRV_REBUILD_REST = 1,
	SRV_SCAN_MS = 1000, /* the tick's scan of every node: online state, relay credentials */
};

/* node.c: the node registry */
int ctl__nodes_load(struct ctl_server *srv);
void ctl__nodes_free(struct ctl_server *srv);
struct ctl__node *ctl__node_by_id(struct ctl_server *srv, int64_t id);
/* node_index.c: the registry's indexes.  The node registered for a machine key, or NULL;
 * another node than self (NULL: any) uses this node key; a node of another machine than
 * mkey is called name (in any case); the node called exactly name, or holding an address
 * (NULL when none; the lowest id when several do). */
struct ctl__node *ctl__node_by_machine(struct ctl_server *srv, const uint8_t mkey[32]);
bool ctl__node_key_taken(struct ctl_server *srv, const struct ctl__node *self,
			 const uint8_t key[32]);
bool ctl__name_taken(struct ctl_server *srv, const uint8_t mkey[32], const char *name);
struct ctl__node *ctl__node_by_hostname(struct ctl_server *srv, const char *name);
struct ctl__node *ctl__node_by_ipv4(struct ctl_server *srv, uint32_t ipv4);
struct ctl__node *ctl__node_by_ipv6(struct ctl_server *srv, const uint8_t ipv6[16]);
/* n indexed under its record's keys now (ctl__node_render calls it after any change):
 * 0, or -ENOMEM (lookups then scan until ctl__nodes_index_repair succeeds); n out of
 * every index (before it is freed); all indexes freed; rebuilt after an -ENOMEM. */
int ctl__node_reindex(struct ctl_server *srv, struct ctl__node *n);
void ctl__node_unindex(struct ctl_server *srv, struct ctl__node *n);
void ctl__nodes_index_free(struct ctl_server *srv);
void ctl__nodes_index_repair(struct ctl_server *srv);
/* Every node is in each index under its keys and nothing else is (for the tests). */
bool ctl__nodes_index_check(struct ctl_server *srv);
/* Adds a node read from or just written to the store (nothing allowed or visible until the
 * next rebuild), with its owner, relays and JSON. */
int ctl__node_insert(struct ctl_server *srv, const struct ctl_node_rec *rec);
/* Looks up the owner's login of a user's node (n->owner; "" for a tagged node).  Always 0. */
int ctl__node_owner(struct ctl_server *srv, struct ctl__node *n);
/* Rebuild the node's public JSON; bumps its version when the text changed.  Called after
 * every change of n->rec: it also reindexes n (ctl__node_reindex). */
int ctl__node_render(struct ctl_server *srv, struct ctl__node *n);
/* The node's compiled filter and SSH rules become filter and ssh (taken; NULL: out of
 * memory, which the caller reports); the old ones are freed unless they are what the node
 * was last sent (sent_filter, sent_ssh), which keep them. */
void ctl__node_set_texts(struct ctl__node *n, char *filter, char *ssh);
/* The node's key has expired at now (a key of a tagged node never does). */
bool ctl__node_expired(const struct ctl__node *n, int64_t now);
/* Free a string that may hold credentials. */
void ctl__secret_free(char *s);
/* Frees what a login request read from the store owns (its tags). */
void ctl__login_clear(struct ctl__login_req *lr);
/* Recompute filters, SSH rules and visibility after a policy or topology change. */
int ctl__map_rebuild(struct ctl_server *srv, char *err, size_t errlen);
/* After the per-node results changed: bump the version and wake the held map polls that
 * have something to answer. */
void ctl__map_published(struct ctl_server *srv);
/* map.c: the held map polls with something to answer resumed (their node gone, owed a full
 * map, or a delta not empty); the others stay held.  After each batch of registrations
 * and each node coming online, a few hundred nodes have a delta, not all 10 000 (#21). */
void ctl__wake_maps(struct ctl_server *srv);
/* Check policy text against the current topology; 0 or -EINVAL with err. */
int ctl__policy_check(struct ctl_server *srv, const char *text, char *err, size_t errlen);
/* Removes nodes from the store and memory, then publishes one map without them; the first
 * error (-ENOENT for an unknown id), every node that could be removed is. */
int ctl__nodes_remove(struct ctl_server *srv, const int64_t *ids, size_t n);
int ctl__node_remove(struct ctl_server *srv, int64_t id);
/* Expire the node's key now: it loses its peers and is told (its self carries the expiry). */
int ctl__node_expire(struct ctl_server *srv, struct ctl__node *n, char *err, size_t errlen);
void ctl__timer_tick(struct ctl_server *srv);
/* The discovery key a request carries ("disco_key"): 1 with it in key, 0 when absent,
 * -EINVAL with the reason in why. */
int ctl__disco_from_msg(json_t *m, uint8_t key[32], char *why, size_t len);
/* Another node than self (NULL: any node) uses this discovery key (node_index.c).  Peers
 * find a discovery message's node by its sender key, so two nodes must never share one. */
bool ctl__disco_taken(struct ctl_server *srv, const struct ctl__node *self, const uint8_t key[32]);
/* The discovery key a known node's request carries, taken (its peers are woken for it);
 * false with the refusal in *res. */
bool ctl__disco_report(struct ctl__req *r, struct ctl__node *n, enum MHD_Result *res);

/* node_api.c: the node API's envelope */
enum MHD_Result ctl__node_api(struct ctl__req *r, const char *path);
/* The node API request decoder (also the fuzz target's entry). */
int ctl__node_decode(const uint8_t server_priv[static 32], struct ctl_replay *replay,
		     const uint8_t *body, size_t len, uint8_t machine_key[static 32],
		     uint8_t nonce[static CTL_WIRE_NONCE_LEN], json_t **msg, bool *authed,
		     const char **why);
/* Answer r sealed to its machine key: a handler's last step (it drops srv->lock meanwhile). */
enum MHD_Result ctl__reply_sealed(struct ctl__req *r, unsigned status, const char *json,
				  size_t len);
enum MHD_Result ctl__reply_sealed_json(struct ctl__req *r, unsigned status, json_t *j); /* steals */
/* A sealed {"error": message}. */
enum MHD_Result ctl__sealed_error(struct ctl__req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* map.c, register.c, hold.c: the node API's requests (r->msg decoded and authenticated);
 * all but register from n, the node registered for r's machine key. */
enum MHD_Result ctl__api_register(struct ctl__req *r);
enum MHD_Result ctl__api_map(struct ctl__req *r, struct ctl__node *n);
enum MHD_Result ctl__api_hold(struct ctl__req *r, struct ctl__node *dst);
/* Holds live in the store (any replica answers or decides one another made); srv->holds
 * are this replica's copies of those it served.  The hold of id: the copy, else the store's
 * (copied), or NULL. */
struct ctl__hold *ctl__hold_find(struct ctl_server *srv, const char *id);
/* h's decision and re-authentication written to the store, where a decision is final: 0;
 * -ESTALE when another replica decided first (h then holds that decision); -ENOENT when
 * the store forgot it (h keeps this replica's view); another error logged. */
int ctl__hold_save(struct ctl_server *srv, struct ctl__hold *h);
/* Every pending copy read again from the store (dropped when it is gone there): another
 * replica changed one (replica.c). */
void ctl__holds_reload(struct ctl_server *srv);
enum MHD_Result ctl__api_logout(struct ctl__req *r, struct ctl__node *n);
/* A login's id in the store: the SHA-256 of its token, hex (the token itself is never
 * stored; the store is searched by this, so no comparison ever touches the token). */
void ctl__login_id(const char *token, char id[static SRV_LOGIN_ID_HEX + 1]);
/* The login of the token in a URL or a followup, read from the store: 0, -ENOENT (unknown,
 * expired, or not a token we make), or the store's error.  Clear *lr after. */
int ctl__login_find(struct ctl_server *srv, const char *token, struct ctl__login_req *lr);
/* lr's decision (state, reason, user, node) written to the store, where it is final (the
 * first wins) and the replica holding the node's request hears it ("login:ID"); this one's
 * held requests are woken.  0, -ESTALE (another replica decided first: lr then holds that
 * decision), -ENOENT (the store forgot it), or another error, logged. */
int ctl__login_save(struct ctl_server *srv, struct ctl__login_req *lr);
/* The person logged in as login (user_id) approved lr: register the node, then store the
 * decision (ctl__login_save).  -EPERM (lr rejected, err says why) when the node asked for
 * tags that person does not own. */
int ctl__register_finish(struct ctl_server *srv, struct ctl__login_req *lr, int64_t user_id,
			 const char *login, char *err, size_t errlen);
/* The policy's decision now on an SSH login from node src to node dst as user, from the
 * compiled policy the maps are made of (pol_ssh_decide): VERDICT_ACCEPT, VERDICT_CHECK, or
 * VERDICT_REJECT with a sentence in why.  A hold's approval never widens it: a hold answers
 * accept only while this says check (or accept). */
int ctl__ssh_verdict(struct ctl_server *srv, int64_t src, int64_t dst, const char *user, char *why,
		     size_t whylen);

/* audit_api.c: the node API's "audit", GET /api/v1/audit, and control's own events: type
 * (node.register, control.login, admin.*, check.*) concerning node n (NULL: none) by actor
 * ("admin token" or a login), from c's client address (NULL: none), stored in the audit log
 * (a failure is logged: the change it records has happened). */
enum MHD_Result ctl__api_audit(struct ctl__req *r, struct ctl__node *n);
enum MHD_Result ctl__admin_audit(struct ctl__req *r, const char *method, const char *rest);
void ctl__audit(struct ctl_server *srv, struct MHD_Connection *c, const char *type,
		const struct ctl__node *n, const char *actor, const char *detail);
/* c's client address in full ("" when unknown). */
void ctl__audit_source(struct MHD_Connection *c, char out[static SRV_SOURCE_MAX]);
/* sessions.c: the node API "sessions" (n's live SSH sessions, replacing its list in the
 * store), the admin's GET /api/v1/sessions and POST /api/v1/sessions/kill; the map's
 * "kill_sessions" (a JSON array's text, malloc'd; NULL when none wait) for n, the kills in it
 * then copied out by ctl__kills_taken (at most CTL_SESSIONS_KILL_MAX; before the lock is let
 * go to send it) and, once the message is queued, removed from the store and from the node
 * of node_id (when it is still there) by ctl__kills_sent; n's copy of its kills forgotten;
 * every node's copy read from the store again (replica.c: "kill:ID"), its map polls held
 * here woken when it got new ones (0, or the store's error); the node called name (or whose
 * id it is), NULL when none. */
enum MHD_Result ctl__api_sessions(struct ctl__req *r, struct ctl__node *n);
enum MHD_Result ctl__admin_sessions(struct ctl__req *r, const char *method, const char *rest);
char *ctl__kills_take(struct ctl__node *n);
size_t ctl__kills_taken(struct ctl__node *n, struct ctl_session_kill *out);
void ctl__kills_sent(struct ctl_server *srv, int64_t node_id, const struct ctl_session_kill *v,
		     size_t n);
void ctl__sessions_forget(struct ctl__node *n);
int ctl__kills_reload(struct ctl_server *srv);
struct ctl__node *ctl__node_by_name(struct ctl_server *srv, const char *name);
/* admin_audit.c: an admin API request that changed something, as its audit event (its
 * answer's status in status; ctl__admin_api calls it) */
void ctl__audit_admin(struct ctl__req *r, const char *method, const char *path,
		      const char *node_name, unsigned status);
/* http.c: the status of the last answer queued on this thread (for ctl__audit_admin) */
extern _Thread_local unsigned ctl__last_status;

/* relay.c */
/* Check the relay options and read the secret (err names the option). */
int ctl__relay_config(struct ctl_server *srv, char *err, size_t errlen);
/* Bring n's relays_json up to date at now: credentials minted when none are held or less
 * than half their lifetime is left, none for a node whose key has expired.  True when it
 * changed (the node's map then carries it as a delta). */
bool ctl__relay_refresh(struct ctl_server *srv, struct ctl__node *n, int64_t now);

/* throttle.c: failed passwords per account and per source, in the store for every replica.
 * Count an attempt for key at now: 0; -EAGAIN when key has used up its attempts in this
 * window, -ENOSPC when the kind has SRV_THROTTLE_KEYS live windows (*retry_at: when to try
 * again); another error when the store could not count it (logged). */
int ctl__throttle_take(struct ctl_server *srv, enum ctl_throttle_kind kind, const char *key,
		       int64_t now, int64_t *retry_at);
/* The attempt succeeded: give it back (all: forget the key's failures too). */
void ctl__throttle_give_back(struct ctl_server *srv, enum ctl_throttle_kind kind, const char *key,
			     bool all, int64_t now);

/* health.c: GET /healthz, for the balancer (no token: it says only ok, draining, or that
 * the store does not answer); the replica's name checked or taken from the host name at
 * ctl_server_new (err says why a name is refused); whether held requests are answered now
 * instead of held (stopping or draining). */
enum { SRV_HEALTH_CACHE_MS = 1000 };
enum MHD_Result ctl__healthz(struct ctl__req *r);
int ctl__replica_config(struct ctl_server *srv, char *err, size_t errlen);
bool ctl__not_holding(const struct ctl_server *srv);
/* The headers r's answer carries beside the body's (ETag, Mesh-Replica, and while draining
 * "Connection: close" so no connection stays with a replica that is going away). */
void ctl__reply_headers(const struct ctl__req *r, struct MHD_Response *resp);

/* proxy_listen.c: with --trusted-proxy, the listening socket at sa is ours: a thread
 * accepts, reads a trusted balancer's PROXY header, and hands each connection to srv->mhd
 * (started without a listening socket) with the client's address; srv->port is set.
 * Quiesce stops accepting (the drain); stop ends the thread, before the daemon stops. */
int ctl__proxy_listen_start(struct ctl_server *srv, const struct sockaddr *sa, socklen_t salen,
			    char *err, size_t errlen);
int ctl__proxy_listen_quiesce(struct ctl_server *srv);
void ctl__proxy_listen_stop(struct ctl_server *srv);

/* state.c: control's own key, STATE/server.key, made on first use. */
int ctl__load_server_key(const char *dir, uint8_t pub[static 32], uint8_t priv[static 32],
			 char *err, size_t errlen);

/* admin.c, web.c */
enum MHD_Result ctl__admin_api(struct ctl__req *r, const char *method, const char *path);

/* dns.c: the tailnet's DNS settings.  Load them from the store at start (0 when none; a
 * stored text the parser refuses now is an error with the reason in err); GET, PUT and
 * DELETE /api/v1/dns. */
int ctl__dns_load(struct ctl_server *srv, char *err, size_t errlen);
enum MHD_Result ctl__admin_dns(struct ctl__req *r, const char *method, const char *rest);
enum MHD_Result ctl__web(struct ctl__req *r, const char *method, const char *path);
/* web.c's page helpers, for the SSO pages (sso_web.c) */
enum MHD_Result ctl__page(struct ctl__req *r, unsigned status, const char *title,
			  const char *cookie, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
enum MHD_Result ctl__redirect(struct ctl__req *r, const char *to, const char *cookie);
void ctl__html_escape(char *out, size_t outlen, const char *in);
/* Whether next is a page of ours a login may go back to (/register/..., /check/...). */
bool ctl__safe_next(const char *next);
/* "; Secure" when people reach us over HTTPS, else "". */
const char *ctl__cookie_secure(const struct ctl_server *srv);
/* session.c: web sessions in the store.  A web session for u, its cookie set and the browser
 * sent on to next (303); a 503 page when the store could not keep it. */
enum MHD_Result ctl__session_start(struct ctl__req *r, const struct ctl_user *u, const char *next);
/* r's session from its cookie, read from the store (in r->session), or NULL: no cookie, one
 * that is not ours, expired, ended (a logout through any replica) or its user removed. */
struct ctl__session *ctl__session_of(struct ctl__req *r);
/* A new session for u stored (r->session), or NULL (logged). */
struct ctl__session *ctl__session_new(struct ctl__req *r, const struct ctl_user *u);
void ctl__session_cookie(struct ctl__req *r, const struct ctl__session *s, char out[static 192]);
enum MHD_Result ctl__session_unavailable(struct ctl__req *r); /* the 503 page */
/* The form's csrf field is s's token (constant time). */
bool ctl__session_csrf_ok(struct ctl__req *r, const struct ctl__session *s);
/* What a hold keeps of the session that re-authenticated for it: the id's hash as hex (the
 * id itself never reaches the store). */
void ctl__session_ref(const struct ctl__session *s, char out[static 65]);
/* POST /logout. */
enum MHD_Result ctl__logout(struct ctl__req *r, const char *method);
/* The login form's CSRF key from the server key (at start, once that is known). */
void ctl__csrf_key_derive(struct ctl_server *srv);
/* Every SWEEP_S, the store's expired sessions, throttle windows and request nonces removed
 * (the timer thread). */
void ctl__transient_sweep(struct ctl_server *srv, int64_t now);
/* sso_web.c: /oidc/start and /oidc/callback; the login page's SSO part (HTML, "" without
 * SSO) into out. */
enum MHD_Result ctl__sso_web(struct ctl__req *r, const char *method, const char *path);
void ctl__sso_login_html(struct ctl__req *r, const char *next, char *out, size_t outlen);
/* Whether a check of a login from src goes through the identity provider (its owner signed
 * in there before) instead of a password typed again (local users: break-glass admins). */
bool ctl__check_via_sso(struct ctl_server *srv, const struct ctl__node *src);
/* web.c: the person of u re-authenticated at the provider for h at auth_at: the browser's
 * session (its own when it is u's, else a new one) may approve h; sent on to h's page. */
enum MHD_Result ctl__check_reauthed(struct ctl__req *r, struct ctl__hold *h,
				    const struct ctl_user *u, int64_t auth_at);

/* The value of key in an application/x-www-form-urlencoded body, decoded into out (cut to
 * outlen); false, with out empty, when the body has no such field. */
bool ctl__form_get(const char *body, const char *key, char *out, size_t outlen);

/* replica.c: replicas sharing a PostgreSQL store */
struct ctl_change;
/* The store at store_url is shared by replicas (anything but SQLite). */
bool ctl__store_shared(const char *store_url);
/* The server key and the admin token's hash from the store, stored there first by whichever
 * replica gets there first (the admin-token file written by that one alone). */
int ctl__replica_identity(struct ctl_server *srv, char *err, size_t errlen);
/* Listen for changes through other replicas (a thread of its own) / stop listening. */
int ctl__replica_start(struct ctl_server *srv, char *err, size_t errlen);
void ctl__replica_stop(struct ctl_server *srv);
/* How a node's stored record differs from the one in memory, most important first. */
enum ctl__rec_diff {
	CTL__REC_SAME,
	CTL__REC_LAST_SEEN,	/* only last_seen moved on (online state, no map change) */
	CTL__REC_SEEN_BY_PEERS, /* endpoints, host keys, hostname, discovery key */
	CTL__REC_TOPOLOGY,	/* key, expiry, owner, tags, addresses: the policy recompiles */
};
enum ctl__rec_diff ctl__node_rec_diff(const struct ctl_node_rec *mem,
				      const struct ctl_node_rec *st);
/* What a change asks a replica to reload (replica.c's RELOAD_* bits; 0: nothing). */
unsigned ctl__replica_reload_bits(const struct ctl_change *c);

/* store.c: the bounds of store.h on a tag list about to be written (-E2BIG, -EINVAL). */
int ctl__store_tags_check(const char *const *v, size_t n);

/* store_sqlite.c and store_sqlite_nodes.c: the SQLite store, the helpers its two files
 * share (errors as -errno; ctl__sq_finish commits when rc is 0, else rolls back) and the
 * operations store_sqlite_nodes.c adds to the ops table. */
struct sqlite3;
struct sqlite3_stmt;
struct ctl__sq_store {
	struct ctl_store base;
	struct sqlite3 *db;
};
struct ctl__sq_store *ctl__sq(struct ctl_store *s);
int64_t ctl__sq_now(void);
struct sqlite3_stmt *ctl__sq_prep(struct sqlite3 *db, const char *sql); /* NULL: error */
int ctl__sq_step_done(struct sqlite3 *db, struct sqlite3_stmt *st);	/* finalizes st */
int ctl__sq_begin(struct sqlite3 *db);
int ctl__sq_finish(struct sqlite3 *db, int rc);
void ctl__sq_copy_text(char *dst, size_t len, const unsigned char *src);
char *ctl__sq_dup_text(const unsigned char *t);
int ctl__sq_meta_get(struct ctl_store *s, const char *key, char *out, size_t outlen);
int ctl__sq_meta_set(struct ctl_store *s, const char *key, const char *value);
int ctl__sq_user_get(struct ctl_store *s, const char *login, struct ctl_user *u, char *pwhash,
		     size_t pwlen);
int ctl__sq_user_remove(struct ctl_store *s, const char *login, ctl_node_cb cb, void *ctx);
int ctl__sq_authkey_add(struct ctl_store *s, struct ctl_authkey *k);
int ctl__sq_authkey_get(struct ctl_store *s, const char *prefix, struct ctl_authkey *k);
int ctl__sq_authkey_list(struct ctl_store *s, ctl_authkey_cb cb, void *ctx);
int ctl__sq_authkey_revoke(struct ctl_store *s, const char *prefix);
int ctl__sq_node_by_machine(struct ctl_store *s, const uint8_t mkey[static 32],
			    struct ctl_node_rec *n);
int ctl__sq_node_get(struct ctl_store *s, int64_t id, struct ctl_node_rec *n);
int ctl__sq_node_register(struct ctl_store *s, struct ctl_node_rec *n, int64_t authkey_id);
int ctl__sq_node_update(struct ctl_store *s, const struct ctl_node_rec *n);
int ctl__sq_node_set_expiry(struct ctl_store *s, int64_t id, int64_t key_expiry);
int ctl__sq_node_list(struct ctl_store *s, ctl_node_cb cb, void *ctx);
int ctl__sq_node_remove(struct ctl_store *s, int64_t id);
/* store_sqlite_audit.c */
int ctl__sq_audit_append(struct ctl_store *s, struct ctl_audit_rec *recs, size_t n, int64_t node_id,
			 const char *queue, int64_t *held);
int ctl__sq_audit_last_queue(struct ctl_store *s, int64_t node_id,
			     char queue[CTL_AUDIT_QUEUE_MAX + 1], int64_t *held);
int ctl__sq_audit_list(struct ctl_store *s, const struct ctl_audit_filter *f, ctl_audit_cb cb,
		       void *ctx);
int ctl__sq_audit_head(struct ctl_store *s, int64_t *id, uint8_t hash[CTL_AUDIT_HASH_LEN]);
int ctl__sq_audit_prune(struct ctl_store *s, int64_t prev_through, const struct ctl_audit_anchor *a,
			struct ctl_audit_rec *event);
/* the trigger that refuses DELETE on the audit log (schema 6), made again after a prune */
#define CTL__SQ_AUDIT_NO_DELETE                                               \
	"CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit" \
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
/* store_sqlite_holds.c: check-mode holds (store.h), and why a decision (an UPDATE ... WHERE
 * state = 0 of the row id) changed nothing: -ESTALE when sql ("SELECT 1 ... = ?") finds
 * the row (decided already), -ENOENT when it is gone */
int ctl__sq_not_pending(struct sqlite3 *db, const char *sql, const char *id);
int ctl__sq_hold_put(struct ctl_store *s, const struct ctl__hold *h);
int ctl__sq_hold_get(struct ctl_store *s, const char *id, struct ctl__hold *h);
int ctl__sq_hold_update(struct ctl_store *s, const struct ctl__hold *h);
int ctl__sq_hold_touch(struct ctl_store *s, const char *id, int64_t last_asked);
int ctl__sq_hold_delete(struct ctl_store *s, const char *id);
int ctl__sq_hold_count(struct ctl_store *s, int64_t src, int64_t dst, struct ctl_hold_count *c);
int ctl__sq_hold_expire(struct ctl_store *s, int64_t created_before, int64_t asked_before);
/* store_sqlite_transient.c: web sessions, password throttles, request nonces (store.h) */
int ctl__sq_session_put(struct ctl_store *s, const struct ctl_web_session *ws, int64_t per_user,
			int64_t max);
int ctl__sq_session_get(struct ctl_store *s, const uint8_t id_hash[static 32], int64_t now,
			struct ctl_web_session *ws);
int ctl__sq_session_delete(struct ctl_store *s, const uint8_t id_hash[static 32]);
int ctl__sq_throttle_take(struct ctl_store *s, const struct ctl_throttle_rule *rule,
			  const char *key, int64_t now, int64_t *retry_at);
int ctl__sq_throttle_give_back(struct ctl_store *s, enum ctl_throttle_kind kind, const char *key,
			       bool all, int64_t now);
int ctl__sq_nonce_add(struct ctl_store *s, const uint8_t nonce[static 24], int64_t expires);
int ctl__sq_transient_expire(struct ctl_store *s, int64_t now);
/* store_sqlite_live.c: live SSH sessions and the kills waiting for each node (store.h) */
int ctl__sq_ssh_sessions_put(struct ctl_store *s, int64_t node_id, const char *list,
			     int64_t reported_ms);
int ctl__sq_ssh_sessions_list(struct ctl_store *s, int64_t node_id, ctl_ssh_sessions_cb cb,
			      void *ctx);
int ctl__sq_ssh_kill_put(struct ctl_store *s, int64_t node_id, const struct ctl_session_kill *k,
			 int64_t made, int64_t max);
int ctl__sq_ssh_kills_list(struct ctl_store *s, int64_t node_id, ctl_ssh_kill_cb cb, void *ctx);
int ctl__sq_ssh_kills_delete(struct ctl_store *s, int64_t node_id, const struct ctl_session_kill *v,
			     size_t n);
/* store_sqlite_logins.c: pending interactive logins and SSO sign-ins in flight (store.h) */
int ctl__sq_login_put(struct ctl_store *s, const struct ctl__login_req *lr);
int ctl__sq_login_get(struct ctl_store *s, const char *id, struct ctl__login_req *lr);
int ctl__sq_login_decide(struct ctl_store *s, const struct ctl__login_req *lr);
int ctl__sq_login_delete(struct ctl_store *s, const char *id);
int ctl__sq_login_count(struct ctl_store *s, const char *source, const uint8_t mkey[static 32],
			struct ctl_login_count *c);
int ctl__sq_login_expire(struct ctl_store *s, int64_t created_before);
int ctl__sq_sso_pending_put(struct ctl_store *s, const char *state_id, const char *sealed,
			    const struct ctl__sso_pending *p);
int ctl__sq_sso_pending_take(struct ctl_store *s, const char *state_id, const char *pre,
			     int64_t now, struct ctl__sso_pending *p, char *sealed,
			     size_t sealed_len);

#endif
