/* Clocks: monotonic for timeouts and intervals, wall for timestamps shown to people. */
#ifndef MESH_COMMON_NOW_H
#define MESH_COMMON_NOW_H

#include <stdint.h>

/* CLOCK_MONOTONIC (never jumps; stops while suspended). */
uint64_t now_mono_ns(void);
uint64_t now_mono_ms(void);
/* CLOCK_BOOTTIME: monotonic and counts suspend; what key-lifetime timers need. */
uint64_t now_boot_ns(void);
/* CLOCK_REALTIME in nanoseconds since the Unix epoch. */
uint64_t now_wall_ns(void);

#endif
