/* control/server internal: the seam between meshcontrol and the policy engine.  It turns
 * the server's nodes into a policy topology, compiles, and hands each node its packet
 * filter and SSH rules (as netmap JSON) and the peers it may see. */
#ifndef MESH_CONTROL_POLGLUE_H
#define MESH_CONTROL_POLGLUE_H

#include <stdbool.h>
#include <stddef.h>

struct ctl_server;

/* Parse, validate, compile against the current nodes and run the policy's tests.  With
 * commit, every node's filter_json, ssh_json and vis are replaced and the compiled policy
 * is kept; without, nothing changes.  0, -EINVAL (err says why) or -ENOMEM. */
int polglue_apply(struct ctl_server *srv, const char *text, bool commit, char *err,
		  size_t errlen);
void polglue_free(struct ctl_server *srv);

#endif
