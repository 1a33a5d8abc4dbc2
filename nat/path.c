/* The path manager of one peer (see path.h).  Reports only change state; every decision is
 * made in nat_path_tick.  When a ping is due comes from one place (cand_due, gate, busy_until)
 * that both the tick and nat_path_next_deadline read, so a deadline is exactly the moment
 * the tick has something to do, and a tick before it does nothing. */
#include "nat/path.h"
#include "nat/internal.h"
#include "nat/stun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

enum { ADDR_TEXT = INET6_ADDRSTRLEN + 8 };

/* t + d, where NAT_PATH_NEVER stays never and the sum saturates. */
static uint64_t later(uint64_t t, uint64_t d)
{
	return t == NAT_PATH_NEVER || d >= NAT_PATH_NEVER - t ? NAT_PATH_NEVER : t + d;
}

/* At now, d or more has passed since t (always, when t is NAT_PATH_NEVER). */
static bool passed(uint64_t now, uint64_t t, uint64_t d)
{
	return t == NAT_PATH_NEVER || now >= later(t, d);
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The time of a report: never earlier than one already seen, never NAT_PATH_NEVER. */
static uint64_t clock_at(struct nat_path *p, uint64_t now)
{
	if (now == NAT_PATH_NEVER)
		now--;
	if (now > p->now_ms)
		p->now_ms = now;
	return p->now_ms;
}

static void addr_text(const struct sockaddr *sa, char out[ADDR_TEXT])
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, ADDR_TEXT, "%s:%u", host, ntohs(in->sin_port));
		return;
	}
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
	snprintf(out, ADDR_TEXT, "[%s]:%u", host, ntohs(in6->sin6_port));
}

int nat_path_check_addr(const struct sockaddr *sa, char *err, size_t errlen)
{
	char text[ADDR_TEXT];
	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
		nat__fail(err, errlen,
			  "candidate of address family %d: only IPv4 and IPv6 are paths",
			  sa ? sa->sa_family : -1);
		return -EINVAL;
	}
	addr_text(sa, text);
	const char *why = NULL;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		uint32_t a = ntohl(in->sin_addr.s_addr);
		if (a >> 24 == 0)
			why = "in 0.0.0.0/8, which is no destination";
		else if (a >> 28 == 0xE)
			why = "multicast";
		else if (a == 0xFFFFFFFFu)
			why = "broadcast";
		else if (in->sin_port == 0)
			why = "port 0";
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			why = "the unspecified address";
		else if (IN6_IS_ADDR_MULTICAST(&in6->sin6_addr))
			why = "multicast";
		else if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			why = "IPv4-mapped (an IPv4 path is given as IPv4)";
		else if (in6->sin6_port == 0)
			why = "port 0";
	}
	if (why) {
		nat__fail(err, errlen, "candidate %s: %s", text, why);
		return -EINVAL;
	}
	return 0;
}

/* Copies only the family's own struct: the caller's may be no larger. */
static void addr_store(struct sockaddr_storage *dst, const struct sockaddr *src)
{
	memset(dst, 0, sizeof(*dst));
	memcpy(dst, src,
	       src->sa_family == AF_INET ? sizeof(struct sockaddr_in)
					 : sizeof(struct sockaddr_in6));
}

static bool proven(const struct nat_path_cand *c, uint64_t now)
{
	return c->pong_ms != NAT_PATH_NEVER && now < later(c->pong_ms, NAT_PATH_TRUST_MS);
}

static bool is_active(const struct nat_path *p, size_t i)
{
	return p->kind == NAT_PATH_DIRECT && p->active == (int)i;
}

/* Where the peer has moved from candidate b (path.h): a proven candidate that WireGuard
 * came from, and a pong, since b's last pong (the latest such); -1: none. */
static int moved_from(const struct nat_path *p, int b, uint64_t now)
{
	int m = -1;
	if (b < 0)
		return -1;
	const struct nat_path_cand *a = &p->cand[b];
	for (size_t i = 0; i < p->n_cand; i++) {
		const struct nat_path_cand *c = &p->cand[i];
		if ((int)i != b && proven(c, now) && c->roam_ms != NAT_PATH_NEVER &&
		    c->roam_ms > a->pong_ms && c->pong_ms > a->pong_ms &&
		    (m < 0 || c->pong_ms > p->cand[m].pong_ms))
			m = (int)i;
	}
	return m;
}

/* Until when the peer counts as busy (traffic inside IDLE); 0 when it never had any. */
static uint64_t busy_until(const struct nat_path *p)
{
	return p->traffic_ms == NAT_PATH_NEVER ? 0 : later(p->traffic_ms, NAT_PATH_IDLE_MS);
}

/* When the ping cap lets the next ping go: PING_SPACING after the PING_CAP-th last ping
 * (a sliding window: never more than PING_CAP in any PING_SPACING). */
static uint64_t gate(const struct nat_path *p)
{
	uint64_t oldest = p->sent[p->sent_at];
	if (oldest == NAT_PATH_NEVER)
		return p->now_ms;
	return max64(p->now_ms, later(oldest, NAT_PATH_PING_SPACING_MS));
}

/* When candidate i's ping is due by the rules in path.h, for a busy peer: the heartbeat
 * for the direct path; a new candidate at once; else PING_SPACING after its last ping,
 * and with a direct path no earlier than the next upgrade round. */
static uint64_t cand_due(const struct nat_path *p, size_t i)
{
	const struct nat_path_cand *c = &p->cand[i];
	if (is_active(p, i))
		return later(c->ping_ms, NAT_PATH_HEARTBEAT_MS);
	if (c->ping_ms == NAT_PATH_NEVER)
		return 0;
	uint64_t t = later(c->ping_ms, NAT_PATH_PING_SPACING_MS);
	if (p->kind == NAT_PATH_DIRECT && p->probe_ms != NAT_PATH_NEVER)
		t = max64(t, later(p->probe_ms, NAT_PATH_UPGRADE_MS));
	return t;
}

static void default_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	randombytes_buf(buf, len);
}

void nat_path_init(struct nat_path *p, const struct nat_path_config *cfg)
{
	memset(p, 0, sizeof(*p));
	if (cfg)
		p->cfg = *cfg;
	if (!p->cfg.random)
		p->cfg.random = default_random;
	p->kind = NAT_PATH_NONE;
	p->active = -1;
	p->traffic_ms = p->probe_ms = p->cmm_ms = NAT_PATH_NEVER;
	for (size_t k = 0; k < NAT_PATH_PING_CAP; k++)
		p->sent[k] = NAT_PATH_NEVER;
}

static int find_cand(const struct nat_path *p, const struct sockaddr *sa)
{
	for (size_t i = 0; i < p->n_cand; i++)
		if (nat_sockaddr_equal(&p->cand[i].addr, sa))
			return (int)i;
	return -1;
}

/* True when a should be evicted before b: unproven before proven, then the one heard of
 * longest ago. */
static bool less_useful(const struct nat_path_cand *a, const struct nat_path_cand *b, uint64_t now)
{
	bool pa = proven(a, now), pb = proven(b, now);
	if (pa != pb)
		return !pa;
	return a->seen_ms < b->seen_ms;
}

/* The slot a new candidate takes in a full table: never the active path's. */
static size_t victim(const struct nat_path *p, uint64_t now)
{
	size_t v = SIZE_MAX;
	for (size_t i = 0; i < p->n_cand; i++) {
		if (is_active(p, i))
			continue;
		if (v == SIZE_MAX || less_useful(&p->cand[i], &p->cand[v], now))
			v = i;
	}
	return v;
}

/* Forgets the pings sent to addr, so that no pong proves what took its slot. */
static void forget_pings_to(struct nat_path *p, const struct sockaddr_storage *addr)
{
	for (size_t i = 0; i < NAT_PATH_MAX_PINGS; i++)
		if (p->ping[i].used &&
		    nat_sockaddr_equal(addr, (const struct sockaddr *)&p->ping[i].to))
			p->ping[i].used = false;
}

/* Adds or refreshes; the index in *at.  1 new, 0 known, -EINVAL refused. */
static int add(struct nat_path *p, const struct sockaddr *sa, enum nat_path_cand_type type,
	       uint64_t now, size_t *at)
{
	if (nat_path_check_addr(sa, NULL, 0) != 0)
		return -EINVAL;
	int known = find_cand(p, sa);
	if (known >= 0) {
		struct nat_path_cand *c = &p->cand[known];
		c->seen_ms = now;
		if (type < c->type) {
			c->type = type;
			p->decide = true; /* a LAN candidate now: it may win a tie */
		}
		*at = (size_t)known;
		return 0;
	}
	size_t i;
	if (p->n_cand < NAT_PATH_MAX_CANDIDATES) {
		i = p->n_cand++;
	} else {
		i = victim(p, now);
		forget_pings_to(p, &p->cand[i].addr);
	}
	struct nat_path_cand *c = &p->cand[i];
	*c = (struct nat_path_cand){
		.type = type,
		.seen_ms = now,
		.ping_ms = NAT_PATH_NEVER,
		.pong_ms = NAT_PATH_NEVER,
		.roam_ms = NAT_PATH_NEVER,
	};
	addr_store(&c->addr, sa);
	*at = i;
	return 1;
}

int nat_path_add_candidate(struct nat_path *p, const struct sockaddr *addr,
			   enum nat_path_cand_type type, uint64_t now_ms)
{
	size_t at;
	if ((unsigned)type > NAT_PATH_CAND_ROAM)
		return -EINVAL;
	return add(p, addr, type, clock_at(p, now_ms), &at);
}

size_t nat_path_retain_netmap(struct nat_path *p, const struct sockaddr_storage *addrs, size_t n,
			      uint64_t now_ms)
{
	uint64_t now = clock_at(p, now_ms);
	size_t gone = 0;
	for (size_t i = p->n_cand; i-- > 0;) {
		const struct nat_path_cand *c = &p->cand[i];
		bool listed = false;
		for (size_t k = 0; k < n && !listed; k++)
			listed = nat_sockaddr_equal(&c->addr, (const struct sockaddr *)&addrs[k]);
		if (listed || c->type > NAT_PATH_CAND_REFLEXIVE || is_active(p, i) ||
		    proven(c, now))
			continue;
		forget_pings_to(p, &c->addr);
		size_t last = --p->n_cand; /* the last one takes the slot */
		if (i != last) {
			p->cand[i] = p->cand[last];
			if (is_active(p, last))
				p->active = (int)i;
		}
		memset(&p->cand[last], 0, sizeof(p->cand[last]));
		gone++;
	}
	return gone;
}

void nat_path_set_relay(struct nat_path *p, uint64_t relay, uint64_t now_ms)
{
	clock_at(p, now_ms);
	if (relay != p->relay) {
		p->relay = relay;
		p->decide = true;
	}
}

bool nat_path_on_traffic(struct nat_path *p, uint64_t now_ms)
{
	uint64_t now = clock_at(p, now_ms);
	bool was_idle = now >= busy_until(p);
	p->traffic_ms = now;
	return was_idle;
}

int nat_path_on_pong(struct nat_path *p, const uint8_t txid[NAT_DISCO_TXID],
		     const struct sockaddr *from, uint64_t now_ms)
{
	uint64_t now = clock_at(p, now_ms);
	int rc = -ENOENT;
	for (size_t i = 0; i < NAT_PATH_MAX_PINGS; i++) {
		struct nat_path_ping *pg = &p->ping[i];
		if (!pg->used || memcmp(pg->txid, txid, NAT_DISCO_TXID) != 0)
			continue;
		if (now >= later(pg->sent_ms, NAT_PATH_PING_TIMEOUT_MS)) {
			pg->used = false; /* given up on */
			continue;
		}
		if (!from || !nat_sockaddr_equal(&pg->to, from)) {
			rc = -EADDRNOTAVAIL; /* kept: the real pong may still come */
			continue;
		}
		int c = find_cand(p, from);
		pg->used = false; /* one pong per ping: a replayed pong proves nothing */
		if (c < 0)
			continue;
		struct nat_path_cand *cand = &p->cand[c];
		cand->pong_ms = cand->seen_ms = now;
		cand->rtt_ms = (uint32_t)(now - pg->sent_ms);
		p->decide = true;
		return 0;
	}
	return rc;
}

int nat_path_on_ping(struct nat_path *p, const struct sockaddr *from, uint64_t now_ms)
{
	uint64_t now = clock_at(p, now_ms);
	size_t i;
	int rc = add(p, from, NAT_PATH_CAND_PING, now, &i);
	if (rc < 0)
		return rc;
	/* Pong and ping back: the peer is punching now.  Spaced, so its pings cannot make ours
	 * more frequent than PING_SPACING; but when our last ping there went unanswered, at
	 * once: it most likely met the peer's NAT before the peer's own ping opened it (the
	 * punch a call-me-maybe asks for often does), and this ping says the way is open now.
	 * Waiting out the spacing cost a restarted peer's first connection 1-5 s.  The peer's
	 * pings are rate-limited and ours capped (PING_CAP) either way. */
	struct nat_path_cand *c = &p->cand[i];
	bool unanswered = c->ping_ms != NAT_PATH_NEVER && now > c->ping_ms &&
			  (c->pong_ms == NAT_PATH_NEVER || c->pong_ms < c->ping_ms);
	if (unanswered || passed(now, c->ping_ms, NAT_PATH_PING_SPACING_MS))
		c->punch = true;
	return rc;
}

int nat_path_on_roam(struct nat_path *p, const struct sockaddr *from, uint64_t now_ms)
{
	uint64_t now = clock_at(p, now_ms);
	size_t i;
	int rc = add(p, from, NAT_PATH_CAND_ROAM, now, &i);
	if (rc < 0)
		return rc;
	int active = p->kind == NAT_PATH_DIRECT ? p->active : -1;
	bool before = moved_from(p, active, now) >= 0;
	p->cand[i].roam_ms = now;
	if (!before && moved_from(p, active, now) >= 0) {
		p->decide = true; /* once per move, not per packet */
		return 1;
	}
	return rc;
}

int nat_path_on_call_me_maybe(struct nat_path *p, const struct sockaddr_storage *cand, size_t n,
			      uint64_t now_ms)
{
	uint64_t now = clock_at(p, now_ms);
	if (n > NAT_DISCO_MAX_CANDIDATES)
		return -E2BIG;
	int taken = 0;
	for (size_t k = 0; k < n; k++) {
		size_t i;
		if (add(p, (const struct sockaddr *)&cand[k], NAT_PATH_CAND_CALLED, now, &i) >= 0)
			taken++;
	}
	for (size_t i = 0; i < p->n_cand; i++)
		p->cand[i].punch = true;
	return taken;
}

static uint64_t margin(uint64_t rtt)
{
	return max64(NAT_PATH_RTT_MARGIN_MS, rtt * NAT_PATH_RTT_MARGIN_PCT / 100);
}

/* a comes before b in the one order that names the best candidate, whatever the current
 * path: RTT, a LAN candidate's counted a margin lower (it wins ties), then the type. */
static bool ahead(const struct nat_path_cand *a, const struct nat_path_cand *b)
{
	uint64_t ka = a->rtt_ms, kb = b->rtt_ms;
	if (a->type == NAT_PATH_CAND_LOCAL)
		ka -= min64(ka, margin(ka));
	if (b->type == NAT_PATH_CAND_LOCAL)
		kb -= min64(kb, margin(kb));
	return ka < kb || (ka == kb && a->type < b->type);
}

/* a is better than the current path b by enough to take its place (RTT_MARGIN in path.h). */
static bool better(const struct nat_path_cand *a, const struct nat_path_cand *b)
{
	uint64_t hi = max64(a->rtt_ms, b->rtt_ms), lo = min64(a->rtt_ms, b->rtt_ms);
	if (hi - lo <= margin(hi))
		return a->type == NAT_PATH_CAND_LOCAL && b->type != NAT_PATH_CAND_LOCAL;
	return a->rtt_ms < b->rtt_ms;
}

static void emit_changed(struct nat_path *p, nat_path_emit_fn *emit, void *ctx)
{
	struct nat_path_action a = { .type = NAT_PATH_CHANGED, .kind = p->kind };
	if (p->kind == NAT_PATH_DIRECT)
		a.addr = p->cand[p->active].addr;
	if (p->kind == NAT_PATH_RELAY)
		a.relay = p->relay_active;
	emit(ctx, &a);
}

/* Moves the path to the best proven candidate, else to the relay, else to none.  True when
 * a direct path was just lost (re-probe at once). */
static bool decide(struct nat_path *p, uint64_t now, nat_path_emit_fn *emit, void *ctx)
{
	/* The best first, then whether it beats the current path: so the answer is the same
	 * when asked again with nothing new (the tie rule alone is not transitive: which
	 * candidate came first would decide, and the path would move on a tick that has no
	 * news). */
	/* the peer moved away from the path: its trust is gone (a pong there would prove it
	 * again) */
	if (p->kind == NAT_PATH_DIRECT && moved_from(p, p->active, now) >= 0)
		p->cand[p->active].pong_ms = NAT_PATH_NEVER;
	int best = -1;
	for (size_t i = 0; i < p->n_cand; i++)
		if (proven(&p->cand[i], now) && (best < 0 || ahead(&p->cand[i], &p->cand[best])))
			best = (int)i;
	if (best >= 0 && p->kind == NAT_PATH_DIRECT && proven(&p->cand[p->active], now) &&
	    !better(&p->cand[best], &p->cand[p->active]))
		best = p->active; /* the incumbent keeps ties */
	/* ... and wherever the peer moved since the one chosen answered (each step a newer
	 * pong: it ends), so that the next tick with no news agrees */
	for (size_t k = 0; best >= 0 && k < p->n_cand; k++) {
		int m = moved_from(p, best, now);
		if (m < 0)
			break;
		best = m;
	}
	if (best >= 0) {
		if (!is_active(p, (size_t)best)) {
			p->kind = NAT_PATH_DIRECT;
			p->active = best;
			p->relay_active = 0;
			emit_changed(p, emit, ctx);
		}
		return false;
	}
	bool lost = p->kind == NAT_PATH_DIRECT;
	enum nat_path_kind k = p->relay ? NAT_PATH_RELAY : NAT_PATH_NONE;
	if (k != p->kind || (k == NAT_PATH_RELAY && p->relay_active != p->relay)) {
		p->kind = k;
		p->active = -1;
		p->relay_active = p->relay;
		emit_changed(p, emit, ctx);
	}
	return lost;
}

/* Sends a ping to candidate i if the cap allows; false when it does not. */
static bool send_ping(struct nat_path *p, size_t i, uint64_t now, nat_path_emit_fn *emit, void *ctx)
{
	if (!passed(now, p->sent[p->sent_at], NAT_PATH_PING_SPACING_MS))
		return false;
	size_t slot = 0;
	for (size_t k = 0; k < NAT_PATH_MAX_PINGS; k++) {
		if (!p->ping[k].used) {
			slot = k;
			break;
		}
		if (p->ping[k].sent_ms < p->ping[slot].sent_ms)
			slot = k; /* all in flight: the oldest is forgotten */
	}
	struct nat_path_cand *c = &p->cand[i];
	struct nat_path_ping *pg = &p->ping[slot];
	pg->used = true;
	p->cfg.random(p->cfg.random_ctx, pg->txid, NAT_DISCO_TXID);
	pg->to = c->addr;
	pg->sent_ms = now;
	c->ping_ms = now;
	c->punch = false;
	p->sent[p->sent_at] = now;
	p->sent_at = (p->sent_at + 1) % NAT_PATH_PING_CAP;
	struct nat_path_action a = { .type = NAT_PATH_SEND_PING, .addr = c->addr };
	memcpy(a.txid, pg->txid, NAT_DISCO_TXID);
	emit(ctx, &a);
	return true;
}

void nat_path_tick(struct nat_path *p, uint64_t now_ms, nat_path_emit_fn *emit, void *ctx)
{
	uint64_t now = clock_at(p, now_ms);
	for (size_t k = 0; k < NAT_PATH_MAX_PINGS; k++)
		if (p->ping[k].used && now >= later(p->ping[k].sent_ms, NAT_PATH_PING_TIMEOUT_MS))
			p->ping[k].used = false;
	bool lost = decide(p, now, emit, ctx);
	p->decide = false;
	bool busy = now < busy_until(p);

	/* The heartbeat first, so that probes never crowd it out of the cap. */
	bool capped = false;
	if (p->kind == NAT_PATH_DIRECT) {
		size_t a = (size_t)p->active;
		if ((p->cand[a].punch || (busy && now >= cand_due(p, a))) &&
		    !send_ping(p, a, now, emit, ctx))
			capped = true;
	}
	/* Then the punches, before our own probes: each answers the peer punching now (its
	 * ping, its call-me-maybe), while the probes of candidates it may have left long ago
	 * (a peer restarted on new ports many times) would fill the cap first. */
	bool probed = false, asked = false;
	for (int pass = 0; pass < 2 && !capped; pass++) {
		for (size_t i = 0; i < p->n_cand && !capped; i++) {
			struct nat_path_cand *c = &p->cand[i];
			if (is_active(p, i) || c->punch != (pass == 0) ||
			    (pass == 1 && c->ping_ms == now))
				continue; /* (pinged now: punched in the first pass) */
			bool punch = c->punch;
			if (!punch && !(busy && (lost || now >= cand_due(p, i))))
				continue;
			if (!send_ping(p, i, now, emit, ctx)) {
				capped = true;
				break;
			}
			probed = true;
			asked |= !punch; /* a punch answers the peer's; it asks for none */
		}
	}
	if (probed && !capped)
		p->probe_ms = now;
	if (asked && p->relay && passed(now, p->cmm_ms, NAT_PATH_PING_SPACING_MS)) {
		p->cmm_ms = now;
		struct nat_path_action a = { .type = NAT_PATH_SEND_CALL_ME_MAYBE,
					     .relay = p->relay };
		emit(ctx, &a);
	}
}

uint64_t nat_path_next_deadline(const struct nat_path *p)
{
	if (p->decide)
		return p->now_ms;
	uint64_t d = NAT_PATH_NO_DEADLINE;
	uint64_t g = gate(p), busy = busy_until(p);
	for (size_t i = 0; i < p->n_cand; i++) {
		/* The end of any candidate's trust may change the choice, not only the path's:
		 * the best that did not beat the path may go, and the next may beat it. */
		if (proven(&p->cand[i], p->now_ms))
			d = min64(d, later(p->cand[i].pong_ms, NAT_PATH_TRUST_MS));
		uint64_t t = max64(g, cand_due(p, i));
		if (p->cand[i].punch)
			t = g;
		else if (t >= busy)
			continue;
		d = min64(d, t);
	}
	return d;
}

void nat_path_get_status(const struct nat_path *p, struct nat_path_status *out)
{
	uint64_t now = p->now_ms;
	memset(out, 0, sizeof(*out));
	out->kind = p->kind;
	out->relay = p->kind == NAT_PATH_RELAY ? p->relay_active : p->relay;
	if (p->kind == NAT_PATH_DIRECT) {
		const struct nat_path_cand *c = &p->cand[p->active];
		out->addr = c->addr;
		out->type = c->type;
		out->rtt_ms = c->rtt_ms;
		out->pong_age_ms = now - c->pong_ms;
	}
	out->n_candidates = p->n_cand;
	for (size_t i = 0; i < p->n_cand; i++)
		out->n_proven += proven(&p->cand[i], now);
	for (size_t k = 0; k < NAT_PATH_MAX_PINGS; k++)
		out->pings_in_flight +=
		    p->ping[k].used && now < later(p->ping[k].sent_ms, NAT_PATH_PING_TIMEOUT_MS);
	out->idle = now >= busy_until(p);
}

const char *nat_path_cand_type_name(enum nat_path_cand_type t)
{
	static const char *const name[] = { "local", "reflexive", "call-me-maybe", "ping", "roam" };
	return (unsigned)t < sizeof(name) / sizeof(name[0]) ? name[t] : "?";
}

const char *nat_path_kind_name(enum nat_path_kind k)
{
	static const char *const name[] = { "none", "direct", "relay" };
	return (unsigned)k < sizeof(name) / sizeof(name[0]) ? name[k] : "?";
}
