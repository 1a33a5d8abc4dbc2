/* The live sessions' list to control (sessions_report.h): a change marks the list due, a
 * timer sends it no sooner than a second after the last send, one request at a time. */
#include "cmd/daemon/sessions_report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/daemon/sessions.h"
#include "common/log.h"
#include "common/now.h"
#include "control/client/client.h"
#include "control/netmap/sessions.h"

static const char subject[] = "sessions";

enum { MIN_INTERVAL_MS = 1000, BACKOFF_MAX_MS = 30000 };

struct meshd_sessions_report {
	uv_timer_t timer;
	struct meshd_sessions *reg;
	struct ctl_client *control;
	bool due, in_flight, failing;
	uint64_t last_ms; /* the last send (now_mono_ms), 0: none */
	unsigned backoff_ms;
};

static void arm(struct meshd_sessions_report *rep);

static void on_sent(void *ctx, int err, const char *msg)
{
	struct meshd_sessions_report *rep = ctx;
	rep->in_flight = false;
	if (err) {
		rep->backoff_ms = rep->backoff_ms ? rep->backoff_ms * 2 : MIN_INTERVAL_MS;
		if (rep->backoff_ms > BACKOFF_MAX_MS)
			rep->backoff_ms = BACKOFF_MAX_MS;
		if (!rep->failing)
			log_warn(subject, "control did not take the list of live sessions: %s",
				 msg);
		rep->failing = true;
		rep->due = true;
	} else {
		rep->backoff_ms = 0;
		rep->failing = false;
	}
	arm(rep);
}

static void on_timer(uv_timer_t *t)
{
	struct meshd_sessions_report *rep = t->data;
	if (!rep->due || rep->in_flight || !rep->control)
		return;
	struct ctl_session *v;
	size_t n;
	int e = meshd_sessions_wire(rep->reg, &v, &n);
	if (!e)
		e = ctl_client_sessions_send(rep->control, v, n, on_sent, rep);
	free(v);
	rep->last_ms = now_mono_ms();
	if (e == -ENOTCONN) /* not registered yet: sent at the next reconnect */
		return;
	if (e) {
		on_sent(rep, e, strerror(-e));
		return;
	}
	rep->due = false;
	rep->in_flight = true;
}

/* The timer for the next send, when one is due and none is in flight. */
static void arm(struct meshd_sessions_report *rep)
{
	if (!rep->due || rep->in_flight || !rep->control ||
	    uv_is_active((uv_handle_t *)&rep->timer))
		return;
	uint64_t now = now_mono_ms(), gap = rep->failing ? rep->backoff_ms : MIN_INTERVAL_MS;
	uint64_t at = rep->last_ms ? rep->last_ms + gap : now;
	uv_timer_start(&rep->timer, on_timer, at > now ? at - now : 0, 0);
}

static void on_change(void *ctx)
{
	struct meshd_sessions_report *rep = ctx;
	rep->due = true;
	arm(rep);
}

int meshd_sessions_report_new(uv_loop_t *loop, struct meshd_sessions *reg,
			      struct meshd_sessions_report **out)
{
	struct meshd_sessions_report *rep = calloc(1, sizeof(*rep));
	if (!rep)
		return -ENOMEM;
	rep->reg = reg;
	rep->due = true; /* the first list, even empty: control may hold an old one */
	uv_timer_init(loop, &rep->timer);
	rep->timer.data = rep;
	meshd_sessions_on_change(reg, on_change, rep);
	*out = rep;
	return 0;
}

void meshd_sessions_report_set_control(struct meshd_sessions_report *rep, struct ctl_client *client)
{
	if (!rep || client == rep->control)
		return;
	if (rep->control && rep->in_flight)
		ctl_client_sessions_cancel(rep->control, rep);
	rep->in_flight = false;
	rep->control = client;
	rep->due = true;
	uv_timer_stop(&rep->timer);
	arm(rep);
}

void meshd_sessions_report_resend(struct meshd_sessions_report *rep)
{
	if (rep)
		on_change(rep);
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void meshd_sessions_report_close(struct meshd_sessions_report *rep)
{
	if (!rep)
		return;
	if (rep->control && rep->in_flight)
		ctl_client_sessions_cancel(rep->control, rep);
	meshd_sessions_on_change(rep->reg, NULL, NULL);
	uv_close((uv_handle_t *)&rep->timer, on_closed);
}
