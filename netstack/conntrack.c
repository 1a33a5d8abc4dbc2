/* Connection tracking: the TCP connections and UDP flows this node opened or accepted, so
 * that inbound packets belonging to them pass without a policy rule (the answers to what
 * we started), and nothing else does.  Every outbound packet (TUN reads and lwIP output)
 * is noted; an inbound packet is "tracked" when it matches a live entry in the reverse
 * direction.
 *
 * Entries are made only by what this node sends: a SYN (we open), a SYN|ACK (we accept a
 * SYN the policy let in), or other TCP and UDP we send.  A RST we send never makes one.
 * An inbound bare SYN is never tracked: a new connection always asks the policy, even on
 * the four-tuple of a closed one.  Inbound packets move the TCP state (RST closes, FIN
 * starts closing) and keep the entry alive.
 *
 * A fixed table, no allocation on the packet path: open addressing with a seeded hash and
 * NS__CT_PROBE slots per key.  When all of a key's slots are live, an entry that never got
 * established is replaced first, the least recently used one otherwise (counted), so a
 * flood of half-open connections cannot push out established ones.  Timeouts follow
 * Linux conntrack's TCP defaults. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "netstack/internal.h"

enum {
	TCP_FIN = 0x01,
	TCP_SYN = 0x02,
	TCP_RST = 0x04,
	TCP_ACK = 0x10,
};

static const uint64_t timeout_ms[NS__CT_STATE_MAX] = {
	[NS__CT_FREE] = 0,
	[NS__CT_UDP] = NS__CT_UDP_MS,
	[NS__CT_ICMP] = NS__CT_ICMP_MS,
	[NS__CT_SYN_SENT] = NS__CT_SYN_SENT_MS,
	[NS__CT_SYN_RECV] = NS__CT_SYN_RECV_MS,
	[NS__CT_ESTABLISHED] = NS__CT_ESTABLISHED_MS,
	[NS__CT_FIN] = NS__CT_FIN_MS,
	[NS__CT_CLOSE] = NS__CT_CLOSE_MS,
};

void ns__ct_init(struct ns__ct *ct)
{
	memset(ct->slot, 0, sizeof(ct->slot));
	ct->evicted = 0;
	if (getrandom(&ct->seed, sizeof(ct->seed), GRND_NONBLOCK) != sizeof(ct->seed))
		ct->seed = (uint32_t)(uintptr_t)ct ^ 0x9e3779b9u;
}

static uint32_t mix(uint32_t h, uint32_t w)
{
	w *= 0xcc9e2d51u;
	w = w << 15 | w >> 17;
	h ^= w * 0x1b873593u;
	h = h << 13 | h >> 19;
	return h * 5 + 0xe6546b64u;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t w;
	memcpy(&w, p, 4);
	return w;
}

struct key {
	uint8_t family, proto;
	const uint8_t *local, *remote;
	uint16_t lport, rport;
};

static uint32_t hash(const struct ns__ct *ct, const struct key *k)
{
	size_t alen = k->family == AF_INET ? 4 : 16;
	uint32_t h = ct->seed ^ k->proto;
	for (size_t i = 0; i < alen; i += 4)
		h = mix(h, get32(k->local + i));
	for (size_t i = 0; i < alen; i += 4)
		h = mix(h, get32(k->remote + i));
	h = mix(h, (uint32_t)k->lport << 16 | k->rport);
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	return h ^ h >> 13;
}

static bool same(const struct ns__ct_entry *e, const struct key *k)
{
	size_t alen = k->family == AF_INET ? 4 : 16;
	return e->state != NS__CT_FREE && e->family == k->family && e->proto == k->proto &&
	       e->lport == k->lport && e->rport == k->rport &&
	       memcmp(e->local, k->local, alen) == 0 && memcmp(e->remote, k->remote, alen) == 0;
}

static bool live(const struct ns__ct_entry *e, uint64_t now_ms)
{
	return e->state != NS__CT_FREE && now_ms - e->last_ms <= timeout_ms[e->state];
}

/* The live entry for k, or NULL. */
static struct ns__ct_entry *find(struct ns__ct *ct, const struct key *k, uint32_t h,
				 uint64_t now_ms)
{
	for (unsigned i = 0; i < NS__CT_PROBE; i++) {
		struct ns__ct_entry *e = &ct->slot[(h + i) % NS__CT_SLOTS];
		if (same(e, k))
			return live(e, now_ms) ? e : NULL;
	}
	return NULL;
}

/* A slot for k: its own (even expired), a free or expired one, else a victim. */
static struct ns__ct_entry *place(struct ns__ct *ct, const struct key *k, uint32_t h,
				  uint64_t now_ms)
{
	struct ns__ct_entry *victim = NULL;
	int victim_rank = 3; /* 0 free/expired, 1 never established, 2 established */
	for (unsigned i = 0; i < NS__CT_PROBE; i++) {
		struct ns__ct_entry *e = &ct->slot[(h + i) % NS__CT_SLOTS];
		if (same(e, k))
			return e;
		int rank = !live(e, now_ms) ? 0 : e->state == NS__CT_ESTABLISHED ? 2 : 1;
		if (rank < victim_rank ||
		    (rank == victim_rank && rank > 0 && e->last_ms < victim->last_ms)) {
			victim = e;
			victim_rank = rank;
		}
	}
	if (victim_rank > 0)
		ct->evicted++;
	victim->state = NS__CT_FREE;
	return victim;
}

static void fill(struct ns__ct_entry *e, const struct key *k)
{
	size_t alen = k->family == AF_INET ? 4 : 16;
	memset(e, 0, sizeof(*e));
	e->family = k->family;
	e->proto = k->proto;
	memcpy(e->local, k->local, alen);
	memcpy(e->remote, k->remote, alen);
	e->lport = k->lport;
	e->rport = k->rport;
}

/* The state an outbound TCP segment with these flags leaves a connection in. */
static enum ns__ct_state tcp_out(enum ns__ct_state s, uint8_t flags)
{
	if (flags & TCP_RST)
		return NS__CT_CLOSE;
	if (flags & TCP_SYN)
		return (flags & TCP_ACK) ? NS__CT_SYN_RECV : NS__CT_SYN_SENT;
	if (flags & TCP_FIN)
		return NS__CT_FIN;
	if (s == NS__CT_FIN || s == NS__CT_CLOSE)
		return s;
	if (s == NS__CT_FREE || s == NS__CT_SYN_SENT) /* mid-stream, or our ACK of a SYN|ACK */
		return NS__CT_ESTABLISHED;
	return s;
}

/* The state an inbound TCP segment moves a tracked connection to. */
static enum ns__ct_state tcp_in(enum ns__ct_state s, uint8_t flags)
{
	if (flags & TCP_RST)
		return NS__CT_CLOSE;
	if (flags & TCP_FIN)
		return s == NS__CT_CLOSE ? s : NS__CT_FIN;
	if (s == NS__CT_SYN_SENT && (flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK))
		return NS__CT_ESTABLISHED;
	if (s == NS__CT_SYN_RECV && (flags & (TCP_SYN | TCP_ACK)) == TCP_ACK)
		return NS__CT_ESTABLISHED;
	return s;
}

/* An echo request's entry is keyed by its identifier (as lport); the reply carries it back.
 * Only a request makes one: our echo replies answer what the filter let in. */
static struct key echo_key(const struct ns_packet_info *pi, bool outbound)
{
	struct key k = {
		pi->family,  pi->proto, outbound ? pi->src : pi->dst, outbound ? pi->dst : pi->src,
		pi->icmp_id, 0
	};
	return k;
}

void ns__ct_outbound(struct ns__ct *ct, const struct ns_packet_info *pi, uint64_t now_ms)
{
	bool echo = ns__is_echo_request(pi);
	if (pi->proto != IPPROTO_TCP && pi->proto != IPPROTO_UDP && !echo)
		return;
	struct key k = echo ? echo_key(pi, true) : (struct key){ pi->family, pi->proto, pi->src,
								 pi->dst,    pi->sport, pi->dport };
	uint32_t h = hash(ct, &k);
	struct ns__ct_entry *e = find(ct, &k, h, now_ms);
	if (!e) {
		/* Only what opens or answers a connection makes an entry; a RST never does. */
		if (pi->proto == IPPROTO_TCP && (pi->tcp_flags & TCP_RST))
			return;
		e = place(ct, &k, h, now_ms);
		fill(e, &k);
	}
	e->state = echo			      ? NS__CT_ICMP
		   : pi->proto == IPPROTO_UDP ? NS__CT_UDP
					      : tcp_out(e->state, pi->tcp_flags);
	e->last_ms = now_ms;
}

bool ns__ct_inbound(struct ns__ct *ct, const struct ns_packet_info *pi, uint64_t now_ms)
{
	bool echo = ns__is_echo_reply(pi);
	if (pi->proto != IPPROTO_TCP && pi->proto != IPPROTO_UDP && !echo)
		return false;
	if (ns__tcp_bare_syn(pi))
		return false; /* a new connection always asks the policy */
	struct key k =
	    echo ? echo_key(pi, false)
		 : (struct key){ pi->family, pi->proto, pi->dst, pi->src, pi->dport, pi->sport };
	struct ns__ct_entry *e = find(ct, &k, hash(ct, &k), now_ms);
	if (!e)
		return false;
	if (pi->proto == IPPROTO_TCP)
		e->state = tcp_in(e->state, pi->tcp_flags);
	e->last_ms = now_ms;
	return true;
}
