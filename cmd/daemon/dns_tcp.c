/* MagicDNS over TCP on the node: this host's TCP clients of the resolver (each a stream the
 * netstack hands over as a socketpair, like SSH on port 22) and the TCP connections to
 * upstreams that a truncated UDP answer calls for.  Both read the stream with
 * dns_tcp_frame (RFC 1035 4.2.2: two length bytes, then the message).
 *
 * Bounds on what a client can make us hold (any local process can connect):
 *  - at most CLIENTS_MAX streams at once; one more is closed at once (dns.tcp_refused);
 *  - per stream, input up to one query: 2 + DNS_QUERY_MAX bytes (a longer length or a
 *    zero one closes it: dns.tcp_bad_frames), and at most WRITE_QUEUE_MAX bytes of answers
 *    it does not read (then it is closed: dns.replies_lost);
 *  - a stream with no query for IDLE_MS is closed (dns.tcp_idle; RFC 7766 6.2.3 leaves
 *    the value to the server, and every answer comes within the resolver's 5 s timeout).
 * So at most CLIENTS_MAX * (4 KiB + 256 KiB).  Upstream connections: one per query that
 * needs one, at most DNS_INFLIGHT_DEFAULT (the resolver's in-flight bound), each closed
 * after its answer or at the resolver's timeout, its input at most 2 + DNS_TCP_MAX bytes. */
#include "cmd/daemon/dns_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/container.h"
#include "common/log.h"
#include "netstack/netstack.h"

enum {
	CLIENTS_MAX = 64,
	IDLE_MS = 10000,
	WRITE_QUEUE_MAX = 256 * 1024,
	UPCONNS_MAX = DNS_INFLIGHT_DEFAULT,
};

static const char *const subject = "dns";
static struct log_ratelimit tcp_rl = LOG_RATELIMIT_INIT(5000, 5);

/* What a client's stream and an upstream connection share: a place on one of d's lists,
 * and a stream and a timer that close together (the memory goes when both have). */
struct meshd_dns_conn {
	struct meshd_dns *d;
	struct meshd_dns_conn *prev, *next;
	struct meshd_dns_conn **head; /* the list it is on */
	size_t *count;		      /* and that list's length */
	unsigned handles;	      /* open */
	bool closing;
	void (*free)(struct meshd_dns_conn *c);
};

struct meshd_dns_client {
	struct meshd_dns_conn conn;
	struct addr_endpoint peer;
	uv_pipe_t pipe;
	uv_timer_t idle;
	size_t have;
	uint8_t buf[2 + DNS_QUERY_MAX];
};

struct meshd_dns_upconn {
	struct meshd_dns_conn conn;
	struct addr_endpoint upstream;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_timer_t timer;
	uint8_t *query;
	size_t qlen;
	uint8_t *in; /* 2 + DNS_TCP_MAX, on the first read */
	size_t have;
};

struct wreq {
	uv_write_t req;
	uint8_t data[];
};

static void written(uv_write_t *w, int status)
{
	(void)status; /* a failed write ends in the stream's read error */
	free(w);
}

/* A copy of msg behind its length, written to s; false when out of memory or refused. */
static bool write_framed(uv_stream_t *s, const uint8_t *msg, size_t len)
{
	struct wreq *w = malloc(sizeof(*w) + 2 + len);
	if (!w)
		return false;
	w->data[0] = (uint8_t)(len >> 8);
	w->data[1] = (uint8_t)len;
	memcpy(w->data + 2, msg, len);
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(2 + len));
	if (uv_write(&w->req, s, &b, 1, written) < 0) {
		free(w);
		return false;
	}
	return true;
}

/* ---- either kind ---- */

/* Puts c on the list at head; stream and timer (initialized) get c as their data. */
static void conn_link(struct meshd_dns_conn *c, struct meshd_dns *d, struct meshd_dns_conn **head,
		      size_t *count, void (*free_fn)(struct meshd_dns_conn *c), uv_handle_t *stream,
		      uv_handle_t *timer)
{
	*c = (struct meshd_dns_conn){ .d = d, .head = head, .count = count, .handles = 2 };
	c->free = free_fn;
	stream->data = timer->data = c;
	c->next = *head;
	if (c->next)
		c->next->prev = c;
	*head = c;
	++*count;
}

static void conn_closed(uv_handle_t *h)
{
	struct meshd_dns_conn *c = h->data;
	if (--c->handles > 0)
		return;
	struct meshd_dns *d = c->d;
	c->free(c);
	meshd__dns_release(d);
}

static void conn_close(struct meshd_dns_conn *c, uv_handle_t *stream, uv_handle_t *timer)
{
	if (c->closing)
		return;
	c->closing = true;
	*(c->prev ? &c->prev->next : c->head) = c->next;
	if (c->next)
		c->next->prev = c->prev;
	--*c->count;
	c->d->pending++;
	uv_close(stream, conn_closed);
	uv_close(timer, conn_closed);
}

/* ---- this host's clients ---- */

static struct meshd_dns_client *client_of(struct meshd_dns_conn *c)
{
	return container_of(c, struct meshd_dns_client, conn);
}

static void client_free(struct meshd_dns_conn *c)
{
	free(client_of(c));
}

static void client_close(struct meshd_dns_client *c)
{
	conn_close(&c->conn, (uv_handle_t *)&c->pipe, (uv_handle_t *)&c->idle);
}

static void on_client_idle(uv_timer_t *t)
{
	struct meshd_dns_client *c = client_of(t->data);
	c->conn.d->c.tcp_idle++;
	client_close(c);
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct meshd_dns_client *c = client_of(h->data);
	(void)suggested;
	*buf = uv_buf_init((char *)c->buf + c->have, (unsigned)(sizeof(c->buf) - c->have));
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct meshd_dns_client *c = client_of(s->data);
	(void)buf;
	if (n < 0) {
		client_close(c);
		return;
	}
	c->have += (size_t)n;
	while (!c->conn.closing) {
		size_t len;
		const char *why = NULL;
		int r = dns_tcp_frame(c->buf, c->have, DNS_QUERY_MAX, &len, &why);
		if (r == 0)
			break;
		if (r < 0) {
			char e[ADDR_TEXT_MAX];
			c->conn.d->c.tcp_bad_frames++;
			log_warn_rl(&tcp_rl, subject, "TCP client %s: %s; closed",
				    addr_endpoint_format(&c->peer, e), why);
			client_close(c);
			return;
		}
		uv_timer_start(&c->idle, on_client_idle, IDLE_MS, 0);
		meshd__dns_handle(c->conn.d, &c->peer, c->buf + 2, len, DNS_TCP, false);
		c->have -= 2 + len;
		memmove(c->buf, c->buf + 2 + len, c->have);
	}
}

void meshd__dns_tcp_accept(void *ctx, int fd, const struct ns_packet_info *info)
{
	struct meshd_dns *d = ctx;
	struct meshd_dns_client *c = NULL;
	if (d->closing || d->n_clients >= CLIENTS_MAX || !(c = calloc(1, sizeof(*c)))) {
		d->c.tcp_refused++;
		log_warn_rl(&tcp_rl, subject, "%zu TCP clients: one more refused", d->n_clients);
		close(fd);
		return;
	}
	c->peer.ip.family = info->family;
	memcpy(c->peer.ip.bytes, info->src, addr_family_len(info->family));
	c->peer.port = info->sport;
	uv_pipe_init(d->loop, &c->pipe, 0);
	uv_timer_init(d->loop, &c->idle);
	conn_link(&c->conn, d, &d->clients, &d->n_clients, client_free, (uv_handle_t *)&c->pipe,
		  (uv_handle_t *)&c->idle);
	d->c.tcp_clients++;
	int opened = uv_pipe_open(&c->pipe, fd);
	if (opened < 0) /* else the pipe owns fd: its close closes it, once */
		close(fd);
	if (opened < 0 || uv_read_start((uv_stream_t *)&c->pipe, client_alloc, client_read) < 0) {
		client_close(c);
		return;
	}
	uv_timer_start(&c->idle, on_client_idle, IDLE_MS, 0);
}

void meshd__dns_tcp_reply(struct meshd_dns *d, const struct addr_endpoint *client,
			  const uint8_t *msg, size_t len)
{
	struct meshd_dns_client *c = NULL;
	for (struct meshd_dns_conn *i = d->clients; i && !c; i = i->next)
		if (addr_endpoint_equal(&client_of(i)->peer, client))
			c = client_of(i);
	if (!c || !write_framed((uv_stream_t *)&c->pipe, msg, len)) {
		d->c.replies_lost++; /* it went away, or out of memory */
		return;
	}
	uv_timer_start(&c->idle, on_client_idle, IDLE_MS, 0);
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > WRITE_QUEUE_MAX) {
		d->c.replies_lost++; /* it does not read its answers */
		client_close(c);
	}
}

void meshd__dns_tcp_close_clients(struct meshd_dns *d)
{
	while (d->clients)
		client_close(client_of(d->clients));
}

/* ---- upstreams ---- */

static struct meshd_dns_upconn *upconn_of(struct meshd_dns_conn *c)
{
	return container_of(c, struct meshd_dns_upconn, conn);
}

static void upconn_free(struct meshd_dns_conn *c)
{
	struct meshd_dns_upconn *u = upconn_of(c);
	free(u->query);
	free(u->in);
	free(u);
}

static void upconn_close(struct meshd_dns_upconn *u)
{
	conn_close(&u->conn, (uv_handle_t *)&u->tcp, (uv_handle_t *)&u->timer);
}

static void on_upconn_timeout(uv_timer_t *t)
{
	upconn_close(
	    upconn_of(t->data)); /* the resolver answers the client SERVFAIL at its deadline */
}

static void up_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct meshd_dns_upconn *u = upconn_of(h->data);
	(void)suggested;
	if (!u->in)
		u->in = malloc(2 + DNS_TCP_MAX);
	*buf = u->in ? uv_buf_init((char *)u->in + u->have, (unsigned)(2 + DNS_TCP_MAX - u->have))
		     : uv_buf_init(NULL, 0);
}

static void up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct meshd_dns_upconn *u = upconn_of(s->data);
	(void)buf;
	if (n < 0) {
		u->conn.d->c.upstream_errors++;
		upconn_close(u);
		return;
	}
	u->have += (size_t)n;
	size_t len;
	const char *why = NULL;
	int r = dns_tcp_frame(u->in, u->have, DNS_TCP_MAX, &len, &why);
	if (r == 0)
		return;
	if (r == 1) /* one answer per connection: the resolver matches it to the query */
		meshd__dns_handle(u->conn.d, &u->upstream, u->in + 2, len, DNS_TCP, true);
	else
		u->conn.d->c.upstream_errors++;
	upconn_close(u);
}

static void on_up_connect(uv_connect_t *req, int status)
{
	struct meshd_dns_upconn *u = req->data;
	if (status == UV_ECANCELED)
		return;
	if (status < 0 || !write_framed((uv_stream_t *)&u->tcp, u->query, u->qlen) ||
	    uv_read_start((uv_stream_t *)&u->tcp, up_alloc, up_read) < 0) {
		char e[ADDR_TEXT_MAX];
		u->conn.d->c.upstream_errors++;
		log_warn_rl(&tcp_rl, subject, "upstream %s over TCP: %s",
			    addr_endpoint_format(&u->upstream, e),
			    status < 0 ? uv_strerror(status) : "cannot send");
		upconn_close(u);
	}
}

void meshd__dns_tcp_forward(struct meshd_dns *d, const struct addr_endpoint *upstream,
			    const uint8_t *msg, size_t len)
{
	struct meshd_dns_upconn *u = NULL;
	if (d->closing || d->n_upconns >= UPCONNS_MAX || !(u = calloc(1, sizeof(*u))) ||
	    !(u->query = malloc(len))) {
		free(u);
		d->c.upstream_errors++;
		return;
	}
	u->upstream = *upstream;
	memcpy(u->query, msg, len);
	u->qlen = len;
	uv_tcp_init(d->loop, &u->tcp);
	uv_timer_init(d->loop, &u->timer);
	conn_link(&u->conn, d, &d->upconns, &d->n_upconns, upconn_free, (uv_handle_t *)&u->tcp,
		  (uv_handle_t *)&u->timer);
	u->connect.data = u;
	uv_timer_start(&u->timer, on_upconn_timeout, DNS_TIMEOUT_MS_DEFAULT, 0);
	struct sockaddr_storage ss;
	addr_endpoint_to_sockaddr(upstream, &ss);
	if (uv_tcp_connect(&u->connect, &u->tcp, (const struct sockaddr *)&ss, on_up_connect) < 0) {
		d->c.upstream_errors++;
		upconn_close(u);
	}
}

void meshd__dns_tcp_close_upstreams(struct meshd_dns *d)
{
	while (d->upconns)
		upconn_close(upconn_of(d->upconns));
}
