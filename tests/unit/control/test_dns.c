/* The tailnet's DNS settings (control/netmap/dns.c): a numbered table of documents
 * accepted (with their canonical text, which parses back to the same text) and refused
 * (with the exact sentence); the netmap's "dns" member in a full netmap and in deltas (set,
 * changed, withdrawn with null, refused without changing the netmap). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control/netmap/dns.h"
#include "control/netmap/netmap.h"

static const char *const domain = "tail.example";

static void good_table(void)
{
	static const struct {
		const char *in, *canonical;
	} good[] = {
		/* 1 nothing: MagicDNS on, no records, routes or search */
		{ "{}", "{\"magic_dns\":true,\"records\":[],\"routes\":[],\"search\":[]}" },
		/* 2 off */
		{ "{\"magic_dns\":false}",
		  "{\"magic_dns\":false,\"records\":[],\"routes\":[],\"search\":[]}" },
		/* 3 names lowercased, trailing dot dropped, mapped IPv4 unmapped */
		{ "{\"records\":[{\"name\":\"DB.Corp.Example.\",\"addresses\":[\"10.0.0.5\","
		  "\"::ffff:10.0.0.6\",\"FD00::5\"]}]}",
		  "{\"magic_dns\":true,\"records\":[{\"name\":\"db.corp.example\",\"addresses\":"
		  "[\"10.0.0.5\",\"10.0.0.6\",\"fd00::5\"]}],\"routes\":[],\"search\":[]}" },
		/* 4 resolvers: port 53 unless given */
		{ "{\"routes\":[{\"domain\":\"corp.example\",\"resolvers\":[\"10.0.0.53\","
		  "\"10.0.0.54:5353\",\"[fd00::53]:53\",\"fd00::54\"]}]}",
		  "{\"magic_dns\":true,\"records\":[],\"routes\":[{\"domain\":\"corp.example\","
		  "\"resolvers\":[\"10.0.0.53:53\",\"10.0.0.54:5353\",\"[fd00::53]:53\","
		  "\"[fd00::54]:53\"]}],\"search\":[]}" },
		/* 5 search; a route for a name that merely ends like the tailnet's domain */
		{ "{\"search\":[\"corp.example\",\"Lab.Example\"],\"routes\":[{\"domain\":"
		  "\"mytail.example\",\"resolvers\":[\"192.0.2.1\"]}],\"magic_dns\":true}",
		  "{\"magic_dns\":true,\"records\":[],\"routes\":[{\"domain\":\"mytail.example\","
		  "\"resolvers\":[\"192.0.2.1:53\"]}],\"search\":[\"corp.example\",\"lab.example\"]"
		  "}" },
		/* 6 null lists are none */
		{ "{\"records\":null,\"routes\":null,\"search\":null}",
		  "{\"magic_dns\":true,\"records\":[],\"routes\":[],\"search\":[]}" },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct ctl_dns *d, *back;
		char err[512] = "";
		int rc =
		    ctl_dns_parse(good[i].in, strlen(good[i].in), domain, &d, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "good %zu: refused: %s\n", i + 1, err);
			CHECK(false);
			continue;
		}
		char *text = ctl_dns_format(d, false);
		CHECK_STR(text, good[i].canonical);
		CHECK_INT(ctl_dns_parse(text, strlen(text), domain, &back, err, sizeof(err)), 0);
		char *again = ctl_dns_format(back, false);
		CHECK_STR(again, text);
		free(again);
		ctl_dns_free(back);
		CHECK_INT(ctl_dns_dup(d, &back), 0);
		again = ctl_dns_format(back, true);
		CHECK(again && strchr(again, '\n'));
		free(again);
		ctl_dns_free(back);
		free(text);
		ctl_dns_free(d);
	}
}

static void bad_table(void)
{
	static const struct {
		const char *in, *err;
	} bad[] = {
		/* 1 */ { "[]", "expected an object" },
		/* 2 */
		{ "{\"magic\":true}",
		  "unknown member 'magic' (magic_dns, records, routes, search)" },
		/* 3 */ { "{\"magic_dns\":1}", "magic_dns: expected true or false" },
		/* 4 */
		{ "{\"records\":[{\"name\":\"db..x\",\"addresses\":[\"10.0.0.1\"]}]}",
		  "records[0].name: 'db..x' is not a DNS name: an empty label" },
		/* 5 */
		{ "{\"records\":[{\"name\":\"db x\",\"addresses\":[\"10.0.0.1\"]}]}",
		  "records[0].name: 'db x' is not a DNS name: a character other than a letter, "
		  "digit, '-' or '_'" },
		/* 6 */
		{ "{\"records\":[{\"name\":\"db\",\"addresses\":[]}]}",
		  "records[0].addresses: expected 1 to 8 IP addresses" },
		/* 7 */
		{ "{\"records\":[{\"name\":\"db\",\"addresses\":[\"10.0.0.256\"]}]}",
		  "records[0].addresses[0]: '10.0.0.256' is not an IP address" },
		/* 8 */
		{ "{\"records\":[{\"name\":\"db\",\"addresses\":[\"127.0.0.1\"]}]}",
		  "records[0].addresses[0]: '127.0.0.1' is a loopback address (each node's own)" },
		/* 9 */
		{ "{\"records\":[{\"name\":\"db\",\"addresses\":[\"0.0.0.0\"]}]}",
		  "records[0].addresses[0]: '0.0.0.0' is the unspecified address" },
		/* 10 */
		{ "{\"records\":[{\"name\":\"db\",\"addresses\":[\"ff02::1\"]}]}",
		  "records[0].addresses[0]: 'ff02::1' is a multicast address" },
		/* 11 */
		{ "{\"records\":[{\"name\":\"db\",\"addresses\":[\"255.255.255.255\"]}]}",
		  "records[0].addresses[0]: '255.255.255.255' is the broadcast address" },
		/* 12 */
		{ "{\"records\":[{\"name\":\"db\",\"addresses\":[\"10.0.0.1\",\"10.0.0.1\"]}]}",
		  "records[0].addresses[1]: '10.0.0.1' is there twice" },
		/* 13 */
		{ "{\"records\":[{\"name\":\"db\",\"addresses\":[\"10.0.0.1\"]},{\"name\":\"DB\","
		  "\"addresses\":[\"10.0.0.2\"]}]}",
		  "records[1].name: 'db' is records[0]'s too (give one record all its addresses)" },
		/* 14 */
		{ "{\"records\":[{\"name\":\"db\",\"address\":[\"10.0.0.1\"]}]}",
		  "records[0]: unknown member 'address' (name, addresses)" },
		/* 15 the tailnet's own domain */
		{ "{\"routes\":[{\"domain\":\"Tail.Example.\",\"resolvers\":[\"10.0.0.53\"]}]}",
		  "routes[0].domain: 'tail.example' is the tailnet's domain 'tail.example' or "
		  "under "
		  "it; those names are answered from the netmap" },
		/* 16 ... and a name under it */
		{ "{\"routes\":[{\"domain\":\"x.tail.example\",\"resolvers\":[\"10.0.0.53\"]}]}",
		  "routes[0].domain: 'x.tail.example' is the tailnet's domain 'tail.example' or "
		  "under it; those names are answered from the netmap" },
		/* 17 a loop */
		{ "{\"routes\":[{\"domain\":\"corp\",\"resolvers\":[\"100.100.100.100\"]}]}",
		  "routes[0].resolvers[0]: '100.100.100.100' is the tailnet resolver's own "
		  "address" },
		/* 18 */
		{ "{\"routes\":[{\"domain\":\"corp\",\"resolvers\":[\"10.0.0.53:0\"]}]}",
		  "routes[0].resolvers[0]: '10.0.0.53:0' is not ADDR or ADDR:PORT: port must be 1 "
		  "to 65535" },
		/* 19 */
		{ "{\"routes\":[{\"domain\":\"corp\",\"resolvers\":[\"[fe80::1%2]:53\"]}]}",
		  "routes[0].resolvers[0]: '[fe80::1%2]:53' is not ADDR or ADDR:PORT: a scope id "
		  "means something only on one host" },
		/* 20 */
		{ "{\"routes\":[{\"domain\":\"corp\",\"resolvers\":[]}]}",
		  "routes[0].resolvers: expected 1 to 4 addresses (ADDR or ADDR:PORT)" },
		/* 21 */
		{ "{\"routes\":[{\"domain\":\"corp\",\"resolvers\":[\"10.0.0.53\"]},{\"domain\":"
		  "\"CORP\",\"resolvers\":[\"10.0.0.54\"]}]}",
		  "routes[1].domain: 'corp' is routes[0]'s too" },
		/* 22 */
		{ "{\"routes\":[{\"domain\":\"corp\",\"resolvers\":[\"::1\"]}]}",
		  "routes[0].resolvers[0]: '::1' is a loopback address (each node's own)" },
		/* 23 */
		{ "{\"search\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]}",
		  "search: at most 5 entries, got 6" },
		/* 24 */ { "{\"search\":[\"a\",\"A.\"]}", "search[1]: 'a' is there twice" },
		/* 25 */ { "{\"search\":\"corp\"}", "search: expected an array" },
		/* 26 */
		{ "{\"search\":[\"\"]}", "search[0]: '' is not a DNS name: an empty name" },
		/* 27 */
		{ "{\"search\":[\"a\\u0000b\"]}",
		  "DNS settings JSON, line 1 column 21: \\u0000 is not allowed without "
		  "JSON_ALLOW_NUL near '\"a\\u0000b\"'" },
		/* 28 */
		{ "{\"magic_dns\":true,\"magic_dns\":false}",
		  "DNS settings JSON, line 1 column 29: duplicate object key near "
		  "'\"magic_dns\"'" },
		/* 29 */ { "{\"records\":[7]}", "records[0]: expected an object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ctl_dns *d = (struct ctl_dns *)1;
		char err[512] = "";
		int rc = ctl_dns_parse(bad[i].in, strlen(bad[i].in), domain, &d, err, sizeof(err));
		if (rc != -EINVAL)
			fprintf(stderr, "bad %zu: accepted\n", i + 1);
		CHECK_INT(rc, -EINVAL);
		CHECK(d == NULL);
		if (strcmp(err, bad[i].err) != 0)
			fprintf(stderr, "bad %zu\n", i + 1);
		CHECK_STR(err, bad[i].err);
	}
	/* bounds: 257 records, a document over 256 KiB */
	size_t cap = 300 << 10;
	char *big = malloc(cap), err[512];
	struct ctl_dns *d;
	size_t n = (size_t)snprintf(big, cap, "{\"records\":[");
	for (int i = 0; i <= CTL_DNS_RECORDS_MAX; i++)
		n += (size_t)snprintf(big + n, cap - n,
				      "%s{\"name\":\"h%d\",\"addresses\":[\"10.0.%d.%d\"]}",
				      i ? "," : "", i, i / 250, i % 250 + 1);
	n += (size_t)snprintf(big + n, cap - n, "]}");
	CHECK_INT(ctl_dns_parse(big, n, domain, &d, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "records: at most 256 entries, got 257");
	memset(big, ' ', cap);
	CHECK_INT(ctl_dns_parse(big, cap, domain, &d, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "DNS settings: 307200 bytes, at most 262144");
	free(big);
}

static const char full[] =
    "{\"type\":\"full\",\"version\":1,\"netmap\":{\"version\":1,\"domain\":\"tail.example\","
    "\"self\":{\"id\":1,\"node_key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"},"
    "\"peers\":[]%s}}";

static struct ctl_netmap *decoded(const char *json)
{
	struct ctl_netmap *nm = NULL;
	char err[512] = "";
	if (ctl_netmap_parse(json, strlen(json), &nm, err, sizeof(err)) != 0)
		fprintf(stderr, "netmap refused: %s\n", err);
	return nm;
}

static void in_netmap(void)
{
	char msg[1024], err[512] = "", *json = NULL;
	/* a full netmap without dns: none */
	snprintf(msg, sizeof(msg), full, "");
	CHECK_INT(ctl_netmap_apply(&json, msg, strlen(msg), err, sizeof(err)), 0);
	struct ctl_netmap *nm = decoded(json);
	CHECK(nm && nm->dns == NULL);
	ctl_netmap_free(nm);
	/* a delta sets it */
	const char *d1 =
	    "{\"type\":\"delta\",\"version\":2,\"base\":1,\"dns\":{\"search\":[\"corp\"],"
	    "\"routes\":[{\"domain\":\"corp\",\"resolvers\":[\"10.0.0.53\"]}]}}";
	CHECK_INT(ctl_netmap_apply(&json, d1, strlen(d1), err, sizeof(err)), 0);
	nm = decoded(json);
	CHECK(nm && nm->dns && nm->dns->magic_dns);
	if (nm && nm->dns) {
		CHECK_INT(nm->dns->n_search, 1);
		CHECK_STR(nm->dns->search[0], "corp");
		CHECK_INT(nm->dns->n_routes, 1);
		CHECK_INT(nm->dns->routes[0].resolvers[0].port, 53);
	}
	/* dup keeps it */
	struct ctl_netmap *copy = NULL;
	CHECK_INT(nm ? ctl_netmap_dup(nm, &copy) : -1, 0);
	CHECK(copy && copy->dns && strcmp(copy->dns->search[0], "corp") == 0);
	ctl_netmap_free(copy);
	ctl_netmap_free(nm);
	/* a bad one is refused and changes nothing */
	const char *d2 = "{\"type\":\"delta\",\"version\":3,\"base\":2,\"dns\":{\"routes\":[{"
			 "\"domain\":\"a.tail.example\",\"resolvers\":[\"10.0.0.53\"]}]}}";
	char *before = strdup(json);
	CHECK_INT(ctl_netmap_apply(&json, d2, strlen(d2), err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "routes[0].domain: 'a.tail.example' is the tailnet's domain "
		       "'tail.example' or under it; those names are answered from the netmap");
	CHECK_STR(json, before);
	free(before);
	/* null withdraws it */
	const char *d3 = "{\"type\":\"delta\",\"version\":3,\"base\":2,\"dns\":null}";
	CHECK_INT(ctl_netmap_apply(&json, d3, strlen(d3), err, sizeof(err)), 0);
	nm = decoded(json);
	CHECK(nm && nm->dns == NULL && nm->version == 3);
	ctl_netmap_free(nm);
	free(json);
	/* a full netmap with a bad one is refused with the reason */
	snprintf(msg, sizeof(msg), full, ",\"dns\":{\"search\":[\"a b\"]}");
	json = NULL;
	CHECK_INT(ctl_netmap_apply(&json, msg, strlen(msg), err, sizeof(err)), -EINVAL);
	CHECK(json == NULL);
}

int main(void)
{
	good_table();
	bad_table();
	in_netmap();
	return check_finish();
}
