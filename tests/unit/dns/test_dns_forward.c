/* dns/: the forwarding table (id rewriting, the answer matched by upstream, id and
 * question, spoofs refused, a truncated UDP answer asked again over TCP, a too-large answer
 * cut with TC for the client, the timeout, the table and a client's share full), on the
 * view and queries of fixture.c.  Answers from the view: test_dns.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include <ldns/ldns.h>

#include "check.h"
#include "dns/dns.h"
#include "fixture.h"

static uint8_t *answer_to(const uint8_t *fwd, size_t len, bool tc, const char *name,
			  const char *addr, size_t *out_len)
{
	ldns_pkt *q = NULL, *a;
	uint8_t *w = NULL;

	if (ldns_wire2pkt(&q, fwd, len) != LDNS_STATUS_OK)
		abort();
	a = ldns_pkt_clone(q);
	ldns_pkt_set_qr(a, true);
	ldns_pkt_set_tc(a, tc);
	if (name) {
		/* another question than the one asked */
		ldns_rr_list_deep_free(ldns_pkt_question(a));
		ldns_pkt_set_question(a, ldns_rr_list_new());
		ldns_pkt_set_qdcount(a, 0);
		ldns_rr *rq = ldns_rr_new();

		ldns_rr_set_owner(rq, ldns_dname_new_frm_str(name));
		ldns_rr_set_type(rq, LDNS_RR_TYPE_A);
		ldns_rr_set_class(rq, LDNS_RR_CLASS_IN);
		ldns_rr_set_question(rq, true);
		ldns_pkt_push_rr(a, LDNS_SECTION_QUESTION, rq);
	}
	if (addr) {
		ldns_rr *rr = NULL;
		char text[400];

		snprintf(text, sizeof(text), "example.com. 60 IN A %s", addr);
		ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL);
		ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
	}
	ldns_pkt2wire(&w, a, out_len);
	ldns_pkt_free(q);
	ldns_pkt_free(a);
	return w;
}

static void test_forward(void)
{
	struct dns_resolver *r = resolver(0, 0);
	struct addr_endpoint c1 = ep("100.64.0.7:1111"), c2 = ep("100.64.0.8:2222");
	struct addr_endpoint up = ep("192.0.2.53:53"), wrong_port = ep("192.0.2.53:54");
	struct dns_result f1, f2, res;
	size_t l1, l2, al;
	uint8_t *q1 = query("example.com", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0x1234, 0, 0, &l1);
	uint8_t *q2 = query("example.com", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0x1234, 0, 0, &l2);
	uint8_t *a;

	next_id = 0x100;
	/* two clients, the same id: two ids of ours, the rest of the query as it came */
	CHECK_INT(dns_resolver_query(r, &c1, q1, l1, DNS_UDP, 1000, &f1), 0);
	repeat_id = 1; /* the second draw repeats 0x101: drawn again */
	CHECK_INT(dns_resolver_query(r, &c2, q2, l2, DNS_UDP, 1000, &f2), 0);
	CHECK_INT(f1.kind, DNS_FORWARD);
	CHECK_INT(f2.kind, DNS_FORWARD);
	CHECK_INT(LDNS_ID_WIRE(f1.msg), 0x101);
	CHECK_INT(LDNS_ID_WIRE(f2.msg), 0x102);
	CHECK(!f1.tcp);
	CHECK_INT(dns_resolver_inflight(r), 2);
	CHECK_INT(dns_resolver_next_deadline(r), 6000);

	/* spoofs: the right id from another port, a wrong id, the right id and source with
	 * another question; none ends the query */
	a = answer_to(f1.msg, f1.len, false, NULL, "203.0.113.1", &al);
	CHECK_INT(dns_resolver_upstream(r, &wrong_port, a, al, DNS_UDP, 1100, &res), 0);
	CHECK_INT(res.kind, DNS_DROP);
	CHECK_STR(res.reason, "no query in flight to that upstream with that id");
	LDNS_ID_SET(a, 0x103);
	CHECK_INT(dns_resolver_upstream(r, &up, a, al, DNS_UDP, 1100, &res), 0);
	CHECK_STR(res.reason, "no query in flight to that upstream with that id");
	free(a);
	a = answer_to(f1.msg, f1.len, false, "evil.example", "203.0.113.66", &al);
	CHECK_INT(dns_resolver_upstream(r, &up, a, al, DNS_UDP, 1100, &res), 0);
	CHECK_INT(res.kind, DNS_DROP);
	CHECK_STR(res.reason, "an upstream answer to another question");
	free(a);
	CHECK_INT(dns_resolver_counters(r)->upstream_refused, 3);
	CHECK_INT(dns_resolver_inflight(r), 2);

	/* the real answer goes to c1 with c1's id; a second copy is refused */
	a = answer_to(f1.msg, f1.len, false, NULL, "203.0.113.1", &al);
	LDNS_ID_SET(a, 0x101);
	CHECK_INT(dns_resolver_upstream(r, &up, a, al, DNS_UDP, 1200, &res), 0);
	CHECK_INT(res.kind, DNS_REPLY);
	CHECK_INT(addr_endpoint_equal(&res.peer, &c1), 1);
	CHECK_INT(LDNS_ID_WIRE(res.msg), 0x1234);
	CHECK_INT(res.len, al);
	CHECK(memcmp(res.msg + 2, a + 2, al - 2) == 0);
	dns_result_clear(&res);
	CHECK_INT(dns_resolver_upstream(r, &up, a, al, DNS_UDP, 1200, &res), 0);
	CHECK_INT(res.kind, DNS_DROP);
	free(a);
	CHECK_INT(dns_resolver_inflight(r), 1);

	/* c2's: truncated over UDP, so asked again over TCP, same bytes; a UDP answer with the
	 * id is refused then; the TCP one replaces the view meanwhile and still arrives */
	a = answer_to(f2.msg, f2.len, true, NULL, NULL, &al);
	CHECK_INT(dns_resolver_upstream(r, &up, a, al, DNS_UDP, 1300, &res), 0);
	CHECK_INT(res.kind, DNS_FORWARD);
	CHECK(res.tcp);
	CHECK(res.len == f2.len && memcmp(res.msg, f2.msg, f2.len) == 0);
	CHECK_INT(dns_resolver_counters(r)->tcp_retries, 1);
	dns_result_clear(&res);
	CHECK_INT(dns_resolver_upstream(r, &up, a, al, DNS_UDP, 1300, &res), 0);
	CHECK_INT(res.kind, DNS_DROP);
	free(a);
	{
		struct dns_view_config vc = base_config();
		struct dns_view *v;

		CHECK_INT(dns_view_new(&vc, &v, NULL, 0), 0);
		dns_resolver_set_view(r, v);
	}
	/* 40 A records over TCP: more than c2's 512 bytes, so c2 gets TC and no answers */
	{
		ldns_pkt *big = NULL, *got = NULL;
		uint8_t *w = NULL;

		a = answer_to(f2.msg, f2.len, false, NULL, "203.0.113.1", &al);
		ldns_wire2pkt(&big, a, al);
		for (int i = 0; i < 40; i++) {
			ldns_rr *rr = NULL;
			char text[80];

			snprintf(text, sizeof(text), "example.com. 60 IN A 203.0.113.%d", i + 2);
			ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL);
			ldns_pkt_push_rr(big, LDNS_SECTION_ANSWER, rr);
		}
		ldns_pkt2wire(&w, big, &al);
		CHECK(al > 512);
		CHECK_INT(dns_resolver_upstream(r, &up, w, al, DNS_TCP, 1400, &res), 0);
		CHECK_INT(res.kind, DNS_REPLY);
		CHECK(!res.tcp);
		CHECK(res.len <= 512);
		CHECK_INT(addr_endpoint_equal(&res.peer, &c2), 1);
		CHECK_INT(ldns_wire2pkt(&got, res.msg, res.len), LDNS_STATUS_OK);
		CHECK_INT(ldns_pkt_tc(got), 1);
		CHECK_INT(ldns_pkt_ancount(got), 0);
		CHECK_INT(ldns_pkt_id(got), 0x1234);
		ldns_pkt_free(got);
		ldns_pkt_free(big);
		free(w);
		free(a);
		dns_result_clear(&res);
	}
	CHECK_INT(dns_resolver_inflight(r), 0);
	CHECK_INT(dns_resolver_next_deadline(r), UINT64_MAX);
	CHECK_INT(dns_resolver_counters(r)->upstream_answers, 2);
	dns_result_clear(&f1);
	dns_result_clear(&f2);
	free(q1);
	free(q2);
	dns_resolver_free(r);
}

static struct dns_result expired[8];
static int n_expired;

static void on_expired(void *ctx, struct dns_result *res)
{
	(void)ctx;
	if (n_expired < 8) {
		expired[n_expired] = *res;
		expired[n_expired].msg = malloc(res->len);
		memcpy(expired[n_expired].msg, res->msg, res->len);
	}
	n_expired++;
}

static void test_timeout_and_bounds(void)
{
	struct dns_resolver *r = resolver(4, 2);
	struct dns_result res;
	size_t len;
	uint8_t *q =
	    query("example.com", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, 0x7777, 1232, 0, &len);
	const char *clients[] = { "100.64.0.1:1000", "100.64.0.1:1001", "100.64.0.1:1002",
				  "100.64.0.2:1000", "100.64.0.3:1000", "100.64.0.4:1000" };
	const int kinds[] = { DNS_FORWARD, DNS_FORWARD, DNS_REPLY,
			      DNS_FORWARD, DNS_FORWARD, DNS_REPLY };
	const char *reasons[] = { NULL, NULL, "the client's share of queries in flight is used up",
				  NULL, NULL, "the table of queries in flight is full" };

	for (int i = 0; i < 6; i++) {
		struct addr_endpoint c = ep(clients[i]);
		ldns_pkt *a = NULL;

		fprintf(stderr, "bound %d\n", i + 1);
		CHECK_INT(dns_resolver_query(r, &c, q, len, DNS_UDP, (uint64_t)i * 1000, &res), 0);
		CHECK_INT(res.kind, kinds[i]);
		if (reasons[i])
			CHECK_STR(res.reason, reasons[i]);
		else
			CHECK(res.reason == NULL);
		if (res.kind == DNS_REPLY) {
			CHECK_INT(ldns_wire2pkt(&a, res.msg, res.len), LDNS_STATUS_OK);
			CHECK_INT(ldns_pkt_get_rcode(a), LDNS_RCODE_SERVFAIL);
			CHECK_INT(ldns_pkt_id(a), 0x7777);
			CHECK_INT(ldns_pkt_edns(a), 1);
			ldns_pkt_free(a);
		}
		dns_result_clear(&res);
	}
	CHECK_INT(dns_resolver_inflight(r), 4);
	/* deadlines 5000, 6000, 8000, 9000 (the queries of 0, 1, 3 and 4 s) */
	CHECK_INT(dns_resolver_next_deadline(r), 5000);
	CHECK_INT(dns_resolver_expire(r, 4999, on_expired, NULL), 0);
	CHECK_INT(dns_resolver_expire(r, 6000, on_expired, NULL), 2);
	CHECK_INT(n_expired, 2);
	for (int i = 0; i < 2 && i < n_expired; i++) {
		ldns_pkt *a = NULL;
		char t[ADDR_TEXT_MAX];

		CHECK_STR(addr_endpoint_format(&expired[i].peer, t), clients[i]);
		CHECK_STR(expired[i].reason, "the upstream did not answer in time");
		CHECK_INT(ldns_wire2pkt(&a, expired[i].msg, expired[i].len), LDNS_STATUS_OK);
		CHECK_INT(ldns_pkt_get_rcode(a), LDNS_RCODE_SERVFAIL);
		CHECK_INT(ldns_pkt_id(a), 0x7777);
		CHECK_INT(ldns_pkt_qdcount(a), 1);
		ldns_pkt_free(a);
		free(expired[i].msg);
	}
	CHECK_INT(dns_resolver_inflight(r), 2);
	CHECK_INT(dns_resolver_next_deadline(r), 8000);
	CHECK_INT(dns_resolver_counters(r)->timeouts, 2);
	/* the expired client has room again */
	{
		struct addr_endpoint c = ep(clients[0]);

		CHECK_INT(dns_resolver_query(r, &c, q, len, DNS_UDP, 7000, &res), 0);
		CHECK_INT(res.kind, DNS_FORWARD);
		dns_result_clear(&res);
	}
	free(q);
	dns_resolver_free(r);
}

int main(void)
{
	test_forward();
	test_timeout_and_bounds();
	return check_finish();
}
