/* dns/: a query's bytes from a client, and then the same bytes as an upstream's answer,
 * through one resolver with a small view.  Invariants: whatever is sent back is valid DNS
 * per ldns, a response (QR set) with the client's id, within the client's size (512 over UDP
 * without OPT, else at most 1232; 64 KiB over TCP); a query with QR set is never answered; a
 * forwarded query is the input with only its id changed; an upstream's answer to a query
 * in flight reaches its client only with the upstream's address, our id and the question
 * asked.  The first input byte picks the transport and whether a second message comes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "dns/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dns_resolver *res;
static struct addr_endpoint client, upstream;

static void counter_random(void *ctx, uint8_t *buf, size_t len)
{
	static uint32_t n;

	(void)ctx;
	n++;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(n >> (8 * (i % 4)));
}

static void setup(void)
{
	static struct addr_ip a[2];
	static struct addr_prefix pfx;
	const char *why;

	addr_ip_parse("100.64.0.1", &a[0], &why);
	addr_ip_parse("fd7a:115c:a1e0::1", &a[1], &why);
	addr_net_parse("100.64.0.0/10", &pfx, &why);
	addr_endpoint_parse("100.64.0.9:5353", &client, &why);
	addr_endpoint_parse("192.0.2.53:53", &upstream, &why);
	static struct dns_host hosts[] = { { "my-server", a, 2 }, { "v4", a, 1 } };
	static struct dns_route route = { "corp.example", &upstream, 1 };
	struct dns_view_config vc = {
		.domain = "tail.example",
		.hosts = hosts,
		.n_hosts = 2,
		.routes = &route,
		.n_routes = 1,
		.host_resolvers = &upstream,
		.n_host_resolvers = 1,
		.prefixes = &pfx,
		.n_prefixes = 1,
	};
	struct dns_resolver_config rc = { 8, 4, 1000, counter_random, NULL };
	struct dns_view *v;

	if (dns_view_new(&vc, &v, NULL, 0) < 0 || dns_resolver_new(&rc, &res) < 0)
		abort();
	dns_resolver_set_view(res, v);
}

/* The reply is DNS, a response, with id and within limit. */
static void check_reply(const struct dns_result *r, uint16_t id, size_t limit)
{
	ldns_pkt *p = NULL;

	if (r->len > limit || r->len < LDNS_HEADER_SIZE || !LDNS_QR_WIRE(r->msg) ||
	    LDNS_ID_WIRE(r->msg) != id) {
		fprintf(stderr, "reply: %zu bytes (limit %zu), qr %d, id %u (want %u)\n", r->len,
			limit, !!LDNS_QR_WIRE(r->msg), LDNS_ID_WIRE(r->msg), id);
		abort();
	}
	if (ldns_wire2pkt(&p, r->msg, r->len) != LDNS_STATUS_OK) {
		fprintf(stderr, "reply: ldns cannot read it back\n");
		abort();
	}
	ldns_pkt_free(p);
}

static size_t client_limit(const uint8_t *q, size_t len, enum dns_transport t)
{
	ldns_pkt *p = NULL;
	size_t lim = 512;

	if (t == DNS_TCP)
		return 65535;
	if (ldns_wire2pkt(&p, q, len) == LDNS_STATUS_OK && ldns_pkt_edns(p))
		lim = 1232;
	ldns_pkt_free(p);
	return lim;
}

static void on_expired(void *ctx, struct dns_result *r)
{
	(void)ctx;
	if (r->kind != DNS_REPLY || r->len > 65535 || !LDNS_QR_WIRE(r->msg))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_result r, u;

	if (!res)
		setup();
	if (size < 1)
		return 0;
	enum dns_transport t = data[0] & 1 ? DNS_TCP : DNS_UDP;
	bool second = data[0] & 2;

	data++, size--;
	if (dns_resolver_query(res, &client, data, size, t, 0, &r) < 0)
		abort();
	if (size >= LDNS_HEADER_SIZE && LDNS_QR_WIRE(data) && r.kind != DNS_DROP) {
		fprintf(stderr, "a response was answered\n");
		abort();
	}
	if (r.kind == DNS_REPLY)
		check_reply(&r, LDNS_ID_WIRE(data), client_limit(data, size, t));
	if (r.kind == DNS_FORWARD) {
		if (r.len != size || memcmp(r.msg + 2, data + 2, size - 2) != 0 ||
		    !addr_endpoint_equal(&r.peer, &upstream)) {
			fprintf(stderr, "forwarded bytes differ from the query\n");
			abort();
		}
		/* the query's own bytes, QR set, as the upstream's answer: our id makes it match */
		uint8_t *ans = malloc(size);

		memcpy(ans, r.msg, size);
		LDNS_QR_SET(ans);
		if (dns_resolver_upstream(res, &upstream, ans, size, r.tcp ? DNS_TCP : DNS_UDP, 1,
					  &u) < 0)
			abort();
		if (u.kind == DNS_REPLY)
			check_reply(&u, LDNS_ID_WIRE(data), client_limit(data, size, t));
		dns_result_clear(&u);
		free(ans);
	}
	if (second) {
		/* the input as an unsolicited upstream message: from a wrong port it never
		 * reaches a client */
		struct addr_endpoint spoof = upstream;

		spoof.port++;
		if (dns_resolver_upstream(res, &spoof, data, size, t, 1, &u) < 0 ||
		    u.kind != DNS_DROP)
			abort();
		dns_result_clear(&u);
	}
	dns_resolver_expire(res, 10000, on_expired, NULL);
	dns_result_clear(&r);
	return 0;
}
