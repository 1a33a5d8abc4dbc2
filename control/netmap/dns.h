/* control/netmap/dns.h: the tailnet's DNS settings as control keeps them and hands them to
 * every node (issue #20, MagicDNS).
 *
 *	{ "magic_dns": true,
 *	  "records": [ { "name": "db.corp.example", "addresses": ["10.0.0.5", "fd00::5"] } ],
 *	  "routes":  [ { "domain": "corp.example", "resolvers": ["10.0.0.53", "[fd00::53]:5353"] }
 *], "search":  [ "corp.example" ] }
 *
 * Every member is optional ("magic_dns" defaults to true: a tailnet that sets DNS at all
 * wants it).  One parser for the admin's file (PUT /api/v1/dns, meshctl dns-config set,
 * meshcontrol dns set), control's store and a node's netmap, so control never hands out
 * settings a node would refuse.  The admin is trusted, but a typo must not break name
 * resolution on every node at once, so the parser is strict: an unknown member, a name
 * that is not a DNS name, a record address or resolver that cannot be one (unspecified,
 * multicast, broadcast, loopback: another host's 127.0.0.1 is not ours), a resolver on the
 * tailnet resolver's own address (a loop), a route for the tailnet domain or a name under
 * it (those names are answered from the netmap), the same name or domain twice, and lists
 * longer than the bounds below are refused with one sentence that quotes the bad part.
 * Names are kept canonical: lowercase, no trailing dot. */
#ifndef MESH_CONTROL_NETMAP_DNS_H
#define MESH_CONTROL_NETMAP_DNS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/addr.h"

enum {
	CTL_DNS_NAME_TEXT = 254,     /* a DNS name of at most 253 characters, and its NUL */
	CTL_DNS_RECORDS_MAX = 256,   /* extra records */
	CTL_DNS_ADDRS_MAX = 8,	     /* addresses of one record */
	CTL_DNS_ROUTES_MAX = 32,     /* split DNS routes */
	CTL_DNS_RESOLVERS_MAX = 4,   /* resolvers of one route */
	CTL_DNS_SEARCH_MAX = 5,	     /* search domains (resolv.conf: 6 with the tailnet's) */
	CTL_DNS_TEXT_MAX = 256 << 10 /* the settings as JSON text */
};

/* The tailnet resolver's address, which nodes answer on and point their hosts at. */
#define CTL_DNS_RESOLVER_V4 "100.100.100.100"

struct ctl_dns_record {
	char name[CTL_DNS_NAME_TEXT]; /* a full name, answered as is */
	struct addr_ip addrs[CTL_DNS_ADDRS_MAX];
	size_t n_addrs;
};

struct ctl_dns_route {
	char domain[CTL_DNS_NAME_TEXT]; /* names under it (and it) go to its resolvers */
	struct addr_endpoint resolvers[CTL_DNS_RESOLVERS_MAX]; /* port 53 unless given */
	size_t n_resolvers;
};

struct ctl_dns {
	bool magic_dns; /* nodes answer on CTL_DNS_RESOLVER_V4 and point their hosts at it */
	struct ctl_dns_record *records;
	size_t n_records;
	struct ctl_dns_route *routes;
	size_t n_routes;
	char search[CTL_DNS_SEARCH_MAX][CTL_DNS_NAME_TEXT];
	size_t n_search;
};

/* Parse the settings' JSON text (at most CTL_DNS_TEXT_MAX bytes).  domain is the tailnet's
 * (routes for it or under it are refused; NULL skips that check).  0, or -EINVAL with one
 * sentence in err, or -ENOMEM.  The result is freed with ctl_dns_free(). */
int ctl_dns_parse(const char *json, size_t len, const char *domain, struct ctl_dns **out, char *err,
		  size_t errlen);

/* The canonical JSON text (every member written, names canonical, resolvers as
 * "ADDR:PORT"), which parses back to the same settings; malloc'd, NULL when memory is
 * short.  pretty: indented, one member a line, for people. */
char *ctl_dns_format(const struct ctl_dns *d, bool pretty);

int ctl_dns_dup(const struct ctl_dns *src, struct ctl_dns **out);
void ctl_dns_free(struct ctl_dns *d);

#endif
