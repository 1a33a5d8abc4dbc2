/* control/server/store.h: meshcontrol's durable state behind a small interface.
 *
 * Every operation is atomic: it runs in one transaction and either happens entirely or not
 * at all.  Two backends with the same numbered migrations: SQLite (store_sqlite*.c, WAL;
 * the default, one machine) and PostgreSQL (store_pg*.c, libpq; for several control
 * replicas sharing one database).  The operations are coarse on purpose (register = consume
 * the key + create the node) so each backend is one ops table.  A PostgreSQL op whose
 * connection was lost reconnects once; it fails with -EPIPE when running it again was not
 * safe (store_pg_int.h says which).
 * Not thread-safe: the server serializes calls under its own lock. */
#ifndef MESH_CONTROL_STORE_H
#define MESH_CONTROL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
	CTL_LOGIN_MAX = 128,
	CTL_HOSTNAME_MAX = 64,
	/* A tag list: at most CTL_TAGS_COUNT_MAX tags of at most CTL_TAG_LEN_MAX bytes each
	 * ("tag:" included).  Checked where tags come in (tags.c: a node's or an admin's JSON,
	 * meshcontrol's --tags) and again by the store before it writes any. */
	CTL_TAG_LEN_MAX = 64,
	CTL_TAGS_COUNT_MAX = 32,
	/* the list as "tag:a,tag:b" text, for showing it: at most this many bytes with '\0' */
	CTL_TAGS_TEXT_MAX = CTL_TAGS_COUNT_MAX * (CTL_TAG_LEN_MAX + 1),
	CTL_AUTHKEY_PREFIX_LEN = 12,
	CTL_AUTHKEY_HASH_LEN = 32,
};

/* policy_set_if's expect for a set that replaces whatever is there */
#define CTL_POLICY_ANY INT64_C(-1)

struct ctl_user {
	int64_t id;
	char login[CTL_LOGIN_MAX];
	int64_t created;
};

struct ctl_authkey {
	int64_t id;
	char prefix[CTL_AUTHKEY_PREFIX_LEN + 1];
	uint8_t hash[CTL_AUTHKEY_HASH_LEN];
	int64_t user_id;
	bool reusable, ephemeral, revoked;
	char **tags; /* sorted, no repeats, malloc'd (ctl_authkey_clear); NULL when none */
	size_t n_tags;
	int64_t expires; /* unix seconds; 0 = never */
	int64_t created;
	int64_t uses;
};

struct ctl_node_rec {
	int64_t id;
	uint8_t machine_key[32];
	uint8_t node_key[32];
	int64_t key_expiry; /* unix seconds; 0 = never */
	char hostname[CTL_HOSTNAME_MAX];
	int64_t user_id; /* 0 for a tagged node */
	char **tags;	 /* sorted, no repeats, malloc'd (ctl_node_rec_clear); NULL when none */
	size_t n_tags;
	uint32_t ipv4;	  /* host order, inside 100.64.0.0/10 */
	uint8_t ipv6[16]; /* inside the tailnet's ULA /48 */
	bool ephemeral;
	char *endpoints;     /* JSON array text, malloc'd, may be NULL */
	char *ssh_host_keys; /* JSON array text, malloc'd, may be NULL */
	int64_t created, last_seen;
	uint8_t disco_key[32]; /* discovery public key (crypto_box), when has_disco_key */
	bool has_disco_key;
};

struct ctl_approval {
	int64_t src_node, dst_node, user_id;
	int64_t approved_at; /* unix seconds */
	int64_t auth_at;     /* when user_id authenticated afresh for it; 0 = before schema 2 */
};

/* A person as an OpenID provider vouched for them at a login: (iss, sub) is who they are. */
struct ctl_sso_login {
	const char *iss, *sub;
	const char *email;  /* verified, or "" */
	const char *groups; /* the provider's groups claim as a JSON array of strings */
	const char *login;  /* the login a first login creates (later ones keep theirs) */
	int64_t now;
};

/* A user's provider groups as stored at their last SSO login, for the policy. */
struct ctl_sso_member {
	int64_t user_id;
	const char *groups; /* JSON array of strings, as sso_login stored it */
	int64_t at;	    /* that login's time, unix seconds */
};

struct ctl_store;
struct ctl__hold;	 /* a check-mode hold (internal.h): its row in the store */
struct ctl__login_req;	 /* an interactive login (internal.h): its row in the store */
struct ctl__sso_pending; /* an SSO sign-in in flight (sso.h): its row in the store */
struct ctl_session_kill; /* a live SSH session an admin asked to end (control/netmap/sessions.h) */

/* Pending check-mode holds counted for the caps (hold.c): from a source node, to a
 * destination node, and every hold stored. */
struct ctl_hold_count {
	int64_t from_src, to_dst, all;
};

/* A web page's session (schema 8), shared by replicas: the cookie's id is never stored, only
 * its SHA-256, so whoever reads the database cannot take a session over. */
struct ctl_web_session {
	uint8_t id_hash[32];
	int64_t user_id;
	char login[CTL_LOGIN_MAX]; /* session_get: the user's login now */
	char csrf[33];		   /* the token its forms carry */
	int64_t created, expires;  /* unix seconds */
};

/* Failed passwords counted per account and per source, sign-ins started per source (schema
 * 8; the kinds' rows apart): at most limit attempts
 * per key in a window of window_s from its first, at most keys_max keys with a live window
 * per kind (anonymous clients choose the keys). */
enum ctl_throttle_kind {
	CTL_THROTTLE_ACCOUNT = 1,
	CTL_THROTTLE_SOURCE = 2,
	CTL_THROTTLE_SSO_START = 3, /* sign-ins started per address (sso_pending.c) */
};
struct ctl_throttle_rule {
	enum ctl_throttle_kind kind;
	int64_t limit, window_s, keys_max;
};

/* Pending interactive logins counted for the caps (register.c): from a source address, and
 * every login stored; a machine's own pending one is not counted (asking again replaces it). */
struct ctl_login_count {
	int64_t from_src, all;
};

typedef int (*ctl_sso_cb)(void *ctx, const struct ctl_sso_member *m);
typedef int (*ctl_user_cb)(void *ctx, const struct ctl_user *u);
typedef int (*ctl_authkey_cb)(void *ctx, const struct ctl_authkey *k);
typedef int (*ctl_node_cb)(void *ctx, const struct ctl_node_rec *n);
/* A node's live SSH sessions as stored (ssh_sessions_list), and a kill waiting for it. */
typedef int (*ctl_ssh_sessions_cb)(void *ctx, int64_t node_id, const char *list,
				   int64_t reported_ms);
typedef int (*ctl_ssh_kill_cb)(void *ctx, int64_t node_id, const struct ctl_session_kill *k);

/* The audit log (schema 6; audit.h has the events' format): an append-only table whose
 * rows are numbered 1, 2, 3 ... with no gap, each row's hash = SHA-256(the previous row's
 * hash (32 zero bytes before row 1) || le64(id) || body), so a row edited, removed or put in
 * is seen by walking the chain (ctl_audit_verify). */
enum {
	CTL_AUDIT_HASH_LEN = 32,
	CTL_AUDIT_QUEUE_MAX = 64, /* bytes of a queue id read back (a node's are 32) */
};

struct ctl_audit_rec {
	int64_t id;	     /* audit_append gives the next one (0: skipped, already held) */
	int64_t received_ms; /* unix ms at control */
	int64_t node_id;     /* the node it concerns (its sender for a node event); 0: none */
	int64_t node_seq;    /* the node's seq for a node event; 0 for control's own */
	const char *type;
	const char *node; /* that node's name, "" for none */
	const char *who;  /* a node event's "who", a control event's "actor" */
	const char *body; /* the event's canonical JSON, what the hash covers */
	/* a node event's queue (the body's "queue": the id of the node's queue file; NULL or
	 * "" none), the sequence node_seq counts in: (node_id, queue, node_seq) is unique */
	const char *queue;
	uint8_t hash[CTL_AUDIT_HASH_LEN]; /* audit_append fills it */
};

/* audit_list's selection; zero/NULL/"" members select everything. */
struct ctl_audit_filter {
	int64_t after;		    /* ids above this */
	int64_t since_ms, until_ms; /* received in [since, until] */
	const char *who, *node;	    /* exactly */
	const char *type;	    /* "ssh.refuse", or a prefix "ssh" for "ssh" and "ssh.*" */
	int64_t limit;		    /* at most this many rows; 0: all */
};

/* A callback's nonzero return stops audit_list, which returns it. */
typedef int (*ctl_audit_cb)(void *ctx, const struct ctl_audit_rec *r);

/* The audit log's anchor after a prune (meta CTL_AUDIT_ANCHOR_KEY, as text): rows
 * 1..through are gone, the last of them had hash, and row through+1 chains to it; the last
 * prune, at at_ms, removed count rows.  through 0: nothing pruned (the chain starts at 32
 * zero bytes). */
struct ctl_audit_anchor {
	int64_t through, at_ms, count;
	uint8_t hash[CTL_AUDIT_HASH_LEN];
};
#define CTL_AUDIT_ANCHOR_KEY "audit_anchor"
enum { CTL_AUDIT_ANCHOR_TEXT = 128 };

struct ctl_store_ops {
	void (*close)(struct ctl_store *s);
	/* meta: small named values (the tailnet's ULA prefix, the admin token hash). */
	int (*meta_get)(struct ctl_store *s, const char *key, char *out, size_t outlen);
	int (*meta_set)(struct ctl_store *s, const char *key, const char *value);
	/* Stores value under key unless the key has one already, then gives the stored value
	 * in out (value, or what was there): replicas starting together agree on one. */
	int (*meta_add)(struct ctl_store *s, const char *key, const char *value, char *out,
			size_t outlen);
	/* users: -EEXIST on a duplicate login, -ENOENT when absent; user_list (and sso_list)
	 * in ascending id order. */
	int (*user_add)(struct ctl_store *s, const char *login, const char *pwhash, int64_t *id);
	int (*user_get)(struct ctl_store *s, const char *login, struct ctl_user *u, char *pwhash,
			size_t pwlen);
	int (*user_by_id)(struct ctl_store *s, int64_t id, struct ctl_user *u);
	int (*user_list)(struct ctl_store *s, ctl_user_cb cb, void *ctx);
	/* Removes the user's nodes, keys and approvals too; ids of removed nodes go to cb. */
	int (*user_remove)(struct ctl_store *s, const char *login, ctl_node_cb cb, void *ctx);
	/* auth keys (and node_register below): -E2BIG for more than CTL_TAGS_COUNT_MAX tags,
	 * -EINVAL for an empty tag or one over CTL_TAG_LEN_MAX bytes; nothing is written.
	 * Records read back carry their tags sorted; the callbacks' records are freed after
	 * the call, authkey_get's and node_by_machine's are the caller's to clear. */
	int (*authkey_add)(struct ctl_store *s, struct ctl_authkey *k);
	int (*authkey_get)(struct ctl_store *s, const char *prefix, struct ctl_authkey *k);
	int (*authkey_list)(struct ctl_store *s, ctl_authkey_cb cb, void *ctx);
	int (*authkey_revoke)(struct ctl_store *s, const char *prefix);
	/* Create (or, for a known machine key, update) a node and count one use of the auth
	 * key authkey_id (0 = interactive).  A single-use key already used gives -EKEYREVOKED,
	 * and nothing is written.  Fills n->id, ipv4, ipv6, created.  A known node keeps its
	 * discovery key when n has none. */
	int (*node_register)(struct ctl_store *s, struct ctl_node_rec *n, int64_t authkey_id);
	int (*node_by_machine)(struct ctl_store *s, const uint8_t mkey[static 32],
			       struct ctl_node_rec *n);
	/* The node of id into n (the caller's to clear): 0 or -ENOENT.  A replica hearing
	 * "node:ID" reads that one row, not the whole list (replica.c). */
	int (*node_get)(struct ctl_store *s, int64_t id, struct ctl_node_rec *n);
	/* Endpoints, host keys, hostname, last_seen and the discovery key (kept when the
	 * record has none) of an existing node. */
	int (*node_update)(struct ctl_store *s, const struct ctl_node_rec *n);
	int (*node_set_expiry)(struct ctl_store *s, int64_t id, int64_t key_expiry);
	int (*node_list)(struct ctl_store *s, ctl_node_cb cb, void *ctx);
	int (*node_remove)(struct ctl_store *s, int64_t id);
	/* policy: the current text (malloc'd, NULL when none was ever set) */
	int (*policy_get)(struct ctl_store *s, char **text);
	int (*policy_set)(struct ctl_store *s, const char *text);
	/* The policy's version is the id of its row (0: none was ever set): it grows with
	 * every set, so a text set again, or changed and changed back, is a new version.
	 * policy_current gives the text (malloc'd, NULL when none) with its version.
	 * policy_set_if stores text only when the current version is still expect (or expect
	 * is CTL_POLICY_ANY), compared in the same transaction as the write (on PostgreSQL
	 * under a table lock: two replicas setting it at once from the same version, one
	 * wins): 0 with the new version in *version, or -ESTALE with the current one. */
	int (*policy_current)(struct ctl_store *s, char **text, int64_t *version);
	int (*policy_set_if)(struct ctl_store *s, const char *text, int64_t expect,
			     int64_t *version);
	/* check-mode approvals, one row per (src, dst), newest wins */
	int (*approval_put)(struct ctl_store *s, const struct ctl_approval *a);
	int (*approval_get)(struct ctl_store *s, int64_t src, int64_t dst, struct ctl_approval *a);
	/* single sign-on (schema 4): the user of (iss, sub) with its email and groups stored
	 * anew, or a new user named in->login with no password (*created); -EEXIST when that
	 * login is another user's (nothing is written). */
	int (*sso_login)(struct ctl_store *s, const struct ctl_sso_login *in, struct ctl_user *u,
			 bool *created);
	/* The groups stored at the user's last SSO login (JSON text, malloc'd); -ENOENT for a
	 * user who never logged in through the provider. */
	int (*sso_groups)(struct ctl_store *s, int64_t user_id, char **groups);
	/* The user of (iss, sub), finding only: nothing is created or changed (a sign-in for
	 * a check must not make a user); -ENOENT for a person who never signed in here. */
	int (*sso_user)(struct ctl_store *s, const char *iss, const char *sub, struct ctl_user *u);
	/* Every SSO user's stored groups and last login, by user id (the policy's input). */
	int (*sso_list)(struct ctl_store *s, ctl_sso_cb cb, void *ctx);
	/* audit (schema 6): append the n records in one transaction, in order, each chained to
	 * the last row (ids and hashes filled in); a node event (node_seq > 0) whose node
	 * already holds a seq >= it from the same queue is skipped (id 0).  Replicas sharing a
	 * PostgreSQL database append one at a time (an advisory lock), so the chain never
	 * forks.  held (when not NULL): the highest seq held for node_id from queue (NULL or
	 * "": events without one) afterwards (0: none); n may be 0 for that. */
	int (*audit_append)(struct ctl_store *s, struct ctl_audit_rec *recs, size_t n,
			    int64_t node_id, const char *queue, int64_t *held);
	/* The queue node_id's latest event came from ("" for one without an id) and the
	 * highest seq held from it; -ENOENT when the node sent none. */
	int (*audit_last_queue)(struct ctl_store *s, int64_t node_id,
				char queue[CTL_AUDIT_QUEUE_MAX + 1], int64_t *held);
	/* The rows f selects in ascending id to cb (its record lives for the call only). */
	int (*audit_list)(struct ctl_store *s, const struct ctl_audit_filter *f, ctl_audit_cb cb,
			  void *ctx);
	/* The last row's id and hash: the anchor's when a prune left no row, 0 and zeros when
	 * the log is empty. */
	int (*audit_head)(struct ctl_store *s, int64_t *id, uint8_t hash[CTL_AUDIT_HASH_LEN]);
	/* Prune the oldest rows, prev_through+1 .. a->through, in one transaction (on
	 * PostgreSQL under the appenders' lock: appends wait, then chain to what is left),
	 * only while the stored anchor is still prev_through's and row a->through still has
	 * a->hash (else -ESTALE, nothing written): the rows deleted (the append-only trigger
	 * lifted inside the transaction only), *a stored as the anchor, then event appended
	 * (id and hash filled in), chained to the last row left or to the anchor. */
	int (*audit_prune)(struct ctl_store *s, int64_t prev_through,
			   const struct ctl_audit_anchor *a, struct ctl_audit_rec *event);
	/* check-mode holds (schema 7), so that any replica can decide or answer one another
	 * made.  put inserts a new hold (-EEXIST: its id is taken); get reads one (-ENOENT);
	 * update writes its decision (state, reason, approver, auth_at) and re-authentication
	 * (reauth_*) only while the stored hold is pending, since a decision is final: -ESTALE
	 * when it was decided already, -ENOENT when it is gone; touch sets last_asked; delete
	 * removes one (0 when it was not there); count fills c (pending from src, to dst, all);
	 * expire removes holds created before created_before and pending ones last asked before
	 * asked_before. */
	int (*hold_put)(struct ctl_store *s, const struct ctl__hold *h);
	int (*hold_get)(struct ctl_store *s, const char *id, struct ctl__hold *h);
	int (*hold_update)(struct ctl_store *s, const struct ctl__hold *h);
	int (*hold_touch)(struct ctl_store *s, const char *id, int64_t last_asked);
	int (*hold_delete)(struct ctl_store *s, const char *id);
	int (*hold_count)(struct ctl_store *s, int64_t src, int64_t dst, struct ctl_hold_count *c);
	int (*hold_expire)(struct ctl_store *s, int64_t created_before, int64_t asked_before);
	/* Web sessions (schema 8), so that a session made through one replica is known to every
	 * other and ended for all by a logout on any.  session_put inserts ws (-EEXIST: its
	 * id_hash is taken), then drops expired sessions, the user's oldest beyond per_user and
	 * the oldest of all beyond max; session_get reads the one of id_hash unexpired at now
	 * with its user's login (-ENOENT: none); session_delete removes it (0 when it was not
	 * there). */
	int (*session_put)(struct ctl_store *s, const struct ctl_web_session *ws, int64_t per_user,
			   int64_t max);
	int (*session_get)(struct ctl_store *s, const uint8_t id_hash[static 32], int64_t now,
			   struct ctl_web_session *ws);
	int (*session_delete)(struct ctl_store *s, const uint8_t id_hash[static 32]);
	/* Password throttles (schema 8), one count per (kind, key) for every replica.
	 * throttle_take counts an attempt at now, in one statement's row lock so that attempts
	 * through several replicas at once are all counted: 0; -EAGAIN when the key has used
	 * its limit in its window, -ENOSPC when keys_max keys of the kind have live windows and
	 * this one has none (*retry_at: when its window, or the first to end, ends).
	 * throttle_give_back takes one back (all: the key's window is forgotten). */
	int (*throttle_take)(struct ctl_store *s, const struct ctl_throttle_rule *rule,
			     const char *key, int64_t now, int64_t *retry_at);
	int (*throttle_give_back)(struct ctl_store *s, enum ctl_throttle_kind kind, const char *key,
				  bool all, int64_t now);
	/* Node API request nonces (schema 8), the replay cache replicas share: 0 when nonce was
	 * new (kept until expires), -EEXIST when some replica took it already. */
	int (*nonce_add)(struct ctl_store *s, const uint8_t nonce[static 24], int64_t expires);
	/* Forget expired sessions, throttle windows that ended and nonces past their expiry. */
	int (*transient_expire)(struct ctl_store *s, int64_t now);
	/* pending interactive logins (schema 7, pending_logins; its column "token" holds the
	 * login's id, the SHA-256 of the token in hex, never the token), so that any replica
	 * can decide or answer one another started.  put inserts a new one and removes the
	 * machine's pending one, in one transaction (-EEXIST: its id is taken); get reads one
	 * (-ENOENT; its tags are the caller's to free, ctl__login_clear); decide writes state,
	 * reason, user_id and node_id only while the stored login is pending (a decision is
	 * final): -ESTALE when decided already, -ENOENT when gone; delete removes one (0 when
	 * absent); count fills c; expire removes logins created before created_before. */
	int (*login_put)(struct ctl_store *s, const struct ctl__login_req *lr);
	int (*login_get)(struct ctl_store *s, const char *id, struct ctl__login_req *lr);
	int (*login_decide)(struct ctl_store *s, const struct ctl__login_req *lr);
	int (*login_delete)(struct ctl_store *s, const char *id);
	int (*login_count)(struct ctl_store *s, const char *source, const uint8_t mkey[static 32],
			   struct ctl_login_count *c);
	int (*login_expire)(struct ctl_store *s, int64_t created_before);
	/* SSO sign-ins in flight (schema 8, sso_pending), so that a callback on any replica
	 * finishes what another started; sso_pending.c seals the verifier and says what the
	 * bounds are.  put stores p (its state and verifier fields unused: state_id, the
	 * state's SHA-256 in hex, and sealed, the verifier sealed in hex, instead) at
	 * p->created, in one transaction: rows expired at that time forgotten, then room made
	 * (never refused for it): the browser's oldest when it has SRV_SSO_PENDING_PER_BROWSER,
	 * else the source's oldest when it has SRV_SSO_PENDING_PER_SOURCE, else, with
	 * SRV_SSO_PENDING_MAX in all, the oldest of the source with the most.  take removes
	 * and gives the live row of state_id once, pre compared in constant time: 0, -ENOENT
	 * (none live), -EPERM (another browser's, or pre NULL: the row stays). */
	int (*sso_pending_put)(struct ctl_store *s, const char *state_id, const char *sealed,
			       const struct ctl__sso_pending *p);
	int (*sso_pending_take)(struct ctl_store *s, const char *state_id, const char *pre,
				int64_t now, struct ctl__sso_pending *p, char *sealed,
				size_t sealed_len);
	/* Live SSH sessions (schema 13, ssh_sessions and ssh_kills; sessions.c), so that every
	 * replica lists each node's and a kill made through one reaches the node streaming
	 * from another (on PostgreSQL a kill queued or removed notifies "kill:NODE_ID").  Live
	 * state: rows go with their node, and store migrate copies none.
	 * ssh_sessions_put stores node_id's list (its {"sessions":[...]} text as sessions.c
	 * wrote it after validation) reported at reported_ms (unix ms) in place of the last,
	 * and drops the kills waiting for sessions it no longer lists (same id and since), in
	 * one transaction; -ENOENT when the node is gone.  ssh_sessions_list gives node_id's
	 * list (0: every node's, in ascending node id) to cb.  ssh_kill_put queues k for
	 * node_id, made at `made` (unix s), in the node's row lock: 0, also when a kill of
	 * that id waits already (its since then k's); -ENOSPC when max wait for the node,
	 * -ENOENT when it has no list stored.  ssh_kills_list gives the kills waiting for
	 * node_id (0: every node's) to cb, by node id, then as they were made;
	 * ssh_kills_delete removes node_id's kills of v[0..n) (same id and since; 0 for those
	 * gone already). */
	int (*ssh_sessions_put)(struct ctl_store *s, int64_t node_id, const char *list,
				int64_t reported_ms);
	int (*ssh_sessions_list)(struct ctl_store *s, int64_t node_id, ctl_ssh_sessions_cb cb,
				 void *ctx);
	int (*ssh_kill_put)(struct ctl_store *s, int64_t node_id, const struct ctl_session_kill *k,
			    int64_t made, int64_t max);
	int (*ssh_kills_list)(struct ctl_store *s, int64_t node_id, ctl_ssh_kill_cb cb, void *ctx);
	int (*ssh_kills_delete)(struct ctl_store *s, int64_t node_id,
				const struct ctl_session_kill *v, size_t n);
};

struct ctl_store {
	const struct ctl_store_ops *ops;
};

/* Open (creating and migrating) the SQLite store at path.  err gets a message on failure. */
int ctl_store_open_sqlite(const char *path, struct ctl_store **out, char *err, size_t errlen);

/* Open (creating the schema or migrating it) the store url names: "sqlite:PATH", or a
 * libpq URI "postgres://[USER[:PASSWORD]@]HOST[:PORT]/DB[?PARAM=VALUE&...]" (or
 * postgresql://; the password better in a passfile, ?passfile=PATH or $PGPASSFILE, which
 * libpq reads).  -EINVAL for a URL that is neither, with the reason in err; err never holds
 * the password. */
int ctl_store_open(const char *url, struct ctl_store **out, char *err, size_t errlen);
int ctl_store_open_pg(const char *url, struct ctl_store **out, char *err, size_t errlen);

/* 0 for a PostgreSQL URL libpq can parse, else -EINVAL and why in err (no password). */
int ctl_store_url_check(const char *url, char *err, size_t errlen);

/* url for a log line: a password (user part or password= parameter) shown as "***". */
void ctl_store_url_redact(const char *url, char *out, size_t outlen);

/* msg with each copy of url's password starred, in place (msg only shrinks). */
void ctl_store_scrub(const char *url, char *msg);

/* Copy the SQLite store at sqlite_path (migrated to this build's schema first) into the
 * empty PostgreSQL database pg_url, in one transaction: every table, ids kept (sequences
 * set past them), then each table counted and digested on both sides; one line per table
 * to report.  A target with data in it is refused, a mismatch rolls everything back, each
 * with the reason (and the table) in err. */
int ctl_store_migrate(const char *sqlite_path, const char *pg_url, FILE *report, char *err,
		      size_t errlen);

/* The chain value of row id with body after the row whose hash is prev. */
void ctl_audit_chain(const uint8_t prev[CTL_AUDIT_HASH_LEN], int64_t id, const char *body,
		     uint8_t out[CTL_AUDIT_HASH_LEN]);

/* The anchor as stored ("THROUGH HASH-HEX AT_MS COUNT") and back: 0 or -EBADMSG. */
void ctl_audit_anchor_text(const struct ctl_audit_anchor *a, char out[CTL_AUDIT_ANCHOR_TEXT]);
int ctl_audit_anchor_parse(const char *text, struct ctl_audit_anchor *a);

/* The store's anchor (zeros when nothing was pruned): 0, -EBADMSG for a stored value that
 * is not one (edited), or the store's error.  anchor_read: the same from a meta read's
 * result rc and text (the backends', inside their transactions). */
int ctl_audit_anchor_get(struct ctl_store *s, struct ctl_audit_anchor *a);
int ctl_audit_anchor_read(int rc, const char *text, struct ctl_audit_anchor *a);

/* Walk the whole audit log from the anchor on: ids through+1, through+2, ... without a gap,
 * each hash recomputed (the first chained to the anchor's), each row's columns equal to its
 * body's members (audit.h's format).  0 with "N rows checked, head HASH" on report (after
 * "N events pruned up to seq S (hash H) on DATE" when some were); -EBADMSG with the first
 * bad row in err ("audit row 17: hash mismatch (edited?)", "audit row 18 missing (rows
 * 17 → 19)"); head_hex (NULL: none), a head recorded earlier, must be some row's hash or
 * the anchor's, else the tail was cut (or it was pruned: its export says). */
int ctl_audit_verify(struct ctl_store *s, const char *head_hex, FILE *report, char *err,
		     size_t errlen);

/* What `meshcontrol audit prune --before T` would remove: the rows after the anchor
 * (prev) received before before_ms, up to the first that was not (a prefix: no row is left
 * out of the middle), their chain checked as verify does.  next: the anchor it would leave
 * (count 0: nothing to prune; at_ms set by ctl_audit_prune). */
struct ctl_audit_prune_plan {
	struct ctl_audit_anchor prev, next;
	int64_t first_ms, last_ms; /* the first and the last row's received */
};
int ctl_audit_prune_plan(struct ctl_store *s, int64_t before_ms, struct ctl_audit_prune_plan *p,
			 char *err, size_t errlen);

/* Carry out p (count > 0) at now_ms: the rows gone, the anchor stored and an
 * admin.audit.prune event by actor appended (its id in *event_id), in one transaction;
 * -ESTALE when the log changed under the plan (another prune), each with why in err. */
int ctl_audit_prune(struct ctl_store *s, struct ctl_audit_prune_plan *p, int64_t now_ms,
		    const char *actor, int64_t *event_id, char *err, size_t errlen);

/* Every audit row after *after (up to through, when not 0) as a JSON line on out ({"id":N,
 * the event..., "hash":HEX}), *after moved to the last one written; 0, or -EPIPE when out
 * took no more. */
int ctl_audit_export(struct ctl_store *s, int64_t *after, int64_t through, FILE *out);

/* The schema version this build migrates to. */
int ctl_store_schema_version(void);

/* Free what a record owns (its tags, endpoints, host keys) and set those to NULL. */
void ctl_node_rec_clear(struct ctl_node_rec *n);
void ctl_authkey_clear(struct ctl_authkey *k);

/* A deep copy of src's owned parts into dst (the rest copied as is): 0 or -ENOMEM, when
 * dst owns nothing. */
int ctl_node_rec_copy(struct ctl_node_rec *dst, const struct ctl_node_rec *src);

#endif
