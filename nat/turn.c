/* The TURN client's state machine (see turn.h).  Answers are matched by transaction id;
 * success answers to authenticated requests must carry a valid MESSAGE-INTEGRITY, or they
 * are dropped as forged (the request is retransmitted as if nothing came). */
#include "nat/turn.h"
#include "nat/internal.h"
#include "nat/stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

enum {
	RTO_MS = 500,
	MAX_SENDS = 7,
	REFRESH_LIFETIME_S = 600,
	RENEW_MS = 240 * 1000,
	MAX_STALE = 3,
	PROTO_UDP = 17,
};

int nat_turn_init(struct nat_turn *t, const char *username, const char *password,
		  nat_turn_send_fn *send, void *ctx)
{
	memset(t, 0, sizeof(*t));
	if (strlen(username) >= sizeof(t->username) || strlen(password) >= sizeof(t->password))
		return -EINVAL;
	strcpy(t->username, username);
	strcpy(t->password, password);
	t->send = send;
	t->ctx = ctx;
	return 0;
}

void nat_turn_set_transport(struct nat_turn *t, enum nat_turn_transport transport)
{
	t->transport = transport;
}

/* TCP and TLS: the transport retransmits, we must not (RFC 8489 6.2.2). */
static bool over_stream(const struct nat_turn *t)
{
	return t->transport != NAT_TURN_UDP;
}

static void fail(struct nat_turn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct nat_turn *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
	t->state = NAT_TURN_FAILED;
	t->unanswered = false;
	for (size_t i = 0; i < sizeof(t->txn) / sizeof(t->txn[0]); i++)
		t->txn[i].active = false;
}

/* Builds the request of txn (a fresh transaction id) and sends it. */
static void txn_send_new(struct nat_turn *t, struct nat_turn_txn *x, uint64_t now)
{
	struct nat_stun_builder b;
	if (getrandom(x->txid, sizeof(x->txid), 0) != (ssize_t)sizeof(x->txid)) {
		fail(t, "no random bytes for a transaction id");
		return;
	}
	nat_stun_build_begin(&b, x->buf, sizeof(x->buf), x->method, NAT_STUN_REQUEST, x->txid);
	switch (x->method) {
	case NAT_TURN_ALLOCATE:
		nat_stun_add_u32(&b, NAT_TURN_REQUESTED_TRANSPORT, (uint32_t)PROTO_UDP << 24);
		break;
	case NAT_TURN_REFRESH:
		nat_stun_add_u32(&b, NAT_TURN_LIFETIME, x->release ? 0 : REFRESH_LIFETIME_S);
		break;
	case NAT_TURN_CHANNEL_BIND: {
		const struct nat_turn_peer *p = &t->peers[x->peer];
		nat_stun_add_u32(&b, NAT_TURN_CHANNEL_NUMBER, (uint32_t)p->channel << 16);
		nat_stun_add_xaddr(&b, NAT_TURN_XOR_PEER_ADDRESS,
				   (const struct sockaddr *)&p->addr);
		break;
	}
	}
	if (t->have_key) {
		nat_stun_add(&b, NAT_STUN_USERNAME, t->username, strlen(t->username));
		nat_stun_add(&b, NAT_STUN_REALM, t->realm, strlen(t->realm));
		nat_stun_add(&b, NAT_STUN_NONCE, t->nonce, strlen(t->nonce));
	}
	int n = nat_stun_build_end(&b, t->have_key ? t->key : NULL, sizeof(t->key), true);
	if (n < 0) {
		fail(t, "request does not fit");
		return;
	}
	x->len = (size_t)n;
	x->active = true;
	x->sends = 1;
	x->rto_ms = over_stream(t) ? NAT_TURN_STREAM_TIMEOUT_MS : RTO_MS;
	x->next_ms = now + x->rto_ms;
	t->send(t->ctx, x->buf, x->len);
}

static struct nat_turn_txn *txn_start(struct nat_turn *t, uint16_t method, int peer, uint64_t now)
{
	for (size_t i = 0; i < sizeof(t->txn) / sizeof(t->txn[0]); i++) {
		struct nat_turn_txn *x = &t->txn[i];
		if (x->active)
			continue;
		x->method = method;
		x->peer = peer;
		x->release = false;
		txn_send_new(t, x, now);
		return x;
	}
	return NULL; /* all busy: the timer tries again */
}

static bool txn_pending(const struct nat_turn *t, uint16_t method, int peer)
{
	for (size_t i = 0; i < sizeof(t->txn) / sizeof(t->txn[0]); i++)
		if (t->txn[i].active && t->txn[i].method == method && t->txn[i].peer == peer)
			return true;
	return false;
}

void nat_turn_fail(struct nat_turn *t, const char *why)
{
	fail(t, "%s", why);
	for (size_t i = 0; i < t->n_peers; i++)
		t->peers[i].bound = false;
}

void nat_turn_start(struct nat_turn *t, uint64_t now_ms)
{
	for (size_t i = 0; i < sizeof(t->txn) / sizeof(t->txn[0]); i++)
		t->txn[i].active = false;
	for (size_t i = 0; i < t->n_peers; i++)
		t->peers[i].bound = false;
	t->state = NAT_TURN_ALLOCATING;
	t->answered = false;
	t->why[0] = '\0';
	t->stale_retries = 0;
	t->release_tried = false;
	txn_start(t, NAT_TURN_ALLOCATE, -1, now_ms);
}

void nat_turn_release(struct nat_turn *t, uint64_t now_ms)
{
	if (t->state != NAT_TURN_ALLOCATED || !t->have_key)
		return;
	for (size_t i = 0; i < sizeof(t->txn) / sizeof(t->txn[0]); i++)
		t->txn[i].active = false;
	struct nat_turn_txn *x = &t->txn[0];
	x->method = NAT_TURN_REFRESH;
	x->peer = -1;
	x->release = true;
	txn_send_new(t, x, now_ms);
	x->active = false; /* best effort: its answer (if any) is not waited for */
	for (size_t i = 0; i < t->n_peers; i++)
		t->peers[i].bound = false;
	t->state = NAT_TURN_IDLE;
}

/* Copies a text attribute; false when absent or too long. */
static bool attr_text(const struct nat_stun_msg *m, uint16_t type, char *out, size_t size)
{
	const struct nat_stun_attr *a = nat_stun_find(m, type);
	if (!a || a->len >= size)
		return false;
	memcpy(out, a->val, a->len);
	out[a->len] = '\0';
	return true;
}

static void on_allocated(struct nat_turn *t, const struct nat_stun_msg *m, uint64_t now)
{
	const struct nat_stun_attr *lt = nat_stun_find(m, NAT_TURN_LIFETIME);
	uint32_t life = REFRESH_LIFETIME_S;
	if (lt && lt->len == 4)
		life = (uint32_t)lt->val[0] << 24 | (uint32_t)lt->val[1] << 16 |
		       (uint32_t)lt->val[2] << 8 | lt->val[3];
	t->lifetime_s = life;
	/* Refresh a minute early, or halfway through a short lifetime. */
	uint64_t ahead = life > 120 ? (uint64_t)(life - 60) : (uint64_t)life / 2;
	t->refresh_at_ms = now + ahead * 1000;
}

static int on_answer(struct nat_turn *t, struct nat_turn_txn *x, const struct nat_stun_msg *m,
		     uint64_t now)
{
	char err[160];
	if (m->cls == NAT_STUN_ERROR) {
		int code;
		char reason[96];
		if (nat_stun_get_error(m, &code, reason, sizeof(reason)) != 0)
			return -EBADMSG;
		t->answered = true; /* a refusal still proves the way passes */
		if (code == 401 && !t->have_key && x->method == NAT_TURN_ALLOCATE) {
			if (!attr_text(m, NAT_STUN_REALM, t->realm, sizeof(t->realm)) ||
			    !attr_text(m, NAT_STUN_NONCE, t->nonce, sizeof(t->nonce)))
				return -EBADMSG;
			nat_stun_long_term_key(t->username, t->realm, t->password, t->key);
			t->have_key = true;
			txn_send_new(t, x, now);
			return 1;
		}
		if (code == 438 && t->stale_retries < MAX_STALE &&
		    attr_text(m, NAT_STUN_NONCE, t->nonce, sizeof(t->nonce))) {
			t->stale_retries++;
			txn_send_new(t, x, now);
			return 1;
		}
		x->active = false;
		if (x->release) { /* the stale allocation is gone (437: already) or stays */
			x->release = false;
			if (code == 437) {
				txn_start(t, NAT_TURN_ALLOCATE, -1, now);
				return 1;
			}
			fail(t,
			     "the relay keeps an allocation for this address (437 to Allocate) "
			     "and would not end it: %d %s",
			     code, reason);
			return 1;
		}
		if (code == 437 && x->method == NAT_TURN_ALLOCATE && t->have_key &&
		    !t->release_tried) {
			/* An allocation for our address and port is still there (we restarted on
			 * the same port): end it with our credentials, then allocate again, once.
			 */
			t->release_tried = true;
			x->method = NAT_TURN_REFRESH;
			x->release = true;
			txn_send_new(t, x, now);
			return 1;
		}
		if (code == 437 && x->method != NAT_TURN_ALLOCATE) {
			nat_turn_start(t, now); /* the relay lost us (NAT remap): start over */
			t->answered = true;	/* ... and it did answer */
			return 1;
		}
		if (x->method == NAT_TURN_CHANNEL_BIND) {
			t->peers[x->peer].bind_at_ms = now + RENEW_MS; /* try again later */
			snprintf(t->why, sizeof(t->why), "ChannelBind refused: %d %s", code,
				 reason);
			return 1;
		}
		fail(t, "the relay refused %s: %d %s",
		     x->method == NAT_TURN_ALLOCATE ? "Allocate" : "Refresh", code, reason);
		return 1;
	}
	if (t->have_key && nat_stun_check_integrity(m, t->key, sizeof(t->key)) != 0)
		return -EBADMSG; /* forged or corrupted: keep waiting */
	t->answered = true;
	t->stale_retries = 0;
	x->active = false;
	switch (x->method) {
	case NAT_TURN_ALLOCATE:
		if (nat_stun_get_addr(m, NAT_TURN_XOR_RELAYED_ADDRESS, &t->relayed, err,
				      sizeof(err)) != 0) {
			fail(t, "Allocate answer without a relayed address");
			return 1;
		}
		nat_stun_get_addr(m, NAT_STUN_XOR_MAPPED_ADDRESS, &t->mapped, err, sizeof(err));
		t->state = NAT_TURN_ALLOCATED;
		on_allocated(t, m, now);
		for (size_t i = 0; i < t->n_peers; i++) {
			if (t->peers[i].gone)
				t->peers[i].reuse_at_ms = now; /* a new allocation: channels free */
			else
				t->peers[i].bind_at_ms = now;
		}
		nat_turn_timer(t, now);
		break;
	case NAT_TURN_REFRESH:
		if (x->release) { /* the stale allocation ended: ours now */
			x->release = false;
			txn_start(t, NAT_TURN_ALLOCATE, -1, now);
			break;
		}
		on_allocated(t, m, now);
		break;
	case NAT_TURN_CHANNEL_BIND:
		t->peers[x->peer].bound = true;
		t->peers[x->peer].bind_at_ms = now + RENEW_MS;
		break;
	}
	return 1;
}

int nat_turn_input(struct nat_turn *t, const uint8_t *buf, size_t len, uint64_t now_ms,
		   struct sockaddr_storage *peer, const uint8_t **data, size_t *data_len)
{
	if (len >= NAT_TURN_CHANNEL_HEADER && (buf[0] & 0xF0) == 0x40) {
		uint16_t ch = (uint16_t)(buf[0] << 8 | buf[1]);
		size_t n = (size_t)(buf[2] << 8 | buf[3]);
		if (n > len - NAT_TURN_CHANNEL_HEADER)
			return -EBADMSG;
		for (size_t i = 0; i < t->n_peers; i++) {
			if (t->peers[i].bound && t->peers[i].channel == ch) {
				*peer = t->peers[i].addr;
				*data = buf + NAT_TURN_CHANNEL_HEADER;
				*data_len = n;
				return 2;
			}
		}
		return -EBADMSG; /* a channel we did not bind */
	}
	if (!nat_stun_looks_like(buf, len))
		return 0;
	struct nat_stun_msg m;
	char err[160];
	if (nat_stun_parse(buf, len, &m, err, sizeof(err)) != 0)
		return -EBADMSG;
	if (nat_stun_check_fingerprint(&m) == -EBADMSG)
		return -EBADMSG;
	if (m.cls == NAT_STUN_INDICATION && m.method == NAT_TURN_DATA) {
		const struct nat_stun_attr *d = nat_stun_find(&m, NAT_TURN_DATA_ATTR);
		if (!d || nat_stun_get_addr(&m, NAT_TURN_XOR_PEER_ADDRESS, peer, err, sizeof(err)))
			return -EBADMSG;
		*data = d->val;
		*data_len = d->len;
		return 2;
	}
	if (m.cls != NAT_STUN_SUCCESS && m.cls != NAT_STUN_ERROR)
		return 1;
	for (size_t i = 0; i < sizeof(t->txn) / sizeof(t->txn[0]); i++) {
		struct nat_turn_txn *x = &t->txn[i];
		if (x->active && x->method == m.method &&
		    memcmp(x->txid, m.txid, NAT_STUN_TXID) == 0)
			return on_answer(t, x, &m, now_ms);
	}
	return 1; /* a late answer to something we gave up on */
}

uint64_t nat_turn_timer(struct nat_turn *t, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;
	for (size_t i = 0; i < sizeof(t->txn) / sizeof(t->txn[0]); i++) {
		struct nat_turn_txn *x = &t->txn[i];
		if (!x->active)
			continue;
		if (x->next_ms <= now_ms) {
			if (x->sends >= MAX_SENDS || over_stream(t)) {
				x->active = false;
				if (x->method == NAT_TURN_CHANNEL_BIND) {
					t->peers[x->peer].bind_at_ms = now_ms + RENEW_MS;
					continue;
				}
				if (over_stream(t))
					fail(t, "no answer from the relay within %d.%d s",
					     NAT_TURN_STREAM_TIMEOUT_MS / 1000,
					     NAT_TURN_STREAM_TIMEOUT_MS % 1000 / 100);
				else
					fail(t, "no answer from the relay after %d tries",
					     MAX_SENDS);
				t->unanswered = !t->answered;
				return UINT64_MAX;
			}
			x->sends++;
			x->rto_ms *= 2;
			x->next_ms = now_ms + x->rto_ms;
			t->send(t->ctx, x->buf, x->len);
		}
		if (x->next_ms < next)
			next = x->next_ms;
	}
	if (t->state != NAT_TURN_ALLOCATED)
		return next;
	if (t->refresh_at_ms <= now_ms && !txn_pending(t, NAT_TURN_REFRESH, -1))
		txn_start(t, NAT_TURN_REFRESH, -1, now_ms);
	if (t->refresh_at_ms > now_ms && t->refresh_at_ms < next)
		next = t->refresh_at_ms;
	for (size_t i = 0; i < t->n_peers; i++) {
		struct nat_turn_peer *p = &t->peers[i];
		if (p->bind_at_ms <= now_ms && !txn_pending(t, NAT_TURN_CHANNEL_BIND, (int)i) &&
		    txn_start(t, NAT_TURN_CHANNEL_BIND, (int)i, now_ms))
			p->bind_at_ms = now_ms + RENEW_MS;
		if (p->bind_at_ms < next)
			next = p->bind_at_ms;
	}
	for (size_t i = 0; i < sizeof(t->txn) / sizeof(t->txn[0]); i++)
		if (t->txn[i].active && t->txn[i].next_ms < next)
			next = t->txn[i].next_ms;
	return next;
}

int nat_turn_add_peer(struct nat_turn *t, const struct sockaddr *peer, uint64_t now_ms)
{
	if (peer->sa_family != AF_INET && peer->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	size_t at = t->n_peers;
	for (size_t i = 0; i < t->n_peers; i++) {
		struct nat_turn_peer *p = &t->peers[i];
		if (!nat_sockaddr_equal(&p->addr, peer))
			continue;
		if (!p->gone)
			return 0;
		at = i; /* its channel back: bound again to the same address */
		break;
	}
	for (size_t i = 0; at == t->n_peers && t->n_peers == NAT_TURN_MAX_PEERS && i < t->n_peers;
	     i++)
		if (t->peers[i].gone && t->peers[i].reuse_at_ms <= now_ms)
			at = i;
	if (at == NAT_TURN_MAX_PEERS)
		return -ENOSPC;
	struct nat_turn_peer *p = &t->peers[at];
	memset(p, 0, sizeof(*p));
	memcpy(&p->addr, peer,
	       peer->sa_family == AF_INET ? sizeof(struct sockaddr_in)
					  : sizeof(struct sockaddr_in6));
	p->channel = (uint16_t)(NAT_TURN_CHANNEL_FIRST + at);
	p->bind_at_ms = now_ms;
	if (at == t->n_peers)
		t->n_peers++;
	if (t->state == NAT_TURN_ALLOCATED)
		nat_turn_timer(t, now_ms);
	return 0;
}

int nat_turn_remove_peer(struct nat_turn *t, const struct sockaddr *peer, uint64_t now_ms)
{
	for (size_t i = 0; i < t->n_peers; i++) {
		struct nat_turn_peer *p = &t->peers[i];
		if (p->gone || !nat_sockaddr_equal(&p->addr, peer))
			continue;
		for (size_t k = 0; k < sizeof(t->txn) / sizeof(t->txn[0]); k++)
			if (t->txn[k].active && t->txn[k].peer == (int)i)
				t->txn[k].active = false; /* its answer must not bind it */
		p->gone = true;
		p->bound = false;
		p->bind_at_ms = UINT64_MAX;
		p->reuse_at_ms = now_ms + NAT_TURN_CHANNEL_REUSE_MS;
		return 0;
	}
	return -ENOENT;
}

int nat_turn_wrap(struct nat_turn *t, const struct sockaddr *peer, const uint8_t *data, size_t len,
		  uint8_t *out, size_t cap)
{
	for (size_t i = 0; i < t->n_peers; i++) {
		const struct nat_turn_peer *p = &t->peers[i];
		if (p->gone || !nat_sockaddr_equal(&p->addr, peer))
			continue;
		if (!p->bound)
			return -EAGAIN;
		if (len > 0xFFFF || len + NAT_TURN_CHANNEL_HEADER > cap)
			return -ENOSPC;
		out[0] = (uint8_t)(p->channel >> 8);
		out[1] = (uint8_t)p->channel;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		memcpy(out + NAT_TURN_CHANNEL_HEADER, data, len);
		if (over_stream(t))
			return nat_stream_frame(out, len + NAT_TURN_CHANNEL_HEADER, cap);
		return (int)(len + NAT_TURN_CHANNEL_HEADER);
	}
	return -ENOENT;
}
