/* The provider's discovery document (OpenID Connect Discovery 1.0, section 3) and the rule
 * for the URLs in it.  The issuer must be the configured one byte for byte (section 4.3:
 * otherwise whoever serves the document could name another provider's keys), and every
 * endpoint is https: the code, the client secret and the keys travel there. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/oidc/internal.h"

static bool host_is_loopback(const char *h, size_t n)
{
	static const char *const names[] = { "127.0.0.1", "[::1]", "localhost" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (n == strlen(names[i]) && strncasecmp(h, names[i], n) == 0)
			return true;
	return false;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.';
}

/* HOST[:PORT] of n bytes: a DNS name or IPv4 address, or an IPv6 address in brackets. */
static bool authority_valid(const char *a, size_t n, size_t *hostlen)
{
	size_t h = 0;
	if (n && a[0] == '[') {
		while (h < n && a[h] != ']') {
			char c = a[h];
			if (h && !(c == ':' || c == '.' || (c >= '0' && c <= '9') ||
				   (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
				return false;
			h++;
		}
		if (h == n || h < 3)
			return false;
		h++;
	} else {
		while (h < n && host_char(a[h]))
			h++;
		if (h == 0)
			return false;
	}
	*hostlen = h;
	if (h == n)
		return true;
	if (a[h] != ':' || n - h < 2 || n - h > 6 || a[h + 1] == '0')
		return false;
	unsigned port = 0;
	for (size_t i = h + 1; i < n; i++) {
		if (a[i] < '0' || a[i] > '9')
			return false;
		port = port * 10 + (unsigned)(a[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

bool ctl_oidc_url_check(const char *what, const char *url, bool loopback_http, char *err,
			size_t errlen)
{
	char q[CTL_OIDC__QUOTE_BUF];
	size_t len = strlen(url);
	const char *why = NULL;
	bool http = false;
	size_t skip = 0;

	if (strncmp(url, "https://", 8) == 0) {
		skip = 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		skip = 7;
		http = true;
	} else {
		why = "is not an https URL";
	}
	if (!why && len >= CTL_OIDC_URL_MAX)
		why = "is too long";
	for (size_t i = 0; !why && i < len; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c <= 0x20 || c >= 0x7f)
			why = "has a space, a control character or a byte that is not ASCII";
		else if (c == '#')
			why = "has a fragment";
	}
	if (!why) {
		const char *a = url + skip;
		size_t n = strcspn(a, "/?"), hostlen = 0;
		if (memchr(a, '@', n))
			why = "has user info";
		else if (!authority_valid(a, n, &hostlen))
			why = "has no valid host and port";
		else if (http && !(loopback_http && host_is_loopback(a, hostlen)))
			why = loopback_http ? "is plain http to a host that is not loopback"
					    : "is not an https URL";
	}
	if (why) {
		ctl_oidc__fail(0, err, errlen, "the %s \"%s\" %s", what,
			       ctl_oidc__quote(url, len, q), why);
		return false;
	}
	return true;
}

/* A string member copied into out (CTL_OIDC_URL_MAX bytes); -ENOENT when absent. */
static int get_string(json_t *doc, const char *name, char *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(doc, name);
	if (!v)
		return -ENOENT;
	if (!json_is_string(v))
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the discovery document's \"%s\" is not a string", name);
	if (json_string_length(v) >= CTL_OIDC_URL_MAX)
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the discovery document's \"%s\" is longer than %d bytes",
				      name, CTL_OIDC_URL_MAX - 1);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_endpoint(json_t *doc, const char *name, bool required, bool loopback_http, char *out,
			char *err, size_t errlen)
{
	char what[64];
	int rc = get_string(doc, name, out, err, errlen);
	if (rc == -ENOENT && !required) {
		out[0] = '\0';
		return 0;
	}
	if (rc == -ENOENT)
		return ctl_oidc__fail(-EINVAL, err, errlen, "the discovery document has no \"%s\"",
				      name);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "discovery document's %s", name);
	if (!ctl_oidc_url_check(what, out, loopback_http, err, errlen))
		return -EINVAL;
	return 0;
}

/* id_token_signing_alg_values_supported (required, section 3) among ours; and PKCE S256
 * when the provider lists its code challenge methods (RFC 8414 2: absent means unknown). */
static int get_algs(json_t *doc, unsigned *algs, char *err, size_t errlen)
{
	json_t *a = json_object_get(doc, "id_token_signing_alg_values_supported");
	json_t *v;
	size_t i;
	char q[CTL_OIDC__QUOTE_BUF];

	if (!a)
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the discovery document has no "
				      "\"id_token_signing_alg_values_supported\"");
	if (!json_is_array(a))
		return ctl_oidc__fail(-EINVAL, err, errlen,
				      "the discovery document's "
				      "\"id_token_signing_alg_values_supported\" is not an array");
	*algs = 0;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return ctl_oidc__fail(
			    -EINVAL, err, errlen,
			    "the discovery document's "
			    "\"id_token_signing_alg_values_supported\" has an entry "
			    "that is not a string");
		*algs |= ctl_oidc__alg_bit(json_string_value(v));
	}
	if (!*algs) {
		char *s = json_dumps(a, JSON_COMPACT);
		ctl_oidc__fail(-EINVAL, err, errlen,
			       "the provider signs ID tokens with none of RS256, ES256: its "
			       "id_token_signing_alg_values_supported is %s",
			       s ? ctl_oidc__quote(s, strlen(s), q) : "[...]");
		free(s);
		return -EINVAL;
	}

	json_t *m = json_object_get(doc, "code_challenge_methods_supported");
	if (!m)
		return 0;
	if (json_is_array(m)) {
		json_array_foreach(m, i, v)
		{
			if (json_is_string(v) && strcmp(json_string_value(v), "S256") == 0)
				return 0;
		}
	}
	return ctl_oidc__fail(-EINVAL, err, errlen,
			      "the provider does not offer PKCE with S256 "
			      "(its code_challenge_methods_supported lacks \"S256\")");
}

int ctl_oidc_discovery_parse(const char *body, size_t len, const char *issuer, bool loopback_http,
			     struct ctl_oidc_discovery *out, char *err, size_t errlen)
{
	char q1[CTL_OIDC__QUOTE_BUF], q2[CTL_OIDC__QUOTE_BUF];
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > CTL_OIDC_DOC_MAX)
		return ctl_oidc__fail(
		    -EFBIG, err, errlen,
		    "the discovery document is %zu bytes, more than the %d allowed", len,
		    CTL_OIDC_DOC_MAX);
	json_t *doc = ctl_oidc__json_object("the discovery document", body, len, err, errlen);
	if (!doc)
		return -EINVAL;

	rc = get_string(doc, "issuer", out->issuer, err, errlen);
	if (rc == -ENOENT)
		rc = ctl_oidc__fail(-EINVAL, err, errlen,
				    "the discovery document has no \"issuer\"");
	if (rc < 0)
		goto out;
	if (strcmp(out->issuer, issuer) != 0) {
		rc = ctl_oidc__fail(-EINVAL, err, errlen,
				    "the discovery document's issuer \"%s\" is not the configured "
				    "issuer \"%s\"",
				    ctl_oidc__quote(out->issuer, strlen(out->issuer), q1),
				    ctl_oidc__quote(issuer, strlen(issuer), q2));
		goto out;
	}
	if (!ctl_oidc_url_check("issuer", out->issuer, loopback_http, err, errlen)) {
		rc = -EINVAL;
		goto out;
	}
	rc = get_endpoint(doc, "authorization_endpoint", true, loopback_http,
			  out->authorization_endpoint, err, errlen);
	if (rc == 0)
		rc = get_endpoint(doc, "token_endpoint", true, loopback_http, out->token_endpoint,
				  err, errlen);
	if (rc == 0)
		rc = get_endpoint(doc, "jwks_uri", true, loopback_http, out->jwks_uri, err, errlen);
	if (rc == 0)
		rc = get_endpoint(doc, "userinfo_endpoint", false, loopback_http,
				  out->userinfo_endpoint, err, errlen);
	if (rc == 0)
		rc = get_algs(doc, &out->algs, err, errlen);
out:
	json_decref(doc);
	return rc;
}
