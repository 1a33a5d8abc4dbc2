/* The node's live SSH sessions to control (node API "sessions", control/netmap/sessions.h):
 * the whole list each time, sealed like every node request; the answer {"stored": N}.  And
 * the other way: a map message's "kill_sessions" ([{"id": "s7", "since": T}]: the session and
 * its start as the node reported it), handed to on_kill_session one by one. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "control/client/internal.h"
#include "control/netmap/netmap_json.h"
#include "control/netmap/sessions.h"

void ctl__on_sessions(struct ctl_client *c, struct creq *r, long status)
{
	char err[512];
	(void)c;
	if (!r->sessions_cb)
		return;
	json_t *j = ctl__response_json(r, status, err, sizeof(err));
	if (j && status == 200 && json_is_integer(json_object_get(j, "stored"))) {
		r->sessions_cb(r->cb_ctx, 0, "");
	} else {
		const char *e = json_string_value(json_object_get(j, "error"));
		if (j && !e)
			snprintf(err, sizeof(err), "HTTP %ld: no \"stored\" in the answer", status);
		r->sessions_cb(r->cb_ctx, status ? -EIO : -ENOTCONN, e ? e : err);
	}
	json_decref(j);
}

int ctl_client_sessions_send(struct ctl_client *c, const struct ctl_session *v, size_t n,
			     ctl_sessions_sent_cb cb, void *ctx)
{
	if (!c->pinned || !c->registered)
		return -ENOTCONN;
	if (n > CTL_SESSIONS_MAX)
		return -EINVAL;
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, ctl__session_json(&v[i]))) {
			json_decref(a);
			return -ENOMEM;
		}
	json_t *j = a ? json_pack("{s:o}", "sessions", a) : NULL;
	if (!j)
		return -ENOMEM;
	struct creq *r = ctl__post_json(c, "/machine/sessions", j, REQ_SESSIONS, REQ_TIMEOUT_MS);
	if (!r)
		return -EIO;
	r->sessions_cb = cb;
	r->cb_ctx = ctx;
	return 0;
}

void ctl_client_sessions_cancel(struct ctl_client *c, void *ctx)
{
	for (struct creq *r = c->reqs; r; r = r->next)
		if (r->kind == REQ_SESSIONS && r->cb_ctx == ctx)
			r->sessions_cb = NULL;
}

void ctl__kill_sessions(struct ctl_client *c, json_t *msg)
{
	json_t *a = json_object_get(msg, "kill_sessions"), *v;
	size_t i;
	if (!a)
		return;
	if (!json_is_array(a) || json_array_size(a) > CTL_SESSIONS_KILL_MAX) {
		log_warn("control",
			 "map message: \"kill_sessions\" is not an array of at most %d "
			 "session IDs: ignored",
			 CTL_SESSIONS_KILL_MAX);
		return;
	}
	json_array_foreach(a, i, v)
	{
		const char *id = json_string_value(json_object_get(v, "id"));
		json_t *since = json_object_get(v, "since");
		if (!id || !ctl_session_id_valid(id) || !json_is_integer(since) ||
		    json_integer_value(since) < 0) {
			log_warn("control",
				 "map message: kill_sessions[%zu] is not {\"id\": \"s7\", "
				 "\"since\": T}",
				 i);
			continue;
		}
		if (c->cfg.on_kill_session)
			c->cfg.on_kill_session(c->cfg.ctx, id, json_integer_value(since));
	}
}
