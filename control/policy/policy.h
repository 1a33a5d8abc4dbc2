/* control/policy: the Tailscale-format policy engine.
 *
 * One HuJSON policy file (JSON with comments and trailing commas) is parsed and validated
 * into an opaque struct pol_policy; every refusal comes with a message naming the offending
 * field and value (and line:column for syntax errors).  Compiled against a topology (users
 * and nodes as plain structs) it yields, per node, a packet filter and a list of SSH rules,
 * both plain C structs that callers may serialise or evaluate.  The `tests` and `sshTests`
 * sections run against the compiled result.  jansson never leaves control/.
 *
 * Memory: everything reachable from a struct pol_compiled (rules, prefix lists, strings)
 * lives as long as the compiled object; rules are shared between nodes, so treat them as
 * read-only.  A compiled policy is never modified after pol_compile, so decisions may run
 * on several threads at once.  Functions return 0 or a negative errno; -EINVAL means "bad
 * input" and fills the struct pol_error given. */
#ifndef MESH_CONTROL_POLICY_H
#define MESH_CONTROL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/verdict.h"

struct pol_policy;
struct pol_compiled;

enum { POL_ERR_MAX = 512, POL_USER_MAX = 64, POL_WHY_MAX = 320 };

/* A refusal.  line/column (1-based, column in bytes) are set only for syntax errors. */
struct pol_error {
	int line;
	int column;
	char msg[POL_ERR_MAX];
};

/* ---- topology: what compile resolves aliases against ---- */

/* A user, and the groups the identity provider put them in at their last sign-in there:
 * a group member written `oidc:NAME` means every user whose idp_groups hold NAME (exactly,
 * case and all).  Membership is what was stored at that login, so a user who is offline
 * is evaluated like one who is online; idp_at says when (unix seconds, for explanations),
 * 0 for a user who never signed in through the provider. */
struct pol_user {
	const char *login; /* "alice@example.com" */
	const char *const *idp_groups;
	size_t n_idp_groups;
	int64_t idp_at;
};

/* A provider group member: "oidc:" and 1 to POL_IDP_GROUP_MAX bytes without control
 * characters (the limits control/oidc puts on the groups claim); at most POL_IDP_GROUPS_MAX
 * idp_groups per user. */
#define POL_IDP_PREFIX "oidc:"
enum { POL_IDP_GROUP_MAX = 127, POL_IDP_GROUPS_MAX = 128 };

struct pol_node {
	const char *name;     /* unique name, used by explain and error messages */
	const char *hostname; /* may be NULL (then name is used) */
	const char *owner;    /* owner's login; a node with tags is not owned by a user */
	const char *const *tags;
	size_t n_tags;
	const struct addr_ip *addrs; /* the node's own addresses (IPv4 and IPv6) */
	size_t n_addrs;
	const struct addr_prefix *routes; /* approved subnet routes (may be NULL) */
	size_t n_routes;
};

struct pol_topology {
	const struct pol_user *users;
	size_t n_users;
	const struct pol_node *nodes;
	size_t n_nodes;
};

/* ---- compiled output ---- */

enum pol_proto {
	POL_PROTO_ICMP = 1,
	POL_PROTO_IGMP = 2,
	POL_PROTO_TCP = 6,
	POL_PROTO_UDP = 17,
	POL_PROTO_GRE = 47,
	POL_PROTO_ESP = 50,
	POL_PROTO_AH = 51,
	POL_PROTO_ICMPV6 = 58,
	POL_PROTO_SCTP = 132,
};

struct pol_port_range {
	uint16_t first, last;
};

/* One packet-filter rule: a packet is accepted when its source is in srcs, its
 * destination in dsts, its protocol in protos and (for TCP/UDP/SCTP) its destination port
 * in ports.  ICMP matches on addresses only.  n_protos == 0 means any protocol (a grant's
 * "ip": ["*"]).  Subnet destinations land on the routers whose approved routes overlap
 * them (for a `via` grant, only routers carrying a via tag); autogroup:internet (exit
 * traffic) does not appear in node filters yet. */
struct pol_filter_rule {
	const struct addr_prefix *srcs;
	size_t n_srcs;
	const struct addr_prefix *dsts;
	size_t n_dsts;
	const struct pol_port_range *ports;
	size_t n_ports;
	const uint8_t *protos;
	size_t n_protos;
	const char *section; /* "acls", "grants", or "default" (pol_filter_allow_all) */
	int index;	     /* the rule's index within its section */
};

/* A policy without acls or grants allows everything (Tailscale's default policy): the one
 * rule each node's filter holds then, section "default", from anywhere to anything. */
extern const struct pol_filter_rule pol_filter_allow_all;

/* Decisions are common/verdict.h's: VERDICT_REJECT (filter: drop), VERDICT_ACCEPT,
 * VERDICT_CHECK (ssh only). */

/* Requested user -> local user.  from "*" matches any name; to "=" means the requested
 * name itself, "" means refused. */
struct pol_ssh_usermap {
	const char *from;
	const char *to;
};

/* One SSH rule of a destination node, in evaluation order (check rules first).  Check
 * rules never list tagged nodes as principals: nobody can re-authenticate for them. */
struct pol_ssh_rule {
	const struct addr_prefix *principals; /* source node addresses */
	size_t n_principals;
	const struct pol_ssh_usermap *users;
	size_t n_users;
	enum verdict action; /* VERDICT_ACCEPT or VERDICT_CHECK */
	bool allow_agent_forwarding;
	bool allow_local_port_forwarding;
	bool allow_remote_port_forwarding;
	/* VERDICT_CHECK: how long an approval lasts; 0 = every connection */
	int64_t check_period_s;
	const char *const *accept_env; /* glob patterns of accepted environment names */
	size_t n_accept_env;
	/* Session recording ("recorder", "enforceRecorder"): the recorders' tailnet addresses,
	 * lowest first (the order they are tried in, as Tailscale's kb/1262 says: "choosing the
	 * node with the lowest IP address value ... then the next highest"); a tag resolves to
	 * the addresses of the nodes carrying it.  n_recorders == 0: not recorded, unless
	 * enforce_recorder (a tag no node carries yet): then no session can be recorded.
	 * enforce_recorder: a session that cannot be recorded is refused with
	 * POL_REC_REFUSE_MSG, and one whose recording fails later is ended with
	 * POL_REC_END_MSG; without it the session goes on and the failure is reported. */
	const struct addr_ip *recorders;
	size_t n_recorders;
	bool enforce_recorder;
	int index; /* the rule's index in the policy's ssh section */
};

#define POL_REC_REFUSE_MSG                                                       \
	"This session must be recorded and no recorder could be reached; it is " \
	"refused."
#define POL_REC_END_MSG "Session recording failed; the session is ended."

/* A decision and why.  rule_index is -1 when no rule matched. */
struct pol_decision {
	enum verdict verdict;
	char local_user[POL_USER_MAX]; /* ssh accept/check: the account to log in as */
	const char *section;	       /* "acls", "grants", "ssh", or NULL */
	int rule_index;
	char why[POL_WHY_MAX]; /* one human sentence */
	/* ssh: admitted through autogroup:nonroot (the "*" entry of the user map), not by
	 * name.  autogroup:nonroot is "any user other than root", and only the name "root"
	 * names root, so whatever it admits ("0", an alias of root) must not turn out to be
	 * uid 0: the caller refuses such an account.  A rule that also lists "root" admits
	 * "root" by name, never "0" as root. */
	bool refuse_uid0;
	/* ssh: the source is a principal of one of the rules (a refusal is about the user) */
	bool src_allowed;
	/* ssh accept/check: the deciding rule (its forwarding flags, acceptEnv, checkPeriod),
	 * valid as long as the rules decided over */
	const struct pol_ssh_rule *ssh_rule;
};

/* ---- parse, compile, test ---- */

/* Parses and validates HuJSON policy text.  tailnet_domain (e.g. "example.com", may be
 * NULL = accept any) is the domain `user:*@domain` and `localpart:*@domain` may name.
 * Returns 0 and a new policy in *out, -EINVAL with *err filled, or -ENOMEM. */
int pol_parse(const char *text, size_t len, const char *tailnet_domain, struct pol_policy **out,
	      struct pol_error *err);

void pol_policy_free(struct pol_policy *pol);

/* True when tagOwners lets the user `login` apply `tag`: listed by login, through a
 * group that lists the login, or by autogroup:member.  False for an undefined tag.  A
 * group's provider members (oidc:NAME) do not own tags: owning a tag is decided without the
 * topology. */
bool pol_tag_owned_by(const struct pol_policy *pol, const char *tag, const char *login);

/* True when the policy document had an "ssh" section (no section: no SSH at all). */
bool pol_policy_has_ssh(const struct pol_policy *pol);

/* The rule `section` ("acls", "grants", "ssh") [index] as compact JSON, or NULL. */
const char *pol_policy_rule_text(const struct pol_policy *pol, const char *section, int index);

/* One line summarising the policy ("2 acls, 1 grants, 3 ssh rules, 1 tests, 0 sshTests"). */
void pol_policy_summary(const struct pol_policy *pol, char *buf, size_t len);

/* Resolves the policy against a topology and builds every node's filter and SSH rules.
 * The topology is copied; the policy must outlive the result.  Returns 0, -EINVAL (*err:
 * e.g. a node naming an unknown tag) or -ENOMEM. */
int pol_compile(const struct pol_policy *pol, const struct pol_topology *topo,
		struct pol_compiled **out, struct pol_error *err);

void pol_compiled_free(struct pol_compiled *c);

/* Runs the policy's tests and sshTests against the compiled result.  Returns the number
 * of failed assertions (>= 0) or -ENOMEM; when report is not NULL, *report is a new
 * malloc'd string with one line per failure (empty when none; caller frees). */
int pol_run_tests(const struct pol_compiled *c, char **report);

/* Convenience for loading a policy the way the service does: parse, validate, compile,
 * run the tests.  A failing test refuses the policy: -EINVAL, err->msg starts with
 * "test(s) failed" followed by the failed assertions.  The result owns its policy. */
int pol_load(const char *text, size_t len, const char *tailnet_domain,
	     const struct pol_topology *topo, struct pol_compiled **out, struct pol_error *err);

/* pol_load for a policy already accepted, compiled again because the topology changed
 * (nodes came or went, a login brought other groups from the provider): the tests run but
 * do not refuse it, so a changed membership always reaches the nodes.  *failed counts the
 * failed assertions and *report (a new string, caller frees; set whenever 0 is returned)
 * lists them.  0, -EINVAL (*err) or -ENOMEM. */
int pol_reload(const char *text, size_t len, const char *tailnet_domain,
	       const struct pol_topology *topo, struct pol_compiled **out, int *failed,
	       char **report, struct pol_error *err);

/* ---- per-node results ---- */

size_t pol_compiled_node_count(const struct pol_compiled *c);

/* Finds a node by name, hostname or one of its addresses.  Returns 0 or -ENOENT. */
int pol_compiled_find_node(const struct pol_compiled *c, const char *name_or_addr, size_t *index);

/* The packet filter of node `node`: *rules points to n rule pointers (valid while c lives). */
size_t pol_node_filter(const struct pol_compiled *c, size_t node,
		       const struct pol_filter_rule *const **rules);

/* The SSH rules of node `node`, check rules before accept rules.  n = 0 means no SSH. */
size_t pol_node_ssh(const struct pol_compiled *c, size_t node,
		    const struct pol_ssh_rule *const **rules);

/* ---- evaluation ---- */

/* Would dst's filter accept a packet src -> dst (proto, dst port)?  Unknown dst: reject. */
int pol_filter_decide(const struct pol_compiled *c, const struct addr_ip *src,
		      const struct addr_ip *dst, uint8_t proto, uint16_t port,
		      struct pol_decision *out);

/* SSH from node src_node to node dst_node as `user`: accept / check / reject, the local
 * user and the deciding rule. */
int pol_ssh_decide(const struct pol_compiled *c, size_t src_node, size_t dst_node, const char *user,
		   struct pol_decision *out);

/* The same evaluations over plain rule lists (as a node receives them in its netmap).
 * pol_filter_rules_match is the whole decision without the explanation: the index of the
 * first rule admitting the packet or -1, allocation and formatting free, for the packet
 * path; pol_filter_rules_decide is built on it. */
int pol_filter_rules_match(const struct pol_filter_rule *const *rules, size_t n,
			   const struct addr_ip *src, const struct addr_ip *dst, uint8_t proto,
			   uint16_t port);
void pol_filter_rules_decide(const struct pol_filter_rule *const *rules, size_t n,
			     const struct addr_ip *src, const struct addr_ip *dst, uint8_t proto,
			     uint16_t port, struct pol_decision *out);
void pol_ssh_rules_decide(const struct pol_ssh_rule *const *rules, size_t n,
			  const struct addr_ip *src, const char *user, struct pol_decision *out);

/* Human summaries for explanations: what a filter rule allows ("tcp/udp ports 22, 443",
 * "any protocol") and which users an SSH rule admits ("root, deploy", "any user except
 * root", "alice" for a localpart rule). */
void pol_filter_rule_describe(const struct pol_filter_rule *r, char *buf, size_t len);
void pol_ssh_rule_describe_users(const struct pol_ssh_rule *r, char *buf, size_t len);
/* How a rule records its sessions: "not recorded", "recorded to 100.64.0.9, fd7a::9 (not
 * enforced: goes on unrecorded when no recorder takes it)", "recorded to ... (enforced:
 * refused or ended when no recorder takes it)", or "must be recorded but no recorder node
 * exists: every session is refused". */
void pol_ssh_rule_describe_recording(const struct pol_ssh_rule *r, char *buf, size_t len);

/* True when environment variable `name` may be passed under rule r (loader variables such
 * as LD_* are never accepted). */
bool pol_ssh_env_allowed(const struct pol_ssh_rule *r, const char *name);

/* Where user `login`'s membership of the policy's groups comes from, for explanations: one
 * entry per group, "; " between them, e.g. "group:ops (listed by login); group:eng via the
 * provider's group eng, at the login of 2026-12-06 21:03 UTC".  "" when in no group, or
 * not a user of the topology.  Returns the number of groups. */
size_t pol_user_groups_describe(const struct pol_compiled *c, const char *login, char *buf,
				size_t len);

/* ---- topology files (for meshctl and tests) ---- */

struct pol_topology_doc;

/* Reads a topology from JSON/HuJSON:
 *   {"tailnet_owner": "alice@example.com",
 *    "users": [{"name": "alice", "email": "alice@example.com",
 *               "oidc_groups": ["eng"], "oidc_login": "2026-12-06T21:03:00Z"}],
 *    "nodes": {"laptop": {"user": "alice", "ipv4": "100.64.0.1", "ipv6": "fd7a::1"},
 *              "web": {"tags": ["tag:server"], "ipv4": "100.64.0.2",
 *                      "approved_routes": ["10.0.0.0/24"]}}}
 * (oidc_groups and oidc_login, optional: the provider's groups at the user's last sign-in
 * and when, as meshcontrol stores them.)  A conformance case (the same under "topology")
 * is accepted too.  Returns 0, -EINVAL
 * (*err names the bad field) or -ENOMEM. */
int pol_topology_parse(const char *text, size_t len, struct pol_topology_doc **out,
		       struct pol_error *err);
const struct pol_topology *pol_topology_doc_get(const struct pol_topology_doc *doc);
/* The tailnet's domain (from tailnet_owner, else the first user's login), or NULL. */
const char *pol_topology_doc_domain(const struct pol_topology_doc *doc);
void pol_topology_doc_free(struct pol_topology_doc *doc);

/* Protocol by name ("tcp") or number ("6"); false when unknown. */
bool pol_proto_parse(const char *s, uint8_t *out);

#endif
