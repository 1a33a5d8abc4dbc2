/* Fuzz target for the provider's discovery document (ctl_oidc_discovery_parse), with and
 * without loopback http: an accepted document's issuer is the configured one and each
 * endpoint passes the URL rule again; a refusal is a printable sentence. */
#include <errno.h>

#include "control/oidc/oidc.h"
#include "fuzz_oidc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *issuer = "https://idp.example.com";
	struct ctl_oidc_discovery d;
	char err[CTL_OIDC_ERR_MAX];
	for (int loopback = 0; loopback < 2; loopback++) {
		err[0] = '\0';
		int rc = ctl_oidc_discovery_parse((const char *)data, size, issuer, loopback, &d,
						  err, sizeof(err));
		fuzz_oidc_sentence(rc, err);
		if (rc < 0)
			continue;
		if (strcmp(d.issuer, issuer) != 0 || !d.algs ||
		    (d.algs & ~(unsigned)(CTL_OIDC_RS256 | CTL_OIDC_ES256)) ||
		    !ctl_oidc_url_check("x", d.token_endpoint, loopback, NULL, 0) ||
		    !ctl_oidc_url_check("x", d.authorization_endpoint, loopback, NULL, 0) ||
		    !ctl_oidc_url_check("x", d.jwks_uri, loopback, NULL, 0) ||
		    (d.userinfo_endpoint[0] &&
		     !ctl_oidc_url_check("x", d.userinfo_endpoint, loopback, NULL, 0)))
			abort();
	}
	return 0;
}
