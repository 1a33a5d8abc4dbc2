/* The inbound packet filter: the node's compiled policy rules, decided by the policy
 * engine's own matcher (pol_filter_rules_match), the same code `policy explain` and the
 * policy's tests run.  Together with conntrack.c (what this node opened or accepted) it is
 * the whole of what may reach this node from a peer; dispatch.c decides which packets the
 * filter is asked about. */
#include <string.h>
#include <sys/socket.h>

#include "control/policy/policy.h"
#include "netstack/internal.h"

bool ns_filter_allows(const struct pol_filter_rule *const *rules, size_t n,
		      const struct ns_packet_info *pi)
{
	struct addr_ip src = { .family = (uint8_t)pi->family }, dst = src;
	size_t alen = pi->family == AF_INET ? 4 : 16;
	memcpy(src.bytes, pi->src, alen);
	memcpy(dst.bytes, pi->dst, alen);
	return pol_filter_rules_match(rules, n, &src, &dst, pi->proto, pi->dport) >= 0;
}

void ns_set_rules(struct ns *ns, const struct pol_filter_rule *const *rules, size_t n)
{
	ns->rules = rules;
	ns->n_rules = n;
	ns->rules_set = true;
}

/* The filter's verdict on a packet ns__filter_judges leaves to it. */
bool ns__filter_check(const struct ns *ns, const struct ns_packet_info *pi)
{
	return !ns->rules_set || ns_filter_allows(ns->rules, ns->n_rules, pi);
}
