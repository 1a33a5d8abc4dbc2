/* The hooks a path manager uses, on two devices over loopback:
 *  1. ops.other gets exactly the datagrams that are not WireGuard (bytes, length, source),
 *     from the socket; without it they land in wg/'s drop counters as before;
 *  2. peers with paths instead of endpoints: every datagram asks ops.route, leaves with a
 *     TURN ChannelData header in the headroom (also the oversized, unbatched one), comes
 *     back through ops.other and wg_device_inject(): handshake and data both ways;
 *  3. roaming: with ops.roam an authenticated packet from a new source is reported and
 *     the peer stays on its path; without it the peer follows (socket address or path);
 *     a peer with nowhere to send takes the first source;
 *     an initiation from a new source is answered on that source;
 *  4. the handshake rate limit and cookies are per path: two peers behind one relay
 *     address do not share a bucket; a cookie reply to an injected initiation goes back on
 *     its path;
 *  5. wg_device_send_datagram() and the errors of the calls;
 *  6. wg_device_peer_path_ready(): a handshake whose initiation found no way goes again as
 *     soon as the embedder has one (relay allocated, pong), not at its retransmit timer. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/key.h"
#include "pair.h"

enum { PATH_AB = 0xA1, PATH_BA = 0xB1, PATH_OTHER = 0xB2, PATH_PROBE = 0xC3 };

struct seen {
	int n;
	size_t len;
	uint8_t buf[4096];
	struct sockaddr_storage src;
};

struct side {
	struct wg_device *dev;
	uint8_t priv[32], pub[32];
	struct seen in;	   /* ops.recv */
	struct seen other; /* ops.other */
	int channeldata;   /* of those, ChannelData that was injected */
	uint16_t last_channel;
	uint16_t port_to;   /* route: the other side's port */
	uint16_t channel;   /* route: the channel we prefix */
	uint64_t inject_as; /* the path our ChannelData is injected on */
	int routes;	    /* route calls */
	uint64_t last_path;
	size_t last_route_len;
	bool refuse;	     /* route refuses */
	uint16_t probe_port; /* route for PATH_PROBE: a plain test socket */
	int roams;
	uint8_t roam_key[32];
	struct wg_source roam_from;
};

static void note(struct seen *w, const uint8_t *buf, size_t len)
{
	w->n++;
	w->len = len;
	memcpy(w->buf, buf, len < sizeof(w->buf) ? len : sizeof(w->buf));
}

static void on_recv(void *ctx, const uint8_t *pkt, size_t len)
{
	note(&((struct side *)ctx)->in, pkt, len);
	uv_stop(&loop);
}

/* The embedder's side of a relay: ChannelData in, its payload injected on our path. */
static void on_other(void *ctx, uint8_t *buf, size_t len, const struct sockaddr *src)
{
	struct side *s = ctx;
	note(&s->other, buf, len);
	memcpy(&s->other.src, src, sizeof(struct sockaddr_in));
	if (len >= 4 && (buf[0] & 0xF0) == 0x40 && (size_t)(buf[2] << 8 | buf[3]) == len - 4) {
		s->channeldata++;
		s->last_channel = (uint16_t)(buf[0] << 8 | buf[1]);
		CHECK_INT(wg_device_inject(s->dev, s->inject_as, buf + 4, len - 4), 0);
	}
}

static void loopback(struct sockaddr_storage *ss, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
}

static int on_route(void *ctx, uint64_t path, size_t len, struct wg_route *r)
{
	struct side *s = ctx;
	s->routes++;
	s->last_path = path;
	s->last_route_len = len;
	if (s->refuse)
		return -EHOSTUNREACH;
	loopback(&r->to, path == PATH_PROBE ? s->probe_port : s->port_to);
	r->prefix[0] = (uint8_t)(s->channel >> 8);
	r->prefix[1] = (uint8_t)s->channel;
	r->prefix[2] = (uint8_t)(len >> 8);
	r->prefix[3] = (uint8_t)len;
	r->prefix_len = 4;
	return 0;
}

static void on_roam(void *ctx, const uint8_t key[WG_KEY_LEN], const struct wg_source *from)
{
	struct side *s = ctx;
	s->roams++;
	memcpy(s->roam_key, key, 32);
	s->roam_from = *from;
}

static void make_side(struct side *s, const char *name, const struct wg_device_ops *ops)
{
	struct wg_device_config cfg = { .name = name, .private_key = s->priv };
	wg__gen_privkey(s->priv);
	wg__pubkey(s->pub, s->priv);
	CHECK_INT(wg_device_new(&loop, &cfg, ops, s, &s->dev), 0);
	/* the device's clock starts an hour in, so per_path's made-up instants (1000 s, 1100 s)
	 * lie in its past also on a machine booted minutes ago: the buckets they drained have
	 * refilled when answer_on_source's real initiation comes from the same address */
	s->dev->clock_skew_ns = 3600 * NS_PER_SEC;
}

static void add_peer(struct side *s, struct side *other, const char *aip, uint64_t path)
{
	struct addr_prefix a = { .ip.family = AF_INET, .bits = 32 };
	struct wg_peer_config pc = { .persistent_keepalive = -1,
				     .set_path = true,
				     .path = path,
				     .allowed_ips = &a,
				     .n_allowed_ips = 1 };
	inet_pton(AF_INET, aip, a.ip.bytes);
	memcpy(pc.public_key, other->pub, 32);
	CHECK_INT(wg_device_peer_set(s->dev, &pc), 0);
}

static int test_socket(uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(struct sockaddr_in);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	loopback(&ss, 0);
	CHECK_INT(bind(fd, (struct sockaddr *)&ss, len), 0);
	CHECK_INT(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* 1: what is not WireGuard goes to ops.other, through the real socket and as is. */
static void other_hook(struct side *b, struct side *plain)
{
	static const uint8_t stun[20] = { 0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42, 7 };
	uint8_t buf[200] = { 1 }; /* a 147-byte "initiation": not WireGuard */
	struct sockaddr_storage to;
	uint16_t port;
	int fd = test_socket(&port);

	loopback(&to, wg_device_listen_port(b->dev));
	int before = b->other.n;
	uint64_t rx_other = b->dev->stats.rx_other;
	CHECK_INT(
	    sendto(fd, stun, sizeof(stun), 0, (struct sockaddr *)&to, sizeof(struct sockaddr_in)),
	    sizeof(stun));
	settle();
	CHECK_INT(b->other.n, before + 1);
	CHECK_INT(b->other.len, sizeof(stun));
	CHECK_MEM(b->other.buf, stun, sizeof(stun));
	CHECK_INT(ntohs(((struct sockaddr_in *)&b->other.src)->sin_port), port);
	CHECK_INT(b->dev->stats.rx_other, rx_other + 1);

	/* near misses of WireGuard too; WireGuard itself never */
	struct sockaddr_in from;
	memcpy(&from, &to, sizeof(from));
	uint64_t size = b->dev->stats.drop_size, mac1 = b->dev->stats.drop_mac1;
	wg__receive(b->dev, buf, 147, (struct sockaddr *)&from);
	CHECK_INT(b->other.n, before + 2);
	CHECK_INT(b->other.len, 147);
	wg__receive(b->dev, buf, 148, (struct sockaddr *)&from);
	CHECK_INT(b->other.n, before + 2);
	CHECK_INT(b->dev->stats.drop_mac1, mac1 + 1);
	CHECK_INT(b->dev->stats.drop_size, size);

	/* without the hook: dropped and counted, as before */
	size = plain->dev->stats.drop_size;
	uint64_t type = plain->dev->stats.drop_type;
	wg__receive(plain->dev, buf, 147, (struct sockaddr *)&from);
	wg__receive(plain->dev, (uint8_t *)stun, sizeof(stun), (struct sockaddr *)&from);
	CHECK_INT(plain->dev->stats.drop_size, size + 1);
	CHECK_INT(plain->dev->stats.drop_type, type + 1);
	CHECK_INT(plain->dev->stats.rx_other, 0);
	close(fd);
}

/* 2: both peers on paths: everything goes through route + ChannelData + inject. */
static void relayed(struct side *a, struct side *b)
{
	uint8_t pkt[2200];
	size_t n = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 100);
	uint64_t a_tx = a->dev->stats.tx_packets, b_other = b->dev->stats.rx_other;

	CHECK_INT(wg_device_send(a->dev, pkt, n), 0);
	run();
	CHECK(!timed_out);
	CHECK_INT(b->in.n, 1);
	CHECK_INT(b->in.len, n);
	CHECK_MEM(b->in.buf, pkt, n);
	/* initiation and data went to B as ChannelData on A's channel; the response to A */
	CHECK_INT(a->dev->stats.tx_packets, a_tx + 2);
	CHECK_INT(b->channeldata, 2);
	CHECK_INT(b->last_channel, 0x4001);
	CHECK_INT(a->channeldata, 1);
	CHECK_INT(a->last_channel, 0x4002);
	CHECK_INT(a->last_path, PATH_AB);
	CHECK_INT(b->last_path, PATH_BA);
	CHECK_INT(a->last_route_len, 16 + 128 + 16); /* 120 bytes padded to 128 */
	CHECK_INT(b->dev->stats.rx_other, b_other + 2);

	/* the reply, and one larger than a batch slot (sent on its own, prefix included) */
	n = ipv4_packet(pkt, "10.0.0.2", "10.0.0.1", 1380);
	CHECK_INT(wg_device_send(b->dev, pkt, n), 0);
	run();
	CHECK_INT(a->in.n, 1);
	CHECK_MEM(a->in.buf, pkt, n);
	n = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 2100);
	CHECK_INT(wg_device_send(a->dev, pkt, n), 0);
	run();
	CHECK_INT(b->in.n, 2);
	CHECK_INT(b->in.len, n);
	CHECK_MEM(b->in.buf, pkt, n);
	CHECK_INT(b->other.len, 4 + 16 + n + 16);
	CHECK_INT(a->last_route_len, 16 + n + 16);
	settle();

	/* no endpoint was learned or needed; byte counts agree (WireGuard bytes) */
	struct wg_peer_status sa, sb;
	CHECK_INT(wg_device_peer_status(a->dev, b->pub, &sa), 0);
	CHECK_INT(wg_device_peer_status(b->dev, a->pub, &sb), 0);
	CHECK(!sa.has_endpoint && !sb.has_endpoint);
	CHECK_INT(sa.path, PATH_AB);
	CHECK_INT(sb.path, PATH_BA);
	CHECK_INT(sa.tx_bytes, sb.rx_bytes);
	CHECK_INT(sb.tx_bytes, sa.rx_bytes);
	CHECK_INT(a->roams + b->roams, 0);

	/* the route refuses: counted, nothing leaves */
	a->refuse = true;
	uint64_t tx = a->dev->stats.tx_packets, no_path = a->dev->stats.drop_no_path;
	n = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 10);
	CHECK_INT(wg_device_send(a->dev, pkt, n), 0);
	CHECK_INT(a->dev->stats.drop_no_path, no_path + 1);
	CHECK_INT(a->dev->stats.tx_packets, tx);
	a->refuse = false;
}

/* 3: where authenticated packets from a new source lead. */
static void roaming(struct side *a, struct side *b)
{
	struct wg__peer *pb = b->dev->peers_head; /* B's peer A */
	const struct wg__keypair *kp = a->dev->peers_head->kp_cur;
	struct sockaddr_storage s;
	uint8_t buf[256], inner[64];
	size_t n = ipv4_packet(inner, "10.0.0.1", "10.0.0.2", 20), len;
	uint64_t ctr = 5000;

	loopback(&s, 40000);
	/* with ops.roam: reported, not followed; the packet itself is delivered */
	int before = b->in.n;
	len = forge_with(kp, buf, ctr++, inner, n);
	wg__receive(b->dev, buf, len, (struct sockaddr *)&s);
	CHECK_INT(b->in.n, before + 1);
	CHECK_INT(b->roams, 1);
	CHECK_MEM(b->roam_key, a->pub, 32);
	CHECK_INT(b->roam_from.path, 0);
	CHECK_MEM(&b->roam_from.addr, &s, sizeof(struct sockaddr_in));
	CHECK_INT(pb->path, PATH_BA);
	CHECK(!pb->has_endpoint);
	/* on its own path: nothing to report; on another path: reported */
	len = forge_with(kp, buf, ctr++, inner, n);
	CHECK_INT(wg_device_inject(b->dev, PATH_BA, buf, len), 0);
	CHECK_INT(b->roams, 1);
	len = forge_with(kp, buf, ctr++, inner, n);
	CHECK_INT(wg_device_inject(b->dev, PATH_OTHER, buf, len), 0);
	CHECK_INT(b->roams, 2);
	CHECK_INT(b->roam_from.path, PATH_OTHER);
	CHECK_INT(pb->path, PATH_BA);

	/* without ops.roam: built-in roaming follows the socket address, then a path */
	b->dev->ops.roam = NULL;
	len = forge_with(kp, buf, ctr++, inner, n);
	wg__receive(b->dev, buf, len, (struct sockaddr *)&s);
	CHECK_INT(pb->path, 0);
	CHECK(pb->has_endpoint);
	CHECK_MEM(&pb->endpoint, &s, sizeof(struct sockaddr_in));
	len = forge_with(kp, buf, ctr++, inner, n);
	CHECK_INT(wg_device_inject(b->dev, PATH_BA, buf, len), 0);
	CHECK_INT(pb->path, PATH_BA);
	CHECK_INT(b->roams, 2);

	/* with ops.roam, a peer with nowhere to send takes the first source, and says so */
	b->dev->ops.roam = on_roam;
	pb->path = 0;
	pb->has_endpoint = false;
	len = forge_with(kp, buf, ctr++, inner, n);
	CHECK_INT(wg_device_inject(b->dev, PATH_OTHER, buf, len), 0);
	CHECK_INT(pb->path, PATH_OTHER);
	CHECK_INT(b->roams, 3);
	pb->path = PATH_BA;
}

/* An initiation with a valid mac1 and garbage inside (it passes the rate limit, then
 * fails in Noise). */
static void junk_initiation(struct side *to, uint8_t *buf)
{
	struct wg__cookie_maker maker;
	wg__cookie_maker_init(&maker, to->pub);
	memset(buf, 0x33, MESSAGE_INITIATION_LEN);
	memset(buf, 0, 4);
	buf[0] = MESSAGE_HANDSHAKE_INITIATION;
	wg__cookie_add_macs(&maker, buf, MESSAGE_INITIATION_LEN, 0);
}

/* 3b: an initiation from a new source is answered there at once (the peer restarted on
 * another address), not on the path it had: no route asked, no ChannelData. */
static void answer_on_source(struct side *a, struct side *b)
{
	struct wg__peer *pa = a->dev->peers_head; /* A's peer B */
	struct sockaddr_storage to_b;
	loopback(&to_b, a->port_to);
	pa->path = 0;
	wg__peer_set_endpoint(pa, (struct sockaddr *)&to_b);
	const struct wg__keypair *before = pa->kp_cur;
	int routes = b->routes, cd = a->channeldata, roams = b->roams;
	pa->has_sent_handshake = false; /* REKEY_TIMEOUT since the last one, as if */
	wg__send_handshake_initiation(pa, false);
	settle();
	CHECK(pa->kp_cur != before); /* the response arrived */
	CHECK_INT(b->routes, routes);
	CHECK_INT(a->channeldata, cd);
	CHECK(b->roams > roams); /* still reported: the path manager decides the rest */
	pa->has_endpoint = false;
	pa->path = PATH_AB;
}

/* 4: the rate limit and cookies per path; colliding sources share a bucket; the table is
 * keyed per device (other: another device). */
static void per_path(struct side *b, const struct wg_device *other)
{
	struct wg_device *dev = b->dev;
	struct sockaddr_storage p1, p2;
	struct wg__path r1 = { .id = 0x1001 }, r2 = { .id = 0x1002 };
	uint64_t now = 1000 * NS_PER_SEC;
	uint8_t buf[MESSAGE_INITIATION_LEN];

	/* the bucket at one instant: INITIATIONS_BURSTABLE per source */
	loopback(&p1, 1000);
	loopback(&p2, 2000);
	struct wg__path s1 = { .sa = (struct sockaddr *)&p1 },
			s2 = { .sa = (struct sockaddr *)&p2 };
	for (int i = 0; i < INITIATIONS_BURSTABLE; i++)
		CHECK(wg__ratelimit_allow(dev, &r1, now));
	CHECK(!wg__ratelimit_allow(dev, &r1, now));
	/* another peer behind the same relay (another path) has its own bucket */
	CHECK(wg__ratelimit_allow(dev, &r2, now));
	/* two ports of one address share theirs, as always */
	for (int i = 0; i < INITIATIONS_BURSTABLE; i++)
		CHECK(wg__ratelimit_allow(dev, &s1, now));
	CHECK(!wg__ratelimit_allow(dev, &s2, now));
	/* one cost later the bucket has a token again */
	CHECK(wg__ratelimit_allow(dev, &r1, now + NS_PER_SEC / INITIATIONS_PER_SECOND));
	/* two sources that land in one slot share its bucket: taking turns gives neither a
	 * fresh burst (a reset per turn would be no limit at all) */
	struct wg__path c1 = { .id = 0x3000 }, c2 = { .id = 0x3001 };
	while (wg__ratelimit_slot_of(dev, &c2) != wg__ratelimit_slot_of(dev, &c1))
		c2.id++;
	now += 100 * NS_PER_SEC;
	int passed = 0;
	for (int i = 0; i < 4 * INITIATIONS_BURSTABLE; i++)
		passed += wg__ratelimit_allow(dev, i % 2 ? &c2 : &c1, now);
	CHECK_INT(passed, INITIATIONS_BURSTABLE);
	/* the slot index is keyed per device: another device puts these sources elsewhere */
	int same = 0;
	for (uint64_t id = 1; id <= 64; id++) {
		struct wg__path q = { .id = id };
		same += wg__ratelimit_slot_of(dev, &q) == wg__ratelimit_slot_of(other, &q);
	}
	CHECK(same < 64);

	/* through wg_device_inject: path 0x2001 runs dry, 0x2002 still passes */
	uint64_t rl = dev->stats.drop_ratelimit, hs = dev->stats.drop_handshake;
	for (int i = 0; i < 3 * INITIATIONS_BURSTABLE; i++) {
		junk_initiation(b, buf);
		CHECK_INT(wg_device_inject(dev, 0x2001, buf, sizeof(buf)), 0);
	}
	CHECK(dev->stats.drop_ratelimit > rl);
	CHECK_INT(dev->stats.drop_ratelimit + dev->stats.drop_handshake, rl + hs + 15);
	rl = dev->stats.drop_ratelimit;
	junk_initiation(b, buf);
	CHECK_INT(wg_device_inject(dev, 0x2002, buf, sizeof(buf)), 0);
	CHECK_INT(dev->stats.drop_ratelimit, rl);

	/* under load: the cookie reply goes back on the initiation's path, with its prefix */
	uint16_t port;
	int fd = test_socket(&port);
	b->probe_port = port;
	dev->under_load_until = wg__now(dev) + NS_PER_SEC;
	uint64_t sent = dev->stats.cookie_replies_sent;
	junk_initiation(b, buf);
	CHECK_INT(wg_device_inject(dev, PATH_PROBE, buf, sizeof(buf)), 0);
	CHECK_INT(dev->stats.cookie_replies_sent, sent + 1);
	CHECK_INT(b->last_path, PATH_PROBE);
	CHECK_INT(b->last_route_len, MESSAGE_COOKIE_LEN);
	settle();
	uint8_t got[128];
	CHECK_INT(recv(fd, got, sizeof(got), 0), 4 + MESSAGE_COOKIE_LEN);
	CHECK_INT(got[0] << 8 | got[1], b->channel);
	CHECK_INT(got[2] << 8 | got[3], MESSAGE_COOKIE_LEN);
	CHECK_INT(got[4], MESSAGE_HANDSHAKE_COOKIE);
	dev->under_load_until = 0;
	close(fd);

	/* a cookie made for one path is no good on another */
	struct wg__cookie_maker maker;
	struct message_handshake_cookie reply;
	wg__cookie_maker_init(&maker, b->pub);
	junk_initiation(b, buf);
	wg__cookie_add_macs(&maker, buf, sizeof(buf), now);
	wg__cookie_create_reply(&dev->checker, &reply, buf, sizeof(buf), 0, &r1, now);
	CHECK(wg__cookie_consume_reply(&maker, &reply, now));
	wg__cookie_add_macs(&maker, buf, sizeof(buf), now);
	CHECK_INT(wg__cookie_validate(&dev->checker, buf, sizeof(buf), &r1, true, now),
		  COOKIE_VALID_MAC_WITH_COOKIE);
	CHECK_INT(wg__cookie_validate(&dev->checker, buf, sizeof(buf), &r2, true, now),
		  COOKIE_VALID_MAC_BUT_NO_COOKIE);
}

/* 5: the embedder's own datagrams, and the calls' errors. */
static void calls(struct side *a, struct side *plain)
{
	uint16_t port;
	int fd = test_socket(&port);
	struct sockaddr_storage to;
	struct sockaddr_un_like {
		sa_family_t family;
		char path[20];
	} unix_addr = { .family = AF_UNIX };
	uint8_t big[2049] = { 0 }, got[64];
	uint64_t tx = a->dev->stats.tx_packets;

	loopback(&to, port);
	CHECK_INT(
	    wg_device_send_datagram(a->dev, (struct sockaddr *)&to, (const uint8_t *)"stun!", 5),
	    0);
	settle();
	CHECK_INT(recv(fd, got, sizeof(got), 0), 5);
	CHECK_MEM(got, "stun!", 5);
	CHECK_INT(a->dev->stats.tx_other, 1);
	CHECK_INT(a->dev->stats.tx_packets, tx);
	CHECK_INT(wg_device_send_datagram(a->dev, (struct sockaddr *)&to, big, sizeof(big)),
		  -EMSGSIZE);
	CHECK_INT(wg_device_send_datagram(a->dev, (struct sockaddr *)&unix_addr, big, 4),
		  -EAFNOSUPPORT);
	close(fd);

	CHECK_INT(wg_device_inject(a->dev, 0, big, 32), -EINVAL);
	CHECK_INT(wg_device_inject(plain->dev, 7, big, 32), -EOPNOTSUPP);
	struct wg_peer_config pc = { .persistent_keepalive = -1, .set_path = true, .path = 7 };
	memcpy(pc.public_key, a->pub, 32);
	CHECK_INT(wg_device_peer_set(plain->dev, &pc), -EOPNOTSUPP);
	pc.path = 0; /* "no path" needs no hook */
	CHECK_INT(wg_device_peer_set(plain->dev, &pc), 0);
	struct wg_peer_status st;
	CHECK_INT(wg_device_peer_status(plain->dev, a->pub, &st), 0);
	CHECK_INT(st.path, 0);
}

/* Runs the loop until something calls uv_stop() (a packet arrived) or ms pass. */
static void run_for(uint64_t ms)
{
	timed_out = false;
	uv_timer_start(&guard, on_guard, ms, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_timer_stop(&guard);
}

static void path_ready(const struct wg_device_ops *ops)
{
	struct side c = { .channel = 0x4003, .inject_as = PATH_AB, .refuse = true },
		    d = { .channel = 0x4004, .inject_as = PATH_BA };
	uint8_t pkt[200], nobody[32] = { 0 };
	size_t n = ipv4_packet(pkt, "10.0.0.1", "10.0.0.2", 100);

	make_side(&c, "wgC", ops);
	make_side(&d, "wgD", ops);
	c.port_to = wg_device_listen_port(d.dev);
	d.port_to = wg_device_listen_port(c.dev);
	add_peer(&c, &d, "10.0.0.2", PATH_AB);
	add_peer(&d, &c, "10.0.0.1", PATH_BA);
	CHECK_INT(wg_device_send(c.dev, pkt, n), 0);
	settle();
	CHECK(c.routes >= 1); /* the initiation asked its way and found none */
	CHECK_INT(d.other.n, 0);
	c.refuse = false;
	CHECK_INT(wg_device_peer_path_ready(c.dev, d.pub), 0); /* within the spacing */
	run_for(WG_PATH_READY_SPACING_MS + 50);
	CHECK_INT(wg_device_peer_path_ready(c.dev, d.pub), 1);
	run_for(2000); /* the retransmit timer is 5 s or more away */
	CHECK(!timed_out);
	CHECK_INT(d.in.n, 1); /* the staged packet, once the handshake completed */
	CHECK_MEM(d.in.buf, pkt, n);
	CHECK_INT(wg_device_peer_path_ready(c.dev, d.pub), 0); /* a session: nothing in flight */
	CHECK_INT(wg_device_peer_path_ready(c.dev, nobody), -ENOENT);
	wg_device_free(c.dev);
	wg_device_free(d.dev);
}

int main(void)
{
	struct side a = { .channel = 0x4001, .inject_as = PATH_AB },
		    b = { .channel = 0x4002, .inject_as = PATH_BA }, plain = { 0 };
	const struct wg_device_ops hooked = {
		.recv = on_recv, .other = on_other, .route = on_route, .roam = on_roam
	};
	const struct wg_device_ops bare = { .recv = on_recv };

	uv_loop_init(&loop);
	uv_timer_init(&loop, &guard);
	make_side(&a, "wgA", &hooked);
	make_side(&b, "wgB", &hooked);
	make_side(&plain, "wgP", &bare);
	a.port_to = wg_device_listen_port(b.dev);
	b.port_to = wg_device_listen_port(a.dev);
	add_peer(&a, &b, "10.0.0.2", PATH_AB);
	add_peer(&b, &a, "10.0.0.1", PATH_BA);

	other_hook(&b, &plain);
	b.other.n = 0;
	relayed(&a, &b);
	roaming(&a, &b);
	per_path(&b, a.dev);
	answer_on_source(&a, &b);
	calls(&a, &plain);
	path_ready(&hooked);

	wg_device_free(a.dev);
	wg_device_free(b.dev);
	wg_device_free(plain.dev);
	loop_finish();
	return check_finish();
}
