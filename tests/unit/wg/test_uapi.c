/* The UAPI text protocol: a get on a fresh device, a full set and the get that reflects
 * it line by line, peer removal / update_only / replace_allowed_ips, and a numbered table
 * of bad requests that must each answer errno=22 and leave the device exactly as it was
 * (the get output before and after is compared byte for byte).  Last, the same protocol
 * over the Unix socket, with a plain socket client against the device on the loop. */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "wg/internal.h"

static uv_loop_t loop;
static struct wg_device *dev;

static char *req(const char *text)
{
	char *reply;
	size_t len;
	CHECK_INT(wg_device_uapi_request(dev, text, strlen(text), &reply, &len), 0);
	CHECK_INT(strlen(reply), len);
	return reply;
}

static bool contains(const char *hay, const char *needle)
{
	bool ok = strstr(hay, needle) != NULL;
	if (!ok)
		fprintf(stderr, "missing line: %s\nin:\n%s\n", needle, hay);
	return ok;
}

#define PRIV "a8d5d2a4b1d43b4bbbd2b36a4a95b2fdc3b66d8a0b9bd0cf14cfb4c8e3b0a05c"
#define PEER1 "f2ad6e9eb3fc14ac0b3ce1e3c4a8cd5f3f8b87da8d9b9e4cfbe1c3c8d7a1b253"
#define PEER2 "0be1f6b2e0c51d1f4b6e1c0b7e3c9b8a6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f17"

static void bad_requests(void)
{
	static const char *const bad[] = {
		/* 1 */ "set=1\nfoo=bar\n\n",
		/* 2 */ "set=1\npublic_key=" PEER2 "\nallowed_ip=10.1.0.0/33\n\n",
		/* 3 */ "set=1\npublic_key=" PEER2 "\nendpoint=10.0.0.1\n\n",
		/* 4 */ "set=1\npublic_key=" PEER2 "\nendpoint=[::1:51820\n\n",
		/* 5 */ "set=1\npublic_key=abcd\n\n",
		/* 6 */ "set=1\nlisten_port=70000\n\n",
		/* 7 */ "set=1\nprivate_key=zz" PRIV "\n\n",
		/* 8 */ "set=1\nendpoint=127.0.0.1:1\n\n",
		/* 9 */ "set=1\nreplace_peers=false\n\n",
		/* 10 */ "set=1\npublic_key=" PEER2 "\nprotocol_version=2\n\n",
		/* 11 */ "set=1\npublic_key=" PEER2 "\nno equals sign\n\n",
		/* 12 */ "bogus=1\n\n",
		/* 13 */ "set=1\npublic_key=" PEER2 "\npersistent_keepalive_interval=-1\n\n",
		/* 14 */ "set=1\npublic_key=" PEER2 "\nallowed_ip=1.2.3.4/8x\n\n",
		/* 15 */ "set=1\npublic_key=" PEER2 "\nendpoint=1.2.3.4:99999\n\n",
		/* 16 */ "set=1\npublic_key=" PEER2 "\nendpoint=[fe80::1%eth0]:51820\n\n",
		/* 17 */ "set=1\npublic_key=" PEER2 "\nendpoint=1.2.3.4:0\n\n",
		/* 18 */ "set=1\npublic_key=" PEER2 "\nendpoint=::1:51820\n\n",
		/* 19: valid lines first, the bad one last: nothing applied */
		"set=1\nlisten_port=1\npublic_key=" PEER2 "\nallowed_ip=10.5.0.0/16\nfoo=1\n\n",
	};
	char *before = req("get=1\n\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *r = req(bad[i]);
		if (strcmp(r, "errno=22\n\n") != 0)
			fprintf(stderr, "bad request %zu: answer %s", i + 1, r);
		CHECK_STR(r, "errno=22\n\n");
		free(r);
		char *after = req("get=1\n\n");
		if (strcmp(after, before) != 0)
			fprintf(stderr, "bad request %zu changed the device\n", i + 1);
		CHECK_STR(after, before);
		free(after);
	}
	/* 20: a NUL byte inside a request */
	char *reply;
	size_t len;
	static const char nul[] = "set=1\nfwmark=1\0\n\n";
	CHECK_INT(wg_device_uapi_request(dev, nul, sizeof(nul) - 1, &reply, &len), 0);
	CHECK_STR(reply, "errno=22\n\n");
	free(reply);
	free(before);
}

static void socket_roundtrip(void)
{
	char path[] = "/tmp/wg-uapi-test-XXXXXX";
	char sock[64], buf[4096];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t got = 0;

	CHECK(mkdtemp(path) != NULL);
	snprintf(sock, sizeof(sock), "%s/wgt.sock", path);
	CHECK_INT(wg_device_uapi_start(dev, sock), 0);

	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	CHECK_INT(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	/* two requests in one write: both are answered, in order */
	const char *two = "get=1\n\nset=1\nfwmark=0\n\n";
	CHECK_INT(write(fd, two, strlen(two)), (ssize_t)strlen(two));
	for (int i = 0; i < 200 && !(got > 0 && strstr(buf, "errno=0\n\nerrno=0\n\n")); i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		buf[got] = '\0';
		usleep(1000);
	}
	CHECK(strstr(buf, "listen_port=") == buf + strlen("private_key=" PRIV "\n"));
	CHECK(strstr(buf, "errno=0\n\nerrno=0\n\n") != NULL);
	close(fd);
	wg_device_free(dev);
	dev = NULL;
	while (uv_run(&loop, UV_RUN_DEFAULT))
		;
	/* the socket file goes with the device */
	CHECK(access(sock, F_OK) != 0);
	rmdir(path);
}

int main(void)
{
	struct wg_device_config cfg = { .name = "wgU" };
	char *r, line[128];

	uv_loop_init(&loop);
	CHECK_INT(wg_device_new(&loop, &cfg, NULL, NULL, &dev), 0);

	/* 1: fresh device: no key, a port, no peers */
	r = req("get=1\n\n");
	snprintf(line, sizeof(line), "listen_port=%u\nerrno=0\n\n", wg_device_listen_port(dev));
	CHECK_STR(r, line);
	free(r);

	/* 2: configure everything */
	r = req("set=1\nprivate_key=" PRIV "\nfwmark=0\nreplace_peers=true\n"
		"public_key=" PEER1 "\npreshared_key=" PRIV "\nendpoint=[::1]:51820\n"
		"persistent_keepalive_interval=0\nreplace_allowed_ips=true\n"
		"allowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\nprotocol_version=1\n"
		"public_key=" PEER2 "\nendpoint=192.0.2.7:4242\nallowed_ip=10.0.1.1/32\n\n");
	CHECK_STR(r, "errno=0\n\n");
	free(r);
	r = req("get=1\n\n");
	CHECK(contains(r, "private_key=" PRIV "\n"));
	CHECK(contains(r, "public_key=" PEER1 "\npreshared_key=" PRIV "\nprotocol_version=1\n"
			  "endpoint=[::1]:51820\nlast_handshake_time_sec=0\n"
			  "last_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n"
			  "persistent_keepalive_interval=0\nallowed_ip=10.0.0.0/24\n"
			  "allowed_ip=fd00::/64\n"));
	CHECK(contains(r, "public_key=" PEER2 "\n"));
	CHECK(contains(r, "endpoint=192.0.2.7:4242\n"));
	CHECK(contains(r, "allowed_ip=10.0.1.1/32\nerrno=0\n\n"));
	free(r);

	bad_requests();

	/* 2b: a link-local endpoint keeps its numeric scope id, and prints as it was set */
	r = req("set=1\npublic_key=" PEER2 "\nendpoint=[fe80::1%2]:51820\n\n");
	CHECK_STR(r, "errno=0\n\n");
	free(r);
	r = req("get=1\n\n");
	CHECK(contains(r, "endpoint=[fe80::1%2]:51820\n"));
	free(r);

	/* 3: update_only does not create; replace_allowed_ips replaces; remove removes */
	r = req("set=1\npublic_key=" PRIV "\nupdate_only=true\nallowed_ip=10.9.0.0/16\n\n");
	CHECK_STR(r, "errno=0\n\n");
	free(r);
	r = req("set=1\npublic_key=" PEER1 "\nreplace_allowed_ips=true\nallowed_ip=10.2.0.0/16\n"
		"public_key=" PEER2 "\nremove=true\n\n");
	CHECK_STR(r, "errno=0\n\n");
	free(r);
	r = req("get=1\n\n");
	CHECK(strstr(r, "10.9.0.0") == NULL);
	CHECK(strstr(r, PEER2) == NULL);
	CHECK(strstr(r, "allowed_ip=10.0.0.0/24") == NULL);
	CHECK(contains(r, "allowed_ip=10.2.0.0/16\nerrno=0\n\n"));
	free(r);

	/* 4: private key all zero removes it */
	r = req("set=1\nprivate_key="
		"0000000000000000000000000000000000000000000000000000000000000000\n\n");
	CHECK_STR(r, "errno=0\n\n");
	free(r);
	r = req("get=1\n\n");
	CHECK(strstr(r, "private_key=") == NULL);
	free(r);
	r = req("set=1\nprivate_key=" PRIV "\n\n");
	free(r);

	/* 5: a listen port that is taken: EADDRINUSE, old sockets kept; port 0 rebinds */
	int busy = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	CHECK_INT(bind(busy, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(busy, (struct sockaddr *)&sin, &sl);
	uint16_t old_port = wg_device_listen_port(dev);
	snprintf(line, sizeof(line), "set=1\nlisten_port=%u\n\n", ntohs(sin.sin_port));
	r = req(line);
	CHECK_STR(r, "errno=98\n\n");
	free(r);
	CHECK_INT(wg_device_listen_port(dev), old_port);
	CHECK(dev->udp4.active && dev->udp4.fd >= 0);
	close(busy);
	r = req("set=1\nlisten_port=0\n\n");
	CHECK_STR(r, "errno=0\n\n");
	free(r);
	CHECK(wg_device_listen_port(dev) != old_port && wg_device_listen_port(dev) != 0);
	CHECK(dev->udp4.active && dev->udp4.h->udp == &dev->udp4);
	uv_run(&loop, UV_RUN_NOWAIT); /* the old sockets' close callbacks */

	socket_roundtrip();
	CHECK_INT(uv_loop_close(&loop), 0);
	return check_finish();
}
