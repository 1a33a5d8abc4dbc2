/* One login's way out and back: the random state, nonce and PKCE verifier (RFC 7636, S256
 * only), the authorization URL with every parameter percent-encoded (RFC 3986 2.3: only
 * unreserved characters stay as they are, so no value can add a parameter), and the token
 * endpoint's answer (RFC 6749 5.1 and 5.2), whose error text is the provider's or a
 * forger's: it is quoted with control characters as '?'. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "control/oidc/internal.h"

enum { RANDOM_BYTES = 32 };

static void random_text(char out[static CTL_OIDC_RANDOM_LEN])
{
	unsigned char b[RANDOM_BYTES];
	randombytes_buf(b, sizeof(b));
	ctl_oidc__b64url_encode(b, sizeof(b), out, CTL_OIDC_RANDOM_LEN);
	sodium_memzero(b, sizeof(b));
}

void ctl_oidc_pkce_challenge(const char *verifier, char out[static CTL_OIDC_RANDOM_LEN])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
	ctl_oidc__b64url_encode(h, sizeof(h), out, CTL_OIDC_RANDOM_LEN);
}

void ctl_oidc_login_new(struct ctl_oidc_login *l)
{
	random_text(l->state);
	random_text(l->nonce);
	random_text(l->verifier);
	ctl_oidc_pkce_challenge(l->verifier, l->challenge);
}

/* Appends "&name=" (or sep) and value percent-encoded; false when out is full. */
static bool put_param(char *out, size_t outlen, size_t *pos, char sep, const char *name,
		      const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	int n = snprintf(out + *pos, outlen - *pos, "%c%s=", sep, name);
	if (n < 0 || (size_t)n >= outlen - *pos)
		return false;
	*pos += (size_t)n;
	for (const unsigned char *v = (const unsigned char *)value; *v; v++) {
		bool plain = (*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
			     (*v >= '0' && *v <= '9') || *v == '-' || *v == '.' || *v == '_' ||
			     *v == '~';
		if (outlen - *pos < (plain ? 2u : 4u))
			return false;
		if (plain) {
			out[(*pos)++] = (char)*v;
		} else {
			out[(*pos)++] = '%';
			out[(*pos)++] = hex[*v >> 4];
			out[(*pos)++] = hex[*v & 15];
		}
	}
	out[*pos] = '\0';
	return true;
}

/* RFC 6749 3.3: scope-tokens of %x21 / %x23-5B / %x5D-7E, one space apart; one is "openid". */
static bool scope_valid(const char *scope)
{
	bool openid = false;
	const char *t = scope;
	for (;;) {
		size_t n = strcspn(t, " ");
		if (n == 0)
			return false;
		for (size_t i = 0; i < n; i++)
			if (t[i] < 0x21 || t[i] > 0x7e || t[i] == '"' || t[i] == '\\')
				return false;
		openid |= n == 6 && strncmp(t, "openid", 6) == 0;
		if (!t[n])
			return openid;
		t += n + 1;
	}
}

int ctl_oidc_auth_url(const struct ctl_oidc_discovery *d, const char *client_id,
		      const char *redirect_uri, const char *scope, const struct ctl_oidc_login *l,
		      bool check, char *out, size_t outlen, char *err, size_t errlen)
{
	char q[CTL_OIDC__QUOTE_BUF];
	const char *base = d->authorization_endpoint;
	size_t pos = strlen(base);

	if (!scope_valid(scope))
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the scope \"%s\" is not space-separated "
				      "scope names that include openid",
				      ctl_oidc__quote(scope, strlen(scope), q));
	if (!*client_id || !*redirect_uri)
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the client id and the redirect URI "
				      "may not be empty");
	if (pos >= outlen)
		goto full;
	memcpy(out, base, pos + 1);
	/* an endpoint may carry a query of its own (RFC 6749 3.1): ours follows it */
	char sep = '?';
	if (strchr(base, '?')) {
		sep = '&';
		if (base[pos - 1] == '?' || base[pos - 1] == '&')
			sep = base[--pos]; /* written again in its place */
	}
	bool ok = put_param(out, outlen, &pos, sep, "response_type", "code") &&
		  put_param(out, outlen, &pos, '&', "scope", scope) &&
		  put_param(out, outlen, &pos, '&', "client_id", client_id) &&
		  put_param(out, outlen, &pos, '&', "redirect_uri", redirect_uri) &&
		  put_param(out, outlen, &pos, '&', "state", l->state) &&
		  put_param(out, outlen, &pos, '&', "nonce", l->nonce) &&
		  put_param(out, outlen, &pos, '&', "code_challenge", l->challenge) &&
		  put_param(out, outlen, &pos, '&', "code_challenge_method", "S256");
	if (ok && check)
		ok = put_param(out, outlen, &pos, '&', "prompt", "login") &&
		     put_param(out, outlen, &pos, '&', "max_age", "0");
	if (ok)
		return 0;
full:
	if (outlen)
		out[0] = '\0';
	return ctl_oidc__fail(-ENAMETOOLONG, err, errlen,
			      "the authorization URL is longer than "
			      "%zu bytes",
			      outlen ? outlen - 1 : 0);
}

/* A string member no longer than max bytes into out; -ENOENT when absent. */
static int get_secret(json_t *r, const char *name, char *out, size_t max, char *err, size_t errlen)
{
	json_t *v = json_object_get(r, name);
	if (!v)
		return -ENOENT;
	if (!json_is_string(v))
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the token response's %s is not a "
				      "string",
				      name);
	if (json_string_length(v) == 0)
		return ctl_oidc__fail(-EINVAL, err, errlen, "the token response's %s is empty",
				      name);
	if (json_string_length(v) > max)
		return ctl_oidc__fail(-EFBIG, err, errlen,
				      "the token response's %s is %zu bytes, "
				      "more than the %zu allowed",
				      name, json_string_length(v), max);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int ctl_oidc_token_response_parse(const char *body, size_t len, struct ctl_oidc_tokens *out,
				  char *err, size_t errlen)
{
	char q1[CTL_OIDC__QUOTE_BUF], q2[CTL_OIDC__QUOTE_BUF];
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > CTL_OIDC_RESPONSE_MAX)
		return ctl_oidc__fail(-EFBIG, err, errlen,
				      "the token response is %zu bytes, more "
				      "than the %d allowed",
				      len, CTL_OIDC_RESPONSE_MAX);
	json_t *r = ctl_oidc__json_object("the token response", body, len, err, errlen);
	if (!r)
		return -EINVAL;
	json_t *e = json_object_get(r, "error");
	if (e) {
		json_t *desc = json_object_get(r, "error_description");
		const char *es = json_is_string(e) ? json_string_value(e) : "?";
		const char *ds = json_is_string(desc) ? json_string_value(desc) : NULL;
		rc = ctl_oidc__fail(-EACCES, err, errlen, "the provider refused the code: %s%s%s%s",
				    ctl_oidc__quote(es, strlen(es), q1), ds ? " (" : "",
				    ds ? ctl_oidc__quote(ds, strlen(ds), q2) : "", ds ? ")" : "");
		goto out;
	}
	rc = get_secret(r, "id_token", out->id_token, CTL_OIDC_TOKEN_MAX, err, errlen);
	if (rc == -ENOENT)
		rc = ctl_oidc__fail(-EINVAL, err, errlen, "the token response has no id_token");
	if (rc < 0)
		goto out;
	rc = get_secret(r, "access_token", out->access_token, CTL_OIDC_ACCESS_TOKEN_MAX, err,
			errlen);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	json_t *t = json_object_get(r, "token_type");
	if (!json_is_string(t)) {
		rc = ctl_oidc__fail(-EINVAL, err, errlen, "the token response has no token_type");
	} else if (strcasecmp(json_string_value(t), "Bearer") != 0) {
		rc = ctl_oidc__fail(
		    -EINVAL, err, errlen,
		    "the token response's token_type \"%s\" "
		    "is not Bearer",
		    ctl_oidc__quote(json_string_value(t), json_string_length(t), q1));
	} else {
		rc = 0;
	}
out:
	json_decref(r);
	if (rc < 0)
		ctl_oidc_tokens_wipe(out);
	return rc;
}

void ctl_oidc_tokens_wipe(struct ctl_oidc_tokens *t)
{
	sodium_memzero(t, sizeof(*t));
}
