/* What the device tests share: one libuv loop with a guard timer, running it until a packet
 * arrives or a few iterations pass, IPv4 packets to send, data messages forged with a live
 * keypair, and the check that the loop closes with no handle left. */
#ifndef MESH_TESTS_WG_PAIR_H
#define MESH_TESTS_WG_PAIR_H

#include <arpa/inet.h>
#include <endian.h>
#include <string.h>

#include "check.h"
#include "wg/crypto.h"
#include "wg/internal.h"

static uv_loop_t loop;
static uv_timer_t guard;
static bool timed_out;

static void on_guard(uv_timer_t *t)
{
	timed_out = true;
	uv_stop(&loop);
}

/* Runs the loop until something calls uv_stop() (a packet arrived) or 5 s pass. */
static void run(void)
{
	timed_out = false;
	uv_timer_start(&guard, on_guard, 5000, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_timer_stop(&guard);
}

/* Lets pending datagrams be delivered (a few loop iterations). */
static void settle(void)
{
	for (int i = 0; i < 20; i++) {
		uv_timer_start(&guard, on_guard, 5, 0);
		uv_run(&loop, UV_RUN_ONCE);
	}
	uv_timer_stop(&guard);
}

static size_t ipv4_packet(uint8_t *buf, const char *src, const char *dst, size_t payload)
{
	size_t len = 20 + payload;
	memset(buf, 0, len);
	buf[0] = 0x45;
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	buf[8] = 64;
	buf[9] = 17;
	inet_pton(AF_INET, src, buf + 12);
	inet_pton(AF_INET, dst, buf + 16);
	for (size_t i = 0; i < payload; i++)
		buf[20 + i] = (uint8_t)i;
	return len;
}

/* A data message sent with kp (the sender's current keypair), with the given counter. */
static size_t forge_with(const struct wg__keypair *kp, uint8_t *out, uint64_t counter,
			 const uint8_t *inner, size_t len)
{
	struct message_data *m = (struct message_data *)out;
	memset(out, 0, 16);
	out[0] = MESSAGE_DATA;
	memcpy(&m->key_idx, &kp->remote_index, 4);
	m->counter = htole64(counter);
	wg__aead_encrypt(out + 16, inner, len, NULL, 0, counter, kp->send_key);
	return 16 + len + 16;
}

static void walk_cb(uv_handle_t *h, void *arg)
{
	fprintf(stderr, "left: %s handle\n", uv_handle_type_name(h->type));
}

/* After the devices were freed: closes the guard and checks that nothing is left. */
static void loop_finish(void)
{
	uv_close((uv_handle_t *)&guard, NULL);
	while (uv_run(&loop, UV_RUN_DEFAULT)) /* an earlier uv_stop() may end the first pass */
		;
	uv_walk(&loop, walk_cb, NULL);
	CHECK_INT(uv_loop_close(&loop), 0);
}

#endif
