/* The server object and its connections: host keys, libssh sessions driven by the libuv
 * loop, authentication through the embedder's hook, lifetime (pre-auth timeout, session
 * duration, revalidation) and the reaping of session children.
 *
 * libssh runs non-blocking.  Each connection has one ssh_event holding its socket; a
 * uv_poll_t on the same fd calls ssh_event_dopoll(event, 0) when the socket is readable
 * (or writable while libssh has output queued, ssh_get_poll_flags()).  Requests are not
 * handled inside libssh callbacks: they queue up as ssh_message objects that we pop after
 * each poll, which lets a check-mode auth request be held (and answered later) without
 * stalling the loop.  Channel data, EOF and close arrive through channel callbacks
 * (session.c, forward.c) that only record state; the pump after each poll acts on it. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/now.h"
#include "sshd/sshd_int.h"

#define SUBJ "sshd"

static void conn_timer_arm(struct sshd_conn *conn);
static void on_poll(uv_poll_t *h, int status, int events);

/* ---- host keys ---- */

static int hostkey_load(struct sshd_server *srv, const char *file, enum ssh_keytypes_e type,
			int bits)
{
	char path[512], tmp[520];
	ssh_key key = NULL;
	char *b64 = NULL, *fp = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	struct sshd__hostkey *hk = &srv->keys[srv->nkeys];
	int rc = -EINVAL;

	snprintf(path, sizeof(path), "%s/%s", srv->state_dir, file);
	if (access(path, F_OK) == 0) {
		if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK) {
			log_err(SUBJ, "host key %s: cannot be read (not an OpenSSH private key?)",
				path);
			return -EINVAL;
		}
	} else {
		mode_t old;
		if (ssh_pki_generate(type, bits, &key) != SSH_OK) {
			log_err(SUBJ, "host key %s: generation failed", path);
			return -EIO;
		}
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		unlink(tmp);
		old = umask(077);
		rc = ssh_pki_export_privkey_file(key, NULL, NULL, NULL, tmp);
		umask(old);
		if (rc != SSH_OK || chmod(tmp, 0600) < 0 || rename(tmp, path) < 0) {
			log_err(SUBJ, "host key %s: cannot be written", path);
			unlink(tmp);
			ssh_key_free(key);
			return -EIO;
		}
		log_info(SUBJ, "generated host key %s", path);
	}
	if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK ||
	    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0 ||
	    !(fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen))) {
		rc = -ENOMEM;
		goto out;
	}
	hk->public_line = malloc(strlen(b64) + 64);
	hk->fingerprint = strdup(fp);
	if (!hk->public_line || !hk->fingerprint) {
		free(hk->public_line);
		free(hk->fingerprint);
		rc = -ENOMEM;
		goto out;
	}
	sprintf(hk->public_line, "%s %s", ssh_key_type_to_char(ssh_key_type(key)), b64);
	if (ssh_bind_options_set(srv->bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) != SSH_OK) {
		log_err(SUBJ, "host key %s: rejected by libssh: %s", path,
			ssh_get_error(srv->bind));
		free(hk->public_line);
		free(hk->fingerprint);
		rc = -EINVAL;
		goto out;
	}
	key = NULL; /* the bind owns it now */
	srv->nkeys++;
	log_info(SUBJ, "host key %s", hk->fingerprint);
	rc = 0;
out:
	ssh_string_free_char(b64);
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return rc;
}

/* ---- children ---- */

struct child {
	struct sshd__node node;
	pid_t pid;
	struct sshd__chan *chan;
	struct sshd__cg *cg; /* the session's cgroup: removable once this child is gone */
};

int sshd__child_track(struct sshd_server *srv, pid_t pid, struct sshd__chan *chan,
		      struct sshd__cg *cg)
{
	struct child *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->pid = pid;
	c->chan = chan;
	c->cg = cg;
	sshd__list_add(&srv->children, &c->node);
	srv->nchildren++;
	return 0;
}

void sshd__child_forget_chan(struct sshd_server *srv, struct sshd__chan *chan)
{
	struct sshd__node *n;

	for (n = srv->children.next; n != &srv->children; n = n->next) {
		struct child *c = container_of(n, struct child, node);
		if (c->chan == chan)
			c->chan = NULL;
	}
}

static void on_sigchld(uv_signal_t *h, int sig)
{
	struct sshd_server *srv = container_of(h, struct sshd_server, sigchld);
	struct sshd__node *n, *next;

	for (n = srv->children.next; n != &srv->children; n = next) {
		struct child *c = container_of(n, struct child, node);
		int status;
		pid_t r;

		next = n->next;
		r = waitpid(c->pid, &status, WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR))
			continue;
		sshd__list_del(&c->node);
		srv->nchildren--;
		if (c->cg)
			c->cg->live = false;
		if (r > 0 && c->chan) {
			struct sshd_conn *conn = c->chan->conn;
			sshd__chan_exited(c->chan, status);
			if (conn)
				sshd__conn_process(conn);
		}
		free(c);
	}
	sshd__cg_sweep(srv, false);
}

/* ---- users ---- */

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

/* ---- connections ---- */

static void conn_handle_closed(uv_handle_t *h)
{
	struct sshd_conn *conn = h->data;

	if (--conn->handles > 0)
		return;
	if (conn->event) {
		ssh_event_free(conn->event);
	}
	ssh_free(conn->session);
	free(conn);
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
static ssh_message held_msg(struct sshd_conn *conn, ssh_message set)
{
	ssh_message old = conn->held;

	conn->held = set;
	return old;
}

/* Tear the connection down now (not from inside libssh). */
static void conn_destroy(struct sshd_conn *conn)
{
	struct sshd_server *srv = conn->srv;
	struct sshd__node *n, *next;

	if (conn->state == SSHD__CONN_DYING)
		return;
	conn->state = SSHD__CONN_DYING;
	if (conn->check_pending) {
		conn->check_pending = false;
		if (srv->hooks.check_cancel)
			srv->hooks.check_cancel(srv->hooks.ctx, &conn->check);
	}
	if (conn->held)
		ssh_message_free(held_msg(conn, NULL));
	uv_poll_stop(&conn->poll);
	uv_timer_stop(&conn->timer);
	for (n = conn->chans.next; n != &conn->chans; n = next) {
		struct sshd__chan *chan = container_of(n, struct sshd__chan, node);
		next = n->next;
		sshd__chan_kill(chan, SIGHUP);
		sshd__chan_release(chan);
	}
	sshd__fwd_close_all(conn);
	if (conn->close_reason[0])
		ssh_session_set_disconnect_message(conn->session, conn->close_reason);
	ssh_disconnect(conn->session);
	sshd__list_del(&conn->node);
	srv->nconns--;
	log_info(conn->subject, "closed%s%s", conn->close_reason[0] ? ": " : "",
		 conn->close_reason);
	uv_close((uv_handle_t *)&conn->poll, conn_handle_closed);
	uv_close((uv_handle_t *)&conn->timer, conn_handle_closed);
}

void sshd__conn_close(struct sshd_conn *conn, const char *reason)
{
	if (reason && !conn->close_reason[0])
		snprintf(conn->close_reason, sizeof(conn->close_reason), "%s", reason);
	conn->want_close = true;
}

void sshd__conn_update(struct sshd_conn *conn)
{
	int want = UV_READABLE;

	if (conn->state == SSHD__CONN_DYING)
		return;
	if (ssh_get_poll_flags(conn->session) & SSH_WRITE_PENDING)
		want |= UV_WRITABLE;
	if (want != conn->poll_events) {
		conn->poll_events = want;
		uv_poll_start(&conn->poll, want, on_poll);
	}
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
	conn_timer_arm(conn);
	log_info(conn->subject, "accepted %s as local user %s (uid %u)", conn->req_user,
		 conn->user.name, (unsigned)conn->user.uid);
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
		held_msg(conn, msg);
		return; /* msg kept */
	default:
		refuse(conn, conn->decision.message[0] ? conn->decision.message
						       : "meshd: access denied by policy");
		break;
	}
	ssh_message_free(msg);
}

static void handle_auth(struct sshd_conn *conn, ssh_message msg)
{
	struct sshd_server *srv = conn->srv;
	const char *user = ssh_message_auth_user(msg);
	int method = ssh_message_subtype(msg);

	if (conn->state != SSHD__CONN_AUTH || conn->want_close) {
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
	if (!conn->have_decision || strcmp(user, conn->req_user) != 0) {
		snprintf(conn->req_user, sizeof(conn->req_user), "%s", user);
		memset(&conn->decision, 0, sizeof(conn->decision));
		srv->hooks.authorize(srv->hooks.ctx, (struct sockaddr *)&conn->peer, user,
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
	msg = held_msg(conn, NULL);
	if (conn->decision.action == VERDICT_CHECK)
		conn->decision.action = VERDICT_REJECT;
	if (msg)
		apply_decision(conn, msg);
	sshd__conn_process(conn);
}

bool sshd__conn_room(struct sshd_conn *conn, char *why, size_t size)
{
	struct sshd_server *srv = conn->srv;

	if (conn->nchan >= srv->max_channels) {
		snprintf(why, size, "meshd: channel refused: this connection has %u channels open "
				    "(limit %u)",
			 conn->nchan, srv->max_channels);
		return false;
	}
	if (conn->budget.max - conn->budget.used < SSHD__INQ_CAP) {
		snprintf(why, size, "meshd: channel refused: this connection buffers %zu KiB of "
				    "client data (limit %zu KiB)",
			 conn->budget.used / 1024, conn->budget.max / 1024);
		return false;
	}
	return true;
}

/* libssh 0.10 can refuse a channel only with "administratively prohibited" and no text,
 * so the reason travels as an SSH debug message just before (ssh -v shows "Remote: …"). */
void sshd__refuse_open(struct sshd_conn *conn, ssh_message msg, const char *why)
{
	log_info(conn->subject, "%s", why);
	ssh_send_debug(conn->session, why, 1);
	ssh_message_reply_default(msg);
}

static struct sshd__chan *chan_of(struct sshd_conn *conn, ssh_channel channel)
{
	struct sshd__node *n;

	for (n = conn->chans.next; n != &conn->chans; n = n->next) {
		struct sshd__chan *chan = container_of(n, struct sshd__chan, node);
		if (chan->channel == channel)
			return chan;
	}
	return NULL;
}

static void handle_msg(struct sshd_conn *conn, ssh_message msg)
{
	int type = ssh_message_type(msg), rc = 1;

	switch (type) {
	case SSH_REQUEST_SERVICE:
		ssh_message_service_reply_success(msg);
		rc = 0;
		break;
	case SSH_REQUEST_AUTH:
		handle_auth(conn, msg);
		return;
	case SSH_REQUEST_CHANNEL_OPEN:
		if (conn->state != SSHD__CONN_READY)
			break;
		if (ssh_message_subtype(msg) == SSH_CHANNEL_SESSION) {
			struct sshd__chan *chan;
			char why[SSHD__WHY_MAX];
			if (!sshd__conn_room(conn, why, sizeof(why))) {
				sshd__refuse_open(conn, msg, why);
				rc = 0;
				break;
			}
			chan = sshd__chan_open(conn);
			if (!chan)
				break;
			chan->channel = ssh_message_channel_request_open_reply_accept(msg);
			if (!chan->channel) {
				sshd__chan_release(chan);
				rc = 0;
				break;
			}
			ssh_set_channel_callbacks(chan->channel, &chan->cb);
			rc = 0;
		} else if (ssh_message_subtype(msg) == SSH_CHANNEL_DIRECT_TCPIP) {
			rc = sshd__fwd_direct(conn, msg);
			if (rc == 2)
				return; /* kept until the connect is done */
		}
		break;
	case SSH_REQUEST_CHANNEL: {
		struct sshd__chan *chan;
		if (conn->state != SSHD__CONN_READY)
			break;
		chan = chan_of(conn, ssh_message_channel_request_channel(msg));
		if (chan)
			rc = sshd__chan_request(chan, msg);
		break;
	}
	case SSH_REQUEST_GLOBAL:
		if (conn->state == SSHD__CONN_READY)
			rc = sshd__fwd_global(conn, msg);
		break;
	default:
		break;
	}
	if (rc)
		ssh_message_reply_default(msg);
	ssh_message_free(msg);
}

/* After any activity (socket, child, timer, hook): pop queued requests, move channel data, retire, close. */
void sshd__conn_process(struct sshd_conn *conn)
{
	struct sshd__node *n, *next;
	ssh_message msg;
	int status;

	if (conn->state == SSHD__CONN_DYING)
		return;
	while (!conn->want_close && (msg = ssh_message_get(conn->session)) != NULL)
		handle_msg(conn, msg);
	for (n = conn->chans.next; n != &conn->chans; n = next) {
		next = n->next;
		sshd__chan_pump(container_of(n, struct sshd__chan, node));
	}
	sshd__fwd_pump(conn);
	status = ssh_get_status(conn->session);
	if ((status & (SSH_CLOSED | SSH_CLOSED_ERROR)) || !ssh_is_connected(conn->session)) {
		if (!conn->close_reason[0])
			snprintf(conn->close_reason, sizeof(conn->close_reason), "%s",
				 "client disconnected");
		conn->want_close = true;
	}
	if (conn->want_close) {
		conn_destroy(conn);
		return;
	}
	sshd__conn_update(conn);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct sshd_conn *conn = h->data;

	conn->in_dopoll++;
	ssh_event_dopoll(conn->event, 0);
	conn->in_dopoll--;
	sshd__conn_process(conn);
}

/* End every session of the connection with a message on its stderr. */
static void abort_all(struct sshd_conn *conn, const char *message)
{
	while (conn->chans.next != &conn->chans)
		sshd__chan_abort(container_of(conn->chans.next, struct sshd__chan, node),
				 message);
}

static void on_timer(uv_timer_t *t)
{
	struct sshd_conn *conn = t->data;
	uint64_t now = now_mono_ms();

	if (conn->state == SSHD__CONN_AUTH) {
		sshd__conn_close(conn, "authentication timed out");
	} else if (conn->deadline_ms && now >= conn->deadline_ms) {
		abort_all(conn, "meshd: session time limit reached");
		sshd__conn_close(conn, "session time limit reached");
	} else if (conn->srv->keepalive_ms && conn->state == SSHD__CONN_READY) {
		ssh_send_keepalive(conn->session);
	}
	sshd__conn_process(conn);
	if (conn->state != SSHD__CONN_DYING)
		conn_timer_arm(conn);
}

static void conn_timer_arm(struct sshd_conn *conn)
{
	uint64_t now = now_mono_ms(), wait = 0;

	if (conn->state == SSHD__CONN_AUTH) {
		wait = conn->srv->preauth_timeout_ms;
	} else if (conn->state == SSHD__CONN_READY) {
		if (conn->deadline_ms)
			wait = conn->deadline_ms > now ? conn->deadline_ms - now : 1;
		if (conn->srv->keepalive_ms && (!wait || wait > conn->srv->keepalive_ms))
			wait = conn->srv->keepalive_ms;
	}
	if (wait)
		uv_timer_start(&conn->timer, on_timer, wait, 0);
	else
		uv_timer_stop(&conn->timer);
}

static void addr_text(const struct sockaddr *sa, char *host, size_t size, int *port)
{
	host[0] = '\0';
	*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)size);
		*port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)size);
		*port = ntohs(in6->sin6_port);
	}
	if (!host[0])
		snprintf(host, size, "0.0.0.0");
}

int sshd_accept_fd(struct sshd_server *srv, int fd, const struct sockaddr *peer,
		   socklen_t peer_len)
{
	struct sockaddr_storage local;
	socklen_t local_len = sizeof(local);
	struct sshd_conn *conn;
	int rc;

	if (srv->closing || peer_len > sizeof(conn->peer)) {
		close(fd);
		return -EINVAL;
	}
	if (srv->nconns >= srv->max_connections) {
		log_warn(SUBJ, "connection limit (%u) reached, refusing a connection",
			 srv->max_connections);
		close(fd);
		return -EMFILE;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn) {
		close(fd);
		return -ENOMEM;
	}
	conn->srv = srv;
	conn->fd = fd;
	conn->check.conn = conn;
	sshd__list_init(&conn->chans);
	sshd__list_init(&conn->fwds);
	sshd__list_init(&conn->dials);
	conn->budget.max = srv->max_conn_buffer;
	memcpy(&conn->peer, peer, peer_len);
	conn->peer_len = peer_len;
	addr_text(peer, conn->peer_host, sizeof(conn->peer_host), &conn->peer_port);
	memset(&local, 0, sizeof(local));
	if (getsockname(fd, (struct sockaddr *)&local, &local_len) < 0)
		local.ss_family = AF_UNSPEC;
	addr_text((struct sockaddr *)&local, conn->local_host, sizeof(conn->local_host),
		  &conn->local_port);
	if (!conn->local_port)
		conn->local_port = 22;
	snprintf(conn->subject, sizeof(conn->subject), "sshd: %s:%d", conn->peer_host,
		 conn->peer_port);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);

	conn->session = ssh_new();
	if (!conn->session) {
		close(fd);
		free(conn);
		return -ENOMEM;
	}
	if (ssh_bind_accept_fd(srv->bind, conn->session, fd) != SSH_OK) {
		log_warn(SUBJ, "cannot start a session: %s", ssh_get_error(srv->bind));
		ssh_free(conn->session); /* closes fd once libssh owns it */
		free(conn);
		return -EIO;
	}
	ssh_set_blocking(conn->session, 0);
	ssh_set_auth_methods(conn->session, SSH_AUTH_METHOD_NONE | SSH_AUTH_METHOD_PASSWORD |
						    SSH_AUTH_METHOD_PUBLICKEY);
	rc = ssh_handle_key_exchange(conn->session);
	conn->event = ssh_event_new();
	if ((rc != SSH_OK && rc != SSH_AGAIN) || !conn->event ||
	    ssh_event_add_session(conn->event, conn->session) != SSH_OK) {
		log_warn(SUBJ, "key exchange could not start: %s", ssh_get_error(conn->session));
		if (conn->event)
			ssh_event_free(conn->event);
		ssh_free(conn->session);
		free(conn);
		return -EIO;
	}
	uv_poll_init(srv->loop, &conn->poll, fd);
	uv_timer_init(srv->loop, &conn->timer);
	conn->poll.data = conn;
	conn->timer.data = conn;
	conn->handles = 2;
	conn->poll_events = UV_READABLE;
	uv_poll_start(&conn->poll, UV_READABLE, on_poll);
	sshd__list_add(&srv->conns, &conn->node);
	srv->nconns++;
	conn->state = SSHD__CONN_AUTH;
	conn_timer_arm(conn);
	log_info(conn->subject, "connection accepted");
	sshd__conn_update(conn);
	return 0;
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
		srv->hooks.authorize(srv->hooks.ctx, (struct sockaddr *)&conn->peer,
				     conn->req_user, NULL, &d);
		d.local_user[sizeof(d.local_user) - 1] = '\0';
		d.accept_env[sizeof(d.accept_env) - 1] = '\0';
		if (still_allowed(conn, &d, why, sizeof(why))) {
			/* what the session has not used yet follows the new policy */
			conn->decision.flags = d.flags;
			continue;
		}
		log_info(conn->subject, "revalidation: %s: %s", conn->req_user, why);
		abort_all(conn, "Access revoked.");
		sshd__conn_close(conn, "Access revoked.");
		sshd__conn_process(conn);
		closed++;
	}
	return closed;
}

/* ---- the server ---- */

int sshd_server_new(struct uv_loop_s *loop, const struct sshd_config *cfg,
		    const struct sshd_hooks *hooks, struct sshd_server **out)
{
	struct sshd_server *srv;
	bool no = false;
	int rc;

	if (!cfg || !cfg->state_dir || !hooks || !hooks->authorize)
		return -EINVAL;
	if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_err(SUBJ, "state directory %s: %s", cfg->state_dir, strerror(errno));
		return rc;
	}
	ssh_init();
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->hooks = *hooks;
	srv->state_dir = strdup(cfg->state_dir);
	srv->pam_service = strdup(cfg->pam_service ? cfg->pam_service : "meshd");
	srv->sftp_server = strdup(cfg->sftp_server ? cfg->sftp_server
						   : "/usr/lib/openssh/sftp-server");
	srv->max_connections = cfg->max_connections ? cfg->max_connections : 1024;
	srv->preauth_timeout_ms = cfg->preauth_timeout_ms ? cfg->preauth_timeout_ms : 30000;
	srv->keepalive_ms = cfg->keepalive_ms;
	srv->max_channels = cfg->max_channels ? cfg->max_channels : 32;
	srv->max_conn_buffer = cfg->max_conn_buffer ? cfg->max_conn_buffer : 16u << 20;
	sshd__list_init(&srv->conns);
	sshd__list_init(&srv->children);
	sshd__list_init(&srv->cgroups);
	srv->bind = ssh_bind_new();
	if (!srv->state_dir || !srv->pam_service || !srv->sftp_server || !srv->bind) {
		rc = -ENOMEM;
		goto fail;
	}
	ssh_bind_options_set(srv->bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
	ssh_bind_options_set(srv->bind, SSH_BIND_OPTIONS_BANNER, "meshd");
	rc = hostkey_load(srv, "ssh_host_ed25519_key", SSH_KEYTYPE_ED25519, 0);
	if (rc == 0)
		rc = hostkey_load(srv, "ssh_host_ecdsa_key", SSH_KEYTYPE_ECDSA_P256, 256);
	if (rc < 0)
		goto fail;
	uv_signal_init(loop, &srv->sigchld);
	uv_signal_start(&srv->sigchld, on_sigchld, SIGCHLD);
	sshd__cg_init(srv);
	*out = srv;
	return 0;
fail:
	for (size_t i = 0; i < srv->nkeys; i++) {
		free(srv->keys[i].public_line);
		free(srv->keys[i].fingerprint);
	}
	if (srv->bind)
		ssh_bind_free(srv->bind);
	free(srv->state_dir);
	free(srv->pam_service);
	free(srv->sftp_server);
	free(srv);
	return rc;
}

static void server_closed(uv_handle_t *h)
{
	struct sshd_server *srv = container_of(h, struct sshd_server, sigchld);
	struct sshd__node *n, *next;

	for (n = srv->children.next; n != &srv->children; n = next) {
		next = n->next;
		free(container_of(n, struct child, node));
	}
	sshd__cg_sweep(srv, true);
	for (size_t i = 0; i < srv->nkeys; i++) {
		free(srv->keys[i].public_line);
		free(srv->keys[i].fingerprint);
	}
	ssh_bind_free(srv->bind);
	free(srv->state_dir);
	free(srv->pam_service);
	free(srv->sftp_server);
	if (srv->close_done)
		srv->close_done(srv->close_arg);
	free(srv);
}

void sshd_server_close(struct sshd_server *srv, void (*done)(void *arg), void *arg)
{
	struct sshd__node *n, *next;

	srv->closing = true;
	srv->close_done = done;
	srv->close_arg = arg;
	for (n = srv->conns.next; n != &srv->conns; n = next) {
		next = n->next;
		sshd__conn_close(container_of(n, struct sshd_conn, node),
				 "server shutting down");
		conn_destroy(container_of(n, struct sshd_conn, node));
	}
	uv_close((uv_handle_t *)&srv->sigchld, server_closed);
}

size_t sshd_host_key_count(const struct sshd_server *srv)
{
	return srv->nkeys;
}

int sshd_host_key(const struct sshd_server *srv, size_t i, const char **public_line,
		  const char **fingerprint)
{
	if (i >= srv->nkeys)
		return -ENOENT;
	if (public_line)
		*public_line = srv->keys[i].public_line;
	if (fingerprint)
		*fingerprint = srv->keys[i].fingerprint;
	return 0;
}

unsigned sshd_connection_count(const struct sshd_server *srv)
{
	return srv->nconns;
}

unsigned sshd_child_count(const struct sshd_server *srv)
{
	return srv->nchildren;
}
