/* control/netmap: what a node learns from control, as plain C structs, and the wire
 * envelope both ends of the node protocol use.
 *
 * A netmap is one node's view of the tailnet: itself, the peers it may reach or that may
 * reach it, its inbound packet filter and its SSH rules (the policy engine's compiled
 * per-node rules, one type on both sides).  On the wire it is JSON (the codec
 * lives in netmap.c; jansson never leaves control/); meshd only ever sees these structs.
 * The map stream sends a full netmap first and deltas afterwards; ctl_netmap_apply()
 * folds a delta into the JSON text of the previous netmap, so the cache on disk is always
 * a full netmap.  Only a node's own netmap carries relays with its TURN credentials
 * (relay.h); a peer is described by what every node may know of it. */
#ifndef MESH_CONTROL_NETMAP_H
#define MESH_CONTROL_NETMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/netmap/dns.h"
#include "control/netmap/hostkey.h"
#include "control/netmap/relay.h"
#include "control/policy/policy.h"

enum {
	CTL_KEY_LEN = 32,
	CTL_MAX_NODE_ADDRS = 2, /* one IPv4 in 100.64.0.0/10, one IPv6 in the tailnet's ULA /48 */
};

/* A node as control describes it: used for the netmap's self and for each peer. */
struct ctl_node {
	uint64_t id;
	char *name;  /* hostname, unique in the tailnet */
	char *owner; /* user login; NULL for a tagged node */
	char **tags;
	size_t n_tags;
	uint8_t node_key[CTL_KEY_LEN]; /* WireGuard public key */
	/* crypto_box public key of its discovery messages (nat/disco.h), not the WireGuard
	 * key; absent (false) for a node that never sent one */
	uint8_t disco_key[CTL_KEY_LEN];
	bool has_disco_key;
	int64_t key_expiry; /* unix seconds; 0 = never */
	struct addr_prefix addrs[CTL_MAX_NODE_ADDRS];
	size_t n_addrs;
	struct addr_prefix *allowed_ips;
	size_t n_allowed_ips;
	char **endpoints; /* "addr:port" or "[addr]:port" */
	size_t n_endpoints;
	char **ssh_host_keys; /* OpenSSH public key lines */
	size_t n_ssh_host_keys;
	bool online;
	int64_t last_seen; /* unix seconds; 0 = never */
};

struct ctl_netmap {
	uint64_t version; /* control's map version this netmap corresponds to */
	char *domain;	  /* DNS suffix of the tailnet ("mesh.internal") */
	struct ctl_node self;
	struct ctl_node *peers;
	size_t n_peers;
	/* This node's inbound packet filter and SSH rules in the policy engine's own types,
	 * exactly as pol_node_filter/pol_node_ssh compiled them (a filter rule keeps only
	 * the destinations holding one of this node's addresses), so the node decides with
	 * pol_filter_rules_match and pol_ssh_rules_decide, the code `policy explain`, tests
	 * and sshTests use.  Each rule is one allocation. */
	struct pol_filter_rule **filter;
	size_t n_filter;
	struct pol_ssh_rule **ssh;
	size_t n_ssh;
	/* The TURN relays this node may use, with credentials minted for it alone (secrets:
	 * wiped by ctl_netmap_free). */
	struct ctl_relay relays[CTL_RELAYS_MAX];
	size_t n_relays;
	/* The tailnet's DNS settings (dns.h); NULL when control sent none: MagicDNS is off
	 * and the host's DNS is left alone. */
	struct ctl_dns *dns;
};

/* Decode the JSON text of a full netmap; on failure returns -EINVAL and writes why into
 * err (may be NULL).  The result is freed with ctl_netmap_free(). */
int ctl_netmap_parse(const char *json, size_t len, struct ctl_netmap **out, char *err,
		     size_t errlen);
void ctl_netmap_free(struct ctl_netmap *nm);

/* Deep copy (for a holder that outlives the callback that lent nm). */
int ctl_netmap_dup(const struct ctl_netmap *nm, struct ctl_netmap **out);

/* Fold one map-stream message ("full", "delta" or "keepalive") into *json, the text of
 * the previous full netmap (NULL before the first).  Replaces *json (malloc'd) on
 * success; a delta whose base is not the previous version is refused with -ESTALE. */
int ctl_netmap_apply(char **json, const char *msg, size_t len, char *err, size_t errlen);

/* Find a peer by id or by address; NULL when absent. */
const struct ctl_node *ctl_netmap_peer_by_id(const struct ctl_netmap *nm, uint64_t id);
const struct ctl_node *ctl_netmap_peer_by_addr(const struct ctl_netmap *nm,
					       const struct addr_prefix *addr);

#endif
