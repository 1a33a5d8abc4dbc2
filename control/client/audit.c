/* Audit events to control: the node API's "audit" (docs: the wire format the audit helpers
 * share).  A request carries 1..AUDIT_BATCH_MAX events in ascending seq as
 * {"queue": ID, "events": [...]} (ID: the queue's, audit_queue_id; left out for a queue
 * without one), sealed like every node request; the answer {"acked": S} says control holds
 * every event of that queue with seq <= S.  Empty string members are left out (absent means ""). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/audit.h"
#include "control/client/internal.h"

static json_t *event_json(const struct audit_event *e)
{
	json_t *o = json_object();
	if (!o || json_object_set_new(o, "seq", json_integer((json_int_t)e->seq)) ||
	    json_object_set_new(o, "time", json_integer((json_int_t)e->time_ms)) ||
	    json_object_set_new(o, "type", json_string(audit_type_name(e->type)))) {
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0; i < AUDIT_FIELD_COUNT; i++) {
		const char *s = audit_field_get(e, i);
		if (s[0] && json_object_set_new(o, audit_field_names[i], json_string(s))) {
			json_decref(o); /* not valid UTF-8: audit_text_set was skipped */
			return NULL;
		}
	}
	return o;
}

static json_t *batch_json(const char *queue, const struct audit_event *ev, size_t n)
{
	if (n == 0 || n > AUDIT_BATCH_MAX)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		if ((i && ev[i].seq <= ev[i - 1].seq) ||
		    json_array_append_new(a, event_json(&ev[i]))) {
			json_decref(a);
			return NULL;
		}
	}
	if (!a)
		return NULL;
	if (queue && queue[0])
		return json_pack("{s:s, s:o}", "queue", queue, "events", a);
	return json_pack("{s:o}", "events", a);
}

char *ctl_client_audit_json(const char *queue, const struct audit_event *ev, size_t n)
{
	json_t *j = batch_json(queue, ev, n);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

void ctl__on_audit(struct ctl_client *c, struct creq *r, long status)
{
	char err[512];
	if (!r->audit_cb)
		return;
	if (status == 429) {
		r->audit_cb(r->cb_ctx, -EAGAIN, 0, "control asks to slow down (HTTP 429)");
		return;
	}
	json_t *j = ctl__response_json(r, status, err, sizeof(err));
	json_t *acked = json_object_get(j, "acked");
	if (j && status == 200 && json_is_integer(acked) && json_integer_value(acked) >= 0) {
		r->audit_cb(r->cb_ctx, 0, (uint64_t)json_integer_value(acked), "");
	} else {
		const char *e = json_string_value(json_object_get(j, "error"));
		if (j && !e)
			snprintf(err, sizeof(err), "HTTP %ld: no \"acked\" in the answer", status);
		r->audit_cb(r->cb_ctx, status ? -EIO : -ENOTCONN, 0, e ? e : err);
	}
	json_decref(j);
}

int ctl_client_audit_send(struct ctl_client *c, const char *queue, const struct audit_event *ev,
			  size_t n, ctl_audit_sent_cb cb, void *ctx)
{
	if (!c->pinned || !c->registered)
		return -ENOTCONN;
	json_t *j = batch_json(queue, ev, n);
	if (!j)
		return n == 0 || n > AUDIT_BATCH_MAX ? -EINVAL : -ENOMEM;
	struct creq *r = ctl__post_json(c, "/machine/audit", j, REQ_AUDIT, REQ_TIMEOUT_MS);
	if (!r)
		return -EIO;
	r->audit_cb = cb;
	r->cb_ctx = ctx;
	return 0;
}

void ctl_client_audit_cancel(struct ctl_client *c, void *ctx)
{
	for (struct creq *r = c->reqs; r; r = r->next)
		if (r->kind == REQ_AUDIT && r->cb_ctx == ctx)
			r->audit_cb = NULL;
}
