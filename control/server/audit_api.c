/* The audit log's HTTP side: the node API path "audit" (a registered node's events: bounded
 * per request and per minute, redeliveries skipped, a skipped seq range noted as audit.gap,
 * a queue that started again under a new id noted as audit.reset),
 * control's own events (ctl__audit), and GET /api/v1/audit with its filters and a bounded
 * long poll for `meshctl audit --follow`.  Everything runs under srv->lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/now.h"
#include "common/text.h"
#include "control/server/audit.h"
#include "control/server/internal.h"

enum { RATE_WINDOW_MS = 60 * 1000 };

void ctl__audit_source(struct MHD_Connection *c, char out[static SRV_SOURCE_MAX])
{
	const union MHD_ConnectionInfo *ci =
	    c ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	snprintf(out, SRV_SOURCE_MAX, "%s", "");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			  SRV_SOURCE_MAX);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  SRV_SOURCE_MAX);
}

void ctl__audit(struct ctl_server *srv, struct MHD_Connection *c, const char *type,
		const struct ctl__node *n, const char *actor, const char *detail)
{
	char source[SRV_SOURCE_MAX], actor_clean[CTL_LOGIN_MAX], detail_clean[512];
	int64_t now = (int64_t)ctl__wall_ms();
	struct ctl_audit_event e = { .time = now, .type = type };
	/* an actor may be what someone typed as a login: stored clean (valid UTF-8, no
	 * control characters), or it would not encode, or would print escapes to a terminal */
	text_clean(actor_clean, sizeof(actor_clean), actor);
	text_clean(detail_clean, sizeof(detail_clean), detail);
	actor = actor_clean;
	e.str[CTL_AUDIT_DETAIL] = detail_clean;
	ctl__audit_source(c, source);
	const char *node = n ? n->rec.hostname : "";
	int64_t node_id = n ? n->rec.id : 0;
	char *body = ctl_audit_body(&e, now, node, node_id, actor, source);
	struct ctl_audit_rec rec = { .received_ms = now,
				     .node_id = node_id,
				     .type = type,
				     .node = node,
				     .who = actor,
				     .body = body };
	int rc = body ? srv->store->ops->audit_append(srv->store, &rec, 1, 0, NULL, NULL) : -ENOMEM;
	if (rc)
		log_warn("meshcontrol", "audit: cannot store %s by '%s': %s", type, actor,
			 strerror(-rc));
	else
		ctl__wake(srv, SRV_WAIT_AUDIT, NULL);
	free(body);
}

/* The node's events of the minute, counted: false when n more would pass the limit. */
static bool rate_take(struct ctl__node *n, size_t count)
{
	uint64_t now = now_mono_ms();
	if (!n->audit_window_ms || now - n->audit_window_ms >= RATE_WINDOW_MS) {
		n->audit_window_ms = now;
		n->audit_count = 0;
	}
	if (n->audit_count + count > CTL_AUDIT_RATE_PER_MIN)
		return false;
	n->audit_count += count;
	return true;
}

struct batch {
	struct ctl_audit_rec recs[2 * CTL_AUDIT_EVENTS_MAX]; /* each event after a gap notice */
	char *bodies[2 * CTL_AUDIT_EVENTS_MAX];
	size_t n;
};

/* Add e (seq 0: control's own) for node n to b; false without memory. */
static bool batch_add(struct batch *b, const struct ctl_audit_event *e, const struct ctl__node *n,
		      int64_t now, const char *source)
{
	char *body = ctl_audit_body(e, now, n->rec.hostname, n->rec.id, "", source);
	if (!body)
		return false;
	b->bodies[b->n] = body;
	b->recs[b->n++] =
	    (struct ctl_audit_rec){ .received_ms = now,
				    .node_id = n->rec.id,
				    .node_seq = e->seq,
				    .type = e->type,
				    .node = n->rec.hostname,
				    .who = e->str[CTL_AUDIT_WHO] ? e->str[CTL_AUDIT_WHO] : "",
				    .body = body,
				    .queue = e->queue };
	return true;
}

/* The events above held into b, after control's audit.reset when reset (the queue the
 * node's last event came from, prev, is not theirs: the node's queue started again, its seqs
 * are a new sequence), each jump in seq preceded by control's audit.gap naming the seqs
 * missing; false without memory. */
static bool build(struct ctl__req *r, const struct ctl__node *n, const struct ctl_audit_event *ev,
		  size_t count, int64_t held, const int64_t *prev, struct batch *b)
{
	char source[SRV_SOURCE_MAX], detail[160];
	int64_t now = (int64_t)ctl__wall_ms(), expect = held + 1;
	ctl__audit_source(r->conn, source);
	if (prev) {
		struct ctl_audit_event reset = { .time = now, .type = "audit.reset" };
		snprintf(detail, sizeof(detail),
			 "the node's audit queue restarted (queue %s, previous reached seq %" PRId64
			 ")",
			 ev[0].queue, *prev);
		reset.str[CTL_AUDIT_DETAIL] = detail;
		if (!batch_add(b, &reset, n, now, source))
			return false;
	}
	for (size_t i = 0; i < count; i++) {
		if (ev[i].seq <= held)
			continue; /* a redelivery */
		if (ev[i].seq > expect) {
			struct ctl_audit_event gap = { .time = now, .type = "audit.gap" };
			if (ev[i].seq == expect + 1)
				snprintf(detail, sizeof(detail), "seq %" PRId64 " missing", expect);
			else
				snprintf(detail, sizeof(detail),
					 "seqs %" PRId64 "..%" PRId64 " missing", expect,
					 ev[i].seq - 1);
			gap.str[CTL_AUDIT_DETAIL] = detail;
			if (!batch_add(b, &gap, n, now, source))
				return false;
		}
		if (!batch_add(b, &ev[i], n, now, source))
			return false;
		expect = ev[i].seq + 1;
	}
	return true;
}

enum MHD_Result ctl__api_audit(struct ctl__req *r, struct ctl__node *n)
{
	struct ctl_server *srv = r->srv;
	struct ctl_store *st = srv->store;
	struct ctl_audit_event *ev = calloc(CTL_AUDIT_EVENTS_MAX, sizeof(*ev));
	struct batch *b = calloc(1, sizeof(*b));
	char why[256];
	size_t count;
	int64_t held = 0;
	enum MHD_Result res;
	if (!ev || !b) {
		res = MHD_NO;
		goto out;
	}
	if (ctl_audit_events_parse(r->msg, ev, &count, why, sizeof(why)) != 0) {
		res = ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "audit: %s", why);
		goto out;
	}
	/* a node sending a queue id other than its last event's: its queue was made anew
	 * (its file removed, or restored from before it was made) and counts from 1 again;
	 * without an id (a node or a queue file from before them) seqs count as they did */
	const char *queue = ev[0].queue;
	char last[CTL_AUDIT_QUEUE_MAX + 1];
	int64_t prev = 0;
	int rc = st->ops->audit_last_queue(st, n->rec.id, last, &prev);
	bool reset = !rc && queue[0] && strcmp(last, queue) != 0;
	if (rc == -ENOENT)
		rc = 0;
	if (!rc)
		rc = st->ops->audit_append(st, NULL, 0, n->rec.id, queue, &held);
	if (!rc && !build(r, n, ev, count, held, reset ? &prev : NULL, b))
		rc = -ENOMEM;
	/* the rows this makes, control's audit.gap notices included (a node jumping its
	 * seqs would otherwise double its rows past the limit); redeliveries cost nothing */
	if (!rc && !rate_take(n, b->n)) {
		res = ctl__sealed_error(r, MHD_HTTP_TOO_MANY_REQUESTS,
					"audit: more than %d events from this node in a minute; "
					"keep them queued and send them later",
					CTL_AUDIT_RATE_PER_MIN);
		goto out;
	}
	if (!rc && b->n)
		rc = st->ops->audit_append(st, b->recs, b->n, n->rec.id, queue, &held);
	if (rc) {
		res = ctl__sealed_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
					"audit: cannot store the events now (%s); keep them queued",
					strerror(-rc));
		goto out;
	}
	if (b->n)
		ctl__wake(srv, SRV_WAIT_AUDIT, NULL);
	/* (the reply drops the lock: nothing of n is used after it) */
	res = ctl__reply_sealed_json(r, MHD_HTTP_OK, json_pack("{s:I}", "acked", (json_int_t)held));
out:
	for (size_t i = 0; b && i < b->n; i++)
		free(b->bodies[i]);
	free(b);
	free(ev);
	return res;
}

/* ---- GET /api/v1/audit ---- */

struct query {
	struct ctl_audit_filter f;
	char who[CTL_AUDIT_STR_MAX + 1], node[CTL_AUDIT_STR_MAX + 1], type[64];
	int64_t wait_s;
	char why[256];
};

/* A whole number in [min, max], else the reason in q->why. */
static bool query_int(struct query *q, const char *key, const char *v, int64_t min, int64_t max,
		      const char *what, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (!*v || *end || errno || *v == '-' || *v == '+' || x < min || x > max) {
		snprintf(q->why, sizeof(q->why), "%s: expected %s, got '%.40s'", key, what, v);
		return false;
	}
	*out = x;
	return true;
}

static bool query_text(struct query *q, const char *key, const char *v, char *out, size_t len)
{
	if (strlen(v) >= len) {
		snprintf(q->why, sizeof(q->why), "%s: longer than %zu bytes", key, len - 1);
		return false;
	}
	snprintf(out, len, "%s", v);
	return true;
}

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *v)
{
	struct query *q = cls;
	(void)kind;
	bool ok;
	v = v ? v : "";
	if (!strcmp(key, "after"))
		ok = query_int(q, key, v, 0, INT64_MAX, "a row id (a whole number >= 0)",
			       &q->f.after);
	else if (!strcmp(key, "since"))
		ok = query_int(q, key, v, 0, INT64_MAX, "unix milliseconds", &q->f.since_ms);
	else if (!strcmp(key, "until"))
		ok = query_int(q, key, v, 0, INT64_MAX, "unix milliseconds", &q->f.until_ms);
	else if (!strcmp(key, "limit"))
		ok = query_int(q, key, v, 1, CTL_AUDIT_LIST_MAX, "1 to 1000", &q->f.limit);
	else if (!strcmp(key, "wait"))
		ok = query_int(q, key, v, 0, CTL_AUDIT_WAIT_MAX_S, "0 to 30 seconds", &q->wait_s);
	else if (!strcmp(key, "user"))
		ok = query_text(q, key, v, q->who, sizeof(q->who));
	else if (!strcmp(key, "node"))
		ok = query_text(q, key, v, q->node, sizeof(q->node));
	else if (!strcmp(key, "type")) {
		ok = query_text(q, key, v, q->type, sizeof(q->type));
		if (ok && strspn(v, "abcdefghijklmnopqrstuvwxyz.") != strlen(v)) {
			snprintf(q->why, sizeof(q->why),
				 "type: '%.40s' is not an event type (like ssh.refuse) or a "
				 "prefix of one (like ssh)",
				 v);
			ok = false;
		}
	} else {
		snprintf(q->why, sizeof(q->why),
			 "unknown parameter '%.40s' (known: after, since, until, user, node, type, "
			 "limit, wait)",
			 key);
		ok = false;
	}
	return ok ? MHD_YES : MHD_NO;
}

static int row_json(void *ctx, const struct ctl_audit_rec *r)
{
	json_t *row = ctl_audit_row(r);
	return row && json_array_append_new(ctx, row) == 0 ? 0 : -ENOMEM;
}

static size_t audit_waiters(struct ctl_server *srv)
{
	return srv->n_waiting[SRV_WAIT_AUDIT];
}

enum MHD_Result ctl__admin_audit(struct ctl__req *r, const char *method, const char *rest)
{
	struct ctl_server *srv = r->srv;
	struct query q = { .f.limit = CTL_AUDIT_LIST_DEFAULT };
	if (*rest || strcmp(method, "GET") != 0)
		return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no such admin endpoint");
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_arg, &q);
	if (q.why[0])
		return ctl__reply_error(r->conn, MHD_HTTP_BAD_REQUEST, "%s", q.why);
	q.f.who = q.who;
	q.f.node = q.node;
	q.f.type = q.type;
	/* the last row before the scan: with fewer rows than the limit matched, the scan went
	 * past it, so the next query starts there, not again at `after` (a filter matching
	 * nothing would otherwise have every --follow wake-up read the log from the start) */
	int64_t head = 0;
	uint8_t head_hash[CTL_AUDIT_HASH_LEN];
	if (srv->store->ops->audit_head(srv->store, &head, head_hash) != 0)
		head = 0;
	json_t *events = json_array();
	if (!events)
		return MHD_NO;
	int rc = srv->store->ops->audit_list(srv->store, &q.f, row_json, events);
	if (rc) {
		json_decref(events);
		return ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
					"cannot read the audit log: %s", strerror(-rc));
	}
	uint64_t now = now_mono_ms();
	bool waited = r->wait == SRV_WAIT_AUDIT;
	if (!json_array_size(events) && q.wait_s && !srv->stopping && !srv->draining &&
	    (!waited || now < r->deadline_ms)) {
		json_decref(events);
		if (!waited && audit_waiters(srv) >= CTL_AUDIT_WAITERS_MAX)
			return ctl__reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
						"%d requests already wait for audit events; try "
						"again without wait",
						CTL_AUDIT_WAITERS_MAX);
		ctl__suspend(r, SRV_WAIT_AUDIT,
			     waited ? r->deadline_ms : now + (uint64_t)q.wait_s * 1000);
		return MHD_YES;
	}
	size_t n = json_array_size(events);
	json_int_t next =
	    n ? json_integer_value(json_object_get(json_array_get(events, n - 1), "id"))
	      : (json_int_t)q.f.after;
	if ((!q.f.limit || n < (size_t)q.f.limit) && head > next)
		next = (json_int_t)head;
	return ctl__reply_json(r->conn, MHD_HTTP_OK,
			       json_pack("{s:o, s:I}", "events", events, "next", next));
}
