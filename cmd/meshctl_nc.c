/* meshctl nc: a byte pipe between stdin/stdout and a TCP port on a tailnet node, for
 * ssh's ProxyCommand.  In TUN mode it connects through the kernel (the TUN routes the
 * tailnet); in userspace mode meshd dials through its embedded stack and passes the
 * connected socket back. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"

static int connect_kernel(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		len = sizeof(*in);
	} else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Copies both ways until the remote side closes; half-closes towards the remote when
 * stdin ends.  Returns 0, or 1 on an I/O error. */
static int relay(int sock)
{
	char buf[65536];
	bool in_open = true;
	for (;;) {
		struct pollfd p[2] = { { .fd = sock, .events = POLLIN },
				       { .fd = in_open ? 0 : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[0].revents) {
			ssize_t r = read(sock, buf, sizeof(buf));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return r < 0 ? 1 : 0;
			for (ssize_t off = 0; off < r;) {
				ssize_t w = write(1, buf + off, (size_t)(r - off));
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					return 1;
				off += w;
			}
		}
		if (in_open && p[1].revents) {
			ssize_t r = read(0, buf, sizeof(buf));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				in_open = false;
				shutdown(sock, SHUT_WR);
				continue;
			}
			for (ssize_t off = 0; off < r;) {
				ssize_t w = send(sock, buf + off, (size_t)(r - off), MSG_NOSIGNAL);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					return 1;
				off += w;
			}
		}
	}
}

int meshctl_nc(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage: meshctl nc HOST PORT\n"
		       "Connect stdin and stdout to TCP PORT on tailnet node HOST (a name or an\n"
		       "address); works without a TUN device too.  Made for ssh's\n"
		       "ProxyCommand: ssh -o ProxyCommand='meshctl nc %%h %%p' HOST\n");
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "Usage: meshctl nc HOST PORT\n");
		return 2;
	}
	char *end;
	unsigned long port = strtoul(argv[2], &end, 10);
	if (!*argv[2] || *end || port == 0 || port > 65535) {
		fprintf(stderr, "meshctl nc: '%s' is not a port (1-65535)\n", argv[2]);
		return 2;
	}
	struct ctl_lapi_status st;
	if (meshctl_get_status(&st, NULL))
		return 1;
	const struct ctl_lapi_node *n = meshctl_find_node(&st, argv[1]);
	if (!n || !n->n_addrs) {
		fprintf(stderr, "meshctl nc: unknown host '%s': no such node in the tailnet\n",
			argv[1]);
		ctl_lapi_status_clear(&st);
		return 1;
	}
	char addr[INET6_ADDRSTRLEN];
	meshctl_node_addr(n, 0, addr, sizeof(addr));
	bool userspace = st.tun && strcmp(st.tun, "userspace") == 0;
	ctl_lapi_status_clear(&st);
	int sock;
	if (userspace) {
		struct ctl_lapi_request req = { .cmd = CTL_LAPI_DIAL,
						.host = addr,
						.port = (uint16_t)port };
		char *line = meshctl_call(&req, &sock);
		free(line);
		if (!line)
			return 1;
		if (sock < 0) {
			fprintf(stderr, "meshctl nc: meshd answered without a connection\n");
			return 1;
		}
	} else {
		sock = connect_kernel(addr, (uint16_t)port);
		if (sock < 0) {
			fprintf(stderr, "meshctl nc: cannot connect to %s (%s) port %lu: %s\n",
				argv[1], addr, port, strerror(-sock));
			return 1;
		}
	}
	int rc = relay(sock);
	close(sock);
	return rc;
}
