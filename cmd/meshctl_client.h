/* meshctl's side of the local API: one request, one answer line, optionally a passed
 * socket.  Errors are printed for a person (daemon not running, permission denied...). */
#ifndef MESH_CMD_MESHCTL_CLIENT_H
#define MESH_CMD_MESHCTL_CLIENT_H

#include <stddef.h>

#include "control/localapi/localapi.h"

/* The socket path: --socket given to meshctl, else $MESHD_SOCKET, else the default. */
void meshctl_set_socket(const char *path);
const char *meshctl_socket(void);

/* Sends req, returns the answer line (malloc'd, NUL-terminated) or NULL after printing
 * why.  When fd_out is non-NULL a passed descriptor is stored there (-1 if none). */
char *meshctl_call(const struct ctl_lapi_request *req, int *fd_out);

/* Fetches the status; 0 or 1 (message printed). */
int meshctl_get_status(struct ctl_lapi_status *st, char **raw);

/* A peer (or self) by name, DNS name or address; NULL when unknown. */
const struct ctl_lapi_node *meshctl_find_node(const struct ctl_lapi_status *st, const char *host);

/* "100.64.0.2" (first IPv4, else first address) into buf. */
void meshctl_node_addr(const struct ctl_lapi_node *n, int family, char *buf, size_t len);

#endif
