/* What emits meshd's audit events (audit.h): the login's decision and the hold's outcome
 * (called from ssh.c), revocations and forwardings (sshd's hooks), and every session's start
 * and end, by wrapping the session hooks already set (the recording's) so unrecorded
 * sessions count too.  sshd only reports; what an event says is decided here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cmd/daemon/audit.h"
#include "cmd/daemon/internal.h"
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

void meshd__audit_decision(struct meshd_node *node, const struct sockaddr *peer, const char *user,
			   const struct sshd_decision *d)
{
	struct addr_ip ip;
	bool known = peer_ip(peer, &ip);
	enum audit_type t = d->action == VERDICT_ACCEPT	 ? AUDIT_SSH_ACCEPT
			    : d->action == VERDICT_CHECK ? AUDIT_SSH_CHECK_HOLD
							 : AUDIT_SSH_REFUSE;
	meshd_audit_ssh(node, t, known ? &ip : NULL, user, d->local_user,
			t == AUDIT_SSH_REFUSE ? d->message : NULL);
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

/* ---- sessions: around the hooks already set ---- */

struct meshd__audit_ssh {
	struct meshd_node *node;
	struct sshd_hooks inner; /* the wrapped session hooks (the recording's), maybe unset */
};

struct audit_sess {
	struct meshd__audit_ssh *w;
	void *inner; /* the wrapped hooks' pointer, NULL: they do not watch this one */
	struct addr_ip src;
	bool src_known;
	char ssh_user[SSHD_NAME_MAX], local_user[SSHD_NAME_MAX];
};

static void *sess_start(void *ctx, const struct sshd_session_info *si, char *refuse,
			size_t refuse_len)
{
	struct meshd__audit_ssh *w = ctx;
	void *inner = NULL;
	if (w->inner.session_start) {
		refuse[0] = '\0';
		inner = w->inner.session_start(w->inner.session_ctx, si, refuse, refuse_len);
		if (!inner && refuse[0])
			return NULL; /* refused: nothing runs (the recording said why) */
	}
	struct audit_sess *s = calloc(1, sizeof(*s));
	if (!s) {
		if (inner) /* cannot follow it: the inner pointer must still end */
			w->inner.session_end(inner, -1);
		snprintf(refuse, refuse_len, "meshd: out of memory");
		return NULL;
	}
	s->w = w;
	s->inner = inner;
	s->src_known = peer_ip(si->peer, &s->src);
	snprintf(s->ssh_user, sizeof(s->ssh_user), "%s", si->ssh_user ? si->ssh_user : "");
	snprintf(s->local_user, sizeof(s->local_user), "%s", si->local_user ? si->local_user : "");
	char what[AUDIT_TEXT_MAX + 1];
	snprintf(what, sizeof(what), "%s%s", si->command ? si->command : "shell",
		 si->pty ? " (pty)" : "");
	meshd_audit_ssh(w->node, AUDIT_SSH_SESSION_START, s->src_known ? &s->src : NULL,
			s->ssh_user, s->local_user, what);
	return s;
}

static bool sess_output(void *sess, const void *data, size_t len, bool is_stderr, char *message,
			size_t message_len)
{
	struct audit_sess *s = sess;
	return !s->inner ||
	       s->w->inner.session_output(s->inner, data, len, is_stderr, message, message_len);
}

static bool sess_input(void *sess, const void *data, size_t len, char *message, size_t message_len)
{
	struct audit_sess *s = sess;
	return !s->inner || s->w->inner.session_input(s->inner, data, len, message, message_len);
}

static void sess_resize(void *sess, unsigned cols, unsigned rows)
{
	struct audit_sess *s = sess;
	if (s->inner)
		s->w->inner.session_resize(s->inner, cols, rows);
}

static void sess_end(void *sess, int status)
{
	struct audit_sess *s = sess;
	if (s->inner)
		s->w->inner.session_end(s->inner, status);
	char how[64];
	if (status < 0)
		snprintf(how, sizeof(how), "ended by meshd");
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(status));
	meshd_audit_ssh(s->w->node, AUDIT_SSH_SESSION_END, s->src_known ? &s->src : NULL,
			s->ssh_user, s->local_user, how);
	free(s);
}

int meshd__audit_hooks(struct meshd_node *node, struct sshd_hooks *hooks)
{
	struct meshd__audit_ssh *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->node = node;
	w->inner = *hooks;
	hooks->session_start = sess_start;
	hooks->session_output = sess_output;
	hooks->session_resize = sess_resize;
	hooks->session_input = w->inner.session_input ? sess_input : NULL; /* --record-input */
	hooks->session_end = sess_end;
	hooks->session_ctx = w;
	hooks->revoked = on_revoked;
	hooks->forward = on_forward;
	node->audit_ssh = w;
	return 0;
}
