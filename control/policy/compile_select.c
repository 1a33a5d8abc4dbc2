/* Selection while compiling: the nodes an alias names, through the indexes compile.c built
 * (pol__alias_nodes_add), or one node against an alias (pol__node_matches, also the slow
 * path tests and explain use), and the address set of a rule's sources, built once and
 * shared by every rule with the same source list (pol__src_set).  Logins compare without
 * regard to case. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"
int pol__ivec_push(struct pol__ivec *v, int x)
{
	return POL__PUSH(v->v, v->n, v->cap, x);
}

const char *pol__login_domain(const char *login)
{
	const char *at = login ? strrchr(login, '@') : NULL;
	return at ? at + 1 : "";
}

/* Logins compare without regard to case, as e-mail addresses do in practice. */
int pol__user_index(const struct pol_compiled *c, const char *login)
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
int pol__alias_nodes_add(struct pol__cctx *x, const struct pol__alias *a, struct pol__ivec *out)
{
	const struct pol_compiled *c = x->c;
	const struct pol__ivec *src = NULL;
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
		int u = pol__user_index(c, a->name);
		src = u >= 0 ? &x->user_nodes[u] : NULL;
		break;
	}
	case POL__A_GROUP: {
		int g = pol__strmap_get(&x->pol->group_idx, a->name);
		if (g < 0)
			break;
		const struct pol__group *grp = &x->pol->groups[g];
		for (size_t i = 0; i < grp->n_members && !rc; i++) {
			int u = pol__user_index(c, grp->members[i]);
			if (u < 0)
				continue;
			for (size_t k = 0; k < x->user_nodes[u].n && !rc; k++)
				rc = pol__ivec_push(out, x->user_nodes[u].v[k]);
		}
		/* members through the provider (found once per compilation) */
		const struct pol__ivec *idp = NULL;
		if (!rc && grp->has_idp)
			rc = pol__group_idp_users(x, g, &idp);
		for (size_t i = 0; idp && i < idp->n && !rc; i++) {
			const struct pol__ivec *un = &x->user_nodes[idp->v[i]];
			for (size_t k = 0; k < un->n && !rc; k++)
				rc = pol__ivec_push(out, un->v[k]);
		}
		return rc;
	}
	case POL__A_DOMAIN:
		for (size_t u = 0; u < c->n_users && !rc; u++) {
			if (strcasecmp(pol__login_domain(c->users[u]), a->name) != 0)
				continue;
			for (size_t k = 0; k < x->user_nodes[u].n && !rc; k++)
				rc = pol__ivec_push(out, x->user_nodes[u].v[k]);
		}
		return rc;
	case POL__A_HOST:
	case POL__A_PREFIX:
		/* Nodes whose own address falls in the prefix. */
		for (size_t i = 0; i < c->n_nodes && !rc; i++)
			for (size_t k = 0; k < c->nodes[i].n_addrs; k++)
				if (addr_prefix_contains(&a->prefix, &c->nodes[i].addrs[k])) {
					rc = pol__ivec_push(out, (int)i);
					break;
				}
		return rc;
	case POL__A_SELF:
	case POL__A_INTERNET:
		break;
	}
	for (size_t i = 0; src && i < src->n && !rc; i++)
		rc = pol__ivec_push(out, src->v[i]);
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
		return g >= 0 && pol__group_has(c, &c->pol->groups[g], nd->user, NULL);
	}
	case POL__A_DOMAIN:
		return nd->user >= 0 &&
		       strcasecmp(pol__login_domain(c->users[nd->user]), a->name) == 0;
	case POL__A_HOST:
	case POL__A_PREFIX:
		for (size_t k = 0; k < nd->n_addrs; k++)
			hit |= addr_prefix_contains(&a->prefix, &nd->addrs[k]);
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
	struct pol__ivec v = { 0 };
	int rc = 0;
	for (size_t i = 0; i < c->n_nodes && !rc; i++)
		if (pol__node_matches(c, i, a))
			rc = pol__ivec_push(&v, (int)i);
	if (rc) {
		free(v.v);
		return rc;
	}
	*out = v.v;
	*n = v.n;
	return 0;
}

/* De-duplicates in place using the mark array. */
void pol__uniq(struct pol__cctx *x, struct pol__ivec *v)
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

int pol__nodes_addrs(struct pol__cctx *x, const struct pol__ivec *nodes, struct pol__addrset *s)
{
	for (size_t i = 0; i < nodes->n; i++) {
		const struct pol__cnode *nd = &x->c->nodes[nodes->v[i]];
		for (size_t k = 0; k < nd->n_addrs; k++) {
			struct addr_prefix p = addr_host_prefix(&nd->addrs[k]);
			int rc = pol__addrset_add(s, &p);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int pol__addrset_add_all(struct pol__addrset *s)
{
	struct addr_prefix p4 = { .ip = { .family = AF_INET }, .bits = 0 };
	struct addr_prefix p6 = { .ip = { .family = AF_INET6 }, .bits = 0 };
	int rc = pol__addrset_add(s, &p4);
	return rc ? rc : pol__addrset_add(s, &p6);
}

static int new_set(struct pol__cctx *x, struct pol__addrset **out)
{
	struct pol__addrset *s = POL__NEW(x->c->sets, x->c->n_sets, x->c->cap_sets);
	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

/* The address set of a list of source aliases, shared by every rule with the same list.
 * restrict_user >= 0 keeps only that user's own (untagged) nodes; POL__SRC_PEOPLE keeps only
 * user-owned nodes (check rules: a tagged node has nobody to re-authenticate). */
int pol__src_set(struct pol__cctx *x, const struct pol__alias *srcs, size_t n, int restrict_user,
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
	struct pol__ivec nodes = { 0 };
	int rc = new_set(x, &s);
	if (!rc && restrict_user >= 0) {
		/* Only the user's own devices, those some source alias covers. */
		const struct pol__ivec *un = &x->user_nodes[restrict_user];
		for (size_t k = 0; k < un->n && !rc; k++)
			for (size_t i = 0; i < n; i++)
				if (pol__node_matches(x->c, (size_t)un->v[k], &srcs[i])) {
					rc = pol__ivec_push(&nodes, un->v[k]);
					break;
				}
	}
	for (size_t i = 0; i < n && !rc && restrict_user == POL__SRC_ALL; i++) {
		const struct pol__alias *a = &srcs[i];
		if (a->kind == POL__A_ANY || a->kind == POL__A_DANGER_ALL)
			rc = pol__addrset_add_all(s);
		else if (a->kind == POL__A_PREFIX || a->kind == POL__A_HOST)
			rc = pol__addrset_add(s, &a->prefix);
		else
			rc = pol__alias_nodes_add(x, a, &nodes);
	}
	if (restrict_user == POL__SRC_PEOPLE) {
		for (size_t i = 0; i < n && !rc; i++)
			rc = pol__alias_nodes_add(x, &srcs[i], &nodes);
		size_t m = 0;
		for (size_t i = 0; i < nodes.n; i++)
			if (x->c->nodes[nodes.v[i]].user >= 0)
				nodes.v[m++] = nodes.v[i];
		nodes.n = m;
	}
	if (!rc) {
		pol__uniq(x, &nodes);
		rc = pol__nodes_addrs(x, &nodes, s);
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
