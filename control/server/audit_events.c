/* Audit events as JSON: the strict parser of a node's {"events": [...]} (every fault refused
 * with the member named: a node is authenticated but not trusted to send well-formed
 * records), the canonical body control stores, a stored row as served, and the JSON-lines
 * export (`meshcontrol audit export`). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/utf8.h"
#include "control/server/audit.h"

const char *const ctl_audit_str_name[CTL_AUDIT_N_STR] = {
	"conn", "session", "src", "src_node", "who", "ssh_user", "local_user", "rule", "detail",
};

static const char *const node_types[] = {
	"ssh.accept",	    "ssh.refuse",  "ssh.check.hold",	"ssh.check.approve",
	"ssh.check.reject", "ssh.revoke",  "ssh.session.start", "ssh.session.end",
	"ssh.session.kill", "ssh.forward", "record.fail",	"audit.lost",
};

bool ctl_audit_node_type(const char *type)
{
	for (size_t i = 0; i < sizeof(node_types) / sizeof(node_types[0]); i++)
		if (strcmp(type, node_types[i]) == 0)
			return true;
	return false;
}

/* Valid UTF-8 (jansson checked that) with no control characters (C0, DEL, C1: common/utf8.h
 * decides): the first bad character's offset, or -1. */
static long control_char(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t len = strlen(s), n;
	for (size_t at = 0; at < len; at += n)
		if (utf8_seq(p + at, len - at, &n) != UTF8_OK || utf8_control(p + at, n))
			return (long)at;
	return -1;
}

static int member_int(json_t *o, const char *key, size_t i, int64_t min, int64_t *out, char *why,
		      size_t len)
{
	json_t *v = json_object_get(o, key);
	if (!v) {
		snprintf(why, len, "events[%zu].%s: missing", i, key);
		return -EINVAL;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min) {
		snprintf(why, len, "events[%zu].%s: expected a whole number >= %" PRId64, i, key,
			 min);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

static int parse_one(json_t *o, size_t i, struct ctl_audit_event *e, char *why, size_t len)
{
	const char *key;
	json_t *v;
	if (!json_is_object(o)) {
		snprintf(why, len, "events[%zu]: expected an object", i);
		return -EINVAL;
	}
	json_object_foreach(o, key, v)
	{
		bool known = !strcmp(key, "seq") || !strcmp(key, "time") || !strcmp(key, "type");
		for (int k = 0; !known && k < CTL_AUDIT_N_STR; k++)
			known = strcmp(key, ctl_audit_str_name[k]) == 0;
		if (!known) {
			snprintf(why, len, "events[%zu]: unknown member '%.64s'", i, key);
			return -EINVAL;
		}
	}
	if (member_int(o, "seq", i, 1, &e->seq, why, len) ||
	    member_int(o, "time", i, 0, &e->time, why, len))
		return -EINVAL;
	json_t *t = json_object_get(o, "type");
	if (!t || !json_is_string(t)) {
		snprintf(why, len, "events[%zu].type: %s", i, t ? "expected a string" : "missing");
		return -EINVAL;
	}
	e->type = json_string_value(t);
	if (!ctl_audit_node_type(e->type) || strlen(e->type) != json_string_length(t)) {
		snprintf(why, len, "events[%zu].type: '%.64s' is not a node event type", i,
			 e->type);
		return -EINVAL;
	}
	for (int k = 0; k < CTL_AUDIT_N_STR; k++) {
		v = json_object_get(o, ctl_audit_str_name[k]);
		e->str[k] = "";
		if (!v)
			continue;
		if (!json_is_string(v)) {
			snprintf(why, len, "events[%zu].%s: expected a string", i,
				 ctl_audit_str_name[k]);
			return -EINVAL;
		}
		const char *s = json_string_value(v);
		size_t slen = json_string_length(v);
		long bad = slen != strlen(s) ? (long)strlen(s) : control_char(s);
		if (slen > CTL_AUDIT_STR_MAX) {
			snprintf(why, len, "events[%zu].%s: %zu bytes, at most %d", i,
				 ctl_audit_str_name[k], slen, CTL_AUDIT_STR_MAX);
			return -EINVAL;
		}
		if (bad >= 0) {
			snprintf(why, len, "events[%zu].%s: a control character at byte %ld", i,
				 ctl_audit_str_name[k], bad);
			return -EINVAL;
		}
		e->str[k] = s;
	}
	return 0;
}

/* The request's "queue": absent (""), or exactly CTL_AUDIT_QUEUE_HEX lowercase hex digits. */
static int parse_queue(json_t *msg, const char **queue, char *why, size_t whylen)
{
	json_t *v = json_object_get(msg, "queue");
	*queue = "";
	if (!v)
		return 0;
	const char *s = json_string_value(v);
	if (!s) {
		snprintf(why, whylen, "queue: expected a string");
		return -EINVAL;
	}
	if (json_string_length(v) != CTL_AUDIT_QUEUE_HEX ||
	    strspn(s, "0123456789abcdef") != CTL_AUDIT_QUEUE_HEX) {
		snprintf(why, whylen, "queue: expected %d lowercase hex digits (the queue's id)",
			 CTL_AUDIT_QUEUE_HEX);
		return -EINVAL;
	}
	*queue = s;
	return 0;
}

int ctl_audit_events_parse(json_t *msg, struct ctl_audit_event *ev, size_t *n, char *why,
			   size_t whylen)
{
	const char *key, *queue;
	json_t *v, *events = json_object_get(msg, "events");
	*n = 0;
	json_object_foreach(msg, key, v)
	{
		if (strcmp(key, "events") != 0 && strcmp(key, "queue") != 0) {
			snprintf(why, whylen,
				 "unknown member '%.64s' (expected \"queue\" and \"events\")", key);
			return -EINVAL;
		}
	}
	if (parse_queue(msg, &queue, why, whylen))
		return -EINVAL;
	if (!json_is_array(events)) {
		snprintf(why, whylen, "events: %s", events ? "expected an array" : "missing");
		return -EINVAL;
	}
	size_t count = json_array_size(events);
	if (count == 0 || count > CTL_AUDIT_EVENTS_MAX) {
		snprintf(why, whylen, "events: %zu events, expected 1 to %d", count,
			 CTL_AUDIT_EVENTS_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < count; i++) {
		if (parse_one(json_array_get(events, i), i, &ev[i], why, whylen))
			return -EINVAL;
		ev[i].queue = queue;
		if (i && ev[i].seq <= ev[i - 1].seq) {
			snprintf(why, whylen,
				 "events[%zu].seq: %" PRId64
				 " is not above the one before (%" PRId64 ")",
				 i, ev[i].seq, ev[i - 1].seq);
			return -EINVAL;
		}
	}
	*n = count;
	return 0;
}

char *ctl_audit_body(const struct ctl_audit_event *e, int64_t received_ms, const char *node,
		     int64_t node_id, const char *actor, const char *source)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	int bad = json_object_set_new(o, "seq", json_integer(e->seq));
	if (e->queue && e->queue[0])
		bad |= json_object_set_new(o, "queue", json_string(e->queue));
	bad |= json_object_set_new(o, "time", json_integer(e->time));
	bad |= json_object_set_new(o, "type", json_string(e->type));
	for (int k = 0; k < CTL_AUDIT_N_STR; k++)
		bad |= json_object_set_new(o, ctl_audit_str_name[k],
					   json_string(e->str[k] ? e->str[k] : ""));
	bad |= json_object_set_new(o, "received", json_integer(received_ms));
	bad |= json_object_set_new(o, "node", json_string(node ? node : ""));
	bad |= json_object_set_new(o, "node_id", json_integer(node_id));
	bad |= json_object_set_new(o, "actor", json_string(actor ? actor : ""));
	bad |= json_object_set_new(o, "source", json_string(source ? source : ""));
	char *s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

json_t *ctl_audit_row(const struct ctl_audit_rec *r)
{
	char hex[2 * CTL_AUDIT_HASH_LEN + 1];
	json_t *row = json_object(), *body = json_loads(r->body, JSON_REJECT_DUPLICATES, NULL);
	if (!row) {
		json_decref(body);
		return NULL;
	}
	json_object_set_new(row, "id", json_integer(r->id));
	if (json_is_object(body)) {
		const char *key;
		json_t *v;
		json_object_foreach(body, key, v)
		{
			if (strcmp(key, "id") && strcmp(key, "hash"))
				json_object_set(row, key, v);
		}
	} else {
		json_object_set_new(row, "type", json_string(r->type));
		json_object_set_new(row, "body_text", json_string(r->body));
	}
	json_decref(body);
	sodium_bin2hex(hex, sizeof(hex), r->hash, CTL_AUDIT_HASH_LEN);
	json_object_set_new(row, "hash", json_string(hex));
	return row;
}

struct export
{
	FILE *out;
	int64_t *after, through;
	int rc;
};

enum { EXPORT_DONE = 1 }; /* export_row past through: the walk stops */

static int export_row(void *ctx, const struct ctl_audit_rec *r)
{
	struct export *x = ctx;
	if (x->through && r->id > x->through)
		return EXPORT_DONE;
	json_t *row = ctl_audit_row(r);
	char *s = row ? json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(row);
	if (!s)
		return -ENOMEM;
	int rc = fprintf(x->out, "%s\n", s) < 0 ? -EPIPE : 0;
	free(s);
	if (!rc)
		*x->after = r->id;
	return rc;
}

int ctl_audit_export(struct ctl_store *s, int64_t *after, int64_t through, FILE *out)
{
	struct export x = { .out = out, .after = after, .through = through };
	for (;;) {
		int64_t before = *after;
		struct ctl_audit_filter f = { .after = *after, .limit = CTL_AUDIT_LIST_MAX };
		int rc = s->ops->audit_list(s, &f, export_row, &x);
		bool done = rc == EXPORT_DONE;
		if (done)
			rc = 0;
		if (!rc && fflush(out) != 0)
			rc = -EPIPE;
		if (rc || done || *after - before < CTL_AUDIT_LIST_MAX)
			return rc;
	}
}
