/* The tailnet resolver's addresses (MagicDNS, TUN mode): DNS from this host to
 * 100.100.100.100 and to the tailnet's IPv6 resolver address ends in lwIP, on a netif of its
 * own that holds those addresses, and never reaches WireGuard; lwIP's answers go back to
 * the TUN.  UDP queries reach the caller's datagram callback, TCP connections its accept
 * callback as a socketpair (bridge.c, like port 22); the netstack knows nothing of DNS
 * itself (the caller parses, with dns/).
 *
 * Only this host is served.  Peers never reach these addresses: ns_input drops a peer's
 * packet for them as not ours (they are not our tailnet addresses), so a peer's queries go
 * to its own meshd, as with Tailscale, whose 100.100.100.100 serves only its own host.  A
 * resolver that forwards to the host's resolvers must not be a way for a peer the ACLs
 * admit to one port to reach the LAN's DNS. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netstack/internal.h"

#include "lwip/ip.h"
#include "lwip/pbuf.h"
#include "lwip/udp.h"

#include "common/log.h"

enum { IPPROTO_TCP_ = 6, IPPROTO_UDP_ = 17, DNS_PORT = 53, UDP_MAX = 65535 };

struct ns__dns {
	struct ns_dns_config cfg;
	struct netif nif; /* holds the resolver's addresses; output as the main netif's */
	bool nif_added;
	struct udp_pcb *udp4, *udp6;
	uint8_t buf[UDP_MAX]; /* one datagram handed to the callback */
};

static bool is_resolver(const struct ns *ns, int family, const uint8_t *addr)
{
	const struct ns__dns *d = ns->dns;
	if (!d)
		return false;
	const struct addr_ip *a = family == AF_INET ? &d->cfg.addr4 : &d->cfg.addr6;
	return a->family == family && memcmp(a->bytes, addr, addr_family_len(family)) == 0;
}

bool ns__dns_from_host(struct ns *ns, const uint8_t *pkt, size_t len)
{
	struct ns_packet_info pi;
	bool fragment;
	if (!ns->dns || ns__parse(pkt, len, &pi, &fragment) != 0 ||
	    !is_resolver(ns, pi.family, pi.dst))
		return false;
	if (fragment || (pi.proto != IPPROTO_UDP_ && pi.proto != IPPROTO_TCP_) ||
	    pi.dport != DNS_PORT) {
		ns->ctr.dns_dropped++; /* nothing else is served there, and nothing passes on */
		return true;
	}
	ns->ctr.dns_in++;
	ns__to_lwip(ns, pkt, pi.len);
	return true;
}

bool ns__dns_answer(struct ns *ns, const uint8_t *pkt, size_t len)
{
	if (!ns->dns || len < 20)
		return false;
	if (pkt[0] >> 4 == 4)
		return is_resolver(ns, AF_INET, pkt + 12);
	return len >= 40 && pkt[0] >> 4 == 6 && is_resolver(ns, AF_INET6, pkt + 8);
}

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
		   u16_t port)
{
	struct ns *ns = arg;
	struct ns__dns *d = ns->dns;
	struct addr_endpoint client = { .port = port };
	u16_t n = pbuf_copy_partial(p, d->buf, p->tot_len, 0);
	pbuf_free(p);
	int family;
	ns__from_ip_addr(addr, &family, client.ip.bytes);
	client.ip.family = (uint8_t)family;
	d->cfg.datagram(d->cfg.ctx, &client, d->buf, n);
	ns__kick(ns);
}

int ns_dns_send(struct ns *ns, const struct addr_endpoint *client, const uint8_t *msg, size_t len)
{
	struct ns__dns *d = ns->dns;
	if (!d)
		return -ENOTCONN;
	struct udp_pcb *pcb = client->ip.family == AF_INET ? d->udp4 : d->udp6;
	if (!pcb || (client->ip.family != AF_INET && client->ip.family != AF_INET6))
		return -EAFNOSUPPORT;
	if (len > UDP_MAX - 8)
		return -EMSGSIZE;
	struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	if (!p)
		return -ENOMEM;
	memcpy(p->payload, msg, len);
	ip_addr_t dst;
	ns__to_ip_addr(client->ip.family, client->ip.bytes, &dst);
	/* udp_sendto would refuse a source that is not its route's netif's address (ERR_RTE):
	 * the answer leaves by the main netif, from the resolver's address */
	err_t e = udp_sendto_if_src(pcb, p, &dst, client->port, &ns->nif, &pcb->local_ip);
	pbuf_free(p);
	ns__kick(ns);
	return e == ERR_OK ? 0 : -EIO;
}

static struct udp_pcb *udp_start(struct ns *ns, const struct addr_ip *a)
{
	struct udp_pcb *pcb =
	    udp_new_ip_type(a->family == AF_INET ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6);
	if (!pcb)
		return NULL;
	ip_addr_t ip;
	ns__to_ip_addr(a->family, a->bytes, &ip);
	if (udp_bind(pcb, &ip, DNS_PORT) != ERR_OK) {
		udp_remove(pcb);
		return NULL;
	}
	udp_recv(pcb, on_udp, ns);
	return pcb;
}

static int add_netif(struct ns *ns)
{
	struct ns__dns *d = ns->dns;
	ip4_addr_t addr, mask, gw;
	ip4_addr_set_zero(&addr);
	ip4_addr_set_zero(&mask);
	ip4_addr_set_zero(&gw);
	if (d->cfg.addr4.family == AF_INET) {
		memcpy(&addr.addr, d->cfg.addr4.bytes, 4);
		mask.addr = 0xffffffffu;
	}
	if (!netif_add(&d->nif, &addr, &mask, &gw, ns, ns__nif_init, ip_input))
		return -ENOMEM;
	d->nif_added = true;
	if (d->cfg.addr6.family == AF_INET6) {
		ip6_addr_t a6;
		memcpy(a6.addr, d->cfg.addr6.bytes, 16);
		ip6_addr_clear_zone(&a6);
		netif_ip6_addr_set(&d->nif, 0, &a6);
		netif_ip6_addr_set_state(&d->nif, 0, IP6_ADDR_PREFERRED);
	}
	netif_set_up(&d->nif);
	netif_set_link_up(&d->nif);
	return 0;
}

static int check(const struct ns *ns, const struct ns_dns_config *cfg)
{
	if (ns->cfg.mode != NS_MODE_TUN)
		return -EOPNOTSUPP; /* no host to serve: nothing reaches these addresses */
	if (ns->dns)
		return -EALREADY;
	if (!cfg->datagram || !cfg->accept)
		return -EINVAL;
	if ((cfg->addr4.family != 0 && cfg->addr4.family != AF_INET) ||
	    (cfg->addr6.family != 0 && cfg->addr6.family != AF_INET6) ||
	    (!cfg->addr4.family && !cfg->addr6.family))
		return -EINVAL;
	if ((cfg->addr4.family && ns__is_own(ns, AF_INET, cfg->addr4.bytes)) ||
	    (cfg->addr6.family && ns__is_own(ns, AF_INET6, cfg->addr6.bytes)))
		return -EADDRINUSE; /* a tailnet address of ours is not the resolver's */
	return 0;
}

int ns_dns_start(struct ns *ns, const struct ns_dns_config *cfg)
{
	int r = check(ns, cfg);
	if (r < 0)
		return r;
	ns->dns = calloc(1, sizeof(*ns->dns));
	if (!ns->dns)
		return -ENOMEM;
	ns->dns->cfg = *cfg;
	r = add_netif(ns);
	const struct addr_ip *addrs[2] = { &cfg->addr4, &cfg->addr6 };
	for (int i = 0; r == 0 && i < 2; i++) {
		if (!addrs[i]->family)
			continue;
		struct udp_pcb *pcb = udp_start(ns, addrs[i]);
		*(i == 0 ? &ns->dns->udp4 : &ns->dns->udp6) = pcb;
		ip_addr_t ip;
		ns__to_ip_addr(addrs[i]->family, addrs[i]->bytes, &ip);
		r = pcb ? ns__listen_addr(ns, &ip, DNS_PORT, cfg->accept, cfg->ctx) : -ENOMEM;
	}
	if (r < 0) {
		log_err("netstack", "the resolver's addresses: %s", strerror(-r));
		ns__dns_free(ns);
		return r;
	}
	ns__kick(ns);
	return 0;
}

void ns__dns_free(struct ns *ns)
{
	struct ns__dns *d = ns->dns;
	if (!d)
		return;
	if (d->udp4)
		udp_remove(d->udp4);
	if (d->udp6)
		udp_remove(d->udp6);
	if (d->nif_added)
		netif_remove(&d->nif);
	free(d);
	ns->dns = NULL;
}
