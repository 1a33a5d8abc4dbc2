/* The recordings being uploaded now (active.h): a small array under one mutex, searched
 * linearly (a few hundred sessions at most record at once; a PUT costs an fsync anyway). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/recorder/active.h"

struct recorder_active {
	pthread_mutex_t lock;
	size_t n, max;
	uint64_t idle_ms;
	struct recorder_run runs[];
};

int recorder_active_new(size_t max, uint64_t idle_ms, struct recorder_active **out)
{
	struct recorder_active *a = calloc(1, sizeof(*a) + max * sizeof(a->runs[0]));
	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	a->max = max;
	a->idle_ms = idle_ms;
	*out = a;
	return 0;
}

void recorder_active_free(struct recorder_active *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static void forget(struct recorder_active *a, size_t i)
{
	a->runs[i] = a->runs[--a->n];
}

bool recorder_active_seen(struct recorder_active *a, const char *source, const char *id,
			  uint64_t offset, uint64_t held, uint64_t now_ms, recorder_run_end_fn *end,
			  void *ctx)
{
	pthread_mutex_lock(&a->lock);
	struct recorder_run *r = NULL;
	for (size_t i = 0; i < a->n && !r; i++)
		if (strcmp(a->runs[i].id, id) == 0 && strcmp(a->runs[i].source, source) == 0)
			r = &a->runs[i];
	bool begins = !r;
	if (!r && a->n == a->max && a->max) {
		size_t oldest = 0;
		for (size_t i = 1; i < a->n; i++)
			if (a->runs[i].last_ms < a->runs[oldest].last_ms)
				oldest = i;
		end(ctx, &a->runs[oldest], RECORDER_END_EVICTED);
		forget(a, oldest);
	}
	if (!r && a->n < a->max) {
		r = &a->runs[a->n++];
		memset(r, 0, sizeof(*r));
		strncpy(r->source, source, sizeof(r->source) - 1);
		strncpy(r->id, id, sizeof(r->id) - 1);
		r->from = offset;
		r->first_ms = now_ms;
	}
	if (r) {
		r->held = held;
		r->uploads++;
		r->last_ms = now_ms;
	}
	pthread_mutex_unlock(&a->lock);
	return begins;
}

void recorder_active_sweep(struct recorder_active *a, uint64_t now_ms, recorder_run_end_fn *end,
			   void *ctx)
{
	pthread_mutex_lock(&a->lock);
	for (size_t i = a->n; i-- > 0;) {
		const struct recorder_run *r = &a->runs[i];
		/* now_ms may have been read before a concurrent upload's */
		if (now_ms == UINT64_MAX ||
		    (now_ms >= r->last_ms && now_ms - r->last_ms >= a->idle_ms)) {
			end(ctx, r, now_ms == UINT64_MAX ? RECORDER_END_STOP : RECORDER_END_IDLE);
			forget(a, i);
		}
	}
	pthread_mutex_unlock(&a->lock);
}

void recorder_active_finish(struct recorder_active *a, const char *source, const char *id,
			    recorder_run_end_fn *end, void *ctx)
{
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->runs[i].id, id) == 0 && strcmp(a->runs[i].source, source) == 0) {
			end(ctx, &a->runs[i], RECORDER_END_FINISHED);
			forget(a, i);
			break;
		}
	pthread_mutex_unlock(&a->lock);
}
