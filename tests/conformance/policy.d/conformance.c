/* Policy conformance: replays every case of the public corpus (decisions Tailscale's own
 * service made for hundreds of policies) through our engine.  A case passes when we refuse
 * the policy iff the service did, and every filter and SSH row matches.  Prints the pass
 * rate per category, each failure by id with its first differing row, and a last line
 * "conformance: P passed, F failed".  Exits 1 when the corpus is missing or a category is
 * below its target (100 % ssh and sshtest, 95 % acl, grant and policytest).
 *
 * Usage: policy-conformance CORPUS_DIR [-v] [ID_SUBSTRING] */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/policy.h"

struct category {
	const char *name;
	double target;
	int passed, failed;
};

static struct category cats[] = {
	{ "ssh", 1.0, 0, 0 },	 { "sshtest", 1.0, 0, 0 },     { "acl", 0.95, 0, 0 },
	{ "grant", 0.95, 0, 0 }, { "policytest", 0.95, 0, 0 },
};

static bool verbose;

struct topo {
	struct pol_topology t;
	struct pol_user *users;
	struct pol_node *nodes;
	struct addr_ip *addrs;	    /* 2 per node */
	struct addr_prefix *routes; /* up to 8 per node */
	const char **tags;	    /* up to 8 per node */
};

static void topo_free(struct topo *t)
{
	free(t->users);
	free(t->nodes);
	free(t->addrs);
	free(t->routes);
	free(t->tags);
}

/* Builds the topology; returns false with a reason on malformed input. */
static bool topo_build(json_t *j, struct topo *t, char *why, size_t whylen)
{
	json_t *users = json_object_get(j, "users"), *nodes = json_object_get(j, "nodes");
	size_t nu = json_array_size(users), nn = json_object_size(nodes);
	memset(t, 0, sizeof(*t));
	t->users = calloc(nu + 1, sizeof(*t->users));
	t->nodes = calloc(nn + 1, sizeof(*t->nodes));
	t->addrs = calloc(2 * nn + 1, sizeof(*t->addrs));
	t->routes = calloc(8 * nn + 1, sizeof(*t->routes));
	t->tags = calloc(8 * nn + 1, sizeof(*t->tags));
	if (!t->users || !t->nodes || !t->addrs || !t->routes || !t->tags) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	for (size_t i = 0; i < nu; i++) {
		const char *e =
		    json_string_value(json_object_get(json_array_get(users, i), "email"));
		t->users[t->t.n_users++].login = e ? e : "";
	}
	const char *name;
	json_t *n;
	size_t i = 0;
	json_object_foreach(nodes, name, n)
	{
		struct pol_node *nd = &t->nodes[i];
		nd->name = name;
		nd->hostname = json_string_value(json_object_get(n, "hostname"));
		nd->tags = &t->tags[8 * i];
		json_t *tg = json_object_get(n, "tags");
		for (size_t k = 0; k < json_array_size(tg) && k < 8; k++)
			t->tags[8 * i + nd->n_tags++] = json_string_value(json_array_get(tg, k));
		const char *user = json_string_value(json_object_get(n, "user"));
		for (size_t u = 0; user && u < nu; u++) {
			json_t *uj = json_array_get(users, u);
			if (strcmp(json_string_value(json_object_get(uj, "name")) ?: "", user) == 0)
				nd->owner = t->users[u].login;
		}
		if (user && !nd->owner) {
			snprintf(why, whylen, "node %s: unknown user %s", name, user);
			return false;
		}
		nd->addrs = &t->addrs[2 * i];
		const char *v4 = json_string_value(json_object_get(n, "ipv4"));
		const char *v6 = json_string_value(json_object_get(n, "ipv6"));
		if (v4 && addr_ip_parse(v4, &t->addrs[2 * i + nd->n_addrs], NULL))
			nd->n_addrs++;
		if (v6 && addr_ip_parse(v6, &t->addrs[2 * i + nd->n_addrs], NULL))
			nd->n_addrs++;
		nd->routes = &t->routes[8 * i];
		json_t *rt = json_object_get(n, "approved_routes");
		for (size_t k = 0; k < json_array_size(rt) && k < 8; k++)
			if (addr_net_parse(json_string_value(json_array_get(rt, k)) ?: "",
					   &t->routes[8 * i + nd->n_routes], NULL))
				nd->n_routes++;
		i++;
	}
	t->t.users = t->users;
	t->t.nodes = t->nodes;
	t->t.n_nodes = nn;
	return true;
}

static bool proto_of(const char *s, uint8_t *p)
{
	return pol_proto_parse(s, p);
}

/* Our refusal must name what the service's message quotes: returns the first quoted
 * value of want missing from got (static buffer), or NULL. */
static const char *unnamed(const char *want, const char *got)
{
	static char tok[256];
	const char *p = want;
	while ((p = strchr(p, '"'))) {
		const char *q = strchr(p + 1, '"');
		if (!q)
			break;
		size_t n = (size_t)(q - p - 1);
		if (n && n < sizeof(tok)) {
			memcpy(tok, p + 1, n);
			tok[n] = '\0';
			if (!strstr(got, tok))
				return tok;
		}
		p = q + 1;
	}
	return NULL;
}

/* Runs one case; returns true on pass, else fills why with the first difference. */
static bool run_case(json_t *cs, char *why, size_t whylen)
{
	json_t *policy = json_object_get(cs, "policy");
	const char *owner = json_string_value(json_object_get(cs, "tailnet_owner"));
	const char *domain = owner && strchr(owner, '@') ? strchr(owner, '@') + 1 : NULL;
	json_t *expect = json_object_get(cs, "expect_error");
	char *text = json_dumps(policy, JSON_INDENT(1));
	struct topo t;
	struct pol_error err;
	struct pol_compiled *c = NULL;
	bool ok = false;

	if (!text || !topo_build(json_object_get(cs, "topology"), &t, why, whylen)) {
		free(text);
		return false;
	}
	int rc = pol_load(text, strlen(text), domain, &t.t, &c, &err);
	free(text);
	if (expect) {
		const char *missing = NULL;
		if (rc == 0)
			snprintf(why, whylen, "accepted a policy the service refused with: %s",
				 json_string_value(expect));
		else if ((missing = unnamed(json_string_value(expect), err.msg)))
			snprintf(why, whylen,
				 "refused, but the message does not name %s: want \"%s\", "
				 "got \"%s\"",
				 missing, json_string_value(expect), err.msg);
		else {
			ok = true;
			if (verbose)
				printf("  %s\n    want: %s\n    got:  %s\n",
				       json_string_value(json_object_get(cs, "id")),
				       json_string_value(expect), err.msg);
		}
		goto out;
	}
	if (rc) {
		snprintf(why, whylen, "refused a policy the service accepted: %s", err.msg);
		goto out;
	}
	size_t i;
	json_t *row;
	json_array_foreach(json_object_get(cs, "filter"), i, row)
	{
		const char *s = json_string_value(json_array_get(row, 0));
		const char *d = json_string_value(json_array_get(row, 1));
		const char *ps = json_string_value(json_array_get(row, 2));
		int port = (int)json_integer_value(json_array_get(row, 3));
		bool want = json_is_true(json_array_get(row, 4));
		size_t si, di;
		uint8_t proto;
		if (!s || !d || !ps || pol_compiled_find_node(c, s, &si) ||
		    pol_compiled_find_node(c, d, &di) || !proto_of(ps, &proto)) {
			snprintf(why, whylen, "filter row %zu malformed", i);
			goto out;
		}
		const struct pol_node *sn = &t.nodes[si], *dn = &t.nodes[di];
		struct pol_decision dec;
		pol_filter_decide(c, &sn->addrs[0], &dn->addrs[0], proto, (uint16_t)port, &dec);
		if ((dec.verdict == VERDICT_ACCEPT) != want) {
			snprintf(why, whylen, "filter [%s, %s, %s, %d]: want %s, got %s (%s)", s, d,
				 ps, port, want ? "allowed" : "dropped",
				 dec.verdict == VERDICT_ACCEPT ? "allowed" : "dropped", dec.why);
			goto out;
		}
	}
	json_array_foreach(json_object_get(cs, "ssh"), i, row)
	{
		const char *s = json_string_value(json_array_get(row, 0));
		const char *d = json_string_value(json_array_get(row, 1));
		const char *u = json_string_value(json_array_get(row, 2));
		const char *act = json_string_value(json_array_get(row, 3));
		const char *lu = json_string_value(json_array_get(row, 4));
		size_t si, di;
		if (!s || !d || !u || !act || pol_compiled_find_node(c, s, &si) ||
		    pol_compiled_find_node(c, d, &di)) {
			snprintf(why, whylen, "ssh row %zu malformed", i);
			goto out;
		}
		struct pol_decision dec;
		pol_ssh_decide(c, si, di, u, &dec);
		const char *got = dec.verdict == VERDICT_ACCEPT	 ? "accept"
				  : dec.verdict == VERDICT_CHECK ? "check"
								 : "reject";
		const char *glu = dec.verdict == VERDICT_REJECT ? "" : dec.local_user;
		if (strcmp(got, act) != 0 || strcmp(glu, lu ? lu : "") != 0) {
			snprintf(why, whylen, "ssh [%s, %s, %s]: want %s/%s, got %s/%s (%s)", s, d,
				 u, act, lu ? lu : "", got, glu, dec.why);
			goto out;
		}
	}
	ok = true;
out:
	pol_compiled_free(c);
	topo_free(&t);
	return ok;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *only = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else if (!dir)
			dir = argv[i];
		else
			only = argv[i];
	}
	if (!dir) {
		fprintf(stderr, "usage: policy-conformance CORPUS_DIR [-v] [ID_SUBSTRING]\n");
		return 2;
	}
	DIR *d = opendir(dir);
	if (!d) {
		printf("corpus folder %s: %s\n", dir, strerror(errno));
		printf("conformance: 0 passed, 1 failed\n");
		return 1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				return 1;
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	int passed = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		char path[4096], why[1024] = "";
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		json_error_t je;
		json_t *cs = json_load_file(path, 0, &je);
		const char *id = cs ? json_string_value(json_object_get(cs, "id")) : NULL;
		const char *cat = cs ? json_string_value(json_object_get(cs, "category")) : NULL;
		if (only && !strstr(names[i], only)) {
			json_decref(cs);
			continue;
		}
		struct category *k = NULL;
		for (size_t c = 0; cat && c < sizeof(cats) / sizeof(cats[0]); c++)
			if (strcmp(cats[c].name, cat) == 0)
				k = &cats[c];
		bool ok = cs && k && run_case(cs, why, sizeof(why));
		if (!cs)
			snprintf(why, sizeof(why), "unreadable: %s", je.text);
		else if (!k)
			snprintf(why, sizeof(why), "unknown category");
		if (ok) {
			passed++;
			k->passed++;
		} else {
			failed++;
			if (k)
				k->failed++;
			printf("FAIL %s: %s\n", id ? id : names[i], why);
		}
		json_decref(cs);
		free(names[i]);
	}
	free(names);
	bool below = n == 0;
	printf("\n%-12s %7s %7s %8s %8s\n", "category", "passed", "failed", "rate", "target");
	for (size_t c = 0; c < sizeof(cats) / sizeof(cats[0]); c++) {
		int tot = cats[c].passed + cats[c].failed;
		double rate = tot ? (double)cats[c].passed / tot : 1.0;
		bool low = rate + 1e-9 < cats[c].target;
		below |= low && !only;
		printf("%-12s %7d %7d %7.1f%% %7.0f%%%s\n", cats[c].name, cats[c].passed,
		       cats[c].failed, 100 * rate, 100 * cats[c].target,
		       low ? "  BELOW TARGET" : "");
	}
	if (n == 0) {
		printf("corpus folder %s holds no cases\n", dir);
		failed = 1;
	}
	printf("conformance: %d passed, %d failed\n", passed, failed);
	return below ? 1 : 0;
}
