/* Outbound UDP flows, so the inbound filter can let their answers in (as the kernel's
 * conntrack would): a program on this node that sends a UDP datagram to a peer gets the
 * peer's reply even when the policy only lets traffic flow the other way.  A fixed-size
 * table, no allocation on the packet path; entries expire after MESHD_FLOW_TIMEOUT_MS. */
#ifndef MESH_CMD_DAEMON_FLOWS_H
#define MESH_CMD_DAEMON_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	MESHD_FLOW_SLOTS = 4096,
	MESHD_FLOW_PROBE = 8,
	MESHD_FLOW_TIMEOUT_MS = 120000,
};

struct meshd_flow {
	uint8_t family; /* 0: empty slot; 4 or 6 */
	uint8_t local[16], remote[16];
	uint16_t local_port, remote_port;
	uint64_t last_ms;
};

struct meshd_flows {
	struct meshd_flow slot[MESHD_FLOW_SLOTS];
};

/* Records an outbound IP packet if it is UDP (anything else is ignored). */
void meshd_flows_note_outbound(struct meshd_flows *f, const uint8_t *pkt, size_t len,
			       uint64_t now_ms);

/* True when an inbound UDP datagram src:sport -> dst:dport answers a recorded flow.
 * Addresses in network order, 4 or 16 bytes by family (AF_INET / AF_INET6). */
bool meshd_flows_is_reply(const struct meshd_flows *f, int family, const uint8_t *src,
			  uint16_t sport, const uint8_t *dst, uint16_t dport, uint64_t now_ms);

#endif
