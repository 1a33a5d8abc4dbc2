/* The netmap codec: encode, parse, deltas (changed, removed, whole sections), stale
 * deltas, and precise errors for bad fields. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control/netmap/netmap_json.h"

static json_t *node(uint64_t id, const char *name, const char *addr)
{
	struct ctl_node n;
	memset(&n, 0, sizeof(n));
	n.id = id;
	n.name = (char *)name;
	memset(n.node_key, (int)id, 32);
	ctl_prefix_parse(addr, &n.addrs[0]);
	n.n_addrs = 1;
	n.online = true;
	return ctl__node_json(&n);
}

static char *full(void)
{
	struct pol_ssh_usermap um = { "*", "=" };
	struct pol_prefix p;
	pol_prefix_parse("100.64.0.2/32", &p);
	struct pol_ssh_rule r = { .principals = &p, .n_principals = 1, .users = &um, .n_users = 1,
				  .action = VERDICT_CHECK, .check_period_s = 3600 };
	struct pol_port_range pr = { 22, 22 };
	uint8_t tcp = POL_PROTO_TCP;
	struct pol_filter_rule f = { .srcs = &p, .n_srcs = 1, .dsts = &p, .n_dsts = 1,
				     .ports = &pr, .n_ports = 1, .protos = &tcp, .n_protos = 1,
				     .section = "acls" };
	const struct pol_filter_rule *fp = &f;
	const struct pol_ssh_rule *rp = &r;
	json_t *nm = json_pack("{s:i, s:s, s:o, s:[o, o], s:o, s:o}", "version", 5, "domain",
			       "mesh.internal", "self", node(1, "laptop", "100.64.0.1"), "peers",
			       node(2, "server", "100.64.0.2"), node(3, "db", "100.64.0.3"),
			       "filter", ctl__filter_json(&fp, 1), "ssh", ctl__ssh_json(&rp, 1));
	json_t *msg = json_pack("{s:s, s:i, s:o}", "type", "full", "version", 5, "netmap", nm);
	char *s = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	return s;
}

int main(void)
{
	char err[256] = "", *cur = NULL, *msg = full();
	struct ctl_netmap *nm;
	CHECK_INT(ctl_netmap_apply(&cur, msg, strlen(msg), err, sizeof(err)), 0);
	free(msg);
	CHECK_INT(ctl_netmap_parse(cur, strlen(cur), &nm, err, sizeof(err)), 0);
	CHECK_INT(nm->version, 5);
	CHECK_STR(nm->self.name, "laptop");
	CHECK_INT(nm->n_peers, 2);
	CHECK_INT(nm->n_ssh, 1);
	CHECK_INT(nm->ssh[0]->action, VERDICT_CHECK);
	CHECK_INT(nm->ssh[0]->check_period_s, 3600);
	CHECK_STR(nm->ssh[0]->users[0].to, "=");
	CHECK_INT(nm->filter[0]->ports[0].first, 22);
	CHECK_INT(nm->filter[0]->protos[0], POL_PROTO_TCP);
	CHECK_STR(nm->filter[0]->section, "acls");
	struct ctl_prefix a;
	CHECK(ctl_prefix_parse("100.64.0.3", &a));
	CHECK(ctl_netmap_peer_by_addr(nm, &a) != NULL);
	CHECK_INT(ctl_netmap_peer_by_addr(nm, &a)->id, 3);
	ctl_netmap_free(nm);

	/* a delta: peer 3 removed, peer 2 renamed, peer 4 added, filter emptied */
	json_t *d = json_pack("{s:s, s:i, s:i, s:[i], s:[o, o], s:[]}", "type", "delta",
			      "version", 6, "base", 5, "peers_removed", 3, "peers_changed",
			      node(2, "server2", "100.64.0.2"), node(4, "new", "100.64.0.4"),
			      "filter");
	char *ds = json_dumps(d, JSON_COMPACT);
	CHECK_INT(ctl_netmap_apply(&cur, ds, strlen(ds), err, sizeof(err)), 0);
	CHECK_INT(ctl_netmap_parse(cur, strlen(cur), &nm, err, sizeof(err)), 0);
	CHECK_INT(nm->version, 6);
	CHECK_INT(nm->n_peers, 2);
	CHECK_STR(ctl_netmap_peer_by_id(nm, 2)->name, "server2");
	CHECK(ctl_netmap_peer_by_id(nm, 3) == NULL);
	CHECK(ctl_netmap_peer_by_id(nm, 4) != NULL);
	CHECK_INT(nm->n_filter, 0);
	CHECK_INT(nm->n_ssh, 1);
	ctl_netmap_free(nm);
	/* the same delta again is based on version 5, not 6 */
	CHECK_INT(ctl_netmap_apply(&cur, ds, strlen(ds), err, sizeof(err)), -ESTALE);
	CHECK_STR(err, "delta is based on another version");
	free(ds);
	json_decref(d);

	/* keepalive changes nothing; errors name the field */
	const char *ka = "{\"type\":\"keepalive\",\"version\":6}";
	CHECK_INT(ctl_netmap_apply(&cur, ka, strlen(ka), err, sizeof(err)), 0);
	const char *bad = "{\"type\":\"delta\",\"version\":7,\"base\":6,"
			  "\"peers_changed\":[{\"id\":9,\"node_key\":\"abc\"}]}";
	CHECK_INT(ctl_netmap_apply(&cur, bad, strlen(bad), err, sizeof(err)), -EINVAL);
	CHECK(strncmp(err, "node_key: ", 10) == 0);
	const char *bad2 = "{\"type\":\"delta\",\"version\":7,\"base\":6,\"self\":{\"id\":1,"
			   "\"node_key\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\","
			   "\"addresses\":[\"300.1.1.1\"]}}";
	CHECK_INT(ctl_netmap_apply(&cur, bad2, strlen(bad2), err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "addresses: '300.1.1.1' is not an IP address or prefix");
	CHECK_INT(ctl_netmap_apply(&cur, "{", 1, err, sizeof(err)), -EINVAL);

	/* compiled rules: an early bad field ends the rule before any list is read */
	static const struct {
		const char *section, *rule, *err;
	} rules[] = {
		{ "ssh", "{\"action\":\"check\",\"check_period\":\"1h\",\"users\":[[\"*\",\"=\"]]}",
		  "ssh[0].check_period: expected an integer" },
		{ "ssh", "{\"action\":\"accept\",\"index\":-1}", "ssh[0].index: -1 is out of range" },
		{ "ssh", "{\"action\":\"deny\",\"index\":0}", "ssh[0].action: expected accept or check" },
		{ "ssh", "{\"action\":\"accept\",\"index\":0,\"users\":[[\"*\"]]}",
		  "ssh[0].users[0]: expected [from, to]" },
		{ "filter", "{\"section\":\"acls\",\"ports\":[[22,22]]}", "filter[0].index: missing" },
		{ "filter", "{\"section\":\"acls\",\"index\":0,\"ports\":[[22,70000]]}",
		  "filter[0].ports[0]: expected [first, last] in 0-65535" },
		{ "filter", "{\"section\":\"acls\",\"index\":0,\"protos\":[256]}",
		  "filter[0].protos[0]: expected a protocol number 0-255" },
		{ "filter", "{\"section\":\"acls\",\"index\":0,\"srcs\":[\"100.64.0.1/40\"]}",
		  "filter[0].srcs[0]: '100.64.0.1/40' is not an IP address or prefix" },
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		char dm[512];
		snprintf(dm, sizeof(dm), "{\"type\":\"delta\",\"version\":7,\"base\":6,\"%s\":[%s]}",
			 rules[i].section, rules[i].rule);
		err[0] = 0;
		CHECK_INT(ctl_netmap_apply(&cur, dm, strlen(dm), err, sizeof(err)), -EINVAL);
		CHECK_STR(err, rules[i].err);
	}
	CHECK_INT(ctl_netmap_parse(cur, strlen(cur), &nm, err, sizeof(err)), 0);
	CHECK_INT(nm->version, 6);
	ctl_netmap_free(nm);

	/* with no policy, control sends the engine's allow-all rule; a node must take it */
	{
		const struct pol_filter_rule *open_rule = &pol_filter_allow_all;
		json_t *fj = ctl__filter_json(&open_rule, 1);
		char *ft = json_dumps(fj, JSON_COMPACT), dm[1024];
		json_decref(fj);
		snprintf(dm, sizeof(dm),
			 "{\"type\":\"delta\",\"version\":7,\"base\":6,\"filter\":%s}", ft);
		free(ft);
		CHECK_INT(ctl_netmap_apply(&cur, dm, strlen(dm), err, sizeof(err)), 0);
		CHECK_INT(ctl_netmap_parse(cur, strlen(cur), &nm, err, sizeof(err)), 0);
		CHECK_INT(nm->n_filter, 1);
		CHECK_STR(nm->filter[0]->section, "default");
		CHECK_INT(nm->filter[0]->n_protos, 0);
		CHECK_INT(nm->filter[0]->ports[0].last, 65535);
		struct pol_addr sa = { .family = 4, .bytes = { 100, 64, 0, 9 } };
		struct pol_addr da = { .family = 4, .bytes = { 100, 64, 0, 1 } };
		CHECK_INT(pol_filter_rules_match((const struct pol_filter_rule *const *)nm->filter,
						 nm->n_filter, &sa, &da, POL_PROTO_TCP, 8080),
			  0);
		ctl_netmap_free(nm);
	}
	free(cur);

	/* prefixes */
	struct ctl_prefix p, q;
	char s[44];
	CHECK(ctl_prefix_parse("fd7a:115c:a1e0::/48", &p));
	CHECK(ctl_prefix_parse("fd7a:115c:a1e0::5", &q));
	CHECK(ctl_prefix_contains(&p, &q));
	ctl_prefix_format(&q, s);
	CHECK_STR(s, "fd7a:115c:a1e0::5/128");
	CHECK(ctl_prefix_parse("100.64.0.0/10", &p));
	CHECK(ctl_prefix_parse("100.127.255.255", &q));
	CHECK(ctl_prefix_contains(&p, &q));
	CHECK(ctl_prefix_parse("100.128.0.0", &q));
	CHECK(!ctl_prefix_contains(&p, &q));
	CHECK(!ctl_prefix_parse("100.64.0.0/33", &p));
	CHECK(!ctl_prefix_parse("100.64.0.0/", &p));
	CHECK(!ctl_prefix_parse("", &p));
	return check_finish();
}
