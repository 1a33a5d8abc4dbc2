/* wg/: userspace WireGuard: Noise IK handshake, transport, timers, AllowedIPs, UDP device, UAPI. Knows nothing of TUN, lwIP, SSH or JSON: packets enter and leave through callbacks. */
#ifndef MESH_WG_H
#define MESH_WG_H

#endif
