/* control/client internals: the client's state and the functions its files share.
 *   client.c     the connect -> register -> map-stream state machine, logout, the API
 *   hold.c       check-mode holds (long-polled requests, cancelled at control when given up)
 *   transport.c  libcurl multi driven by libuv (uv_poll per socket, one timer for curl)
 *   cache.c      the netmap cache on disk (written off the loop, at most every 5 s)
 *   cache_text.c the cache's text, each unchanged peer's kept from the last time
 *   nodekey.c    node key rotation (node.key.next) and re-login when the key expires
 *   failover.c   which of several control servers to try next, and the backoff
 *   audit.c      audit events to control (node API "audit")
 *   sessions.c   the live SSH sessions to control (node API "sessions"), kills from it
 * Nothing here is for use outside control/client. */
#ifndef MESH_CONTROL_CLIENT_INTERNAL_H
#define MESH_CONTROL_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "common/container.h"
#include "common/sbuf.h"
#include "control/client/client.h"
#include "control/netmap/wire.h"

enum {
	BACKOFF_MIN_MS = 500,
	BACKOFF_MAX_MS = 30000,
	MAP_TIMEOUT_MS = 120000,
	REQ_TIMEOUT_MS = 60000,
	/* The cache is written this long after the first change it has not got yet: a burst
	 * of deltas (peers coming online) costs one write, and applying a delta never waits
	 * behind serializing the whole netmap. */
	CACHE_DELAY_MS = 1000,
	/* ...and at most once in this long while deltas keep coming: each write is an fsync
	 * (of the deltas appended since, or of the whole netmap: a server's 900 peers, ~0.3 MB;
	 * cache.c).  Nothing a node needs is lost by it: a write still due is done at exit
	 * (ctl_client_free), a full map (a reconnect, a new start) is written CACHE_DELAY_MS
	 * after it whatever the interval, and a crash in between leaves the previous netmap
	 * whole, from whose version the map stream asks control again.  And
	 * nothing taken from a node comes back by it: a delta that takes access away (peers
	 * removed, a filter or SSH rules: ctl__cache_prompt) is written CACHE_DELAY_MS after it
	 * too, so a crash and a restart with control unreachable enforce the old, wider rules
	 * for that second at most, as before the interval (review-70 #5). */
	CACHE_INTERVAL_MS = 5000,
	/* The deltas appended to the cache are at most as big as the netmap they follow, and
	 * may be this big whatever its size; past it the whole netmap is written again. */
	CACHE_LOG_MIN = 64 << 10,
	/* After a re-login that left the key expired by our clock (skew with control's), wait
	 * this long before trying again. */
	RELOGIN_RETRY_S = 60,
};

/* failover.c: the servers (1 to CTL_SERVERS_MAX), the one in use, and the backoff. */
enum { CTL_SERVERS_MAX = 8 };
struct ctl__failover {
	size_t n, cur;		/* how many servers; the index of the one in use */
	size_t failed_in_round; /* servers failed since the last answer or full round */
	unsigned backoff_ms;
	uint64_t rng; /* the jitter's generator */
};
void ctl__failover_init(struct ctl__failover *f, size_t n, uint64_t seed);
/* The server in use failed: cur moves to the next one; the delay before trying it. */
unsigned ctl__failover_failed(struct ctl__failover *f);
/* The server in use answered: it stays, and the backoff starts again from its minimum. */
void ctl__failover_ok(struct ctl__failover *f);
/* A comma-separated list of URLs (spaces around them and trailing '/' dropped, empty items
 * skipped) into a new string vector; -EINVAL for none, -E2BIG for more than
 * CTL_SERVERS_MAX, each with the reason in err. */
int ctl__servers_parse(const char *list, char ***urls, size_t *n, char *err, size_t errlen);

enum req_kind {
	REQ_KEY,
	REQ_REGISTER,
	REQ_MAP,
	REQ_HOLD,
	REQ_LOGOUT,
	REQ_AUDIT,
	REQ_SESSIONS,
};

struct creq;

/* cache_text.c: each peer's text in the cache file, by its JSON object (a reference kept). */
struct ctl__peer_text;
struct ctl__cache_texts {
	struct ctl__peer_text *slots; /* open addressing, cap a power of two, at most half full */
	size_t cap, n;
	size_t last_len; /* the last text's length: the next one's buffer is made that big */
};
/* The text json_dumps(netmap, JSON_COMPACT) gives (malloc'd, *len bytes and a '\0'), each
 * peer's taken from t when its object was there the last time; t then holds the peers of
 * netmap.  The objects in netmap's "peers" must never be changed in place (the fold replaces
 * them).  NULL when memory is short. */
char *ctl__cache_text(struct ctl__cache_texts *t, json_t *netmap, size_t *len);
void ctl__cache_texts_clear(struct ctl__cache_texts *t);
/* cache.c: the netmap cached in dir (the file's header says how): NULL when there is none or
 * it is not JSON (err says why); the deltas after the first torn or refused one are logged
 * and left out.  *st: what was read. */
struct ctl__cache_state {
	size_t base_len;		  /* netmap.json's size */
	size_t folded;			  /* the deltas folded into it */
	bool had_log;			  /* netmap.deltas was there */
	json_int_t version, base_version; /* the netmap's read, netmap.json's own */
	char dropped[300]; /* why the deltas from some byte on were left out (logged), or "" */
};
json_t *ctl__cache_read(const char *dir, struct ctl__cache_state *st, char *err, size_t errlen);
/* cache.c: ms from now until the cache is written for a change arriving now (uv_now()), when
 * the last write began at last (written: there was one); prompt: the change is to be written
 * CACHE_DELAY_MS after it whatever the interval (ctl__cache_prompt). */
uint64_t ctl__cache_delay(uint64_t now, bool written, uint64_t last, bool prompt);
/* The map message m is written to the cache without waiting out the interval: a full map, or
 * a delta that may take access away (peers removed, a new filter or new SSH rules), which a
 * node restarted from its cache while control is unreachable must not undo. */
bool ctl__cache_prompt(json_t *m);

struct ctl_client {
	struct ctl_client_config cfg;
	char *state_dir, *hostname, *auth_key, *tags, *ca_file;
	char **urls; /* the control servers, in order (failover.c) */
	size_t n_urls;
	const char *url; /* the one in use: urls[fo.cur] */
	struct ctl__failover fo;
	char **endpoints, **host_keys;
	size_t n_endpoints, n_host_keys;
	uint8_t machine_pub[32], machine_priv[32], node_pub[32], node_priv[32];
	uint8_t next_pub[32], next_priv[32];	   /* node.key.next: the key being rotated to */
	uint8_t disco_pub[32], disco_priv[32];	   /* disco.key: discovery messages (crypto_box) */
	bool have_next, rotating, relogin, reauth; /* reauth: a login asked for, not expiry */
	bool renaming;	  /* a registered node asks for its hostname (cfg.ask_hostname) */
	bool key_pending; /* GET /key in flight: its answer registers or streams */
	int64_t relogin_at;
	uint8_t server_pub[32];
	bool pinned, registered, stopped, refused, logged_out;
	bool connected; /* the map stream answered since the last failure (CONNECTED told) */
	char followup[64];
	CURLM *multi;
	uv_timer_t curl_timer, retry_timer, cache_timer, expiry_timer;
	int open_handles; /* uv handles and cache writes still to finish before free */
	bool cache_busy, cache_again, cache_due;
	bool cache_written; /* a write began at cache_written_at (uv_now) */
	uint64_t cache_written_at, cache_due_at;
	struct ctl__cache_texts cache_texts;
	char *cache_last; /* at free, with a write still running: the netmap to write after it */
	/* The next write is the whole netmap (else the deltas in cache_pending are appended);
	 * the sizes of the files as the last writes left them. */
	bool cache_whole;
	struct sbuf cache_pending;
	size_t cache_base_len, cache_log_len;
	json_int_t cache_base_version; /* netmap.json's, named by the deltas' first line */
	json_t *netmap;		       /* the current full netmap as JSON, for the cache */
	struct ctl_netmap *nm;	       /* the same, decoded (deltas decode only what they carry) */
	uint64_t netmap_version;
	int64_t netmap_time;
	struct creq *map_req, *reg_req; /* at most one of each in flight */
	/* The next request opens a new connection (the pooled one may have died with an
	 * address this node no longer has). */
	bool fresh_connect;
	struct creq *reqs;     /* every request in flight */
	struct sockctx *socks; /* every socket curl asked us to watch */
};

struct creq {
	struct ctl_client *c;
	enum req_kind kind;
	CURL *easy;
	struct curl_slist *headers;
	uint8_t nonce[CTL_WIRE_NONCE_LEN];
	uint8_t *body;
	size_t body_len;
	char *resp;
	size_t resp_len;
	bool too_big;
	/* hold / logout */
	ctl_hold_cb hold_cb;
	void (*logout_cb)(void *ctx, int status);
	ctl_audit_sent_cb audit_cb;	  /* NULL once cancelled */
	ctl_sessions_sent_cb sessions_cb; /* NULL once cancelled */
	void *cb_ctx;
	char hold_src[64], hold_user[64], hold_id[64];
	uint32_t hold_period;
	bool hold_pending_told;
	bool hold_cancel; /* a cancel of hold_id: nobody waits for its answer */
	CURLcode curl_result;
	char curl_err[CURL_ERROR_SIZE]; /* curl's own words on a failure ("" when none) */
	struct creq *next;
};

struct sockctx {
	uv_poll_t poll;
	curl_socket_t fd;
	struct ctl_client *c;
	struct sockctx *next;
};

/* client.c */
void ctl__event(struct ctl_client *c, enum ctl_client_event ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ctl__path_of(const struct ctl_client *c, const char *name, char *out, size_t len);
int ctl__load_key(struct ctl_client *c, const char *name, uint8_t pub[32], uint8_t priv[32],
		  char *err, size_t errlen);
/* Hand the current netmap to the caller (after checking it for a new key and expiry). */
void ctl__deliver(struct ctl_client *c, bool from_cache);
/* Send a registration (one at a time) carrying the client's current wishes. */
void ctl__register_send(struct ctl_client *c);
void ctl__request_done(struct ctl_client *c, struct creq *r, long status);
/* Start a sealed POST of j (taken over) to path; NULL when it could not start. */
struct creq *ctl__post_json(struct ctl_client *c, const char *path, json_t *j, enum req_kind kind,
			    long timeout_ms);
/* The answer's JSON object (the caller's), or NULL with why in errbuf. */
json_t *ctl__response_json(struct creq *r, long status, char *errbuf, size_t errlen);

/* hold.c: the answer to a hold request (REQ_HOLD) */
void ctl__on_hold(struct ctl_client *c, struct creq *r, long status);

/* audit.c: the answer to an audit request (REQ_AUDIT) */
void ctl__on_audit(struct ctl_client *c, struct creq *r, long status);

/* sessions.c: the answer to a sessions request (REQ_SESSIONS); a map message's
 * "kill_sessions" to on_kill_session */
void ctl__on_sessions(struct ctl_client *c, struct creq *r, long status);
void ctl__kill_sessions(struct ctl_client *c, json_t *msg);

/* transport.c */
int ctl__transport_init(struct ctl_client *c);
void ctl__transport_stop(struct ctl_client *c); /* every request and socket goes */
/* Start a request: GET when json is NULL, otherwise a sealed POST. */
int ctl__req_start(struct ctl_client *c, struct creq *r, const char *path, const char *json,
		   long timeout_ms);
void ctl__req_free(struct creq *r);
/* Why a request got no answer: curl's own words when it had any. */
const char *ctl__req_error(const struct creq *r);
void ctl__sock_close(struct ctl_client *c, struct sockctx *s);
/* uv_close callback for the client's handles: frees the client after the last one. */
void ctl__handle_closed(uv_handle_t *h);

/* cache.c */
/* The netmap changed (prompt: by a message ctl__cache_prompt says is): written after
 * ctl__cache_delay's wait. */
void ctl__cache_save(struct ctl_client *c, bool prompt);
/* A map message (its text, len bytes) was folded into the netmap: kept to be appended to the
 * cache (full: a full map, written whole), then ctl__cache_save. */
void ctl__cache_change(struct ctl_client *c, const char *msg, size_t len, bool full, bool prompt);
void ctl__cache_flush(struct ctl_client *c); /* at free: a pending change is written now */

/* nodekey.c */
int ctl__next_key_prepare(struct ctl_client *c); /* load or create node.key.next */
void ctl__next_key_discard(struct ctl_client *c);
/* Control knows this node by key: when it is the one being rotated to, make it ours. */
void ctl__node_key_seen(struct ctl_client *c, const uint8_t key[32]);
/* Arm the expiry timer, or start a re-login when the key has expired. */
void ctl__check_expiry(struct ctl_client *c);

#endif
