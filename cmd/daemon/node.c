/* Wiring of wg/, netstack/ and sshd/ for one node.  Nothing here parses packets or
 * speaks a protocol: it moves packets between the modules' callbacks and turns netmaps
 * into their configuration. */
#include "cmd/daemon/node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/daemon/access.h"
#include "cmd/daemon/reach.h"
#include "cmd/daemon/record.h"
#include "control/client/client.h"
#include "control/netmap/endpoint.h"
#include "control/policy/policy.h"
#include "common/common.h"
#include "nat/stun.h"
#include "netstack/netstack.h"
#include "sshd/sshd.h"
#include "wg/wg.h"

struct meshd_node {
	uv_loop_t *loop;
	struct meshd_node_config cfg;
	char *state_dir, *tun;
	char name[32];
	uint8_t private_key[KEY_LEN], public_key[KEY_LEN];
	struct wg_device *wg;
	struct meshd_reach *reach; /* peers' paths: direct, relayed (nat/ on wg's hooks) */
	struct ns *ns;
	struct sshd_server *sshd;
	struct meshd_record *rec; /* session recording: sshd's session hooks */
	struct ctl_netmap *nm;
	struct ctl_client *control;
	bool ssh_on;	    /* port 22 is intercepted */
	struct hold *holds; /* check-mode holds waiting on control */
	/* Keys of the peers configured in wg, to remove the ones a new netmap drops. */
	uint8_t (*peer_keys)[KEY_LEN];
	size_t n_peer_keys;
	/* Peers a netmap dropped stay in WireGuard a moment longer, so the sessions closed
	 * because of it can still tell their clients ("Access revoked.", FIN). */
	struct lingering {
		uint8_t key[KEY_LEN];
		uint64_t deadline_ms;
	} * lingering;
	size_t n_lingering;
	uv_timer_t linger_timer;
	bool linger_timer_init;
	/* After an address change the old TUN goes away in a close callback; the new
	 * netstack starts from this timer, retried while the kernel still has the old one. */
	uv_timer_t restart_timer;
	unsigned restart_tries;
	unsigned pending_closes;
	void (*done)(void *arg);
	void *done_arg;
};

/* A check-mode login waiting for control's answer. */
struct hold {
	struct hold *next;
	struct meshd_node *node;
	struct sshd_check *check; /* NULL once the connection went away */
	struct sshd_decision accept;
	struct addr_prefix src;
	char user[64];
};

static const char *const subject = "meshd";

enum { PEER_LINGER_MS = 1500 };

/* ---- node key ---- */

static int load_or_create_key(struct meshd_node *node)
{
	char path[4096], err[512];
	bool created;
	snprintf(path, sizeof(path), "%s/node.key", node->state_dir);
	int rc = file_key_load_or_create(path, node->private_key, &created, err, sizeof(err));
	if (rc) {
		log_err(subject, "%s", err);
		return rc;
	}
	if (created)
		log_info(subject, "created a new node key in %s", path);
	if (crypto_scalarmult_curve25519_base(node->public_key, node->private_key) != 0)
		return -EINVAL;
	return 0;
}

/* ---- packets between the modules ---- */

static void on_wg_packet(void *ctx, const uint8_t *pkt, size_t len)
{
	struct meshd_node *node = ctx;
	if (node->ns)
		ns_input(node->ns, pkt, len);
}

/* wg's hooks for what is not WireGuard, and for where a peer's datagrams go. */
static void on_wg_other(void *ctx, uint8_t *buf, size_t len, const struct sockaddr *src)
{
	struct meshd_node *node = ctx;
	if (node->reach)
		meshd_reach_on_other(node->reach, buf, len, src);
}

static int on_wg_route(void *ctx, uint64_t path, size_t len, struct wg_route *r)
{
	struct meshd_node *node = ctx;
	return node->reach ? meshd_reach_route(node->reach, path, len, r) : -ENETUNREACH;
}

static void on_wg_roam(void *ctx, const uint8_t key[WG_KEY_LEN], const struct wg_source *from)
{
	struct meshd_node *node = ctx;
	if (node->reach)
		meshd_reach_on_roam(node->reach, key, from);
}

static int on_ns_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct meshd_node *node = ctx;
	return wg_device_send(node->wg, pkt, len);
}

static size_t on_ns_send_batch(void *ctx, const struct iovec *pkts, size_t n)
{
	struct meshd_node *node = ctx;
	return wg_device_send_batch(node->wg, pkts, n);
}

/* ---- SSH ---- */

static void start_hold(struct meshd_node *node, const struct addr_prefix *src, const char *user,
		       struct sshd_check *check, uint32_t check_period_s,
		       const struct sshd_decision *accept, struct sshd_decision *out);

/* The host prefix of a connection's source (an IPv4-mapped IPv6 source as IPv4). */
static bool sockaddr_to_prefix(const struct sockaddr *sa, struct addr_prefix *out)
{
	struct addr_endpoint e;
	if (!addr_endpoint_from_sockaddr(sa, &e)) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	addr_ip_unmap(&e.ip);
	*out = addr_host_prefix(&e.ip);
	return true;
}

enum verdict meshd_ssh_decide(const struct ctl_netmap *nm, const struct addr_prefix *src,
			      const char *user, struct sshd_decision *accept,
			      uint32_t *check_period_s, char *message, size_t msglen)
{
	struct pol_decision d;
	pol_ssh_rules_decide(nm ? (const struct pol_ssh_rule *const *)nm->ssh : NULL,
			     nm ? nm->n_ssh : 0, &src->ip, user, &d);
	memset(accept, 0, sizeof(*accept));
	if (d.verdict == VERDICT_REJECT) {
		if (d.src_allowed)
			snprintf(message, msglen,
				 "policy does not permit you to SSH as user \"%s\"", user);
		else
			snprintf(message, msglen, "policy does not permit you to SSH to this node");
		return VERDICT_REJECT;
	}
	const struct pol_ssh_rule *r = d.ssh_rule;
	accept->action = VERDICT_ACCEPT;
	snprintf(accept->local_user, sizeof(accept->local_user), "%s", d.local_user);
	accept->flags = (r->allow_agent_forwarding ? SSHD_ALLOW_AGENT : 0) |
			(r->allow_local_port_forwarding ? SSHD_ALLOW_LOCAL_FWD : 0) |
			(r->allow_remote_port_forwarding ? SSHD_ALLOW_REMOTE_FWD : 0) |
			(d.refuse_uid0 ? 0 : SSHD_ALLOW_ROOT);
	size_t o = 0;
	for (size_t i = 0; i < r->n_accept_env; i++) {
		size_t room = sizeof(accept->accept_env) - o;
		int w =
		    snprintf(accept->accept_env + o, room, "%s%s", o ? "," : "", r->accept_env[i]);
		if (w < 0 || (size_t)w >= room) {
			accept->accept_env[o] =
			    '\0'; /* too many patterns: keep the ones that fit */
			break;
		}
		o += (size_t)w;
	}
	*check_period_s = r->check_period_s > UINT32_MAX ? UINT32_MAX : (uint32_t)r->check_period_s;
	return d.verdict;
}

/* Without root, meshd can start sessions only as the user it runs as. */
static bool local_user_possible(const char *local_user, struct sshd_decision *out)
{
	uid_t me = geteuid();
	if (me == 0)
		return true;
	char buf[4096];
	struct passwd pw, *found = NULL;
	struct passwd self, *self_found = NULL;
	char sbuf[4096];
	getpwnam_r(local_user, &pw, buf, sizeof(buf), &found);
	if (found && found->pw_uid == me)
		return true;
	getpwuid_r(me, &self, sbuf, sizeof(sbuf), &self_found);
	snprintf(out->message, sizeof(out->message),
		 "meshd on this node runs without root (as \"%s\") and can only log you in as "
		 "\"%s\", not as \"%s\"",
		 self_found ? self_found->pw_name : "?", self_found ? self_found->pw_name : "?",
		 local_user);
	out->action = VERDICT_REJECT;
	return false;
}

static void on_ssh_authorize(void *ctx, const struct sockaddr *peer, const char *user,
			     struct sshd_check *check, struct sshd_decision *out)
{
	struct meshd_node *node = ctx;
	struct addr_prefix src;
	memset(out, 0, sizeof(*out));
	out->action = VERDICT_REJECT;
	if (!sockaddr_to_prefix(peer, &src)) {
		snprintf(out->message, sizeof(out->message),
			 "policy does not permit you to SSH to this node");
		return;
	}
	/* What an accept (now, or once the check is approved) looks like. */
	struct sshd_decision accept;
	uint32_t period = 0;
	enum verdict v = meshd_ssh_decide(node->nm, &src, user, &accept, &period, out->message,
					  sizeof(out->message));
	if (v == VERDICT_REJECT)
		return;
	if (!local_user_possible(accept.local_user, out))
		return;
	if (v == VERDICT_CHECK && !check) {
		/* Revalidation of a session that passed its check: no new hold, but the full
		 * answer, so sshd compares the local user and the permissions. */
		*out = accept;
		out->action = VERDICT_CHECK;
	} else if (v == VERDICT_CHECK) {
		start_hold(node, &src, user, check, period, &accept, out);
	} else {
		*out = accept;
	}
}

static void hold_unlink(struct hold *h);

static void on_ssh_check_cancel(void *ctx, struct sshd_check *check)
{
	struct meshd_node *node = ctx;
	struct hold *h = node->holds;
	while (h && h->check != check)
		h = h->next;
	if (!h)
		return;
	if (node->control) {
		/* Control forgets it (it stops counting against its caps); no answer comes. */
		ctl_client_hold_cancel(node->control, h);
		hold_unlink(h);
		free(h);
	} else {
		h->check = NULL; /* the answer, when it comes, is dropped */
	}
}

static void on_ssh_accept(void *ctx, int fd, const struct ns_packet_info *info)
{
	struct meshd_node *node = ctx;
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (info->family == AF_INET) {
		struct sockaddr_in *in = (void *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(info->sport);
		memcpy(&in->sin_addr, info->src, 4);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (void *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(info->sport);
		memcpy(&in6->sin6_addr, info->src, 16);
		len = sizeof(*in6);
	}
	if (!node->sshd) {
		close(fd);
		return;
	}
	int err = sshd_accept_fd(node->sshd, fd, (struct sockaddr *)&ss, len);
	if (err)
		log_warn(subject, "ssh: connection refused: %s", strerror(-err));
}

/* ---- check mode: a held login waits for control ---- */

static void hold_unlink(struct hold *h)
{
	for (struct hold **pp = &h->node->holds; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
}

/* An approval only ever narrows what the policy allows when it arrives: the netmap may
 * have changed while the login waited (audit finding 6).  The same local user must still
 * be allowed, by a check or accept rule; permissions are those both grant. */
static void narrow_to_policy(const struct hold *h, struct sshd_decision *d, enum verdict *v,
			     const char **msg)
{
	struct sshd_decision now;
	uint32_t period;
	char why[SSHD_MESSAGE_MAX];
	if (meshd_ssh_decide(h->node->nm, &h->src, h->user, &now, &period, why, sizeof(why)) ==
		VERDICT_REJECT ||
	    strcmp(now.local_user, d->local_user) != 0) {
		*v = VERDICT_REJECT;
		*msg = "the policy no longer allows this login";
		return;
	}
	d->flags &= now.flags;
	if (strcmp(now.accept_env, d->accept_env) != 0)
		d->accept_env[0] = '\0';
}

static void on_hold_answer(void *ctx, enum ctl_hold_state st, enum verdict v, const char *msg)
{
	struct hold *h = ctx;
	if (st == CTL_HOLD_PENDING) {
		if (h->check) {
			char line[SSHD_MESSAGE_MAX];
			snprintf(
			    line, sizeof(line),
			    "# Mesh check-mode login: to approve this login as \"%s\", visit:\n"
			    "#   %s",
			    h->user, msg ? msg : "(no URL)");
			sshd_check_banner(h->check, line);
		}
		return;
	}
	hold_unlink(h);
	if (h->check) {
		struct sshd_decision d = h->accept;
		if (st != CTL_HOLD_DECIDED)
			v = VERDICT_REJECT;
		else if (v == VERDICT_ACCEPT)
			narrow_to_policy(h, &d, &v, &msg);
		if (v != VERDICT_ACCEPT) {
			memset(&d, 0, sizeof(d));
			d.action = VERDICT_REJECT;
			snprintf(d.message, sizeof(d.message), "%s",
				 st == CTL_HOLD_DECIDED ? "check-mode login was rejected"
							: "check-mode login failed: control error");
			if (msg && *msg)
				snprintf(d.message + strlen(d.message),
					 sizeof(d.message) - strlen(d.message), ": %s", msg);
		}
		sshd_check_resolve(h->check, &d);
	}
	free(h);
}

/* Fills *out with CHECK and asks control; the answer resolves the check later. */
static void start_hold(struct meshd_node *node, const struct addr_prefix *src, const char *user,
		       struct sshd_check *check, uint32_t check_period_s,
		       const struct sshd_decision *accept, struct sshd_decision *out)
{
	if (!node->control) {
		snprintf(out->message, sizeof(out->message),
			 "policy requires a check-mode login for user \"%s\", but this node has no "
			 "connection to the control server",
			 user);
		return;
	}
	struct hold *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(out->message, sizeof(out->message), "meshd: out of memory");
		return;
	}
	h->node = node;
	h->check = check;
	snprintf(h->user, sizeof(h->user), "%s", user);
	h->src = *src;
	h->accept = *accept;
	char addr[ADDR_TEXT_MAX];
	addr_ip_format(&src->ip, addr);
	h->next = node->holds;
	node->holds = h;
	int err = ctl_client_hold(node->control, addr, user, check_period_s, on_hold_answer, h);
	if (err) {
		hold_unlink(h);
		free(h);
		snprintf(out->message, sizeof(out->message),
			 "check-mode login for \"%s\" cannot reach the control server: %s", user,
			 strerror(-err));
		return;
	}
	out->action = VERDICT_CHECK;
	snprintf(out->message, sizeof(out->message),
		 "# Mesh: policy requires a check-mode login as \"%s\"; asking the control "
		 "server...",
		 user);
}

/* ---- netmap -> configuration ---- */

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
		.send = on_ns_send,
		.send_batch = on_ns_send_batch,
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
		err = ns_listen(node->ns, 22, on_ssh_accept, node);
		if (err) {
			log_err(subject, "cannot intercept port 22: %s", strerror(-err));
			return err;
		}
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
	return 0;
}

const struct ctl_netmap *meshd_node_netmap(const struct meshd_node *node)
{
	return node->nm;
}

const uint8_t *meshd_node_public_key(const struct meshd_node *node)
{
	return node->public_key;
}

int meshd_node_peer_stats(struct meshd_node *node, const uint8_t key[static 32],
			  struct meshd_peer_stats *out)
{
	struct wg_peer_status st;
	memset(out, 0, sizeof(*out));
	int err = wg_device_peer_status(node->wg, key, &st);
	if (err)
		return err;
	out->rx_bytes = st.rx_bytes;
	out->tx_bytes = st.tx_bytes;
	out->last_handshake = (int64_t)(st.last_handshake_wall_ns / 1000000000u);
	if (meshd_reach_peer_path(node->reach, key, out->path, &out->rtt_ms) != 0) {
		snprintf(out->path, sizeof(out->path), "none");
		out->rtt_ms = -1;
	}
	if (st.has_endpoint)
		nat_sockaddr_format(&st.endpoint, out->endpoint, sizeof(out->endpoint));
	return 0;
}

struct meshd_reach *meshd_node_reach(struct meshd_node *node)
{
	return node->reach;
}

void meshd_node_counters(const struct meshd_node *node,
			 void (*cb)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	meshd_reach_counters(node->reach, cb, ctx);
	if (!node->ns)
		return;
	struct ns_counters c;
	ns_get_counters(node->ns, &c);
	ns_counters_foreach(&c, cb, ctx);
}

const char *meshd_node_tun(const struct meshd_node *node)
{
	return node->tun;
}

bool meshd_node_userspace(const struct meshd_node *node)
{
	return strcmp(node->tun, "userspace") == 0;
}

bool meshd_node_ssh(const struct meshd_node *node)
{
	return node->ssh_on;
}

int meshd_node_set_ssh(struct meshd_node *node, bool on)
{
	if (on == node->ssh_on)
		return 0;
	if (!node->sshd)
		return -ENOTSUP;
	node->ssh_on = on;
	if (!node->ns)
		return 0;
	int err = on ? ns_listen(node->ns, 22, on_ssh_accept, node) : ns_unlisten(node->ns, 22);
	if (err)
		node->ssh_on = !on;
	else
		log_info(subject, "SSH on the tailnet address: %s", on ? "on" : "off");
	return err;
}

/* Holds die with the client that carries them: answer them now. */
static void flush_holds(struct meshd_node *node, const char *why)
{
	while (node->holds) {
		struct hold *h = node->holds;
		node->holds = h->next;
		if (h->check) {
			struct sshd_decision d = { .action = VERDICT_REJECT };
			snprintf(d.message, sizeof(d.message), "check-mode login abandoned: %s",
				 why);
			sshd_check_resolve(h->check, &d);
		}
		free(h);
	}
}

int meshd_node_set_node_key(struct meshd_node *node, const uint8_t priv[static 32])
{
	uint8_t pub[KEY_LEN];
	char fp[KEY_FINGERPRINT_SIZE];
	if (crypto_scalarmult_curve25519_base(pub, priv) != 0)
		return -EINVAL;
	int rc = wg_device_set_private_key(node->wg, priv);
	if (rc) {
		log_err(subject, "WireGuard refused the new node key: %s", strerror(-rc));
		return rc;
	}
	memcpy(node->private_key, priv, KEY_LEN);
	memcpy(node->public_key, pub, KEY_LEN);
	meshd_reach_set_node_key(node->reach, pub);
	key_fingerprint(fp, pub);
	log_info(subject, "WireGuard now uses node key %s", fp);
	return 0;
}

void meshd_node_set_control(struct meshd_node *node, struct ctl_client *client)
{
	if (client != node->control)
		flush_holds(node, "the control connection was replaced");
	node->control = client;
	if (client) { /* discovery messages are sealed with the key control publishes */
		uint8_t pub[KEY_LEN], priv[KEY_LEN];
		ctl_client_disco_key(client, pub, priv);
		meshd_reach_set_disco_key(node->reach, pub, priv);
		key_wipe(priv, KEY_LEN);
	}
}

size_t meshd_node_host_keys(const struct meshd_node *node, const char **lines, size_t max)
{
	size_t n = 0;
	if (!node->sshd)
		return 0;
	for (size_t i = 0; i < sshd_host_key_count(node->sshd) && n < max; i++) {
		const char *line, *fp;
		if (sshd_host_key(node->sshd, i, &line, &fp) == 0)
			lines[n++] = line;
	}
	return n;
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
	if (node->sshd)
		sshd_revalidate(node->sshd);
	log_info(subject, "netmap cleared: no peers, no SSH");
}

uint16_t meshd_node_listen_port(const struct meshd_node *node)
{
	return wg_device_listen_port(node->wg);
}

int meshd_node_dial(struct meshd_node *node, int family, const uint8_t *addr, uint16_t port,
		    void (*cb)(void *ctx, int fd_or_err), void *ctx)
{
	if (!node->ns)
		return -ENETDOWN;
	return ns_dial(node->ns, family, addr, port, cb, ctx);
}

static void free_on_close(uv_handle_t *h)
{
	free(h->data);
}

int meshd_node_new(uv_loop_t *loop, const struct meshd_node_config *cfg, struct meshd_node **out)
{
	if (sodium_init() < 0)
		return -EIO;
	struct meshd_node *node = calloc(1, sizeof(*node));
	if (!node)
		return -ENOMEM;
	node->loop = loop;
	node->cfg = *cfg;
	node->state_dir = strdup(cfg->state_dir);
	node->tun = strdup(cfg->tun);
	if (!node->state_dir || !node->tun) {
		free(node->state_dir);
		free(node->tun);
		free(node);
		return -ENOMEM;
	}
	snprintf(node->name, sizeof(node->name), "%s", cfg->tun);
	int err = 0;
	if (mkdir(node->state_dir, 0700) < 0 && errno != EEXIST) {
		err = -errno;
		log_err(subject, "state directory %s: %s", node->state_dir, strerror(errno));
		goto fail;
	}
	err = load_or_create_key(node);
	if (err)
		goto fail;
	uv_timer_init(loop, &node->linger_timer);
	node->linger_timer.data = node;
	uv_timer_init(loop, &node->restart_timer);
	node->restart_timer.data = node;
	node->linger_timer_init = true;

	struct wg_device_config wc = {
		.name = node->name,
		.private_key = node->private_key,
		.listen_port = cfg->listen_port,
		.time_scale = cfg->wg_time_scale,
		.crypto_workers = 1, /* a second core for ChaCha20-Poly1305 on bulk transfers */
	};
	static const struct wg_device_ops wg_ops = {
		.recv = on_wg_packet,
		.other = on_wg_other,
		.route = on_wg_route,
		.roam = on_wg_roam,
	};
	err = wg_device_new(loop, &wc, &wg_ops, node, &node->wg);
	if (err) {
		log_err(subject, "WireGuard on UDP port %u: %s", cfg->listen_port, strerror(-err));
		goto fail;
	}
	err = meshd_reach_new(loop, node->wg, &node->reach);
	if (err)
		goto fail;
	meshd_reach_set_node_key(node->reach, node->public_key);
	const char *dir = cfg->uapi_dir ? cfg->uapi_dir : "/var/run/wireguard";
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		log_warn(subject, "%s: %s; `wg show` will not see this node", dir, strerror(errno));
	} else {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s.sock", dir, node->name);
		err = wg_device_uapi_start(node->wg, path);
		if (err)
			log_warn(subject, "%s: %s; `wg show` will not see this node", path,
				 strerror(-err));
		err = 0;
	}

	node->ssh_on = cfg->ssh;
	if (cfg->ssh && geteuid() != 0) {
		struct passwd *pw = getpwuid(geteuid());
		log_warn(subject,
			 "running without root: SSH logins only as \"%s\" (uid %u); other "
			 "users are refused with a banner that says so",
			 pw ? pw->pw_name : "?", (unsigned)geteuid());
	}
	if (cfg->ssh) {
		struct sshd_config sc = { .state_dir = node->state_dir };
		struct sshd_hooks hooks = {
			.authorize = on_ssh_authorize,
			.check_cancel = on_ssh_check_cancel,
			.ctx = node,
		};
		err = meshd_record_new(node, cfg->record_dir, cfg->record_max_bytes, &hooks,
				       &node->rec);
		err = err ? err : sshd_server_new(loop, &sc, &hooks, &node->sshd);
		if (err) {
			log_err(subject, "SSH server: %s", strerror(-err));
			goto fail;
		}
	}
	*out = node;
	return 0;
fail:
	if (node->wg)
		wg_device_free(node->wg);
	if (node->reach)
		meshd_reach_close(node->reach, NULL, NULL);
	meshd_record_free(node->rec);
	key_wipe(node->private_key, KEY_LEN);
	free(node->state_dir);
	free(node->tun);
	if (node->linger_timer_init) {
		uv_close((uv_handle_t *)&node->restart_timer, NULL);
		uv_close((uv_handle_t *)&node->linger_timer, free_on_close);
	} else {
		free(node);
	}
	return err;
}

static void finish_close(void *arg)
{
	struct meshd_node *node = arg;
	if (--node->pending_closes > 0)
		return;
	void (*done)(void *) = node->done;
	void *done_arg = node->done_arg;
	if (node->nm)
		ctl_netmap_free(node->nm);
	meshd_record_free(node->rec); /* after sshd: its sessions ended their recordings */
	free(node->peer_keys);
	free(node->lingering);
	free(node->state_dir);
	free(node->tun);
	key_wipe(node->private_key, KEY_LEN);
	free(node);
	if (done)
		done(done_arg);
}

static void timer_closed(uv_handle_t *h)
{
	finish_close(h->data);
}

void meshd_node_close(struct meshd_node *node, void (*done)(void *arg), void *arg)
{
	node->done = done;
	node->done_arg = arg;
	node->pending_closes = 1;
	flush_holds(node, "meshd is shutting down");
	node->control = NULL;
	if (node->sshd) {
		node->pending_closes++;
		sshd_server_close(node->sshd, finish_close, node);
		node->sshd = NULL;
	}
	if (node->ns) {
		ns_free(node->ns);
		node->ns = NULL;
	}
	wg_device_free(node->wg);
	node->wg = NULL;
	node->pending_closes++;
	meshd_reach_close(node->reach, finish_close, node); /* after wg: it calls into it */
	node->reach = NULL;
	node->pending_closes += 2;
	uv_close((uv_handle_t *)&node->linger_timer, timer_closed);
	uv_close((uv_handle_t *)&node->restart_timer, timer_closed);
	finish_close(node);
}
