/* SSH host keys as nodes publish them and clients write them to known_hosts: one line
 * "TYPE BASE64" of a known type, whose decoded blob starts with the same type.  Control
 * accepts nothing else from a node, and meshctl checks again before writing, so a node
 * cannot add lines for other hosts (@cert-authority, @revoked) to anyone's known_hosts. */
#ifndef MESH_CONTROL_NETMAP_HOSTKEY_H
#define MESH_CONTROL_NETMAP_HOSTKEY_H

#include <stdbool.h>
#include <stddef.h>

enum { CTL_SSH_HOST_KEY_MAX = 1024 }; /* characters; a 4096-bit RSA key needs 716 */

/* True when line is a well-formed host key (see above); else false with a sentence that
 * quotes the start of the bad key in err (when errlen > 0). */
bool ctl_ssh_host_key_valid(const char *line, char *err, size_t errlen);

#endif
