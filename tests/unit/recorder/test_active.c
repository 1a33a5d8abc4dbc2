/* meshrecorder's open recordings (cmd/recorder/active.c) on a made-up clock, step by step:
 * a start, uploads that continue it, the idle end at exactly idle_ms (not a millisecond
 * before), a resumption, one id from two sources, eviction of the longest idle when full, a
 * sweep whose clock was read before a concurrent upload, and the stop that ends them all. */
#include <stdlib.h>

#include "check.h"
#include "cmd/recorder/active.h"

static char ended[1024];

static void on_end(void *ctx, const struct recorder_run *r, enum recorder_run_end why)
{
	static const char *names[] = { "idle", "evicted", "stop" };
	char line[300];
	snprintf(line, sizeof(line), "%s %s %s from %llu held %llu uploads %llu ms %llu-%llu;",
		 names[why], r->source, r->id, (unsigned long long)r->from,
		 (unsigned long long)r->held, (unsigned long long)r->uploads,
		 (unsigned long long)r->first_ms, (unsigned long long)r->last_ms);
	strncat(ended, line, sizeof(ended) - strlen(ended) - 1);
}

static const char *take(void)
{
	static char out[1024];
	snprintf(out, sizeof(out), "%s", ended);
	ended[0] = '\0';
	return out;
}

int main(void)
{
	struct recorder_active *a;
	const char *s1 = "100.64.0.7", *s2 = "100.64.0.8";
	CHECK_INT(recorder_active_new(2, 1000, &a), 0);
	/* 1: a start, then the same run */
	CHECK(recorder_active_seen(a, s1, "x", 0, 10, 5000, on_end, NULL));
	CHECK(!recorder_active_seen(a, s1, "x", 10, 25, 5500, on_end, NULL));
	/* 2: idle ends it at exactly 1000 ms after its last upload */
	recorder_active_sweep(a, 6499, on_end, NULL);
	CHECK_STR(take(), "");
	recorder_active_sweep(a, 6500, on_end, NULL);
	CHECK_STR(take(), "idle 100.64.0.7 x from 0 held 25 uploads 2 ms 5000-5500;");
	/* 3: the node comes back: a new run from its offset */
	CHECK(recorder_active_seen(a, s1, "x", 25, 30, 7000, on_end, NULL));
	/* 4: the same id from another source is another recording */
	CHECK(recorder_active_seen(a, s2, "x", 0, 1, 7100, on_end, NULL));
	CHECK(!recorder_active_seen(a, s1, "x", 30, 31, 7200, on_end, NULL));
	CHECK_STR(take(), "");
	/* 5: full (2): a third ends the one idle longest (s2's, last at 7100) */
	CHECK(recorder_active_seen(a, s1, "y", 0, 5, 7300, on_end, NULL));
	CHECK_STR(take(), "evicted 100.64.0.8 x from 0 held 1 uploads 1 ms 7100-7100;");
	/* 6: a sweep that read its clock before an upload it now sees ends nothing */
	recorder_active_sweep(a, 7250, on_end, NULL);
	CHECK_STR(take(), "");
	/* 7: the stop ends every run, whatever the clock */
	recorder_active_sweep(a, UINT64_MAX, on_end, NULL);
	CHECK_STR(take(), "stop 100.64.0.7 y from 0 held 5 uploads 1 ms 7300-7300;"
			  "stop 100.64.0.7 x from 25 held 31 uploads 2 ms 7000-7200;");
	recorder_active_sweep(a, UINT64_MAX, on_end, NULL);
	CHECK_STR(take(), "");
	recorder_active_free(a);
	return check_finish();
}
