/* Fuzz target for meshd's dispatch of what arrives on the WireGuard socket that is not
 * WireGuard (cmd/daemon/reach.c: meshd_reach_on_other and what it calls — STUN answers,
 * ChannelData, discovery), driven by a real wg_device and a real netmap with two peers
 * and a UDP relay.  The input is a sequence of records, each one of:
 *  - a raw datagram from one of a pool of sources (the relay's address among them): what
 *    anyone on the network can send;
 *  - discovery sealed with a peer's real key around fuzz bytes (what a peer, or its stolen
 *    disco key, can send: the opener's payload parser), or around a well-formed ping,
 *    pong or call-me-maybe with fuzz-chosen txids and candidates (the path manager's
 *    inputs through reach's dispatch);
 *  - WireGuard asking for a peer's route (traffic starts pings), or a roam report;
 *  - a turn of the event loop.
 * Every send goes to the pool's addresses or candidates the fuzzer chose; the process runs
 * in a network namespace of its own with no interface up, so nothing leaves it (needs root,
 * as the test suite is; without it the target refuses to run).
 * Contract after each input: no crash or leak (ASan), every peer's path text is one of
 * "direct ADDR:PORT", "relay ..." or "none", and the drop counters only grow. */
#include <sched.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/daemon/reach/reach.h"
#include "common/addr.h"
#include "common/log.h"
#include "nat/disco.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { PEERS = 2, POOL = 8, MAX_COUNTERS = 64 };

static struct {
	uv_loop_t loop;
	struct wg_device *wg;
	struct meshd_reach *reach; /* this input's */
	struct ctl_netmap *nm;
	uint8_t self_pub[32], self_priv[32];
	uint8_t peer_pub[PEERS][32], peer_priv[PEERS][32], peer_key[PEERS][32];
	uint8_t magic[NAT_DISCO_MAGIC_LEN];
	struct sockaddr_storage pool[POOL];
} g;

static const char *const pool_text[POOL] = {
	"127.0.0.2:3478", /* the relay */
	"127.0.0.3:3478", /* the relay's second address */
	"127.0.0.4:41641", "127.0.0.5:41641", "127.0.0.6:1",
	"[::1]:41641",	   "[::1]:3478",      "127.0.0.2:3479",
};

static void on_other(void *ctx, uint8_t *buf, size_t len, const struct sockaddr *src)
{
	(void)ctx;
	if (g.reach)
		meshd_reach_on_other(g.reach, buf, len, src);
}

static int on_route(void *ctx, uint64_t path, size_t len, struct wg_route *r)
{
	(void)ctx;
	return g.reach ? meshd_reach_route(g.reach, path, len, r) : -ENETUNREACH;
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz-reach: %s\n", what);
	abort();
}

static void parse_addr(const char *text, struct sockaddr_storage *ss)
{
	struct addr_endpoint e;
	if (!addr_endpoint_parse(text, &e, NULL))
		die("pool address");
	addr_endpoint_to_sockaddr(&e, ss);
}

static void b64(const uint8_t k[32], char out[45])
{
	sodium_bin2base64(out, 45, k, 32, sodium_base64_VARIANT_ORIGINAL);
}

static void setup(void)
{
	if (unshare(CLONE_NEWNET) != 0)
		die("cannot enter a network namespace of its own (run as root): nothing may "
		    "leave this process");
	if (sodium_init() < 0 || uv_loop_init(&g.loop) != 0)
		die("init");
	log_set_level(LOG_LEVEL_WARN); /* not a line per input */
	for (size_t i = 0; i < POOL; i++)
		parse_addr(pool_text[i], &g.pool[i]);
	uint8_t seed[32] = { 1 };
	crypto_box_seed_keypair(g.self_pub, g.self_priv, seed);
	for (int i = 0; i < PEERS; i++) {
		seed[0] = (uint8_t)(2 + i);
		crypto_box_seed_keypair(g.peer_pub[i], g.peer_priv[i], seed);
		memset(g.peer_key[i], 0x20 + i, 32);
	}
	/* The magic, from a real message: not a copy of disco.c's constant. */
	struct nat_disco_msg m = { .type = NAT_DISCO_PING };
	uint8_t out[NAT_DISCO_MAX];
	if (nat_disco_seal(&m, g.peer_pub[0], g.peer_priv[0], g.self_pub, out, sizeof(out)) < 0)
		die("seal");
	memcpy(g.magic, out, sizeof(g.magic));

	uint8_t wg_priv[32];
	memset(wg_priv, 0x11, 32);
	wg_priv[0] &= 248;
	wg_priv[31] = (wg_priv[31] & 127) | 64;
	struct wg_device_config wc = { .name = "fuzz0", .private_key = wg_priv };
	struct wg_device_ops ops = { .other = on_other, .route = on_route };
	if (wg_device_new(&g.loop, &wc, &ops, NULL, &g.wg) != 0)
		die("wg_device_new");

	char self_d[45], d0[45], d1[45], k0[45], k1[45], self_k[45], json[2048];
	uint8_t self_key[32];
	memset(self_key, 0x10, 32);
	b64(g.self_pub, self_d);
	b64(g.peer_pub[0], d0);
	b64(g.peer_pub[1], d1);
	b64(g.peer_key[0], k0);
	b64(g.peer_key[1], k1);
	b64(self_key, self_k);
	snprintf(json, sizeof(json),
		 "{\"version\":1,\"self\":{\"id\":1,\"name\":\"self\",\"node_key\":\"%s\","
		 "\"disco_key\":\"%s\",\"addrs\":[\"100.64.0.1/32\"]},"
		 "\"peers\":[{\"id\":2,\"name\":\"a\",\"node_key\":\"%s\",\"disco_key\":\"%s\","
		 "\"addrs\":[\"100.64.0.2/32\"],\"endpoints\":[\"local 127.0.0.4:41641\","
		 "\"relay 127.0.0.2:50000\"]},"
		 "{\"id\":3,\"name\":\"b\",\"node_key\":\"%s\",\"disco_key\":\"%s\","
		 "\"addrs\":[\"100.64.0.3/32\"],\"endpoints\":[\"reflexive 127.0.0.5:41641\","
		 "\"relay 127.0.0.3:50001\"]}],"
		 "\"relays\":[{\"url\":\"turn:127.0.0.2:3478?transport=udp\",\"username\":"
		 "\"4000000000:1\",\"password\":\"cGFzc3dvcmQ=\",\"expires\":4000000000},"
		 "{\"url\":\"turn:127.0.0.3:3478?transport=udp\",\"username\":"
		 "\"4000000000:1\",\"password\":\"cGFzc3dvcmQ=\",\"expires\":4000000000}]}",
		 self_k, self_d, k0, d0, k1, d1);
	char err[256];
	if (ctl_netmap_parse(json, strlen(json), &g.nm, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz-reach: netmap: %s\n", err);
		abort();
	}
}

static void closed(void *arg)
{
	*(bool *)arg = true;
}

/* A sealed discovery datagram from peer i around plaintext (the opener's input). */
static size_t seal_raw(int i, const uint8_t *pt, size_t n, uint8_t *out)
{
	if (n > NAT_DISCO_MAX - NAT_DISCO_HEADER - crypto_box_MACBYTES)
		n = NAT_DISCO_MAX - NAT_DISCO_HEADER - crypto_box_MACBYTES;
	memcpy(out, g.magic, NAT_DISCO_MAGIC_LEN);
	memcpy(out + NAT_DISCO_MAGIC_LEN, g.peer_pub[i], 32);
	uint8_t *nonce = out + NAT_DISCO_MAGIC_LEN + 32;
	randombytes_buf(nonce, 24);
	if (crypto_box_easy(out + NAT_DISCO_HEADER, pt, n, nonce, g.self_pub, g.peer_priv[i]))
		die("crypto_box_easy");
	return NAT_DISCO_HEADER + crypto_box_MACBYTES + n;
}

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint8_t byte(struct reader *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static void check_state(uint64_t before[MAX_COUNTERS], bool first);

/* Hands reach a copy of exactly len bytes, so ASan sees a read past the datagram. */
static void deliver(const uint8_t *p, size_t len, const struct sockaddr *src)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		die("out of memory");
	memcpy(copy, p, len);
	meshd_reach_on_other(g.reach, copy, len, src);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g.nm)
		setup();
	if (meshd_reach_new(&g.loop, g.wg, &g.reach) != 0)
		die("meshd_reach_new");
	meshd_reach_set_node_key(g.reach, g.nm->self.node_key);
	meshd_reach_set_disco_key(g.reach, g.self_pub, g.self_priv);
	meshd_reach_apply_netmap(g.reach, g.nm);
	uint64_t counters[MAX_COUNTERS];
	check_state(counters, true);

	struct reader in = { data, size };
	uint8_t buf[2048];
	for (int steps = 0; in.n && steps < 64; steps++) {
		uint8_t op = byte(&in);
		const struct sockaddr *src = (const struct sockaddr *)&g.pool[byte(&in) % POOL];
		int peer = op >> 7;
		size_t len = byte(&in);
		len = len | (size_t)(op & 0x40 ? byte(&in) & 7 : 0) << 8;
		if (len > in.n)
			len = in.n;
		switch (op % 6) {
		case 0: /* raw datagram */
			deliver(in.p, len, src);
			break;
		case 1: { /* sealed fuzz bytes */
			deliver(buf, seal_raw(peer, in.p, len, buf), src);
			break;
		}
		case 2: { /* a well-formed message with fuzz-chosen fields */
			struct nat_disco_msg m = { .type = (enum nat_disco_type)(len % 3 + 1) };
			struct reader f = { in.p, len };
			for (size_t i = 0; i < NAT_DISCO_TXID; i++)
				m.txid[i] = byte(&f);
			memcpy(m.node_key, byte(&f) & 1 ? g.peer_key[peer] : g.peer_key[!peer], 32);
			m.src = g.pool[byte(&f) % POOL];
			m.n_cand = byte(&f) % (NAT_DISCO_MAX_CANDIDATES + 1);
			for (size_t i = 0; i < m.n_cand; i++)
				m.cand[i] = g.pool[byte(&f) % POOL];
			int n = nat_disco_seal(&m, g.peer_pub[peer], g.peer_priv[peer], g.self_pub,
					       buf, sizeof(buf));
			if (n > 0)
				deliver(buf, (size_t)n, src);
			break;
		}
		case 3: { /* WireGuard sends to the peer: traffic */
			struct wg_route r;
			uint64_t h = meshd_reach_peer_handle(g.reach, g.peer_key[peer]);
			meshd_reach_route(g.reach, h ? h : len, len ? len : 32, &r);
			break;
		}
		case 4: { /* a roam report */
			struct wg_source from = { 0 };
			memcpy(&from.addr, src, sizeof(struct sockaddr_storage));
			meshd_reach_on_roam(g.reach, g.peer_key[peer], &from);
			break;
		}
		default:
			uv_run(&g.loop, UV_RUN_NOWAIT);
			break;
		}
		in.p += len;
		in.n -= len;
	}
	check_state(counters, false);
	bool done = false;
	meshd_reach_close(g.reach, closed, &done);
	g.reach = NULL;
	while (!done)
		uv_run(&g.loop, UV_RUN_NOWAIT);
	return 0;
}

struct counted {
	uint64_t *v;
	size_t n;
};

static void count(void *ctx, const char *name, uint64_t value)
{
	struct counted *c = ctx;
	(void)name;
	if (c->n < MAX_COUNTERS)
		c->v[c->n++] = value;
}

static void check_state(uint64_t before[MAX_COUNTERS], bool first)
{
	uint64_t now[MAX_COUNTERS] = { 0 };
	struct counted c = { now, 0 };
	meshd_reach_counters(g.reach, count, &c);
	for (size_t i = 0; !first && i < c.n; i++)
		if (now[i] < before[i])
			die("a counter went down");
	memcpy(before, now, sizeof(now));
	for (int i = 0; i < PEERS; i++) {
		char text[MESHD_REACH_PATH_TEXT];
		int64_t rtt;
		if (meshd_reach_peer_path(g.reach, g.peer_key[i], text, &rtt) != 0)
			die("a peer of the netmap has no path");
		if (strncmp(text, "direct ", 7) != 0 && strncmp(text, "relay ", 6) != 0 &&
		    strcmp(text, "none") != 0)
			die("a path text that is none of direct, relay, none");
	}
	struct ctl_lapi_alloc a;
	meshd_reach_alloc_status(g.reach, &a);
}
