/* The netmap codec: encode, parse, deltas (changed, removed, whole sections), stale
 * deltas, and precise errors for bad fields; a node's relays with its TURN credentials and
 * each node's discovery key (full netmaps, deltas in both folds, every bad field). */
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
	addr_prefix_parse(addr, &n.addrs[0], NULL);
	n.n_addrs = 1;
	n.online = true;
	return ctl__node_json(&n);
}

static char *full(void)
{
	struct pol_ssh_usermap um = { "*", "=" };
	struct addr_prefix p;
	addr_net_parse("100.64.0.2/32", &p, NULL);
	struct addr_ip rec[2];
	addr_ip_parse("100.64.0.9", &rec[0], NULL);
	addr_ip_parse("fd7a::9", &rec[1], NULL);
	struct pol_ssh_rule r = { .principals = &p,
				  .n_principals = 1,
				  .users = &um,
				  .n_users = 1,
				  .action = VERDICT_CHECK,
				  .check_period_s = 3600,
				  .recorders = rec,
				  .n_recorders = 2,
				  .enforce_recorder = true };
	struct pol_port_range pr = { 22, 22 };
	uint8_t tcp = POL_PROTO_TCP;
	struct pol_filter_rule f = { .srcs = &p,
				     .n_srcs = 1,
				     .dsts = &p,
				     .n_dsts = 1,
				     .ports = &pr,
				     .n_ports = 1,
				     .protos = &tcp,
				     .n_protos = 1,
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

static const char relay_full[] =
    "{\"type\":\"full\",\"version\":1,\"netmap\":{\"version\":1,\"self\":{\"id\":1,"
    "\"node_key\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\","
    "\"disco_key\":\"ERERERERERERERERERERERERERERERERERERERERERE=\"},"
    "\"peers\":[{\"id\":2,\"node_key\":\"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\","
    "\"disco_key\":\"IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\"},"
    "{\"id\":3,\"node_key\":\"AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\"}],"
    "\"relays\":[{\"url\":\"turn:198.18.0.10:3478?transport=udp\",\"username\":"
    "\"1700086400:1\",\"password\":\"PPWz7PpRwxKwGzZCJzS+CZ2BJhk=\",\"expires\":1700086400},"
    "{\"url\":\"turns:[2001:db8::1]:443?transport=tcp\",\"username\":\"1700086400:1\","
    "\"password\":\"PPWz7PpRwxKwGzZCJzS+CZ2BJhk=\",\"expires\":1700086400}]}}";

/* Folds msg into both forms of the netmap relay_full makes (the client's way). */
static int fold_both(const char *msg, struct ctl_netmap **nm, json_t **j, char *err, size_t len)
{
	json_t *m = json_loads(msg, 0, NULL);
	bool ka;
	int rc = m ? ctl__netmap_fold_both(j, nm, m, &ka, err, len) : -EINVAL;
	json_decref(m);
	return rc;
}

static void relays_and_disco(void)
{
	char err[512] = "", *cur = NULL;
	struct ctl_netmap *nm = NULL;
	json_t *j = NULL;
	CHECK_INT(ctl_netmap_apply(&cur, relay_full, strlen(relay_full), err, sizeof(err)), 0);
	CHECK_INT(ctl_netmap_parse(cur, strlen(cur), &nm, err, sizeof(err)), 0);
	CHECK_INT(nm->n_relays, 2);
	CHECK_INT(nm->relays[0].url.transport, CTL_RELAY_UDP);
	CHECK_STR(nm->relays[0].url.host, "198.18.0.10");
	CHECK_INT(nm->relays[0].url.port, 3478);
	CHECK_STR(nm->relays[0].username, "1700086400:1");
	CHECK_STR(nm->relays[0].password, "PPWz7PpRwxKwGzZCJzS+CZ2BJhk=");
	CHECK_INT(nm->relays[0].expires, 1700086400);
	CHECK_INT(nm->relays[1].url.transport, CTL_RELAY_TLS);
	CHECK_STR(nm->relays[1].url.host, "2001:db8::1");
	CHECK(nm->self.has_disco_key && nm->self.disco_key[0] == 0x11);
	CHECK(nm->peers[0].has_disco_key && nm->peers[0].disco_key[31] == 0x22);
	CHECK(!nm->peers[1].has_disco_key); /* a node that never sent one */
	/* a copy holds them too */
	struct ctl_netmap *copy;
	CHECK_INT(ctl_netmap_dup(nm, &copy), 0);
	CHECK_INT(copy->n_relays, 2);
	CHECK_STR(copy->relays[1].password, "PPWz7PpRwxKwGzZCJzS+CZ2BJhk=");
	ctl_netmap_free(copy);
	/* the disco key goes back out as it came */
	json_t *pj = ctl__node_json(&nm->peers[0]);
	CHECK_STR(json_string_value(json_object_get(pj, "disco_key")),
		  "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=");
	json_decref(pj);
	pj = ctl__node_json(&nm->peers[1]);
	CHECK(json_object_get(pj, "disco_key") == NULL);
	json_decref(pj);
	ctl_netmap_free(nm);
	nm = NULL;

	/* a delta with new credentials replaces the list, in the JSON fold and in both forms */
	const char *renew = "{\"type\":\"delta\",\"version\":2,\"base\":1,\"relays\":[{\"url\":"
			    "\"turn:198.18.0.10:3478?transport=udp\",\"username\":\"1700129600:1\","
			    "\"password\":\"YkTmZFGhyGlduXMc4sT9XeJcz4c=\","
			    "\"expires\":1700129600}]}";
	CHECK_INT(ctl_netmap_apply(&cur, renew, strlen(renew), err, sizeof(err)), 0);
	CHECK_INT(ctl_netmap_parse(cur, strlen(cur), &nm, err, sizeof(err)), 0);
	CHECK_INT(nm->n_relays, 1);
	CHECK_STR(nm->relays[0].username, "1700129600:1");
	ctl_netmap_free(nm);
	nm = NULL;
	CHECK_INT(fold_both(relay_full, &nm, &j, err, sizeof(err)), 0);
	CHECK_INT(fold_both(renew, &nm, &j, err, sizeof(err)), 0);
	CHECK_INT(nm->n_relays, 1);
	CHECK_INT(nm->relays[0].expires, 1700129600);
	CHECK_STR(nm->relays[0].password, "YkTmZFGhyGlduXMc4sT9XeJcz4c=");
	/* a key expired: no relays any more */
	const char *none = "{\"type\":\"delta\",\"version\":3,\"base\":2,\"relays\":[]}";
	CHECK_INT(fold_both(none, &nm, &j, err, sizeof(err)), 0);
	CHECK_INT(nm->n_relays, 0);
	CHECK_INT(nm->relays[0].password[0], 0); /* wiped, not only forgotten */

	/* every bad field of a relay, and of a discovery key: the exact sentence, and neither
	 * form changes */
	static const struct {
		const char *part, *err;
	} bad[] = {
		/* 1 */ { "\"relays\":{}", "relays: expected an array" },
		/* 2 */ { "\"relays\":[1]", "relays[0]: expected an object" },
		/* 3 */
		{ "\"relays\":[{\"username\":\"u\",\"password\":\"p\",\"expires\":1}]",
		  "relays[0].url: expected a string" },
		/* 4 */
		{ "\"relays\":[{\"url\":\"http://r\",\"username\":\"u\",\"password\":"
		  "\"p\",\"expires\":1}]",
		  "relays[0].url: 'http://r': expected a TURN URI, turn:HOST:PORT or "
		  "turns:HOST:PORT (RFC 7065)" },
		/* 5 */
		{ "\"relays\":[{\"url\":\"turn:r\",\"password\":\"p\",\"expires\":1}]",
		  "relays[0].username: expected 1 to 127 printable ASCII characters" },
		/* 6 */
		{ "\"relays\":[{\"url\":\"turn:r\",\"username\":\"\",\"password\":\"p\","
		  "\"expires\":1}]",
		  "relays[0].username: expected 1 to 127 printable ASCII characters" },
		/* 7 */
		{ "\"relays\":[{\"url\":\"turn:r\",\"username\":\"a b\",\"password\":"
		  "\"p\",\"expires\":1}]",
		  "relays[0].username: expected 1 to 127 printable ASCII characters" },
		/* 8 */
		{ "\"relays\":[{\"url\":\"turn:r\",\"username\":\"u\\u00e9\",\"password\":"
		  "\"p\",\"expires\":1}]",
		  "relays[0].username: expected 1 to 127 printable ASCII characters" },
		/* 9 a password is never quoted */
		{ "\"relays\":[{\"url\":\"turn:r\",\"username\":\"u\",\"password\":\"se cret\","
		  "\"expires\":1}]",
		  "relays[0].password: expected 1 to 127 printable ASCII characters" },
		/* 10 */
		{ "\"relays\":[{\"url\":\"turn:r\",\"username\":\"u\",\"password\":7,"
		  "\"expires\":1}]",
		  "relays[0].password: expected 1 to 127 printable ASCII characters" },
		/* 11 */
		{ "\"relays\":[{\"url\":\"turn:r\",\"username\":\"u\",\"password\":"
		  "\"p\"}]",
		  "relays[0].expires: expected a unix time in seconds" },
		/* 12 */
		{ "\"relays\":[{\"url\":\"turn:r\",\"username\":\"u\",\"password\":"
		  "\"p\",\"expires\":0}]",
		  "relays[0].expires: expected a unix time in seconds" },
		/* 13 */
		{ "\"relays\":[{\"url\":\"turn:r\",\"username\":\"u\",\"password\":"
		  "\"p\",\"expires\":\"1\"}]",
		  "relays[0].expires: expected a unix time in seconds" },
		/* 14 the second one is bad */
		{ "\"relays\":[{\"url\":\"turn:r\",\"username\":\"u\",\"password\":\"p\","
		  "\"expires\":1},{\"url\":\"turn:r:0\",\"username\":\"u\",\"password\":\"p\","
		  "\"expires\":1}]",
		  "relays[1].url: 'turn:r:0': port '0' is not 1-65535" },
		/* 15 */
		{ "\"relays\":[{},{},{},{},{},{},{},{},{}]", "relays: at most 8 entries, got 9" },
		/* 16 */
		{ "\"self\":{\"id\":1,\"node_key\":"
		  "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\","
		  "\"disco_key\":\"AQEB\"}",
		  "disco_key: key is 4 characters long; a base64 key is exactly 44" },
		/* 17 */
		{ "\"peers_changed\":[{\"id\":4,\"node_key\":"
		  "\"BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=\",\"disco_key\":7}]",
		  "disco_key: expected a base64 key" },
		/* 18 */
		{ "\"peers_changed\":[{\"id\":4,\"node_key\":"
		  "\"BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=\",\"disco_key\":"
		  "\"BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBA*=\"}]",
		  "disco_key: invalid base64 character '*' at position 43" },
		/* 19 typed candidates: an unknown type */
		{ "\"peers_changed\":[{\"id\":4,\"node_key\":"
		  "\"BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=\",\"endpoints\":"
		  "[\"local 10.1.0.2:41641\",\"turn 198.18.0.10:49152\"]}]",
		  "endpoints[1]: endpoint 'turn 198.18.0.10:49152': unknown type 'turn' (local, "
		  "reflexive or relay)" },
		/* 20 and an untyped one meshd cannot read */
		{ "\"peers_changed\":[{\"id\":4,\"node_key\":"
		  "\"BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=\",\"endpoints\":[\"::1:80\"]}]",
		  "endpoints[0]: endpoint '::1:80': an IPv6 address goes in brackets: "
		  "[addr]:port" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "{\"type\":\"delta\",\"version\":9,\"base\":3,%s}",
			 bad[i].part);
		char *before = strdup(cur);
		err[0] = '\0';
		/* the JSON-only fold (its netmap is at version 2) */
		if (strncmp(bad[i].part, "\"relays\"", 8) == 0) {
			char m2[1024];
			snprintf(m2, sizeof(m2), "{\"type\":\"delta\",\"version\":9,\"base\":2,%s}",
				 bad[i].part);
			CHECK_INT(ctl_netmap_apply(&cur, m2, strlen(m2), err, sizeof(err)),
				  -EINVAL);
			CHECK_STR(cur, before);
			if (strcmp(err, bad[i].err) != 0)
				fprintf(stderr, "bad %zu (apply):\n", i + 1);
			CHECK_STR(err, bad[i].err);
		}
		err[0] = '\0';
		CHECK_INT(fold_both(msg, &nm, &j, err, sizeof(err)), -EINVAL);
		if (strcmp(err, bad[i].err) != 0)
			fprintf(stderr, "bad %zu (both):\n", i + 1);
		CHECK_STR(err, bad[i].err);
		CHECK_INT(nm->version, 3);
		free(before);
	}
	/* and in a full netmap */
	char *full_bad = strdup(relay_full), *none_yet = NULL;
	memcpy(strstr(full_bad, "1700086400}]"), "-700086400", 10);
	err[0] = '\0';
	CHECK_INT(ctl_netmap_apply(&none_yet, full_bad, strlen(full_bad), err, sizeof(err)),
		  -EINVAL);
	CHECK_STR(err, "relays[1].expires: expected a unix time in seconds");
	CHECK(none_yet == NULL);
	free(full_bad);
	ctl_netmap_free(nm);
	json_decref(j);
	free(cur);
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
	/* the recorders and their enforcement travel with the rule */
	char rs[ADDR_TEXT_MAX];
	CHECK_INT(nm->ssh[0]->n_recorders, 2);
	if (nm->ssh[0]->n_recorders == 2) {
		CHECK_STR(addr_ip_format(&nm->ssh[0]->recorders[0], rs), "100.64.0.9");
		CHECK_STR(addr_ip_format(&nm->ssh[0]->recorders[1], rs), "fd7a::9");
	}
	CHECK(nm->ssh[0]->enforce_recorder);
	{
		/* a rule without recording is written as before: no new keys */
		struct pol_ssh_rule plain = *nm->ssh[0];
		plain.n_recorders = 0;
		plain.enforce_recorder = false;
		const struct pol_ssh_rule *pp = &plain;
		json_t *pj = ctl__ssh_json(&pp, 1);
		char *pt = json_dumps(pj, JSON_COMPACT);
		CHECK(pt && !strstr(pt, "recorder"));
		free(pt);
		json_decref(pj);
	}
	CHECK_INT(nm->filter[0]->ports[0].first, 22);
	CHECK_INT(nm->filter[0]->protos[0], POL_PROTO_TCP);
	CHECK_STR(nm->filter[0]->section, "acls");
	struct addr_prefix a;
	CHECK(addr_prefix_parse("100.64.0.3", &a, NULL));
	CHECK(ctl_netmap_peer_by_addr(nm, &a) != NULL);
	CHECK_INT(ctl_netmap_peer_by_addr(nm, &a)->id, 3);
	ctl_netmap_free(nm);

	/* a delta: peer 3 removed, peer 2 renamed, peer 4 added, filter emptied */
	json_t *d =
	    json_pack("{s:s, s:i, s:i, s:[i], s:[o, o], s:[]}", "type", "delta", "version", 6,
		      "base", 5, "peers_removed", 3, "peers_changed",
		      node(2, "server2", "100.64.0.2"), node(4, "new", "100.64.0.4"), "filter");
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
		{ "ssh", "{\"action\":\"accept\",\"index\":-1}",
		  "ssh[0].index: -1 is out of range" },
		{ "ssh", "{\"action\":\"deny\",\"index\":0}",
		  "ssh[0].action: expected accept or check" },
		{ "ssh", "{\"action\":\"accept\",\"index\":0,\"users\":[[\"*\"]]}",
		  "ssh[0].users[0]: expected [from, to]" },
		{ "ssh", "{\"action\":\"accept\",\"index\":0,\"recorders\":[\"100.64.0.0/24\"]}",
		  "ssh[0].recorders[0]: expected an IP address" },
		{ "ssh", "{\"action\":\"accept\",\"index\":0,\"recorders\":\"100.64.0.9\"}",
		  "ssh[0].recorders: expected an array" },
		{ "ssh", "{\"action\":\"accept\",\"index\":0,\"enforce_recorder\":1}",
		  "ssh[0].enforce_recorder: expected true or false" },
		{ "filter", "{\"section\":\"acls\",\"ports\":[[22,22]]}",
		  "filter[0].index: missing" },
		{ "filter", "{\"section\":\"acls\",\"index\":0,\"ports\":[[22,70000]]}",
		  "filter[0].ports[0]: expected [first, last] in 0-65535" },
		{ "filter", "{\"section\":\"acls\",\"index\":0,\"protos\":[256]}",
		  "filter[0].protos[0]: expected a protocol number 0-255" },
		{ "filter", "{\"section\":\"acls\",\"index\":0,\"srcs\":[\"100.64.0.1/40\"]}",
		  "filter[0].srcs[0]: '100.64.0.1/40' is not an IP address or prefix" },
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		char dm[512];
		snprintf(dm, sizeof(dm),
			 "{\"type\":\"delta\",\"version\":7,\"base\":6,\"%s\":[%s]}",
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
		struct addr_ip sa = { .family = AF_INET, .bytes = { 100, 64, 0, 9 } };
		struct addr_ip da = { .family = AF_INET, .bytes = { 100, 64, 0, 1 } };
		CHECK_INT(pol_filter_rules_match((const struct pol_filter_rule *const *)nm->filter,
						 nm->n_filter, &sa, &da, POL_PROTO_TCP, 8080),
			  0);
		ctl_netmap_free(nm);
	}
	free(cur);

	relays_and_disco();

	/* prefixes */
	struct addr_prefix p, q;
	char s[ADDR_TEXT_MAX];
	CHECK(addr_prefix_parse("fd7a:115c:a1e0::/48", &p, NULL));
	CHECK(addr_prefix_parse("fd7a:115c:a1e0::5", &q, NULL));
	CHECK(addr_prefix_covers(&p, &q));
	addr_prefix_format(&q, s);
	CHECK_STR(s, "fd7a:115c:a1e0::5/128");
	CHECK(addr_prefix_parse("100.64.0.0/10", &p, NULL));
	CHECK(addr_prefix_parse("100.127.255.255", &q, NULL));
	CHECK(addr_prefix_covers(&p, &q));
	CHECK(addr_prefix_parse("100.128.0.0", &q, NULL));
	CHECK(!addr_prefix_covers(&p, &q));
	CHECK(!addr_prefix_parse("100.64.0.0/33", &p, NULL));
	CHECK(!addr_prefix_parse("100.64.0.0/", &p, NULL));
	CHECK(!addr_prefix_parse("", &p, NULL));
	return check_finish();
}
