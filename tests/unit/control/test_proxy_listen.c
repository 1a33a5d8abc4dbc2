/* meshcontrol serve --trusted-proxy (control/server/proxy_listen.c) over real sockets on
 * loopback: a server on 127.0.0.1 trusting 127.0.0.2 as its balancer.
 *   1. an outsider's request is served, and its PROXY header is a bad request (400): it
 *      cannot choose its source;
 *   2. the balancer's connection without a header is closed unanswered;
 *   3. the balancer's v2 header (sent a byte at a time) names the client, which the audit
 *      log's "source" shows for an admin change; v1 too; LOCAL (its health checks) is served;
 *   4. a header that never completes is closed at the deadline, and no more than 256 wait
 *      at once (the next is closed at once, an outsider still served);
 *   5. an IPv6 listening address is IPv6 alone, as without --trusted-proxy: an IPv4-mapped
 *      one (::ffff:127.0.0.1) cannot be listened on either way. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common/file.h"
#include "common/now.h"
#include "control/server/server.h"

static uint16_t port;

static int dial(const char *src)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, src, &a.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	a.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* What comes back until the server closes, or timeout_ms pass ("" when nothing). */
static void hear(int fd, char *out, size_t cap, int timeout_ms)
{
	size_t n = 0;
	uint64_t end = now_mono_ms() + (uint64_t)timeout_ms;
	out[0] = '\0';
	while (n + 1 < cap) {
		uint64_t now = now_mono_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (now >= end || poll(&p, 1, (int)(end - now)) != 1)
			break;
		ssize_t got = recv(fd, out + n, cap - 1 - n, 0);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	out[n] = '\0';
}

/* One exchange from src: pre (a header, len bytes) then the request; the answer in out. */
static void ask(const char *src, const void *pre, size_t len, const char *req, char *out,
		size_t cap)
{
	int fd = dial(src);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_INT((int)send(fd, pre, len, 0), (int)len);
	send(fd, req, strlen(req), MSG_NOSIGNAL); /* may be closed already: then no answer */
	hear(fd, out, cap, 5000);
	close(fd);
}

#define SIG "\r\n\r\n\0\r\nQUIT\n"
#define HEALTH "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

int main(void)
{
	char dir[] = "/tmp/ctl-proxy-XXXXXX", err[512], path[300], token[80] = "", cmd[300];
	char out[16384], req[1024];
	struct ctl_trusted_proxies trust = { 0 };
	struct ctl_server *srv = NULL;
	CHECK(mkdtemp(dir) != NULL);
	CHECK(ctl_trusted_proxies_add(&trust, "127.0.0.2/32,192.0.2.0/24", err, sizeof(err)));
	CHECK_INT((int)trust.n, 2);
	CHECK(!ctl_trusted_proxies_add(&trust, "10.0.0.0/33", err, sizeof(err)));
	CHECK(strncmp(err, "'10.0.0.0/33': ", 15) == 0);
	CHECK(!ctl_trusted_proxies_add(&trust, "10.0.0.1,,10.0.0.2", err, sizeof(err)));
	CHECK_STR(err, "'10.0.0.1,,10.0.0.2': expected CIDR[,CIDR]... (e.g. 10.0.0.5/32)");
	trust.n = 1;
	struct ctl_server_config cfg = { .state_dir = dir,
					 .listen = "127.0.0.1",
					 .trusted_proxies = &trust };
	CHECK_INT(ctl_server_new(&cfg, &srv, err, sizeof(err)), 0);
	if (!srv)
		return check_finish();
	CHECK_INT(ctl_server_start(srv, err, sizeof(err)), 0);
	port = ctl_server_port(srv);
	CHECK(port != 0);
	snprintf(path, sizeof(path), "%s/admin-token", dir);
	char *text = NULL;
	CHECK_INT(file_read_all(path, 256, &text, NULL), 0);
	snprintf(token, sizeof(token), "%.64s", text ? text : "");
	free(text);

	/* 1 an outsider: served; its header is HTTP garbage */
	ask("127.0.0.1", "", 0, HEALTH, out, sizeof(out));
	CHECK(strncmp(out, "HTTP/1.1 200", 12) == 0);
	const char v1[] = "PROXY TCP4 192.0.2.9 127.0.0.1 4000 80\r\n";
	ask("127.0.0.1", v1, sizeof(v1) - 1, HEALTH, out, sizeof(out));
	CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0);

	/* 2 the balancer without a header: closed, unanswered */
	ask("127.0.0.2", "", 0, HEALTH, out, sizeof(out));
	CHECK_STR(out, "");

	/* 3 the balancer's v2 header for 192.0.2.9, a byte at a time; an admin change made
	 * through it is audited from 192.0.2.9 */
	static const uint8_t v2[] = SIG "\x21\x11\x00\x0c"
					"\xc0\x00\x02\x09\x7f\x00\x00\x01\x0f\xa0\x00\x50";
	int fd = dial("127.0.0.2");
	CHECK(fd >= 0);
	for (size_t i = 0; fd >= 0 && i < sizeof(v2) - 1; i++) {
		CHECK_INT((int)send(fd, v2 + i, 1, 0), 1);
		struct timespec ms = { 0, 2000000 };
		nanosleep(&ms, NULL);
	}
	snprintf(req, sizeof(req),
		 "POST /api/v1/policy HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
		 "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
		 token);
	if (fd >= 0) {
		CHECK_INT((int)send(fd, req, strlen(req), 0), (int)strlen(req));
		hear(fd, out, sizeof(out), 5000);
		CHECK(strncmp(out, "HTTP/1.1 200", 12) == 0);
		close(fd);
	}
	snprintf(req, sizeof(req),
		 "GET /api/v1/audit HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
		 "Connection: close\r\n\r\n",
		 token);
	ask("127.0.0.1", "", 0, req, out, sizeof(out));
	CHECK(strstr(out, "\"admin.policy.set\"") != NULL);
	CHECK(strstr(out, "\"source\":\"192.0.2.9\"") != NULL);
	CHECK(strstr(out, "\"source\":\"127.0.0.2\"") == NULL);
	/* v1 for 198.51.100.4; LOCAL: the balancer's own health check */
	const char v1b[] = "PROXY TCP4 198.51.100.4 127.0.0.1 4000 80\r\n";
	ask("127.0.0.2", v1b, sizeof(v1b) - 1, HEALTH, out, sizeof(out));
	CHECK(strncmp(out, "HTTP/1.1 200", 12) == 0);
	static const uint8_t local[] = SIG "\x20\x00\x00\x00";
	ask("127.0.0.2", local, sizeof(local) - 1, HEALTH, out, sizeof(out));
	CHECK(strncmp(out, "HTTP/1.1 200", 12) == 0);
	/* a bad header from the balancer: closed */
	ask("127.0.0.2", SIG "\x21\x31\x00\x00", 16, HEALTH, out, sizeof(out));
	CHECK_STR(out, "");

	/* 4 256 balancer connections with half a header wait; the 257th is closed at once, an
	 * outsider is served meanwhile, and the waiting are closed at the deadline (3 s) */
	enum { WAITING = 256 };
	int fds[WAITING];
	for (int i = 0; i < WAITING; i++) {
		fds[i] = dial("127.0.0.2");
		CHECK(fds[i] >= 0 && send(fds[i], SIG, 8, 0) == 8);
	}
	struct timespec settle = { 0, 300000000 };
	nanosleep(&settle, NULL);
	uint64_t t0 = now_mono_ms();
	fd = dial("127.0.0.2");
	CHECK(fd >= 0);
	hear(fd, out, sizeof(out), 2000);
	CHECK_STR(out, "");
	CHECK(now_mono_ms() - t0 < 1500); /* closed, not left to its deadline */
	if (fd >= 0)
		close(fd);
	ask("127.0.0.1", "", 0, HEALTH, out, sizeof(out));
	CHECK(strncmp(out, "HTTP/1.1 200", 12) == 0);
	hear(fds[0], out, sizeof(out), 5000);
	CHECK_STR(out, "");
	uint64_t waited = now_mono_ms() - t0;
	CHECK(waited >= 2000 && waited < 4500);
	fprintf(stderr, "a header that never completes: closed after %llu ms\n",
		(unsigned long long)waited + 300);
	for (int i = 0; i < WAITING; i++)
		if (fds[i] >= 0)
			close(fds[i]);

	/* 5 IPv6 alone: ::ffff:127.0.0.1 would take IPv4 connections on a dual-stack socket */
	for (int with_proxy = 0; with_proxy < 2; with_proxy++) {
		char dir6[] = "/tmp/ctl-proxy6-XXXXXX";
		struct ctl_server *s6 = NULL;
		CHECK(mkdtemp(dir6) != NULL);
		struct ctl_server_config c6 = { .state_dir = dir6,
						.listen = "::ffff:127.0.0.1",
						.trusted_proxies = with_proxy ? &trust : NULL };
		CHECK_INT(ctl_server_new(&c6, &s6, err, sizeof(err)), 0);
		int rc = s6 ? ctl_server_start(s6, err, sizeof(err)) : 0;
		CHECK(rc < 0);
		CHECK(strncmp(err, "cannot listen on ::ffff:127.0.0.1 port 0", 40) == 0);
		ctl_server_free(s6);
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir6);
		CHECK_INT(system(cmd), 0);
	}

	/* the drain: no new connection once quiesced */
	CHECK_INT(ctl_server_quiesce(srv), 0);
	CHECK(dial("127.0.0.1") < 0);
	ctl_server_free(srv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_finish();
}
