/* Authentication is authorization: the embedder's hook decides from the peer's address and the
 * requested user (accept, check or reject), the local user is looked up through NSS, and root only
 * when the decision permits it.  A check holds the auth request, shows the hook's banner and waits
 * for sshd_check_resolve().  A name ending in SSHD__KEY_SUFFIX asks for a verified key signature
 * instead of "none" (clients that refuse trivial authentication).  When the hook's answers change,
 * sshd_revalidate() closes the live sessions they no longer cover. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/now.h"
#include "sshd/internal.h"

int sshd__user_lookup(const char *name, struct sshd__user *out)
{
	struct passwd pw, *res = NULL;
	char buf[4096], *end;
	int rc;

	rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (!res && name[0] >= '0' && name[0] <= '9') {
		unsigned long uid = strtoul(name, &end, 10);
		if (*end == '\0' && uid < (1ul << 31))
			rc = getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res);
	}
	if (!res)
		return rc ? -rc : -ENOENT;
	if (strlen(pw.pw_name) >= sizeof(out->name) || strlen(pw.pw_dir) >= sizeof(out->home) ||
	    strlen(pw.pw_shell) >= sizeof(out->shell))
		return -ENAMETOOLONG;
	strcpy(out->name, pw.pw_name);
	strcpy(out->home, pw.pw_dir);
	strcpy(out->shell, pw.pw_shell);
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	return 0;
}

static void banner(struct sshd_conn *conn, const char *text)
{
	ssh_string s;
	char line[SSHD_MESSAGE_MAX + 128];

	snprintf(line, sizeof(line), "%s\n", text);
	s = ssh_string_from_char(line);
	if (s) {
		ssh_send_issue_banner(conn->session, s);
		ssh_string_free(s);
	}
}

/* Swap the auth request held during a check. */
ssh_message sshd__held_msg(struct sshd_conn *conn, ssh_message set)
{
	ssh_message old = conn->held;

	conn->held = set;
	return old;
}

static void refuse(struct sshd_conn *conn, const char *text)
{
	log_info(conn->subject, "refused %s: %s", conn->req_user, text);
	banner(conn, text);
	sshd__conn_close(conn, text);
}

static void accept_auth(struct sshd_conn *conn, ssh_message msg)
{
	char text[SSHD_MESSAGE_MAX + 64];
	int rc;

	rc = sshd__user_lookup(conn->decision.local_user, &conn->user);
	if (rc < 0) {
		snprintf(text, sizeof(text), "meshd: local user \"%s\" does not exist on this node",
			 conn->decision.local_user);
		refuse(conn, text);
		return;
	}
	if (conn->user.uid == 0 && !(conn->decision.flags & SSHD_ALLOW_ROOT)) {
		snprintf(text, sizeof(text),
			 "meshd: user \"%s\" is root (uid 0), which policy does not permit",
			 conn->decision.local_user);
		refuse(conn, text);
		return;
	}
	if (conn->key_required && ssh_message_subtype(msg) != SSH_AUTH_METHOD_PUBLICKEY) {
		ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_PUBLICKEY);
		ssh_message_reply_default(msg);
		return;
	}
	if (ssh_message_subtype(msg) == SSH_AUTH_METHOD_PUBLICKEY &&
	    ssh_message_auth_publickey_state(msg) == SSH_PUBLICKEY_STATE_NONE) {
		ssh_message_auth_reply_pk_ok_simple(msg);
		return;
	}
	if (ssh_message_subtype(msg) == SSH_AUTH_METHOD_PUBLICKEY &&
	    ssh_message_auth_publickey_state(msg) != SSH_PUBLICKEY_STATE_VALID) {
		ssh_message_reply_default(msg);
		return;
	}
	ssh_message_auth_reply_success(msg, 0);
	conn->state = SSHD__CONN_READY;
	if (conn->decision.max_duration_s)
		conn->deadline_ms = now_mono_ms() + (uint64_t)conn->decision.max_duration_s * 1000;
	sshd__conn_timer_arm(conn);
	log_info(conn->subject, "accepted %s as local user %s (uid %u)%s", conn->req_user,
		 conn->user.name, (unsigned)conn->user.uid,
		 conn->key_required ? " after a verified key signature" : "");
}

static void apply_decision(struct sshd_conn *conn, ssh_message msg)
{
	switch (conn->decision.action) {
	case VERDICT_ACCEPT:
		accept_auth(conn, msg);
		break;
	case VERDICT_CHECK:
		log_info(conn->subject, "holding %s for a check: %s", conn->req_user,
			 conn->decision.message);
		banner(conn, conn->decision.message);
		conn->state = SSHD__CONN_HELD;
		conn->check_pending = true;
		sshd__held_msg(conn, msg);
		return; /* msg kept */
	default:
		refuse(conn, conn->decision.message[0] ? conn->decision.message
						       : "meshd: access denied by policy");
		break;
	}
	ssh_message_free(msg);
}

/* Records the user an auth request names, SSHD__KEY_SUFFIX taken off (key_required says it
 * was there); true when the hook has not answered for exactly this yet. */
static bool req_user_set(struct sshd_conn *conn, const char *user)
{
	size_t n;
	bool key = sshd__req_user_key(user, &n);

	if (conn->have_decision && key == conn->key_required &&
	    strncmp(user, conn->req_user, n) == 0 && conn->req_user[n] == '\0')
		return false;
	snprintf(conn->req_user, sizeof(conn->req_user), "%.*s", (int)n, user);
	conn->key_required = key;
	return true;
}

void sshd__auth_handle(struct sshd_conn *conn, ssh_message msg)
{
	struct sshd_server *srv = conn->srv;
	const char *user = ssh_message_auth_user(msg);
	int method = ssh_message_subtype(msg);

	if (conn->state != SSHD__CONN_AUTH || conn->want_close) {
		ssh_message_free(msg);
		return;
	}
	if (++conn->auth_requests > SSHD__AUTH_REQUESTS_MAX) {
		refuse(conn, "meshd: too many authentication attempts");
		ssh_message_free(msg);
		return;
	}
	if (method != SSH_AUTH_METHOD_NONE && method != SSH_AUTH_METHOD_PASSWORD &&
	    method != SSH_AUTH_METHOD_PUBLICKEY) {
		ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_NONE | SSH_AUTH_METHOD_PASSWORD |
						      SSH_AUTH_METHOD_PUBLICKEY);
		ssh_message_reply_default(msg);
		ssh_message_free(msg);
		return;
	}
	if (!user || !user[0] || strlen(user) >= sizeof(conn->req_user)) {
		refuse(conn, "meshd: invalid user name");
		ssh_message_free(msg);
		return;
	}
	if (req_user_set(conn, user)) {
		memset(&conn->decision, 0, sizeof(conn->decision));
		srv->hooks.authorize(srv->hooks.ctx, (struct sockaddr *)&conn->peer, conn->req_user,
				     &conn->check, &conn->decision);
		conn->decision.local_user[sizeof(conn->decision.local_user) - 1] = '\0';
		conn->decision.message[sizeof(conn->decision.message) - 1] = '\0';
		conn->decision.accept_env[sizeof(conn->decision.accept_env) - 1] = '\0';
		conn->have_decision = true;
	}
	apply_decision(conn, msg);
}

void sshd_check_banner(struct sshd_check *check, const char *text)
{
	struct sshd_conn *conn = check->conn;

	if (!conn->check_pending)
		return;
	banner(conn, text);
	sshd__conn_process(conn);
}

void sshd_check_resolve(struct sshd_check *check, const struct sshd_decision *final)
{
	struct sshd_conn *conn = check->conn;
	ssh_message msg;

	if (!conn->check_pending)
		return;
	conn->check_pending = false;
	conn->decision = *final;
	conn->state = SSHD__CONN_AUTH;
	msg = sshd__held_msg(conn, NULL);
	if (conn->decision.action == VERDICT_CHECK)
		conn->decision.action = VERDICT_REJECT;
	if (msg)
		apply_decision(conn, msg);
	sshd__conn_process(conn);
}

/* Does the hook's new answer still cover this live session?  The same local user exactly
 * (name and uid, as NSS says now), root only when still permitted, and every forwarding
 * or agent the session uses still allowed.  A check answer counts as an accept: the
 * session passed its check.  Fills `why` (for the log) when it does not. */
static bool still_allowed(struct sshd_conn *conn, const struct sshd_decision *d, char *why,
			  size_t size)
{
	struct sshd__user u;
	unsigned lost;

	if (d->action != VERDICT_ACCEPT && d->action != VERDICT_CHECK) {
		snprintf(why, size, "no longer allowed");
		return false;
	}
	if (sshd__user_lookup(d->local_user, &u) < 0 || u.uid != conn->user.uid ||
	    strcmp(u.name, conn->user.name) != 0) {
		snprintf(why, size, "local user is now \"%s\", not %s (uid %u)", d->local_user,
			 conn->user.name, (unsigned)conn->user.uid);
		return false;
	}
	if (conn->user.uid == 0 && !(d->flags & SSHD_ALLOW_ROOT)) {
		snprintf(why, size, "root logins are no longer permitted");
		return false;
	}
	lost = sshd__fwd_in_use(conn) & ~d->flags;
	if (lost) {
		snprintf(why, size, "%s%s%sno longer permitted",
			 lost & SSHD_ALLOW_AGENT ? "agent forwarding " : "",
			 lost & SSHD_ALLOW_LOCAL_FWD ? "local port forwarding " : "",
			 lost & SSHD_ALLOW_REMOTE_FWD ? "remote port forwarding " : "");
		return false;
	}
	return true;
}

unsigned sshd_revalidate(struct sshd_server *srv)
{
	struct sshd__node *n, *next;
	unsigned closed = 0;

	for (n = srv->conns.next; n != &srv->conns; n = next) {
		struct sshd_conn *conn = container_of(n, struct sshd_conn, node);
		struct sshd_decision d;
		char why[SSHD_NAME_MAX * 2 + 96];

		next = n->next;
		if (conn->state != SSHD__CONN_READY)
			continue;
		memset(&d, 0, sizeof(d));
		srv->hooks.authorize(srv->hooks.ctx, (struct sockaddr *)&conn->peer, conn->req_user,
				     NULL, &d);
		d.local_user[sizeof(d.local_user) - 1] = '\0';
		d.accept_env[sizeof(d.accept_env) - 1] = '\0';
		if (still_allowed(conn, &d, why, sizeof(why))) {
			/* what the session has not used yet follows the new policy */
			conn->decision.flags = d.flags;
			continue;
		}
		log_info(conn->subject, "revalidation: %s: %s", conn->req_user, why);
		if (srv->hooks.revoked)
			srv->hooks.revoked(srv->hooks.ctx, (struct sockaddr *)&conn->peer,
					   conn->req_user, conn->decision.local_user, why);
		sshd__conn_abort_all(conn, "Access revoked.");
		sshd__conn_close(conn, "Access revoked.");
		sshd__conn_process(conn);
		closed++;
	}
	return closed;
}
