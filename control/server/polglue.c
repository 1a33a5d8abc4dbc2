/* The seam to the policy engine: the server's nodes become a pol_topology, the policy is
 * loaded (parsed, validated, compiled, tests run), and each node gets its filter and SSH
 * rules as netmap JSON plus its visible peers.  Visibility is symmetric: a node sees the
 * peers whose addresses its filter or SSH rules admit, and the peers that admit it. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/now.h"
#include "control/netmap/netmap_json.h"
#include "control/policy/policy.h"
#include "control/server/polglue.h"
#include "control/server/internal.h"

struct topo_buf {
	struct pol_user *users;
	int64_t *ids; /* users[i]'s id, ascending (user_list's order) */
	size_t n_users;
	struct pol_node *nodes;
	struct addr_ip *addrs; /* 2 per node */
	size_t n;
};

static int add_user(void *ctx, const struct ctl_user *u)
{
	struct topo_buf *t = ctx;
	struct pol_user *arr = realloc(t->users, (t->n_users + 1) * sizeof(*arr));
	if (arr)
		t->users = arr;
	int64_t *ids = arr ? realloc(t->ids, (t->n_users + 1) * sizeof(*ids)) : NULL;
	if (!ids)
		return -ENOMEM;
	t->ids = ids;
	memset(&arr[t->n_users], 0, sizeof(*arr));
	arr[t->n_users].login = strdup(u->login);
	if (!arr[t->n_users].login)
		return -ENOMEM;
	ids[t->n_users++] = u->id;
	return 0;
}

/* A user's stored groups claim becomes their idp_groups (bad stored text: none, logged). */
static int add_sso(void *ctx, const struct ctl_sso_member *m)
{
	struct topo_buf *t = ctx;
	size_t lo = 0, hi = t->n_users;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t->ids[mid] < m->user_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == t->n_users || t->ids[lo] != m->user_id)
		return 0;
	struct pol_user *pu = &t->users[lo];
	pu->idp_at = m->at;
	json_t *a = json_loads(m->groups ? m->groups : "", 0, NULL), *v;
	size_t n = json_array_size(a), k;
	if (!json_is_array(a) || n > POL_IDP_GROUPS_MAX) {
		log_warn("meshcontrol",
			 "%s: the stored groups of the last sign-in are not a list "
			 "of at most %d names; counted as none",
			 pu->login, POL_IDP_GROUPS_MAX);
		json_decref(a);
		return 0;
	}
	char **g = calloc(n + 1, sizeof(*g));
	if (!g) {
		json_decref(a);
		return -ENOMEM;
	}
	pu->idp_groups = (const char *const *)g;
	json_array_foreach(a, k, v)
	{
		const char *s = json_string_value(v);
		if (!s || !*s || strlen(s) > POL_IDP_GROUP_MAX)
			continue; /* the verifier let no such name in */
		if (!(g[pu->n_idp_groups] = strdup(s))) {
			json_decref(a);
			return -ENOMEM;
		}
		pu->n_idp_groups++;
	}
	json_decref(a);
	return 0;
}

static void topo_free(struct topo_buf *t)
{
	for (size_t i = 0; i < t->n_users; i++) {
		free((char *)t->users[i].login);
		for (size_t k = 0; k < t->users[i].n_idp_groups; k++)
			free((char *)t->users[i].idp_groups[k]);
		free((void *)t->users[i].idp_groups);
	}
	free(t->users);
	free(t->ids);
	free(t->nodes);
	free(t->addrs);
}

static int topo_build(struct ctl_server *srv, struct topo_buf *t)
{
	memset(t, 0, sizeof(*t));
	int rc = srv->store->ops->user_list(srv->store, add_user, t);
	if (!rc)
		rc = srv->store->ops->sso_list(srv->store, add_sso, t);
	if (rc)
		return rc;
	t->n = srv->n_nodes;
	size_t n = t->n ? t->n : 1;
	t->nodes = calloc(n, sizeof(*t->nodes));
	t->addrs = calloc(2 * n, sizeof(*t->addrs));
	if (!t->nodes || !t->addrs)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		const struct ctl__node *sn = srv->nodes[i];
		struct pol_node *pn = &t->nodes[i];
		struct addr_ip *a = &t->addrs[2 * i];
		a[0].family = AF_INET;
		for (int k = 0; k < 4; k++)
			a[0].bytes[k] = (uint8_t)(sn->rec.ipv4 >> (24 - 8 * k));
		a[1].family = AF_INET6;
		memcpy(a[1].bytes, sn->rec.ipv6, 16);
		pn->name = sn->rec.hostname;
		pn->hostname = sn->rec.hostname;
		pn->owner = sn->owner[0] ? sn->owner : NULL;
		pn->tags = (const char *const *)sn->rec.tags; /* borrowed, like the names */
		pn->n_tags = sn->rec.n_tags;
		pn->addrs = a;
		pn->n_addrs = 2;
	}
	return 0;
}

/* Rules are shared between nodes and list every destination they admit; a node's own
 * filter needs only the destinations holding one of its addresses (without this, each of N
 * nodes would carry all N destinations: N^2 entries). */
static bool dst_is_mine(const struct addr_prefix *dst, const struct addr_ip *mine, size_t n_mine)
{
	for (size_t i = 0; i < n_mine; i++)
		if (addr_prefix_contains(dst, &mine[i]))
			return true;
	return false;
}

/* The JSON of a rule's source list, cached by the list's address for one compile: rules
 * are shared between nodes, so N nodes behind one rule encode its sources once, not N
 * times. */
int polglue__addr_cmp(const struct addr_ip *x, const struct addr_ip *y)
{
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->bytes, y->bytes, x->family == AF_INET ? 4 : 16);
}

struct dst_index {
	struct addr_ip *hosts; /* full-length destinations, sorted */
	size_t n_hosts;
	const struct addr_prefix **wide; /* the others */
	size_t n_wide;
};

struct src_cache {
	const void *key[4096];
	char *text[4096];
	const void *dkey[1024];
	struct dst_index dix[1024];
};

static const char *srcs_text(struct src_cache *sc, const struct addr_prefix *p, size_t n)
{
	size_t h = ((uintptr_t)p >> 4) & 4095, i = h;
	if (!n || !p)
		return "[]";
	do {
		if (sc->key[i] == p)
			return sc->text[i];
		if (!sc->key[i])
			break;
		i = (i + 1) & 4095;
	} while (i != h);
	struct sbuf b = { 0 };
	sbuf_str(&b, "[");
	for (size_t k = 0; k < n; k++) {
		char t[ADDR_TEXT_MAX];
		sbuf_str(&b, k ? ",\"" : "\"");
		sbuf_str(&b, addr_prefix_format(&p[k], t));
		sbuf_str(&b, "\"");
	}
	sbuf_str(&b, "]");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	if (!sc->key[i]) {
		sc->key[i] = p;
		sc->text[i] = b.s;
	} else {
		free(sc->text[h]); /* full: replace the slot of the hash */
		sc->key[h] = p;
		sc->text[h] = b.s;
		i = h;
	}
	return b.s;
}

static void src_cache_clear(struct src_cache *sc)
{
	for (size_t i = 0; i < 4096; i++)
		free(sc->text[i]);
	for (size_t i = 0; i < 1024; i++) {
		free(sc->dix[i].hosts);
		free(sc->dix[i].wide);
	}
	free(sc);
}

static int paddr_cmp(const void *a, const void *b)
{
	return polglue__addr_cmp(a, b);
}

/* A rule's destinations indexed for "which of them hold this address", cached like its
 * sources; NULL when the cache is full or memory is short (the caller scans instead). */
static const struct dst_index *dst_index_of(struct src_cache *sc, const struct addr_prefix *d,
					    size_t n)
{
	size_t h = ((uintptr_t)d >> 4) & 1023, i = h;
	while (sc->dkey[i] && sc->dkey[i] != d) {
		i = (i + 1) & 1023;
		if (i == h)
			return NULL;
	}
	struct dst_index *x = &sc->dix[i];
	if (sc->dkey[i])
		return x;
	x->hosts = calloc(n ? n : 1, sizeof(*x->hosts));
	x->wide = calloc(n ? n : 1, sizeof(*x->wide));
	if (!x->hosts || !x->wide) {
		free(x->hosts);
		free(x->wide);
		x->hosts = NULL;
		x->wide = NULL;
		return NULL;
	}
	for (size_t k = 0; k < n; k++) {
		if (d[k].bits == (d[k].ip.family == AF_INET ? 32 : 128))
			x->hosts[x->n_hosts++] = d[k].ip;
		else
			x->wide[x->n_wide++] = &d[k];
	}
	qsort(x->hosts, x->n_hosts, sizeof(*x->hosts), paddr_cmp);
	sc->dkey[i] = d;
	return x;
}

static void emit_dst(struct sbuf *b, const struct addr_prefix *dst, size_t *nd)
{
	char t[ADDR_TEXT_MAX];
	sbuf_str(b, (*nd)++ ? ",\"" : "\"");
	sbuf_str(b, addr_prefix_format(dst, t));
	sbuf_str(b, "\"");
}

/* The rest of a rule after its destinations, as ctl__filter_json writes it. */
static void emit_tail(struct sbuf *b, const struct pol_filter_rule *r)
{
	sbuf_str(b, "],\"ports\":[");
	for (size_t p = 0; p < r->n_ports; p++)
		sbuf_fmt(b, "%s[%u,%u]", p ? "," : "", r->ports[p].first, r->ports[p].last);
	sbuf_str(b, "],\"protos\":[");
	for (size_t p = 0; p < r->n_protos; p++)
		sbuf_fmt(b, "%s%u", p ? "," : "", r->protos[p]);
	sbuf_fmt(b, "],\"section\":\"%s\",\"index\":%d}", r->section, r->index);
}

/* A node's filter as netmap JSON: byte for byte what polglue_filter_json_general makes
 * (unit test meshd-differential holds them equal), through caches that make a whole tailnet
 * cost O(rules x (log dsts + wide dsts)) per node instead of O(rules x dsts). */
static char *filter_text(struct src_cache *sc, const struct pol_filter_rule *const *rules, size_t n,
			 const struct addr_ip *mine, size_t n_mine)
{
	struct sbuf b = { 0 };
	bool ok = true;
	sbuf_str(&b, "[");
	for (size_t i = 0; i < n; i++) {
		const struct pol_filter_rule *r = rules[i];
		const char *srcs = srcs_text(sc, r->srcs, r->n_srcs);
		if (!srcs) {
			ok = false;
			break;
		}
		sbuf_str(&b, i ? ",{\"srcs\":" : "{\"srcs\":");
		sbuf_str(&b, srcs);
		sbuf_str(&b, ",\"dsts\":[");
		size_t nd = 0;
		const struct dst_index *x = dst_index_of(sc, r->dsts, r->n_dsts);
		if (x) {
			/* full-length destinations that are mine, by binary search; then the
			 * wider ones that hold one of my addresses */
			for (size_t m = 0; m < n_mine; m++) {
				struct addr_prefix hp = addr_host_prefix(&mine[m]);
				if (bsearch(&mine[m], x->hosts, x->n_hosts, sizeof(*x->hosts),
					    paddr_cmp))
					emit_dst(&b, &hp, &nd);
			}
			for (size_t w = 0; w < x->n_wide; w++)
				if (dst_is_mine(x->wide[w], mine, n_mine))
					emit_dst(&b, x->wide[w], &nd);
		} else {
			ok = false; /* the general encoder's order needs the index */
			break;
		}
		emit_tail(&b, r);
	}
	sbuf_str(&b, "]");
	if (b.oom || !ok) {
		free(b.s);
		return NULL;
	}
	/* kept by the node until the next compile: without the buffer's slack (up to half of
	 * it; a server's filter lists every laptop of its team) */
	char *t = realloc(b.s, b.len + 1);
	return t ? t : b.s;
}

static char *json_text(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

char *polglue_ssh_json(const struct pol_ssh_rule *const *rules, size_t n)
{
	return json_text(ctl__ssh_json(rules, n));
}

static bool is_host(const struct addr_prefix *p)
{
	return p->bits == (p->ip.family == AF_INET ? 32 : 128);
}

char *polglue_filter_json_general(const struct pol_filter_rule *const *rules, size_t n,
				  const struct addr_ip *mine, size_t n_mine)
{
	struct pol_filter_rule *mine_rules = calloc(n ? n : 1, sizeof(*mine_rules));
	const struct pol_filter_rule **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	struct addr_prefix *dsts = NULL;
	size_t total = 0, used = 0;
	for (size_t i = 0; i < n; i++)
		total += rules[i]->n_dsts + n_mine;
	dsts = calloc(total ? total : 1, sizeof(*dsts));
	char *out = NULL;
	if (!mine_rules || !ptrs || !dsts)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct pol_filter_rule *r = rules[i];
		mine_rules[i] = *r;
		mine_rules[i].dsts = &dsts[used];
		/* this node's own host addresses first, in its order; then wider prefixes */
		for (size_t m = 0; m < n_mine; m++)
			for (size_t d = 0; d < r->n_dsts; d++)
				if (is_host(&r->dsts[d]) &&
				    polglue__addr_cmp(&r->dsts[d].ip, &mine[m]) == 0) {
					dsts[used++] = r->dsts[d];
					break;
				}
		for (size_t d = 0; d < r->n_dsts; d++)
			if (!is_host(&r->dsts[d]) && dst_is_mine(&r->dsts[d], mine, n_mine))
				dsts[used++] = r->dsts[d];
		mine_rules[i].n_dsts = (size_t)(&dsts[used] - mine_rules[i].dsts);
		ptrs[i] = &mine_rules[i];
	}
	out = json_text(ctl__filter_json(ptrs, n));
out:
	free(mine_rules);
	free(ptrs);
	free(dsts);
	return out;
}

int polglue_filter_json_nodes(const struct pol_compiled *c, size_t n, const struct addr_ip *addrs,
			      size_t n_per, char **out, size_t *n_fast)
{
	struct src_cache *sc = calloc(1, sizeof(*sc));
	size_t fast = 0, i = 0;
	for (; sc && i < n; i++) {
		const struct pol_filter_rule *const *fr;
		size_t nf = pol_node_filter(c, i, &fr);
		out[i] = filter_text(sc, fr, nf, &addrs[n_per * i], n_per);
		if (out[i])
			fast++;
		else /* the caches were full: the general encoder, same bytes */
			out[i] = polglue_filter_json_general(fr, nf, &addrs[n_per * i], n_per);
		if (!out[i])
			break;
	}
	if (sc)
		src_cache_clear(sc);
	if (n_fast)
		*n_fast = fast;
	if (i == n)
		return 0;
	while (i--)
		free(out[i]);
	memset(out, 0, n * sizeof(*out));
	return -ENOMEM;
}

/* tests_gate: a failing test refuses the policy (setting or checking one); otherwise (the
 * topology changed under an accepted policy) the failures are logged and the maps go out. */
static int apply(struct ctl_server *srv, const char *text, bool commit, bool tests_gate, char *err,
		 size_t errlen)
{
	struct topo_buf t;
	struct pol_compiled *c = NULL;
	struct pol_error perr;
	char **filters = NULL; /* each node's, until handed to it */
	memset(&perr, 0, sizeof(perr));
	int rc = topo_build(srv, &t);
	if (rc)
		goto out;
	struct pol_topology topo = {
		.users = t.users, .n_users = t.n_users, .nodes = t.nodes, .n_nodes = t.n
	};
	uint64_t t0 = now_mono_ms();
	if (tests_gate) {
		rc = pol_load(text, strlen(text), NULL, &topo, &c, &perr);
	} else {
		int failed = 0;
		char *report = NULL;
		rc = pol_reload(text, strlen(text), NULL, &topo, &c, &failed, &report, &perr);
		if (!rc && failed > 0)
			log_warn("meshcontrol",
				 "the policy's tests fail now that nodes or memberships changed "
				 "(the maps follow the policy all the same): %s",
				 report);
		free(report);
	}
	srv->engine_ms = now_mono_ms() - t0;
	if (rc == -EINVAL) {
		if (perr.line)
			snprintf(err, errlen, "line %d column %d: %s", perr.line, perr.column,
				 perr.msg);
		else
			snprintf(err, errlen, "%s", perr.msg);
	}
	if (rc || !commit)
		goto out;
	filters = calloc(t.n ? t.n : 1, sizeof(*filters));
	if (!filters || polglue_filter_json_nodes(c, t.n, t.addrs, 2, filters, NULL) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < t.n; i++) {
		struct ctl__node *n = srv->nodes[i];
		const struct pol_ssh_rule *const *sr;
		size_t ns = pol_node_ssh(c, i, &sr);
		char *f = filters[i], *s = polglue_ssh_json(sr, ns);
		filters[i] = NULL;
		if (!f || !s) {
			free(f);
			free(s);
			rc = -ENOMEM;
			goto out;
		}
		ctl__node_set_texts(n, f, s);
	}
	rc = polglue_visibility(srv, c, t.addrs, t.n, ctl__now_s());
	if (rc)
		goto out;
	pol_compiled_free(srv->compiled);
	srv->compiled = c;
	c = NULL;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	pol_compiled_free(c);
	for (size_t i = 0; filters && i < t.n; i++)
		free(filters[i]);
	free(filters);
	topo_free(&t);
	return rc;
}

int polglue_apply(struct ctl_server *srv, const char *text, bool commit, char *err, size_t errlen)
{
	return apply(srv, text, commit, true, err, errlen);
}

int polglue_rebuild(struct ctl_server *srv, char *err, size_t errlen)
{
	return apply(srv, srv->policy_text, true, false, err, errlen);
}

void polglue_free(struct ctl_server *srv)
{
	pol_compiled_free(srv->compiled);
	srv->compiled = NULL;
}
