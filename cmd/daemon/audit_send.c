/* meshd's audit queue and its sender (audit.h): events into state_dir/audit.queue, synced
 * within a second, and to control in order while there is a client, with backoff. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cmd/daemon/audit.h"
#include "common/log.h"
#include "common/now.h"
#include "control/client/client.h"

static const char subject[] = "audit";

enum {
	SYNC_DELAY_MS = 1000, /* an append is on disk (and may be sent) within this */
	BACKOFF_MIN_MS = 1000,
	BACKOFF_MAX_MS = 30000,
};

struct meshd_audit {
	struct audit_queue *q;
	struct ctl_client *control;
	uv_timer_t sync_timer, retry_timer;
	bool in_flight, failing;
	unsigned backoff_ms;
	struct audit_event *batch; /* AUDIT_BATCH_MAX: the request in flight */
	size_t batch_n;
	uint64_t sent, unqueued;
	struct log_ratelimit rl;
	int open_handles;
	void (*done)(void *arg);
	void *done_arg;
};

static void kick(struct meshd_audit *a);
static void on_retry(uv_timer_t *t);

static void retry_later(struct meshd_audit *a, const char *why)
{
	a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (a->backoff_ms > BACKOFF_MAX_MS)
		a->backoff_ms = BACKOFF_MAX_MS;
	/* 75 % to 125 %: nodes that lost control together do not come back in step */
	unsigned ms = a->backoff_ms * 3 / 4 + randombytes_uniform(a->backoff_ms / 2 + 1);
	struct audit_queue_stats st;
	audit_queue_stats(a->q, &st);
	if (!a->failing)
		log_warn(subject, "%" PRIu64 " events wait for control: %s; retrying in %u ms",
			 st.pending, why, ms);
	else
		log_debug(subject, "events wait for control: %s; retrying in %u ms", why, ms);
	a->failing = true;
	uv_timer_start(&a->retry_timer, on_retry, ms, 0);
}

static void on_sent(void *ctx, int err, uint64_t acked, const char *msg)
{
	struct meshd_audit *a = ctx;
	a->in_flight = false;
	if (err) {
		retry_later(a, msg);
		return;
	}
	for (size_t i = 0; i < a->batch_n; i++)
		a->sent += a->batch[i].seq <= acked;
	int e = audit_queue_ack(a->q, acked);
	if (e)
		log_warn(subject, "cannot record control's ack of seq %" PRIu64 ": %s", acked,
			 strerror(-e));
	if (acked < a->batch[a->batch_n - 1].seq) {
		char why[128];
		snprintf(why, sizeof(why), "control holds up to seq %" PRIu64 " of %" PRIu64, acked,
			 a->batch[a->batch_n - 1].seq);
		retry_later(a, why);
		return;
	}
	if (a->failing)
		log_info(subject, "control takes events again (up to seq %" PRIu64 ")", acked);
	a->failing = false;
	a->backoff_ms = 0;
	kick(a);
}

/* The next batch, when nothing is in flight or waiting for its retry. */
static void kick(struct meshd_audit *a)
{
	if (!a->control || a->in_flight || uv_is_active((uv_handle_t *)&a->retry_timer))
		return;
	ssize_t n = audit_queue_peek(a->q, a->batch, AUDIT_BATCH_MAX);
	if (n <= 0)
		return;
	a->batch_n = audit_batch_fit(a->batch, (size_t)n, AUDIT_BATCH_BYTES);
	int e = ctl_client_audit_send(a->control, audit_queue_id(a->q), a->batch, a->batch_n,
				      on_sent, a);
	if (e)
		retry_later(a, e == -ENOTCONN ? "not registered with control yet" : strerror(-e));
	else
		a->in_flight = true;
}

static void on_retry(uv_timer_t *t)
{
	kick(t->data);
}

static void on_sync(uv_timer_t *t)
{
	struct meshd_audit *a = t->data;
	int e = audit_queue_sync(a->q);
	if (e) {
		log_msg_ratelimited(&a->rl, LOG_LEVEL_ERR, subject, "cannot sync the queue: %s",
				    strerror(-e));
		uv_timer_start(&a->sync_timer, on_sync, SYNC_DELAY_MS, 0);
		return;
	}
	kick(a);
}

int meshd_audit_new(uv_loop_t *loop, const char *state_dir, struct meshd_audit **out)
{
	*out = NULL;
	char path[4096], err[4300];
	snprintf(path, sizeof(path), "%s/audit.queue", state_dir);
	struct meshd_audit *a = calloc(1, sizeof(*a));
	if (!a || !(a->batch = calloc(AUDIT_BATCH_MAX, sizeof(*a->batch)))) {
		free(a);
		return -ENOMEM;
	}
	int e = audit_queue_open(path, NULL, &a->q, err, sizeof(err));
	if (e) {
		log_err(subject, "%s; audit events are not kept", err);
		free(a->batch);
		free(a);
		return e;
	}
	a->rl = (struct log_ratelimit){ .interval_ms = 60000, .burst = 3 };
	uv_timer_init(loop, &a->sync_timer);
	uv_timer_init(loop, &a->retry_timer);
	a->sync_timer.data = a->retry_timer.data = a;
	struct audit_queue_stats st;
	audit_queue_stats(a->q, &st);
	if (st.pending)
		log_info(subject, "%s: %" PRIu64 " events from before wait for control", path,
			 st.pending);
	*out = a;
	return 0;
}

void meshd_audit_emit(struct meshd_audit *a, struct audit_event *e)
{
	if (!a)
		return;
	if (!e->time_ms)
		e->time_ms = (int64_t)(now_wall_ns() / 1000000);
	int err = audit_queue_append(a->q, e);
	if (err) {
		a->unqueued++;
		log_msg_ratelimited(&a->rl, LOG_LEVEL_ERR, subject, "%s event not queued: %s",
				    audit_type_name(e->type), strerror(-err));
		return;
	}
	if (!uv_is_active((uv_handle_t *)&a->sync_timer))
		uv_timer_start(&a->sync_timer, on_sync, SYNC_DELAY_MS, 0);
}

void meshd_audit_set_control(struct meshd_audit *a, struct ctl_client *client)
{
	if (!a || client == a->control)
		return;
	if (a->control && a->in_flight)
		ctl_client_audit_cancel(a->control, a);
	a->in_flight = false;
	a->control = client;
	a->backoff_ms = 0;
	uv_timer_stop(&a->retry_timer);
	kick(a);
}

void meshd_audit_counters(const struct meshd_audit *a,
			  void (*cb)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	if (!a)
		return;
	struct audit_queue_stats st;
	audit_queue_stats(a->q, &st);
	cb(ctx, "audit.queued", st.appended);
	cb(ctx, "audit.sent", a->sent);
	cb(ctx, "audit.lost", st.lost);
	cb(ctx, "audit.pending", st.pending);
	cb(ctx, "audit.unqueued", a->unqueued);
}

static void on_closed(uv_handle_t *h)
{
	struct meshd_audit *a = h->data;
	if (--a->open_handles)
		return;
	void (*done)(void *) = a->done;
	void *arg = a->done_arg;
	audit_queue_close(a->q);
	free(a->batch);
	free(a);
	if (done)
		done(arg);
}

void meshd_audit_close(struct meshd_audit *a, void (*done)(void *arg), void *arg)
{
	if (!a) {
		if (done)
			done(arg);
		return;
	}
	meshd_audit_set_control(a, NULL);
	int e = audit_queue_sync(a->q);
	if (e)
		log_err(subject, "cannot sync the queue at exit: %s", strerror(-e));
	a->done = done;
	a->done_arg = arg;
	a->open_handles = 2;
	uv_close((uv_handle_t *)&a->sync_timer, on_closed);
	uv_close((uv_handle_t *)&a->retry_timer, on_closed);
}
