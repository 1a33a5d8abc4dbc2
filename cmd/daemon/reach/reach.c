/* Reachability on meshd's loop (see reach.h): what arrives on the shared socket and one
 * nat_path per peer (the TURN allocation is relay.c's, the STUN probes of our mapping
 * probe.c's).
 * Decisions are
 * nat/'s (the path manager, the TURN client); this file carries them out and keeps every
 * input from outside bounded: datagrams that fit no class, STUN answers to nothing we
 * asked, ChannelData on a channel we did not bind and discovery from a key no peer has are
 * counted and dropped; discovery from a peer's key is opened at most DISCO_RATE times a
 * second per peer (each costs an X25519). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/daemon/reach/internal.h"
#include "nat/classify.h"

static const char *const subject = "reach";

/* ---- addresses ---- */

void meshd__endpoint_to_sockaddr(const struct ctl_endpoint *e, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (e->family == 4) {
		struct sockaddr_in *in = (void *)out;
		in->sin_family = AF_INET;
		in->sin_port = htons(e->port);
		memcpy(&in->sin_addr, e->addr, 4);
	} else {
		struct sockaddr_in6 *in6 = (void *)out;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(e->port);
		memcpy(&in6->sin6_addr, e->addr, 16);
	}
}

bool meshd__same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return nat_sockaddr_equal(a, (const struct sockaddr *)b);
}

void meshd__send_to(struct meshd_reach *r, const struct sockaddr_storage *to, const uint8_t *buf,
		    size_t len)
{
	int err = wg_device_send_datagram(r->wg, (const struct sockaddr *)to, buf, len);
	if (err)
		log_debug_rl(&r->rl, subject, "send: %s", strerror(-err));
}

/* ---- peers ---- */

static struct rpeer *peer_by_key(const struct meshd_reach *r, const uint8_t key[KEY_LEN])
{
	for (size_t i = 0; i < r->n_peers; i++)
		if (key_equal(r->peers[i]->key, key))
			return r->peers[i];
	return NULL;
}

static struct rpeer *peer_by_handle(const struct meshd_reach *r, uint64_t h)
{
	h &= ~MESHD_VIA_RELAY;
	for (size_t i = 0; i < r->n_peers; i++)
		if (r->peers[i]->handle == h)
			return r->peers[i];
	return NULL;
}

static struct rpeer *peer_by_relayed(const struct meshd_reach *r, const struct sockaddr_storage *a)
{
	for (size_t i = 0; i < r->n_peers; i++)
		if (r->peers[i]->relayed.ss_family && meshd__same(&r->peers[i]->relayed, a))
			return r->peers[i];
	return NULL;
}

static struct rpeer *peer_by_disco(const struct meshd_reach *r, const uint8_t *disco)
{
	for (size_t i = 0; i < r->n_peers; i++)
		if (r->peers[i]->has_disco && key_equal(r->peers[i]->disco, disco))
			return r->peers[i];
	return NULL;
}

/* ---- the path timer: one for all peers ---- */

static void on_path_timer(uv_timer_t *t);

static void arm_paths(struct meshd_reach *r)
{
	uint64_t now = uv_now(r->loop), next = NAT_PATH_NO_DEADLINE;
	for (size_t i = 0; i < r->n_peers; i++) {
		uint64_t d = nat_path_next_deadline(&r->peers[i]->path);
		if (d < next)
			next = d;
	}
	if (next == NAT_PATH_NO_DEADLINE)
		uv_timer_stop(&r->path_timer);
	else
		uv_timer_start(&r->path_timer, on_path_timer, next > now ? next - now : 0, 0);
}

/* Something was reported: tick on the next loop iteration (never inside wg's callbacks,
 * which the actions call back into). */
void meshd__tick_soon(struct meshd_reach *r)
{
	uv_timer_start(&r->path_timer, on_path_timer, 0, 0);
}

/* What WireGuard's UAPI (`wg show`) names as the peer's endpoint: where its path goes now
 * (the direct address; on the relay, the peer's relayed address there, as unique as a
 * direct one; with none, where meshd_reach_route sends).  Only shown: WireGuard sends by the
 * path, not there.  A peer wg/ does not have yet is not made. */
static void show_endpoint(struct meshd_reach *r, struct rpeer *p)
{
	const struct sockaddr_storage *a = p->kind == NAT_PATH_DIRECT  ? &p->direct
					   : p->kind == NAT_PATH_RELAY ? &p->relayed
					   : p->last_direct.ss_family  ? &p->last_direct
								       : &p->first;
	struct wg_peer_status st;
	if (!a->ss_family || wg_device_peer_status(r->wg, p->key, &st) != 0 ||
	    (st.has_endpoint && meshd__same(&st.endpoint, a)))
		return;
	struct wg_peer_config pc = { .set_endpoint = true,
				     .endpoint = *a,
				     .persistent_keepalive = -1 };
	memcpy(pc.public_key, p->key, KEY_LEN);
	wg_device_peer_set(r->wg, &pc);
}

static void on_path_action(void *ctx, const struct nat_path_action *a)
{
	struct rpeer *p = ctx;
	struct meshd_reach *r = p->r;
	struct nat_disco_msg m;
	uint8_t buf[NAT_DISCO_MAX];
	char at[80];
	int n;
	memset(&m, 0, sizeof(m));
	switch (a->type) {
	case NAT_PATH_SEND_PING:
		if (!r->have_disco || !p->has_disco)
			return;
		m.type = NAT_DISCO_PING;
		memcpy(m.txid, a->txid, NAT_DISCO_TXID);
		memcpy(m.node_key, r->node_pub, KEY_LEN);
		n = nat_disco_seal(&m, r->disco_pub, r->disco_priv, p->disco, buf, sizeof(buf));
		if (n > 0)
			meshd__send_to(r, &a->addr, buf, (size_t)n);
		return;
	case NAT_PATH_SEND_CALL_ME_MAYBE:
		if (!r->have_disco || !p->has_disco)
			return;
		m.type = NAT_DISCO_CALL_ME_MAYBE;
		m.n_cand = r->n_own;
		memcpy(m.cand, r->own, r->n_own * sizeof(r->own[0]));
		n = nat_disco_seal(&m, r->disco_pub, r->disco_priv, p->disco, buf, sizeof(buf));
		if (n > 0)
			meshd__relay_send(r, p, buf, (size_t)n);
		return;
	case NAT_PATH_CHANGED:
		p->kind = a->kind;
		if (a->kind == NAT_PATH_DIRECT) {
			p->direct = a->addr;
			p->last_direct = a->addr;
		}
		show_endpoint(r, p);
		nat_sockaddr_format(&a->addr, at, sizeof(at));
		if (a->kind == NAT_PATH_DIRECT)
			log_info(subject, "peer %s: path direct %s (round trip %lld ms)", p->name,
				 at, (long long)p->rtt_ms);
		else
			log_info(subject, "peer %s: path %s", p->name, nat_path_kind_name(a->kind));
		/* A handshake whose initiation found no way (no relay yet, or a NAT that drops
		 * what it did not ask for) goes again now, not 5 s later. */
		if (a->kind != NAT_PATH_NONE)
			wg_device_peer_path_ready(r->wg, p->key);
		return;
	}
}

static void on_path_timer(uv_timer_t *t)
{
	struct meshd_reach *r = t->data;
	uint64_t now = uv_now(r->loop);
	for (size_t i = 0; i < r->n_peers; i++) {
		struct rpeer *p = r->peers[i];
		if (nat_path_next_deadline(&p->path) <= now || p->path.decide)
			nat_path_tick(&p->path, now, on_path_action, p);
	}
	arm_paths(r);
}

/* ---- what we publish ---- */

bool meshd__publish_slot(uint64_t *tat, uint64_t now, uint64_t *at)
{
	uint64_t burst = (PUBLISH_BURST - 1) * (uint64_t)PUBLISH_EVERY_MS;
	if (*tat > now + burst) {
		*at = *tat - burst;
		return false;
	}
	*tat = (*tat > now ? *tat : now) + PUBLISH_EVERY_MS;
	return true;
}

static void on_publish_timer(uv_timer_t *t);

/* Control hears of what we publish now, or when the rate limit lets it (what it reads then,
 * meshd_reach_endpoints, is the state of then). */
static void publish_tell(struct meshd_reach *r)
{
	uint64_t now = uv_now(r->loop), at;
	if (!meshd__publish_slot(&r->publish_tat, now, &at)) {
		r->publish_pending = true;
		uv_timer_start(&r->publish_timer, on_publish_timer, at - now, 0);
		return;
	}
	r->publish_pending = false;
	if (r->on_endpoints)
		r->on_endpoints(r->ep_ctx);
}

static void on_publish_timer(uv_timer_t *t)
{
	struct meshd_reach *r = t->data;
	if (r->publish_pending)
		publish_tell(r);
}

void meshd__publish(struct meshd_reach *r)
{
	char eps[2][CTL_ENDPOINT_MAX];
	size_t n = 0;
	struct ctl_endpoint e;
	if (r->eim && r->reflexive.ss_family) {
		char a[54]; /* "[" 45 "]:65535": and "reflexive " fits CTL_ENDPOINT_MAX */
		nat_sockaddr_format(&r->reflexive, a, sizeof(a));
		snprintf(eps[n++], CTL_ENDPOINT_MAX, "reflexive %s", a);
	}
	if (r->relay_on && r->turn.state == NAT_TURN_ALLOCATED) {
		char a[54];
		nat_sockaddr_format(&r->turn.relayed, a, sizeof(a));
		snprintf(eps[n++], CTL_ENDPOINT_MAX, "relay %s", a);
	}
	for (size_t i = 0; i < n; i++) /* what we say must parse where it arrives */
		if (!ctl_endpoint_parse(eps[i], &e, NULL, 0))
			return;
	if (n == r->n_eps && memcmp(eps, r->eps, n * sizeof(eps[0])) == 0)
		return;
	memcpy(r->eps, eps, sizeof(eps));
	r->n_eps = n;
	if (!r->publish_pending)
		publish_tell(r);
}

/* ---- discovery ---- */

static bool disco_allowed(struct rpeer *p, uint64_t now)
{
	if (now - p->disco_refill_ms >= 1000) {
		p->disco_refill_ms = now;
		p->disco_tokens = DISCO_RATE;
	}
	if (!p->disco_tokens)
		return false;
	p->disco_tokens--;
	return true;
}

/* A discovery message from `from` (a socket address, or the peer's relayed address when
 * it came through our relay). */
static void disco_input(struct meshd_reach *r, const uint8_t *buf, size_t len,
			const struct sockaddr_storage *from, bool via_relay)
{
	const uint8_t *sender = nat_disco_sender(buf, len);
	struct rpeer *p = sender && r->have_disco ? peer_by_disco(r, sender) : NULL;
	uint64_t now = uv_now(r->loop);
	char err[160], at[80];
	if (!p) {
		r->stats.drop_disco_peer++;
		return;
	}
	if (!disco_allowed(p, now)) {
		r->stats.drop_disco_rate++;
		return;
	}
	struct nat_disco_msg m;
	if (nat_disco_open(buf, len, p->disco, r->disco_priv, &m, err, sizeof(err)) != 0 ||
	    (m.type == NAT_DISCO_PING && !key_equal(m.node_key, p->key))) {
		r->stats.drop_disco_bad++;
		nat_sockaddr_format(from, at, sizeof(at));
		log_debug_rl(&r->rl, subject, "peer %s: discovery from %s dropped: %s", p->name, at,
			     err);
		return;
	}
	if (m.type == NAT_DISCO_PING) {
		struct nat_disco_msg pong = { .type = NAT_DISCO_PONG, .src = *from };
		uint8_t out[NAT_DISCO_MAX];
		memcpy(pong.txid, m.txid, NAT_DISCO_TXID);
		int n =
		    nat_disco_seal(&pong, r->disco_pub, r->disco_priv, p->disco, out, sizeof(out));
		r->stats.pings++;
		if (n > 0 && via_relay)
			meshd__relay_send(r, p, out, (size_t)n);
		else if (n > 0)
			meshd__send_to(r, from, out, (size_t)n);
		if (!via_relay &&
		    nat_path_on_ping(&p->path, (const struct sockaddr *)from, now) >= 0)
			meshd__tick_soon(r);
	} else if (m.type == NAT_DISCO_PONG && !via_relay) {
		r->stats.pongs++;
		if (nat_path_on_pong(&p->path, m.txid, (const struct sockaddr *)from, now) == 0) {
			for (size_t i = 0; i < p->path.n_cand; i++)
				if (meshd__same(&p->path.cand[i].addr, from))
					p->rtt_ms = p->path.cand[i].rtt_ms;
			meshd__tick_soon(r);
		}
	} else if (m.type == NAT_DISCO_CALL_ME_MAYBE) {
		if (nat_path_on_call_me_maybe(&p->path, m.cand, m.n_cand, now) >= 0)
			meshd__tick_soon(r);
	}
}

/* ---- wg's hooks ---- */

void meshd__relay_data(struct meshd_reach *r, const struct sockaddr_storage *from,
		       const uint8_t *data, size_t n)
{
	struct rpeer *p = peer_by_relayed(r, from);
	uint64_t now = uv_now(r->loop);
	switch (nat_classify(data, n)) {
	case NAT_CLASS_WIREGUARD:
		if (!p) {
			r->stats.drop_channel++;
			return;
		}
		if (n != KEEPALIVE_LEN && nat_path_on_traffic(&p->path, now))
			meshd__tick_soon(r);
		wg_device_inject(r->wg, p->handle | MESHD_VIA_RELAY, (uint8_t *)data, n);
		return;
	case NAT_CLASS_DISCO:
		disco_input(r, data, n, from, true);
		return;
	default:
		r->stats.drop_channel++;
		return;
	}
}

void meshd_reach_on_other(struct meshd_reach *r, uint8_t *buf, size_t len,
			  const struct sockaddr *src)
{
	struct sockaddr_storage from;
	char why[200];
	memset(&from, 0, sizeof(from));
	memcpy(&from, src,
	       src->sa_family == AF_INET ? sizeof(struct sockaddr_in)
					 : sizeof(struct sockaddr_in6));
	bool from_relay = meshd__relay_from(r, &from);
	switch (nat_classify_why(buf, len, why, sizeof(why))) {
	case NAT_CLASS_STUN:
		if (meshd__probe_answer(r, buf, len, src))
			return;
		if (from_relay) {
			meshd__relay_udp_input(r, buf, len);
			return;
		}
		r->stats.drop_stun++;
		return;
	case NAT_CLASS_CHANNELDATA:
		if (from_relay) {
			meshd__relay_udp_input(r, buf, len);
			return;
		}
		r->stats.drop_channel++;
		return;
	case NAT_CLASS_DISCO:
		disco_input(r, buf, len, &from, false);
		return;
	default:
		r->stats.drop_unknown++;
		log_debug_rl(&r->rl, subject, "dropped a datagram of %zu bytes: %s", len, why);
		return;
	}
}

int meshd_reach_route(struct meshd_reach *r, uint64_t path, size_t len, struct wg_route *out)
{
	struct rpeer *p = peer_by_handle(r, path);
	if (!p)
		return -ENOENT;
	/* Data, not keepalives: a keepalive must not keep the peer's pings going. */
	if (len != KEEPALIVE_LEN && nat_path_on_traffic(&p->path, uv_now(r->loop)))
		meshd__tick_soon(r);
	/* an answer to what came through the relay: back through it while it can */
	if ((path & MESHD_VIA_RELAY) && meshd__relay_route(r, p, len, out) == 0)
		return 0;
	if (p->kind == NAT_PATH_DIRECT) {
		out->to = p->direct;
		return 0;
	}
	if (p->kind == NAT_PATH_RELAY && meshd__relay_route(r, p, len, out) == 0)
		return 0;
	/* No path proven and no relay: the last direct path, else the first candidate the
	 * netmap gave (what meshd did before paths), so nodes without relays still start
	 * a handshake at once; the pings meanwhile decide. */
	if (p->last_direct.ss_family) {
		out->to = p->last_direct;
		return 0;
	}
	if (p->first.ss_family) {
		out->to = p->first;
		return 0;
	}
	return -ENETUNREACH;
}

void meshd_reach_on_roam(struct meshd_reach *r, const uint8_t key[static 32],
			 const struct wg_source *from)
{
	struct rpeer *p = peer_by_key(r, key);
	if (!p || from->path)
		return;
	if (nat_path_on_roam(&p->path, (const struct sockaddr *)&from->addr, uv_now(r->loop)) == 1)
		meshd__tick_soon(r);
}

/* ---- netmaps ---- */

static struct rpeer *peer_add(struct meshd_reach *r, const uint8_t key[KEY_LEN])
{
	struct rpeer **v = realloc(r->peers, (r->n_peers + 1) * sizeof(*v));
	if (!v)
		return NULL;
	r->peers = v;
	struct rpeer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	struct nat_path_config cfg = { 0 };
	p->r = r;
	memcpy(p->key, key, KEY_LEN);
	p->handle = ++r->next_handle;
	p->rtt_ms = -1;
	nat_path_init(&p->path, &cfg);
	r->peers[r->n_peers++] = p;
	return p;
}

static void peer_update(struct meshd_reach *r, struct rpeer *p, const struct ctl_node *n,
			uint64_t now)
{
	/* the netmap's direct addresses, to forget those it no longer lists (control takes at
	 * most 16 from a node; a netmap with more than this holds forgets none) */
	struct sockaddr_storage relayed, a, listed[2 * NAT_PATH_MAX_CANDIDATES];
	size_t n_listed = 0;
	memset(&relayed, 0, sizeof(relayed));
	snprintf(p->name, sizeof(p->name), "%s", n->name ? n->name : "?");
	p->has_disco = n->has_disco_key;
	memcpy(p->disco, n->disco_key, KEY_LEN);
	memset(&p->first, 0, sizeof(p->first));
	for (size_t i = 0; i < n->n_endpoints; i++) {
		struct ctl_endpoint e;
		if (!ctl_endpoint_parse(n->endpoints[i], &e, NULL, 0))
			continue;
		meshd__endpoint_to_sockaddr(&e, &a);
		if (e.type == CTL_ENDPOINT_RELAY) {
			if (!relayed.ss_family)
				relayed = a;
			continue;
		}
		if (!p->first.ss_family)
			p->first = a;
		if (n_listed < sizeof(listed) / sizeof(listed[0]))
			listed[n_listed] = a;
		n_listed++;
		nat_path_add_candidate(&p->path, (const struct sockaddr *)&a,
				       e.type == CTL_ENDPOINT_LOCAL ? NAT_PATH_CAND_LOCAL
								    : NAT_PATH_CAND_REFLEXIVE,
				       now);
	}
	if (n_listed <= sizeof(listed) / sizeof(listed[0]))
		nat_path_retain_netmap(&p->path, listed, n_listed, now);
	if (!meshd__same(&relayed, &p->relayed) || relayed.ss_family != p->relayed.ss_family) {
		if (p->relayed.ss_family) /* allocated anew, or no relay: the old channel goes */
			meshd__relay_drop_peer(r, &p->relayed, now);
		p->relayed = relayed;
		if (relayed.ss_family)
			meshd__relay_add_peer(r, &relayed, now);
		show_endpoint(r, p);
	}
}

/* The relays and our own endpoints from our netmap. */
static void apply_self(struct meshd_reach *r, const struct ctl_netmap *nm, uint64_t now)
{
	r->n_own = 0;
	for (size_t i = 0; i < nm->self.n_endpoints && r->n_own < NAT_DISCO_MAX_CANDIDATES; i++) {
		struct ctl_endpoint e;
		if (ctl_endpoint_parse(nm->self.endpoints[i], &e, NULL, 0) &&
		    e.type != CTL_ENDPOINT_RELAY)
			meshd__endpoint_to_sockaddr(&e, &r->own[r->n_own++]);
	}
	meshd__probe_set_relays(r, nm, now);
	meshd__relay_apply(r, nm);
}

void meshd_reach_apply_netmap(struct meshd_reach *r, const struct ctl_netmap *nm)
{
	uint64_t now = uv_now(r->loop);
	apply_self(r, nm, now);
	for (size_t i = 0; i < nm->n_peers; i++) {
		struct rpeer *p = peer_by_key(r, nm->peers[i].node_key);
		if (!p && !(p = peer_add(r, nm->peers[i].node_key))) {
			log_err(subject, "out of memory for peer %s", nm->peers[i].name ?: "?");
			continue;
		}
		peer_update(r, p, &nm->peers[i], now);
	}
	meshd__relay_kick(r);
	meshd__tick_soon(r);
}

uint64_t meshd_reach_peer_handle(const struct meshd_reach *r, const uint8_t key[static 32])
{
	const struct rpeer *p = peer_by_key(r, key);
	return p ? p->handle : 0;
}

void meshd_reach_remove_peer(struct meshd_reach *r, const uint8_t key[static 32])
{
	for (size_t i = 0; i < r->n_peers; i++) {
		if (key_equal(r->peers[i]->key, key)) {
			if (r->peers[i]->relayed.ss_family)
				meshd__relay_drop_peer(r, &r->peers[i]->relayed, uv_now(r->loop));
			free(r->peers[i]);
			r->peers[i] = r->peers[--r->n_peers];
			return;
		}
	}
}

void meshd_reach_remove_all(struct meshd_reach *r)
{
	for (size_t i = 0; i < r->n_peers; i++)
		free(r->peers[i]);
	r->n_peers = 0;
}

/* ---- the rest of the API ---- */

void meshd_reach_set_disco_key(struct meshd_reach *r, const uint8_t pub[static 32],
			       const uint8_t priv[static 32])
{
	memcpy(r->disco_pub, pub, KEY_LEN);
	memcpy(r->disco_priv, priv, KEY_LEN);
	r->have_disco = true;
}

void meshd_reach_set_node_key(struct meshd_reach *r, const uint8_t pub[static 32])
{
	memcpy(r->node_pub, pub, KEY_LEN);
}

int meshd_reach_set_relay_ca_file(struct meshd_reach *r, const char *path)
{
	char *copy = NULL;
	if (path && !(copy = strdup(path)))
		return -ENOMEM;
	free(r->relay_ca_file);
	r->relay_ca_file = copy;
	return 0;
}

void meshd_reach_on_endpoints(struct meshd_reach *r, void (*cb)(void *ctx), void *ctx)
{
	r->on_endpoints = cb;
	r->ep_ctx = ctx;
}

size_t meshd_reach_endpoints(const struct meshd_reach *r, char out[][CTL_ENDPOINT_MAX], size_t max)
{
	size_t n = 0;
	for (; n < r->n_eps && n < max; n++)
		memcpy(out[n], r->eps[n], CTL_ENDPOINT_MAX);
	return n;
}

int meshd_reach_peer_path(const struct meshd_reach *r, const uint8_t key[static 32],
			  char text[static MESHD_REACH_PATH_TEXT], int64_t *rtt_ms)
{
	const struct rpeer *p = peer_by_key(r, key);
	char a[80];
	if (!p)
		return -ENOENT;
	*rtt_ms = p->rtt_ms;
	if (p->kind == NAT_PATH_DIRECT) {
		nat_sockaddr_format(&p->direct, a, sizeof(a));
		snprintf(text, MESHD_REACH_PATH_TEXT, "direct %s", a);
	} else if (p->kind != NAT_PATH_RELAY || !meshd__relay_path_text(r, text)) {
		snprintf(text, MESHD_REACH_PATH_TEXT, "none");
	}
	return 0;
}

void meshd_reach_counters(const struct meshd_reach *r,
			  void (*cb)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	cb(ctx, "nat.drop_unknown", r->stats.drop_unknown);
	cb(ctx, "nat.drop_stun", r->stats.drop_stun);
	cb(ctx, "nat.drop_channel", r->stats.drop_channel);
	cb(ctx, "nat.drop_disco_peer", r->stats.drop_disco_peer);
	cb(ctx, "nat.drop_disco_bad", r->stats.drop_disco_bad);
	cb(ctx, "nat.drop_disco_rate", r->stats.drop_disco_rate);
	cb(ctx, "nat.pings", r->stats.pings);
	cb(ctx, "nat.pongs", r->stats.pongs);
	cb(ctx, "nat.relay_queue_drop", r->stats.relay_queue_drop);
}

int meshd_reach_new(uv_loop_t *loop, struct wg_device *wg, struct meshd_reach **out)
{
	struct meshd_reach *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->wg = wg;
	r->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000, 5);
	uv_timer_init(loop, &r->path_timer);
	uv_timer_init(loop, &r->relay_timer);
	uv_timer_init(loop, &r->publish_timer);
	uv_timer_init(loop, &r->names_timer);
	r->path_timer.data = r->relay_timer.data = r->publish_timer.data = r->names_timer.data = r;
	*out = r;
	return 0;
}

static void closed(uv_handle_t *h)
{
	struct meshd_reach *r = h->data;
	if (--r->pending_closes)
		return;
	void (*done)(void *) = r->done;
	void *arg = r->done_arg;
	meshd_reach_remove_all(r);
	free(r->peers);
	meshd__relay_stop(r, false);
	free(r->relay_ca_file);
	sodium_memzero(r, sizeof(*r));
	free(r);
	if (done)
		done(arg);
}

void meshd_reach_close(struct meshd_reach *r, void (*done)(void *arg), void *arg)
{
	r->done = done;
	r->done_arg = arg;
	meshd__stream_close(r);
	meshd__relay_names_close(r);
	r->pending_closes = 4;
	uv_close((uv_handle_t *)&r->names_timer, closed);
	uv_close((uv_handle_t *)&r->path_timer, closed);
	uv_close((uv_handle_t *)&r->relay_timer, closed);
	uv_close((uv_handle_t *)&r->publish_timer, closed);
}
