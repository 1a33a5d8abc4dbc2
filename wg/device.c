/* The device: IPv4 and IPv6 UDP sockets watched with uv_poll and drained with recvmmsg(),
 * a uv_prepare that flushes the sendmmsg() batches once per loop iteration (so every
 * packet produced while handling one wakeup leaves in as few syscalls as possible), the
 * receiver-index table, the scaled clock, and teardown: wg_device_free() wipes keys,
 * closes every handle and frees the device in the last close callback. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>
#include <unistd.h>

#include "common/key.h"
#include "common/now.h"
#include "wg/crypto.h"
#include "wg/internal.h"

enum { SOCKET_BUFFER = 4 << 20, RX_BATCHES_PER_WAKEUP = 8 };

/* ---- index table ---- */

static struct wg__index_entry **bucket(struct wg__index_table *t, uint32_t index)
{
	return &t->buckets[(index ^ (index >> 12) ^ (index >> 24)) & (WG_INDEX_BUCKETS - 1)];
}

struct wg__index_entry *wg__index_lookup(struct wg__index_table *t, uint32_t index,
					 unsigned int types)
{
	for (struct wg__index_entry *e = *bucket(t, index); e; e = e->next)
		if (e->index == index)
			return (e->type & types) ? e : NULL;
	return NULL;
}

void wg__index_insert_fixed(struct wg__index_table *t, struct wg__index_entry *e)
{
	struct wg__index_entry **b = bucket(t, e->index);
	e->next = *b;
	*b = e;
	e->linked = true;
}

void wg__index_insert(struct wg__index_table *t, struct wg__index_entry *e)
{
	do
		e->index = wg__random_u32();
	while (wg__index_lookup(t, e->index, WG_INDEX_HANDSHAKE | WG_INDEX_KEYPAIR) || !e->index);
	wg__index_insert_fixed(t, e);
}

void wg__index_remove(struct wg__index_table *t, struct wg__index_entry *e)
{
	if (!e->linked)
		return;
	for (struct wg__index_entry **pp = bucket(t, e->index); *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	e->next = NULL;
	e->linked = false;
}

/* ---- clock ---- */

uint64_t wg__now(const struct wg_device *dev)
{
	/* CLOCK_BOOTTIME: key lifetimes keep counting across suspend. */
	return now_boot_ns() * dev->scale + dev->clock_skew_ns;
}

/* ---- UDP ---- */

/* With UDP GRO the kernel may hand over several datagrams of one flow glued together;
 * the control message says the size of each (the last may be shorter).  Each becomes an
 * item of the batch; returns the new item count. */
static size_t split_coalesced(struct wg_device *dev, struct msghdr *mh, uint8_t *buf, size_t len,
			      const struct sockaddr *src, size_t n)
{
	size_t seg = len;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
			int v;
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			if (v > 0)
				seg = (size_t)v;
		}
	}
	for (size_t off = 0; off < len; off += seg) {
		if (n == WG_RX_ITEMS) {
			wg__receive_batch(dev, dev->rx_items, n);
			n = 0;
		}
		dev->rx_items[n++] = (struct wg__rx_item){ .buf = buf + off,
							   .len = len - off < seg ? len - off : seg,
							   .src = src };
	}
	return n;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct wg__udp_handle *hh = container_of(h, struct wg__udp_handle, poll);
	struct wg__udp *u = hh->udp;
	struct wg_device *dev = hh->dev;

	if (status < 0 || !(events & UV_READABLE))
		return;
	for (int round = 0; round < RX_BATCHES_PER_WAKEUP && !dev->freeing; round++) {
		for (int i = 0; i < WG_RXQ_LEN; i++) {
			dev->rx_iov[i] = (struct iovec){ dev->rx_buf[i], WG_RX_SLOT };
			dev->rx_msgs[i].msg_hdr = (struct msghdr){
				.msg_name = &dev->rx_addr[i],
				.msg_namelen = sizeof(dev->rx_addr[i]),
				.msg_iov = &dev->rx_iov[i],
				.msg_iovlen = 1,
				.msg_control = dev->rx_ctl[i].buf,
				.msg_controllen = sizeof(dev->rx_ctl[i].buf),
			};
		}
		int n = recvmmsg(u->fd, dev->rx_msgs, WG_RXQ_LEN, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		size_t items = 0;
		for (int i = 0; i < n; i++) {
			struct msghdr *mh = &dev->rx_msgs[i].msg_hdr;
			if (mh->msg_flags & MSG_TRUNC) {
				wg__drop(dev, drop_size, "datagram larger than %d bytes",
					 WG_RX_SLOT);
				continue;
			}
			items = split_coalesced(dev, mh, dev->rx_buf[i], dev->rx_msgs[i].msg_len,
						(const struct sockaddr *)&dev->rx_addr[i], items);
		}
		wg__receive_batch(dev, dev->rx_items, items);
		if (n < WG_RXQ_LEN)
			break;
	}
	if (!dev->freeing)
		wg__flush(dev);
}

static void on_prepare(uv_prepare_t *h)
{
	wg__flush(container_of(h, struct wg_device, flush));
}

static int udp_open(struct wg_device *dev, struct wg__udp *u, int family, uint16_t port)
{
	int fd, one = 1, size = SOCKET_BUFFER, err;
	struct sockaddr_storage ss = { 0 };
	socklen_t len;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* FORCE variants work as root past rmem_max; fall back silently otherwise. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (dev->fwmark)
		setsockopt(fd, SOL_SOCKET, SO_MARK, &dev->fwmark, sizeof(dev->fwmark));
	setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)); /* best effort */
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		len = sizeof(*s6);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	struct wg__udp_handle *hh = calloc(1, sizeof(*hh));
	if (!hh) {
		close(fd);
		return -ENOMEM;
	}
	err = uv_poll_init(dev->loop, &hh->poll, fd);
	if (err) {
		free(hh);
		close(fd);
		return err;
	}
	hh->fd = fd;
	hh->udp = u;
	hh->dev = dev;
	u->dev = dev;
	u->h = hh;
	u->fd = fd;
	u->family = family;
	dev->open_handles++;
	u->active = true;
	uv_poll_start(&hh->poll, UV_READABLE, on_readable);
	return 0;
}

static void udp_closed(uv_handle_t *h)
{
	struct wg__udp_handle *hh = container_of((uv_poll_t *)h, struct wg__udp_handle, poll);
	struct wg_device *dev = hh->dev;
	close(hh->fd);
	free(hh);
	wg__handle_closed(dev);
}

static void udp_close(struct wg__udp *u)
{
	if (!u->active)
		return;
	u->active = false;
	for (unsigned int i = 0; i < u->txq->count; i++) {
		if (u->txq->job[i].pending) {
			key_wipe(u->txq->job[i].key, sizeof(u->txq->job[i].key));
			u->txq->job[i].pending = false;
		}
	}
	u->txq->pending = 0;
	u->txq->count = 0;
	u->fd = -1;
	uv_poll_stop(&u->h->poll);
	uv_close((uv_handle_t *)&u->h->poll, udp_closed);
	u->h = NULL;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Binds both families to one port; with port 0 retries a few random picks until the IPv6
 * socket gets the port the IPv4 one got.  IPv6 is optional (a host without it). */
/* Binds both families to one port into u4/u6; with port 0 retries a few random picks until
 * the IPv6 socket gets the port the IPv4 one got.  IPv6 is optional (a host without it). */
static int udp_bind_all(struct wg_device *dev, uint16_t port, struct wg__udp *u4,
			struct wg__udp *u6, uint16_t *bound)
{
	int err = 0;
	for (int attempt = 0; attempt < 16; attempt++) {
		err = udp_open(dev, u4, AF_INET, port);
		if (err)
			return err;
		uint16_t got = bound_port(u4->fd);
		err = udp_open(dev, u6, AF_INET6, got);
		if (!err || err == -EAFNOSUPPORT || (err == -EADDRNOTAVAIL && port)) {
			*bound = got;
			return 0;
		}
		udp_close(u4);
		if (port)
			return err;
	}
	return err;
}

/* Moves a freshly opened socket into the device's slot (the txq stays). */
static void udp_adopt(struct wg__udp *slot, struct wg__udp *fresh)
{
	slot->h = fresh->h;
	slot->fd = fresh->fd;
	slot->family = fresh->family;
	slot->active = fresh->active;
	if (slot->h)
		slot->h->udp = slot;
}

/* The new sockets are bound before the old ones close, so a port that is taken leaves the
 * device as it was. */
int wg_device_set_listen_port(struct wg_device *dev, uint16_t port)
{
	struct wg__udp n4 = { .fd = -1, .txq = dev->udp4.txq };
	struct wg__udp n6 = { .fd = -1, .txq = dev->udp6.txq };
	uint16_t bound = 0;
	int err;

	if (dev->port == port && port)
		return 0;
	err = udp_bind_all(dev, port, &n4, &n6, &bound);
	if (err) {
		log_err(dev->name, "cannot bind UDP port %u: %s", port, strerror(-err));
		return err;
	}
	wg__flush(dev);
	udp_close(&dev->udp4);
	udp_close(&dev->udp6);
	udp_adopt(&dev->udp4, &n4);
	udp_adopt(&dev->udp6, &n6);
	dev->port = bound;
	return 0;
}

uint16_t wg_device_listen_port(const struct wg_device *dev)
{
	return dev->port;
}

int wg_device_set_fwmark(struct wg_device *dev, uint32_t fwmark)
{
	dev->fwmark = fwmark;
	if (dev->udp4.active)
		setsockopt(dev->udp4.fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark));
	if (dev->udp6.active)
		setsockopt(dev->udp6.fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark));
	return 0;
}

void wg_device_get_stats(const struct wg_device *dev, struct wg_device_stats *out)
{
	*out = dev->stats;
}

/* ---- lifecycle ---- */

static void device_release(struct wg_device *dev)
{
	wg__aip_free(&dev->aip);
	free(dev->udp4.txq);
	free(dev->udp6.txq);
	free(dev->rx_buf);
	free(dev->ratelimit);
	free(dev->rx_items);
	free(dev->uapi_path);
	key_wipe(dev, sizeof(*dev));
	free(dev);
}

void wg__handle_closed(struct wg_device *dev)
{
	if (--dev->open_handles == 0 && dev->freeing)
		device_release(dev);
}

static void flush_closed(uv_handle_t *h)
{
	wg__handle_closed(container_of((uv_prepare_t *)h, struct wg_device, flush));
}

int wg_device_new(uv_loop_t *loop, const struct wg_device_config *cfg,
		  const struct wg_device_ops *ops, void *ctx, struct wg_device **out)
{
	struct wg_device *dev;
	int err;

	if (!wg__crypto_init())
		return -EIO;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->loop = loop;
	snprintf(dev->name, sizeof(dev->name), "%s", cfg->name ? cfg->name : "wg");
	if (ops)
		dev->ops = *ops;
	dev->ctx = ctx;
	dev->scale = cfg->time_scale > 1 ? cfg->time_scale : 1;
	dev->mtu = WG_DEFAULT_MTU;
	dev->fwmark = cfg->fwmark;
	dev->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, 10);
	dev->udp4.txq = calloc(1, sizeof(struct wg__txq));
	dev->udp6.txq = calloc(1, sizeof(struct wg__txq));
	dev->rx_buf = calloc(WG_RXQ_LEN, WG_RX_SLOT);
	dev->ratelimit = calloc(WG_RATELIMIT_SLOTS, sizeof(*dev->ratelimit));
	wg__random(dev->ratelimit_key, sizeof(dev->ratelimit_key));
	dev->rx_items = calloc(WG_RX_ITEMS, sizeof(*dev->rx_items));
	dev->udp4.fd = dev->udp6.fd = -1;
	if (!dev->udp4.txq || !dev->udp6.txq || !dev->rx_buf || !dev->ratelimit || !dev->rx_items) {
		device_release(dev);
		return -ENOMEM;
	}
	wg_device_set_private_key(dev, cfg->private_key);
	if (cfg->crypto_workers) {
		err = wg__pool_start(&dev->pool);
		if (err)
			log_warn(dev->name, "no crypto worker thread: %s", strerror(-err));
	}

	uv_prepare_init(loop, &dev->flush);
	uv_prepare_start(&dev->flush, on_prepare);
	uv_unref((uv_handle_t *)&dev->flush);
	dev->open_handles++;

	err = udp_bind_all(dev, cfg->listen_port, &dev->udp4, &dev->udp6, &dev->port);
	if (err) {
		log_err(dev->name, "cannot bind UDP port %u: %s", cfg->listen_port, strerror(-err));
		wg_device_free(dev);
		return err;
	}
	*out = dev;
	return 0;
}

void wg_device_free(struct wg_device *dev)
{
	if (!dev || dev->freeing)
		return;
	wg_device_peer_remove_all(dev);
	dev->freeing = true;
	wg__noise_identity_clear(&dev->id);
	key_wipe(&dev->checker, sizeof(dev->checker));
	wg__uapi_close(dev);
	wg__flush(dev);
	wg__pool_stop(&dev->pool);
	udp_close(&dev->udp4);
	udp_close(&dev->udp6);
	uv_close((uv_handle_t *)&dev->flush, flush_closed);
}
