/* Check-mode holds: a login that policy says to check waits for control's answer.  The
 * hold is a request that waits (long poll) and goes again with the hold's id until the
 * owner decided; a hold given up is cancelled at control so it stops counting against its
 * caps, also when its id arrives only after the cancel. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control/client/internal.h"

static void hold_send(struct ctl_client *c, struct creq *old);

static void hold_cancel_send(struct ctl_client *c, const char *hold_id)
{
	struct creq *r = ctl__post_json(c, "/machine/hold",
					json_pack("{s:s, s:b}", "hold_id", hold_id, "cancel", 1),
					REQ_HOLD, REQ_TIMEOUT_MS);
	if (r)
		r->hold_cancel = true; /* its answer goes nowhere */
}

void ctl__on_hold(struct ctl_client *c, struct creq *r, long status)
{
	char err[512];
	json_t *j = ctl__response_json(r, status, err, sizeof(err));
	const char *d = json_string_value(json_object_get(j, "decision"));
	if (!r->hold_cb) {
		/* cancelled while this request was out: control forgets the hold */
		const char *id = json_string_value(json_object_get(j, "hold_id"));
		if (!r->hold_cancel && d && strcmp(d, "pending") == 0 && id)
			hold_cancel_send(c, id);
	} else if (!j || !d) {
		const char *e = json_string_value(json_object_get(j, "error"));
		r->hold_cb(r->cb_ctx, CTL_HOLD_FAILED, VERDICT_REJECT, e ? e : err);
	} else if (strcmp(d, "accept") == 0) {
		r->hold_cb(r->cb_ctx, CTL_HOLD_DECIDED, VERDICT_ACCEPT, "approved");
	} else if (strcmp(d, "reject") == 0) {
		r->hold_cb(r->cb_ctx, CTL_HOLD_DECIDED, VERDICT_REJECT,
			   json_string_value(json_object_get(j, "reason")) ?: "rejected");
	} else {
		const char *url = json_string_value(json_object_get(j, "url"));
		const char *id = json_string_value(json_object_get(j, "hold_id"));
		snprintf(r->hold_id, sizeof(r->hold_id), "%s", id ? id : "");
		if (!r->hold_pending_told)
			r->hold_cb(r->cb_ctx, CTL_HOLD_PENDING, VERDICT_REJECT, url ? url : "");
		r->hold_pending_told = true;
		if (!r->hold_cb && r->hold_id[0]) /* cancelled from the callback */
			hold_cancel_send(c, r->hold_id);
		else if (r->hold_cb)
			hold_send(c, r);
	}
	json_decref(j);
}

static void hold_send(struct ctl_client *c, struct creq *old)
{
	json_t *j = old->hold_id[0] ? json_pack("{s:s, s:b}", "hold_id", old->hold_id, "wait", 1)
				    : json_pack("{s:s, s:s, s:i, s:b}", "src", old->hold_src,
						"user", old->hold_user, "check_period",
						(int)old->hold_period, "wait", 0);
	struct creq *r = ctl__post_json(c, "/machine/hold", j, REQ_HOLD, MAP_TIMEOUT_MS);
	if (!r) {
		old->hold_cb(old->cb_ctx, CTL_HOLD_FAILED, VERDICT_REJECT, "cannot reach control");
		return;
	}
	r->hold_cb = old->hold_cb;
	r->cb_ctx = old->cb_ctx;
	r->hold_period = old->hold_period;
	r->hold_pending_told = old->hold_pending_told;
	memcpy(r->hold_src, old->hold_src, sizeof(r->hold_src));
	memcpy(r->hold_user, old->hold_user, sizeof(r->hold_user));
	memcpy(r->hold_id, old->hold_id, sizeof(r->hold_id));
}

int ctl_client_hold(struct ctl_client *c, const char *src, const char *user,
		    uint32_t check_period_s, ctl_hold_cb cb, void *ctx)
{
	struct creq tmpl;
	if (!c->pinned || strlen(src) >= sizeof(tmpl.hold_src) ||
	    strlen(user) >= sizeof(tmpl.hold_user))
		return -EINVAL;
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.hold_cb = cb;
	tmpl.cb_ctx = ctx;
	tmpl.hold_period = check_period_s;
	snprintf(tmpl.hold_src, sizeof(tmpl.hold_src), "%s", src);
	snprintf(tmpl.hold_user, sizeof(tmpl.hold_user), "%s", user);
	hold_send(c, &tmpl);
	return 0;
}

void ctl_client_hold_cancel(struct ctl_client *c, void *ctx)
{
	for (struct creq *r = c->reqs; r; r = r->next) {
		if (r->kind != REQ_HOLD || r->hold_cancel || !r->hold_cb || r->cb_ctx != ctx)
			continue;
		r->hold_cb = NULL;
		if (r->hold_id[0])
			hold_cancel_send(c, r->hold_id);
		/* else: its answer brings the id, and on_hold cancels then */
	}
}
