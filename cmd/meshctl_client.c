/* Local API client for meshctl. */
#include "cmd/meshctl_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *socket_path;

void meshctl_set_socket(const char *path)
{
	socket_path = path;
}

const char *meshctl_socket(void)
{
	if (socket_path)
		return socket_path;
	const char *env = getenv("MESHD_SOCKET");
	return env && *env ? env : "/run/meshd/meshd.sock";
}

static int connect_daemon(void)
{
	const char *path = meshctl_socket();
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "meshctl: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "meshctl: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			fprintf(stderr,
				"meshctl: meshd is not running (nothing listens on %s); start it "
				"with 'systemctl start meshd' or run meshd\n",
				path);
		else if (e == EACCES)
			fprintf(stderr, "meshctl: no permission to talk to meshd at %s\n", path);
		else
			fprintf(stderr, "meshctl: cannot reach meshd at %s: %s\n", path,
				strerror(e));
		return -1;
	}
	return fd;
}

char *meshctl_call(const struct ctl_lapi_request *req, int *fd_out)
{
	if (fd_out)
		*fd_out = -1;
	char *line = ctl_lapi_request_format(req);
	if (!line) {
		fprintf(stderr, "meshctl: out of memory\n");
		return NULL;
	}
	int fd = connect_daemon();
	if (fd < 0) {
		free(line);
		return NULL;
	}
	size_t n = strlen(line), off = 0;
	while (off < n) {
		ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "meshctl: sending to meshd: %s\n", strerror(errno));
			free(line);
			close(fd);
			return NULL;
		}
		off += (size_t)w;
	}
	free(line);

	struct ctl_lapi_line ans = { .max = CTL_LAPI_MAX_REPLY };
	const char *why = NULL;
	int rc = 0;
	while (rc == 0) {
		char chunk[65536];
		union {
			char b[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { .iov_base = chunk, .iov_len = sizeof(chunk) };
		struct msghdr msg = { .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = u.b,
				      .msg_controllen = sizeof(u.b) };
		ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "meshctl: reading from meshd: %s\n", strerror(errno));
			why = "";
			break;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				int passed;
				memcpy(&passed, CMSG_DATA(cm), sizeof(int));
				if (fd_out && *fd_out < 0)
					*fd_out = passed;
				else
					close(passed);
			}
		}
		if (r == 0) {
			why = ans.len ? "meshd closed the connection in the middle of its answer"
				      : "meshd closed the connection without an answer";
			break;
		}
		rc = ctl_lapi_line_feed(&ans, chunk, (size_t)r);
		if (rc == -EMSGSIZE)
			why = "meshd's answer is longer than 4 MiB";
		else if (rc < 0)
			why = "out of memory";
	}
	close(fd);
	if (why) {
		if (*why)
			fprintf(stderr, "meshctl: %s\n", why);
		ctl_lapi_line_clear(&ans);
		if (fd_out && *fd_out >= 0) {
			close(*fd_out);
			*fd_out = -1;
		}
		return NULL;
	}
	char *buf = ans.buf;
	size_t len = ans.len;
	bool ok;
	char msg[1024];
	if (ctl_lapi_reply_parse(buf, len, &ok, msg, sizeof(msg)) != 0 || !ok) {
		fprintf(stderr, "meshctl: %s\n", msg);
		free(buf);
		if (fd_out && *fd_out >= 0) {
			close(*fd_out);
			*fd_out = -1;
		}
		return NULL;
	}
	return buf;
}

int meshctl_get_status(struct ctl_lapi_status *st, char **raw)
{
	struct ctl_lapi_request req = { .cmd = CTL_LAPI_STATUS };
	char *line = meshctl_call(&req, NULL);
	if (!line)
		return 1;
	char err[256];
	if (ctl_lapi_status_parse(line, strlen(line), st, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshctl: meshd sent a status I cannot read: %s\n", err);
		free(line);
		return 1;
	}
	if (raw)
		*raw = line;
	else
		free(line);
	return 0;
}

static bool node_matches(const struct ctl_lapi_node *n, const char *host)
{
	if (n->name && strcmp(n->name, host) == 0)
		return true;
	if (n->dns_name && strcmp(n->dns_name, host) == 0)
		return true;
	struct addr_prefix p;
	if (!addr_prefix_parse(host, &p, NULL))
		return false;
	for (size_t i = 0; i < n->n_addrs; i++)
		if (addr_prefix_covers(&n->addrs[i], &p))
			return true;
	return false;
}

const struct ctl_lapi_node *meshctl_find_node(const struct ctl_lapi_status *st, const char *host)
{
	for (size_t i = 0; i < st->n_peers; i++)
		if (node_matches(&st->peers[i], host))
			return &st->peers[i];
	if (node_matches(&st->self, host))
		return &st->self;
	return NULL;
}

void meshctl_node_addr(const struct ctl_lapi_node *n, int family, char *buf, size_t len)
{
	buf[0] = '\0';
	for (int pass = 0; pass < 2 && !buf[0]; pass++) {
		for (size_t i = 0; i < n->n_addrs; i++) {
			int f = n->addrs[i].ip.family;
			if (pass == 0 && family && f != family)
				continue;
			if (pass == 0 && !family && f != AF_INET)
				continue;
			if (pass == 1 && family)
				break;
			inet_ntop(f, n->addrs[i].ip.bytes, buf, (socklen_t)len);
			return;
		}
	}
}
