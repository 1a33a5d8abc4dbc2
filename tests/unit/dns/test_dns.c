/* dns/: the view and the answers from it, table-driven with exact outcomes (kind, rcode,
 * answer and authority counts, TTL, TC, the first answer's data, where a query is forwarded)
 * on queries built with ldns (fixture.c); bad input with the exact reason (a short header,
 * a response, two questions, a compression loop, a label over 63, a name over 255, a cut
 * question, garbage, an oversized query); views refused with their exact sentence; and
 * 10 000 names answered alike by the view and a naive linear scan.  Forwarding:
 * test_dns_forward.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include <ldns/ldns.h>

#include "check.h"
#include "dns/dns.h"
#include "fixture.h"

enum { FWD = -1, DROP = -2 };

struct qcase {
	const char *name;
	ldns_rr_type type;
	ldns_rr_class cls;
	unsigned edns;
	int rcode; /* or FWD/DROP */
	int an, ns;
	bool tc;
	const char *first;  /* the first answer's data as ldns prints it; the upstream for FWD */
	const char *reason; /* res.reason, NULL when answered */
};

static const struct qcase cases[] = {
	/* 1 */ { "my-server", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, 0, 1, 0, false, "100.64.0.1",
		  NULL },
	/* 2 */
	{ "my-server.tail.example.", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, 0, 0, 1, 0, false,
	  "fd7a:115c:a1e0::1", NULL },
	/* 3 */
	{ "MY-Server.Tail.EXAMPLE", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, 0, 1, 0, false,
	  "100.64.0.1", NULL },
	/* 4 */ { "laptop", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, 0, 0, 0, 1, false, NULL, NULL },
	/* 5 */
	{ "laptop.tail.example", LDNS_RR_TYPE_MX, LDNS_RR_CLASS_IN, 0, 0, 0, 1, false, NULL, NULL },
	/* 6 */
	{ "nobody.tail.example", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, LDNS_RCODE_NXDOMAIN, 0, 1,
	  false, NULL, NULL },
	/* 7 */
	{ "tail.example", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0, 0, 1, 0, false, "ns.tail.example.",
	  NULL },
	/* 8 */ { "tail.example", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, 0, 0, 1, false, NULL, NULL },
	/* 9 */
	{ "1.0.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_IN, 0, 0, 1, 0, false,
	  "my-server.tail.example.", NULL },
	/* 10 */
	{ "9.9.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_IN, 0, LDNS_RCODE_NXDOMAIN, 0,
	  0, false, NULL, NULL },
	/* 11 */
	{ "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa",
	  LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_IN, 0, 0, 1, 0, false, "my-server.tail.example.", NULL },
	/* 12 */
	{ "3.2.1.10.in-addr.arpa", LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_IN, 0, 0, 1, 0, false,
	  "db.corp.internal.", NULL },
	/* 13 */
	{ "db.corp.internal", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, 0, 1, 0, false, "10.1.2.3",
	  NULL },
	/* 14 */
	{ "x.corp.example", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, FWD, 0, 0, false, "10.0.0.53:53",
	  NULL },
	/* 15 */
	{ "b.A.corp.example", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, FWD, 0, 0, false, "10.0.0.54:53",
	  NULL },
	/* 16 */
	{ "xa.corp.example", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, FWD, 0, 0, false, "10.0.0.53:53",
	  NULL },
	/* 17 */
	{ "example.com", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, FWD, 0, 0, false, "192.0.2.53:53",
	  NULL },
	/* 18 */
	{ "8.8.8.8.in-addr.arpa", LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_IN, 0, FWD, 0, 0, false,
	  "192.0.2.53:53", NULL },
	/* 19 */
	{ "01.0.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_IN, 0, FWD, 0, 0, false,
	  "192.0.2.53:53", NULL },
	/* 20 */
	{ "my-server", LDNS_RR_TYPE_ANY, LDNS_RR_CLASS_IN, 0, LDNS_RCODE_REFUSED, 0, 0, false, NULL,
	  "ANY (RFC 8482)" },
	/* 21 */
	{ "my-server", LDNS_RR_TYPE_A, LDNS_RR_CLASS_CH, 0, LDNS_RCODE_REFUSED, 0, 0, false, NULL,
	  "a class other than IN" },
	/* 22 */
	{ "tail.example", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN, 0, LDNS_RCODE_REFUSED, 0, 0, false,
	  NULL, "a zone transfer" },
	/* 23: 32 AAAA do not fit 512 bytes: TC, so the client asks over TCP */
	/* 23 */ { "big", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, 0, 0, 0, 0, true, NULL, NULL },
	/* 24 */
	{ "big", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, 4096, 0, 32, 0, false, "fd7a:115c:a1e0::1:1",
	  NULL },
	/* 25: a UDP size under 512 is taken as 512 (RFC 6891 6.2.5) */
	/* 25 */ { "big", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, 100, 0, 0, 0, true, NULL, NULL },
	/* 26 */ { "big", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, 0, 0, 1, false, NULL, NULL },
};

static void check_reply(int n, const struct qcase *c, const struct dns_result *res, uint16_t id)
{
	ldns_pkt *a = NULL;

	CHECK_INT(res->kind, DNS_REPLY);
	if (res->kind != DNS_REPLY || ldns_wire2pkt(&a, res->msg, res->len) != LDNS_STATUS_OK) {
		fprintf(stderr, "case %d: no valid reply\n", n);
		check_failures++;
		return;
	}
	CHECK_INT(ldns_pkt_id(a), id);
	CHECK(ldns_pkt_qr(a));
	CHECK_INT(ldns_pkt_get_rcode(a), c->rcode);
	CHECK_INT(ldns_pkt_ancount(a), c->an);
	CHECK_INT(ldns_pkt_nscount(a), c->ns);
	CHECK_INT(ldns_pkt_tc(a), c->tc);
	CHECK_INT(ldns_pkt_qdcount(a), 1);
	CHECK_INT(ldns_pkt_edns(a), c->edns != 0);
	CHECK(res->len <= (c->edns ? 1232 : 512));
	if (c->an) {
		ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(a), 0);
		char *t = ldns_rdf2str(ldns_rr_rdf(rr, 0));

		CHECK_INT(ldns_rr_ttl(rr), 300);
		CHECK_STR(t, c->first);
		free(t);
	}
	if (c->ns)
		CHECK_INT(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_authority(a), 0)),
			  LDNS_RR_TYPE_SOA);
	if (c->rcode != LDNS_RCODE_REFUSED)
		CHECK_INT(ldns_pkt_aa(a), 1);
	ldns_pkt_free(a);
}

/* The reply to one query over t, parsed (an empty packet when there is none); the reason
 * checked against why. */
static ldns_pkt *ask(struct dns_resolver *r, const char *name, ldns_rr_type type, unsigned edns,
		     uint8_t version, enum dns_transport t, const char *why)
{
	struct addr_endpoint client = ep("100.64.0.9:5353");
	struct dns_result res;
	size_t len;
	uint8_t *q = query(name, type, LDNS_RR_CLASS_IN, 7, edns, version, &len);
	ldns_pkt *a = NULL;

	CHECK_INT(dns_resolver_query(r, &client, q, len, t, 0, &res), 0);
	CHECK_INT(res.tcp, t == DNS_TCP);
	CHECK(why ? res.reason && strcmp(res.reason, why) == 0 : !res.reason);
	if (res.kind != DNS_REPLY || ldns_wire2pkt(&a, res.msg, res.len) != LDNS_STATUS_OK) {
		check_failures++;
		a = ldns_pkt_new();
	}
	dns_result_clear(&res);
	free(q);
	return a;
}

static void test_cases(void)
{
	struct dns_resolver *r = resolver(0, 0);
	struct addr_endpoint client = ep("100.64.0.9:5353");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct qcase *c = &cases[i];
		struct dns_result res;
		size_t len;
		uint8_t *q =
		    query(c->name, c->type, c->cls, (uint16_t)(0x4000 + i), c->edns, 0, &len);

		fprintf(stderr, "case %zu: %s\n", i + 1, c->name);
		CHECK_INT(dns_resolver_query(r, &client, q, len, DNS_UDP, 0, &res), 0);
		if (c->rcode == FWD) {
			char t[ADDR_TEXT_MAX];

			CHECK_INT(res.kind, DNS_FORWARD);
			CHECK_STR(addr_endpoint_format(&res.peer, t), c->first);
			CHECK_INT(res.len, len);
			CHECK(res.len == len && memcmp(res.msg + 2, q + 2, len - 2) == 0);
		} else {
			check_reply((int)i + 1, c, &res, (uint16_t)(0x4000 + i));
			char t[ADDR_TEXT_MAX];

			CHECK_STR(addr_endpoint_format(&res.peer, t), "100.64.0.9:5353");
		}
		if (c->reason)
			CHECK_STR(res.reason, c->reason);
		dns_result_clear(&res);
		free(q);
	}
	/* over TCP the 32 AAAA go out whole */
	ldns_pkt *a = ask(r, "big", LDNS_RR_TYPE_AAAA, 0, 0, DNS_TCP, NULL);

	CHECK_INT(ldns_pkt_ancount(a), 32);
	CHECK_INT(ldns_pkt_tc(a), 0);
	ldns_pkt_free(a);
	/* EDNS version 1: BADVERS, the extended rcode 1 in the OPT over rcode 0 */
	a = ask(r, "my-server", LDNS_RR_TYPE_A, 1232, 1, DNS_UDP, "an EDNS version above 0");
	CHECK_INT(ldns_pkt_get_rcode(a), 0);
	CHECK_INT(ldns_pkt_edns_extended_rcode(a), 1);
	CHECK_INT(ldns_pkt_ancount(a), 0);
	ldns_pkt_free(a);
	dns_resolver_free(r);
}

struct bad {
	const char *what;
	const uint8_t *bytes;
	size_t len;
	int rcode; /* or DROP */
	const char *reason;
};

static const uint8_t hdr_short[] = { 0x12, 0x34, 0x01, 0x00, 0x00 };
static const uint8_t response[] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0,
				    0,	  0,	1,    'a',  0, 0, 1, 0, 1 };
static const uint8_t two_q[] = { 0x12, 0x34, 0x01, 0x00, 0, 2, 0, 0,   0, 0, 0, 0, 1,
				 'a',  0,    0,	   1,	 0, 1, 1, 'b', 0, 0, 1, 0, 1 };
static const uint8_t status_op[] = { 0x12, 0x34, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0, 0 };
/* the question's name is a pointer to itself */
static const uint8_t loop[] = { 0x12, 0x34, 0x01, 0x00, 0,    1, 0, 0, 0,
				0,    0,    0,	  0xc0, 0x0c, 0, 1, 0, 1 };
/* a label length of 64: the top bits 01, not a length */
static const uint8_t label64[] = { 0x12, 0x34, 0x01, 0x00, 0,	1, 0, 0, 0, 0, 0,
				   0,	 0x40, 'a',  'b',  'c', 0, 0, 1, 0, 1 };
static const uint8_t cut[] = { 0x12, 0x34, 0x01, 0x00, 0,   1,	 0, 0, 0, 0,
			       0,    0,	   3,	 'a',  'b', 'c', 0, 0, 1 };
static const uint8_t garbage[] = { 0x12, 0x34, 0x01, 0x00, 0,	 1,    0,    0,	  0,
				   0,	 0,    0,    0xff, 0xfe, 0x80, 0x01, 0x02 };

static void test_bad(void)
{
	static uint8_t long_name[12 + 5 * 64 + 1 + 4], big[5000];
	struct dns_resolver *r = resolver(0, 0);
	struct addr_endpoint client = ep("127.0.0.1:40000");
	size_t o = 12;

	memcpy(long_name, two_q, 12);
	long_name[5] = 1;
	for (int l = 0; l < 5; l++) {
		long_name[o++] = 63;
		memset(long_name + o, 'x', 63);
		o += 63;
	}
	long_name[o++] = 0;
	long_name[o++] = 0, long_name[o++] = 1, long_name[o++] = 0, long_name[o++] = 1;
	memcpy(big, loop, sizeof(loop));

	const struct bad bads[] = {
		/* 1 */ { "short", hdr_short, sizeof(hdr_short), DROP,
			  "shorter than a DNS header (12 bytes)" },
		/* 2 */ { "response", response, sizeof(response), DROP, "a response, not a query" },
		/* 3 */
		{ "two questions", two_q, sizeof(two_q), LDNS_RCODE_FORMERR,
		  "not exactly one question" },
		/* 4 */
		{ "status opcode", status_op, sizeof(status_op), LDNS_RCODE_NOTIMPL,
		  "an opcode other than QUERY" },
		/* 5 */
		{ "pointer loop", loop, sizeof(loop), LDNS_RCODE_FORMERR,
		  "a compression pointer that loops or points ahead" },
		/* 6 */
		{ "label 64", label64, sizeof(label64), LDNS_RCODE_FORMERR,
		  "a label over 63 bytes" },
		/* 7 */ { "name 320", long_name, o, LDNS_RCODE_FORMERR, "a name over 255 bytes" },
		/* 8 */
		{ "cut question", cut, sizeof(cut), LDNS_RCODE_FORMERR,
		  "the message ends inside a record" },
		/* 9 */
		{ "garbage", garbage, sizeof(garbage), LDNS_RCODE_FORMERR,
		  "a compression pointer that loops or points ahead" },
		/* 10 */ { "5000 bytes", big, sizeof(big), DROP, "a query over 4096 bytes" },
	};
	uint64_t dropped = 0, formerr = 0, refused = 0;

	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct dns_result res;
		ldns_pkt *a = NULL;

		fprintf(stderr, "bad %zu: %s\n", i + 1, b->what);
		CHECK_INT(dns_resolver_query(r, &client, b->bytes, b->len, DNS_UDP, 0, &res), 0);
		CHECK_STR(res.reason, b->reason);
		if (b->rcode == DROP) {
			CHECK_INT(res.kind, DNS_DROP);
			CHECK(res.msg == NULL);
			dropped++;
		} else {
			CHECK_INT(res.kind, DNS_REPLY);
			CHECK_INT(ldns_wire2pkt(&a, res.msg, res.len), LDNS_STATUS_OK);
			CHECK_INT(ldns_pkt_get_rcode(a), b->rcode);
			CHECK_INT(ldns_pkt_id(a), 0x1234);
			CHECK_INT(ldns_pkt_ancount(a), 0);
			ldns_pkt_free(a);
			if (b->rcode == LDNS_RCODE_FORMERR)
				formerr++;
			else
				refused++;
		}
		dns_result_clear(&res);
	}
	CHECK_INT(dns_resolver_counters(r)->dropped, dropped);
	CHECK_INT(dns_resolver_counters(r)->formerr, formerr);
	CHECK_INT(dns_resolver_counters(r)->refused, refused);
	CHECK_INT(dns_resolver_counters(r)->answered, 0);
	dns_resolver_free(r);
}

static void test_view_errors(void)
{
	static struct addr_ip one[1];
	static const char l64[] =
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	struct {
		const char *domain, *host, *record;
		size_t n;
		const char *err;
	} t[] = {
		/* 1 */ { "bad..domain", "a", NULL, 1, "dns domain 'bad..domain': an empty label" },
		/* 2 */
		{ "tail.example", "a.b", NULL, 1, "dns name 'a.b': a peer's name is one label" },
		/* 3 */
		{ "tail.example", l64, NULL, 1,
		  "dns name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': a "
		  "label over 63 bytes" },
		/* 4 */
		{ "tail.example", "a b", NULL, 1,
		  "dns name 'a b': a character other than a letter, digit, '-' or '_'" },
		/* 5 */ { "tail.example", "a", NULL, 0, "dns name 'a': 0 addresses (1 to 32)" },
		/* 6 */
		{ "tail.example", "a", "A.tail.example.", 1,
		  "dns name 'a.tail.example' is given twice" },
		/* 7 */ { "", "a", NULL, 1, "dns domain '': an empty name" },
		/* 8 */ { "tail.example", ".", NULL, 1, "dns name '.': an empty name" },
	};

	one[0] = ip("100.64.0.1");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct dns_host h = { t[i].host, one, t[i].n }, rec = { t[i].record, one, 1 };
		struct dns_view_config vc = { .domain = t[i].domain,
					      .hosts = &h,
					      .n_hosts = 1,
					      .records = &rec,
					      .n_records = t[i].record ? 1 : 0 };
		struct dns_view *v = (struct dns_view *)1;
		char err[DNS_ERR_MAX] = "";

		fprintf(stderr, "view %zu\n", i + 1);
		CHECK_INT(dns_view_new(&vc, &v, err, sizeof(err)), -EINVAL);
		CHECK(v == NULL);
		CHECK_STR(err, t[i].err);
	}
	/* a route without resolvers, and a name of 254 bytes */
	{
		struct dns_route rt = { "corp.example", NULL, 0 };
		struct dns_view_config vc = { .domain = "t", .routes = &rt, .n_routes = 1 };
		struct dns_view *v;
		char err[DNS_ERR_MAX] = "", name[300];
		const char *why;
		char out[DNS_NAME_TEXT];

		CHECK_INT(dns_view_new(&vc, &v, err, sizeof(err)), -EINVAL);
		CHECK_STR(err, "dns route 'corp.example': 0 resolvers (1 to 8)");
		for (int k = 0; k < 254; k++)
			name[k] = k % 2 ? '.' : 'a';
		name[253] = 'a';
		name[254] = '\0';
		CHECK(!dns_name_canonical(name, out, &why));
		CHECK_STR(why, "a name over 253 bytes");
		name[253] = '.'; /* 253 bytes and a trailing dot: fine */
		CHECK(dns_name_canonical(name, out, &why));
		CHECK_INT(strlen(out), 253);
	}
}

/* 10 000 peers: every name and some absent ones answered as a linear scan of the table says. */
static void test_scale(void)
{
	enum { N = 10000 };
	struct dns_host *h = calloc(N, sizeof(*h));
	struct addr_ip *addrs = calloc(N, sizeof(*addrs));
	char(*names)[32] = calloc(N, sizeof(*names));
	struct dns_resolver_config rc = { 0, 0, 0, fake_random, NULL };
	struct dns_view_config vc = { .domain = "tail.example", .hosts = h, .n_hosts = N };
	struct dns_resolver *r;
	struct dns_view *v;
	unsigned long long seed = 0x5eed;
	struct addr_endpoint client = ep("127.0.0.1:5000");
	int mismatches = 0;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "node-%u", check_rand(&seed, 1u << 30));
		addrs[i].family = AF_INET;
		addrs[i].bytes[0] = 100;
		addrs[i].bytes[1] = (uint8_t)(64 + i / 65536);
		addrs[i].bytes[2] = (uint8_t)(i / 256);
		addrs[i].bytes[3] = (uint8_t)i;
		h[i] = (struct dns_host){ names[i], &addrs[i], 1 };
	}
	/* random names may repeat: the view refuses that, so make them unique first */
	for (int i = 0; i < N; i++)
		for (int j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				snprintf(names[i], sizeof(names[i]), "dup-%d", i);
	CHECK_INT(dns_view_new(&vc, &v, NULL, 0), 0);
	CHECK_INT(dns_resolver_new(&rc, &r), 0);
	dns_resolver_set_view(r, v);
	for (int k = 0; k < 2 * N; k++) {
		char qn[64];
		int want = -1;

		if (k % 2)
			snprintf(qn, sizeof(qn), "node-%u.tail.example",
				 check_rand(&seed, 1u << 30));
		else
			snprintf(qn, sizeof(qn), "%s", names[check_rand(&seed, N)]);
		for (int i = 0; i < N; i++) /* the naive reference */
			if (strncmp(qn, names[i], strlen(names[i])) == 0 &&
			    (qn[strlen(names[i])] == '\0' ||
			     strcmp(qn + strlen(names[i]), ".tail.example") == 0))
				want = i;
		size_t len;
		uint8_t *q = query(qn, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1, 0, 0, &len);
		struct dns_result res;
		ldns_pkt *a = NULL;

		dns_resolver_query(r, &client, q, len, DNS_UDP, 0, &res);
		if (res.kind != DNS_REPLY ||
		    ldns_wire2pkt(&a, res.msg, res.len) != LDNS_STATUS_OK) {
			mismatches++;
		} else if (want < 0) {
			mismatches += ldns_pkt_get_rcode(a) != LDNS_RCODE_NXDOMAIN;
		} else {
			ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(a), 0);

			mismatches += !rr || memcmp(ldns_rdf_data(ldns_rr_rdf(rr, 0)),
						    addrs[want].bytes, 4) != 0;
		}
		ldns_pkt_free(a);
		dns_result_clear(&res);
		free(q);
	}
	CHECK_INT(mismatches, 0);
	CHECK_INT(dns_resolver_counters(r)->answered, 2 * N);
	dns_resolver_free(r);
	free(h);
	free(addrs);
	free(names);
}

int main(void)
{
	test_cases();
	test_bad();
	test_view_errors();
	test_scale();
	return check_finish();
}
