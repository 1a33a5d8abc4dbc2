/* control/client: the control client linked into meshd.
 *
 * It runs on the caller's libuv loop and talks to meshcontrol with libcurl's multi
 * interface, over verified HTTPS (or HTTP on loopback): pin the server key (from the join
 * command, or on first contact, which TLS protects), register
 * (auth key, or an interactive login URL it hands back and then waits on), then hold a map
 * stream open: the first answer is a full netmap, later ones deltas, with keep-alives in
 * between.  Every netmap is handed to on_netmap and written to state_dir/netmap.json (0600,
 * atomically, a second after it came, at most once in 5 s while deltas keep coming, and at
 * ctl_client_free); at start the cached one is handed over first, so a node
 * keeps working while control is unreachable.  Failures are retried with exponential backoff and
 * jitter.
 *
 * State directory: machine.key and node.key (private keys, 0600), node.key.next (a key
 * being rotated to, until control confirms it), disco.key (0600: the crypto_box key of
 * discovery messages, whose public half goes to control with every register and map
 * request and reaches peers in their netmaps), server.pub (the pinned server key),
 * netmap.json (0600: it holds this node's relay credentials).  Keys are never logged. */
#ifndef MESH_CONTROL_CLIENT_H
#define MESH_CONTROL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/verdict.h"
#include "control/netmap/netmap.h"

struct ctl_client;

enum ctl_client_event {
	CTL_CLIENT_NEEDS_LOGIN,	 /* msg is the URL a person must open */
	CTL_CLIENT_REGISTERED,	 /* msg is the node's name */
	CTL_CLIENT_CONNECTED,	 /* the map stream answered */
	CTL_CLIENT_UNREACHABLE,	 /* msg says why; retrying with backoff */
	CTL_CLIENT_REFUSED,	 /* msg is control's refusal (bad auth key, ...); not retried */
	CTL_CLIENT_KEY_MISMATCH, /* the server key differs from the pinned one; not retried */
	CTL_CLIENT_LOGGED_OUT,
	CTL_CLIENT_KEY_EXPIRED, /* the node key expired: logging in again (NEEDS_LOGIN follows) */
	CTL_CLIENT_CHANGE_REFUSED, /* msg: why control refused a change a registered node asked
				    * for (tags, a re-login); it stays as it was, connected */
	CTL_CLIENT_UNTRUSTED, /* msg: control's certificate (or the CA file) failed; retrying */
};

struct ctl_client_config {
	uv_loop_t *loop;
	/* "https://ctl.example.com"; http:// only to a loopback host unless insecure_http
	 * (see control/url/url.h).  Several, comma-separated (at most 8): tried in order,
	 * failing over to the next (ctl_client_server_url says which is in use). */
	const char *server_url;
	const char *ca_file; /* PEM CAs trusted for control's certificate; NULL: the system's */
	bool insecure_http;
	const char *state_dir;
	const char *server_key; /* base64; pins the key before first contact (may be NULL) */
	const char *auth_key;	/* may be NULL: interactive login */
	const char *hostname;
	/* Comma-separated tags the node asks for ("" = none); NULL leaves its tags as they
	 * are.  Tags other than the node's current ones take a login or an auth key whose
	 * user owns them (tagOwners). */
	const char *advertise_tags;
	/* A registered node logs in again now (URL, or auth_key), with a new node key. */
	bool force_reauth;
	/* A registered node asks control for hostname now (meshctl up --hostname): it registers
	 * again, and control renames it when its name is another. */
	bool ask_hostname;
	const char *const *endpoints; /* "addr:port" reported to peers */
	size_t n_endpoints;
	const char *const *ssh_host_keys;
	size_t n_ssh_host_keys;
	/* A new netmap (valid only during the call); from_cache for the one read at start. */
	void (*on_netmap)(void *ctx, const struct ctl_netmap *nm, bool from_cache);
	/* msg has no control characters (each is shown as '?'): it may quote control */
	void (*on_event)(void *ctx, enum ctl_client_event ev, const char *msg);
	/* The node key changed (rotation or a re-login); priv is the new private key, valid
	 * during the call.  The netmap that follows carries the new public key. */
	void (*on_node_key)(void *ctx, const uint8_t priv[32]);
	/* Optional: a map message ("full", "delta", "keepalive") with this version arrived,
	 * before it is applied (for "last heard from control" and for measurements). */
	void (*on_contact)(void *ctx, const char *type, uint64_t version);
	/* Optional: control asks to end the live SSH session id ("s7") that started at since
	 * (unix seconds, as the node reported it), for an admin (a map message's
	 * "kill_sessions"; the entry's form checked, nothing else). */
	void (*on_kill_session)(void *ctx, const char *id, int64_t since);
	void *ctx;
};

/* Create (copies cfg; loads or creates the keys).  err gets a sentence on failure, also
 * for a server URL the rules refuse; plain HTTP allowed by insecure_http is logged as a
 * warning. */
int ctl_client_new(const struct ctl_client_config *cfg, struct ctl_client **out, char *err,
		   size_t errlen);
/* Hand over the cached netmap (if any), then connect.  Must be on the loop thread. */
int ctl_client_start(struct ctl_client *c);
/* Stop and free; the memory goes once every handle has closed on the loop. */
void ctl_client_free(struct ctl_client *c);

/* Report new endpoints (replaces the list).  A changed list is sent at once: the open map
 * request is ended and asked again on a new connection. */
int ctl_client_set_endpoints(struct ctl_client *c, const char *const *eps, size_t n);

enum ctl_hold_state {
	CTL_HOLD_PENDING, /* msg is the URL the source's owner must open; more calls follow */
	CTL_HOLD_DECIDED, /* control's verdict: VERDICT_ACCEPT, or VERDICT_REJECT with a reason */
	CTL_HOLD_FAILED,  /* no decision (control unreachable or refused the request): msg */
};
/* v is meaningful when st is CTL_HOLD_DECIDED (VERDICT_REJECT otherwise). */
typedef void (*ctl_hold_cb)(void *ctx, enum ctl_hold_state st, enum verdict v, const char *msg);

/* Check mode: ask control whether src (an address) may log in as user here.  cb runs with
 * PENDING (once, with the URL) and then exactly once with the final answer. */
int ctl_client_hold(struct ctl_client *c, const char *src, const char *user,
		    uint32_t check_period_s, ctl_hold_cb cb, void *ctx);

/* The login behind the holds started with ctx went away (its SSH connection closed): cb is
 * not called for them again, and control is told to forget them (so they stop counting
 * against its caps on pending holds). */
void ctl_client_hold_cancel(struct ctl_client *c, void *ctx);

struct audit_event;
/* Audit events (audit/audit.h) to control, node API "audit": 1..AUDIT_BATCH_MAX events in
 * strictly ascending seq of the queue whose id is queue (audit_queue_id; "": none).  cb runs
 * exactly once (unless this returns an error, or ctl_client_audit_cancel or ctl_client_free comes
 * first) with err 0 and acked = the highest seq control holds, or err -EAGAIN (control answered
 * 429: slow down), -ENOTCONN (no answer) or -EIO (refused; msg says why).  -ENOTCONN when not
 * registered, -EINVAL for a bad batch. */
typedef void (*ctl_audit_sent_cb)(void *ctx, int err, uint64_t acked, const char *msg);
int ctl_client_audit_send(struct ctl_client *c, const char *queue, const struct audit_event *ev,
			  size_t n, ctl_audit_sent_cb cb, void *ctx);
/* The requests sent with ctx get no callback. */
void ctl_client_audit_cancel(struct ctl_client *c, void *ctx);
/* The request's body: {"queue":"ID","events":[{"seq":1,"time":...,"type":"ssh.accept",...}]}
 * with empty members (and an empty queue) left out (malloc'd; NULL for a bad batch or out of
 * memory). */
char *ctl_client_audit_json(const char *queue, const struct audit_event *ev, size_t n);

struct ctl_session;
/* The node's live SSH sessions (control/netmap/sessions.h: at most CTL_SESSIONS_MAX, text
 * already clean) to control, node API "sessions": the whole list, replacing the one control
 * holds.  cb runs exactly once (unless this returns an error, or ctl_client_sessions_cancel
 * or ctl_client_free comes first) with err 0 once control stored it, or -ENOTCONN (no answer)
 * or -EIO (refused; msg says why).  -ENOTCONN when not registered, -EINVAL for too many. */
typedef void (*ctl_sessions_sent_cb)(void *ctx, int err, const char *msg);
int ctl_client_sessions_send(struct ctl_client *c, const struct ctl_session *v, size_t n,
			     ctl_sessions_sent_cb cb, void *ctx);
/* The requests sent with ctx get no callback. */
void ctl_client_sessions_cancel(struct ctl_client *c, void *ctx);

/* Log out (an ephemeral node is removed); cb gets 0 or -errno. */
int ctl_client_logout(struct ctl_client *c, void (*cb)(void *ctx, int status), void *ctx);

/* Rotate the node key: a new one goes to state_dir/node.key.next, control is told (old and
 * new key), and on its confirmation it replaces node.key and on_node_key runs.  The key's
 * expiry stays as it is (only a login or an auth key extends it; when it passes, the client
 * logs in again by itself with a new key).  -ENOTCONN before registration, -EBUSY while a
 * registration, rotation or login is under way; a refusal by control is logged and changes nothing.
 */
int ctl_client_rotate_key(struct ctl_client *c);

/* The discovery key pair (disco.key): for sealing and opening discovery messages
 * (nat/disco.h).  The private half is a secret: keep it no longer than needed. */
void ctl_client_disco_key(const struct ctl_client *c, uint8_t pub[static 32],
			  uint8_t priv[static 32]);

/* The control server in use: with several (server_url "A,B,..."), the one the client sticks
 * to while it answers; when it fails the next is tried, in order, with backoff and jitter. */
const char *ctl_client_server_url(const struct ctl_client *c);
/* 0 when list ("A" or "A,B,...") is one to eight URLs the rules allow, else -errno with the
 * reason in err. */
int ctl_client_servers_check(const char *list, bool insecure_http, char *err, size_t errlen);

/* The netmap cached in state_dir (netmap.json and the deltas appended to netmap.deltas since,
 * folded): its JSON text (malloc'd) with err "" or why deltas were left out (logged too), or
 * NULL with the reason in err.  For tools and tests; a client reads its own at start. */
char *ctl_cache_read_text(const char *state_dir, char *err, size_t errlen);
/* Remove the netmap cached in state_dir (at logout). */
void ctl_cache_remove(const char *state_dir);

/* Seconds since the netmap in use was received (or cached); -1 when there is none. */
int64_t ctl_client_netmap_age(const struct ctl_client *c);

#endif
