/* Outbound UDP flow table: open addressing over a fixed array, bounded probing, the
 * oldest probed slot is replaced when all are in use. */
#include "cmd/daemon/flows.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static uint32_t flow_hash(uint8_t family, const uint8_t *local, uint16_t lport,
			  const uint8_t *remote, uint16_t rport)
{
	size_t alen = family == 4 ? 4 : 16;
	uint32_t h = 2166136261u ^ family;
	for (size_t i = 0; i < alen; i++)
		h = (h ^ local[i]) * 16777619u;
	for (size_t i = 0; i < alen; i++)
		h = (h ^ remote[i]) * 16777619u;
	h = (h ^ lport) * 16777619u;
	h = (h ^ rport) * 16777619u;
	return h;
}

static bool same(const struct meshd_flow *s, uint8_t family, const uint8_t *local,
		 uint16_t lport, const uint8_t *remote, uint16_t rport)
{
	size_t alen = family == 4 ? 4 : 16;
	return s->family == family && s->local_port == lport && s->remote_port == rport &&
	       memcmp(s->local, local, alen) == 0 && memcmp(s->remote, remote, alen) == 0;
}

void meshd_flows_note_outbound(struct meshd_flows *f, const uint8_t *pkt, size_t len,
			       uint64_t now_ms)
{
	uint8_t family;
	const uint8_t *src, *dst, *udp;
	if (len >= 20 && (pkt[0] >> 4) == 4) {
		size_t ihl = (size_t)(pkt[0] & 15) * 4;
		if (pkt[9] != IPPROTO_UDP || ihl < 20 || len < ihl + 8)
			return;
		if ((pkt[6] & 0x1f) || pkt[7]) /* a later fragment has no UDP header */
			return;
		family = 4;
		src = pkt + 12;
		dst = pkt + 16;
		udp = pkt + ihl;
	} else if (len >= 48 && (pkt[0] >> 4) == 6) {
		if (pkt[6] != IPPROTO_UDP) /* extension headers: not tracked */
			return;
		family = 6;
		src = pkt + 8;
		dst = pkt + 24;
		udp = pkt + 40;
	} else {
		return;
	}
	uint16_t lport = (uint16_t)(udp[0] << 8 | udp[1]), rport = (uint16_t)(udp[2] << 8 | udp[3]);
	uint32_t h = flow_hash(family, src, lport, dst, rport);
	struct meshd_flow *victim = NULL;
	for (unsigned i = 0; i < MESHD_FLOW_PROBE; i++) {
		struct meshd_flow *s = &f->slot[(h + i) % MESHD_FLOW_SLOTS];
		if (same(s, family, src, lport, dst, rport)) {
			s->last_ms = now_ms;
			return;
		}
		/* Replace an empty slot if there is one, else the least recently used. */
		if (s->family == 0) {
			if (!victim || victim->family != 0)
				victim = s;
		} else if (!victim || (victim->family != 0 && s->last_ms < victim->last_ms)) {
			victim = s;
		}
	}
	size_t alen = family == 4 ? 4 : 16;
	memset(victim, 0, sizeof(*victim));
	victim->family = family;
	memcpy(victim->local, src, alen);
	memcpy(victim->remote, dst, alen);
	victim->local_port = lport;
	victim->remote_port = rport;
	victim->last_ms = now_ms;
}

bool meshd_flows_is_reply(const struct meshd_flows *f, int family, const uint8_t *src,
			  uint16_t sport, const uint8_t *dst, uint16_t dport, uint64_t now_ms)
{
	uint8_t fam = family == AF_INET ? 4 : 6;
	uint32_t h = flow_hash(fam, dst, dport, src, sport);
	for (unsigned i = 0; i < MESHD_FLOW_PROBE; i++) {
		const struct meshd_flow *s = &f->slot[(h + i) % MESHD_FLOW_SLOTS];
		if (same(s, fam, dst, dport, src, sport))
			return now_ms - s->last_ms <= MESHD_FLOW_TIMEOUT_MS;
	}
	return false;
}
