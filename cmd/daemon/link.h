/* meshd's link to meshcontrol: the login preferences kept in the state directory, the
 * control client's lifetime (meshctl up / down / logout), and what status shows about it.
 * Netmaps from the client go to the node; check-mode holds ride on the same client. */
#ifndef MESH_CMD_DAEMON_LINK_H
#define MESH_CMD_DAEMON_LINK_H

#include <uv.h>

#include "control/localapi/localapi.h"

struct meshd_link;
struct meshd_node;

/* Reads state_dir/prefs; when the node was up before, reconnects (from the cached netmap
 * first).  up (may be NULL: login server, CA file, --insecure-http, auth key, hostname)
 * acts like an initial `meshctl up`; -EINVAL, logged, when it is refused. */
int meshd_link_new(uv_loop_t *loop, const char *state_dir, struct meshd_node *node,
		   const struct ctl_lapi_request *up, struct meshd_link **out);
void meshd_link_free(struct meshd_link *link);

/* Local API hooks. */
void meshd_link_fill_status(void *link, struct ctl_lapi_status *st);
char *meshd_link_change(void *link, const struct ctl_lapi_request *req);

#endif
