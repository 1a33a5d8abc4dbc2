/* meshd and systemd-resolved (cmd/daemon/resolved.c): the TUN link's settings worked out
 * from a netmap, without I/O (numbered cases: the resolver's addresses, search domains
 * searched, split routes and extra records routing-only, a name given twice kept once and
 * searched, no settings or no address refused), and the reason given when there is no
 * system bus to find resolved on.  Lab dns-resolved drives the calls against a real
 * systemd-resolved. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cmd/daemon/resolved.h"

static struct ctl_dns dns;
static struct ctl_netmap nm;

/* a netmap of a node at 100.64.0.7 and fd7a:1:2::7 in tail.example */
static void reset(void)
{
	memset(&dns, 0, sizeof(dns));
	memset(&nm, 0, sizeof(nm));
	dns.magic_dns = true;
	nm.domain = "tail.example";
	nm.dns = &dns;
	CHECK(addr_ip_parse("100.64.0.7", &nm.self.addrs[0].ip, NULL));
	CHECK(addr_ip_parse("fd7a:1:2::7", &nm.self.addrs[1].ip, NULL));
	nm.self.addrs[0].bits = 32;
	nm.self.addrs[1].bits = 128;
	nm.self.n_addrs = 2;
}

static void route(const char *domain)
{
	snprintf(dns.routes[dns.n_routes++].domain, CTL_DNS_NAME_TEXT, "%s", domain);
}

static void fill(void)
{
	static struct ctl_dns_route routes[4];
	static struct ctl_dns_record records[2];
	static const struct {
		int setup; /* what the case adds to the netmap */
		const char *want;
	} cases[] = {
		/* 1 the domain alone */
		{ 1, "tun0: DNS 100.100.100.100 fd7a:1:2:53::53, domains tail.example, default "
		     "route no" },
		/* 2 search domains searched, routes and records routing-only, in that order */
		{ 2, "tun0: DNS 100.100.100.100 fd7a:1:2:53::53, domains tail.example corp.example "
		     "~lab.example ~db.other.example, default route no" },
		/* 3 a route that is also a search domain: once, searched */
		{ 3,
		  "tun0: DNS 100.100.100.100 fd7a:1:2:53::53, domains tail.example corp.example, "
		  "default route no" },
		/* 4 an IPv4-only node: one server */
		{ 4, "tun0: DNS 100.100.100.100, domains tail.example, default route no" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct meshd_resolved_link l;
		char text[512];
		reset();
		dns.routes = routes;
		dns.records = records;
		if (cases[i].setup == 2 || cases[i].setup == 3) {
			snprintf(dns.search[0], CTL_DNS_NAME_TEXT, "corp.example");
			dns.n_search = 1;
			route(cases[i].setup == 2 ? "lab.example" : "corp.example");
		}
		if (cases[i].setup == 2) {
			snprintf(records[0].name, CTL_DNS_NAME_TEXT, "db.other.example");
			dns.n_records = 1;
		}
		if (cases[i].setup == 4)
			nm.self.n_addrs = 1;
		CHECK_INT(meshd_resolved_link_fill(&nm, 7, &l), 0);
		CHECK_INT(l.ifindex, 7);
		CHECK_INT(l.default_route, false);
		meshd_resolved_link_text(&l, "tun0", text, sizeof(text));
		if (strcmp(text, cases[i].want))
			fprintf(stderr, "case %zu\n", i + 1);
		CHECK_STR(text, cases[i].want);
	}
	/* 5 route_only as the bus gets it */
	struct meshd_resolved_link l;
	reset();
	dns.routes = routes;
	route("lab.example");
	CHECK_INT(meshd_resolved_link_fill(&nm, 3, &l), 0);
	CHECK_INT(l.n_domains, 2);
	CHECK_INT(l.domains[0].route_only, false);
	CHECK_INT(l.domains[1].route_only, true);
	/* 6 no settings, 7 no address: nothing to set */
	reset();
	nm.dns = NULL;
	CHECK_INT(meshd_resolved_link_fill(&nm, 3, &l), -EINVAL);
	reset();
	nm.self.n_addrs = 0;
	CHECK_INT(meshd_resolved_link_fill(&nm, 3, &l), -EINVAL);
	/* 8 the text cut short like snprintf */
	char small[8];
	reset();
	CHECK_INT(meshd_resolved_link_fill(&nm, 3, &l), 0);
	CHECK_INT(meshd_resolved_link_text(&l, "tun0", small, sizeof(small)), 7);
	CHECK_STR(small, "tun0: D");
}

/* No system bus: the reason, and no handle. */
static void no_bus(void)
{
	struct meshd_resolved *r = (void *)1;
	char why[MESHD_RESOLVED_ERR_MAX];
	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/mesh-test-bus", 1);
	int rc = meshd_resolved_open(&r, why, sizeof(why));
	CHECK_INT(rc, -ENOENT); /* the socket's connect(); not -ESRCH: resolved not on a bus */
	CHECK(r == NULL);
	CHECK_STR(why, "no system bus (No such file or directory)");
}

int main(void)
{
	fill();
	no_bus();
	return check_finish();
}
