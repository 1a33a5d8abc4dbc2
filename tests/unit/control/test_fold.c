/* The two-form fold (delta.c): 2 000 random map messages folded with
 * ctl__netmap_fold_both() must leave a struct equal to decoding the JSON form, and the JSON
 * form equal to the JSON-only fold; refused deltas (bad peer, duplicate id, stale base)
 * change neither form. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control/netmap/netmap_json.h"

static unsigned long long rng = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
	return check_rand(&rng, n);
}

static json_t *node(uint64_t id, unsigned gen)
{
	struct ctl_node n;
	char name[32], addr[32], ep[32];
	char *eps[1] = { ep };
	memset(&n, 0, sizeof(n));
	snprintf(name, sizeof(name), "n%llu-%u", (unsigned long long)id, gen);
	snprintf(addr, sizeof(addr), "100.64.%u.%u", (unsigned)(id / 250),
		 (unsigned)(id % 250) + 1);
	snprintf(ep, sizeof(ep), "192.0.2.%u:%u", gen % 250, 41641 + gen);
	n.id = id;
	n.name = name;
	memset(n.node_key, (int)(id + gen), 32);
	addr_prefix_parse(addr, &n.addrs[0], NULL);
	n.n_addrs = 1;
	n.endpoints = eps;
	n.n_endpoints = gen % 2;
	n.online = gen % 3 != 0;
	n.last_seen = gen;
	return ctl__node_json(&n);
}

static json_t *filter(unsigned gen)
{
	struct addr_prefix p;
	char a[32];
	snprintf(a, sizeof(a), "100.64.0.%u/32", gen % 250 + 1);
	addr_net_parse(a, &p, NULL);
	struct pol_port_range pr = { (uint16_t)gen, (uint16_t)gen };
	uint8_t tcp = POL_PROTO_TCP, udp = POL_PROTO_UDP;
	struct pol_filter_rule f[2] = { { .srcs = &p,
					  .n_srcs = 1,
					  .dsts = &p,
					  .n_dsts = 1,
					  .ports = &pr,
					  .n_ports = 1,
					  .protos = &tcp,
					  .n_protos = 1,
					  .section = "acls" },
					{ .srcs = &p,
					  .n_srcs = 1,
					  .dsts = &p,
					  .n_dsts = 1,
					  .ports = &pr,
					  .n_ports = 1,
					  .protos = &udp,
					  .n_protos = 1,
					  .section = "grants",
					  .index = 1 } };
	const struct pol_filter_rule *fp[2] = { &f[0], &f[1] };
	return ctl__filter_json(fp, gen % 3);
}

static json_t *ssh(unsigned gen)
{
	struct pol_ssh_usermap um = { "*", "=" };
	struct addr_prefix p;
	addr_net_parse("100.64.0.9/32", &p, NULL);
	struct pol_ssh_rule r = { .principals = &p,
				  .n_principals = 1,
				  .users = &um,
				  .n_users = 1,
				  .action = VERDICT_CHECK,
				  .check_period_s = gen };
	const struct pol_ssh_rule *rp = &r;
	return ctl__ssh_json(&rp, gen % 2);
}

/* The struct, encoded back to JSON, for comparison. */
static json_t *encode(const struct ctl_netmap *nm)
{
	json_t *peers = json_array();
	for (size_t i = 0; i < nm->n_peers; i++)
		json_array_append_new(peers, ctl__node_json(&nm->peers[i]));
	return json_pack(
	    "{s:I, s:s?, s:o, s:o, s:o, s:o}", "version", (json_int_t)nm->version, "domain",
	    nm->domain, "self", ctl__node_json(&nm->self), "peers", peers, "filter",
	    ctl__filter_json((const struct pol_filter_rule *const *)nm->filter, nm->n_filter),
	    "ssh", ctl__ssh_json((const struct pol_ssh_rule *const *)nm->ssh, nm->n_ssh));
}

static bool same(json_t *json, const struct ctl_netmap *nm)
{
	struct ctl_netmap *dec;
	char err[256];
	if (ctl__netmap_from_json(json, &dec, err, sizeof(err)) != 0)
		return false;
	json_t *a = encode(dec), *b = encode(nm);
	bool eq = json_equal(a, b);
	if (!eq) {
		char *sa = json_dumps(a, JSON_COMPACT), *sb = json_dumps(b, JSON_COMPACT);
		fprintf(stderr, "decoded JSON: %.300s\nstruct:       %.300s\n", sa, sb);
		free(sa);
		free(sb);
	}
	json_decref(a);
	json_decref(b);
	ctl_netmap_free(dec);
	return eq;
}

static json_t *random_delta(json_int_t base, json_int_t version, unsigned gen)
{
	json_t *m = json_pack("{s:s, s:I, s:I}", "type", "delta", "base", base, "version", version);
	if (rnd(2)) {
		json_t *ch = json_array();
		unsigned n = rnd(6);
		uint64_t first = 2 + rnd(60);
		for (unsigned i = 0; i < n; i++) /* distinct ids, in no particular order */
			json_array_append_new(ch, node(first + (i * 7) % 40, gen + i));
		json_object_set_new(m, "peers_changed", ch);
	}
	if (rnd(2)) {
		json_t *rm = json_array();
		for (unsigned i = rnd(5); i > 0; i--)
			json_array_append_new(rm, json_integer(2 + rnd(70)));
		json_object_set_new(m, "peers_removed", rm);
	}
	if (rnd(4) == 0)
		json_object_set_new(m, "self", node(1, gen));
	if (rnd(3) == 0)
		json_object_set_new(m, "filter", filter(gen));
	if (rnd(4) == 0)
		json_object_set_new(m, "ssh", ssh(gen));
	if (rnd(10) == 0)
		json_object_set_new(m, "domain",
				    json_string(gen % 2 ? "a.internal" : "b.internal"));
	return m;
}

int main(void)
{
	char err[256];
	bool ka;
	json_t *both_json = NULL, *only_json = NULL;
	struct ctl_netmap *nm = NULL;

	json_t *peers = json_array();
	for (uint64_t id = 70; id >= 2; id -= 3) /* the full map's peers out of id order */
		json_array_append_new(peers, node(id, 0));
	json_t *full =
	    json_pack("{s:s, s:i, s:{s:i, s:s, s:o, s:o, s:o, s:o}}", "type", "full", "version", 1,
		      "netmap", "version", 1, "domain", "mesh.internal", "self", node(1, 0),
		      "peers", peers, "filter", filter(1), "ssh", ssh(1));
	CHECK_INT(ctl__netmap_fold_both(&both_json, &nm, full, &ka, err, sizeof(err)), 0);
	json_t *full2 = json_deep_copy(full); /* the two forms must not share objects */
	CHECK_INT(ctl__netmap_fold(&only_json, full2, &ka, err, sizeof(err)), 0);
	json_decref(full);
	json_decref(full2);
	CHECK(nm && same(both_json, nm));

	int mismatches = 0;
	json_int_t v = 1;
	for (unsigned gen = 1; gen <= 2000 && nm; gen++) {
		json_t *m = random_delta(v, v + 1, gen);
		int a = ctl__netmap_fold_both(&both_json, &nm, m, &ka, err, sizeof(err));
		int b = ctl__netmap_fold(&only_json, m, &ka, err, sizeof(err));
		json_decref(m);
		if (a || b || !json_equal(both_json, only_json) || !same(both_json, nm)) {
			fprintf(stderr, "message %u: fold_both %d, fold %d: %s\n", gen, a, b, err);
			if (++mismatches > 5)
				break;
		}
		v++;
	}
	CHECK_INT(mismatches, 0);
	CHECK_INT(nm ? (long long)nm->version : 0, v);
	for (size_t i = 1; nm && i < nm->n_peers; i++)
		CHECK(nm->peers[i - 1].id < nm->peers[i].id);

	/* Refused deltas change neither form. */
	char *before = json_dumps(both_json, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *bad[4];
	bad[0] = json_pack("{s:s, s:I, s:I, s:[{s:i}], s:o}", "type", "delta", "base", v, "version",
			   v + 1, "peers_changed", "id", 3, "filter", filter(7));
	bad[1] = json_pack("{s:s, s:I, s:I, s:[o, o]}", "type", "delta", "base", v, "version",
			   v + 1, "peers_changed", node(5, 1), node(5, 2));
	bad[2] = json_pack("{s:s, s:I, s:I, s:[s]}", "type", "delta", "base", v, "version", v + 1,
			   "peers_removed", "x");
	bad[3] = json_pack("{s:s, s:I, s:I, s:o}", "type", "delta", "base", v - 1, "version", v + 1,
			   "filter", filter(3));
	static const char *const want[] = { "node_key: missing",
					    "delta: peer 5 appears twice in peers_changed",
					    "delta: peers_removed[0] is not an id",
					    "delta is based on another version" };
	static const int want_rc[] = { -EINVAL, -EINVAL, -EINVAL, -ESTALE };
	for (int i = 0; i < 4; i++) {
		err[0] = '\0';
		CHECK_INT(ctl__netmap_fold_both(&both_json, &nm, bad[i], &ka, err, sizeof(err)),
			  want_rc[i]);
		CHECK_STR(err, want[i]);
		json_decref(bad[i]);
		char *after = json_dumps(both_json, JSON_COMPACT | JSON_SORT_KEYS);
		CHECK_STR(after, before);
		free(after);
		CHECK(same(both_json, nm));
		CHECK_INT(nm->version, v);
	}
	free(before);
	json_decref(both_json);
	json_decref(only_json);
	ctl_netmap_free(nm);
	return check_finish();
}
