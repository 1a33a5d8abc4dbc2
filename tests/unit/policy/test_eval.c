/* Compile and evaluate on a small tailnet: SSH decisions (check before accept, nonroot,
 * localpart, autogroup:self, tagged sources), the explanation sentences, acceptEnv, the
 * plain-rule evaluators a node uses, and tests/sshTests through pol_load. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "control/policy/policy.h"

static struct pol_user users[] = { { .login = "alice@example.com" },
				   { .login = "bob@example.com" },
				   { .login = "carol@other.org" } };
static struct addr_ip addrs[4][2];
static const char *server_tags[] = { "tag:server" };
static struct pol_node nodes[] = {
	{ .name = "alice-laptop", .owner = "alice@example.com" },
	{ .name = "bob-laptop", .owner = "bob@example.com" },
	{ .name = "web", .tags = server_tags, .n_tags = 1 },
	{ .name = "carol-pc", .owner = "carol@other.org" },
};
static struct pol_topology topo = { users, 3, nodes, 4 };

static void setup(void)
{
	const char *v4[] = { "100.64.0.1", "100.64.0.2", "100.64.0.3", "100.64.0.4" };
	const char *v6[] = { "fd7a::1", "fd7a::2", "fd7a::3", "fd7a::4" };
	for (int i = 0; i < 4; i++) {
		addr_ip_parse(v4[i], &addrs[i][0], NULL);
		addr_ip_parse(v6[i], &addrs[i][1], NULL);
		nodes[i].addrs = addrs[i];
		nodes[i].n_addrs = 2;
	}
}

static const char *policy_text =
    "{\n"
    "  // people and machines\n"
    "  \"groups\": {\"group:dev\": [\"alice@example.com\", \"bob@example.com\"]},\n"
    "  \"tagOwners\": {\"tag:server\": [\"group:dev\"]},\n"
    "  \"acls\": [\n"
    "    {\"action\": \"accept\", \"src\": [\"group:dev\"], \"dst\": [\"tag:server:22,443\"]},\n"
    "    {\"action\": \"accept\", \"src\": [\"autogroup:member\"], \"dst\": "
    "[\"autogroup:self:*\"]},\n"
    "  ],\n"
    "  \"ssh\": [\n"
    "    {\"action\": \"accept\", \"src\": [\"group:dev\"], \"dst\": [\"tag:server\"],\n"
    "     \"users\": [\"autogroup:nonroot\", \"localpart:*@example.com\"], \"acceptEnv\": "
    "[\"GIT_*\"]},\n"
    "    {\"action\": \"check\", \"src\": [\"alice@example.com\"], \"dst\": [\"tag:server\"],\n"
    "     \"users\": [\"root\"], \"checkPeriod\": \"1h\"},\n"
    "    {\"action\": \"accept\", \"src\": [\"autogroup:member\"], \"dst\": [\"autogroup:self\"],\n"
    "     \"users\": [\"root\"]},\n"
    "  ],\n"
    "}\n";

static void test_ssh(struct pol_compiled *c)
{
	struct pol_decision d;
	/* alice -> web as root: the check rule comes first although it is second in the file. */
	CHECK_INT(pol_ssh_decide(c, 0, 2, "root", &d), 0);
	CHECK_STR(verdict_name(d.verdict), "check");
	CHECK_STR(d.local_user, "root");
	CHECK_INT(d.rule_index, 1);
	CHECK_STR(d.why,
		  "check by ssh[1]: the source is among its principals and it maps \"root\" "
		  "to local user \"root\"; the source's owner must re-authenticate every 1h");
	/* bob -> web as root: nonroot refuses root; no check rule for bob. */
	pol_ssh_decide(c, 1, 2, "root", &d);
	CHECK_STR(verdict_name(d.verdict), "reject");
	CHECK_STR(d.why, "rejected: the source node may connect (ssh[0] lists it) but no rule "
			 "allows user \"root\" (ssh[0] allows any user except root)");
	pol_ssh_decide(c, 1, 2, "deploy", &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	CHECK_STR(d.local_user, "deploy");
	CHECK_INT(d.rule_index, 0);
	CHECK(d.refuse_uid0);
	/* "0" is not "root" by name; the caller refuses uid 0 as refuse_uid0 says. */
	pol_ssh_decide(c, 1, 2, "0", &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	CHECK(d.refuse_uid0);
	pol_ssh_decide(c, 0, 2, "root", &d);
	CHECK(!d.refuse_uid0);
	/* carol is not in group:dev. */
	pol_ssh_decide(c, 3, 2, "carol", &d);
	CHECK_STR(verdict_name(d.verdict), "reject");
	CHECK_STR(d.why, "rejected: the source node is not a principal of any of the "
			 "destination's 4 SSH rule(s)");
	/* One user may not reach another's device; a tagged node has no rules into people. */
	pol_ssh_decide(c, 0, 1, "root", &d);
	CHECK_STR(verdict_name(d.verdict), "reject");
	pol_ssh_decide(c, 2, 0, "root", &d);
	CHECK_STR(verdict_name(d.verdict), "reject");
	CHECK_STR(d.why, "rejected: the source node is not a principal of any of the "
			 "destination's 1 SSH rule(s)");

	/* The same through the plain rules a node receives. */
	const struct pol_ssh_rule *const *rules;
	size_t n = pol_node_ssh(c, 2, &rules);
	CHECK_INT(n, 4); /* check; nonroot; localpart for alice, for bob */
	CHECK_INT(rules[0]->action, VERDICT_CHECK);
	CHECK_INT(rules[0]->check_period_s, 3600);
	pol_ssh_rules_decide(rules, n, &addrs[0][0], "root", &d);
	CHECK_STR(verdict_name(d.verdict), "check");
	pol_ssh_rules_decide(rules, n, &addrs[1][1], "bob", &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	CHECK_STR(d.local_user, "bob");
	CHECK(pol_ssh_env_allowed(rules[1], "GIT_EDITOR"));
	CHECK(!pol_ssh_env_allowed(rules[1], "LD_PRELOAD"));
	CHECK(!pol_ssh_env_allowed(rules[1], "PATH"));
}

static void test_filter(struct pol_compiled *c)
{
	struct pol_decision d;
	CHECK_INT(pol_filter_decide(c, &addrs[0][0], &addrs[2][0], POL_PROTO_TCP, 443, &d), 0);
	CHECK_STR(verdict_name(d.verdict), "accept");
	CHECK_STR(d.section, "acls");
	CHECK_INT(d.rule_index, 0);
	pol_filter_decide(c, &addrs[0][0], &addrs[2][0], POL_PROTO_TCP, 80, &d);
	CHECK_STR(verdict_name(d.verdict), "reject");
	CHECK_STR(d.why, "dropped: acls[0] admits this source to this destination, but only for "
			 "tcp/udp/icmp/icmpv6 ports 22, 443, not tcp port 80");
	/* ICMP matches on addresses only. */
	pol_filter_decide(c, &addrs[1][1], &addrs[2][1], POL_PROTO_ICMPV6, 0, &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	pol_filter_decide(c, &addrs[3][0], &addrs[2][0], POL_PROTO_TCP, 22, &d);
	CHECK_STR(verdict_name(d.verdict), "reject");
	CHECK_STR(d.why, "dropped: acls[0] allows tcp port 22 to this destination, but not from "
			 "this source");
	pol_filter_decide(c, &addrs[0][0], &addrs[1][0], POL_PROTO_TCP, 22, &d);
	CHECK_STR(d.why, "dropped: acls[1] allows tcp port 22 to this destination, but not from "
			 "this source");
	/* autogroup:self: own devices only. */
	pol_filter_decide(c, &addrs[0][0], &addrs[0][0], POL_PROTO_UDP, 53, &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	pol_filter_decide(c, &addrs[0][0], &addrs[1][0], POL_PROTO_UDP, 53, &d);
	CHECK_STR(verdict_name(d.verdict), "reject");
	struct addr_ip nowhere;
	addr_ip_parse("192.0.2.1", &nowhere, NULL);
	CHECK_INT(pol_filter_decide(c, &addrs[0][0], &nowhere, POL_PROTO_TCP, 22, &d), -ENOENT);
	CHECK_STR(d.why, "dropped: no node has address 192.0.2.1");

	size_t idx;
	CHECK_INT(pol_compiled_find_node(c, "web", &idx), 0);
	CHECK_INT(idx, 2);
	CHECK_INT(pol_compiled_find_node(c, "fd7a::2", &idx), 0);
	CHECK_INT(idx, 1);
	CHECK_INT(pol_compiled_find_node(c, "nope", &idx), -ENOENT);
}

static void test_load(void)
{
	struct pol_compiled *c;
	struct pol_error err;
	const char *good =
	    "{\"tagOwners\": {\"tag:server\": []},"
	    "\"acls\": [{\"action\": \"accept\", \"src\": [\"alice@example.com\"], "
	    "\"dst\": [\"tag:server:22\"]}],"
	    "\"ssh\": [{\"action\": \"accept\", \"src\": [\"alice@example.com\"], "
	    "\"dst\": [\"tag:server\"], \"users\": [\"root\"]}],"
	    "\"tests\": [{\"src\": \"alice@example.com\", \"accept\": [\"tag:server:22\"], "
	    "\"deny\": [\"tag:server:80\"]}],"
	    "\"sshTests\": [{\"src\": \"alice@example.com\", \"dst\": [\"tag:server\"], "
	    "\"accept\": [\"root\"], \"deny\": [\"admin\"]}]}";
	CHECK_INT(pol_load(good, strlen(good), "example.com", &topo, &c, &err), 0);
	pol_compiled_free(c);

	const char *bad =
	    "{\"tagOwners\": {\"tag:server\": []},"
	    "\"acls\": [{\"action\": \"accept\", \"src\": [\"alice@example.com\"], "
	    "\"dst\": [\"tag:server:22\"]}],"
	    "\"tests\": [{\"src\": \"alice@example.com\", \"accept\": [\"tag:server:443\", "
	    "\"tag:server:22\"]}, {\"src\": \"bob@example.com\", \"deny\": [\"web:1-2\"]}],"
	    "\"sshTests\": [{\"src\": \"alice@example.com\", \"dst\": [\"tag:server\"], "
	    "\"check\": [\"root\"]}]}";
	CHECK_INT(pol_load(bad, strlen(bad), "example.com", &topo, &c, &err), -EINVAL);
	CHECK_STR(
	    err.msg,
	    "test(s) failed: tests[0]: src \"alice@example.com\": address \"tag:server:443\": "
	    "want Accept, got Drop;tests[1]: address \"web:1-2\": port \"1-2\" must be one "
	    "number in 1-65535;sshTests[0]: src \"alice@example.com\" to web as \"root\": "
	    "want check, got reject");

	/* No acls/grants at all: allow everything, no SSH. */
	/* Logins match without regard to case. */
	const char *mixed =
	    "{\"tagOwners\": {\"tag:server\": []}, \"acls\": [{\"action\": "
	    "\"accept\", \"src\": [\"Alice@Example.COM\"], \"dst\": [\"tag:server:22\"]}]}";
	CHECK_INT(pol_load(mixed, strlen(mixed), NULL, &topo, &c, &err), 0);
	struct pol_decision dm;
	pol_filter_decide(c, &addrs[0][0], &addrs[2][0], POL_PROTO_TCP, 22, &dm);
	CHECK_INT(dm.verdict, VERDICT_ACCEPT);
	pol_compiled_free(c);

	const char *empty = "{}";
	CHECK_INT(pol_load(empty, 2, NULL, &topo, &c, &err), 0);
	struct pol_decision d;
	pol_filter_decide(c, &addrs[3][0], &addrs[0][0], POL_PROTO_TCP, 1, &d);
	CHECK_INT(d.verdict, VERDICT_ACCEPT);
	pol_ssh_decide(c, 0, 2, "root", &d);
	CHECK_INT(d.verdict, VERDICT_REJECT);
	pol_compiled_free(c);
}

/* A tagged node has nobody to re-authenticate: check rules never admit it, later accept
 * rules still may. */
static void test_tagged_check(void)
{
	static const char *prod[] = { "tag:prod" };
	static struct addr_ip a[2];
	struct pol_node n2[] = { nodes[2], { .name = "ci", .tags = prod, .n_tags = 1 } };
	struct pol_topology t2 = { users, 3, n2, 2 };
	addr_ip_parse("100.64.0.9", &a[0], NULL);
	n2[1].addrs = a;
	n2[1].n_addrs = 1;
	const char *text = "{\"tagOwners\": {\"tag:server\": [], \"tag:prod\": []}, \"ssh\": ["
			   "{\"action\": \"check\", \"src\": [\"autogroup:tagged\"], \"dst\": "
			   "[\"tag:server\"], \"users\": [\"root\"]},"
			   "{\"action\": \"accept\", \"src\": [\"tag:prod\"], \"dst\": "
			   "[\"tag:server\"], \"users\": [\"deploy\"]}]}";
	struct pol_compiled *c;
	struct pol_error err;
	struct pol_decision d;
	CHECK_INT(pol_load(text, strlen(text), NULL, &t2, &c, &err), 0);
	pol_ssh_decide(c, 1, 0, "root", &d);
	CHECK_STR(verdict_name(d.verdict), "reject");
	pol_ssh_decide(c, 1, 0, "deploy", &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	CHECK_INT(d.rule_index, 1);
	pol_compiled_free(c);
}

/* Subnet routes: a grant to a subnet lands on every router of it; a via grant only on
 * the routers carrying a via tag. */
static void test_routes(void)
{
	static const char *rt1[] = { "tag:router" }, *rt2[] = { "tag:other" };
	static struct addr_ip a[2];
	static struct addr_prefix route;
	addr_ip_parse("100.64.0.21", &a[0], NULL);
	addr_ip_parse("100.64.0.22", &a[1], NULL);
	addr_net_parse("10.33.0.0/16", &route, NULL);
	struct pol_node n3[] = {
		nodes[0],
		{ .name = "r1",
		  .tags = rt1,
		  .n_tags = 1,
		  .addrs = &a[0],
		  .n_addrs = 1,
		  .routes = &route,
		  .n_routes = 1 },
		{ .name = "r2",
		  .tags = rt2,
		  .n_tags = 1,
		  .addrs = &a[1],
		  .n_addrs = 1,
		  .routes = &route,
		  .n_routes = 1 },
	};
	struct pol_topology t3 = { users, 3, n3, 3 };
	const char *text = "{\"tagOwners\": {\"tag:router\": [], \"tag:other\": []}, \"grants\": ["
			   "{\"src\": [\"alice@example.com\"], \"dst\": [\"10.33.1.0/24\"], "
			   "\"ip\": [\"tcp:443\"], \"via\": [\"tag:router\"]},"
			   "{\"src\": [\"alice@example.com\"], \"dst\": [\"10.33.0.0/16\"], "
			   "\"ip\": [\"tcp:22\"]}]}";
	struct pol_compiled *c;
	struct pol_error err;
	struct pol_decision d;
	struct addr_ip inside;
	addr_ip_parse("10.33.1.9", &inside, NULL);
	CHECK_INT(pol_load(text, strlen(text), NULL, &t3, &c, &err), 0);
	const struct pol_filter_rule *const *rules;
	size_t n = pol_node_filter(c, 1, &rules);
	CHECK_INT(n, 2);
	pol_filter_rules_decide(rules, n, &addrs[0][0], &inside, POL_PROTO_TCP, 443, &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	CHECK_INT(d.rule_index, 0);
	n = pol_node_filter(c, 2, &rules);
	CHECK_INT(n, 1);
	pol_filter_rules_decide(rules, n, &addrs[0][0], &inside, POL_PROTO_TCP, 443, &d);
	CHECK_STR(verdict_name(d.verdict), "reject");
	pol_filter_rules_decide(rules, n, &addrs[0][0], &inside, POL_PROTO_TCP, 22, &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	pol_compiled_free(c);
}

int main(void)
{
	setup();
	struct pol_policy *p;
	struct pol_compiled *c;
	struct pol_error err;
	CHECK_INT(pol_parse(policy_text, strlen(policy_text), "example.com", &p, &err), 0);
	CHECK_INT(pol_compile(p, &topo, &c, &err), 0);
	test_ssh(c);
	test_filter(c);
	pol_compiled_free(c);
	pol_policy_free(p);
	test_load();
	test_tagged_check();
	test_routes();
	return check_finish();
}
