/* The outbound UDP flow table: replies to recorded flows pass, anything else does not;
 * IPv4 and IPv6; expiry; non-UDP and fragments ignored; a full table keeps working. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "check.h"
#include "cmd/daemon/flows.h"

static size_t udp4(uint8_t *p, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	memset(p, 0, 28);
	p[0] = 0x45;
	p[9] = 17;
	inet_pton(AF_INET, src, p + 12);
	inet_pton(AF_INET, dst, p + 16);
	p[20] = (uint8_t)(sport >> 8);
	p[21] = (uint8_t)sport;
	p[22] = (uint8_t)(dport >> 8);
	p[23] = (uint8_t)dport;
	return 28;
}

static size_t udp6(uint8_t *p, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	memset(p, 0, 48);
	p[0] = 0x60;
	p[6] = 17;
	inet_pton(AF_INET6, src, p + 8);
	inet_pton(AF_INET6, dst, p + 24);
	p[40] = (uint8_t)(sport >> 8);
	p[41] = (uint8_t)sport;
	p[42] = (uint8_t)(dport >> 8);
	p[43] = (uint8_t)dport;
	return 48;
}

static bool reply4(const struct meshd_flows *f, const char *src, uint16_t sport, const char *dst,
		   uint16_t dport, uint64_t now)
{
	uint8_t s[4], d[4];
	inet_pton(AF_INET, src, s);
	inet_pton(AF_INET, dst, d);
	return meshd_flows_is_reply(f, AF_INET, s, sport, d, dport, now);
}

int main(void)
{
	struct meshd_flows *f = calloc(1, sizeof(*f));
	uint8_t pkt[64], a6[16], b6[16];
	size_t n;

	n = udp4(pkt, "100.64.0.1", 40000, "100.64.0.2", 53);
	meshd_flows_note_outbound(f, pkt, n, 1000);
	CHECK(reply4(f, "100.64.0.2", 53, "100.64.0.1", 40000, 2000));
	CHECK(!reply4(f, "100.64.0.2", 54, "100.64.0.1", 40000, 2000));	 /* other port */
	CHECK(!reply4(f, "100.64.0.3", 53, "100.64.0.1", 40000, 2000));	 /* other peer */
	CHECK(!reply4(f, "100.64.0.2", 53, "100.64.0.1", 40001, 2000));	 /* other local port */
	CHECK(reply4(f, "100.64.0.2", 53, "100.64.0.1", 40000, 1000 + MESHD_FLOW_TIMEOUT_MS));
	CHECK(!reply4(f, "100.64.0.2", 53, "100.64.0.1", 40000, 1001 + MESHD_FLOW_TIMEOUT_MS));
	/* Sending again refreshes the entry. */
	meshd_flows_note_outbound(f, pkt, n, 200000);
	CHECK(reply4(f, "100.64.0.2", 53, "100.64.0.1", 40000, 250000));

	/* TCP and a later fragment are not recorded. */
	n = udp4(pkt, "100.64.0.1", 40002, "100.64.0.2", 53);
	pkt[9] = 6;
	meshd_flows_note_outbound(f, pkt, n, 1000);
	CHECK(!reply4(f, "100.64.0.2", 53, "100.64.0.1", 40002, 1000));
	n = udp4(pkt, "100.64.0.1", 40003, "100.64.0.2", 53);
	pkt[7] = 10; /* fragment offset */
	meshd_flows_note_outbound(f, pkt, n, 1000);
	CHECK(!reply4(f, "100.64.0.2", 53, "100.64.0.1", 40003, 1000));
	/* Truncated packets are ignored without reading past them. */
	meshd_flows_note_outbound(f, pkt, 25, 1000);
	meshd_flows_note_outbound(f, pkt, 0, 1000);

	/* IPv6. */
	n = udp6(pkt, "fd7a:115c:a1e0::1", 5000, "fd7a:115c:a1e0::2", 6000);
	meshd_flows_note_outbound(f, pkt, n, 1000);
	inet_pton(AF_INET6, "fd7a:115c:a1e0::1", a6);
	inet_pton(AF_INET6, "fd7a:115c:a1e0::2", b6);
	CHECK(meshd_flows_is_reply(f, AF_INET6, b6, 6000, a6, 5000, 1500));
	CHECK(!meshd_flows_is_reply(f, AF_INET6, a6, 5000, b6, 6000, 1500)); /* wrong way */

	/* Far more flows than slots: no crash, and the newest flows are answered. */
	char dst[32];
	int found = 0;
	for (int i = 0; i < 3 * MESHD_FLOW_SLOTS; i++) {
		snprintf(dst, sizeof(dst), "100.64.%d.%d", 1 + (i / 250) % 250, 1 + i % 250);
		n = udp4(pkt, "100.64.0.1", (uint16_t)(10000 + i % 50000), dst, 9);
		meshd_flows_note_outbound(f, pkt, n, 300000 + (uint64_t)i);
	}
	for (int i = 3 * MESHD_FLOW_SLOTS - 100; i < 3 * MESHD_FLOW_SLOTS; i++) {
		snprintf(dst, sizeof(dst), "100.64.%d.%d", 1 + (i / 250) % 250, 1 + i % 250);
		found += reply4(f, dst, 9, "100.64.0.1", (uint16_t)(10000 + i % 50000), 400000);
	}
	CHECK_INT(found, 100);
	free(f);
	return check_finish();
}
