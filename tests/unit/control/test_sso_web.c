/* meshcontrol's /oidc/callback and the pre-session cookie, through the fuzz harness's server
 * without a socket (a pending sign-in of FZ_SSO_STATE bound to FZ_SSO_PRE): only a cookie
 * this server signed, sent once, finishes it (login CSRF: a planted cookie, alone or next to
 * the browser's own, signs nobody in). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tests/fuzz/control/srv_harness.h"

#define CALLBACK "GET /oidc/callback?code=abc&state=" FZ_SSO_STATE "&iss=" FZ_SSO_ISSUER "\n"

static const char other_browser[] = "This sign-in was started in another browser";
static const char provider_silent[] =
    "the identity provider at " FZ_SSO_ISSUER " did not answer within 30 s";

int main(void)
{
	static const struct {
		const char *cookie;
		bool finishes;
	} k[] = {
		/* 1 */ { "Cookie: mesh_sso=" FZ_SSO_COOKIE "\n", true },
		/* 2 the bare id, as the browser's value was once taken */
		{ "Cookie: mesh_sso=" FZ_SSO_PRE "\n", false },
		/* 3 the id with another key's MAC */
		{ "Cookie: mesh_sso=" FZ_SSO_PRE
		  "0000000000000000000000000000000000000000000000000000"
		  "000000000000\n",
		  false },
		/* 4 sent twice: a planted one first (a longer Path), then the browser's */
		{ "Cookie: mesh_sso=" FZ_SSO_COOKIE "; mesh_sso=" FZ_SSO_COOKIE "\n", false },
		/* 5 none */
		{ "", false },
	};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		struct ctl_server *srv = fz_srv_open();
		struct fz_reply out = { 0 };
		char head[1024];
		snprintf(head, sizeof(head), "%s%s", CALLBACK, k[i].cookie);
		fz_http(srv, head, "", 0, &out);
		if (out.status != (k[i].finishes ? 504 : 403))
			fprintf(stderr, "case %zu: status %u\n", i + 1, out.status);
		/* taken, the code went to the provider (no thread runs here: its wait ends) */
		CHECK_INT(out.status, k[i].finishes ? 504 : 403);
		CHECK(out.body &&
		      strstr(out.body, k[i].finishes ? provider_silent : other_browser));
		free(out.body);
		fz_srv_close(srv);
	}
	return check_finish();
}
