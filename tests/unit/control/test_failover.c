/* Several control servers and a replica going away (control/client/failover.c,
 * control/server/health.c):
 *
 *  1. the choice: which server next and the delay, over a numbered table with a fixed
 *     jitter seed (75 % to 125 % of the backoff; the backoff doubles only after a whole
 *     round failed, and starts again once one answers; one server: the old single backoff,
 *     capped at 30 s); the same seed replays the same delays.
 *  2. the --login-server list: spaces, trailing '/' and empty items, none, more than 8.
 *  3. end to end on loopback: replicas A and B share one state directory and store (SQLite
 *     in WAL mode: enough for one test machine; PostgreSQL in production).  A node with
 *     "A,B" registers through A and holds its map poll there.  A drains: its /healthz turns
 *     503 "draining", the held poll is answered at once (a keep-alive), the next poll is
 *     sent away, and the node goes on through B within the first backoff (its netmap from
 *     B, `status` naming B); then A stops accepting (connections refused) and is freed
 *     within its bound. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "common/now.h"
#include "common/strv.h"
#include "control/client/internal.h"
#include "control/server/ident.h"
#include "control/server/server.h"
#include "control/server/store.h"
#include "tailnet.h"

/* ---- 1. the choice ---- */

static const struct step {
	char op; /* 'f': the server in use failed; 'o': it answered */
	size_t cur;
	unsigned lo, hi; /* the delay's bounds ('f') */
} steps3[] = {
	/* 1 */ { 'f', 1, 375, 625 },  /* A fails: B after 0.5 s +- 25 % */
	/* 2 */ { 'f', 2, 375, 625 },  /* B fails: C, the same backoff (same round) */
	/* 3 */ { 'f', 0, 375, 625 },  /* C fails: a whole round, back to A; it doubles */
	/* 4 */ { 'f', 1, 750, 1250 }, /* the second round waits 1 s */
	/* 5 */ { 'o', 1, 0, 0 },      /* B answers: it stays, the backoff is reset */
	/* 6 */ { 'f', 2, 375, 625 },  /* B fails later: C after 0.5 s again */
	/* 7 */ { 'f', 0, 375, 625 },  /* a new round from B's failure: A */
	/* 8 */ { 'f', 1, 375, 625 },  /* ...B: that is the third failure, round done */
	/* 9 */ { 'f', 2, 750, 1250 },
};

static void choice_cases(void)
{
	struct ctl__failover f, g;
	ctl__failover_init(&f, 3, 42);
	ctl__failover_init(&g, 3, 42);
	for (size_t i = 0; i < sizeof(steps3) / sizeof(steps3[0]); i++) {
		const struct step *s = &steps3[i];
		if (s->op == 'o') {
			ctl__failover_ok(&f);
			ctl__failover_ok(&g);
		} else {
			unsigned ms = ctl__failover_failed(&f);
			if (ms < s->lo || ms > s->hi)
				fprintf(stderr, "step %zu: %u ms not in %u..%u\n", i + 1, ms, s->lo,
					s->hi);
			CHECK(ms >= s->lo && ms <= s->hi);
			CHECK_INT(ctl__failover_failed(&g), ms); /* the same seed replays */
		}
		CHECK_INT(f.cur, s->cur);
	}
	/* one server: the single backoff of old, 0.5 s doubling to the 30 s cap */
	ctl__failover_init(&f, 1, 7);
	unsigned want = 500;
	for (int i = 0; i < 12; i++) {
		unsigned ms = ctl__failover_failed(&f);
		CHECK(ms >= want * 3 / 4 && ms <= want * 5 / 4);
		CHECK_INT(f.cur, 0);
		want = want * 2 > 30000 ? 30000 : want * 2;
	}
	/* the jitter spreads: over 1000 first tries the delays cover most of 375..625 */
	unsigned lo = 1000, hi = 0;
	ctl__failover_init(&f, 2, 99);
	for (int i = 0; i < 1000; i++) {
		unsigned ms = ctl__failover_failed(&f);
		ctl__failover_ok(&f);
		lo = ms < lo ? ms : lo;
		hi = ms > hi ? ms : hi;
	}
	CHECK(lo < 390 && hi > 610);
}

/* ---- 2. the list ---- */

static void list_cases(void)
{
	char **v, err[256];
	size_t n;
	CHECK_INT(ctl__servers_parse(" https://a.example/ ,,https://b.example:8443//,", &v, &n, err,
				     sizeof(err)),
		  0);
	CHECK_INT(n, 2);
	CHECK_STR(v[0], "https://a.example");
	CHECK_STR(v[1], "https://b.example:8443");
	strv_free(v, n);
	CHECK_INT(ctl__servers_parse(" , ", &v, &n, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "no control server URL in ' , '");
	CHECK_INT(ctl__servers_parse("http://1,http://2,http://3,http://4,http://5,http://6,"
				     "http://7,http://8,http://9",
				     &v, &n, err, sizeof(err)),
		  -E2BIG);
	CHECK_STR(err, "more than 8 control servers in 'http://1,http://2,http://3,http://4,"
		       "http://5,http://6,http://7,http://8,http://9'");
	CHECK_INT(ctl_client_servers_check("http://127.0.0.1:1,http://192.0.2.1:2", false, err,
					   sizeof(err)),
		  -EINVAL); /* the second is plain HTTP off loopback: each is checked */
}

/* ---- 3. a replica drains ---- */

struct seen {
	int netmaps, connected, keepalives, unreachable;
	char last_event[512];
};

static void on_netmap(void *ctx, const struct ctl_netmap *nm, bool from_cache)
{
	struct seen *s = ctx;
	s->netmaps += !from_cache;
}

static void on_event(void *ctx, enum ctl_client_event ev, const char *msg)
{
	struct seen *s = ctx;
	s->connected += ev == CTL_CLIENT_CONNECTED;
	s->unreachable += ev == CTL_CLIENT_UNREACHABLE;
	snprintf(s->last_event, sizeof(s->last_event), "%s", msg ? msg : "");
	fprintf(stderr, "client event %d: %s\n", ev, msg ? msg : "");
}

static void on_contact(void *ctx, const char *type, uint64_t version)
{
	struct seen *s = ctx;
	s->keepalives += strcmp(type, "keepalive") == 0;
}

/* Turn the loop until *flag is at least want, at most ms; true when it got there. */
static bool run_until(uv_loop_t *loop, const int *flag, int want, uint64_t ms)
{
	uint64_t end = now_mono_ms() + ms;
	while (*flag < want && now_mono_ms() < end)
		uv_run(loop, UV_RUN_NOWAIT), usleep(2000);
	return *flag >= want;
}

static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		return 0;
	close(fd);
	return ntohs(a.sin_port);
}

static long healthz(uint16_t port, char *body, size_t len)
{
	char url[128];
	long status = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", port);
	FILE *f = fmemopen(body, len, "w");
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	fclose(f);
	return status;
}

static void drain_cases(const char *dir)
{
	char state[300], node_dir[300], err[512], key[CTL_AUTHKEY_TEXT_SIZE], urls[128];
	snprintf(state, sizeof(state), "%s/control", dir);
	snprintf(node_dir, sizeof(node_dir), "%s/node", dir);
	CHECK_INT(test_tailnet_make(state, key), 0);

	struct ctl_server_config ca = { .state_dir = state, .replica_name = "a" };
	struct ctl_server *a, *b;
	CHECK_INT(ctl_server_new(&ca, &a, err, sizeof(err)), 0);
	CHECK_INT(ctl_server_start(a, err, sizeof(err)), 0);
	uint16_t pa = ctl_server_port(a), pb = free_port();
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%u,http://127.0.0.1:%u/", pa, pb);

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct seen s = { 0 };
	struct ctl_client_config cc = { .loop = &loop,
					.server_url = urls,
					.state_dir = node_dir,
					.auth_key = key,
					.hostname = "n1",
					.on_netmap = on_netmap,
					.on_event = on_event,
					.on_contact = on_contact,
					.ctx = &s };
	struct ctl_client *c;
	CHECK_INT(ctl_client_new(&cc, &c, err, sizeof(err)), 0);
	CHECK_INT(ctl_client_start(c), 0);
	CHECK(run_until(&loop, &s.netmaps, 1, 15000));
	char url_a[64], url_b[64];
	snprintf(url_a, sizeof(url_a), "http://127.0.0.1:%u", pa);
	snprintf(url_b, sizeof(url_b), "http://127.0.0.1:%u", pb);
	CHECK_STR(ctl_client_server_url(c), url_a);

	/* B starts once the node is in the store (replicas read the nodes at start; telling a
	 * running one is the store's change feed, not this test's) */
	struct ctl_server_config cb = { .state_dir = state, .port = pb, .replica_name = "b" };
	CHECK_INT(ctl_server_new(&cb, &b, err, sizeof(err)), 0);
	CHECK_INT(ctl_server_start(b, err, sizeof(err)), 0);
	/* let the node's poll be held at A */
	uv_run(&loop, UV_RUN_NOWAIT);
	usleep(300 * 1000);
	uv_run(&loop, UV_RUN_NOWAIT);

	int netmaps = s.netmaps, connected = s.connected, keepalives = s.keepalives;
	uint64_t t0 = now_mono_ms();
	ctl_server_drain(a);
	char body[256] = "";
	CHECK_INT(healthz(pa, body, sizeof(body)), 503);
	CHECK_STR(body, "{\"status\":\"draining\",\"replica\":\"a\"}");
	CHECK(run_until(&loop, &s.keepalives, keepalives + 1, 3000)); /* the held poll */
	uint64_t t_ka = now_mono_ms() - t0;
	CHECK(run_until(&loop, &s.connected, connected + 1, 5000));
	CHECK(run_until(&loop, &s.netmaps, netmaps + 1, 5000));
	uint64_t t_b = now_mono_ms() - t0;
	CHECK_STR(ctl_client_server_url(c), url_b);
	CHECK(t_b < 2000); /* one backoff (at most 625 ms) and a map */
	CHECK_INT(healthz(pb, body, sizeof(body)), 200);
	CHECK_STR(body, "{\"status\":\"ok\",\"replica\":\"b\"}");

	uint64_t t1 = now_mono_ms();
	CHECK_INT(ctl_server_quiesce(a), 0);
	CHECK_INT(healthz(pa, body, sizeof(body)), 0); /* refused: no answer at all */
	ctl_server_free(a);
	uint64_t t_free = now_mono_ms() - t1;
	CHECK(t_free < 2000);
	fprintf(stderr,
		"drain: held poll answered after %llu ms, node on B after %llu ms; A stopped "
		"accepting and was freed in %llu ms\n",
		(unsigned long long)t_ka, (unsigned long long)t_b, (unsigned long long)t_free);

	/* the node stays with B: a minute of polls would show it; two seconds do here */
	int unreachable = s.unreachable;
	uint64_t end = now_mono_ms() + 2000;
	while (now_mono_ms() < end)
		uv_run(&loop, UV_RUN_NOWAIT), usleep(5000);
	CHECK_INT(s.unreachable, unreachable);
	CHECK_STR(ctl_client_server_url(c), url_b);

	ctl_client_free(c);
	for (int i = 0; i < 200 && uv_loop_alive(&loop); i++)
		uv_run(&loop, UV_RUN_NOWAIT), usleep(5000);
	CHECK_INT(uv_loop_close(&loop), 0);
	ctl_server_free(b);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	choice_cases();
	list_cases();
	char dir[] = "/tmp/ctl-failover-XXXXXX", cmd[300];
	CHECK(mkdtemp(dir) != NULL);
	drain_cases(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_finish();
}
