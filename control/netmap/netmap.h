/* control/netmap: what a node learns from control, as plain C structs, and the wire
 * envelope both ends of the node protocol use.
 *
 * A netmap is one node's view of the tailnet: itself, the peers it may reach or that may
 * reach it, its inbound packet filter and its SSH rules.  On the wire it is JSON (the codec
 * lives in netmap.c; jansson never leaves control/); meshd only ever sees these structs.
 * The map stream sends a full netmap first and deltas afterwards; ctl_netmap_apply()
 * folds a delta into the JSON text of the previous netmap, so the cache on disk is always
 * a full netmap. */
#ifndef MESH_CONTROL_NETMAP_H
#define MESH_CONTROL_NETMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/netmap/hostkey.h"

enum {
	CTL_KEY_LEN = 32,
	CTL_MAX_NODE_ADDRS = 2, /* one IPv4 in 100.64.0.0/10, one IPv6 in the tailnet's ULA /48 */
};

struct ctl_prefix {
	uint8_t family; /* 4 or 6 */
	uint8_t bits;
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
};

/* A node as control describes it: used for the netmap's self and for each peer. */
struct ctl_node {
	uint64_t id;
	char *name;  /* hostname, unique in the tailnet */
	char *owner; /* user login; NULL for a tagged node */
	char **tags;
	size_t n_tags;
	uint8_t node_key[CTL_KEY_LEN]; /* WireGuard public key */
	int64_t key_expiry;	       /* unix seconds; 0 = never */
	struct ctl_prefix addrs[CTL_MAX_NODE_ADDRS];
	size_t n_addrs;
	struct ctl_prefix *allowed_ips;
	size_t n_allowed_ips;
	char **endpoints; /* "addr:port" or "[addr]:port" */
	size_t n_endpoints;
	char **ssh_host_keys; /* OpenSSH public key lines */
	size_t n_ssh_host_keys;
	bool online;
	int64_t last_seen; /* unix seconds; 0 = never */
};

enum ctl_proto_bits {
	CTL_PROTO_TCP = 1u << 0,
	CTL_PROTO_UDP = 1u << 1,
	CTL_PROTO_ICMP = 1u << 2,
	CTL_PROTO_ICMPV6 = 1u << 3,
	CTL_PROTO_SCTP = 1u << 4,
	CTL_PROTO_DEFAULT = CTL_PROTO_TCP | CTL_PROTO_UDP | CTL_PROTO_ICMP | CTL_PROTO_ICMPV6,
};

struct ctl_filter_dst {
	struct ctl_prefix net;
	uint16_t port_lo, port_hi;
};

/* Inbound: a packet from one of srcs to one of dsts with a protocol in protos passes. */
struct ctl_filter_rule {
	struct ctl_prefix *srcs;
	size_t n_srcs;
	struct ctl_filter_dst *dsts;
	size_t n_dsts;
	uint32_t protos; /* enum ctl_proto_bits */
};

enum ctl_ssh_action {
	CTL_SSH_ACCEPT,
	CTL_SSH_CHECK,
	CTL_SSH_REJECT,
};

/* Requested user -> local user: "*" matches any requested name; to "=" keeps the name,
 * to "" refuses it. */
struct ctl_ssh_usermap {
	char *from;
	char *to;
};

/* One SSH rule on this (destination) node; the first rule whose principals hold the
 * source address and whose user map gives a non-empty local user decides. */
struct ctl_ssh_rule {
	struct ctl_prefix *principals;
	size_t n_principals;
	struct ctl_ssh_usermap *users;
	size_t n_users;
	enum ctl_ssh_action action;
	uint32_t check_period_s; /* check rules: 0 = every connection */
	bool allow_agent, allow_local_fwd, allow_remote_fwd;
	char **accept_env;
	size_t n_accept_env;
	char *message; /* reject banner, may be NULL */
};

struct ctl_netmap {
	uint64_t version; /* control's map version this netmap corresponds to */
	char *domain;	  /* DNS suffix of the tailnet ("mesh.internal") */
	struct ctl_node self;
	struct ctl_node *peers;
	size_t n_peers;
	struct ctl_filter_rule *filter;
	size_t n_filter;
	struct ctl_ssh_rule *ssh;
	size_t n_ssh;
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
					       const struct ctl_prefix *addr);

/* Text forms: "100.64.0.1/32", "fd7a:115c:a1e0::1/128"; parse accepts a bare address
 * (full length).  Format needs 44 bytes. */
bool ctl_prefix_parse(const char *s, struct ctl_prefix *out);
void ctl_prefix_format(const struct ctl_prefix *p, char out[static 44]);
bool ctl_prefix_contains(const struct ctl_prefix *net, const struct ctl_prefix *addr);

#endif
