/* The path manager on a fake clock, in numbered steps with the exact actions each tick
 * must emit: the relay first then the upgrade on a pong; heartbeats 3 s apart; the fall
 * back to the relay at exactly last pong + 6.5 s, with a re-probe; pings stopping 45 s
 * after the last traffic; the best RTT chosen and a LAN candidate winning a tie; a roam
 * candidate unused until its pong, and the path following a peer that moved (WireGuard
 * and a pong from a new address since the path's last pong) without waiting for the old
 * path's trust to run out; pongs with an unknown txid, from another address,
 * replayed or late refused; a full candidate table evicting the least useful; a
 * call-me-maybe punching at once; a peer's ping answered at once when our last ping there
 * was not, and before any probe when the cap binds; the ping cap holding against a flood;
 * and the exact
 * refusals of addresses that cannot be paths; addresses a netmap no longer lists forgotten
 * unless they are the path or proven.  After every tick the next deadline must lie
 * after it and a tick just before a deadline must do nothing. */
#include "path_steps.h"

static void relay_then_upgrade(void)
{
	struct nat_path p;
	struct nat_path_status st;
	struct sockaddr_storage r = ap("203.0.113.7", 41641);
	uint8_t ping1[NAT_DISCO_TXID], hb[NAT_DISCO_TXID];

	/* 1: relay and a candidate, no traffic: the relay, no pings. */
	start(&p);
	nat_path_set_relay(&p, RELAY, 1000);
	CHECK_INT(nat_path_add_candidate(&p, SA(r), NAT_PATH_CAND_REFLEXIVE, 1000), 1);
	CHECK_INT(nat_path_next_deadline(&p), 1000);
	CHECK_INT(tick(&p, 1000), 1);
	want_changed(1, 0, NAT_PATH_RELAY, NULL);
	CHECK(nat_path_next_deadline(&p) == NAT_PATH_NO_DEADLINE);

	/* 2: traffic wakes it: ping the candidate, ask the peer to punch through the relay. */
	CHECK(nat_path_on_traffic(&p, 1000));
	CHECK_INT(nat_path_next_deadline(&p), 1000);
	CHECK_INT(tick(&p, 1000), 2);
	want_ping(2, 0, &r);
	want_cmm(2, 1);
	memcpy(ping1, txid(0), sizeof(ping1));
	CHECK_INT(nat_path_next_deadline(&p), 1000 + NAT_PATH_PING_SPACING_MS);

	/* 3: the pong proves it: direct, RTT 40 ms. */
	pong_moves(&p, 3, ping1, &r, 1040);
	nat_path_get_status(&p, &st);
	CHECK_INT(st.kind, NAT_PATH_DIRECT);
	CHECK_INT(st.rtt_ms, 40);
	CHECK_INT(st.type, NAT_PATH_CAND_REFLEXIVE);
	CHECK_INT(st.relay, RELAY);
	CHECK(same(&st.addr, &r));

	/* 4: heartbeat 3 s after the last ping to the path, not before. */
	CHECK_INT(nat_path_next_deadline(&p), 4000);
	CHECK(!nat_path_on_traffic(&p, 3000));
	CHECK_INT(tick(&p, 4000), 1);
	want_ping(4, 0, &r);
	memcpy(hb, txid(0), sizeof(hb));
	CHECK_INT(nat_path_next_deadline(&p), 7000);

	/* 5: its pong moves the trust to 4030 + 6.5 s; the path stays. */
	CHECK_INT(nat_path_on_pong(&p, hb, SA(r), 4030), 0);
	CHECK_INT(tick(&p, 4030), 0);
	nat_path_get_status(&p, &st);
	CHECK_INT(st.rtt_ms, 30);
	CHECK_INT(st.pong_age_ms, 0);

	/* 6: two heartbeats go unanswered. */
	CHECK_INT(tick(&p, 7000), 1);
	want_ping(6, 0, &r);
	CHECK_INT(tick(&p, 10000), 1);
	want_ping(6, 0, &r);
	CHECK_INT(nat_path_next_deadline(&p), 4030 + NAT_PATH_TRUST_MS);

	/* 7: at exactly last pong + 6.5 s: back to the relay, re-probe at once (the path was
	 * pinged 530 ms ago), and ask the peer to punch again. */
	CHECK_INT(tick(&p, 10529), 0);
	CHECK_INT(tick(&p, 10530), 3);
	want_changed(7, 0, NAT_PATH_RELAY, NULL);
	want_ping(7, 1, &r);
	want_cmm(7, 2);

	/* 8: probes every 5 s while the last traffic (3000) is younger than 45 s, then none. */
	int pings = 0;
	uint64_t t = 10530, last = 0;
	for (int n = 0; nat_path_next_deadline(&p) != NAT_PATH_NO_DEADLINE && n < 100; n++) {
		t = nat_path_next_deadline(&p);
		tick(&p, t);
		pings += got[0].type == NAT_PATH_SEND_PING;
		last = t;
	}
	CHECK_INT(pings, 7);
	CHECK_INT(last, 45530);
	CHECK_INT(tick(&p, 48000), 0);
	nat_path_get_status(&p, &st);
	CHECK(st.idle);
	CHECK_INT(st.kind, NAT_PATH_RELAY);

	/* 9: traffic again: pinging starts at once. */
	CHECK(nat_path_on_traffic(&p, 60000));
	CHECK_INT(nat_path_next_deadline(&p), 60000);
	CHECK_INT(tick(&p, 60000), 2);
	want_ping(9, 0, &r);
	want_cmm(9, 1);

	/* 10: the relay goes away: no path at all until a pong. */
	nat_path_set_relay(&p, 0, 60001);
	CHECK_INT(tick(&p, 60001), 1);
	want_changed(10, 0, NAT_PATH_NONE, NULL);
}

/* A fresh busy peer with candidates x pinged at 0 and y pinged at y_at; their txids. */
static void two(struct nat_path *p, const struct sockaddr_storage *x, enum nat_path_cand_type tx,
		const struct sockaddr_storage *y, enum nat_path_cand_type ty, uint64_t y_at,
		uint8_t idx[NAT_DISCO_TXID], uint8_t idy[NAT_DISCO_TXID])
{
	start(p);
	nat_path_on_traffic(p, 0);
	CHECK_INT(nat_path_add_candidate(p, SA(*x), tx, 0), 1);
	CHECK_INT(tick(p, 0), 1);
	memcpy(idx, txid(0), NAT_DISCO_TXID);
	CHECK_INT(nat_path_add_candidate(p, SA(*y), ty, y_at), 1);
	CHECK_INT(tick(p, y_at), 1);
	memcpy(idy, txid(0), NAT_DISCO_TXID);
}

/* A fresh busy peer whose path is the LAN candidate a, proven with this RTT. */
static void lan_path(struct nat_path *p, const struct sockaddr_storage *a, uint64_t rtt)
{
	start(p);
	nat_path_on_traffic(p, 0);
	nat_path_add_candidate(p, SA(*a), NAT_PATH_CAND_LOCAL, 0);
	CHECK_INT(tick(p, 0), 1);
	pong_moves(p, 13, txid(0), a, rtt);
}

static void best_rtt(void)
{
	struct nat_path p;
	struct nat_path_status st;
	struct sockaddr_storage l = ap("192.168.1.20", 41641), r = ap("203.0.113.7", 41641),
				r2 = ap("198.51.100.9", 1234);
	uint8_t tl[NAT_DISCO_TXID], tr[NAT_DISCO_TXID], tr2[NAT_DISCO_TXID];

	/* 11: three candidates, no relay: three pings, nothing else. */
	start(&p);
	nat_path_add_candidate(&p, SA(l), NAT_PATH_CAND_LOCAL, 0);
	nat_path_add_candidate(&p, SA(r), NAT_PATH_CAND_REFLEXIVE, 0);
	nat_path_add_candidate(&p, SA(r2), NAT_PATH_CAND_REFLEXIVE, 0);
	nat_path_on_traffic(&p, 0);
	CHECK_INT(tick(&p, 0), 3);
	want_ping(11, 0, &l);
	want_ping(11, 1, &r);
	want_ping(11, 2, &r2);
	memcpy(tl, txid(0), sizeof(tl));
	memcpy(tr, txid(1), sizeof(tr));
	memcpy(tr2, txid(2), sizeof(tr2));

	/* 12: r2 answers first (10 ms), then r (20 ms), then l (21 ms): r2 stays, being lower
	 * by more than the margin than both. */
	pong_moves(&p, 12, tr2, &r2, 10);
	CHECK_INT(nat_path_on_pong(&p, tr, SA(r), 20), 0);
	CHECK_INT(nat_path_on_pong(&p, tl, SA(l), 21), 0);
	CHECK_INT(tick(&p, 21), 0);
	nat_path_get_status(&p, &st);
	CHECK(same(&st.addr, &r2));
	CHECK_INT(st.n_proven, 3);

	/* 13: a fresh peer: the reflexive one answers in 20 ms, the LAN one in 21 ms: a tie
	 * (margin 2 ms) that the LAN candidate wins. */
	two(&p, &r, NAT_PATH_CAND_REFLEXIVE, &l, NAT_PATH_CAND_LOCAL, 0, tr, tl);
	pong_moves(&p, 13, tr, &r, 20);
	pong_moves(&p, 13, tl, &l, 21);

	/* 13b: the same tie with a candidate only later known to be on the LAN (the netmap
	 * names an address a call-me-maybe brought): it wins at once. */
	two(&p, &r, NAT_PATH_CAND_REFLEXIVE, &r2, NAT_PATH_CAND_CALLED, 0, tr, tr2);
	pong_moves(&p, 13, tr, &r, 20);
	CHECK_INT(nat_path_on_pong(&p, tr2, SA(r2), 21), 0);
	CHECK_INT(tick(&p, 21), 0);
	CHECK_INT(nat_path_add_candidate(&p, SA(r2), NAT_PATH_CAND_LOCAL, 30), 0);
	CHECK_INT(nat_path_next_deadline(&p), 30);
	CHECK_INT(tick(&p, 30), 1);
	want_changed(13, 0, NAT_PATH_DIRECT, &r2);

	/* 13c: the path from I (LAN, 20 ms) goes straight to the best, Z (LAN, 1 ms): not by
	 * way of Y (reflexive, 0 ms: beats X, LAN 3 ms, which beats I; Z ties with Y and wins),
	 * which a tick with no news would then leave for Z. */
	struct sockaddr_storage i0 = ap("192.168.1.30", 41641), x = ap("192.168.1.31", 41641),
				z = ap("192.168.1.32", 41641), y = ap("203.0.113.40", 41641);
	lan_path(&p, &i0, 20);
	nat_path_add_candidate(&p, SA(x), NAT_PATH_CAND_LOCAL, 100);
	nat_path_add_candidate(&p, SA(z), NAT_PATH_CAND_LOCAL, 100);
	nat_path_add_candidate(&p, SA(y), NAT_PATH_CAND_REFLEXIVE, 100);
	CHECK_INT(tick(&p, 100), 3);
	memcpy(tr, txid(0), sizeof(tr));
	memcpy(tl, txid(1), sizeof(tl));
	memcpy(tr2, txid(2), sizeof(tr2));
	CHECK_INT(nat_path_on_pong(&p, tr2, SA(y), 100), 0);
	CHECK_INT(nat_path_on_pong(&p, tl, SA(z), 101), 0);
	CHECK_INT(nat_path_on_pong(&p, tr, SA(x), 103), 0);
	CHECK_INT(tick(&p, 103), 1);
	want_changed(13, 0, NAT_PATH_DIRECT, &z);
	CHECK_INT(tick(&p, 104), 0);

	/* 13d: the path P (LAN, 3 ms) keeps its place against the best, B (LAN, 1 ms: a tie);
	 * C (LAN, 0 ms) ranks after B.  When B's trust ends, exactly then, C is the best and
	 * beats P by more than the margin: the path moves there. */
	struct sockaddr_storage pp = ap("192.168.1.40", 41641), bb = ap("192.168.1.41", 41641),
				cc = ap("192.168.1.42", 41641);
	lan_path(&p, &pp, 3);
	nat_path_add_candidate(&p, SA(bb), NAT_PATH_CAND_LOCAL, 10);
	CHECK_INT(tick(&p, 10), 1);
	CHECK_INT(nat_path_on_pong(&p, txid(0), SA(bb), 11), 0);
	CHECK_INT(tick(&p, 11), 0);
	nat_path_add_candidate(&p, SA(cc), NAT_PATH_CAND_LOCAL, 1000);
	CHECK_INT(tick(&p, 1000), 1);
	CHECK_INT(nat_path_on_pong(&p, txid(0), SA(cc), 1000), 0);
	CHECK_INT(tick(&p, 1000), 0);
	for (uint64_t t = 3000; t <= 6000; t += 3000) {
		CHECK_INT(tick(&p, t), 1); /* heartbeat */
		want_ping(13, 0, &pp);
		CHECK_INT(nat_path_on_pong(&p, txid(0), SA(pp), t + 3), 0);
		CHECK_INT(tick(&p, t + 3), 0);
	}
	CHECK_INT(nat_path_next_deadline(&p), 11 + NAT_PATH_TRUST_MS);
	CHECK_INT(tick(&p, 11 + NAT_PATH_TRUST_MS), 2);
	want_changed(13, 0, NAT_PATH_DIRECT, &cc);
	want_ping(13, 1, &cc); /* its heartbeat: its last ping is 5.5 s old */

	/* 14: two of a kind inside the margin (30 ms, then 28 ms: margin 3): the incumbent
	 * keeps its place; outside it, the faster one wins, found by the upgrade round 60 s
	 * after the last probe (r2's, at 5 ms). */
	two(&p, &r, NAT_PATH_CAND_REFLEXIVE, &r2, NAT_PATH_CAND_REFLEXIVE, 5, tr, tr2);
	pong_moves(&p, 14, tr, &r, 30);
	CHECK_INT(nat_path_on_pong(&p, tr2, SA(r2), 33), 0);
	CHECK_INT(tick(&p, 33), 0);
	nat_path_get_status(&p, &st);
	CHECK_INT(st.n_proven, 2);
	for (uint64_t t = 3000; t < NAT_PATH_UPGRADE_MS; t += 3000) {
		nat_path_on_traffic(&p, t);
		CHECK_INT(tick(&p, t), 1);
		want_ping(14, 0, &r);
		CHECK_INT(nat_path_on_pong(&p, txid(0), SA(r), t + 30), 0);
	}
	nat_path_on_traffic(&p, NAT_PATH_UPGRADE_MS);
	CHECK_INT(tick(&p, NAT_PATH_UPGRADE_MS), 1);
	want_ping(14, 0, &r);
	CHECK_INT(nat_path_next_deadline(&p), NAT_PATH_UPGRADE_MS + 5);
	CHECK_INT(tick(&p, NAT_PATH_UPGRADE_MS + 5), 1);
	want_ping(14, 0, &r2);
	pong_moves(&p, 14, txid(0), &r2, NAT_PATH_UPGRADE_MS + 15);
	nat_path_get_status(&p, &st);
	CHECK_INT(st.rtt_ms, 10);
}

static void roam(void)
{
	struct nat_path p;
	struct nat_path_status st;
	struct sockaddr_storage r = ap("203.0.113.7", 41641), x = ap("198.51.100.50", 60000);

	/* 15: direct on r, then WireGuard from x: a candidate, pinged at once, not the path. */
	start(&p);
	nat_path_set_relay(&p, RELAY, 0);
	nat_path_add_candidate(&p, SA(r), NAT_PATH_CAND_REFLEXIVE, 0);
	nat_path_on_traffic(&p, 0);
	CHECK_INT(tick(&p, 0), 3); /* relay, ping, call-me-maybe */
	pong_moves(&p, 15, txid(1), &r, 50);
	CHECK_INT(nat_path_on_roam(&p, SA(x), 1000), 1);
	CHECK_INT(nat_path_on_roam(&p, SA(x), 1001), 0);
	CHECK_INT(nat_path_next_deadline(&p), 1001);
	CHECK_INT(tick(&p, 1001), 1);
	want_ping(15, 0, &x);
	nat_path_get_status(&p, &st);
	CHECK(same(&st.addr, &r));
	CHECK_INT(st.n_candidates, 2);

	/* 16: r goes silent (heartbeats unanswered); at its trust's end the relay takes over,
	 * not x, which no pong has proven. */
	nat_path_on_traffic(&p, 2000);
	CHECK_INT(tick(&p, 3000), 1); /* heartbeat */
	CHECK_INT(tick(&p, 6000), 1); /* heartbeat; x waits for the upgrade round */
	CHECK_INT(nat_path_next_deadline(&p), 50 + NAT_PATH_TRUST_MS);
	CHECK_INT(tick(&p, 6550), 4);
	want_changed(16, 0, NAT_PATH_RELAY, NULL);
	want_ping(16, 1, &r);
	want_ping(16, 2, &x);
	want_cmm(16, 3);

	/* 17: x's pong proves it: the path moves there, typed as it was learnt. */
	pong_moves(&p, 17, txid(2), &x, 6600);
	nat_path_get_status(&p, &st);
	CHECK_INT(st.type, NAT_PATH_CAND_ROAM);
	CHECK_STR(nat_path_cand_type_name(st.type), "roam");
}

static void peer_moved(void)
{
	struct nat_path p;
	struct nat_path_status st;
	struct sockaddr_storage y = ap("203.0.113.7", 41641), x = ap("203.0.113.7", 41700);

	/* 17b: direct on y (20 ms), its heartbeat at 3 s answered; at 4 s the peer, restarted
	 * on port 41700, pings from x: x is proven, but slower (60 ms), and y keeps its
	 * place. */
	start(&p);
	nat_path_add_candidate(&p, SA(y), NAT_PATH_CAND_REFLEXIVE, 0);
	nat_path_on_traffic(&p, 0);
	CHECK_INT(tick(&p, 0), 1);
	pong_moves(&p, 17, txid(0), &y, 20);
	CHECK_INT(tick(&p, 3000), 1);
	want_ping(17, 0, &y);
	CHECK_INT(nat_path_on_pong(&p, txid(0), SA(y), 3020), 0);
	CHECK_INT(tick(&p, 3020), 0);
	CHECK_INT(nat_path_on_ping(&p, SA(x), 4000), 1);
	CHECK_INT(tick(&p, 4000), 1);
	want_ping(17, 0, &x);
	CHECK_INT(nat_path_on_pong(&p, txid(0), SA(x), 4060), 0);
	CHECK_INT(tick(&p, 4060), 0);

	/* 17c: its WireGuard (the handshake from its new port) comes from x: it moved, and the
	 * path follows now, slower or not, not when y's trust runs out at 3020 + 6.5 s (our
	 * answers lost till then); said once, not per packet. */
	CHECK_INT(nat_path_on_roam(&p, SA(x), 4070), 1);
	CHECK_INT(nat_path_on_roam(&p, SA(x), 4071), 0);
	CHECK_INT(tick(&p, 4071), 1);
	want_changed(17, 0, NAT_PATH_DIRECT, &x);
	nat_path_get_status(&p, &st);
	CHECK(same(&st.addr, &x));
	CHECK_INT(st.n_proven, 1); /* y's trust went with it: y, faster, does not take it back */
	CHECK_INT(tick(&p, 4072), 0);

	/* 17d: WireGuard from x before y's last pong says nothing of where the peer is now
	 * (y answered after it): x proven later still ties, and y stays. */
	uint8_t idx[NAT_DISCO_TXID];
	start(&p);
	nat_path_add_candidate(&p, SA(y), NAT_PATH_CAND_REFLEXIVE, 0);
	nat_path_on_traffic(&p, 0);
	CHECK_INT(tick(&p, 0), 1);
	pong_moves(&p, 17, txid(0), &y, 20);
	CHECK_INT(nat_path_on_roam(&p, SA(x), 2000), 1); /* new */
	CHECK_INT(tick(&p, 2000), 1);
	want_ping(17, 0, &x); /* a new candidate: pinged at once */
	memcpy(idx, txid(0), NAT_DISCO_TXID);
	CHECK_INT(tick(&p, 3000), 1);
	want_ping(17, 0, &y);
	CHECK_INT(nat_path_on_pong(&p, txid(0), SA(y), 3020), 0);
	CHECK_INT(tick(&p, 3020), 0);
	CHECK_INT(nat_path_on_pong(&p, idx, SA(x), 3030), 0);
	CHECK_INT(tick(&p, 3030), 0);
	nat_path_get_status(&p, &st);
	CHECK(same(&st.addr, &y));
	CHECK_INT(st.n_proven, 2);
}

static void bad_pongs(void)
{
	struct nat_path p;
	struct nat_path_status st;
	struct sockaddr_storage r = ap("203.0.113.7", 41641), other = ap("203.0.113.7", 41642);
	uint8_t unknown[NAT_DISCO_TXID] = { 0xAA }, t1[NAT_DISCO_TXID];

	/* 18: a pong with a txid never sent, and one from another address (even another port of
	 * the same host): refused, the path stays on the relay. */
	start(&p);
	nat_path_set_relay(&p, RELAY, 0);
	nat_path_add_candidate(&p, SA(r), NAT_PATH_CAND_REFLEXIVE, 0);
	nat_path_on_traffic(&p, 0);
	CHECK_INT(tick(&p, 0), 3);
	memcpy(t1, txid(1), sizeof(t1));
	CHECK_INT(nat_path_on_pong(&p, unknown, SA(r), 10), -ENOENT);
	CHECK_INT(nat_path_on_pong(&p, t1, SA(other), 10), -EADDRNOTAVAIL);
	CHECK_INT(tick(&p, 10), 0);
	nat_path_get_status(&p, &st);
	CHECK_INT(st.kind, NAT_PATH_RELAY);
	CHECK_INT(st.n_proven, 0);

	/* 19: the real one still counts (the forged one did not cancel it), once. */
	CHECK_INT(nat_path_on_pong(&p, t1, SA(r), 20), 0);
	CHECK_INT(nat_path_on_pong(&p, t1, SA(r), 21), -ENOENT);
	CHECK_INT(tick(&p, 21), 1);
	want_changed(19, 0, NAT_PATH_DIRECT, &r);

	/* 20: a pong 5 s or more after its ping is too late; 1 ms less is in time. */
	CHECK_INT(tick(&p, 3000), 1); /* heartbeat at 0 + 3 s */
	memcpy(t1, txid(0), sizeof(t1));
	CHECK_INT(nat_path_on_pong(&p, t1, SA(r), 3000 + NAT_PATH_PING_TIMEOUT_MS), -ENOENT);
	start(&p);
	nat_path_add_candidate(&p, SA(r), NAT_PATH_CAND_REFLEXIVE, 0);
	nat_path_on_traffic(&p, 0);
	CHECK_INT(tick(&p, 0), 1);
	CHECK_INT(nat_path_on_pong(&p, txid(0), SA(r), NAT_PATH_PING_TIMEOUT_MS - 1), 0);
	nat_path_get_status(&p, &st);
	CHECK_INT(st.n_proven, 1);
}

static void full_table(void)
{
	struct nat_path p;
	struct nat_path_status st;
	struct sockaddr_storage c[NAT_PATH_MAX_CANDIDATES + 3];
	char ip[32];
	for (int i = 0; i < NAT_PATH_MAX_CANDIDATES + 3; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
		c[i] = ap(ip, 41641);
	}

	/* 21: sixteen fit; c[0] (heard of first) is proven and the path. */
	start(&p);
	for (int i = 0; i < NAT_PATH_MAX_CANDIDATES; i++)
		CHECK_INT(nat_path_add_candidate(&p, SA(c[i]), NAT_PATH_CAND_LOCAL, (uint64_t)i),
			  1);
	nat_path_on_traffic(&p, 100);
	CHECK_INT(tick(&p, 100), NAT_PATH_MAX_CANDIDATES);
	CHECK_INT(nat_path_on_pong(&p, txid(0), SA(c[0]), 110), 0);
	CHECK_INT(tick(&p, 110), 1);
	want_changed(21, 0, NAT_PATH_DIRECT, &c[0]);

	/* 22: a 17th evicts the unproven one heard of longest ago (c[1]), not the path, and a
	 * pong to the ping c[1] had in flight proves nothing now. */
	CHECK_INT(nat_path_add_candidate(&p, SA(c[16]), NAT_PATH_CAND_LOCAL, 200), 1);
	CHECK(has(&p, &c[0]));
	CHECK(!has(&p, &c[1]));
	CHECK(has(&p, &c[2]));
	CHECK(has(&p, &c[16]));
	nat_path_get_status(&p, &st);
	CHECK_INT(st.n_candidates, NAT_PATH_MAX_CANDIDATES);
	CHECK_INT(nat_path_on_pong(&p, got[1].txid, SA(c[1]), 210), -ENOENT);

	/* 23: hearing of c[2] again (as a roam source: it keeps the type that says more) makes
	 * c[3] the unproven one heard of longest ago: the next newcomer takes its slot. */
	CHECK_INT(nat_path_add_candidate(&p, SA(c[2]), NAT_PATH_CAND_ROAM, 300), 0);
	CHECK_INT(p.cand[2].type, NAT_PATH_CAND_LOCAL);
	CHECK_INT(nat_path_add_candidate(&p, SA(c[17]), NAT_PATH_CAND_LOCAL, 400), 1);
	CHECK(!has(&p, &c[3]));
	CHECK(has(&p, &c[2]));

	/* 24: a proven candidate outlives an unproven one heard of more recently: c[1] answers,
	 * the others are heard of again later, and the newcomer still takes c[2]'s slot. */
	start(&p);
	for (int i = 0; i < NAT_PATH_MAX_CANDIDATES; i++)
		nat_path_add_candidate(&p, SA(c[i]), NAT_PATH_CAND_LOCAL, (uint64_t)i);
	nat_path_on_traffic(&p, 100);
	CHECK_INT(tick(&p, 100), NAT_PATH_MAX_CANDIDATES);
	CHECK_INT(nat_path_on_pong(&p, got[0].txid, SA(c[0]), 200), 0);
	CHECK_INT(nat_path_on_pong(&p, got[1].txid, SA(c[1]), 250), 0);
	CHECK_INT(tick(&p, 250), 1);
	want_changed(24, 0, NAT_PATH_DIRECT, &c[0]);
	for (int i = 2; i < NAT_PATH_MAX_CANDIDATES; i++)
		nat_path_add_candidate(&p, SA(c[i]), NAT_PATH_CAND_LOCAL, 300 + (uint64_t)i);
	CHECK_INT(nat_path_add_candidate(&p, SA(c[16]), NAT_PATH_CAND_LOCAL, 400), 1);
	CHECK(has(&p, &c[0]));
	CHECK(has(&p, &c[1]));
	CHECK(!has(&p, &c[2]));
	CHECK(has(&p, &c[3]));

	/* When all are proven, the path is the one heard of longest ago (its pong came first)
	 * and still keeps its slot: the newcomer takes c[1]'s. */
	start(&p);
	for (int i = 0; i < NAT_PATH_MAX_CANDIDATES; i++)
		nat_path_add_candidate(&p, SA(c[i]), NAT_PATH_CAND_LOCAL, 0);
	nat_path_on_traffic(&p, 100);
	CHECK_INT(tick(&p, 100), NAT_PATH_MAX_CANDIDATES);
	uint8_t ids[NAT_PATH_MAX_CANDIDATES][NAT_DISCO_TXID];
	for (int i = 0; i < NAT_PATH_MAX_CANDIDATES; i++)
		memcpy(ids[i], got[i].txid, NAT_DISCO_TXID);
	pong_moves(&p, 24, ids[0], &c[0], 110);
	for (int i = 1; i < NAT_PATH_MAX_CANDIDATES; i++)
		CHECK_INT(nat_path_on_pong(&p, ids[i], SA(c[i]), 120 + (uint64_t)i), 0);
	CHECK_INT(tick(&p, 200), 0);
	nat_path_get_status(&p, &st);
	CHECK_INT(st.n_proven, NAT_PATH_MAX_CANDIDATES);
	CHECK_INT(nat_path_add_candidate(&p, SA(c[16]), NAT_PATH_CAND_LOCAL, 300), 1);
	CHECK(has(&p, &c[0]));
	CHECK(!has(&p, &c[1]));
	nat_path_get_status(&p, &st);
	CHECK(same(&st.addr, &c[0]));
}

static void call_me_maybe(void)
{
	struct nat_path p;
	struct sockaddr_storage cmm[NAT_DISCO_MAX_CANDIDATES + 1];
	struct sockaddr_storage a = ap("203.0.113.7", 41641), b = ap("2001:db8::7", 41641),
				bad = ap("224.0.0.1", 41641);

	/* 25: idle peer on the relay; its call-me-maybe (one multicast address among them,
	 * skipped): both pinged at once, though idle, and no call-me-maybe back. */
	start(&p);
	nat_path_set_relay(&p, RELAY, 0);
	CHECK_INT(tick(&p, 0), 1);
	cmm[0] = a;
	cmm[1] = bad;
	cmm[2] = b;
	CHECK_INT(nat_path_on_call_me_maybe(&p, cmm, 3, 100), 2);
	CHECK_INT(nat_path_next_deadline(&p), 100);
	CHECK_INT(tick(&p, 100), 2);
	want_ping(25, 0, &a);
	CHECK(got[1].type == NAT_PATH_SEND_PING && got[1].addr.ss_family == AF_INET6);

	/* 26: again a second later: punched again, spacing regardless (the peer is punching
	 * now); after that, idle, nothing more. */
	CHECK_INT(nat_path_on_call_me_maybe(&p, cmm, 3, 1100), 2);
	CHECK_INT(tick(&p, 1100), 2);
	CHECK(nat_path_next_deadline(&p) == NAT_PATH_NO_DEADLINE);

	/* 27: more candidates than a call-me-maybe can carry: refused whole. */
	for (int i = 0; i <= NAT_DISCO_MAX_CANDIDATES; i++)
		cmm[i] = a;
	CHECK_INT(nat_path_on_call_me_maybe(&p, cmm, NAT_DISCO_MAX_CANDIDATES + 1, 1200), -E2BIG);

	/* 28: our own call-me-maybe: at most one per 5 s, with probes only. */
	start(&p);
	nat_path_set_relay(&p, RELAY, 0);
	nat_path_add_candidate(&p, SA(a), NAT_PATH_CAND_REFLEXIVE, 0);
	nat_path_on_traffic(&p, 0);
	CHECK_INT(tick(&p, 0), 3);
	want_cmm(28, 2);
	nat_path_add_candidate(&p, SA(b), NAT_PATH_CAND_REFLEXIVE, 1000);
	CHECK_INT(tick(&p, 1000), 1); /* the new one pinged; no second call-me-maybe yet */
	want_ping(28, 0, &b);
	CHECK_INT(tick(&p, 5000), 2);
	want_ping(28, 0, &a);
	want_cmm(28, 1);

	/* 29: a ping from the peer at a new address: pinged back at once, even idle; its
	 * next ping within 5 s adds no ping of ours once ours was answered. */
	start(&p);
	CHECK_INT(nat_path_on_ping(&p, SA(a), 0), 1);
	CHECK_INT(tick(&p, 0), 1);
	want_ping(29, 0, &a);
	CHECK_INT(nat_path_on_pong(&p, txid(0), SA(a), 10), 0);
	CHECK_INT(tick(&p, 10), 1);
	want_changed(29, 0, NAT_PATH_DIRECT, &a);
	CHECK_INT(nat_path_on_ping(&p, SA(a), 1000), 0);
	CHECK_INT(tick(&p, 1000), 0);
	CHECK_INT(nat_path_on_ping(&p, SA(a), 5000), 0);
	CHECK_INT(tick(&p, 5000), 1);
	CHECK_INT(p.cand[0].type, NAT_PATH_CAND_PING);

	/* 29b: our punch (a call-me-maybe asked for it) met the peer's NAT before the peer's own
	 * ping opened it and went unanswered; the peer's ping 5 ms later: pinged back at once,
	 * not 5 s later. */
	start(&p);
	nat_path_set_relay(&p, RELAY, 0);
	CHECK_INT(nat_path_on_call_me_maybe(&p, &b, 1, 0), 1);
	CHECK_INT(tick(&p, 0), 2);
	want_changed(29, 0, NAT_PATH_RELAY, NULL);
	want_ping(29, 1, &b);
	CHECK_INT(nat_path_on_ping(&p, SA(b), 0), 0); /* the same ms: not unanswered yet */
	CHECK_INT(tick(&p, 0), 0);
	CHECK_INT(nat_path_on_ping(&p, SA(b), 5), 0);
	CHECK_INT(tick(&p, 5), 1);
	want_ping(29, 0, &b);
}

static void ping_cap(void)
{
	struct nat_path p;
	struct sockaddr_storage c[NAT_PATH_MAX_CANDIDATES];
	char ip[32];
	for (int i = 0; i < NAT_PATH_MAX_CANDIDATES; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		c[i] = ap(ip, 41641);
	}

	/* 30: sixteen probes, then the peer's call-me-maybe naming all sixteen: two more fit
	 * in the 5 s window, the rest wait for the next one. */
	start(&p);
	nat_path_set_relay(&p, RELAY, 0);
	for (int i = 0; i < NAT_PATH_MAX_CANDIDATES; i++)
		nat_path_add_candidate(&p, SA(c[i]), NAT_PATH_CAND_REFLEXIVE, 0);
	nat_path_on_traffic(&p, 0);
	CHECK_INT(tick(&p, 0), 1 + NAT_PATH_MAX_CANDIDATES + 1);
	CHECK_INT(nat_path_on_call_me_maybe(&p, c, NAT_PATH_MAX_CANDIDATES, 100),
		  NAT_PATH_MAX_CANDIDATES);
	CHECK_INT(tick(&p, 100), NAT_PATH_PING_CAP - NAT_PATH_MAX_CANDIDATES);
	CHECK_INT(nat_path_next_deadline(&p), 5000);
	/* the fourteen punches wait 5 s for the first sixteen; the two sent at 100 ms are
	 * due again at 5100 (as probes, with a call-me-maybe of ours) */
	CHECK_INT(tick(&p, 5000), NAT_PATH_MAX_CANDIDATES - 2);
	CHECK_INT(nat_path_next_deadline(&p), 5100);
	CHECK_INT(tick(&p, 5100), 3);
	want_cmm(30, 2);

	/* 31: a flood: a call-me-maybe every 10 ms for a minute, ticking after each: never more
	 * than the cap in any window of 5 s. */
	uint64_t sent_at[4096];
	int n = 0;
	for (int k = 0; k < 16; k++)
		sent_at[n++] = 0;
	sent_at[n++] = 100;
	sent_at[n++] = 100;
	for (int k = 0; k < 14; k++)
		sent_at[n++] = 5000;
	sent_at[n++] = 5100;
	sent_at[n++] = 5100;
	int before = n;
	for (uint64_t t = 6000; t < 66000; t += 10) {
		nat_path_on_call_me_maybe(&p, c, NAT_PATH_MAX_CANDIDATES, t);
		tick(&p, t);
		for (int k = 0; k < n_got && k < LOG; k++)
			if (got[k].type == NAT_PATH_SEND_PING && n < 4096)
				sent_at[n++] = t;
	}
	int worst = 0;
	for (int i = 0, j = 0; i < n; i++) {
		while (sent_at[i] - sent_at[j] >= NAT_PATH_PING_SPACING_MS)
			j++;
		if (i - j + 1 > worst)
			worst = i - j + 1;
	}
	CHECK(n > 0);
	if (worst > NAT_PATH_PING_CAP)
		fprintf(stderr, "step 31: %d pings within 5 s\n", worst);
	CHECK(worst <= NAT_PATH_PING_CAP);
	/* and no fewer: eighteen every 5 s for twelve windows */
	CHECK_INT(n - before, 12 * NAT_PATH_PING_CAP);

	/* 31b: when the cap binds, the punches go first: 15 probes at 0, a sixteenth candidate
	 * at 1 s whose ping goes unanswered twice while the peer pings from it (each ping
	 * answered by one of ours); at 5 s, 15 pings fit: the peer's ping from the sixteenth is
	 * answered first, not left behind 15 probes of candidates it may have left long ago. */
	start(&p);
	nat_path_on_traffic(&p, 0);
	for (int i = 0; i < NAT_PATH_MAX_CANDIDATES - 1; i++)
		nat_path_add_candidate(&p, SA(c[i]), NAT_PATH_CAND_REFLEXIVE, 0);
	CHECK_INT(tick(&p, 0), NAT_PATH_MAX_CANDIDATES - 1);
	nat_path_add_candidate(&p, SA(c[15]), NAT_PATH_CAND_PING, 1000);
	CHECK_INT(tick(&p, 1000), 1);
	for (uint64_t t = 1001; t <= 1002; t++) {
		CHECK_INT(nat_path_on_ping(&p, SA(c[15]), t), 0);
		CHECK_INT(tick(&p, t), 1);
		want_ping(31, 0, &c[15]);
	}
	CHECK_INT(nat_path_on_ping(&p, SA(c[15]), 5000), 0);
	CHECK_INT(tick(&p, 5000), 15);
	want_ping(31, 0, &c[15]);
}

struct bad_addr {
	struct sockaddr_storage ss;
	const char *why;
};

static void refused_addresses(void)
{
	struct nat_path p;
	char err[160];
	struct bad_addr rows[] = {
		/* 32 */ { ap("0.0.0.0", 41641),
			   "candidate 0.0.0.0:41641: in 0.0.0.0/8, which is no destination" },
		/* 33 */
		{ ap("0.1.2.3", 9), "candidate 0.1.2.3:9: in 0.0.0.0/8, which is no destination" },
		/* 34 */
		{ ap("239.255.255.250", 1900), "candidate 239.255.255.250:1900: multicast" },
		/* 35 */
		{ ap("255.255.255.255", 41641), "candidate 255.255.255.255:41641: broadcast" },
		/* 36 */ { ap("192.0.2.1", 0), "candidate 192.0.2.1:0: port 0" },
		/* 37 */ { ap("::", 41641), "candidate [::]:41641: the unspecified address" },
		/* 38 */ { ap("ff02::1", 41641), "candidate [ff02::1]:41641: multicast" },
		/* 39 */
		{ ap("::ffff:192.0.2.1", 41641),
		  "candidate [::ffff:192.0.2.1]:41641: IPv4-mapped (an IPv4 path is given as "
		  "IPv4)" },
		/* 40 */ { ap("2001:db8::1", 0), "candidate [2001:db8::1]:0: port 0" },
	};
	start(&p);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		err[0] = '\0';
		CHECK_INT(nat_path_check_addr(SA(rows[i].ss), err, sizeof(err)), -EINVAL);
		if (strcmp(err, rows[i].why) != 0)
			fprintf(stderr, "row %zu:\n", 32 + i);
		CHECK_STR(err, rows[i].why);
		CHECK_INT(nat_path_add_candidate(&p, SA(rows[i].ss), NAT_PATH_CAND_LOCAL, 0),
			  -EINVAL);
		CHECK_INT(nat_path_on_roam(&p, SA(rows[i].ss), 0), -EINVAL);
	}
	/* 41: another family; and what passes. */
	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	CHECK_INT(nat_path_check_addr(SA(un), err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "candidate of address family 1: only IPv4 and IPv6 are paths");
	struct sockaddr_storage ok4 = ap("192.0.2.1", 41641), ok6 = ap("fe80::1", 41641);
	CHECK_INT(nat_path_check_addr(SA(ok4), err, sizeof(err)), 0);
	CHECK_INT(nat_path_check_addr(SA(ok6), err, sizeof(err)), 0);
	CHECK_INT(p.n_cand, 0);
}

/* A netmap that no longer lists some of the peer's addresses. */
static void netmap_gone(void)
{
	struct nat_path p;
	struct nat_path_status st;
	struct sockaddr_storage x = ap("10.0.0.1", 41641), y = ap("198.51.100.2", 41641),
				a = ap("10.0.0.3", 41641), c = ap("203.0.113.4", 41641);

	/* 42: x (local) and y (reflexive) unproven with pings in flight, a (local) the proven
	 * path, c carried by a call-me-maybe.  The netmap now names only y: x goes with its
	 * ping (its pong proves nothing), the path and c stay. */
	start(&p);
	CHECK_INT(nat_path_add_candidate(&p, SA(x), NAT_PATH_CAND_LOCAL, 0), 1);
	CHECK_INT(nat_path_add_candidate(&p, SA(y), NAT_PATH_CAND_REFLEXIVE, 0), 1);
	CHECK_INT(nat_path_on_call_me_maybe(&p, &c, 1, 0), 1);
	CHECK_INT(nat_path_add_candidate(&p, SA(a), NAT_PATH_CAND_LOCAL, 0), 1);
	nat_path_on_traffic(&p, 100);
	CHECK_INT(tick(&p, 100), 4);
	uint8_t x_ping[NAT_DISCO_TXID];
	memcpy(x_ping, txid(0), NAT_DISCO_TXID);
	pong_moves(&p, 42, txid(3), &a, 110);
	CHECK_INT(nat_path_retain_netmap(&p, &y, 1, 120), 1);
	CHECK(!has(&p, &x));
	CHECK(has(&p, &y) && has(&p, &a) && has(&p, &c));
	CHECK_INT(nat_path_on_pong(&p, x_ping, SA(x), 130), -ENOENT);
	nat_path_get_status(&p, &st);
	CHECK_INT(st.kind, NAT_PATH_DIRECT);
	CHECK(same(&st.addr, &a)); /* the path (the last slot) took x's and is still the path */
	CHECK(p.active >= 0 && (size_t)p.active < p.n_cand && same(&p.cand[p.active].addr, &a));

	/* 43: the path is not in the netmap either: it stays while its pong is trusted... */
	CHECK_INT(nat_path_retain_netmap(&p, NULL, 0, 130), 1); /* y */
	CHECK(has(&p, &a) && !has(&p, &y));
	CHECK_INT(tick(&p, 130), 0);
	nat_path_get_status(&p, &st);
	CHECK(same(&st.addr, &a));
	/* ... and goes once nothing proves it: the trust ends unanswered (the change to none,
	 * then the re-probe of both candidates) */
	CHECK_INT(tick(&p, 110 + NAT_PATH_TRUST_MS), 3);
	want_changed(43, 0, NAT_PATH_NONE, NULL);
	CHECK_INT(nat_path_retain_netmap(&p, NULL, 0, 110 + NAT_PATH_TRUST_MS), 1);
	CHECK(!has(&p, &a) && has(&p, &c));
	CHECK_INT(p.n_cand, 1);
}

int main(void)
{
	relay_then_upgrade();
	best_rtt();
	roam();
	peer_moved();
	bad_pongs();
	full_table();
	call_me_maybe();
	ping_cap();
	refused_addresses();
	netmap_gone();
	return check_finish();
}
