/* Fuzz target for the token endpoint's response (ctl_oidc_token_response_parse): an
 * accepted one has an id_token within its bound; a refusal (the provider's error text among
 * them) is a printable sentence, and leaves no token behind. */
#include "control/oidc/oidc.h"
#include "fuzz_oidc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl_oidc_tokens t;
	char err[CTL_OIDC_ERR_MAX] = "";
	int rc = ctl_oidc_token_response_parse((const char *)data, size, &t, err, sizeof(err));
	fuzz_oidc_sentence(rc, err);
	if (rc == 0 && (!t.id_token[0] || strlen(t.id_token) > CTL_OIDC_TOKEN_MAX))
		abort();
	if (rc < 0 && (t.id_token[0] || t.access_token[0]))
		abort();
	ctl_oidc_tokens_wipe(&t);
	return 0;
}
