/* meshd's live SSH sessions reported to control (node API "sessions",
 * control/netmap/sessions.h), so an admin sees them tailnet-wide (`meshctl sessions --all`):
 * the whole list each time it changes, at most one request a second, one in flight; again
 * after each reconnect to control (which may have restarted and forgotten it); a failure is
 * retried with backoff.
 *
 *   meshd_sessions_report_new(loop, reg, &rep);	// follows reg's changes
 *   meshd_sessions_report_set_control(rep, client);	// NULL: none (nothing sent)
 *   meshd_sessions_report_resend(rep);		// the map stream answered again
 *   meshd_sessions_report_close(rep);			// before reg is freed */
#ifndef MESH_CMD_DAEMON_SESSIONS_REPORT_H
#define MESH_CMD_DAEMON_SESSIONS_REPORT_H

#include <uv.h>

struct ctl_client;
struct meshd_sessions;
struct meshd_sessions_report;

/* 0 or -ENOMEM. */
int meshd_sessions_report_new(uv_loop_t *loop, struct meshd_sessions *reg,
			      struct meshd_sessions_report **out);
void meshd_sessions_report_set_control(struct meshd_sessions_report *rep,
				       struct ctl_client *client);
void meshd_sessions_report_resend(struct meshd_sessions_report *rep);
/* Stops following reg; the memory goes once the timer has closed on the loop. */
void meshd_sessions_report_close(struct meshd_sessions_report *rep);

#endif
