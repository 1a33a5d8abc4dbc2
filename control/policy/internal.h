/* control/policy internals shared between the module's files: the parsed policy model,
 * the compiled form, and small helpers (growable arrays, a string hash map, address
 * sets).  Nothing here leaves control/policy. */
#ifndef MESH_CONTROL_POLICY_INTERNAL_H
#define MESH_CONTROL_POLICY_INTERNAL_H

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"
#include "control/policy/policy.h"

enum { POL__MAX_DEPTH = 64 };

/* ---- helpers ---- */

/* Growable array: `T *v; size_t n, cap;` and pol__grow(&v, &cap, n + 1, sizeof(*v)). */
int pol__grow(void *vp, size_t *cap, size_t need, size_t elem);

#define POL__PUSH(v, n, cap, val)                                              \
	({                                                                     \
		int push_rc_ = pol__grow(&(v), &(cap), (n) + 1, sizeof(*(v))); \
		if (push_rc_ == 0)                                             \
			(v)[(n)++] = (val);                                    \
		push_rc_;                                                      \
	})

/* A new zeroed element kept in the growable array of pointers v, which owns it; NULL when out
 * of memory. */
#define POL__NEW(v, n, cap)                                       \
	({                                                        \
		__typeof__(*(v)) new_ = calloc(1, sizeof(*new_)); \
		if (new_ && POL__PUSH(v, n, cap, new_)) {         \
			free(new_);                               \
			new_ = NULL;                              \
		}                                                 \
		new_;                                             \
	})

__attribute__((format(printf, 2, 3))) int pol__fail(struct pol_error *err, const char *fmt, ...);

/* String -> int map (open addressing); keys are borrowed, not copied. */
struct pol__strmap {
	const char **keys;
	int *vals;
	size_t cap, n;
};
int pol__strmap_put(struct pol__strmap *m, const char *key, int val);
int pol__strmap_get(const struct pol__strmap *m, const char *key); /* -1 if absent */
void pol__strmap_free(struct pol__strmap *m);
uint64_t pol__hash(const void *p, size_t n);

/* Interval set of addresses for fast membership (v4 as 32-bit, v6 as two 64-bit halves). */
struct pol__iv4 {
	uint32_t lo, hi;
};
struct pol__iv6 {
	unsigned __int128 lo, hi;
};
struct pol__addrset {
	struct addr_prefix *prefixes; /* the public view */
	size_t n_prefixes, cap_prefixes;
	struct pol__iv4 *v4;
	size_t n_v4;
	struct pol__iv6 *v6;
	size_t n_v6;
};
int pol__addrset_add(struct pol__addrset *s, const struct addr_prefix *p);
int pol__addrset_finish(struct pol__addrset *s); /* sort + merge into intervals */
bool pol__addrset_has(const struct pol__addrset *s, const struct addr_ip *a);
void pol__addrset_free(struct pol__addrset *s);

json_t *pol__hujson_load(const char *text, size_t len, struct pol_error *err);
/* Entry points' common start: *errp defaults to scratch, is cleared, then the text read. */
json_t *pol__hujson_begin(const char *text, size_t len, struct pol_error **errp,
			  struct pol_error *scratch);
int pol__hujson_standardize(char *s, size_t len, struct pol_error *err);

/* Parses a port list "*", "22", "80-443", "22,80,443" into ranges (malloc'd). */
bool pol__ports_parse(const char *s, struct pol_port_range **out, size_t *n, struct pol_error *err,
		      const char *ctx);

/* ---- the parsed policy ---- */

enum pol__alias_kind {
	POL__A_ANY,	   /* "*" */
	POL__A_USER,	   /* a login */
	POL__A_GROUP,	   /* group:x */
	POL__A_TAG,	   /* tag:x */
	POL__A_HOST,	   /* a hosts entry */
	POL__A_PREFIX,	   /* an IP or CIDR literal */
	POL__A_MEMBER,	   /* autogroup:member */
	POL__A_TAGGED,	   /* autogroup:tagged */
	POL__A_SELF,	   /* autogroup:self */
	POL__A_INTERNET,   /* autogroup:internet */
	POL__A_DANGER_ALL, /* autogroup:danger-all */
	POL__A_DOMAIN,	   /* user:*@domain */
};

struct pol__alias {
	enum pol__alias_kind kind;
	char *text;		   /* as written */
	char *name;		   /* user login, group/tag/host name, domain */
	struct addr_prefix prefix; /* HOST / PREFIX */
};

/* One (destination, protocols, ports) of a network rule. */
struct pol__dst {
	struct pol__alias alias;
	uint8_t *protos; /* empty: any protocol */
	size_t n_protos;
	struct pol_port_range *ports;
	size_t n_ports;
	char *text; /* the dst as written ("tag:a:22") */
};

struct pol__netrule {
	const char *section; /* "acls" / "grants" */
	int index;
	struct pol__alias *srcs;
	size_t n_srcs;
	struct pol__dst *dsts;
	size_t n_dsts, cap_dsts;
	bool has_via; /* via grants route through routers; no node-to-node access */
	int *via;     /* tag indices of the routers a via grant names */
	size_t n_via;
	char *source; /* the rule as compact JSON, for explain */
};

enum pol__user_kind {
	POL__U_NAME,
	POL__U_NONROOT,
	POL__U_LOCALPART, /* localpart:*@domain */
};

struct pol__sshuser {
	enum pol__user_kind kind;
	char *name; /* NAME: the account; LOCALPART: the domain */
};

struct pol__sshrule {
	int index;
	enum verdict action;
	struct pol__alias *srcs;
	size_t n_srcs;
	struct pol__alias *dsts;
	size_t n_dsts;
	struct pol__sshuser *users;
	size_t n_users;
	int64_t check_period_s;
	char **accept_env;
	size_t n_accept_env;
	struct pol__alias *recorders; /* tags and IP addresses ("recorder") */
	size_t n_recorders;
	bool enforce_recorder;
	char *source;
};

struct pol__group {
	char *name;
	char **members; /* logins, and provider groups as "oidc:NAME" */
	size_t n_members;
	bool has_idp; /* some member is a provider group */
};

struct pol__host {
	char *name;
	struct addr_prefix prefix;
};

struct pol__test {
	struct pol__alias src;
	uint8_t *protos;
	size_t n_protos;
	char **accept, **deny;
	size_t n_accept, n_deny;
};

struct pol__sshtest {
	struct pol__alias src;
	struct pol__alias *dsts;
	size_t n_dsts;
	char **accept, **check, **deny;
	size_t n_accept, n_check, n_deny;
};

struct pol_policy {
	char *domain;
	struct pol__group *groups;
	size_t n_groups;
	char **tags; /* tagOwners keys */
	size_t n_tags;
	char ***tag_owners; /* tag_owners[i]: the owners of tags[i] */
	size_t *n_tag_owners;
	struct pol__host *hosts;
	size_t n_hosts;
	struct pol__netrule *rules; /* acls then grants */
	size_t n_rules;
	bool has_rules; /* acls or grants present (absent both: allow all) */
	bool has_ssh;
	struct pol__sshrule *ssh;
	size_t n_ssh;
	struct pol__test *tests;
	size_t n_tests;
	struct pol__sshtest *sshtests;
	size_t n_sshtests;
	struct pol__strmap group_idx, tag_idx, host_idx;
};

/* ---- parsing (parse.c and a file per section) ---- */

/* parse_alias.c: one alias as written ("tag:a", "group:b", "10.0.0.0/8", ...), checked
 * against the groups, tags and hosts already read; false with ctx + a message in err. */
bool pol__alias_parse(const struct pol_policy *pol, const char *s, struct pol__alias *out,
		      struct pol_error *err, const char *ctx);
void pol__alias_clear(struct pol__alias *a);
/* A copy of s without surrounding ASCII white space (NULL when out of memory). */
char *pol__trimdup(const char *s);
/* An optional list of strings, each trimmed; missing or null: empty.  0 or negative errno. */
int pol__strv_get(json_t *arr, char ***out, size_t *n, struct pol_error *err, const char *ctx);
/* Whether a user:*@domain or localpart:*@domain names this tailnet's domain (exact case). */
bool pol__domain_ok(const struct pol_policy *pol, const char *domain);

static inline bool pol__starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* parse.c: the array a section's entries are read into (*arrp, as for pol__grow): one zeroed
 * element of elem bytes per entry and a spare.  1 when made; 0 for a missing or null section
 * (nothing to read); -EINVAL with `must` in err when j is not an object (object) or a list;
 * -ENOMEM. */
int pol__section_new(json_t *j, bool object, const char *must, void *arrp, size_t elem,
		     struct pol_error *err);

/* The section parsers, called in this order by parse.c; each fills its part of pol and
 * returns 0 or negative errno with the reference service's message in err; a missing
 * section is empty. */
int pol__parse_groups(struct pol_policy *pol, json_t *j, struct pol_error *err);
int pol__parse_tag_owners(struct pol_policy *pol, json_t *j, struct pol_error *err);
int pol__parse_hosts(struct pol_policy *pol, json_t *j, struct pol_error *err);
int pol__parse_netrules(struct pol_policy *pol, json_t *acls, json_t *grants,
			struct pol_error *err);
int pol__parse_ssh(struct pol_policy *pol, json_t *j, struct pol_error *err);
int pol__parse_tests(struct pol_policy *pol, json_t *j, struct pol_error *err);
int pol__parse_sshtests(struct pol_policy *pol, json_t *j, struct pol_error *err);

/* ---- the compiled form ---- */

struct pol__cnode {
	const char *name, *hostname, *owner; /* owner NULL when tagged */
	int user;			     /* user index, -1 when tagged or unknown */
	int *tags;			     /* tag indices into pol->tags */
	size_t n_tags;
	struct addr_ip *addrs;
	size_t n_addrs;
	struct addr_prefix *routes;
	size_t n_routes;
	const struct pol_filter_rule **filter;
	size_t n_filter, cap_filter;
	const struct pol_ssh_rule **ssh;
	size_t n_ssh, cap_ssh;
};

struct pol__cfilter {
	struct pol_filter_rule pub;
	const struct pol__addrset *src; /* shared */
	struct pol__addrset dst;
	bool dst_any;
};

struct pol__cssh {
	struct pol_ssh_rule pub;
	const struct pol__addrset *src; /* shared */
};

struct pol_compiled {
	const struct pol_policy *pol;
	struct pol_policy *owned_pol; /* pol_load: freed with the compiled result */
	char **strings;		      /* owned copies of topology strings */
	size_t n_strings, cap_strings;
	char **users; /* logins */
	size_t n_users;
	/* per user: the provider's groups at their last sign-in (strings kept), and when */
	struct pol__uidp {
		const char **groups;
		size_t n;
		int64_t at;
	} * user_idp;
	struct pol__cnode *nodes;
	size_t n_nodes;
	struct pol__strmap node_idx, user_idx;
	/* addr -> node: sorted array */
	struct pol__addrnode {
		struct addr_ip a;
		int node;
	} * by_addr;
	size_t n_by_addr;
	struct pol__addrset **sets; /* owned shared sets */
	size_t n_sets, cap_sets;
	struct pol__cfilter **filters;
	size_t n_filters, cap_filters;
	struct pol__cssh **sshs;
	size_t n_sshs, cap_sshs;
	void **maps; /* owned user maps */
	size_t n_maps;
	bool allow_all; /* no acls/grants section */
};

int pol__node_by_addr(const struct pol_compiled *c, const struct addr_ip *a);
/* Node indices an alias selects (src or dst), as a sorted, de-duplicated int list. */
bool pol__node_matches(const struct pol_compiled *c, size_t node, const struct pol__alias *a);
int pol__alias_nodes(const struct pol_compiled *c, const struct pol__alias *a, int **out,
		     size_t *n);
/* idp.c: whether user index u is a member of g, by login or through a provider group (then
 * *via, if given, is that group's name; NULL for a login). */
bool pol__group_has(const struct pol_compiled *c, const struct pol__group *g, int u,
		    const char **via);
/* Checks member m of group g as written in the policy: a login or "oidc:NAME"; 0 or
 * -EINVAL with the message in err. */
int pol__group_member_check(const struct pol__group *g, const char *m, struct pol_error *err);

/* ---- evaluating (eval_filter.c, eval_ssh.c, eval_tests.c) ---- */

/* A decision's start: reject, no rule. */
void pol__decision_init(struct pol_decision *out);
bool pol__prefixes_have(const struct addr_prefix *p, size_t n, const struct addr_ip *a);
/* Whether any filter rule of the whole policy, whatever its node, admits the packet: for
 * tests, whose destinations need not be nodes. */
bool pol__filter_global(const struct pol_compiled *c, const struct addr_ip *src,
			const struct addr_ip *dst, uint8_t proto, uint16_t port);

/* ---- compiling (compile.c, compile_select.c, compile_filter.c, compile_ssh.c) ---- */

struct pol__ivec {
	int *v;
	size_t n, cap;
};

/* One compilation's indexes and scratch, built by compile.c from the topology. */
struct pol__cctx {
	struct pol_compiled *c;
	const struct pol_policy *pol;
	struct pol__ivec *tag_nodes;  /* per tag index */
	struct pol__ivec *user_nodes; /* per user index: untagged nodes owned */
	struct pol__ivec member, tagged, all;
	struct pol__strmap set_cache; /* key -> index in c->sets */
	char **set_keys;
	size_t n_set_keys, cap_set_keys;
	const struct addr_ip *rec; /* the SSH rule being compiled: its recorders' addresses */
	size_t n_rec;
	/* per group index: the users in it through the provider, found once (idp_done) */
	struct pol__ivec *idp_users;
	bool *idp_done;
	int *mark;     /* per node scratch */
	uint8_t *flag; /* per node scratch, left all zero */
	int mark_gen;
};

/* Allocations the compiled result frees (the SSH user maps). */
struct pol__owned {
	void **v;
	size_t n, cap;
};

int pol__ivec_push(struct pol__ivec *v, int x);
/* A copy of s that lives as long as c (NULL for NULL, or when out of memory). */
const char *pol__keep(struct pol_compiled *c, const char *s);
/* What follows a login's last '@' ("" without one). */
const char *pol__login_domain(const char *login);
/* The index of a login in c->users, compared without regard to case; -1 if absent. */
int pol__user_index(const struct pol_compiled *c, const char *login);
/* idp.c: the users in group index g through the provider (whatever its listed logins), computed
 * once per compilation into x->idp_users[g]: 0 or -ENOMEM. */
int pol__group_idp_users(struct pol__cctx *x, int g, const struct pol__ivec **out);
/* Appends the nodes an alias selects to out (may repeat: pol__uniq after). */
int pol__alias_nodes_add(struct pol__cctx *x, const struct pol__alias *a, struct pol__ivec *out);
/* De-duplicates v in place, keeping the first of each. */
void pol__uniq(struct pol__cctx *x, struct pol__ivec *v);
/* Adds every address of the nodes to s (as /32 and /128 prefixes). */
int pol__nodes_addrs(struct pol__cctx *x, const struct pol__ivec *nodes, struct pol__addrset *s);
/* Adds 0.0.0.0/0 and ::/0. */
int pol__addrset_add_all(struct pol__addrset *s);

enum { POL__SRC_ALL = -1, POL__SRC_PEOPLE = -2 };
/* The shared address set of a source list: all its nodes and prefixes (POL__SRC_ALL), only
 * user-owned nodes (POL__SRC_PEOPLE), or only the devices of user index restrict_user. */
int pol__src_set(struct pol__cctx *x, const struct pol__alias *srcs, size_t n, int restrict_user,
		 const struct pol__addrset **out);

/* The parts pol_compile runs in order; 0 or negative errno. */
int pol__compile_filters(struct pol__cctx *x);
int pol__compile_ssh(struct pol__cctx *x, struct pol__owned *maps);

#endif
