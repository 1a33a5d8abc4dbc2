/* control/oidc: the OpenID Connect relying party's core, without I/O (no sockets, threads or
 * clock reads: the time is a parameter).  meshcontrol fetches; this module judges what came
 * back and builds what goes out.
 *
 *	struct ctl_oidc_discovery d;
 *	if (ctl_oidc_discovery_parse(body, len, issuer, false, &d, err, sizeof(err)) < 0)
 *		fail(err);			// quotes the bad field
 *	struct ctl_oidc_login l;
 *	ctl_oidc_login_new(&l);		// state, nonce, PKCE verifier and challenge
 *	ctl_oidc_auth_url(&d, client_id, redirect, "openid email", &l, false, url, sizeof(url),
 *			  err, sizeof(err));
 *	...the browser comes back with ?code&state; POST the code, then:
 *	ctl_oidc_token_response_parse(body, len, &tok, err, sizeof(err));
 *	rc = ctl_oidc_id_token_verify(tok.id_token, strlen(tok.id_token), keys, &params, &id,
 *				      err, sizeof(err));
 *	if (rc == -ENOKEY && ctl_oidc_jwks_fetch_due(fetched, kid_fetched, now, true))
 *		...fetch the JWKS again, ctl_oidc_jwks_parse, verify once more
 *
 * Errors are negative errno values with one sentence in err that quotes the bad input, its
 * control characters shown as '?' and long values cut.  Nothing secret (the client secret,
 * the PKCE verifier, tokens) is ever quoted.  Every input is bounded before it is parsed.
 */
#ifndef MESH_CONTROL_OIDC_H
#define MESH_CONTROL_OIDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CTL_OIDC_DOC_MAX = 64 * 1024,	/* a discovery document, in bytes */
	CTL_OIDC_JWKS_MAX = 64 * 1024,	/* a JWKS */
	CTL_OIDC_KEYS_MAX = 32,		/* entries of a JWKS's "keys" */
	CTL_OIDC_TOKEN_MAX = 16 * 1024, /* a compact ID token */
	CTL_OIDC_ACCESS_TOKEN_MAX = 4096,
	CTL_OIDC_RESPONSE_MAX = 64 * 1024, /* a token endpoint's response */
	CTL_OIDC_URL_MAX = 1024,	   /* with the NUL: an issuer or an endpoint */
	CTL_OIDC_AUTH_URL_MAX = 4096,	   /* the authorization URL we build */
	CTL_OIDC_SUB_MAX = 256,		   /* with the NUL: OIDC Core 2 allows 255 ASCII */
	CTL_OIDC_EMAIL_MAX = 256,
	CTL_OIDC_GROUPS_MAX = 128,	/* entries of the groups claim */
	CTL_OIDC_GROUP_MAX = 128,	/* with the NUL: one group's name */
	CTL_OIDC_KID_MAX = 128,		/* with the NUL */
	CTL_OIDC_RANDOM_LEN = 44,	/* 32 random bytes in base64url (43) and the NUL */
	CTL_OIDC_SKEW = 60,		/* seconds of clock difference we forgive */
	CTL_OIDC_JWKS_TTL = 3600,	/* a JWKS is fetched again after an hour */
	CTL_OIDC_JWKS_REFETCH_MIN = 30, /* ... or on an unknown kid, at most this often */
	CTL_OIDC_ERR_MAX = 512,		/* a good size for err buffers */
};

/* Signature algorithms, as a set.  Only these two exist here: never "none", never HS*. */
enum ctl_oidc_alg {
	CTL_OIDC_RS256 = 1 << 0,
	CTL_OIDC_ES256 = 1 << 1,
};

/* What a provider's /.well-known/openid-configuration says that we use. */
struct ctl_oidc_discovery {
	char issuer[CTL_OIDC_URL_MAX];
	char authorization_endpoint[CTL_OIDC_URL_MAX];
	char token_endpoint[CTL_OIDC_URL_MAX];
	char jwks_uri[CTL_OIDC_URL_MAX];
	char userinfo_endpoint[CTL_OIDC_URL_MAX]; /* "" when the provider has none */
	unsigned algs; /* the provider's id_token_signing_alg_values_supported among ours */
};

/* Parses a discovery document of len bytes: its issuer must equal issuer exactly, its
 * endpoints must be https URLs (http to 127.0.0.1, [::1] or localhost too when
 * loopback_http, for labs), and it must sign ID tokens with RS256 or ES256.  0, or -EINVAL
 * (-EFBIG when larger than CTL_OIDC_DOC_MAX) with a sentence in err. */
int ctl_oidc_discovery_parse(const char *body, size_t len, const char *issuer, bool loopback_http,
			     struct ctl_oidc_discovery *out, char *err, size_t errlen);

/* Whether url is an endpoint we would talk to: https://HOST[:PORT][/path], or (when
 * loopback_http) http:// to a loopback host; no user info, fragment, space or control
 * character, at most CTL_OIDC_URL_MAX - 1 bytes.  false with a sentence naming what in err
 * (what = "issuer", "token_endpoint", ...). */
bool ctl_oidc_url_check(const char *what, const char *url, bool loopback_http, char *err,
			size_t errlen);

/* A provider's signing keys: RSA of 2048 bits or more and EC P-256, by kid. */
struct ctl_oidc_jwks;

/* Parses a JWKS of len bytes into a new key set (*out; free with ctl_oidc_jwks_free).  Keys
 * not for signing, of another type or curve, too small, private or with a kid seen before
 * are left out, each with a reason (ctl_oidc_jwks_ignored).  -EINVAL (-EFBIG when larger
 * than CTL_OIDC_JWKS_MAX, -ENOMEM) with a sentence in err, also when no key is usable. */
int ctl_oidc_jwks_parse(const char *body, size_t len, struct ctl_oidc_jwks **out, char *err,
			size_t errlen);

void ctl_oidc_jwks_free(struct ctl_oidc_jwks *keys);

/* How many keys the set holds. */
size_t ctl_oidc_jwks_count(const struct ctl_oidc_jwks *keys);

/* The reason the i-th left-out key was left out ("key 2 (kid \"x\"): use \"enc\", not
 * sig"), or NULL past the last one. */
const char *ctl_oidc_jwks_ignored(const struct ctl_oidc_jwks *keys, size_t i);

/* Whether to fetch the JWKS at now (unix seconds) when it was last fetched at fetched (0:
 * never): when never, after CTL_OIDC_JWKS_TTL, or for an unknown kid (ID token verification
 * said -ENOKEY) when the last fetch made for an unknown kid (kid_fetched; 0: none) is
 * CTL_OIDC_JWKS_REFETCH_MIN or more ago — tokens with made-up kids cannot make us fetch
 * more often than that, and keys rotated just after a routine fetch are fetched at once.
 * A clock that went back says yes (once: the caller sets the time to now). */
bool ctl_oidc_jwks_fetch_due(int64_t fetched, int64_t kid_fetched, int64_t now, bool unknown_kid);

/* What an ID token must be for this login. */
struct ctl_oidc_verify {
	const char *issuer;	  /* the discovery document's, equal to the configured one */
	const char *client_id;	  /* must be in aud (and be azp when there are several) */
	const char *nonce;	  /* the login's nonce: the token's must equal it */
	unsigned algs;		  /* the allowed ones: CTL_OIDC_RS256 | CTL_OIDC_ES256 */
	int64_t now;		  /* unix seconds */
	bool check;		  /* check mode: auth_time is required ... */
	int64_t auth_after;	  /* ... and must be at or after this instant (less the skew) */
	const char *groups_claim; /* NULL: "groups" */
};

/* Who the token says logged in.  A person is (iss, sub), never the email. */
struct ctl_oidc_identity {
	char iss[CTL_OIDC_URL_MAX];
	char sub[CTL_OIDC_SUB_MAX];
	char email[CTL_OIDC_EMAIL_MAX]; /* "" unless email_verified is true */
	int64_t auth_time;		/* 0 when the token has none */
	bool groups_present;		/* whether the token has the groups claim */
	size_t ngroups;
	char groups[CTL_OIDC_GROUPS_MAX][CTL_OIDC_GROUP_MAX];
};

/* Verifies a compact ID token of len bytes: signed with an allowed algorithm by the key of
 * its kid in keys, then iss, aud, azp, exp, iat, nbf, nonce and (check mode) auth_time with
 * CTL_OIDC_SKEW seconds of skew; fills *out.  0; -ENOKEY when keys have no key of the
 * token's kid (fetch the JWKS again, see ctl_oidc_jwks_fetch_due, and retry once); -EFBIG
 * for a token over CTL_OIDC_TOKEN_MAX; -EACCES when it is expired, not yet valid, for
 * someone else, or not a fresh enough login; -EINVAL when malformed or not verifiable; each
 * with a sentence in err. */
int ctl_oidc_id_token_verify(const char *token, size_t len, const struct ctl_oidc_jwks *keys,
			     const struct ctl_oidc_verify *p, struct ctl_oidc_identity *out,
			     char *err, size_t errlen);

/* One login's secrets and its PKCE challenge, each 32 random bytes in base64url. */
struct ctl_oidc_login {
	char state[CTL_OIDC_RANDOM_LEN];
	char nonce[CTL_OIDC_RANDOM_LEN];
	char verifier[CTL_OIDC_RANDOM_LEN];  /* PKCE code_verifier: secret until the exchange */
	char challenge[CTL_OIDC_RANDOM_LEN]; /* base64url(SHA-256(verifier)) */
};

/* Fills l from libsodium's random bytes. */
void ctl_oidc_login_new(struct ctl_oidc_login *l);

/* The PKCE S256 code_challenge of verifier (RFC 7636 4.2): base64url(SHA-256(verifier)). */
void ctl_oidc_pkce_challenge(const char *verifier, char out[static CTL_OIDC_RANDOM_LEN]);

/* Builds the authorization URL: d's authorization_endpoint with response_type=code, scope,
 * client_id, redirect_uri, state, nonce, code_challenge and code_challenge_method=S256,
 * each percent-encoded (RFC 3986 unreserved characters alone are left as they are); check
 * mode adds prompt=login and max_age=0 so the provider asks for the password again.  0,
 * -EINVAL (scope without "openid"), or -ENAMETOOLONG when it does not fit in out. */
int ctl_oidc_auth_url(const struct ctl_oidc_discovery *d, const char *client_id,
		      const char *redirect_uri, const char *scope, const struct ctl_oidc_login *l,
		      bool check, char *out, size_t outlen, char *err, size_t errlen);

/* What the token endpoint gave us.  Secrets: wipe with ctl_oidc_tokens_wipe. */
struct ctl_oidc_tokens {
	char id_token[CTL_OIDC_TOKEN_MAX + 1];
	char access_token[CTL_OIDC_ACCESS_TOKEN_MAX + 1]; /* "" when there is none */
};

/* Parses a token endpoint's response of len bytes: an id_token and token_type Bearer; an
 * error response becomes a sentence quoting its error and error_description.  0, or
 * -EACCES (the provider refused) or -EINVAL (-EFBIG when over CTL_OIDC_RESPONSE_MAX) with
 * a sentence in err.  Tokens are never quoted. */
int ctl_oidc_token_response_parse(const char *body, size_t len, struct ctl_oidc_tokens *out,
				  char *err, size_t errlen);

void ctl_oidc_tokens_wipe(struct ctl_oidc_tokens *t);

enum { CTL_OIDC_QUOTE_BUF = 124 }; /* 120 characters, "..." and the NUL */

/* Outside text (a callback's parameter, a provider's words) made safe to quote in a page or
 * a log line: bytes outside printable ASCII become '?', past 120 characters it ends in
 * "...".  Returns out. */
const char *ctl_oidc_quote(const char *s, char out[static CTL_OIDC_QUOTE_BUF]);

#endif
