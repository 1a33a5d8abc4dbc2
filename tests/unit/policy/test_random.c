/* Randomized comparison: the compiled per-node filter (shared address sets, binary
 * searches, per-node rule lists) against a deliberately naive evaluator that reads the
 * generated rules directly, over random tailnets and random acls/grants.  Also checks
 * that the plain-rule evaluator a node would run agrees with the compiled one. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "control/policy/policy.h"

#include "random_tailnet.h"

static void one_world(int iter)
{
	static char text[16384];
	static struct addr_ip addrs[MAX_NODES][2];

	gen_world();
	gen_policy(text, sizeof(text));
	struct pol_topology topo = world_topology(1, addrs);
	struct pol_policy *p;
	struct pol_compiled *c;
	struct pol_error err;
	int rc = pol_parse(text, strlen(text), "example.com", &p, &err);
	if (rc) {
		fprintf(stderr, "world %d: %s\n%s\n", iter, err.msg, text);
		CHECK_INT(rc, 0);
		return;
	}
	CHECK_INT(pol_compile(p, &topo, &c, &err), 0);
	static const int protos[] = { 6, 17, 1 };
	int mismatches = 0;
	for (int s = 0; s < w.nnodes; s++)
		for (int d = 0; d < w.nnodes; d++)
			for (int pi = 0; pi < 3; pi++) {
				int port = pi == 2 ? 0 : 1 + (int)rnd(900);
				struct pol_decision got, plain;
				pol_filter_decide(c, &addrs[s][0], &addrs[d][0],
						  (uint8_t)protos[pi], (uint16_t)port, &got);
				bool want = naive_allowed(s, d, protos[pi], port);
				const struct pol_filter_rule *const *rules;
				size_t n = pol_node_filter(c, (size_t)d, &rules);
				pol_filter_rules_decide(rules, n, &addrs[s][0], &addrs[d][0],
							(uint8_t)protos[pi], (uint16_t)port,
							&plain);
				if ((got.verdict == VERDICT_ACCEPT) != want ||
				    plain.verdict != got.verdict) {
					if (mismatches++ < 3)
						fprintf(stderr,
							"world %d: n%d -> n%d proto %d port %d: "
							"naive %d, "
							"compiled %d, plain %d\n%s\n",
							iter, s, d, protos[pi], port, want,
							got.verdict, plain.verdict, text);
				}
			}
	CHECK_INT(mismatches, 0);
	pol_compiled_free(c);
	pol_policy_free(p);
}

int main(void)
{
	for (int i = 0; i < 300; i++)
		one_world(i);
	return check_finish();
}
