/* Benchmark helper for tests/bench/policy-scale: builds a synthetic tailnet (10 000 nodes
 * by default) and a 1 000-rule policy, then measures parse, compile (per-node filters and
 * SSH rules for every node), memory held by the compiled form, and SSH and packet-filter
 * decision latency (p50/p99 over random pairs).  Prints a table and, last, "ratio: X" with
 * X = 1 s / compile time (above 1: the 1 s target is met).
 *
 * Usage: policy-scale [NODES] [RULES]  (MESH_SCALE_IDP=1: groups fed by the provider too) */
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/policy/policy.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

struct buf {
	char *p;
	size_t n, cap;
};

__attribute__((format(printf, 2, 3))) static void out(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if (k >= 0 && (size_t)k < b->cap - b->n) {
			b->n += (size_t)k;
			return;
		}
		b->cap = b->cap ? b->cap * 2 : 1 << 16;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int n_nodes = argc > 1 ? atoi(argv[1]) : 10000;
	int n_rules = argc > 2 ? atoi(argv[2]) : 1000;
	int n_users = n_nodes * 3 / 10, n_tags = 100, n_groups = 50;
	if (n_users < 2)
		n_users = 2;

	/* ---- topology ---- */
	struct pol_user *users = calloc((size_t)n_users, sizeof(*users));
	struct pol_node *nodes = calloc((size_t)n_nodes, sizeof(*nodes));
	struct addr_ip *addrs = calloc((size_t)n_nodes * 2, sizeof(*addrs));
	char **tagnames = calloc((size_t)n_tags, sizeof(char *));
	if (!users || !nodes || !addrs || !tagnames)
		return 1;
	for (int t = 0; t < n_tags; t++) {
		tagnames[t] = malloc(16);
		sprintf(tagnames[t], "tag:t%d", t);
	}
	/* MESH_SCALE_IDP=1: every group also has a provider member (oidc:gN) and every user
	 * carries three provider groups, as stored at a sign-in */
	bool idp = getenv("MESH_SCALE_IDP") && strcmp(getenv("MESH_SCALE_IDP"), "1") == 0;
	for (int u = 0; u < n_users; u++) {
		char *l = malloc(32);
		sprintf(l, "user%d@example.com", u);
		users[u].login = l;
		if (!idp)
			continue;
		char **g = calloc(3, sizeof(*g));
		for (int k = 0; g && k < 3; k++) {
			g[k] = malloc(16);
			sprintf(g[k], "g%d", (u + 7 * k) % n_groups);
		}
		users[u].idp_groups = (const char *const *)g;
		users[u].n_idp_groups = 3;
	}
	for (int i = 0; i < n_nodes; i++) {
		char *name = malloc(16);
		sprintf(name, "n%d", i);
		nodes[i].name = name;
		addrs[2 * i].family = AF_INET;
		addrs[2 * i].bytes[0] = 100;
		addrs[2 * i].bytes[1] = (uint8_t)(64 + (i >> 16));
		addrs[2 * i].bytes[2] = (uint8_t)(i >> 8);
		addrs[2 * i].bytes[3] = (uint8_t)i;
		addrs[2 * i + 1].family = AF_INET6;
		addrs[2 * i + 1].bytes[0] = 0xfd;
		addrs[2 * i + 1].bytes[1] = 0x7a;
		addrs[2 * i + 1].bytes[13] = (uint8_t)(i >> 16);
		addrs[2 * i + 1].bytes[14] = (uint8_t)(i >> 8);
		addrs[2 * i + 1].bytes[15] = (uint8_t)i;
		nodes[i].addrs = &addrs[2 * i];
		nodes[i].n_addrs = 2;
		if (i % 10 < 7) {
			nodes[i].owner = users[i % n_users].login;
		} else {
			nodes[i].tags = (const char *const *)&tagnames[i % n_tags];
			nodes[i].n_tags = 1;
		}
	}
	struct pol_topology topo = { users, (size_t)n_users, nodes, (size_t)n_nodes };

	/* ---- policy: groups, tags, acls and grants to tags/groups/users, ssh ---- */
	struct buf b = { 0 };
	out(&b, "{\n\"groups\": {");
	for (int g = 0; g < n_groups; g++) {
		out(&b, "%s\"group:g%d\": [", g ? ",\n" : "", g);
		if (idp)
			out(&b, "\"oidc:g%d\", ", g);
		for (int k = 0; k < 60; k++)
			out(&b, "%s\"user%d@example.com\"", k ? ", " : "",
			    (int)(rng() % (uint64_t)n_users));
		out(&b, "]");
	}
	out(&b, "},\n\"tagOwners\": {");
	for (int t = 0; t < n_tags; t++)
		out(&b, "%s\"tag:t%d\": [\"group:g0\"]", t ? ", " : "", t);
	out(&b, "},\n\"hosts\": {\"db\": \"100.64.0.7\", \"lan\": \"10.0.0.0/8\"},\n\"acls\": [\n");
	int n_ssh = n_rules / 10, n_net = n_rules - n_ssh;
	int n_acls = n_net * 3 / 4;
	for (int r = 0; r < n_acls; r++) {
		const char *src[4] = { "group:g", "tag:t", "user", "autogroup:member" };
		int sk = (int)(rng() % 4);
		char s[64];
		if (sk == 0)
			sprintf(s, "group:g%d", (int)(rng() % (uint64_t)n_groups));
		else if (sk == 1)
			sprintf(s, "tag:t%d", (int)(rng() % (uint64_t)n_tags));
		else if (sk == 2)
			sprintf(s, "user%d@example.com", (int)(rng() % (uint64_t)n_users));
		else
			strcpy(s, src[3]);
		int port = 1 + (int)(rng() % 10000);
		if (r == 0)
			out(&b,
			    "{\"action\": \"accept\", \"src\": [\"autogroup:member\"], \"dst\": "
			    "[\"autogroup:self:*\"]},\n");
		else if (r == 1)
			out(&b, "{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"db:5432\", "
				"\"lan:*\"]},\n");
		else
			out(&b,
			    "{\"action\": \"accept\", \"src\": [\"%s\"], \"dst\": [\"tag:t%d:%d\", "
			    "\"group:g%d:%d-%d\"]},\n",
			    s, (int)(rng() % (uint64_t)n_tags), port,
			    (int)(rng() % (uint64_t)n_groups), port, port + 100);
	}
	out(&b, "],\n\"grants\": [\n");
	for (int r = n_acls; r < n_net; r++)
		out(&b,
		    "{\"src\": [\"group:g%d\"], \"dst\": [\"tag:t%d\"], \"ip\": [\"tcp:%d\", "
		    "\"udp:53\"]},\n",
		    (int)(rng() % (uint64_t)n_groups), (int)(rng() % (uint64_t)n_tags),
		    1 + (int)(rng() % 60000));
	out(&b, "],\n\"ssh\": [\n");
	for (int r = 0; r < n_ssh; r++) {
		if (r == 0)
			out(&b,
			    "{\"action\": \"check\", \"src\": [\"autogroup:member\"], \"dst\": "
			    "[\"autogroup:self\"], \"users\": [\"autogroup:nonroot\", \"root\"], "
			    "\"checkPeriod\": \"12h\"},\n");
		else
			out(&b,
			    "{\"action\": \"%s\", \"src\": [\"group:g%d\"], \"dst\": "
			    "[\"tag:t%d\"], "
			    "\"users\": [\"%s\"]},\n",
			    r % 5 ? "accept" : "check", (int)(rng() % (uint64_t)n_groups),
			    (int)(rng() % (uint64_t)n_tags),
			    r % 3	 ? "autogroup:nonroot"
			    : r % 3 == 1 ? "root"
					 : "localpart:*@example.com");
	}
	out(&b, "]\n}\n");

	/* ---- parse and compile ---- */
	struct pol_policy *pol;
	struct pol_compiled *c = NULL;
	struct pol_error err;
	double t0 = now_s();
	if (pol_parse(b.p, b.n, "example.com", &pol, &err)) {
		fprintf(stderr, "policy-scale: generated policy refused: %s\n", err.msg);
		return 1;
	}
	double t_parse = now_s() - t0;
	double best = 1e9;
	size_t mem = 0;
	for (int rep = 0; rep < 3; rep++) {
		size_t before = heap_used();
		t0 = now_s();
		if (pol_compile(pol, &topo, &c, &err)) {
			fprintf(stderr, "policy-scale: compile failed: %s\n", err.msg);
			return 1;
		}
		double t = now_s() - t0;
		mem = heap_used() - before;
		if (t < best)
			best = t;
		if (rep < 2)
			pol_compiled_free(c);
	}
	/* Growth: the same policy for the first tenth, quarter and half of the nodes. */
	static const int parts[] = { 10, 4, 2 };
	double part_t[3];
	for (int k = 0; k < 3; k++) {
		struct pol_topology sub = topo;
		struct pol_compiled *sc;
		sub.n_nodes = (size_t)(n_nodes / parts[k]);
		part_t[k] = 1e9;
		for (int rep = 0; rep < 2; rep++) {
			t0 = now_s();
			if (pol_compile(pol, &sub, &sc, &err)) {
				fprintf(stderr, "policy-scale: compile failed: %s\n", err.msg);
				return 1;
			}
			double t = now_s() - t0;
			pol_compiled_free(sc);
			if (t < part_t[k])
				part_t[k] = t;
		}
	}

	size_t filt = 0, ssh = 0;
	for (int i = 0; i < n_nodes; i++) {
		const struct pol_filter_rule *const *fr;
		const struct pol_ssh_rule *const *sr;
		filt += pol_node_filter(c, (size_t)i, &fr);
		ssh += pol_node_ssh(c, (size_t)i, &sr);
	}

	/* ---- decisions ---- */
	enum { N = 200000 };
	double *lat = malloc(N * sizeof(double));
	static const char *const who[] = { "root", "deploy", "user7", "ubuntu" };
	int acc = 0;
	for (int i = 0; i < N; i++) {
		size_t s = rng() % (uint64_t)n_nodes, d = rng() % (uint64_t)n_nodes;
		struct pol_decision dec;
		double a = now_s();
		pol_ssh_decide(c, s, d, who[i & 3], &dec);
		lat[i] = now_s() - a;
		acc += dec.verdict != VERDICT_REJECT;
	}
	qsort(lat, N, sizeof(double), dcmp);
	double ssh50 = lat[N / 2], ssh99 = lat[N * 99 / 100];
	int facc = 0;
	for (int i = 0; i < N; i++) {
		size_t s = rng() % (uint64_t)n_nodes, d = rng() % (uint64_t)n_nodes;
		struct pol_decision dec;
		double a = now_s();
		pol_filter_decide(c, &addrs[2 * s], &addrs[2 * d], POL_PROTO_TCP,
				  (uint16_t)(1 + rng() % 10000), &dec);
		lat[i] = now_s() - a;
		facc += dec.verdict == VERDICT_ACCEPT;
	}
	qsort(lat, N, sizeof(double), dcmp);
	double f50 = lat[N / 2], f99 = lat[N * 99 / 100];

	printf(
	    "policy-scale: %d nodes, %d users, %d rules (%d acls, %d grants, %d ssh), policy %zu "
	    "bytes\n\n",
	    n_nodes, n_users, n_rules, n_acls, n_net - n_acls, n_ssh, b.n);
	printf("%-34s %14s\n", "measure", "value");
	printf("%-34s %11.1f ms\n", "parse + validate", t_parse * 1e3);
	printf("%-34s %11.1f ms\n", "compile all nodes (best of 3)", best * 1e3);
	for (int k = 0; k < 3; k++) {
		char label[64];
		snprintf(label, sizeof(label), "  compile %d nodes", n_nodes / parts[k]);
		printf("%-34s %11.1f ms\n", label, part_t[k] * 1e3);
	}
	printf("%-34s %14.2f\n", "  growth exponent (1 = linear)",
	       log(best / part_t[0]) / log((double)n_nodes / (n_nodes / parts[0])));
	printf("%-34s %11.1f MiB\n", "compiled form, heap", (double)mem / (1 << 20));
	printf("%-34s %14zu\n", "filter rules over all nodes", filt);
	printf("%-34s %14zu\n", "ssh rules over all nodes", ssh);
	printf("%-34s %11.2f us\n", "ssh decision p50", ssh50 * 1e6);
	printf("%-34s %11.2f us\n", "ssh decision p99", ssh99 * 1e6);
	printf("%-34s %11.2f us\n", "filter decision p50", f50 * 1e6);
	printf("%-34s %11.2f us\n", "filter decision p99", f99 * 1e6);
	printf("%-34s %13.1f%%\n", "ssh decisions allowed", 100.0 * acc / N);
	printf("%-34s %13.1f%%\n", "packets allowed", 100.0 * facc / N);
	printf("%-34s %14s\n", "target: compile < 1 s", best < 1.0 ? "met" : "MISSED");
	printf("%-34s %14s\n", "target: ssh p99 < 5 us", ssh99 < 5e-6 ? "met" : "MISSED");
	printf("ratio: %.2f\n", 1.0 / best);
	free(lat);
	pol_compiled_free(c);
	pol_policy_free(pol);
	free(b.p);
	for (int i = 0; i < n_nodes; i++)
		free((char *)nodes[i].name);
	for (int u = 0; u < n_users; u++)
		free((char *)users[u].login);
	for (int t = 0; t < n_tags; t++)
		free(tagnames[t]);
	free(tagnames);
	free(nodes);
	free(users);
	free(addrs);
	return 0;
}
