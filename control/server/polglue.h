/* control/server internal: the seam between meshcontrol and the policy engine.  It turns
 * the server's nodes into a policy topology, compiles, and hands each node its packet
 * filter and SSH rules (as netmap JSON) and the peers it may see. */
#ifndef MESH_CONTROL_POLGLUE_H
#define MESH_CONTROL_POLGLUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl_server;

/* Parse, validate, compile against the current nodes and run the policy's tests.  With
 * commit, every node's filter_json, ssh_json and vis are replaced and the compiled policy
 * is kept; without, nothing changes.  0, -EINVAL (err says why) or -ENOMEM. */
int polglue_apply(struct ctl_server *srv, const char *text, bool commit, char *err, size_t errlen);
/* The stored policy (srv->policy_text) compiled again because the topology changed (nodes,
 * or a login that brought other groups from the provider) and committed: its tests run, and
 * failures are logged rather than refusing it, so a membership the provider took away
 * always reaches the nodes.  0, -EINVAL or -ENOMEM. */
int polglue_rebuild(struct ctl_server *srv, char *err, size_t errlen);
void polglue_free(struct ctl_server *srv);

struct pol_filter_rule;
struct addr_ip;
/* The general form of a node's filter JSON: each rule keeps the destinations holding one of
 * mine (the node's own host addresses in mine's order, then wider prefixes in the rule's
 * order), encoded by ctl__filter_json.  polglue_apply's fast path must equal it byte for
 * byte.  A new malloc'd string, NULL when memory is short. */
/* A node's SSH rules as netmap JSON (ctl__ssh_json); a new string, NULL on -ENOMEM. */
struct pol_ssh_rule;
char *polglue_ssh_json(const struct pol_ssh_rule *const *rules, size_t n);

char *polglue_filter_json_general(const struct pol_filter_rule *const *rules, size_t n,
				  const struct addr_ip *mine, size_t n_mine);

struct pol_compiled;
/* Every node's filter JSON the fast way, as polglue_apply sends them: out[i] for node i of
 * c, whose own addresses are addrs[n_per * i ...]; *n_fast (if given) counts the nodes the
 * fast path encoded (the others, when its caches are full, get the general encoder's).  0,
 * or -ENOMEM with out[0..n) NULL. */
int polglue_filter_json_nodes(const struct pol_compiled *c, size_t n, const struct addr_ip *addrs,
			      size_t n_per, char **out, size_t *n_fast);

/* polglue_vis.c: every node's vis (the peers it sees, ascending) from c, node i's two
 * addresses at addrs[2 * i]; nodes whose key expired by now see and are seen by nobody.
 * 0 or -ENOMEM. */
int polglue_visibility(struct ctl_server *srv, const struct pol_compiled *c,
		       const struct addr_ip *addrs, size_t n, int64_t now);
/* Addresses in one order: IPv4 before IPv6, then by their bytes. */
int polglue__addr_cmp(const struct addr_ip *x, const struct addr_ip *y);

#endif
