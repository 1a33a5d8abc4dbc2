/* A random tailnet generator shared by the randomized policy tests (test_random.c,
 * tests/unit/meshd/test_differential.c): users, user-owned and tagged nodes, groups, a
 * hosts entry and random acls/grants, with a deliberately naive evaluator of them. */
#ifndef MESH_TESTS_RANDOM_TAILNET_H
#define MESH_TESTS_RANDOM_TAILNET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "control/policy/policy.h"

enum { MAX_USERS = 6, MAX_NODES = 40, MAX_TAGS = 5, MAX_RULES = 8, MAX_ALIAS = 3 };
enum kind { K_ANY, K_USER, K_GROUP, K_TAG, K_MEMBER, K_TAGGED, K_HOST, K_IP, K_CIDR, K_SELF };

struct alias {
	enum kind k;
	int v; /* user, group, tag or node index; CIDR prefix length */
};

struct dstent {
	struct alias a;
	int proto; /* 0 = default set, -1 = any (grant "*"), else the protocol */
	int lo, hi;
};

struct rule {
	bool grant;
	int nsrc, ndst;
	struct alias src[MAX_ALIAS];
	struct dstent dst[MAX_ALIAS];
};

static struct world {
	int nusers, nnodes, ntags, nrules;
	int owner[MAX_NODES];	/* -1 = tagged */
	int tags[MAX_NODES][2]; /* tag indices, -1 = none */
	bool group[2][MAX_USERS];
	int host_node; /* hosts "box" = this node's IPv4 */
	struct rule rules[MAX_RULES];
} w;

static uint64_t seed = 0x1234567890abcdefull;
static unsigned rnd(unsigned n)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return (unsigned)(seed % n);
}

static void ip4(int node, char *buf)
{
	sprintf(buf, "100.64.%d.%d", node / 4, 1 + node % 4 * 50);
}

static void alias_text(const struct alias *a, char *buf)
{
	switch (a->k) {
	case K_ANY:
		strcpy(buf, "*");
		break;
	case K_USER:
		sprintf(buf, "u%d@example.com", a->v);
		break;
	case K_GROUP:
		sprintf(buf, "group:g%d", a->v);
		break;
	case K_TAG:
		sprintf(buf, "tag:t%d", a->v);
		break;
	case K_MEMBER:
		strcpy(buf, "autogroup:member");
		break;
	case K_TAGGED:
		strcpy(buf, "autogroup:tagged");
		break;
	case K_HOST:
		strcpy(buf, "box");
		break;
	case K_IP:
		ip4(a->v, buf);
		break;
	case K_CIDR:
		sprintf(buf, "100.64.%d.0/22", a->v / 16 * 4);
		break;
	case K_SELF:
		strcpy(buf, "autogroup:self");
		break;
	}
}

static struct alias random_alias(bool for_self_rule)
{
	struct alias a;
	static const enum kind people[] = { K_USER, K_GROUP, K_MEMBER };
	if (for_self_rule) {
		a.k = people[rnd(3)];
	} else {
		a.k = (enum kind)rnd(9);
	}
	switch (a.k) {
	case K_USER:
		a.v = (int)rnd((unsigned)w.nusers);
		break;
	case K_GROUP:
		a.v = (int)rnd(2);
		break;
	case K_TAG:
		a.v = (int)rnd((unsigned)w.ntags);
		break;
	case K_IP:
		a.v = (int)rnd((unsigned)w.nnodes);
		break;
	case K_CIDR:
		a.v = (int)rnd((unsigned)w.nnodes);
		break;
	default:
		a.v = 0;
	}
	return a;
}

static bool in_prefix(int node, const struct alias *a)
{
	/* IP: exact; CIDR: /22 around node a->v: same 100.64.X with X/4 equal. */
	if (a->k == K_IP || a->k == K_HOST)
		return node == (a->k == K_IP ? a->v : w.host_node);
	return (node / 4) / 4 == (a->v / 4) / 4;
}

static bool naive_match(const struct alias *a, int node)
{
	int o = w.owner[node];
	switch (a->k) {
	case K_ANY:
		return true;
	case K_USER:
		return o == a->v;
	case K_GROUP:
		return o >= 0 && w.group[a->v][o];
	case K_TAG:
		return o < 0 && (w.tags[node][0] == a->v || w.tags[node][1] == a->v);
	case K_MEMBER:
		return o >= 0;
	case K_TAGGED:
		return o < 0;
	case K_HOST:
	case K_IP:
	case K_CIDR:
		return in_prefix(node, a);
	case K_SELF:
		return false;
	}
	return false;
}

static bool naive_allowed(int s, int d, int proto, int port)
{
	for (int r = 0; r < w.nrules; r++) {
		const struct rule *ru = &w.rules[r];
		bool src_ok = false;
		for (int i = 0; i < ru->nsrc; i++)
			src_ok |= naive_match(&ru->src[i], s);
		if (!src_ok)
			continue;
		for (int i = 0; i < ru->ndst; i++) {
			const struct dstent *de = &ru->dst[i];
			bool dok = de->a.k == K_SELF ? (w.owner[d] >= 0 && w.owner[d] == w.owner[s])
						     : naive_match(&de->a, d);
			if (!dok)
				continue;
			bool pok = de->proto == -1 || de->proto == proto ||
				   (de->proto == 0 && (proto == 6 || proto == 17 || proto == 1));
			if (!pok)
				continue;
			if (proto == 1 || (port >= de->lo && port <= de->hi))
				return true;
		}
	}
	return false;
}

static size_t gen_policy(char *buf, size_t cap)
{
	size_t n = 0;
	char a[64];
#define OUT(...) n += (size_t)snprintf(buf + n, cap - n, __VA_ARGS__)
	OUT("{\"groups\": {");
	for (int g = 0; g < 2; g++) {
		OUT("%s\"group:g%d\": [", g ? ", " : "", g);
		bool first = true;
		for (int u = 0; u < w.nusers; u++)
			if (w.group[g][u]) {
				OUT("%s\"u%d@example.com\"", first ? "" : ", ", u);
				first = false;
			}
		OUT("]");
	}
	OUT("}, \"tagOwners\": {");
	for (int t = 0; t < w.ntags; t++)
		OUT("%s\"tag:t%d\": []", t ? ", " : "", t);
	ip4(w.host_node, a);
	OUT("}, \"hosts\": {\"box\": \"%s\"}", a);
	for (int grant = 0; grant < 2; grant++) {
		OUT(", \"%s\": [", grant ? "grants" : "acls");
		bool first = true;
		for (int r = 0; r < w.nrules; r++) {
			const struct rule *ru = &w.rules[r];
			if (ru->grant != grant)
				continue;
			OUT("%s{%s\"src\": [", first ? "" : ", ",
			    grant ? "" : "\"action\": \"accept\", ");
			first = false;
			for (int i = 0; i < ru->nsrc; i++) {
				char t[64];
				alias_text(&ru->src[i], t);
				OUT("%s\"%s\"", i ? ", " : "", t);
			}
			OUT("], \"dst\": [");
			for (int i = 0; i < ru->ndst; i++) {
				char t[64];
				const struct dstent *de = &ru->dst[i];
				alias_text(&de->a, t);
				if (grant)
					OUT("%s\"%s\"", i ? ", " : "", t);
				else if (de->lo == 1 && de->hi == 65535)
					OUT("%s\"%s:*\"", i ? ", " : "", t);
				else
					OUT("%s\"%s:%d-%d\"", i ? ", " : "", t, de->lo, de->hi);
			}
			OUT("]");
			if (grant) {
				/* One dst list, one ip spec per grant (all entries share it). */
				const struct dstent *de = &ru->dst[0];
				if (de->proto == -1)
					OUT(", \"ip\": [\"*\"]");
				else if (de->proto == 0)
					OUT(", \"ip\": [\"%d-%d\"]", de->lo, de->hi);
				else
					OUT(", \"ip\": [\"%d:%d-%d\"]", de->proto, de->lo, de->hi);
			} else if (ru->dst[0].proto > 0) {
				OUT(", \"proto\": \"%d\"", ru->dst[0].proto);
			}
			OUT("}");
		}
		OUT("]");
	}
	OUT("}");
#undef OUT
	return n;
}

static void gen_world(void)
{
	memset(&w, 0, sizeof(w));
	w.nusers = 2 + (int)rnd(MAX_USERS - 1);
	w.nnodes = 4 + (int)rnd(MAX_NODES - 3);
	w.ntags = 1 + (int)rnd(MAX_TAGS);
	for (int g = 0; g < 2; g++)
		for (int u = 0; u < w.nusers; u++)
			w.group[g][u] = rnd(2);
	for (int i = 0; i < w.nnodes; i++) {
		w.tags[i][0] = w.tags[i][1] = -1;
		if (rnd(3) == 0) {
			w.owner[i] = -1;
			w.tags[i][0] = (int)rnd((unsigned)w.ntags);
			if (rnd(2))
				w.tags[i][1] = (int)rnd((unsigned)w.ntags);
		} else {
			w.owner[i] = (int)rnd((unsigned)w.nusers);
		}
	}
	w.host_node = (int)rnd((unsigned)w.nnodes);
	w.nrules = 1 + (int)rnd(MAX_RULES);
	for (int r = 0; r < w.nrules; r++) {
		struct rule *ru = &w.rules[r];
		ru->grant = rnd(2);
		bool self = rnd(5) == 0;
		ru->nsrc = 1 + (int)rnd(MAX_ALIAS);
		ru->ndst = 1 + (int)rnd(MAX_ALIAS);
		for (int i = 0; i < ru->nsrc; i++)
			ru->src[i] = random_alias(self);
		int proto = rnd(3) == 0 ? (rnd(2) ? 6 : 17) : 0;
		if (ru->grant && rnd(4) == 0)
			proto = -1;
		int lo = 1 + (int)rnd(500), hi = lo + (int)rnd(300);
		if (rnd(4) == 0 || proto == -1) {
			lo = 1;
			hi = 65535;
		}
		for (int i = 0; i < ru->ndst; i++) {
			ru->dst[i].a =
			    self && i == 0 ? (struct alias){ K_SELF, 0 } : random_alias(false);
			ru->dst[i].proto = proto;
			ru->dst[i].lo = lo;
			ru->dst[i].hi = hi;
		}
	}
}

/* The topology of the world w: users u<N>@example.com, nodes n<i> with the IPv4 address
 * ip4(i) and, when n_addrs is 2, the IPv6 address fd7a:115c:a1e0::<i+1>.  The strings live
 * in static buffers until the next call. */
static struct pol_topology world_topology(int n_addrs, struct addr_ip (*addrs)[2])
{
	static char names[MAX_NODES][16], logins[MAX_USERS][32], tagnames[MAX_TAGS][16];
	static const char *tagp[MAX_NODES][2];
	static struct pol_user users[MAX_USERS];
	static struct pol_node nodes[MAX_NODES];
	for (int u = 0; u < w.nusers; u++) {
		sprintf(logins[u], "u%d@example.com", u);
		users[u].login = logins[u];
	}
	for (int t = 0; t < MAX_TAGS; t++)
		sprintf(tagnames[t], "tag:t%d", t);
	for (int i = 0; i < w.nnodes; i++) {
		char ip[64];
		memset(&nodes[i], 0, sizeof(nodes[i]));
		sprintf(names[i], "n%d", i);
		nodes[i].name = names[i];
		ip4(i, ip);
		addr_ip_parse(ip, &addrs[i][0], NULL);
		sprintf(ip, "fd7a:115c:a1e0::%x", i + 1);
		addr_ip_parse(ip, &addrs[i][1], NULL);
		nodes[i].addrs = addrs[i];
		nodes[i].n_addrs = (size_t)n_addrs;
		if (w.owner[i] >= 0) {
			nodes[i].owner = logins[w.owner[i]];
		} else {
			tagp[i][0] = tagnames[w.tags[i][0]];
			nodes[i].n_tags = 1;
			if (w.tags[i][1] >= 0) {
				tagp[i][1] = tagnames[w.tags[i][1]];
				nodes[i].n_tags = 2;
			}
			nodes[i].tags = tagp[i];
		}
	}
	return (struct pol_topology){ users, (size_t)w.nusers, nodes, (size_t)w.nnodes };
}

#endif
