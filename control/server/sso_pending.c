/* Logins a browser started at /oidc/start and has not finished, and the query the provider
 * sends the browser back with.  Anyone who can reach meshcontrol can start a login, so the
 * table is bounded in all, per source address and per browser, and every entry expires;
 * a state is taken once (a replayed callback finds nothing) and only by the browser that
 * started it (its pre-session cookie), so a callback URL sent to someone else logs nobody
 * in (login CSRF). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "control/server/sso.h"
#include "control/server/store.h"

int ctl__sso_table_init(struct ctl__sso_table *t, struct ctl_store *store)
{
	t->store = store;
	return 0;
}

void ctl__sso_table_uninit(struct ctl__sso_table *t)
{
	t->store = NULL;
}

/* One start counted for source in the store's window, for every replica.  When
 * SRV_SSO_RATE_SOURCES addresses already have a live window a new address goes through
 * uncounted: refusing it would let anyone holding 4096 addresses (68 requests a second)
 * stop every sign-in and check-mode approval (review-66 #2), and what a start holds is
 * bounded anyway by the pending table's caps (in all, per source, per browser). */
static int rate_take(struct ctl__sso_table *t, const char *source, int64_t now, int64_t *retry_at)
{
	static const struct ctl_throttle_rule rule = { CTL_THROTTLE_SSO_START, SRV_SSO_START_BURST,
						       SRV_SSO_START_WINDOW_S,
						       SRV_SSO_RATE_SOURCES };
	int rc = t->store->ops->throttle_take(t->store, &rule, source, now, retry_at);
	return rc == -ENOSPC ? 0 : rc;
}

/* The row's key: the state's SHA-256, hex (the state itself is not stored). */
static void state_id(const char *state, char id[static 65])
{
	uint8_t h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const uint8_t *)state, strlen(state));
	sodium_bin2hex(id, 65, h, sizeof(h));
}

/* The key the verifier is sealed under, from the state: the store holds only the state's
 * hash, so what it holds cannot be opened without the state the browser brings back. */
static void verifier_key(const char *state, uint8_t key[static crypto_secretbox_KEYBYTES])
{
	static const char what[] = "mesh sso pkce verifier";
	crypto_generichash(key, crypto_secretbox_KEYBYTES, (const uint8_t *)what, sizeof(what) - 1,
			   (const uint8_t *)state, strlen(state));
}

enum {
	SEALED_LEN = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + CTL_OIDC_RANDOM_LEN,
	SEALED_HEX = 2 * SEALED_LEN,
};

int ctl__sso_table_add(struct ctl__sso_table *t, const struct ctl__sso_pending *p, int64_t now,
		       int64_t *retry_at)
{
	uint8_t key[crypto_secretbox_KEYBYTES], box[SEALED_LEN];
	char id[65], sealed[SEALED_HEX + 1];
	struct ctl__sso_pending row = *p;
	if (strlen(p->state) != CTL_OIDC_RANDOM_LEN - 1)
		return -EINVAL;
	int rc = rate_take(t, p->source, now, retry_at);
	if (rc)
		return rc;
	state_id(p->state, id);
	verifier_key(p->state, key);
	randombytes_buf(box, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const uint8_t *)row.verifier,
			      sizeof(row.verifier), box, key);
	sodium_bin2hex(sealed, sizeof(sealed), box, sizeof(box));
	sodium_memzero(row.verifier, sizeof(row.verifier));
	memset(row.state, 0, sizeof(row.state));
	row.created = now;
	rc = t->store->ops->sso_pending_put(t->store, id, sealed, &row);
	sodium_memzero(key, sizeof(key));
	return rc;
}

void ctl__sso_source_key(const char *source, char out[static SRV_SSO_SOURCE_MAX])
{
	char a[INET6_ADDRSTRLEN];
	struct in6_addr net;
	size_t len = strcspn(source, "/");
	snprintf(out, SRV_SSO_SOURCE_MAX, "%s", source);
	if (len >= sizeof(a) || strcmp(source + len, "/64") != 0)
		return;
	memcpy(a, source, len);
	a[len] = '\0';
	if (inet_pton(AF_INET6, a, &net) != 1)
		return;
	memset(net.s6_addr + 6, 0, 10);
	inet_ntop(AF_INET6, &net, a, sizeof(a));
	snprintf(out, SRV_SSO_SOURCE_MAX, "%s/48", a);
}

int ctl__sso_table_take(struct ctl__sso_table *t, const char *state, const char *pre, int64_t now,
			struct ctl__sso_pending *out)
{
	uint8_t key[crypto_secretbox_KEYBYTES], box[SEALED_LEN];
	char id[65], sealed[SEALED_HEX + 1];
	size_t len = strlen(state), got = 0;
	if (len != CTL_OIDC_RANDOM_LEN - 1)
		return -ENOENT;
	state_id(state, id);
	int rc =
	    t->store->ops->sso_pending_take(t->store, id, pre, now, out, sealed, sizeof(sealed));
	if (rc)
		return rc;
	verifier_key(state, key);
	if (sodium_hex2bin(box, sizeof(box), sealed, strlen(sealed), NULL, &got, NULL) != 0 ||
	    got != sizeof(box) ||
	    crypto_secretbox_open_easy((uint8_t *)out->verifier, box + crypto_secretbox_NONCEBYTES,
				       sizeof(box) - crypto_secretbox_NONCEBYTES, box, key) != 0 ||
	    out->verifier[sizeof(out->verifier) - 1] != '\0')
		rc = -EBADMSG; /* not what this state sealed: the row was changed */
	sodium_memzero(key, sizeof(key));
	sodium_memzero(sealed, sizeof(sealed));
	if (rc) {
		sodium_memzero(out, sizeof(*out));
		return rc;
	}
	memcpy(out->state, state, len + 1);
	return 0;
}

/* ---- the browser's pre-session cookie ---- */

void ctl__sso_pre_sign(const uint8_t key[static 32], const char *pre,
		       char cookie[static SRV_SSO_COOKIE_HEX + 1])
{
	uint8_t tag[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256(tag, (const uint8_t *)pre, SRV_SSO_PRE_HEX, key);
	memcpy(cookie, pre, SRV_SSO_PRE_HEX);
	sodium_bin2hex(cookie + SRV_SSO_PRE_HEX, SRV_SSO_COOKIE_HEX - SRV_SSO_PRE_HEX + 1, tag,
		       sizeof(tag));
}

bool ctl__sso_pre_check(const uint8_t key[static 32], const char *cookie,
			char pre[static SRV_SSO_PRE_HEX + 1])
{
	uint8_t tag[crypto_auth_hmacsha256_BYTES];
	if (strlen(cookie) != SRV_SSO_COOKIE_HEX ||
	    strspn(cookie, "0123456789abcdef") != SRV_SSO_COOKIE_HEX ||
	    sodium_hex2bin(tag, sizeof(tag), cookie + SRV_SSO_PRE_HEX,
			   SRV_SSO_COOKIE_HEX - SRV_SSO_PRE_HEX, NULL, NULL, NULL) != 0 ||
	    crypto_auth_hmacsha256_verify(tag, (const uint8_t *)cookie, SRV_SSO_PRE_HEX, key) != 0)
		return false;
	memcpy(pre, cookie, SRV_SSO_PRE_HEX);
	pre[SRV_SSO_PRE_HEX] = '\0';
	return true;
}

const char *ctl__sso_cookie_name(bool https)
{
	return https ? "__Host-mesh_sso" : "mesh_sso";
}

void ctl__sso_cookie_header(bool https, const char *cookie, char *out, size_t outlen)
{
	/* Lax, not Strict: the provider sends the browser back with a cross-site navigation.
	 * __Host- needs Secure, Path=/ and no Domain; plain HTTP keeps it to /oidc. */
	snprintf(out, outlen, "%s=%s; Path=%s; HttpOnly; SameSite=Lax; Max-Age=%d%s",
		 ctl__sso_cookie_name(https), cookie, https ? "/" : "/oidc", SRV_SSO_PENDING_TTL_S,
		 https ? "; Secure" : "");
}

/* ---- the callback's query ---- */

static bool b64url(const char *s)
{
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	       strlen(s);
}

static bool printable(const char *s, bool space)
{
	for (; *s; s++)
		if (*s < (space ? 0x20 : 0x21) || *s > 0x7e)
			return false;
	return true;
}

static int bad(char *err, size_t errlen, const char *key, const char *value, const char *why)
{
	char q[CTL_OIDC_QUOTE_BUF];
	snprintf(err, errlen, "the callback's %s \"%s\" %s", key, ctl_oidc_quote(value, q), why);
	return -EINVAL;
}

int ctl__sso_callback_arg(struct ctl__sso_callback *cb, const char *key, const char *value,
			  char *err, size_t errlen)
{
	size_t len = strlen(value);
	char *dst;
	size_t size;
	bool *has;
	if (strcmp(key, "state") == 0) {
		if (len != CTL_OIDC_RANDOM_LEN - 1 || !b64url(value))
			return bad(err, errlen, key, value, "is not a state meshcontrol makes");
		dst = cb->state, size = sizeof(cb->state), has = &cb->has_state;
	} else if (strcmp(key, "code") == 0) {
		if (!len || len >= SRV_SSO_CODE_MAX || !printable(value, false))
			return bad(err, errlen, key, value,
				   "is not 1 to 2047 printable ASCII characters");
		dst = cb->code, size = sizeof(cb->code), has = &cb->has_code;
	} else if (strcmp(key, "iss") == 0) {
		if (!len || len >= CTL_OIDC_URL_MAX || !printable(value, false))
			return bad(err, errlen, key, value, "is not a URL");
		dst = cb->iss, size = sizeof(cb->iss), has = &cb->has_iss;
	} else if (strcmp(key, "error") == 0 || strcmp(key, "error_description") == 0) {
		bool desc = key[5] == '_';
		if (len >= SRV_SSO_ERROR_MAX || !printable(value, desc))
			return bad(err, errlen, key, value,
				   "is not at most 255 printable ASCII characters");
		dst = desc ? cb->error_description : cb->error;
		size = SRV_SSO_ERROR_MAX;
		has = desc ? &cb->has_error_description : &cb->has_error;
	} else {
		return 0; /* providers add their own (session_state, scope) */
	}
	if (*has) {
		/* two values could be read differently by two readers: refuse both */
		snprintf(err, errlen, "the callback has %s twice", key);
		return -EINVAL;
	}
	snprintf(dst, size, "%s", value);
	*has = true;
	return 0;
}

int ctl__sso_callback_finish(const struct ctl__sso_callback *cb, char *err, size_t errlen)
{
	if (!cb->has_state) {
		snprintf(err, errlen, "the callback has no state");
		return -EINVAL;
	}
	if (!cb->has_code && !cb->has_error) {
		snprintf(err, errlen, "the callback has neither a code nor an error");
		return -EINVAL;
	}
	if (cb->has_code && cb->has_error) {
		snprintf(err, errlen, "the callback has both a code and an error");
		return -EINVAL;
	}
	return 0;
}
