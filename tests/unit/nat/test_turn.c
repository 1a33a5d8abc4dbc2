/* The TURN client against a scripted relay made with the STUN builder: the 401 dance
 * (credentials only after the challenge, the long-term key), a forged success answer
 * (wrong MESSAGE-INTEGRITY) ignored and the request retransmitted, 438 with a new nonce,
 * Refresh a minute before the lifetime ends, 437 on Refresh starting over, a ChannelBind
 * per peer and ChannelData both ways, a channel we never bound refused, an error naming
 * the relay's reason, and no answer at all ending in "no answer" after 7 sends (unanswered
 * only when nothing was answered since the start: not after a 401, not for a Refresh of a
 * working allocation; the Allocate after that, unanswered, is).  Over TCP
 * and TLS: one send per request (the 401 dance and renewals are new requests), 39.5 s of
 * silence failing the allocation, an unanswered ChannelBind left to its renewal time, and
 * ChannelData padded to a multiple of 4.  Peers given up (they left, or were allocated
 * anew): their channel neither renewed, sent nor taken, a full table taking a new address only
 * in a channel given up NAT_TURN_CHANNEL_REUSE_MS ago, the same address back in its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "check.h"
#include "nat/turn.h"

static uint8_t sent[8][600];
static size_t sent_len[8];
static int n_sent;

static void on_send(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	if (n_sent < 8 && len <= sizeof(sent[0])) {
		memcpy(sent[n_sent], buf, len);
		sent_len[n_sent] = len;
	}
	n_sent++;
}

static struct nat_stun_msg last; /* the last request, parsed */

static void take_last(void)
{
	char err[160];
	CHECK(n_sent > 0);
	CHECK_INT(nat_stun_parse(sent[n_sent - 1], sent_len[n_sent - 1], &last, err, sizeof(err)),
		  0);
}

static const char user[] = "1900000000:node-a", pass[] = "c2VjcmV0";
static uint8_t key[NAT_STUN_LT_KEY];

/* The relay's answer to `last`: class, error code (0 = none), with or without the seal. */
static size_t answer(uint8_t *out, enum nat_stun_class cls, int code, const char *nonce, bool seal,
		     uint32_t lifetime)
{
	struct nat_stun_builder b;
	nat_stun_build_begin(&b, out, 512, last.method, cls, last.txid);
	if (code) {
		uint8_t ec[4 + 16] = { 0, 0, (uint8_t)(code / 100), (uint8_t)(code % 100) };
		memcpy(ec + 4, "Relay says no", 13);
		nat_stun_add(&b, NAT_STUN_ERROR_CODE, ec, 4 + 13);
		nat_stun_add(&b, NAT_STUN_REALM, "mesh.lab", 8);
	}
	if (nonce)
		nat_stun_add(&b, NAT_STUN_NONCE, nonce, strlen(nonce));
	if (cls == NAT_STUN_SUCCESS && last.method == NAT_TURN_ALLOCATE) {
		struct sockaddr_in r = { .sin_family = AF_INET, .sin_port = htons(50000) };
		struct sockaddr_in m = { .sin_family = AF_INET, .sin_port = htons(41641) };
		inet_pton(AF_INET, "198.18.0.10", &r.sin_addr);
		inet_pton(AF_INET, "198.18.0.20", &m.sin_addr);
		nat_stun_add_xaddr(&b, NAT_TURN_XOR_RELAYED_ADDRESS, (struct sockaddr *)&r);
		nat_stun_add_xaddr(&b, NAT_STUN_XOR_MAPPED_ADDRESS, (struct sockaddr *)&m);
	}
	if (lifetime)
		nat_stun_add_u32(&b, NAT_TURN_LIFETIME, lifetime);
	int n = nat_stun_build_end(&b, seal ? key : NULL, sizeof(key), true);
	CHECK(n > 0);
	return (size_t)n;
}

static int feed(struct nat_turn *t, const uint8_t *buf, size_t len, uint64_t now)
{
	struct sockaddr_storage peer;
	const uint8_t *data;
	size_t dlen;
	return nat_turn_input(t, buf, len, now, &peer, &data, &dlen);
}

static void allocate(struct nat_turn *t, uint64_t now)
{
	uint8_t buf[512];
	n_sent = 0;
	nat_turn_start(t, now);
	take_last();
	CHECK_INT(last.method, NAT_TURN_ALLOCATE);
	CHECK(nat_stun_find(&last, NAT_STUN_USERNAME) == NULL); /* no credentials unasked */
	CHECK_INT(feed(t, buf, answer(buf, NAT_STUN_ERROR, 401, "n1", false, 0), now), 1);
	take_last();
	const struct nat_stun_attr *u = nat_stun_find(&last, NAT_STUN_USERNAME);
	CHECK(u && u->len == strlen(user) && memcmp(u->val, user, u->len) == 0);
	CHECK_INT(nat_stun_check_integrity(&last, key, sizeof(key)), 0);
	CHECK_INT(feed(t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, true, 600), now), 1);
}

/* The channel number of sent[k] when it is a ChannelBind (its peer's port in *port), else
 * -1. */
static int bind_channel(int k, unsigned *port)
{
	struct nat_stun_msg m;
	struct sockaddr_storage a;
	char err[160];
	if (k >= 8 || nat_stun_parse(sent[k], sent_len[k], &m, err, sizeof(err)) != 0 ||
	    m.method != NAT_TURN_CHANNEL_BIND)
		return -1;
	const struct nat_stun_attr *c = nat_stun_find(&m, NAT_TURN_CHANNEL_NUMBER);
	if (!c || c->len != 4 || nat_stun_get_addr(&m, NAT_TURN_XOR_PEER_ADDRESS, &a, err, 160))
		return -1;
	*port = ntohs(((struct sockaddr_in *)&a)->sin_port);
	return c->val[0] << 8 | c->val[1];
}

/* Whether a ChannelBind for channel went out among the first 8 sent; its port in *port. */
static bool bind_sent(int channel, unsigned *port)
{
	for (int k = 0; k < n_sent && k < 8; k++)
		if (bind_channel(k, port) == channel)
			return true;
	return false;
}

static void peers_given_up(void)
{
	struct nat_turn t;
	uint8_t buf[512];
	struct sockaddr_storage from;
	const uint8_t *data;
	size_t dlen;
	unsigned port = 0;
	struct sockaddr_in pa[NAT_TURN_MAX_PEERS + 1];
	const uint64_t t0 = 2000000, reuse = NAT_TURN_CHANNEL_REUSE_MS;
#define PA(i) ((struct sockaddr *)&pa[i])

	/* 1: sixteen peers, each bound; a seventeenth finds the table full. */
	CHECK_INT(nat_turn_init(&t, user, pass, on_send, NULL), 0);
	allocate(&t, t0);
	for (int i = 0; i <= NAT_TURN_MAX_PEERS; i++) {
		pa[i] = (struct sockaddr_in){ .sin_family = AF_INET,
					      .sin_port = htons((uint16_t)(51000 + i)) };
		inet_pton(AF_INET, "198.18.0.11", &pa[i].sin_addr);
	}
	for (int i = 0; i < NAT_TURN_MAX_PEERS; i++) {
		n_sent = 0;
		CHECK_INT(nat_turn_add_peer(&t, PA(i), t0), 0);
		take_last();
		CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, true, 0), t0), 1);
	}
	CHECK_INT(nat_turn_add_peer(&t, PA(16), t0), -ENOSPC);

	/* 2: peer 3 given up: nothing to wrap for it, its ChannelData not taken. */
	CHECK_INT(nat_turn_remove_peer(&t, PA(3), t0 + 1000), 0);
	CHECK_INT(nat_turn_remove_peer(&t, PA(3), t0 + 1000), -ENOENT);
	CHECK_INT(nat_turn_wrap(&t, PA(3), (const uint8_t *)"x", 1, buf, sizeof(buf)), -ENOENT);
	static const uint8_t cd3[] = { 0x40, 0x03, 0x00, 0x01, 'x' };
	CHECK_INT(nat_turn_input(&t, cd3, sizeof(cd3), t0 + 1000, &from, &data, &dlen), -EBADMSG);

	/* 3: its channel is not another address's until the relay may rebind it. */
	CHECK_INT(nat_turn_add_peer(&t, PA(16), t0 + 1000 + reuse - 1), -ENOSPC);

	/* 4: the same address back: its own channel, bound at once, in use again. */
	n_sent = 0;
	CHECK_INT(nat_turn_add_peer(&t, PA(3), t0 + 2000), 0);
	CHECK_INT(n_sent, 1);
	CHECK_INT(bind_channel(0, &port), 0x4003);
	CHECK_INT(port, 51003);
	take_last();
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, true, 0), t0 + 2000), 1);
	CHECK_INT(nat_turn_wrap(&t, PA(3), (const uint8_t *)"x", 1, buf, sizeof(buf)), 5);
	CHECK_INT(nat_turn_input(&t, cd3, sizeof(cd3), t0 + 2000, &from, &data, &dlen), 2);

	/* 5: peers 3 and 5 given up; the seventeenth address takes channel 3 once it may, and
	 * the renewals then due (room for eight transactions: the allocation's Refresh and
	 * seven ChannelBinds) skip channel 5. */
	CHECK_INT(nat_turn_remove_peer(&t, PA(3), t0 + 3000), 0);
	CHECK_INT(nat_turn_remove_peer(&t, PA(5), t0 + 3000), 0);
	n_sent = 0;
	CHECK_INT(nat_turn_add_peer(&t, PA(16), t0 + 3000 + reuse), 0);
	CHECK_INT(n_sent, 8);
	CHECK(bind_sent(0x4003, &port));
	CHECK_INT(port, 51016);
	CHECK(!bind_sent(0x4005, &port));
	CHECK(bind_sent(0x4007, &port)); /* 0, 1, 2, 3, 4, 6, 7 */
#undef PA
}

int main(void)
{
	struct nat_turn t;
	uint8_t buf[512];
	char text[INET_ADDRSTRLEN];
	nat_stun_long_term_key(user, "mesh.lab", pass, key);
	CHECK_INT(nat_turn_init(&t, user, pass, on_send, NULL), 0);

	/* 401, then a forged success (no seal), then 438 with a new nonce, then success. */
	n_sent = 0;
	nat_turn_start(&t, 1000);
	take_last();
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 401, "n1", false, 0), 1000), 1);
	take_last();
	int before = n_sent;
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, false, 600), 1010),
		  -EBADMSG);
	CHECK_INT(t.state, NAT_TURN_ALLOCATING);
	nat_turn_timer(&t, 1600); /* RTO 500 ms: the same request again */
	CHECK_INT(n_sent, before + 1);
	CHECK(sent_len[n_sent - 1] == sent_len[n_sent - 2] &&
	      memcmp(sent[n_sent - 1], sent[n_sent - 2], sent_len[n_sent - 1]) == 0);
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 438, "n2", false, 0), 1700), 1);
	take_last();
	const struct nat_stun_attr *nn = nat_stun_find(&last, NAT_STUN_NONCE);
	CHECK(nn && nn->len == 2 && memcmp(nn->val, "n2", 2) == 0);
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, true, 600), 1800), 1);
	CHECK_INT(t.state, NAT_TURN_ALLOCATED);
	CHECK_STR(
	    inet_ntop(AF_INET, &((struct sockaddr_in *)&t.relayed)->sin_addr, text, sizeof(text)),
	    "198.18.0.10");
	CHECK_INT(ntohs(((struct sockaddr_in *)&t.mapped)->sin_port), 41641);
	CHECK_INT(t.refresh_at_ms, 1800 + 540 * 1000);

	/* A peer: ChannelBind at once, then ChannelData both ways. */
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(50001) };
	inet_pton(AF_INET, "198.18.0.11", &peer.sin_addr);
	n_sent = 0;
	CHECK_INT(
	    nat_turn_wrap(&t, (struct sockaddr *)&peer, (const uint8_t *)"x", 1, buf, sizeof(buf)),
	    -ENOENT);
	CHECK_INT(nat_turn_add_peer(&t, (struct sockaddr *)&peer, 2000), 0);
	take_last();
	CHECK_INT(last.method, NAT_TURN_CHANNEL_BIND);
	CHECK_INT(
	    nat_turn_wrap(&t, (struct sockaddr *)&peer, (const uint8_t *)"x", 1, buf, sizeof(buf)),
	    -EAGAIN);
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, true, 0), 2010), 1);
	int n = nat_turn_wrap(&t, (struct sockaddr *)&peer, (const uint8_t *)"hello", 5, buf,
			      sizeof(buf));
	CHECK_INT(n, 9);
	CHECK(buf[0] == 0x40 && buf[1] == 0x00 && buf[3] == 5);
	struct sockaddr_storage from;
	const uint8_t *data;
	size_t dlen;
	CHECK_INT(nat_turn_input(&t, buf, (size_t)n, 2020, &from, &data, &dlen), 2);
	CHECK(dlen == 5 && memcmp(data, "hello", 5) == 0);
	CHECK_INT(ntohs(((struct sockaddr_in *)&from)->sin_port), 50001);
	buf[1] = 0x07; /* a channel we never bound */
	CHECK_INT(nat_turn_input(&t, buf, (size_t)n, 2020, &from, &data, &dlen), -EBADMSG);
	buf[1] = 0x00;
	buf[3] = 200; /* longer than the datagram */
	CHECK_INT(nat_turn_input(&t, buf, (size_t)n, 2020, &from, &data, &dlen), -EBADMSG);
	CHECK_INT(
	    nat_turn_input(&t, (const uint8_t *)"\x01\x00\x00\x00", 4, 2020, &from, &data, &dlen),
	    0); /* not ours: the caller's (WireGuard) */

	/* Renewal at 4 minutes; Refresh at lifetime - 60 s; 437 on Refresh starts over. */
	n_sent = 0;
	nat_turn_timer(&t, 2010 + 240 * 1000);
	take_last();
	CHECK_INT(last.method, NAT_TURN_CHANNEL_BIND);
	n_sent = 0;
	nat_turn_timer(&t, 1800 + 540 * 1000);
	CHECK(n_sent >= 1);
	take_last();
	CHECK_INT(last.method, NAT_TURN_REFRESH);
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 437, NULL, false, 0), 542000), 1);
	take_last();
	CHECK_INT(last.method, NAT_TURN_ALLOCATE);
	CHECK_INT(t.state, NAT_TURN_ALLOCATING);
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, true, 600), 542010), 1);
	CHECK_INT(t.state, NAT_TURN_ALLOCATED);
	take_last(); /* the peer's channel is bound again on the new allocation */
	CHECK_INT(last.method, NAT_TURN_CHANNEL_BIND);

	/* A fresh client: the challenge first; then a refusal names the relay's reason. */
	CHECK_INT(nat_turn_init(&t, user, pass, on_send, NULL), 0);
	allocate(&t, 600000);
	CHECK_INT(t.state, NAT_TURN_ALLOCATED);
	n_sent = 0;
	nat_turn_start(&t, 700000);
	take_last();
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 486, NULL, false, 0), 700010), 1);
	CHECK_INT(t.state, NAT_TURN_FAILED);
	CHECK_STR(t.why, "the relay refused Allocate: 486 Relay says no");

	/* Silence: 7 sends (RTO 0.5, 1, 2, ... s), then "no answer". */
	n_sent = 0;
	nat_turn_start(&t, 800000);
	uint64_t now = 800000;
	for (int i = 0; i < 10 && t.state == NAT_TURN_ALLOCATING; i++)
		now = nat_turn_timer(&t, now);
	CHECK_INT(n_sent, 7);
	CHECK_INT(t.state, NAT_TURN_FAILED);
	CHECK_STR(t.why, "no answer from the relay after 7 tries");
	CHECK(t.unanswered);

	/* Silence after the 401: the way passes (refused is an answer), so not unanswered. */
	CHECK_INT(nat_turn_init(&t, user, pass, on_send, NULL), 0);
	n_sent = 0;
	nat_turn_start(&t, 810000);
	take_last();
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 401, "n1", false, 0), 810000), 1);
	for (now = 810000; t.state == NAT_TURN_ALLOCATING && now != UINT64_MAX;)
		now = nat_turn_timer(&t, now);
	CHECK_STR(t.why, "no answer from the relay after 7 tries");
	CHECK(!t.unanswered);

	/* A Refresh of a working allocation unanswered (40 s of loss) is not "unanswered": one
	 * blip must not move a node off UDP; the next Allocate, unanswered, is. */
	CHECK_INT(nat_turn_init(&t, user, pass, on_send, NULL), 0);
	allocate(&t, 820000);
	now = t.refresh_at_ms;
	for (int i = 0; i < 12 && t.state == NAT_TURN_ALLOCATED; i++)
		now = nat_turn_timer(&t, now);
	CHECK_INT(t.state, NAT_TURN_FAILED);
	CHECK_STR(t.why, "no answer from the relay after 7 tries");
	CHECK(!t.unanswered);
	nat_turn_start(&t, now);
	for (int i = 0; i < 12 && t.state == NAT_TURN_ALLOCATING; i++)
		now = nat_turn_timer(&t, now);
	CHECK_INT(t.state, NAT_TURN_FAILED);
	CHECK(t.unanswered);

	/* Over TCP: each request sent once, however long the relay takes; 39.5 s of silence
	 * fails the allocation, with a sentence saying so. */
	CHECK_INT(nat_turn_init(&t, user, pass, on_send, NULL), 0);
	CHECK_INT(t.transport, NAT_TURN_UDP);
	nat_turn_set_transport(&t, NAT_TURN_TCP);
	n_sent = 0;
	nat_turn_start(&t, 900000);
	CHECK_INT(n_sent, 1);
	CHECK_INT(nat_turn_timer(&t, 900000), 900000 + 39500);
	for (now = 900000; now < 900000 + 39500; now += 250)
		CHECK_INT(nat_turn_timer(&t, now), 900000 + 39500);
	CHECK_INT(n_sent, 1);
	CHECK_INT(t.state, NAT_TURN_ALLOCATING);
	CHECK_INT(nat_turn_timer(&t, 900000 + 39500), UINT64_MAX);
	CHECK_INT(n_sent, 1);
	CHECK_INT(t.state, NAT_TURN_FAILED);
	CHECK_STR(t.why, "no answer from the relay within 39.5 s");

	/* Over TLS: the 401 dance is a new request (sent), a forged answer is dropped and
	 * nothing is sent again; the real answer allocates. */
	CHECK_INT(nat_turn_init(&t, user, pass, on_send, NULL), 0);
	nat_turn_set_transport(&t, NAT_TURN_TLS);
	n_sent = 0;
	nat_turn_start(&t, 1000000);
	take_last();
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 401, "n1", false, 0), 1000010), 1);
	CHECK_INT(n_sent, 2);
	take_last();
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, false, 600), 1000020),
		  -EBADMSG);
	nat_turn_timer(&t, 1000000 + 20000);
	CHECK_INT(n_sent, 2);
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, true, 600), 1020010), 1);
	CHECK_INT(t.state, NAT_TURN_ALLOCATED);

	/* A ChannelBind unanswered for 39.5 s is not sent again until its renewal time;
	 * ChannelData is padded to a multiple of 4 with zeros. */
	n_sent = 0;
	CHECK_INT(nat_turn_add_peer(&t, (struct sockaddr *)&peer, 1030000), 0);
	CHECK_INT(n_sent, 1);
	take_last();
	CHECK_INT(last.method, NAT_TURN_CHANNEL_BIND);
	CHECK_INT(nat_turn_timer(&t, 1030000 + 39499), 1030000 + 39500);
	CHECK_INT(n_sent, 1);
	nat_turn_timer(&t, 1030000 + 39500);
	CHECK_INT(n_sent, 1);
	CHECK_INT(t.peers[0].bind_at_ms, 1030000 + 39500 + 240000);
	CHECK_INT(t.state, NAT_TURN_ALLOCATED);
	nat_turn_timer(&t, 1030000 + 39500 + 240000);
	CHECK_INT(n_sent, 2);
	take_last();
	CHECK_INT(last.method, NAT_TURN_CHANNEL_BIND);
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, true, 0), 1310000), 1);
	memset(buf, 0xFF, sizeof(buf));
	n = nat_turn_wrap(&t, (struct sockaddr *)&peer, (const uint8_t *)"hello", 5, buf,
			  sizeof(buf));
	CHECK_INT(n, 12);
	CHECK(buf[0] == 0x40 && buf[1] == 0x00 && buf[2] == 0 && buf[3] == 5);
	CHECK(buf[9] == 0 && buf[10] == 0 && buf[11] == 0);
	CHECK_INT(nat_turn_wrap(&t, (struct sockaddr *)&peer, (const uint8_t *)"hello", 5, buf, 11),
		  -ENOSPC);
	CHECK_INT(nat_turn_wrap(&t, (struct sockaddr *)&peer, (const uint8_t *)"four", 4, buf, 8),
		  8);
	CHECK_INT(nat_turn_input(&t, buf, 8, 1310010, &from, &data, &dlen), 2);
	CHECK(dlen == 4 && memcmp(data, "four", 4) == 0);
	/* Restarted on the same port: the relay still holds our old allocation and answers
	 * the authenticated Allocate with 437; we end it (Refresh, lifetime 0, sealed with our
	 * key) and allocate again — once: a second 437 is a failure that says why. */
	CHECK_INT(nat_turn_init(&t, user, pass, on_send, NULL), 0);
	n_sent = 0;
	nat_turn_start(&t, 1000000);
	take_last();
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 401, "n1", false, 0), 1000000), 1);
	take_last();
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 437, NULL, false, 0), 1000010), 1);
	take_last();
	CHECK_INT(last.method, NAT_TURN_REFRESH);
	const struct nat_stun_attr *lt = nat_stun_find(&last, NAT_TURN_LIFETIME);
	CHECK(lt && lt->len == 4 && memcmp(lt->val, "\0\0\0\0", 4) == 0);
	CHECK_INT(nat_stun_check_integrity(&last, key, sizeof(key)), 0);
	CHECK_INT(t.state, NAT_TURN_ALLOCATING);
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, true, 0), 1000020), 1);
	take_last();
	CHECK_INT(last.method, NAT_TURN_ALLOCATE);
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_SUCCESS, 0, NULL, true, 600), 1000030), 1);
	CHECK_INT(t.state, NAT_TURN_ALLOCATED);
	/* ... and when it is still there after that: */
	n_sent = 0;
	nat_turn_start(&t, 1100000);
	take_last();
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 437, NULL, false, 0), 1100010), 1);
	take_last();
	CHECK_INT(last.method, NAT_TURN_REFRESH);
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 437, NULL, false, 0), 1100020), 1);
	take_last();
	CHECK_INT(last.method, NAT_TURN_ALLOCATE);
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 437, NULL, false, 0), 1100030), 1);
	CHECK_INT(t.state, NAT_TURN_FAILED);
	CHECK_STR(t.why, "the relay refused Allocate: 437 Relay says no");
	/* ... or the relay will not end it (other credentials): */
	n_sent = 0;
	nat_turn_start(&t, 1200000);
	take_last();
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 437, NULL, false, 0), 1200010), 1);
	take_last();
	CHECK_INT(feed(&t, buf, answer(buf, NAT_STUN_ERROR, 441, NULL, false, 0), 1200020), 1);
	CHECK_INT(t.state, NAT_TURN_FAILED);
	CHECK_STR(t.why, "the relay keeps an allocation for this address (437 to Allocate) and "
			 "would not end it: 441 Relay says no");

	peers_given_up();

	/* Shutdown: one Refresh with lifetime 0, sealed; idle at once; nothing before allocated. */
	CHECK_INT(nat_turn_init(&t, user, pass, on_send, NULL), 0);
	allocate(&t, 1300000);
	n_sent = 0;
	nat_turn_release(&t, 1300100);
	CHECK_INT(n_sent, 1);
	take_last();
	CHECK_INT(last.method, NAT_TURN_REFRESH);
	lt = nat_stun_find(&last, NAT_TURN_LIFETIME);
	CHECK(lt && lt->len == 4 && memcmp(lt->val, "\0\0\0\0", 4) == 0);
	CHECK_INT(nat_stun_check_integrity(&last, key, sizeof(key)), 0);
	CHECK_INT(t.state, NAT_TURN_IDLE);
	CHECK_INT(nat_turn_timer(&t, 1400000) > 1400000, 1); /* no retransmission */
	CHECK_INT(n_sent, 1);
	nat_turn_release(&t, 1400000);
	CHECK_INT(n_sent, 1);

	return check_finish();
}
