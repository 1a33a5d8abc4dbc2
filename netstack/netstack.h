/* netstack/: TUN device, lwIP glue, inbound dispatch, packet filter, TCP interception (ns_listen), userspace-mode forwarding and dialing. The only module that includes lwIP. */
#ifndef MESH_NETSTACK_H
#define MESH_NETSTACK_H

#endif
