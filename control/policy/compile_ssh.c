/* SSH rules per destination node: check rules first, then accept rules, in file order.  A
 * tagged destination takes one shared rule from all sources (people only for check: a tagged
 * node has nobody to re-authenticate); a user-owned destination only its owner's devices.
 * The user map is general (names, autogroup:nonroot) or, for localpart:*@domain, one rule
 * per source user mapping that user's local part. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

static int node_push_ssh(struct pol__cnode *nd, const struct pol_ssh_rule *r)
{
	return POL__PUSH(nd->ssh, nd->n_ssh, nd->cap_ssh, r);
}

static int new_cssh(struct pol__cctx *x, const struct pol__sshrule *r,
		    const struct pol__addrset *src, struct pol__cssh **out)
{
	struct pol__cssh *s = POL__NEW(x->c->sshs, x->c->n_sshs, x->c->cap_sshs);
	if (!s)
		return -ENOMEM;
	s->src = src;
	s->pub.principals = src->prefixes;
	s->pub.n_principals = src->n_prefixes;
	s->pub.action = r->action;
	/* A session that must be recorded gets no channel a recording cannot hold: port and
	 * agent forwarding carry bytes no recording sees (`ssh -W` through a recorded host is
	 * the classic way around recording).  Otherwise all three, as Tailscale allows them. */
	s->pub.allow_agent_forwarding = !r->enforce_recorder;
	s->pub.allow_local_port_forwarding = !r->enforce_recorder;
	s->pub.allow_remote_port_forwarding = !r->enforce_recorder;
	s->pub.check_period_s = r->action == VERDICT_CHECK ? r->check_period_s : 0;
	s->pub.accept_env = (const char *const *)r->accept_env;
	s->pub.n_accept_env = r->n_accept_env;
	s->pub.recorders = x->rec;
	s->pub.n_recorders = x->n_rec;
	s->pub.enforce_recorder = r->enforce_recorder;
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
			m[k++] = (struct pol_ssh_usermap){ "root", "" };
		m[k++] = (struct pol_ssh_usermap){ "*", "=" };
	}
	(void)c;
	*out = m;
	*n = k;
	return 0;
}

/* The localpart rule for source user u (NULL when u's domain matches no localpart user). */
static int localpart_rule(struct pol__cctx *x, const struct pol__sshrule *r, int u,
			  struct pol__owned *maps, struct pol__cssh **out)
{
	struct pol_compiled *c = x->c;
	*out = NULL;
	for (size_t k = 0; k < r->n_users; k++) {
		const struct pol__sshuser *su = &r->users[k];
		if (su->kind != POL__U_LOCALPART ||
		    strcasecmp(pol__login_domain(c->users[u]), su->name) != 0)
			continue;
		const struct pol__addrset *us;
		int rc = pol__src_set(x, r->srcs, r->n_srcs, u, &us);
		if (rc || !us->n_prefixes)
			return rc;
		struct pol_ssh_usermap *m = calloc(1, sizeof(*m));
		const char *at = strrchr(c->users[u], '@');
		char *lp = at ? (char *)pol__keep(c, c->users[u]) : NULL;
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

static int addr_ip_cmp(const void *a, const void *b)
{
	return addr_ip_compare(a, b);
}

/* The addresses of a rule's recorders into x->rec (owned by maps): one address of each of a
 * tag's nodes and the literal addresses, sorted, each once. */
static int recorders_resolve(struct pol__cctx *x, const struct pol__sshrule *r,
			     struct pol__owned *maps)
{
	struct addr_ip *v = NULL;
	size_t n = 0, cap = 0;
	x->rec = NULL;
	x->n_rec = 0;
	if (!r->n_recorders)
		return 0;
	for (size_t i = 0; i < r->n_recorders; i++) {
		const struct pol__alias *a = &r->recorders[i];
		if (a->kind == POL__A_PREFIX) {
			if (POL__PUSH(v, n, cap, a->prefix.ip))
				goto oom;
			continue;
		}
		int t = pol__strmap_get(&x->pol->tag_idx, a->name);
		for (size_t k = 0; t >= 0 && k < x->tag_nodes[t].n; k++) {
			const struct pol__cnode *nd = &x->c->nodes[x->tag_nodes[t].v[k]];
			/* one address per recorder node (Tailscale tries nodes, lowest address
			 * first): its IPv4 one, else its first.  Both would count each node
			 * twice: a node down would be waited for again after all the others */
			size_t pick = 0;
			for (size_t m = nd->n_addrs; m-- > 0;)
				if (nd->addrs[m].family == AF_INET)
					pick = m;
			if (nd->n_addrs && POL__PUSH(v, n, cap, nd->addrs[pick]))
				goto oom;
		}
	}
	if (!v && !(v = calloc(1, sizeof(*v))))
		return -ENOMEM;
	if (n)
		qsort(v, n, sizeof(*v), addr_ip_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || !addr_ip_equal(&v[k - 1], &v[i]))
			v[k++] = v[i];
	if (POL__PUSH(maps->v, maps->n, maps->cap, v))
		goto oom;
	x->rec = v;
	x->n_rec = k;
	return 0;
oom:
	free(v);
	return -ENOMEM;
}

static int compile_ssh_rule(struct pol__cctx *x, const struct pol__sshrule *r,
			    struct pol__owned *maps)
{
	struct pol_compiled *c = x->c;
	struct pol__ivec dst = { 0 };
	struct pol__cssh **lp_rules = NULL; /* per source user, built on first use */
	bool *lp_done = NULL;
	int rc = 0;
	bool has_self = false, has_localpart = false;

	for (size_t i = 0; i < r->n_users; i++)
		has_localpart |= r->users[i].kind == POL__U_LOCALPART;
	rc = recorders_resolve(x, r, maps);
	for (size_t i = 0; i < r->n_dsts && !rc; i++) {
		if (r->dsts[i].kind == POL__A_SELF)
			has_self = true;
		else
			rc = pol__alias_nodes_add(x, &r->dsts[i], &dst);
	}
	if (!rc)
		pol__uniq(x, &dst);

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
			rc = pol__src_set(
			    x, r->srcs, r->n_srcs,
			    r->action == VERDICT_CHECK ? POL__SRC_PEOPLE : POL__SRC_ALL, &all_src);
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
		const struct pol__ivec *un = &x->user_nodes[u];
		bool any = false;
		for (size_t k = 0; k < un->n && !any; k++)
			any = has_self || x->flag[un->v[k]];
		if (!any)
			continue;
		const struct pol__addrset *us;
		struct pol__cssh *s = NULL, *lps = NULL;
		rc = pol__src_set(x, r->srcs, r->n_srcs, (int)u, &us);
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

int pol__compile_ssh(struct pol__cctx *x, struct pol__owned *maps)
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
