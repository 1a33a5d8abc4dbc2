/* The per-peer timer state machine (paper section 6, the kernel's timers.c) as plain
 * deadlines on an injected clock: callers report what happened (data sent, handshake
 * initiated, ...), only this file decides which timer to arm or disarm, and
 * wg__timers_expire() fires the ones whose deadline passed.  No libuv here, so unit tests
 * drive it with a fake clock; peer.c arms one uv_timer at wg__timers_next(). */
#include "wg/crypto.h"
#include "wg/internal.h"

static uint64_t jitter_ns(const struct wg__timers *t)
{
	uint32_t ms =
	    t->jitter_ms ? t->jitter_ms() : wg__random_u32() % (REKEY_TIMEOUT_JITTER_MAX_MS + 1);
	return (uint64_t)ms * NS_PER_MS;
}

void wg__timers_init(struct wg__timers *t, const struct wg__timer_actions *actions)
{
	uint16_t pk = t->persistent_keepalive_interval;
	uint32_t (*jitter)(void) = t->jitter_ms;
	*t = (struct wg__timers){ .actions = actions,
				  .persistent_keepalive_interval = pk,
				  .jitter_ms = jitter };
}

void wg__timers_stop(struct wg__timers *t)
{
	t->retransmit_handshake = t->send_keepalive = t->new_handshake = 0;
	t->zero_key_material = t->persistent_keepalive = 0;
}

/* Should be called after an authenticated data packet is sent. */
void wg__timers_data_sent(struct wg__timers *t, uint64_t now)
{
	if (!t->new_handshake)
		t->new_handshake = now + NEW_HANDSHAKE_AFTER_SEND * NS_PER_SEC + jitter_ns(t);
}

/* Should be called after an authenticated data packet is received. */
void wg__timers_data_received(struct wg__timers *t, uint64_t now)
{
	if (!t->send_keepalive)
		t->send_keepalive = now + KEEPALIVE_TIMEOUT * NS_PER_SEC;
	else
		t->need_another_keepalive = true;
}

/* Any authenticated packet (keepalive, data, handshake) sent. */
void wg__timers_any_authenticated_packet_sent(struct wg__timers *t)
{
	t->send_keepalive = 0;
}

/* Any authenticated packet received. */
void wg__timers_any_authenticated_packet_received(struct wg__timers *t)
{
	t->new_handshake = 0;
}

/* Any authenticated packet sent or received: pushes the persistent keepalive back. */
void wg__timers_any_authenticated_packet_traversal(struct wg__timers *t, uint64_t now)
{
	if (t->persistent_keepalive_interval)
		t->persistent_keepalive = now + t->persistent_keepalive_interval * NS_PER_SEC;
}

void wg__timers_handshake_initiated(struct wg__timers *t, uint64_t now)
{
	t->retransmit_handshake = now + REKEY_TIMEOUT * NS_PER_SEC + jitter_ns(t);
}

void wg__timers_handshake_complete(struct wg__timers *t)
{
	t->retransmit_handshake = 0;
	t->handshake_attempts = 0;
}

/* A new keypair was derived: all keys go after three REJECT_AFTER_TIMEs without another. */
void wg__timers_session_derived(struct wg__timers *t, uint64_t now)
{
	t->zero_key_material = now + (uint64_t)ZERO_KEYS_AFTER * NS_PER_SEC;
}

static bool due(uint64_t deadline, uint64_t now)
{
	return deadline && deadline <= now;
}

uint64_t wg__timers_expire(struct wg__timers *t, uint64_t now)
{
	if (due(t->retransmit_handshake, now)) {
		t->retransmit_handshake = 0;
		if (t->handshake_attempts > MAX_TIMER_HANDSHAKES) {
			/* Give up; keys still go after the zeroing delay. */
			t->send_keepalive = 0;
			t->actions->give_up(t);
			if (!t->zero_key_material)
				t->zero_key_material = now + (uint64_t)ZERO_KEYS_AFTER * NS_PER_SEC;
		} else {
			++t->handshake_attempts;
			t->actions->send_initiation(t, true);
		}
	}
	if (due(t->send_keepalive, now)) {
		t->send_keepalive = 0;
		t->actions->send_keepalive(t);
		if (t->need_another_keepalive) {
			t->need_another_keepalive = false;
			t->send_keepalive = now + KEEPALIVE_TIMEOUT * NS_PER_SEC;
		}
	}
	if (due(t->new_handshake, now)) {
		/* Sent data for 15 s and heard nothing back: a fresh handshake. */
		t->new_handshake = 0;
		t->actions->send_initiation(t, false);
	}
	if (due(t->zero_key_material, now)) {
		t->zero_key_material = 0;
		t->actions->zero_keys(t);
	}
	if (due(t->persistent_keepalive, now)) {
		t->persistent_keepalive = 0;
		if (t->persistent_keepalive_interval)
			t->actions->send_keepalive(t);
	}
	return wg__timers_next(t);
}

uint64_t wg__timers_next(const struct wg__timers *t)
{
	const uint64_t d[] = { t->retransmit_handshake, t->send_keepalive, t->new_handshake,
			       t->zero_key_material, t->persistent_keepalive };
	uint64_t best = 0;
	for (unsigned int i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (d[i] && (!best || d[i] < best))
			best = d[i];
	return best;
}
