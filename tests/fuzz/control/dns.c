/* Fuzz target for the tailnet's DNS settings (ctl_dns_parse: the admin's file, control's
 * store, a node's netmap): an accepted document's canonical text parses back to the same
 * text, and its names are canonical (lowercase, no trailing dot); a refused one gets a
 * sentence. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/netmap/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *n)
{
	size_t len = strlen(n);
	if (!len || n[len - 1] == '.' || strpbrk(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_dns *d, *back;
	char err[512] = "";
	if (ctl_dns_parse((const char *)data, size, "tail.example", &d, err, sizeof(err))) {
		if (!err[0])
			abort();
		return 0;
	}
	for (size_t i = 0; i < d->n_records; i++)
		check_name(d->records[i].name);
	for (size_t i = 0; i < d->n_routes; i++)
		check_name(d->routes[i].domain);
	for (size_t i = 0; i < d->n_search; i++)
		check_name(d->search[i]);
	char *text = ctl_dns_format(d, false);
	if (!text || ctl_dns_parse(text, strlen(text), "tail.example", &back, err, sizeof(err)))
		abort();
	char *again = ctl_dns_format(back, false);
	if (!again || strcmp(again, text) != 0)
		abort();
	free(again);
	free(text);
	ctl_dns_free(back);
	ctl_dns_free(d);
	return 0;
}
