/* Fuzz target for the receive path, every message type.  Setup (once): two devices on a
 * private loop complete a real handshake over loopback, so the victim has a peer, a live
 * keypair and cookie state; then the victim's datagrams are switched off (nothing leaves
 * while fuzzing).  The first input byte picks how the rest is used:
 *   0: raw datagram;
 *   1: initiation or response body with a correct mac1 appended (reaches the Noise code);
 *   2: plaintext of a data message encrypted with the live keypair (reaches the inner
 *      IP parsing and the AllowedIPs check), counter from the next two bytes;
 *   3: cookie reply addressed to the attacker-side handshake index;
 *   4: like 0 but under load (mac2 and cookie replies). */
#include <arpa/inet.h>
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "wg/crypto.h"
#include "wg/internal.h"

static uv_loop_t loop;
static struct wg_device *victim, *other;
static uint8_t victim_pub[32];
static struct sockaddr_in from;
static int delivered;

static void on_recv(void *ctx, const uint8_t *pkt, size_t len)
{
	delivered++;
	uv_stop(&loop);
}

static void stop_timer(uv_timer_t *t)
{
	uv_stop(&loop);
}

static struct wg_device *make(const uint8_t priv[32], const char *name)
{
	struct wg_device_ops ops = { .recv = on_recv };
	struct wg_device_config cfg = { .name = name, .private_key = priv };
	struct wg_device *d = NULL;
	wg_device_new(&loop, &cfg, &ops, NULL, &d);
	return d;
}

static void peer(struct wg_device *d, const uint8_t pub[32], uint16_t port, const char *aip)
{
	struct addr_prefix a = { .ip.family = AF_INET, .bits = 32 };
	struct wg_peer_config pc = { .persistent_keepalive = -1,
				     .set_endpoint = true,
				     .allowed_ips = &a,
				     .n_allowed_ips = 1 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&pc.endpoint;
	inet_pton(AF_INET, aip, a.ip.bytes);
	memcpy(pc.public_key, pub, 32);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
	wg_device_peer_set(d, &pc);
}

static void setup(void)
{
	uint8_t pv[32], po[32], pubo[32], pkt[28] = { 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17 };
	uv_timer_t t;

	uv_loop_init(&loop);
	wg__crypto_init();
	wg__gen_privkey(pv);
	wg__gen_privkey(po);
	wg__pubkey(victim_pub, pv);
	wg__pubkey(pubo, po);
	victim = make(pv, "fuzzV");
	other = make(po, "fuzzO");
	if (!victim || !other)
		return;
	peer(victim, pubo, wg_device_listen_port(other), "10.0.0.1");
	peer(other, victim_pub, wg_device_listen_port(victim), "10.0.0.2");
	inet_pton(AF_INET, "10.0.0.1", pkt + 12);
	inet_pton(AF_INET, "10.0.0.2", pkt + 16);
	wg_device_send(other, pkt, sizeof(pkt));
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, stop_timer, 3000, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_timer_stop(&t);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (!delivered)
		fprintf(stderr, "fuzz-wg-receive: setup handshake did not complete\n");
	victim->tx_disabled = true;
	other->tx_disabled = true;
	from = (struct sockaddr_in){ .sin_family = AF_INET,
				     .sin_port = htons(wg_device_listen_port(other)) };
	inet_pton(AF_INET, "127.0.0.1", &from.sin_addr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	uint8_t buf[WG_SLOT_SIZE];
	const struct sockaddr *src = (const struct sockaddr *)&from;
	struct wg__cookie_maker maker;
	size_t len;

	if (!ready) {
		setup();
		ready = true;
	}
	if (!victim || size < 1)
		return 0;
	uint8_t mode = data[0] % 5;
	data++;
	size--;
	victim->under_load_until = 0;
	switch (mode) {
	case 0:
	case 4:
		if (size > sizeof(buf))
			return 0;
		if (mode == 4)
			victim->under_load_until = wg__now(victim) + NS_PER_SEC;
		memcpy(buf, data, size);
		wg__receive(victim, buf, size, src);
		break;
	case 1: {
		len = size & 1 ? MESSAGE_INITIATION_LEN : MESSAGE_RESPONSE_LEN;
		memset(buf, 0, len);
		memcpy(buf, data, size < len - 32 ? size : len - 32);
		buf[0] = size & 1 ? MESSAGE_HANDSHAKE_INITIATION : MESSAGE_HANDSHAKE_RESPONSE;
		buf[1] = buf[2] = buf[3] = 0;
		wg__cookie_maker_init(&maker, victim_pub);
		wg__cookie_add_macs(&maker, buf, len, 0);
		wg__receive(victim, buf, len, src);
		break;
	}
	case 2: {
		struct wg__peer *p = other->peers_head;
		struct wg__keypair *kp = p ? p->kp_cur : NULL;
		if (!kp || size < 2 || size - 2 > sizeof(buf) - 32)
			return 0;
		uint64_t counter = kp->send_counter + (uint64_t)(data[0] | data[1] << 8) - 100;
		struct message_data *m = (struct message_data *)buf;
		memset(buf, 0, 16);
		buf[0] = MESSAGE_DATA;
		memcpy(&m->key_idx, &kp->remote_index, 4);
		m->counter = htole64(counter);
		wg__aead_encrypt(buf + 16, data + 2, size - 2, NULL, 0, counter, kp->send_key);
		wg__receive(victim, buf, 16 + size - 2 + 16, src);
		break;
	}
	case 3: {
		struct wg__peer *p = victim->peers_head;
		if (!p || size > 60)
			return 0;
		memset(buf, 0, MESSAGE_COOKIE_LEN);
		memcpy(buf + 4, data, size);
		buf[0] = MESSAGE_HANDSHAKE_COOKIE;
		buf[1] = buf[2] = buf[3] = 0;
		if (size < 4)
			memcpy(buf + 4, &p->hs.entry.index, 4);
		wg__receive(victim, buf, MESSAGE_COOKIE_LEN, src);
		break;
	}
	}
	wg__flush(victim);
	return 0;
}
