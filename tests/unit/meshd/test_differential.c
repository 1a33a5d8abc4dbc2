/* One evaluator, checked end to end: over random tailnets (the generator of
 * tests/unit/policy/random_tailnet.h, plus random SSH rules), for every (source, node, user)
 * and (source, node, protocol, port) sampled, three decisions must agree:
 *
 *   compiled  the engine over the node's compiled rules (pol_node_ssh / pol_node_filter
 *             with pol_ssh_rules_decide / pol_filter_rules_decide), what control sends;
 *   explain   pol_ssh_decide / pol_filter_decide, what `meshctl policy explain` prints and
 *             tests/sshTests assert;
 *   node      what meshd enforces: the netmap JSON control encodes (polglue) parsed back
 *             (ctl_netmap_parse) and decided by meshd_ssh_decide (the sshd hook's answer)
 *             and ns_filter_allows (netstack's packet filter).
 *
 * For SSH a decision is (verdict, local user, may be uid 0).  Filter decisions of IPv4
 * packets are also held against the generator's naive evaluator.  Numbered rows first:
 * row 1 is the case the engine and the node once disagreed on. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "check.h"
#include "../policy/random_tailnet.h"
#include "cmd/daemon/node.h"
#include "control/netmap/netmap.h"
#include "control/policy/policy.h"
#include "control/server/polglue.h"
#include "netstack/netstack.h"

enum { MAX_SSH = 3 };

struct ssh_view {
	enum verdict verdict;
	char user[64];
	bool root_ok;
};

static void ssh_view_of(const struct pol_decision *d, struct ssh_view *v)
{
	memset(v, 0, sizeof(*v));
	v->verdict = d->verdict;
	if (d->verdict != VERDICT_REJECT) {
		snprintf(v->user, sizeof(v->user), "%s", d->local_user);
		v->root_ok = !d->refuse_uid0;
	}
}

static bool ssh_same(const struct ssh_view *a, const struct ssh_view *b)
{
	return a->verdict == b->verdict && strcmp(a->user, b->user) == 0 &&
	       a->root_ok == b->root_ok;
}

/* The netmap node `self` gets, as meshd parses it; f is its filter JSON (control's fast
 * path, or the general encoder's when NULL). */
static struct ctl_netmap *node_netmap(const struct pol_compiled *c, size_t self,
				      const struct addr_ip *mine, size_t n_mine, const char *fast)
{
	const struct pol_filter_rule *const *fr;
	const struct pol_ssh_rule *const *sr;
	size_t nf = pol_node_filter(c, self, &fr), ns = pol_node_ssh(c, self, &sr);
	char *f = fast ? strdup(fast) : polglue_filter_json_general(fr, nf, mine, n_mine);
	char *s = polglue_ssh_json(sr, ns);
	char a[ADDR_TEXT_MAX], *text = NULL, err[256] = "";
	CHECK(f && s);
	int n =
	    asprintf(&text,
		     "{\"version\":1,\"self\":{\"id\":1,\"node_key\":"
		     "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\",\"addresses\":[\"%s/%d\"]},"
		     "\"peers\":[],\"filter\":%s,\"ssh\":%s}",
		     addr_ip_format(&mine[0], a), mine[0].family == AF_INET ? 32 : 128, f, s);
	CHECK(n > 0);
	struct ctl_netmap *nm = NULL;
	int rc = ctl_netmap_parse(text, strlen(text), &nm, err, sizeof(err));
	if (rc)
		fprintf(stderr, "netmap: %s\n", err);
	CHECK_INT(rc, 0);
	free(f);
	free(s);
	free(text);
	return nm;
}

static struct ssh_view node_ssh(const struct ctl_netmap *nm, const struct addr_ip *src,
				const char *user)
{
	struct addr_prefix p = addr_host_prefix(src);
	struct sshd_decision acc;
	uint32_t period;
	char msg[512];
	struct ssh_view v = { 0 };
	v.verdict = meshd_ssh_decide(nm, &p, user, &acc, &period, msg, sizeof(msg));
	if (v.verdict != VERDICT_REJECT) {
		snprintf(v.user, sizeof(v.user), "%s", acc.local_user);
		v.root_ok = acc.flags & SSHD_ALLOW_ROOT;
	}
	return v;
}

static bool node_filter(const struct ctl_netmap *nm, const struct addr_ip *src,
			const struct addr_ip *dst, uint8_t proto, uint16_t port)
{
	struct ns_packet_info pi = { .family = src->family == AF_INET ? AF_INET : AF_INET6,
				     .proto = proto,
				     .sport = 40000,
				     .dport = port };
	memcpy(pi.src, src->bytes, 16);
	memcpy(pi.dst, dst->bytes, 16);
	return ns_filter_allows((const struct pol_filter_rule *const *)nm->filter, nm->n_filter,
				&pi);
}

/* ---- numbered rows ---- */

static const char row_topo_users[][24] = { "alice@example.com", "bob@example.com" };

struct row {
	int n;
	const char *ssh_users; /* the rule's users, JSON */
	const char *user;      /* requested */
	enum verdict want;
	const char *want_user;
	bool want_root_ok;
};

static const struct row rows[] = {
	/* autogroup:nonroot is "any user other than root"; "0" is not "root" by name, so the
	 * wildcard admits it, and what it admits must not be uid 0, root listed or not */
	{ 1, "[\"root\", \"autogroup:nonroot\"]", "0", VERDICT_ACCEPT, "0", false },
	{ 2, "[\"root\", \"autogroup:nonroot\"]", "root", VERDICT_ACCEPT, "root", true },
	{ 3, "[\"autogroup:nonroot\"]", "0", VERDICT_ACCEPT, "0", false },
	{ 4, "[\"autogroup:nonroot\"]", "root", VERDICT_REJECT, "", false },
	{ 5, "[\"0\"]", "0", VERDICT_ACCEPT, "0", true }, /* named: the account's business */
	{ 6, "[\"deploy\"]", "0", VERDICT_REJECT, "", false },
};

static void test_rows(void)
{
	struct pol_user users[2] = { { .login = row_topo_users[0] },
				     { .login = row_topo_users[1] } };
	struct addr_ip a[2][2];
	addr_ip_parse("100.64.0.1", &a[0][0], NULL);
	addr_ip_parse("fd7a:115c:a1e0::1", &a[0][1], NULL);
	addr_ip_parse("100.64.0.2", &a[1][0], NULL);
	addr_ip_parse("fd7a:115c:a1e0::2", &a[1][1], NULL);
	const char *tags[] = { "tag:server" };
	struct pol_node nodes[2] = {
		{ .name = "laptop", .owner = "alice@example.com", .addrs = a[0], .n_addrs = 2 },
		{ .name = "server", .tags = tags, .n_tags = 1, .addrs = a[1], .n_addrs = 2 },
	};
	struct pol_topology topo = { users, 2, nodes, 2 };
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		char text[512];
		struct pol_compiled *c;
		struct pol_error err;
		snprintf(
		    text, sizeof(text),
		    "{\"tagOwners\": {\"tag:server\": [\"alice@example.com\"]},"
		    " \"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:22\"]}],"
		    " \"ssh\": [{\"action\": \"accept\", \"src\": [\"alice@example.com\"],"
		    " \"dst\": [\"tag:server\"], \"users\": %s}]}",
		    r->ssh_users);
		int rc = pol_load(text, strlen(text), "example.com", &topo, &c, &err);
		if (rc)
			fprintf(stderr, "row %d: %s\n", r->n, err.msg);
		CHECK_INT(rc, 0);
		if (rc)
			continue;
		struct pol_decision d;
		struct ssh_view explain, compiled, want = { r->want, "", r->want_root_ok };
		snprintf(want.user, sizeof(want.user), "%s", r->want_user);
		pol_ssh_decide(c, 0, 1, r->user, &d);
		ssh_view_of(&d, &explain);
		const struct pol_ssh_rule *const *sr;
		size_t ns = pol_node_ssh(c, 1, &sr);
		pol_ssh_rules_decide(sr, ns, &a[0][0], r->user, &d);
		ssh_view_of(&d, &compiled);
		struct ctl_netmap *nm = node_netmap(c, 1, a[1], 2, NULL);
		struct ssh_view node = node_ssh(nm, &a[0][0], r->user);
		bool ok = ssh_same(&explain, &want) && ssh_same(&compiled, &want) &&
			  ssh_same(&node, &want);
		if (!ok)
			fprintf(stderr,
				"row %d: users %s, as \"%s\": want %d %s root %d; explain %d %s "
				"root %d; compiled %d %s root %d; node %d %s root %d\n",
				r->n, r->ssh_users, r->user, want.verdict, want.user, want.root_ok,
				explain.verdict, explain.user, explain.root_ok, compiled.verdict,
				compiled.user, compiled.root_ok, node.verdict, node.user,
				node.root_ok);
		CHECK(ok);
		ctl_netmap_free(nm);
		pol_compiled_free(c);
	}
}

/* ---- random tailnets ---- */

static void ssh_alias(char *buf, bool dst)
{
	unsigned k = rnd(dst ? 2 : 4);
	if (dst && k == 0)
		strcpy(buf, "autogroup:self");
	else if (dst || k == 3)
		sprintf(buf, "tag:t%u", rnd((unsigned)w.ntags));
	else if (k == 0)
		sprintf(buf, "group:g%u", rnd(2));
	else if (k == 1)
		strcpy(buf, "autogroup:member");
	else
		sprintf(buf, "u%u@example.com", rnd((unsigned)w.nusers));
}

/* Appends a random "ssh" section to the policy text generated by gen_policy. */
static void gen_ssh(char *text, size_t cap)
{
	static const char *const names[] = { "\"root\"", "\"autogroup:nonroot\"", "\"u0\"",
					     "\"deploy\"", "\"0\"" };
	size_t n = strlen(text) - 1; /* before the closing brace */
	int rules = 1 + (int)rnd(MAX_SSH);
	n += (size_t)snprintf(text + n, cap - n, ", \"ssh\": [");
	for (int r = 0; r < rules; r++) {
		char src[64], dst[64];
		ssh_alias(src, false);
		ssh_alias(dst, true);
		bool check = rnd(3) == 0 && strncmp(src, "tag:", 4) != 0;
		n +=
		    (size_t)snprintf(text + n, cap - n,
				     "%s{\"action\": \"%s\", \"src\": [\"%s\"], \"dst\": [\"%s\"], "
				     "\"users\": [",
				     r ? ", " : "", check ? "check" : "accept", src, dst);
		unsigned mask = 1 + rnd(31);
		bool first = true;
		for (int u = 0; u < 5; u++)
			if (mask & (1u << u)) {
				n += (size_t)snprintf(text + n, cap - n, "%s%s", first ? "" : ", ",
						      names[u]);
				first = false;
			}
		n += (size_t)snprintf(text + n, cap - n, "]}");
	}
	snprintf(text + n, cap - n, "]}");
}

static int mismatches;

static void report(int iter, const char *what, const char *text)
{
	if (mismatches++ < 5)
		fprintf(stderr, "world %d: %s\n%s\n", iter, what, text);
}

static void one_world(int iter, int *parsed)
{
	static char text[20000];
	static struct addr_ip addrs[MAX_NODES][2];

	gen_world();
	gen_policy(text, sizeof(text));
	gen_ssh(text, sizeof(text));
	struct pol_topology topo = world_topology(2, addrs);
	struct pol_policy *p;
	struct pol_compiled *c;
	struct pol_error err;
	if (pol_parse(text, strlen(text), "example.com", &p, &err))
		return; /* a combination the policy refuses (counted by the caller) */
	CHECK_INT(pol_compile(p, &topo, &c, &err), 0);
	(*parsed)++;
	static const char *const sshusers[] = { "root", "0", "u0", "deploy", "nobody" };
	static const uint8_t protos[] = { 6, 17, 1, 58, 132, 47 };
	/* what control sends is its fast path's bytes: they must be the general encoder's */
	char *fast[MAX_NODES] = { 0 };
	size_t n_fast = 0;
	CHECK_INT(polglue_filter_json_nodes(c, (size_t)w.nnodes, &addrs[0][0], 2, fast, &n_fast),
		  0);
	CHECK_INT(n_fast, w.nnodes);
	for (int d = 0; d < w.nnodes; d++) {
		const struct pol_filter_rule *const *fr;
		const struct pol_ssh_rule *const *sr;
		size_t nf = pol_node_filter(c, (size_t)d, &fr),
		       ns = pol_node_ssh(c, (size_t)d, &sr);
		char *general = polglue_filter_json_general(fr, nf, addrs[d], 2);
		if (!general || !fast[d] || strcmp(general, fast[d]) != 0) {
			char what[200];
			snprintf(what, sizeof(what),
				 "filter JSON of n%d: fast path and general "
				 "encoder differ",
				 d);
			report(iter, what, text);
		}
		free(general);
		struct ctl_netmap *nm = node_netmap(c, (size_t)d, addrs[d], 2, fast[d]);
		free(fast[d]);
		for (int s = 0; s < w.nnodes && nm; s++) {
			for (size_t u = 0; u < sizeof(sshusers) / sizeof(sshusers[0]); u++) {
				struct pol_decision dec;
				struct ssh_view explain, compiled, node;
				pol_ssh_decide(c, (size_t)s, (size_t)d, sshusers[u], &dec);
				ssh_view_of(&dec, &explain);
				for (int fam = 0; fam < 2; fam++) {
					pol_ssh_rules_decide(sr, ns, &addrs[s][fam], sshusers[u],
							     &dec);
					ssh_view_of(&dec, &compiled);
					node = node_ssh(nm, &addrs[s][fam], sshusers[u]);
					if (s == d) /* not a login the engine decides */
						continue;
					if (!ssh_same(&explain, &compiled) ||
					    !ssh_same(&explain, &node)) {
						char what[512];
						snprintf(
						    what, sizeof(what),
						    "ssh n%d -> n%d as %s (v%d): explain %d %s "
						    "%d, compiled %d %s %d, node %d %s %d",
						    s, d, sshusers[u], fam ? 6 : 4, explain.verdict,
						    explain.user, explain.root_ok, compiled.verdict,
						    compiled.user, compiled.root_ok, node.verdict,
						    node.user, node.root_ok);
						report(iter, what, text);
					}
				}
			}
			for (size_t pi = 0; pi < sizeof(protos); pi++) {
				int fam = protos[pi] == 58 ? 1 : protos[pi] == 1 ? 0 : (int)rnd(2);
				uint16_t port = (uint16_t)(1 + rnd(900));
				const struct addr_ip *sa = &addrs[s][fam], *da = &addrs[d][fam];
				struct pol_decision e, cp;
				pol_filter_decide(c, sa, da, protos[pi], port, &e);
				pol_filter_rules_decide(fr, nf, sa, da, protos[pi], port, &cp);
				bool node = node_filter(nm, sa, da, protos[pi], port);
				bool naive = fam == 0 && protos[pi] != 132 && protos[pi] != 47 &&
						     protos[pi] != 58
						 ? naive_allowed(s, d, protos[pi], port)
						 : e.verdict == VERDICT_ACCEPT;
				if (e.verdict != cp.verdict ||
				    (e.verdict == VERDICT_ACCEPT) != node || node != naive) {
					char what[200];
					snprintf(
					    what, sizeof(what),
					    "packet n%d -> n%d proto %u port %u (v%d): explain "
					    "%d, compiled %d, node %d, naive %d",
					    s, d, protos[pi], port, fam ? 6 : 4, e.verdict,
					    cp.verdict, node, naive);
					report(iter, what, text);
				}
			}
		}
		ctl_netmap_free(nm);
	}
	pol_compiled_free(c);
	pol_policy_free(p);
}

int main(void)
{
	test_rows();
	int parsed = 0, worlds = 150;
	for (int i = 0; i < worlds; i++)
		one_world(i, &parsed);
	/* the generator must mostly make policies the engine takes, or this tests little */
	if (parsed < worlds * 2 / 3)
		fprintf(stderr, "only %d of %d random policies parsed\n", parsed, worlds);
	CHECK(parsed >= worlds * 2 / 3);
	CHECK_INT(mismatches, 0);
	return check_finish();
}
