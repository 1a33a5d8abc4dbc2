/* Network rules into packet filters: each destination of each acls/grants rule becomes one
 * filter rule (sources shared, destinations its own address set), pushed onto the filter of
 * every node it can reach: nodes holding a destination address and routers whose routes
 * overlap it; autogroup:self one rule per user, to that user's own devices; a via grant only
 * onto the routers carrying its tags. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

static int node_push_filter(struct pol__cnode *nd, const struct pol_filter_rule *r)
{
	if (nd->n_filter && nd->filter[nd->n_filter - 1] == r)
		return 0;
	return POL__PUSH(nd->filter, nd->n_filter, nd->cap_filter, r);
}

static int new_cfilter(struct pol__cctx *x, const struct pol__netrule *r, const struct pol__dst *d,
		       const struct pol__addrset *src, struct pol__cfilter **out)
{
	struct pol__cfilter *f = POL__NEW(x->c->filters, x->c->n_filters, x->c->cap_filters);
	if (!f)
		return -ENOMEM;
	f->src = src;
	f->pub.srcs = src->prefixes;
	f->pub.n_srcs = src->n_prefixes;
	f->pub.ports = d->ports;
	f->pub.n_ports = d->n_ports;
	static const uint8_t any_protos[] = { 0 };
	f->pub.protos = d->n_protos ? d->protos : any_protos;
	f->pub.n_protos = d->n_protos ? d->n_protos : 0;
	f->pub.section = r->section;
	f->pub.index = r->index;
	*out = f;
	return 0;
}

static int finish_cfilter(struct pol__cfilter *f)
{
	int rc = pol__addrset_finish(&f->dst);
	f->pub.dsts = f->dst.prefixes;
	f->pub.n_dsts = f->dst.n_prefixes;
	return rc;
}

static bool route_overlaps(const struct pol__cnode *nd, const struct addr_prefix *p)
{
	for (size_t k = 0; k < nd->n_routes; k++) {
		const struct addr_prefix *rt = &nd->routes[k];
		if (rt->ip.family == p->ip.family &&
		    (addr_prefix_contains(rt, &p->ip) || addr_prefix_contains(p, &rt->ip)))
			return true;
	}
	return false;
}

static int compile_dst(struct pol__cctx *x, const struct pol__netrule *r, const struct pol__dst *d,
		       const struct pol__addrset *src)
{
	struct pol_compiled *c = x->c;
	struct pol__cfilter *f;
	struct pol__ivec nodes = { 0 };
	int rc = 0;

	if (d->alias.kind == POL__A_INTERNET)
		return 0; /* exit-node traffic; never a node's own address */
	if (d->alias.kind == POL__A_SELF) {
		/* One rule per user: that user's sources to that user's devices. */
		for (size_t u = 0; u < c->n_users && !rc; u++) {
			if (!x->user_nodes[u].n)
				continue;
			const struct pol__addrset *us;
			rc = pol__src_set(x, r->srcs, r->n_srcs, (int)u, &us);
			if (rc || !us->n_prefixes)
				continue;
			rc = new_cfilter(x, r, d, us, &f);
			if (!rc)
				rc = pol__nodes_addrs(x, &x->user_nodes[u], &f->dst);
			if (!rc)
				rc = finish_cfilter(f);
			for (size_t k = 0; k < x->user_nodes[u].n && !rc; k++)
				rc = node_push_filter(&c->nodes[x->user_nodes[u].v[k]], &f->pub);
		}
		return rc;
	}
	rc = new_cfilter(x, r, d, src, &f);
	if (rc)
		return rc;
	if (d->alias.kind == POL__A_ANY || d->alias.kind == POL__A_DANGER_ALL) {
		f->dst_any = true;
		rc = pol__addrset_add_all(&f->dst);
		if (!rc)
			rc = finish_cfilter(f);
		for (size_t i = 0; i < c->n_nodes && !rc; i++)
			rc = node_push_filter(&c->nodes[i], &f->pub);
		return rc;
	}
	if (d->alias.kind == POL__A_PREFIX || d->alias.kind == POL__A_HOST) {
		rc = pol__addrset_add(&f->dst, &d->alias.prefix);
		if (!rc)
			rc = finish_cfilter(f);
		/* Nodes holding an address in the prefix, and routers routing into it. */
		if (!rc)
			rc = pol__alias_nodes_add(x, &d->alias, &nodes);
		for (size_t i = 0; i < c->n_nodes && !rc; i++)
			if (route_overlaps(&c->nodes[i], &d->alias.prefix))
				rc = pol__ivec_push(&nodes, (int)i);
	} else {
		rc = pol__alias_nodes_add(x, &d->alias, &nodes);
		if (!rc) {
			pol__uniq(x, &nodes);
			rc = pol__nodes_addrs(x, &nodes, &f->dst);
		}
		if (!rc)
			rc = finish_cfilter(f);
	}
	if (!rc)
		pol__uniq(x, &nodes);
	for (size_t i = 0; i < nodes.n && !rc; i++)
		rc = node_push_filter(&c->nodes[nodes.v[i]], &f->pub);
	free(nodes.v);
	return rc;
}

/* A via grant: its subnet destinations reach only through the routers carrying one of
 * the via tags, so only those routers' filters get the rule. */
static int compile_via_dst(struct pol__cctx *x, const struct pol__netrule *r,
			   const struct pol__dst *d, const struct pol__addrset *src)
{
	struct pol_compiled *c = x->c;
	struct pol__cfilter *f = NULL;
	int rc = 0;
	if (d->alias.kind != POL__A_PREFIX && d->alias.kind != POL__A_HOST)
		return 0; /* autogroup:internet and friends: exit traffic, not modelled yet */
	for (size_t v = 0; v < r->n_via && !rc; v++) {
		if (r->via[v] < 0)
			continue;
		const struct pol__ivec *routers = &x->tag_nodes[r->via[v]];
		for (size_t i = 0; i < routers->n && !rc; i++) {
			struct pol__cnode *nd = &c->nodes[routers->v[i]];
			if (!route_overlaps(nd, &d->alias.prefix))
				continue;
			if (!f) {
				rc = new_cfilter(x, r, d, src, &f);
				if (!rc)
					rc = pol__addrset_add(&f->dst, &d->alias.prefix);
				if (!rc)
					rc = finish_cfilter(f);
			}
			if (!rc)
				rc = node_push_filter(nd, &f->pub);
		}
	}
	return rc;
}

int pol__compile_filters(struct pol__cctx *x)
{
	const struct pol_policy *pol = x->pol;
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct pol__netrule *r = &pol->rules[i];
		const struct pol__addrset *src;
		int rc = pol__src_set(x, r->srcs, r->n_srcs, POL__SRC_ALL, &src);
		for (size_t d = 0; d < r->n_dsts && !rc; d++)
			rc = r->has_via ? compile_via_dst(x, r, &r->dsts[d], src)
					: compile_dst(x, r, &r->dsts[d], src);
		if (rc)
			return rc;
	}
	return 0;
}
