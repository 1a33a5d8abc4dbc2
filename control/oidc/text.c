/* control/oidc's text helpers: the error sentence, quoting what a provider (or someone in
 * front of the browser) sent so it cannot drive a terminal or forge a log line, base64url
 * (libsodium's, strict: no padding, no other alphabet), and JSON read with duplicate members
 * refused.  base64url is the provider's encoding (JWS, JWK, PKCE), not a key text of ours,
 * so it lives here and not in common/. */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control/oidc/internal.h"

int ctl_oidc__fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

const char *ctl_oidc__quote(const char *s, size_t n, char out[static CTL_OIDC__QUOTE_BUF])
{
	size_t k = n < CTL_OIDC__QUOTE_MAX ? n : CTL_OIDC__QUOTE_MAX;
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (k < n) {
		memcpy(out + k, "...", 4);
	} else {
		out[k] = '\0';
	}
	return out;
}

const char *ctl_oidc_quote(const char *s, char out[static CTL_OIDC_QUOTE_BUF])
{
	_Static_assert((int)CTL_OIDC_QUOTE_BUF == (int)CTL_OIDC__QUOTE_BUF, "one quoting size");
	return ctl_oidc__quote(s, strlen(s), out);
}

bool ctl_oidc__b64url_decode(const char *s, size_t n, unsigned char *out, size_t outlen,
			     size_t *written)
{
	const char *end = NULL;
	if (sodium_base642bin(out, outlen, s, n, NULL, written, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return false;
	return end == s + n;
}

bool ctl_oidc__b64url_valid(const char *s, size_t n)
{
	if (n % 4 == 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

void ctl_oidc__b64url_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	sodium_bin2base64(out, outlen, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

json_t *ctl_oidc__json_object(const char *what, const char *s, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	char q[CTL_OIDC__QUOTE_BUF];
	json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		ctl_oidc__fail(0, err, errlen, "%s is not JSON: %s at byte %d", what,
			       ctl_oidc__quote(je.text, strlen(je.text), q), je.position);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		ctl_oidc__fail(0, err, errlen, "%s is not a JSON object", what);
		return NULL;
	}
	return j;
}

const char *ctl_oidc__alg_name(unsigned alg)
{
	switch (alg) {
	case CTL_OIDC_RS256:
		return "RS256";
	case CTL_OIDC_ES256:
		return "ES256";
	}
	return "?";
}

unsigned ctl_oidc__alg_bit(const char *name)
{
	if (strcmp(name, "RS256") == 0)
		return CTL_OIDC_RS256;
	if (strcmp(name, "ES256") == 0)
		return CTL_OIDC_ES256;
	return 0;
}

const char *ctl_oidc__alg_list(unsigned algs, char out[static 32])
{
	out[0] = '\0';
	for (unsigned b = CTL_OIDC_RS256; b <= CTL_OIDC_ES256; b <<= 1) {
		if (!(algs & b))
			continue;
		if (out[0])
			strcat(out, ", ");
		strcat(out, ctl_oidc__alg_name(b));
	}
	if (!out[0])
		strcpy(out, "none");
	return out;
}
