/* control/server/audit.h: the audit log at control (issue #18; docs/audit.md).
 *
 *     struct ctl_audit_event ev[CTL_AUDIT_EVENTS_MAX];
 *     size_t n;
 *     char why[256];
 *     if (ctl_audit_events_parse(msg, ev, &n, why, sizeof(why)) != 0)
 *             refuse with why ("events[3].type: 'ssh.nope' is not a node event type")
 *     char *body = ctl_audit_body(&ev[0], received_ms, "srv", 7, "", "192.0.2.1");
 *
 * A node sends {"events": [EVENT, ...]} on the node API path "audit" (the wire format in
 * docs/audit.md, shared with the node's sender); control stores each event's canonical JSON
 * (ctl_audit_body: the event's members in a fixed order, with what control adds: received,
 * node, node_id, actor, source) in the store's hash-chained log (store.h), and writes events
 * of its own (registrations, sign-ins, admin changes) the same way.  Rows are served by GET
 * /api/v1/audit and exported as JSON lines with id and hash added (ctl_audit_row). */
#ifndef MESH_CONTROL_SERVER_AUDIT_H
#define MESH_CONTROL_SERVER_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "control/server/store.h"

enum {
	CTL_AUDIT_EVENTS_MAX = 256,	/* events in one request */
	CTL_AUDIT_BODY_MAX = 256 << 10, /* a request's JSON */
	CTL_AUDIT_STR_MAX = 512,	/* bytes of each string member */
	CTL_AUDIT_RATE_PER_MIN = 1200,	/* events a node may send a minute (then 429) */
	CTL_AUDIT_LIST_DEFAULT = 100,
	CTL_AUDIT_LIST_MAX = 1000,
	CTL_AUDIT_WAIT_MAX_S = 30,  /* GET /api/v1/audit?wait=S */
	CTL_AUDIT_WAITERS_MAX = 64, /* requests waiting at once (meshctl audit --follow) */
	CTL_AUDIT_QUEUE_HEX = 32,   /* a node queue's id: 16 bytes in hex */
};

/* An event's string members, in the order they are stored. */
enum ctl_audit_str {
	CTL_AUDIT_CONN,
	CTL_AUDIT_SESSION,
	CTL_AUDIT_SRC,
	CTL_AUDIT_SRC_NODE,
	CTL_AUDIT_WHO,
	CTL_AUDIT_SSH_USER,
	CTL_AUDIT_LOCAL_USER,
	CTL_AUDIT_RULE,
	CTL_AUDIT_DETAIL,
	CTL_AUDIT_N_STR,
};

extern const char *const ctl_audit_str_name[CTL_AUDIT_N_STR];

/* One event: a node's as parsed (the strings point into the request, "" when absent) or
 * one of control's own (seq 0). */
struct ctl_audit_event {
	int64_t seq, time;
	const char *type;
	const char *queue; /* the node's queue's id (its request's "queue"); NULL or "": none */
	const char *str[CTL_AUDIT_N_STR];
};

/* Whether type is one a node may send. */
bool ctl_audit_node_type(const char *type);

/* A node's request: 0 with its n events (1..CTL_AUDIT_EVENTS_MAX, seq strictly ascending),
 * each with the request's queue id ("queue": CTL_AUDIT_QUEUE_HEX lowercase hex digits; ""
 * when absent: a node from before queue ids, or with a queue file made before them), or
 * -EINVAL with the first fault in why, naming the member ("events[2].seq: 5 is not
 * above the one before (5)").  The events point into msg. */
int ctl_audit_events_parse(json_t *msg, struct ctl_audit_event *ev, size_t *n, char *why,
			   size_t whylen);

/* The canonical JSON stored for e (malloc'd; NULL: no memory); e's queue, when it has one,
 * is the member "queue" after "seq" (the store's index of a node's seqs reads it there). */
char *ctl_audit_body(const struct ctl_audit_event *e, int64_t received_ms, const char *node,
		     int64_t node_id, const char *actor, const char *source);

/* A stored row as served: {"id": N, the body's members..., "hash": "HEX"} (a new reference;
 * a body that is not a JSON object (a tampered row) is served as "body_text"). */
json_t *ctl_audit_row(const struct ctl_audit_rec *r);

#endif
