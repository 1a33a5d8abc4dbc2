/* Unit test control-oidc: the relying party's core against keys and tokens made here
 * (fixture.h): discovery documents, JWKS and what is left out of them, when to fetch keys
 * again, ID tokens good and bad (each refusal by its exact sentence), PKCE (RFC 7636's
 * vector), the authorization URL and the token response. */
#include <errno.h>

#include "check.h"
#include "control/oidc/oidc.h"
#include "oidc/fixture.h"

#define ISS "https://idp.example.com"
#define NOW 1700000000LL

static char err[CTL_OIDC_ERR_MAX];

/* ---- discovery ---- */

static const char *doc_good =
    "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS "/auth\","
    "\"token_endpoint\":\"" ISS "/token\",\"jwks_uri\":\"" ISS "/jwks\","
    "\"userinfo_endpoint\":\"" ISS "/me\","
    "\"id_token_signing_alg_values_supported\":[\"RS256\",\"ES256\",\"HS256\"],"
    "\"code_challenge_methods_supported\":[\"plain\",\"S256\"]}";

static int disco(const char *doc, const char *issuer, bool loopback, struct ctl_oidc_discovery *d)
{
	err[0] = '\0';
	return ctl_oidc_discovery_parse(doc, strlen(doc), issuer, loopback, d, err, sizeof(err));
}

/* doc_good with member name's value replaced by value (raw JSON), or removed (NULL). */
static char *doc_with(const char *name, const char *value)
{
	json_t *j = json_loads(doc_good, 0, NULL);
	if (value)
		json_object_set_new(j, name, json_loads(value, JSON_DECODE_ANY, NULL));
	else
		json_object_del(j, name);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static void test_discovery(void)
{
	struct ctl_oidc_discovery d;
	static const struct {
		const char *name, *value; /* a member changed (NULL value: removed) */
		bool loopback;
		int rc;
		const char *err;
	} cases[] = {
		/* 1 */ { "issuer", "\"https://idp.example.com/\"", false, -EINVAL,
			  "the discovery document's issuer \"https://idp.example.com/\" is not the "
			  "configured issuer \"https://idp.example.com\"" },
		/* 2 */
		{ "issuer", NULL, false, -EINVAL, "the discovery document has no \"issuer\"" },
		/* 3 */
		{ "token_endpoint", "\"http://idp.example.com/token\"", false, -EINVAL,
		  "the discovery document's token_endpoint \"http://idp.example.com/token\" "
		  "is not an https URL" },
		/* 4 */
		{ "token_endpoint", "\"http://10.0.0.1/token\"", true, -EINVAL,
		  "the discovery document's token_endpoint \"http://10.0.0.1/token\" is plain "
		  "http to a host that is not loopback" },
		/* 5 */
		{ "jwks_uri", NULL, false, -EINVAL, "the discovery document has no \"jwks_uri\"" },
		/* 6 */
		{ "jwks_uri", "42", false, -EINVAL,
		  "the discovery document's \"jwks_uri\" is not a string" },
		/* 7 */
		{ "authorization_endpoint", "\"https://user@idp.example.com/auth\"", false, -EINVAL,
		  "the discovery document's authorization_endpoint "
		  "\"https://user@idp.example.com/auth\" has user info" },
		/* 8 */
		{ "jwks_uri", "\"https://idp.example.com/jwks#x\"", false, -EINVAL,
		  "the discovery document's jwks_uri \"https://idp.example.com/jwks#x\" has a "
		  "fragment" },
		/* 9 */
		{ "userinfo_endpoint", "\"https://idp.example.com:0/me\"", false, -EINVAL,
		  "the discovery document's userinfo_endpoint \"https://idp.example.com:0/me\" "
		  "has no valid host and port" },
		/* 10 */
		{ "jwks_uri", "\"https://idp.example.com/a\\u001b[31m\"", false, -EINVAL,
		  "the discovery document's jwks_uri \"https://idp.example.com/a?[31m\" has a "
		  "space, a control character or a byte that is not ASCII" },
		/* 11 */
		{ "id_token_signing_alg_values_supported", "[\"HS256\",\"none\"]", false, -EINVAL,
		  "the provider signs ID tokens with none of RS256, ES256: its "
		  "id_token_signing_alg_values_supported is [\"HS256\",\"none\"]" },
		/* 12 */
		{ "id_token_signing_alg_values_supported", NULL, false, -EINVAL,
		  "the discovery document has no \"id_token_signing_alg_values_supported\"" },
		/* 13 */
		{ "code_challenge_methods_supported", "[\"plain\"]", false, -EINVAL,
		  "the provider does not offer PKCE with S256 (its "
		  "code_challenge_methods_supported lacks \"S256\")" },
		/* 14 */ { "userinfo_endpoint", NULL, false, 0, "" },
		/* 15 */ { "code_challenge_methods_supported", NULL, false, 0, "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *doc = doc_with(cases[i].name, cases[i].value);
		int rc = disco(doc, ISS, cases[i].loopback, &d);
		if (rc != cases[i].rc || strcmp(err, cases[i].err) != 0)
			fprintf(stderr, "discovery case %zu\n", i + 1);
		CHECK_INT(rc, cases[i].rc);
		CHECK_STR(err, cases[i].err);
		free(doc);
	}

	CHECK_INT(disco(doc_good, ISS, false, &d), 0);
	CHECK_STR(d.issuer, ISS);
	CHECK_STR(d.authorization_endpoint, ISS "/auth");
	CHECK_STR(d.token_endpoint, ISS "/token");
	CHECK_STR(d.jwks_uri, ISS "/jwks");
	CHECK_STR(d.userinfo_endpoint, ISS "/me");
	CHECK_INT(d.algs, CTL_OIDC_RS256 | CTL_OIDC_ES256);

	/* a lab's provider on loopback, only with the flag */
	const char *lab = "{\"issuer\":\"http://127.0.0.1:9000\","
			  "\"authorization_endpoint\":\"http://127.0.0.1:9000/auth\","
			  "\"token_endpoint\":\"http://localhost:9000/token\","
			  "\"jwks_uri\":\"http://[::1]:9000/jwks\","
			  "\"id_token_signing_alg_values_supported\":[\"ES256\"]}";
	CHECK_INT(disco(lab, "http://127.0.0.1:9000", true, &d), 0);
	CHECK_INT(d.algs, CTL_OIDC_ES256);
	CHECK_STR(d.userinfo_endpoint, "");
	CHECK_INT(disco(lab, "http://127.0.0.1:9000", false, &d), -EINVAL);
	CHECK_STR(err, "the issuer \"http://127.0.0.1:9000\" is not an https URL");

	CHECK_INT(disco("[1]", ISS, false, &d), -EINVAL);
	CHECK_STR(err, "the discovery document is not a JSON object");
	CHECK_INT(disco("{\"issuer\":", ISS, false, &d), -EINVAL);
	CHECK_STR(
	    err,
	    "the discovery document is not JSON: unexpected token near end of file at byte 10");
	CHECK_INT(disco("{\"issuer\":\"a\",\"issuer\":\"b\"}", ISS, false, &d), -EINVAL);
	CHECK_STR(err, "the discovery document is not JSON: duplicate object key near '\"issuer\"' "
		       "at byte 22");

	size_t big = CTL_OIDC_DOC_MAX + 1;
	char *huge = malloc(big);
	memset(huge, ' ', big);
	CHECK_INT(ctl_oidc_discovery_parse(huge, big, ISS, false, &d, err, sizeof(err)), -EFBIG);
	CHECK_STR(err, "the discovery document is 65537 bytes, more than the 65536 allowed");
	free(huge);
}

/* ---- JWKS ---- */

static cjose_jwk_t *rsa_a, *rsa_b, *ec_a;

static struct ctl_oidc_jwks *jwks_of(json_t **keys, size_t n, int want)
{
	struct ctl_oidc_jwks *k = NULL;
	char *s = fx_jwks(keys, n);
	err[0] = '\0';
	CHECK_INT(ctl_oidc_jwks_parse(s, strlen(s), &k, err, sizeof(err)), want);
	free(s);
	return k;
}

static void test_jwks(void)
{
	cjose_jwk_t *small = fx_rsa("small", 1024), *p384 = fx_ec("p384", CJOSE_JWK_EC_P_384);
	json_t *keys[] = {
		fx_jwk_json(rsa_a, "{\"use\":\"sig\",\"alg\":\"RS256\"}"),
		fx_jwk_json(ec_a, "{\"use\":\"sig\"}"),
		fx_jwk_json(rsa_b, "{\"use\":\"enc\"}"),
		json_pack("{s:s,s:s,s:s}", "kty", "oct", "kid", "hmac", "k", "c2VjcmV0"),
		fx_jwk_json(p384, NULL),
		fx_jwk_json(small, NULL),
		fx_jwk_json(rsa_b, "{\"kid\":\"rsa-a\"}"),
		fx_jwk_json(rsa_b, "{\"alg\":\"RS512\",\"kid\":\"b512\"}"),
		json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "kid", "priv", "n", "AQAB", "e",
			  "AQAB", "d", "AQAB"),
		json_string("a key?"),
		fx_jwk_json(ec_a, "{\"kid\":\"bad\\u0007\",\"kty\":\"OKP\"}"),
		fx_jwk_json(rsa_b, "{\"kid\":\"short-n\",\"n\":\"AAAAA\"}"),
		fx_jwk_json(ec_a, "{\"kid\":\"pad-y\",\"y\":\"AA==\"}"),
		fx_jwk_json(rsa_b, "{\"kid\":\"rsa-p\",\"p\":\"A\"}"),
		fx_jwk_json(ec_a,
			    "{\"kid\":\"off-curve\",\"x\":\"MJBCTNIcKUSDii11ySs3526iDZ8A"
			    "iTo7Tu6KPAqv7D4\",\"y\":\"4Etl6sRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4"
			    "IFyM\"}"),
	};
	struct ctl_oidc_jwks *k = jwks_of(keys, sizeof(keys) / sizeof(keys[0]), 0);
	static const char *reasons[] = {
		"key 3 (kid \"rsa-b\"): use \"enc\", not sig",
		"key 4 (kid \"hmac\"): kty \"oct\" is neither RSA nor EC",
		"key 5 (kid \"p384\"): curve \"P-384\" is not P-256",
		"key 6 (kid \"small\"): an RSA key of 1024 bits, not 2048 to 8192",
		"key 7 (kid \"rsa-a\"): a key with this kid came before it",
		"key 8 (kid \"b512\"): alg \"RS512\" is not RS256",
		"key 9 (kid \"priv\"): it holds a private key",
		"key 10: not a JSON object",
		"key 11 (kid \"bad?\"): kty \"OKP\" is neither RSA nor EC",
		"key 12 (kid \"short-n\"): its n is not base64url",
		"key 13 (kid \"pad-y\"): its y is not base64url",
		"key 14 (kid \"rsa-p\"): it holds a private key",
		"key 15 (kid \"off-curve\"): libcjose refused it (out of memory)",
	};
	CHECK_STR(err, "");
	CHECK_INT(ctl_oidc_jwks_count(k), 2);
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		CHECK_STR(ctl_oidc_jwks_ignored(k, i), reasons[i]);
	CHECK(ctl_oidc_jwks_ignored(k, sizeof(reasons) / sizeof(reasons[0])) == NULL);
	ctl_oidc_jwks_free(k);

	/* nothing usable: the first reason says why */
	json_t *only_enc[] = { fx_jwk_json(rsa_b, "{\"use\":\"enc\"}") };
	CHECK(jwks_of(only_enc, 1, -EINVAL) == NULL);
	CHECK_STR(err, "the JWKS has no RS256 or ES256 signing key: key 1 (kid \"rsa-b\"): use "
		       "\"enc\", not sig");

	json_t *many[CTL_OIDC_KEYS_MAX + 1];
	for (size_t i = 0; i < CTL_OIDC_KEYS_MAX + 1; i++)
		many[i] = fx_jwk_json(ec_a, NULL);
	CHECK(jwks_of(many, CTL_OIDC_KEYS_MAX + 1, -EINVAL) == NULL);
	CHECK_STR(err, "the JWKS has 33 keys, more than the 32 allowed");

	CHECK(jwks_of(NULL, 0, -EINVAL) == NULL);
	CHECK_STR(err, "the JWKS has no RS256 or ES256 signing key");
	CHECK_INT(ctl_oidc_jwks_parse("{\"keys\":{}}", 11, &k, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "the JWKS has no \"keys\" array");
	size_t big = CTL_OIDC_JWKS_MAX + 1;
	char *huge = calloc(1, big);
	CHECK_INT(ctl_oidc_jwks_parse(huge, big, &k, err, sizeof(err)), -EFBIG);
	CHECK_STR(err, "the JWKS is 65537 bytes, more than the 65536 allowed");
	free(huge);
	cjose_jwk_release(small);
	cjose_jwk_release(p384);
}

static void test_fetch_due(void)
{
	static const struct {
		int64_t fetched, kid_fetched, now;
		bool unknown_kid, due;
	} cases[] = {
		/* 1 */ { 0, 0, NOW, false, true }, /* never fetched */
		/* 2 */ { NOW, 0, NOW, false, false },
		/* 3 */ { NOW, 0, NOW + 3599, false, false },
		/* 4 */ { NOW, 0, NOW + 3600, false, true }, /* the TTL */
		/* 5 */ { NOW, NOW, NOW + 29, true, false }, /* a made-up kid cannot make us fetch
							      */
		/* 6 */ { NOW, NOW, NOW + 30, true, true },
		/* 7 */ { NOW, 0, NOW - 5, false, true }, /* the clock went back */
		/* 8 keys rotated just after a routine fetch: fetched at once */
		{ NOW, 0, NOW + 1, true, true },
		/* 9 */ { NOW, NOW - 100, NOW + 1, true, true },
		/* 10 */ { NOW, NOW + 5, NOW + 1, true, true }, /* the clock went back */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool due = ctl_oidc_jwks_fetch_due(cases[i].fetched, cases[i].kid_fetched,
						   cases[i].now, cases[i].unknown_kid);
		if (due != cases[i].due)
			fprintf(stderr, "fetch_due case %zu\n", i + 1);
		CHECK_INT(due, cases[i].due);
	}
}

/* ---- ID tokens ---- */

static json_t *claims(void)
{
	return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:b,s:[s,s]}", "iss", ISS, "sub",
			 "248289761001", "aud", "mesh", "exp", NOW + 300, "iat", NOW - 10,
			 "auth_time", NOW - 20, "nonce", "n-0S6_WzA2Mj", "email",
			 "alice@example.com", "email_verified", 1, "groups", "eng", "ops");
}

static struct ctl_oidc_verify params(void)
{
	return (struct ctl_oidc_verify){
		.issuer = ISS,
		.client_id = "mesh",
		.nonce = "n-0S6_WzA2Mj",
		.algs = CTL_OIDC_RS256 | CTL_OIDC_ES256,
		.now = NOW,
	};
}

static int verify(const char *tok, const struct ctl_oidc_jwks *k, const struct ctl_oidc_verify *p,
		  struct ctl_oidc_identity *id)
{
	err[0] = '\0';
	return ctl_oidc_id_token_verify(tok, strlen(tok), k, p, id, err, sizeof(err));
}

/* Signs claims (changed by set, a JSON object text: a null member is removed) with key. */
static char *token(cjose_jwk_t *key, const char *alg, const char *kid, const char *set)
{
	json_t *c = claims();
	if (set) {
		json_t *x = json_loads(set, 0, NULL);
		const char *name;
		json_t *v;
		json_object_foreach(x, name, v)
		{
			if (json_is_null(v))
				json_object_del(c, name);
			else
				json_object_set(c, name, v);
		}
		json_decref(x);
	}
	char *t = fx_sign(key, alg, kid, c);
	json_decref(c);
	return t;
}

static void test_tokens(void)
{
	json_t *keys[] = { fx_jwk_json(rsa_a, NULL), fx_jwk_json(ec_a, NULL) };
	struct ctl_oidc_jwks *k = jwks_of(keys, 2, 0);
	struct ctl_oidc_verify p = params();
	struct ctl_oidc_identity id;

	/* the good ones */
	char *t = token(rsa_a, "RS256", "rsa-a", NULL);
	CHECK_INT(verify(t, k, &p, &id), 0);
	CHECK_STR(err, "");
	CHECK_STR(id.iss, ISS);
	CHECK_STR(id.sub, "248289761001");
	CHECK_STR(id.email, "alice@example.com");
	CHECK_INT(id.auth_time, NOW - 20);
	CHECK(id.groups_present);
	CHECK_INT(id.ngroups, 2);
	CHECK_STR(id.groups[0], "eng");
	CHECK_STR(id.groups[1], "ops");
	/* RS256 only: the same token is refused by its alg */
	p.algs = CTL_OIDC_ES256;
	CHECK_INT(verify(t, k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token's alg \"RS256\" is not allowed (allowed: ES256)");
	p = params();
	free(t);
	t = token(ec_a, "ES256", "ec-a", NULL);
	CHECK_INT(verify(t, k, &p, &id), 0);
	CHECK_STR(id.sub, "248289761001");
	free(t);
	/* a signature by another key under rsa-a's kid */
	t = token(rsa_b, "RS256", "rsa-a", NULL);
	CHECK_INT(verify(t, k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token's signature does not verify with the provider's RS256 key "
		       "\"rsa-a\"");
	CHECK_STR(id.sub, "");
	free(t);

	static const struct {
		const char *set; /* claims changed */
		bool check;	 /* check mode, the check began at NOW - 30 */
		int rc;
		const char *err;
	} cases[] = {
		/* 1 */ { "{\"exp\":1699999939}", false, -EACCES, "the ID token expired 61 s ago" },
		/* 2 */ { "{\"exp\":1699999941}", false, 0, "" }, /* within the skew */
		/* 3 */
		{ "{\"nbf\":1700000061}", false, -EACCES,
		  "the ID token is not valid for another 61 s" },
		/* 4 */ { "{\"nbf\":1700000060}", false, 0, "" },
		/* 5 */
		{ "{\"iat\":1700000061}", false, -EACCES,
		  "the ID token was issued 61 s in the future" },
		/* 6 */
		{ "{\"aud\":\"other\"}", false, -EACCES,
		  "the ID token's aud \"other\" does not name this client \"mesh\"" },
		/* 7 */
		{ "{\"aud\":[\"other\",\"mesh\"]}", false, -EACCES,
		  "the ID token has several audiences and no azp" },
		/* 8 */
		{ "{\"aud\":[\"other\",\"mesh\"],\"azp\":\"other\"}", false, -EACCES,
		  "the ID token's azp \"other\" is not this client \"mesh\"" },
		/* 9 */ { "{\"aud\":[\"other\",\"mesh\"],\"azp\":\"mesh\"}", false, 0, "" },
		/* 10 */
		{ "{\"nonce\":\"n-replayed\"}", false, -EACCES,
		  "the ID token's nonce is not this login's" },
		/* 11 */ { "{\"nonce\":null}", false, -EACCES, "the ID token has no nonce" },
		/* 12 */
		{ "{\"iss\":\"https://evil.example.com\"}", false, -EACCES,
		  "the ID token's iss \"https://evil.example.com\" is not the issuer "
		  "\"https://idp.example.com\"" },
		/* 13 */
		{ "{\"auth_time\":null}", true, -EACCES,
		  "the ID token has no auth_time, so it does not show a fresh login at the "
		  "provider" },
		/* 14 */ { "{\"auth_time\":null}", false, 0, "" },
		/* 15 */
		{ "{\"auth_time\":1699999909}", true, -EACCES,
		  "the login at the provider was 61 s before this check began" },
		/* 16 */ { "{\"auth_time\":1699999910}", true, 0, "" },
		/* 17 */
		{ "{\"auth_time\":\"now\"}", true, -EINVAL,
		  "the ID token's auth_time is not a number" },
		/* 18 */
		{ "{\"groups\":\"eng\"}", false, -EINVAL,
		  "the ID token's \"groups\" claim is not an array of strings" },
		/* 19 */
		{ "{\"groups\":[\"eng\",7]}", false, -EINVAL,
		  "the ID token's \"groups\" claim is not an array of strings" },
		/* 20 */
		{ "{\"groups\":[\"e\\u001bng\"]}", false, -EINVAL,
		  "the ID token's \"groups\" claim has a group \"e?ng\" that is empty, longer "
		  "than 127 bytes or has a control character" },
		/* 21 */ { "{\"sub\":null}", false, -EINVAL, "the ID token has no sub" },
		/* 22 */ { "{\"exp\":null}", false, -EINVAL, "the ID token has no exp" },
		/* 23 */ { "{\"exp\":-1}", false, -EINVAL, "the ID token's exp is out of range" },
		/* 24 */ { "{\"aud\":[]}", false, -EINVAL, "the ID token has no aud" },
		/* 25 */ { "{\"iat\":null}", false, -EINVAL, "the ID token has no iat" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = params();
		p.check = cases[i].check;
		p.auth_after = NOW - 30;
		t = token(rsa_a, "RS256", "rsa-a", cases[i].set);
		int rc = verify(t, k, &p, &id);
		if (rc != cases[i].rc || strcmp(err, cases[i].err) != 0)
			fprintf(stderr, "token case %zu\n", i + 1);
		CHECK_INT(rc, cases[i].rc);
		CHECK_STR(err, cases[i].err);
		free(t);
	}
	p = params();

	/* email_verified false: no email, the identity is still (iss, sub) */
	t = token(ec_a, "ES256", "ec-a", "{\"email_verified\":false}");
	CHECK_INT(verify(t, k, &p, &id), 0);
	CHECK_STR(id.email, "");
	CHECK_STR(id.sub, "248289761001");
	free(t);
	t = token(ec_a, "ES256", "ec-a", "{\"email_verified\":\"true\",\"groups\":null}");
	CHECK_INT(verify(t, k, &p, &id), 0);
	CHECK_STR(id.email, "");
	CHECK(!id.groups_present);
	free(t);
	/* another groups claim name */
	p.groups_claim = "roles";
	t = token(ec_a, "ES256", "ec-a", "{\"roles\":[\"admin\"],\"groups\":7}");
	CHECK_INT(verify(t, k, &p, &id), 0);
	CHECK_INT(id.ngroups, 1);
	CHECK_STR(id.groups[0], "admin");
	free(t);
	p = params();

	/* the attacker's tokens: unsigned, and HMAC keyed with the public key */
	json_t *c = claims();
	char *body = json_dumps(c, JSON_COMPACT);
	t = fx_raw("{\"alg\":\"none\"}", body, "");
	CHECK_INT(verify(t, k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token is not signed (alg \"none\")");
	free(t);
	t = fx_raw("{\"alg\":\"none\",\"kid\":\"rsa-a\"}", body, "xx");
	CHECK_INT(verify(t, k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token is not signed (alg \"none\")");
	free(t);
	t = fx_hs256_with_rsa_public(rsa_a, "rsa-a", c);
	CHECK_INT(verify(t, k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token's alg \"HS256\" is not allowed (allowed: RS256, ES256)");
	CHECK_STR(id.sub, "");
	free(t);
	/* an EC key named for an RS256 token */
	t = fx_raw("{\"alg\":\"RS256\",\"kid\":\"ec-a\"}", body, "AAAA");
	CHECK_INT(verify(t, k, &p, &id), -EINVAL);
	CHECK_STR(err, "the key \"ec-a\" is for ES256, not RS256");
	free(t);
	t = fx_raw("{\"alg\":\"RS256\",\"kid\":\"rsa-a\",\"crit\":[\"exp\"]}", body, "AAAA");
	CHECK_INT(verify(t, k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token's header has crit, which we do not understand");
	free(t);
	t = fx_raw("{\"alg\":\"RS256\",\"alg\":\"HS256\"}", body, "AAAA");
	CHECK_INT(verify(t, k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token's header is not JSON: duplicate object key near '\"alg\"' at "
		       "byte 20");
	free(t);
	CHECK_INT(verify("a.b", k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token is not a signed JWT (three base64url parts)");
	CHECK_INT(verify("a.b.c.d", k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token is not a signed JWT (three base64url parts)");
	CHECK_INT(verify("e30=.e30.", k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token is not a signed JWT (three base64url parts)");
	/* libcjose 0.6.2.1 aborts on base64url of 1 mod 4 characters: it never sees one */
	CHECK_INT(verify("eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1hIn0.e30.A", k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token is not a signed JWT (three base64url parts)");
	CHECK_INT(
	    verify("eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1hIn0.eyJzdWIiOiJhIn0AA.AAAA", k, &p, &id),
	    -EINVAL);
	CHECK_STR(err, "the ID token is not a signed JWT (three base64url parts)");
	CHECK_INT(verify("eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1hIn0.e30.", k, &p, &id), -EINVAL);
	CHECK_STR(err, "the ID token has no signature");
	free(body);

	/* oversized: refused before anything is decoded */
	size_t big = CTL_OIDC_TOKEN_MAX + 1;
	char *huge = malloc(big);
	memset(huge, 'A', big);
	CHECK_INT(ctl_oidc_id_token_verify(huge, big, k, &p, &id, err, sizeof(err)), -EFBIG);
	CHECK_STR(err, "the ID token is 16385 bytes, more than the 16384 allowed");
	free(huge);
	json_decref(c);

	/* rotation: an unknown kid says so; the caller fetches (when due) and tries once more */
	cjose_jwk_t *rsa_new = fx_rsa("rsa-new", 2048);
	t = token(rsa_new, "RS256", "rsa-new", NULL);
	CHECK_INT(verify(t, k, &p, &id), -ENOKEY);
	CHECK_STR(err, "the provider's JWKS has no key \"rsa-new\"");
	int64_t fetched = NOW - 40, kid_fetched = 0;
	CHECK(ctl_oidc_jwks_fetch_due(fetched, kid_fetched, NOW, true));
	json_t *rotated[] = { fx_jwk_json(rsa_new, NULL), fx_jwk_json(ec_a, NULL) };
	struct ctl_oidc_jwks *k2 = jwks_of(rotated, 2, 0);
	fetched = kid_fetched = NOW;
	CHECK_INT(verify(t, k2, &p, &id), 0);
	CHECK_STR(id.sub, "248289761001");
	free(t);
	/* the old key is gone, and a second unknown kid right after is not fetched for */
	t = token(rsa_a, "RS256", "rsa-a", NULL);
	CHECK_INT(verify(t, k2, &p, &id), -ENOKEY);
	CHECK(!ctl_oidc_jwks_fetch_due(fetched, kid_fetched, NOW + 5, true));
	free(t);
	/* no kid: the one key of its type, or -ENOKEY */
	t = token(ec_a, "ES256", NULL, NULL);
	CHECK_INT(verify(t, k2, &p, &id), 0);
	free(t);
	ctl_oidc_jwks_free(k2);
	cjose_jwk_release(rsa_new);
	ctl_oidc_jwks_free(k);
}

/* ---- the way out: PKCE, the authorization URL; the way back: the token response ---- */

static void test_login(void)
{
	char c[CTL_OIDC_RANDOM_LEN];
	/* RFC 7636 appendix B */
	ctl_oidc_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c);
	CHECK_STR(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");

	struct ctl_oidc_login a, b;
	ctl_oidc_login_new(&a);
	ctl_oidc_login_new(&b);
	CHECK_INT(strlen(a.state), 43);
	CHECK_INT(strlen(a.nonce), 43);
	CHECK_INT(strlen(a.verifier), 43);
	CHECK(strcmp(a.state, b.state) != 0 && strcmp(a.nonce, a.state) != 0);
	ctl_oidc_pkce_challenge(a.verifier, c);
	CHECK_STR(a.challenge, c);
	CHECK(strspn(a.state, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	      43);

	struct ctl_oidc_discovery d = { .authorization_endpoint = "https://idp.example.com/auth" };
	struct ctl_oidc_login l = { "st", "no", "ver",
				    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" };
	char url[CTL_OIDC_AUTH_URL_MAX];
	CHECK_INT(ctl_oidc_auth_url(&d, "mesh ctl&x=1", "https://ctl.example:8080/oidc/callback",
				    "openid email groups", &l, false, url, sizeof(url), err,
				    sizeof(err)),
		  0);
	CHECK_STR(url, "https://idp.example.com/auth?response_type=code&scope=openid%20email%20"
		       "groups&client_id=mesh%20ctl%26x%3D1&redirect_uri=https%3A%2F%2F"
		       "ctl.example%3A8080%2Foidc%2Fcallback&state=st&nonce=no&code_challenge="
		       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256");
	strcpy(d.authorization_endpoint, "https://idp.example.com/auth?tenant=7");
	CHECK_INT(ctl_oidc_auth_url(&d, "mesh", "https://c/cb", "openid", &l, true, url,
				    sizeof(url), err, sizeof(err)),
		  0);
	CHECK_STR(url, "https://idp.example.com/auth?tenant=7&response_type=code&scope=openid&"
		       "client_id=mesh&redirect_uri=https%3A%2F%2Fc%2Fcb&state=st&nonce=no&"
		       "code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&"
		       "code_challenge_method=S256&prompt=login&max_age=0");
	strcpy(d.authorization_endpoint, "https://idp.example.com/auth?");
	CHECK_INT(ctl_oidc_auth_url(&d, "m", "https://c/cb", "openid", &l, false, url, sizeof(url),
				    err, sizeof(err)),
		  0);
	CHECK(strncmp(url, "https://idp.example.com/auth?response_type=code&scope=openid&", 61) ==
	      0);
	CHECK_INT(ctl_oidc_auth_url(&d, "mesh", "https://c/cb", "email  openid", &l, false, url,
				    sizeof(url), err, sizeof(err)),
		  -EINVAL);
	CHECK_STR(err, "the scope \"email  openid\" is not space-separated scope names that "
		       "include openid");
	CHECK_INT(ctl_oidc_auth_url(&d, "mesh", "https://c/cb", "email", &l, false, url,
				    sizeof(url), err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(ctl_oidc_auth_url(&d, "mesh", "https://c/cb", "openid", &l, false, url, 200, err,
				    sizeof(err)),
		  -ENAMETOOLONG);
	CHECK_STR(err, "the authorization URL is longer than 199 bytes");
	CHECK_STR(url, "");
}

static void test_token_response(void)
{
	static struct ctl_oidc_tokens t;
	static const struct {
		const char *body;
		int rc;
		const char *err;
	} cases[] = {
		/* 1 */ {
		    "{\"error\":\"invalid_grant\",\"error_description\":\"code \\u001b[2Jused\"}",
		    -EACCES, "the provider refused the code: invalid_grant (code ?[2Jused)" },
		/* 2 */
		{ "{\"error\":\"invalid_client\"}", -EACCES,
		  "the provider refused the code: invalid_client" },
		/* 3 */
		{ "{\"error\":7,\"id_token\":\"x\"}", -EACCES, "the provider refused the code: ?" },
		/* 4 */
		{ "{\"token_type\":\"Bearer\"}", -EINVAL, "the token response has no id_token" },
		/* 5 */
		{ "{\"id_token\":\"a.b.c\",\"token_type\":\"mac\"}", -EINVAL,
		  "the token response's token_type \"mac\" is not Bearer" },
		/* 6 */
		{ "{\"id_token\":\"a.b.c\"}", -EINVAL, "the token response has no token_type" },
		/* 7 */
		{ "{\"id_token\":[],\"token_type\":\"Bearer\"}", -EINVAL,
		  "the token response's id_token is not a string" },
		/* 8 */
		{ "{\"id_token\":\"a.b.c\",\"token_type\":\"bearer\",\"access_token\":\"at\"}", 0,
		  "" },
		/* 9 */
		{ "<html>", -EINVAL,
		  "the token response is not JSON: '[' or '{' expected near '<' at byte 1" },
		/* 10 */
		{ "{\"id_token\":\"\",\"token_type\":\"Bearer\"}", -EINVAL,
		  "the token response's id_token is empty" },
		/* 11 */
		{ "{\"id_token\":\"a.b.c\",\"access_token\":\"\",\"token_type\":\"Bearer\"}",
		  -EINVAL, "the token response's access_token is empty" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		int rc = ctl_oidc_token_response_parse(cases[i].body, strlen(cases[i].body), &t,
						       err, sizeof(err));
		if (rc != cases[i].rc || strcmp(err, cases[i].err) != 0)
			fprintf(stderr, "token response case %zu\n", i + 1);
		CHECK_INT(rc, cases[i].rc);
		CHECK_STR(err, cases[i].err);
	}
	const char *good = cases[7].body;
	CHECK_INT(ctl_oidc_token_response_parse(good, strlen(good), &t, err, sizeof(err)), 0);
	CHECK_STR(t.id_token, "a.b.c");
	CHECK_STR(t.access_token, "at");
	ctl_oidc_tokens_wipe(&t);
	CHECK_STR(t.id_token, "");

	/* an id_token over the bound, and a response over its own */
	static char body[CTL_OIDC_TOKEN_MAX + 64];
	const char *head = "{\"token_type\":\"Bearer\",\"id_token\":\"";
	size_t len = strlen(head);
	memcpy(body, head, len);
	memset(body + len, 'A', CTL_OIDC_TOKEN_MAX + 1);
	strcpy(body + len + CTL_OIDC_TOKEN_MAX + 1, "\"}");
	CHECK_INT(ctl_oidc_token_response_parse(body, strlen(body), &t, err, sizeof(err)), -EFBIG);
	CHECK_STR(err, "the token response's id_token is 16385 bytes, more than the 16384 allowed");
	CHECK_INT(
	    ctl_oidc_token_response_parse("{}", CTL_OIDC_RESPONSE_MAX + 1, &t, err, sizeof(err)),
	    -EFBIG);
	CHECK_STR(err, "the token response is 65537 bytes, more than the 65536 allowed");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	rsa_a = fx_rsa("rsa-a", 2048);
	rsa_b = fx_rsa("rsa-b", 2048);
	ec_a = fx_ec("ec-a", CJOSE_JWK_EC_P_256);
	test_discovery();
	test_jwks();
	test_fetch_due();
	test_tokens();
	test_login();
	test_token_response();
	cjose_jwk_release(rsa_a);
	cjose_jwk_release(rsa_b);
	cjose_jwk_release(ec_a);
	return check_finish();
}
