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

/* The address text s[0..n) by hand, exactly as glibc's inet_pton takes it (the differential
 * checks in tests/unit/common/test_addr.c and tests/fuzz/common/fuzz_addr.c hold us to it),
 * and without copying it first: a node parses every address of each filter control sends it
 * (#21: 20 000 for a laptop's 100 in a policy change).  Callgrind, tailnet addresses: IPv4
 * ~120 instructions (inet_pton ~240), IPv6 ~330 to ~450 (inet_pton ~350 to ~500).
 * IPv4: four decimal numbers to 255, no leading zero, dots between. */
static bool pton4(const char *s, const char *end, uint8_t out[4])
{
	uint8_t tmp[4];
	for (int i = 0; i < 4; i++) {
		if (i && (s == end || *s++ != '.'))
			return false;
		if (s == end || (unsigned)(*s - '0') > 9)
			return false;
		unsigned v = (unsigned)(*s++ - '0');
		if (s < end && (unsigned)(*s - '0') <= 9) {
			if (v == 0) /* a leading zero */
				return false;
			v = v * 10 + (unsigned)(*s++ - '0');
			if (s < end && (unsigned)(*s - '0') <= 9)
				v = v * 10 + (unsigned)(*s++ - '0');
		}
		if (v > 255) /* a fourth digit is refused below, as not a '.' or the end */
			return false;
		tmp[i] = (uint8_t)v;
	}
	if (s != end)
		return false;
	memcpy(out, tmp, 4);
	return true;
}

/* A hex digit's value, or -1. */
static int hex_value(char c)
{
	static const int8_t value[256] = {
		['0'] = 1,  ['1'] = 2,	['2'] = 3,  ['3'] = 4,	['4'] = 5,  ['5'] = 6,
		['6'] = 7,  ['7'] = 8,	['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
		['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
		['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
	};
	return value[(unsigned char)c] - 1;
}

/* IPv6: groups of 1-4 hex digits, one "::" at most standing for one or more zero groups, and
 * the last 32 bits maybe as an IPv4 dotted quad. */
static bool pton6(const char *s, const char *end, uint8_t out[16])
{
	unsigned w[8];
	size_t n = 0, gap = SIZE_MAX; /* groups read; where the "::" stands */
	if (s == end)
		return false;
	if (*s == ':') { /* a leading ':' only as "::" */
		if (end - s < 2 || s[1] != ':')
			return false;
		s += 2;
		gap = 0;
	}
	while (s < end) {
		const char *group = s, *last = end - s > 4 ? s + 4 : end;
		unsigned v = 0;
		int h;
		while (s < last && (h = hex_value(*s)) >= 0) {
			v = v << 4 | (unsigned)h;
			s++;
		}
		if (s == group) /* an empty group: ":::", or a character not an address's */
			return false;
		if (s < end && *s == '.') { /* the last 32 bits dotted, from the group's start */
			uint8_t q[4];
			if (n > 6 || !pton4(group, end, q))
				return false;
			w[n++] = (unsigned)q[0] << 8 | q[1];
			w[n++] = (unsigned)q[2] << 8 | q[3];
			break;
		}
		if (n == 8) /* a ninth group */
			return false;
		w[n++] = v;
		if (s == end)
			break;
		if (*s++ != ':' || s == end) /* a fifth digit or another character; a last ':' */
			return false;
		if (*s == ':') {
			if (gap != SIZE_MAX)
				return false;
			gap = n;
			s++;
		}
	}
	if (gap == SIZE_MAX ? n != 8 : n == 8) /* "::" stands for one zero group at least */
		return false;
	size_t zeros = 8 - n;
	for (size_t i = 0, j = 0; i < 8; i++) {
		unsigned g = i >= gap && i < gap + zeros ? 0 : w[j++];
		out[2 * i] = (uint8_t)(g >> 8);
		out[2 * i + 1] = (uint8_t)g;
	}
	return true;
}

/* s[0..n) as an address of family; false (out zeroed) when it is not one. */
static bool ip_from_text(const char *s, size_t n, int family, struct addr_ip *out)
{
	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= HOST_MAX)
		return false;
	if (!(family == AF_INET ? pton4(s, s + n, out->bytes) : pton6(s, s + n, out->bytes))) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	out->family = (uint8_t)family;
	return true;
}

bool addr_ip_parse(const char *s, struct addr_ip *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return set_why(why, "empty");
	size_t n = strlen(s);
	if (!ip_from_text(s, n, memchr(s, ':', n) ? AF_INET6 : AF_INET, out))
		return set_why(why, "not an IPv4 or IPv6 address");
	return true;
}

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

/* A group in lower-case hex without leading zeros: its length. */
static size_t hex_u16(char *out, unsigned v)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = v >= 0x1000 ? 4 : v >= 0x100 ? 3 : v >= 0x10 ? 2 : 1;
	for (size_t i = n; i-- > 0; v >>= 4)
		out[i] = digits[v & 15];
	return n;
}

/* The text of a, or "?" for no family (at most HOST_MAX bytes with the NUL), by hand, as
 * glibc's inet_ntop writes it (the differential checks hold us to it): inet_ntop costs ~3 000
 * instructions an IPv4 address and ~5 700 an IPv6 one (ours for IPv6: ~430 at most), and control
 * writes every node's addresses into each compile's filters (#21).  IPv4 dotted; IPv6 in hex groups
 * with the longest run of two or more zero groups (the first of equals) as "::", and the last 32
 * bits dotted after "::" (IPv4-compatible) or "::ffff:" (IPv4-mapped). */
static char *ntop(const struct addr_ip *a, char host[static HOST_MAX])
{
	size_t k = 0;
	if (a->family == AF_INET) {
		for (int i = 0; i < 4; i++) {
			k += dec_u8(host + k, a->bytes[i]);
			host[k++] = i < 3 ? '.' : '\0';
		}
		return host;
	}
	if (a->family != AF_INET6) {
		strcpy(host, "?");
		return host;
	}
	unsigned w[8];
	int best = -1, best_len = 0, cur = -1;
	for (int i = 0; i < 8; i++) {
		w[i] = (unsigned)a->bytes[2 * i] << 8 | a->bytes[2 * i + 1];
		if (w[i] == 0 && cur < 0)
			cur = i;
		if (cur >= 0 && (w[i] != 0 || i == 7)) {
			int len = (w[i] == 0 ? i + 1 : i) - cur;
			if (len > best_len) {
				best = cur;
				best_len = len;
			}
			cur = -1;
		}
	}
	if (best_len < 2)
		best = -1;
	for (int i = 0; i < 8; i++) {
		if (best >= 0 && i >= best && i < best + best_len) {
			if (i == best)
				host[k++] = ':';
			continue;
		}
		if (i)
			host[k++] = ':';
		if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
			for (int j = 12; j < 16; j++) {
				k += dec_u8(host + k, a->bytes[j]);
				host[k++] = j < 15 ? '.' : '\0';
			}
			return host;
		}
		k += hex_u16(host + k, w[i]);
	}
	if (best >= 0 && best + best_len == 8)
		host[k++] = ':';
	host[k] = '\0';
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
	if (!ip_from_text(s, hl, memchr(s, ':', hl) ? AF_INET6 : AF_INET, &out->ip))
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
	const char *colon, *zone = NULL, *host;
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
		host = s + 1;
		hl = (size_t)((zone ? zone : end) - host);
	} else {
		colon = strchr(s, ':');
		if (!colon)
			return set_why(why, "expected addr:port");
		if (strchr(colon + 1, ':'))
			return set_why(why, "an IPv6 address goes in brackets: [addr]:port");
		host = s;
		hl = (size_t)(colon - s);
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
	if (!ip_from_text(host, hl, v6 ? AF_INET6 : AF_INET, &out->ip)) {
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
