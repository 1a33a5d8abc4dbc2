/* The dns/ tests' fixture: a view of a small tailnet (hosts, records, split routes, search
 * domains), a resolver over it with predictable ids, and queries built with ldns. */
#include <stdio.h>
#include <stdlib.h>

#include <ldns/ldns.h>

#include "dns/dns.h"
#include "fixture.h"

uint16_t next_id = 0x100;
int repeat_id; /* draws left that return the last id again */

/* Ids 0x101, 0x102, ...: each test knows which its query got. */
void fake_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	if (repeat_id > 0)
		repeat_id--;
	else
		next_id++;
	buf[0] = (uint8_t)(next_id >> 8);
	buf[1] = (uint8_t)next_id;
	for (size_t i = 2; i < len; i++)
		buf[i] = 0;
}

struct addr_ip ip(const char *s)
{
	struct addr_ip a;
	const char *why;

	if (!addr_ip_parse(s, &a, &why)) {
		fprintf(stderr, "bad test address %s\n", s);
		abort();
	}
	return a;
}

struct addr_endpoint ep(const char *s)
{
	struct addr_endpoint e;
	const char *why;

	if (!addr_endpoint_parse(s, &e, &why)) {
		fprintf(stderr, "bad test endpoint %s\n", s);
		abort();
	}
	return e;
}

static struct addr_ip a_server[2], a_laptop[1], a_big[DNS_VIEW_MAX_ADDRS], a_db[1];
static struct addr_endpoint up_corp[1], up_acorp[1], up_host[1];
static struct addr_prefix prefixes[2];
static struct dns_host hosts[3], records[1];
static struct dns_route routes[2];
static const char *search[] = { "tail.example", "corp.example" };

struct dns_view_config base_config(void)
{
	const char *why;

	a_server[0] = ip("100.64.0.1");
	a_server[1] = ip("fd7a:115c:a1e0::1");
	a_laptop[0] = ip("100.64.0.2");
	for (int i = 0; i < DNS_VIEW_MAX_ADDRS; i++) {
		char t[64];

		snprintf(t, sizeof(t), "fd7a:115c:a1e0::1:%x", i + 1);
		a_big[i] = ip(t);
	}
	a_db[0] = ip("10.1.2.3");
	up_corp[0] = ep("10.0.0.53:53");
	up_acorp[0] = ep("10.0.0.54:53");
	up_host[0] = ep("192.0.2.53:53");
	addr_net_parse("100.64.0.0/10", &prefixes[0], &why);
	addr_net_parse("fd7a:115c:a1e0::/48", &prefixes[1], &why);
	hosts[0] = (struct dns_host){ "my-server", a_server, 2 };
	hosts[1] = (struct dns_host){ "Laptop", a_laptop, 1 };
	hosts[2] = (struct dns_host){ "big", a_big, DNS_VIEW_MAX_ADDRS };
	records[0] = (struct dns_host){ "db.corp.internal.", a_db, 1 };
	routes[0] = (struct dns_route){ "corp.example", up_corp, 1 };
	routes[1] = (struct dns_route){ "a.corp.example.", up_acorp, 1 };
	return (struct dns_view_config){
		.domain = "Tail.Example.",
		.hosts = hosts,
		.n_hosts = 3,
		.records = records,
		.n_records = 1,
		.routes = routes,
		.n_routes = 2,
		.search = search,
		.n_search = 2,
		.host_resolvers = up_host,
		.n_host_resolvers = 1,
		.prefixes = prefixes,
		.n_prefixes = 2,
		.ttl = 300,
	};
}

struct dns_resolver *resolver(unsigned max, unsigned per_client)
{
	struct dns_view_config vc = base_config();
	struct dns_resolver_config rc = { max, per_client, 5000, fake_random, NULL };
	struct dns_resolver *r;
	struct dns_view *v;
	char err[DNS_ERR_MAX] = "";

	if (dns_view_new(&vc, &v, err, sizeof(err)) < 0 || dns_resolver_new(&rc, &r) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		abort();
	}
	dns_resolver_set_view(r, v);
	return r;
}

/* A query's wire bytes: name, type, class, id; EDNS with udp size edns (0: no OPT) and
 * version. */
uint8_t *query(const char *name, ldns_rr_type type, ldns_rr_class cls, uint16_t id, unsigned edns,
	       uint8_t version, size_t *len)
{
	ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str(name), type, cls, LDNS_RD);
	uint8_t *w = NULL;

	ldns_pkt_set_id(p, id);
	if (edns) {
		ldns_pkt_set_edns_udp_size(p, (uint16_t)edns);
		ldns_pkt_set_edns_version(p, version);
	}
	if (ldns_pkt2wire(&w, p, len) != LDNS_STATUS_OK)
		abort();
	ldns_pkt_free(p);
	return w;
}

enum { FWD = -1, DROP = -2 };
