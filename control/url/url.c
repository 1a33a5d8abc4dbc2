/* The rules for a URL of meshcontrol (see url.h). */
#include "control/url/url.h"

#include <curl/curl.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Part `what` of h, or NULL when the URL has none. */
static char *part(CURLU *h, CURLUPart what)
{
	char *s = NULL;
	return curl_url_get(h, what, &s, 0) == CURLUE_OK ? s : NULL;
}

int ctl_url_check(const char *url, bool insecure_http, char *msg, size_t msglen)
{
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
	int rc = -EINVAL;
	if (!h) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(msg, msglen, "'%s' is not an http:// or https:// URL", url);
		goto out;
	}
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    !(scheme = part(h, CURLUPART_SCHEME)) || !(host = part(h, CURLUPART_HOST)) ||
	    !host[0]) {
		snprintf(msg, msglen, "'%s' is not a URL with a host", url);
		goto out;
	}
	user = part(h, CURLUPART_USER);
	pass = part(h, CURLUPART_PASSWORD);
	if (user || pass) {
		snprintf(msg, msglen,
			 "'%s' carries a user name or password; give the bare server "
			 "URL",
			 url);
		goto out;
	}
	rc = CTL_URL_OK;
	if (strcmp(scheme, "https") == 0 || ctl_url_host_is_loopback(host))
		goto out;
	if (!insecure_http) {
		rc = -EINVAL;
		snprintf(msg, msglen,
			 "'%s' is plain HTTP to %s, which is not loopback: use "
			 "https://, or --insecure-http to send passwords, tokens and "
			 "control's key unencrypted",
			 url, host);
		goto out;
	}
	rc = CTL_URL_INSECURE;
	snprintf(msg, msglen,
		 "--insecure-http: talking to control at '%s' without TLS; anyone on "
		 "the path can read and change what is sent",
		 url);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(h);
	return rc;
}

void ctl_url_curl_setup(void *e, const char *ca_file, char *errbuf)
{
	errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
}

bool ctl_url_tls_failure(int code, const char *url, const char *errbuf, char *msg, size_t msglen)
{
	const char *why = errbuf && errbuf[0] ? errbuf : curl_easy_strerror((CURLcode)code);
	if (code == CURLE_SSL_CACERT_BADFILE)
		snprintf(msg, msglen, "cannot use the CA file for control at %s: %s", url, why);
	else if (code == CURLE_PEER_FAILED_VERIFICATION)
		snprintf(msg, msglen,
			 "cannot verify control at %s: %s (is --ca-file the CA that "
			 "signed its certificate?)",
			 url, why);
	else
		return false;
	return true;
}
