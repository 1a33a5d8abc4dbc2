/* Test fixtures for control/oidc, made at run time: RSA and EC P-256 keys (libcjose over
 * OpenSSL), a JWKS of their public halves, ID tokens signed with them, and the tokens an
 * attacker makes (alg "none", HS256 keyed with the provider's RSA public key).  No private
 * key is checked in.  Shared by the unit test and the fuzz target. */
#ifndef MESH_TESTS_OIDC_FIXTURE_H
#define MESH_TESTS_OIDC_FIXTURE_H

#define OPENSSL_SUPPRESS_DEPRECATED /* cjose 0.6 hands out an RSA *: PEM of its public key */
#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void fx_die(const char *what)
{
	fprintf(stderr, "fixture: %s failed\n", what);
	abort();
}

static inline cjose_jwk_t *fx_rsa(const char *kid, size_t bits)
{
	static const uint8_t e[] = { 1, 0, 1 };
	cjose_jwk_t *k = cjose_jwk_create_RSA_random(bits, e, sizeof(e), NULL);
	if (!k || !cjose_jwk_set_kid(k, kid, strlen(kid), NULL))
		fx_die("RSA key");
	return k;
}

static inline cjose_jwk_t *fx_ec(const char *kid, cjose_jwk_ec_curve crv)
{
	cjose_jwk_t *k = cjose_jwk_create_EC_random(crv, NULL);
	if (!k || !cjose_jwk_set_kid(k, kid, strlen(kid), NULL))
		fx_die("EC key");
	return k;
}

/* The public JWK of k as a JSON object, with extra members (a JSON object text) merged in. */
static inline json_t *fx_jwk_json(cjose_jwk_t *k, const char *extra)
{
	char *s = cjose_jwk_to_json(k, false, NULL);
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;
	free(s);
	if (!j)
		fx_die("JWK export");
	if (extra) {
		json_t *x = json_loads(extra, 0, NULL);
		if (!x || json_object_update(j, x) != 0)
			fx_die("JWK extra members");
		json_decref(x);
	}
	return j;
}

/* {"keys": [...]} from n JWK objects (references taken); a new string. */
static inline char *fx_jwks(json_t **jwks, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, jwks[i]);
	json_t *doc = json_pack("{s:o}", "keys", a);
	char *s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

/* A compact JWS of claims signed by k with alg, naming kid (NULL: no kid); a new string. */
static inline char *fx_sign(cjose_jwk_t *k, const char *alg, const char *kid, json_t *claims)
{
	cjose_header_t *h = cjose_header_new(NULL);
	cjose_header_set(h, CJOSE_HDR_ALG, alg, NULL);
	if (kid)
		cjose_header_set(h, CJOSE_HDR_KID, kid, NULL);
	char *body = json_dumps(claims, JSON_COMPACT);
	cjose_jws_t *jws = cjose_jws_sign(k, h, (const uint8_t *)body, strlen(body), NULL);
	const char *ser = NULL;
	if (!jws || !cjose_jws_export(jws, &ser, NULL))
		fx_die("JWS signing");
	char *out = strdup(ser);
	cjose_jws_release(jws);
	cjose_header_release(h);
	free(body);
	return out;
}

/* base64url(header) "." base64url(payload) "." sig, signed by nobody; a new string. */
static inline char *fx_raw(const char *header, const char *payload, const char *sig)
{
	size_t hl = strlen(header), pl = strlen(payload);
	char *h = malloc(hl * 2 + 4), *p = malloc(pl * 2 + 4);
	sodium_bin2base64(h, hl * 2 + 4, (const unsigned char *)header, hl,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_bin2base64(p, pl * 2 + 4, (const unsigned char *)payload, pl,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	size_t n = strlen(h) + strlen(p) + strlen(sig) + 3;
	char *out = malloc(n);
	snprintf(out, n, "%s.%s.%s", h, p, sig);
	free(h);
	free(p);
	return out;
}

/* The attack on verifiers that let the token choose the algorithm: HS256 with the PEM of the
 * provider's RSA public key (which anyone can fetch) as the HMAC secret. */
static inline char *fx_hs256_with_rsa_public(cjose_jwk_t *rsa, const char *kid, json_t *claims)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	if (!PEM_write_bio_RSA_PUBKEY(b, (RSA *)cjose_jwk_get_keydata(rsa, NULL)))
		fx_die("PEM export");
	long n = BIO_get_mem_data(b, &pem);
	cjose_jwk_t *oct = cjose_jwk_create_oct_spec((const uint8_t *)pem, (size_t)n, NULL);
	if (!oct)
		fx_die("HMAC key");
	char *tok = fx_sign(oct, "HS256", kid, claims);
	cjose_jwk_release(oct);
	BIO_free(b);
	return tok;
}

#endif
