/* The replay window as a numbered table (the kernel's selftest sequence): window edges
 * T_LIM = COUNTER_WINDOW_SIZE + 1 behind the highest counter, jumps larger than the whole
 * bitmap, and the REJECT_AFTER_MESSAGES limit; then a random in-window cross-check
 * against a naive set of seen counters. */
#include <stdlib.h>

#include "check.h"
#include "wg/internal.h"

struct row {
	uint64_t counter;
	bool accept;
};

#define T_LIM (COUNTER_WINDOW_SIZE + 1ULL)

static const struct row table[] = {
	{ 0, true },			      /* 1 */
	{ 1, true },			      /* 2 */
	{ 1, false },			      /* 3 */
	{ 9, true },			      /* 4 */
	{ 8, true },			      /* 5 */
	{ 7, true },			      /* 6 */
	{ 7, false },			      /* 7 */
	{ T_LIM, true },		      /* 8 */
	{ T_LIM - 1, true },		      /* 9 */
	{ T_LIM - 1, false },		      /* 10 */
	{ T_LIM - 2, true },		      /* 11 */
	{ 2, true },			      /* 12: the oldest still inside */
	{ 2, false },			      /* 13 */
	{ T_LIM + 16, true },		      /* 14 */
	{ 3, false },			      /* 15: fell out of the window */
	{ T_LIM + 16, false },		      /* 16 */
	{ T_LIM * 4, true },		      /* 17: jump larger than the bitmap */
	{ T_LIM * 4 - (T_LIM - 1), true },    /* 18: window's trailing edge */
	{ 10, false },			      /* 19 */
	{ T_LIM * 4 - T_LIM, false },	      /* 20: just outside */
	{ T_LIM * 4 - (T_LIM + 1), false },   /* 21 */
	{ T_LIM * 4 - (T_LIM - 2), true },    /* 22 */
	{ T_LIM * 4 + 1 - T_LIM, false },     /* 23 */
	{ 0, false },			      /* 24 */
	{ REJECT_AFTER_MESSAGES, false },     /* 25 */
	{ REJECT_AFTER_MESSAGES - 1, true },  /* 26 */
	{ REJECT_AFTER_MESSAGES, false },     /* 27 */
	{ REJECT_AFTER_MESSAGES - 1, false }, /* 28 */
	{ REJECT_AFTER_MESSAGES - 2, true },  /* 29 */
	{ REJECT_AFTER_MESSAGES + 1, false }, /* 30 */
	{ REJECT_AFTER_MESSAGES + 2, false }, /* 31 */
	{ REJECT_AFTER_MESSAGES - 2, false }, /* 32 */
	{ REJECT_AFTER_MESSAGES - 3, true },  /* 33 */
	{ 0, false },			      /* 34 */
};

int main(void)
{
	struct wg__replay r;
	wg__replay_init(&r);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		bool got = wg__replay_check(&r, table[i].counter);
		if (got != table[i].accept)
			fprintf(stderr, "row %zu: counter %llu: got %d want %d\n", i + 1,
				(unsigned long long)table[i].counter, got, table[i].accept);
		CHECK(got == table[i].accept);
	}

	/* Every counter of a full window, in order then again: all new, then all replays. */
	wg__replay_init(&r);
	for (uint64_t c = 1; c <= COUNTER_WINDOW_SIZE; c++)
		CHECK(wg__replay_check(&r, c));
	for (uint64_t c = 1; c <= COUNTER_WINDOW_SIZE; c++)
		CHECK(!wg__replay_check(&r, c));
	/* Reverse order from the top of a fresh window: accepted down to the edge. */
	wg__replay_init(&r);
	for (uint64_t c = COUNTER_WINDOW_SIZE + 1; c >= 1; c--)
		CHECK(wg__replay_check(&r, c));
	CHECK(wg__replay_check(&r, 0) == false);

	/* Random walk against a naive reference: seen set + highest counter. */
	static uint8_t seen[1 << 16];
	uint64_t top = 0;
	bool any = false;
	srand(7);
	wg__replay_init(&r);
	for (int i = 0; i < 200000; i++) {
		uint64_t c;
		if (rand() % 4 == 0 && top + 200 < sizeof(seen))
			c = top + (uint64_t)(rand() % 200);
		else
			c = (top > 9000 ? top - 9000 : 0) + (uint64_t)(rand() % 9000);
		if (c >= sizeof(seen))
			continue;
		bool want = !seen[c] && (!any || c + COUNTER_WINDOW_SIZE >= top);
		bool got = wg__replay_check(&r, c);
		if (got != want) {
			fprintf(stderr, "random %d: counter %llu top %llu got %d want %d\n", i,
				(unsigned long long)c, (unsigned long long)top, got, want);
			CHECK(0);
			break;
		}
		if (got) {
			seen[c] = 1;
			if (!any || c > top)
				top = c;
			any = true;
		}
	}
	return check_finish();
}
