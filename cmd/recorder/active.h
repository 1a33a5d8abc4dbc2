/* cmd/recorder/active.h: the recordings being uploaded now, so meshrecorder can log when
 * one starts, when a node comes back to one, and when one ends.
 *
 *	recorder_active_seen(a, "100.64.0.7", "web1-42", offset, held, now_ms(), on_end, ctx);
 *	...
 *	recorder_active_sweep(a, now_ms(), on_end, ctx);	// once a second
 *
 * A recording ends with its upload marked end=1 (recorder_active_finish); one whose node
 * went away without it ends when idle: no upload stored for idle_ms.  A session that prints
 * nothing for that long ends here too and, when it prints again, is seen anew (resumed at
 * its offset).  Bounded: at most max recordings; a new one beyond
 * that ends the one idle longest first.  Thread-safe (one mutex); the clock is the caller's. */
#ifndef MESH_CMD_RECORDER_ACTIVE_H
#define MESH_CMD_RECORDER_ACTIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/recorder/proto.h"

struct recorder_active;

struct recorder_run {
	char source[ADDR_TEXT_MAX];
	char id[RECORDER_ID_MAX + 1];
	uint64_t from;	  /* the offset this run began at (0: the recording's start) */
	uint64_t held;	  /* bytes held after its last upload */
	uint64_t uploads; /* uploads stored in this run */
	uint64_t first_ms, last_ms;
};

enum recorder_run_end {
	RECORDER_END_IDLE,     /* no upload for idle_ms */
	RECORDER_END_EVICTED,  /* max runs reached and this one was idle longest */
	RECORDER_END_STOP,     /* the recorder stops */
	RECORDER_END_FINISHED, /* the node said so (PUT ...&end=1) */
};

typedef void recorder_run_end_fn(void *ctx, const struct recorder_run *run,
				 enum recorder_run_end why);

/* 0 or -ENOMEM. */
int recorder_active_new(size_t max, uint64_t idle_ms, struct recorder_active **out);
/* Frees a; ends nothing (sweep with UINT64_MAX first to log the runs still open). */
void recorder_active_free(struct recorder_active *a);

/* An upload was stored (offset, held after it).  True when it begins a run (a recording
 * not being uploaded a moment ago: offset 0 a start, otherwise a resumption); end gets a run
 * evicted to make room. */
bool recorder_active_seen(struct recorder_active *a, const char *source, const char *id,
			  uint64_t offset, uint64_t held, uint64_t now_ms, recorder_run_end_fn *end,
			  void *ctx);

/* The recording's last upload (end=1) was stored: calls end for its run (when one is
 * tracked) and forgets it. */
void recorder_active_finish(struct recorder_active *a, const char *source, const char *id,
			    recorder_run_end_fn *end, void *ctx);

/* Ends (calls end for, then forgets) every run idle for idle_ms at now_ms; now_ms =
 * UINT64_MAX ends them all (RECORDER_END_STOP).  end is called with the lock held: it must
 * not call back into a. */
void recorder_active_sweep(struct recorder_active *a, uint64_t now_ms, recorder_run_end_fn *end,
			   void *ctx);

#endif
