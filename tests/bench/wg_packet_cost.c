/* Driver for tests/bench/wg-packet-cost: two devices on loopback, A sends N IPv4 packets of
 * 1400 bytes to B in bursts of 32 and waits for each burst to arrive.  Run under
 * callgrind twice with different N, the difference of instruction counts divided by the
 * difference of N is the cost of one packet through both devices (send and receive),
 * independent of machine load.  Mode "direct": plain endpoints, no hooks (the data path
 * every existing user has); mode "relayed": the peers have paths, ops.route puts a TURN
 * ChannelData header in the headroom, ops.other unwraps it and wg_device_inject() takes
 * the packet.  Compiled against a build's libmesh_wg.a by the script, with -DWG_HOOKS
 * for a wg/ that has them (a reference build from before them gets the direct mode only). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wg/crypto.h"
#include "wg/wg.h"

enum { BURST = 32 };

static uv_loop_t loop;
static struct wg_device *a, *b;
static unsigned long received;
static uint16_t port_a, port_b;

static void on_recv(void *ctx, const uint8_t *pkt, size_t len)
{
	if (ctx == &b)
		received++;
}

#ifdef WG_HOOKS
static void on_other(void *ctx, uint8_t *buf, size_t len, const struct sockaddr *src)
{
	struct wg_device *dev = *(struct wg_device **)ctx;
	if (len >= 4 && (buf[0] & 0xF0) == 0x40)
		wg_device_inject(dev, 1, buf + 4, len - 4);
}

static int on_route(void *ctx, uint64_t path, size_t len, struct wg_route *r)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&r->to;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(ctx == &a ? port_b : port_a);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->prefix[0] = 0x40;
	r->prefix[1] = 1;
	r->prefix[2] = (uint8_t)(len >> 8);
	r->prefix[3] = (uint8_t)len;
	r->prefix_len = 4;
	return 0;
}
#endif

static void peer(struct wg_device *d, const uint8_t pub[32], uint16_t port, const char *aip,
		 int relayed)
{
	struct addr_prefix al = { .ip.family = AF_INET, .bits = 32 };
	struct wg_peer_config pc = { .persistent_keepalive = -1,
				     .allowed_ips = &al,
				     .n_allowed_ips = 1 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&pc.endpoint;
	inet_pton(AF_INET, aip, al.ip.bytes);
	memcpy(pc.public_key, pub, 32);
#ifdef WG_HOOKS
	if (relayed) {
		pc.set_path = 1;
		pc.path = 1;
	}
#endif
	if (!relayed) {
		pc.set_endpoint = 1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	if (wg_device_peer_set(d, &pc)) {
		fprintf(stderr, "peer_set failed\n");
		exit(1);
	}
}

static void drain(unsigned long want)
{
	for (int i = 0; received < want && i < 1000000; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	int relayed = argc > 1 && !strcmp(argv[1], "relayed");
	uint8_t pa[32], pb[32], puba[32], pubb[32], pkt[1400] = { 0x45 };
	struct wg_device_ops ops = { .recv = on_recv };
	struct wg_device_config ca = { .name = "A", .private_key = pa };
	struct wg_device_config cb = { .name = "B", .private_key = pb };

#ifdef WG_HOOKS
	if (relayed) {
		ops.other = on_other;
		ops.route = on_route;
	}
#else
	if (relayed) {
		fprintf(stderr, "this wg/ has no hooks\n");
		return 2;
	}
#endif
	uv_loop_init(&loop);
	wg__crypto_init();
	wg__gen_privkey(pa);
	wg__gen_privkey(pb);
	wg__pubkey(puba, pa);
	wg__pubkey(pubb, pb);
	if (wg_device_new(&loop, &ca, &ops, &a, &a) || wg_device_new(&loop, &cb, &ops, &b, &b))
		return 1;
	port_a = wg_device_listen_port(a);
	port_b = wg_device_listen_port(b);
	peer(a, pubb, port_b, "10.0.0.2", relayed);
	peer(b, puba, port_a, "10.0.0.1", relayed);
	pkt[2] = sizeof(pkt) >> 8;
	pkt[3] = sizeof(pkt) & 0xff;
	pkt[8] = 64;
	pkt[9] = 17;
	inet_pton(AF_INET, "10.0.0.1", pkt + 12);
	inet_pton(AF_INET, "10.0.0.2", pkt + 16);

	/* the handshake, then N packets in bursts */
	wg_device_send(a, pkt, sizeof(pkt));
	drain(1);
	for (unsigned long sent = 1; sent < n + 1;) {
		for (int i = 0; i < BURST && sent < n + 1; i++, sent++)
			wg_device_send(a, pkt, sizeof(pkt));
		drain(sent);
	}
	printf("%lu received\n", received);
	wg_device_free(a);
	wg_device_free(b);
	while (uv_run(&loop, UV_RUN_DEFAULT))
		;
	return received == n + 1 ? 0 : 1;
}
