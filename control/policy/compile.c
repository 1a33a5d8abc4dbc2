/* Compile: resolve a policy against a topology into per-node packet filters and SSH rules.
 * This file is the driver and the topology's side: pol_compile loads the nodes and users
 * into the indexes the other parts select from (tag -> nodes, user -> nodes, address ->
 * node), then runs compile_filter.c and compile_ssh.c; it also owns the compiled result
 * (its free, its per-node rule lists).  compile_select.c turns aliases into nodes and
 * address sets.
 *
 * Scale matters (10 000 nodes, 1 000 rules): aliases resolve through indexes built once,
 * address sets are shared between rules with the same sources, and each rule is pushed only
 * onto the nodes its destinations select, so the work is proportional to the output rather
 * than nodes x rules. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"
const char *pol__keep(struct pol_compiled *c, const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d || POL__PUSH(c->strings, c->n_strings, c->cap_strings, d)) {
		free(d);
		return NULL;
	}
	return d;
}

static int addrnode_cmp(const void *a, const void *b)
{
	const struct pol__addrnode *x = a, *y = b;
	return addr_ip_compare(&x->a, &y->a);
}

int pol__node_by_addr(const struct pol_compiled *c, const struct addr_ip *a)
{
	size_t lo = 0, hi = c->n_by_addr;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = addr_ip_compare(&c->by_addr[mid].a, a);
		if (cmp == 0)
			return c->by_addr[mid].node;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* A user's provider groups, kept; each as a policy would name it (limits of idp.c). */
static int load_idp_groups(struct pol_compiled *c, const struct pol_user *in, struct pol__uidp *out,
			   struct pol_error *err)
{
	out->at = in->idp_at;
	if (!in->n_idp_groups)
		return 0;
	if (in->n_idp_groups > POL_IDP_GROUPS_MAX)
		return pol__fail(err,
				 "topology: user \"%s\" has %zu provider groups, more than the "
				 "%d allowed",
				 in->login, in->n_idp_groups, POL_IDP_GROUPS_MAX);
	out->groups = calloc(in->n_idp_groups, sizeof(*out->groups));
	if (!out->groups)
		return -ENOMEM;
	for (size_t k = 0; k < in->n_idp_groups; k++) {
		const char *g = in->idp_groups[k];
		if (!g || !*g || strlen(g) > POL_IDP_GROUP_MAX)
			return pol__fail(err,
					 "topology: user \"%s\": provider group %zu is empty or "
					 "longer than %d bytes",
					 in->login, k, POL_IDP_GROUP_MAX);
		if (!(out->groups[k] = pol__keep(c, g)))
			return -ENOMEM;
		out->n++;
	}
	return 0;
}

static int load_topology(struct pol__cctx *x, const struct pol_topology *t, struct pol_error *err)
{
	struct pol_compiled *c = x->c;
	c->users = calloc(t->n_users + 1, sizeof(*c->users));
	c->user_idp = calloc(t->n_users + 1, sizeof(*c->user_idp));
	c->nodes = calloc(t->n_nodes + 1, sizeof(*c->nodes));
	x->user_nodes = calloc(t->n_users + 1, sizeof(*x->user_nodes));
	x->tag_nodes = calloc(x->pol->n_tags + 1, sizeof(*x->tag_nodes));
	x->mark = calloc(t->n_nodes + 1, sizeof(*x->mark));
	x->idp_users = calloc(x->pol->n_groups + 1, sizeof(*x->idp_users));
	x->idp_done = calloc(x->pol->n_groups + 1, sizeof(*x->idp_done));
	x->flag = calloc(t->n_nodes + 1, sizeof(*x->flag));
	if (!c->users || !c->user_idp || !c->nodes || !x->user_nodes || !x->tag_nodes || !x->mark ||
	    !x->idp_users || !x->idp_done || !x->flag)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_users; i++) {
		if (!t->users[i].login)
			return pol__fail(err, "topology: user %zu has no login", i);
		c->users[i] = (char *)pol__keep(c, t->users[i].login);
		if (!c->users[i])
			return -ENOMEM;
		c->n_users++;
		if (strlen(c->users[i]) >= 256)
			return pol__fail(err, "topology: user login \"%.40s...\" is too long",
					 c->users[i]);
		if (pol__user_index(c, c->users[i]) >= 0)
			return pol__fail(err, "topology: user \"%s\" listed twice", c->users[i]);
		char *key = (char *)pol__keep(c, c->users[i]);
		if (!key)
			return -ENOMEM;
		for (char *p = key; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (pol__strmap_put(&c->user_idx, key, (int)i))
			return -ENOMEM;
		int rc = load_idp_groups(c, &t->users[i], &c->user_idp[i], err);
		if (rc)
			return rc;
	}
	size_t n_addr = 0;
	for (size_t i = 0; i < t->n_nodes; i++)
		n_addr += t->nodes[i].n_addrs;
	c->by_addr = calloc(n_addr + 1, sizeof(*c->by_addr));
	if (!c->by_addr)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_nodes; i++) {
		const struct pol_node *in = &t->nodes[i];
		struct pol__cnode *nd = &c->nodes[i];
		c->n_nodes++;
		if (!in->name || !*in->name)
			return pol__fail(err, "topology: node %zu has no name", i);
		nd->name = pol__keep(c, in->name);
		nd->hostname = pol__keep(c, in->hostname ? in->hostname : in->name);
		nd->user = -1;
		if (!nd->name || !nd->hostname)
			return -ENOMEM;
		if (pol__strmap_get(&c->node_idx, nd->name) >= 0)
			return pol__fail(err, "topology: node \"%s\" listed twice", nd->name);
		if (pol__strmap_put(&c->node_idx, nd->name, (int)i))
			return -ENOMEM;
		nd->tags = calloc(in->n_tags + 1, sizeof(*nd->tags));
		nd->addrs = calloc(in->n_addrs + 1, sizeof(*nd->addrs));
		nd->routes = calloc(in->n_routes + 1, sizeof(*nd->routes));
		if (!nd->tags || !nd->addrs || !nd->routes)
			return -ENOMEM;
		for (size_t k = 0; k < in->n_tags; k++) {
			/* A tag the policy does not define still makes the node tagged, but
			 * no rule can select it. */
			int tg = pol__strmap_get(&x->pol->tag_idx, in->tags[k]);
			if (tg < 0)
				continue;
			nd->tags[nd->n_tags++] = tg;
			if (pol__ivec_push(&x->tag_nodes[tg], (int)i))
				return -ENOMEM;
		}
		if (!in->n_tags && in->owner) {
			nd->owner = pol__keep(c, in->owner);
			if (!nd->owner)
				return -ENOMEM;
			nd->user = pol__user_index(c, in->owner);
			if (nd->user < 0)
				return pol__fail(
				    err, "topology: node \"%s\" is owned by unknown user \"%s\"",
				    nd->name, in->owner);
			if (pol__ivec_push(&x->user_nodes[nd->user], (int)i) ||
			    pol__ivec_push(&x->member, (int)i))
				return -ENOMEM;
		} else if (pol__ivec_push(&x->tagged, (int)i)) {
			return -ENOMEM;
		}
		if (pol__ivec_push(&x->all, (int)i))
			return -ENOMEM;
		for (size_t k = 0; k < in->n_addrs; k++) {
			nd->addrs[nd->n_addrs++] = in->addrs[k];
			c->by_addr[c->n_by_addr++] = (struct pol__addrnode){ in->addrs[k], (int)i };
		}
		for (size_t k = 0; k < in->n_routes; k++)
			nd->routes[nd->n_routes++] = in->routes[k];
	}
	qsort(c->by_addr, c->n_by_addr, sizeof(*c->by_addr), addrnode_cmp);
	return 0;
}

static void ctx_free(struct pol__cctx *x)
{
	if (x->user_nodes)
		for (size_t i = 0; i < x->c->n_users; i++)
			free(x->user_nodes[i].v);
	if (x->tag_nodes)
		for (size_t i = 0; i < x->pol->n_tags; i++)
			free(x->tag_nodes[i].v);
	free(x->user_nodes);
	free(x->tag_nodes);
	free(x->member.v);
	free(x->tagged.v);
	free(x->all.v);
	free(x->mark);
	free(x->flag);
	if (x->idp_users)
		for (size_t i = 0; i < x->pol->n_groups; i++)
			free(x->idp_users[i].v);
	free(x->idp_users);
	free(x->idp_done);
	for (size_t i = 0; i < x->n_set_keys; i++)
		free(x->set_keys[i]);
	free(x->set_keys);
	pol__strmap_free(&x->set_cache);
}

int pol_compile(const struct pol_policy *pol, const struct pol_topology *topo,
		struct pol_compiled **out, struct pol_error *err)
{
	struct pol_error scratch;
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	*out = NULL;
	struct pol_compiled *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->pol = pol;
	c->allow_all = !pol->has_rules;
	struct pol__cctx x = { .c = c, .pol = pol };
	struct pol__owned maps = { 0 };
	int rc = load_topology(&x, topo, err);
	if (!rc)
		rc = pol__compile_filters(&x);
	if (!rc)
		rc = pol__compile_ssh(&x, &maps);
	ctx_free(&x);
	c->maps = maps.v;
	c->n_maps = maps.n;
	if (rc) {
		if (rc == -ENOMEM)
			snprintf(err->msg, sizeof(err->msg), "out of memory");
		pol_compiled_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void pol_compiled_free(struct pol_compiled *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_nodes; i++) {
		free(c->nodes[i].tags);
		free(c->nodes[i].addrs);
		free(c->nodes[i].routes);
		free(c->nodes[i].filter);
		free(c->nodes[i].ssh);
	}
	free(c->nodes);
	free(c->users);
	for (size_t i = 0; c->user_idp && i < c->n_users; i++)
		free(c->user_idp[i].groups);
	free(c->user_idp);
	for (size_t i = 0; i < c->n_strings; i++)
		free(c->strings[i]);
	free(c->strings);
	for (size_t i = 0; i < c->n_sets; i++) {
		pol__addrset_free(c->sets[i]);
		free(c->sets[i]);
	}
	free(c->sets);
	for (size_t i = 0; i < c->n_filters; i++) {
		pol__addrset_free(&c->filters[i]->dst);
		free(c->filters[i]);
	}
	free(c->filters);
	for (size_t i = 0; i < c->n_sshs; i++)
		free(c->sshs[i]);
	free(c->sshs);
	for (size_t i = 0; i < c->n_maps; i++)
		free(c->maps[i]);
	free(c->maps);
	free(c->by_addr);
	pol__strmap_free(&c->node_idx);
	pol__strmap_free(&c->user_idx);
	pol_policy_free(c->owned_pol);
	free(c);
}

size_t pol_compiled_node_count(const struct pol_compiled *c)
{
	return c->n_nodes;
}

int pol_compiled_find_node(const struct pol_compiled *c, const char *s, size_t *index)
{
	int i = pol__strmap_get(&c->node_idx, s);
	if (i < 0) {
		struct addr_ip a;
		if (addr_ip_parse(s, &a, NULL))
			i = pol__node_by_addr(c, &a);
	}
	for (size_t k = 0; i < 0 && k < c->n_nodes; k++)
		if (strcmp(c->nodes[k].hostname, s) == 0)
			i = (int)k;
	if (i < 0)
		return -ENOENT;
	*index = (size_t)i;
	return 0;
}

size_t pol_node_filter(const struct pol_compiled *c, size_t node,
		       const struct pol_filter_rule *const **rules)
{
	if (node >= c->n_nodes) {
		*rules = NULL;
		return 0;
	}
	*rules = c->nodes[node].filter;
	return c->nodes[node].n_filter;
}

size_t pol_node_ssh(const struct pol_compiled *c, size_t node,
		    const struct pol_ssh_rule *const **rules)
{
	if (node >= c->n_nodes) {
		*rules = NULL;
		return 0;
	}
	*rules = c->nodes[node].ssh;
	return c->nodes[node].n_ssh;
}
