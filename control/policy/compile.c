/* Compile: resolve a policy against a topology into per-node packet filters and SSH rules.
 *
 * Scale matters (10 000 nodes, 1 000 rules): aliases resolve through indexes built once
 * (tag -> nodes, user -> nodes, group -> users), address sets are shared between rules
 * with the same sources, and each rule is pushed only onto the nodes its destinations
 * select, so the work is proportional to the output rather than nodes x rules. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

struct ivec {
	int *v;
	size_t n, cap;
};

struct ctx {
	struct pol_compiled *c;
	const struct pol_policy *pol;
	struct ivec *tag_nodes;	 /* per tag index */
	struct ivec *user_nodes; /* per user index: untagged nodes owned */
	struct ivec member, tagged, all;
	struct pol__strmap set_cache; /* key -> index in c->sets */
	char **set_keys;
	size_t n_set_keys, cap_set_keys;
	int *mark;     /* per node scratch */
	uint8_t *flag; /* per node scratch, left all zero */
	int mark_gen;
};

static int ivec_push(struct ivec *v, int x)
{
	return POL__PUSH(v->v, v->n, v->cap, x);
}

static const char *keep(struct pol_compiled *c, const char *s)
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

static const char *login_domain(const char *login)
{
	const char *at = login ? strrchr(login, '@') : NULL;
	return at ? at + 1 : "";
}

/* ---- alias -> nodes ---- */

/* Logins compare without regard to case, as e-mail addresses do in practice. */
static int user_index(const struct pol_compiled *c, const char *login)
{
	char buf[256];
	size_t n = login ? strlen(login) : 0;
	if (!login || n >= sizeof(buf))
		return -1;
	for (size_t i = 0; i <= n; i++)
		buf[i] = (char)tolower((unsigned char)login[i]);
	return pol__strmap_get(&c->user_idx, buf);
}

/* Appends the nodes an alias selects to out (may repeat; callers de-duplicate with mark). */
static int alias_nodes(struct ctx *x, const struct pol__alias *a, struct ivec *out)
{
	const struct pol_compiled *c = x->c;
	const struct ivec *src = NULL;
	int rc = 0;
	switch (a->kind) {
	case POL__A_ANY:
	case POL__A_DANGER_ALL:
		src = &x->all;
		break;
	case POL__A_MEMBER:
		src = &x->member;
		break;
	case POL__A_TAGGED:
		src = &x->tagged;
		break;
	case POL__A_TAG: {
		int t = pol__strmap_get(&x->pol->tag_idx, a->name);
		src = t >= 0 ? &x->tag_nodes[t] : NULL;
		break;
	}
	case POL__A_USER: {
		int u = user_index(c, a->name);
		src = u >= 0 ? &x->user_nodes[u] : NULL;
		break;
	}
	case POL__A_GROUP: {
		int g = pol__strmap_get(&x->pol->group_idx, a->name);
		if (g < 0)
			break;
		const struct pol__group *grp = &x->pol->groups[g];
		for (size_t i = 0; i < grp->n_members && !rc; i++) {
			int u = user_index(c, grp->members[i]);
			if (u < 0)
				continue;
			for (size_t k = 0; k < x->user_nodes[u].n && !rc; k++)
				rc = ivec_push(out, x->user_nodes[u].v[k]);
		}
		return rc;
	}
	case POL__A_DOMAIN:
		for (size_t u = 0; u < c->n_users && !rc; u++) {
			if (strcasecmp(login_domain(c->users[u]), a->name) != 0)
				continue;
			for (size_t k = 0; k < x->user_nodes[u].n && !rc; k++)
				rc = ivec_push(out, x->user_nodes[u].v[k]);
		}
		return rc;
	case POL__A_HOST:
	case POL__A_PREFIX:
		/* Nodes whose own address falls in the prefix. */
		for (size_t i = 0; i < c->n_nodes && !rc; i++)
			for (size_t k = 0; k < c->nodes[i].n_addrs; k++)
				if (pol_prefix_contains(&a->prefix, &c->nodes[i].addrs[k])) {
					rc = ivec_push(out, (int)i);
					break;
				}
		return rc;
	case POL__A_SELF:
	case POL__A_INTERNET:
		break;
	}
	for (size_t i = 0; src && i < src->n && !rc; i++)
		rc = ivec_push(out, src->v[i]);
	return rc;
}

bool pol__node_matches(const struct pol_compiled *c, size_t node, const struct pol__alias *a)
{
	const struct pol__cnode *nd = &c->nodes[node];
	bool hit = false;
	switch (a->kind) {
	case POL__A_ANY:
	case POL__A_DANGER_ALL:
		return true;
	case POL__A_MEMBER:
		return nd->user >= 0;
	case POL__A_TAGGED:
		return nd->user < 0;
	case POL__A_TAG: {
		int t = pol__strmap_get(&c->pol->tag_idx, a->name);
		for (size_t k = 0; k < nd->n_tags; k++)
			hit |= nd->tags[k] == t;
		return hit;
	}
	case POL__A_USER:
		return nd->user >= 0 && strcasecmp(c->users[nd->user], a->name) == 0;
	case POL__A_GROUP: {
		int g = pol__strmap_get(&c->pol->group_idx, a->name);
		if (g < 0 || nd->user < 0)
			return false;
		for (size_t k = 0; k < c->pol->groups[g].n_members; k++)
			hit |= strcasecmp(c->pol->groups[g].members[k], c->users[nd->user]) == 0;
		return hit;
	}
	case POL__A_DOMAIN:
		return nd->user >= 0 && strcasecmp(login_domain(c->users[nd->user]), a->name) == 0;
	case POL__A_HOST:
	case POL__A_PREFIX:
		for (size_t k = 0; k < nd->n_addrs; k++)
			hit |= pol_prefix_contains(&a->prefix, &nd->addrs[k]);
		return hit;
	case POL__A_SELF:
	case POL__A_INTERNET:
		break;
	}
	return false;
}

int pol__alias_nodes(const struct pol_compiled *c, const struct pol__alias *a, int **out, size_t *n)
{
	/* Slow path for tests and explain: linear over nodes, no indexes needed. */
	struct ivec v = {0};
	int rc = 0;
	for (size_t i = 0; i < c->n_nodes && !rc; i++)
		if (pol__node_matches(c, i, a))
			rc = ivec_push(&v, (int)i);
	if (rc) {
		free(v.v);
		return rc;
	}
	*out = v.v;
	*n = v.n;
	return 0;
}

/* De-duplicates in place using the mark array. */
static void uniq(struct ctx *x, struct ivec *v)
{
	x->mark_gen++;
	size_t m = 0;
	for (size_t i = 0; i < v->n; i++) {
		if (x->mark[v->v[i]] == x->mark_gen)
			continue;
		x->mark[v->v[i]] = x->mark_gen;
		v->v[m++] = v->v[i];
	}
	v->n = m;
}

static int nodes_addrs(struct ctx *x, const struct ivec *nodes, struct pol__addrset *s)
{
	for (size_t i = 0; i < nodes->n; i++) {
		const struct pol__cnode *nd = &x->c->nodes[nodes->v[i]];
		for (size_t k = 0; k < nd->n_addrs; k++) {
			struct pol_prefix p = {.addr = nd->addrs[k],
					       .bits = nd->addrs[k].family == 4 ? 32 : 128};
			int rc = pol__addrset_add(s, &p);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int add_all(struct pol__addrset *s)
{
	struct pol_prefix p4 = {.addr = {.family = 4}, .bits = 0};
	struct pol_prefix p6 = {.addr = {.family = 6}, .bits = 0};
	int rc = pol__addrset_add(s, &p4);
	return rc ? rc : pol__addrset_add(s, &p6);
}

static int new_set(struct ctx *x, struct pol__addrset **out)
{
	struct pol__addrset *s = calloc(1, sizeof(*s));
	if (!s || POL__PUSH(x->c->sets, x->c->n_sets, x->c->cap_sets, s)) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

enum { SRC_ALL = -1, SRC_PEOPLE = -2 };

/* The address set of a list of source aliases, shared by every rule with the same list.
 * restrict_user >= 0 keeps only that user's own (untagged) nodes; SRC_PEOPLE keeps only
 * user-owned nodes (check rules: a tagged node has nobody to re-authenticate). */
static int src_set(struct ctx *x, const struct pol__alias *srcs, size_t n, int restrict_user,
		   const struct pol__addrset **out)
{
	size_t klen = 16;
	for (size_t i = 0; i < n; i++)
		klen += strlen(srcs[i].text) + 1;
	char *key = malloc(klen);
	if (!key)
		return -ENOMEM;
	int off = snprintf(key, klen, "%d", restrict_user);
	for (size_t i = 0; i < n; i++)
		off += snprintf(key + off, klen - (size_t)off, "\x1f%s", srcs[i].text);
	int hit = pol__strmap_get(&x->set_cache, key);
	if (hit >= 0) {
		free(key);
		*out = x->c->sets[hit];
		return 0;
	}
	struct pol__addrset *s;
	struct ivec nodes = {0};
	int rc = new_set(x, &s);
	if (!rc && restrict_user >= 0) {
		/* Only the user's own devices, those some source alias covers. */
		const struct ivec *un = &x->user_nodes[restrict_user];
		for (size_t k = 0; k < un->n && !rc; k++)
			for (size_t i = 0; i < n; i++)
				if (pol__node_matches(x->c, (size_t)un->v[k], &srcs[i])) {
					rc = ivec_push(&nodes, un->v[k]);
					break;
				}
	}
	for (size_t i = 0; i < n && !rc && restrict_user == SRC_ALL; i++) {
		const struct pol__alias *a = &srcs[i];
		if (a->kind == POL__A_ANY || a->kind == POL__A_DANGER_ALL)
			rc = add_all(s);
		else if (a->kind == POL__A_PREFIX || a->kind == POL__A_HOST)
			rc = pol__addrset_add(s, &a->prefix);
		else
			rc = alias_nodes(x, a, &nodes);
	}
	if (restrict_user == SRC_PEOPLE) {
		for (size_t i = 0; i < n && !rc; i++)
			rc = alias_nodes(x, &srcs[i], &nodes);
		size_t m = 0;
		for (size_t i = 0; i < nodes.n; i++)
			if (x->c->nodes[nodes.v[i]].user >= 0)
				nodes.v[m++] = nodes.v[i];
		nodes.n = m;
	}
	if (!rc) {
		uniq(x, &nodes);
		rc = nodes_addrs(x, &nodes, s);
	}
	free(nodes.v);
	if (!rc)
		rc = pol__addrset_finish(s);
	if (rc || (rc = POL__PUSH(x->set_keys, x->n_set_keys, x->cap_set_keys, key)))
		free(key);
	else
		rc = pol__strmap_put(&x->set_cache, key, (int)x->c->n_sets - 1);
	if (!rc)
		*out = s;
	return rc;
}

/* ---- packet filter ---- */

static int node_push_filter(struct pol__cnode *nd, const struct pol_filter_rule *r)
{
	if (nd->n_filter && nd->filter[nd->n_filter - 1] == r)
		return 0;
	return POL__PUSH(nd->filter, nd->n_filter, nd->cap_filter, r);
}

static int new_cfilter(struct ctx *x, const struct pol__netrule *r, const struct pol__dst *d,
		       const struct pol__addrset *src, struct pol__cfilter **out)
{
	struct pol__cfilter *f = calloc(1, sizeof(*f));
	if (!f || POL__PUSH(x->c->filters, x->c->n_filters, x->c->cap_filters, f)) {
		free(f);
		return -ENOMEM;
	}
	f->src = src;
	f->pub.srcs = src->prefixes;
	f->pub.n_srcs = src->n_prefixes;
	f->pub.ports = d->ports;
	f->pub.n_ports = d->n_ports;
	static const uint8_t any_protos[] = {0};
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

static bool route_overlaps(const struct pol__cnode *nd, const struct pol_prefix *p)
{
	for (size_t k = 0; k < nd->n_routes; k++) {
		const struct pol_prefix *rt = &nd->routes[k];
		if (rt->addr.family == p->addr.family &&
		    (pol_prefix_contains(rt, &p->addr) || pol_prefix_contains(p, &rt->addr)))
			return true;
	}
	return false;
}

static int compile_dst(struct ctx *x, const struct pol__netrule *r, const struct pol__dst *d,
		       const struct pol__addrset *src)
{
	struct pol_compiled *c = x->c;
	struct pol__cfilter *f;
	struct ivec nodes = {0};
	int rc = 0;

	if (d->alias.kind == POL__A_INTERNET)
		return 0; /* exit-node traffic; never a node's own address */
	if (d->alias.kind == POL__A_SELF) {
		/* One rule per user: that user's sources to that user's devices. */
		for (size_t u = 0; u < c->n_users && !rc; u++) {
			if (!x->user_nodes[u].n)
				continue;
			const struct pol__addrset *us;
			rc = src_set(x, r->srcs, r->n_srcs, (int)u, &us);
			if (rc || !us->n_prefixes)
				continue;
			rc = new_cfilter(x, r, d, us, &f);
			if (!rc)
				rc = nodes_addrs(x, &x->user_nodes[u], &f->dst);
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
		rc = add_all(&f->dst);
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
			rc = alias_nodes(x, &d->alias, &nodes);
		for (size_t i = 0; i < c->n_nodes && !rc; i++)
			if (route_overlaps(&c->nodes[i], &d->alias.prefix))
				rc = ivec_push(&nodes, (int)i);
	} else {
		rc = alias_nodes(x, &d->alias, &nodes);
		if (!rc) {
			uniq(x, &nodes);
			rc = nodes_addrs(x, &nodes, &f->dst);
		}
		if (!rc)
			rc = finish_cfilter(f);
	}
	if (!rc)
		uniq(x, &nodes);
	for (size_t i = 0; i < nodes.n && !rc; i++)
		rc = node_push_filter(&c->nodes[nodes.v[i]], &f->pub);
	free(nodes.v);
	return rc;
}

/* A via grant: its subnet destinations reach only through the routers carrying one of
 * the via tags, so only those routers' filters get the rule. */
static int compile_via_dst(struct ctx *x, const struct pol__netrule *r, const struct pol__dst *d,
			   const struct pol__addrset *src)
{
	struct pol_compiled *c = x->c;
	struct pol__cfilter *f = NULL;
	int rc = 0;
	if (d->alias.kind != POL__A_PREFIX && d->alias.kind != POL__A_HOST)
		return 0; /* autogroup:internet and friends: exit traffic, not modelled yet */
	for (size_t v = 0; v < r->n_via && !rc; v++) {
		if (r->via[v] < 0)
			continue;
		const struct ivec *routers = &x->tag_nodes[r->via[v]];
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

static int compile_filters(struct ctx *x)
{
	const struct pol_policy *pol = x->pol;
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct pol__netrule *r = &pol->rules[i];
		const struct pol__addrset *src;
		int rc = src_set(x, r->srcs, r->n_srcs, SRC_ALL, &src);
		for (size_t d = 0; d < r->n_dsts && !rc; d++)
			rc = r->has_via ? compile_via_dst(x, r, &r->dsts[d], src)
					: compile_dst(x, r, &r->dsts[d], src);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- ssh ---- */

static int node_push_ssh(struct pol__cnode *nd, const struct pol_ssh_rule *r)
{
	return POL__PUSH(nd->ssh, nd->n_ssh, nd->cap_ssh, r);
}

static int new_cssh(struct ctx *x, const struct pol__sshrule *r, const struct pol__addrset *src,
		    struct pol__cssh **out)
{
	struct pol__cssh *s = calloc(1, sizeof(*s));
	if (!s || POL__PUSH(x->c->sshs, x->c->n_sshs, x->c->cap_sshs, s)) {
		free(s);
		return -ENOMEM;
	}
	s->src = src;
	s->pub.principals = src->prefixes;
	s->pub.n_principals = src->n_prefixes;
	s->pub.action = r->action;
	s->pub.allow_agent_forwarding = true;
	s->pub.allow_local_port_forwarding = true;
	s->pub.allow_remote_port_forwarding = true;
	s->pub.check_period_s = r->action == VERDICT_CHECK ? r->check_period_s : 0;
	s->pub.accept_env = (const char *const *)r->accept_env;
	s->pub.n_accept_env = r->n_accept_env;
	s->pub.index = r->index;
	*out = s;
	return 0;
}

/* User map for the non-localpart users of a rule: names map to themselves, nonroot maps
 * "*" to "=" and refuses root unless root is named. */
static int usermap_general(struct pol_compiled *c, const struct pol__sshrule *r,
			   struct pol_ssh_usermap **out, size_t *n)
{
	struct pol_ssh_usermap *m = calloc(r->n_users + 2, sizeof(*m));
	size_t k = 0;
	bool nonroot = false, root = false;
	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_users; i++) {
		if (r->users[i].kind == POL__U_NONROOT)
			nonroot = true;
		if (r->users[i].kind != POL__U_NAME)
			continue;
		if (strcmp(r->users[i].name, "root") == 0)
			root = true;
		m[k].from = r->users[i].name;
		m[k].to = r->users[i].name;
		k++;
	}
	if (nonroot) {
		if (!root)
			m[k++] = (struct pol_ssh_usermap){"root", ""};
		m[k++] = (struct pol_ssh_usermap){"*", "="};
	}
	(void)c;
	*out = m;
	*n = k;
	return 0;
}

struct owned {
	void **v;
	size_t n, cap;
};

/* The localpart rule for source user u (NULL when u's domain matches no localpart user). */
static int localpart_rule(struct ctx *x, const struct pol__sshrule *r, int u, struct owned *maps,
			  struct pol__cssh **out)
{
	struct pol_compiled *c = x->c;
	*out = NULL;
	for (size_t k = 0; k < r->n_users; k++) {
		const struct pol__sshuser *su = &r->users[k];
		if (su->kind != POL__U_LOCALPART ||
		    strcasecmp(login_domain(c->users[u]), su->name) != 0)
			continue;
		const struct pol__addrset *us;
		int rc = src_set(x, r->srcs, r->n_srcs, u, &us);
		if (rc || !us->n_prefixes)
			return rc;
		struct pol_ssh_usermap *m = calloc(1, sizeof(*m));
		const char *at = strrchr(c->users[u], '@');
		char *lp = at ? (char *)keep(c, c->users[u]) : NULL;
		if (!m || !lp || POL__PUSH(maps->v, maps->n, maps->cap, m)) {
			free(m);
			return -ENOMEM;
		}
		lp[at - c->users[u]] = '\0';
		m->from = lp;
		m->to = lp;
		rc = new_cssh(x, r, us, out);
		if (!rc) {
			(*out)->pub.users = m;
			(*out)->pub.n_users = 1;
		}
		return rc;
	}
	return 0;
}

static int compile_ssh_rule(struct ctx *x, const struct pol__sshrule *r, struct owned *maps)
{
	struct pol_compiled *c = x->c;
	struct ivec dst = {0};
	struct pol__cssh **lp_rules = NULL; /* per source user, built on first use */
	bool *lp_done = NULL;
	int rc = 0;
	bool has_self = false, has_localpart = false;

	for (size_t i = 0; i < r->n_users; i++)
		has_localpart |= r->users[i].kind == POL__U_LOCALPART;
	for (size_t i = 0; i < r->n_dsts && !rc; i++) {
		if (r->dsts[i].kind == POL__A_SELF)
			has_self = true;
		else
			rc = alias_nodes(x, &r->dsts[i], &dst);
	}
	if (!rc)
		uniq(x, &dst);

	struct pol_ssh_usermap *gmap = NULL;
	size_t n_gmap = 0;
	if (!rc)
		rc = usermap_general(c, r, &gmap, &n_gmap);
	if (!rc && POL__PUSH(maps->v, maps->n, maps->cap, gmap)) {
		free(gmap);
		rc = -ENOMEM;
	}
	if (!rc && has_localpart) {
		lp_rules = calloc(c->n_users + 1, sizeof(*lp_rules));
		lp_done = calloc(c->n_users + 1, sizeof(*lp_done));
		if (!lp_rules || !lp_done)
			rc = -ENOMEM;
	}

	/* Tagged destinations: any source node; one shared rule plus the localpart ones. */
	struct pol__cssh *shared = NULL, **lp_list = NULL;
	bool shared_done = false, lp_list_done = false;
	size_t n_lp = 0;
	if (!rc && has_localpart && !(lp_list = calloc(c->n_users + 1, sizeof(*lp_list))))
		rc = -ENOMEM;
	for (size_t i = 0; i < dst.n && !rc; i++) {
		struct pol__cnode *nd = &c->nodes[dst.v[i]];
		x->flag[dst.v[i]] = 1;
		if (nd->user >= 0)
			continue;
		if (!shared_done && n_gmap) {
			const struct pol__addrset *all_src;
			shared_done = true;
			rc = src_set(x, r->srcs, r->n_srcs,
				     r->action == VERDICT_CHECK ? SRC_PEOPLE : SRC_ALL, &all_src);
			if (!rc && all_src->n_prefixes)
				rc = new_cssh(x, r, all_src, &shared);
			if (!rc && shared) {
				shared->pub.users = gmap;
				shared->pub.n_users = n_gmap;
			}
		}
		if (!rc && shared)
			rc = node_push_ssh(nd, &shared->pub);
		if (has_localpart && !lp_list_done) {
			lp_list_done = true;
			for (size_t u = 0; u < c->n_users && !rc; u++) {
				if (!lp_done[u]) {
					lp_done[u] = true;
					rc = localpart_rule(x, r, (int)u, maps, &lp_rules[u]);
				}
				if (!rc && lp_rules[u])
					lp_list[n_lp++] = lp_rules[u];
			}
		}
		for (size_t k = 0; k < n_lp && !rc; k++)
			rc = node_push_ssh(nd, &lp_list[k]->pub);
	}

	/* User-owned destinations: only the owner's own devices may connect. */
	for (size_t u = 0; u < c->n_users && !rc; u++) {
		const struct ivec *un = &x->user_nodes[u];
		bool any = false;
		for (size_t k = 0; k < un->n && !any; k++)
			any = has_self || x->flag[un->v[k]];
		if (!any)
			continue;
		const struct pol__addrset *us;
		struct pol__cssh *s = NULL, *lps = NULL;
		rc = src_set(x, r->srcs, r->n_srcs, (int)u, &us);
		if (rc || !us->n_prefixes)
			continue;
		if (n_gmap) {
			rc = new_cssh(x, r, us, &s);
			if (!rc) {
				s->pub.users = gmap;
				s->pub.n_users = n_gmap;
			}
		}
		if (!rc && has_localpart) {
			if (!lp_done[u]) {
				lp_done[u] = true;
				rc = localpart_rule(x, r, (int)u, maps, &lp_rules[u]);
			}
			lps = lp_rules[u];
		}
		for (size_t k = 0; k < un->n && !rc; k++) {
			if (!has_self && !x->flag[un->v[k]])
				continue;
			if (s)
				rc = node_push_ssh(&c->nodes[un->v[k]], &s->pub);
			if (!rc && lps)
				rc = node_push_ssh(&c->nodes[un->v[k]], &lps->pub);
		}
	}
	for (size_t i = 0; i < dst.n; i++)
		x->flag[dst.v[i]] = 0;
	free(dst.v);
	free(lp_rules);
	free(lp_done);
	free(lp_list);
	return rc;
}

static int compile_ssh(struct ctx *x, struct owned *maps)
{
	/* Check rules first, whatever their order in the file. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < x->pol->n_ssh; i++) {
			const struct pol__sshrule *r = &x->pol->ssh[i];
			if ((pass == 0) != (r->action == VERDICT_CHECK))
				continue;
			int rc = compile_ssh_rule(x, r, maps);
			if (rc)
				return rc;
		}
	return 0;
}

/* ---- topology ---- */

static int addrnode_cmp(const void *a, const void *b)
{
	const struct pol__addrnode *x = a, *y = b;
	return pol__addr_cmp(&x->a, &y->a);
}

int pol__node_by_addr(const struct pol_compiled *c, const struct pol_addr *a)
{
	size_t lo = 0, hi = c->n_by_addr;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = pol__addr_cmp(&c->by_addr[mid].a, a);
		if (cmp == 0)
			return c->by_addr[mid].node;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int load_topology(struct ctx *x, const struct pol_topology *t, struct pol_error *err)
{
	struct pol_compiled *c = x->c;
	c->users = calloc(t->n_users + 1, sizeof(*c->users));
	c->nodes = calloc(t->n_nodes + 1, sizeof(*c->nodes));
	x->user_nodes = calloc(t->n_users + 1, sizeof(*x->user_nodes));
	x->tag_nodes = calloc(x->pol->n_tags + 1, sizeof(*x->tag_nodes));
	x->mark = calloc(t->n_nodes + 1, sizeof(*x->mark));
	x->flag = calloc(t->n_nodes + 1, sizeof(*x->flag));
	if (!c->users || !c->nodes || !x->user_nodes || !x->tag_nodes || !x->mark || !x->flag)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_users; i++) {
		if (!t->users[i].login)
			return pol__fail(err, "topology: user %zu has no login", i);
		c->users[i] = (char *)keep(c, t->users[i].login);
		if (!c->users[i])
			return -ENOMEM;
		c->n_users++;
		if (strlen(c->users[i]) >= 256)
			return pol__fail(err, "topology: user login \"%.40s...\" is too long",
					 c->users[i]);
		if (user_index(c, c->users[i]) >= 0)
			return pol__fail(err, "topology: user \"%s\" listed twice", c->users[i]);
		char *key = (char *)keep(c, c->users[i]);
		if (!key)
			return -ENOMEM;
		for (char *p = key; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (pol__strmap_put(&c->user_idx, key, (int)i))
			return -ENOMEM;
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
		nd->name = keep(c, in->name);
		nd->hostname = keep(c, in->hostname ? in->hostname : in->name);
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
			if (ivec_push(&x->tag_nodes[tg], (int)i))
				return -ENOMEM;
		}
		if (!in->n_tags && in->owner) {
			nd->owner = keep(c, in->owner);
			if (!nd->owner)
				return -ENOMEM;
			nd->user = user_index(c, in->owner);
			if (nd->user < 0)
				return pol__fail(
				    err, "topology: node \"%s\" is owned by unknown user \"%s\"",
				    nd->name, in->owner);
			if (ivec_push(&x->user_nodes[nd->user], (int)i) ||
			    ivec_push(&x->member, (int)i))
				return -ENOMEM;
		} else if (ivec_push(&x->tagged, (int)i)) {
			return -ENOMEM;
		}
		if (ivec_push(&x->all, (int)i))
			return -ENOMEM;
		for (size_t k = 0; k < in->n_addrs; k++) {
			nd->addrs[nd->n_addrs++] = in->addrs[k];
			c->by_addr[c->n_by_addr++] = (struct pol__addrnode){in->addrs[k], (int)i};
		}
		for (size_t k = 0; k < in->n_routes; k++)
			nd->routes[nd->n_routes++] = in->routes[k];
	}
	qsort(c->by_addr, c->n_by_addr, sizeof(*c->by_addr), addrnode_cmp);
	return 0;
}

static void ctx_free(struct ctx *x)
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
	struct ctx x = {.c = c, .pol = pol};
	struct owned maps = {0};
	int rc = load_topology(&x, topo, err);
	if (!rc)
		rc = compile_filters(&x);
	if (!rc)
		rc = compile_ssh(&x, &maps);
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
		struct pol_addr a;
		if (pol_addr_parse(s, &a))
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
