/* dns/'s own business: the view's tables, shared by view.c (building, lookups), answer.c
 * (local answers) and forward.c (the in-flight table). */
#ifndef MESH_DNS_INTERNAL_H
#define MESH_DNS_INTERNAL_H

#include <ldns/ldns.h>

#include "dns/dns.h"

struct dns__name {
	char *name; /* canonical full name ("p.tail.example" for a peer "p") */
	struct addr_ip *addrs;
	size_t n_addrs;
};

struct dns__rev {
	struct addr_ip ip;
	size_t name; /* index into names; a peer's before an extra record's */
	size_t order;
};

struct dns__route {
	char *suffix;
	struct addr_endpoint up[DNS_VIEW_MAX_UPSTREAMS];
	size_t n_up;
};

struct dns_view {
	char domain[DNS_NAME_TEXT];
	struct dns__name *names; /* sorted by name */
	size_t n_names;
	struct dns__rev *rev; /* sorted by address */
	size_t n_rev;
	struct dns__route *routes; /* sorted by suffix */
	size_t n_routes;
	char *search[DNS_VIEW_MAX_SEARCH];
	size_t n_search;
	struct addr_endpoint host[DNS_VIEW_MAX_UPSTREAMS];
	size_t n_host;
	struct addr_prefix prefixes[DNS_VIEW_MAX_PREFIXES];
	size_t n_prefixes;
	uint32_t ttl;
	ldns_rr *soa; /* the tailnet domain's, for negative answers */
};

/* Room for a query name as text: 255 wire bytes, an odd byte escaped as \DDD (4 bytes). */
enum { DNS__QNAME_TEXT = 4 * 255 + 1 };

/* The name in a parsed dname rdf as canonical text: lowercase, no trailing dot, a byte
 * outside [a-z0-9_-] escaped as \DDD (so it matches no name of a view).  Empty for root. */
void dns__rdf_text(const ldns_rdf *dname, char out[static DNS__QNAME_TEXT]);

/* The name's entry, or NULL. */
const struct dns__name *dns__view_find(const struct dns_view *v, const char *name);

/* The first name holding ip, or NULL. */
const struct dns__name *dns__view_find_addr(const struct dns_view *v, const struct addr_ip *ip);

/* The upstreams for name: the route with the longest suffix of it, else the host's. */
const struct addr_endpoint *dns__view_upstreams(const struct dns_view *v, const char *name,
						size_t *n);

/* Whether ip lies in one of the view's tailnet prefixes. */
bool dns__view_in_tailnet(const struct dns_view *v, const struct addr_ip *ip);

/* The reply to a query the resolver does not forward: REPLY with the bytes, or DROP.  The
 * counters are the resolver's.  Returns 0, 1 (forward: *up and *n_up set), or -ENOMEM. */
int dns__answer(const struct dns_view *v, const uint8_t *q, size_t len, enum dns_transport t,
		struct dns_counters *c, struct dns_result *res, const struct addr_endpoint **up,
		size_t *n_up, ldns_pkt **parsed);

/* p as wire bytes of at most limit: when it does not fit, without its answer, authority
 * and additional records and with TC set (EDNS stays).  0 or -ENOMEM. */
int dns__wire_fit(ldns_pkt *p, size_t limit, uint8_t **out, size_t *len);

/* The most a UDP answer to query p may take (512 without OPT, else the client's size
 * within 512..DNS_UDP_ADVERTISE); DNS_TCP_MAX over TCP. */
size_t dns__answer_limit(const ldns_pkt *p, enum dns_transport t);

#endif
