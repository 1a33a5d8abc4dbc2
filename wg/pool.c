/* Fork-join crypto helper: one worker thread per device takes the first half of a batch
 * (encrypting the datagrams about to leave, or decrypting those just received) while the
 * loop thread does the second half, then the loop thread waits for it.  Only pure crypto
 * on copied keys runs on the worker; every table, timer and counter stays on the loop. */
#include <errno.h>
#include <pthread.h>

#include "wg/internal.h"

static void *worker_main(void *arg)
{
	struct wg__pool *p = arg;
	uint64_t seen = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->gen == seen && !p->stop)
			pthread_cond_wait(&p->cv_work, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		void (*fn)(void *, size_t) = p->fn;
		void *ctx = p->ctx;
		size_t end = p->end;
		pthread_mutex_unlock(&p->mu);
		for (size_t i = 0; i < end; i++)
			fn(ctx, i);
		pthread_mutex_lock(&p->mu);
		p->done_gen = seen;
		pthread_cond_signal(&p->cv_done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int wg__pool_start(struct wg__pool *p)
{
	int err;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv_work, NULL);
	pthread_cond_init(&p->cv_done, NULL);
	p->gen = p->done_gen = 0;
	p->stop = false;
	err = pthread_create(&p->thread, NULL, worker_main, p);
	if (err) {
		pthread_cond_destroy(&p->cv_work);
		pthread_cond_destroy(&p->cv_done);
		pthread_mutex_destroy(&p->mu);
		return -err;
	}
	p->started = true;
	return 0;
}

void wg__pool_stop(struct wg__pool *p)
{
	if (!p->started)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv_work);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cv_work);
	pthread_cond_destroy(&p->cv_done);
	pthread_mutex_destroy(&p->mu);
	p->started = false;
}

void wg__pool_run(struct wg__pool *p, void (*fn)(void *ctx, size_t i), void *ctx, size_t n)
{
	size_t half = n / 2;

	if (!p->started || n < 4) {
		for (size_t i = 0; i < n; i++)
			fn(ctx, i);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->end = half;
	p->gen++;
	pthread_cond_signal(&p->cv_work);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = half; i < n; i++)
		fn(ctx, i);
	pthread_mutex_lock(&p->mu);
	while (p->done_gen != p->gen)
		pthread_cond_wait(&p->cv_done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
