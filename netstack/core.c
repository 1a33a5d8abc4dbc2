/* The netstack object: lwIP set up as one point-to-point netif on the libuv loop, its
 * timers driven by a uv_timer re-armed from sys_timeouts_sleeptime() (so an idle daemon
 * sleeps), ns_input() carrying each packet down the path dispatch.c picked, and the
 * lwIP output side handing every packet to the send callback. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netstack/internal.h"

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip4.h"
#include "lwip/ip6.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/timeouts.h"

#include "common/log.h"
#include "common/now.h"

enum { TCP_SYN_ = 0x02, TCP_ACK_ = 0x10 };

static struct ns *ns_current; /* lwIP is a process-wide singleton */
static bool lwip_ready;
static struct log_ratelimit send_rl = LOG_RATELIMIT_INIT(5000, 5);

void ns__to_ip_addr(int family, const uint8_t *addr, ip_addr_t *out)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		IP_SET_TYPE(out, IPADDR_TYPE_V4);
		memcpy(&ip_2_ip4(out)->addr, addr, 4);
	} else {
		IP_SET_TYPE(out, IPADDR_TYPE_V6);
		memcpy(ip_2_ip6(out)->addr, addr, 16);
	}
}

void ns__from_ip_addr(const ip_addr_t *a, int *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (IP_IS_V6(a)) {
		*family = AF_INET6;
		memcpy(addr, ip_2_ip6(a)->addr, 16);
	} else {
		*family = AF_INET;
		memcpy(addr, &ip_2_ip4(a)->addr, 4);
	}
}

bool ns__is_own(const struct ns *ns, int family, const uint8_t *addr)
{
	if (family == AF_INET)
		return ns->cfg.addr4.ip.family == AF_INET &&
		       memcmp(ns->cfg.addr4.ip.bytes, addr, 4) == 0;
	return ns->cfg.addr6.ip.family == AF_INET6 && memcmp(ns->cfg.addr6.ip.bytes, addr, 16) == 0;
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t)
{
	struct ns *ns = container_of(t, struct ns, timer);
	ns->timer_due_ms = 0;
	ns->ctr.timer_wakeups++;
	sys_check_timeouts();
	ns__kick(ns);
}

void ns__kick(struct ns *ns)
{
	if (ns->freeing)
		return;
	u32_t sleep = sys_timeouts_sleeptime();
	if (sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE) {
		if (ns->timer_due_ms) {
			uv_timer_stop(&ns->timer);
			ns->timer_due_ms = 0;
		}
		return;
	}
	uint64_t due = now_mono_ms() + sleep;
	if (ns->timer_due_ms && ns->timer_due_ms <= due)
		return;
	uv_update_time(ns->loop);
	uv_timer_start(&ns->timer, on_timer, sleep, 0);
	ns->timer_due_ms = due;
}

/* ---- lwIP output ---- */

void ns__note_outbound(struct ns *ns, const uint8_t *pkt, size_t len)
{
	struct ns_packet_info pi;
	bool fragment;
	if (ns__parse(pkt, len, &pi, &fragment) == 0 && !fragment)
		ns__ct_outbound(&ns->ct, &pi, uv_now(ns->loop));
}

static err_t nif_output_pbuf(struct netif *nif, struct pbuf *p)
{
	struct ns *ns = nif->state;
	uint16_t n = pbuf_copy_partial(p, ns->iobuf, p->tot_len, 0);
	ns->ctr.out_lwip++;
	if (ns__dns_answer(ns, ns->iobuf, n)) { /* the resolver serves only this host */
		ns->ctr.dns_out++;
		if (ns__tun_write(ns, ns->iobuf, n) < 0)
			ns->ctr.out_send_errors++;
		return ERR_OK;
	}
	ns__note_outbound(ns, ns->iobuf, n);
	int r = ns->cfg.send(ns->cfg.send_ctx, ns->iobuf, n);
	if (r < 0) {
		ns->ctr.out_send_errors++;
		log_warn_rl(&send_rl, "netstack", "send of a %u-byte lwIP packet failed: %s", n,
			    strerror(-r));
	}
	return ERR_OK; /* a lost packet is TCP's problem, not a reason to fail the pcb */
}

static err_t nif_output4(struct netif *nif, struct pbuf *p, const ip4_addr_t *dst)
{
	return nif_output_pbuf(nif, p);
}

static err_t nif_output6(struct netif *nif, struct pbuf *p, const ip6_addr_t *dst)
{
	return nif_output_pbuf(nif, p);
}

err_t ns__nif_init(struct netif *nif)
{
	struct ns *ns = nif->state;
	nif->mtu = (u16_t)ns->cfg.mtu;
	nif->mtu6 = (u16_t)ns->cfg.mtu;
	nif->output = nif_output4;
	nif->output_ip6 = nif_output6;
	nif->name[0] = 'm';
	nif->name[1] = 's';
	return ERR_OK;
}

static int setup_netif(struct ns *ns)
{
	ip4_addr_t addr, mask, gw;
	ip4_addr_set_zero(&addr);
	ip4_addr_set_zero(&mask);
	ip4_addr_set_zero(&gw);
	if (ns->cfg.addr4.ip.family == AF_INET) {
		memcpy(&addr.addr, ns->cfg.addr4.ip.bytes, 4);
		mask.addr = htonl(0xffffffffu); /* host route; netif_default carries the rest */
	}
	if (!netif_add(&ns->nif, &addr, &mask, &gw, ns, ns__nif_init, ip_input))
		return -ENOMEM;
	ns->nif_added = true;
	if (ns->cfg.addr6.ip.family == AF_INET6) {
		ip6_addr_t a6;
		memcpy(a6.addr, ns->cfg.addr6.ip.bytes, 16);
		ip6_addr_clear_zone(&a6);
		netif_ip6_addr_set(&ns->nif, 0, &a6);
		netif_ip6_addr_set_state(&ns->nif, 0, IP6_ADDR_PREFERRED);
	}
	netif_set_default(&ns->nif);
	netif_set_up(&ns->nif);
	netif_set_link_up(&ns->nif);
	return 0;
}

/* ---- lifecycle ---- */

static int check_config(const struct ns_config *cfg)
{
	if (!cfg->send) {
		log_err("netstack", "config: no send callback");
		return -EINVAL;
	}
	if (cfg->mode != NS_MODE_TUN && cfg->mode != NS_MODE_USERSPACE) {
		log_err("netstack", "config: unknown mode %d", (int)cfg->mode);
		return -EINVAL;
	}
	if (cfg->mtu && (cfg->mtu < 1280 || cfg->mtu > 65535)) {
		log_err("netstack", "config: MTU %u outside 1280..65535", cfg->mtu);
		return -EINVAL;
	}
	if (cfg->addr4.ip.family != 0 && cfg->addr4.ip.family != AF_INET) {
		log_err("netstack", "config: addr4 is not an IPv4 address");
		return -EINVAL;
	}
	if (cfg->addr6.ip.family != 0 && cfg->addr6.ip.family != AF_INET6) {
		log_err("netstack", "config: addr6 is not an IPv6 address");
		return -EINVAL;
	}
	if (cfg->addr4.ip.family == 0 && cfg->addr6.ip.family == 0) {
		log_err("netstack", "config: no tailnet address");
		return -EINVAL;
	}
	if (cfg->n_routes > NS_MAX_ROUTES) {
		log_err("netstack", "config: %u routes, at most %d", cfg->n_routes, NS_MAX_ROUTES);
		return -EINVAL;
	}
	return 0;
}

int ns_new(uv_loop_t *loop, const struct ns_config *cfg, struct ns **out)
{
	int r = check_config(cfg);
	if (r < 0)
		return r;
	if (ns_current) {
		log_err("netstack", "a netstack already exists in this process (lwIP is global)");
		return -EBUSY;
	}
	struct ns *ns = calloc(1, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	ns->loop = loop;
	ns->cfg = *cfg;
	ns->cfg.tun_name = NULL; /* not kept: the caller's string */
	if (!ns->cfg.mtu)
		ns->cfg.mtu = NS_DEFAULT_MTU;
	ns->max_conns = cfg->max_conns ? cfg->max_conns : 1024;
	ns->max_buffered = cfg->max_buffered ? cfg->max_buffered : 64u << 20;
	ns->tun_fd = -1;
	ns__ct_init(&ns->ct);
	if (cfg->mode == NS_MODE_TUN && cfg->tun_name)
		snprintf(ns->tun_name, sizeof(ns->tun_name), "%s", cfg->tun_name);
	if (!lwip_ready) {
		lwip_init();
		lwip_ready = true;
	}
	uv_timer_init(loop, &ns->timer);
	r = setup_netif(ns);
	if (r == 0 && cfg->mode == NS_MODE_TUN) {
		ns->tun_fd = cfg->tun_fd;
		r = ns__tun_open(ns);
	}
	ns_current = ns;
	if (r < 0) {
		ns_free(ns);
		return r;
	}
	ns__kick(ns);
	*out = ns;
	return 0;
}

static void on_close(uv_handle_t *h)
{
	struct ns *ns = h->data;
	ns__handle_closed(ns);
}

void ns__handle_closed(struct ns *ns)
{
	if (--ns->closing == 0 && ns->freeing)
		free(ns);
}

void ns_free(struct ns *ns)
{
	if (!ns)
		return;
	ns->closing++; /* held until the end of this function */
	ns__forward_free_all(ns);
	ns__dns_free(ns);
	ns__bridge_free_all(ns);
	ns__socks_free_all(ns);
	ns__tun_close(ns);
	/* Connections we already let go of (closing, TIME_WAIT) still hold their ports in
	 * lwIP's global lists; a later netstack in this process must start clean. */
	while (tcp_active_pcbs)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
	if (ns->nif_added)
		netif_remove(&ns->nif);
	ns->freeing = true;
	ns->timer.data = ns;
	ns->closing++;
	uv_close((uv_handle_t *)&ns->timer, on_close);
	if (ns_current == ns)
		ns_current = NULL;
	ns__handle_closed(ns);
}

/* ---- input ---- */

void ns__to_lwip(struct ns *ns, const uint8_t *pkt, size_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
	if (!p) {
		ns->ctr.drop[NS_DROP_NOMEM]++;
		return;
	}
	memcpy(p->payload, pkt, len);
	if (ns->nif.input(p, &ns->nif) != ERR_OK)
		pbuf_free(p);
	ns__kick(ns);
}

void ns_input(struct ns *ns, const uint8_t *pkt, size_t len)
{
	struct ns_packet_info pi;
	struct ns__facts f = { .mode = ns->cfg.mode };
	enum ns_drop drop = NS_DROP_NONE;

	ns->ctr.in_packets++;
	ns->ctr.in_bytes += len;
	f.parsed = len <= 0xffff && ns__parse(pkt, len, &pi, &f.fragment) == 0;
	if (f.parsed && !f.fragment) {
		len = pi.len; /* trailing bytes past the IP length are not forwarded */
		f.proto = pi.proto;
		f.own_dst = ns__is_own(ns, pi.family, pi.dst);
		f.tcp_new = ns__tcp_bare_syn(&pi);
		if (f.own_dst)
			f.tracked = ns__ct_inbound(&ns->ct, &pi, uv_now(ns->loop));
		/* The filter is asked only about what may pass on its word (ns__classify). */
		if (f.tracked)
			f.allowed = true;
		else if (ns__filter_judges(&f)) {
			ns->ctr.filter_asked++;
			f.allowed = ns__filter_check(ns, &pi);
		}
		/* A dial's port is all lwIP's in userspace mode (nothing else uses our address);
		 * in TUN mode only its replies are (the kernel's connections share the address). */
		f.intercepted = pi.proto == IPPROTO_TCP &&
				(ns->tcp_ports[pi.dport] ||
				 (ns->tcp_dials[pi.dport] &&
				  (ns->cfg.mode == NS_MODE_USERSPACE || ns__dial_reply(ns, &pi))));
		f.echo_request = ns__is_echo_request(&pi);
	}
	enum ns_path path = ns__classify(&f, &drop);
	ns->ctr.path[path]++;
	switch (path) {
	case NS_PATH_INTERCEPT:
		ns__to_lwip(ns, pkt, len);
		break;
	case NS_PATH_LOCAL:
		/* A new TCP connection waits for the local service to answer (forward.c). */
		if (ns__tcp_bare_syn(&pi))
			ns__forward_syn(ns, &pi, pkt, len);
		else
			ns__to_lwip(ns, pkt, len);
		break;
	case NS_PATH_TUN:
		if (ns__tun_write(ns, pkt, len) < 0)
			ns->ctr.drop[NS_DROP_TUN_WRITE]++;
		break;
	case NS_PATH_DROP:
	case NS_PATH_MAX:
		ns->ctr.drop[drop]++;
		break;
	}
}

/* ---- counters ---- */

void ns_get_counters(const struct ns *ns, struct ns_counters *out)
{
	*out = ns->ctr;
	out->ct_evicted = ns->ct.evicted;
}

void ns_counters_foreach(const struct ns_counters *c,
			 void (*cb)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	char name[48];
	cb(ctx, "in.packets", c->in_packets);
	cb(ctx, "in.bytes", c->in_bytes);
	for (int i = 0; i < NS_PATH_MAX; i++) {
		snprintf(name, sizeof(name), "path.%s", ns_path_name((enum ns_path)i));
		cb(ctx, name, c->path[i]);
	}
	for (int i = NS_DROP_NONE + 1; i < NS_DROP_MAX; i++) {
		snprintf(name, sizeof(name), "drop.%s", ns_drop_name((enum ns_drop)i));
		cb(ctx, name, c->drop[i]);
	}
	cb(ctx, "out.lwip", c->out_lwip);
	cb(ctx, "out.tun", c->out_tun);
	cb(ctx, "out.send_errors", c->out_send_errors);
	cb(ctx, "conns.accepted", c->conns_accepted);
	cb(ctx, "conns.active", c->conns_active);
	cb(ctx, "conns.refused_limit", c->conns_refused_limit);
	cb(ctx, "conns.reset_in", c->conns_reset_in);
	cb(ctx, "conns.reset_out", c->conns_reset_out);
	cb(ctx, "forward.refused", c->forward_refused);
	cb(ctx, "buffered.bytes", c->buffered);
	cb(ctx, "buffered.max", c->buffered_max);
	cb(ctx, "timer.wakeups", c->timer_wakeups);
	cb(ctx, "conntrack.evicted", c->ct_evicted);
	cb(ctx, "filter.asked", c->filter_asked);
	cb(ctx, "dnsaddr.in", c->dns_in);
	cb(ctx, "dnsaddr.dropped", c->dns_dropped);
	cb(ctx, "dnsaddr.out", c->dns_out);
}

const char *ns_path_name(enum ns_path path)
{
	static const char *const names[NS_PATH_MAX] = {
		[NS_PATH_INTERCEPT] = "intercept",
		[NS_PATH_LOCAL] = "local",
		[NS_PATH_TUN] = "tun",
		[NS_PATH_DROP] = "drop",
	};
	return (unsigned)path < NS_PATH_MAX ? names[path] : "unknown";
}

const char *ns_drop_name(enum ns_drop reason)
{
	static const char *const names[NS_DROP_MAX] = {
		[NS_DROP_NONE] = "none",
		[NS_DROP_MALFORMED] = "malformed",
		[NS_DROP_FILTERED] = "filtered",
		[NS_DROP_NOT_OURS] = "not_ours",
		[NS_DROP_NO_HANDLER] = "no_handler",
		[NS_DROP_FRAGMENT] = "fragment",
		[NS_DROP_NO_STATE] = "no_state",
		[NS_DROP_TUN_WRITE] = "tun_write",
		[NS_DROP_NOMEM] = "nomem",
	};
	return (unsigned)reason < NS_DROP_MAX ? names[reason] : "unknown";
}

const char *ns_tun_name(const struct ns *ns)
{
	return ns->tun_fd >= 0 ? ns->tun_name : "";
}
