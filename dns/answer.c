/* Answering a query from the view, or deciding that it goes upstream.  ldns reads the query
 * and writes the answer; the only bytes read here by hand are the header's fixed fields
 * (through ldns's own LDNS_*_WIRE macros), needed to answer FORMERR to what ldns refuses and
 * to drop responses before parsing them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/internal.h"

size_t dns__answer_limit(const ldns_pkt *p, enum dns_transport t)
{
	if (t == DNS_TCP)
		return DNS_TCP_MAX;
	if (!p || !ldns_pkt_edns(p))
		return DNS_UDP_PLAIN;
	size_t want = ldns_pkt_edns_udp_size(p);

	/* RFC 6891 6.2.5: a size below 512 is taken as 512 */
	if (want < DNS_UDP_PLAIN)
		return DNS_UDP_PLAIN;
	return want > DNS_UDP_ADVERTISE ? DNS_UDP_ADVERTISE : want;
}

int dns__wire_fit(ldns_pkt *p, size_t limit, uint8_t **out, size_t *len)
{
	if (ldns_pkt2wire(out, p, len) != LDNS_STATUS_OK)
		return -ENOMEM;
	if (*len <= limit)
		return 0;
	free(*out);
	*out = NULL;
	/* RFC 2181 9: TC with what fits; the question alone always does */
	ldns_rr_list_deep_free(ldns_pkt_answer(p));
	ldns_rr_list_deep_free(ldns_pkt_authority(p));
	ldns_rr_list_deep_free(ldns_pkt_additional(p));
	ldns_pkt_set_answer(p, ldns_rr_list_new());
	ldns_pkt_set_authority(p, ldns_rr_list_new());
	ldns_pkt_set_additional(p, ldns_rr_list_new());
	ldns_pkt_set_ancount(p, 0);
	ldns_pkt_set_nscount(p, 0);
	ldns_pkt_set_arcount(p, 0);
	ldns_pkt_set_tc(p, true);
	if (ldns_pkt2wire(out, p, len) != LDNS_STATUS_OK)
		return -ENOMEM;
	return 0;
}

/* A reply to query q (parsed, or NULL when ldns could not: then from the header in wire). */
static ldns_pkt *reply_new(const ldns_pkt *q, const uint8_t *wire, ldns_pkt_rcode rcode)
{
	ldns_pkt *p = ldns_pkt_new();

	if (!p)
		return NULL;
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	if (!q) {
		ldns_pkt_set_id(p, LDNS_ID_WIRE(wire));
		ldns_pkt_set_opcode(p, (ldns_pkt_opcode)LDNS_OPCODE_WIRE(wire));
		ldns_pkt_set_rd(p, LDNS_RD_WIRE(wire));
		return p;
	}
	ldns_pkt_set_id(p, ldns_pkt_id(q));
	ldns_pkt_set_opcode(p, ldns_pkt_get_opcode(q));
	ldns_pkt_set_rd(p, ldns_pkt_rd(q));
	ldns_pkt_set_cd(p, ldns_pkt_cd(q));
	ldns_rr_list *qs = ldns_pkt_question(q);

	for (size_t i = 0; i < ldns_rr_list_rr_count(qs); i++) {
		ldns_rr *rr = ldns_rr_clone(ldns_rr_list_rr(qs, i));

		if (!rr || !ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr)) {
			ldns_rr_free(rr);
			ldns_pkt_free(p);
			return NULL;
		}
	}
	/* RFC 6891 7: an OPT in the query gets one in the answer */
	if (ldns_pkt_edns(q))
		ldns_pkt_set_edns_udp_size(p, DNS_UDP_ADVERTISE);
	return p;
}

/* p (which this takes) as the REPLY in res, fitted to what q's client can take. */
static int reply_finish(ldns_pkt *p, const ldns_pkt *q, enum dns_transport t,
			struct dns_result *res)
{
	int rc;

	if (!p)
		return -ENOMEM;
	rc = dns__wire_fit(p, dns__answer_limit(q, t), &res->msg, &res->len);
	ldns_pkt_free(p);
	if (rc < 0)
		return rc;
	res->kind = DNS_REPLY;
	return 0;
}

static int reply_rcode(const ldns_pkt *q, const uint8_t *wire, ldns_pkt_rcode rcode,
		       enum dns_transport t, struct dns_result *res)
{
	return reply_finish(reply_new(q, wire, rcode), q, t, res);
}

static bool push(ldns_pkt *p, ldns_pkt_section s, ldns_rr *rr)
{
	if (rr && ldns_pkt_push_rr(p, s, rr))
		return true;
	ldns_rr_free(rr);
	return false;
}

static ldns_rr *rr_new(const ldns_rdf *owner, ldns_rr_type type, uint32_t ttl, ldns_rdf *data)
{
	ldns_rr *rr = ldns_rr_new();

	if (!rr || !data) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(data);
		return NULL;
	}
	ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	ldns_rr_push_rdf(rr, data);
	if (!ldns_rr_owner(rr)) {
		ldns_rr_free(rr);
		return NULL;
	}
	return rr;
}

/* NOERROR with the name's addresses of qtype's family, NODATA with the SOA without any. */
static int answer_name(const struct dns_view *v, const struct dns__name *n, const ldns_pkt *q,
		       const ldns_rr *question, enum dns_transport t, struct dns_result *res)
{
	ldns_pkt *p = reply_new(q, NULL, LDNS_RCODE_NOERROR);
	ldns_rr_type type = ldns_rr_get_type(question);
	int family = type == LDNS_RR_TYPE_A ? AF_INET : type == LDNS_RR_TYPE_AAAA ? AF_INET6 : 0;
	size_t count = 0;

	if (!p)
		return -ENOMEM;
	ldns_pkt_set_aa(p, true);
	for (size_t i = 0; family && i < n->n_addrs; i++) {
		if (n->addrs[i].family != family)
			continue;
		ldns_rdf *d =
		    ldns_rdf_new_frm_data(family == AF_INET ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA,
					  addr_family_len(family), n->addrs[i].bytes);

		if (!push(p, LDNS_SECTION_ANSWER, rr_new(ldns_rr_owner(question), type, v->ttl, d)))
			goto nomem;
		count++;
	}
	if (!count && !push(p, LDNS_SECTION_AUTHORITY, ldns_rr_clone(v->soa)))
		goto nomem;
	return reply_finish(p, q, t, res);
nomem:
	ldns_pkt_free(p);
	return -ENOMEM;
}

/* NXDOMAIN (with the SOA for our own domain), or the SOA itself for the domain. */
static int answer_negative(const struct dns_view *v, const ldns_pkt *q, const ldns_rr *question,
			   ldns_pkt_rcode rcode, bool soa, enum dns_transport t,
			   struct dns_result *res)
{
	ldns_pkt *p = reply_new(q, NULL, rcode);
	ldns_pkt_section s = LDNS_SECTION_AUTHORITY;

	if (!p)
		return -ENOMEM;
	ldns_pkt_set_aa(p, true);
	/* the domain's own SOA question is answered, not referred to */
	if (rcode == LDNS_RCODE_NOERROR && ldns_rr_get_type(question) == LDNS_RR_TYPE_SOA)
		s = LDNS_SECTION_ANSWER;
	if (soa && !push(p, s, ldns_rr_clone(v->soa))) {
		ldns_pkt_free(p);
		return -ENOMEM;
	}
	return reply_finish(p, q, t, res);
}

static int answer_ptr(const struct dns_view *v, const struct dns__name *n, const ldns_pkt *q,
		      const ldns_rr *question, enum dns_transport t, struct dns_result *res)
{
	char text[DNS_NAME_TEXT + 1];
	ldns_pkt *p = reply_new(q, NULL, LDNS_RCODE_NOERROR);

	if (!p)
		return -ENOMEM;
	ldns_pkt_set_aa(p, true);
	snprintf(text, sizeof(text), "%s.", n->name);
	if (ldns_rr_get_type(question) == LDNS_RR_TYPE_PTR &&
	    !push(p, LDNS_SECTION_ANSWER,
		  rr_new(ldns_rr_owner(question), LDNS_RR_TYPE_PTR, v->ttl,
			 ldns_dname_new_frm_str(text)))) {
		ldns_pkt_free(p);
		return -ENOMEM;
	}
	return reply_finish(p, q, t, res);
}

/* "d.c.b.a.in-addr.arpa" or the 32 nibbles of "….ip6.arpa" as an address. */
static bool reverse_addr(const char *name, struct addr_ip *ip)
{
	static const char v4[] = ".in-addr.arpa", v6[] = ".ip6.arpa";
	size_t n = strlen(name);

	memset(ip, 0, sizeof(*ip));
	if (n > sizeof(v4) - 1 && strcmp(name + n - (sizeof(v4) - 1), v4) == 0) {
		const char *s = name;

		for (int i = 3; i >= 0; i--) {
			unsigned val = 0, digits = 0;

			for (; *s >= '0' && *s <= '9'; s++, digits++)
				val = val * 10 + (unsigned)(*s - '0');
			/* canonical decimal only: "01" would name the same address twice */
			if (!digits || digits > 3 || val > 255 ||
			    (digits > 1 && s[-(int)digits] == '0'))
				return false;
			if (*s++ != '.')
				return false;
			ip->bytes[i] = (uint8_t)val;
		}
		ip->family = AF_INET;
		return s - 1 == name + n - (sizeof(v4) - 1);
	}
	if (n == 63 + sizeof(v6) - 1 && strcmp(name + 63, v6) == 0) {
		for (int i = 0; i < 32; i++) {
			char ch = name[2 * i];
			unsigned nib;

			if (name[2 * i + 1] != '.')
				return false;
			if (ch >= '0' && ch <= '9')
				nib = (unsigned)(ch - '0');
			else if (ch >= 'a' && ch <= 'f')
				nib = (unsigned)(ch - 'a' + 10);
			else
				return false;
			/* the first label is the lowest nibble */
			ip->bytes[15 - i / 2] |= (uint8_t)(i % 2 ? nib << 4 : nib);
		}
		ip->family = AF_INET6;
		return true;
	}
	return false;
}

/* What ldns's refusal of a query means, for the FORMERR counter's reason. */
static const char *parse_reason(ldns_status st)
{
	switch (st) {
	case LDNS_STATUS_DOMAINNAME_OVERFLOW:
		return "a name over 255 bytes";
	case LDNS_STATUS_LABEL_OVERFLOW:
		return "a label over 63 bytes";
	case LDNS_STATUS_INVALID_POINTER:
		return "a compression pointer that loops or points ahead";
	case LDNS_STATUS_PACKET_OVERFLOW:
	case LDNS_STATUS_WIRE_INCOMPLETE_HEADER:
	case LDNS_STATUS_WIRE_INCOMPLETE_QUESTION:
	case LDNS_STATUS_WIRE_INCOMPLETE_ANSWER:
	case LDNS_STATUS_WIRE_INCOMPLETE_AUTHORITY:
	case LDNS_STATUS_WIRE_INCOMPLETE_ADDITIONAL:
		return "the message ends inside a record";
	default:
		return "a message ldns cannot parse";
	}
}

int dns__answer(const struct dns_view *v, const uint8_t *q, size_t len, enum dns_transport t,
		struct dns_counters *c, struct dns_result *res, const struct addr_endpoint **up,
		size_t *n_up, ldns_pkt **parsed)
{
	char name[DNS__QNAME_TEXT];
	ldns_pkt *p = NULL;
	ldns_status st;
	int rc;

	*parsed = NULL;
	if (len > DNS_QUERY_MAX) {
		res->reason = "a query over 4096 bytes";
		goto drop;
	}
	if (len < LDNS_HEADER_SIZE) {
		res->reason = "shorter than a DNS header (12 bytes)";
		goto drop;
	}
	if (LDNS_QR_WIRE(q)) {
		res->reason = "a response, not a query";
		goto drop;
	}
	if (LDNS_OPCODE_WIRE(q) != LDNS_PACKET_QUERY) {
		res->reason = "an opcode other than QUERY";
		c->refused++;
		return reply_rcode(NULL, q, LDNS_RCODE_NOTIMPL, t, res);
	}
	if (LDNS_QDCOUNT(q) != 1) {
		res->reason = "not exactly one question";
		c->formerr++;
		return reply_rcode(NULL, q, LDNS_RCODE_FORMERR, t, res);
	}
	st = ldns_wire2pkt(&p, q, len);
	if (st != LDNS_STATUS_OK) {
		if (st == LDNS_STATUS_MEM_ERR)
			return -ENOMEM;
		res->reason = parse_reason(st);
		c->formerr++;
		return reply_rcode(NULL, q, LDNS_RCODE_FORMERR, t, res);
	}
	if (ldns_pkt_edns(p) && ldns_pkt_edns_version(p) > 0) {
		/* RFC 6891 6.1.3: BADVERS (16) is the extended rcode 1 over rcode 0 */
		ldns_pkt *r = reply_new(p, NULL, LDNS_RCODE_NOERROR);

		if (r)
			ldns_pkt_set_edns_extended_rcode(r, 1);
		res->reason = "an EDNS version above 0";
		c->refused++;
		rc = reply_finish(r, p, t, res);
		goto out;
	}
	const ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	ldns_rr_type type = ldns_rr_get_type(question);

	if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN) {
		res->reason = "a class other than IN";
		goto refuse;
	}
	if (type == LDNS_RR_TYPE_ANY) {
		res->reason = "ANY (RFC 8482)";
		goto refuse;
	}
	if (type == LDNS_RR_TYPE_AXFR || type == LDNS_RR_TYPE_IXFR) {
		res->reason = "a zone transfer";
		goto refuse;
	}
	if (!v) {
		res->reason = "no view yet";
		c->servfail++;
		rc = reply_rcode(p, NULL, LDNS_RCODE_SERVFAIL, t, res);
		goto out;
	}
	dns__rdf_text(ldns_rr_owner(question), name);
	size_t nl = strlen(name), dl = strlen(v->domain);
	const struct dns__name *found = NULL;
	struct addr_ip ip;

	if (nl && !strchr(name, '.')) {
		/* a peer's short name ("my-server"): our answer when it is a peer's */
		char full[2 * DNS__QNAME_TEXT];

		snprintf(full, sizeof(full), "%s.%s", name, v->domain);
		found = dns__view_find(v, full);
	}
	if (!found)
		found = dns__view_find(v, name);
	if (found) {
		c->answered++;
		rc = answer_name(v, found, p, question, t, res);
		goto out;
	}
	if (nl == dl && strcmp(name, v->domain) == 0) {
		c->answered++;
		rc = answer_negative(v, p, question, LDNS_RCODE_NOERROR, true, t, res);
		goto out;
	}
	if (nl > dl && name[nl - dl - 1] == '.' && strcmp(name + nl - dl, v->domain) == 0) {
		c->answered++;
		rc = answer_negative(v, p, question, LDNS_RCODE_NXDOMAIN, true, t, res);
		goto out;
	}
	if (reverse_addr(name, &ip)) {
		const struct dns__name *owner = dns__view_find_addr(v, &ip);

		if (owner) {
			c->answered++;
			rc = answer_ptr(v, owner, p, question, t, res);
			goto out;
		}
		if (dns__view_in_tailnet(v, &ip)) {
			c->answered++;
			rc = answer_negative(v, p, question, LDNS_RCODE_NXDOMAIN, false, t, res);
			goto out;
		}
	}
	*up = dns__view_upstreams(v, name, n_up);
	if (!*n_up) {
		res->reason = "no upstream resolver";
		c->servfail++;
		rc = reply_rcode(p, NULL, LDNS_RCODE_SERVFAIL, t, res);
		goto out;
	}
	*parsed = p;
	return 1;
refuse:
	c->refused++;
	rc = reply_rcode(p, NULL, LDNS_RCODE_REFUSED, t, res);
out:
	ldns_pkt_free(p);
	return rc;
drop:
	c->dropped++;
	res->kind = DNS_DROP;
	return 0;
}
