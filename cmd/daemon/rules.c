/* Matching the compiled SSH rules and packet filter of a netmap.  Linear over the rules
 * of this one node (control already reduced the tailnet policy to them), allocation free,
 * so it runs per connection and per inbound packet. */
#include "cmd/daemon/rules.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static bool prefix_holds(const struct ctl_prefix *set, size_t n, const struct ctl_prefix *a)
{
	for (size_t i = 0; i < n; i++)
		if (ctl_prefix_contains(&set[i], a))
			return true;
	return false;
}

/* Maps `user` through the rule's user map: the local name, or NULL when refused.
 * *explicit says whether a literal entry (not "*") matched. */
static const char *map_user(const struct ctl_ssh_rule *r, const char *user, bool *explicit)
{
	const struct ctl_ssh_usermap *wild = NULL;
	for (size_t i = 0; i < r->n_users; i++) {
		const struct ctl_ssh_usermap *m = &r->users[i];
		if (strcmp(m->from, "*") == 0) {
			if (!wild)
				wild = m;
			continue;
		}
		if (strcmp(m->from, user) == 0) {
			*explicit = true;
			if (m->to[0] == '\0')
				return NULL;
			return strcmp(m->to, "=") == 0 ? user : m->to;
		}
	}
	*explicit = false;
	if (!wild || wild->to[0] == '\0')
		return NULL;
	return strcmp(wild->to, "=") == 0 ? user : wild->to;
}

static void join_env(char *out, size_t size, char *const *pats, size_t n)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(out + o, size - o, "%s%s", o ? "," : "", pats[i]);
		if (w < 0 || (size_t)w >= size - o)
			break; /* too many patterns: keep the ones that fit */
		o += (size_t)w;
	}
}

void meshd_ssh_decide(const struct ctl_netmap *nm, const struct ctl_prefix *src,
		      const char *user, struct meshd_ssh_verdict *out)
{
	memset(out, 0, sizeof(*out));
	out->action = MESHD_SSH_REJECT;
	out->rule = -1;
	bool node_allowed = false;

	for (size_t i = 0; nm && i < nm->n_ssh; i++) {
		const struct ctl_ssh_rule *r = &nm->ssh[i];
		if (!prefix_holds(r->principals, r->n_principals, src))
			continue;
		node_allowed = true;
		bool explicit = false;
		const char *local = map_user(r, user, &explicit);
		if (!local || !*local)
			continue;
		if (strlen(local) >= sizeof(out->local_user))
			continue;
		out->rule = (int)i;
		snprintf(out->local_user, sizeof(out->local_user), "%s", local);
		out->allow_root = explicit;
		if (r->action == CTL_SSH_REJECT) {
			out->action = MESHD_SSH_REJECT;
			snprintf(out->message, sizeof(out->message), "%s",
				 r->message ? r->message : "policy rejects this connection");
			return;
		}
		out->action = r->action == CTL_SSH_CHECK ? MESHD_SSH_CHECK : MESHD_SSH_ACCEPT;
		out->allow_agent = r->allow_agent;
		out->allow_local_fwd = r->allow_local_fwd;
		out->allow_remote_fwd = r->allow_remote_fwd;
		out->check_period_s = r->check_period_s;
		join_env(out->accept_env, sizeof(out->accept_env), r->accept_env, r->n_accept_env);
		return;
	}
	if (node_allowed)
		snprintf(out->message, sizeof(out->message),
			 "policy does not permit you to SSH as user \"%s\"", user);
	else
		snprintf(out->message, sizeof(out->message),
			 "policy does not permit you to SSH to this node");
}

static uint32_t proto_bit(int family, uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return CTL_PROTO_TCP;
	case IPPROTO_UDP:
		return CTL_PROTO_UDP;
	case IPPROTO_ICMP:
		return family == AF_INET ? CTL_PROTO_ICMP : 0;
	case IPPROTO_ICMPV6:
		return family == AF_INET6 ? CTL_PROTO_ICMPV6 : 0;
	case IPPROTO_SCTP:
		return CTL_PROTO_SCTP;
	default:
		return 0;
	}
}

bool meshd_filter_allows(const struct ctl_netmap *nm, const struct meshd_pkt *p)
{
	if (p->icmp_echo_reply)
		return true;
	if (!nm)
		return false;

	struct ctl_prefix src = { .family = p->family == AF_INET ? 4 : 6 };
	struct ctl_prefix dst = src;
	size_t alen = p->family == AF_INET ? 4 : 16;
	src.bits = dst.bits = (uint8_t)(alen * 8);
	memcpy(src.addr, p->src, alen);
	memcpy(dst.addr, p->dst, alen);
	uint32_t bit = proto_bit(p->family, p->proto);
	bool ports = p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP || p->proto == IPPROTO_SCTP;

	for (size_t i = 0; i < nm->n_filter; i++) {
		const struct ctl_filter_rule *r = &nm->filter[i];
		if (!(r->protos & bit))
			continue;
		if (!prefix_holds(r->srcs, r->n_srcs, &src))
			continue;
		for (size_t d = 0; d < r->n_dsts; d++) {
			const struct ctl_filter_dst *fd = &r->dsts[d];
			if (!ctl_prefix_contains(&fd->net, &dst))
				continue;
			if (!ports || (p->dport >= fd->port_lo && p->dport <= fd->port_hi))
				return true;
		}
	}
	return false;
}
