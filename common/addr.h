/* common/addr.h: the one vocabulary of addresses, prefixes and endpoints.
 *
 *	struct addr_prefix p;
 *	const char *why;
 *	if (!addr_prefix_parse("10.0.0.0/8", &p, &why))
 *		log_err("cfg", "allowed ip '%s': %s", text, why);
 *	addr_prefix_mask(&p);			// canonical: no bits set past p.bits
 *	if (addr_prefix_contains(&p, &src))	// src is a struct addr_ip
 *		...
 *
 * The family is always written AF_INET or AF_INET6 (0 = no address); an IPv4 address sits
 * in the first 4 bytes and the other 12 are zero.  Parsers are strict on purpose: a text that
 * two readers could take differently ("::1:80", "1.2.3.4:80x", "10.0.0.0/8:1", "10.0.0.0/8 ") is
 * refused by every one of them.  They return false with *why (when why is not NULL) set to
 * a static phrase; the caller quotes its input around it ("endpoint 'X': why").
 *
 * Endpoints are "a.b.c.d:port" or "[v6]:port" or "[v6%N]:port", port 1-65535 in at most 5
 * decimal digits.  The scope id rule, decided here once: an IPv6 endpoint may carry a
 * numeric scope id (the interface index), because the kernel's and our `wg show` print
 * link-local endpoints that way and the UAPI must read back what it prints; a named zone
 * ("%eth0") is refused, since mapping a name to an index depends on the host at the time of
 * the call and a parser does no I/O.  A scope id means something only on the host that
 * chose it, so a context whose endpoints cross hosts (the netmap) refuses one on top.
 * Port 0 is refused everywhere: an endpoint is where we send, and nothing is sent to 0. */
#ifndef MESH_COMMON_ADDR_H
#define MESH_COMMON_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* Room for the text of any address, prefix or endpoint with its NUL
 * ("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295]:65535" is 65 bytes). */
enum { ADDR_TEXT_MAX = 72 };

struct addr_ip {
	uint8_t family; /* AF_INET or AF_INET6; 0 = none */
	uint8_t bytes[16];
};

struct addr_prefix {
	struct addr_ip ip;
	uint8_t bits; /* 0-32 for AF_INET, 0-128 for AF_INET6 */
};

struct addr_endpoint {
	struct addr_ip ip;
	uint16_t port;	/* 1 to 65535 */
	uint32_t scope; /* IPv6 scope id (interface index); 0 = none */
};

/* 4 for AF_INET, 16 for AF_INET6, 0 for anything else. */
static inline size_t addr_family_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/* 32 for AF_INET, 128 for AF_INET6, 0 for anything else. */
static inline unsigned addr_family_bits(int family)
{
	return (unsigned)addr_family_len(family) * 8;
}

/* The host prefix of a (all bits). */
struct addr_prefix addr_host_prefix(const struct addr_ip *a);

/* An IPv4 dotted quad or an IPv6 address (inet_pton's grammar, no zone); false with why. */
bool addr_ip_parse(const char *s, struct addr_ip *out, const char **why);

/* The text of a into out (inet_ntop's form; "?" for no family); returns out. */
char *addr_ip_format(const struct addr_ip *a, char out[static ADDR_TEXT_MAX]);

/* Same family and the same address bytes. */
bool addr_ip_equal(const struct addr_ip *a, const struct addr_ip *b);

/* Orders by family (IPv4 first), then bytes: <0, 0, >0 as memcmp. */
int addr_ip_compare(const struct addr_ip *a, const struct addr_ip *b);

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes the IPv4 address; others stay. */
void addr_ip_unmap(struct addr_ip *a);

/* "ADDR" (a host prefix) or "ADDR/BITS", BITS 1-3 decimal digits within the family's
 * length; not masked (a node's "100.64.0.1/10" keeps its host bits); false with why. */
bool addr_prefix_parse(const char *s, struct addr_prefix *out, const char **why);

/* As addr_prefix_parse, then masked: the network a prefix names ("10.1.2.3/8" is 10.0.0.0/8),
 * as the policy reads its hosts, routes and rules. */
bool addr_net_parse(const char *s, struct addr_prefix *out, const char **why);

/* "ADDR/BITS" into out; returns out.  It parses back to p. */
char *addr_prefix_format(const struct addr_prefix *p, char out[static ADDR_TEXT_MAX]);

/* The canonical form: clears the bits past p->bits. */
void addr_prefix_mask(struct addr_prefix *p);

/* Whether a lies in p (same family, the first p->bits bits equal).  Inline: the packet
 * filter asks it for every rule's prefixes of every packet. */
static inline bool addr_prefix_contains(const struct addr_prefix *p, const struct addr_ip *a)
{
	if (p->ip.family != a->family || p->bits > addr_family_bits(a->family))
		return false;
	unsigned full = p->bits / 8, rest = p->bits % 8;
	if (memcmp(p->ip.bytes, a->bytes, full) != 0)
		return false;
	return !rest || ((p->ip.bytes[full] ^ a->bytes[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* Whether all of q lies in p (q no shorter than p, and q's address in p). */
bool addr_prefix_covers(const struct addr_prefix *p, const struct addr_prefix *q);

/* Same family, bits and address bytes (host bits included: mask first to compare nets). */
bool addr_prefix_equal(const struct addr_prefix *a, const struct addr_prefix *b);

/* "a.b.c.d:port", "[v6]:port" or "[v6%N]:port" (see the top of this file); false with why. */
bool addr_endpoint_parse(const char *s, struct addr_endpoint *out, const char **why);

/* The text of e into out ("[fe80::1%2]:51820" with a scope id); returns out. */
char *addr_endpoint_format(const struct addr_endpoint *e, char out[static ADDR_TEXT_MAX]);

/* Same address, port and scope id. */
bool addr_endpoint_equal(const struct addr_endpoint *a, const struct addr_endpoint *b);

/* e as a sockaddr_in or sockaddr_in6 in ss; returns its length (0 for no family). */
socklen_t addr_endpoint_to_sockaddr(const struct addr_endpoint *e, struct sockaddr_storage *ss);

/* An AF_INET or AF_INET6 socket address as an endpoint (the port as it is, 0 included:
 * what a socket reports is not checked like text); false for other families. */
bool addr_endpoint_from_sockaddr(const struct sockaddr *sa, struct addr_endpoint *out);

#endif
