/* The listeners that open channels toward the client, one bridge (forward.c) per accepted
 * connection:
 *  - tcpip-forward (ssh -R): we listen on loopback (never on other addresses: the
 *    GatewayPorts=no rule) and open a forwarded-tcpip channel per accepted connection;
 *  - auth-agent@openssh.com (ssh -A): a 0600 Unix socket owned by the user in a 0700
 *    directory; each connection to it opens an agent channel back to the client. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "sshd/internal.h"
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
		f = sshd__fwd_new(conn, SSHD__FWD_BRIDGE, fd);
		if (!f)
			continue;
		f->channel = ssh_channel_new(conn->session);
		if (!f->channel) {
			sshd__fwd_free(f);
			continue;
		}
		f->opening = true;
		/* before the open, so that remote_closed follows libssh even when the client's
		 * confirmation, data and CLOSE come in one read (review-71 #4) */
		sshd__fwd_bridge_callbacks(f);
		snprintf(f->addr, sizeof(f->addr), "%s", l->addr);
		f->port = l->port;
		f->agent = l->kind == SSHD__FWD_AGENT_LISTEN;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &in->sin_addr, f->orig_host, sizeof(f->orig_host));
			f->orig_port = ntohs(in->sin_port);
		} else {
			snprintf(f->orig_host, sizeof(f->orig_host), "127.0.0.1");
		}
		sshd__fwd_pump_one(f);
	}
	sshd__conn_process(conn);
}

static struct sshd__fwd *listener_find(struct sshd_conn *conn, const char *addr, int port)
{
	struct sshd__node *n;

	for (n = conn->fwds.next; n != &conn->fwds; n = n->next) {
		struct sshd__fwd *f = container_of(n, struct sshd__fwd, node);
		if (f->kind == SSHD__FWD_TCP_LISTEN && f->port == port &&
		    strcmp(f->addr, addr) == 0)
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
		sshd__fwd_free(l);
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
	l = sshd__fwd_new(conn, SSHD__FWD_TCP_LISTEN, fd);
	if (!l)
		return 1;
	snprintf(l->addr, sizeof(l->addr), "%s", addr ? addr : "");
	l->port = port ? port : ntohs(sin.sin_port);
	uv_poll_start(&l->poll, UV_READABLE, on_accept);
	log_info(conn->subject, "remote forward listening on 127.0.0.1:%d", ntohs(sin.sin_port));
	sshd__fwd_report(conn, "-R %s:%d", addr ? addr : "", l->port);
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
		if (l->kind == SSHD__FWD_AGENT_LISTEN) {
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
	l = sshd__fwd_new(conn, SSHD__FWD_AGENT_LISTEN, fd);
	if (!l)
		return -ENOMEM;
	snprintf(l->sock_path, sizeof(l->sock_path), "%s", sun.sun_path);
	uv_poll_start(&l->poll, UV_READABLE, on_accept);
	sshd__fwd_report(conn, "-A");
	snprintf(path, size, "%s", sun.sun_path);
	return 0;
}
