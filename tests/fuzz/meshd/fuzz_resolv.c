/* Fuzz target for resolv.conf as meshd reads it (cmd/daemon/resolv.c: the host's file, read
 * for its resolvers before MagicDNS replaces it): accepted text gives at most
 * MESHD_RESOLV_NS_MAX resolvers on port 53, never the tailnet resolver unless the file is
 * ours; refused text gets a sentence; and the file meshd writes, with names taken from the
 * input, reads back as ours — or, for a name with anything but a name's characters (a
 * newline would start a line of its own), is refused. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/daemon/resolv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meshd_resolv r;
	char err[MESHD_RESOLV_ERR_MAX] = "";
	const struct addr_ip self = { AF_INET, { 100, 100, 100, 100 } };
	if (meshd_resolv_parse((const char *)data, size, &r, err, sizeof(err)) == 0) {
		if (r.n_ns > MESHD_RESOLV_NS_MAX)
			abort();
		for (size_t i = 0; i < r.n_ns; i++)
			if (r.ns[i].port != 53 || (!r.ours && addr_ip_equal(&r.ns[i].ip, &self)))
				abort();
	} else if (!err[0]) {
		abort();
	}
	char name[64], out[1024];
	size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	memcpy(name, data, n);
	name[n] = '\0';
	const char *search[1] = { name };
	int len = meshd_resolv_produce(name, search, 1, out, sizeof(out));
	/* a name of letters, digits, '.', '-', '_' is written; anything else refused */
	bool plain =
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") ==
	    strlen(name);
	if (len == -EINVAL ? plain : len < 0)
		abort();
	if (len >= 0 && (meshd_resolv_parse(out, (size_t)len, &r, err, sizeof(err)) != 0 ||
			 !r.ours || r.n_ns != 1 || memchr(out, '\0', (size_t)len)))
		abort();
	return 0;
}
