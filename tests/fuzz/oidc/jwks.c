/* Fuzz target for the provider's JWKS (ctl_oidc_jwks_parse): an accepted set holds 1 to
 * CTL_OIDC_KEYS_MAX keys and a printable reason per key left out; a refusal is a printable
 * sentence. */
#include "control/oidc/oidc.h"
#include "fuzz_oidc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_oidc_jwks *k;
	char err[CTL_OIDC_ERR_MAX] = "";
	int rc = ctl_oidc_jwks_parse((const char *)data, size, &k, err, sizeof(err));
	fuzz_oidc_sentence(rc, err);
	if (rc < 0)
		return 0;
	size_t n = ctl_oidc_jwks_count(k), i = 0;
	if (n == 0 || n > CTL_OIDC_KEYS_MAX)
		abort();
	for (const char *why; (why = ctl_oidc_jwks_ignored(k, i)); i++)
		fuzz_oidc_sentence(-1, why);
	if (n + i > CTL_OIDC_KEYS_MAX)
		abort();
	ctl_oidc_jwks_free(k);
	return 0;
}
