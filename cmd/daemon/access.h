/* Who may act as this node from this machine.  Dialing out through meshd (the local API's
 * dial, SOCKS5) makes connections with the node's tailnet identity, and changing its state
 * (up, down, logout) decides what that identity is; both are for root, the user meshd runs
 * as, and members of --operator-group, whether meshd runs as root or not.  The kernel
 * tells us who asks (SO_PEERCRED); a password or a TCP port could not. */
#ifndef MESH_CMD_DAEMON_ACCESS_H
#define MESH_CMD_DAEMON_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ns;

/* True for root, meshd's effective uid, and members of operator_group (NULL: none),
 * by primary or supplementary group. */
bool meshd_access_may_act(const char *operator_group, uid_t uid, gid_t gid);

/* The refusal meshctl shows for verb: names who may do it (this meshd's user, the group). */
void meshd_access_denied(char *buf, size_t len, const char *verb, const char *operator_group);

/* Starts SOCKS5 on the Unix socket path for those who may act (0600, or 0660 for the
 * operator group, which must exist). */
int meshd_access_socks5_start(struct ns *ns, const char *path, const char *operator_group);

#endif
