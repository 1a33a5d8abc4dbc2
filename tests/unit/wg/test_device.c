/* Two devices on one libuv loop talking over loopback UDP: a staged packet triggers the
 * handshake, packets flow both ways through the callbacks, byte counters agree across the
 * two sides.  Then every message type truncated, oversized, bit-flipped or otherwise bad
 * is fed to the receive path and must land in its own drop counter without an answer; the
 * cookie/mac2 exchange is checked at the function level; finally the loop must close with
 * no handle left (uv_loop_close() == 0). */
#include <stdlib.h>

#include "common/key.h"
#include "pair.h"

struct side {
	struct wg_device *dev;
	uint8_t priv[32], pub[32];
	int received;
	size_t last_len;
	uint8_t last[2048];
};

static void on_recv(void *ctx, const uint8_t *pkt, size_t len)
{
	struct side *s = ctx;
	s->received++;
	s->last_len = len;
	memcpy(s->last, pkt, len < sizeof(s->last) ? len : sizeof(s->last));
	uv_stop(&loop);
}

static unsigned int workers; /* run once without and once with a crypto worker thread */

static void make_side(struct side *s, const char *name)
{
	struct wg_device_ops ops = { .recv = on_recv };
	struct wg_device_config cfg = { .name = name,
					.private_key = s->priv,
					.crypto_workers = workers };
	wg__gen_privkey(s->priv);
	wg__pubkey(s->pub, s->priv);
	CHECK_INT(wg_device_new(&loop, &cfg, &ops, s, &s->dev), 0);
}

static void add_peer(struct side *s, struct side *other, const char *aip)
{
	struct addr_prefix a = { .ip.family = AF_INET, .bits = 32 };
	struct wg_peer_config pc = { .persistent_keepalive = -1,
				     .set_endpoint = true,
				     .allowed_ips = &a,
				     .n_allowed_ips = 1 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&pc.endpoint;
	inet_pton(AF_INET, aip, a.ip.bytes);
	memcpy(pc.public_key, other->pub, 32);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(wg_device_listen_port(other->dev));
	inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
	CHECK_INT(wg_device_peer_set(s->dev, &pc), 0);
}

static struct sockaddr_in loopback_from(struct side *s)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(wg_device_listen_port(s->dev)) };
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	return sin;
}

/* A data message from a's keypair toward b, with the given counter and inner packet. */
static size_t forge_data(struct side *a, uint8_t *out, uint64_t counter, const uint8_t *inner,
			 size_t len)
{
	return forge_with(a->dev->peers_head->kp_cur, out, counter, inner, len);
}

#define EXPECT_DROP(dev, field, stmt)                       \
	do {                                                \
		uint64_t before_ = (dev)->stats.field;      \
		uint64_t sent_ = (dev)->stats.tx_packets;   \
		stmt;                                       \
		CHECK_INT((dev)->stats.field, before_ + 1); \
		CHECK_INT((dev)->stats.tx_packets, sent_);  \
	} while (0)

static void bad_input(struct side *a, struct side *b)
{
	struct wg_device *dev = b->dev;
	struct sockaddr_in from = loopback_from(a);
	const struct sockaddr *src = (const struct sockaddr *)&from;
	uint8_t buf[2048], inner[200];
	struct wg__cookie_maker maker;
	size_t n;

	wg__cookie_maker_init(&maker, b->pub);
	/* 1: shorter than any header */
	memset(buf, 0, sizeof(buf));
	buf[0] = 1;
	EXPECT_DROP(dev, drop_short, wg__receive(dev, buf, 3, src));
	/* 2: unknown type, and a known type with reserved bytes set */
	buf[0] = 5;
	EXPECT_DROP(dev, drop_type, wg__receive(dev, buf, 148, src));
	buf[0] = 1;
	buf[2] = 1;
	EXPECT_DROP(dev, drop_type, wg__receive(dev, buf, 148, src));
	buf[2] = 0;
	/* 3: each handshake type truncated and oversized */
	for (int type = 1; type <= 3; type++) {
		size_t want = type == 1 ? 148 : type == 2 ? 92 : 64;
		buf[0] = (uint8_t)type;
		EXPECT_DROP(dev, drop_size, wg__receive(dev, buf, want - 1, src));
		EXPECT_DROP(dev, drop_size, wg__receive(dev, buf, want + 1, src));
	}
	/* 4: data shorter than header + tag */
	buf[0] = 4;
	EXPECT_DROP(dev, drop_short, wg__receive(dev, buf, 31, src));
	/* 5: initiation and response with a bit flipped after mac1 was computed */
	for (int type = 1; type <= 2; type++) {
		size_t len = type == 1 ? 148 : 92;
		memset(buf, 0x33, len);
		memset(buf, 0, 4);
		buf[0] = (uint8_t)type;
		wg__cookie_add_macs(&maker, buf, len, 0);
		buf[20] ^= 4;
		EXPECT_DROP(dev, drop_mac1, wg__receive(dev, buf, len, src));
		/* 6: mac1 valid but the Noise payload is garbage */
		buf[20] ^= 4;
		EXPECT_DROP(dev, drop_handshake, wg__receive(dev, buf, len, src));
	}
	/* 7: cookie reply for an index nobody has */
	memset(buf, 0, 64);
	buf[0] = 3;
	EXPECT_DROP(dev, drop_cookie, wg__receive(dev, buf, 64, src));
	/* 7b: cookie reply for a live index, bit-flipped (does not decrypt) */
	memset(buf, 0, 64);
	buf[0] = 3;
	memcpy(buf + 4, &b->dev->peers_head->kp_cur->entry.index, 4);
	buf[40] ^= 0x20;
	EXPECT_DROP(dev, drop_cookie, wg__receive(dev, buf, 64, src));
	/* 8: data for an unknown index */
	memset(buf, 0, 64);
	buf[0] = 4;
	EXPECT_DROP(dev, drop_no_keypair, wg__receive(dev, buf, 64, src));
	/* 9: data with a flipped ciphertext bit */
	n = ipv4_packet(inner, "10.0.0.1", "10.0.0.2", 40);
	size_t len = forge_data(a, buf, 1000, inner, n);
	buf[30] ^= 1;
	EXPECT_DROP(dev, drop_decrypt, wg__receive(dev, buf, len, src));
	/* 10: replayed counter */
	len = forge_data(a, buf, 1001, inner, n);
	uint8_t copy[2048];
	memcpy(copy, buf, len);
	wg__receive(dev, buf, len, src);
	EXPECT_DROP(dev, drop_replay, wg__receive(dev, copy, len, src));
	/* 11: inner source outside the sender's AllowedIPs */
	n = ipv4_packet(inner, "10.9.9.9", "10.0.0.2", 40);
	len = forge_data(a, buf, 1002, inner, n);
	int before = b->received;
	EXPECT_DROP(dev, drop_allowed_ips, wg__receive(dev, buf, len, src));
	CHECK_INT(b->received, before);
	/* 11b: inner source inside ANOTHER peer's AllowedIPs (cross-peer spoofing) */
	uint8_t other_priv[32];
	struct addr_prefix oa = { .ip.family = AF_INET, .bits = 32 };
	struct wg_peer_config other = { .persistent_keepalive = -1,
					.allowed_ips = &oa,
					.n_allowed_ips = 1 };
	inet_pton(AF_INET, "10.0.0.3", oa.ip.bytes);
	wg__gen_privkey(other_priv);
	wg__pubkey(other.public_key, other_priv);
	CHECK_INT(wg_device_peer_set(dev, &other), 0);
	n = ipv4_packet(inner, "10.0.0.3", "10.0.0.2", 40);
	len = forge_data(a, buf, 1010, inner, n);
	EXPECT_DROP(dev, drop_allowed_ips, wg__receive(dev, buf, len, src));
	CHECK_INT(b->received, before);
	CHECK_INT(wg_device_peer_remove(dev, other.public_key), 0);
	/* 12: inner packet that is not IP, or whose length field lies */
	memset(inner, 0x11, 48);
	len = forge_data(a, buf, 1003, inner, 48);
	EXPECT_DROP(dev, drop_inner, wg__receive(dev, buf, len, src));
	n = ipv4_packet(inner, "10.0.0.1", "10.0.0.2", 40);
	inner[2] = 0x7f;
	len = forge_data(a, buf, 1004, inner, n);
	EXPECT_DROP(dev, drop_inner, wg__receive(dev, buf, len, src));
	/* 13: a good forged packet still goes through after all that */
	n = ipv4_packet(inner, "10.0.0.1", "10.0.0.2", 40);
	len = forge_data(a, buf, 1005, inner, n);
	wg__receive(dev, buf, len, src);
	CHECK_INT(b->received, before + 1);
}

static void cookies(void)
{
	struct wg__cookie_checker checker;
	struct wg__cookie_maker maker;
	struct message_handshake_initiation msg;
	struct message_handshake_cookie reply;
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(4242) };
	struct sockaddr_in other = from;
	uint8_t priv[32], pub[32];

	wg__gen_privkey(priv);
	wg__pubkey(pub, priv);
	wg__cookie_checker_init(&checker, pub);
	wg__cookie_maker_init(&maker, pub);
	inet_pton(AF_INET, "192.0.2.1", &from.sin_addr);
	inet_pton(AF_INET, "192.0.2.2", &other.sin_addr);
	struct wg__path from_path = { .sa = (struct sockaddr *)&from };
	struct wg__path other_path = { .sa = (struct sockaddr *)&other };

	memset(&msg, 0x42, sizeof(msg));
	wg__cookie_add_macs(&maker, (uint8_t *)&msg, sizeof(msg), 0);
	/* 1: no cookie yet */
	CHECK_INT(wg__cookie_validate(&checker, (uint8_t *)&msg, sizeof(msg), &from_path, true, 0),
		  COOKIE_VALID_MAC_BUT_NO_COOKIE);
	/* 2: a reply whose nonce was altered is refused */
	wg__cookie_create_reply(&checker, &reply, (uint8_t *)&msg, sizeof(msg), msg.sender_index,
				&from_path, 0);
	reply.nonce[0] ^= 1;
	CHECK(!wg__cookie_consume_reply(&maker, &reply, 0));
	reply.nonce[0] ^= 1;
	/* 3: the genuine one is taken; the next message carries a valid mac2 */
	CHECK(wg__cookie_consume_reply(&maker, &reply, 0));
	CHECK(!wg__cookie_consume_reply(&maker, &reply, 0)); /* only once per mac1 sent */
	wg__cookie_add_macs(&maker, (uint8_t *)&msg, sizeof(msg), NS_PER_SEC);
	CHECK_INT(wg__cookie_validate(&checker, (uint8_t *)&msg, sizeof(msg), &from_path, true,
				      NS_PER_SEC),
		  COOKIE_VALID_MAC_WITH_COOKIE);
	/* 4: the cookie is bound to the source address */
	CHECK_INT(wg__cookie_validate(&checker, (uint8_t *)&msg, sizeof(msg), &other_path, true,
				      NS_PER_SEC),
		  COOKIE_VALID_MAC_BUT_NO_COOKIE);
	/* 5: after the secret rotates (2 minutes) the old cookie is no longer valid */
	CHECK_INT(wg__cookie_validate(&checker, (uint8_t *)&msg, sizeof(msg), &from_path, true,
				      200 * NS_PER_SEC),
		  COOKIE_VALID_MAC_BUT_NO_COOKIE);
	/* 6: the maker stops using a cookie older than 115 s */
	wg__cookie_add_macs(&maker, (uint8_t *)&msg, sizeof(msg), 116 * NS_PER_SEC);
	uint8_t zero[16] = { 0 };
	CHECK_MEM(msg.macs.mac2, zero, 16);
}

/* Moves a device's clock so that it reads `at` now. */
static void clock_to(struct wg_device *dev, uint64_t at)
{
	dev->clock_skew_ns = 0;
	dev->clock_skew_ns = at - wg__now(dev);
}

/* The initiator starts a new handshake on its first send after REKEY_AFTER_TIME, while
 * data flows, and not a second earlier; the responder never does on time alone. */
static void rekey_on_time(struct side *a, struct side *b)
{
	struct wg__peer *pa = a->dev->peers_head, *pb = b->dev->peers_head;
	uint8_t pkt[200];
	size_t n = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 40);
	CHECK(pa->kp_cur && pa->kp_cur->i_am_initiator);
	uint64_t birth = pa->kp_cur->birth_ns, sent = pa->last_sent_handshake_ns;
	bool b_sent = pb->has_sent_handshake;

	clock_to(a->dev, birth + (uint64_t)(REKEY_AFTER_TIME - 1) * NS_PER_SEC);
	CHECK_INT(wg_device_send(a->dev, pkt, n), 0);
	CHECK_INT(pa->last_sent_handshake_ns, sent); /* 119 s: no new handshake yet */

	clock_to(b->dev, pb->kp_cur->birth_ns + (uint64_t)(REKEY_AFTER_TIME + 1) * NS_PER_SEC);
	n = ipv4_packet(pkt, "10.0.0.2", "10.0.0.1", 40);
	CHECK_INT(wg_device_send(b->dev, pkt, n), 0);
	CHECK_INT(pb->has_sent_handshake, b_sent); /* the responder waits */

	uint64_t at = birth + (uint64_t)(REKEY_AFTER_TIME + 1) * NS_PER_SEC;
	clock_to(a->dev, at);
	n = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 40);
	CHECK_INT(wg_device_send(a->dev, pkt, n), 0);
	CHECK(pa->last_sent_handshake_ns >= at); /* 121 s: the data send started one */
	settle();
	a->dev->clock_skew_ns = b->dev->clock_skew_ns = 0;
}

static void run_all(void)
{
	struct side a = { 0 }, b = { 0 };
	uint8_t pkt[1500];
	size_t n;

	uv_loop_init(&loop);
	uv_timer_init(&loop, &guard);
	make_side(&a, "wgA");
	make_side(&b, "wgB");
	CHECK(wg_device_listen_port(a.dev) != 0);
	add_peer(&a, &b, "10.0.0.2");
	add_peer(&b, &a, "10.0.0.1");

	/* 1: a packet without a route, and one that is not IP */
	n = ipv4_packet(pkt, "10.0.0.1", "10.7.7.7", 10);
	CHECK_INT(wg_device_send(a.dev, pkt, n), -ENETUNREACH);
	CHECK_INT(wg_device_send(a.dev, (const uint8_t *)"hello", 5), -EINVAL);

	/* 2: first packet is staged, handshake, delivered */
	n = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 100);
	CHECK_INT(wg_device_send(a.dev, pkt, n), 0);
	run();
	CHECK(!timed_out);
	CHECK_INT(b.received, 1);
	CHECK_INT(b.last_len, n);
	CHECK_MEM(b.last, pkt, n);

	/* 3: the reply uses the confirmed keypair */
	n = ipv4_packet(pkt, "10.0.0.2", "10.0.0.1", 1400); /* = MTU: no padding */
	CHECK_INT(wg_device_send(b.dev, pkt, n), 0);
	run();
	CHECK_INT(a.received, 1);
	CHECK_MEM(a.last, pkt, n);

	/* 4: a burst larger than one sendmmsg batch */
	for (int i = 0; i < 150; i++) {
		n = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 1000);
		CHECK_INT(wg_device_send(a.dev, pkt, n), 0);
	}
	int want = b.received + 150;
	for (int i = 0; i < 200 && b.received < want && !timed_out; i++)
		run();
	CHECK_INT(b.received, want);
	settle();

	/* 5: byte counters agree across the two sides, handshake time is set */
	struct wg_peer_status sa, sb;
	CHECK_INT(wg_device_peer_status(a.dev, b.pub, &sa), 0);
	CHECK_INT(wg_device_peer_status(b.dev, a.pub, &sb), 0);
	CHECK_INT(sa.tx_bytes, sb.rx_bytes);
	CHECK_INT(sb.tx_bytes, sa.rx_bytes);
	CHECK(sa.last_handshake_wall_ns != 0 && sb.last_handshake_wall_ns != 0);
	CHECK_INT(sa.n_allowed_ips, 1);
	CHECK_INT(a.dev->stats.handshakes_completed, 1);
	CHECK_INT(b.dev->stats.handshakes_completed, 1);

	bad_input(&a, &b);
	cookies();
	rekey_on_time(&a, &b);

	/* 6: removing the peer drops its route */
	CHECK_INT(wg_device_peer_remove(a.dev, b.pub), 0);
	CHECK_INT(wg_device_peer_remove(a.dev, b.pub), -ENOENT);
	n = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 10);
	CHECK_INT(wg_device_send(a.dev, pkt, n), -ENETUNREACH);

	wg_device_free(a.dev);
	wg_device_free(b.dev);
	loop_finish();
}

int main(void)
{
	for (workers = 0; workers <= 1; workers++) {
		fprintf(stderr, "crypto workers: %u\n", workers);
		run_all();
	}
	return check_finish();
}
