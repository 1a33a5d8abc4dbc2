/* control/server/http.c: held requests on a list per kind of wait (#21: a wake walks its own
 * kind only).  Through the fuzz harness's server: two held map polls and a held check-mode
 * hold; waking a kind nobody waits for, or a hold of another id, resumes nothing; the hold's
 * own id resumes the hold and leaves the maps held; a map wake resumes both polls, which
 * then answer; the counts per kind follow; the selective wake of map polls resumes only
 * the polls with something to send.  And the tick's batched rebuild: a poll held
 * because a registration is not in the maps yet stays held while the rebuild rests
 * (rebuild_after_ms), and is answered by the rebuild once it is due; a DNS change published
 * meanwhile (ctl__map_published without a rebuild) leaves the batch due (review-70 #3b: it
 * cleared it, and the registrations waited without peers for the next topology change).
 * While a rebuild is pending (review-70 #3a): a node inserted before others (another
 * replica's, with a lower id) shifts srv->nodes under every vis index, and no held poll is
 * woken from them, one whose deadline comes gets a keep-alive, never a delta made from them,
 * and the rebuild wakes it with the new node; a poll without "wait" held for the rebuild is
 * answered by the rebuild, not by its keep-alive deadline (review-70 #4).  A removal whose
 * rebuild fails leaves vis naming the node freed (or past the array's end): the held poll's
 * deadline answers a keep-alive (a delta read the freed node), and the next rebuild that
 * works sends the removal. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/now.h"
#include "tests/fuzz/control/srv_harness.h"

static long long version_of(const char *body)
{
	const char *p = body ? strstr(body, "\"version\":") : NULL;
	return p ? atoll(p + 10) : 0;
}

/* A map poll of node i held on srv (polled until nothing new is left to send). */
static struct fz_held *held_map(struct ctl_server *srv, int i, struct fz_reply *out)
{
	long long v = 0;
	struct fz_held *h = NULL;
	char msg[96];
	memset(out, 0, sizeof(*out));
	for (int k = 0; k < 5 && !out->suspended; k++) {
		if (h) {
			fz_node_finish(h, fz_machine_priv[i]);
			v = out->body ? version_of(out->body) : v;
			free(out->body);
		}
		snprintf(msg, sizeof(msg), "{\"since\":%lld,\"wait\":true}", v);
		h = fz_node_start(srv, fz_machine_pub[i], "map", msg, strlen(msg), out);
	}
	return h;
}

static size_t held(struct ctl_server *srv, enum ctl__wait kind)
{
	pthread_mutex_lock(&srv->lock);
	size_t n = srv->n_waiting[kind];
	pthread_mutex_unlock(&srv->lock);
	return n;
}

static void wake(struct ctl_server *srv, enum ctl__wait kind, const char *token)
{
	pthread_mutex_lock(&srv->lock);
	ctl__wake(srv, kind, token);
	pthread_mutex_unlock(&srv->lock);
}

static void rebuild_rest(void)
{
	struct ctl_server *srv = fz_srv_open();
	struct fz_reply out;
	const char msg[] = "{\"since\":0,\"wait\":true}";
	pthread_mutex_lock(&srv->lock);
	ctl__timer_tick(srv); /* what the harness's start left to do (online states) */
	srv->dirty = true;    /* as after a registration */
	srv->rebuild_after_ms = now_mono_ms() + 60000;
	pthread_mutex_unlock(&srv->lock);
	struct fz_held *h = fz_node_start(srv, fz_machine_pub[0], "map", msg, strlen(msg), &out);
	CHECK(out.suspended);
	/* 1 resting: no rebuild, the poll stays held (its own coming online woke nobody) */
	pthread_mutex_lock(&srv->lock);
	srv->wake_maps = false;
	ctl__timer_tick(srv);
	CHECK(srv->dirty);
	pthread_mutex_unlock(&srv->lock);
	CHECK(out.suspended);
	/* 2 due: rebuilt, the poll woken, the next rest set from the rebuild's end */
	pthread_mutex_lock(&srv->lock);
	srv->rebuild_after_ms = 0;
	uint64_t before = now_mono_ms();
	ctl__timer_tick(srv);
	CHECK(!srv->dirty);
	CHECK(srv->rebuild_after_ms >= before);
	pthread_mutex_unlock(&srv->lock);
	CHECK(!out.suspended);
	fz_node_finish(h, fz_machine_priv[0]);
	CHECK_INT(out.status, 200);
	CHECK(out.body && strstr(out.body, "\"type\":\"full\""));
	free(out.body);
	fz_srv_close(srv);
}

/* The keep-alive deadlines of the held map polls come, as the timer thread finds them. */
static void expire_maps(struct ctl_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	struct ctl__req *head = &srv->waiting[SRV_WAIT_MAP];
	for (struct ctl__req *r = head->next; r != head; r = r->next)
		r->deadline_ms = 0;
	ctl__wake(srv, SRV_WAIT_MAP, NULL);
	pthread_mutex_unlock(&srv->lock);
}

/* A server as another replica registered it, with this id, its own keys, addresses and name
 * (the rest node 2's, the harness's tagged server), put in memory as the change feed does
 * (replica.c's node_merge).  Under srv->lock. */
static void insert_server(struct ctl_server *srv, int64_t id)
{
	struct ctl_node_rec rec;
	memset(&rec, 0, sizeof(rec));
	CHECK_INT(ctl_node_rec_copy(&rec, &ctl__node_by_id(srv, 2)->rec), 0);
	rec.id = id;
	memset(rec.machine_key, 0x60 + (int)id, 32);
	memset(rec.node_key, 0x70 + (int)id, 32);
	rec.has_disco_key = false;
	rec.ipv4 += 16 * (uint32_t)id;
	rec.ipv6[15] = (uint8_t)(rec.ipv6[15] + 16 * id);
	snprintf(rec.hostname, sizeof(rec.hostname), "server%lld", (long long)id);
	CHECK_INT(ctl__node_insert(srv, &rec), 0);
	ctl_node_rec_clear(&rec);
}

/* The tick once the batch's rest is over: the maps rebuilt. */
static void rebuild_due(struct ctl_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->wake_maps = false;
	srv->rebuild_after_ms = 0;
	ctl__timer_tick(srv);
	CHECK(!srv->dirty);
	pthread_mutex_unlock(&srv->lock);
}

/* The held poll h was woken and answers 200 with a message of this type. */
static void answered(struct fz_held *h, struct fz_reply *out, const char *type)
{
	char want[32];
	snprintf(want, sizeof(want), "\"type\":\"%s\"", type);
	CHECK(!out->suspended);
	fz_node_finish(h, fz_machine_priv[0]);
	CHECK_INT(out->status, 200);
	CHECK(out->body && strstr(out->body, want));
	if (out->body && !strstr(out->body, want))
		fprintf(stderr, "want a %s, answered %s\n", type, out->body);
}

/* The laptop polls since version v: held whatever the vis says, until the rebuild (due now)
 * wakes it with a delta (in out->body). */
static void delta_after_rebuild(struct ctl_server *srv, long long v, struct fz_reply *out)
{
	char msg[96];
	snprintf(msg, sizeof(msg), "{\"since\":%lld,\"wait\":true}", v);
	struct fz_held *h = fz_node_start(srv, fz_machine_pub[0], "map", msg, strlen(msg), out);
	CHECK(out->suspended);
	rebuild_due(srv);
	answered(h, out, "delta");
}

static void stale_vis(void)
{
	struct ctl_server *srv = fz_srv_open();
	struct fz_reply m0;
	pthread_mutex_lock(&srv->lock);
	ctl__timer_tick(srv);
	insert_server(srv, 5); /* after the others: no index moves */
	srv->dirty = true;
	pthread_mutex_unlock(&srv->lock);
	rebuild_due(srv);
	/* the laptop (node 1) sees the server (2) and server5, and waits with nothing to get */
	struct fz_held *h0 = held_map(srv, 0, &m0);
	CHECK(m0.suspended);

	/* 1 server4 lands before server5: the laptop's vis[1] names server4 now */
	pthread_mutex_lock(&srv->lock);
	insert_server(srv, 4);
	CHECK(srv->dirty);     /* said by the insert itself */
	srv->dirty = true;     /* as replica.c's reload says it after its batch */
	srv->wake_maps = true; /* a peer's change meanwhile */
	srv->rebuild_after_ms = now_mono_ms() + 60000;
	ctl__timer_tick(srv);	 /* resting: its wake after a change */
	ctl__map_published(srv); /* a DNS change through another replica */
	CHECK(srv->dirty);
	pthread_mutex_unlock(&srv->lock);
	CHECK(m0.suspended);

	/* 2 its deadline: a keep-alive, not a delta removing server5 from the shifted vis */
	expire_maps(srv);
	answered(h0, &m0, "keepalive");
	CHECK(m0.body && !strstr(m0.body, "peers_removed") && !strstr(m0.body, "peers_changed"));
	long long v = version_of(m0.body); /* what it has: a keep-alive names it */
	free(m0.body);

	/* 3 polled again: held (whatever the vis says), then the rebuild wakes it with
	 * server4, and server5 stays */
	delta_after_rebuild(srv, v, &m0);
	CHECK(m0.body && strstr(m0.body, "server4"));
	CHECK(m0.body && !strstr(m0.body, "peers_removed") && !strstr(m0.body, "server5"));
	free(m0.body);
	fz_srv_close(srv);
}

/* review-70 #4: a poll without "wait" held only because a rebuild was pending */
static void no_wait_answered(void)
{
	struct ctl_server *srv = fz_srv_open();
	struct fz_reply out;
	char msg[64];
	pthread_mutex_lock(&srv->lock);
	ctl__timer_tick(srv);
	pthread_mutex_unlock(&srv->lock);
	const char first[] = "{\"since\":0}";
	fz_node(srv, 0, "map", first, strlen(first), &out);
	long long v = version_of(out.body);
	CHECK(out.body && strstr(out.body, "\"type\":\"full\""));
	free(out.body);
	pthread_mutex_lock(&srv->lock);
	ctl__timer_tick(srv); /* its coming online, for its peers */
	srv->dirty = true;    /* a registration, resting */
	srv->rebuild_after_ms = now_mono_ms() + 60000;
	pthread_mutex_unlock(&srv->lock);
	snprintf(msg, sizeof(msg), "{\"since\":%lld}", v);
	struct fz_held *h = fz_node_start(srv, fz_machine_pub[0], "map", msg, strlen(msg), &out);
	CHECK(out.suspended);
	rebuild_due(srv); /* nothing new for node 1, but it did not ask to wait */
	answered(h, &out, "keepalive");
	free(out.body);
	fz_srv_close(srv);
}

static void failed_rebuild(void)
{
	struct ctl_server *srv = fz_srv_open();
	struct fz_reply m0;
	struct fz_held *h0 = held_map(srv, 0, &m0); /* the laptop, seeing the server */
	CHECK(m0.suspended);
	pthread_mutex_lock(&srv->lock);
	char *policy = srv->policy_text;
	srv->policy_text = strdup("{"); /* every rebuild fails */
	CHECK(ctl__node_remove(srv, 2) != 0);
	srv->wake_maps = true;
	ctl__timer_tick(srv);
	pthread_mutex_unlock(&srv->lock);
	CHECK(m0.suspended);
	expire_maps(srv);
	answered(h0, &m0, "keepalive");
	long long v = version_of(m0.body);
	free(m0.body);
	/* the policy back, a rebuild that works: the server's removal goes out */
	pthread_mutex_lock(&srv->lock);
	free(srv->policy_text);
	srv->policy_text = policy;
	srv->dirty = true;
	pthread_mutex_unlock(&srv->lock);
	delta_after_rebuild(srv, v, &m0);
	CHECK(m0.body && strstr(m0.body, "\"peers_removed\":[2]"));
	free(m0.body);
	fz_srv_close(srv);
}

static void publish_keeps_batch(void)
{
	struct ctl_server *srv = fz_srv_open();
	pthread_mutex_lock(&srv->lock);
	ctl__timer_tick(srv);
	srv->dirty = true; /* as after a registration, resting */
	srv->rebuild_after_ms = now_mono_ms() + 60000;
	ctl__map_published(srv); /* what a DNS change through any replica does */
	CHECK(srv->dirty);
	srv->rebuild_after_ms = 0;
	ctl__timer_tick(srv);
	CHECK(!srv->dirty);
	pthread_mutex_unlock(&srv->lock);
	fz_srv_close(srv);
}

int main(void)
{
	rebuild_rest();
	publish_keeps_batch();
	stale_vis();
	no_wait_answered();
	failed_rebuild();
	struct ctl_server *srv = fz_srv_open();
	struct fz_reply m0, m1, hr;
	struct fz_held *h0 = held_map(srv, 0, &m0), *h1 = held_map(srv, 1, &m1);
	const char hold_msg[] = "{\"hold_id\":\"" FZ_HOLD_ID "\",\"wait\":true}";
	struct fz_held *hh =
	    fz_node_start(srv, fz_machine_pub[1], "hold", hold_msg, strlen(hold_msg), &hr);
	CHECK(m0.suspended && m1.suspended && hr.suspended);
	CHECK_INT(held(srv, SRV_WAIT_MAP), 2);
	CHECK_INT(held(srv, SRV_WAIT_HOLD), 1);
	CHECK_INT(held(srv, SRV_WAIT_AUDIT), 0);

	/* 1 kinds nobody waits for, and a hold of another id: nothing resumed */
	wake(srv, SRV_WAIT_AUDIT, NULL);
	wake(srv, SRV_WAIT_REGISTER, NULL);
	wake(srv, SRV_WAIT_SSO, NULL);
	wake(srv, SRV_WAIT_HOLD, "00000000000000000000000000000000");
	CHECK(m0.suspended && m1.suspended && hr.suspended);
	CHECK_INT(held(srv, SRV_WAIT_MAP), 2);
	CHECK_INT(held(srv, SRV_WAIT_HOLD), 1);

	/* 2 the hold's id: the hold resumes, the map polls stay */
	wake(srv, SRV_WAIT_HOLD, FZ_HOLD_ID);
	CHECK(!hr.suspended);
	CHECK(m0.suspended && m1.suspended);
	CHECK_INT(held(srv, SRV_WAIT_HOLD), 0);
	CHECK_INT(held(srv, SRV_WAIT_MAP), 2);

	/* 3 the selective wake: node 0's poll is due (node 1 came online after it was held,
	 * a change of its peer), node 1's is not */
	pthread_mutex_lock(&srv->lock);
	ctl__wake_maps(srv);
	pthread_mutex_unlock(&srv->lock);
	CHECK(!m0.suspended && m1.suspended);
	/* the woken one held again as the handler would hold it: by hand, a change for node
	 * 1 only (its filter), and only node 1 is woken */
	fz_node_finish(h0, fz_machine_priv[0]);
	free(m0.body);
	h0 = held_map(srv, 0, &m0);
	CHECK(m0.suspended);
	pthread_mutex_lock(&srv->lock);
	ctl__wake_maps(srv);
	CHECK(m0.suspended && m1.suspended); /* nothing changed for either */
	struct ctl__node *n1 = ctl__node_by_id(srv, 2);
	ctl__node_set_texts(n1, strdup("[]"), strdup(n1->ssh_json));
	ctl__wake_maps(srv);
	pthread_mutex_unlock(&srv->lock);
	CHECK(m0.suspended && !m1.suspended);

	/* 4 a map wake: both polls resume and answer */
	wake(srv, SRV_WAIT_MAP, NULL);
	CHECK(!m0.suspended && !m1.suspended);
	CHECK_INT(held(srv, SRV_WAIT_MAP), 0);
	/* the handlers run again, as libmicrohttpd runs them after a resume: answered, not
	 * held anew (as while stopping) */
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_mutex_unlock(&srv->lock);
	fz_node_finish(h0, fz_machine_priv[0]);
	fz_node_finish(h1, fz_machine_priv[1]);
	CHECK_INT(m0.status, 200);
	CHECK_INT(m1.status, 200);
	/* node 0's poll has nothing new (a keep-alive), node 1's its new filter */
	CHECK(m0.body && strstr(m0.body, "\"type\":\"keepalive\""));
	CHECK(m1.body && strstr(m1.body, "\"type\":\"delta\"") && strstr(m1.body, "\"filter\":[]"));
	if (m1.body && !strstr(m1.body, "\"filter\":[]"))
		fprintf(stderr, "node 1 was answered: %s\n", m1.body);
	fz_node_finish(hh, fz_machine_priv[1]);
	CHECK_INT(hr.status, 200); /* asked again: still pending, answered with its URL */
	CHECK(hr.body && strstr(hr.body, "\"decision\":\"pending\""));
	pthread_mutex_lock(&srv->lock);
	srv->stopping = false;
	pthread_mutex_unlock(&srv->lock);
	free(m0.body);
	free(m1.body);
	free(hr.body);
	fz_srv_close(srv);
	return check_finish();
}
