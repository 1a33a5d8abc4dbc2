/* Where bridged connections come from: lwIP listeners for ns_listen() (interception)
 * and for userspace-mode forwarding (one per port, made on demand, never closed but
 * switched between the two roles), and outbound dials (ns_dial, and SOCKS5 through
 * ns__dial_fd).  The bytes then move in bridge.c. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netstack/internal.h"

#include "lwip/tcp.h"

#include "common/log.h"

enum { MAX_FORWARD_LISTENERS = 1024 };

static struct log_ratelimit listen_rl = LOG_RATELIMIT_INIT(5000, 5);

static void fill_info(const struct tcp_pcb *pcb, struct ns_packet_info *info)
{
	memset(info, 0, sizeof(*info));
	uint8_t tmp[16];
	int fam;
	ns__from_ip_addr(&pcb->remote_ip, &info->family, info->src);
	ns__from_ip_addr(&pcb->local_ip, &fam, tmp);
	memcpy(info->dst, tmp, 16);
	info->proto = IPPROTO_TCP;
	info->sport = pcb->remote_port;
	info->dport = pcb->local_port;
}

/* Userspace mode: a TCP connection to 127.0.0.1:port for an accepted pcb. */
static int forward_connect(struct ns__conn *c, uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	c->fd = fd;
	c->fd_is_tcp = true;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS)
		return -errno;
	c->connecting = true;
	return 0;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct ns__listener *l = arg;
	struct ns *ns = l->ns;
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	if (ns->ctr.conns_active >= ns->max_conns) {
		ns->ctr.conns_refused_limit++;
		log_warn_rl(&listen_rl, "netstack", "port %u: %u connections, resetting a new one",
			    l->port, ns->max_conns);
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	tcp_nagle_disable(pcb);
	struct ns_packet_info info;
	fill_info(pcb, &info);
	if (l->forward && ns->cfg.mode != NS_MODE_USERSPACE) {
		tcp_abort(pcb); /* a handshake that began before ns_unlisten() */
		return ERR_ABRT;
	}
	if (l->forward) {
		struct ns__conn *c = ns__conn_new(ns, pcb, -1, NS__CONN_FORWARD);
		if (!c) {
			tcp_abort(pcb);
			return ERR_ABRT;
		}
		ns->ctr.conns_accepted++;
		int fd = ns__forward_take_fd(ns, pcb);
		if (fd >= 0) {
			c->fd = fd;
			c->fd_is_tcp = true;
			return ns__conn_start(c);
		}
		if (forward_connect(c, l->port) < 0) {
			ns->ctr.forward_refused++;
			return ns__conn_end(c, true);
		}
		return ns__conn_start(c);
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn_rl(&listen_rl, "netstack", "port %u: socketpair: %s", l->port,
			    strerror(errno));
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	struct ns__conn *c = ns__conn_new(ns, pcb, sv[0], NS__CONN_INTERCEPT);
	if (!c) {
		close(sv[0]);
		close(sv[1]);
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	ns->ctr.conns_accepted++;
	if (ns__conn_start(c) != ERR_OK) {
		close(sv[1]);
		return ERR_ABRT;
	}
	l->cb(l->ctx, sv[1], &info);
	return ERR_OK;
}

static struct ns__listener *find_listener(const struct ns *ns, uint16_t port)
{
	for (struct ns__listener *l = ns->listeners; l; l = l->next)
		if (l->port == port && !l->bound)
			return l;
	return NULL;
}

bool ns__has_listener(const struct ns *ns, uint16_t port)
{
	return find_listener(ns, port) != NULL;
}

static int listener_add(struct ns *ns, const ip_addr_t *addr, uint16_t port, bool forward,
			ns_accept_fn *cb, void *ctx)
{
	struct ns__listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	struct tcp_pcb *pcb = tcp_new_ip_type(addr ? IP_GET_TYPE(addr) : IPADDR_TYPE_ANY);
	if (!pcb) {
		free(l);
		return -ENOMEM;
	}
	if (tcp_bind(pcb, addr ? addr : IP_ANY_TYPE, port) != ERR_OK) {
		tcp_close(pcb);
		free(l);
		return -EADDRINUSE;
	}
	struct tcp_pcb *lpcb = tcp_listen_with_backlog(pcb, TCP_DEFAULT_LISTEN_BACKLOG);
	if (!lpcb) {
		tcp_close(pcb);
		free(l);
		return -ENOMEM;
	}
	l->ns = ns;
	l->pcb = lpcb;
	l->port = port;
	l->forward = forward;
	l->bound = addr != NULL;
	l->cb = cb;
	l->ctx = ctx;
	tcp_arg(lpcb, l);
	tcp_accept(lpcb, on_accept);
	l->next = ns->listeners;
	ns->listeners = l;
	return 0;
}

/* A listener, once made, stays for the life of the netstack and only changes role
 * between intercepting and forwarding: lwIP refuses to bind a port that live connections
 * still use, so closing and re-binding (SSH toggled off and on while sessions run) would
 * fail. */
int ns_listen(struct ns *ns, uint16_t port, ns_accept_fn *cb, void *ctx)
{
	if (!cb || port == 0)
		return -EINVAL;
	struct ns__listener *l = find_listener(ns, port);
	if (l && !l->forward)
		return -EADDRINUSE;
	if (l) {
		l->forward = false;
		l->cb = cb;
		l->ctx = ctx;
	} else {
		int r = listener_add(ns, NULL, port, false, cb, ctx);
		if (r < 0)
			return r;
	}
	ns__port_ref(ns->tcp_ports, port);
	return 0;
}

int ns__listen_forward(struct ns *ns, uint16_t port)
{
	unsigned n = 0;
	for (struct ns__listener *l = ns->listeners; l; l = l->next)
		n += l->forward;
	if (n >= MAX_FORWARD_LISTENERS)
		return -ENOSPC;
	return listener_add(ns, NULL, port, true, NULL, NULL);
}

int ns__listen_addr(struct ns *ns, const ip_addr_t *addr, uint16_t port, ns_accept_fn *cb,
		    void *ctx)
{
	return listener_add(ns, addr, port, false, cb, ctx);
}

int ns_unlisten(struct ns *ns, uint16_t port)
{
	struct ns__listener *l = find_listener(ns, port);
	if (!l || l->forward)
		return -ENOENT;
	l->forward = true; /* userspace mode: the port is now proxied to 127.0.0.1 */
	l->cb = NULL;
	l->ctx = NULL;
	ns__port_unref(ns->tcp_ports, port);
	return 0;
}

static void listeners_free(struct ns *ns)
{
	while (ns->listeners) {
		struct ns__listener *l = ns->listeners;
		ns->listeners = l->next;
		tcp_arg(l->pcb, NULL);
		tcp_accept(l->pcb, NULL);
		tcp_close(l->pcb);
		free(l);
	}
}

/* ---- dialing ---- */

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct ns__conn *c = arg;
	struct ns *ns = c->ns;
	ns->ctr.conns_accepted++;
	if (c->dial_cb) {
		int sv[2];
		ns_dial_fn *cb = c->dial_cb;
		c->dial_cb = NULL;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
			int r = -errno;
			cb(c->dial_ctx, r);
			return ns__conn_end(c, true);
		}
		c->fd = sv[0];
		void *dial_ctx = c->dial_ctx;
		if (ns__conn_start(c) != ERR_OK) {
			close(sv[1]);
			cb(dial_ctx, -ECONNRESET);
			return ERR_ABRT;
		}
		cb(dial_ctx, sv[1]);
		return ERR_OK;
	}
	ns__dial_ready_fn *ready = c->ready;
	c->ready = NULL;
	int fd = ready(c->ready_ctx, 0);
	if (fd < 0)
		return ns__conn_end(c, true);
	c->fd = fd;
	c->fd_is_tcp = true;
	return ns__conn_start(c);
}

static struct ns__conn *dial_start(struct ns *ns, int family, const uint8_t *addr, uint16_t port,
				   int *err)
{
	if (family != AF_INET && family != AF_INET6) {
		*err = -EAFNOSUPPORT;
		return NULL;
	}
	const struct addr_prefix *own = family == AF_INET ? &ns->cfg.addr4 : &ns->cfg.addr6;
	if (own->ip.family != family) {
		*err = -EADDRNOTAVAIL; /* no tailnet address of that family */
		return NULL;
	}
	if (ns->ctr.conns_active >= ns->max_conns) {
		ns->ctr.conns_refused_limit++;
		*err = -EMFILE;
		return NULL;
	}
	ip_addr_t local, remote;
	ns__to_ip_addr(family, own->ip.bytes, &local);
	ns__to_ip_addr(family, addr, &remote);
	struct tcp_pcb *pcb = tcp_new_ip_type(family == AF_INET ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6);
	if (!pcb) {
		*err = -ENOMEM;
		return NULL;
	}
	if (tcp_bind(pcb, &local, 0) != ERR_OK) {
		tcp_close(pcb);
		*err = -EADDRINUSE;
		return NULL;
	}
	tcp_nagle_disable(pcb);
	struct ns__conn *c = ns__conn_new(ns, pcb, -1, NS__CONN_DIAL);
	if (!c) {
		tcp_close(pcb);
		*err = -ENOMEM;
		return NULL;
	}
	c->dial_port = pcb->local_port;
	c->dial_family = family;
	memcpy(c->dial_addr, addr, family == AF_INET ? 4 : 16);
	c->dial_rport = port;
	ns__port_ref(ns->tcp_dials, c->dial_port); /* its replies reach lwIP in TUN mode too */
	if (tcp_connect(pcb, &remote, port, on_connected) != ERR_OK) {
		ns__conn_end(c, true);
		*err = -ENOMEM;
		return NULL;
	}
	ns__kick(ns);
	return c;
}

bool ns__dial_reply(const struct ns *ns, const struct ns_packet_info *pi)
{
	size_t alen = pi->family == AF_INET ? 4 : 16;
	for (const struct ns__conn *c = ns->conns; c; c = c->next)
		if (c->dial_port == pi->dport && c->dial_rport == pi->sport &&
		    c->dial_family == pi->family && memcmp(c->dial_addr, pi->src, alen) == 0)
			return true;
	return false;
}

int ns_dial(struct ns *ns, int family, const uint8_t *addr, uint16_t port, ns_dial_fn *cb,
	    void *ctx)
{
	int err = 0;
	if (!cb)
		return -EINVAL;
	struct ns__conn *c = dial_start(ns, family, addr, port, &err);
	if (!c)
		return err;
	c->dial_cb = cb;
	c->dial_ctx = ctx;
	return 0;
}

int ns__dial_fd(struct ns *ns, int family, const uint8_t *addr, uint16_t port,
		ns__dial_ready_fn *ready, void *ctx)
{
	int err = 0;
	struct ns__conn *c = dial_start(ns, family, addr, port, &err);
	if (!c)
		return err;
	c->ready = ready;
	c->ready_ctx = ctx;
	return 0;
}

/* ---- teardown ---- */

void ns__bridge_free_all(struct ns *ns)
{
	while (ns->conns) {
		struct ns__conn *c = ns->conns;
		if (c->ready && !c->started) {
			ns__dial_ready_fn *ready = c->ready;
			c->ready = NULL;
			ready(c->ready_ctx, -ECANCELED);
		}
		if (c->dial_cb) {
			ns_dial_fn *cb = c->dial_cb;
			c->dial_cb = NULL;
			cb(c->dial_ctx, -ECANCELED);
		}
		ns__conn_end(c, true);
	}
	listeners_free(ns);
}
