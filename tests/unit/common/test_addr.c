/* common/addr: numbered tables of prefixes and endpoints, good ones with the text they format
 * back to and bad ones with the exact reason; contains against a naive bit-by-bit reference
 * on random prefixes; masking; IPv4-mapped addresses; sockaddr conversions both ways; the
 * address text read and written by hand against glibc's inet_pton and inet_ntop (the same
 * verdict, bytes and text on edge cases, random texts and random addresses). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "check.h"
#include "common/addr.h"

static const struct {
	int n;
	const char *in;
	const char *why; /* NULL: parses, and formats to out */
	const char *out;
} prefixes[] = {
	{ 1, "10.0.0.0/8", NULL, "10.0.0.0/8" },
	{ 2, "100.64.0.1/10", NULL, "100.64.0.1/10" }, /* host bits kept */
	{ 3, "1.2.3.4", NULL, "1.2.3.4/32" },
	{ 4, "::/0", NULL, "::/0" },
	{ 5, "fd7a:115c:a1e0::1", NULL, "fd7a:115c:a1e0::1/128" },
	{ 6, "0.0.0.0/0", NULL, "0.0.0.0/0" },
	{ 7, "10.0.0.0/08", NULL, "10.0.0.0/8" },
	{ 8, "::ffff:1.2.3.4/128", NULL, "::ffff:1.2.3.4/128" },
	{ 9, "", "empty", NULL },
	{ 10, "10.0.0.0/33", "the prefix length must be 0 to 32", NULL },
	{ 11, "::/129", "the prefix length must be 0 to 128", NULL },
	{ 12, "10.0.0.0/8x", "the prefix length must be a number", NULL },
	{ 13, "10.0.0.0/", "the prefix length must be a number", NULL },
	{ 14, "10.0.0.0/-1", "the prefix length must be a number", NULL },
	{ 15, "10.0.0.0/+8", "the prefix length must be a number", NULL },
	{ 16, "10.0.0.0/ 8", "the prefix length must be a number", NULL },
	{ 17, "10.0.0.0/0008", "the prefix length must be a number", NULL },
	{ 18, "10.0.0.0/8/8", "the prefix length must be a number", NULL },
	{ 19, "10.0.0.0 /8", "not an IPv4 or IPv6 address", NULL },
	{ 20, "10.0.0/8", "not an IPv4 or IPv6 address", NULL },
	{ 21, "/8", "not an IPv4 or IPv6 address", NULL },
	{ 22, "fe80::1%2/64", "not an IPv4 or IPv6 address", NULL },
	{ 23, "010.0.0.1", "not an IPv4 or IPv6 address", NULL },
	{ 24, "1.2.3.4:80", "not an IPv4 or IPv6 address", NULL },
	{ 25, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:1/8", "not an IPv4 or IPv6 address",
	  NULL },
	{ 26, "10.0.0.0/8 ", "the prefix length must be a number", NULL },
};

static const struct {
	int n;
	const char *in;
	const char *why; /* NULL: parses, and formats to out */
	const char *out;
	uint16_t port;
	uint32_t scope;
} endpoints[] = {
	{ 1, "1.2.3.4:80", NULL, "1.2.3.4:80", 80, 0 },
	{ 2, "[::1]:51820", NULL, "[::1]:51820", 51820, 0 },
	{ 3, "[fe80::1%2]:1", NULL, "[fe80::1%2]:1", 1, 2 },
	{ 4, "255.255.255.255:65535", NULL, "255.255.255.255:65535", 65535, 0 },
	{ 5, "1.2.3.4:00080", NULL, "1.2.3.4:80", 80, 0 },
	{ 6, "[fe80::1%4294967295]:9", NULL, "[fe80::1%4294967295]:9", 9, 4294967295u },
	{ 7, "[fe80::1%0]:9", NULL, "[fe80::1]:9", 9, 0 },
	{ 8, "1.2.3.4:80x", "port must be 1 to 65535", NULL, 0, 0 },
	{ 9, "::1:80", "an IPv6 address goes in brackets: [addr]:port", NULL, 0, 0 },
	{ 10, "[fe80::1%eth0]:1", "the scope id must be a number", NULL, 0, 0 },
	{ 11, "[fe80::1%]:1", "the scope id must be a number", NULL, 0, 0 },
	{ 12, "[fe80::1%4294967296]:1", "the scope id must be a number", NULL, 0, 0 },
	{ 13, "[fe80::1%-1]:1", "the scope id must be a number", NULL, 0, 0 },
	{ 14, "", "expected addr:port", NULL, 0, 0 },
	{ 15, "1.2.3.4", "expected addr:port", NULL, 0, 0 },
	{ 16, "[::1:80", "expected [IPv6]:port", NULL, 0, 0 },
	{ 17, "[::1]80", "expected [IPv6]:port", NULL, 0, 0 },
	{ 18, "1.2.3.4:0", "port must be 1 to 65535", NULL, 0, 0 },
	{ 19, "1.2.3.4:65536", "port must be 1 to 65535", NULL, 0, 0 },
	{ 20, "1.2.3.4:000080", "port must be 1 to 65535", NULL, 0, 0 },
	{ 21, "1.2.3.4:+80", "port must be 1 to 65535", NULL, 0, 0 },
	{ 22, "1.2.3.4:", "port must be 1 to 65535", NULL, 0, 0 },
	{ 23, "1.2.3.4:80 ", "port must be 1 to 65535", NULL, 0, 0 },
	{ 24, "10.0.0.0/8:1", "not an IPv4 address", NULL, 0, 0 },
	{ 25, " 1.2.3.4:80", "not an IPv4 address", NULL, 0, 0 },
	{ 26, "[1.2.3.4]:80", "not an IPv6 address in brackets", NULL, 0, 0 },
	{ 27, "[]:80", "not an IPv6 address in brackets", NULL, 0, 0 },
	{ 28, "[%1]:80", "not an IPv6 address in brackets", NULL, 0, 0 },
	{ 29, ":80", "not an IPv4 address", NULL, 0, 0 },
	{ 30, "[::1]:80:", "port must be 1 to 65535", NULL, 0, 0 },
	{ 31, "example.com:80", "not an IPv4 address", NULL, 0, 0 },
};

static void check_prefixes(void)
{
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		struct addr_prefix p, back;
		const char *why = NULL;
		char text[ADDR_TEXT_MAX];
		bool ok = addr_prefix_parse(prefixes[i].in, &p, &why);
		if (!prefixes[i].why) {
			if (!ok)
				fprintf(stderr, "prefix %d: refused: %s\n", prefixes[i].n, why);
			CHECK(ok);
			CHECK_STR(addr_prefix_format(&p, text), prefixes[i].out);
			CHECK(addr_prefix_parse(text, &back, NULL));
			CHECK(addr_prefix_equal(&p, &back));
		} else {
			if (ok)
				fprintf(stderr, "prefix %d: taken\n", prefixes[i].n);
			CHECK(!ok);
			CHECK_STR(why, prefixes[i].why);
			CHECK_INT(p.ip.family, 0);
		}
	}
}

static void check_endpoints(void)
{
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
		struct addr_endpoint e, back;
		struct sockaddr_storage ss;
		const char *why = NULL;
		char text[ADDR_TEXT_MAX];
		bool ok = addr_endpoint_parse(endpoints[i].in, &e, &why);
		if (!endpoints[i].why) {
			if (!ok)
				fprintf(stderr, "endpoint %d: refused: %s\n", endpoints[i].n, why);
			CHECK(ok);
			CHECK_INT(e.port, endpoints[i].port);
			CHECK_INT(e.scope, endpoints[i].scope);
			CHECK_STR(addr_endpoint_format(&e, text), endpoints[i].out);
			CHECK(addr_endpoint_parse(text, &back, NULL));
			CHECK(addr_endpoint_equal(&e, &back));
			socklen_t len = addr_endpoint_to_sockaddr(&e, &ss);
			CHECK_INT(len, e.ip.family == AF_INET ? sizeof(struct sockaddr_in)
							      : sizeof(struct sockaddr_in6));
			CHECK(addr_endpoint_from_sockaddr((struct sockaddr *)&ss, &back));
			CHECK(addr_endpoint_equal(&e, &back));
		} else {
			if (ok)
				fprintf(stderr, "endpoint %d: taken\n", endpoints[i].n);
			CHECK(!ok);
			CHECK_STR(why, endpoints[i].why);
			CHECK_INT(e.port, 0);
		}
	}
}

/* Naive reference: bit i of a, counted from the most significant bit of byte 0. */
static int bit(const uint8_t *a, unsigned i)
{
	return a[i / 8] >> (7 - i % 8) & 1;
}

static void check_contains_random(void)
{
	srand(15);
	for (int round = 0; round < 20000; round++) {
		struct addr_prefix p = { .ip.family = rand() % 2 ? AF_INET : AF_INET6 };
		struct addr_ip a = { .family = rand() % 8 ? p.ip.family
							  : AF_INET + AF_INET6 - p.ip.family };
		unsigned total = addr_family_bits(p.ip.family);
		p.bits = (uint8_t)(rand() % (total + 1));
		for (size_t i = 0; i < addr_family_len(p.ip.family); i++)
			p.ip.bytes[i] = (uint8_t)rand();
		memcpy(a.bytes, p.ip.bytes, 16);
		unsigned flip = (unsigned)rand() % total; /* differ from p at one bit, or not */
		if (rand() % 2)
			a.bytes[flip / 8] ^= (uint8_t)(0x80 >> (flip % 8));
		bool want = a.family == p.ip.family;
		for (unsigned i = 0; want && i < p.bits; i++)
			want = bit(a.bytes, i) == bit(p.ip.bytes, i);
		CHECK_INT(addr_prefix_contains(&p, &a), want);

		struct addr_prefix m = p;
		addr_prefix_mask(&m);
		for (unsigned i = 0; i < total; i++)
			CHECK_INT(bit(m.ip.bytes, i), i < p.bits ? bit(p.ip.bytes, i) : 0);
		CHECK(addr_prefix_contains(&m, &p.ip));
		struct addr_prefix host = addr_host_prefix(&a);
		CHECK_INT(addr_prefix_covers(&p, &host), want);
		CHECK(!addr_prefix_covers(&host, &p) || p.bits == host.bits);
	}
}

static void check_misc(void)
{
	struct addr_ip a, b;
	char text[ADDR_TEXT_MAX];
	const char *why = NULL;

	CHECK(addr_ip_parse("::ffff:192.0.2.1", &a, NULL));
	addr_ip_unmap(&a);
	CHECK_INT(a.family, AF_INET);
	CHECK_STR(addr_ip_format(&a, text), "192.0.2.1");
	CHECK(addr_ip_parse("::fffe:192.0.2.1", &b, NULL));
	addr_ip_unmap(&b);
	CHECK_INT(b.family, AF_INET6);
	CHECK(addr_ip_compare(&a, &b) < 0 && addr_ip_compare(&b, &a) > 0);
	CHECK(!addr_ip_parse("1.2.3.4/32", &a, &why));
	CHECK_STR(why, "not an IPv4 or IPv6 address");
	CHECK(!addr_ip_parse("", &a, &why));
	CHECK_STR(why, "empty");
	CHECK(!addr_ip_parse(NULL, &a, &why));
	a = (struct addr_ip){ 0 };
	CHECK_STR(addr_ip_format(&a, text), "?");

	struct sockaddr_un_like {
		sa_family_t family;
		char path[30];
	} un = { .family = AF_UNIX };
	struct addr_endpoint e;
	CHECK(!addr_endpoint_from_sockaddr((struct sockaddr *)&un, &e));
	struct sockaddr_storage ss;
	CHECK_INT(addr_endpoint_to_sockaddr(&e, &ss), 0);
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6,
				    .sin6_port = htons(7),
				    .sin6_scope_id = 3 };
	in6.sin6_addr.s6_addr[0] = 0xfe;
	in6.sin6_addr.s6_addr[1] = 0x80;
	in6.sin6_addr.s6_addr[15] = 1;
	CHECK(addr_endpoint_from_sockaddr((struct sockaddr *)&in6, &e));
	CHECK_STR(addr_endpoint_format(&e, text), "[fe80::1%3]:7");
}

/* IPv4 is written by hand (no inet_ntop): the same text as inet_ntop and "%s/%u" for every
 * byte value in every place and every prefix length, and for random addresses. */
static void check_ipv4_text(void)
{
	char text[ADDR_TEXT_MAX], want[ADDR_TEXT_MAX], host[INET_ADDRSTRLEN];
	size_t bad = 0;
	srand(4);
	for (unsigned k = 0; k < 20000; k++) {
		struct addr_prefix p = { .ip.family = AF_INET, .bits = (uint8_t)(k % 33) };
		for (int i = 0; i < 4; i++)
			p.ip.bytes[i] = (uint8_t)(k < 1024 ? (i == (int)(k / 256) ? k % 256 : 0u)
							   : (unsigned)rand());
		inet_ntop(AF_INET, p.ip.bytes, host, sizeof(host));
		snprintf(want, sizeof(want), "%s/%u", host, p.bits);
		if (strcmp(addr_prefix_format(&p, text), want) != 0 ||
		    strcmp(addr_ip_format(&p.ip, text), host) != 0)
			bad++;
	}
	CHECK_INT(bad, 0);
}

/* The texts glibc's inet_pton takes for family, and the bytes; ours must agree on each. */
static size_t pton_differs(const char *text)
{
	struct addr_ip a;
	uint8_t want[16];
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;
	bool ours = addr_ip_parse(text, &a, NULL);
	bool libc = *text && strlen(text) < INET6_ADDRSTRLEN && inet_pton(family, text, want) == 1;
	if (ours == libc && (!ours || memcmp(a.bytes, want, addr_family_len(family)) == 0))
		return 0;
	fprintf(stderr, "  differs from inet_pton: \"%s\" (ours %d, inet_pton %d)\n", text, ours,
		libc);
	return 1;
}

static size_t ntop_differs(int family, const uint8_t *bytes)
{
	struct addr_ip a = { .family = (uint8_t)family };
	char ours[ADDR_TEXT_MAX], want[INET6_ADDRSTRLEN];
	memcpy(a.bytes, bytes, addr_family_len(family));
	inet_ntop(family, bytes, want, sizeof(want));
	if (strcmp(addr_ip_format(&a, ours), want) == 0)
		return pton_differs(want);
	fprintf(stderr, "  differs from inet_ntop: \"%s\" (inet_ntop \"%s\")\n", ours, want);
	return 1;
}

/* Parsing and writing addresses by hand (no inet_pton, inet_ntop: #21's node and control
 * spent 370 and ~3 000 instructions an address in them) matches glibc's on the grammar's edges,
 * on random texts of address characters and on random addresses (zero groups, runs of them,
 * IPv4-mapped and -compatible forms) and on their texts with one character changed. */
static void check_text_against_libc(void)
{
	static const char *const edges[] = {
		"::",
		":::",
		"::1",
		"1::",
		"1:::2",
		":1::2",
		"1::2:",
		":",
		"",
		"1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7:8:9",
		"1:2:3:4:5:6:7::",
		"::1:2:3:4:5:6:7",
		"::1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7:8::",
		"1:2:3:4:5:6:1.2.3.4",
		"1:2:3:4:5:6:7:1.2.3.4",
		"::ffff:1.2.3.4",
		"::1.2.3.4",
		"::ffff:1.2.3.4:5",
		"::1.2.3.4.5",
		"::ffff:01.2.3.4",
		"ffff::ffff:1.2.3",
		"::0.0.0.0",
		"::12345",
		"00000::",
		"0000:0000:0000:0000:0000:ffff:255.255.255.255",
		"FE80::A",
		"fe80::1%1",
		"1.2.3.4",
		"01.2.3.4",
		"1.2.3.04",
		"0.0.0.0",
		"255.255.255.255",
		"256.1.1.1",
		"1.2.3",
		"1.2.3.4.",
		".1.2.3.4",
		"1..2.3",
		"1.2.3.4 ",
		" 1.2.3.4",
		"1.2.3.-4",
	};
	static const char alphabet[] = "0123456789abcdefABCDEFg:.:.::/ x%";
	size_t bad = 0;
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		bad += pton_differs(edges[i]);
	srand(21);
	for (int round = 0; round < 200000 && bad < 20; round++) {
		char text[32];
		int n = rand() % 24;
		for (int j = 0; j < n; j++)
			text[j] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		text[n] = '\0';
		bad += pton_differs(text);
		uint8_t b[16];
		for (int j = 0; j < 16; j++) { /* mostly zeros, some ones, some anything */
			int r = rand();
			b[j] = (uint8_t)(r % 4 ? 0 : (r / 4) % 2 ? 1 : r / 8);
		}
		bad += ntop_differs(AF_INET6, b) + ntop_differs(AF_INET, b);
		memset(b, 0, 10);
		b[10] = b[11] = rand() % 2 ? 0xff : 0;
		bad += ntop_differs(AF_INET6, b);
		char t[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, b, t, sizeof(t));
		t[(size_t)rand() % strlen(t)] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		bad += pton_differs(t);
	}
	CHECK_INT(bad, 0);
}

int main(void)
{
	check_ipv4_text();
	check_text_against_libc();
	check_prefixes();
	check_endpoints();
	check_contains_random();
	check_misc();
	return check_finish();
}
