/* Fuzz target for the TURN relay URIs (ctl_relay_url_parse: meshcontrol's --relay and a
 * node's netmap; ctl_relay_list_parse: the --relay list): an accepted URI's canonical text
 * parses back to the same relay, a port is never 0, a host never holds a character a URI
 * parser should have stopped at; a refused one gets a sentence. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/netmap/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_one(const struct ctl_relay_url *u)
{
	char text[CTL_RELAY_URL_MAX];
	struct ctl_relay_url back;
	ctl_relay_url_format(u, text);
	if (u->port == 0 || !u->host[0] || strpbrk(u->host, "/?@[], \t\r\n") ||
	    !ctl_relay_url_parse(text, &back, NULL, 0) || memcmp(&back, u, sizeof(back)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[512];
	struct ctl_relay_url u, list[CTL_RELAYS_MAX];
	size_t n;
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	err[0] = '\0';
	if (ctl_relay_url_parse(s, &u, err, sizeof(err)))
		check_one(&u);
	else if (!err[0])
		abort();
	err[0] = '\0';
	if (ctl_relay_list_parse(s, list, &n, err, sizeof(err))) {
		if (n == 0 || n > CTL_RELAYS_MAX)
			abort();
		for (size_t i = 0; i < n; i++)
			check_one(&list[i]);
	} else if (!err[0]) {
		abort();
	}
	free(s);
	return 0;
}
