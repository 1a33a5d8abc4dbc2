/* Pending interactive logins in the store (store.h's login_* ops, schema 7) on both backends,
 * and the path through the server: a node's login started, its poll held, approved on the
 * web page, and the held poll answered "registered" — on one SQLite server, and, with
 * `postgres`, across two servers on one database (replica.c, register.c, web.c): started and
 * held through server B, approved on A's page, B's held poll woken by the change feed; one
 * rejected on A, B's poll answers why; the caps count the store's logins, not one
 * server's; the store holds the token's hash, never the token.  And an SSO sign-in started
 * on A finished by a callback on B (sso_pending.c), once; the SSO start rate counted in the
 * store, one replica's limit through both. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "common/key.h"
#include "control/server/internal.h"
#include "control/server/sso.h"
#include "control/server/store.h"
#include "eventually.h"
#include "pg_cluster.h"
#include "pg_pair.h"
#include "tests/fuzz/control/srv_harness.h"

#define ID1 "1111111111111111111111111111111111111111111111111111111111111111"
#define ID2 "2222222222222222222222222222222222222222222222222222222222222222"
#define ID3 "3333333333333333333333333333333333333333333333333333333333333333"

static struct ctl__login_req mklogin(const char *id, uint8_t machine, const char *source,
				     int64_t created)
{
	struct ctl__login_req lr = { .created = created };
	snprintf(lr.id, sizeof(lr.id), "%s", id);
	memset(lr.machine_key, machine, 32);
	memset(lr.node_key, machine + 1, 32);
	snprintf(lr.hostname, sizeof(lr.hostname), "box%u", machine);
	snprintf(lr.source, sizeof(lr.source), "%s", source);
	return lr;
}

static void ops_cases(const char *url)
{
	struct ctl_store *s;
	char err[512];
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), 0);
	if (!s)
		return;
	const struct ctl_store_ops *o = s->ops;
	char *tags[] = { "tag:a", "tag:b" };
	uint8_t other[32];
	memset(other, 0x99, 32);
	struct ctl__login_req l1 = mklogin(ID1, 1, "192.0.2.1", 1000), got;
	l1.tags = tags;
	l1.n_tags = 2;
	l1.has_tags = true;
	memset(l1.disco_key, 0xd1, 32);
	l1.has_disco_key = true;
	CHECK_INT(o->login_get(s, ID1, &got), -ENOENT);
	CHECK_INT(o->login_put(s, &l1), 0);
	memset(&got, 0x7f, sizeof(got));
	CHECK_INT(o->login_get(s, ID1, &got), 0);
	CHECK_STR(got.id, ID1);
	CHECK_MEM(got.machine_key, l1.machine_key, 32);
	CHECK_MEM(got.node_key, l1.node_key, 32);
	CHECK_STR(got.hostname, "box1");
	CHECK(got.has_tags);
	CHECK_INT(got.n_tags, 2);
	CHECK(got.n_tags == 2 && strcmp(got.tags[0], "tag:a") == 0 &&
	      strcmp(got.tags[1], "tag:b") == 0);
	CHECK(got.has_disco_key);
	CHECK_MEM(got.disco_key, l1.disco_key, 32);
	CHECK_STR(got.source, "192.0.2.1");
	CHECK_INT(got.created, 1000);
	CHECK_INT(got.state, CTL__PENDING);
	CHECK_STR(got.reason, "");
	ctl__login_clear(&got);
	/* no tags named (a known node keeps its own) and no discovery key: both stay absent */
	struct ctl__login_req l2 = mklogin(ID2, 2, "192.0.2.1", 1000);
	CHECK_INT(o->login_put(s, &l2), 0);
	CHECK_INT(o->login_get(s, ID2, &got), 0);
	CHECK(!got.has_tags && got.n_tags == 0 && got.tags == NULL);
	CHECK(!got.has_disco_key);
	ctl__login_clear(&got);
	/* an id is never given twice */
	struct ctl__login_req dup = mklogin(ID1, 7, "192.0.2.7", 1000);
	CHECK_INT(o->login_put(s, &dup), -EEXIST);
	/* counts: from a source, in all; a machine's own pending one is not counted */
	struct ctl_login_count c;
	CHECK_INT(o->login_count(s, "192.0.2.1", other, &c), 0);
	CHECK_INT(c.from_src, 2);
	CHECK_INT(c.all, 2);
	CHECK_INT(o->login_count(s, "192.0.2.1", l1.machine_key, &c), 0);
	CHECK_INT(c.from_src, 1);
	CHECK_INT(o->login_count(s, "198.51.100.1", other, &c), 0);
	CHECK_INT(c.from_src, 0);
	CHECK_INT(c.all, 2);
	/* the machine asking again: its pending login is replaced */
	struct ctl__login_req l3 = mklogin(ID3, 1, "192.0.2.1", 1001);
	CHECK_INT(o->login_put(s, &l3), 0);
	CHECK_INT(o->login_get(s, ID1, &got), -ENOENT);
	CHECK_INT(o->login_get(s, ID3, &got), 0);
	ctl__login_clear(&got);
	/* decided once: a second decision (another replica's) changes nothing */
	l3.state = CTL__APPROVED;
	l3.user_id = 5;
	l3.node_id = 7;
	CHECK_INT(o->login_decide(s, &l3), 0);
	struct ctl__login_req late = l3;
	late.state = CTL__REJECTED;
	snprintf(late.reason, sizeof(late.reason), "too late");
	CHECK_INT(o->login_decide(s, &late), -ESTALE);
	CHECK_INT(o->login_get(s, ID3, &got), 0);
	CHECK_INT(got.state, CTL__APPROVED);
	CHECK_INT(got.user_id, 5);
	CHECK_INT(got.node_id, 7);
	CHECK_STR(got.reason, "");
	ctl__login_clear(&got);
	struct ctl__login_req gone = mklogin(ID1, 1, "192.0.2.1", 1000);
	CHECK_INT(o->login_decide(s, &gone), -ENOENT);
	/* a decided login is not replaced: the machine's node waits for its answer */
	CHECK_INT(o->login_put(s, &l1), 0);
	CHECK_INT(o->login_get(s, ID3, &got), 0);
	ctl__login_clear(&got);
	CHECK_INT(o->login_count(s, "192.0.2.1", l1.machine_key, &c), 0);
	CHECK_INT(c.from_src, 2); /* l2 pending, l3 decided; not l1, the machine's own */
	/* too many tags are refused before anything is written */
	char *many[CTL_TAGS_COUNT_MAX + 1];
	for (size_t i = 0; i <= CTL_TAGS_COUNT_MAX; i++)
		many[i] = "tag:x";
	struct ctl__login_req big = mklogin(ID2, 9, "192.0.2.9", 1000);
	big.tags = many;
	big.n_tags = CTL_TAGS_COUNT_MAX + 1;
	big.has_tags = true;
	CHECK_INT(o->login_put(s, &big), -E2BIG);
	/* expiry by age, whatever the state; delete */
	CHECK_INT(o->login_expire(s, 1001), 0);
	CHECK_INT(o->login_get(s, ID2, &got), -ENOENT);
	CHECK_INT(o->login_get(s, ID1, &got), -ENOENT);
	CHECK_INT(o->login_get(s, ID3, &got), 0);
	ctl__login_clear(&got);
	CHECK_INT(o->login_delete(s, ID3), 0);
	CHECK_INT(o->login_delete(s, ID3), 0);
	CHECK_INT(o->login_get(s, ID3, &got), -ENOENT);
	CHECK_INT(o->login_count(s, "192.0.2.1", other, &c), 0);
	CHECK_INT(c.all, 0);
	s->ops->close(s);
}

/* ---- a node logging in through the server(s) ---- */

static char last[64 * 1024];

static unsigned web(struct ctl_server *srv, const char *head, const char *body)
{
	return fz_web(srv, head, body, last, sizeof(last));
}

struct machine {
	uint8_t pub[32], priv[32], node_key[32];
	char token[33];
};

static void machine_new(struct machine *m)
{
	crypto_box_keypair(m->pub, m->priv);
	randombytes_buf(m->node_key, 32);
}

/* A registration from m (its followup when token is set, held with wait); the answer in
 * last.  Held: the request to finish, else NULL. */
static struct fz_held *node_register(struct ctl_server *srv, struct machine *m, bool wait,
				     struct fz_reply *out)
{
	char msg[512], nk[KEY_BASE64_SIZE];
	key_to_base64(nk, m->node_key);
	snprintf(msg, sizeof(msg), "{\"node_key\": \"%s\", \"hostname\": \"newbox\"%s%s%s%s}", nk,
		 m->token[0] ? ", \"followup\": \"" : "", m->token, m->token[0] ? "\"" : "",
		 wait ? ", \"wait\": true" : "");
	struct fz_held *h = fz_node_start(srv, m->pub, "register", msg, strlen(msg), out);
	CHECK(h != NULL);
	if (h && wait && out->suspended)
		return h;
	if (h)
		fz_node_finish(h, m->priv);
	snprintf(last, sizeof(last), "%.*s", out->body ? (int)out->len : 0,
		 out->body ? out->body : "");
	free(out->body);
	out->body = NULL;
	return NULL;
}

static void finish(struct fz_held *h, struct machine *m, struct fz_reply *out)
{
	fz_node_finish(h, m->priv);
	snprintf(last, sizeof(last), "%.*s", out->body ? (int)out->len : 0,
		 out->body ? out->body : "");
	free(out->body);
	out->body = NULL;
}

/* m asks srv for a login: its token from the answer's followup. */
static bool login_start(struct ctl_server *srv, struct machine *m)
{
	struct fz_reply out;
	m->token[0] = '\0';
	node_register(srv, m, false, &out);
	const char *p = strstr(last, "\"followup\":");
	if (out.status != 200 || !p || !(p = strchr(p + 11, '"')))
		return false;
	snprintf(m->token, sizeof(m->token), "%.32s", p + 1);
	return strlen(m->token) == 32;
}

#define APPROVE "csrf=" FZ_CSRF "&action=approve"
#define REJECT "csrf=" FZ_CSRF "&action=reject"

/* m's login decided on page's web page (action: APPROVE or REJECT) while its poll is held
 * on held; the held poll's answer in last. */
static unsigned decide_while_held(struct ctl_server *page, struct ctl_server *held,
				  struct machine *m, const char *action)
{
	char head[160];
	struct fz_reply out;
	CHECK(login_start(held, m));
	struct fz_held *h = node_register(held, m, true, &out);
	CHECK(h != NULL && out.suspended);
	if (!h)
		return 0;
	snprintf(head, sizeof(head), "GET /register/%s\nCookie: mesh_session=" FZ_SESSION "\n",
		 m->token);
	CHECK_INT(web(page, head, NULL), 200);
	CHECK(strstr(last, "Approve a new device") != NULL);
	snprintf(head, sizeof(head), "POST /register/%s\nCookie: mesh_session=" FZ_SESSION "\n",
		 m->token);
	CHECK_INT(web(page, head, action), 200);
	/* the held poll is woken (through the change feed when page is another server) */
	CHECK(EVENTUALLY(held, !out.suspended));
	finish(h, m, &out);
	return out.status;
}

static void one_server(void)
{
	struct ctl_server *srv = fz_srv_open();
	struct machine m = { 0 };
	machine_new(&m);
	CHECK_INT(decide_while_held(srv, srv, &m, APPROVE), 200);
	CHECK(strstr(last, "\"registered\":true") != NULL);
	if (!strstr(last, "\"registered\":true"))
		fprintf(stderr, "the poll answered: %s\n", last);
	/* the store has the token's hash, not the token */
	char id[SRV_LOGIN_ID_HEX + 1];
	struct ctl__login_req lr;
	ctl__login_id(m.token, id);
	CHECK_INT(srv->store->ops->login_get(srv->store, m.token, &lr), -ENOENT);
	CHECK_INT(srv->store->ops->login_get(srv->store, id, &lr), 0);
	CHECK_INT(lr.state, CTL__APPROVED);
	ctl__login_clear(&lr);
	fz_srv_close(srv);
}

/* An approval racing a rejection made through another replica: the page read the login
 * pending, the rejection was stored before the approval's decision.  The first decision
 * stands and the node the approval registered goes again (it got in before). */
static void approve_after_reject(void)
{
	struct ctl_server *srv = fz_srv_open();
	struct machine m = { 0 };
	machine_new(&m);
	CHECK(login_start(srv, &m));
	char id[SRV_LOGIN_ID_HEX + 1], err[256];
	struct ctl__login_req page, other;
	ctl__login_id(m.token, id);
	CHECK_INT(srv->store->ops->login_get(srv->store, id, &page), 0); /* the approver's copy */
	CHECK_INT(srv->store->ops->login_get(srv->store, id, &other), 0);
	other.state = CTL__REJECTED;
	snprintf(other.reason, sizeof(other.reason), "not ours");
	CHECK_INT(srv->store->ops->login_decide(srv->store, &other), 0);
	pthread_mutex_lock(&srv->lock);
	int rc = ctl__register_finish(srv, &page, 1, "alice@example.com", err, sizeof(err));
	bool there = ctl__node_by_machine(srv, m.pub) != NULL;
	pthread_mutex_unlock(&srv->lock);
	CHECK_INT(rc, -ESTALE);
	CHECK_STR(err, "the login was rejected meanwhile");
	CHECK(!there);
	CHECK_INT(page.state, CTL__REJECTED);
	ctl__login_clear(&page);
	ctl__login_clear(&other);
	fz_srv_close(srv);
}

static void two_servers(const char *url)
{
	/* the harness's tailnet moved into the store, two servers on it with single sign-on */
	struct ctl_server_config base = { 0 };
	fz_replica_config(&base);
	struct pg_pair rs;
	struct pg_pair_opts o = { .from_state = fz_srv_template(),
				  .feed_only = true,
				  .prepare = fz_replica_prepare,
				  .base = &base };
	CHECK_INT(pg_pair_open(&rs, url, &o), 0);
	struct ctl_server *a = rs.a, *b = rs.b;
	if (!a || !b)
		goto out;

	/* 1 started and held through b, approved on a's page: b's held poll answers */
	struct machine m1 = { 0 }, m2 = { 0 };
	machine_new(&m1);
	CHECK_INT(decide_while_held(a, b, &m1, APPROVE), 200);
	CHECK(strstr(last, "\"registered\":true") != NULL);
	if (!strstr(last, "\"registered\":true"))
		fprintf(stderr, "b answered: %s\n", last);

	/* 2 another rejected on a: b's held poll says so */
	machine_new(&m2);
	CHECK_INT(decide_while_held(a, b, &m2, REJECT), 403);
	CHECK(strstr(last, "the device was rejected on the login page") != NULL);

	/* 3 the caps are the store's: 32 from one address through a and b together (the two
	 * decided above count until they expire) */
	struct ctl_login_count c;
	uint8_t none[32] = { 0 };
	CHECK_INT(a->store->ops->login_count(a->store, "203.0.113.9", none, &c), 0);
	int started = 0;
	for (int i = 0; i < 40; i++) {
		struct machine m = { 0 };
		machine_new(&m);
		started += login_start(i % 2 ? a : b, &m);
	}
	CHECK_INT(started + c.from_src, SRV_LOGINS_PER_SOURCE);
	CHECK(strstr(last, "too many logins waiting for approval from 203.0.113.9") != NULL);

	/* 4 an SSO sign-in started on a (its pending row, as /oidc/start makes it) finished on
	 * b: b takes it (the code goes to the provider, which no thread reaches here: 504) with
	 * the cookie a signed, since both derive the cookie key from the shared server key;
	 * then it is used up on a too */
	CHECK_MEM(a->sso->cookie_key, b->sso->cookie_key, 32);
	CHECK(fz_sso_started(a));
	char cookie[SRV_SSO_COOKIE_HEX + 1], head[512];
	ctl__sso_pre_sign(a->sso->cookie_key, FZ_SSO_PRE, cookie);
	snprintf(head, sizeof(head),
		 "GET /oidc/callback?code=abc&state=" FZ_SSO_STATE "&iss=" FZ_SSO_ISSUER
		 "\nCookie: mesh_sso=%s\n",
		 cookie);
	CHECK_INT(web(b, head, NULL), 504);
	CHECK(strstr(last, "did not answer within 30 s") != NULL);
	CHECK_INT(web(a, head, NULL), 400);
	CHECK(strstr(last, "This sign-in link was already used or has expired") != NULL);
	/* the store holds neither the state nor the verifier as they are */
	CHECK(fz_sso_started(a));
	struct ctl__sso_pending got;
	char sealed[512];
	CHECK_INT(a->store->ops->sso_pending_take(a->store, FZ_SSO_STATE, FZ_SSO_PRE, ctl__now_s(),
						  &got, sealed, sizeof(sealed)),
		  -ENOENT);
	CHECK_INT(web(b, head, NULL), 504);

	/* 5 the SSO start rate per address is the store's: starts from one address through a
	 * and b in turn are one replica's limit in all (each replica counted its own before:
	 * twice the limit) */
	int sso_ok = 0, sso_refused = 0;
	for (int i = 0; i < 2 * SRV_SSO_START_BURST; i++) {
		struct ctl_server *srv = i % 2 ? a : b;
		struct ctl__sso_pending p = { .nonce = "n",
					      .verifier = "v",
					      .pre = FZ_SSO_PRE,
					      .source = "198.51.100.20",
					      .next = "/" };
		int64_t retry = 0;
		snprintf(p.state, sizeof(p.state), "%042d%c", i, 'S');
		pthread_mutex_lock(&srv->lock);
		int rc = ctl__sso_table_add(&srv->sso->pending, &p, ctl__now_s(), &retry);
		pthread_mutex_unlock(&srv->lock);
		sso_ok += rc == 0;
		sso_refused += rc == -EAGAIN && retry > ctl__now_s() - 5;
	}
	CHECK_INT(sso_ok, SRV_SSO_START_BURST);
	CHECK_INT(sso_refused, SRV_SSO_START_BURST);
out:
	pg_pair_close(&rs);
}

static int pg_cases(struct pg_cluster *c, void *ctx)
{
	char url[512];
	(void)ctx;
	CHECK_INT(pg_cluster_createdb(c, "ops", url, sizeof(url)), 0);
	ops_cases(url);
	CHECK_INT(pg_cluster_createdb(c, "replicas", url, sizeof(url)), 0);
	two_servers(url);
	fprintf(stderr, "PostgreSQL: ");
	return check_finish();
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "postgres") == 0)
		return pg_cluster_main(pg_cases, NULL);
	char dir[] = "/tmp/ctl-login-XXXXXX", url[300], cmd[300];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(url, sizeof(url), "sqlite:%s/state.db", dir);
	ops_cases(url);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	one_server();
	approve_after_reject();
	return check_finish();
}
