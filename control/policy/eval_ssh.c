/* SSH decisions: the first rule whose principals hold the source and whose user map gives the
 * requested user decides (accept, or check with its period); a refusal says whether the
 * source was a principal at all and which users the first rule that lists it allows.  Over
 * plain rule lists as meshd's authorization hook receives them, or over the compiled form.
 * Also which environment variables a rule lets a client set. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

/* The local user rule r gives `user`, or NULL when the rule refuses it.  *uid0 is set when
 * the wildcard (autogroup:nonroot, "any user other than root") admitted it: whether or not
 * the rule also names root, a name the wildcard admits must not be root under another
 * name ("0"), so the account's uid decides (the node refuses uid 0). */
static const char *map_user_any(const struct pol_ssh_rule *r, const char *user, bool *uid0);

/* map_user_any, but a local name that would not fit a decision is no match: truncated, it
 * could name another account. */
static const char *map_user(const struct pol_ssh_rule *r, const char *user, bool *uid0)
{
	const char *local = map_user_any(r, user, uid0);
	return local && strlen(local) < POL_USER_MAX ? local : NULL;
}

static const char *map_user_any(const struct pol_ssh_rule *r, const char *user, bool *uid0)
{
	const char *star = NULL;
	*uid0 = false;
	for (size_t i = 0; i < r->n_users; i++) {
		const struct pol_ssh_usermap *m = &r->users[i];
		if (strcmp(m->from, user) == 0) {
			if (!m->to[0])
				return NULL;
			return strcmp(m->to, "=") == 0 ? user : m->to;
		}
		if (strcmp(m->from, "*") == 0 && !star)
			star = m->to;
	}
	if (!star || !star[0])
		return NULL;
	*uid0 = true;
	return strcmp(star, "=") == 0 ? user : star;
}

static void ssh_decided(struct pol_decision *out, const struct pol_ssh_rule *r, const char *local,
			const char *user)
{
	out->verdict = r->action;
	out->ssh_rule = r;
	out->src_allowed = true;
	out->section = "ssh";
	out->rule_index = r->index;
	snprintf(out->local_user, sizeof(out->local_user), "%s", local);
	if (r->action == VERDICT_CHECK) {
		char period[32];
		long long p = (long long)r->check_period_s;
		if (p == 0)
			snprintf(period, sizeof(period), "at every connection");
		else if (p % 3600 == 0)
			snprintf(period, sizeof(period), "every %lldh", p / 3600);
		else if (p % 60 == 0)
			snprintf(period, sizeof(period), "every %lldm", p / 60);
		else
			snprintf(period, sizeof(period), "every %llds", p);
		snprintf(out->why, sizeof(out->why),
			 "check by ssh[%d]: the source is among its principals and it maps \"%s\" "
			 "to local user \"%s\"; the source's owner must re-authenticate %s",
			 r->index, user, local, period);
	} else
		snprintf(
		    out->why, sizeof(out->why),
		    "accepted by ssh[%d]: the source is among its principals and it maps \"%s\" "
		    "to local user \"%s\"",
		    r->index, user, local);
}

/* "root, deploy", "any user except root", ... from a rule's user map. */
void pol_ssh_rule_describe_users(const struct pol_ssh_rule *r, char *buf, size_t len)
{
	size_t n = 0;
	bool any = false;
	buf[0] = '\0';
	for (size_t i = 0; i < r->n_users; i++)
		if (strcmp(r->users[i].from, "*") == 0 && r->users[i].to[0])
			any = true;
	if (any)
		n += (size_t)snprintf(buf, len, "any user");
	for (size_t i = 0; i < r->n_users && n < len; i++) {
		const struct pol_ssh_usermap *u = &r->users[i];
		if (strcmp(u->from, "*") == 0)
			continue;
		if (any && !u->to[0])
			n += (size_t)snprintf(buf + n, len - n, " except %s", u->from);
		else if (!any && u->to[0])
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", u->from);
	}
	if (!buf[0])
		snprintf(buf, len, "nobody");
}

void pol_ssh_rule_describe_recording(const struct pol_ssh_rule *r, char *buf, size_t len)
{
	size_t n = 0;
	char a[ADDR_TEXT_MAX];
	buf[0] = '\0';
	if (!r->n_recorders) {
		snprintf(buf, len,
			 r->enforce_recorder
			     ? "must be recorded but no recorder node exists: every session is "
			       "refused (and no port or agent forwarding)"
			     : "not recorded");
		return;
	}
	n += (size_t)snprintf(buf, len, "recorded to");
	for (size_t i = 0; i < r->n_recorders && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s %s", i ? "," : "",
				      addr_ip_format(&r->recorders[i], a));
	if (n < len)
		snprintf(buf + n, len - n, "%s",
			 r->enforce_recorder
			     ? " (enforced: refused or ended when no recorder takes it; no port or "
			       "agent forwarding)"
			     : " (not enforced: goes on unrecorded when no recorder takes it)");
}

static void ssh_refused(struct pol_decision *out, bool node_ok, const struct pol_ssh_rule *first,
			const char *user, size_t n)
{
	char users[160];
	out->src_allowed = node_ok;
	if (!n)
		snprintf(
		    out->why, sizeof(out->why),
		    "rejected: the destination has no SSH rules (no ssh rule selects it as dst)");
	else if (!node_ok)
		snprintf(
		    out->why, sizeof(out->why),
		    "rejected: the source node is not a principal of any of the destination's %zu "
		    "SSH rule(s)",
		    n);
	else {
		pol_ssh_rule_describe_users(first, users, sizeof(users));
		snprintf(
		    out->why, sizeof(out->why),
		    "rejected: the source node may connect (ssh[%d] lists it) but no rule allows "
		    "user \"%s\" (ssh[%d] allows %s)",
		    first->index, user, first->index, users);
	}
}

/* A requested user every rule list refuses: none, or one whose name would not fit the
 * decision's local_user (truncated, it could name another account). */
static bool user_refused(const char *user, struct pol_decision *out)
{
	if (!user || !*user) {
		snprintf(out->why, sizeof(out->why), "rejected: no user requested");
		return true;
	}
	if (strlen(user) >= POL_USER_MAX) {
		snprintf(out->why, sizeof(out->why),
			 "rejected: the requested user name is longer than %d bytes",
			 POL_USER_MAX - 1);
		return true;
	}
	return false;
}

void pol_ssh_rules_decide(const struct pol_ssh_rule *const *rules, size_t n,
			  const struct addr_ip *src, const char *user, struct pol_decision *out)
{
	bool node_ok = false;
	const struct pol_ssh_rule *first = NULL;
	pol__decision_init(out);
	if (user_refused(user, out))
		return;
	for (size_t i = 0; i < n; i++) {
		const struct pol_ssh_rule *r = rules[i];
		if (!pol__prefixes_have(r->principals, r->n_principals, src))
			continue;
		if (!node_ok)
			first = r;
		node_ok = true;
		bool uid0;
		const char *local = map_user(r, user, &uid0);
		if (local) {
			ssh_decided(out, r, local, user);
			out->refuse_uid0 = uid0;
			return;
		}
	}
	ssh_refused(out, node_ok, first, user, n);
}

static bool cnode_in(const struct pol__addrset *s, const struct pol__cnode *nd)
{
	for (size_t k = 0; k < nd->n_addrs; k++)
		if (pol__addrset_has(s, &nd->addrs[k]))
			return true;
	return false;
}

int pol_ssh_decide(const struct pol_compiled *c, size_t src_node, size_t dst_node, const char *user,
		   struct pol_decision *out)
{
	pol__decision_init(out);
	if (src_node >= c->n_nodes || dst_node >= c->n_nodes)
		return -ENOENT;
	const struct pol__cnode *s = &c->nodes[src_node], *d = &c->nodes[dst_node];
	bool node_ok = false;
	const struct pol_ssh_rule *first = NULL;
	if (user_refused(user, out))
		return 0;
	for (size_t i = 0; i < d->n_ssh; i++) {
		const struct pol__cssh *r = (const struct pol__cssh *)d->ssh[i];
		if (!cnode_in(r->src, s))
			continue;
		if (!node_ok)
			first = &r->pub;
		node_ok = true;
		bool uid0;
		const char *local = map_user(&r->pub, user, &uid0);
		if (local) {
			ssh_decided(out, &r->pub, local, user);
			out->refuse_uid0 = uid0;
			return 0;
		}
	}
	ssh_refused(out, node_ok, first, user, d->n_ssh);
	return 0;
}

bool pol_ssh_env_allowed(const struct pol_ssh_rule *r, const char *name)
{
	static const char *const never[] = {
		"LD_*",	    "DYLD_*",	   "LOCPATH",	  "GCONV_PATH",	 "MALLOC_*",
		"NLSPATH",  "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN", "TMPDIR",
		"BASH_ENV", "ENV",	   "IFS",
	};
	if (!name || !*name)
		return false;
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (fnmatch(never[i], name, 0) == 0)
			return false;
	for (size_t i = 0; i < r->n_accept_env; i++)
		if (fnmatch(r->accept_env[i], name, 0) == 0)
			return true;
	return false;
}
