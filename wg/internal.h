/* Internal types shared by the files of wg/: the handshake and keypair state (noise.c),
 * replay window (replay.c), cookies (cookie.c), AllowedIPs trie (allowedips.c), timer
 * state machine (timers.c), index table and the device itself (device.c, send.c,
 * receive.c, peer.c, uapi.c).  Nothing here is visible outside wg/ except to its tests. */
#ifndef MESH_WG_INTERNAL_H
#define MESH_WG_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "common/container.h"
#include "common/log.h"
#include "wg/messages.h"
#include "wg/wg.h"

#define NS_PER_SEC 1000000000ULL
#define NS_PER_MS 1000000ULL

struct wg__peer;

/* One end of a datagram: the socket and a socket address (id 0), or a path of the
 * embedder's (id != 0, see wg_device_ops.route). */
struct wg__path {
	uint64_t id;
	const struct sockaddr *sa; /* id 0 only */
};

/* ---- replay.c ---- */
struct wg__replay {
	uint64_t counter; /* highest accepted counter + 1 */
	uint64_t backtrack[COUNTER_WORDS];
};
void wg__replay_init(struct wg__replay *r);
/* True when `counter` is new and inside the window; records it. */
bool wg__replay_check(struct wg__replay *r, uint64_t counter);

/* ---- index table (device.c) ---- */
enum wg__index_type {
	WG_INDEX_HANDSHAKE = 1,
	WG_INDEX_KEYPAIR = 2,
};
struct wg__index_entry {
	struct wg__index_entry *next;
	uint32_t index;
	enum wg__index_type type;
	struct wg__peer *peer;
	struct wg__keypair *keypair; /* WG_INDEX_KEYPAIR only */
	bool linked;
};
enum { WG_INDEX_BUCKETS = 1 << 12 };
struct wg__index_table {
	struct wg__index_entry *buckets[WG_INDEX_BUCKETS];
};
/* Picks a fresh random index for e and inserts it. */
void wg__index_insert(struct wg__index_table *t, struct wg__index_entry *e);
/* Inserts e with the index it already has (a keypair taking over its handshake's). */
void wg__index_insert_fixed(struct wg__index_table *t, struct wg__index_entry *e);
void wg__index_remove(struct wg__index_table *t, struct wg__index_entry *e);
struct wg__index_entry *wg__index_lookup(struct wg__index_table *t, uint32_t index,
					 unsigned int types);

/* ---- noise.c ---- */
struct wg__static_identity {
	bool has_identity;
	uint8_t static_private[NOISE_PUBLIC_KEY_LEN];
	uint8_t static_public[NOISE_PUBLIC_KEY_LEN];
	/* Noise initial state for our prologue: ck = HASH(construction), h = HASH(ck||prologue) */
	uint8_t initial_ck[NOISE_HASH_LEN];
	uint8_t initial_h[NOISE_HASH_LEN];
};

enum wg__handshake_state {
	HANDSHAKE_ZEROED,
	HANDSHAKE_CREATED_INITIATION,
	HANDSHAKE_CONSUMED_INITIATION,
	HANDSHAKE_CREATED_RESPONSE,
	HANDSHAKE_CONSUMED_RESPONSE,
};

struct wg__handshake {
	enum wg__handshake_state state;
	struct wg__index_entry entry; /* our index while a handshake is in flight */
	uint8_t remote_static[NOISE_PUBLIC_KEY_LEN];
	uint8_t remote_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t precomputed_static_static[NOISE_PUBLIC_KEY_LEN];
	uint8_t preshared_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t ephemeral_private[NOISE_PUBLIC_KEY_LEN];
	uint8_t hash[NOISE_HASH_LEN];
	uint8_t chaining_key[NOISE_HASH_LEN];
	uint8_t latest_timestamp[NOISE_TIMESTAMP_LEN];
	uint32_t remote_index;
	uint64_t last_initiation_consumption_ns;
	bool has_consumed_initiation;
};

struct wg__keypair {
	struct wg__index_entry entry; /* local index */
	uint8_t send_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t recv_key[NOISE_SYMMETRIC_KEY_LEN];
	uint64_t send_counter;
	struct wg__replay replay;
	uint32_t remote_index;
	uint64_t birth_ns;
	bool i_am_initiator;
	bool valid;
};

void wg__noise_identity_init(struct wg__static_identity *id, const uint8_t *private_key,
			     const uint8_t *prologue, size_t prologue_len);
void wg__noise_identity_clear(struct wg__static_identity *id);
/* Sets the remote static key and precomputes DH(s, S_r); false if that DH is zero. */
bool wg__noise_handshake_init(struct wg__handshake *hs, const struct wg__static_identity *id,
			      const uint8_t remote_static[static 32], const uint8_t *psk);
void wg__noise_handshake_clear(struct wg__handshake *hs);

/* Fills all of dst except the macs.  hs->entry.index must be set.  ephemeral: NULL to
 * generate (tests pass a fixed one).  timestamp: TAI64N. */
bool wg__noise_handshake_create_initiation(struct message_handshake_initiation *dst,
					   struct wg__handshake *hs,
					   const struct wg__static_identity *id,
					   const uint8_t *ephemeral,
					   const uint8_t timestamp[static NOISE_TIMESTAMP_LEN]);
/* Finds the peer's handshake by its static key through lookup(); checks the timestamp
 * and the 20 ms flood limit.  Returns the handshake (state CONSUMED_INITIATION) or NULL. */
struct wg__handshake *wg__noise_handshake_consume_initiation(
    const struct message_handshake_initiation *src, const struct wg__static_identity *id,
    struct wg__handshake *(*lookup)(void *ctx, const uint8_t pub[static 32]), void *ctx,
    uint64_t now_ns);
bool wg__noise_handshake_create_response(struct message_handshake_response *dst,
					 struct wg__handshake *hs,
					 const struct wg__static_identity *id,
					 const uint8_t *ephemeral);
/* hs: the handshake found by the receiver index (state CREATED_INITIATION). */
bool wg__noise_handshake_consume_response(const struct message_handshake_response *src,
					  struct wg__handshake *hs,
					  const struct wg__static_identity *id);
/* Derives the transport keys into kp (index taken over from hs->entry) and zeroes hs. */
bool wg__noise_handshake_begin_session(struct wg__handshake *hs, struct wg__keypair *kp,
				       uint64_t now_ns);
/* TAI64N of a wall-clock time in ns (kernel: rounded down to 2^24 ns against timing). */
void wg__tai64n(uint8_t out[static NOISE_TIMESTAMP_LEN], uint64_t wall_ns);

/* ---- cookie.c ---- */
struct wg__cookie_checker {
	uint8_t secret[NOISE_HASH_LEN];
	uint64_t secret_birth_ns;
	bool secret_set;
	uint8_t message_mac1_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t message_cookie_key[NOISE_SYMMETRIC_KEY_LEN];
};
struct wg__cookie_maker {
	uint8_t mac1_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t cookie_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t cookie[COOKIE_LEN];
	uint64_t cookie_birth_ns;
	bool cookie_valid;
	uint8_t last_mac1_sent[COOKIE_LEN];
	bool have_sent_mac1;
};
enum wg__cookie_mac_state {
	COOKIE_INVALID_MAC,
	COOKIE_VALID_MAC_BUT_NO_COOKIE,
	COOKIE_VALID_MAC_WITH_COOKIE,
};
void wg__cookie_checker_init(struct wg__cookie_checker *c, const uint8_t *our_public);
void wg__cookie_maker_init(struct wg__cookie_maker *m, const uint8_t remote_public[static 32]);
/* msg/len: a whole handshake message whose last 32 bytes are struct message_macs. */
void wg__cookie_add_macs(struct wg__cookie_maker *m, uint8_t *msg, size_t len, uint64_t now_ns);
/* Cookies are bound to the source: its IP and port, or the path it came on. */
enum wg__cookie_mac_state wg__cookie_validate(struct wg__cookie_checker *c, const uint8_t *msg,
					      size_t len, const struct wg__path *src,
					      bool check_cookie, uint64_t now_ns);
void wg__cookie_create_reply(struct wg__cookie_checker *c, struct message_handshake_cookie *dst,
			     const uint8_t *msg, size_t len, uint32_t index,
			     const struct wg__path *src, uint64_t now_ns);
bool wg__cookie_consume_reply(struct wg__cookie_maker *m,
			      const struct message_handshake_cookie *src, uint64_t now_ns);

/* ---- allowedips.c ---- */
struct wg__aip_node;
struct wg__allowedips {
	struct wg__aip_node *root4, *root6;
};
/* addr: 4 or 16 bytes in network order.  -EINVAL for a bad cidr, -ENOMEM. */
int wg__aip_insert(struct wg__allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
		   struct wg__peer *peer);
struct wg__peer *wg__aip_lookup(const struct wg__allowedips *t, int family, const uint8_t *addr);
void wg__aip_remove_peer(struct wg__allowedips *t, struct wg__peer *peer);
void wg__aip_free(struct wg__allowedips *t);
/* Calls cb for each prefix of peer; returns how many. cb may be NULL. */
size_t wg__aip_walk_peer(const struct wg__allowedips *t, const struct wg__peer *peer,
			 void (*cb)(void *ctx, const struct addr_prefix *aip), void *ctx);

/* ---- timers.c: the state machine; callers report events, timers.c decides ---- */
struct wg__timers;
struct wg__timer_actions {
	void (*send_initiation)(struct wg__timers *t, bool is_retry);
	void (*send_keepalive)(struct wg__timers *t);
	void (*zero_keys)(struct wg__timers *t);
	void (*give_up)(struct wg__timers *t); /* drop staged packets */
};
struct wg__timers {
	const struct wg__timer_actions *actions;
	uint64_t retransmit_handshake; /* deadlines in ns, 0 = not armed */
	uint64_t send_keepalive;
	uint64_t new_handshake;
	uint64_t zero_key_material;
	uint64_t persistent_keepalive;
	unsigned int handshake_attempts;
	bool need_another_keepalive;
	uint16_t persistent_keepalive_interval; /* seconds, 0 off */
	uint32_t (*jitter_ms)(void);		/* NULL: random 0..REKEY_TIMEOUT_JITTER_MAX_MS */
};
void wg__timers_init(struct wg__timers *t, const struct wg__timer_actions *actions);
void wg__timers_data_sent(struct wg__timers *t, uint64_t now);
void wg__timers_data_received(struct wg__timers *t, uint64_t now);
void wg__timers_any_authenticated_packet_sent(struct wg__timers *t);
void wg__timers_any_authenticated_packet_received(struct wg__timers *t);
void wg__timers_any_authenticated_packet_traversal(struct wg__timers *t, uint64_t now);
void wg__timers_handshake_initiated(struct wg__timers *t, uint64_t now);
void wg__timers_handshake_complete(struct wg__timers *t);
void wg__timers_session_derived(struct wg__timers *t, uint64_t now);
void wg__timers_stop(struct wg__timers *t);
/* Fires every expired timer (in the order the kernel would); returns the next deadline
 * (0 when none). */
uint64_t wg__timers_expire(struct wg__timers *t, uint64_t now);
uint64_t wg__timers_next(const struct wg__timers *t);

/* ---- peer, device ---- */
struct wg__staged {
	uint8_t *buf[MAX_STAGED_PACKETS];
	uint16_t len[MAX_STAGED_PACKETS];
	unsigned int head, count;
};

struct wg__peer {
	struct wg_device *dev;
	struct wg__peer *prev, *next;
	uint64_t serial; /* for log lines */
	struct wg__handshake hs;
	struct wg__keypair *kp_prev, *kp_cur, *kp_next;
	struct wg__cookie_maker cookie;
	struct wg__timers timers;
	uv_timer_t timer; /* armed at timers' next deadline */
	uint64_t timer_armed_at;
	bool has_endpoint;
	struct sockaddr_storage endpoint;
	uint64_t path; /* non-zero: datagrams go by ops.route instead of to the endpoint */
	uint64_t rx_bytes, tx_bytes;
	uint64_t last_handshake_wall_ns;
	uint64_t last_sent_handshake_ns;
	bool has_sent_handshake;
	bool sent_lastminute_handshake;
	struct wg__staged staged;
	char log_name[64];
};

enum {
	WG_TXQ_LEN = 64,
	WG_RXQ_LEN = 32,
	WG_RX_SLOT = 65536, /* a UDP GRO batch of coalesced datagrams */
	WG_SLOT_SIZE = 2048,
	WG_GSO_MAX_SEGS = 64,
	WG_GSO_MAX_BYTES = 65000,
	WG_RX_ITEMS = 2048, /* datagrams of one recvmmsg batch decrypted together */
	WG_DEFAULT_MTU = 1420,
	WG_RATELIMIT_SLOTS = 4096,
	/* where a datagram starts in its txq slot: WG_HEADROOM for ops.route's prefix,
	 * rounded to 16 so the payload keeps the alignment it had without headroom */
	WG_TX_OFFSET = (WG_HEADROOM + 15) & ~15,
};

struct wg__txq {
	unsigned int count;
	struct mmsghdr msgs[WG_TXQ_LEN];
	struct iovec iov[WG_TXQ_LEN];
	struct sockaddr_storage addr[WG_TXQ_LEN];
	/* a datagram of up to WG_SLOT_SIZE at WG_TX_OFFSET, its prefix right before it */
	uint8_t buf[WG_TXQ_LEN][WG_TX_OFFSET + WG_SLOT_SIZE];
	/* encryption deferred to the flush when the device has a crypto worker */
	struct wg__tx_job {
		uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
		uint64_t counter;
		uint16_t plen;
		bool pending;
	} job[WG_TXQ_LEN];
	unsigned int pending;
	/* UDP GSO: runs of equal-sized datagrams to one address leave as one message */
	struct mmsghdr out[WG_TXQ_LEN];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl[WG_TXQ_LEN];
};

/* A socket's poll handle lives on the heap so the socket can be replaced (listen-port
 * change) while the old handle is still closing. */
struct wg__udp_handle {
	uv_poll_t poll;
	int fd;
	struct wg__udp *udp;
	struct wg_device *dev;
};

struct wg__udp {
	struct wg_device *dev;
	struct wg__udp_handle *h;
	int fd;
	int family;
	bool active;
	struct wg__txq *txq;
};

struct wg__ratelimit_slot {
	uint64_t last_ns;   /* shared by the sources that hash here (receive.c) */
	uint64_t tokens_ns; /* token bucket in units of time */
};

struct wg__uapi_conn;

/* pool.c: fork-join over a batch, half on a worker thread (when started) */
struct wg__pool {
	bool started, stop;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	void (*fn)(void *ctx, size_t i);
	void *ctx;
	size_t end;
	uint64_t gen, done_gen;
};
int wg__pool_start(struct wg__pool *p);
void wg__pool_stop(struct wg__pool *p);
/* Calls fn(ctx, i) for i in [0, n); returns when all are done. */
void wg__pool_run(struct wg__pool *p, void (*fn)(void *ctx, size_t i), void *ctx, size_t n);

/* One received datagram of a batch; data messages are decrypted in parallel first. */
struct wg__rx_item {
	uint8_t *buf;
	size_t len;
	const struct sockaddr *src; /* the socket's: path 0 */
	struct wg__keypair *kp;	    /* the keypair the job decrypted with */
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	uint64_t counter;
	bool job, ok;
};

struct wg_device {
	uv_loop_t *loop;
	char name[32];
	struct wg_device_ops ops;
	void *ctx;
	struct wg__static_identity id;
	struct wg__cookie_checker checker;
	uint16_t port;
	uint32_t fwmark;
	unsigned int scale;
	uint64_t clock_skew_ns; /* tests only: added to the clock (fake-clock rekey test) */
	unsigned int mtu;
	struct wg__udp udp4, udp6;
	uv_prepare_t flush;
	struct wg__peer *peers_head, *peers_tail;
	size_t n_peers;
	uint64_t next_serial;
	struct wg__allowedips aip;
	struct wg__index_table idx;
	struct wg_device_stats stats;
	struct log_ratelimit rl;
	uint64_t load_window_start, load_count, under_load_until;
	struct wg__ratelimit_slot *ratelimit;
	uint8_t ratelimit_key[16]; /* SipHash key of the slot index (random per device) */
	uv_pipe_t uapi;
	bool uapi_active;
	char *uapi_path;
	struct wg__uapi_conn *uapi_conns;
	unsigned int open_handles;
	bool freeing;
	bool tx_disabled; /* fuzzing: datagrams are built but never leave */
	bool gso_off;	  /* the kernel refused UDP_SEGMENT once */
	struct wg__pool pool;
	struct wg__rx_item *rx_items;
	struct mmsghdr rx_msgs[WG_RXQ_LEN];
	struct iovec rx_iov[WG_RXQ_LEN];
	struct sockaddr_storage rx_addr[WG_RXQ_LEN];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} rx_ctl[WG_RXQ_LEN];
	uint8_t (*rx_buf)[WG_RX_SLOT];
};

/* Scaled monotonic clock of the device (see wg_device_config.time_scale). */
uint64_t wg__now(const struct wg_device *dev);
void wg__handle_closed(struct wg_device *dev);

/* peer.c */
struct wg__peer *wg__peer_lookup(struct wg_device *dev, const uint8_t pub[static 32]);
void wg__peer_keypairs_clear(struct wg__peer *p);
void wg__peer_timers_update(struct wg__peer *p);
void wg__peer_set_endpoint(struct wg__peer *p, const struct sockaddr *sa);
/* Has a path or an endpoint: something to send to. */
bool wg__peer_reachable(const struct wg__peer *p);
/* An authenticated packet from p came from `from`: roams, or reports to ops.roam. */
void wg__peer_seen(struct wg__peer *p, const struct wg__path *from);
void wg__peer_destroy(struct wg__peer *p);
void wg__peer_install_keypair(struct wg__peer *p, struct wg__keypair *kp);
void wg__peer_confirm_next_keypair(struct wg__peer *p);
bool wg__keypair_usable(const struct wg_device *dev, const struct wg__keypair *kp, uint64_t now,
			bool for_send);

/* send.c */
void wg__send_handshake_initiation(struct wg__peer *p, bool is_retry);
/* Answers the peer's initiation on the way it came (to: its source address or path), not
 * by the peer's path: a peer that came back from a new address (restarted, roamed) gets
 * its answer at once instead of retrying in 5 s; the initiation was authenticated and is
 * not a replay (Noise's timestamp), so this sends nowhere an attacker could choose. */
void wg__send_handshake_response(struct wg__peer *p, const struct wg__path *to);
void wg__send_keepalive(struct wg__peer *p);
void wg__send_staged(struct wg__peer *p);
/* Queues one datagram (copied) on a path (id 0: to the socket address); false when it
 * cannot leave (no socket of that family, ops.route refused, too long). */
bool wg__send_raw(struct wg_device *dev, const struct wg__path *to, const uint8_t *buf, size_t len);
/* The peer's path: its own, or its endpoint. */
struct wg__path wg__peer_path(const struct wg__peer *p);
void wg__flush(struct wg_device *dev);

/* receive.c */
/* Exactly WireGuard: type 1-4, three zero bytes, the type's length (data: at least 32). */
bool wg__is_message(const uint8_t *buf, size_t len);
void wg__receive(struct wg_device *dev, uint8_t *buf, size_t len, const struct sockaddr *src);
/* The same for a datagram that came on a path (wg_device_inject). */
void wg__receive_path(struct wg_device *dev, uint8_t *buf, size_t len, uint64_t path);
/* Takes a token from the handshake bucket of the source (address, or path); false when
 * it is empty. */
bool wg__ratelimit_allow(struct wg_device *dev, const struct wg__path *from, uint64_t now);
/* The slot of the rate-limit table a source uses (tests: to find two that share one). */
size_t wg__ratelimit_slot_of(const struct wg_device *dev, const struct wg__path *from);
/* The batch form: decrypts the data messages of items[0..n) in parallel, then handles each
 * in order exactly as wg__receive() would. */
void wg__receive_batch(struct wg_device *dev, struct wg__rx_item *items, size_t n);

/* uapi.c */
void wg__uapi_close(struct wg_device *dev);

/* Logging helper: the device name as subject. */
#define wg__drop(dev, counter, fmt, ...)                                                           \
	do {                                                                                       \
		(dev)->stats.counter++;                                                            \
		log_debug_rl(&(dev)->rl, (dev)->name, "drop (" #counter "): " fmt, ##__VA_ARGS__); \
	} while (0)

#endif
