/* Check-mode holds in the store (store.h's hold_* ops, schema 7) on both backends, and, with
 * `postgres`, two servers on one database (replica.c, hold.c, web.c): a hold made through
 * server B (the fuzz harness's nodes: laptop -> server as root, a check rule) is approved on
 * server A's check page, and B, which never wrote it, answers its node "accept"; another is
 * rejected on A and B answers "reject"; the caps count the store's holds, not one server's. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "control/server/internal.h"
#include "control/server/store.h"
#include "eventually.h"
#include "pg_cluster.h"
#include "pg_pair.h"
#include "tests/fuzz/control/srv_harness.h"

static struct ctl__hold mkhold(const char *id, int64_t src, int64_t dst, int64_t now)
{
	struct ctl__hold h = { .src = src, .dst = dst, .check_period_s = 3600 };
	snprintf(h.id, sizeof(h.id), "%s", id);
	snprintf(h.local_user, sizeof(h.local_user), "root");
	h.created = h.last_asked = now;
	return h;
}

#define ID1 "00112233445566778899aabbccddeeff"
#define ID2 "ffeeddccbbaa99887766554433221100"
#define ID3 "0123456789abcdef0123456789abcdef"

static void ops_cases(const char *url)
{
	struct ctl_store *s;
	char err[512];
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), 0);
	if (!s)
		return;
	const struct ctl_store_ops *o = s->ops;
	struct ctl__hold h = mkhold(ID1, 1, 2, 1000), got;
	CHECK_INT(o->hold_get(s, ID1, &got), -ENOENT);
	CHECK_INT(o->hold_put(s, &h), 0);
	CHECK_INT(o->hold_put(s, &h), -EEXIST); /* an id is never given twice */
	memset(&got, 0x7f, sizeof(got));
	CHECK_INT(o->hold_get(s, ID1, &got), 0);
	CHECK_STR(got.id, ID1);
	CHECK_INT(got.src, 1);
	CHECK_INT(got.dst, 2);
	CHECK_STR(got.local_user, "root");
	CHECK_INT(got.check_period_s, 3600);
	CHECK_INT(got.created, 1000);
	CHECK_INT(got.last_asked, 1000);
	CHECK_INT(got.state, CTL__PENDING);
	CHECK_STR(got.reason, "");
	CHECK_STR(got.approver, "");
	CHECK_STR(got.reauth_session, "");
	/* re-authenticated for, still pending; then approved */
	snprintf(h.reauth_session, sizeof(h.reauth_session), "%064d", 7);
	h.reauth_user = 5;
	h.reauth_at = 1001;
	CHECK_INT(o->hold_update(s, &h), 0);
	h.state = CTL__APPROVED;
	snprintf(h.approver, sizeof(h.approver), "alice@example.com");
	h.auth_at = 1002;
	CHECK_INT(o->hold_update(s, &h), 0);
	/* a decision is final: a second one (another replica's) changes nothing */
	struct ctl__hold late = h;
	late.state = CTL__REJECTED;
	snprintf(late.reason, sizeof(late.reason), "too late");
	CHECK_INT(o->hold_update(s, &late), -ESTALE);
	CHECK_INT(o->hold_get(s, ID1, &got), 0);
	CHECK_INT(got.state, CTL__APPROVED);
	CHECK_STR(got.approver, "alice@example.com");
	CHECK_INT(got.auth_at, 1002);
	CHECK_STR(got.reason, "");
	CHECK_STR(got.reauth_session, h.reauth_session);
	CHECK_INT(got.reauth_user, 5);
	CHECK_INT(got.reauth_at, 1001);
	struct ctl__hold gone = mkhold(ID3, 1, 2, 1000);
	CHECK_INT(o->hold_update(s, &gone), -ENOENT);
	/* counts: pending ones from src and to dst; every one in all */
	struct ctl__hold h2 = mkhold(ID2, 1, 3, 1000);
	CHECK_INT(o->hold_put(s, &h2), 0);
	struct ctl_hold_count c;
	CHECK_INT(o->hold_count(s, 1, 2, &c), 0);
	CHECK_INT(c.from_src, 1); /* ID1 is decided */
	CHECK_INT(c.to_dst, 0);
	CHECK_INT(c.all, 2);
	CHECK_INT(o->hold_count(s, 9, 3, &c), 0);
	CHECK_INT(c.from_src, 0);
	CHECK_INT(c.to_dst, 1);
	/* touch keeps a pending hold from expiring as idle */
	CHECK_INT(o->hold_touch(s, ID2, 1100), 0);
	CHECK_INT(o->hold_expire(s, 0, 1050), 0);
	CHECK_INT(o->hold_get(s, ID2, &got), 0);
	CHECK_INT(got.last_asked, 1100);
	CHECK_INT(o->hold_get(s, ID1, &got), 0); /* decided: idleness does not matter */
	CHECK_INT(o->hold_expire(s, 0, 1101), 0);
	CHECK_INT(o->hold_get(s, ID2, &got), -ENOENT);
	CHECK_INT(o->hold_get(s, ID1, &got), 0);
	CHECK_INT(o->hold_expire(s, 1001, 0), 0); /* too old, whatever its state */
	CHECK_INT(o->hold_get(s, ID1, &got), -ENOENT);
	CHECK_INT(o->hold_put(s, &h2), 0);
	CHECK_INT(o->hold_delete(s, ID2), 0);
	CHECK_INT(o->hold_delete(s, ID2), 0);
	CHECK_INT(o->hold_get(s, ID2, &got), -ENOENT);
	CHECK_INT(o->hold_count(s, 1, 2, &c), 0);
	CHECK_INT(c.all, 0);
	s->ops->close(s);
}

/* ---- two servers on one database ---- */

static char last[64 * 1024];

static unsigned web(struct ctl_server *srv, const char *head, const char *body)
{
	return fz_web(srv, head, body, last, sizeof(last));
}

/* The server node (1) asks srv about a hold: {"hold_id": id} or a new one (id NULL). */
static void node_hold(struct ctl_server *srv, const char *id)
{
	char msg[256], src[16];
	struct fz_reply out = { 0 };
	pthread_mutex_lock(&srv->lock);
	uint32_t a = ctl__node_by_id(srv, 1)->rec.ipv4;
	pthread_mutex_unlock(&srv->lock);
	snprintf(src, sizeof(src), "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
		 a & 255);
	if (id)
		snprintf(msg, sizeof(msg), "{\"hold_id\": \"%s\"}", id);
	else
		snprintf(msg, sizeof(msg),
			 "{\"src\": \"%s\", \"user\": \"root\", \"check_period\": 0}", src);
	fz_node(srv, 1, "hold", msg, strlen(msg), &out);
	snprintf(last, sizeof(last), "%.*s", out.body ? (int)out.len : 0, out.body ? out.body : "");
	free(out.body);
}

/* The new hold's id from a "pending" answer in last. */
static void hold_id(char id[33])
{
	const char *p = strstr(last, "\"hold_id\": \"");
	if (!p)
		p = strstr(last, "\"hold_id\":\"");
	CHECK(p != NULL);
	id[0] = '\0';
	if (p)
		snprintf(id, 33, "%s", strchr(p + 10, '"') + 1);
}

#define APPROVE "csrf=" FZ_CSRF "&action=approve&password=password1"
#define REJECT "csrf=" FZ_CSRF "&action=reject"

static void two_servers(const char *url)
{
	char head[160], id[33], id2[33], from[300];
	/* the harness's tailnet (users, the laptop and the server, the policy, its key), moved
	 * into the store; two servers on it, driven through their handlers */
	struct ctl_server *t = fz_srv_open();
	uint8_t key[32];
	snprintf(from, sizeof(from), "%s", t->cfg.state_dir);
	memcpy(key, t->server_pub, sizeof(key));
	fz_srv_close(t);
	struct pg_pair p;
	struct pg_pair_opts o = { .from_state = from, .feed_only = true, .prepare = fz_srv_web };
	CHECK_INT(pg_pair_open(&p, url, &o), 0);
	struct ctl_server *a = p.a, *b = p.b;
	if (!a || !b)
		goto out;
	CHECK_MEM(a->server_pub, key, 32); /* the tailnet's key, stored by a */
	CHECK_MEM(b->server_pub, key, 32);

	/* 1 a hold made through b, found and approved on a's page; b answers "accept" */
	node_hold(b, NULL);
	CHECK(strstr(last, "\"pending\"") != NULL);
	hold_id(id);
	snprintf(head, sizeof(head), "GET /check/%s\nCookie: mesh_session=" FZ_SESSION "\n", id);
	CHECK_INT(web(a, head, NULL), 200);
	CHECK(strstr(last, "Your password, to approve this login") != NULL);
	snprintf(head, sizeof(head), "POST /check/%s\nCookie: mesh_session=" FZ_SESSION "\n", id);
	CHECK_INT(web(a, head, APPROVE), 200);
	CHECK(strstr(last, "is approved") != NULL);
	/* b's copy follows through the change feed alone (the approval's own notification
	 * wakes too, so this is what says the hold's was heard) */
	CHECK(
	    EVENTUALLY(b, ctl__hold_find(b, id) && ctl__hold_find(b, id)->state == CTL__APPROVED));
	node_hold(b, id);
	CHECK(strstr(last, "\"accept\"") != NULL);
	if (!strstr(last, "\"accept\""))
		fprintf(stderr, "b answered: %s\n", last);

	/* 2 another rejected on a: b answers "reject" with the page's reason */
	node_hold(b, NULL);
	hold_id(id2);
	snprintf(head, sizeof(head), "POST /check/%s\nCookie: mesh_session=" FZ_SESSION "\n", id2);
	CHECK_INT(web(a, head, REJECT), 200);
	CHECK(EVENTUALLY(b,
			 ctl__hold_find(b, id2) && ctl__hold_find(b, id2)->state == CTL__REJECTED));
	node_hold(b, id2);
	CHECK(strstr(last, "\"reject\"") != NULL);
	CHECK(strstr(last, "rejected on the check page") != NULL);

	/* 3 the caps are the store's: 16 pending from the laptop through a and b together */
	int pending = 0;
	for (int i = 0; i < 20; i++) {
		node_hold(i % 2 ? a : b, NULL);
		pending += strstr(last, "\"pending\"") != NULL;
	}
	CHECK_INT(pending, SRV_HOLDS_PER_SOURCE);
	CHECK(strstr(last, "too many check-mode logins from laptop") != NULL);
out:
	pg_pair_close(&p);
}

int main(int argc, char **argv)
{
	return pg_cluster_store_main(argc, argv, ops_cases, two_servers, check_finish);
}
