/* The bridge between an lwIP TCP connection and a local stream fd: the caller's end of
 * an AF_UNIX socketpair (ns_listen, ns_dial), a kernel TCP socket to 127.0.0.1:port
 * (userspace-mode forwarding) or a SOCKS5 client.
 *
 * Backpressure both ways: bytes lwIP delivered are queued (their pbufs, no copy) and
 * tcp_recved() only once they were written to the fd, so a slow reader closes the
 * remote's window and the queue never exceeds one window; the fd is read only while
 * tcp_sndbuf() has room.  A FIN either way becomes a half-close on the other side
 * (shutdown(SHUT_WR) / tcp_shutdown(tx)); an RST from the remote shuts the fd down (and
 * resets a kernel TCP peer with SO_LINGER 0); a local error or a write to a closed fd
 * aborts the lwIP connection with an RST.  Connections and total queued bytes are capped. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "netstack/internal.h"

#include "lwip/pbuf.h"
#include "lwip/tcp.h"

#include "common/log.h"

enum { MAX_IOV = 64 };

static struct log_ratelimit bridge_rl = LOG_RATELIMIT_INIT(5000, 5);

static void conn_update(struct ns__conn *c);
static int conn_flush_rx(struct ns__conn *c);
static int conn_pump_tx(struct ns__conn *c);

/* ---- lifetime ---- */

void ns__port_ref(uint8_t *ports, uint16_t port)
{
	if (ports[port] < UINT8_MAX)
		ports[port]++;
}

void ns__port_unref(uint8_t *ports, uint16_t port)
{
	if (ports[port] > 0)
		ports[port]--;
}

static void rx_drop_all(struct ns__conn *c)
{
	while (c->rx_head) {
		struct ns__rx *r = c->rx_head;
		c->rx_head = r->next;
		pbuf_free(r->p);
		free(r);
	}
	c->rx_tail = NULL;
	c->ns->ctr.buffered -= c->rx_bytes;
	c->rx_bytes = 0;
}

static void unhook(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct ns__conn *c = h->data;
	struct ns *ns = c->ns;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	ns__handle_closed(ns);
}

/* Ends the bridge: detaches from the pcb (reset=true aborts it with an RST, else closes
 * it gracefully), closes the fd.  Returns ERR_ABRT when the pcb was aborted. */
err_t ns__conn_end(struct ns__conn *c, bool reset)
{
	struct ns *ns = c->ns;
	err_t ret = ERR_OK;
	if (c->pcb) {
		struct tcp_pcb *pcb = c->pcb;
		c->pcb = NULL;
		unhook(pcb);
		if (!reset && tcp_close(pcb) != ERR_OK)
			reset = true;
		if (reset) {
			tcp_abort(pcb);
			ns->ctr.conns_reset_out++;
			ret = ERR_ABRT;
		}
	}
	if (c->dial_port) {
		ns__port_unref(ns->tcp_dials, c->dial_port);
		c->dial_port = 0;
	}
	rx_drop_all(c);
	free(c->stash);
	c->stash = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else if (ns->conns == c)
		ns->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	ns->ctr.conns_active--;
	if (c->fd >= 0 && c->fd_is_tcp && reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (c->fd >= 0 && !c->fd_is_tcp)
		shutdown(c->fd, SHUT_RDWR);
	if (c->poll_init) {
		ns->closing++;
		uv_close((uv_handle_t *)&c->poll, on_conn_closed);
	} else {
		if (c->fd >= 0)
			close(c->fd);
		free(c);
	}
	return ret;
}

/* Ends the bridge once both directions are finished (the remote's FIN reached the fd
 * and the fd's EOF was sent), or once the local side closed its end completely: like a
 * kernel socket's close(), that is a FIN, or an RST when data it never read was pending
 * (lwIP then answers later data with RST and times out FIN_WAIT_2 by itself). */
static err_t conn_maybe_done(struct ns__conn *c)
{
	if (!c->fd_eof || c->stash_len)
		return ERR_OK;
	if (c->fd_wr_shut)
		return ns__conn_end(c, false);
	if (c->fd_closed)
		return ns__conn_end(c, c->rx_head != NULL);
	return ERR_OK;
}

/* ---- lwIP callbacks ---- */

static void on_tcp_err(void *arg, err_t err)
{
	struct ns__conn *c = arg;
	if (!c)
		return;
	c->pcb = NULL; /* lwIP already freed it */
	c->ns->ctr.conns_reset_in++;
	if (c->kind == NS__CONN_DIAL && !c->started && c->dial_cb) {
		ns_dial_fn *cb = c->dial_cb;
		c->dial_cb = NULL;
		cb(c->dial_ctx, err == ERR_RST ? -ECONNREFUSED : -ETIMEDOUT);
	} else if (c->ready && !c->started) {
		ns__dial_ready_fn *ready = c->ready;
		c->ready = NULL;
		ready(c->ready_ctx, err == ERR_RST ? -ECONNREFUSED : -ETIMEDOUT);
	}
	ns__conn_end(c, true);
}

static err_t on_tcp_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct ns__conn *c = arg;
	struct ns *ns = c->ns;
	if (!p) {
		c->rx_fin = true;
	} else {
		if (ns->ctr.buffered + p->tot_len > ns->max_buffered)
			return ERR_MEM; /* lwIP keeps it and offers it again later */
		struct ns__rx *r = malloc(sizeof(*r));
		if (!r)
			return ERR_MEM;
		r->next = NULL;
		r->p = p;
		if (c->rx_tail)
			c->rx_tail->next = r;
		else
			c->rx_head = r;
		c->rx_tail = r;
		c->rx_bytes += p->tot_len;
		ns->ctr.buffered += p->tot_len;
		if (ns->ctr.buffered > ns->ctr.buffered_max)
			ns->ctr.buffered_max = ns->ctr.buffered;
	}
	if (!c->started || c->connecting || c->wr_blocked)
		return ERR_OK; /* queued; the poll callback writes when the fd has room */
	if (conn_flush_rx(c) < 0)
		return ns__conn_end(c, true);
	if (conn_maybe_done(c) == ERR_ABRT)
		return ERR_ABRT;
	if (c->pcb)
		conn_update(c);
	return ERR_OK;
}

static err_t on_tcp_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct ns__conn *c = arg;
	if (c->tx_blocked && c->started && !c->connecting) {
		c->tx_blocked = false;
		if (conn_pump_tx(c) < 0)
			return ns__conn_end(c, true);
		if (conn_maybe_done(c) == ERR_ABRT)
			return ERR_ABRT;
		if (c->pcb)
			conn_update(c);
	}
	return ERR_OK;
}

/* ---- fd side ---- */

/* Writes queued remote bytes to the fd; returns -1 when the fd is gone (reset). */
static int conn_flush_rx(struct ns__conn *c)
{
	while (c->rx_head) {
		struct iovec iov[MAX_IOV];
		int n = 0;
		for (struct ns__rx *r = c->rx_head; r && n < MAX_IOV; r = r->next)
			for (struct pbuf *q = r->p; q && n < MAX_IOV; q = q->next)
				if (q->len)
					iov[n++] = (struct iovec){ q->payload, q->len };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN)
				c->wr_blocked = true;
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			log_debug_rl(&bridge_rl, "netstack", "bridge write: %s", strerror(errno));
			return -1;
		}
		size_t left = (size_t)w;
		c->rx_bytes -= left;
		c->ns->ctr.buffered -= left;
		while (left) {
			struct ns__rx *r = c->rx_head;
			if (left >= r->p->tot_len) {
				left -= r->p->tot_len;
				c->rx_head = r->next;
				pbuf_free(r->p);
				free(r);
			} else {
				r->p = pbuf_free_header(r->p, (u16_t)left);
				left = 0;
			}
		}
		if (!c->rx_head)
			c->rx_tail = NULL;
		for (size_t done = (size_t)w; done && c->pcb;) {
			u16_t chunk = done > 0xffff ? 0xffff : (u16_t)done;
			tcp_recved(c->pcb, chunk);
			done -= chunk;
		}
	}
	if (c->rx_fin && !c->fd_wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->fd_wr_shut = true;
	}
	return 0;
}

/* Hands bytes to lwIP, at most what tcp_sndbuf() allows; 0 or -1 on a fatal error. */
static int push(struct ns__conn *c, const uint8_t *d, size_t n, size_t *taken)
{
	*taken = 0;
	while (*taken < n && c->pcb) {
		size_t room = tcp_sndbuf(c->pcb);
		if (room == 0 || tcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN - 8)
			break;
		size_t k = n - *taken;
		if (k > room)
			k = room;
		if (k > 0xffff)
			k = 0xffff;
		err_t e = tcp_write(c->pcb, d + *taken, (u16_t)k, TCP_WRITE_FLAG_COPY);
		if (e == ERR_MEM)
			break;
		if (e != ERR_OK)
			return -1;
		*taken += k;
	}
	return 0;
}

static int conn_pump_tx(struct ns__conn *c)
{
	struct ns *ns = c->ns;
	size_t taken;
	if (c->stash_len) {
		if (push(c, c->stash, c->stash_len, &taken) < 0)
			return -1;
		memmove(c->stash, c->stash + taken, c->stash_len - taken);
		c->stash_len -= taken;
		if (c->stash_len) {
			c->tx_blocked = true;
			tcp_output(c->pcb);
			return 0;
		}
	}
	while (!c->fd_eof && c->pcb) {
		size_t room = tcp_sndbuf(c->pcb);
		if (room == 0 || tcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN - 8) {
			c->tx_blocked = true;
			break;
		}
		if (room > sizeof(ns->iobuf))
			room = sizeof(ns->iobuf);
		ssize_t n = recv(c->fd, ns->iobuf, room, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		if (n == 0) {
			c->fd_eof = true;
			/* AF_UNIX reports POLLHUP only when the other end is closed, not merely
			 * shut down for writing. */
			struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
			c->fd_closed =
			    !c->fd_is_tcp && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP);
			tcp_shutdown(c->pcb, 0, 1);
			break;
		}
		if (push(c, ns->iobuf, (size_t)n, &taken) < 0)
			return -1;
		if (taken < (size_t)n) {
			c->stash = malloc((size_t)n - taken);
			if (!c->stash)
				return -1;
			memcpy(c->stash, ns->iobuf + taken, (size_t)n - taken);
			c->stash_len = (size_t)n - taken;
			c->tx_blocked = true;
			break;
		}
	}
	if (c->pcb)
		tcp_output(c->pcb);
	return 0;
}

static void on_poll(uv_poll_t *h, int status, int events);

static void conn_update(struct ns__conn *c)
{
	if (!c->poll_init || !c->started)
		return;
	int want = 0;
	if (c->connecting)
		want = UV_WRITABLE;
	else {
		if (c->rx_head)
			want |= UV_WRITABLE;
		if (!c->fd_eof && !c->tx_blocked)
			want |= UV_READABLE;
	}
	if (want == c->events)
		return;
	c->events = want;
	if (want)
		uv_poll_start(&c->poll, want, on_poll);
	else
		uv_poll_stop(&c->poll);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct ns__conn *c = h->data;
	struct ns *ns = c->ns;
	if (c->connecting) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (status < 0 || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
		    soerr) {
			ns->ctr.forward_refused++;
			ns__conn_end(c, true);
			ns__kick(ns);
			return;
		}
		c->connecting = false;
		events = UV_READABLE | UV_WRITABLE;
	}
	if ((events & UV_WRITABLE) || status < 0) {
		c->wr_blocked = false;
		if (conn_flush_rx(c) < 0) {
			ns__conn_end(c, true);
			ns__kick(ns);
			return;
		}
	}
	if ((events & UV_READABLE) || status < 0) {
		if (conn_pump_tx(c) < 0) {
			ns__conn_end(c, true);
			ns__kick(ns);
			return;
		}
	}
	if (conn_maybe_done(c) == ERR_OK && c->pcb)
		conn_update(c);
	ns__kick(ns);
}

/* ---- creating bridges ---- */

struct ns__conn *ns__conn_new(struct ns *ns, struct tcp_pcb *pcb, int fd, enum ns__conn_kind kind)
{
	struct ns__conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ns = ns;
	c->kind = kind;
	c->pcb = pcb;
	c->fd = fd;
	c->next = ns->conns;
	if (ns->conns)
		ns->conns->prev = c;
	ns->conns = c;
	ns->ctr.conns_active++;
	tcp_arg(pcb, c);
	tcp_recv(pcb, on_tcp_recv);
	tcp_sent(pcb, on_tcp_sent);
	tcp_err(pcb, on_tcp_err);
	return c;
}

/* Starts moving bytes once c->fd is set.  Returns ERR_ABRT when the pcb was aborted
 * (c is gone then). */
err_t ns__conn_start(struct ns__conn *c)
{
	int r = uv_poll_init_socket(c->ns->loop, &c->poll, c->fd);
	if (r < 0) {
		log_warn_rl(&bridge_rl, "netstack", "bridge: poll fd %d: %s", c->fd,
			    uv_strerror(r));
		return ns__conn_end(c, true);
	}
	c->poll.data = c;
	c->poll_init = true;
	c->started = true;
	if (!c->connecting) {
		if (conn_flush_rx(c) < 0 || conn_pump_tx(c) < 0)
			return ns__conn_end(c, true);
		if (conn_maybe_done(c) != ERR_OK || !c->pcb)
			return ERR_ABRT;
	}
	conn_update(c);
	return ERR_OK;
}
