/* Fuzz target for ID token verification (ctl_oidc_id_token_verify), against a JWKS of an
 * RSA and an EC key made once.  The first byte chooses what the rest is: 0, a compact token
 * as it came (the header, alg and kid rules, the base64url and the signature check); 1, the
 * claims of a token this harness signs with the EC key (so the claim checks run on bytes
 * that verify); 2, the same in check mode with another groups claim.  An accepted token
 * names its subject and our issuer; a refusal is a printable sentence. */
#include <errno.h>

#include "control/oidc/oidc.h"
#include "fuzz_oidc.h"
#include "tests/unit/oidc/fixture.h"

#define ISS "https://idp.example.com"

static struct ctl_oidc_jwks *keys;
static cjose_jwk_t *ec;

static void setup(void)
{
	cjose_jwk_t *rsa = fx_rsa("rsa", 2048);
	ec = fx_ec("ec", CJOSE_JWK_EC_P_256);
	json_t *pub[] = { fx_jwk_json(rsa, NULL), fx_jwk_json(ec, NULL) };
	char *s = fx_jwks(pub, 2);
	if (sodium_init() < 0 || ctl_oidc_jwks_parse(s, strlen(s), &keys, NULL, 0) != 0)
		abort();
	free(s);
	cjose_jwk_release(rsa);
}

/* data signed as the payload of an ES256 token; a new string */
static char *sign_raw(const uint8_t *data, size_t size)
{
	cjose_header_t *h = cjose_header_new(NULL);
	cjose_header_set(h, CJOSE_HDR_ALG, "ES256", NULL);
	cjose_header_set(h, CJOSE_HDR_KID, "ec", NULL);
	cjose_jws_t *jws = cjose_jws_sign(ec, h, data, size, NULL);
	const char *ser = NULL;
	if (!jws || !cjose_jws_export(jws, &ser, NULL))
		abort();
	char *out = strdup(ser);
	cjose_jws_release(jws);
	cjose_header_release(h);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_oidc_verify p = {
		.issuer = ISS,
		.client_id = "mesh",
		.nonce = "n",
		.algs = CTL_OIDC_RS256 | CTL_OIDC_ES256,
		.now = 1700000000,
	};
	static struct ctl_oidc_identity id;
	char err[CTL_OIDC_ERR_MAX] = "";
	char *tok = NULL;
	const char *t;
	size_t n;
	int rc;

	if (!keys)
		setup();
	if (size == 0)
		return 0;
	if (data[0] == 0) {
		t = (const char *)data + 1;
		n = size - 1;
	} else {
		if (size - 1 > 4096)
			return 0;
		if (data[0] == 2) {
			p.check = true;
			p.auth_after = p.now - 100;
			p.groups_claim = "roles";
		}
		tok = sign_raw(data + 1, size - 1);
		t = tok;
		n = strlen(tok);
	}
	rc = ctl_oidc_id_token_verify(t, n, keys, &p, &id, err, sizeof(err));
	fuzz_oidc_sentence(rc, err);
	if (rc == 0 &&
	    (!id.sub[0] || strcmp(id.iss, ISS) != 0 || id.ngroups > CTL_OIDC_GROUPS_MAX ||
	     (p.check && id.auth_time + CTL_OIDC_SKEW < p.auth_after)))
		abort();
	if (rc < 0 && id.sub[0])
		abort();
	free(tok);
	return 0;
}
