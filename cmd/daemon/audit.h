/* meshd's audit events (audit/audit.h): what emits them and how they reach control.
 *
 * audit.c emits, from the SSH hooks: ssh.accept / ssh.refuse (the deciding rule, the reason)
 * / ssh.check.hold at each login's decision, ssh.check.approve / ssh.check.reject at the
 * hold's outcome, ssh.revoke when a revalidation closes a connection, ssh.forward for every
 * -L/-R/-A opened, ssh.session.start / ssh.session.end around every session (it wraps the
 * recording's session hooks), and record.fail from the recording (record.c).
 *
 * audit_send.c keeps them in state_dir/audit.queue (bounded: the oldest dropped, counted and
 * reported as audit.lost), fdatasyncs within 1 s of an append (one sync a second whatever
 * the rate: a burst of refusals does not cost a sync each), and sends the synced ones in
 * order, AUDIT_BATCH_MAX a request, while meshd has a control client; control's
 * {"acked": S} drops them.  Unreachable or 429: the next try after a backoff with jitter
 * (1 s doubling to 30 s).  Nothing here blocks the loop but the sync and the small appends.
 * Counters: audit.queued, audit.sent, audit.lost, audit.pending, audit.unqueued.
 *
 *   meshd_audit_new(loop, state_dir, &a);       // opens the queue (error logged)
 *   meshd_audit_emit(a, &ev);                   // anywhere on the loop
 *   meshd_audit_set_control(a, client);         // NULL while there is none
 *   meshd_audit_close(a, done, arg);            // syncs; done once the timers closed */
#ifndef MESH_CMD_DAEMON_AUDIT_H
#define MESH_CMD_DAEMON_AUDIT_H

#include <stdint.h>
#include <uv.h>

#include "audit/audit.h"
#include "common/addr.h"

struct ctl_client;
struct meshd_audit;
struct meshd_node;

/* Opens state_dir/audit.queue.  On failure (a file that is not a queue, ...) the reason is
 * logged as an error and *out is NULL: meshd runs, its events are not kept (no audit.*
 * counters show that). */
int meshd_audit_new(uv_loop_t *loop, const char *state_dir, struct meshd_audit **out);
/* Queues e (time_ms 0: now).  a may be NULL (counted nowhere: no queue). */
void meshd_audit_emit(struct meshd_audit *a, struct audit_event *e);
/* The client to send through (NULL: none); a request of the old one is forgotten. */
void meshd_audit_set_control(struct meshd_audit *a, struct ctl_client *client);
void meshd_audit_counters(const struct meshd_audit *a,
			  void (*cb)(void *ctx, const char *name, uint64_t value), void *ctx);
/* Syncs and closes; done(arg) runs once the memory is gone (a NULL a: at once). */
void meshd_audit_close(struct meshd_audit *a, void (*done)(void *arg), void *arg);

/* An SSH event about a login from src (NULL: unknown) as ssh_user: src_node and who from the
 * node's netmap, the deciding rule ("ssh[N]") re-decided over it, the rest as given (NULL:
 * ""). */
void meshd_audit_ssh(const struct meshd_node *node, enum audit_type type, const struct addr_ip *src,
		     const char *ssh_user, const char *local_user, const char *detail);
/* An ssh.refuse for user from peer (NULL: unknown), detail why, under the flood rule: at
 * most MESHD_REFUSE_BURST rows a minute for one source, the rest counted as one row (the
 * login's decision, and a session refused for the node's cap on live sessions). */
struct sockaddr;
void meshd_audit_refuse(struct meshd_node *node, const struct sockaddr *peer, const char *user,
			const char *local_user, const char *why, uint64_t conn_id);
/* ... about a session: its ID ("s7", NULL: none) and its connection's number (0: none). */
void meshd_audit_session(const struct meshd_node *node, enum audit_type type,
			 const struct addr_ip *src, const char *ssh_user, const char *local_user,
			 const char *detail, const char *session, uint64_t conn_id);

#endif
