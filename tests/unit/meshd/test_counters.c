/* meshd's status counters: every counter reaches meshctl, or the status says how many did
 * not ("status.unshown"), and what meshd sends always parses as a status. */
#include <stdlib.h>

#include "check.h"
#include "cmd/daemon/api.h"

static uint64_t value_of(const struct ctl_lapi_status *st, const char *name)
{
	for (size_t i = 0; i < st->n_counters; i++)
		if (strcmp(st->counters[i].name, name) == 0)
			return st->counters[i].value;
	return UINT64_MAX;
}

/* The status survives meshd's encoder and meshctl's parser with its counters. */
static void check_round_trip(const struct ctl_lapi_status *st)
{
	char *text = ctl_lapi_status_format(st), err[256] = "";
	struct ctl_lapi_status back;
	CHECK(text != NULL);
	int rc = ctl_lapi_status_parse(text, strlen(text), &back, err, sizeof(err));
	CHECK_STR(err, "");
	CHECK_INT(rc, 0);
	if (rc == 0) {
		CHECK_INT(back.n_counters, st->n_counters);
		ctl_lapi_status_clear(&back);
	}
	free(text);
}

int main(void)
{
	struct ctl_lapi_status st = { .counters = calloc(CTL_LAPI_MAX_COUNTERS,
							 sizeof(struct ctl_lapi_counter)) };

	/* 1: names that fit are shown as they are. */
	meshd_api_add_counter(&st, "drop.fragment", 4);
	meshd_api_add_counter(&st, "nat.drop_unknown", 7);
	CHECK_INT(st.n_counters, 2);
	CHECK_INT(value_of(&st, "drop.fragment"), 4);
	CHECK_INT(value_of(&st, "status.unshown"), UINT64_MAX);

	/* 2: names the local API refuses are counted, not sent (meshctl would refuse the
	 * whole status): upper case, a space, empty, 32 bytes. */
	meshd_api_add_counter(&st, "Drop", 1);
	meshd_api_add_counter(&st, "drop fragment", 1);
	meshd_api_add_counter(&st, "", 1);
	meshd_api_add_counter(&st, "abcdefghijklmnopqrstuvwxyz.01234", 1);
	meshd_api_add_counter(&st, "abcdefghijklmnopqrstuvwxyz.0123", 9); /* 31: fits */
	CHECK_INT(st.n_counters, 4);
	CHECK_INT(value_of(&st, "status.unshown"), 4);
	CHECK_INT(value_of(&st, "abcdefghijklmnopqrstuvwxyz.0123"), 9);
	check_round_trip(&st);

	/* 3: past the last slot: 200 more counters, MAX - 4 shown (MAX slots, one of them
	 * status.unshown), the others counted with the four above. */
	enum { SHOWN = CTL_LAPI_MAX_COUNTERS - 4 };
	for (int i = 0; i < 200; i++) {
		char name[32];
		snprintf(name, sizeof(name), "c.%d", i);
		meshd_api_add_counter(&st, name, (uint64_t)i);
	}
	char last[32], next[32];
	snprintf(last, sizeof(last), "c.%d", SHOWN - 1);
	snprintf(next, sizeof(next), "c.%d", SHOWN);
	CHECK_INT(st.n_counters, CTL_LAPI_MAX_COUNTERS);
	CHECK_INT(value_of(&st, last), SHOWN - 1);
	CHECK_INT(value_of(&st, next), UINT64_MAX);
	CHECK_INT(value_of(&st, "status.unshown"), 4 + (200 - SHOWN));
	check_round_trip(&st);

	/* 4: full from the start: the last slot is status.unshown, never one counter more. */
	struct ctl_lapi_status full = { .counters = calloc(CTL_LAPI_MAX_COUNTERS,
							   sizeof(struct ctl_lapi_counter)) };
	for (int i = 0; i < CTL_LAPI_MAX_COUNTERS + 6; i++) {
		char name[32];
		snprintf(name, sizeof(name), "x.%d", i);
		meshd_api_add_counter(&full, name, 1);
	}
	CHECK_INT(full.n_counters, CTL_LAPI_MAX_COUNTERS);
	CHECK_STR(full.counters[CTL_LAPI_MAX_COUNTERS - 1].name, "status.unshown");
	CHECK_INT(value_of(&full, "status.unshown"), 6 + 1);
	check_round_trip(&full);
	ctl_lapi_status_clear(&st);
	ctl_lapi_status_clear(&full);
	return check_finish();
}
