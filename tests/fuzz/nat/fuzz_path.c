/* Fuzz target for the path manager: the input is a sequence of events (candidates from
 * the netmap, the relay coming and going, traffic, pongs with txids we sent or never sent,
 * from the right address or another, pings and roam reports from any address,
 * call-me-maybes of up to 17 addresses, time moving on, back, or to the next deadline)
 * over a small pool of addresses so that they collide.  What a peer, or whoever spoofs
 * one, can send, it drives; the contract checked after every step:
 *  - bounds: at most NAT_PATH_MAX_CANDIDATES candidates, NAT_PATH_MAX_PINGS in flight,
 *    never more than NAT_PATH_PING_CAP pings in any NAT_PATH_PING_SPACING_MS, a ping only
 *    to a current candidate that nat_path_check_addr accepts;
 *  - a pong is accepted only for a txid we emitted, from the address it went to, inside
 *    the timeout, once;
 *  - the path is what the last CHANGED said (no eviction or report moves it silently);
 *  - after a tick a direct path has a pong younger than the trust time, CHANGED names
 *    what the status says, at most once a tick, and only when something changed;
 *    call-me-maybes only with a relay, 5 s apart;
 *  - the deadline after a tick at t is later than t, and a tick 1 ms before it does
 *    nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "nat/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { POOL = 24, LOG = 256 }; /* a pong answers one of the last 40 pings: LOG > 40 */

struct ping_log {
	uint32_t id; /* the txid's counter; 0: none */
	struct sockaddr_storage to;
	uint64_t sent;
	bool ponged;
};

static struct state {
	struct nat_path p;
	uint64_t now;
	uint32_t counter;
	struct ping_log log[LOG];
	uint64_t ping_times[NAT_PATH_PING_CAP + 1]; /* ring of the last CAP + 1 pings */
	size_t n_pings;
	uint64_t last_cmm;
	int changed; /* CHANGED actions in this tick */
	struct nat_path_action last_change;
	int emitted;
	struct nat_path_action told; /* the last CHANGED: what the caller routes by */
} s;

static struct sockaddr_storage pool[POOL];

/* Txids are a counter in the first 4 bytes and zeros; a forged one has byte 11 set. */
static void counter_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	memset(buf, 0, len);
	s.counter++;
	memcpy(buf, &s.counter, sizeof(s.counter));
}

static bool is_candidate(const struct sockaddr_storage *a)
{
	for (size_t i = 0; i < s.p.n_cand; i++)
		if (memcmp(&s.p.cand[i].addr, a, sizeof(*a)) == 0)
			return true;
	return false;
}

static void on_action(void *ctx, const struct nat_path_action *a)
{
	(void)ctx;
	s.emitted++;
	switch (a->type) {
	case NAT_PATH_SEND_PING: {
		if (!is_candidate(&a->addr) ||
		    nat_path_check_addr((const struct sockaddr *)&a->addr, NULL, 0) != 0)
			abort();
		uint32_t id;
		memcpy(&id, a->txid, sizeof(id));
		for (size_t k = 4; k < NAT_DISCO_TXID; k++)
			if (a->txid[k])
				abort();
		s.log[id % LOG] = (struct ping_log){ .id = id, .to = a->addr, .sent = s.now };
		/* the CAP+1-th last ping must be PING_SPACING or more ago */
		size_t ring = NAT_PATH_PING_CAP + 1;
		uint64_t oldest = s.ping_times[s.n_pings % ring];
		if (s.n_pings >= ring && s.now - oldest < NAT_PATH_PING_SPACING_MS)
			abort();
		s.ping_times[s.n_pings % ring] = s.now;
		s.n_pings++;
		break;
	}
	case NAT_PATH_SEND_CALL_ME_MAYBE:
		if (a->relay == 0 || a->relay != s.p.relay)
			abort();
		if (s.last_cmm != NAT_PATH_NEVER && s.now - s.last_cmm < NAT_PATH_PING_SPACING_MS)
			abort();
		s.last_cmm = s.now;
		break;
	case NAT_PATH_CHANGED:
		s.changed++;
		s.last_change = *a;
		s.told = *a;
		break;
	default:
		abort();
	}
}

/* Bounds, and the path is what the caller was last told: only a CHANGED moves it. */
static void check_bounds(void)
{
	struct nat_path_status st;
	nat_path_get_status(&s.p, &st);
	if (st.n_candidates > NAT_PATH_MAX_CANDIDATES || st.pings_in_flight > NAT_PATH_MAX_PINGS ||
	    st.n_proven > st.n_candidates)
		abort();
	if (st.kind != s.told.kind ||
	    (st.kind == NAT_PATH_DIRECT && memcmp(&st.addr, &s.told.addr, sizeof(st.addr)) != 0) ||
	    (st.kind == NAT_PATH_RELAY && st.relay != s.told.relay))
		abort();
}

static void tick(uint64_t t)
{
	if (t > s.now)
		s.now = t;
	struct nat_path_status before, st;
	nat_path_get_status(&s.p, &before);
	s.changed = 0;
	s.emitted = 0;
	nat_path_tick(&s.p, t, on_action, NULL);
	nat_path_get_status(&s.p, &st);
	if (s.changed > 1)
		abort();
	if (s.changed) {
		if (s.last_change.kind != st.kind)
			abort();
		if (st.kind == NAT_PATH_DIRECT &&
		    memcmp(&s.last_change.addr, &st.addr, sizeof(st.addr)) != 0)
			abort();
		if (st.kind == NAT_PATH_RELAY && s.last_change.relay != s.p.relay)
			abort();
		if (before.kind == st.kind &&
		    (st.kind == NAT_PATH_NONE ||
		     (st.kind == NAT_PATH_RELAY && before.relay == st.relay)))
			abort(); /* a change that is none */
	}
	if (st.kind == NAT_PATH_DIRECT && st.pong_age_ms >= NAT_PATH_TRUST_MS)
		abort();
	if (st.kind == NAT_PATH_RELAY && s.p.relay == 0)
		abort();
	if (nat_path_next_deadline(&s.p) <= s.now)
		abort();
	check_bounds();
}

/* The next input byte, or 0 once it runs out. */
static unsigned take(const uint8_t **d, size_t *n)
{
	if (!*n)
		return 0;
	(*n)--;
	return *(*d)++;
}

static void make_pool(void)
{
	static bool done;
	if (done)
		return;
	for (int i = 0; i < POOL; i++) {
		memset(&pool[i], 0, sizeof(pool[i]));
		if (i % 3 == 2) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&pool[i];
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons((uint16_t)(41641 + i % 2));
			inet_pton(AF_INET6, "2001:db8::1", &in6->sin6_addr);
			in6->sin6_addr.s6_addr[15] = (uint8_t)i;
		} else {
			struct sockaddr_in *in = (struct sockaddr_in *)&pool[i];
			in->sin_family = AF_INET;
			in->sin_port = htons((uint16_t)(41641 + i % 2));
			in->sin_addr.s_addr = htonl(0xC6336400u | (uint32_t)i); /* 198.51.100.i */
		}
	}
	/* a few that must be refused */
	((struct sockaddr_in *)&pool[0])->sin_addr.s_addr = htonl(0xE0000001u); /* multicast */
	((struct sockaddr_in *)&pool[3])->sin_port = 0;
	done = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	make_pool();
	memset(&s, 0, sizeof(s));
	s.last_cmm = NAT_PATH_NEVER;
	s.told.kind = NAT_PATH_NONE;
	struct nat_path_config cfg = { .random = counter_random };
	nat_path_init(&s.p, &cfg);
	const uint8_t *d = data;
	size_t n = size;
	while (n) {
		unsigned op = take(&d, &n), arg = take(&d, &n);
		const struct sockaddr *addr = (const struct sockaddr *)&pool[arg % POOL];
		switch (op % 11) {
		case 0:
			nat_path_add_candidate(&s.p, addr,
					       (enum nat_path_cand_type)(arg / POOL % 6), s.now);
			break;
		case 1:
			nat_path_set_relay(&s.p, arg % 3, s.now);
			break;
		case 2:
			nat_path_on_traffic(&s.p, s.now);
			break;
		case 3: { /* a pong to one of our pings (the arg-th last), maybe from elsewhere */
			uint32_t id = s.counter - arg % 40;
			struct ping_log *l = &s.log[id % LOG];
			uint8_t txid[NAT_DISCO_TXID] = { 0 };
			memcpy(txid, &id, sizeof(id));
			const struct sockaddr *from = (const struct sockaddr *)&l->to;
			unsigned how = take(&d, &n);
			if (how & 1)
				from = (const struct sockaddr *)&pool[how / 2 % POOL];
			int rc = nat_path_on_pong(&s.p, txid, from, s.now);
			if (rc == 0) {
				if (l->id != id || l->ponged ||
				    s.now - l->sent >= NAT_PATH_PING_TIMEOUT_MS ||
				    memcmp(from, &l->to, sizeof(l->to)) != 0)
					abort();
				l->ponged = true;
			}
			break;
		}
		case 4: { /* a pong with a txid we never sent */
			uint8_t txid[NAT_DISCO_TXID] = { (uint8_t)arg };
			txid[11] = 1;
			if (nat_path_on_pong(&s.p, txid, addr, s.now) == 0)
				abort();
			break;
		}
		case 5:
			nat_path_on_ping(&s.p, addr, s.now);
			break;
		case 6:
			nat_path_on_roam(&s.p, addr, s.now);
			break;
		case 7: {
			struct sockaddr_storage c[NAT_DISCO_MAX_CANDIDATES + 1];
			size_t k = arg % (NAT_DISCO_MAX_CANDIDATES + 2);
			for (size_t i = 0; i < k; i++)
				c[i] = pool[take(&d, &n) % POOL];
			int rc = nat_path_on_call_me_maybe(&s.p, c, k, s.now);
			if (rc > (int)k || (k > NAT_DISCO_MAX_CANDIDATES && rc >= 0))
				abort();
			break;
		}
		case 8: { /* time moves: ms, tenths of seconds or seconds */
			static const unsigned unit[4] = { 1, 100, 1000, 10000 };
			s.now += (uint64_t)(arg & 63) * unit[arg >> 6];
			tick(s.now);
			break;
		}
		case 9: { /* to the next deadline; nothing may happen 1 ms before it */
			uint64_t dl = nat_path_next_deadline(&s.p);
			if (dl == NAT_PATH_NO_DEADLINE)
				break;
			if (dl > s.now + 1) {
				tick(dl - 1);
				if (s.emitted)
					abort();
			}
			tick(dl);
			break;
		}
		case 10: /* a clock that goes back is taken as standing still */
			tick(s.now > arg ? s.now - arg : 0);
			break;
		}
		check_bounds();
	}
	return 0;
}
