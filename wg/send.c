/* Outbound: route an IP packet by destination through AllowedIPs, encrypt it with the
 * peer's current keypair (padded to 16 bytes) straight into a slot of the socket's
 * sendmmsg() batch, or stage it and start a handshake when no keypair may be used.
 * Handshake initiations are rate-limited to one per REKEY_TIMEOUT per peer; keys are kept
 * fresh by starting a new handshake after REKEY_AFTER_TIME or REKEY_AFTER_MESSAGES. */
#include <errno.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "common/now.h"
#include "wg/crypto.h"
#include "wg/internal.h"

static struct wg__udp *udp_for(struct wg_device *dev, int family)
{
	struct wg__udp *u = family == AF_INET ? &dev->udp4 : &dev->udp6;
	return u->active ? u : NULL;
}

static void send_all(struct wg__udp *u, struct mmsghdr *msgs, unsigned int count)
{
	unsigned int done = 0;
	while (done < count) {
		int n = sendmmsg(u->fd, msgs + done, count - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN or a routing error: UDP, the datagram is lost. */
			done++;
			continue;
		}
		done += (unsigned int)n;
	}
}

/* Groups runs of datagrams to one address whose sizes are equal (the last may be
 * shorter) into single messages carrying UDP_SEGMENT: the kernel then walks its send path
 * once per run instead of once per datagram.  Returns the number of messages. */
static unsigned int gso_group(struct wg__txq *q)
{
	unsigned int nmsg = 0, i = 0;
	while (i < q->count) {
		size_t size = q->iov[i].iov_len, total = size;
		socklen_t alen = q->msgs[i].msg_hdr.msg_namelen;
		unsigned int j = i + 1;
		while (j < q->count && j - i < WG_GSO_MAX_SEGS && q->iov[j].iov_len <= size &&
		       total + q->iov[j].iov_len <= WG_GSO_MAX_BYTES &&
		       q->msgs[j].msg_hdr.msg_namelen == alen &&
		       memcmp(&q->addr[j], &q->addr[i], alen) == 0) {
			total += q->iov[j].iov_len;
			if (q->iov[j++].iov_len < size)
				break;
		}
		struct msghdr *mh = &q->out[nmsg].msg_hdr;
		*mh = (struct msghdr){ .msg_name = &q->addr[i],
				       .msg_namelen = alen,
				       .msg_iov = &q->iov[i],
				       .msg_iovlen = j - i };
		if (j - i > 1) {
			uint16_t seg = (uint16_t)size;
			mh->msg_control = q->ctl[nmsg].buf;
			mh->msg_controllen = sizeof(q->ctl[nmsg].buf);
			struct cmsghdr *c = CMSG_FIRSTHDR(mh);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(seg));
			memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		}
		nmsg++;
		i = j;
	}
	return nmsg;
}

static void encrypt_job(void *ctx, size_t i)
{
	struct wg__txq *q = ctx;
	struct wg__tx_job *job = &q->job[i];
	uint8_t *payload = q->buf[i] + WG_TX_OFFSET + MESSAGE_DATA_HEADER_LEN;

	if (!job->pending)
		return;
	wg__aead_encrypt(payload, payload, job->plen, NULL, 0, job->counter, job->key);
	key_wipe(job->key, sizeof(job->key));
	job->pending = false;
}

static void txq_flush(struct wg__udp *u)
{
	struct wg__txq *q = u->txq;
	struct wg_device *dev = u->dev;

	if (q->pending) {
		wg__pool_run(&dev->pool, encrypt_job, q, q->count);
		q->pending = 0;
	}
	if (dev->tx_disabled || !q->count) {
		q->count = 0;
		return;
	}
	if (!dev->gso_off) {
		unsigned int nmsg = gso_group(q);
		if (nmsg < q->count) {
			int n = sendmmsg(u->fd, q->out, nmsg, 0);
			if (n == (int)nmsg) {
				q->count = 0;
				return;
			}
			if (n < 0 && (errno == EINVAL || errno == EIO || errno == ENOPROTOOPT)) {
				/* no UDP GSO here: send them one by one from now on */
				log_info(dev->name, "UDP GSO unavailable (%s), not using it",
					 strerror(errno));
				dev->gso_off = true;
			} else {
				if (n > 0)
					send_all(u, q->out + n, nmsg - (unsigned int)n);
				q->count = 0;
				return;
			}
		}
	}
	send_all(u, q->msgs, q->count);
	q->count = 0;
}

void wg__flush(struct wg_device *dev)
{
	if (dev->udp4.active && dev->udp4.txq->count)
		txq_flush(&dev->udp4);
	if (dev->udp6.active && dev->udp6.txq->count)
		txq_flush(&dev->udp6);
}

/* Where one datagram of len bytes on a path leaves for, and what goes in front of it:
 * a path of the embedder's asks ops.route (into *r); the socket's is its address as is.
 * NULL (counted) when the hook refuses or answers what cannot be sent. */
static const struct sockaddr *resolve(struct wg_device *dev, const struct wg__path *to, size_t len,
				      struct wg_route *r)
{
	if (!to->id) {
		r->prefix_len = 0;
		return to->sa;
	}
	r->to.ss_family = AF_UNSPEC;
	r->prefix_len = 0;
	if (!dev->ops.route || dev->ops.route(dev->ctx, to->id, len, r) < 0 ||
	    (r->to.ss_family != AF_INET && r->to.ss_family != AF_INET6) ||
	    r->prefix_len > WG_HEADROOM) {
		wg__drop(dev, drop_no_path, "no route for path %llx", (unsigned long long)to->id);
		return NULL;
	}
	return (const struct sockaddr *)&r->to;
}

/* A free slot of the batch toward addr with the route's prefix in place before it; the
 * datagram goes at the pointer returned.  NULL without a socket of that family. */
static uint8_t *txq_slot(struct wg_device *dev, const struct sockaddr *addr,
			 const struct wg_route *r, unsigned int *slot)
{
	struct wg__udp *u = udp_for(dev, addr->sa_family);
	struct wg__txq *q;
	socklen_t alen =
	    addr->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	uint8_t *dgram;

	if (!u)
		return NULL;
	q = u->txq;
	if (q->count == WG_TXQ_LEN)
		txq_flush(u);
	*slot = q->count;
	memcpy(&q->addr[*slot], addr, alen);
	q->msgs[*slot].msg_hdr = (struct msghdr){ .msg_name = &q->addr[*slot],
						  .msg_namelen = alen,
						  .msg_iov = &q->iov[*slot],
						  .msg_iovlen = 1 };
	dgram = q->buf[*slot] + WG_TX_OFFSET;
	if (r->prefix_len)
		memcpy(dgram - r->prefix_len, r->prefix, r->prefix_len);
	q->iov[*slot].iov_base = dgram - r->prefix_len;
	q->iov[*slot].iov_len = r->prefix_len; /* the datagram's length is added at commit */
	return dgram;
}

static void txq_commit(struct wg_device *dev, int family, unsigned int slot, size_t len)
{
	struct wg__txq *q = udp_for(dev, family)->txq;
	q->iov[slot].iov_len += len;
	q->count = slot + 1;
	dev->stats.tx_packets++;
}

bool wg__send_raw(struct wg_device *dev, const struct wg__path *to, const uint8_t *buf, size_t len)
{
	struct wg_route r;
	const struct sockaddr *addr;
	unsigned int slot;
	uint8_t *dst;

	if (len > WG_SLOT_SIZE)
		return false;
	addr = resolve(dev, to, len, &r);
	if (!addr)
		return false;
	dst = txq_slot(dev, addr, &r, &slot);
	if (!dst)
		return false;
	memcpy(dst, buf, len);
	txq_commit(dev, addr->sa_family, slot, len);
	return true;
}

int wg_device_send_datagram(struct wg_device *dev, const struct sockaddr *to, const uint8_t *buf,
			    size_t len)
{
	struct wg__path path = { .sa = to };

	if (to->sa_family != AF_INET && to->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (len > WG_SLOT_SIZE)
		return -EMSGSIZE;
	if (!wg__send_raw(dev, &path, buf, len))
		return -EAFNOSUPPORT;
	/* the embedder's datagram, not WireGuard's */
	dev->stats.tx_packets--;
	dev->stats.tx_other++;
	return 0;
}

struct wg__path wg__peer_path(const struct wg__peer *p)
{
	return (struct wg__path){ .id = p->path, .sa = (const struct sockaddr *)&p->endpoint };
}

static size_t padded_len(const struct wg_device *dev, size_t len)
{
	const size_t m = MESSAGE_PADDING_MULTIPLE;
	size_t padded = (len + m - 1) & ~(m - 1);
	size_t mtu = dev->mtu;
	if (len > mtu)
		return len;
	return padded < mtu ? padded : mtu;
}

/* Encrypts one packet (len may be 0: keepalive) with kp toward the peer's path. */
static void encrypt_and_queue(struct wg__peer *p, struct wg__keypair *kp, const uint8_t *pkt,
			      size_t len)
{
	struct wg_device *dev = p->dev;
	size_t plen = padded_len(dev, len);
	size_t total = MESSAGE_DATA_HEADER_LEN + plen + NOISE_AUTHTAG_LEN;
	struct wg__path path = wg__peer_path(p);
	struct wg_route r;
	const struct sockaddr *addr = resolve(dev, &path, total, &r);
	uint64_t counter;
	unsigned int slot = 0;
	uint8_t *dst, *heap = NULL;

	if (!addr)
		return;
	if (total > WG_SLOT_SIZE) {
		heap = malloc(WG_HEADROOM + total);
		dst = heap ? heap + WG_HEADROOM : NULL;
		if (dst)
			memcpy(dst - r.prefix_len, r.prefix, r.prefix_len);
	} else {
		dst = txq_slot(dev, addr, &r, &slot);
	}
	if (!dst) {
		free(heap);
		return;
	}
	counter = kp->send_counter++;
	struct message_data *m = (struct message_data *)dst;
	uint8_t *payload = dst + MESSAGE_DATA_HEADER_LEN;
	dst[0] = MESSAGE_DATA;
	dst[1] = dst[2] = dst[3] = 0;
	memcpy(&m->key_idx, &kp->remote_index, 4);
	m->counter = htole64(counter);
	if (dev->pool.started && !heap) {
		/* encrypted at the flush, in parallel with the rest of the batch */
		struct wg__tx_job *job = &udp_for(dev, addr->sa_family)->txq->job[slot];
		if (len)
			memcpy(payload, pkt, len);
		memset(payload + len, 0, plen - len);
		memcpy(job->key, kp->send_key, sizeof(job->key));
		job->counter = counter;
		job->plen = (uint16_t)plen;
		job->pending = true;
		udp_for(dev, addr->sa_family)->txq->pending++;
	} else if (plen == len) {
		/* no padding (a full-MTU packet): encrypt straight from the caller's buffer */
		wg__aead_encrypt(payload, pkt, len, NULL, 0, counter, kp->send_key);
	} else {
		if (len)
			memcpy(payload, pkt, len);
		memset(payload + len, 0, plen - len);
		wg__aead_encrypt(payload, payload, plen, NULL, 0, counter, kp->send_key);
	}

	p->tx_bytes += total;
	if (heap) {
		struct wg__udp *u = udp_for(dev, addr->sa_family);
		if (u && !dev->tx_disabled)
			sendto(u->fd, dst - r.prefix_len, r.prefix_len + total, 0, addr,
			       addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
							  : sizeof(struct sockaddr_in6));
		dev->stats.tx_packets++;
		free(heap);
	} else {
		txq_commit(dev, addr->sa_family, slot, total);
	}
}

static void keep_key_fresh(struct wg__peer *p, struct wg__keypair *kp, uint64_t now)
{
	if (kp->send_counter > REKEY_AFTER_MESSAGES ||
	    (kp->i_am_initiator && now - kp->birth_ns > (uint64_t)REKEY_AFTER_TIME * NS_PER_SEC))
		wg__send_handshake_initiation(p, false);
}

static void stage(struct wg__peer *p, const uint8_t *pkt, size_t len)
{
	struct wg__staged *s = &p->staged;
	uint8_t *copy = malloc(len ? len : 1);
	unsigned int tail;

	if (!copy) {
		p->dev->stats.drop_queue_full++;
		return;
	}
	if (len)
		memcpy(copy, pkt, len);
	if (s->count == MAX_STAGED_PACKETS) {
		/* drop the oldest */
		free(s->buf[s->head]);
		s->head = (s->head + 1) % MAX_STAGED_PACKETS;
		s->count--;
		p->dev->stats.drop_queue_full++;
	}
	tail = (s->head + s->count) % MAX_STAGED_PACKETS;
	s->buf[tail] = copy;
	s->len[tail] = (uint16_t)len;
	s->count++;
}

/* Sends everything staged if the current keypair allows, else starts a handshake. */
void wg__send_staged(struct wg__peer *p)
{
	struct wg_device *dev = p->dev;
	struct wg__staged *s = &p->staged;
	uint64_t now = wg__now(dev);
	struct wg__keypair *kp = p->kp_cur;
	bool data = false;

	if (!wg__peer_reachable(p) || !wg__keypair_usable(dev, kp, now, true)) {
		wg__send_handshake_initiation(p, false);
		return;
	}
	if (!s->count)
		return;
	while (s->count) {
		unsigned int h = s->head;
		if (s->len[h])
			data = true;
		encrypt_and_queue(p, kp, s->buf[h], s->len[h]);
		free(s->buf[h]);
		s->buf[h] = NULL;
		s->head = (h + 1) % MAX_STAGED_PACKETS;
		s->count--;
	}
	if (data)
		wg__timers_data_sent(&p->timers, now);
	wg__timers_any_authenticated_packet_traversal(&p->timers, now);
	wg__timers_any_authenticated_packet_sent(&p->timers);
	keep_key_fresh(p, kp, now);
	wg__peer_timers_update(p);
}

void wg__send_keepalive(struct wg__peer *p)
{
	if (!p->staged.count)
		stage(p, NULL, 0);
	wg__send_staged(p);
}

void wg__send_handshake_initiation(struct wg__peer *p, bool is_retry)
{
	struct wg_device *dev = p->dev;
	struct message_handshake_initiation msg;
	uint8_t ts[NOISE_TIMESTAMP_LEN];
	uint64_t now = wg__now(dev);
	struct wg__path path;

	if (!is_retry)
		p->timers.handshake_attempts = 0;
	if (p->has_sent_handshake &&
	    now - p->last_sent_handshake_ns < (uint64_t)REKEY_TIMEOUT * NS_PER_SEC)
		return;
	if (!dev->id.has_identity || !wg__peer_reachable(p))
		return;
	p->last_sent_handshake_ns = now;
	p->has_sent_handshake = true;

	wg__index_remove(&dev->idx, &p->hs.entry);
	wg__index_insert(&dev->idx, &p->hs.entry);
	wg__tai64n(ts, now_wall_ns());
	if (!wg__noise_handshake_create_initiation(&msg, &p->hs, &dev->id, NULL, ts)) {
		log_debug(dev->name, "%s: cannot create an initiation (peer key of low order?)",
			  p->log_name);
		goto out;
	}
	wg__cookie_add_macs(&p->cookie, (uint8_t *)&msg, sizeof(msg), now);
	log_debug(dev->name, "%s: sending handshake initiation", p->log_name);
	path = wg__peer_path(p);
	wg__send_raw(dev, &path, (const uint8_t *)&msg, sizeof(msg));
	p->tx_bytes += sizeof(msg);
	wg__timers_any_authenticated_packet_traversal(&p->timers, now);
	wg__timers_any_authenticated_packet_sent(&p->timers);
	wg__timers_handshake_initiated(&p->timers, now);
	wg__peer_timers_update(p);
out:
	key_wipe(&msg, sizeof(msg));
}

void wg__send_handshake_response(struct wg__peer *p, const struct wg__path *to)
{
	struct wg_device *dev = p->dev;
	struct message_handshake_response msg;
	uint64_t now = wg__now(dev);
	struct wg__keypair *kp;
	struct wg__path path;

	p->last_sent_handshake_ns = now;
	p->has_sent_handshake = true;
	wg__index_remove(&dev->idx, &p->hs.entry);
	wg__index_insert(&dev->idx, &p->hs.entry);
	if (!wg__noise_handshake_create_response(&msg, &p->hs, &dev->id, NULL))
		goto out;
	kp = malloc(sizeof(*kp));
	if (!kp)
		goto out;
	wg__index_remove(&dev->idx, &p->hs.entry);
	if (!wg__noise_handshake_begin_session(&p->hs, kp, now)) {
		free(kp);
		goto out;
	}
	wg__peer_install_keypair(p, kp);
	wg__timers_session_derived(&p->timers, now);
	wg__cookie_add_macs(&p->cookie, (uint8_t *)&msg, sizeof(msg), now);
	path = to ? *to : wg__peer_path(p);
	wg__send_raw(dev, &path, (const uint8_t *)&msg, sizeof(msg));
	p->tx_bytes += sizeof(msg);
	wg__timers_any_authenticated_packet_traversal(&p->timers, now);
	wg__timers_any_authenticated_packet_sent(&p->timers);
	wg__peer_timers_update(p);
out:
	key_wipe(&msg, sizeof(msg));
}

static const uint8_t *packet_dst(const uint8_t *pkt, size_t len, int *family)
{
	if (len >= 20 && (pkt[0] >> 4) == 4) {
		*family = AF_INET;
		return pkt + 16;
	}
	if (len >= 40 && (pkt[0] >> 4) == 6) {
		*family = AF_INET6;
		return pkt + 24;
	}
	return NULL;
}

int wg_device_send(struct wg_device *dev, const uint8_t *pkt, size_t len)
{
	int family;
	const uint8_t *dst = packet_dst(pkt, len, &family);
	struct wg__peer *p;
	struct wg__keypair *kp;
	uint64_t now;

	if (!dst || len > MESSAGE_MAX_INNER) {
		dev->stats.drop_inner++;
		return -EINVAL;
	}
	p = wg__aip_lookup(&dev->aip, family, dst);
	if (!p) {
		dev->stats.drop_no_route++;
		return -ENETUNREACH;
	}
	if (!wg__peer_reachable(p)) {
		dev->stats.drop_no_endpoint++;
		return -EDESTADDRREQ;
	}
	now = wg__now(dev);
	kp = p->kp_cur;
	if (p->staged.count || !wg__keypair_usable(dev, kp, now, true)) {
		stage(p, pkt, len);
		wg__send_staged(p);
		return 0;
	}
	encrypt_and_queue(p, kp, pkt, len);
	wg__timers_data_sent(&p->timers, now);
	wg__timers_any_authenticated_packet_traversal(&p->timers, now);
	wg__timers_any_authenticated_packet_sent(&p->timers);
	keep_key_fresh(p, kp, now);
	wg__peer_timers_update(p);
	return 0;
}

size_t wg_device_send_batch(struct wg_device *dev, const struct iovec *pkts, size_t n)
{
	size_t ok = 0;
	for (size_t i = 0; i < n; i++)
		if (wg_device_send(dev, pkts[i].iov_base, pkts[i].iov_len) == 0)
			ok++;
	return ok;
}
