/* control/netmap/endpoint.h: a node's UDP endpoint as it travels in the netmap, "a.b.c.d:port"
 * or "[v6]:port".  One parser for control (what it accepts from a node's report) and meshd
 * (what it hands WireGuard), so control never passes on an endpoint meshd would not use. */
#ifndef MESH_CONTROL_NETMAP_ENDPOINT_H
#define MESH_CONTROL_NETMAP_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CTL_ENDPOINT_MAX = 64 }; /* "[ffff:...:ffff]:65535" fits with room */

struct ctl_endpoint {
	uint8_t family;	  /* 4 or 6 */
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	uint16_t port;	  /* 1 to 65535 */
};

/* IPv4 bare, IPv6 in brackets, then ':' and a decimal port 1-65535 (nothing else: no
 * prefix length, no sign, no zone); false with a sentence quoting s in err (may be NULL). */
bool ctl_endpoint_parse(const char *s, struct ctl_endpoint *out, char *err, size_t errlen);

#endif
