/* What emits meshd's audit events (audit.h): the login's decision and the hold's outcome
 * (called from ssh.c), revocations and forwardings (sshd's hooks); every session's start, end
 * and kill come from the sessions' registry (sessions.c), which sees every session and knows
 * its ID.  sshd only reports; what an event says is decided here. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/daemon/audit.h"
#include "cmd/daemon/internal.h"
#include "common/log.h"
#include "common/now.h"
#include "common/text.h"
#include "control/netmap/netmap.h"
#include "control/policy/policy.h"
#include "sshd/sshd.h"

/* The source node's name and who it is (owner, or its tags) from the netmap. */
static void fill_source(const struct ctl_netmap *nm, const struct addr_ip *src,
			struct audit_event *e)
{
	char addr[ADDR_TEXT_MAX];
	audit_text_set(e->src, addr_ip_format(src, addr));
	struct addr_prefix host = addr_host_prefix(src);
	const struct ctl_node *peer = nm ? ctl_netmap_peer_by_addr(nm, &host) : NULL;
	if (!peer)
		return;
	audit_text_set(e->src_node, peer->name);
	if (peer->owner) {
		audit_text_set(e->who, peer->owner);
		return;
	}
	char tags[AUDIT_TEXT_MAX + 1] = "";
	size_t o = 0;
	for (size_t i = 0; i < peer->n_tags && o < sizeof(tags); i++)
		o += (size_t)snprintf(tags + o, sizeof(tags) - o, "%s%s", i ? "," : "",
				      peer->tags[i]);
	audit_text_set(e->who, tags);
}

void meshd_audit_ssh(const struct meshd_node *node, enum audit_type type, const struct addr_ip *src,
		     const char *ssh_user, const char *local_user, const char *detail)
{
	meshd_audit_session(node, type, src, ssh_user, local_user, detail, NULL, 0);
}

void meshd_audit_session(const struct meshd_node *node, enum audit_type type,
			 const struct addr_ip *src, const char *ssh_user, const char *local_user,
			 const char *detail, const char *session, uint64_t conn_id)
{
	if (!node->audit)
		return;
	struct audit_event *e = calloc(1, sizeof(*e));
	if (!e)
		return;
	e->type = type;
	struct pol_decision d = { .verdict = VERDICT_REJECT };
	if (src) {
		fill_source(node->nm, src, e);
		if (node->nm && ssh_user)
			pol_ssh_rules_decide((const struct pol_ssh_rule *const *)node->nm->ssh,
					     node->nm->n_ssh, src, ssh_user, &d);
		if (d.section && d.rule_index >= 0) {
			char rule[64];
			snprintf(rule, sizeof(rule), "%s[%d]", d.section, d.rule_index);
			audit_text_set(e->rule, rule);
		}
	}
	audit_text_set(e->ssh_user, ssh_user);
	/* a held login has no local user yet: the one the rule maps it to */
	audit_text_set(e->local_user, local_user && *local_user	    ? local_user
				      : d.verdict != VERDICT_REJECT ? d.local_user
								    : NULL);
	audit_text_set(e->detail, detail);
	audit_text_set(e->session, session);
	if (conn_id) {
		char conn[24];
		snprintf(conn, sizeof(conn), "%" PRIu64, conn_id);
		audit_text_set(e->conn, conn);
	}
	meshd_audit_emit(node->audit, e);
	free(e);
}

static bool peer_ip(const struct sockaddr *sa, struct addr_ip *ip)
{
	struct addr_endpoint ep;
	if (!sa || !addr_endpoint_from_sockaddr(sa, &ep))
		return false;
	addr_ip_unmap(&ep.ip);
	*ip = ep.ip;
	return true;
}

/* The count of a source's refusals that were not queued one by one, as one ssh.refuse. */
static void refusals_flush(struct meshd_node *node, struct meshd__refusals *r)
{
	if (r->suppressed) {
		char detail[160];
		snprintf(detail, sizeof(detail),
			 "%" PRIu32
			 " more refusals from this source within %d s, counted (the last "
			 "as %s)",
			 r->suppressed, MESHD_REFUSE_WINDOW_MS / 1000, r->last_user);
		meshd_audit_ssh(node, AUDIT_SSH_REFUSE, &r->src, NULL, NULL, detail);
	}
	r->suppressed = 0;
}

/* Every source's minute that is over: its count written, its slot free (at each login). */
static void refusals_expire(struct meshd_node *node, uint64_t now)
{
	for (size_t i = 0; i < MESHD_REFUSE_SOURCES; i++) {
		struct meshd__refusals *x = &node->refusals[i];
		if (x->window_ms && now - x->window_ms >= MESHD_REFUSE_WINDOW_MS) {
			refusals_flush(node, x);
			x->window_ms = 0;
		}
	}
}

/* false when this refusal from src is one too many for its minute: counted instead. */
static bool refusal_queued(struct meshd_node *node, const struct addr_ip *src, const char *user,
			   uint64_t now)
{
	struct meshd__refusals *r = NULL, *oldest = &node->refusals[0];
	for (size_t i = 0; i < MESHD_REFUSE_SOURCES; i++) {
		struct meshd__refusals *x = &node->refusals[i];
		if (x->window_ms && addr_ip_equal(&x->src, src))
			r = x;
		if (!x->window_ms || (oldest->window_ms && x->window_ms < oldest->window_ms))
			oldest = x;
	}
	if (!r) {
		r = oldest;
		refusals_flush(node, r); /* evicted: its count is written now */
		*r = (struct meshd__refusals){ .src = *src, .window_ms = now ? now : 1 };
	}
	if (r->count < MESHD_REFUSE_BURST) {
		r->count++;
		return true;
	}
	if (!r->suppressed) {
		char a[ADDR_TEXT_MAX];
		log_warn("meshd",
			 "more than %d refused logins from %s within %d s: counted, not "
			 "recorded one by one",
			 MESHD_REFUSE_BURST, addr_ip_format(src, a), MESHD_REFUSE_WINDOW_MS / 1000);
	}
	r->suppressed++;
	text_clean(r->last_user, sizeof(r->last_user), user);
	return false;
}

void meshd__audit_decision(struct meshd_node *node, const struct sockaddr *peer, const char *user,
			   const struct sshd_decision *d)
{
	struct addr_ip ip;
	bool known = peer_ip(peer, &ip);
	enum audit_type t = d->action == VERDICT_ACCEPT	 ? AUDIT_SSH_ACCEPT
			    : d->action == VERDICT_CHECK ? AUDIT_SSH_CHECK_HOLD
							 : AUDIT_SSH_REFUSE;
	if (t == AUDIT_SSH_REFUSE) {
		meshd_audit_refuse(node, peer, user, d->local_user, d->message, 0);
		return;
	}
	if (node->audit)
		refusals_expire(node, now_mono_ms());
	meshd_audit_ssh(node, t, known ? &ip : NULL, user, d->local_user, NULL);
}

void meshd_audit_refuse(struct meshd_node *node, const struct sockaddr *peer, const char *user,
			const char *local_user, const char *why, uint64_t conn_id)
{
	struct addr_ip ip;
	bool known = peer_ip(peer, &ip);
	uint64_t now = now_mono_ms();
	if (!node->audit)
		return;
	refusals_expire(node, now);
	if (known && !refusal_queued(node, &ip, user, now))
		return;
	meshd_audit_session(node, AUDIT_SSH_REFUSE, known ? &ip : NULL, user, local_user, why, NULL,
			    conn_id);
}

/* ---- sshd's reports: revocations and forwardings ---- */

static void on_revoked(void *ctx, const struct sockaddr *peer, const char *user,
		       const char *local_user, const char *why)
{
	struct addr_ip ip;
	bool known = peer_ip(peer, &ip);
	meshd_audit_ssh(ctx, AUDIT_SSH_REVOKE, known ? &ip : NULL, user, local_user, why);
}

static void on_forward(void *ctx, const struct sockaddr *peer, const char *user,
		       const char *local_user, const char *what)
{
	struct addr_ip ip;
	bool known = peer_ip(peer, &ip);
	meshd_audit_ssh(ctx, AUDIT_SSH_FORWARD, known ? &ip : NULL, user, local_user, what);
}

int meshd__audit_hooks(struct meshd_node *node, struct sshd_hooks *hooks)
{
	(void)node; /* the reports' ctx is the authorization hook's: the node */
	hooks->revoked = on_revoked;
	hooks->forward = on_forward;
	return 0;
}
