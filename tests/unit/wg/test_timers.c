/* The timer state machine on a fake clock (no sleeping): each numbered case reports
 * events the way send.c and receive.c do and checks which actions fire when, including
 * the retry/give-up sequence (MAX_TIMER_HANDSHAKES + 2 initiations over ~90 s), the
 * keepalive after data received, the new handshake after 15 s of unanswered sending,
 * persistent keepalive and zeroing keys after 540 s. */
#include "check.h"
#include "wg/internal.h"

#define S(x) ((uint64_t)(x)*NS_PER_SEC)
#define MS(x) ((uint64_t)(x)*NS_PER_MS)

static uint64_t now;
static int initiations, retries, keepalives, zeroed, gave_up;
static bool sender_rearms = true;

static void act_init(struct wg__timers *t, bool is_retry)
{
	initiations++;
	retries += is_retry;
	/* what wg__send_handshake_initiation reports */
	wg__timers_any_authenticated_packet_sent(t);
	wg__timers_any_authenticated_packet_traversal(t, now);
	if (sender_rearms)
		wg__timers_handshake_initiated(t, now);
}
static void act_keepalive(struct wg__timers *t)
{
	keepalives++;
	wg__timers_any_authenticated_packet_sent(t);
	wg__timers_any_authenticated_packet_traversal(t, now);
}
static void act_zero(struct wg__timers *t)
{
	zeroed++;
}
static void act_give_up(struct wg__timers *t)
{
	gave_up++;
}
static uint32_t no_jitter(void)
{
	return 0;
}

static const struct wg__timer_actions actions = { act_init, act_keepalive, act_zero, act_give_up };

static void reset(struct wg__timers *t, uint16_t pk)
{
	*t = (struct wg__timers){ .persistent_keepalive_interval = pk, .jitter_ms = no_jitter };
	wg__timers_init(t, &actions);
	now = S(1000);
	initiations = retries = keepalives = zeroed = gave_up = 0;
}

/* Advances the fake clock to `until`, firing timers at their deadlines. */
static void run_until(struct wg__timers *t, uint64_t until)
{
	for (;;) {
		uint64_t next = wg__timers_next(t);
		if (!next || next > until)
			break;
		now = next;
		wg__timers_expire(t, now);
	}
	now = until;
}

int main(void)
{
	struct wg__timers t;
	uint64_t t0;

	/* 1: data sent and nothing back: a new handshake after 15 s, not before */
	reset(&t, 0);
	t0 = now;
	wg__timers_data_sent(&t, now);
	run_until(&t, t0 + S(15) - MS(1));
	CHECK_INT(initiations, 0);
	sender_rearms = false;
	run_until(&t, t0 + S(15));
	CHECK_INT(initiations, 1);
	CHECK_INT(retries, 0);
	sender_rearms = true;

	/* 2: ... but an authenticated packet received in between cancels it */
	reset(&t, 0);
	t0 = now;
	wg__timers_data_sent(&t, now);
	now += S(3);
	wg__timers_any_authenticated_packet_received(&t);
	run_until(&t, t0 + S(60));
	CHECK_INT(initiations, 0);

	/* 3: data received: a keepalive after 10 s unless we sent something */
	reset(&t, 0);
	t0 = now;
	wg__timers_data_received(&t, now);
	run_until(&t, t0 + S(10) - 1);
	CHECK_INT(keepalives, 0);
	run_until(&t, t0 + S(10));
	CHECK_INT(keepalives, 1);
	reset(&t, 0);
	t0 = now;
	wg__timers_data_received(&t, now);
	now += S(2);
	wg__timers_any_authenticated_packet_sent(&t);
	run_until(&t, t0 + S(30));
	CHECK_INT(keepalives, 0);

	/* 4: more data during the keepalive wait: another keepalive 10 s after the first */
	reset(&t, 0);
	t0 = now;
	wg__timers_data_received(&t, now);
	now += S(4);
	wg__timers_data_received(&t, now);
	run_until(&t, t0 + S(10));
	CHECK_INT(keepalives, 1);
	run_until(&t, t0 + S(20));
	CHECK_INT(keepalives, 2);
	run_until(&t, t0 + S(60));
	CHECK_INT(keepalives, 2);

	/* 5: handshake never answered: retries every REKEY_TIMEOUT, 20 in all, then give up,
	 * and keys are zeroed 540 s later */
	reset(&t, 0);
	t0 = now;
	act_init(&t, false);
	run_until(&t, t0 + S(REKEY_TIMEOUT) - 1);
	CHECK_INT(initiations, 1);
	run_until(&t, t0 + S(REKEY_TIMEOUT));
	CHECK_INT(initiations, 2);
	run_until(&t, t0 + S(200));
	CHECK_INT(initiations, MAX_TIMER_HANDSHAKES + 2);
	CHECK_INT(retries, MAX_TIMER_HANDSHAKES + 1);
	CHECK_INT(gave_up, 1);
	CHECK_INT(zeroed, 0);
	run_until(&t, t0 + S(REKEY_TIMEOUT * (MAX_TIMER_HANDSHAKES + 2) + ZERO_KEYS_AFTER));
	CHECK_INT(zeroed, 1);
	CHECK(wg__timers_next(&t) == 0);

	/* 6: a completed handshake stops the retries */
	reset(&t, 0);
	t0 = now;
	act_init(&t, false);
	run_until(&t, t0 + S(7));
	CHECK_INT(initiations, 2);
	wg__timers_handshake_complete(&t);
	wg__timers_session_derived(&t, now);
	run_until(&t, t0 + S(100));
	CHECK_INT(initiations, 2);
	CHECK_INT(t.handshake_attempts, 0);

	/* 7: session derived: keys zeroed after 3 * REJECT_AFTER_TIME without a new one */
	reset(&t, 0);
	t0 = now;
	wg__timers_session_derived(&t, now);
	run_until(&t, t0 + S(100));
	CHECK_INT(zeroed, 0);
	wg__timers_session_derived(&t, now); /* a newer session pushes it back */
	run_until(&t, t0 + S(ZERO_KEYS_AFTER) + S(99));
	CHECK_INT(zeroed, 0);
	CHECK(wg__timers_next(&t) == t0 + S(ZERO_KEYS_AFTER) + S(100));
	run_until(&t, t0 + S(ZERO_KEYS_AFTER) + S(100));
	CHECK_INT(zeroed, 1);

	/* 8: persistent keepalive every 25 s of silence */
	reset(&t, 25);
	t0 = now;
	wg__timers_any_authenticated_packet_traversal(&t, now);
	run_until(&t, t0 + S(24));
	CHECK_INT(keepalives, 0);
	run_until(&t, t0 + S(25));
	CHECK_INT(keepalives, 1);
	run_until(&t, t0 + S(100));
	CHECK_INT(keepalives, 4);
	t.persistent_keepalive_interval = 0;
	run_until(&t, t0 + S(200));
	CHECK_INT(keepalives, 4);

	/* 9: jitter stays within REKEY_TIMEOUT_JITTER_MAX_MS */
	struct wg__timers tj = { 0 };
	wg__timers_init(&tj, &actions);
	for (int i = 0; i < 1000; i++) {
		wg__timers_handshake_initiated(&tj, S(1));
		uint64_t d = tj.retransmit_handshake - S(1);
		CHECK(d >= S(REKEY_TIMEOUT));
		CHECK(d <= S(REKEY_TIMEOUT) + MS(REKEY_TIMEOUT_JITTER_MAX_MS));
	}
	return check_finish();
}
