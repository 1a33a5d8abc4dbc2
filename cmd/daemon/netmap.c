/* A netmap becomes meshd's configuration: WireGuard peers (with their reachability
 * handles), the netstack (made with the first netmap, which gives our addresses, and made
 * again when they change), the packet filter's and sshd's rules.  A peer a netmap drops
 * lingers a moment so the sessions closed because of it can still say so. */
#include "cmd/daemon/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/daemon/access.h"
#include "cmd/daemon/dns_host.h"
#include "cmd/daemon/dns.h"
#include "cmd/daemon/reach/reach.h"
#include "control/policy/policy.h"
#include "netstack/netstack.h"
#include "sshd/sshd.h"
#include "wg/wg.h"

static const char *const subject = "meshd";

enum { PEER_LINGER_MS = 1500 };

bool meshd_node_resolve(const struct meshd_node *node, const char *host, int *family,
			uint8_t addr[16])
{
	const struct ctl_netmap *nm = node->nm;
	struct addr_prefix p;
	if (addr_prefix_parse(host, &p, NULL)) {
		*family = p.ip.family;
		memcpy(addr, p.ip.bytes, 16);
		return true;
	}
	/* names as DNS has them: any case, and an absolute name's trailing dot */
	char want[256];
	size_t wl = strlen(host);
	if (wl >= sizeof(want))
		return false;
	memcpy(want, host, wl + 1);
	if (wl && want[wl - 1] == '.')
		want[--wl] = '\0';
	for (size_t i = 0; nm && i < nm->n_peers; i++) {
		const struct ctl_node *n = &nm->peers[i];
		size_t nl = n->name ? strlen(n->name) : 0;
		if (!nl || strncasecmp(want, n->name, nl) != 0)
			continue;
		if (want[nl] != '\0' &&
		    !(want[nl] == '.' && nm->domain && strcasecmp(want + nl + 1, nm->domain) == 0))
			continue;
		for (size_t a = 0; a < n->n_addrs; a++) {
			if (n->addrs[a].ip.family == AF_INET) {
				*family = AF_INET;
				memcpy(addr, n->addrs[a].ip.bytes, 16);
				return true;
			}
		}
		if (n->n_addrs) {
			*family = AF_INET6;
			memcpy(addr, n->addrs[0].ip.bytes, 16);
			return true;
		}
	}
	return false;
}

/* SOCKS5 names (userspace mode): a peer's name, as meshd_node_resolve. */
static int socks_resolve(void *ctx, const char *name, int *family, uint8_t addr[16])
{
	return meshd_node_resolve(ctx, name, family, addr) ? 0 : -ENOENT;
}

static int start_netstack(struct meshd_node *node, const struct ctl_netmap *nm)
{
	struct ns_config nc = {
		.mode = strcmp(node->tun, "userspace") == 0 ? NS_MODE_USERSPACE : NS_MODE_TUN,
		.tun_name = node->tun,
		.tun_fd = -1,
		.send = meshd__on_ns_send,
		.send_batch = meshd__on_ns_send_batch,
		.send_ctx = node,
	};
	for (size_t i = 0; i < nm->self.n_addrs; i++) {
		const struct addr_prefix *a = &nm->self.addrs[i];
		if (a->ip.family == AF_INET && !nc.addr4.ip.family) {
			nc.addr4 = *a;
			nc.addr4.bits = 32;
			/* The whole tailnet range goes to the TUN. */
			struct addr_prefix *r = &nc.routes[nc.n_routes++];
			*r = (struct addr_prefix){ .ip = { AF_INET, { 100, 64 } }, .bits = 10 };
		} else if (a->ip.family == AF_INET6 && !nc.addr6.ip.family) {
			nc.addr6 = *a;
			nc.addr6.bits = 128;
			struct addr_prefix *r = &nc.routes[nc.n_routes++];
			*r = *a;
			r->bits = 48;
			addr_prefix_mask(r);
		}
	}
	if (!nc.addr4.ip.family && !nc.addr6.ip.family) {
		log_err(subject, "netmap gives this node no address");
		return -EINVAL;
	}
	int err = ns_new(node->loop, &nc, &node->ns);
	if (err) {
		log_err(subject, "netstack (%s): %s", node->tun, strerror(-err));
		return err;
	}
	ns_set_rules(node->ns, (const struct pol_filter_rule *const *)nm->filter, nm->n_filter);
	if (node->ssh_on) {
		err = ns_listen(node->ns, 22, meshd__on_ssh_accept, node);
		if (err) {
			log_err(subject, "cannot intercept port 22: %s", strerror(-err));
			return err;
		}
	}
	if (nc.mode == NS_MODE_TUN) {
		err = meshd_dns_attach(node->dns, node->ns, nm);
		if (err) /* names still resolve through meshctl; the data plane goes on */
			log_err(subject, "MagicDNS: cannot serve the resolver's addresses: %s",
				strerror(-err));
		err = 0;
	}
	if (nc.mode == NS_MODE_USERSPACE && node->cfg.socks5_path) {
		err = meshd_access_socks5_start(node->ns, node->cfg.socks5_path,
						node->cfg.operator_group);
		if (err)
			return err;
		ns_socks5_set_resolver(node->ns, socks_resolve, node);
	}
	return 0;
}

static void on_linger_timer(uv_timer_t *t)
{
	struct meshd_node *node = t->data;
	uint64_t now = uv_now(node->loop), next = 0;
	size_t kept = 0;
	for (size_t i = 0; i < node->n_lingering; i++) {
		struct lingering *l = &node->lingering[i];
		if (l->deadline_ms <= now) {
			wg_device_peer_remove(node->wg, l->key);
			meshd_reach_remove_peer(node->reach, l->key);
			continue;
		}
		if (!next || l->deadline_ms < next)
			next = l->deadline_ms;
		node->lingering[kept++] = *l;
	}
	node->n_lingering = kept;
	if (next)
		uv_timer_start(&node->linger_timer, on_linger_timer, next - now, 0);
}

/* Removes the peer after PEER_LINGER_MS (or at once when out of memory). */
static void linger_remove(struct meshd_node *node, const uint8_t key[static KEY_LEN])
{
	struct lingering *l = realloc(node->lingering, (node->n_lingering + 1) * sizeof(*l));
	if (!l) {
		wg_device_peer_remove(node->wg, key);
		meshd_reach_remove_peer(node->reach, key);
		return;
	}
	node->lingering = l;
	memcpy(l[node->n_lingering].key, key, KEY_LEN);
	l[node->n_lingering++].deadline_ms = uv_now(node->loop) + PEER_LINGER_MS;
	if (!uv_is_active((uv_handle_t *)&node->linger_timer))
		uv_timer_start(&node->linger_timer, on_linger_timer, PEER_LINGER_MS, 0);
}

/* A peer that comes back before its removal is not removed. */
static void linger_cancel(struct meshd_node *node, const uint8_t key[static KEY_LEN])
{
	for (size_t i = 0; i < node->n_lingering; i++) {
		if (key_equal(node->lingering[i].key, key)) {
			node->lingering[i] = node->lingering[--node->n_lingering];
			return;
		}
	}
}

static int sync_peers(struct meshd_node *node, const struct ctl_netmap *nm)
{
	uint8_t(*keys)[KEY_LEN] = calloc(nm->n_peers ? nm->n_peers : 1, KEY_LEN);
	if (!keys)
		return -ENOMEM;
	size_t n_keys = 0;
	meshd_reach_apply_netmap(node->reach, nm);
	for (size_t i = 0; i < nm->n_peers; i++) {
		const struct ctl_node *p = &nm->peers[i];
		struct wg_peer_config pc = {
			.persistent_keepalive = 0,
			.replace_allowed_ips = true,
			.allowed_ips = p->n_allowed_ips ? p->allowed_ips : p->addrs,
			.n_allowed_ips = p->n_allowed_ips ? p->n_allowed_ips : p->n_addrs,
		};
		memcpy(pc.public_key, p->node_key, KEY_LEN);
		/* Where its datagrams go is the path manager's, asked per datagram (ops.route). */
		pc.path = meshd_reach_peer_handle(node->reach, p->node_key);
		pc.set_path = pc.path != 0;
		int err = wg_device_peer_set(node->wg, &pc);
		if (err) {
			log_warn(subject, "peer %s: cannot configure: %s", p->name ? p->name : "?",
				 strerror(-err));
			continue;
		}
		memcpy(keys[n_keys++], p->node_key, KEY_LEN);
		linger_cancel(node, p->node_key);
	}
	for (size_t i = 0; i < node->n_peer_keys; i++) {
		bool keep = false;
		for (size_t k = 0; k < n_keys && !keep; k++)
			keep = key_equal(node->peer_keys[i], keys[k]);
		if (!keep)
			linger_remove(node, node->peer_keys[i]);
	}
	free(node->peer_keys);
	node->peer_keys = keys;
	node->n_peer_keys = n_keys;
	return 0;
}

static void on_restart_timer(uv_timer_t *t)
{
	struct meshd_node *node = t->data;
	if (node->ns || !node->nm)
		return;
	int err = start_netstack(node, node->nm);
	if (err == -EBUSY && ++node->restart_tries < 100)
		uv_timer_start(&node->restart_timer, on_restart_timer, 20, 0);
	else if (err)
		log_err(subject, "the netstack did not come back after the address change: %s",
			strerror(-err));
}

static bool same_addresses(const struct ctl_node *a, const struct ctl_node *b)
{
	if (a->n_addrs != b->n_addrs)
		return false;
	for (size_t i = 0; i < a->n_addrs; i++)
		if (!addr_ip_equal(&a->addrs[i].ip, &b->addrs[i].ip))
			return false;
	return true;
}

int meshd_node_apply_netmap(struct meshd_node *node, struct ctl_netmap *nm)
{
	if (!key_equal(nm->self.node_key, node->public_key)) {
		char have[KEY_FINGERPRINT_SIZE], want[KEY_FINGERPRINT_SIZE];
		key_fingerprint(have, node->public_key);
		key_fingerprint(want, nm->self.node_key);
		log_err(subject, "netmap is for node key %s, but ours is %s; ignored", want, have);
		ctl_netmap_free(nm);
		return -EINVAL;
	}
	int err = 0;
	bool restart = false;
	if (node->ns && node->nm && !same_addresses(&node->nm->self, &nm->self)) {
		log_warn(subject, "this node's tailnet address changed: restarting the netstack "
				  "(open connections end)");
		meshd_dns_detach(node->dns);
		ns_free(node->ns);
		node->ns = NULL;
		restart = true;
	}
	if (restart || uv_is_active((uv_handle_t *)&node->restart_timer)) {
		node->restart_tries = 0;
		uv_timer_start(&node->restart_timer, on_restart_timer, 20, 0);
	} else if (!node->ns) {
		err = start_netstack(node, nm);
	}
	if (!err)
		err = sync_peers(node, nm);
	if (err) {
		ctl_netmap_free(nm);
		return err;
	}
	struct ctl_netmap *old = node->nm;
	node->nm = nm;
	meshd_dns_apply_netmap(node->dns, nm);
	if (node->ns) /* before the old rules go: the filter borrows them */
		ns_set_rules(node->ns, (const struct pol_filter_rule *const *)nm->filter,
			     nm->n_filter);
	if (old)
		ctl_netmap_free(old);
	if (node->sshd) {
		unsigned closed = sshd_revalidate(node->sshd);
		if (closed)
			log_info(subject, "netmap %llu: closed %u SSH session(s) no longer allowed",
				 (unsigned long long)nm->version, closed);
	}
	log_info(subject, "netmap %llu applied: %zu peer(s), %zu filter rule(s), %zu SSH rule(s)",
		 (unsigned long long)nm->version, nm->n_peers, nm->n_filter, nm->n_ssh);
	/* the host is pointed at 100.100.100.100 only while something answers there: a
	 * netstack being restarted, a resolver that could not attach or a netmap without a
	 * usable domain leave (or give back) the host's own resolv.conf */
	meshd_dns_host_apply(node->dns_host, nm,
			     !meshd_node_userspace(node) && meshd_dns_serving(node->dns));
	return 0;
}

void meshd_node_clear_netmap(struct meshd_node *node)
{
	if (node->wg)
		wg_device_peer_remove_all(node->wg);
	meshd_reach_remove_all(node->reach);
	free(node->peer_keys);
	node->peer_keys = NULL;
	node->n_peer_keys = 0;
	if (node->nm) {
		ctl_netmap_free(node->nm);
		node->nm = NULL;
	}
	meshd_dns_clear(node->dns);
	if (node->sshd)
		sshd_revalidate(node->sshd);
	meshd_dns_host_restore(node->dns_host);
	log_info(subject, "netmap cleared: no peers, no SSH, no names");
}
