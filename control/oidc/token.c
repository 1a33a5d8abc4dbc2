/* ID token verification (OpenID Connect Core 1.0, 3.1.3.7).  The order is the attacker's
 * order: size first, then the header we read ourselves (so "none", HS256 keyed with the
 * provider's RSA public key and every other algorithm is refused before any key is touched),
 * the key by kid, the signature by libcjose, and only then the claims, from bytes that the
 * provider signed.  libcjose reads the header again; we check it read the same alg. */
#include <cjose/cjose.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/oidc/internal.h"

enum { AUD_MAX = 16, TIME_MAX = (int64_t)1 << 40 };

/* A NumericDate claim; -ENOENT when absent. */
static int get_time(json_t *c, const char *name, int64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(c, name);
	double d;
	if (!v)
		return -ENOENT;
	if (json_is_integer(v))
		d = (double)json_integer_value(v);
	else if (json_is_real(v))
		d = json_real_value(v);
	else
		return ctl_oidc__fail(-EINVAL, err, errlen, "the ID token's %s is not a number",
				      name);
	if (!(d >= 0 && d < (double)TIME_MAX))
		return ctl_oidc__fail(-EINVAL, err, errlen, "the ID token's %s is out of range",
				      name);
	*out = (int64_t)d;
	return 0;
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* aud holds client_id; azp is client_id when there are several audiences or it is there. */
static int check_audience(json_t *c, const char *client_id, char *err, size_t errlen)
{
	char q1[CTL_OIDC__QUOTE_BUF], q2[CTL_OIDC__QUOTE_BUF];
	json_t *aud = json_object_get(c, "aud"), *v;
	size_t n = 0, i;
	bool ours = false;

	if (json_is_string(aud)) {
		n = 1;
		ours = strcmp(json_string_value(aud), client_id) == 0;
	} else if (json_is_array(aud) && json_array_size(aud) <= AUD_MAX) {
		json_array_foreach(aud, i, v)
		{
			if (!json_is_string(v))
				return ctl_oidc__fail(-EINVAL, err, errlen,
						      "the ID token's aud has "
						      "an entry that is not a string");
			ours |= strcmp(json_string_value(v), client_id) == 0;
			n++;
		}
	} else if (aud) {
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the ID token's aud is not a string or "
				      "an array of at most %d strings",
				      AUD_MAX);
	}
	if (n == 0)
		return ctl_oidc__fail(-EINVAL, err, errlen, "the ID token has no aud");
	if (!ours) {
		char *s = json_dumps(aud, JSON_COMPACT | JSON_ENCODE_ANY);
		ctl_oidc__fail(-EACCES, err, errlen,
			       "the ID token's aud %s does not name this "
			       "client \"%s\"",
			       s ? ctl_oidc__quote(s, strlen(s), q1) : "?",
			       ctl_oidc__quote(client_id, strlen(client_id), q2));
		free(s);
		return -EACCES;
	}
	json_t *azp = json_object_get(c, "azp");
	if (!azp && n > 1)
		return ctl_oidc__fail(-EACCES, err, errlen,
				      "the ID token has several audiences "
				      "and no azp");
	if (azp && !json_is_string(azp))
		return ctl_oidc__fail(-EINVAL, err, errlen, "the ID token's azp is not a string");
	if (azp && strcmp(json_string_value(azp), client_id) != 0)
		return ctl_oidc__fail(
		    -EACCES, err, errlen,
		    "the ID token's azp \"%s\" is not this "
		    "client \"%s\"",
		    ctl_oidc__quote(json_string_value(azp), json_string_length(azp), q1),
		    ctl_oidc__quote(client_id, strlen(client_id), q2));
	return 0;
}

/* exp, iat, nbf with the skew; auth_time (into *auth_time, 0 when absent) in check mode. */
static int check_times(json_t *c, const struct ctl_oidc_verify *p, int64_t *auth_time, char *err,
		       size_t errlen)
{
	const long long skew = CTL_OIDC_SKEW;
	int64_t exp, iat, nbf, at = 0;
	int rc;

	rc = get_time(c, "exp", &exp, err, errlen);
	if (rc == -ENOENT)
		return ctl_oidc__fail(-EINVAL, err, errlen, "the ID token has no exp");
	if (rc < 0)
		return rc;
	if (p->now - skew >= exp)
		return ctl_oidc__fail(-EACCES, err, errlen, "the ID token expired %lld s ago",
				      (long long)(p->now - exp));
	rc = get_time(c, "iat", &iat, err, errlen);
	if (rc == -ENOENT)
		return ctl_oidc__fail(-EINVAL, err, errlen, "the ID token has no iat");
	if (rc < 0)
		return rc;
	if (iat > p->now + skew)
		return ctl_oidc__fail(-EACCES, err, errlen,
				      "the ID token was issued %lld s in the future",
				      (long long)(iat - p->now));
	rc = get_time(c, "nbf", &nbf, err, errlen);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && nbf > p->now + skew)
		return ctl_oidc__fail(-EACCES, err, errlen,
				      "the ID token is not valid for another %lld s",
				      (long long)(nbf - p->now));
	rc = get_time(c, "auth_time", &at, err, errlen);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == -ENOENT && p->check)
		return ctl_oidc__fail(-EACCES, err, errlen,
				      "the ID token has no auth_time, so it "
				      "does not show a fresh login at the provider");
	if (p->check && at + skew < p->auth_after)
		return ctl_oidc__fail(-EACCES, err, errlen,
				      "the login at the provider was %lld s "
				      "before this check began",
				      (long long)(p->auth_after - at));
	*auth_time = rc == 0 ? at : 0;
	return 0;
}

static int get_groups(json_t *c, const char *claim, struct ctl_oidc_identity *out, char *err,
		      size_t errlen)
{
	char q1[CTL_OIDC__QUOTE_BUF], q2[CTL_OIDC__QUOTE_BUF];
	json_t *g = json_object_get(c, claim), *v;
	size_t i;

	ctl_oidc__quote(claim, strlen(claim), q1);
	if (!g)
		return 0;
	if (!json_is_array(g))
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the ID token's \"%s\" claim is not an "
				      "array of strings",
				      q1);
	if (json_array_size(g) > CTL_OIDC_GROUPS_MAX)
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the ID token's \"%s\" claim has %zu "
				      "entries, more than the %d allowed",
				      q1, json_array_size(g), CTL_OIDC_GROUPS_MAX);
	json_array_foreach(g, i, v)
	{
		if (!json_is_string(v))
			return ctl_oidc__fail(-EINVAL, err, errlen,
					      "the ID token's \"%s\" claim is "
					      "not an array of strings",
					      q1);
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		if (n == 0 || n >= CTL_OIDC_GROUP_MAX || !printable(s, n))
			return ctl_oidc__fail(-EINVAL, err, errlen,
					      "the ID token's \"%s\" claim "
					      "has a group \"%s\" that is empty, longer than %d "
					      "bytes or has a control character",
					      q1, ctl_oidc__quote(s, n, q2),
					      CTL_OIDC_GROUP_MAX - 1);
		memcpy(out->groups[out->ngroups++], s, n + 1);
	}
	out->groups_present = true;
	return 0;
}

/* iss, the audience, times, nonce, then who: sub, a verified email, groups. */
static int check_claims(json_t *c, const struct ctl_oidc_verify *p, struct ctl_oidc_identity *out,
			char *err, size_t errlen)
{
	char q1[CTL_OIDC__QUOTE_BUF], q2[CTL_OIDC__QUOTE_BUF];
	json_t *iss = json_object_get(c, "iss"), *v;
	int rc;

	if (!json_is_string(iss))
		return ctl_oidc__fail(-EINVAL, err, errlen, "the ID token has no iss");
	if (strcmp(json_string_value(iss), p->issuer) != 0)
		return ctl_oidc__fail(
		    -EACCES, err, errlen,
		    "the ID token's iss \"%s\" is not the "
		    "issuer \"%s\"",
		    ctl_oidc__quote(json_string_value(iss), json_string_length(iss), q1),
		    ctl_oidc__quote(p->issuer, strlen(p->issuer), q2));
	rc = check_audience(c, p->client_id, err, errlen);
	if (rc == 0)
		rc = check_times(c, p, &out->auth_time, err, errlen);
	if (rc < 0)
		return rc;
	if (p->nonce) {
		v = json_object_get(c, "nonce");
		if (!json_is_string(v))
			return ctl_oidc__fail(-EACCES, err, errlen, "the ID token has no nonce");
		if (strcmp(json_string_value(v), p->nonce) != 0)
			return ctl_oidc__fail(-EACCES, err, errlen,
					      "the ID token's nonce is not "
					      "this login's");
	}

	v = json_object_get(c, "sub");
	if (!json_is_string(v))
		return ctl_oidc__fail(-EINVAL, err, errlen, "the ID token has no sub");
	size_t n = json_string_length(v);
	if (n == 0 || n >= CTL_OIDC_SUB_MAX || !printable(json_string_value(v), n))
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the ID token's sub \"%s\" is empty, "
				      "longer than %d bytes or has a control character",
				      ctl_oidc__quote(json_string_value(v), n, q1),
				      CTL_OIDC_SUB_MAX - 1);
	memcpy(out->sub, json_string_value(v), n + 1);
	if (strlen(p->issuer) >= sizeof(out->iss))
		return ctl_oidc__fail(-EINVAL, err, errlen, "the issuer is too long");
	strcpy(out->iss, p->issuer);

	/* an email the provider has not verified names nobody: it is not kept */
	v = json_object_get(c, "email");
	if (json_is_true(json_object_get(c, "email_verified")) && json_is_string(v)) {
		n = json_string_length(v);
		if (n >= CTL_OIDC_EMAIL_MAX || !printable(json_string_value(v), n))
			return ctl_oidc__fail(-EINVAL, err, errlen,
					      "the ID token's email \"%s\" "
					      "is longer than %d bytes or has a control character",
					      ctl_oidc__quote(json_string_value(v), n, q1),
					      CTL_OIDC_EMAIL_MAX - 1);
		memcpy(out->email, json_string_value(v), n + 1);
	}
	return get_groups(c, p->groups_claim ? p->groups_claim : "groups", out, err, errlen);
}

/* The header's alg (one of p->algs) and kid (NULL when absent) into *alg and kid. */
static int read_header(const char *token, size_t hlen, const struct ctl_oidc_verify *p,
		       unsigned *alg, char kid[static CTL_OIDC_KID_MAX], bool *has_kid, char *err,
		       size_t errlen)
{
	char q[CTL_OIDC__QUOTE_BUF], list[32];
	unsigned char *buf = malloc(hlen + 1);
	size_t n;
	int rc = -EINVAL;

	if (!buf)
		return -ENOMEM;
	if (!ctl_oidc__b64url_decode(token, hlen, buf, hlen + 1, &n)) {
		rc = ctl_oidc__fail(-EINVAL, err, errlen, "the ID token's header is not base64url");
		free(buf);
		return rc;
	}
	json_t *h =
	    ctl_oidc__json_object("the ID token's header", (const char *)buf, n, err, errlen);
	free(buf);
	if (!h)
		return -EINVAL;
	json_t *a = json_object_get(h, "alg"), *k = json_object_get(h, "kid");
	if (!json_is_string(a)) {
		ctl_oidc__fail(-EINVAL, err, errlen, "the ID token's header has no alg");
	} else if (strcmp(json_string_value(a), "none") == 0) {
		ctl_oidc__fail(-EINVAL, err, errlen, "the ID token is not signed (alg \"none\")");
	} else if (!(ctl_oidc__alg_bit(json_string_value(a)) & p->algs)) {
		ctl_oidc__fail(-EINVAL, err, errlen,
			       "the ID token's alg \"%s\" is not allowed "
			       "(allowed: %s)",
			       ctl_oidc__quote(json_string_value(a), json_string_length(a), q),
			       ctl_oidc__alg_list(p->algs, list));
	} else if (json_object_get(h, "crit")) {
		ctl_oidc__fail(-EINVAL, err, errlen,
			       "the ID token's header has crit, which we do "
			       "not understand");
	} else if (k && (!json_is_string(k) || json_string_length(k) >= CTL_OIDC_KID_MAX)) {
		ctl_oidc__fail(-EINVAL, err, errlen,
			       "the ID token's kid is not a string of at most "
			       "%d bytes",
			       CTL_OIDC_KID_MAX - 1);
	} else {
		*alg = ctl_oidc__alg_bit(json_string_value(a));
		*has_kid = k != NULL;
		if (k)
			memcpy(kid, json_string_value(k), json_string_length(k) + 1);
		rc = 0;
	}
	json_decref(h);
	return rc;
}

int ctl_oidc_id_token_verify(const char *token, size_t len, const struct ctl_oidc_jwks *keys,
			     const struct ctl_oidc_verify *p, struct ctl_oidc_identity *out,
			     char *err, size_t errlen)
{
	char kid[CTL_OIDC_KID_MAX], q[CTL_OIDC__QUOTE_BUF];
	const struct ctl_oidc__key *key;
	unsigned alg = 0;
	bool has_kid = false;
	cjose_err cerr = { 0 };
	uint8_t *body;
	size_t body_len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > CTL_OIDC_TOKEN_MAX)
		return ctl_oidc__fail(-EFBIG, err, errlen,
				      "the ID token is %zu bytes, more than "
				      "the %d allowed",
				      len, CTL_OIDC_TOKEN_MAX);
	const char *d1 = memchr(token, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	/* libcjose 0.6.2.1 aborts on some bad base64url: it only ever sees good parts */
	if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) || d1 == token ||
	    d2 == d1 + 1 || !ctl_oidc__b64url_valid(token, (size_t)(d1 - token)) ||
	    !ctl_oidc__b64url_valid(d1 + 1, (size_t)(d2 - d1 - 1)) ||
	    !ctl_oidc__b64url_valid(d2 + 1, (size_t)(token + len - d2 - 1)))
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the ID token is not a signed JWT "
				      "(three base64url parts)");
	rc = read_header(token, (size_t)(d1 - token), p, &alg, kid, &has_kid, err, errlen);
	if (rc < 0)
		return rc;
	if (d2 + 1 == token + len)
		return ctl_oidc__fail(-EINVAL, err, errlen, "the ID token has no signature");
	rc = ctl_oidc__jwks_find(keys, has_kid ? kid : NULL, alg, &key, err, errlen);
	if (rc < 0)
		return rc;

	cjose_jws_t *jws = cjose_jws_import(token, len, &cerr);
	if (!jws)
		return ctl_oidc__fail(cerr.code == CJOSE_ERR_NO_MEMORY ? -ENOMEM : -EINVAL, err,
				      errlen, "the ID token could not be read (libcjose: %s)",
				      cerr.message ? cerr.message : "?");
	const char *calg = cjose_header_get(cjose_jws_get_protected(jws), CJOSE_HDR_ALG, &cerr);
	if (!calg || ctl_oidc__alg_bit(calg) != alg) {
		rc = ctl_oidc__fail(-EINVAL, err, errlen, "the ID token's alg is read two ways");
		goto out;
	}
	if (!cjose_jws_verify(jws, (const cjose_jwk_t *)key->jwk, &cerr)) {
		rc = ctl_oidc__fail(-EINVAL, err, errlen,
				    "the ID token's signature does not "
				    "verify with the provider's %s key \"%s\"",
				    ctl_oidc__alg_name(alg),
				    ctl_oidc__quote(key->kid, strlen(key->kid), q));
		goto out;
	}
	if (!cjose_jws_get_plaintext(jws, &body, &body_len, &cerr)) {
		rc = ctl_oidc__fail(-EINVAL, err, errlen, "the ID token has no payload");
		goto out;
	}
	json_t *claims = ctl_oidc__json_object("the ID token's payload", (const char *)body,
					       body_len, err, errlen);
	if (!claims) {
		rc = -EINVAL;
		goto out;
	}
	rc = check_claims(claims, p, out, err, errlen);
	json_decref(claims);
out:
	cjose_jws_release(jws);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}
