/* Policy groups fed by the identity provider (#17): a group member "oidc:NAME" stands for
 * every user whose last sign-in carried NAME in the provider's groups claim, as the topology
 * gives it (struct pol_user's idp_groups).  A numbered table of members refused with their
 * exact messages, then decisions that follow the stored membership (offline owners
 * included), sshTests over it, a change of membership, the explanation of where a member
 * came from, and topology files carrying the claim. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "control/policy/policy.h"

static const char *eng[] = { "eng" }, *ops_only[] = { "ops", "Eng" };
static struct pol_user users[] = {
	{ "alice@example.com", eng, 1, 1796591000 }, /* 2026-12-06 21:03:20 UTC */
	{ "bob@example.com", ops_only, 2, 1796591000 },
	{ .login = "carol@example.com" },
};
static struct addr_ip addrs[4][1];
static const char *server_tags[] = { "tag:server" };
static struct pol_node nodes[] = {
	{ .name = "alice-laptop", .owner = "alice@example.com" },
	{ .name = "bob-laptop", .owner = "bob@example.com" },
	{ .name = "carol-laptop", .owner = "carol@example.com" },
	{ .name = "my-server", .tags = server_tags, .n_tags = 1 },
};
static struct pol_topology topo = { users, 3, nodes, 4 };

static void setup(void)
{
	const char *v4[] = { "100.64.0.1", "100.64.0.2", "100.64.0.3", "100.64.0.9" };
	for (int i = 0; i < 4; i++) {
		addr_ip_parse(v4[i], &addrs[i][0], NULL);
		nodes[i].addrs = addrs[i];
		nodes[i].n_addrs = 1;
	}
}

static void test_refused(void)
{
	char long_name[200];
	memset(long_name, 'x', sizeof(long_name));
	snprintf(long_name, sizeof(long_name), "{\"groups\": {\"group:eng\": [\"oidc:%0128d\"]}}",
		 0);
	static const struct {
		const char *text, *msg;
	} cases[] = {
		/* 1: nothing after the prefix */
		{ "{\"groups\": {\"group:eng\": [\"oidc:\"]}}",
		  "groups[\"group:eng\"]: \"oidc:\": a provider group needs a name after 'oidc:'" },
		/* 2: only white space after it (members are trimmed first) */
		{ "{\"groups\": {\"group:eng\": [\"oidc:  \"]}}",
		  "groups[\"group:eng\"]: \"oidc:\": a provider group needs a name after 'oidc:'" },
		/* 3: a control character */
		{ "{\"groups\": {\"group:eng\": [\"oidc:e\\u0001g\"]}}",
		  "groups[\"group:eng\"]: a provider group's name has a control character (byte 2 "
		  "of \"oidc:e...\")" },
		/* 4: another prefix is not a provider group, and not a login */
		{ "{\"groups\": {\"group:eng\": [\"okta:eng\"]}}",
		  "groups[\"group:eng\"]: \"okta:eng\": group members must be users (logins such "
		  "as alice@example.com)" },
		/* 5: a group still cannot hold a group */
		{ "{\"groups\": {\"group:eng\": [\"oidc:eng\", \"group:ops\"], \"group:ops\": []}}",
		  "groups[\"group:eng\"]: \"group:ops\": group members cannot be recursive" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pol_policy *pol = NULL;
		struct pol_error err = { 0 };
		int rc = pol_parse(cases[i].text, strlen(cases[i].text), NULL, &pol, &err);
		if (rc != -EINVAL)
			fprintf(stderr, "case %zu\n", i + 1);
		CHECK_INT(rc, -EINVAL);
		CHECK_STR(err.msg, cases[i].msg);
		pol_policy_free(pol);
	}
	/* 6: 128 bytes is one too many (the groups claim's own limit is 127) */
	struct pol_policy *pol = NULL;
	struct pol_error err = { 0 };
	CHECK_INT(pol_parse(long_name, strlen(long_name), NULL, &pol, &err), -EINVAL);
	CHECK_STR(err.msg,
		  "groups[\"group:eng\"]: \"oidc:00000000000000000000000000000000000...\": "
		  "a provider group's name is at most 127 bytes, not 128");
	pol_policy_free(pol);
	/* 7: Google-style group names (an address) are provider groups, not logins */
	const char *ok = "{\"groups\": {\"group:eng\": [\"oidc:eng@example.com\", \"oidc:/a b\"]}}";
	CHECK_INT(pol_parse(ok, strlen(ok), NULL, &pol, &err), 0);
	pol_policy_free(pol);
}

static const char *policy_text =
    "{\"groups\": {\"group:eng\": [\"carol@example.com\", \"oidc:eng\"]},\n"
    " \"tagOwners\": {\"tag:server\": [\"group:eng\"]},\n"
    " \"acls\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": "
    "[\"tag:server:22\"]}],\n"
    " \"ssh\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:server\"],\n"
    "           \"users\": [\"vinay\"]}],\n"
    " \"sshTests\": [{\"src\": \"alice@example.com\", \"dst\": [\"tag:server\"], \"accept\": "
    "[\"vinay\"]},\n"
    "              {\"src\": \"bob@example.com\", \"dst\": [\"tag:server\"], \"deny\": "
    "[\"vinay\"]}]}\n";

static void test_decisions(void)
{
	struct pol_compiled *c = NULL;
	struct pol_error err;
	struct pol_decision d;
	char buf[400];
	CHECK_INT(pol_load(policy_text, strlen(policy_text), "example.com", &topo, &c, &err), 0);
	if (!c) {
		fprintf(stderr, "pol_load: %s\n", err.msg);
		return;
	}
	int rc;
	/* alice through the provider's eng, carol by login; bob's "Eng" is not "eng" */
	pol_ssh_decide(c, 0, 3, "vinay", &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	pol_ssh_decide(c, 2, 3, "vinay", &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	pol_ssh_decide(c, 1, 3, "vinay", &d);
	CHECK_STR(verdict_name(d.verdict), "reject");
	pol_filter_decide(c, &addrs[0][0], &addrs[3][0], POL_PROTO_TCP, 22, &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	pol_filter_decide(c, &addrs[1][0], &addrs[3][0], POL_PROTO_TCP, 22, &d);
	CHECK_STR(verdict_name(d.verdict), "reject");

	CHECK_INT(pol_user_groups_describe(c, "alice@example.com", buf, sizeof(buf)), 1);
	CHECK_STR(buf, "group:eng via the provider's group eng, at the login of 2026-12-06 "
		       "21:03 UTC");
	CHECK_INT(pol_user_groups_describe(c, "Carol@example.com", buf, sizeof(buf)), 1);
	CHECK_STR(buf, "group:eng (listed by login)");
	CHECK_INT(pol_user_groups_describe(c, "bob@example.com", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "");
	/* cut short, still a string */
	CHECK_INT(pol_user_groups_describe(c, "alice@example.com", buf, 12), 1);
	CHECK_STR(buf, "group:eng v");
	pol_compiled_free(c);
	/* a provider member owns no tag: ownership is decided without the topology */
	struct pol_policy *pol = NULL;
	CHECK_INT(pol_parse(policy_text, strlen(policy_text), NULL, &pol, &err), 0);
	CHECK(pol && pol_tag_owned_by(pol, "tag:server", "carol@example.com"));
	CHECK(pol && !pol_tag_owned_by(pol, "tag:server", "alice@example.com"));
	pol_policy_free(pol);

	/* alice leaves eng at the provider and signs in again: the same policy now refuses
	 * her, and its sshTests (which said she may) fail: pol_load refuses, pol_reload
	 * compiles and reports. */
	users[0].n_idp_groups = 0;
	rc = pol_load(policy_text, strlen(policy_text), "example.com", &topo, &c, &err);
	CHECK_INT(rc, -EINVAL);
	CHECK_STR(err.msg, "test(s) failed: sshTests[0]: src \"alice@example.com\" to my-server "
			   "as \"vinay\": want accept, got reject");
	int failed = -1;
	char *report = NULL;
	rc = pol_reload(policy_text, strlen(policy_text), "example.com", &topo, &c, &failed,
			&report, &err);
	CHECK_INT(rc, 0);
	CHECK_INT(failed, 1);
	CHECK(report && strstr(report, "sshTests[0]"));
	free(report);
	if (!rc) {
		pol_ssh_decide(c, 0, 3, "vinay", &d);
		CHECK_STR(verdict_name(d.verdict), "reject");
		pol_compiled_free(c);
	}
	users[0].n_idp_groups = 1;

	/* more provider groups than the claim may hold */
	static const char *many[POL_IDP_GROUPS_MAX + 1];
	for (size_t i = 0; i <= POL_IDP_GROUPS_MAX; i++)
		many[i] = "g";
	struct pol_user big[] = { { "dan@example.com", many, POL_IDP_GROUPS_MAX + 1, 0 } };
	struct pol_topology t2 = { big, 1, NULL, 0 };
	rc = pol_load(policy_text, strlen(policy_text), "example.com", &t2, &c, &err);
	CHECK_INT(rc, -EINVAL);
	CHECK_STR(err.msg, "topology: user \"dan@example.com\" has 129 provider groups, more "
			   "than the 128 allowed");
}

static void test_topology_file(void)
{
	const char *t = "{\"users\": [{\"email\": \"alice@example.com\", \"oidc_groups\": "
			"[\"eng\"], \"oidc_login\": \"2026-12-06T21:03:00Z\"},\n"
			"            {\"email\": \"bob@example.com\"}],\n"
			" \"nodes\": {\"laptop\": {\"user\": \"alice@example.com\", \"ipv4\": "
			"\"100.64.0.1\"}}}";
	struct pol_topology_doc *doc = NULL;
	struct pol_error err = { 0 };
	int rc = pol_topology_parse(t, strlen(t), &doc, &err);
	CHECK_INT(rc, 0);
	if (!rc) {
		const struct pol_topology *tp = pol_topology_doc_get(doc);
		CHECK_INT(tp->users[0].n_idp_groups, 1);
		CHECK_STR(tp->users[0].idp_groups[0], "eng");
		CHECK_INT(tp->users[0].idp_at, 1796590980);
		CHECK_INT(tp->users[1].n_idp_groups, 0);
		CHECK_INT(tp->users[1].idp_at, 0);
	}
	pol_topology_doc_free(doc);
	const char *bad = "{\"users\": [{\"email\": \"a@example.com\", \"oidc_login\": "
			  "\"yesterday\"}], \"nodes\": {}}";
	CHECK_INT(pol_topology_parse(bad, strlen(bad), &doc, &err), -EINVAL);
	CHECK_STR(err.msg, "topology: users[0].oidc_login: want a UTC time such as "
			   "\"2026-12-06T21:03:00Z\"");
	bad = "{\"users\": [{\"email\": \"a@example.com\", \"oidc_groups\": [1]}], \"nodes\": {}}";
	CHECK_INT(pol_topology_parse(bad, strlen(bad), &doc, &err), -EINVAL);
	CHECK_STR(err.msg, "topology: users[0].oidc_groups[0]: must be a string");
}

int main(void)
{
	setup();
	test_refused();
	test_decisions();
	test_topology_file();
	return check_finish();
}
