/* The socketpair bridge behind ns_listen(), driven by the in-memory TCP peer:
 *  - 64 MiB each way at once, patterned bytes checked one by one and FNV-1a checksums
 *    compared per direction, then a clean close both ways (no RST);
 *  - a reader that does not read: the netstack stops taking data after about one window
 *    (queued bytes <= 1 MiB, the advertised window reaches 0), then everything arrives;
 *  - half-close both ways: after the peer's FIN the handler reads EOF and can still
 *    write; after the handler's shutdown(SHUT_WR) the peer sees FIN and can still send;
 *  - RST: the peer's RST ends the handler's stream (EOF or ECONNRESET, then EPIPE); data
 *    sent to a handler that closed its end is answered with RST;
 *  - the connection limit resets the connection beyond it. */
#include <errno.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common.h"

static int handler_fd = -1;
static int accepts;
static struct ns_packet_info accept_info;

static void on_accept(void *ctx, int fd, const struct ns_packet_info *info)
{
	accepts++;
	accept_info = *info;
	if (handler_fd >= 0)
		close(handler_fd);
	handler_fd = fd;
}

static uint8_t pat_in(uint64_t i) /* peer -> handler */
{
	return (uint8_t)(i * 131 + (i >> 11));
}

static uint8_t pat_out(uint64_t i) /* handler -> peer */
{
	return (uint8_t)(i * 197 + (i >> 9) + 7);
}

static uint32_t fnv(uint32_t h, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ d[i]) * 16777619u;
	return h;
}

/* ---- one connection's traffic, driven by hand ---- */

struct xfer {
	struct ns *ns;
	uv_loop_t *loop;
	struct peer p;
	/* peer -> handler */
	size_t in_total, in_sent, in_got;
	uint32_t in_hash_sent, in_hash_got;
	int in_bad;
	bool peer_fin_sent, handler_eof;
	/* handler -> peer */
	size_t out_total, out_sent;
	uint32_t out_hash_sent, out_hash_got;
	int out_bad;
	bool handler_shut;
	bool handler_reads;
	uint32_t last_ack;
};

static struct xfer *cur;

static void peer_on_data(struct peer *p, const uint8_t *d, size_t n)
{
	size_t off = p->received - n;
	for (size_t i = 0; i < n; i++)
		if (d[i] != pat_out(off + i))
			cur->out_bad++;
	cur->out_hash_got = fnv(cur->out_hash_got, d, n);
}

static void xfer_init(struct xfer *x, struct ns *ns, uv_loop_t *loop, int family, size_t in,
		      size_t out)
{
	memset(x, 0, sizeof(*x));
	x->ns = ns;
	x->loop = loop;
	x->in_total = in;
	x->out_total = out;
	x->in_hash_sent = x->in_hash_got = x->out_hash_sent = x->out_hash_got = 2166136261u;
	x->handler_reads = true;
	cur = x;
	peer_setup(&x->p, family, 42000 + (uint16_t)(rand() % 1000), 22, NULL);
	x->p.on_data = peer_on_data;
	peer_connect(ns, &x->p);
	x->last_ack = x->p.rcv_nxt;
}

/* One round: the loop, the peer's receive side and ACKs, the peer's sends, the handler. */
static void xfer_step(struct xfer *x)
{
	uint8_t pkt[2048], data[2048];
	struct peer *p = &x->p;
	uv_run(x->loop, UV_RUN_NOWAIT);
	outq_deliver(p);
	if (p->rcv_nxt != x->last_ack) {
		ns_input(x->ns, pkt,
			 peer_build(p, pkt, p->snd_nxt, p->rcv_nxt, PEER_ACK, NULL, 0, false));
		x->last_ack = p->rcv_nxt;
		outq_deliver(p);
	}
	for (int burst = 0; burst < 64 && x->in_sent < x->in_total && !p->got_rst; burst++) {
		size_t n = x->in_total - x->in_sent;
		if (n > p->mss)
			n = p->mss;
		size_t inflight = p->snd_nxt - p->snd_una;
		if (inflight >= p->snd_wnd)
			break;
		if (n > p->snd_wnd - inflight)
			n = p->snd_wnd - inflight;
		for (size_t i = 0; i < n; i++)
			data[i] = pat_in(x->in_sent + i);
		x->in_hash_sent = fnv(x->in_hash_sent, data, n);
		ns_input(x->ns, pkt,
			 peer_build(p, pkt, p->snd_nxt, p->rcv_nxt, PEER_ACK | PEER_PSH, data, n,
				    false));
		p->snd_nxt += (uint32_t)n;
		x->in_sent += n;
		outq_deliver(p);
	}
	if (handler_fd < 0)
		return;
	uint8_t buf[65536];
	while (x->handler_reads && !x->handler_eof) {
		ssize_t n = recv(handler_fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			break;
		if (n == 0) {
			x->handler_eof = true;
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pat_in(x->in_got + (size_t)i))
				x->in_bad++;
		x->in_hash_got = fnv(x->in_hash_got, buf, (size_t)n);
		x->in_got += (size_t)n;
	}
	while (x->out_sent < x->out_total) {
		size_t n = x->out_total - x->out_sent;
		if (n > sizeof(buf))
			n = sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = pat_out(x->out_sent + i);
		ssize_t w = send(handler_fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w <= 0)
			break;
		x->out_hash_sent = fnv(x->out_hash_sent, buf, (size_t)w);
		x->out_sent += (size_t)w;
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct ns *make_ns(uv_loop_t *loop, unsigned max_conns)
{
	struct ns_config cfg;
	base_config(&cfg, NS_MODE_USERSPACE, -1);
	cfg.max_conns = max_conns;
	struct ns *ns = NULL;
	outq_init();
	CHECK_INT(ns_new(loop, &cfg, &ns), 0);
	CHECK_INT(ns_listen(ns, 22, on_accept, NULL), 0);
	handler_fd = -1;
	accepts = 0;
	return ns;
}

static void end_ns(uv_loop_t *loop, struct ns *ns)
{
	if (handler_fd >= 0)
		close(handler_fd);
	handler_fd = -1;
	ns_free(ns);
	uv_run(loop, UV_RUN_DEFAULT);
}

static void wait_inactive(struct xfer *x)
{
	struct ns_counters c;
	for (int i = 0; i < 2000; i++) {
		xfer_step(x);
		ns_get_counters(x->ns, &c);
		if (c.conns_active == 0)
			break;
	}
	CHECK_INT(c.conns_active, 0);
}

/* ---- the tests ---- */

static void test_bulk(uv_loop_t *loop, int family, size_t total)
{
	struct ns *ns = make_ns(loop, 0);
	struct xfer x;
	xfer_init(&x, ns, loop, family, total, total);
	CHECK_INT(accepts, 1);
	CHECK_INT(accept_info.family, family);
	CHECK_INT(accept_info.sport, x.p.port);
	CHECK_INT(accept_info.dport, 22);
	CHECK_MEM(accept_info.src, x.p.addr, family == AF_INET ? 4 : 16);
	double t0 = now_s();
	while (now_s() - t0 < 240) {
		xfer_step(&x);
		if (x.out_sent == x.out_total && !x.handler_shut) {
			shutdown(handler_fd, SHUT_WR);
			x.handler_shut = true;
		}
		if (x.in_sent == x.in_total && x.p.snd_una == x.p.snd_nxt && !x.peer_fin_sent) {
			uint8_t pkt[128];
			ns_input(ns, pkt,
				 peer_build(&x.p, pkt, x.p.snd_nxt, x.p.rcv_nxt,
					    PEER_ACK | PEER_FIN, NULL, 0, false));
			x.p.snd_nxt++;
			x.peer_fin_sent = true;
		}
		if (x.handler_eof && x.p.got_fin)
			break;
	}
	double dt = now_s() - t0;
	CHECK_INT(x.in_got, total);
	CHECK_INT(x.p.received, total);
	CHECK_INT(x.in_bad, 0);
	CHECK_INT(x.out_bad, 0);
	CHECK_INT(x.in_hash_got, x.in_hash_sent);
	CHECK_INT(x.out_hash_got, x.out_hash_sent);
	CHECK(x.handler_eof);
	CHECK(x.p.got_fin);
	CHECK_INT(x.p.bad_csum, 0);
	CHECK_INT(x.p.out_of_order, 0);
	wait_inactive(&x);
	CHECK(!x.p.got_rst);
	struct ns_counters c;
	ns_get_counters(ns, &c);
	CHECK_INT(c.buffered, 0);
	CHECK(c.buffered_max <= (1u << 20) + 4096);
	CHECK_INT(c.conns_reset_out, 0);
	fprintf(stderr, "bulk %s: %zu MiB each way in %.1f s, max queued %llu bytes\n",
		family == AF_INET ? "IPv4" : "IPv6", total >> 20, dt,
		(unsigned long long)c.buffered_max);
	end_ns(loop, ns);
}

static void test_slow_reader(uv_loop_t *loop)
{
	struct ns *ns = make_ns(loop, 0);
	struct xfer x;
	size_t total = 16u << 20;
	xfer_init(&x, ns, loop, AF_INET, total, 0);
	x.handler_reads = false;
	size_t last = 0;
	double since = now_s(); /* until nothing moved for 0.6 s (delayed ACKs included) */
	for (int i = 0; i < 1000000 && now_s() - since < 0.6; i++) {
		xfer_step(&x);
		if (x.in_sent != last)
			since = now_s();
		last = x.in_sent;
		usleep(100);
	}
	struct ns_counters c;
	ns_get_counters(ns, &c);
	/* The netstack held at most one receive window plus the socket buffer, not 16 MiB. */
	fprintf(stderr, "slow reader: peer could send %zu bytes; queued %llu (max %llu)\n",
		x.in_sent, (unsigned long long)c.buffered, (unsigned long long)c.buffered_max);
	CHECK(x.in_sent < total);
	CHECK(x.in_sent <= (3u << 20));
	CHECK(c.buffered_max <= (1u << 20) + 4096);
	CHECK_INT(x.p.min_wnd_seen, 0); /* the window really closed */
	/* Now read: everything arrives intact. */
	x.handler_reads = true;
	for (int i = 0; i < 200000 && x.in_got < total; i++)
		xfer_step(&x);
	CHECK_INT(x.in_got, total);
	CHECK_INT(x.in_bad, 0);
	CHECK_INT(x.in_hash_got, x.in_hash_sent);
	end_ns(loop, ns);
}

static void send_fin(struct xfer *x)
{
	uint8_t pkt[128];
	ns_input(x->ns, pkt,
		 peer_build(&x->p, pkt, x->p.snd_nxt, x->p.rcv_nxt, PEER_ACK | PEER_FIN, NULL, 0,
			    false));
	x->p.snd_nxt++;
}

static void test_half_close(uv_loop_t *loop, int family)
{
	/* The peer finishes first: the handler reads EOF, then still writes. */
	struct ns *ns = make_ns(loop, 0);
	struct xfer x;
	xfer_init(&x, ns, loop, family, 1000, 0);
	for (int i = 0; i < 500 && x.in_got < 1000; i++)
		xfer_step(&x);
	send_fin(&x);
	for (int i = 0; i < 500 && !x.handler_eof; i++)
		xfer_step(&x);
	CHECK_INT(x.in_got, 1000);
	CHECK(x.handler_eof);
	CHECK(!x.p.got_fin);
	x.out_total = 5000;
	for (int i = 0; i < 500 && x.p.received < 5000; i++)
		xfer_step(&x);
	CHECK_INT(x.p.received, 5000);
	CHECK_INT(x.out_bad, 0);
	close(handler_fd);
	handler_fd = -1;
	for (int i = 0; i < 500 && !x.p.got_fin; i++)
		xfer_step(&x);
	CHECK(x.p.got_fin);
	CHECK(!x.p.got_rst);
	wait_inactive(&x);
	end_ns(loop, ns);

	/* The handler finishes first: the peer sees FIN, then still sends. */
	ns = make_ns(loop, 0);
	xfer_init(&x, ns, loop, family, 0, 0);
	shutdown(handler_fd, SHUT_WR);
	for (int i = 0; i < 500 && !x.p.got_fin; i++)
		xfer_step(&x);
	CHECK(x.p.got_fin);
	x.in_total = 70000;
	for (int i = 0; i < 2000 && x.in_got < 70000; i++)
		xfer_step(&x);
	CHECK_INT(x.in_got, 70000);
	CHECK_INT(x.in_bad, 0);
	CHECK(!x.handler_eof);
	send_fin(&x);
	for (int i = 0; i < 500 && !x.handler_eof; i++)
		xfer_step(&x);
	CHECK(x.handler_eof);
	wait_inactive(&x);
	CHECK(!x.p.got_rst);
	end_ns(loop, ns);
}

static void test_reset(uv_loop_t *loop, int family)
{
	/* The peer resets: the handler's stream ends and writes fail with EPIPE. */
	struct ns *ns = make_ns(loop, 0);
	struct xfer x;
	xfer_init(&x, ns, loop, family, 0, 0);
	uint8_t pkt[128];
	ns_input(
	    ns, pkt,
	    peer_build(&x.p, pkt, x.p.snd_nxt, x.p.rcv_nxt, PEER_RST | PEER_ACK, NULL, 0, false));
	spin(loop, 3);
	char b[16];
	ssize_t r = recv(handler_fd, b, sizeof(b), MSG_DONTWAIT);
	CHECK(r == 0 || (r < 0 && errno == ECONNRESET));
	int err = 0;
	for (int i = 0; i < 3 && !err; i++)
		if (send(handler_fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			err = errno;
	CHECK_INT(err, EPIPE);
	struct ns_counters c;
	ns_get_counters(ns, &c);
	CHECK_INT(c.conns_reset_in, 1);
	CHECK_INT(c.conns_active, 0);
	end_ns(loop, ns);

	/* The handler closes; data that arrives afterwards is answered with RST (by lwIP:
	 * the bridge already closed the pcb as close() does). */
	ns = make_ns(loop, 0);
	xfer_init(&x, ns, loop, family, 0, 0);
	close(handler_fd);
	handler_fd = -1;
	for (int i = 0; i < 100 && !x.p.got_fin; i++)
		xfer_step(&x);
	CHECK(x.p.got_fin); /* close() sends FIN first, as a kernel socket does */
	x.in_total = 3000;
	for (int i = 0; i < 500 && !x.p.got_rst; i++)
		xfer_step(&x);
	CHECK(x.p.got_rst);
	ns_get_counters(ns, &c);
	CHECK_INT(c.conns_active, 0);
	end_ns(loop, ns);

	/* The handler closes with data it never read: RST at once, as close() does. */
	ns = make_ns(loop, 0);
	xfer_init(&x, ns, loop, family, 5000, 0);
	x.handler_reads = false;
	for (int i = 0; i < 100 && x.in_sent < 5000; i++)
		xfer_step(&x);
	close(handler_fd);
	handler_fd = -1;
	for (int i = 0; i < 100 && !x.p.got_rst; i++)
		xfer_step(&x);
	CHECK(x.p.got_rst);
	CHECK(!x.p.got_fin);
	ns_get_counters(ns, &c);
	CHECK_INT(c.conns_reset_out, 1);
	CHECK_INT(c.conns_active, 0);
	end_ns(loop, ns);
}

static void test_limit(uv_loop_t *loop)
{
	struct ns *ns = make_ns(loop, 2);
	struct peer p[3];
	int fds[2];
	for (int i = 0; i < 3; i++) {
		peer_setup(&p[i], AF_INET, (uint16_t)(43000 + i), 22, NULL);
		peer_connect(ns, &p[i]);
		outq_deliver(&p[i]);
		if (i < 2) {
			fds[i] = handler_fd;
			handler_fd = -1;
		}
	}
	CHECK_INT(accepts, 2);
	CHECK(!p[0].got_rst && !p[1].got_rst);
	CHECK(p[2].got_rst);
	struct ns_counters c;
	ns_get_counters(ns, &c);
	CHECK_INT(c.conns_refused_limit, 1);
	CHECK_INT(c.conns_active, 2);
	close(fds[0]);
	close(fds[1]);
	end_ns(loop, ns);
}

int main(void)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	srand(1);
	test_bulk(&loop, AF_INET, 64u << 20);
	test_bulk(&loop, AF_INET6, 4u << 20);
	test_slow_reader(&loop);
	test_half_close(&loop, AF_INET);
	test_half_close(&loop, AF_INET6);
	test_reset(&loop, AF_INET);
	test_reset(&loop, AF_INET6);
	test_limit(&loop);
	CHECK_INT(uv_loop_close(&loop), 0);
	outq_free();
	return check_finish();
}
