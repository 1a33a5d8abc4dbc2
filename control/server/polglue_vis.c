/* Who sees whom after a compile: a node sees the peers whose addresses its filter or SSH
 * rules admit, and the peers that admit it (visibility is symmetric).
 *
 * Rules are shared between nodes (every server of a team holds the same rule), so each
 * rule's source list is resolved to its nodes once, by binary search in every node address
 * sorted, and kept by the list's address for this compile.  A node's admitted set is the
 * merge of its rules' resolved lists; the reverse direction is built from those in one pass
 * (compressed rows).  Cost: O(distinct lists x log nodes + edges x rules per node), memory
 * O(edges); an N x N matrix (100 MB and as many steps per compile at 10 000 nodes) is gone. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/policy.h"
#include "control/server/internal.h"
#include "control/server/polglue.h"

/* Every node address sorted, so the nodes inside a prefix are a contiguous run. */
struct addr_ix {
	struct addr_ip a;
	size_t node;
};

static int ix_cmp(const void *a, const void *b)
{
	return polglue__addr_cmp(&((const struct addr_ix *)a)->a, &((const struct addr_ix *)b)->a);
}

static int index_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* A prefix list resolved to its nodes (ascending, no repeats), by the list's address. */
struct resolved {
	const struct addr_prefix *key;
	size_t *v, n;
};

struct vis_build {
	struct addr_ix *ix;
	size_t n_ix;
	struct resolved *slot; /* open addressing, cap a power of two, at most half full */
	size_t cap, used;
};

static size_t slot_of(const struct vis_build *vb, const struct addr_prefix *p)
{
	size_t h = ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull, i = h & (vb->cap - 1);
	while (vb->slot[i].key && vb->slot[i].key != p)
		i = (i + 1) & (vb->cap - 1);
	return i;
}

static int grow(struct vis_build *vb)
{
	struct vis_build nb = *vb;
	nb.cap = vb->cap ? 2 * vb->cap : 256;
	nb.slot = calloc(nb.cap, sizeof(*nb.slot));
	if (!nb.slot)
		return -ENOMEM;
	for (size_t i = 0; i < vb->cap; i++)
		if (vb->slot[i].key)
			nb.slot[slot_of(&nb, vb->slot[i].key)] = vb->slot[i];
	free(vb->slot);
	*vb = nb;
	return 0;
}

/* The nodes with an address in one of p[0..np), resolved once per list; NULL: no memory. */
static const struct resolved *resolve(struct vis_build *vb, const struct addr_prefix *p, size_t np)
{
	static const struct resolved none = { 0 };
	if (!np || !p)
		return &none;
	if (2 * (vb->used + 1) > vb->cap && grow(vb))
		return NULL;
	struct resolved *r = &vb->slot[slot_of(vb, p)];
	if (r->key)
		return r;
	size_t n = 0, cap = 0, *v = NULL;
	for (size_t k = 0; k < np; k++) {
		struct addr_ix probe = { .a = p[k].ip };
		size_t len = probe.a.family == AF_INET ? 4 : 16;
		for (size_t b = p[k].bits; b < len * 8; b++)
			probe.a.bytes[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
		size_t a = 0, z = vb->n_ix;
		while (a < z) { /* first entry >= the prefix's first address */
			size_t mid = (a + z) / 2;
			if (ix_cmp(&vb->ix[mid], &probe) < 0)
				a = mid + 1;
			else
				z = mid;
		}
		for (; a < vb->n_ix && addr_prefix_contains(&p[k], &vb->ix[a].a); a++) {
			if (n == cap) {
				size_t *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));
				if (!nv) {
					free(v);
					return NULL;
				}
				v = nv;
			}
			v[n++] = vb->ix[a].node;
		}
	}
	qsort(v, n, sizeof(*v), index_cmp);
	size_t u = 0;
	for (size_t k = 0; k < n; k++)
		if (!u || v[u - 1] != v[k])
			v[u++] = v[k];
	r->key = p;
	r->v = v;
	r->n = u;
	vb->used++;
	return r;
}

/* a and b (ascending) merged into out without repeats; out holds na + nb. */
static size_t merge(const size_t *a, size_t na, const size_t *b, size_t nb, size_t *out)
{
	size_t i = 0, j = 0, n = 0;
	while (i < na || j < nb) {
		size_t x = j == nb || (i < na && a[i] <= b[j]) ? a[i] : b[j];
		if (i < na && a[i] == x)
			i++;
		if (j < nb && b[j] == x)
			j++;
		out[n++] = x;
	}
	return n;
}

/* Node i's admitted set into acc (room for every node): the merge of its rules' lists. */
static int admitted(struct vis_build *vb, const struct pol_compiled *c, size_t i, size_t *acc,
		    size_t *tmp, size_t *n_acc)
{
	const struct pol_filter_rule *const *fr;
	const struct pol_ssh_rule *const *sr;
	size_t nf = pol_node_filter(c, i, &fr), ns = pol_node_ssh(c, i, &sr);
	*n_acc = 0;
	for (size_t k = 0; k < nf + ns; k++) {
		const struct resolved *r =
		    k < nf ? resolve(vb, fr[k]->srcs, fr[k]->n_srcs)
			   : resolve(vb, sr[k - nf]->principals, sr[k - nf]->n_principals);
		if (!r)
			return -ENOMEM;
		if (!r->n)
			continue;
		*n_acc = merge(acc, *n_acc, r->v, r->n, tmp);
		memcpy(acc, tmp, *n_acc * sizeof(*acc));
	}
	return 0;
}

int polglue_visibility(struct ctl_server *srv, const struct pol_compiled *c,
		       const struct addr_ip *addrs, size_t n, int64_t now)
{
	struct vis_build vb = { .n_ix = 2 * n };
	size_t *a_off = calloc(n + 1, sizeof(size_t)), *r_off = calloc(n + 2, sizeof(size_t));
	size_t *acc = calloc(n + 1, sizeof(size_t)), *tmp = calloc(n + 1, sizeof(size_t));
	size_t a_cap = 64, *a_all = malloc(a_cap * sizeof(size_t)), *r_all = NULL;
	bool *expired = calloc(n + 1, sizeof(bool));
	int rc = -ENOMEM;
	vb.ix = calloc(2 * n + 1, sizeof(*vb.ix));
	if (!a_off || !r_off || !acc || !tmp || !expired || !vb.ix || !a_all)
		goto out;
	for (size_t i = 0; i < 2 * n; i++) {
		vb.ix[i].a = addrs[i];
		vb.ix[i].node = i / 2;
	}
	qsort(vb.ix, 2 * n, sizeof(*vb.ix), ix_cmp);
	/* what each node admits, one row after another */
	for (size_t i = 0; i < n; i++) {
		size_t k;
		if (admitted(&vb, c, i, acc, tmp, &k))
			goto out;
		if (a_off[i] + k > a_cap) {
			a_cap = 2 * (a_off[i] + k) + 64;
			size_t *na = realloc(a_all, a_cap * sizeof(*na));
			if (!na)
				goto out;
			a_all = na;
		}
		memcpy(a_all + a_off[i], acc, k * sizeof(*acc));
		a_off[i + 1] = a_off[i] + k;
		const struct ctl__node *sn = srv->nodes[i];
		expired[i] = sn->rec.key_expiry && sn->rec.key_expiry <= now;
	}
	/* ... and by whom each is admitted: rows in ascending admitter, so sorted */
	for (size_t e = 0; e < a_off[n]; e++)
		r_off[a_all[e] + 2]++;
	for (size_t j = 0; j < n; j++)
		r_off[j + 2] += r_off[j + 1];
	r_all = malloc((a_off[n] + 1) * sizeof(*r_all));
	if (!r_all)
		goto out;
	for (size_t i = 0; i < n; i++)
		for (size_t e = a_off[i]; e < a_off[i + 1]; e++)
			r_all[r_off[a_all[e] + 1]++] = i;
	/* r_off[j + 1] now ends row j, r_off[j] starts it */
	for (size_t i = 0; i < n; i++) {
		struct ctl__node *sn = srv->nodes[i];
		size_t na = a_off[i + 1] - a_off[i], nr = r_off[i + 1] - r_off[i];
		free(sn->vis);
		sn->vis = malloc((na + nr + 1) * sizeof(*sn->vis));
		sn->n_vis = 0;
		if (!sn->vis)
			goto out;
		if (expired[i])
			continue;
		size_t m = merge(a_all + a_off[i], na, r_all + r_off[i], nr, sn->vis);
		for (size_t k = 0; k < m; k++)
			if (sn->vis[k] != i && !expired[sn->vis[k]])
				sn->vis[sn->n_vis++] = sn->vis[k];
	}
	srv->vis_stale = false; /* every node's made anew */
	rc = 0;
out:
	for (size_t i = 0; i < vb.cap; i++)
		free(vb.slot[i].v);
	free(vb.slot);
	free(vb.ix);
	free(a_off);
	free(r_off);
	free(acc);
	free(tmp);
	free(a_all);
	free(r_all);
	free(expired);
	return rc;
}
