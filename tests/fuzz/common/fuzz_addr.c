/* Fuzz target for common/addr's parsers, which read addresses, prefixes and endpoints from
 * the netmap, the UAPI, the local API and the command line.  Checks their contract on any
 * bytes: a refusal leaves the output zeroed and says why; what is taken formats to a text
 * that parses back to the same value and formats to the same text again (parse -> format ->
 * parse is the identity); a masked prefix still contains its own address.  Addresses are read
 * and written by hand: the same verdict, bytes and text as glibc's inet_pton and inet_ntop. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_text(const char *a, const char *b)
{
	if (strcmp(a, b) != 0)
		abort();
}

static void fuzz_prefix(const char *s)
{
	struct addr_prefix p, q;
	const char *why = NULL;
	char t1[ADDR_TEXT_MAX], t2[ADDR_TEXT_MAX];
	if (!addr_prefix_parse(s, &p, &why)) {
		if (!why || p.ip.family || p.bits)
			abort();
		return;
	}
	if (!addr_prefix_parse(addr_prefix_format(&p, t1), &q, NULL) || !addr_prefix_equal(&p, &q))
		abort();
	same_text(t1, addr_prefix_format(&q, t2));
	addr_prefix_mask(&q);
	if (!addr_prefix_contains(&q, &p.ip) || !addr_prefix_covers(&q, &p))
		abort();
}

static void fuzz_endpoint(const char *s)
{
	struct addr_endpoint e, f;
	struct sockaddr_storage ss;
	const char *why = NULL;
	char t1[ADDR_TEXT_MAX], t2[ADDR_TEXT_MAX];
	if (!addr_endpoint_parse(s, &e, &why)) {
		if (!why || e.ip.family || e.port || e.scope)
			abort();
		return;
	}
	if (!e.port || !addr_endpoint_parse(addr_endpoint_format(&e, t1), &f, NULL) ||
	    !addr_endpoint_equal(&e, &f))
		abort();
	same_text(t1, addr_endpoint_format(&f, t2));
	if (!addr_endpoint_to_sockaddr(&e, &ss) ||
	    !addr_endpoint_from_sockaddr((struct sockaddr *)&ss, &f) ||
	    !addr_endpoint_equal(&e, &f))
		abort();
}

static void fuzz_ip(const char *s)
{
	struct addr_ip a, b;
	char t1[ADDR_TEXT_MAX], t2[INET6_ADDRSTRLEN];
	const char *why = NULL;
	int family = strchr(s, ':') ? AF_INET6 : AF_INET;
	uint8_t want[16];
	bool libc = *s && strlen(s) < INET6_ADDRSTRLEN && inet_pton(family, s, want) == 1;
	if (!addr_ip_parse(s, &a, &why)) {
		if (!why || a.family || libc)
			abort();
		return;
	}
	if (!libc || a.family != family || memcmp(a.bytes, want, addr_family_len(family)) != 0 ||
	    strcmp(addr_ip_format(&a, t1), inet_ntop(family, a.bytes, t2, sizeof(t2))) != 0)
		abort();
	if (!addr_ip_parse(addr_ip_format(&a, t1), &b, NULL) || !addr_ip_equal(&a, &b))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_prefix(s);
	fuzz_endpoint(s);
	fuzz_ip(s);
	free(s);
	return 0;
}
