/* Fuzz target for ctl_proxy_parse (the PROXY protocol header a trusted balancer sends before
 * a client's bytes): never a length past the input or CTL_PROXY_MAX, the answer for every
 * prefix of an accepted header "more to come", "more to come" only while a header could
 * still fit (under CTL_PROXY_V1_MAX bytes of v1, CTL_PROXY_MAX of v2), an accepted client
 * address of a family we serve, and an error one line of printable text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "control/server/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_proxy_hdr h;
	char err[CTL_PROXY_ERR_MAX];
	uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees any read past it */
	if (!copy)
		abort();
	memcpy(copy, data, size);
	int rc = ctl_proxy_parse(copy, size, &h, err, sizeof(err));
	if (rc > 0) {
		if ((size_t)rc > size || rc > CTL_PROXY_MAX)
			abort();
		if (!h.local && h.src.ip.family != AF_INET && h.src.ip.family != AF_INET6)
			abort();
		for (size_t k = 0; k < (size_t)rc; k++)
			if (ctl_proxy_parse(copy, k, &h, err, sizeof(err)) != 0)
				abort();
	} else if (rc == 0) {
		if (size >= (size && copy[0] == 'P' ? CTL_PROXY_V1_MAX : CTL_PROXY_MAX))
			abort();
	} else if (rc < 0) {
		for (const char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				abort();
		if (!err[0])
			abort();
	}
	free(copy);
	return 0;
}
