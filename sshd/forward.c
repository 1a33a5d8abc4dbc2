/* Port and agent forwarding, each only when the decision's flags allow it:
 *  - direct-tcpip (ssh -L): the name is resolved off the loop (uv_getaddrinfo), then a
 *    short-lived helper process, forked and switched to the logged-in user, makes the
 *    socket and connects, and hands the connected socket back over SCM_RIGHTS.  So the
 *    connection is the user's (firewall rules such as nftables "meta skuid" see the
 *    user's uid, as with OpenSSH) and a slow connect never blocks the loop.  A helper and
 *    not the session's child: ssh -L -N has no session, and a helper that only makes
 *    system calls after fork() is safe in a process with threads (libuv's pool, curl);
 *    the channel is confirmed only once the connection stands;
 *  - tcpip-forward (ssh -R): we listen on loopback (never on other addresses: the
 *    GatewayPorts=no rule) and open a forwarded-tcpip channel per accepted connection;
 *  - auth-agent@openssh.com (ssh -A): a 0600 Unix socket owned by the user in a 0700
 *    directory; each connection to it opens an agent channel back to the client.
 *
 * A bridge moves bytes between one channel and one socket with the same flow control as
 * sessions (session.c): socket reads only while the client's window is open, client data
 * taken from libssh only as far as our buffer has room.  Channels we open ourselves are
 * opened non-blocking: ssh_channel_open_*() is called again from the pump until it stops
 * answering SSH_AGAIN. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "sshd/sshd_int.h"

enum fwd_kind {
	FWD_BRIDGE,
	FWD_TCP_LISTEN,
	FWD_AGENT_LISTEN,
};

struct sshd__fwd {
	struct sshd__node node;
	struct sshd_conn *conn;
	enum fwd_kind kind;
	uv_poll_t poll;
	int fd;
	int events;
	bool readable; /* the socket said so and we have not seen EAGAIN since */
	bool dead;
	/* bridge */
	ssh_channel channel;
	struct ssh_channel_callbacks_struct cb;
	bool agent;	 /* opening an agent channel (else forwarded-tcpip) */
	bool opening;	 /* our channel open is in flight */
	bool connecting; /* our TCP connect is in flight */
	bool direct;	 /* direct-tcpip (ssh -L), else forwarded-tcpip or agent */
	bool fd_eof, eof_sent, shut_wr;
	bool in_eof, remote_closed;
	struct sshd__inq inq;
	char *pend; /* socket data libssh did not take yet (key re-exchange) */
	size_t plen, poff;
	/* listener (tcpip-forward: the address and port the client asked for) */
	char addr[128];
	int port;
	char orig_host[INET6_ADDRSTRLEN];
	int orig_port;
	char sock_path[160];
};

static void fwd_closed(uv_handle_t *h)
{
	struct sshd__fwd *f = h->data;

	sshd__inq_free(&f->inq);
	free(f->pend);
	free(f);
}

static void fwd_free(struct sshd__fwd *f)
{
	if (f->dead)
		return;
	f->dead = true;
	sshd__list_del(&f->node);
	f->conn->nchan--;
	sshd__inq_free(&f->inq);
	f->inq.budget = NULL;
	if (f->channel) {
		ssh_remove_channel_callbacks(f->channel, &f->cb);
		ssh_channel_free(f->channel);
		f->channel = NULL;
	}
	uv_poll_stop(&f->poll);
	if (f->fd >= 0)
		close(f->fd);
	if (f->kind == FWD_AGENT_LISTEN && f->sock_path[0]) {
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

static void fwd_pump(struct sshd__fwd *f);

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
			fwd_free(f);
			sshd__conn_update(conn);
			return;
		}
	}
	if (events & UV_READABLE)
		f->readable = true;
	fwd_pump(f);
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

static struct sshd__fwd *fwd_new(struct sshd_conn *conn, enum fwd_kind kind, int fd)
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

static int fcb_data(ssh_session s, ssh_channel c, void *data, uint32_t len, int is_stderr,
		    void *user)
{
	struct sshd__fwd *f = user;

	if (f->dead || f->shut_wr)
		return (int)len;
	return sshd__inq_take(&f->inq, data, len);
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

static void bridge_callbacks(struct sshd__fwd *f)
{
	f->cb.userdata = f;
	f->cb.channel_data_function = fcb_data;
	f->cb.channel_eof_function = fcb_eof;
	f->cb.channel_close_function = fcb_close;
	ssh_callbacks_init(&f->cb);
	ssh_set_channel_callbacks(f->channel, &f->cb);
}

/* ---- the bridge pump ---- */

static void fwd_pump(struct sshd__fwd *f)
{
	struct sshd_conn *conn = f->conn;
	bool blocked;
	int want = 0, rounds;

	if (f->dead || f->kind != FWD_BRIDGE)
		return;
	if (f->opening) {
		int rc = f->agent ? ssh_channel_open_auth_agent(f->channel)
				  : ssh_channel_open_reverse_forward(f->channel, f->addr, f->port,
								     f->orig_host, f->orig_port);
		if (rc == SSH_AGAIN)
			return;
		f->opening = false;
		if (rc != SSH_OK) {
			log_info(conn->subject, "forward: the client refused the channel");
			fwd_free(f);
			return;
		}
		bridge_callbacks(f);
	}
	if (f->remote_closed) {
		fwd_free(f);
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
		w = ssh_channel_write(f->channel, f->pend + f->poff, (uint32_t)k);
		if (w < 0) {
			fwd_free(f);
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

		if (cap == 0 || (ssh_get_poll_flags(conn->session) & SSH_WRITE_PENDING))
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
		w = ssh_channel_write(f->channel, buf, (uint32_t)n);
		if (w < 0) {
			fwd_free(f);
			return;
		}
		if (w < n) {
			f->pend = malloc((size_t)(n - w));
			if (!f->pend) {
				fwd_free(f);
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
		fwd_free(f);
		return;
	}
	blocked = ssh_channel_window_size(f->channel) == 0 ||
		  (ssh_get_poll_flags(conn->session) & SSH_WRITE_PENDING);
	if (!f->fd_eof && !blocked && !f->pend)
		want |= UV_READABLE;
	fwd_want(f, want);
}

void sshd__fwd_pump(struct sshd_conn *conn)
{
	struct sshd__node *n, *next;

	for (n = conn->fwds.next; n != &conn->fwds; n = next) {
		next = n->next;
		fwd_pump(container_of(n, struct sshd__fwd, node));
	}
}

/* ---- direct-tcpip (ssh -L) ---- */

enum {
	DIAL_TIMEOUT_S = 20,  /* the helper's whole life: resolution is done, connects remain */
	DIAL_GROUPS_MAX = 1024,
	RESOLVING_MAX = 16,   /* lookups in libuv's pool at once, server-wide */
};

struct sshd__dial {
	struct sshd__node node;
	struct sshd_server *srv;
	struct sshd_conn *conn; /* NULL once the connection went away */
	ssh_message msg;	/* the channel open we answer when the helper has */
	uv_getaddrinfo_t gai;
	uv_poll_t poll;
	int sock;
	pid_t pid;
	bool resolving, polling;
	char host[SSHD__HOST_MAX + 1];
	int port;
};

static void dial_free_if_done(struct sshd__dial *d)
{
	if (d->resolving || d->polling || d->conn)
		return;
	free(d);
}

static void dial_poll_closed(uv_handle_t *h)
{
	struct sshd__dial *d = h->data;

	d->polling = false;
	dial_free_if_done(d);
}

/* Detach from the connection; `why` non-NULL refuses the channel with it. */
static void dial_end(struct sshd__dial *d, const char *why)
{
	struct sshd_conn *conn = d->conn;

	if (!conn)
		return;
	if (why)
		sshd__refuse_open(conn, d->msg, why);
	ssh_message_free(d->msg);
	d->msg = NULL;
	sshd__list_del(&d->node);
	conn->nchan--;
	d->conn = NULL;
	if (d->resolving)
		uv_cancel((uv_req_t *)&d->gai); /* the callback still comes */
	if (d->polling) {
		uv_poll_stop(&d->poll);
		close(d->sock);
		if (d->pid > 0)
			kill(d->pid, SIGKILL);
		uv_close((uv_handle_t *)&d->poll, dial_poll_closed);
	}
	dial_free_if_done(d);
}

static void dial_send(int sock, int err, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	int32_t e = err;
	struct iovec iov = { .iov_base = &e, .iov_len = sizeof(e) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *cm;
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0) {
		/* meshd gave up on us */
	}
}

/* The helper after fork(): system calls only (the parent may have threads).  Becomes the
 * user, checks that it took, connects to the first address that answers, hands the
 * socket over, exits. */
static __attribute__((noreturn)) void dial_child(int sock, const struct sshd__user *u,
						 const gid_t *groups, int ngroups,
						 const struct addrinfo *ai)
{
	struct rlimit no_core = { 0, 0 };
	uid_t r, e, s;
	gid_t rg, eg, sg;
	sigset_t all;
	int err = ECONNREFUSED, fd = -1;

	for (int i = 1; i < NSIG; i++)
		signal(i, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	setrlimit(RLIMIT_CORE, &no_core); /* it holds a copy of meshd's memory */
	if (sock != 3) {
		if (dup2(sock, 3) < 0)
			_exit(1);
		sock = 3;
	}
	close_range(4, ~0U, 0);
	if (geteuid() == 0) {
		if (setgroups((size_t)ngroups, groups) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
		    setresuid(u->uid, u->uid, u->uid) < 0) {
			dial_send(sock, errno, -1);
			_exit(0);
		}
	}
	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0 || r != u->uid ||
	    e != u->uid || s != u->uid || rg != u->gid || eg != u->gid || sg != u->gid ||
	    (u->uid != 0 && setresuid(0, 0, 0) == 0)) {
		dial_send(sock, EPERM, -1); /* the user switch did not take */
		_exit(0);
	}
	alarm(DIAL_TIMEOUT_S);
	for (; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	dial_send(sock, fd >= 0 ? 0 : err, fd);
	_exit(0);
}

static void dial_bridge(struct sshd__dial *d, int fd)
{
	struct sshd_conn *conn = d->conn;
	struct sshd__fwd *f = fwd_new(conn, FWD_BRIDGE, fd);

	if (!f) {
		dial_end(d, "meshd: out of memory");
		return;
	}
	f->direct = true;
	f->channel = ssh_message_channel_request_open_reply_accept(d->msg);
	if (!f->channel) {
		fwd_free(f);
		dial_end(d, NULL);
		return;
	}
	bridge_callbacks(f);
	log_info(conn->subject, "forwarding to %s:%d as %s", d->host, d->port, conn->user.name);
	dial_end(d, NULL);
	fwd_pump(f);
}

static void on_dial_reply(uv_poll_t *h, int status, int events)
{
	struct sshd__dial *d = h->data;
	struct sshd_conn *conn = d->conn;
	char cbuf[CMSG_SPACE(sizeof(int))], why[SSHD__WHY_MAX + SSHD__HOST_MAX];
	int32_t err = ETIMEDOUT;
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;
	int fd = -1;

	if (!conn)
		return;
	n = recvmsg(d->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	for (cm = CMSG_FIRSTHDR(&mh); n > 0 && cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (n != (ssize_t)sizeof(err))
		err = ETIMEDOUT; /* the helper died: its alarm, or killed */
	if (fd >= 0 && err == 0) {
		dial_bridge(d, fd);
	} else {
		if (fd >= 0)
			close(fd);
		snprintf(why, sizeof(why), "meshd: connect to %s:%d as %s failed: %s", d->host,
			 d->port, conn->user.name, strerror(err ? err : EIO));
		dial_end(d, why);
	}
	sshd__conn_process(conn);
}

static void dial_spawn(struct sshd__dial *d, struct addrinfo *ai)
{
	struct sshd_conn *conn = d->conn;
	gid_t groups[DIAL_GROUPS_MAX];
	int ngroups = DIAL_GROUPS_MAX, sv[2];
	char why[SSHD__WHY_MAX];
	pid_t pid;

	if (getgrouplist(conn->user.name, conn->user.gid, groups, &ngroups) < 0) {
		snprintf(why, sizeof(why), "meshd: user %s is in more than %d groups",
			 conn->user.name, DIAL_GROUPS_MAX);
		dial_end(d, why);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(why, sizeof(why), "meshd: cannot forward: %s", strerror(errno));
		dial_end(d, why);
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		dial_child(sv[1], &conn->user, groups, ngroups, ai);
	}
	close(sv[1]);
	if (pid < 0) {
		snprintf(why, sizeof(why), "meshd: cannot forward: fork: %s", strerror(errno));
		close(sv[0]);
		dial_end(d, why);
		return;
	}
	d->pid = pid;
	if (sshd__child_track(d->srv, pid, NULL, NULL) < 0)
		log_warn(conn->subject, "out of memory tracking pid %d", (int)pid);
	d->sock = sv[0];
	uv_poll_init(d->srv->loop, &d->poll, d->sock);
	d->poll.data = d;
	d->polling = true;
	uv_poll_start(&d->poll, UV_READABLE, on_dial_reply);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
	struct sshd__dial *d = container_of(req, struct sshd__dial, gai);
	struct sshd_conn *conn = d->conn;
	char why[SSHD__WHY_MAX + SSHD__HOST_MAX];

	d->resolving = false;
	d->srv->nresolving--;
	if (!conn) {
		uv_freeaddrinfo(ai);
		dial_free_if_done(d);
		return;
	}
	if (status < 0 || !ai) {
		snprintf(why, sizeof(why), "meshd: cannot resolve '%s': %s", d->host,
			 uv_strerror(status));
		dial_end(d, why);
	} else {
		dial_spawn(d, ai);
	}
	uv_freeaddrinfo(ai);
	sshd__conn_process(conn);
}

/* Returns 0 when answered, 1 for the default reply, 2 when `msg` was kept (answered once
 * the helper has connected). */
int sshd__fwd_direct(struct sshd_conn *conn, ssh_message msg)
{
	const char *host = ssh_message_channel_request_open_destination(msg);
	int port = ssh_message_channel_request_open_destination_port(msg);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	char service[16], why[SSHD__WHY_MAX];
	struct sshd__dial *d;
	int rc;

	if (!sshd__req_direct(host, port, conn->decision.flags, why, sizeof(why)) ||
	    !sshd__conn_room(conn, why, sizeof(why))) {
		sshd__refuse_open(conn, msg, why);
		return 0;
	}
	if (conn->srv->nresolving >= RESOLVING_MAX) {
		snprintf(why, sizeof(why), "meshd: channel refused: %u name lookups in progress "
					   "on this node (limit %d)",
			 conn->srv->nresolving, RESOLVING_MAX);
		sshd__refuse_open(conn, msg, why);
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	d->srv = conn->srv;
	d->conn = conn;
	d->msg = msg;
	d->sock = -1;
	snprintf(d->host, sizeof(d->host), "%s", host);
	d->port = port;
	snprintf(service, sizeof(service), "%d", port);
	rc = uv_getaddrinfo(conn->srv->loop, &d->gai, on_resolved, d->host, service, &hints);
	if (rc < 0) {
		free(d);
		snprintf(why, sizeof(why), "meshd: cannot resolve: %s", uv_strerror(rc));
		sshd__refuse_open(conn, msg, why);
		return 0;
	}
	d->resolving = true;
	conn->srv->nresolving++;
	sshd__list_add(&conn->dials, &d->node);
	conn->nchan++;
	return 2;
}

void sshd__fwd_close_all(struct sshd_conn *conn)
{
	while (conn->dials.next != &conn->dials)
		dial_end(container_of(conn->dials.next, struct sshd__dial, node), NULL);
	while (conn->fwds.next != &conn->fwds)
		fwd_free(container_of(conn->fwds.next, struct sshd__fwd, node));
}

unsigned sshd__fwd_in_use(const struct sshd_conn *conn)
{
	const struct sshd__node *n;
	unsigned used = 0;

	if (conn->dials.next != &conn->dials)
		used |= SSHD_ALLOW_LOCAL_FWD;
	for (n = conn->fwds.next; n != &conn->fwds; n = n->next) {
		const struct sshd__fwd *f = container_of(n, struct sshd__fwd, node);
		if (f->kind == FWD_AGENT_LISTEN || (f->kind == FWD_BRIDGE && f->agent))
			used |= SSHD_ALLOW_AGENT;
		else if (f->kind == FWD_BRIDGE && f->direct)
			used |= SSHD_ALLOW_LOCAL_FWD;
		else
			used |= SSHD_ALLOW_REMOTE_FWD;
	}
	for (n = conn->chans.next; n != &conn->chans; n = n->next)
		if (container_of(n, struct sshd__chan, node)->agent)
			used |= SSHD_ALLOW_AGENT;
	return used;
}

/* ---- tcpip-forward (ssh -R) ---- */

static void on_accept(uv_poll_t *h, int status, int events)
{
	struct sshd__fwd *l = h->data, *f;
	struct sshd_conn *conn = l->conn;

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char why[SSHD__WHY_MAX];
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		if (!sshd__conn_room(conn, why, sizeof(why))) {
			log_info(conn->subject, "%s (a connection to a forwarded port)", why);
			close(fd);
			continue;
		}
		f = fwd_new(conn, FWD_BRIDGE, fd);
		if (!f)
			continue;
		f->channel = ssh_channel_new(conn->session);
		if (!f->channel) {
			fwd_free(f);
			continue;
		}
		f->opening = true;
		snprintf(f->addr, sizeof(f->addr), "%s", l->addr);
		f->port = l->port;
		f->agent = l->kind == FWD_AGENT_LISTEN;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &in->sin_addr, f->orig_host, sizeof(f->orig_host));
			f->orig_port = ntohs(in->sin_port);
		} else {
			snprintf(f->orig_host, sizeof(f->orig_host), "127.0.0.1");
		}
		fwd_pump(f);
	}
	sshd__conn_process(conn);
}

static struct sshd__fwd *listener_find(struct sshd_conn *conn, const char *addr, int port)
{
	struct sshd__node *n;

	for (n = conn->fwds.next; n != &conn->fwds; n = n->next) {
		struct sshd__fwd *f = container_of(n, struct sshd__fwd, node);
		if (f->kind == FWD_TCP_LISTEN && f->port == port && strcmp(f->addr, addr) == 0)
			return f;
	}
	return NULL;
}

int sshd__fwd_global(struct sshd_conn *conn, ssh_message msg)
{
	const char *addr = ssh_message_global_request_address(msg);
	int port = ssh_message_global_request_port(msg), fd, one = 1;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	char why[SSHD__WHY_MAX];
	struct sshd__fwd *l;

	switch (ssh_message_subtype(msg)) {
	case SSH_GLOBAL_REQUEST_TCPIP_FORWARD:
		break;
	case SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD:
		l = listener_find(conn, addr ? addr : "", port);
		if (!l)
			return 1;
		fwd_free(l);
		ssh_message_global_request_reply_success(msg, 0);
		return 0;
	default:
		return 1;
	}
	if (!sshd__req_tcpip_forward(addr, port, conn->decision.flags, conn->user.uid == 0, why,
				     sizeof(why)) ||
	    !sshd__conn_room(conn, why, sizeof(why))) {
		log_info(conn->subject, "%s", why);
		return 1;
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		log_info(conn->subject, "remote forward on port %d: %s", port, strerror(errno));
		close(fd);
		return 1;
	}
	l = fwd_new(conn, FWD_TCP_LISTEN, fd);
	if (!l)
		return 1;
	snprintf(l->addr, sizeof(l->addr), "%s", addr ? addr : "");
	l->port = port ? port : ntohs(sin.sin_port);
	uv_poll_start(&l->poll, UV_READABLE, on_accept);
	log_info(conn->subject, "remote forward listening on 127.0.0.1:%d", ntohs(sin.sin_port));
	ssh_message_global_request_reply_success(msg, (uint16_t)ntohs(sin.sin_port));
	return 0;
}

/* ---- agent (ssh -A) ---- */

int sshd__agent_start(struct sshd_conn *conn, char *path, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sshd__node *n;
	struct sshd__fwd *l;
	char dir[] = "/tmp/meshd-agent-XXXXXX";
	int fd;

	for (n = conn->fwds.next; n != &conn->fwds; n = n->next) {
		l = container_of(n, struct sshd__fwd, node);
		if (l->kind == FWD_AGENT_LISTEN) {
			snprintf(path, size, "%s", l->sock_path);
			return 0;
		}
	}
	if (!mkdtemp(dir))
		return -errno;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/agent.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(sun.sun_path, 0600) < 0 ||
	    chown(sun.sun_path, conn->user.uid, conn->user.gid) < 0 ||
	    chown(dir, conn->user.uid, conn->user.gid) < 0 || listen(fd, 16) < 0) {
		int e = -errno;
		if (fd >= 0)
			close(fd);
		unlink(sun.sun_path);
		rmdir(dir);
		return e;
	}
	l = fwd_new(conn, FWD_AGENT_LISTEN, fd);
	if (!l)
		return -ENOMEM;
	snprintf(l->sock_path, sizeof(l->sock_path), "%s", sun.sun_path);
	uv_poll_start(&l->poll, UV_READABLE, on_accept);
	snprintf(path, size, "%s", sun.sun_path);
	return 0;
}
