/* control/server internal: single sign-on through an OpenID provider.
 *
 * control/oidc judges what the provider sends; this is meshcontrol's side of it:
 *   sso_config.c   the --oidc-* options, checked with exact errors, and the client secret
 *   sso_pending.c  the logins a browser started and has not finished (bounded: anyone on
 *                  the network can start one), and the callback's query
 *   sso_fetch.c    the provider's I/O on a thread of its own, never under srv->lock:
 *                  discovery and JWKS (again on an unknown kid), the token exchange
 *   sso_web.c      /oidc/start, /oidc/callback, and who the verified person is here
 * Nothing secret (the client secret, codes, the PKCE verifier, tokens) is logged or shown. */
#ifndef MESH_CONTROL_SERVER_SSO_H
#define MESH_CONTROL_SERVER_SSO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/oidc/oidc.h"

struct ctl_server;
struct ctl_server_oidc;

enum {
	SRV_SSO_PENDING_MAX = 1024,	 /* logins started and not finished, in all */
	SRV_SSO_PENDING_PER_SOURCE = 32, /* ... from one address (an IPv6 /48); its oldest goes */
	SRV_SSO_PENDING_PER_BROWSER = 8, /* ... in one browser (tabs); the oldest makes room */
	SRV_SSO_START_BURST = 10,	 /* logins one address starts ... */
	SRV_SSO_START_WINDOW_S = 60,	 /* ... in a window from its first (the store's) */
	SRV_SSO_RATE_SOURCES = 4096,	 /* addresses with a live window, at most */
	SRV_SSO_PENDING_TTL_S = 600,	 /* a login must come back within 10 minutes */
	SRV_SSO_SOURCE_MAX = 64,	 /* ctl__sso_source_key's "2001:db8:1::/48" */
	SRV_SSO_PRE_HEX = 32,		 /* the browser's pre-session id, hex */
	SRV_SSO_COOKIE_HEX = 96,	 /* ... in its cookie with its HMAC-SHA256, hex */
	SRV_SSO_NEXT_MAX = 128,		 /* where the browser goes after the login */
	SRV_SSO_CODE_MAX = 2048,	 /* an authorization code, with the NUL */
	SRV_SSO_ERROR_MAX = 256,	 /* the callback's error and error_description */
	SRV_SSO_LIST_MAX = 32,		 /* entries of an --oidc-allowed-* list */
	SRV_SSO_SCOPES_MAX = 512,
	SRV_SSO_CLAIM_MAX = 128,
	SRV_SSO_SECRET_MAX = 512,
	SRV_SSO_JOBS_MAX = 64,		  /* token exchanges waiting for the provider */
	SRV_SSO_JOBS_PER_SOURCE = 2,	  /* ... for one address */
	SRV_SSO_EXCHANGE_WAIT_MS = 30000, /* how long a callback waits for them */
	SRV_SSO_RETRY_S = 30,		  /* discovery again after a failure, at most this often */
	SRV_SSO_KICK_S = 5,		  /* ... or sooner when a person asks to log in */
	SRV_SSO_ERR_MAX = 3072,		  /* a sentence naming URLs and curl's or oidc's words */
};

/* A login a browser started: the values that must come back, and what binds it. */
struct ctl__sso_pending {
	char state[CTL_OIDC_RANDOM_LEN];
	char nonce[CTL_OIDC_RANDOM_LEN];
	char verifier[CTL_OIDC_RANDOM_LEN]; /* secret until the exchange */
	char pre[SRV_SSO_PRE_HEX + 1];	    /* the browser's pre-session cookie */
	char source[SRV_SSO_SOURCE_MAX];    /* ctl__sso_source_key of the browser */
	char next[SRV_SSO_NEXT_MAX];
	int64_t created;
	/* check mode: the hold this re-authentication approves ("" for a sign-in), and when the
	 * hold was made (the provider's auth_time must not be before it) */
	char hold[33];
	int64_t auth_after;
};

/* The pending logins are rows of the store (any replica takes one another added), and so
 * is the start rate per address (its throttles, kind CTL_THROTTLE_SSO_START): N replicas
 * allow the starts of one. */
struct ctl_store;
struct ctl__sso_table {
	struct ctl_store *store;
};

/* The table over store (not owned; it may be set later, before the first add or take). */
int ctl__sso_table_init(struct ctl__sso_table *t, struct ctl_store *store);
void ctl__sso_table_uninit(struct ctl__sso_table *t);

/* Adds p (p->created is now; its verifier sealed, its state only as a hash) after forgetting
 * expired entries: 0, -EINVAL for a state not CTL_OIDC_RANDOM_LEN - 1 long, the store's
 * error, or -EAGAIN when p->source started SRV_SSO_START_BURST logins in its window of
 * SRV_SSO_START_WINDOW_S (*retry_at: when it may again; a new address when
 * SRV_SSO_RATE_SOURCES addresses have live windows goes through uncounted; a callback takes its
 * login out of the table, so the count open alone does not bound how often).  The count is the
 * store's, before the login is put.  Never refused for room, something makes it: the browser's
 * oldest when it has SRV_SSO_PENDING_PER_BROWSER open, else the source's oldest when it has
 * SRV_SSO_PENDING_PER_SOURCE, else, when the table is full, the oldest of the source with the most.
 */
int ctl__sso_table_add(struct ctl__sso_table *t, const struct ctl__sso_pending *p, int64_t now,
		       int64_t *retry_at);

/* The table's name for a browser's address: ctl__source's, with an IPv6 /64 widened to its
 * /48 (what one site or customer usually has; a /64 each would give a /56 256 shares). */
void ctl__sso_source_key(const char *source, char out[static SRV_SSO_SOURCE_MAX]);

/* Takes the login of state, once: 0 with *out (removed); -ENOENT when no live login has
 * that state (unknown, used or expired); -EPERM when it was started in another browser
 * (pre differs or is NULL; the login stays for its own browser); -EBADMSG when its sealed
 * verifier does not open (the row was changed in the store); the store's error. */
int ctl__sso_table_take(struct ctl__sso_table *t, const char *state, const char *pre, int64_t now,
			struct ctl__sso_pending *out);

/* The pre-session cookie's value for pre (SRV_SSO_PRE_HEX lowercase hex): pre and its
 * HMAC-SHA256 under key, so only a value this server made is taken back. */
void ctl__sso_pre_sign(const uint8_t key[static 32], const char *pre,
		       char cookie[static SRV_SSO_COOKIE_HEX + 1]);
/* Whether cookie is one ctl__sso_pre_sign made under key: true with its pre. */
bool ctl__sso_pre_check(const uint8_t key[static 32], const char *cookie,
			char pre[static SRV_SSO_PRE_HEX + 1]);
/* The cookie's name: over HTTPS __Host-mesh_sso, which a sibling subdomain or plain HTTP
 * cannot set (RFC 6265bis 4.1.3.2), else mesh_sso. */
const char *ctl__sso_cookie_name(bool https);
/* The Set-Cookie value for cookie (from ctl__sso_pre_sign) into out (at least 256). */
void ctl__sso_cookie_header(bool https, const char *cookie, char *out, size_t outlen);

/* The callback's query (RFC 6749 4.1.2, RFC 9207): parameters fed one by one as
 * libmicrohttpd decoded them, then finished. */
struct ctl__sso_callback {
	char state[CTL_OIDC_RANDOM_LEN];
	char code[SRV_SSO_CODE_MAX];
	char iss[CTL_OIDC_URL_MAX];
	char error[SRV_SSO_ERROR_MAX];
	char error_description[SRV_SSO_ERROR_MAX];
	bool has_state, has_code, has_iss, has_error, has_error_description;
};

/* One parameter: state (43 base64url characters, as we make them), code (1 to 2047
 * printable ASCII), iss (a URL's characters), error and error_description (printable
 * ASCII, at most 255); others are ignored.  A parameter given twice is refused.  0, or
 * -EINVAL with a sentence quoting it in err. */
int ctl__sso_callback_arg(struct ctl__sso_callback *cb, const char *key, const char *value,
			  char *err, size_t errlen);
/* After the last parameter: state is required, and a code or an error.  0, or -EINVAL with
 * a sentence in err. */
int ctl__sso_callback_finish(const struct ctl__sso_callback *cb, char *err, size_t errlen);

/* sso_config.c: the checked configuration (immutable while the server runs). */
struct ctl__sso_config {
	char issuer[CTL_OIDC_URL_MAX];
	char issuer_host[256];
	char client_id[256];
	char scopes[SRV_SSO_SCOPES_MAX];
	char groups_claim[SRV_SSO_CLAIM_MAX];
	bool loopback_http; /* the issuer is http:// on loopback (labs) */
	char *secret;	    /* the client secret; wiped at free */
	size_t n_domains, n_groups, n_users;
	char domains[SRV_SSO_LIST_MAX][256];
	char groups[SRV_SSO_LIST_MAX][CTL_OIDC_GROUP_MAX];
	char users[SRV_SSO_LIST_MAX][CTL_OIDC_EMAIL_MAX];
};

/* Checks the options (err names the option and quotes the bad value) and reads the client
 * secret (a file others may read is refused).  0, -EINVAL, or -errno of the file. */
int ctl__sso_config_load(const struct ctl_server_oidc *o, struct ctl__sso_config *c, char *err,
			 size_t errlen);
void ctl__sso_config_free(struct ctl__sso_config *c);

/* Whether the verified person may use this tailnet under the --oidc-allowed-* lists (each
 * given list must pass): true, or false with a sentence in why. */
bool ctl__sso_allowed(const struct ctl__sso_config *c, const struct ctl_oidc_identity *id,
		      char *why, size_t whylen);

/* The login a first sign-in creates: the verified email (lowercase), else a name made from
 * sub at ISSUER-HOST.invalid, which no one can have as an email (sub kept as it is, or
 * hashed when it has characters a login cannot).  0, or -EINVAL with a sentence quoting the
 * login in why.  out: CTL_LOGIN_MAX (store.h). */
int ctl__sso_login_for(const struct ctl__sso_config *c, const struct ctl_oidc_identity *id,
		       char *out, char *why, size_t whylen);

/* A callback's token exchange, done by the provider thread while its request waits
 * (suspended, woken by token).  Owned by the list in struct ctl__sso; freed by the request
 * that reads its result, or, when that request went away (abandoned), by whoever is last. */
struct ctl__sso_job {
	char token[33];
	char source[SRV_SSO_SOURCE_MAX]; /* ctl__sso_source_key of the browser */
	char code[SRV_SSO_CODE_MAX];
	char verifier[CTL_OIDC_RANDOM_LEN], nonce[CTL_OIDC_RANDOM_LEN];
	char next[SRV_SSO_NEXT_MAX];
	char hold[33];	    /* check mode (see struct ctl__sso_pending), else "" */
	int64_t auth_after; /* check mode: the hold's creation */
	enum { SRV_SSO_QUEUED, SRV_SSO_RUNNING, SRV_SSO_DONE } step;
	bool abandoned;
	int rc;
	char err[SRV_SSO_ERR_MAX];
	struct ctl_oidc_identity id;
	struct ctl__sso_job *next_job;
};

/* The server's SSO state (srv->sso; NULL without --oidc-issuer). */
struct ctl__sso {
	struct ctl__sso_config cfg;
	char redirect_uri[CTL_OIDC_URL_MAX];
	/* signs pre-session cookies: derived from the server key (ctl__sso_attach), so every
	 * replica takes the cookies of the others */
	uint8_t cookie_key[32];
	/* under srv->lock */
	struct ctl_oidc_discovery disco;
	bool have_disco;
	char status[SRV_SSO_ERR_MAX]; /* why logins cannot start, "" when they can */
	int64_t disco_tried;	      /* when discovery was last tried (wall clock) */
	bool disco_wanted;	      /* someone wants to log in: try again soon */
	struct ctl__sso_table pending;
	struct ctl__sso_job *jobs;
	size_t n_jobs;
	bool stopping;
	pthread_t thread;
	bool running;
	pthread_cond_t cond;
	/* the provider thread's own */
	void *token_curl; /* the token endpoint's handle, kept for its connection (keep-alive) */
	struct ctl_oidc_jwks *keys;
	int64_t keys_fetched;
	int64_t kid_fetched; /* the last fetch for an unknown kid (0: none) */
};

/* The store and the server key are known: the pending table's store set, the cookie key
 * derived from the server key. */
void ctl__sso_attach(struct ctl_server *srv);
/* The request's job is done with (read, or its connection closed): freed, or left to the
 * provider thread to free.  Under srv->lock. */
void ctl__sso_job_release(struct ctl_server *srv, struct ctl__sso_job *job);
/* Someone wants to log in while discovery failed: try again (at most every SRV_SSO_KICK_S). */
void ctl__sso_kick(struct ctl_server *srv);
/* Queues job (filled by the caller, not yet in the list): 0, -EAGAIN when job->source has
 * SRV_SSO_JOBS_PER_SOURCE exchanges in the list (waiting, running, or done and not yet
 * read), -EBUSY when SRV_SSO_JOBS_MAX do in all.  Under srv->lock. */
int ctl__sso_job_queue(struct ctl__sso *s, struct ctl__sso_job *job);

/* sso_check.c: check mode through the provider.  A hold's check page sends its person to
 * /oidc/start?hold=ID (prompt=login, max_age=0); the callback's verified token then decides,
 * without I/O, whether that re-authentication may approve the hold. */
struct ctl__sso_check {
	int64_t hold_created; /* when the hold was made (unix seconds) */
	bool hold_pending;    /* not yet approved or rejected */
	bool src_tagged;      /* the connecting node is tagged (or has no owner) */
	int64_t src_owner;    /* the connecting node's owner (a user id) */
	int64_t user_id;      /* the user the token's (iss, sub) is here */
	int64_t auth_time;    /* the token's auth_time; 0 when it has none */
	int64_t now;
};

/* 0 when the re-authentication may approve the hold: pending, an untagged source, an
 * auth_time no earlier than the hold's creation and no later than now (each with the
 * verifier's CTL_OIDC_SKEW seconds of skew), by the source's owner.  Else a sentence in why
 * and -ESTALE (already decided), -EPERM (a tagged source, or someone other than its owner)
 * or -EACCES (no auth_time, or not a login made for this hold). */
int ctl__sso_check_decide(const struct ctl__sso_check *c, char *why, size_t whylen);

struct ctl_user;
/* sso_user.c: the user of a verified sign-in (id, allowed by the config; login: the name a
 * first sign-in creates), its groups claim stored.  check_only (a sign-in for a check
 * hold): only an existing user, else -EPERM and nothing is written.  When the stored groups
 * change, the maps are rebuilt.  0 (*created says whether u is new), or -EPERM, -EEXIST
 * (login is another user's), -ENOMEM, -EIO with a sentence for the person in why. */
int ctl__sso_user_login(struct ctl_server *srv, const struct ctl_oidc_identity *id,
			const char *login, bool check_only, int64_t now, struct ctl_user *u,
			bool *created, char *why, size_t whylen);

/* sso_fetch.c */
/* Makes the state from the checked config (takes ownership of c's secret). */
int ctl__sso_new(struct ctl_server *srv, struct ctl__sso_config *c, struct ctl__sso **out);
/* Starts the provider thread (after the public URL is known: the redirect URI). */
int ctl__sso_start(struct ctl_server *srv, char *err, size_t errlen);
/* Stops the thread (the lock not held), then frees. */
void ctl__sso_free(struct ctl_server *srv);

#endif
