/* The TURN allocation over a byte stream (see reach.h): TCP to turn:H:P?transport=tcp, TLS
 * on TCP to turns:H:P, for networks that let only TCP (443) out.  One connection at a time,
 * on meshd's loop: uv_tcp, nat/tls.h for TLS (the relay's certificate verified against
 * --relay-ca-file or the system's store), nat/stream.h to cut the stream into STUN messages
 * and ChannelData for nat_turn_input, and the same framing out.
 *
 * WireGuard's datagrams to a relayed peer reach the stream through a UDP socket of ours on
 * 127.0.0.1 (the "shim"): wg/ sends a datagram to the address its route callback gives, so
 * the route of a peer on a stream relay is the shim, with the ChannelData header in front,
 * and what the shim receives is padded and written to the stream.  The shim is connected to
 * WireGuard's own socket (127.0.0.1, its port), so the kernel hands it nothing from
 * anywhere else; a datagram that is not one ChannelData message (a STUN request among them:
 * only our TURN client speaks STUN on the stream) is dropped all the same.  WireGuard's port
 * can change (`wg set ... listen-port`): the shim follows it before each route and each
 * datagram it takes, so WireGuard's new port is heard and nobody who binds the old one is.
 *
 * Bounds.  Who can send bytes on this stream: after TLS, only the relay; on plain TCP
 * anyone on the path, as over UDP today (STUN answers are matched by transaction id and
 * our credentials' MESSAGE-INTEGRITY, ChannelData only on channels we bound).  What we
 * read goes through one fixed buffer per connection; nat_tls buffers at most one TLS record,
 * nat_stream at most one message: nothing grows per byte received.  What we write is
 * bounded by STREAM_QUEUE_MAX (see below); over it a datagram is dropped and counted in
 * nat.relay_queue_drop (WireGuard takes loss as UDP's; memory must not grow while the
 * relay reads slowly or not at all).  A relay that accepts the connection and says nothing
 * is given STREAM_CONNECT_MS for TCP and TLS to be ready, then each request its 39.5 s
 * (nat/turn.h); either way the connection is closed and tried again with backoff. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cmd/daemon/reach/internal.h"
#include "nat/stream.h"
#include "nat/tls.h"

static const char *const subject = "reach";

enum {
	/* Bytes written to the socket and not yet taken by the kernel.  256 KiB is about 190
	 * full relayed datagrams: it rides out a burst of WireGuard's batches while the kernel's
	 * send buffer drains, and holds at most 2 ms of a 1 Gbit/s stream, so the tunnel's own
	 * TCP sees loss (and slows) rather than a queue that only adds delay. */
	STREAM_QUEUE_MAX = 256 * 1024,
	/* TURN's own requests (Refresh, ChannelBind) may go a little over, so that a burst of
	 * data cannot starve the allocation of its refreshes.  Bounded too: at most 8 requests
	 * are in flight (nat_turn), each under 600 bytes. */
	STREAM_CONTROL_SLACK = 16 * 1024,
	STREAM_READ_BUF = 64 * 1024,
};

enum conn_state { CONN_CONNECTING, CONN_HANDSHAKE, CONN_OPEN };

struct meshd_relay_conn {
	struct meshd_reach *r; /* NULL once closing: nothing calls back into the reach */
	enum conn_state state;
	bool tls_on, shim_on;
	uint16_t wg_port; /* WireGuard's port the shim is connected to */
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_udp_t shim;
	struct sockaddr_storage shim_addr; /* where WireGuard sends our relayed datagrams */
	struct nat_tls *tls;
	struct nat_stream stream;
	size_t queued; /* bytes in uv_write requests not yet completed */
	unsigned open_handles;
	uint8_t rbuf[STREAM_READ_BUF];
	uint8_t sbuf[NAT_STREAM_MAX_MSG + 4];
};

struct wreq {
	uv_write_t req;
	struct meshd_relay_conn *c;
	size_t len;
	uint8_t data[];
};

/* ---- closing ---- */

static void conn_closed(uv_handle_t *h)
{
	struct meshd_relay_conn *c = h->data;
	if (--c->open_handles)
		return;
	nat_tls_free(c->tls);
	sodium_memzero(c, sizeof(*c)); /* the relay's plaintext: our TURN messages */
	free(c);
}

/* Detaches the connection from the reach and closes it; its memory goes with its handles. */
static void conn_close(struct meshd_relay_conn *c)
{
	if (c->r && c->r->conn == c)
		c->r->conn = NULL;
	c->r = NULL;
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_closed);
	if (c->shim_on && !uv_is_closing((uv_handle_t *)&c->shim))
		uv_close((uv_handle_t *)&c->shim, conn_closed);
}

/* The connection failed or closed: relay.c decides what next (another relay, backoff). */
static void conn_fail(struct meshd_relay_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void conn_fail(struct meshd_relay_conn *c, const char *fmt, ...)
{
	struct meshd_reach *r = c->r;
	char why[CTL_LAPI_ALLOC_WHY];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	conn_close(c);
	if (r)
		meshd__relay_stream_failed(r, why);
}

void meshd__stream_close(struct meshd_reach *r)
{
	if (r->conn)
		conn_close(r->conn);
}

/* ---- writing ---- */

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = container_of(req, struct wreq, req);
	struct meshd_relay_conn *c = w->c;
	c->queued -= w->len;
	free(w);
	if (status < 0 && status != UV_ECANCELED && c->r)
		conn_fail(c, "relay connection: %s", uv_strerror(status));
}

/* Bytes for the socket, in order (ciphertext for TLS). */
static void sock_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct meshd_relay_conn *c = ctx;
	struct wreq *w = malloc(sizeof(*w) + len);
	if (!w) {
		/* a hole in the stream would break its framing: start over */
		if (c->r)
			conn_fail(c, "relay connection: out of memory");
		return;
	}
	memcpy(w->data, buf, len);
	w->c = c;
	w->len = len;
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
	int err = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
	if (err) {
		free(w);
		if (c->r)
			conn_fail(c, "relay connection: %s", uv_strerror(err));
		return;
	}
	c->queued += len;
}

bool meshd__stream_write(struct meshd_reach *r, const uint8_t *buf, size_t len, bool control)
{
	struct meshd_relay_conn *c = r->conn;
	if (!c || c->state != CONN_OPEN)
		return false;
	if (c->queued + len > STREAM_QUEUE_MAX + (control ? STREAM_CONTROL_SLACK : 0)) {
		r->stats.relay_queue_drop++;
		log_debug_rl(&r->rl, subject,
			     "relay: %zu bytes wait for the relay's stream; a "
			     "message of %zu dropped",
			     c->queued, len);
		return false;
	}
	if (!c->tls_on) {
		sock_write(c, buf, len);
		return true;
	}
	int err = nat_tls_write(c->tls, buf, len);
	if (err && c->r)
		conn_fail(c, "%s", nat_tls_why(c->tls));
	return err == 0;
}

/* ---- reading ---- */

/* Plaintext from the relay: whole messages to relay.c.  Stops (negative) when the stream
 * broke or the connection was closed meanwhile (relay.c may close it on an answer). */
static int on_plain(void *ctx, const uint8_t *buf, size_t len)
{
	struct meshd_relay_conn *c = ctx;
	const uint8_t *msg;
	size_t n;
	int rc;
	while (c->r && (rc = nat_stream_next(&c->stream, &buf, &len, &msg, &n)) == 1)
		meshd__relay_input(c->r, (uint8_t *)msg, n);
	if (!c->r)
		return -ECANCELED;
	if (rc < 0)
		conn_fail(c, "relay stream: %s", c->stream.why);
	return rc < 0 ? rc : 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct meshd_relay_conn *c = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct meshd_relay_conn *c = s->data;
	if (!c->r || n == 0)
		return;
	if (n < 0) {
		conn_fail(c,
			  n == UV_EOF ? "the relay closed the connection" : "relay connection: %s",
			  uv_strerror((int)n));
		return;
	}
	if (!c->tls_on) {
		on_plain(c, (const uint8_t *)buf->base, (size_t)n);
		return;
	}
	int rc = nat_tls_input(c->tls, (const uint8_t *)buf->base, (size_t)n);
	if (!c->r)
		return; /* closed from inside (on_plain failed it, or relay.c moved on) */
	if (rc < 0) {
		conn_fail(c, "%s", nat_tls_why(c->tls));
		return;
	}
	if (rc == 1) {
		c->state = CONN_OPEN;
		meshd__relay_stream_ready(c->r);
	}
}

/* ---- the shim: WireGuard's datagrams for the relay ---- */

static void on_shim_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct meshd_relay_conn *c = h->data;
	(void)suggested;
	/* room for the padding nat_stream_frame adds */
	*buf = uv_buf_init((char *)c->sbuf, sizeof(c->sbuf) - 4);
}

/* Connects the shim to WireGuard's port of now.  False when it had moved (what came from the
 * old port is not WireGuard's) or the shim could not follow: then it is tried again at the
 * next datagram, and until it follows everything the shim receives is dropped. */
static bool shim_follow(struct meshd_relay_conn *c)
{
	uint16_t port = wg_device_listen_port(c->r->wg);
	struct sockaddr_in wg = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons(port) };
	int err, len = sizeof(c->shim_addr);
	if (port == c->wg_port)
		return true;
	/* Disconnecting gives up the shim's own port too (it was chosen by the kernel), so the
	 * address WireGuard is routed to is read again. */
	err = uv_udp_connect(&c->shim, NULL);
	if (err == UV_ENOTCONN || !err)
		err = uv_udp_connect(&c->shim, (const struct sockaddr *)&wg);
	if (!err)
		err = uv_udp_getsockname(&c->shim, (struct sockaddr *)&c->shim_addr, &len);
	if (err) {
		log_warn_rl(&c->r->rl, subject,
			    "relay shim: cannot follow WireGuard to port %u: %s", port,
			    uv_strerror(err));
		return false;
	}
	log_info(subject, "relay shim: WireGuard moved from port %u to %u; following", c->wg_port,
		 port);
	c->wg_port = port;
	return false;
}

static void on_shim(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
		    unsigned flags)
{
	struct meshd_relay_conn *c = u->data;
	if (!c->r || n <= 0 || (flags & UV_UDP_PARTIAL))
		return;
	/* From the port WireGuard left (anyone's now), also when it waited in the queue from
	 * before the shim followed: dropped. */
	if (!shim_follow(c) || !from || from->sa_family != AF_INET ||
	    ((const struct sockaddr_in *)from)->sin_port != htons(c->wg_port)) {
		c->r->stats.drop_channel++;
		return;
	}
	int len = nat_stream_frame_data((uint8_t *)buf->base, (size_t)n, sizeof(c->sbuf));
	if (len < 0) { /* not one ChannelData message: not WireGuard's */
		c->r->stats.drop_channel++;
		return;
	}
	meshd__stream_write(c->r, (const uint8_t *)buf->base, (size_t)len, false);
}

/* The shim on 127.0.0.1, connected to WireGuard's socket there. */
static int shim_open(struct meshd_relay_conn *c, uv_loop_t *loop, uint16_t wg_port)
{
	struct sockaddr_in any = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in wg = any;
	int len = sizeof(c->shim_addr), err;
	wg.sin_port = htons(wg_port);
	c->wg_port = wg_port;
	if ((err = uv_udp_init(loop, &c->shim)))
		return err;
	c->shim.data = c;
	c->shim_on = true;
	c->open_handles++;
	if ((err = uv_udp_bind(&c->shim, (const struct sockaddr *)&any, 0)) ||
	    (err = uv_udp_connect(&c->shim, (const struct sockaddr *)&wg)) ||
	    (err = uv_udp_getsockname(&c->shim, (struct sockaddr *)&c->shim_addr, &len)))
		return err;
	return uv_udp_recv_start(&c->shim, on_shim_alloc, on_shim);
}

/* ---- connecting ---- */

static void on_connect(uv_connect_t *req, int status)
{
	struct meshd_relay_conn *c = req->data;
	if (!c->r || status == UV_ECANCELED)
		return;
	if (status < 0) {
		conn_fail(c, "connect: %s", uv_strerror(status));
		return;
	}
	int err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (err) {
		conn_fail(c, "relay connection: %s", uv_strerror(err));
		return;
	}
	if (!c->tls_on) {
		c->state = CONN_OPEN;
		meshd__relay_stream_ready(c->r);
		return;
	}
	c->state = CONN_HANDSHAKE;
	if (nat_tls_start(c->tls) != 0)
		conn_fail(c, "%s", nat_tls_why(c->tls));
}

int meshd__stream_open(struct meshd_reach *r, char *err, size_t errlen)
{
	static const struct nat_tls_callbacks cb = { sock_write, on_plain };
	struct meshd_relay_conn *c = calloc(1, sizeof(*c));
	int rc;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	meshd__stream_close(r);
	c->r = r;
	c->tls_on = r->relay.url.transport == CTL_RELAY_TLS;
	nat_stream_init(&c->stream);
	if (c->tls_on &&
	    (rc = nat_tls_new(r->relay_ca_file, r->relay.url.host, &cb, c, &c->tls, err, errlen))) {
		free(c);
		return rc;
	}
	if ((rc = uv_tcp_init(r->loop, &c->tcp))) {
		snprintf(err, errlen, "relay connection: %s", uv_strerror(rc));
		nat_tls_free(c->tls);
		free(c);
		return rc;
	}
	c->tcp.data = c->connect.data = c;
	c->open_handles = 1;
	r->conn = c;
	if ((rc = shim_open(c, r->loop, wg_device_listen_port(r->wg))) ||
	    (rc = uv_tcp_nodelay(&c->tcp, 1)) ||
	    (rc = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&r->relay_addr,
				 on_connect))) {
		snprintf(err, errlen, "relay connection: %s", uv_strerror(rc));
		conn_close(c);
		return rc;
	}
	return 0;
}

const char *meshd__stream_stalled(const struct meshd_reach *r)
{
	if (r->conn && r->conn->state == CONN_HANDSHAKE)
		return "no TLS handshake within 10 s";
	return "no connection within 10 s";
}

bool meshd__stream_route(const struct meshd_reach *r, struct sockaddr_storage *to)
{
	if (!r->conn || r->conn->state != CONN_OPEN)
		return false;
	if (!shim_follow(r->conn) && r->conn->wg_port != wg_device_listen_port(r->wg))
		return false; /* it could not follow: nothing for the shim meanwhile */
	*to = r->conn->shim_addr;
	return true;
}
