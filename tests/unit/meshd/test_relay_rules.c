/* meshd's relay decisions that need no socket (cmd/daemon/relay.c, reach.c): how long a node
 * on a TCP/TLS relay waits before its next return to UDP after one failed (5 minutes doubling
 * to an hour: a UDP that answers STUN but not TURN is tried less and less often); the
 * allocation's failure count starts over only after an allocation lasted 60 s (a relay that
 * cuts each one at once is met with a growing backoff); and what we publish reaches control
 * three times at once, then once per 10 s. */
#include "check.h"
#include "cmd/daemon/reach/internal.h"

int main(void)
{
	/* 1-6: the wait before each return to UDP after n failed ones. */
	static const struct {
		uint64_t wait, next;
	} waits[] = {
		{ 0, 600000 },	      /* 1: none yet counts as 5 minutes */
		{ 300000, 600000 },   /* 2: 5 -> 10 minutes */
		{ 600000, 1200000 },  /* 3 */
		{ 1200000, 2400000 }, /* 4 */
		{ 2400000, 3600000 }, /* 5: capped at an hour */
		{ 3600000, 3600000 }, /* 6: and stays there */
	};
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++)
		CHECK_INT(meshd__udp_again_next(waits[i].wait), waits[i].next);

	/* 7-10: the failure count after a look at the allocation. */
	CHECK_INT(meshd__relay_failures(5, 0, 100000), 5);   /* 7: none */
	CHECK_INT(meshd__relay_failures(5, 1000, 1000), 5);  /* 8: just made */
	CHECK_INT(meshd__relay_failures(5, 1000, 60999), 5); /* 9: 59.999 s */
	CHECK_INT(meshd__relay_failures(5, 1000, 61000), 0); /* 10: 60 s */

	/* 11-19: publishes at 1000 ms, five at once, the sixth held to 3 s, one per 2 s. */
	static const struct {
		uint64_t now;
		bool may;
		uint64_t at;
	} pubs[] = {
		{ 1000, true, 0 },     /* 11 */
		{ 1000, true, 0 },     /* 12 */
		{ 1000, true, 0 },     /* 13 */
		{ 1000, true, 0 },     /* 14 */
		{ 1000, true, 0 },     /* 15 */
		{ 1000, false, 3000 }, /* 16: the sixth waits */
		{ 3000, true, 0 },     /* 17: then goes */
		{ 3500, false, 5000 }, /* 18: and the next 2 s later */
		{ 100000, true, 0 },   /* 19: a quiet minute later: at once */
	};
	uint64_t tat = 0;
	for (size_t i = 0; i < sizeof(pubs) / sizeof(pubs[0]); i++) {
		uint64_t at = 0;
		CHECK_INT(meshd__publish_slot(&tat, pubs[i].now, &at), pubs[i].may);
		CHECK_INT(at, pubs[i].at);
	}
	return check_finish();
}
