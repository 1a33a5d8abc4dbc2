/* meshd's TURN allocation (see reach.h): one allocation on one relay of our netmap, over
 * UDP from WireGuard's socket or over TCP/TLS (relay_stream.c), driven by nat/turn.c on the
 * relay timer.  Failures back off (1 s doubling to
 * 60 s); while allocated a Refresh goes at least every RELAY_CHECK_MS, so a relay that
 * forgot us (restarted) or a NAT that remapped us (437) is found within seconds; each
 * peer's path manager is told when its channel is bound or lost; our relayed address is
 * published.  What arrives from the relay (STUN answers, ChannelData) is handed to
 * nat_turn_input, and what it unwraps from a peer to reach.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cmd/daemon/reach/internal.h"

static const char *const subject = "reach";

static void on_relay_timer(uv_timer_t *t);
static void stream_connect(struct meshd_reach *r, uint64_t now);
static void relay_use(struct meshd_reach *r, size_t i);
static void relay_end(struct meshd_reach *r, bool release);
static void turn_send(void *ctx, const uint8_t *buf, size_t len);

static const char *const transport_names[] = {
	[CTL_RELAY_UDP] = "udp",
	[CTL_RELAY_TCP] = "tcp",
	[CTL_RELAY_TLS] = "tls",
};

/* How logs and status name a relay: "turns:198.18.0.10:443 (tls)". */
static void relay_name(const struct ctl_relay_url *u, char out[static CTL_RELAY_URL_MAX])
{
	bool v6 = strchr(u->host, ':') != NULL;
	snprintf(out, CTL_RELAY_URL_MAX, "%s:%s%s%s:%u (%s)",
		 u->transport == CTL_RELAY_TLS ? "turns" : "turn", v6 ? "[" : "", u->host,
		 v6 ? "]" : "", u->port, transport_names[u->transport]);
}

/* The first TCP or TLS relay among the choices; n_choices when none. */
static size_t first_stream(const struct meshd_reach *r)
{
	size_t i = 0;
	while (i < r->n_choices && r->choices[i].url.transport == CTL_RELAY_UDP)
		i++;
	return i;
}

/* A failed allocation moves on, without waiting, when another relay may do better: from
 * UDP that got no answer at all (the network may pass only TCP) to the TCP/TLS relays,
 * and from a TCP/TLS relay that never allocated to the next.  True when it moved. */
static bool relay_move_on(struct meshd_reach *r, const char *name)
{
	size_t next = r->n_choices, s = first_stream(r);
	char to[CTL_RELAY_URL_MAX];
	if (r->relay.url.transport == CTL_RELAY_UDP && r->turn.unanswered && s < r->n_choices)
		next = s;
	else if (r->relay.url.transport != CTL_RELAY_UDP && !r->allocations &&
		 r->cur + 1 < r->n_choices)
		next = r->cur + 1;
	if (next == r->n_choices)
		return false;
	relay_name(&r->choices[next].url, to);
	log_warn(subject, "relay %s: %s; trying %s", name, r->turn.why, to);
	if (r->relay.url.transport == CTL_RELAY_UDP)
		r->udp_again_at =
		    uv_now(r->loop) + (r->udp_again_wait ? r->udp_again_wait : UDP_AGAIN_MS);
	relay_use(r, next);
	return true;
}

/* Sends a sealed discovery message to the peer through our relay (ChannelData). */
void meshd__relay_send(struct meshd_reach *r, struct rpeer *p, const uint8_t *buf, size_t len)
{
	uint8_t out[NAT_DISCO_MAX + NAT_TURN_CHANNEL_HEADER];
	if (!r->relay_on || r->turn.state != NAT_TURN_ALLOCATED || !p->relayed.ss_family)
		return;
	int n = nat_turn_wrap(&r->turn, (const struct sockaddr *)&p->relayed, buf, len, out,
			      sizeof(out));
	if (n > 0 && meshd__relay_on_stream(r))
		meshd__stream_write(r, out, (size_t)n, false);
	else if (n > 0)
		meshd__send_to(r, &r->relay_addr, out, (size_t)n);
}

static void turn_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct meshd_reach *r = ctx;
	if (meshd__relay_on_stream(r))
		meshd__stream_write(r, buf, len, true);
	else
		meshd__send_to(r, &r->relay_addr, buf, len);
}

/* ---- back to UDP: make-before-break ---- */

uint64_t meshd__udp_again_next(uint64_t wait)
{
	if (wait < UDP_AGAIN_MS)
		wait = UDP_AGAIN_MS;
	return wait >= UDP_AGAIN_MAX_MS / 2 ? UDP_AGAIN_MAX_MS : wait * 2;
}

static void udp_try_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct meshd_reach *r = ctx;
	meshd__send_to(r, &r->udp_try_addr, buf, len);
}

static void udp_try_end(struct meshd_reach *r, bool release)
{
	if (!r->udp_trying)
		return;
	if (release)
		nat_turn_release(&r->udp_try, now_mono_ms());
	sodium_memzero(&r->udp_try, sizeof(r->udp_try));
	r->udp_trying = false;
	r->udp_try_first = false;
	r->udp_try_deadline = 0;
}

/* Allocates on the UDP relay (choices[0]) while the stream relay stays in use: a UDP that
 * answers STUN but not TURN (a firewall, or someone on the path) costs nothing. */
static void udp_try_start(struct meshd_reach *r, uint64_t now)
{
	const struct ctl_relay *u = &r->choices[0];
	if (meshd__relay_addr(r, &u->url, &r->udp_try_addr) != 0 ||
	    nat_turn_init(&r->udp_try, u->username, u->password, udp_try_send, r) != 0) {
		sodium_memzero(&r->udp_try, sizeof(r->udp_try));
		return;
	}
	r->udp_trying = true;
	r->udp_try_deadline = now + UDP_TRY_MS;
	for (size_t i = 0; i < r->n_peers; i++)
		if (r->peers[i]->relayed.ss_family)
			nat_turn_add_peer(&r->udp_try,
					  (const struct sockaddr *)&r->peers[i]->relayed, now);
	nat_turn_start(&r->udp_try, now);
}

/* The UDP relay in use allocates (again); with a TCP/TLS relay to fall back on, that one
 * is tried too if UDP is still unanswered at UDP_ALONE_MS. */
static void udp_start(struct meshd_reach *r, uint64_t now)
{
	nat_turn_start(&r->turn, now);
	r->udp_alone_at = first_stream(r) < r->n_choices ? now + UDP_ALONE_MS : 0;
}

/* UDP_ALONE_MS is over: if UDP's Allocate is still unanswered, the first TCP/TLS relay is
 * used from now on, and UDP tried on in the background (taken over once it allocates). */
static void udp_alone(struct meshd_reach *r, uint64_t now)
{
	size_t s = first_stream(r);
	char name[CTL_RELAY_URL_MAX], to[CTL_RELAY_URL_MAX];
	r->udp_alone_at = 0;
	if (!r->relay_on || r->relay.url.transport != CTL_RELAY_UDP ||
	    r->turn.state != NAT_TURN_ALLOCATING || r->turn.answered || s == r->n_choices)
		return;
	relay_name(&r->relay.url, name);
	relay_name(&r->choices[s].url, to);
	log_warn(subject, "relay %s: no answer in %d.%d s; trying %s, and UDP on meanwhile", name,
		 UDP_ALONE_MS / 1000, UDP_ALONE_MS % 1000 / 100, to);
	/* should the stream relays fail and take the try with them, UDP is looked at again
	 * as after a move at its last try */
	r->udp_again_at = now + (r->udp_again_wait ? r->udp_again_wait : UDP_AGAIN_MS);
	relay_use(r, s);
	if (meshd__relay_on_stream(r)) {
		udp_try_start(r, now);
		r->udp_try_first = r->udp_trying;
	} else {
		r->udp_try_deferred = true; /* the stream relay waits for its name (names.c) */
	}
}

/* UDP allocated: it becomes the allocation in use, and the stream's is ended. */
static void udp_try_take(struct meshd_reach *r)
{
	struct nat_turn t = r->udp_try;
	struct sockaddr_storage addr = r->udp_try_addr;
	char from[CTL_RELAY_URL_MAX], to[CTL_RELAY_URL_MAX];
	relay_name(&r->relay.url, from);
	relay_name(&r->choices[0].url, to);
	udp_try_end(r, false);
	relay_end(r, true);
	r->cur = 0;
	r->relay = r->choices[0];
	r->relay_addr = addr;
	r->turn = t;
	r->turn.send = turn_send;
	r->relay_on = true;
	sodium_memzero(&t, sizeof(t));
	r->udp_again_at = 0;
	r->udp_again_wait = 0;
	log_info(subject, "relay %s: allocated over UDP again; %s ended", to, from);
}

/* The return to UDP after an answer or on the timer: taken over once allocated and the
 * peers' channels bound, given up when it failed or its time is over (the wait before the
 * next one doubles).  Returns when it wants the timer next. */
static uint64_t udp_try_tick(struct meshd_reach *r, uint64_t now)
{
	struct nat_turn *t = &r->udp_try;
	char to[CTL_RELAY_URL_MAX];
	bool bound = true;
	if (!r->udp_trying)
		return UINT64_MAX;
	uint64_t next = t->state == NAT_TURN_FAILED ? UINT64_MAX : nat_turn_timer(t, now);
	for (size_t k = 0; k < t->n_peers; k++)
		bound = bound && (t->peers[k].bound || t->peers[k].gone);
	if (t->state == NAT_TURN_ALLOCATED && (bound || now >= r->udp_try_deadline)) {
		udp_try_take(r);
		return UINT64_MAX;
	}
	if (t->state != NAT_TURN_FAILED && now < r->udp_try_deadline)
		return next < r->udp_try_deadline ? next : r->udp_try_deadline;
	relay_name(&r->choices[0].url, to);
	if (r->udp_try_first) {
		/* UDP never answered (a network that lets only TCP out): as it was */
		r->udp_again_at = now + (r->udp_again_wait ? r->udp_again_wait : UDP_AGAIN_MS);
		log_info(subject, "relay %s: no answer over UDP either (%s); UDP again in %llu s",
			 to, t->state == NAT_TURN_FAILED ? t->why : "not allocated in time",
			 (unsigned long long)((r->udp_again_at - now) / 1000));
		udp_try_end(r, true);
		return UINT64_MAX;
	}
	r->udp_again_wait = meshd__udp_again_next(r->udp_again_wait);
	r->udp_again_at = now + r->udp_again_wait;
	log_warn(subject,
		 "relay %s: back to UDP failed (%s); staying on the stream relay, UDP "
		 "again in %llu s",
		 to, t->state == NAT_TURN_FAILED ? t->why : "not allocated in time",
		 (unsigned long long)(r->udp_again_wait / 1000));
	udp_try_end(r, true);
	return UINT64_MAX;
}

void meshd__relay_udp_input(struct meshd_reach *r, uint8_t *buf, size_t len)
{
	struct sockaddr_storage from;
	const uint8_t *data;
	size_t n;
	if (!r->udp_trying || !meshd__relay_on_stream(r)) {
		meshd__relay_input(r, buf, len);
		return;
	}
	int rc = nat_turn_input(&r->udp_try, buf, len, uv_now(r->loop), &from, &data, &n);
	if (rc == 2)
		meshd__relay_data(r, &from, data, n);
	else if (rc < 0)
		r->stats.drop_channel++;
	meshd__relay_kick(r);
}

unsigned meshd__relay_failures(unsigned failures, uint64_t allocated_at, uint64_t now)
{
	return allocated_at && now >= allocated_at + RELAY_STABLE_MS ? 0 : failures;
}

/* After anything the TURN client did: failures start the backoff, and each peer's relay
 * handle follows its channel. */
static void relay_check(struct meshd_reach *r)
{
	uint64_t now = uv_now(r->loop);
	bool ready = r->relay_on && r->turn.state == NAT_TURN_ALLOCATED;
	char name[CTL_RELAY_URL_MAX];
	relay_name(&r->relay.url, name);
	/* A stream relay being connected again still shows the last attempt's failure until
	 * it is ready (nat_turn_start): that failure is not this connection's. */
	bool failed = r->turn.state == NAT_TURN_FAILED && !r->stream_deadline;
	if (failed && r->conn)
		meshd__stream_close(r); /* the allocation lives as long as its connection */
	if (r->relay_on && failed && !r->retry_at && relay_move_on(r, name))
		return; /* relay_use checked the new one */
	if (r->relay_on && failed && !r->retry_at) {
		uint64_t wait = RETRY_MIN_MS << (r->failures < 6 ? r->failures : 6);
		if (wait > RETRY_MAX_MS)
			wait = RETRY_MAX_MS;
		r->failures++;
		r->retry_at = now + wait;
		log_warn(subject, "relay %s: %s; trying again in %llu s", name, r->turn.why,
			 (unsigned long long)(wait / 1000));
	}
	if (r->relay_on && r->turn_seen == NAT_TURN_ALLOCATED && !ready) {
		/* 437 to a Refresh or ChannelBind: our mapping may be new too, so probe it now */
		log_warn(subject,
			 "relay %s: allocation lost (the relay restarted or our NAT mapping "
			 "changed); allocating afresh",
			 name);
		meshd__probe_round(r, now);
	}
	if (ready && r->turn_seen != NAT_TURN_ALLOCATED) {
		r->allocations++;
		r->allocated_at = now;
	}
	r->failures = meshd__relay_failures(r->failures, ready ? r->allocated_at : 0, now);
	r->turn_seen = r->relay_on ? r->turn.state : NAT_TURN_IDLE;
	if (ready && !meshd__same(&r->logged_relayed, &r->turn.relayed)) {
		char a[80];
		nat_sockaddr_format(&r->turn.relayed, a, sizeof(a));
		log_info(subject, "relay %s: allocated, our relayed address is %s", name, a);
		r->logged_relayed = r->turn.relayed;
	}
	for (size_t i = 0; i < r->n_peers; i++) {
		struct rpeer *p = r->peers[i];
		uint64_t h = 0;
		for (size_t k = 0; ready && p->relayed.ss_family && k < r->turn.n_peers; k++)
			if (r->turn.peers[k].bound &&
			    meshd__same(&r->turn.peers[k].addr, &p->relayed))
				h = p->handle;
		if (h != p->path.relay) {
			nat_path_set_relay(&p->path, h, now);
			meshd__tick_soon(r);
		}
	}
	meshd__publish(r);
}

static void arm_relay(struct meshd_reach *r, uint64_t turn_next)
{
	uint64_t now = uv_now(r->loop), next = turn_next;
	if (r->relay_on && r->turn.state == NAT_TURN_ALLOCATED) {
		if (r->turn.refresh_at_ms > now + RELAY_CHECK_MS)
			r->turn.refresh_at_ms = now + RELAY_CHECK_MS;
		if (r->turn.refresh_at_ms > now && r->turn.refresh_at_ms < next)
			next = r->turn.refresh_at_ms; /* not when due: its transaction is running */
	}
	if (r->retry_at && r->retry_at < next)
		next = r->retry_at;
	if (r->udp_alone_at && r->udp_alone_at < next)
		next = r->udp_alone_at;
	if (r->stream_deadline && r->stream_deadline < next)
		next = r->stream_deadline;
	if (r->udp_again_at && r->udp_again_at < next)
		next = r->udp_again_at;
	uint64_t probes = meshd__probe_next(r);
	if (probes < next)
		next = probes;
	if (next == UINT64_MAX)
		uv_timer_stop(&r->relay_timer);
	else
		uv_timer_start(&r->relay_timer, on_relay_timer, next > now ? next - now : 0, 0);
}

/* Forgets the relay in use.  release: end our allocation at the relay first (new
 * credentials, another relay, or none), so that allocating again from this socket is not
 * met with 437 until the old one expires; not when closing (wg/ is gone by then). */
static void relay_end(struct meshd_reach *r, bool release)
{
	udp_try_end(r, release);
	if (!r->relay_on)
		return;
	if (release)
		nat_turn_release(&r->turn, now_mono_ms());
	meshd__stream_close(r);
	r->stream_deadline = 0;
	sodium_memzero(&r->turn, sizeof(r->turn)); /* holds the password and its key */
	sodium_memzero(&r->relay, sizeof(r->relay));
	r->relay_on = false;
	r->retry_at = 0;
	r->udp_alone_at = 0;
	r->failures = 0;
	r->turn_seen = NAT_TURN_IDLE;
	r->allocations = 0;
	r->allocated_at = 0;
}

/* Our allocation on relay (its credentials are ours); the peers' relayed addresses get
 * channels. */
static void relay_start(struct meshd_reach *r, const struct ctl_relay *relay)
{
	char url[CTL_RELAY_URL_MAX];
	relay_end(r, true);
	ctl_relay_url_format(&relay->url, url);
	int rc = meshd__relay_addr(r, &relay->url, &r->relay_addr);
	if (rc == -EAGAIN) { /* started again once the name is resolved */
		log_info(subject, "relay %s: resolving %s", url, relay->url.host);
		return;
	}
	if (rc) { /* names.c said why, and asks again */
		if (rc != -EHOSTUNREACH)
			log_warn(subject, "relay %s: no address: %s", url, strerror(-rc));
		return;
	}
	if (nat_turn_init(&r->turn, relay->username, relay->password, turn_send, r) != 0) {
		log_warn(subject, "relay %s: credentials too long; not used", url);
		sodium_memzero(&r->turn, sizeof(r->turn));
		return;
	}
	r->relay = *relay;
	r->relay_on = true;
	uint64_t now = uv_now(r->loop);
	for (size_t i = 0; i < r->n_peers; i++)
		if (r->peers[i]->relayed.ss_family)
			nat_turn_add_peer(&r->turn, (const struct sockaddr *)&r->peers[i]->relayed,
					  now);
	relay_name(&relay->url, url);
	if (relay->url.transport == CTL_RELAY_UDP) {
		udp_start(r, now);
		log_info(subject, "relay %s: allocating (user %s)", url, relay->username);
		return;
	}
	nat_turn_set_transport(&r->turn,
			       relay->url.transport == CTL_RELAY_TLS ? NAT_TURN_TLS : NAT_TURN_TCP);
	log_info(subject, "relay %s: connecting (user %s)", url, relay->username);
	stream_connect(r, now);
}

/* A connection to the stream relay; the allocation starts once it is ready. */
static void stream_connect(struct meshd_reach *r, uint64_t now)
{
	char why[CTL_LAPI_ALLOC_WHY];
	r->stream_deadline = now + STREAM_CONNECT_MS;
	if (meshd__stream_open(r, why, sizeof(why)) != 0)
		meshd__relay_stream_failed(r, why);
}

void meshd__relay_stream_ready(struct meshd_reach *r)
{
	char name[CTL_RELAY_URL_MAX];
	relay_name(&r->relay.url, name);
	log_info(subject, "relay %s: connected%s; allocating", name,
		 r->relay.url.transport == CTL_RELAY_TLS ? ", its certificate verified" : "");
	r->stream_deadline = 0;
	nat_turn_start(&r->turn, uv_now(r->loop));
	meshd__relay_kick(r);
}

void meshd__relay_stream_failed(struct meshd_reach *r, const char *why)
{
	r->stream_deadline = 0;
	if (!meshd__relay_on_stream(r))
		return;
	nat_turn_fail(&r->turn, why);
	meshd__relay_kick(r);
}

static void on_relay_timer(uv_timer_t *t)
{
	struct meshd_reach *r = t->data;
	uint64_t now = uv_now(r->loop), next = UINT64_MAX;
	meshd__probe_timer(r, now);
	if (r->udp_again_at && now >= r->udp_again_at) {
		/* UDP passes again when a STUN probe to its relay was answered lately */
		r->udp_again_at = 0;
		struct sockaddr_storage udp;
		if (!meshd__relay_on_stream(r) || first_stream(r) == 0 || r->udp_trying ||
		    meshd__relay_addr(r, &r->choices[0].url, &udp) != 0) {
			/* nothing to go back to */
		} else if (meshd__probe_heard(r, &udp, now - UDP_AGAIN_MS)) {
			char from[CTL_RELAY_URL_MAX], to[CTL_RELAY_URL_MAX];
			relay_name(&r->relay.url, from);
			relay_name(&r->choices[0].url, to);
			log_info(subject,
				 "relay %s answers STUN over UDP again: allocating there while %s "
				 "stays in use",
				 to, from);
			udp_try_start(r, now);
		} else {
			r->udp_again_at = now + UDP_AGAIN_MS;
		}
	}
	if (r->stream_deadline && now >= r->stream_deadline) {
		const char *why = meshd__stream_stalled(r);
		meshd__stream_close(r);
		meshd__relay_stream_failed(r, why);
	}
	if (r->relay_on && r->retry_at && now >= r->retry_at) {
		r->retry_at = 0;
		if (meshd__relay_on_stream(r))
			stream_connect(r, now);
		else
			udp_start(r, now);
	}
	if (r->udp_alone_at && now >= r->udp_alone_at)
		udp_alone(r, now);
	uint64_t try_next = udp_try_tick(r, now);
	if (r->relay_on && r->turn.state != NAT_TURN_FAILED)
		next = nat_turn_timer(&r->turn, now);
	relay_check(r);
	arm_relay(r, next < try_next ? next : try_next);
}

void meshd__relay_input(struct meshd_reach *r, uint8_t *buf, size_t len)
{
	struct sockaddr_storage from;
	const uint8_t *data;
	size_t n;
	uint64_t now = uv_now(r->loop);
	int rc = nat_turn_input(&r->turn, buf, len, now, &from, &data, &n);
	if (rc != 2) {
		if (rc < 0)
			r->stats.drop_channel++;
		meshd__relay_kick(r);
		return;
	}
	meshd__relay_data(r, &from, data, n);
}

void meshd_reach_alloc_status(const struct meshd_reach *r, struct ctl_lapi_alloc *out)
{
	uint64_t now = uv_now(r->loop);
	memset(out, 0, sizeof(*out));
	if (!r->relay_on)
		return;
	out->relay = r->relay.url;
	out->allocations = r->allocations;
	switch (r->turn.state) {
	case NAT_TURN_ALLOCATED:
		out->state = CTL_LAPI_ALLOC_ALLOCATED;
		nat_sockaddr_format(&r->turn.relayed, out->relayed, sizeof(out->relayed));
		break;
	case NAT_TURN_FAILED:
		out->state = CTL_LAPI_ALLOC_FAILED;
		snprintf(out->why, sizeof(out->why), "%s", r->turn.why[0] ? r->turn.why : "?");
		out->retry_s = r->retry_at > now ? (int64_t)((r->retry_at - now + 999) / 1000) : 0;
		break;
	default:
		out->state = CTL_LAPI_ALLOC_ALLOCATING;
		break;
	}
}

static void relay_use(struct meshd_reach *r, size_t i)
{
	r->cur = i;
	relay_start(r, &r->choices[i]);
}

static bool relay_same(const struct ctl_relay *a, const struct ctl_relay *b)
{
	return memcmp(&a->url, &b->url, sizeof(a->url)) == 0 &&
	       strcmp(a->username, b->username) == 0 && strcmp(a->password, b->password) == 0;
}

void meshd__relay_names_changed(struct meshd_reach *r)
{
	struct sockaddr_storage a;
	uint64_t now = uv_now(r->loop);
	meshd__probe_retarget(r, now);
	if (r->n_choices && (!r->relay_on || (meshd__relay_addr(r, &r->relay.url, &a) == 0 &&
					      !meshd__same(&a, &r->relay_addr))))
		relay_use(r, r->cur);
	if (r->udp_try_deferred && meshd__relay_on_stream(r)) {
		/* UDP went unanswered before the stream relay had its address: as udp_alone */
		r->udp_try_deferred = false;
		udp_try_start(r, now);
		r->udp_try_first = r->udp_trying;
	}
	meshd__relay_kick(r);
}

void meshd__relay_stop(struct meshd_reach *r, bool release)
{
	relay_end(r, release);
	r->udp_try_deferred = false;
	sodium_memzero(r->choices, sizeof(r->choices));
	r->n_choices = r->cur = 0;
	r->udp_again_at = r->udp_again_wait = 0;
}

void meshd__relay_apply(struct meshd_reach *r, const struct ctl_netmap *nm)
{
	struct ctl_relay choices[CTL_RELAYS_MAX];
	size_t n = 0, keep = 0;
	bool udp = false, changed;
	for (size_t i = 0; i < nm->n_relays; i++) { /* the first UDP relay first */
		if (nm->relays[i].url.transport == CTL_RELAY_UDP && !udp) {
			choices[n++] = nm->relays[i];
			udp = true;
		}
	}
	for (size_t i = 0; i < nm->n_relays; i++)
		if (nm->relays[i].url.transport != CTL_RELAY_UDP)
			choices[n++] = nm->relays[i];
	changed = n != r->n_choices || !r->relay_on;
	for (size_t i = 0; i < n && !changed; i++)
		changed = !relay_same(&choices[i], &r->choices[i]);
	/* New credentials for the same relays keep the one in use: a node on TLS because UDP
	 * is blocked does not wait for UDP again at every renewal. */
	for (size_t i = 0; r->relay_on && i < n; i++)
		if (memcmp(&choices[i].url, &r->relay.url, sizeof(r->relay.url)) == 0)
			keep = i;
	if (!n) {
		meshd__relay_stop(r, true);
	} else if (changed) {
		if (!keep)
			r->udp_again_at = r->udp_again_wait = 0;
		r->udp_try_deferred = false;
		memcpy(r->choices, choices, sizeof(choices));
		r->n_choices = n;
		relay_use(r, keep);
	}
	sodium_memzero(choices, sizeof(choices));
}

void meshd__relay_add_peer(struct meshd_reach *r, const struct sockaddr_storage *relayed,
			   uint64_t now)
{
	if (r->relay_on &&
	    nat_turn_add_peer(&r->turn, (const struct sockaddr *)relayed, now) == -ENOSPC) {
		/* every channel taken (peers came and went): a fresh allocation */
		relay_use(r, r->cur);
	}
	if (r->udp_trying)
		nat_turn_add_peer(&r->udp_try, (const struct sockaddr *)relayed, now);
}

void meshd__relay_drop_peer(struct meshd_reach *r, const struct sockaddr_storage *relayed,
			    uint64_t now)
{
	if (r->relay_on)
		nat_turn_remove_peer(&r->turn, (const struct sockaddr *)relayed, now);
	if (r->udp_trying)
		nat_turn_remove_peer(&r->udp_try, (const struct sockaddr *)relayed, now);
}

bool meshd__relay_from(const struct meshd_reach *r, const struct sockaddr_storage *from)
{
	return (r->relay_on && !meshd__relay_on_stream(r) && meshd__same(&r->relay_addr, from)) ||
	       (r->udp_trying && meshd__same(&r->udp_try_addr, from));
}

int meshd__relay_route(struct meshd_reach *r, const struct rpeer *p, size_t len,
		       struct wg_route *out)
{
	if (!r->relay_on || r->turn.state != NAT_TURN_ALLOCATED)
		return -ENETUNREACH;
	for (size_t k = 0; k < r->turn.n_peers; k++) {
		const struct nat_turn_peer *tp = &r->turn.peers[k];
		if (!tp->bound || !meshd__same(&tp->addr, &p->relayed) || len > 0xFFFF)
			continue;
		if (!meshd__relay_on_stream(r))
			out->to = r->relay_addr;
		else if (!meshd__stream_route(r, &out->to))
			return -ENETUNREACH;
		out->prefix[0] = (uint8_t)(tp->channel >> 8);
		out->prefix[1] = (uint8_t)tp->channel;
		out->prefix[2] = (uint8_t)(len >> 8);
		out->prefix[3] = (uint8_t)len;
		out->prefix_len = NAT_TURN_CHANNEL_HEADER;
		return 0;
	}
	return -ENETUNREACH;
}

bool meshd__relay_path_text(const struct meshd_reach *r, char text[static MESHD_REACH_PATH_TEXT])
{
	char name[CTL_RELAY_URL_MAX];
	if (!r->relay_on)
		return false;
	relay_name(&r->relay.url, name);
	snprintf(text, MESHD_REACH_PATH_TEXT, "relay %s", name);
	return true;
}

void meshd__relay_kick(struct meshd_reach *r)
{
	uint64_t now = uv_now(r->loop), next = udp_try_tick(r, now), t;
	relay_check(r);
	t = r->relay_on && r->turn.state != NAT_TURN_FAILED ? nat_turn_timer(&r->turn, now)
							    : UINT64_MAX;
	arm_relay(r, t < next ? t : next);
}
