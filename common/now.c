/* Clock helpers over clock_gettime(2). */
#include "common/now.h"

#include <time.h>

static uint64_t read_clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t now_mono_ns(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

uint64_t now_mono_ms(void)
{
	return now_mono_ns() / 1000000u;
}

uint64_t now_boot_ns(void)
{
	return read_clock(CLOCK_BOOTTIME);
}

uint64_t now_wall_ns(void)
{
	return read_clock(CLOCK_REALTIME);
}
