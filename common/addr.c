/* Addresses, prefixes and endpoints (see addr.h): the grammar is inet_pton's for the address
 * itself and ours, strict, for what surrounds it (the prefix length, brackets, zone, port). */
#include "common/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* The longest address text inet_pton could take, with its NUL. */
enum { HOST_MAX = INET6_ADDRSTRLEN };

struct addr_prefix addr_host_prefix(const struct addr_ip *a)
{
	return (struct addr_prefix){ .ip = *a, .bits = (uint8_t)addr_family_bits(a->family) };
}

static bool set_why(const char **why, const char *text)
{
	if (why)
		*why = text;
	return false;
}

/* Copies s[0..n) into host (HOST_MAX bytes) as a string; false when it cannot be an address. */
static bool host_copy(char host[static HOST_MAX], const char *s, size_t n)
{
	if (n == 0 || n >= HOST_MAX)
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	return true;
}

/* Up to max_digits decimal digits, the whole of s[0..n), at most max; false otherwise (no
 * sign, no space, nothing after). */
static bool parse_decimal(const char *s, size_t n, size_t max_digits, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > max_digits)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static bool ip_from_host(const char *host, int family, struct addr_ip *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(family, host, out->bytes) != 1) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	out->family = (uint8_t)family;
	return true;
}

bool addr_ip_parse(const char *s, struct addr_ip *out, const char **why)
{
	char host[HOST_MAX];
	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return set_why(why, "empty");
	if (!host_copy(host, s, strlen(s)) ||
	    !ip_from_host(host, strchr(host, ':') ? AF_INET6 : AF_INET, out))
		return set_why(why, "not an IPv4 or IPv6 address");
	return true;
}

/* inet_ntop's text of a, or "?" for no family: at most HOST_MAX bytes with the NUL. */
/* A byte in decimal into out: its length. */
static size_t dec_u8(char *out, unsigned v)
{
	size_t k = 0;
	if (v >= 100)
		out[k++] = (char)('0' + v / 100);
	if (v >= 10)
		out[k++] = (char)('0' + v / 10 % 10);
	out[k++] = (char)('0' + v % 10);
	return k;
}

/* IPv4 by hand, as inet_ntop writes it: inet_ntop and snprintf cost ~3 000 instructions an
 * address, and control writes every node's address into each compile's filters (#21). */
static char *ntop(const struct addr_ip *a, char host[static HOST_MAX])
{
	if (a->family == AF_INET) {
		size_t k = 0;
		for (int i = 0; i < 4; i++) {
			k += dec_u8(host + k, a->bytes[i]);
			host[k++] = i < 3 ? '.' : '\0';
		}
		return host;
	}
	if (!addr_family_len(a->family) || !inet_ntop(a->family, a->bytes, host, HOST_MAX))
		strcpy(host, "?");
	return host;
}

char *addr_ip_format(const struct addr_ip *a, char out[static ADDR_TEXT_MAX])
{
	return ntop(a, out);
}

bool addr_ip_equal(const struct addr_ip *a, const struct addr_ip *b)
{
	return addr_ip_compare(a, b) == 0;
}

int addr_ip_compare(const struct addr_ip *a, const struct addr_ip *b)
{
	if (a->family != b->family) /* AF_INET (2) sorts before AF_INET6 (10) */
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, addr_family_len(a->family));
}

void addr_ip_unmap(struct addr_ip *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (a->family != AF_INET6 || memcmp(a->bytes, mapped, sizeof(mapped)) != 0)
		return;
	memmove(a->bytes, a->bytes + 12, 4);
	memset(a->bytes + 4, 0, 12);
	a->family = AF_INET;
}

bool addr_prefix_parse(const char *s, struct addr_prefix *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return set_why(why, "empty");
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	char host[HOST_MAX];
	if (!host_copy(host, s, hl) ||
	    !ip_from_host(host, memchr(s, ':', hl) ? AF_INET6 : AF_INET, &out->ip))
		return set_why(why, "not an IPv4 or IPv6 address");
	unsigned max = addr_family_bits(out->ip.family);
	uint64_t bits = max;
	if (slash && !parse_decimal(slash + 1, strlen(slash + 1), 3, UINT64_MAX, &bits)) {
		memset(out, 0, sizeof(*out));
		return set_why(why, "the prefix length must be a number");
	}
	if (bits > max) {
		memset(out, 0, sizeof(*out));
		return set_why(why, max == 32 ? "the prefix length must be 0 to 32"
					      : "the prefix length must be 0 to 128");
	}
	out->bits = (uint8_t)bits;
	return true;
}

bool addr_net_parse(const char *s, struct addr_prefix *out, const char **why)
{
	if (!addr_prefix_parse(s, out, why))
		return false;
	addr_prefix_mask(out);
	return true;
}

char *addr_prefix_format(const struct addr_prefix *p, char out[static ADDR_TEXT_MAX])
{
	ntop(&p->ip, out);
	size_t k = strlen(out);
	out[k++] = '/';
	k += dec_u8(out + k, p->bits);
	out[k] = '\0';
	return out;
}

void addr_prefix_mask(struct addr_prefix *p)
{
	unsigned total = addr_family_bits(p->ip.family);
	for (unsigned bit = p->bits; bit < total; bit++)
		p->ip.bytes[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
}

bool addr_prefix_covers(const struct addr_prefix *p, const struct addr_prefix *q)
{
	return q->bits >= p->bits && addr_prefix_contains(p, &q->ip);
}

bool addr_prefix_equal(const struct addr_prefix *a, const struct addr_prefix *b)
{
	return a->bits == b->bits && addr_ip_equal(&a->ip, &b->ip);
}

bool addr_endpoint_parse(const char *s, struct addr_endpoint *out, const char **why)
{
	char host[HOST_MAX];
	const char *colon, *zone = NULL;
	size_t hl;
	uint64_t v;

	memset(out, 0, sizeof(*out));
	if (!s)
		return set_why(why, "expected addr:port");
	bool v6 = s[0] == '[';
	if (v6) {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return set_why(why, "expected [IPv6]:port");
		colon = end + 1;
		zone = memchr(s, '%', (size_t)(end - s));
		hl = (size_t)((zone ? zone : end) - s - 1);
		if (!host_copy(host, s + 1, hl))
			host[0] = '\0';
	} else {
		colon = strchr(s, ':');
		if (!colon)
			return set_why(why, "expected addr:port");
		if (strchr(colon + 1, ':'))
			return set_why(why, "an IPv6 address goes in brackets: [addr]:port");
		hl = (size_t)(colon - s);
		if (!host_copy(host, s, hl))
			host[0] = '\0';
	}
	if (!parse_decimal(colon + 1, strlen(colon + 1), 5, 65535, &v) || v == 0)
		return set_why(why, "port must be 1 to 65535");
	out->port = (uint16_t)v;
	if (zone) {
		const char *end = colon - 1; /* the ']' */
		if (!parse_decimal(zone + 1, (size_t)(end - zone - 1), 10, UINT32_MAX, &v)) {
			memset(out, 0, sizeof(*out));
			return set_why(why, "the scope id must be a number");
		}
		out->scope = (uint32_t)v;
	}
	if (!ip_from_host(host, v6 ? AF_INET6 : AF_INET, &out->ip)) {
		memset(out, 0, sizeof(*out));
		return set_why(why, v6 ? "not an IPv6 address in brackets" : "not an IPv4 address");
	}
	return true;
}

char *addr_endpoint_format(const struct addr_endpoint *e, char out[static ADDR_TEXT_MAX])
{
	char host[HOST_MAX];
	ntop(&e->ip, host);
	if (e->ip.family != AF_INET6)
		snprintf(out, ADDR_TEXT_MAX, "%s:%u", host, e->port);
	else if (e->scope)
		snprintf(out, ADDR_TEXT_MAX, "[%s%%%u]:%u", host, e->scope, e->port);
	else
		snprintf(out, ADDR_TEXT_MAX, "[%s]:%u", host, e->port);
	return out;
}

bool addr_endpoint_equal(const struct addr_endpoint *a, const struct addr_endpoint *b)
{
	return a->port == b->port && a->scope == b->scope && addr_ip_equal(&a->ip, &b->ip);
}

socklen_t addr_endpoint_to_sockaddr(const struct addr_endpoint *e, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (e->ip.family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(e->port);
		memcpy(&in->sin_addr, e->ip.bytes, 4);
		return sizeof(*in);
	}
	if (e->ip.family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(e->port);
		in6->sin6_scope_id = e->scope;
		memcpy(&in6->sin6_addr, e->ip.bytes, 16);
		return sizeof(*in6);
	}
	return 0;
}

bool addr_endpoint_from_sockaddr(const struct sockaddr *sa, struct addr_endpoint *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		out->ip.family = AF_INET;
		memcpy(out->ip.bytes, &in->sin_addr, 4);
		out->port = ntohs(in->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		out->ip.family = AF_INET6;
		memcpy(out->ip.bytes, &in6->sin6_addr, 16);
		out->port = ntohs(in6->sin6_port);
		out->scope = in6->sin6_scope_id;
		return true;
	}
	return false;
}
