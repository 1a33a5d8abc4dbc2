/* SSH authorization for meshd's embedded server, and check-mode holds.  sshd asks
 * meshd__on_ssh_authorize for each login: the policy engine decides over the netmap's
 * compiled SSH rules (meshd_ssh_decide, which the tests and `policy explain` share); a
 * check verdict holds the login while control asks the owner to sign in again, and the
 * approval, when it comes, only narrows what the netmap of that moment allows. */
#include "cmd/daemon/internal.h"

#include "cmd/daemon/audit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/client/client.h"
#include "control/policy/policy.h"
#include "netstack/netstack.h"
#include "sshd/sshd.h"

static const char *const subject = "meshd";

/* A check-mode login waiting for control's answer. */
struct hold {
	struct hold *next;
	struct meshd_node *node;
	struct sshd_check *check; /* NULL once the connection went away */
	struct sshd_decision accept;
	struct addr_prefix src;
	char user[64];
};

static void start_hold(struct meshd_node *node, const struct addr_prefix *src, const char *user,
		       struct sshd_check *check, uint32_t check_period_s,
		       const struct sshd_decision *accept, struct sshd_decision *out);

/* The host prefix of a connection's source (an IPv4-mapped IPv6 source as IPv4). */
static bool sockaddr_to_prefix(const struct sockaddr *sa, struct addr_prefix *out)
{
	struct addr_endpoint e;
	if (!addr_endpoint_from_sockaddr(sa, &e)) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	addr_ip_unmap(&e.ip);
	*out = addr_host_prefix(&e.ip);
	return true;
}

enum verdict meshd_ssh_decide(const struct ctl_netmap *nm, const struct addr_prefix *src,
			      const char *user, struct sshd_decision *accept,
			      uint32_t *check_period_s, char *message, size_t msglen)
{
	struct pol_decision d;
	pol_ssh_rules_decide(nm ? (const struct pol_ssh_rule *const *)nm->ssh : NULL,
			     nm ? nm->n_ssh : 0, &src->ip, user, &d);
	memset(accept, 0, sizeof(*accept));
	if (d.verdict == VERDICT_REJECT) {
		if (d.src_allowed)
			snprintf(message, msglen,
				 "policy does not permit you to SSH as user \"%s\"", user);
		else
			snprintf(message, msglen, "policy does not permit you to SSH to this node");
		return VERDICT_REJECT;
	}
	const struct pol_ssh_rule *r = d.ssh_rule;
	accept->action = VERDICT_ACCEPT;
	snprintf(accept->local_user, sizeof(accept->local_user), "%s", d.local_user);
	accept->flags = (r->allow_agent_forwarding ? SSHD_ALLOW_AGENT : 0) |
			(r->allow_local_port_forwarding ? SSHD_ALLOW_LOCAL_FWD : 0) |
			(r->allow_remote_port_forwarding ? SSHD_ALLOW_REMOTE_FWD : 0) |
			(d.refuse_uid0 ? 0 : SSHD_ALLOW_ROOT);
	size_t o = 0;
	for (size_t i = 0; i < r->n_accept_env; i++) {
		size_t room = sizeof(accept->accept_env) - o;
		int w =
		    snprintf(accept->accept_env + o, room, "%s%s", o ? "," : "", r->accept_env[i]);
		if (w < 0 || (size_t)w >= room) {
			accept->accept_env[o] =
			    '\0'; /* too many patterns: keep the ones that fit */
			break;
		}
		o += (size_t)w;
	}
	*check_period_s = r->check_period_s > UINT32_MAX ? UINT32_MAX : (uint32_t)r->check_period_s;
	return d.verdict;
}

/* Without root, meshd can start sessions only as the user it runs as. */
static bool local_user_possible(const char *local_user, struct sshd_decision *out)
{
	uid_t me = geteuid();
	if (me == 0)
		return true;
	char buf[4096];
	struct passwd pw, *found = NULL;
	struct passwd self, *self_found = NULL;
	char sbuf[4096];
	getpwnam_r(local_user, &pw, buf, sizeof(buf), &found);
	if (found && found->pw_uid == me)
		return true;
	getpwuid_r(me, &self, sbuf, sizeof(sbuf), &self_found);
	snprintf(out->message, sizeof(out->message),
		 "meshd on this node runs without root (as \"%s\") and can only log you in as "
		 "\"%s\", not as \"%s\"",
		 self_found ? self_found->pw_name : "?", self_found ? self_found->pw_name : "?",
		 local_user);
	out->action = VERDICT_REJECT;
	return false;
}

static void authorize(struct meshd_node *node, const struct sockaddr *peer, const char *user,
		      struct sshd_check *check, struct sshd_decision *out)
{
	struct addr_prefix src;
	memset(out, 0, sizeof(*out));
	out->action = VERDICT_REJECT;
	if (!sockaddr_to_prefix(peer, &src)) {
		snprintf(out->message, sizeof(out->message),
			 "policy does not permit you to SSH to this node");
		return;
	}
	/* What an accept (now, or once the check is approved) looks like. */
	struct sshd_decision accept;
	uint32_t period = 0;
	enum verdict v = meshd_ssh_decide(node->nm, &src, user, &accept, &period, out->message,
					  sizeof(out->message));
	if (v == VERDICT_REJECT)
		return;
	if (!local_user_possible(accept.local_user, out))
		return;
	if (v == VERDICT_CHECK && !check) {
		/* Revalidation of a session that passed its check: no new hold, but the full
		 * answer, so sshd compares the local user and the permissions. */
		*out = accept;
		out->action = VERDICT_CHECK;
	} else if (v == VERDICT_CHECK) {
		start_hold(node, &src, user, check, period, &accept, out);
	} else {
		*out = accept;
	}
}

void meshd__on_ssh_authorize(void *ctx, const struct sockaddr *peer, const char *user,
			     struct sshd_check *check, struct sshd_decision *out)
{
	authorize(ctx, peer, user, check, out);
	if (check) /* a login, not a revalidation */
		meshd__audit_decision(ctx, peer, user, out);
}

static void hold_unlink(struct hold *h);

/* The hold's outcome, for the audit log. */
static void hold_audit(const struct hold *h, const struct sshd_decision *d)
{
	meshd_audit_ssh(
	    h->node, d->action == VERDICT_ACCEPT ? AUDIT_SSH_CHECK_APPROVE : AUDIT_SSH_CHECK_REJECT,
	    &h->src.ip, h->user, h->accept.local_user,
	    d->action == VERDICT_ACCEPT ? NULL : d->message);
}

void meshd__on_ssh_check_cancel(void *ctx, struct sshd_check *check)
{
	struct meshd_node *node = ctx;
	struct hold *h = node->holds;
	while (h && h->check != check)
		h = h->next;
	if (!h)
		return;
	hold_audit(h, &(struct sshd_decision){ .action = VERDICT_REJECT,
					       .message = "the client left while held" });
	if (node->control) {
		/* Control forgets it (it stops counting against its caps); no answer comes. */
		ctl_client_hold_cancel(node->control, h);
		hold_unlink(h);
		free(h);
	} else {
		h->check = NULL; /* the answer, when it comes, is dropped */
	}
}

void meshd__on_ssh_accept(void *ctx, int fd, const struct ns_packet_info *info)
{
	struct meshd_node *node = ctx;
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (info->family == AF_INET) {
		struct sockaddr_in *in = (void *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(info->sport);
		memcpy(&in->sin_addr, info->src, 4);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (void *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(info->sport);
		memcpy(&in6->sin6_addr, info->src, 16);
		len = sizeof(*in6);
	}
	if (!node->sshd) {
		close(fd);
		return;
	}
	int err = sshd_accept_fd(node->sshd, fd, (struct sockaddr *)&ss, len);
	if (err)
		log_warn(subject, "ssh: connection refused: %s", strerror(-err));
}

/* ---- check mode: a held login waits for control ---- */

static void hold_unlink(struct hold *h)
{
	for (struct hold **pp = &h->node->holds; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
}

/* An approval only ever narrows what the policy allows when it arrives: the netmap may
 * have changed while the login waited.  The same local user must still be allowed, by a
 * check or accept rule; permissions are those both grant. */
static void narrow_to_policy(const struct hold *h, struct sshd_decision *d, enum verdict *v,
			     const char **msg)
{
	struct sshd_decision now;
	uint32_t period;
	char why[SSHD_MESSAGE_MAX];
	if (meshd_ssh_decide(h->node->nm, &h->src, h->user, &now, &period, why, sizeof(why)) ==
		VERDICT_REJECT ||
	    strcmp(now.local_user, d->local_user) != 0) {
		*v = VERDICT_REJECT;
		*msg = "the policy no longer allows this login";
		return;
	}
	d->flags &= now.flags;
	if (strcmp(now.accept_env, d->accept_env) != 0)
		d->accept_env[0] = '\0';
}

static void on_hold_answer(void *ctx, enum ctl_hold_state st, enum verdict v, const char *msg)
{
	struct hold *h = ctx;
	if (st == CTL_HOLD_PENDING) {
		if (h->check) {
			char line[SSHD_MESSAGE_MAX];
			snprintf(
			    line, sizeof(line),
			    "# Mesh check-mode login: to approve this login as \"%s\", visit:\n"
			    "#   %s",
			    h->user, msg ? msg : "(no URL)");
			sshd_check_banner(h->check, line);
		}
		return;
	}
	hold_unlink(h);
	if (h->check) {
		struct sshd_decision d = h->accept;
		if (st != CTL_HOLD_DECIDED)
			v = VERDICT_REJECT;
		else if (v == VERDICT_ACCEPT)
			narrow_to_policy(h, &d, &v, &msg);
		if (v != VERDICT_ACCEPT) {
			memset(&d, 0, sizeof(d));
			d.action = VERDICT_REJECT;
			snprintf(d.message, sizeof(d.message), "%s",
				 st == CTL_HOLD_DECIDED ? "check-mode login was rejected"
							: "check-mode login failed: control error");
			if (msg && *msg)
				snprintf(d.message + strlen(d.message),
					 sizeof(d.message) - strlen(d.message), ": %s", msg);
		}
		hold_audit(h, &d);
		sshd_check_resolve(h->check, &d);
	}
	free(h);
}

/* Fills *out with CHECK and asks control; the answer resolves the check later. */
static void start_hold(struct meshd_node *node, const struct addr_prefix *src, const char *user,
		       struct sshd_check *check, uint32_t check_period_s,
		       const struct sshd_decision *accept, struct sshd_decision *out)
{
	if (!node->control) {
		snprintf(out->message, sizeof(out->message),
			 "policy requires a check-mode login for user \"%s\", but this node has no "
			 "connection to the control server",
			 user);
		return;
	}
	struct hold *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(out->message, sizeof(out->message), "meshd: out of memory");
		return;
	}
	h->node = node;
	h->check = check;
	snprintf(h->user, sizeof(h->user), "%s", user);
	h->src = *src;
	h->accept = *accept;
	char addr[ADDR_TEXT_MAX];
	addr_ip_format(&src->ip, addr);
	h->next = node->holds;
	node->holds = h;
	int err = ctl_client_hold(node->control, addr, user, check_period_s, on_hold_answer, h);
	if (err) {
		hold_unlink(h);
		free(h);
		snprintf(out->message, sizeof(out->message),
			 "check-mode login for \"%s\" cannot reach the control server: %s", user,
			 strerror(-err));
		return;
	}
	out->action = VERDICT_CHECK;
	snprintf(out->message, sizeof(out->message),
		 "# Mesh: policy requires a check-mode login as \"%s\"; asking the control "
		 "server...",
		 user);
}

/* Holds die with the client that carries them: answer them now. */
void meshd__flush_holds(struct meshd_node *node, const char *why)
{
	while (node->holds) {
		struct hold *h = node->holds;
		node->holds = h->next;
		if (h->check) {
			struct sshd_decision d = { .action = VERDICT_REJECT };
			snprintf(d.message, sizeof(d.message), "check-mode login abandoned: %s",
				 why);
			hold_audit(h, &d);
			sshd_check_resolve(h->check, &d);
		}
		free(h);
	}
}
