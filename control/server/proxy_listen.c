/* meshcontrol's own listening socket, with --trusted-proxy: a thread accepts each connection
 * and hands it to libmicrohttpd (MHD_add_connection, the daemon then without a listening
 * socket of its own) with the client's address: for a connection from a trusted balancer,
 * the one its PROXY header names (proxy.c), read first with a deadline; for anyone else,
 * the connection's own, at once, so that a header it sends is the start of its HTTP request
 * (or TLS handshake) and answered as the garbage it is: an outsider cannot choose its
 * source.  TLS is unchanged: the header comes before the handshake, which the daemon does.
 *
 * Bounded: a balancer's connection must bring its whole header within PROXY_HEADER_MS, at
 * most CTL_PROXY_MAX bytes, and at most PROXY_PENDING_MAX of them wait at once (the next is
 * closed); nothing past the header is read here (an incomplete header means every byte so
 * far was the header's, so bytes are peeked, then taken). */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/now.h"
#include "control/server/internal.h"
#include "control/server/proxy.h"

enum {
	PROXY_HEADER_MS = 3000,	 /* a balancer's header arrives within this */
	PROXY_PENDING_MAX = 256, /* connections from balancers waiting for their header */
	PROXY_BACKLOG = 1024,
	PROXY_ACCEPT_BATCH = 64, /* accepted per wakeup, then the pending are read */
	EV_LISTEN = PROXY_PENDING_MAX,
	EV_STOP,
};

struct pending {
	int fd; /* -1: a free slot */
	struct addr_endpoint peer;
	uint64_t deadline_ms;
	size_t have;
	uint8_t buf[CTL_PROXY_MAX];
};

struct ctl__proxy_listener {
	struct ctl_server *srv;
	int lfd, epfd, stop_fd;
	pthread_t thread;
	bool running;
	struct log_ratelimit rl;
	struct pending conns[PROXY_PENDING_MAX];
};

bool ctl_trusted_proxies_add(struct ctl_trusted_proxies *t, const char *list, char *err,
			     size_t errlen)
{
	char item[ADDR_TEXT_MAX];
	const char *why;
	for (const char *p = list;; p++) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(item)) {
			snprintf(err, errlen, "'%s': expected CIDR[,CIDR]... (e.g. 10.0.0.5/32)",
				 list);
			return false;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		if (t->n == CTL_TRUSTED_PROXIES_MAX) {
			snprintf(err, errlen, "more than %d networks", CTL_TRUSTED_PROXIES_MAX);
			return false;
		}
		if (!addr_net_parse(item, &t->nets[t->n], &why)) {
			snprintf(err, errlen, "'%s': %s", item, why);
			return false;
		}
		t->n++;
		p += n;
		if (!*p)
			return true;
	}
}

static bool trusted(const struct ctl_trusted_proxies *t, const struct addr_ip *ip)
{
	for (size_t i = 0; i < t->n; i++)
		if (addr_prefix_contains(&t->nets[i], ip))
			return true;
	return false;
}

/* The daemon takes fd (and closes it on failure) with src as the client's address. */
static void hand_over(struct ctl__proxy_listener *l, int fd, const struct addr_endpoint *src)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_endpoint_to_sockaddr(src, &ss);
	if (MHD_add_connection(l->srv->mhd, fd, (struct sockaddr *)&ss, len) != MHD_YES) {
		char a[ADDR_TEXT_MAX];
		log_warn_rl(&l->rl, "meshcontrol", "cannot serve a connection from %s: %s",
			    addr_endpoint_format(src, a), strerror(errno));
	}
}

static void pending_close(struct ctl__proxy_listener *l, struct pending *c, const char *why)
{
	char a[ADDR_TEXT_MAX];
	if (why)
		log_warn_rl(&l->rl, "meshcontrol", "closed a connection from trusted proxy %s: %s",
			    addr_endpoint_format(&c->peer, a), why);
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

/* Peeks what came, parses the header so far, and takes only the header's bytes. */
static void pending_read(struct ctl__proxy_listener *l, struct pending *c)
{
	struct ctl_proxy_hdr h;
	char err[CTL_PROXY_ERR_MAX], why[CTL_PROXY_ERR_MAX + 64];
	ssize_t n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0 && c->have == 0) { /* connected and closed: a balancer's health check */
		pending_close(l, c, NULL);
		return;
	}
	if (n <= 0) {
		snprintf(why, sizeof(why), "%s after %zu bytes of its PROXY header",
			 n ? strerror(errno) : "closed", c->have);
		pending_close(l, c, why);
		return;
	}
	int rc = ctl_proxy_parse(c->buf, c->have + (size_t)n, &h, err, sizeof(err));
	if (rc < 0) {
		pending_close(l, c, err);
		return;
	}
	size_t take = rc > 0 ? (size_t)rc - c->have : (size_t)n;
	if (recv(c->fd, c->buf + c->have, take, 0) != (ssize_t)take) { /* peeked: it is there */
		pending_close(l, c, "the peeked header bytes could not be read");
		return;
	}
	c->have += take;
	if (rc == 0)
		return;
	int fd = c->fd;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	c->fd = -1;
	hand_over(l, fd, h.local ? &c->peer : &h.src);
}

static void accept_some(struct ctl__proxy_listener *l)
{
	for (int i = 0; i < PROXY_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != EINVAL)
				log_warn_rl(&l->rl, "meshcontrol", "accept: %s", strerror(errno));
			return;
		}
		struct addr_endpoint peer;
		if (!addr_endpoint_from_sockaddr((struct sockaddr *)&ss, &peer)) {
			close(fd);
			continue;
		}
		addr_ip_unmap(&peer.ip);
		if (!trusted(l->srv->cfg.trusted_proxies, &peer.ip)) {
			hand_over(l, fd, &peer);
			continue;
		}
		struct pending *c = NULL;
		for (size_t k = 0; k < PROXY_PENDING_MAX && !c; k++)
			if (l->conns[k].fd < 0)
				c = &l->conns[k];
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		if (c) {
			ev.data.u32 = (uint32_t)(c - l->conns);
			*c = (struct pending){ .fd = fd, .peer = peer };
			c->deadline_ms = now_mono_ms() + PROXY_HEADER_MS;
		}
		if (!c || epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			char a[ADDR_TEXT_MAX];
			log_warn_rl(
			    &l->rl, "meshcontrol",
			    "closed a connection from trusted proxy %s: %d connections wait "
			    "for their PROXY header already",
			    addr_endpoint_format(&peer, a), PROXY_PENDING_MAX);
			close(fd);
			if (c)
				c->fd = -1;
		}
	}
}

/* Closes what missed its deadline; the wait until the next one (-1: none). */
static int expire(struct ctl__proxy_listener *l)
{
	uint64_t now = now_mono_ms(), next = 0;
	char why[64];
	for (size_t k = 0; k < PROXY_PENDING_MAX; k++) {
		struct pending *c = &l->conns[k];
		if (c->fd < 0)
			continue;
		if (c->deadline_ms <= now) {
			snprintf(why, sizeof(why), "no PROXY header within %d ms (%zu bytes)",
				 PROXY_HEADER_MS, c->have);
			pending_close(l, c, why);
		} else if (!next || c->deadline_ms < next) {
			next = c->deadline_ms;
		}
	}
	return next ? (int)(next - now) : -1;
}

static void *listen_main(void *arg)
{
	struct ctl__proxy_listener *l = arg;
	struct epoll_event evs[32];
	for (;;) {
		int n = epoll_wait(l->epfd, evs, 32, expire(l));
		for (int i = 0; i < n; i++) {
			uint32_t k = evs[i].data.u32;
			if (k == EV_STOP)
				return NULL;
			if (k == EV_LISTEN)
				accept_some(l);
			else if (k < PROXY_PENDING_MAX && l->conns[k].fd >= 0)
				pending_read(l, &l->conns[k]);
		}
	}
}

int ctl__proxy_listen_start(struct ctl_server *srv, const struct sockaddr *sa, socklen_t salen,
			    char *err, size_t errlen)
{
	struct ctl__proxy_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->srv = srv;
	l->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, 10);
	for (size_t k = 0; k < PROXY_PENDING_MAX; k++)
		l->conns[k].fd = -1;
	srv->proxy = l;
	int one = 1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->lfd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* An IPv6 address listens on IPv6 alone, as libmicrohttpd's own socket does without
	 * --trusted-proxy: the option must not widen what is exposed (review-66 #5). */
	if (l->epfd < 0 || l->stop_fd < 0 || l->lfd < 0 ||
	    setsockopt(l->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (sa->sa_family == AF_INET6 &&
	     setsockopt(l->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(l->lfd, sa, salen) != 0 || listen(l->lfd, PROXY_BACKLOG) != 0) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s", srv->cfg.listen,
			 srv->cfg.port, strerror(errno));
		return -EADDRINUSE;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = EV_LISTEN };
	struct epoll_event stop = { .events = EPOLLIN, .data.u32 = EV_STOP };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->lfd, &ev) != 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stop_fd, &stop) != 0 ||
	    pthread_create(&l->thread, NULL, listen_main, l) != 0) {
		snprintf(err, errlen, "cannot start the listening thread: %s", strerror(errno));
		return -EAGAIN;
	}
	l->running = true;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addr_endpoint bound;
	if (getsockname(l->lfd, (struct sockaddr *)&ss, &sl) == 0 &&
	    addr_endpoint_from_sockaddr((struct sockaddr *)&ss, &bound))
		srv->port = bound.port;
	log_info("meshcontrol",
		 "reading the PROXY protocol from %zu trusted network(s); other clients are "
		 "served as they connect",
		 srv->cfg.trusted_proxies->n);
	return 0;
}

int ctl__proxy_listen_quiesce(struct ctl_server *srv)
{
	struct ctl__proxy_listener *l = srv->proxy;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->lfd, NULL); /* then a shut socket is not polled */
	return shutdown(l->lfd, SHUT_RDWR) == 0 ? 0 : -errno;
}

void ctl__proxy_listen_stop(struct ctl_server *srv)
{
	struct ctl__proxy_listener *l = srv->proxy;
	if (!l)
		return;
	if (l->running) {
		uint64_t one = 1;
		if (write(l->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_err("meshcontrol", "cannot stop the listening thread: %s",
				strerror(errno));
		pthread_join(l->thread, NULL);
	}
	for (size_t k = 0; k < PROXY_PENDING_MAX; k++)
		if (l->conns[k].fd >= 0)
			close(l->conns[k].fd);
	if (l->lfd >= 0)
		close(l->lfd);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	free(l);
	srv->proxy = NULL;
}
