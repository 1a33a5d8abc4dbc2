/* direct-tcpip (ssh -L): the name is resolved off the loop (uv_getaddrinfo), then a
 * short-lived helper process, forked and switched to the logged-in user, makes the socket and
 * connects, and hands the connected socket back over SCM_RIGHTS.  So the connection is the
 * user's (firewall rules such as nftables "meta skuid" see the user's uid, as with OpenSSH)
 * and a slow connect never blocks the loop.  A helper and not the session's child: ssh -L -N
 * has no session, and a helper that only makes system calls after fork() is safe in a process
 * with threads (libuv's pool, curl).  The channel is confirmed only once the connection
 * stands; then it is a bridge (forward.c). */
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "sshd/internal.h"

enum {
	DIAL_TIMEOUT_S = 20, /* the helper's whole life: resolution is done, connects remain */
	DIAL_GROUPS_MAX = 1024,
	RESOLVING_MAX = 16, /* lookups in libuv's pool at once, server-wide */
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
		if (setgroups((size_t)ngroups, groups) < 0 ||
		    setresgid(u->gid, u->gid, u->gid) < 0 ||
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
	struct sshd__fwd *f = sshd__fwd_new(conn, SSHD__FWD_BRIDGE, fd);

	if (!f) {
		dial_end(d, "meshd: out of memory");
		return;
	}
	f->direct = true;
	f->channel = ssh_message_channel_request_open_reply_accept(d->msg);
	if (!f->channel) {
		sshd__fwd_free(f);
		dial_end(d, NULL);
		return;
	}
	sshd__fwd_bridge_callbacks(f);
	log_info(conn->subject, "forwarding to %s:%d as %s", d->host, d->port, conn->user.name);
	dial_end(d, NULL);
	sshd__fwd_pump_one(f);
}

static void on_dial_reply(uv_poll_t *h, int status, int events)
{
	struct sshd__dial *d = h->data;
	struct sshd_conn *conn = d->conn;
	char cbuf[CMSG_SPACE(sizeof(int))], why[SSHD__WHY_MAX + SSHD__HOST_MAX];
	int32_t err = ETIMEDOUT;
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
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
		snprintf(why, sizeof(why),
			 "meshd: channel refused: %u name lookups in progress "
			 "on this node (limit %d)",
			 conn->srv->nresolving, RESOLVING_MAX);
		sshd__refuse_open(conn, msg, why);
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	sshd__fwd_report(conn, "-L %s:%d", host, port);
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

void sshd__dial_end_all(struct sshd_conn *conn)
{
	while (conn->dials.next != &conn->dials)
		dial_end(container_of(conn->dials.next, struct sshd__dial, node), NULL);
}
