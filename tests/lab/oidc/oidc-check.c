/* Runs what a real provider serves through control/oidc's parsers, for lab/oidc-idp:
 *
 *   oidc-check discovery ISSUER FILE             the discovery document (loopback http)
 *   oidc-check jwks FILE                         the JWKS: its kids, and what was left out
 *   oidc-check login ISSUER DISCOVERY CLIENT REDIRECT [check]
 *                                                a login: state, nonce, verifier, the URL
 *   oidc-check token ISSUER JWKS RESPONSE CLIENT NONCE [AUTH_AFTER]
 *                                                the token response and its ID token, now
 *
 * Prints one "key value" line per finding; exits 1 with the library's sentence on a
 * refusal (2 for usage). */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/oidc/internal.h"
#include "control/oidc/oidc.h"

static char *slurp(const char *file, size_t *len)
{
	FILE *f = fopen(file, "rb");
	static char buf[CTL_OIDC_RESPONSE_MAX + 2];
	if (!f) {
		perror(file);
		exit(1);
	}
	*len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

static int refused(const char *err)
{
	printf("refused %s\n", err);
	return 1;
}

static int discovery(const char *issuer, const char *file, struct ctl_oidc_discovery *d)
{
	char err[CTL_OIDC_ERR_MAX], algs[32];
	size_t len;
	const char *body = slurp(file, &len);
	if (ctl_oidc_discovery_parse(body, len, issuer, true, d, err, sizeof(err)) < 0)
		return refused(err);
	printf("issuer %s\nauthorization_endpoint %s\ntoken_endpoint %s\njwks_uri %s\n"
	       "userinfo_endpoint %s\nalgs %s\n",
	       d->issuer, d->authorization_endpoint, d->token_endpoint, d->jwks_uri,
	       d->userinfo_endpoint, ctl_oidc__alg_list(d->algs, algs));
	return 0;
}

static int jwks(const char *file, struct ctl_oidc_jwks **k)
{
	char err[CTL_OIDC_ERR_MAX];
	size_t len;
	const char *body = slurp(file, &len);
	if (ctl_oidc_jwks_parse(body, len, k, err, sizeof(err)) < 0)
		return refused(err);
	printf("keys %zu\n", ctl_oidc_jwks_count(*k));
	for (size_t i = 0; i < ctl_oidc_jwks_count(*k); i++)
		printf("kid %s %s\n", (*k)->keys[i].kid, ctl_oidc__alg_name((*k)->keys[i].alg));
	for (size_t i = 0; ctl_oidc_jwks_ignored(*k, i); i++)
		printf("ignored %s\n", ctl_oidc_jwks_ignored(*k, i));
	return 0;
}

static int login(char **argv, bool check)
{
	struct ctl_oidc_discovery d;
	struct ctl_oidc_login l;
	char url[CTL_OIDC_AUTH_URL_MAX], err[CTL_OIDC_ERR_MAX];
	if (discovery(argv[0], argv[1], &d))
		return 1;
	ctl_oidc_login_new(&l);
	if (ctl_oidc_auth_url(&d, argv[2], argv[3], "openid email groups", &l, check, url,
			      sizeof(url), err, sizeof(err)) < 0)
		return refused(err);
	/* a lab's throwaway login: the verifier is printed for the script's token request */
	printf("state %s\nnonce %s\nverifier %s\nurl %s\n", l.state, l.nonce, l.verifier, url);
	return 0;
}

static int token(char **argv, int argc)
{
	static struct ctl_oidc_tokens t;
	struct ctl_oidc_jwks *k;
	struct ctl_oidc_identity id;
	char err[CTL_OIDC_ERR_MAX];
	size_t len;
	if (jwks(argv[1], &k))
		return 1;
	const char *body = slurp(argv[2], &len);
	if (ctl_oidc_token_response_parse(body, len, &t, err, sizeof(err)) < 0) {
		ctl_oidc_jwks_free(k);
		return refused(err);
	}
	struct ctl_oidc_verify p = {
		.issuer = argv[0],
		.client_id = argv[3],
		.nonce = argv[4],
		.algs = CTL_OIDC_RS256 | CTL_OIDC_ES256,
		.now = (int64_t)time(NULL),
		.check = argc > 5,
		.auth_after = argc > 5 ? strtoll(argv[5], NULL, 10) : 0,
	};
	int rc =
	    ctl_oidc_id_token_verify(t.id_token, strlen(t.id_token), k, &p, &id, err, sizeof(err));
	ctl_oidc_tokens_wipe(&t);
	ctl_oidc_jwks_free(k);
	if (rc < 0)
		return refused(err);
	printf("iss %s\nsub %s\nemail %s\nauth_time %lld\ngroups", id.iss, id.sub, id.email,
	       (long long)id.auth_time);
	for (size_t i = 0; i < id.ngroups; i++)
		printf(" %s", id.groups[i]);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl_oidc_discovery d;
	struct ctl_oidc_jwks *k;
	if (sodium_init() < 0)
		return 1;
	if (argc == 4 && strcmp(argv[1], "discovery") == 0)
		return discovery(argv[2], argv[3], &d);
	if (argc == 3 && strcmp(argv[1], "jwks") == 0) {
		int rc = jwks(argv[2], &k);
		if (rc == 0)
			ctl_oidc_jwks_free(k);
		return rc;
	}
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "login") == 0)
		return login(argv + 2, argc == 7);
	if ((argc == 7 || argc == 8) && strcmp(argv[1], "token") == 0)
		return token(argv + 2, argc - 2);
	fprintf(stderr,
		"usage: oidc-check discovery ISSUER FILE | jwks FILE | login ISSUER "
		"DISCOVERY CLIENT REDIRECT [check] | token ISSUER JWKS RESPONSE CLIENT NONCE "
		"[AUTH_AFTER]\n");
	return 2;
}
