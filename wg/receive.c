/* Inbound datagrams: classify by type and exact length, check mac1 before any DH, under
 * load demand mac2 (answering with a cookie reply) and rate-limit initiations per source,
 * run the handshake, or decrypt data with the keypair named by the receiver index, check
 * the replay window, confirm a responder's next keypair, roam the endpoint (or report the
 * new source to ops.roam), and hand the inner packet up only if its source is inside the
 * sender's AllowedIPs.  A source is the socket's address, or the embedder's path for a
 * datagram it injected; datagrams on the socket that are not exactly WireGuard go to
 * ops.other when it is set.
 *
 * Nothing is ever sent back for a bad datagram: each is dropped through a label that
 * counts the reason (wg_device_stats) and logs at debug, rate-limited. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/key.h"
#include "common/now.h"
#include "wg/crypto.h"

#include "wg/internal.h"

enum { LOAD_THRESHOLD_PER_SEC = 128 };

static uint32_t get_le32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

/* Counts handshake messages; more than LOAD_THRESHOLD_PER_SEC in one second means load,
 * which then lasts at least one more second (kernel: a full handshake queue). */
static bool under_load(struct wg_device *dev, uint64_t now)
{
	if (now - dev->load_window_start >= NS_PER_SEC) {
		dev->load_window_start = now;
		dev->load_count = 0;
	}
	if (++dev->load_count > LOAD_THRESHOLD_PER_SEC)
		dev->under_load_until = now + NS_PER_SEC;
	return now < dev->under_load_until;
}

/* The key of a source in the rate-limit table: kind (4, 6: address, 'p': path) and 8 bytes —
 * an IPv4 /32, an IPv6 /64, or the path a datagram came on (the embedder's path names relay
 * and peer, so two peers behind one relay address do not share a bucket). */
static void ratelimit_key(const struct wg__path *from, uint8_t key[static 9])
{
	memset(key, 0, 9);
	if (from->id) {
		key[0] = 'p';
		memcpy(key + 1, &from->id, 8);
	} else if (from->sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)from->sa)->sin_addr, 4);
	} else {
		key[0] = 6;
		memcpy(key + 1, &((const struct sockaddr_in6 *)from->sa)->sin6_addr, 8);
	}
}

size_t wg__ratelimit_slot_of(const struct wg_device *dev, const struct wg__path *from)
{
	uint8_t key[9], h[crypto_shorthash_BYTES];
	uint64_t v;
	ratelimit_key(from, key);
	crypto_shorthash(h, key, sizeof(key), dev->ratelimit_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)(v % WG_RATELIMIT_SLOTS);
}

/* Token bucket per source: INITIATIONS_PER_SECOND with a burst of INITIATIONS_BURSTABLE.
 * The table is fixed, indexed by SipHash under a random key per device, so nobody can pick
 * sources that collide with a given one.  Two sources that do collide share the bucket: a new
 * one takes the slot over with the tokens it has (a slot idle long enough is full anyway),
 * never with a fresh burst — else two colliding sources taking turns would each find a full
 * bucket and never be limited. */
bool wg__ratelimit_allow(struct wg_device *dev, const struct wg__path *from, uint64_t now)
{
	const uint64_t cost = NS_PER_SEC / INITIATIONS_PER_SECOND;
	const uint64_t burst = cost * INITIATIONS_BURSTABLE;
	struct wg__ratelimit_slot *s = &dev->ratelimit[wg__ratelimit_slot_of(dev, from)];

	if (s->last_ns == 0) {
		s->tokens_ns = burst;
		s->last_ns = now;
	}
	if (now > s->last_ns)
		s->tokens_ns += now - s->last_ns;
	if (s->tokens_ns > burst)
		s->tokens_ns = burst;
	s->last_ns = now;
	if (s->tokens_ns < cost)
		return false;
	s->tokens_ns -= cost;
	return true;
}

static struct wg__handshake *lookup_handshake(void *ctx, const uint8_t pub[static 32])
{
	struct wg__peer *p = wg__peer_lookup(ctx, pub);
	return p ? &p->hs : NULL;
}

/* mac1, and under load mac2 + cookie reply + rate limit.  True when processing goes on. */
static bool check_macs(struct wg_device *dev, const uint8_t *buf, size_t len,
		       const struct wg__path *src, uint32_t sender_index_raw, uint64_t now)
{
	bool load = under_load(dev, now);
	enum wg__cookie_mac_state st = wg__cookie_validate(&dev->checker, buf, len, src, load, now);

	if (st == COOKIE_INVALID_MAC) {
		wg__drop(dev, drop_mac1, "handshake message with a bad mac1");
		return false;
	}
	if (load && st != COOKIE_VALID_MAC_WITH_COOKIE) {
		struct message_handshake_cookie reply;
		wg__cookie_create_reply(&dev->checker, &reply, buf, len, sender_index_raw, src,
					now);
		if (wg__send_raw(dev, src, (const uint8_t *)&reply, sizeof(reply)))
			dev->stats.cookie_replies_sent++;
		wg__drop(dev, drop_mac2, "under load: handshake without a valid mac2, cookie sent");
		return false;
	}
	if (!wg__ratelimit_allow(dev, src, now)) {
		wg__drop(dev, drop_ratelimit, "handshake over the per-source rate");
		return false;
	}
	return true;
}

static void receive_initiation(struct wg_device *dev, const uint8_t *buf, size_t len,
			       const struct wg__path *src, uint64_t now)
{
	const struct message_handshake_initiation *m = (const void *)buf;
	struct wg__handshake *hs;
	struct wg__peer *p;

	if (len != MESSAGE_INITIATION_LEN) {
		wg__drop(dev, drop_size, "initiation of %zu bytes", len);
		return;
	}
	if (!check_macs(dev, buf, len, src, m->sender_index, now))
		return;
	hs = wg__noise_handshake_consume_initiation(m, &dev->id, lookup_handshake, dev, now);
	if (!hs) {
		wg__drop(dev, drop_handshake, "invalid or replayed initiation");
		return;
	}
	p = container_of(hs, struct wg__peer, hs);
	wg__peer_seen(p, src);
	p->rx_bytes += len;
	log_debug(dev->name, "%s: received handshake initiation", p->log_name);
	wg__timers_any_authenticated_packet_received(&p->timers);
	wg__timers_any_authenticated_packet_traversal(&p->timers, now);
	wg__send_handshake_response(p, src);
}

static void receive_response(struct wg_device *dev, const uint8_t *buf, size_t len,
			     const struct wg__path *src, uint64_t now)
{
	const struct message_handshake_response *m = (const void *)buf;
	struct wg__index_entry *e;
	struct wg__keypair *kp;
	struct wg__peer *p;

	if (len != MESSAGE_RESPONSE_LEN) {
		wg__drop(dev, drop_size, "response of %zu bytes", len);
		return;
	}
	if (!check_macs(dev, buf, len, src, m->sender_index, now))
		return;
	e = wg__index_lookup(&dev->idx, get_le32(&m->receiver_index), WG_INDEX_HANDSHAKE);
	if (!e || !wg__noise_handshake_consume_response(m, &e->peer->hs, &dev->id)) {
		wg__drop(dev, drop_handshake, "invalid response");
		return;
	}
	p = e->peer;
	kp = malloc(sizeof(*kp));
	if (!kp)
		return;
	wg__index_remove(&dev->idx, &p->hs.entry);
	if (!wg__noise_handshake_begin_session(&p->hs, kp, now)) {
		free(kp);
		return;
	}
	wg__peer_install_keypair(p, kp);
	wg__peer_seen(p, src);
	p->rx_bytes += len;
	p->last_handshake_wall_ns = now_wall_ns();
	p->sent_lastminute_handshake = false;
	dev->stats.handshakes_completed++;
	log_debug(dev->name, "%s: received handshake response, session ready", p->log_name);
	wg__timers_session_derived(&p->timers, now);
	wg__timers_handshake_complete(&p->timers);
	wg__timers_any_authenticated_packet_received(&p->timers);
	wg__timers_any_authenticated_packet_traversal(&p->timers, now);
	/* the initiator confirms the session with data or a keepalive */
	wg__send_keepalive(p);
}

static void receive_cookie(struct wg_device *dev, const uint8_t *buf, size_t len, uint64_t now)
{
	const struct message_handshake_cookie *m = (const void *)buf;
	struct wg__index_entry *e;

	if (len != MESSAGE_COOKIE_LEN) {
		wg__drop(dev, drop_size, "cookie reply of %zu bytes", len);
		return;
	}
	e = wg__index_lookup(&dev->idx, get_le32(&m->receiver_index),
			     WG_INDEX_HANDSHAKE | WG_INDEX_KEYPAIR);
	if (!e || !wg__cookie_consume_reply(&e->peer->cookie, m, now)) {
		wg__drop(dev, drop_cookie, "cookie reply that does not match");
		return;
	}
	log_debug(dev->name, "%s: received a cookie reply", e->peer->log_name);
}

/* Returns the inner packet length from its IP header, or 0 when it is not a whole IPv4 or
 * IPv6 packet inside plain_len; *src points at its source address. */
static size_t inner_len(const uint8_t *pkt, size_t plain_len, int *family, const uint8_t **src)
{
	size_t n;
	if (plain_len >= 20 && (pkt[0] >> 4) == 4) {
		n = (size_t)pkt[2] << 8 | pkt[3];
		if (n < 20 || (pkt[0] & 15) < 5 || n > plain_len)
			return 0;
		*family = AF_INET;
		*src = pkt + 12;
		return n;
	}
	if (plain_len >= 40 && (pkt[0] >> 4) == 6) {
		n = 40 + ((size_t)pkt[4] << 8 | pkt[5]);
		if (n > plain_len)
			return 0;
		*family = AF_INET6;
		*src = pkt + 8;
		return n;
	}
	return 0;
}

static void receive_data(struct wg_device *dev, uint8_t *buf, size_t len,
			 const struct wg__path *src, uint64_t now, const struct wg__rx_item *pre)
{
	const struct message_data *m = (const void *)buf;
	struct wg__index_entry *e;
	struct wg__keypair *kp;
	struct wg__peer *p;
	uint64_t counter;
	size_t plain_len, n;
	uint8_t *plain = buf + MESSAGE_DATA_HEADER_LEN;
	const uint8_t *inner_src;
	int family;

	if (len < MESSAGE_MINIMUM_LENGTH) {
		wg__drop(dev, drop_short, "data message of %zu bytes", len);
		return;
	}
	e = wg__index_lookup(&dev->idx, get_le32(&m->key_idx), WG_INDEX_KEYPAIR);
	if (!e) {
		wg__drop(dev, drop_no_keypair, "data for unknown index %08x",
			 get_le32(&m->key_idx));
		return;
	}
	kp = e->keypair;
	p = e->peer;
	if (!wg__keypair_usable(dev, kp, now, false) ||
	    kp->replay.counter >= REJECT_AFTER_MESSAGES) {
		wg__drop(dev, drop_expired, "%s: data on an expired keypair", p->log_name);
		return;
	}
	counter = le64toh(m->counter);
	plain_len = len - MESSAGE_DATA_HEADER_LEN - NOISE_AUTHTAG_LEN;
	if (pre && pre->job) {
		/* decrypted already; valid only if the index still names that keypair */
		if (pre->kp != kp || !key_equal(pre->key, kp->recv_key)) {
			wg__drop(dev, drop_expired, "%s: keypair replaced during the batch",
				 p->log_name);
			return;
		}
		if (!pre->ok) {
			wg__drop(dev, drop_decrypt, "%s: data that does not decrypt", p->log_name);
			return;
		}
	} else if (!wg__aead_decrypt(plain, plain, len - MESSAGE_DATA_HEADER_LEN, NULL, 0, counter,
				     kp->recv_key)) {
		wg__drop(dev, drop_decrypt, "%s: data that does not decrypt", p->log_name);
		return;
	}
	if (!wg__replay_check(&kp->replay, counter)) {
		wg__drop(dev, drop_replay, "%s: replayed counter %llu", p->log_name,
			 (unsigned long long)counter);
		return;
	}

	if (kp == p->kp_next) {
		/* The initiator used the keypair: it is confirmed and becomes current. */
		wg__peer_confirm_next_keypair(p);
		p->last_handshake_wall_ns = now_wall_ns();
		dev->stats.handshakes_completed++;
		wg__timers_handshake_complete(&p->timers);
		wg__send_staged(p);
	}
	wg__peer_seen(p, src);
	p->rx_bytes += len;
	wg__timers_any_authenticated_packet_received(&p->timers);
	wg__timers_any_authenticated_packet_traversal(&p->timers, now);

	/* keep_key_fresh on receive: the initiator rekeys before REJECT_AFTER_TIME */
	if (kp == p->kp_cur && kp->i_am_initiator && !p->sent_lastminute_handshake &&
	    now - kp->birth_ns > (uint64_t)REKEY_AFTER_TIME_RECV * NS_PER_SEC) {
		p->sent_lastminute_handshake = true;
		wg__send_handshake_initiation(p, false);
	}

	if (plain_len == 0)
		goto out; /* keepalive */
	n = inner_len(plain, plain_len, &family, &inner_src);
	if (!n) {
		wg__drop(dev, drop_inner, "%s: inner packet is not IPv4/IPv6", p->log_name);
		goto out;
	}
	if (wg__aip_lookup(&dev->aip, family, inner_src) != p) {
		wg__drop(dev, drop_allowed_ips, "%s: inner source outside its AllowedIPs",
			 p->log_name);
		goto out;
	}
	wg__timers_data_received(&p->timers, now);
	dev->stats.rx_packets++;
	if (dev->ops.recv)
		dev->ops.recv(dev->ctx, plain, n);
out:
	wg__peer_timers_update(p);
}

bool wg__is_message(const uint8_t *buf, size_t len)
{
	if (len < 4 || buf[1] | buf[2] | buf[3])
		return false;
	switch (buf[0]) {
	case MESSAGE_HANDSHAKE_INITIATION:
		return len == MESSAGE_INITIATION_LEN;
	case MESSAGE_HANDSHAKE_RESPONSE:
		return len == MESSAGE_RESPONSE_LEN;
	case MESSAGE_HANDSHAKE_COOKIE:
		return len == MESSAGE_COOKIE_LEN;
	case MESSAGE_DATA:
		return len >= MESSAGE_MINIMUM_LENGTH;
	}
	return false;
}

static void receive_one(struct wg_device *dev, uint8_t *buf, size_t len, const struct wg__path *src,
			uint64_t now, const struct wg__rx_item *pre)
{
	uint32_t type;

	if (dev->ops.other && !src->id && !wg__is_message(buf, len)) {
		/* the embedder's (STUN, TURN, discovery) on the shared socket */
		dev->stats.rx_other++;
		dev->ops.other(dev->ctx, buf, len, src->sa);
		return;
	}
	if (len < 4) {
		wg__drop(dev, drop_short, "datagram of %zu bytes", len);
		return;
	}
	type = get_le32(buf);
	switch (type) {
	case MESSAGE_DATA:
		receive_data(dev, buf, len, src, now, pre);
		break;
	case MESSAGE_HANDSHAKE_INITIATION:
		receive_initiation(dev, buf, len, src, now);
		break;
	case MESSAGE_HANDSHAKE_RESPONSE:
		receive_response(dev, buf, len, src, now);
		break;
	case MESSAGE_HANDSHAKE_COOKIE:
		receive_cookie(dev, buf, len, now);
		break;
	default:
		wg__drop(dev, drop_type, "unknown message type %08x", type);
	}
}

void wg__receive(struct wg_device *dev, uint8_t *buf, size_t len, const struct sockaddr *src)
{
	struct wg__path from = { .sa = src };
	receive_one(dev, buf, len, &from, wg__now(dev), NULL);
}

void wg__receive_path(struct wg_device *dev, uint8_t *buf, size_t len, uint64_t path)
{
	struct wg__path from = { .id = path };
	receive_one(dev, buf, len, &from, wg__now(dev), NULL);
}

int wg_device_inject(struct wg_device *dev, uint64_t path, uint8_t *buf, size_t len)
{
	if (!path)
		return -EINVAL;
	if (!dev->ops.route)
		return -EOPNOTSUPP; /* nothing could answer on that path */
	wg__receive_path(dev, buf, len, path);
	return 0;
}

static void decrypt_job(void *ctx, size_t i)
{
	struct wg__rx_item *it = (struct wg__rx_item *)ctx + i;
	const struct message_data *m = (const void *)it->buf;

	if (!it->job)
		return;
	it->ok = wg__aead_decrypt(
	    it->buf + MESSAGE_DATA_HEADER_LEN, it->buf + MESSAGE_DATA_HEADER_LEN,
	    it->len - MESSAGE_DATA_HEADER_LEN, NULL, 0, le64toh(m->counter), it->key);
	(void)m;
}

void wg__receive_batch(struct wg_device *dev, struct wg__rx_item *items, size_t n)
{
	uint64_t now = wg__now(dev);
	size_t jobs = 0;

	if (dev->pool.started) {
		/* pick out the data messages that will be decrypted with a known keypair */
		for (size_t i = 0; i < n; i++) {
			struct wg__rx_item *it = &items[i];
			const struct message_data *m = (const void *)it->buf;
			struct wg__index_entry *e;
			it->job = false;
			if (it->len < MESSAGE_MINIMUM_LENGTH || get_le32(it->buf) != MESSAGE_DATA)
				continue;
			e = wg__index_lookup(&dev->idx, get_le32(&m->key_idx), WG_INDEX_KEYPAIR);
			if (!e || !wg__keypair_usable(dev, e->keypair, now, false))
				continue;
			it->kp = e->keypair;
			memcpy(it->key, e->keypair->recv_key, sizeof(it->key));
			it->job = true;
			jobs++;
		}
		if (jobs)
			wg__pool_run(&dev->pool, decrypt_job, items, n);
	}
	for (size_t i = 0; i < n && !dev->freeing; i++) {
		struct wg__path from = { .sa = items[i].src };
		receive_one(dev, items[i].buf, items[i].len, &from, now, jobs ? &items[i] : NULL);
	}
	if (jobs)
		for (size_t i = 0; i < n; i++)
			if (items[i].job)
				key_wipe(items[i].key, sizeof(items[i].key));
}
