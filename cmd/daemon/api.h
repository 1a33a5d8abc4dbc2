/* meshd's local API: a Unix stream socket (default /run/meshd/meshd.sock) where meshctl
 * sends one JSON request per connection (control/localapi codec).  The peer's
 * credentials (SO_PEERCRED) decide what it may do: anyone may read status or look up an
 * address; dialing and changing state are for those meshd_access_may_act() allows (root,
 * meshd's own user, the operator group). */
#ifndef MESH_CMD_DAEMON_API_H
#define MESH_CMD_DAEMON_API_H

#include <uv.h>

#include "control/localapi/localapi.h"

struct meshd_api;
struct meshd_node;

struct meshd_api_hooks {
	/* Adds what only the daemon knows (control URL and connection, login URL). */
	void (*fill_status)(void *ctx, struct ctl_lapi_status *st);
	/* up / down / logout: returns a reply line from ctl_lapi_reply_*() (malloc'd). */
	char *(*change)(void *ctx, const struct ctl_lapi_request *req);
	void *ctx;
};

/* Listens on path (its directory is created 0755; a stale socket is replaced; the socket
 * is 0666 so everyone can ask, and each request is checked by credentials). */
int meshd_api_start(uv_loop_t *loop, const char *path, const char *operator_group,
		    struct meshd_node *node, const struct meshd_api_hooks *hooks,
		    struct meshd_api **out);
/* Stops listening, drops pending requests, removes the socket file. */
void meshd_api_close(struct meshd_api *api);

/* Appends counter name=value to st->counters (CTL_LAPI_MAX_COUNTERS slots).  A name the local API
 * refuses (not [a-z0-9._]{1,31}) or one past the last slot is not shown; the last slot then becomes
 * "status.unshown", counting them.  (Exposed for tests.) */
void meshd_api_add_counter(struct ctl_lapi_status *st, const char *name, uint64_t value);
/* The status document (exposed for tests). */
void meshd_api_build_status(struct meshd_node *node, struct ctl_lapi_status *st);

#endif
