/* control/netmap/endpoint.h: a node's UDP endpoint as it travels in the netmap, a candidate
 * for a direct path or the node's relayed address: "TYPE a.b.c.d:port" or "TYPE [v6]:port"
 * with TYPE one of
 *   local      an address of one of the node's interfaces (its LAN),
 *   reflexive  its address as a STUN server saw it (only from behind an endpoint-independent
 *              NAT: a hard NAT's mapping is worth nothing to anyone else),
 *   relay      its relayed address on its TURN relay (peers bind a channel to it: coturn
 *              relays only between its own relay addresses);
 * an untyped "a.b.c.d:port" (what nodes reported before candidates were typed) is local.
 * One parser for control (what it accepts from a node's report) and meshd (what it hands
 * the path manager), so control never passes on an endpoint meshd would not use. */
#ifndef MESH_CONTROL_NETMAP_ENDPOINT_H
#define MESH_CONTROL_NETMAP_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CTL_ENDPOINT_MAX = 64 }; /* "reflexive [ffff:...:ffff]:65535" fits with room */

enum ctl_endpoint_type {
	CTL_ENDPOINT_LOCAL,
	CTL_ENDPOINT_REFLEXIVE,
	CTL_ENDPOINT_RELAY,
};

/* family stays 4 or 6 here, not common/addr.h's AF_INET/AF_INET6, only because
 * cmd/daemon/reach.c reads it while another change is open there; embed a struct
 * addr_endpoint when that lands. */
struct ctl_endpoint {
	enum ctl_endpoint_type type;
	uint8_t family;	  /* 4 or 6 */
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	uint16_t port;	  /* 1 to 65535 */
};

/* An optional type and one space, then common/addr.h's endpoint (IPv4 bare or IPv6 in
 * brackets, ':', a decimal port 1-65535) without a scope id; false with a sentence quoting
 * s in err (may be NULL). */
bool ctl_endpoint_parse(const char *s, struct ctl_endpoint *out, char *err, size_t errlen);

/* The typed text of e ("relay 198.18.0.10:49152"); it parses back to e. */
void ctl_endpoint_format(const struct ctl_endpoint *e, char out[static CTL_ENDPOINT_MAX]);

/* "local", "reflexive" or "relay". */
const char *ctl_endpoint_type_name(enum ctl_endpoint_type t);

#endif
