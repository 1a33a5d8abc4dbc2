/* Fuzz target for the policy reader and validator: arbitrary bytes go through the HuJSON
 * reader, validation, compile against a small fixed tailnet, evaluation and the tests
 * runner (alice's provider groups make oidc:NAME members select her); the same bytes are
 * also read as a topology file.  Any crash, leak or sanitizer
 * report is a bug; refusals are the expected outcome for most inputs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct addr_ip addrs[3][2];
static const char *tags[] = { "tag:server", "tag:prod" };
/* alice's last sign-in at the provider carried eng and ops: oidc:eng members select her */
static const char *alice_idp[] = { "eng", "ops" };
static struct pol_user users[] = { { "alice@example.com", alice_idp, 2, 1796590980 },
				   { .login = "bob@example.org" } };
static struct pol_node nodes[] = {
	{ .name = "laptop", .owner = "alice@example.com" },
	{ .name = "desk", .owner = "bob@example.org" },
	{ .name = "web", .tags = tags, .n_tags = 2 },
};
static const struct pol_topology topo = { users, 2, nodes, 3 };

static void setup(void)
{
	static bool done;
	const char *ip[3][2] = { { "100.64.0.1", "fd7a::1" },
				 { "100.64.0.2", "fd7a::2" },
				 { "100.64.0.3", "fd7a::3" } };
	if (done)
		return;
	for (int i = 0; i < 3; i++) {
		addr_ip_parse(ip[i][0], &addrs[i][0], NULL);
		addr_ip_parse(ip[i][1], &addrs[i][1], NULL);
		nodes[i].addrs = addrs[i];
		nodes[i].n_addrs = 2;
	}
	done = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pol_policy *pol;
	struct pol_compiled *c;
	struct pol_topology_doc *doc;
	struct pol_error err;

	setup();
	if (pol_topology_parse((const char *)data, size, &doc, &err) == 0)
		pol_topology_doc_free(doc);
	if (pol_parse((const char *)data, size, "example.com", &pol, &err) != 0)
		return 0;
	if (pol_compile(pol, &topo, &c, &err) == 0) {
		char *report = NULL;
		if (pol_run_tests(c, &report) >= 0)
			free(report);
		char why[256];
		pol_user_groups_describe(c, "alice@example.com", why, sizeof(why));
		for (size_t s = 0; s < 3; s++)
			for (size_t d = 0; d < 3; d++) {
				struct pol_decision dec;
				pol_ssh_decide(c, s, d, "root", &dec);
				pol_filter_decide(c, &addrs[s][0], &addrs[d][0], POL_PROTO_TCP, 22,
						  &dec);
				const struct pol_ssh_rule *const *rules;
				size_t n = pol_node_ssh(c, d, &rules);
				pol_ssh_rules_decide(rules, n, &addrs[s][1], "alice", &dec);
				for (size_t i = 0; i < n; i++)
					pol_ssh_env_allowed(rules[i], "GIT_DIR");
			}
		pol_compiled_free(c);
	}
	pol_policy_free(pol);
	return 0;
}
