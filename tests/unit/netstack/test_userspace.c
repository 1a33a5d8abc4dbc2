/* Outbound dialing and SOCKS5, and the idle timer:
 *  - ns_dial through lwIP to the in-memory peer (userspace and TUN mode, IPv4 and IPv6):
 *    the SYN goes out through the send callback, the peer's SYN-ACK is dispatched to lwIP
 *    (in TUN mode because the dial registered its port and the remote end), data flows both
 *    ways over the returned socketpair end; in TUN mode a SYN to the dial's port from
 *    another address or port goes to the TUN; a peer RST reports -ECONNREFUSED;
 *  - the SOCKS5 listener (RFC 1928) on a Unix socket: mode 0600 (0660 with a group), a
 *    client the allow callback refuses (it sees our uid) is closed before anything is
 *    read, a stale socket is replaced but no other file; CONNECT to an IPv4 address
 *    and to an IP-literal domain name relays data; errors answer with the RFC's codes:
 *    no acceptable method 0xFF, BIND 0x07, a name we cannot resolve 0x04, refused 0x05;
 *    a client that never finishes its handshake is closed after 10 s;
 *  - an idle netstack sleeps: at most a couple of timer wakeups in 1.5 s. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common.h"

static int dial_result = -1000;
static void on_dial(void *ctx, int fd_or_err)
{
	dial_result = fd_or_err;
}

static struct ns *make_ns(uv_loop_t *loop, enum ns_mode mode, int *tun_other)
{
	struct ns_config cfg;
	int sv[2] = { -1, -1 };
	if (mode == NS_MODE_TUN)
		CHECK_INT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	base_config(&cfg, mode, sv[0]);
	struct ns *ns = NULL;
	outq_init();
	CHECK_INT(ns_new(loop, &cfg, &ns), 0);
	if (tun_other)
		*tun_other = sv[1];
	return ns;
}

static void end_ns(uv_loop_t *loop, struct ns *ns)
{
	ns_free(ns);
	uv_run(loop, UV_RUN_DEFAULT);
}

static void pump(uv_loop_t *loop, struct peer *p, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		outq_deliver(p);
		usleep(200);
	}
}

/* The peer answers the SYN it received with a SYN-ACK. */
static void peer_accept(struct ns *ns, struct peer *p)
{
	uint8_t pkt[128];
	ns_input(ns, pkt,
		 peer_build(p, pkt, p->iss, p->rcv_nxt, PEER_SYN | PEER_ACK, NULL, 0, true));
	p->snd_nxt = p->iss + 1;
}

static void peer_send(struct ns *ns, struct peer *p, const char *s)
{
	uint8_t pkt[256];
	size_t n = strlen(s);
	ns_input(ns, pkt,
		 peer_build(p, pkt, p->snd_nxt, p->rcv_nxt, PEER_ACK | PEER_PSH, (const uint8_t *)s,
			    n, false));
	p->snd_nxt += (uint32_t)n;
}

static uint8_t got[256];
static size_t got_len;
static void collect(struct peer *p, const uint8_t *d, size_t n)
{
	if (got_len + n <= sizeof(got)) {
		memcpy(got + got_len, d, n);
		got_len += n;
	}
}

/* TUN mode: while a dial uses a local port, only its replies go to lwIP; a SYN to that port
 * from another address, or from the dial's address but another port (the kernel's own
 * connection on that port, or a service listening there), goes to the TUN as it came. */
static void dial_port_not_lwips(struct ns *ns, int family, uint16_t dial_port, int tun)
{
	struct ns_counters c0, c1;
	ns_get_counters(ns, &c0);
	for (int k = 0; k < 2; k++) {
		struct peer q;
		peer_setup(&q, family, k ? 8079 : 8080, dial_port, NULL);
		if (!k)
			memcpy(q.addr, family == AF_INET ? other4 : other6,
			       family == AF_INET ? 4 : 16);
		uint8_t pkt[128], out[256];
		size_t n = peer_build(&q, pkt, q.iss, 0, PEER_SYN, NULL, 0, true);
		ns_input(ns, pkt, n);
		struct pollfd pfd = { .fd = tun, .events = POLLIN };
		ssize_t got_n =
		    poll(&pfd, 1, 200) == 1 ? recv(tun, out, sizeof(out), MSG_DONTWAIT) : -1;
		CHECK_INT(got_n, (ssize_t)n);
		CHECK(got_n == (ssize_t)n && memcmp(out, pkt, n) == 0);
	}
	ns_get_counters(ns, &c1);
	CHECK_INT(c1.path[NS_PATH_TUN] - c0.path[NS_PATH_TUN], 2);
	CHECK_INT(c1.path[NS_PATH_INTERCEPT] - c0.path[NS_PATH_INTERCEPT], 0);
}

static void test_dial(uv_loop_t *loop, enum ns_mode mode, int family)
{
	int tun_other = -1;
	struct ns *ns = make_ns(loop, mode, &tun_other);
	struct peer p;
	const uint8_t *dst = family == AF_INET ? peer4 : peer6;
	peer_setup(&p, family, 8080, 0, NULL);
	p.on_data = collect;
	got_len = 0;
	dial_result = -1000;
	CHECK_INT(ns_dial(ns, family, dst, 8080, on_dial, NULL), 0);
	pump(loop, &p, 2);
	CHECK(p.got_syn);
	CHECK(p.their_port != 0);
	peer_accept(ns, &p);
	pump(loop, &p, 5);
	CHECK(dial_result >= 0);
	struct ns_counters c;
	ns_get_counters(ns, &c);
	CHECK_INT(c.path[NS_PATH_TUN], 0); /* the SYN-ACK went to lwIP, not the TUN */
	if (dial_result >= 0) {
		int fd = dial_result;
		CHECK_INT(send(fd, "hi", 2, 0), 2);
		pump(loop, &p, 10);
		CHECK_INT(got_len, 2);
		CHECK_MEM(got, "hi", 2);
		peer_send(ns, &p, "yo");
		pump(loop, &p, 5);
		char b[8] = { 0 };
		CHECK_INT(recv(fd, b, sizeof(b), MSG_DONTWAIT), 2);
		CHECK_STR(b, "yo");
		if (mode == NS_MODE_TUN)
			dial_port_not_lwips(ns, family, p.their_port, tun_other);
		close(fd);
	}

	/* refused: the peer answers the SYN with RST */
	peer_setup(&p, family, 8081, 0, NULL);
	dial_result = -1000;
	CHECK_INT(ns_dial(ns, family, dst, 8081, on_dial, NULL), 0);
	pump(loop, &p, 2);
	CHECK(p.got_syn);
	uint8_t pkt[128];
	ns_input(ns, pkt, peer_build(&p, pkt, 0, p.rcv_nxt, PEER_RST | PEER_ACK, NULL, 0, false));
	pump(loop, &p, 2);
	CHECK_INT(dial_result, -ECONNREFUSED);
	/* bad arguments are refused at once */
	CHECK_INT(ns_dial(ns, AF_UNIX, dst, 1, on_dial, NULL), -EAFNOSUPPORT);
	end_ns(loop, ns);
	if (tun_other >= 0)
		close(tun_other);
}

static void on_wait(uv_timer_t *t)
{
}

/* ---- SOCKS5 ---- */

static char socks_path[108];
static bool socks_refuse;
static uid_t socks_seen_uid = (uid_t)-1;

static bool socks_allow(void *ctx, uid_t uid, gid_t gid)
{
	(void)ctx;
	(void)gid;
	socks_seen_uid = uid;
	return !socks_refuse;
}

static int socks_connect(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", socks_path);
	CHECK_INT(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Reads exactly n bytes while running the loop; returns how many arrived. */
static size_t socks_read(uv_loop_t *loop, struct peer *p, int fd, uint8_t *buf, size_t n)
{
	size_t have = 0;
	for (int i = 0; i < 500 && have < n; i++) {
		pump(loop, p, 1);
		ssize_t r = recv(fd, buf + have, n - have, MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r > 0)
			have += (size_t)r;
	}
	return have;
}

static bool closed_by_server(uv_loop_t *loop, struct peer *p, int fd)
{
	uint8_t b[16];
	for (int i = 0; i < 500; i++) {
		pump(loop, p, 1);
		ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN))
			return true;
	}
	return false;
}

/* The SOCKS5 resolver: "peer" (and "peer.mesh.internal") is 100.64.0.2. */
static int resolve_peer(void *ctx, const char *name, int *family, uint8_t addr[16])
{
	if (strcmp(name, "peer") != 0 && strcmp(name, "peer.mesh.internal") != 0)
		return -ENOENT;
	*family = AF_INET;
	memcpy(addr, peer4, 4);
	return 0;
}

static void test_socks5(uv_loop_t *loop)
{
	char dir[] = "/tmp/mesh-socks5.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	snprintf(socks_path, sizeof(socks_path), "%s/socks5.sock", dir);
	struct ns *ns = make_ns(loop, NS_MODE_USERSPACE, NULL);
	struct peer p;
	uint8_t b[64];

	/* a file that is not a socket is never replaced */
	FILE *f = fopen(socks_path, "w");
	CHECK(f != NULL);
	fclose(f);
	CHECK_INT(ns_socks5_start(ns, socks_path, (gid_t)-1, socks_allow, NULL), -EEXIST);
	CHECK_INT(unlink(socks_path), 0);
	/* a stale socket is; the new one is 0600 whatever the umask */
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", socks_path);
	CHECK_INT(bind(stale, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(stale);
	mode_t old_umask = umask(0);
	CHECK_INT(ns_socks5_start(ns, socks_path, (gid_t)-1, socks_allow, NULL), 0);
	umask(old_umask);
	CHECK_INT(ns_socks5_start(ns, socks_path, (gid_t)-1, socks_allow, NULL), -EALREADY);
	struct stat st;
	CHECK_INT(stat(socks_path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);

	/* a client the allow callback refuses is closed without an answer to its greeting */
	socks_refuse = true;
	int rfd = socks_connect();
	CHECK_INT(send(rfd, "\x05\x01\x00", 3, 0), 3);
	peer_setup(&p, AF_INET, 8999, 0, NULL);
	ssize_t rr = -1;
	for (int i = 0; i < 500 && rr < 0; i++) {
		pump(loop, &p, 1);
		rr = recv(rfd, b, sizeof(b), MSG_DONTWAIT);
	}
	CHECK_INT(rr, 0); /* end of stream, not a method selection */
	CHECK_INT(socks_seen_uid, geteuid());
	close(rfd);
	socks_refuse = false;

	/* CONNECT 100.64.0.2:8082.., by IPv4 address, by IP-literal name, and (with a resolver)
	 * by a peer's name */
	for (int round = 0; round < 3; round++) {
		if (round == 2)
			ns_socks5_set_resolver(ns, resolve_peer, NULL);
		peer_setup(&p, AF_INET, (uint16_t)(8082 + round), 0, NULL);
		p.on_data = collect;
		got_len = 0;
		int fd = socks_connect();
		CHECK_INT(send(fd, "\x05\x01\x00", 3, 0), 3);
		CHECK_INT(socks_read(loop, &p, fd, b, 2), 2);
		CHECK_MEM(b, "\x05\x00", 2);
		uint8_t req[64] = { 5, 1, 0 };
		size_t rl;
		if (round == 0) {
			req[3] = 1;
			memcpy(req + 4, peer4, 4);
			rl = 8;
		} else if (round == 1) {
			req[3] = 3;
			req[4] = 10;
			memcpy(req + 5, "100.64.0.2", 10);
			rl = 15;
		} else {
			req[3] = 3;
			req[4] = 18;
			memcpy(req + 5, "peer.mesh.internal", 18);
			rl = 23;
		}
		req[rl] = (uint8_t)(p.port >> 8);
		req[rl + 1] = (uint8_t)p.port;
		CHECK_INT(send(fd, req, rl + 2, 0), (ssize_t)(rl + 2));
		pump(loop, &p, 3);
		CHECK(p.got_syn);
		peer_accept(ns, &p);
		CHECK_INT(socks_read(loop, &p, fd, b, 10), 10);
		CHECK_INT(b[0], 5);
		CHECK_INT(b[1], 0); /* succeeded */
		CHECK_INT(send(fd, "GET", 3, 0), 3);
		for (int i = 0; i < 100 && got_len < 3; i++)
			pump(loop, &p, 1);
		CHECK_INT(got_len, 3);
		CHECK_MEM(got, "GET", 3);
		peer_send(ns, &p, "OK!");
		CHECK_INT(socks_read(loop, &p, fd, b, 3), 3);
		CHECK_MEM(b, "OK!", 3);
		close(fd);
	}

	/* no acceptable method: 0xFF, then closed */
	peer_setup(&p, AF_INET, 9000, 0, NULL);
	int fd = socks_connect();
	CHECK_INT(send(fd, "\x05\x01\x02", 3, 0), 3);
	CHECK_INT(socks_read(loop, &p, fd, b, 2), 2);
	CHECK_MEM(b, "\x05\xff", 2);
	CHECK(closed_by_server(loop, &p, fd));
	close(fd);

	/* error replies to requests */
	static const struct {
		uint8_t req[24];
		size_t len;
		uint8_t rep;
	} bad[] = {
		{ { 5, 2, 0, 1, 100, 64, 0, 2, 0, 80 }, 10, 7 }, /* BIND */
		{ { 5, 1, 0, 3, 7, 'b', 'a', 'd', 'h', 'o', 's', 't', 0, 80 },
		  14,
		  4 },						       /* unknown name */
		{ { 5, 1, 0, 3, 4, 'p', 0, 'e', 'r', 0, 80 }, 11, 4 }, /* a NUL inside the name */
		{ { 5, 1, 0, 3, 0, 0, 80 }, 7, 4 },		       /* an empty name */
		{ { 5, 1, 0, 9, 1, 2, 3, 4, 0, 80 }, 10, 8 },	       /* address type */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = socks_connect();
		CHECK_INT(send(fd, "\x05\x01\x00", 3, 0), 3);
		CHECK_INT(socks_read(loop, &p, fd, b, 2), 2);
		CHECK_INT(send(fd, bad[i].req, bad[i].len, 0), (ssize_t)bad[i].len);
		CHECK_INT(socks_read(loop, &p, fd, b, 2), 2);
		CHECK_INT(b[1], bad[i].rep);
		CHECK(closed_by_server(loop, &p, fd));
		close(fd);
	}

	/* refused by the destination: 0x05 */
	peer_setup(&p, AF_INET, 9001, 0, NULL);
	fd = socks_connect();
	CHECK_INT(send(fd, "\x05\x01\x00", 3, 0), 3);
	CHECK_INT(socks_read(loop, &p, fd, b, 2), 2);
	uint8_t req[10] = { 5, 1, 0, 1, 100, 64, 0, 2, 9001 >> 8, 9001 & 255 };
	CHECK_INT(send(fd, req, sizeof(req), 0), 10);
	pump(loop, &p, 3);
	CHECK(p.got_syn);
	uint8_t pkt[128];
	ns_input(ns, pkt, peer_build(&p, pkt, 0, p.rcv_nxt, PEER_RST | PEER_ACK, NULL, 0, false));
	CHECK_INT(socks_read(loop, &p, fd, b, 2), 2);
	CHECK_INT(b[1], 5);
	close(fd);

	/* a client that says nothing is closed after the handshake timeout */
	fd = socks_connect();
	uv_timer_t t;
	uv_timer_init(loop, &t);
	uv_timer_start(&t, on_wait, 12500, 0); /* 10 s + one 1 s sweep + slack */
	while (uv_is_active((uv_handle_t *)&t))
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	CHECK_INT(r, 0);
	close(fd);

	end_ns(loop, ns);
	CHECK(access(socks_path, F_OK) < 0 && errno == ENOENT); /* removed with the netstack */
	rmdir(dir);
}

/* ---- idle ---- */

static void test_idle(uv_loop_t *loop)
{
	struct ns *ns = make_ns(loop, NS_MODE_USERSPACE, NULL);
	struct ns_counters c0, c1;
	ns_get_counters(ns, &c0);
	uv_timer_t t;
	uv_timer_init(loop, &t);
	uv_timer_start(&t, on_wait, 1500, 0);
	uv_run(loop, UV_RUN_ONCE);
	while (uv_is_active((uv_handle_t *)&t))
		uv_run(loop, UV_RUN_ONCE);
	ns_get_counters(ns, &c1);
	fprintf(stderr, "idle: %llu timer wakeups in 1.5 s\n",
		(unsigned long long)(c1.timer_wakeups - c0.timer_wakeups));
	CHECK(c1.timer_wakeups - c0.timer_wakeups <= 3); /* TCP's 250 ms timer would be 6 */
	uv_close((uv_handle_t *)&t, NULL);
	end_ns(loop, ns);
}

int main(void)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	test_dial(&loop, NS_MODE_USERSPACE, AF_INET);
	test_dial(&loop, NS_MODE_USERSPACE, AF_INET6);
	test_dial(&loop, NS_MODE_TUN, AF_INET);
	test_dial(&loop, NS_MODE_TUN, AF_INET6);
	test_socks5(&loop);
	test_idle(&loop);
	CHECK_INT(uv_loop_close(&loop), 0);
	outq_free();
	return check_finish();
}
