/* Live SSH sessions in the store (store.h's ssh_* ops, schema 13) on both backends: a list
 * replacing the last and dropping the kills of sessions it no longer lists (same id and
 * since), kills queued once per id up to the cap, listed by node and as made, deleted by id
 * and since, everything gone with its node.  With `postgres`, two servers on one database
 * (the fuzz harness's tailnet; sessions.c, replica.c, map.c): a list posted through B is
 * what A's admin API lists, and a kill made on A wakes the node's map poll held by B, rides
 * on its answer, and then leaves the store for both. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control/netmap/sessions.h"
#include "control/server/internal.h"
#include "control/server/store.h"
#include "eventually.h"
#include "pg_cluster.h"
#include "pg_pair.h"
#include "tests/fuzz/control/srv_harness.h"

#define LIST2                                                                         \
	"{\"sessions\":[{\"id\":\"s1\",\"since\":100},{\"id\":\"s2\",\"since\":200}," \
	"{\"id\":\"s3\",\"since\":300}]}"

static int64_t add_node(struct ctl_store *s, int64_t user, uint8_t seed)
{
	struct ctl_node_rec n = pg_cluster_node(seed, user);
	CHECK_INT(s->ops->node_register(s, &n, 0), 0);
	return n.id;
}

static struct ctl_session_kill kill_of(const char *id, int64_t since)
{
	struct ctl_session_kill k = { .since = since };
	snprintf(k.id, sizeof(k.id), "%s", id);
	return k;
}

/* What the store holds, as text: "NODE:LIST@MS ..." and "NODE:ID/SINCE ..." */
static char seen[2048];

static int on_list(void *ctx, int64_t node_id, const char *list, int64_t reported_ms)
{
	(void)ctx;
	snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%lld:%s@%lld",
		 seen[0] ? " " : "", (long long)node_id, list, (long long)reported_ms);
	return 0;
}

static int on_kill(void *ctx, int64_t node_id, const struct ctl_session_kill *k)
{
	(void)ctx;
	snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%lld:%s/%lld",
		 seen[0] ? " " : "", (long long)node_id, k->id, (long long)k->since);
	return 0;
}

static const char *lists(struct ctl_store *s, int64_t node_id)
{
	seen[0] = '\0';
	CHECK_INT(s->ops->ssh_sessions_list(s, node_id, on_list, NULL), 0);
	return seen;
}

static const char *kills(struct ctl_store *s, int64_t node_id)
{
	seen[0] = '\0';
	CHECK_INT(s->ops->ssh_kills_list(s, node_id, on_kill, NULL), 0);
	return seen;
}

static void ops_cases(const char *url)
{
	struct ctl_store *s;
	char err[512], want[512];
	int64_t uid;
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), 0);
	if (!s)
		return;
	const struct ctl_store_ops *o = s->ops;
	CHECK_INT(o->user_add(s, "alice@example.com", "x", &uid), 0);
	int64_t a = add_node(s, uid, 1), b = add_node(s, uid, 2);
	struct ctl_session_kill k1 = kill_of("s1", 100), k2 = kill_of("s2", 200),
				k3 = kill_of("s3", 300);
	/* 1 no node, no list */
	CHECK_INT(o->ssh_sessions_put(s, 999, LIST2, 5), -ENOENT);
	CHECK_INT(o->ssh_kill_put(s, a, &k1, 10, 64), -ENOENT); /* nothing listed yet */
	CHECK_STR(lists(s, 0), "");
	/* 2 a list, then another in its place */
	CHECK_INT(o->ssh_sessions_put(s, a, "{\"sessions\":[]}", 5), 0);
	CHECK_INT(o->ssh_sessions_put(s, a, LIST2, 6), 0);
	snprintf(want, sizeof(want), "%lld:%s@6", (long long)a, LIST2);
	CHECK_STR(lists(s, a), want);
	/* 3 kills: once per id, in the order made, up to the cap */
	CHECK_INT(o->ssh_kill_put(s, a, &k2, 10, 2), 0);
	CHECK_INT(o->ssh_kill_put(s, a, &k1, 11, 2), 0);
	CHECK_INT(o->ssh_kill_put(s, a, &k1, 12, 2), 0); /* waiting already: not counted again */
	CHECK_INT(o->ssh_kill_put(s, a, &k3, 13, 2), -ENOSPC);
	snprintf(want, sizeof(want), "%lld:s2/200 %lld:s1/100", (long long)a, (long long)a);
	CHECK_STR(kills(s, a), want);
	/* 4 a list without s2, and s1 started anew (meshd restarted): both kills dropped, not
	 * a kill of s3 queued after it */
	CHECK_INT(
	    o->ssh_sessions_put(
		s, a,
		"{\"sessions\":[{\"id\":\"s1\",\"since\":999},{\"id\":\"s3\",\"since\":300}]}", 7),
	    0);
	CHECK_STR(kills(s, a), "");
	CHECK_INT(o->ssh_kill_put(s, a, &k3, 14, 64), 0);
	CHECK_INT(o->ssh_sessions_put(s, a, LIST2, 8), 0); /* s3 still listed: kept */
	snprintf(want, sizeof(want), "%lld:s3/300", (long long)a);
	CHECK_STR(kills(s, a), want);
	/* 5 deleted by id and since (a kill of s3 made for another start stays) */
	struct ctl_session_kill other = kill_of("s3", 301);
	CHECK_INT(o->ssh_kills_delete(s, a, &other, 1), 0);
	CHECK_STR(kills(s, a), want);
	CHECK_INT(o->ssh_kills_delete(s, a, &k3, 1), 0);
	CHECK_INT(o->ssh_kills_delete(s, a, &k3, 1), 0);
	CHECK_STR(kills(s, a), "");
	/* 6 two nodes: by node id; a node removed takes its rows */
	CHECK_INT(o->ssh_kill_put(s, a, &k1, 20, 64), 0);
	CHECK_INT(o->ssh_sessions_put(s, b, LIST2, 9), 0);
	CHECK_INT(o->ssh_kill_put(s, b, &k2, 15, 64), 0);
	snprintf(want, sizeof(want), "%lld:s1/100 %lld:s2/200", (long long)a, (long long)b);
	CHECK_STR(kills(s, 0), want);
	snprintf(want, sizeof(want), "%lld:%s@8 %lld:%s@9", (long long)a, LIST2, (long long)b,
		 LIST2);
	CHECK_STR(lists(s, 0), want);
	CHECK_INT(o->node_remove(s, a), 0);
	snprintf(want, sizeof(want), "%lld:%s@9", (long long)b, LIST2);
	CHECK_STR(lists(s, 0), want);
	snprintf(want, sizeof(want), "%lld:s2/200", (long long)b);
	CHECK_STR(kills(s, 0), want);
	s->ops->close(s);
}

/* ---- two servers on one database ---- */

#define ADMIN "Authorization: Bearer " FZ_ADMIN_TOKEN "\n"
#define ONE(id, since)                                                                     \
	"{\"id\":\"" id "\",\"since\":" since ",\"conn\":42,\"pty\":true,\"src_node\":"    \
	"\"server\",\"src_addr\":\"100.64.0.2\",\"who\":\"bob@example.com\",\"ssh_user\":" \
	"\"root\",\"local_user\":\"root\",\"command\":\"\",\"recorder\":\"\"}"

static char last[64 * 1024];

/* node (0: laptop, node 1) sends msg to path on srv: the status, its answer in last */
static unsigned node_says(struct ctl_server *srv, int node, const char *path, const char *msg)
{
	struct fz_reply out = { 0 };
	fz_node(srv, node, path, msg, strlen(msg), &out);
	snprintf(last, sizeof(last), "%s", out.body ? out.body : "");
	free(out.body);
	return out.status;
}

static long long version_of(const char *map)
{
	const char *v = strstr(map, "\"version\":");
	return v ? strtoll(v + 10, NULL, 10) : 0;
}

static int64_t kills_of(struct ctl_server *srv, int64_t id)
{
	struct ctl__node *n = ctl__node_by_id(srv, id);
	return n ? (int64_t)n->n_kills : -1;
}

static void two_servers(const char *url)
{
	char from[300], msg[128];
	struct ctl_server *t = fz_srv_open();
	snprintf(from, sizeof(from), "%s", t->cfg.state_dir);
	fz_srv_close(t);
	struct pg_pair p;
	struct pg_pair_opts o = { .from_state = from, .prepare = fz_srv_web };
	CHECK_INT(pg_pair_open(&p, url, &o), 0);
	struct ctl_server *a = p.a, *b = p.b;
	if (!a || !b)
		goto out;
	CHECK(EVENTUALLY(a, !a->dirty));
	CHECK(EVENTUALLY(b, !b->dirty));

	/* 1 the laptop streams from b and posts its list there; a lists it */
	CHECK_INT(node_says(b, 0, "map", "{\"since\":0}"), 200);
	long long v = version_of(last);
	CHECK_INT(
	    node_says(b, 0, "sessions",
		      "{\"sessions\":[" ONE("s1", "1765000000") "," ONE("s2", "1765000100") "]}"),
	    200);
	CHECK_STR(last, "{\"stored\":2}");
	CHECK_INT(fz_web(a, "GET /api/v1/sessions\n" ADMIN, NULL, last, sizeof(last)), 200);
	CHECK(strstr(last, "\"id\":\"s1\",\"since\":1765000000,\"conn\":42") &&
	      strstr(last, "\"id\":\"s2\",\"since\":1765000100") &&
	      strstr(last, "\"node\":\"laptop\",\"node_id\":1,"));
	CHECK_INT(fz_web(a, "GET /api/v1/sessions?node=server\n" ADMIN, NULL, last, sizeof(last)),
		  200);
	CHECK_STR(last, "{\"sessions\":[]}");

	/* 2 a kill made on a (the laptop is online there by the last_seen b stored) wakes the
	 * laptop's map poll held by b, which carries it */
	CHECK(EVENTUALLY(a, ctl__node_by_id(a, 1)->online));
	struct fz_reply held = { 0 };
	struct fz_held *h = NULL;
	for (int i = 0; i < 5 && !held.suspended; i++) { /* until nothing else is new */
		if (h) {
			fz_node_finish(h, fz_machine_priv[0]);
			v = held.body ? version_of(held.body) : v;
			free(held.body);
		}
		snprintf(msg, sizeof(msg), "{\"since\":%lld,\"wait\":true}", v);
		h = fz_node_start(b, fz_machine_pub[0], "map", msg, strlen(msg), &held);
	}
	CHECK(held.suspended);
	CHECK_INT(fz_web(a, "POST /api/v1/sessions/kill\n" ADMIN,
			 "{\"node\":\"laptop\",\"id\":\"s2\"}", last, sizeof(last)),
		  202);
	CHECK(EVENTUALLY(b, kills_of(b, 1) == 1));
	CHECK(EVENTUALLY(b, !held.suspended)); /* woken at once, not at its 25 s keep-alive */
	/* the handler runs again in fz_node_finish, once: with a rebuild pending (what the
	 * kill's notice made b reload) it would hold the poll again, and the harness, unlike
	 * libmicrohttpd, does not run it a second time (1 run in 5 failed so) */
	CHECK(EVENTUALLY(b, !b->dirty && !b->vis_stale));
	fz_node_finish(h, fz_machine_priv[0]);
	CHECK(held.body && strstr(held.body, "\"type\":\"delta\"") &&
	      strstr(held.body, ",\"kill_sessions\":[{\"id\":\"s2\",\"since\":1765000100}]}"));
	if (held.body && !strstr(held.body, "kill_sessions"))
		fprintf(stderr, "b answered: %s\n", held.body);
	v = held.body ? version_of(held.body) : v;
	free(held.body);

	/* 3 sent: gone from the store, so from a's copy too; the next message has none */
	CHECK(EVENTUALLY(a, kills_of(a, 1) == 0));
	CHECK_INT(kills_of(b, 1), 0);
	pthread_mutex_lock(&a->lock);
	seen[0] = '\0';
	CHECK_INT(a->store->ops->ssh_kills_list(a->store, 0, on_kill, NULL), 0);
	pthread_mutex_unlock(&a->lock);
	CHECK_STR(seen, "");
	snprintf(msg, sizeof(msg), "{\"since\":%lld}", v);
	CHECK_INT(node_says(b, 0, "map", msg), 200);
	CHECK(!strstr(last, "kill_sessions"));
out:
	pg_pair_close(&p);
}

int main(int argc, char **argv)
{
	return pg_cluster_store_main(argc, argv, ops_cases, two_servers, check_finish);
}
