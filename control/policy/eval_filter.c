/* Packet-filter decisions, with the rule that decided and a sentence saying why: over plain
 * rule lists as a node receives them (pol_filter_rules_match is the packet path's matcher,
 * netstack's filter calls it) or over the compiled form (address sets: binary searches).  A
 * drop names its nearest miss (a rule that admits this source but not this port, or this
 * port but not this source).  Also the decision's common start, which eval_ssh.c shares. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

static const struct addr_prefix everywhere[] = {
	{ .ip = { .family = AF_INET }, .bits = 0 },
	{ .ip = { .family = AF_INET6 }, .bits = 0 },
};
static const struct pol_port_range every_port = { 0, 65535 };

const struct pol_filter_rule pol_filter_allow_all = {
	.srcs = everywhere,
	.n_srcs = 2,
	.dsts = everywhere,
	.n_dsts = 2,
	.ports = &every_port,
	.n_ports = 1,
	.n_protos = 0,
	.section = "default",
	.index = 0,
};

static bool proto_port_ok(const struct pol_filter_rule *r, uint8_t proto, uint16_t port)
{
	bool pok = r->n_protos == 0;
	for (size_t i = 0; i < r->n_protos && !pok; i++)
		pok = r->protos[i] == proto;
	if (!pok)
		return false;
	if (proto != POL_PROTO_TCP && proto != POL_PROTO_UDP && proto != POL_PROTO_SCTP)
		return true; /* ICMP and others match on addresses only */
	for (size_t i = 0; i < r->n_ports; i++)
		if (port >= r->ports[i].first && port <= r->ports[i].last)
			return true;
	return false;
}

static const char *proto_name(uint8_t p, char *buf)
{
	switch (p) {
	case POL_PROTO_TCP:
		return "tcp";
	case POL_PROTO_UDP:
		return "udp";
	case POL_PROTO_ICMP:
		return "icmp";
	case POL_PROTO_ICMPV6:
		return "icmpv6";
	default:
		sprintf(buf, "proto %u", p);
		return buf;
	}
}

void pol__decision_init(struct pol_decision *out)
{
	memset(out, 0, sizeof(*out));
	out->verdict = VERDICT_REJECT;
	out->rule_index = -1;
}

static void filter_accepted(struct pol_decision *out, const struct pol_filter_rule *r,
			    uint8_t proto, uint16_t port)
{
	char pb[16];
	out->verdict = VERDICT_ACCEPT;
	out->section = r->section;
	out->rule_index = r->index;
	if (r == &pol_filter_allow_all || strcmp(r->section, "default") == 0) {
		snprintf(out->why, sizeof(out->why),
			 "accepted: the policy has no acls or grants, which allows everything");
		return;
	}
	snprintf(out->why, sizeof(out->why),
		 "accepted by %s[%d]: its sources include the source address and it allows %s "
		 "port %u to this destination",
		 r->section, r->index, proto_name(proto, pb), port);
}

/* Near misses of a drop, for the explanation. */
struct miss {
	const struct pol_filter_rule *port; /* admits source and destination, not this port */
	const struct pol_filter_rule *src;  /* allows this port here, not from this source */
};

static void miss_note(struct miss *m, const struct pol_filter_rule *r, bool src_ok, bool dst_ok,
		      bool pp_ok)
{
	if (src_ok && dst_ok && !pp_ok && !m->port)
		m->port = r;
	else if (!src_ok && dst_ok && pp_ok && !m->src)
		m->src = r;
}

/* "tcp/udp ports 22, 80-90" or "any protocol". */
void pol_filter_rule_describe(const struct pol_filter_rule *r, char *buf, size_t len)
{
	char pb[16];
	size_t n = 0;
	if (!r->n_protos) {
		snprintf(buf, len, "any protocol");
		return;
	}
	for (size_t i = 0; i < r->n_protos && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "/" : "",
				      proto_name(r->protos[i], pb));
	bool several = r->n_ports > 1 || (r->n_ports && r->ports[0].first != r->ports[0].last);
	for (size_t i = 0; i < r->n_ports && n < len; i++) {
		const struct pol_port_range *pr = &r->ports[i];
		const char *lead = i ? "," : several ? " ports" : " port";
		if (pr->first == 0 && pr->last == 65535)
			n += (size_t)snprintf(buf + n, len - n, "%s",
					      i ? ", all ports" : " all ports");
		else if (pr->first == pr->last)
			n += (size_t)snprintf(buf + n, len - n, "%s %u", lead, pr->first);
		else
			n += (size_t)snprintf(buf + n, len - n, "%s %u-%u", lead, pr->first,
					      pr->last);
	}
}

static void filter_dropped(struct pol_decision *out, uint8_t proto, uint16_t port, size_t n,
			   const struct miss *m)
{
	char pb[16], allowed[160];
	if (m->port) {
		pol_filter_rule_describe(m->port, allowed, sizeof(allowed));
		snprintf(out->why, sizeof(out->why),
			 "dropped: %s[%d] admits this source to this destination, but only for %s, "
			 "not %s port %u",
			 m->port->section, m->port->index, allowed, proto_name(proto, pb), port);
	} else if (m->src) {
		snprintf(out->why, sizeof(out->why),
			 "dropped: %s[%d] allows %s port %u to this destination, but not from this "
			 "source",
			 m->src->section, m->src->index, proto_name(proto, pb), port);
	} else {
		snprintf(
		    out->why, sizeof(out->why),
		    "dropped: none of the %zu rule(s) of the destination allows this source to "
		    "reach %s port %u",
		    n, proto_name(proto, pb), port);
	}
}

bool pol__prefixes_have(const struct addr_prefix *p, size_t n, const struct addr_ip *a)
{
	for (size_t i = 0; i < n; i++)
		if (addr_prefix_contains(&p[i], a))
			return true;
	return false;
}

int pol_filter_rules_match(const struct pol_filter_rule *const *rules, size_t n,
			   const struct addr_ip *src, const struct addr_ip *dst, uint8_t proto,
			   uint16_t port)
{
	for (size_t i = 0; i < n; i++) {
		const struct pol_filter_rule *r = rules[i];
		if (proto_port_ok(r, proto, port) && pol__prefixes_have(r->srcs, r->n_srcs, src) &&
		    pol__prefixes_have(r->dsts, r->n_dsts, dst))
			return (int)i;
	}
	return -1;
}

void pol_filter_rules_decide(const struct pol_filter_rule *const *rules, size_t n,
			     const struct addr_ip *src, const struct addr_ip *dst, uint8_t proto,
			     uint16_t port, struct pol_decision *out)
{
	struct miss m = { 0 };
	pol__decision_init(out);
	int i = pol_filter_rules_match(rules, n, src, dst, proto, port);
	if (i >= 0) {
		filter_accepted(out, rules[i], proto, port);
		return;
	}
	/* Only on a drop: the look for the nearest miss. */
	for (size_t k = 0; k < n && !(m.port && m.src); k++)
		miss_note(&m, rules[k], pol__prefixes_have(rules[k]->srcs, rules[k]->n_srcs, src),
			  pol__prefixes_have(rules[k]->dsts, rules[k]->n_dsts, dst),
			  proto_port_ok(rules[k], proto, port));
	filter_dropped(out, proto, port, n, &m);
}

static bool cfilter_match(const struct pol__cfilter *f, const struct addr_ip *src,
			  const struct addr_ip *dst, uint8_t proto, uint16_t port)
{
	return proto_port_ok(&f->pub, proto, port) && pol__addrset_has(f->src, src) &&
	       pol__addrset_has(&f->dst, dst);
}

int pol_filter_decide(const struct pol_compiled *c, const struct addr_ip *src,
		      const struct addr_ip *dst, uint8_t proto, uint16_t port,
		      struct pol_decision *out)
{
	pol__decision_init(out);
	if (c->allow_all) {
		out->verdict = VERDICT_ACCEPT;
		snprintf(out->why, sizeof(out->why),
			 "accepted: the policy has no acls or grants, which allows everything");
		return 0;
	}
	int node = pol__node_by_addr(c, dst);
	if (node < 0) {
		char b[ADDR_TEXT_MAX];
		snprintf(out->why, sizeof(out->why), "dropped: no node has address %s",
			 addr_ip_format(dst, b));
		return -ENOENT;
	}
	const struct pol__cnode *nd = &c->nodes[node];
	struct miss m = { 0 };
	for (size_t i = 0; i < nd->n_filter; i++) {
		const struct pol__cfilter *f = (const struct pol__cfilter *)nd->filter[i];
		if (cfilter_match(f, src, dst, proto, port)) {
			filter_accepted(out, &f->pub, proto, port);
			return 0;
		}
	}
	/* Only on a drop: the slower look for the nearest miss. */
	for (size_t i = 0; i < nd->n_filter && !(m.port && m.src); i++) {
		const struct pol__cfilter *f = (const struct pol__cfilter *)nd->filter[i];
		miss_note(&m, &f->pub, pol__addrset_has(f->src, src),
			  pol__addrset_has(&f->dst, dst), proto_port_ok(&f->pub, proto, port));
	}
	filter_dropped(out, proto, port, nd->n_filter, &m);
	return 0;
}

/* Any rule of the whole policy, whatever node: for tests, whose destinations need not be
 * nodes. */
bool pol__filter_global(const struct pol_compiled *c, const struct addr_ip *src,
			const struct addr_ip *dst, uint8_t proto, uint16_t port)
{
	if (c->allow_all)
		return true;
	for (size_t i = 0; i < c->n_filters; i++)
		if (cfilter_match(c->filters[i], src, dst, proto, port))
			return true;
	return false;
}
