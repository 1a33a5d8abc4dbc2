/* The sliding replay window of RFC 6479 as the kernel implements it: a ring of 64-bit
 * words covering COUNTER_BITS_TOTAL counters, of which COUNTER_WINDOW_SIZE are always
 * usable behind the highest counter seen.  Only called after the packet authenticated,
 * so an attacker cannot move the window. */
#include <string.h>

#include "wg/internal.h"

void wg__replay_init(struct wg__replay *r)
{
	memset(r, 0, sizeof(*r));
}

bool wg__replay_check(struct wg__replay *r, uint64_t their)
{
	uint64_t index, index_current, top, i;
	uint64_t bit;

	if (r->counter >= REJECT_AFTER_MESSAGES + 1 || their >= REJECT_AFTER_MESSAGES)
		return false;
	++their;
	if (their + COUNTER_WINDOW_SIZE < r->counter)
		return false;
	index = their / COUNTER_WORD_BITS;
	if (their > r->counter) {
		index_current = r->counter / COUNTER_WORD_BITS;
		top = index - index_current;
		if (top > COUNTER_WORDS)
			top = COUNTER_WORDS;
		for (i = 1; i <= top; ++i)
			r->backtrack[(i + index_current) & (COUNTER_WORDS - 1)] = 0;
		r->counter = their;
	}
	index &= COUNTER_WORDS - 1;
	bit = 1ULL << (their & (COUNTER_WORD_BITS - 1));
	if (r->backtrack[index] & bit)
		return false;
	r->backtrack[index] |= bit;
	return true;
}
