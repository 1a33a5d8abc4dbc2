/* The failed-attempt counter behind the web passwords (store.h's throttle_*, used by
 * control/server/throttle.c) on both backends: a numbered table of steps on an injected
 * clock, checked against what each must answer.  `postgres` runs it on a cluster of its own
 * (pg_cluster.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control/server/store.h"
#include "pg_cluster.h"

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
	/* 13 */ { OP_TAKE, "carol", 1150, 0, 0 },	   /* bob's window ended at 1103 */
	/* 14 */ { OP_TAKE, "bob", 1150, 0, 0 },	   /* alice, carol, bob: full */
	/* 15 */ { OP_TAKE, "dave", 1160, -ENOSPC, 1204 }, /* the oldest window ends at 1204 */
	/* 16 */ { OP_TAKE, "bob", 1160, 0, 0 },	   /* a key already there still counts */
	/* 17 */ { OP_TAKE, "dave", 1204, 0, 0 },	   /* alice's window ended: room again */
	/* 18 */ { OP_TAKE, "dave", 1205, 0, 0 },
	/* 19 */ { OP_TAKE, "dave", 1206, 0, 0 },
	/* 20 */ { OP_TAKE, "dave", 1207, -EAGAIN, 1304 },
	/* 21 */ { OP_BACK, "nobody", 1207, 0, 0 }, /* giving back an unknown key changes nothing */
	/* 22 */ { OP_TAKE, "dave", 1208, -EAGAIN, 1304 },
	/* 23 */ { OP_BACK, "dave", 1304, 0, 0 }, /* nor does giving back into an ended window */
	/* 24 */ { OP_TAKE, "dave", 1304, 0, 0 },
};

static void cases(const char *url)
{
	struct ctl_store *s;
	char err[512];
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), 0);
	if (!s)
		return;
	const struct ctl_throttle_rule rule = { CTL_THROTTLE_ACCOUNT, 3, 100, 3 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int64_t retry_at = 0;
		if (steps[i].op == OP_TAKE) {
			int rc =
			    s->ops->throttle_take(s, &rule, steps[i].key, steps[i].now, &retry_at);
			if (rc != steps[i].want || (rc && retry_at != steps[i].retry_at))
				fprintf(stderr, "step %zu: %s at %lld: %d, retry at %lld\n", i,
					steps[i].key, (long long)steps[i].now, rc,
					(long long)retry_at);
			CHECK_INT(rc, steps[i].want);
			if (rc)
				CHECK_INT(retry_at, steps[i].retry_at);
		} else {
			CHECK_INT(s->ops->throttle_give_back(s, rule.kind, steps[i].key,
							     steps[i].op == OP_RESET, steps[i].now),
				  0);
		}
	}
	/* the kinds are apart: the same key as a source has its own window and room */
	const struct ctl_throttle_rule source = { CTL_THROTTLE_SOURCE, 1, 100, 3 };
	int64_t retry_at = 0;
	CHECK_INT(s->ops->throttle_take(s, &source, "dave", 1304, &retry_at), 0);
	CHECK_INT(s->ops->throttle_take(s, &source, "dave", 1305, &retry_at), -EAGAIN);
	CHECK_INT(retry_at, 1404);
	/* ended windows are forgotten by the sweep; live ones stay */
	CHECK_INT(s->ops->transient_expire(s, 1300), 0);
	CHECK_INT(s->ops->throttle_take(s, &rule, "dave", 1305, &retry_at), 0);
	CHECK_INT(s->ops->throttle_take(s, &rule, "dave", 1306, &retry_at), 0);
	CHECK_INT(s->ops->throttle_take(s, &rule, "dave", 1307, &retry_at), -EAGAIN);
	s->ops->close(s);
}

int main(int argc, char **argv)
{
	return pg_cluster_store_main(argc, argv, cases, NULL, check_finish);
}
