/* control/url: what a client may do with meshcontrol's URL, the same for every client
 * (meshd's control link, meshctl's admin verbs).
 *
 * https:// is verified against the system's CAs or a --ca-file (peer and host name, always:
 * there is no switch to turn that off).  Plain http:// carries web passwords, the admin
 * token and the node's first fetch of control's key in the clear, so it is only for a
 * server on loopback, or with --insecure-http, which the caller logs as a warning.  The
 * URL is parsed by libcurl itself, so the host we judge is the host curl connects to.
 *
 *	char msg[512];
 *	int rc = ctl_url_check(url, insecure_http, msg, sizeof(msg));
 *	if (rc < 0)
 *		fail(msg);		// quotes the URL and names the fix
 *	if (rc == CTL_URL_INSECURE)
 *		log_warn("control", "%s", msg);
 *	ctl_url_curl_setup(easy, ca_file, errbuf);
 */
#ifndef MESH_CONTROL_URL_H
#define MESH_CONTROL_URL_H

#include <stdbool.h>
#include <stddef.h>

enum { CTL_URL_OK = 0, CTL_URL_INSECURE = 1 };

/* Whether a client may talk to control at url: CTL_URL_OK (https://, or http:// to a
 * loopback host), CTL_URL_INSECURE (http:// to another host, allowed by insecure_http; msg
 * is the warning to log), or -EINVAL with msg saying why, quoting url. */
int ctl_url_check(const char *url, bool insecure_http, char *msg, size_t msglen);

/* True when host (as in a URL: "127.0.0.1", "[::1]", "localhost"; or a bare IPv6 address,
 * as meshcontrol's --listen takes it) is a loopback address. */
bool ctl_url_host_is_loopback(const char *host);

/* Sets e up for control: http and https only, no redirects, peer and host name verified,
 * ca_file (may be NULL: the system's CAs) as the trusted CAs, and errbuf (CURL_ERROR_SIZE
 * bytes) for curl's own words on a failure. */
void ctl_url_curl_setup(void *e, const char *ca_file, char *errbuf); /* e: a CURL easy handle */

/* When code (a CURLcode) says control's TLS could not be trusted (its certificate, or
 * the CA file), writes the sentence people see, naming url and curl's words in errbuf,
 * and returns true; false (msg untouched) for any other outcome. */
bool ctl_url_tls_failure(int code, const char *url, const char *errbuf, char *msg, size_t msglen);

#endif
