/* Fuzz target for ctl_endpoint_parse (a node's endpoint report at control, a peer's endpoint
 * in meshd): an accepted text is printed back (typed) as meshd reports endpoints, and the
 * error of a refused one is one line of printable text. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/netmap/endpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[160];
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	struct ctl_endpoint e;
	if (ctl_endpoint_parse(s, &e, err, sizeof(err))) {
		char again[CTL_ENDPOINT_MAX];
		struct ctl_endpoint e2;
		ctl_endpoint_format(&e, again);
		if (e.port == 0 || (e.family != 4 && e.family != 6) || strchr(s, '/') ||
		    !ctl_endpoint_parse(again, &e2, NULL, 0) || memcmp(&e, &e2, sizeof(e)) != 0)
			abort();
	} else {
		for (const char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 && !memchr(data, *p, size))
				abort();
	}
	free(s);
	return 0;
}
