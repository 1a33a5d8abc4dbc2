/* The resolver: the current view, the counters, and the table of queries forwarded
 * upstream.  A forwarded query goes out with an id of ours (random, unique among those in
 * flight to that upstream), so two clients' ids never collide and a client cannot choose
 * the id an upstream's answer is matched by.  The answer counts only from that upstream,
 * with that id and the same question; it goes back to the client with the client's id.
 * The table is bounded in all and per client address; a full table answers SERVFAIL at
 * once rather than evict a query that is still waiting (eviction would let a flood cancel
 * every other client's lookups). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dns/internal.h"

struct flight {
	bool used;
	enum dns_transport client_t;
	bool tcp; /* to the upstream */
	uint16_t client_id, our_id;
	struct addr_endpoint client, upstream;
	uint64_t deadline;
	size_t client_limit; /* the most the client's answer may take */
	ldns_rr *question;
	uint8_t *query; /* as sent upstream, with our id */
	size_t len;
};

struct dns_resolver {
	struct dns_resolver_config cfg;
	struct dns_view *view;
	struct dns_counters c;
	struct flight *f;
	size_t n_used;
};

void dns_result_clear(struct dns_result *r)
{
	free(r->msg);
	memset(r, 0, sizeof(*r));
}

int dns_resolver_new(const struct dns_resolver_config *cfg, struct dns_resolver **out)
{
	struct dns_resolver *r;

	*out = NULL;
	if (!cfg->random)
		return -EINVAL;
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	r->cfg = *cfg;
	if (!r->cfg.max_inflight)
		r->cfg.max_inflight = DNS_INFLIGHT_DEFAULT;
	if (!r->cfg.max_per_client)
		r->cfg.max_per_client = DNS_PER_CLIENT_DEFAULT;
	if (!r->cfg.timeout_ms)
		r->cfg.timeout_ms = DNS_TIMEOUT_MS_DEFAULT;
	if (!(r->f = calloc(r->cfg.max_inflight, sizeof(*r->f)))) {
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

static void flight_end(struct dns_resolver *r, struct flight *f)
{
	ldns_rr_free(f->question);
	free(f->query);
	memset(f, 0, sizeof(*f));
	r->n_used--;
}

void dns_resolver_free(struct dns_resolver *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->cfg.max_inflight; i++)
		if (r->f[i].used)
			flight_end(r, &r->f[i]);
	free(r->f);
	dns_view_free(r->view);
	free(r);
}

void dns_resolver_set_view(struct dns_resolver *r, struct dns_view *v)
{
	dns_view_free(r->view);
	r->view = v;
}

size_t dns_resolver_inflight(const struct dns_resolver *r)
{
	return r->n_used;
}

const struct dns_view *dns_resolver_view(const struct dns_resolver *r)
{
	return r->view;
}

const struct dns_counters *dns_resolver_counters(const struct dns_resolver *r)
{
	return &r->c;
}

uint64_t dns_resolver_next_deadline(const struct dns_resolver *r)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < r->cfg.max_inflight; i++)
		if (r->f[i].used && r->f[i].deadline < next)
			next = r->f[i].deadline;
	return next;
}

static struct flight *flight_find(struct dns_resolver *r, const struct addr_endpoint *up,
				  uint16_t id)
{
	for (unsigned i = 0; i < r->cfg.max_inflight; i++) {
		struct flight *f = &r->f[i];

		if (f->used && f->our_id == id && addr_endpoint_equal(&f->upstream, up))
			return f;
	}
	return NULL;
}

/* A SERVFAIL to query p (this takes p) as a REPLY in res. */
static int servfail(struct dns_resolver *r, ldns_pkt *p, enum dns_transport t, const char *why,
		    struct dns_result *res)
{
	ldns_pkt *s = ldns_pkt_new();
	int rc = -ENOMEM;

	r->c.servfail++;
	res->reason = why;
	if (!s)
		goto out;
	ldns_pkt_set_id(s, ldns_pkt_id(p));
	ldns_pkt_set_qr(s, true);
	ldns_pkt_set_ra(s, true);
	ldns_pkt_set_rd(s, ldns_pkt_rd(p));
	ldns_pkt_set_rcode(s, LDNS_RCODE_SERVFAIL);
	if (ldns_pkt_edns(p))
		ldns_pkt_set_edns_udp_size(s, DNS_UDP_ADVERTISE);
	ldns_rr *q = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(p), 0));

	if (q && ldns_pkt_push_rr(s, LDNS_SECTION_QUESTION, q))
		rc = dns__wire_fit(s, dns__answer_limit(p, t), &res->msg, &res->len);
	else
		ldns_rr_free(q);
	ldns_pkt_free(s);
	if (rc == 0)
		res->kind = DNS_REPLY;
out:
	ldns_pkt_free(p);
	return rc;
}

static int forward(struct dns_resolver *r, const struct addr_endpoint *client, const uint8_t *q,
		   size_t len, enum dns_transport t, uint64_t now, ldns_pkt *p,
		   const struct addr_endpoint *up, struct dns_result *res)
{
	struct flight *slot = NULL;
	unsigned mine = 0;
	uint16_t id;

	for (unsigned i = 0; i < r->cfg.max_inflight; i++) {
		if (!r->f[i].used)
			slot = slot ? slot : &r->f[i];
		else if (addr_ip_equal(&r->f[i].client.ip, &client->ip))
			mine++;
	}
	if (mine >= r->cfg.max_per_client)
		return servfail(r, p, t, "the client's share of queries in flight is used up", res);
	if (!slot)
		return servfail(r, p, t, "the table of queries in flight is full", res);
	/* a fresh random id; one in use to this upstream is drawn again (with at most
	 * max_inflight of 65 536 taken, eight draws all colliding is next to impossible,
	 * and then the query is refused rather than risk two answers crossing) */
	for (int tries = 0;; tries++) {
		uint8_t b[2];

		if (tries == 8)
			return servfail(r, p, t, "no free query id for the upstream", res);
		r->cfg.random(r->cfg.random_ctx, b, sizeof(b));
		id = (uint16_t)(b[0] << 8 | b[1]);
		if (!flight_find(r, up, id))
			break;
	}
	slot->query = malloc(len);
	slot->question = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(p), 0));
	if (!slot->query || !slot->question) {
		free(slot->query);
		ldns_rr_free(slot->question);
		slot->query = NULL;
		slot->question = NULL;
		ldns_pkt_free(p);
		return -ENOMEM;
	}
	memcpy(slot->query, q, len);
	LDNS_ID_SET(slot->query, id);
	slot->len = len;
	slot->used = true;
	slot->client_t = t;
	slot->tcp = t == DNS_TCP;
	slot->client_id = ldns_pkt_id(p);
	slot->our_id = id;
	slot->client = *client;
	slot->upstream = *up;
	slot->deadline = now + r->cfg.timeout_ms;
	slot->client_limit = dns__answer_limit(p, t);
	ldns_pkt_free(p);
	r->n_used++;
	r->c.forwarded++;
	res->msg = malloc(len);
	if (!res->msg) {
		flight_end(r, slot);
		return -ENOMEM;
	}
	memcpy(res->msg, slot->query, len);
	res->len = len;
	res->kind = DNS_FORWARD;
	res->peer = *up;
	res->tcp = slot->tcp;
	return 0;
}

int dns_resolver_query(struct dns_resolver *r, const struct addr_endpoint *client, const uint8_t *q,
		       size_t len, enum dns_transport t, uint64_t now_ms, struct dns_result *res)
{
	const struct addr_endpoint *up = NULL;
	size_t n_up = 0;
	ldns_pkt *p;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = dns__answer(r->view, q, len, t, &r->c, res, &up, &n_up, &p);
	if (rc == 1)
		rc = forward(r, client, q, len, t, now_ms, p, &up[0], res);
	if (rc < 0) {
		dns_result_clear(res);
		return rc;
	}
	if (res->kind == DNS_REPLY) {
		res->peer = *client;
		res->tcp = t == DNS_TCP;
	}
	return 0;
}

/* The upstream's answer a, for f's client: its id back, cut with TC when it does not fit. */
static int relay(struct dns_resolver *r, struct flight *f, const uint8_t *msg, size_t len,
		 ldns_pkt *a, struct dns_result *res)
{
	int rc = 0;

	if (len <= f->client_limit) {
		if (!(res->msg = malloc(len)))
			return -ENOMEM;
		memcpy(res->msg, msg, len);
		res->len = len;
		LDNS_ID_SET(res->msg, f->client_id);
	} else {
		ldns_pkt_set_id(a, f->client_id);
		rc = dns__wire_fit(a, f->client_limit, &res->msg, &res->len);
		if (rc < 0)
			return rc;
	}
	r->c.upstream_answers++;
	res->kind = DNS_REPLY;
	res->peer = f->client;
	res->tcp = f->client_t == DNS_TCP;
	return 0;
}

int dns_resolver_upstream(struct dns_resolver *r, const struct addr_endpoint *from,
			  const uint8_t *msg, size_t len, enum dns_transport t, uint64_t now_ms,
			  struct dns_result *res)
{
	struct flight *f;
	ldns_pkt *a = NULL;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (len < LDNS_HEADER_SIZE || len > DNS_TCP_MAX || !LDNS_QR_WIRE(msg)) {
		res->reason = "not a DNS response";
		goto refuse;
	}
	f = flight_find(r, from, LDNS_ID_WIRE(msg));
	if (!f || f->tcp != (t == DNS_TCP)) {
		res->reason = "no query in flight to that upstream with that id";
		goto refuse;
	}
	ldns_status st = ldns_wire2pkt(&a, msg, len);

	if (st == LDNS_STATUS_MEM_ERR)
		return -ENOMEM;
	if (st != LDNS_STATUS_OK) {
		res->reason = "an upstream answer ldns cannot parse";
		goto refuse;
	}
	const ldns_rr *aq =
	    ldns_pkt_qdcount(a) == 1 ? ldns_rr_list_rr(ldns_pkt_question(a), 0) : NULL;

	if (!aq || ldns_rr_get_type(aq) != ldns_rr_get_type(f->question) ||
	    ldns_rr_get_class(aq) != ldns_rr_get_class(f->question) ||
	    ldns_dname_compare(ldns_rr_owner(aq), ldns_rr_owner(f->question)) != 0) {
		res->reason = "an upstream answer to another question";
		goto refuse;
	}
	if (ldns_pkt_tc(a) && !f->tcp) {
		/* RFC 7766 5: a truncated UDP answer is asked again over TCP */
		if (!(res->msg = malloc(f->len))) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(res->msg, f->query, f->len);
		res->len = f->len;
		res->kind = DNS_FORWARD;
		res->peer = f->upstream;
		res->tcp = f->tcp = true;
		f->deadline = now_ms + r->cfg.timeout_ms;
		r->c.tcp_retries++;
		goto out;
	}
	rc = relay(r, f, msg, len, a, res);
	if (rc == 0)
		flight_end(r, f);
	goto out;
refuse:
	r->c.upstream_refused++;
	res->kind = DNS_DROP;
out:
	ldns_pkt_free(a);
	if (rc < 0)
		dns_result_clear(res);
	return rc;
}

size_t dns_resolver_expire(struct dns_resolver *r, uint64_t now_ms, dns_result_fn *fn, void *ctx)
{
	size_t n = 0;

	for (unsigned i = 0; i < r->cfg.max_inflight; i++) {
		struct flight *f = &r->f[i];
		struct dns_result res = { 0 };
		ldns_pkt *p = NULL;

		if (!f->used || f->deadline > now_ms)
			continue;
		/* the query was parsed when it came; parsing our copy again cannot fail but
		 * for memory, and then the client simply gets no SERVFAIL */
		LDNS_ID_SET(f->query, f->client_id);
		if (ldns_wire2pkt(&p, f->query, f->len) == LDNS_STATUS_OK &&
		    servfail(r, p, f->client_t, "the upstream did not answer in time", &res) == 0) {
			res.peer = f->client;
			res.tcp = f->client_t == DNS_TCP;
			fn(ctx, &res);
		}
		dns_result_clear(&res);
		r->c.timeouts++;
		flight_end(r, f);
		n++;
	}
	return n;
}
