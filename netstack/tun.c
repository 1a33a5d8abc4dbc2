/* The TUN device: opened with IFF_TUN|IFF_NO_PI, brought up with its MTU, addresses and
 * routes over rtnetlink (no `ip` child process), and read on the libuv loop: every
 * readable event drains up to a batch of packets into the send callback.  Writes are
 * plain non-blocking write(2)s; a full queue drops the packet (counted by the caller). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "netstack/internal.h"

enum { TUN_READ_BATCH = 64 };

static struct log_ratelimit tun_rl = LOG_RATELIMIT_INIT(5000, 5);

/* ---- rtnetlink ---- */

struct nlreq {
	struct nlmsghdr nh;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
		struct rtmsg rtm;
	};
	uint8_t attrs[256];
};

static void add_attr(struct nlreq *req, uint16_t type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((uint8_t *)req + NLMSG_ALIGN(req->nh.nlmsg_len));
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	req->nh.nlmsg_len = NLMSG_ALIGN(req->nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Sends one request and waits for its acknowledgement; returns 0 or -errno. */
static int nl_talk(int fd, struct nlreq *req)
{
	static uint32_t seq;
	req->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	req->nh.nlmsg_seq = ++seq;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (sendto(fd, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	uint8_t buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != req->nh.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error;
			}
		}
	}
}

static int link_up(int fd, int ifindex, uint32_t mtu)
{
	struct nlreq req = { 0 };
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	req.nh.nlmsg_type = RTM_NEWLINK;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = ifindex;
	req.ifi.ifi_flags = IFF_UP;
	req.ifi.ifi_change = IFF_UP;
	add_attr(&req, IFLA_MTU, &mtu, sizeof(mtu));
	return nl_talk(fd, &req);
}

static int addr_add(int fd, int ifindex, const struct addr_prefix *p)
{
	struct nlreq req = { 0 };
	size_t alen = addr_family_len(p->ip.family);
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	req.nh.nlmsg_type = RTM_NEWADDR;
	req.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	req.ifa.ifa_family = p->ip.family;
	req.ifa.ifa_prefixlen = p->bits;
	req.ifa.ifa_index = (uint32_t)ifindex;
	req.ifa.ifa_flags = p->ip.family == AF_INET6 ? IFA_F_NODAD : 0;
	add_attr(&req, IFA_LOCAL, p->ip.bytes, alen);
	add_attr(&req, IFA_ADDRESS, p->ip.bytes, alen);
	return nl_talk(fd, &req);
}

static int route_add(int fd, int ifindex, const struct addr_prefix *p)
{
	struct nlreq req = { 0 };
	uint32_t oif = (uint32_t)ifindex;
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.nh.nlmsg_type = RTM_NEWROUTE;
	req.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	req.rtm.rtm_family = p->ip.family;
	req.rtm.rtm_dst_len = p->bits;
	req.rtm.rtm_table = RT_TABLE_MAIN;
	req.rtm.rtm_protocol = RTPROT_STATIC;
	req.rtm.rtm_scope = RT_SCOPE_LINK;
	req.rtm.rtm_type = RTN_UNICAST;
	add_attr(&req, RTA_DST, p->ip.bytes, addr_family_len(p->ip.family));
	add_attr(&req, RTA_OIF, &oif, sizeof(oif));
	return nl_talk(fd, &req);
}

static int configure(struct ns *ns)
{
	int ifindex = (int)if_nametoindex(ns->tun_name);
	if (ifindex <= 0)
		return -errno;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	const char *what = "bring up (MTU)";
	int r = link_up(fd, ifindex, ns->cfg.mtu);
	if (r == 0 && ns->cfg.addr4.ip.family == AF_INET) {
		what = "add IPv4 address";
		r = addr_add(fd, ifindex, &ns->cfg.addr4);
	}
	if (r == 0 && ns->cfg.addr6.ip.family == AF_INET6) {
		what = "add IPv6 address";
		r = addr_add(fd, ifindex, &ns->cfg.addr6);
	}
	for (unsigned i = 0; r == 0 && i < ns->cfg.n_routes; i++) {
		what = "add route";
		r = route_add(fd, ifindex, &ns->cfg.routes[i]);
	}
	close(fd);
	if (r < 0)
		log_err("netstack", "%s: %s failed: %s", ns->tun_name, what, strerror(-r));
	return r;
}

/* ---- the device on the loop ---- */

/* Hands the packets read so far to send_batch (one call, e.g. one sendmmsg in wg). */
static void flush_batch(struct ns *ns, struct iovec *iov, size_t n)
{
	if (n == 0)
		return;
	size_t taken = ns->cfg.send_batch(ns->cfg.send_ctx, iov, n);
	if (taken < n)
		ns->ctr.out_send_errors += n - taken;
}

static void on_tun_readable(uv_poll_t *h, int status, int events)
{
	struct ns *ns = container_of(h, struct ns, tun_poll);
	struct iovec iov[TUN_READ_BATCH];
	size_t queued = 0, slot = ns->tun_slot;
	for (int i = 0; i < TUN_READ_BATCH; i++) {
		uint8_t *buf = ns->tun_batch ? ns->tun_batch + queued * slot : ns->iobuf;
		size_t cap = ns->tun_batch ? slot : sizeof(ns->iobuf);
		ssize_t n = read(ns->tun_fd, buf, cap);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				/* e.g. the device was deleted: stop, rather than spin on it */
				log_err("netstack", "%s: read: %s; no longer reading the TUN",
					ns->tun_name, strerror(errno));
				uv_poll_stop(&ns->tun_poll);
			}
			break;
		}
		if (n == 0)
			break;
		ns->ctr.out_tun++;
		if ((size_t)n == cap) { /* maybe truncated: larger than the MTU allows */
			ns->ctr.out_send_errors++;
			continue;
		}
		if (ns__dns_from_host(ns, buf, (size_t)n))
			continue; /* to the tailnet resolver: never to WireGuard */
		ns__note_outbound(ns, buf, (size_t)n);
		if (ns->tun_batch) {
			iov[queued++] = (struct iovec){ buf, (size_t)n };
			continue;
		}
		if (ns->cfg.send(ns->cfg.send_ctx, buf, (size_t)n) < 0)
			ns->ctr.out_send_errors++;
	}
	if (ns->tun_batch)
		flush_batch(ns, iov, queued);
}

int ns__tun_open(struct ns *ns)
{
	bool configure_it = ns->tun_fd < 0;
	if (configure_it) {
		int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			int r = -errno;
			log_err("netstack", "open /dev/net/tun: %s", strerror(-r));
			return r;
		}
		struct ifreq ifr = { 0 };
		ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s",
			 ns->tun_name[0] ? ns->tun_name : "mesh%d");
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			int r = -errno;
			log_err("netstack", "TUNSETIFF %s: %s", ifr.ifr_name, strerror(-r));
			close(fd);
			return r;
		}
		snprintf(ns->tun_name, sizeof(ns->tun_name), "%s", ifr.ifr_name);
		ns->tun_fd = fd;
	} else {
		if (!ns->tun_name[0])
			snprintf(ns->tun_name, sizeof(ns->tun_name), "fd%d", ns->tun_fd);
		int fl = fcntl(ns->tun_fd, F_GETFL);
		if (fl < 0 || fcntl(ns->tun_fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
	}
	if (configure_it) {
		int r = configure(ns);
		if (r < 0)
			return r;
	}
	if (ns->cfg.send_batch) {
		ns->tun_slot = ns->cfg.mtu + 256;
		ns->tun_batch = malloc(TUN_READ_BATCH * ns->tun_slot);
		if (!ns->tun_batch)
			return -ENOMEM;
	}
	int r = uv_poll_init(ns->loop, &ns->tun_poll, ns->tun_fd);
	if (r < 0)
		return r;
	ns->tun_polling = true;
	uv_poll_start(&ns->tun_poll, UV_READABLE, on_tun_readable);
	if (configure_it)
		log_info("netstack", "%s: up, MTU %u", ns->tun_name, ns->cfg.mtu);
	return 0;
}

int ns__tun_write(struct ns *ns, const uint8_t *pkt, size_t len)
{
	if (ns->tun_fd < 0)
		return -ENODEV;
	ssize_t n = write(ns->tun_fd, pkt, len);
	if (n < 0) {
		int r = -errno;
		log_warn_rl(&tun_rl, "netstack", "%s: write of %zu bytes: %s", ns->tun_name, len,
			    strerror(-r));
		return r;
	}
	return 0;
}

static void on_tun_closed(uv_handle_t *h)
{
	struct ns *ns = container_of(h, struct ns, tun_poll);
	free(ns->tun_batch);
	ns->tun_batch = NULL;
	close(ns->tun_fd);
	ns->tun_fd = -1;
	ns__handle_closed(ns);
}

void ns__tun_close(struct ns *ns)
{
	if (ns->tun_polling) {
		ns->tun_polling = false;
		ns->closing++;
		uv_close((uv_handle_t *)&ns->tun_poll, on_tun_closed);
	} else if (ns->tun_fd >= 0) {
		free(ns->tun_batch);
		ns->tun_batch = NULL;
		close(ns->tun_fd);
		ns->tun_fd = -1;
	}
}
