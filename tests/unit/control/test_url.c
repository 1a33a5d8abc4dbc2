/* The rules for meshcontrol's URL (control/url): a numbered table of URLs, each with what
 * ctl_url_check must answer with and without --insecure-http and the exact sentence. */
#include <errno.h>
#include <stdio.h>

#include "check.h"
#include "control/url/url.h"

static const struct {
	const char *url;
	int want;	   /* without --insecure-http */
	int want_insecure; /* with it */
	const char *msg;   /* without it ("" when none) */
} cases[] = {
	/*  0 */ { "https://ctl.example.com", CTL_URL_OK, CTL_URL_OK, "" },
	/*  1 */ { "https://10.0.0.1:8443/", CTL_URL_OK, CTL_URL_OK, "" },
	/*  2 */ { "http://127.0.0.1:8080", CTL_URL_OK, CTL_URL_OK, "" },
	/*  3 */ { "http://127.3.4.5", CTL_URL_OK, CTL_URL_OK, "" },
	/*  4 */ { "http://[::1]:8080", CTL_URL_OK, CTL_URL_OK, "" },
	/*  5 */ { "http://localhost:8080", CTL_URL_OK, CTL_URL_OK, "" },
	/*  6 */ { "http://LOCALHOST", CTL_URL_OK, CTL_URL_OK, "" },
	/*  7 */ { "http://[::ffff:127.0.0.1]", CTL_URL_OK, CTL_URL_OK, "" },
	/*  8 */
	{ "http://10.231.0.1:8080", -EINVAL, CTL_URL_INSECURE,
	  "'http://10.231.0.1:8080' is plain HTTP to 10.231.0.1, which is not loopback: "
	  "use https://, or --insecure-http to send passwords, tokens and control's key "
	  "unencrypted" },
	/*  9 */
	{ "http://ctl.example.com", -EINVAL, CTL_URL_INSECURE,
	  "'http://ctl.example.com' is plain HTTP to ctl.example.com, which is not "
	  "loopback: use https://, or --insecure-http to send passwords, tokens and "
	  "control's key unencrypted" },
	/* 10 */
	{ "http://[2001:db8::1]:80", -EINVAL, CTL_URL_INSECURE,
	  "'http://[2001:db8::1]:80' is plain HTTP to [2001:db8::1], which is not "
	  "loopback: use https://, or --insecure-http to send passwords, tokens and "
	  "control's key unencrypted" },
	/* 11: a host that only looks like loopback */
	/* 11 */
	{ "http://127.0.0.1.evil.example", -EINVAL, CTL_URL_INSECURE,
	  "'http://127.0.0.1.evil.example' is plain HTTP to 127.0.0.1.evil.example, "
	  "which is not loopback: use https://, or --insecure-http to send passwords, "
	  "tokens and control's key unencrypted" },
	/* 12: userinfo that names loopback; curl would connect to the host after '@' */
	/* 12 */
	{ "http://127.0.0.1@10.0.0.9", -EINVAL, -EINVAL,
	  "'http://127.0.0.1@10.0.0.9' carries a user name or password; give the bare "
	  "server URL" },
	/* 13 */
	{ "https://u:p@ctl", -EINVAL, -EINVAL,
	  "'https://u:p@ctl' carries a user name or password; give the bare server URL" },
	/* 14 */ { "ftp://ctl", -EINVAL, -EINVAL, "'ftp://ctl' is not an http:// or https:// URL" },
	/* 15 */ { "ctl:8080", -EINVAL, -EINVAL, "'ctl:8080' is not an http:// or https:// URL" },
	/* 16 */
	{ "HTTPS://ctl", -EINVAL, -EINVAL, "'HTTPS://ctl' is not an http:// or https:// URL" },
	/* 17 */ { "http://", -EINVAL, -EINVAL, "'http://' is not a URL with a host" },
	/* 18 */
	{ "http://ctl:99999", -EINVAL, -EINVAL, "'http://ctl:99999' is not a URL with a host" },
	/* 19 */ { "http://a b", -EINVAL, -EINVAL, "'http://a b' is not a URL with a host" },
	/* 20 */
	{ "http://[::2]", -EINVAL, CTL_URL_INSECURE,
	  "'http://[::2]' is plain HTTP to [::2], which is not loopback: use https://, "
	  "or --insecure-http to send passwords, tokens and control's key unencrypted" },
};

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[512] = "";
		int rc = ctl_url_check(cases[i].url, false, msg, sizeof(msg));
		if (rc != cases[i].want || (rc < 0 && strcmp(msg, cases[i].msg) != 0))
			fprintf(stderr, "case %zu: %s\n", i, cases[i].url);
		CHECK_INT(rc, cases[i].want);
		if (rc < 0)
			CHECK_STR(msg, cases[i].msg);
		msg[0] = '\0';
		rc = ctl_url_check(cases[i].url, true, msg, sizeof(msg));
		if (rc != cases[i].want_insecure)
			fprintf(stderr, "case %zu (--insecure-http): %s\n", i, cases[i].url);
		CHECK_INT(rc, cases[i].want_insecure);
		if (rc == CTL_URL_INSECURE) {
			char want[512];
			snprintf(want, sizeof(want),
				 "--insecure-http: talking to control at '%s' "
				 "without TLS; anyone on the path can read and change what is sent",
				 cases[i].url);
			CHECK_STR(msg, want);
		}
	}
	CHECK(ctl_url_host_is_loopback("127.0.0.1"));
	CHECK(!ctl_url_host_is_loopback("128.0.0.1"));
	CHECK(!ctl_url_host_is_loopback("[::1"));
	CHECK(ctl_url_host_is_loopback("::1")); /* meshcontrol's --listen, unbracketed */
	CHECK(!ctl_url_host_is_loopback("0.0.0.0"));
	CHECK(!ctl_url_host_is_loopback("::"));
	CHECK(!ctl_url_host_is_loopback(""));
	return check_finish();
}
