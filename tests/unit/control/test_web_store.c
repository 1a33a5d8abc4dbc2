/* Web sessions and request nonces in the store (store.h's session_* and nonce_add, schema 8)
 * on both backends, and, with `postgres`, two servers on one database (session.c, web.c,
 * throttle.c, node_api.c; the fuzz harness's tailnet): alice logs in through B with the login
 * form A served, a page on A knows her, her logout through B makes A refuse the cookie;
 * wrong passwords sent to A and B in turn are throttled at one server's limit; a sealed
 * request A took, sent again to B, is refused as a replay. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "control/netmap/wire.h"
#include "control/server/internal.h"
#include "control/server/store.h"
#include "pg_cluster.h"
#include "pg_pair.h"
#include "tests/fuzz/control/srv_harness.h"

static struct ctl_web_session mksession(int64_t user, uint8_t tag, int64_t created)
{
	struct ctl_web_session ws = { .user_id = user, .created = created };
	memset(ws.id_hash, tag, sizeof(ws.id_hash));
	snprintf(ws.csrf, sizeof(ws.csrf), "%032x", tag);
	ws.expires = created + 100;
	return ws;
}

/* Whether session tag is there at now. */
static bool there(struct ctl_store *s, uint8_t tag, int64_t now)
{
	uint8_t h[32];
	struct ctl_web_session got;
	memset(h, tag, sizeof(h));
	return s->ops->session_get(s, h, now, &got) == 0;
}

static int count_none(void *ctx, const struct ctl_node_rec *n)
{
	(void)ctx, (void)n;
	return 0;
}

static void ops_cases(const char *url)
{
	struct ctl_store *s;
	char err[512];
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), 0);
	if (!s)
		return;
	const struct ctl_store_ops *o = s->ops;
	int64_t alice, bob;
	CHECK_INT(o->user_add(s, "alice@example.com", "!", &alice), 0);
	CHECK_INT(o->user_add(s, "bob@example.com", "!", &bob), 0);

	/* 1 put, get with the user's login, expiry, a taken id, delete */
	struct ctl_web_session a = mksession(alice, 1, 1000), got;
	CHECK_INT(o->session_put(s, &a, 3, 5), 0);
	CHECK_INT(o->session_put(s, &a, 3, 5), -EEXIST);
	memset(&got, 0x7f, sizeof(got));
	CHECK_INT(o->session_get(s, a.id_hash, 1099, &got), 0);
	CHECK_MEM(got.id_hash, a.id_hash, 32);
	CHECK_INT(got.user_id, alice);
	CHECK_STR(got.login, "alice@example.com");
	CHECK_STR(got.csrf, a.csrf);
	CHECK_INT(got.created, 1000);
	CHECK_INT(got.expires, 1100);
	CHECK_INT(o->session_get(s, a.id_hash, 1100, &got), -ENOENT); /* expired */
	CHECK_INT(o->session_delete(s, a.id_hash), 0);
	CHECK_INT(o->session_delete(s, a.id_hash), 0);
	CHECK(!there(s, 1, 1050));

	/* 2 at most 3 per user: alice's fourth drops her first */
	for (uint8_t t = 2; t <= 5; t++) {
		struct ctl_web_session w = mksession(alice, t, 1000 + t);
		CHECK_INT(o->session_put(s, &w, 3, 5), 0);
	}
	CHECK(!there(s, 2, 1010));
	CHECK(there(s, 3, 1010) && there(s, 4, 1010) && there(s, 5, 1010));
	/* 3 at most 5 in all: bob's third drops the oldest of all (alice's 3), not his own */
	for (uint8_t t = 6; t <= 8; t++) {
		struct ctl_web_session w = mksession(bob, t, 1010 + t);
		CHECK_INT(o->session_put(s, &w, 3, 5), 0);
	}
	CHECK(!there(s, 3, 1020));
	CHECK(there(s, 4, 1020) && there(s, 5, 1020));
	CHECK(there(s, 6, 1020) && there(s, 7, 1020) && there(s, 8, 1020));
	/* 4 a put drops the sessions expired at its time; a removed user's go with the user */
	struct ctl_web_session late = mksession(alice, 9, 1105);
	CHECK_INT(o->session_put(s, &late, 3, 5), 0);
	CHECK(there(s, 9, 1106));
	CHECK(!there(s, 4, 0) && !there(s, 5, 0)); /* gone from the table, not only expired */
	CHECK(there(s, 8, 1020));
	CHECK_INT(o->user_remove(s, "bob@example.com", count_none, NULL), 0);
	CHECK(!there(s, 6, 1020) && !there(s, 7, 1020) && !there(s, 8, 1020));
	/* 5 the sweep */
	CHECK_INT(o->transient_expire(s, 1205), 0);
	CHECK(!there(s, 9, 0));

	/* 6 nonces: each taken once until it expires */
	uint8_t n1[24], n2[24];
	memset(n1, 0xa1, sizeof(n1));
	memset(n2, 0xa2, sizeof(n2));
	CHECK_INT(o->nonce_add(s, n1, 2000), 0);
	CHECK_INT(o->nonce_add(s, n1, 2000), -EEXIST);
	CHECK_INT(o->nonce_add(s, n2, 3000), 0);
	CHECK_INT(o->transient_expire(s, 1999), 0);
	CHECK_INT(o->nonce_add(s, n1, 2000), -EEXIST);
	CHECK_INT(o->transient_expire(s, 2000), 0);
	CHECK_INT(o->nonce_add(s, n1, 4000), 0);
	CHECK_INT(o->nonce_add(s, n2, 4000), -EEXIST);

	/* 7 what each sealed request costs a replica (printed, not checked) */
	struct timespec t0, t1;
	enum { ROUNDS = 2000 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < ROUNDS; i++) {
		uint8_t n[24] = { 0x5a };
		memcpy(n + 1, &i, sizeof(i));
		CHECK_INT(o->nonce_add(s, n, 5000), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double add_us =
	    ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < ROUNDS; i++) /* a read of one row by key, for scale */
		CHECK(!there(s, 0x77, 0));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double get_us =
	    ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
	fprintf(stderr, "%s: nonce_add %.1f us each, session_get %.1f us each (%d of each)\n",
		strncmp(url, "sqlite:", 7) == 0 ? "SQLite" : "PostgreSQL", add_us / ROUNDS,
		get_us / ROUNDS, ROUNDS);
	s->ops->close(s);
}

/* ---- two servers on one database ---- */

static char last[64 * 1024], last_cookie[256];

static unsigned web(struct ctl_server *srv, const char *head, const char *body)
{
	struct fz_reply out = { 0 };
	fz_http(srv, head, body ? body : "", body ? strlen(body) : 0, &out);
	snprintf(last, sizeof(last), "%.*s", out.body ? (int)out.len : 0, out.body ? out.body : "");
	snprintf(last_cookie, sizeof(last_cookie), "%s", out.cookie);
	free(out.body);
	return out.status;
}

/* The value of the form field csrf in the last page ("" when none). */
static void form_csrf(char out[33])
{
	const char *p = strstr(last, "name=csrf value=");
	snprintf(out, 33, "%s", p ? p + 16 : "");
}

#define PRE "0123456789abcdef0123456789abcdef"

/* POST /login to srv as login with password, through the form token tok. */
static unsigned login(struct ctl_server *srv, const char *tok, const char *who, const char *pw)
{
	char body[300];
	snprintf(body, sizeof(body), "csrf=%s&next=/&login=%s&password=%s", tok, who, pw);
	return web(srv, "POST /login\nCookie: mesh_login=" PRE "\n", body);
}

/* A sealed request from the laptop (node 1) to path; the nonce to open the answer with. */
static void sealed(struct ctl_server *srv, const char *json, uint8_t **body, size_t *len,
		   uint8_t nonce[CTL_WIRE_NONCE_LEN])
{
	CHECK_INT(ctl_wire_seal_request(srv->server_pub, fz_machine_pub[0], fz_machine_priv[0],
					ctl__wall_ms(), json, strlen(json), body, len, nonce),
		  0);
}

/* Send body to srv's node API at path; its status, the answer in last (opened when it was
 * sealed: last_sealed). */
static bool last_sealed;

static unsigned node_post(struct ctl_server *srv, const char *head, const uint8_t *body, size_t len,
			  const uint8_t nonce[CTL_WIRE_NONCE_LEN])
{
	struct fz_reply out = { 0 };
	char *plain = NULL;
	size_t plen = 0;
	const char *why;
	fz_http(srv, head, (const char *)body, len, &out);
	last_sealed = out.body && ctl_wire_open_response(srv->server_pub, fz_machine_priv[0], nonce,
							 (const uint8_t *)out.body, out.len, &plain,
							 &plen, &why);
	if (last_sealed)
		snprintf(last, sizeof(last), "%.*s", (int)plen, plain);
	else
		snprintf(last, sizeof(last), "%.*s", out.body ? (int)out.len : 0,
			 out.body ? out.body : "");
	free(plain);
	free(out.body);
	return out.status;
}

static void two_servers(const char *url)
{
	char head[200], tok[33], csrf[33], session[65];
	/* the harness's tailnet (users, the laptop and the server, the policy, its key) moved
	 * into the store; two servers on it, each with alice's web session, driven through
	 * their handlers */
	struct pg_pair rp;
	struct pg_pair_opts o = { .from_state = fz_srv_template(),
				  .feed_only = true,
				  .prepare = fz_srv_web };
	CHECK_INT(pg_pair_open(&rp, url, &o), 0);
	struct ctl_server *a = rp.a, *b = rp.b;
	if (!a || !b)
		goto out;

	/* 1 the login form A served is taken by B (one CSRF key); the session B made is known
	 * to A */
	CHECK_INT(web(a, "GET /login\nCookie: mesh_login=" PRE "\n", NULL), 200);
	form_csrf(tok);
	CHECK_INT((int)strlen(tok), 32);
	CHECK_INT(login(b, tok, "alice%40example.com", "password1"), 303);
	CHECK(strncmp(last_cookie, "mesh_session=", 13) == 0);
	snprintf(session, sizeof(session), "%.64s", last_cookie + 13);
	snprintf(head, sizeof(head), "GET /\nCookie: mesh_session=%s\n", session);
	CHECK_INT(web(a, head, NULL), 200);
	CHECK(strstr(last, "Logged in as <b id=who>alice@example.com</b>") != NULL);
	/* 2 the session's CSRF token, from A's page, is taken by B: logout through B ... */
	form_csrf(csrf);
	snprintf(head, sizeof(head), "POST /logout\nCookie: mesh_session=%s\n", session);
	CHECK_INT(web(b, head, "csrf=00000000000000000000000000000000"), 403);
	CHECK_INT(web(b, head, NULL), 403);
	char body[64];
	snprintf(body, sizeof(body), "csrf=%s", csrf);
	CHECK_INT(web(b, head, body), 200);
	CHECK(strstr(last, "You are logged out.") != NULL);
	CHECK(strncmp(last_cookie, "mesh_session=;", 14) == 0);
	/* ... and A refuses the cookie */
	snprintf(head, sizeof(head), "GET /\nCookie: mesh_session=%s\n", session);
	CHECK_INT(web(a, head, NULL), 200);
	CHECK(strstr(last, "<a href=/login>Log in</a>") != NULL);
	CHECK(strstr(last, "Logged in as") == NULL);

	/* 3 wrong passwords for bob through A and B in turn: one server's limit in all */
	int refused = 0, throttled = 0;
	for (int i = 0; i < 2 * SRV_THROTTLE_ACCOUNT; i++) {
		unsigned st = login(i % 2 ? a : b, tok, "bob%40example.com", "wrong");
		refused += st == 401;
		throttled += st == 429;
	}
	CHECK_INT(refused, SRV_THROTTLE_ACCOUNT);
	CHECK_INT(throttled, SRV_THROTTLE_ACCOUNT);
	CHECK(strstr(last, "Too many failed attempts for bob@example.com. Try again at") != NULL);
	/* the right one too, until the window ends; alice is apart */
	CHECK_INT(login(a, tok, "bob%40example.com", "password2"), 429);
	CHECK_INT(login(a, tok, "alice%40example.com", "password1"), 303);

	/* 4 a sealed request A took, sent to B: a replay, refused with the reason; A's own cache
	 * refuses it too, and a new request to B is served */
	uint8_t *req, nonce[CTL_WIRE_NONCE_LEN];
	size_t len;
	const char *ask = "{\"hold_id\": \"00000000000000000000000000000000\"}";
	sealed(a, ask, &req, &len, nonce);
	CHECK_INT(node_post(a, "POST /machine/hold\n", req, len, nonce), 400);
	CHECK(last_sealed && strstr(last, "hold_id: unknown or expired hold") != NULL);
	CHECK_INT(node_post(b, "POST /machine/hold\n", req, len, nonce), 401);
	CHECK_STR(last, "{\"error\":\"request nonce was already used (replay)\"}");
	CHECK(!last_sealed); /* as a replica's own cache answers one */
	CHECK_INT(node_post(a, "POST /machine/hold\n", req, len, nonce), 401);
	CHECK_STR(last, "{\"error\":\"request nonce was already used (replay)\"}");
	free(req);
	sealed(b, ask, &req, &len, nonce);
	CHECK_INT(node_post(b, "POST /machine/hold\n", req, len, nonce), 400);
	CHECK(last_sealed);
	free(req);
	/* 4b a machine key nobody registered (anyone can make one) costs the store nothing:
	 * refused before its request's nonce is written */
	uint8_t stranger_pub[32], stranger_priv[32];
	crypto_box_keypair(stranger_pub, stranger_priv);
	CHECK_INT(ctl_wire_seal_request(a->server_pub, stranger_pub, stranger_priv, ctl__wall_ms(),
					ask, strlen(ask), &req, &len, nonce),
		  0);
	CHECK_INT(node_post(a, "POST /machine/hold\n", req, len, nonce), 401);
	CHECK_STR(last, "{\"error\":\"machine key is not registered\"}");
	pthread_mutex_lock(&a->lock);
	CHECK_INT(a->store->ops->nonce_add(a->store, nonce, ctl__now_s() + 60), 0); /* not taken */
	pthread_mutex_unlock(&a->lock);
	free(req);
	/* 5 what the store's check adds to a sealed request (printed, not checked): the same
	 * requests to b with it and, for scale, without */
	for (int shared = 1; shared >= 0; shared--) {
		enum { N = 300 };
		struct timespec t0, t1;
		b->shared = shared;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < N; i++) {
			sealed(b, ask, &req, &len, nonce);
			CHECK_INT(node_post(b, "POST /machine/hold\n", req, len, nonce), 400);
			free(req);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		fprintf(
		    stderr, "a sealed request: %.1f us %s the store's nonce check (%d)\n",
		    ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
			1e3 / N,
		    shared ? "with" : "without", N);
	}
	b->shared = true;
out:
	pg_pair_close(&rp);
}

int main(int argc, char **argv)
{
	return pg_cluster_store_main(argc, argv, ops_cases, two_servers, check_finish);
}
