/* Forwarding's common part, the bridge: one channel and one socket, with the same flow
 * control as sessions (session.c): socket reads only while the client's window is open, client
 * data taken from libssh only as far as our buffer has room.  Channels we open ourselves are
 * opened non-blocking: ssh_channel_open_*() is called again from the pump until it stops
 * answering SSH_AGAIN.  The bridges come from dial.c (direct-tcpip, ssh -L) and listen.c
 * (tcpip-forward, ssh -R, and the agent, ssh -A), each only when the decision's flags allow
 * it; here also which of them a connection uses (revalidation asks) and their closing. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "sshd/internal.h"

static void fwd_closed(uv_handle_t *h)
{
	struct sshd__fwd *f = h->data;

	sshd__inq_free(&f->inq);
	free(f->pend);
	free(f);
}

void sshd__fwd_free(struct sshd__fwd *f)
{
	if (f->dead)
		return;
	f->dead = true;
	sshd__list_del(&f->node);
	f->conn->nchan--;
	sshd__inq_free(&f->inq);
	f->inq.budget = NULL;
	if (f->channel) {
		sshd__conn_free_channel(f->conn, f->channel, &f->cb,
					!f->remote_closed && !f->opening);
		f->channel = NULL;
	}
	uv_poll_stop(&f->poll);
	if (f->fd >= 0)
		close(f->fd);
	if (f->kind == SSHD__FWD_AGENT_LISTEN && f->sock_path[0]) {
		char *slash;
		unlink(f->sock_path);
		slash = strrchr(f->sock_path, '/');
		if (slash) {
			*slash = '\0';
			rmdir(f->sock_path);
		}
	}
	uv_close((uv_handle_t *)&f->poll, fwd_closed);
}

static void on_fwd_io(uv_poll_t *h, int status, int events)
{
	struct sshd__fwd *f = h->data;
	struct sshd_conn *conn = f->conn;

	if (f->dead)
		return;
	if (f->connecting && (events & UV_WRITABLE)) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		f->connecting = false;
		if (err) {
			log_info(conn->subject, "forward: connect failed: %s", strerror(err));
			if (f->channel)
				ssh_channel_close(f->channel);
			sshd__fwd_free(f);
			sshd__conn_update(conn);
			return;
		}
	}
	if (events & UV_READABLE)
		f->readable = true;
	sshd__fwd_pump_one(f);
	sshd__conn_process(conn);
}

static void fwd_want(struct sshd__fwd *f, int events)
{
	if (f->events == events)
		return;
	f->events = events;
	if (events)
		uv_poll_start(&f->poll, events, on_fwd_io);
	else
		uv_poll_stop(&f->poll);
}

struct sshd__fwd *sshd__fwd_new(struct sshd_conn *conn, enum sshd__fwd_kind kind, int fd)
{
	struct sshd__fwd *f = calloc(1, sizeof(*f));

	if (!f) {
		close(fd);
		return NULL;
	}
	f->conn = conn;
	f->kind = kind;
	f->fd = fd;
	f->inq.budget = &conn->budget;
	conn->nchan++;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	uv_poll_init(conn->srv->loop, &f->poll, fd);
	f->poll.data = f;
	sshd__list_add(&conn->fwds, &f->node);
	return f;
}

/* ---- channel callbacks: record only ---- */

static int fwd_take(struct sshd__fwd *f, void *data, uint32_t len)
{
	if (sshd__conn_overrun(f->conn, len))
		return (int)len; /* dropped: the connection is closing */
	if (f->dead || f->shut_wr)
		return (int)len;
	return sshd__inq_take(&f->inq, data, len);
}

static int fcb_data(ssh_session s, ssh_channel c, void *data, uint32_t len, int is_stderr,
		    void *user)
{
	struct sshd__fwd *f = user;
	int took = fwd_take(f, data, len);

	return is_stderr ? took : sshd__inq_seen(&f->inq, len, took);
}

static void fcb_eof(ssh_session s, ssh_channel c, void *user)
{
	((struct sshd__fwd *)user)->in_eof = true;
}

static void fcb_close(ssh_session s, ssh_channel c, void *user)
{
	struct sshd__fwd *f = user;

	f->in_eof = true;
	f->remote_closed = true;
}

void sshd__fwd_bridge_callbacks(struct sshd__fwd *f)
{
	f->cb.userdata = f;
	f->cb.channel_data_function = fcb_data;
	f->cb.channel_eof_function = fcb_eof;
	f->cb.channel_close_function = fcb_close;
	ssh_callbacks_init(&f->cb);
	ssh_set_channel_callbacks(f->channel, &f->cb);
}

/* ---- the bridge pump ---- */

void sshd__fwd_pump_one(struct sshd__fwd *f)
{
	struct sshd_conn *conn = f->conn;
	bool blocked;
	int want = 0, rounds;

	if (f->dead || f->kind != SSHD__FWD_BRIDGE)
		return;
	if (f->opening) {
		int rc = f->agent ? ssh_channel_open_auth_agent(f->channel)
				  : ssh_channel_open_reverse_forward(f->channel, f->addr, f->port,
								     f->orig_host, f->orig_port);
		if (rc == SSH_AGAIN)
			return;
		if (rc != SSH_OK) { /* still `opening`: never open, no CLOSE to wait for */
			log_info(conn->subject, "forward: the client refused the channel");
			sshd__fwd_free(f);
			return;
		}
		f->opening = false;
	}
	if (f->remote_closed) {
		sshd__fwd_free(f);
		return;
	}
	if (f->connecting) {
		fwd_want(f, UV_WRITABLE);
		return;
	}
	/* client -> socket */
	while (!f->shut_wr) {
		int rc = sshd__inq_flush(&f->inq, f->fd);
		if (rc == -EAGAIN) {
			want |= UV_WRITABLE;
			break;
		}
		if (rc < 0) {
			sshd__inq_drop(&f->inq);
			f->shut_wr = true;
			break;
		}
		if (sshd__inq_pull(&f->inq, f->channel))
			continue;
		if (f->in_eof && sshd__inq_empty(&f->inq)) {
			shutdown(f->fd, SHUT_WR);
			f->shut_wr = true;
		}
		break;
	}
	/* socket -> client: first what libssh declined last time */
	while (f->pend && ssh_channel_window_size(f->channel) > 0) {
		size_t k = f->plen - f->poff;
		int w;
		if (k > ssh_channel_window_size(f->channel))
			k = ssh_channel_window_size(f->channel);
		w = sshd__conn_write(conn, f->channel, false, f->pend + f->poff, (uint32_t)k);
		if (w < 0) {
			sshd__fwd_free(f);
			return;
		}
		f->poff += (size_t)w;
		if (f->poff == f->plen) {
			free(f->pend);
			f->pend = NULL;
			f->plen = f->poff = 0;
		} else if ((size_t)w < k) {
			break;
		}
	}
	for (rounds = 0; !f->pend && !f->fd_eof && f->readable && rounds < 8; rounds++) {
		char buf[SSHD__IOBUF];
		uint32_t win = ssh_channel_window_size(f->channel);
		size_t cap = win < sizeof(buf) ? win : sizeof(buf);
		ssize_t n;
		int w;

		if (cap == 0 || sshd__conn_out_blocked(conn))
			break;
		n = read(f->fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			f->readable = false;
			break;
		}
		if (n <= 0) {
			f->fd_eof = true;
			break;
		}
		w = sshd__conn_write(conn, f->channel, false, buf, (uint32_t)n);
		if (w < 0) {
			sshd__fwd_free(f);
			return;
		}
		if (w < n) {
			f->pend = malloc((size_t)(n - w));
			if (!f->pend) {
				sshd__fwd_free(f);
				return;
			}
			memcpy(f->pend, buf + w, (size_t)(n - w));
			f->plen = (size_t)(n - w);
			f->poff = 0;
			break;
		}
	}
	if (f->fd_eof && !f->eof_sent && !f->pend) {
		ssh_channel_send_eof(f->channel);
		f->eof_sent = true;
	}
	if (f->fd_eof && f->shut_wr && !f->pend) {
		ssh_channel_close(f->channel);
		sshd__fwd_free(f);
		return;
	}
	blocked = ssh_channel_window_size(f->channel) == 0 || sshd__conn_out_blocked(conn);
	if (!f->fd_eof && !blocked && !f->pend)
		want |= UV_READABLE;
	fwd_want(f, want);
}

void sshd__fwd_pump(struct sshd_conn *conn)
{
	struct sshd__node *n, *next;

	for (n = conn->fwds.next; n != &conn->fwds; n = next) {
		next = n->next;
		sshd__fwd_pump_one(container_of(n, struct sshd__fwd, node));
	}
}

void sshd__fwd_close_all(struct sshd_conn *conn)
{
	sshd__dial_end_all(conn);
	while (conn->fwds.next != &conn->fwds)
		sshd__fwd_free(container_of(conn->fwds.next, struct sshd__fwd, node));
}

unsigned sshd__fwd_in_use(const struct sshd_conn *conn)
{
	const struct sshd__node *n;
	unsigned used = 0;

	if (conn->dials.next != &conn->dials)
		used |= SSHD_ALLOW_LOCAL_FWD;
	for (n = conn->fwds.next; n != &conn->fwds; n = n->next) {
		const struct sshd__fwd *f = container_of(n, struct sshd__fwd, node);
		if (f->kind == SSHD__FWD_AGENT_LISTEN || (f->kind == SSHD__FWD_BRIDGE && f->agent))
			used |= SSHD_ALLOW_AGENT;
		else if (f->kind == SSHD__FWD_BRIDGE && f->direct)
			used |= SSHD_ALLOW_LOCAL_FWD;
		else
			used |= SSHD_ALLOW_REMOTE_FWD;
	}
	for (n = conn->chans.next; n != &conn->chans; n = n->next)
		if (container_of(n, struct sshd__chan, node)->agent)
			used |= SSHD_ALLOW_AGENT;
	return used;
}

void sshd__fwd_report(struct sshd_conn *conn, const char *fmt, ...)
{
	const struct sshd_hooks *h = &conn->srv->hooks;
	char what[SSHD__WHY_MAX];
	va_list ap;

	if (!h->forward)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	h->forward(h->ctx, (struct sockaddr *)&conn->peer, conn->req_user,
		   conn->decision.local_user, what);
}
