/* Peers: creation and removal, configuration (keys, endpoint, AllowedIPs, keepalive),
 * status for `wg show`, the previous/current/next keypair slots and the glue between the
 * timer state machine and a uv_timer.  A peer is freed in its timer's close callback. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "wg/crypto.h"
#include "wg/internal.h"

struct wg__peer *wg__peer_lookup(struct wg_device *dev, const uint8_t pub[static 32])
{
	for (struct wg__peer *p = dev->peers_head; p; p = p->next)
		if (key_equal(p->hs.remote_static, pub))
			return p;
	return NULL;
}

static void keypair_free(struct wg_device *dev, struct wg__keypair **slot)
{
	struct wg__keypair *kp = *slot;
	if (!kp)
		return;
	wg__index_remove(&dev->idx, &kp->entry);
	key_wipe(kp, sizeof(*kp));
	free(kp);
	*slot = NULL;
}

void wg__peer_keypairs_clear(struct wg__peer *p)
{
	keypair_free(p->dev, &p->kp_prev);
	keypair_free(p->dev, &p->kp_cur);
	keypair_free(p->dev, &p->kp_next);
}

/* The kernel's add_new_keypair: an initiator's new keypair is current at once; a
 * responder's waits in `next` until the initiator's first data packet confirms it. */
void wg__peer_install_keypair(struct wg__peer *p, struct wg__keypair *kp)
{
	struct wg_device *dev = p->dev;

	kp->entry.type = WG_INDEX_KEYPAIR;
	kp->entry.peer = p;
	kp->entry.keypair = kp;
	wg__index_insert_fixed(&dev->idx, &kp->entry);
	if (kp->i_am_initiator) {
		if (p->kp_next) {
			keypair_free(dev, &p->kp_prev);
			p->kp_prev = p->kp_next;
			p->kp_next = NULL;
			keypair_free(dev, &p->kp_cur);
		} else {
			keypair_free(dev, &p->kp_prev);
			p->kp_prev = p->kp_cur;
		}
		p->kp_cur = kp;
	} else {
		keypair_free(dev, &p->kp_next);
		p->kp_next = kp;
		keypair_free(dev, &p->kp_prev);
	}
}

void wg__peer_confirm_next_keypair(struct wg__peer *p)
{
	keypair_free(p->dev, &p->kp_prev);
	p->kp_prev = p->kp_cur;
	p->kp_cur = p->kp_next;
	p->kp_next = NULL;
}

static void handshake_reset(struct wg__peer *p)
{
	wg__index_remove(&p->dev->idx, &p->hs.entry);
	wg__noise_handshake_clear(&p->hs);
}

bool wg__keypair_usable(const struct wg_device *dev, const struct wg__keypair *kp, uint64_t now,
			bool for_send)
{
	if (!kp || !kp->valid)
		return false;
	if (now - kp->birth_ns >= (uint64_t)REJECT_AFTER_TIME * NS_PER_SEC)
		return false;
	if (for_send && kp->send_counter >= REJECT_AFTER_MESSAGES)
		return false;
	return true;
}

static struct wg__peer *peer_of_timers(struct wg__timers *t)
{
	return container_of(t, struct wg__peer, timers);
}

static void act_send_initiation(struct wg__timers *t, bool is_retry)
{
	struct wg__peer *p = peer_of_timers(t);
	if (is_retry)
		log_debug(p->dev->name, "%s: handshake did not complete, retry %u", p->log_name,
			  t->handshake_attempts);
	wg__send_handshake_initiation(p, is_retry);
}

static void act_send_keepalive(struct wg__timers *t)
{
	wg__send_keepalive(peer_of_timers(t));
}

static void staged_clear(struct wg__staged *s)
{
	while (s->count) {
		free(s->buf[s->head]);
		s->buf[s->head] = NULL;
		s->head = (s->head + 1) % MAX_STAGED_PACKETS;
		s->count--;
	}
}

static void act_zero_keys(struct wg__timers *t)
{
	struct wg__peer *p = peer_of_timers(t);
	log_debug(p->dev->name, "%s: zeroing keys after %d s without a handshake", p->log_name,
		  ZERO_KEYS_AFTER);
	wg__peer_keypairs_clear(p);
	handshake_reset(p);
}

static void act_give_up(struct wg__timers *t)
{
	struct wg__peer *p = peer_of_timers(t);
	log_info(p->dev->name, "%s: handshake did not complete after %d attempts, giving up",
		 p->log_name, MAX_TIMER_HANDSHAKES + 2);
	staged_clear(&p->staged);
}

static const struct wg__timer_actions peer_timer_actions = {
	.send_initiation = act_send_initiation,
	.send_keepalive = act_send_keepalive,
	.zero_keys = act_zero_keys,
	.give_up = act_give_up,
};

static void on_peer_timer(uv_timer_t *h)
{
	struct wg__peer *p = container_of(h, struct wg__peer, timer);
	p->timer_armed_at = 0;
	wg__timers_expire(&p->timers, wg__now(p->dev));
	wg__peer_timers_update(p);
}

void wg__peer_timers_update(struct wg__peer *p)
{
	uint64_t next = wg__timers_next(&p->timers), now, delay_ms;
	struct wg_device *dev = p->dev;

	if (dev->freeing)
		return;
	if (!next) {
		if (p->timer_armed_at) {
			uv_timer_stop(&p->timer);
			p->timer_armed_at = 0;
		}
		return;
	}
	if (p->timer_armed_at && p->timer_armed_at <= next)
		return; /* fires earlier and re-evaluates then */
	now = wg__now(dev);
	delay_ms = next > now ? (next - now) / dev->scale / NS_PER_MS + 1 : 0;
	uv_timer_start(&p->timer, on_peer_timer, delay_ms, 0);
	p->timer_armed_at = next;
}

void wg__peer_set_endpoint(struct wg__peer *p, const struct sockaddr *sa)
{
	socklen_t len =
	    sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if (p->has_endpoint && memcmp(&p->endpoint, sa, len) == 0)
		return;
	memset(&p->endpoint, 0, sizeof(p->endpoint));
	memcpy(&p->endpoint, sa, len);
	p->has_endpoint = true;
}

bool wg__peer_reachable(const struct wg__peer *p)
{
	return p->path || p->has_endpoint;
}

static bool same_sockaddr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	socklen_t len =
	    b->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	return memcmp(a, b, len) == 0;
}

/* Built-in roaming follows every authenticated packet to where it came from.  With
 * ops.roam the embedder decides instead (a new source is only a candidate until it
 * answers a discovery ping), so a packet replayed or relayed from elsewhere cannot move
 * the peer; only a peer with nowhere to send takes the source, or it could not answer. */
void wg__peer_seen(struct wg__peer *p, const struct wg__path *from)
{
	struct wg_device *dev = p->dev;
	bool reachable = wg__peer_reachable(p);

	if (from->id ? p->path == from->id
		     : !p->path && p->has_endpoint && same_sockaddr(&p->endpoint, from->sa))
		return;
	if (!dev->ops.roam || !reachable) {
		if (from->id)
			p->path = from->id;
		else {
			p->path = 0;
			wg__peer_set_endpoint(p, from->sa);
		}
	}
	if (dev->ops.roam) {
		struct wg_source src = { .path = from->id };
		if (!from->id)
			memcpy(&src.addr, from->sa,
			       from->sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
							      : sizeof(struct sockaddr_in6));
		dev->ops.roam(dev->ctx, p->hs.remote_static, &src);
	}
}

static void peer_closed(uv_handle_t *h)
{
	struct wg__peer *p = container_of((uv_timer_t *)h, struct wg__peer, timer);
	struct wg_device *dev = p->dev;
	key_wipe(p, sizeof(*p));
	free(p);
	wg__handle_closed(dev);
}

void wg__peer_destroy(struct wg__peer *p)
{
	struct wg_device *dev = p->dev;

	if (p->prev)
		p->prev->next = p->next;
	else
		dev->peers_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		dev->peers_tail = p->prev;
	dev->n_peers--;

	wg__aip_remove_peer(&dev->aip, p);
	wg__peer_keypairs_clear(p);
	handshake_reset(p);
	staged_clear(&p->staged);
	wg__timers_stop(&p->timers);
	key_wipe(&p->hs, sizeof(p->hs));
	key_wipe(&p->cookie, sizeof(p->cookie));
	uv_close((uv_handle_t *)&p->timer, peer_closed);
}

static int peer_new(struct wg_device *dev, const uint8_t pub[static 32], struct wg__peer **out)
{
	struct wg__peer *p;
	char fp[KEY_FINGERPRINT_SIZE];

	if (dev->n_peers >= MAX_PEERS_PER_DEVICE)
		return -ENOSPC;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->dev = dev;
	p->serial = ++dev->next_serial;
	key_fingerprint(fp, pub);
	snprintf(p->log_name, sizeof(p->log_name), "peer %llu (%s)", (unsigned long long)p->serial,
		 fp);
	wg__noise_handshake_init(&p->hs, &dev->id, pub, NULL);
	p->hs.entry.type = WG_INDEX_HANDSHAKE;
	p->hs.entry.peer = p;
	wg__cookie_maker_init(&p->cookie, pub);
	wg__timers_init(&p->timers, &peer_timer_actions);
	uv_timer_init(dev->loop, &p->timer);
	dev->open_handles++;

	p->prev = dev->peers_tail;
	if (dev->peers_tail)
		dev->peers_tail->next = p;
	else
		dev->peers_head = p;
	dev->peers_tail = p;
	dev->n_peers++;
	*out = p;
	return 0;
}

static bool endpoint_valid(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET || ss->ss_family == AF_INET6;
}

int wg_device_peer_set(struct wg_device *dev, const struct wg_peer_config *pc)
{
	struct wg__peer *p;
	int err;

	for (size_t i = 0; i < pc->n_allowed_ips; i++) {
		const struct addr_prefix *a = &pc->allowed_ips[i];
		if (!addr_family_len(a->ip.family) || a->bits > addr_family_bits(a->ip.family))
			return -EINVAL;
	}
	if (pc->set_endpoint && !endpoint_valid(&pc->endpoint))
		return -EINVAL;
	if (pc->set_path && pc->path && !dev->ops.route)
		return -EOPNOTSUPP; /* no way to send on it */
	if (pc->persistent_keepalive > 65535)
		return -EINVAL;
	if (dev->id.has_identity && key_equal(pc->public_key, dev->id.static_public))
		return 0; /* our own key: ignored, as the kernel does */

	p = wg__peer_lookup(dev, pc->public_key);
	if (!p) {
		err = peer_new(dev, pc->public_key, &p);
		if (err)
			return err;
	}
	if (pc->set_preshared_key)
		memcpy(p->hs.preshared_key, pc->preshared_key, 32);
	if (pc->set_endpoint)
		wg__peer_set_endpoint(p, (const struct sockaddr *)&pc->endpoint);
	if (pc->set_path)
		p->path = pc->path;
	if (pc->replace_allowed_ips)
		wg__aip_remove_peer(&dev->aip, p);
	for (size_t i = 0; i < pc->n_allowed_ips; i++) {
		const struct addr_prefix *a = &pc->allowed_ips[i];
		err = wg__aip_insert(&dev->aip, a->ip.family, a->ip.bytes, a->bits, p);
		if (err)
			return err;
	}
	if (pc->persistent_keepalive >= 0) {
		bool was_off = !p->timers.persistent_keepalive_interval;
		p->timers.persistent_keepalive_interval = (uint16_t)pc->persistent_keepalive;
		if (!pc->persistent_keepalive)
			p->timers.persistent_keepalive = 0;
		else if (was_off && wg__peer_reachable(p))
			wg__send_keepalive(p); /* as the kernel: start right away */
	}
	wg__peer_timers_update(p);
	return 0;
}

int wg_device_peer_remove(struct wg_device *dev, const uint8_t public_key[static WG_KEY_LEN])
{
	struct wg__peer *p = wg__peer_lookup(dev, public_key);
	if (!p)
		return -ENOENT;
	wg__peer_destroy(p);
	return 0;
}

void wg_device_peer_remove_all(struct wg_device *dev)
{
	while (dev->peers_head)
		wg__peer_destroy(dev->peers_head);
}

static void fill_status(const struct wg__peer *p, struct wg_peer_status *st)
{
	memset(st, 0, sizeof(*st));
	memcpy(st->public_key, p->hs.remote_static, 32);
	st->has_endpoint = p->has_endpoint;
	st->endpoint = p->endpoint;
	st->path = p->path;
	st->rx_bytes = p->rx_bytes;
	st->tx_bytes = p->tx_bytes;
	st->last_handshake_wall_ns = p->last_handshake_wall_ns;
	st->persistent_keepalive = p->timers.persistent_keepalive_interval;
	st->n_allowed_ips = wg__aip_walk_peer(&p->dev->aip, p, NULL, NULL);
}

int wg_device_peer_status(struct wg_device *dev, const uint8_t public_key[static WG_KEY_LEN],
			  struct wg_peer_status *out)
{
	struct wg__peer *p = wg__peer_lookup(dev, public_key);
	if (!p)
		return -ENOENT;
	fill_status(p, out);
	return 0;
}

int wg_device_peer_path_ready(struct wg_device *dev, const uint8_t public_key[static WG_KEY_LEN])
{
	struct wg__peer *p = wg__peer_lookup(dev, public_key);
	if (!p)
		return -ENOENT;
	uint64_t now = wg__now(dev);
	/* Only a handshake in flight: its retransmit is armed until a response (or give up). */
	if (!p->timers.retransmit_handshake || !p->has_sent_handshake ||
	    now - p->last_sent_handshake_ns < (uint64_t)WG_PATH_READY_SPACING_MS * 1000000u)
		return 0;
	uint64_t last = p->last_sent_handshake_ns;
	p->has_sent_handshake = false; /* past the REKEY_TIMEOUT limit, this once */
	wg__send_handshake_initiation(p, true);
	if (!p->has_sent_handshake) { /* not sent (no identity, no way): as it was */
		p->has_sent_handshake = true;
		p->last_sent_handshake_ns = last;
		return 0;
	}
	return 1;
}

void wg_device_foreach_peer(struct wg_device *dev,
			    void (*cb)(void *ctx, const struct wg_peer_status *st), void *ctx)
{
	struct wg_peer_status st;
	for (struct wg__peer *p = dev->peers_head; p; p = p->next) {
		fill_status(p, &st);
		cb(ctx, &st);
	}
}

int wg_device_set_private_key(struct wg_device *dev, const uint8_t *key)
{
	uint8_t prologue[] = WG_IDENTIFIER;
	struct wg__peer *p, *next;

	if (key && dev->id.has_identity) {
		uint8_t clamped[32];
		memcpy(clamped, key, 32);
		wg__clamp(clamped);
		bool same = key_equal(clamped, dev->id.static_private);
		key_wipe(clamped, sizeof(clamped));
		if (same)
			return 0;
	}
	wg__noise_identity_clear(&dev->id);
	wg__noise_identity_init(&dev->id, key, prologue, sizeof(prologue) - 1);
	wg__cookie_checker_init(&dev->checker, dev->id.has_identity ? dev->id.static_public : NULL);

	for (p = dev->peers_head; p; p = next) {
		next = p->next;
		if (dev->id.has_identity && key_equal(p->hs.remote_static, dev->id.static_public)) {
			wg__peer_destroy(p);
			continue;
		}
		wg__peer_keypairs_clear(p);
		handshake_reset(p);
		wg__noise_handshake_init(&p->hs, &dev->id, p->hs.remote_static, NULL);
	}
	return 0;
}
