/* The failed-attempt counter behind the web passwords (control/server/throttle.c): a
 * numbered table of steps on an injected clock, checked against what each must answer. */
#include <errno.h>
#include <stdio.h>

#include "check.h"
#include "control/server/internal.h"

enum { OP_TAKE, OP_BACK, OP_RESET };

static const struct {
	int op;
	const char *key;
	int64_t now;
	int want;	  /* OP_TAKE: 0, -EAGAIN or -ENOSPC */
	int64_t retry_at; /* when refused */
} steps[] = {
	/* limit 3 per 100 s window, room for 3 keys */
	/*  0 */ { OP_TAKE, "alice", 1000, 0, 0 },
	/*  1 */ { OP_TAKE, "alice", 1001, 0, 0 },
	/*  2 */ { OP_TAKE, "alice", 1002, 0, 0 },
	/*  3 */ { OP_TAKE, "alice", 1003, -EAGAIN, 1100 }, /* 3 used: until the window ends */
	/*  4 */ { OP_TAKE, "bob", 1003, 0, 0 },	    /* other keys are apart */
	/*  5 */ { OP_TAKE, "alice", 1100, 0, 0 },	    /* a new window */
	/*  6 */ { OP_BACK, "alice", 1100, 0, 0 },	    /* a success gives it back */
	/*  7 */ { OP_TAKE, "alice", 1101, 0, 0 },
	/*  8 */ { OP_TAKE, "alice", 1102, 0, 0 },
	/*  9 */ { OP_TAKE, "alice", 1103, 0, 0 },
	/* 10 */ { OP_TAKE, "alice", 1104, -EAGAIN, 1200 },
	/* 11 */ { OP_RESET, "alice", 1104, 0, 0 }, /* the account's own success: all forgotten */
	/* 12 */ { OP_TAKE, "alice", 1104, 0, 0 },
	/* 13 */ { OP_TAKE, "carol", 1150, 0, 0 },	   /* bob's window ended at 1103: gone */
	/* 14 */ { OP_TAKE, "bob", 1150, 0, 0 },	   /* alice, carol, bob: full */
	/* 15 */ { OP_TAKE, "dave", 1160, -ENOSPC, 1200 }, /* the oldest window ends at 1200 */
	/* 16 */ { OP_TAKE, "bob", 1160, 0, 0 },	   /* a key already there still counts */
	/* 17 */ { OP_TAKE, "dave", 1200, 0, 0 },	   /* alice's window ended: room again */
	/* 18 */ { OP_TAKE, "dave", 1201, 0, 0 },
	/* 19 */ { OP_TAKE, "dave", 1202, 0, 0 },
	/* 20 */ { OP_TAKE, "dave", 1203, -EAGAIN, 1300 },
	/* 21 */ { OP_BACK, "nobody", 1203, 0, 0 }, /* giving back an unknown key changes nothing */
	/* 22 */ { OP_TAKE, "dave", 1204, -EAGAIN, 1300 },
};

int main(void)
{
	struct ctl__throttle t;
	CHECK_INT(ctl__throttle_init(&t, 3, 100, 3), 0);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int64_t retry_at = 0;
		if (steps[i].op == OP_TAKE) {
			int rc = ctl__throttle_take(&t, steps[i].key, steps[i].now, &retry_at);
			if (rc != steps[i].want || (rc && retry_at != steps[i].retry_at))
				fprintf(stderr, "step %zu: %s at %lld\n", i, steps[i].key,
					(long long)steps[i].now);
			CHECK_INT(rc, steps[i].want);
			if (rc)
				CHECK_INT(retry_at, steps[i].retry_at);
		} else {
			ctl__throttle_give_back(&t, steps[i].key, steps[i].op == OP_RESET,
						steps[i].now);
		}
	}
	ctl__throttle_uninit(&t);
	return check_finish();
}
