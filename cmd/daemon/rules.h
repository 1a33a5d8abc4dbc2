/* meshd's local enforcement of the netmap: the SSH decision for (source address,
 * requested user) against this node's compiled SSH rules, and the inbound packet filter
 * against its compiled filter rules.  Pure functions over struct ctl_netmap; control
 * compiled the policy, meshd only matches. */
#ifndef MESH_CMD_DAEMON_RULES_H
#define MESH_CMD_DAEMON_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/netmap/netmap.h"

enum meshd_ssh_verdict_action {
	MESHD_SSH_REJECT,
	MESHD_SSH_ACCEPT,
	MESHD_SSH_CHECK,
};

struct meshd_ssh_verdict {
	enum meshd_ssh_verdict_action action;
	char local_user[64];
	bool allow_agent, allow_local_fwd, allow_remote_fwd;
	/* The rule named the requested user explicitly (not through "*"), so the name may
	 * resolve to uid 0; a wildcard match must never yield root. */
	bool allow_root;
	char accept_env[256]; /* comma-separated globs */
	uint32_t check_period_s;
	int rule; /* index of the deciding rule, -1 when none matched */
	char message[256]; /* reject: the banner */
};

/* First rule whose principals hold src and whose user map yields a non-empty local user
 * decides; otherwise a reject whose message says whether the node or the user was
 * refused.  A tagged or unknown source never gets CHECK (control refuses those). */
void meshd_ssh_decide(const struct ctl_netmap *nm, const struct ctl_prefix *src,
		      const char *user, struct meshd_ssh_verdict *out);

/* What the inbound filter sees of a packet (addresses in network order). */
struct meshd_pkt {
	int family; /* AF_INET or AF_INET6 */
	uint8_t proto;
	const uint8_t *src, *dst;
	uint16_t dport;
	bool icmp_echo_reply;
};

/* True when a rule of the netmap lets the packet in; ICMP echo replies pass.  The netstack
 * asks only about what is not part of a connection this node opened or accepted (for TCP,
 * only bare SYNs): answers to our own traffic are its business (netstack/conntrack.c). */
bool meshd_filter_allows(const struct ctl_netmap *nm, const struct meshd_pkt *p);

#endif
