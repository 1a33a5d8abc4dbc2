/* meshd's relay decisions that need no socket (cmd/daemon/relay.c): how long a node on a
 * TCP/TLS relay waits before its next return to UDP after one failed (5 minutes doubling to
 * an hour: a UDP that answers STUN but not TURN is tried less and less often). */
#include "check.h"
#include "cmd/daemon/reach_internal.h"

int main(void)
{
	/* 1-6: the wait before each return to UDP after n failed ones. */
	static const struct {
		uint64_t wait, next;
	} waits[] = {
		{0, 600000},		 /* 1: none yet counts as 5 minutes */
		{300000, 600000},	 /* 2: 5 -> 10 minutes */
		{600000, 1200000},	 /* 3 */
		{1200000, 2400000},	 /* 4 */
		{2400000, 3600000},	 /* 5: capped at an hour */
		{3600000, 3600000},	 /* 6: and stays there */
	};
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++)
		CHECK_INT(meshd__udp_again_next(waits[i].wait), waits[i].next);
	return check_finish();
}
