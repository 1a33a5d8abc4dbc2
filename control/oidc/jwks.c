/* The provider's signing keys (RFC 7517 JWK Set), as libcjose keys by kid, and when to fetch
 * them again.  A key is kept only when it can verify one of our algorithms and nothing
 * else: RSA of 2048 to 8192 bits for RS256, EC P-256 for ES256, use "sig" if it says, no
 * private part.  What is left out is kept with its reason, for the log: a provider that
 * publishes only keys we refuse should be told why. */
#include <cjose/cjose.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/oidc/internal.h"

enum { RSA_BITS_MIN = 2048, RSA_BITS_MAX = 8192 };

static void ignore(struct ctl_oidc_jwks *k, size_t i, const char *kid, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void ignore(struct ctl_oidc_jwks *k, size_t i, const char *kid, const char *fmt, ...)
{
	char *note = k->ignored[k->nignored++];
	char q[CTL_OIDC__QUOTE_BUF];
	int n;
	if (kid)
		n = snprintf(note, CTL_OIDC__NOTE_MAX, "key %zu (kid \"%s\"): ", i + 1,
			     ctl_oidc__quote(kid, strlen(kid), q));
	else
		n = snprintf(note, CTL_OIDC__NOTE_MAX, "key %zu: ", i + 1);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(note + n, CTL_OIDC__NOTE_MAX - (size_t)n, fmt, ap);
	va_end(ap);
}

/* The member name of e as a string, NULL when absent; false when present and not one. */
static bool opt_string(json_t *e, const char *name, const char **out)
{
	json_t *v = json_object_get(e, name);
	*out = v ? json_string_value(v) : NULL;
	return !v || json_is_string(v);
}

static bool has_kid(const struct ctl_oidc_jwks *k, const char *kid)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->keys[i].has_kid && strcmp(k->keys[i].kid, kid) == 0)
			return true;
	return false;
}

/* Keeps entry i when usable, else notes why not. */
static int add_key(struct ctl_oidc_jwks *k, size_t i, json_t *e)
{
	const char *kid, *use, *kty, *alg, *crv;
	char q[CTL_OIDC__QUOTE_BUF];
	unsigned want;

	if (!json_is_object(e)) {
		ignore(k, i, NULL, "not a JSON object");
		return 0;
	}
	if (!opt_string(e, "kid", &kid)) {
		ignore(k, i, NULL, "its kid is not a string");
		return 0;
	}
	if (kid && strlen(kid) >= CTL_OIDC_KID_MAX) {
		ignore(k, i, kid, "its kid is longer than %d bytes", CTL_OIDC_KID_MAX - 1);
		return 0;
	}
	if (!opt_string(e, "use", &use) || (use && strcmp(use, "sig") != 0)) {
		ignore(k, i, kid, "use \"%s\", not sig",
		       use ? ctl_oidc__quote(use, strlen(use), q) : "?");
		return 0;
	}
	if (!opt_string(e, "kty", &kty) || !kty) {
		ignore(k, i, kid, "no kty");
		return 0;
	}
	if (strcmp(kty, "RSA") == 0) {
		want = CTL_OIDC_RS256;
	} else if (strcmp(kty, "EC") == 0) {
		want = CTL_OIDC_ES256;
	} else {
		ignore(k, i, kid, "kty \"%s\" is neither RSA nor EC",
		       ctl_oidc__quote(kty, strlen(kty), q));
		return 0;
	}
	if (!opt_string(e, "alg", &alg) || (alg && ctl_oidc__alg_bit(alg) != want)) {
		ignore(k, i, kid, "alg \"%s\" is not %s",
		       alg ? ctl_oidc__quote(alg, strlen(alg), q) : "?", ctl_oidc__alg_name(want));
		return 0;
	}
	if (want == CTL_OIDC_ES256 &&
	    (!opt_string(e, "crv", &crv) || !crv || strcmp(crv, "P-256") != 0)) {
		ignore(k, i, kid, "curve \"%s\" is not P-256",
		       crv ? ctl_oidc__quote(crv, strlen(crv), q) : "?");
		return 0;
	}
	static const char *const private[] = { "d", "p", "q", "dp", "dq", "qi", "k" };
	for (size_t m = 0; m < sizeof(private) / sizeof(private[0]); m++) {
		if (json_object_get(e, private[m])) {
			ignore(k, i, kid, "it holds a private key");
			return 0;
		}
	}
	/* what libcjose decodes, checked first: it aborts on some bad base64url */
	static const char *const pub[2][2] = { { "n", "e" }, { "x", "y" } };
	for (size_t m = 0; m < 2; m++) {
		const char *name = pub[want == CTL_OIDC_ES256][m];
		json_t *v = json_object_get(e, name);
		if (!json_is_string(v) ||
		    !ctl_oidc__b64url_valid(json_string_value(v), json_string_length(v))) {
			ignore(k, i, kid, "its %s is not base64url", name);
			return 0;
		}
	}
	if (kid && has_kid(k, kid)) {
		ignore(k, i, kid, "a key with this kid came before it");
		return 0;
	}

	char *text = json_dumps(e, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	cjose_err cerr = { 0 };
	cjose_jwk_t *jwk = cjose_jwk_import(text, strlen(text), &cerr);
	free(text);
	if (!jwk) {
		/* not -ENOMEM on CJOSE_ERR_NO_MEMORY: 0.6.2.1 says that of an EC point off the
		 * curve too */
		ignore(k, i, kid, "libcjose refused it (%s)", cerr.message ? cerr.message : "?");
		return 0;
	}
	size_t bits = cjose_jwk_get_keysize(jwk, &cerr);
	if (want == CTL_OIDC_RS256 && (bits < RSA_BITS_MIN || bits > RSA_BITS_MAX)) {
		ignore(k, i, kid, "an RSA key of %zu bits, not %d to %d", bits, RSA_BITS_MIN,
		       RSA_BITS_MAX);
		cjose_jwk_release(jwk);
		return 0;
	}

	struct ctl_oidc__key *key = &k->keys[k->n++];
	key->has_kid = kid != NULL;
	if (kid)
		memcpy(key->kid, kid, strlen(kid) + 1);
	key->alg = want;
	key->jwk = jwk;
	return 0;
}

int ctl_oidc_jwks_parse(const char *body, size_t len, struct ctl_oidc_jwks **out, char *err,
			size_t errlen)
{
	int rc = 0;
	size_t i;
	json_t *e;

	*out = NULL;
	if (len > CTL_OIDC_JWKS_MAX)
		return ctl_oidc__fail(-EFBIG, err, errlen,
				      "the JWKS is %zu bytes, more than the %d "
				      "allowed",
				      len, CTL_OIDC_JWKS_MAX);
	json_t *doc = ctl_oidc__json_object("the JWKS", body, len, err, errlen);
	if (!doc)
		return -EINVAL;
	json_t *a = json_object_get(doc, "keys");
	if (!json_is_array(a)) {
		rc = ctl_oidc__fail(-EINVAL, err, errlen, "the JWKS has no \"keys\" array");
		goto out;
	}
	if (json_array_size(a) > CTL_OIDC_KEYS_MAX) {
		rc = ctl_oidc__fail(-EINVAL, err, errlen,
				    "the JWKS has %zu keys, more than the %d "
				    "allowed",
				    json_array_size(a), CTL_OIDC_KEYS_MAX);
		goto out;
	}
	struct ctl_oidc_jwks *k = calloc(1, sizeof(*k));
	if (!k) {
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(a, i, e)
	{
		rc = add_key(k, i, e);
		if (rc < 0)
			break;
	}
	if (rc == 0 && k->n == 0)
		rc = ctl_oidc__fail(-EINVAL, err, errlen,
				    "the JWKS has no RS256 or ES256 signing "
				    "key%s%s",
				    k->nignored ? ": " : "", k->nignored ? k->ignored[0] : "");
	if (rc < 0)
		ctl_oidc_jwks_free(k);
	else
		*out = k;
out:
	json_decref(doc);
	return rc;
}

void ctl_oidc_jwks_free(struct ctl_oidc_jwks *keys)
{
	if (!keys)
		return;
	for (size_t i = 0; i < keys->n; i++)
		cjose_jwk_release(keys->keys[i].jwk);
	free(keys);
}

size_t ctl_oidc_jwks_count(const struct ctl_oidc_jwks *keys)
{
	return keys->n;
}

const char *ctl_oidc_jwks_ignored(const struct ctl_oidc_jwks *keys, size_t i)
{
	return i < keys->nignored ? keys->ignored[i] : NULL;
}

bool ctl_oidc_jwks_fetch_due(int64_t fetched, int64_t kid_fetched, int64_t now, bool unknown_kid)
{
	if (fetched <= 0 || now < fetched)
		return true;
	if (now - fetched >= CTL_OIDC_JWKS_TTL)
		return true;
	return unknown_kid && (kid_fetched <= 0 || now < kid_fetched ||
			       now - kid_fetched >= CTL_OIDC_JWKS_REFETCH_MIN);
}

int ctl_oidc__jwks_find(const struct ctl_oidc_jwks *keys, const char *kid, unsigned alg,
			const struct ctl_oidc__key **key, char *err, size_t errlen)
{
	char q[CTL_OIDC__QUOTE_BUF];
	const char *name = ctl_oidc__alg_name(alg);
	size_t n = 0;

	for (size_t i = 0; i < keys->n; i++) {
		const struct ctl_oidc__key *k = &keys->keys[i];
		if (kid && !(k->has_kid && strcmp(k->kid, kid) == 0))
			continue;
		if (kid && k->alg != alg)
			return ctl_oidc__fail(
			    -EINVAL, err, errlen, "the key \"%s\" is for %s, not %s",
			    ctl_oidc__quote(kid, strlen(kid), q), ctl_oidc__alg_name(k->alg), name);
		if (k->alg != alg)
			continue;
		*key = k;
		n++;
	}
	if (n == 1)
		return 0;
	if (kid)
		return ctl_oidc__fail(-ENOKEY, err, errlen, "the provider's JWKS has no key \"%s\"",
				      ctl_oidc__quote(kid, strlen(kid), q));
	if (n == 0)
		return ctl_oidc__fail(-ENOKEY, err, errlen, "the provider's JWKS has no %s key",
				      name);
	return ctl_oidc__fail(-EINVAL, err, errlen,
			      "the ID token names no kid and the provider has %zu %s keys", n,
			      name);
}
