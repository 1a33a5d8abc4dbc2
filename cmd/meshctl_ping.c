/* meshctl ping: round trips to a peer over the tunnel.  With a TUN device: ICMP echo
 * (a ping socket, or a raw socket for root); in userspace mode: the time to open a TCP
 * connection to the peer's SSH port through meshd.  Every answer names the path WireGuard
 * took for it (meshd's status, read again after each answer: a relayed path that becomes
 * direct shows as it happens). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint16_t csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* One echo; returns the round trip in ms or a negative errno (-ETIMEDOUT). */
static double icmp_echo(int fd, bool raw, int family, const struct sockaddr *to, socklen_t tolen,
			uint16_t seq, int timeout_ms)
{
	uint8_t pkt[64] = { 0 };
	uint16_t id = (uint16_t)getpid();
	pkt[0] = family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
	memcpy(pkt + 4, &(uint16_t){ htons(id) }, 2);
	memcpy(pkt + 6, &(uint16_t){ htons(seq) }, 2);
	memcpy(pkt + 8, "mesh-ping", 9);
	if (family == AF_INET) {
		uint16_t c = csum(pkt, sizeof(pkt));
		memcpy(pkt + 2, &c, 2);
	}
	double t0 = now_ms();
	if (sendto(fd, pkt, sizeof(pkt), 0, to, tolen) < 0)
		return -errno;
	for (;;) {
		int left = timeout_ms - (int)(now_ms() - t0);
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, left) <= 0)
			continue;
		uint8_t buf[1500];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		const uint8_t *icmp = buf;
		if (raw && family == AF_INET) {
			size_t ihl = (size_t)(buf[0] & 15) * 4;
			if ((size_t)n < ihl + 8)
				continue;
			icmp = buf + ihl;
			n -= (ssize_t)ihl;
		}
		if (n < 8)
			continue;
		uint8_t want = family == AF_INET ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY;
		uint16_t rseq;
		memcpy(&rseq, icmp + 6, 2);
		/* A ping socket rewrites the id; a raw socket sees everyone's replies. */
		if (icmp[0] != want || ntohs(rseq) != seq)
			continue;
		if (raw) {
			uint16_t rid;
			memcpy(&rid, icmp + 4, 2);
			if (ntohs(rid) != id)
				continue;
		}
		return now_ms() - t0;
	}
}

/* The peer's path as meshd's status says now: "direct ADDR:PORT", "relay URI (udp)",
 * "none", or what an older meshd without paths knew. */
static void peer_path(const char *host, char *out, size_t outlen)
{
	struct ctl_lapi_status st;
	snprintf(out, outlen, "an unknown path (meshd's status did not answer)");
	if (meshctl_get_status(&st, NULL))
		return;
	const struct ctl_lapi_node *n = meshctl_find_node(&st, host);
	if (n && n->path)
		snprintf(out, outlen, "%s", n->path);
	else if (n)
		snprintf(out, outlen, "%s%s", n->endpoint ? "direct " : "no endpoint yet",
			 n->endpoint ? n->endpoint : "");
	ctl_lapi_status_clear(&st);
}

int meshctl_ping(int argc, char **argv)
{
	int count = 4;
	const char *host = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("Usage: meshctl ping [-c COUNT] HOST\n"
			       "Measure round trips to tailnet node HOST over the tunnel and show "
			       "the\n"
			       "path each answer took (direct ADDR:PORT or the relay).  ICMP echo "
			       "through\n"
			       "the TUN device; in userspace mode, the time to connect to HOST's "
			       "port 22\n"
			       "instead.\n"
			       "  -c COUNT   number of round trips (default 4, at most 1000)\n");
			return 0;
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			char *end;
			long c = strtol(argv[++i], &end, 10);
			if (*end || c < 1 || c > 1000) {
				fprintf(stderr,
					"meshctl ping: -c: '%s' is not a count from 1 to 1000\n",
					argv[i]);
				return 2;
			}
			count = (int)c;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "meshctl ping: unknown option '%s'\n", argv[i]);
			return 2;
		} else if (!host) {
			host = argv[i];
		} else {
			fprintf(stderr, "meshctl ping: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!host) {
		fprintf(stderr, "Usage: meshctl ping [-c COUNT] HOST\n");
		return 2;
	}
	struct ctl_lapi_status st;
	if (meshctl_get_status(&st, NULL))
		return 1;
	const struct ctl_lapi_node *n = meshctl_find_node(&st, host);
	if (!n || !n->n_addrs || n == &st.self) {
		fprintf(stderr, "meshctl ping: unknown host '%s': no such peer in the tailnet\n",
			host);
		ctl_lapi_status_clear(&st);
		return 1;
	}
	char addr[INET6_ADDRSTRLEN], path[512], name[128];
	meshctl_node_addr(n, 0, addr, sizeof(addr));
	snprintf(name, sizeof(name), "%s", n->name ? n->name : host);
	bool userspace = st.tun && strcmp(st.tun, "userspace") == 0;
	ctl_lapi_status_clear(&st);

	int answered = 0;
	if (userspace) {
		for (int i = 0; i < count; i++) {
			struct ctl_lapi_request req = { .cmd = CTL_LAPI_DIAL,
							.host = addr,
							.port = 22 };
			int fd;
			double t0 = now_ms();
			char *line = meshctl_call(&req, &fd);
			double ms = now_ms() - t0;
			free(line);
			if (line && fd >= 0) {
				peer_path(host, path, sizeof(path));
				printf("tcp connect to %s (%s) port 22 via %s in %.1f ms\n", name,
				       addr, path, ms);
				answered++;
				close(fd);
			}
			if (i + 1 < count)
				usleep(500 * 1000);
		}
	} else {
		struct sockaddr_storage ss = { 0 };
		socklen_t len;
		int family;
		struct sockaddr_in *in = (void *)&ss;
		struct sockaddr_in6 *in6 = (void *)&ss;
		if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
			family = in->sin_family = AF_INET;
			len = sizeof(*in);
		} else {
			inet_pton(AF_INET6, addr, &in6->sin6_addr);
			family = in6->sin6_family = AF_INET6;
			len = sizeof(*in6);
		}
		int proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
		bool raw = false;
		int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, proto);
		if (fd < 0) {
			fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, proto);
			raw = true;
		}
		if (fd < 0) {
			fprintf(stderr,
				"meshctl ping: cannot open an ICMP socket: %s (run as root, or "
				"allow ping sockets with net.ipv4.ping_group_range)\n",
				strerror(errno));
			return 1;
		}
		for (int i = 0; i < count; i++) {
			double ms = icmp_echo(fd, raw, family, (struct sockaddr *)&ss, len,
					      (uint16_t)(i + 1), 2000);
			if (ms >= 0) {
				peer_path(host, path, sizeof(path));
				printf("pong from %s (%s) via %s in %.1f ms\n", name, addr, path,
				       ms);
				answered++;
			} else {
				printf("no answer from %s (%s): %s\n", name, addr,
				       ms == -ETIMEDOUT ? "timed out after 2 s"
							: strerror((int)-ms));
			}
			if (i + 1 < count)
				usleep(500 * 1000);
		}
		close(fd);
	}
	if (!answered) {
		fprintf(stderr,
			"meshctl ping: %s did not answer; is it online ('meshctl status') "
			"and does the policy let this node reach it?\n",
			name);
		return 1;
	}
	return 0;
}
