/* Whether a host is loopback (see url.h); apart from url.c so that meshcontrol, which
 * judges its listen address with it, does not link libcurl. */
#include "control/url/url.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

bool ctl_url_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char inner[INET6_ADDRSTRLEN];
	size_t n = strlen(host);
	if (strcasecmp(host, "localhost") == 0) /* curl resolves it to loopback itself */
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n >= 3 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(inner)) {
		memcpy(inner, host + 1, n - 2);
		inner[n - 2] = '\0';
	} else if (n < sizeof(inner)) {
		memcpy(inner, host, n + 1);
	} else {
		return false;
	}
	if (inet_pton(AF_INET6, inner, &a6) != 1)
		return false;
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}
