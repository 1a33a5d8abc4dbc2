/* The policy's version and ETag, on SQLite (`test-control-policy-etag sqlite`) and
 * PostgreSQL (`... postgres`, a cluster of the test's own, pg_cluster.h; 77 without it):
 *
 *  1. the store: policy_current on a new store is version 0 with no text; policy_set_if
 *     from the right version wins, from a stale one gives -ESTALE with the current version
 *     and writes nothing; CTL_POLICY_ANY always wins; setting the same text again is a new
 *     version (a change and its undoing are not "no change").
 *  2. PostgreSQL: two replicas (two store handles, two processes) set it at once from the
 *     same version, lined up behind a lock so they really race: exactly one wins, 20 times.
 *  3. meshcontrol over HTTP on loopback: GET /api/v1/policy carries the ETag (header and
 *     "etag") and Mesh-Replica; PUT with a matching If-Match wins, with a stale one is 412
 *     with the exact sentence, with a malformed one 400; without If-Match it wins as before.
 *     GET /healthz: 200 {"status":"ok","replica":...} without a token; on PostgreSQL, with
 *     the database stopped, 503 "store unreachable: ..." once the cached answer (1 s) is
 *     gone (and again within that second: the cached answer); draining: 503 "draining"; a
 *     replica name with a line break is refused. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "check.h"
#include "control/server/server.h"
#include "control/server/store.h"
#include "pg_cluster.h"
#include "pg_pair.h"

/* ---- 1. the store ---- */

static void store_cases(const char *url)
{
	struct ctl_store *s;
	char err[512], *text = (char *)"x";
	int64_t v0 = -5, v1 = 0, v2 = 0, v3 = 0, now = 0;
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), 0);
	CHECK_INT(s->ops->policy_current(s, &text, &v0), 0);
	CHECK(text == NULL);
	CHECK_INT(v0, 0);
	CHECK_INT(s->ops->policy_set_if(s, "{\"acls\": []}", 0, &v1), 0);
	CHECK(v1 > 0);
	/* a second admin who also read version 0 */
	CHECK_INT(s->ops->policy_set_if(s, "{\"hosts\": {}}", 0, &now), -ESTALE);
	CHECK_INT(now, v1);
	CHECK_INT(s->ops->policy_current(s, &text, &now), 0);
	CHECK_STR(text, "{\"acls\": []}");
	CHECK_INT(now, v1);
	free(text);
	CHECK_INT(s->ops->policy_set_if(s, "{\"acls\": []}", v1, &v2), 0); /* the same text */
	CHECK(v2 > v1);
	CHECK_INT(s->ops->policy_set_if(s, "{\"acls\": []}", v1, &now), -ESTALE);
	CHECK_INT(now, v2);
	CHECK_INT(s->ops->policy_set_if(s, "{\"groups\": {}}", CTL_POLICY_ANY, &v3), 0);
	CHECK(v3 > v2);
	CHECK_INT(s->ops->policy_get(s, &text), 0); /* the old op sees the same policy */
	CHECK_STR(text, "{\"groups\": {}}");
	free(text);
	/* policy_set (as before) makes a version too */
	CHECK_INT(s->ops->policy_set(s, "{}"), 0);
	CHECK_INT(s->ops->policy_current(s, &text, &now), 0);
	CHECK(now > v3);
	CHECK_STR(text, "{}");
	free(text);
	s->ops->close(s);
}

/* ---- 2. two replicas at once (PostgreSQL) ---- */

/* A child: its own store handle; waits for the go byte, then sets from version `from`.
 * Exits 0 when it won, 3 when it got -ESTALE, 1 otherwise. */
static int racer(const char *url, int go_fd, int64_t from, int who)
{
	struct ctl_store *s;
	char err[512], text[64], b;
	if (ctl_store_open(url, &s, err, sizeof(err)) != 0)
		return 1;
	if (read(go_fd, &b, 1) != 1)
		return 1;
	snprintf(text, sizeof(text), "{\"hosts\": {\"r%d\": \"100.64.0.%d\"}}", who, who);
	int64_t v;
	int rc = s->ops->policy_set_if(s, text, from, &v);
	s->ops->close(s);
	return rc == 0 ? 0 : rc == -ESTALE ? 3 : 1;
}

static void race_cases(const char *url)
{
	PGconn *lock = PQconnectdb(url);
	CHECK_INT(PQstatus(lock), CONNECTION_OK);
	struct ctl_store *s;
	char err[512];
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), 0);
	int both = 0, wins_total = 0;
	for (int round = 0; round < 20; round++) {
		int64_t from;
		char *text = NULL;
		CHECK_INT(s->ops->policy_current(s, &text, &from), 0);
		free(text);
		int go[2];
		CHECK_INT(pipe(go), 0);
		fflush(NULL);
		pid_t pid[2];
		for (int i = 0; i < 2; i++)
			if ((pid[i] = fork()) == 0)
				_exit(racer(url, go[0], from, i + 1));
		/* both wait behind this lock at their first statement on the table, then run
		 * together when it goes */
		PQclear(PQexec(lock, "BEGIN"));
		PQclear(PQexec(lock, "LOCK TABLE policy IN ACCESS EXCLUSIVE MODE"));
		CHECK_INT(write(go[1], "gg", 2), 2);
		struct timespec ts = { 0, 200 * 1000000L };
		nanosleep(&ts, NULL);
		PQclear(PQexec(lock, "COMMIT"));
		int wins = 0, stale = 0;
		for (int i = 0; i < 2; i++) {
			int st = 0;
			waitpid(pid[i], &st, 0);
			int code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
			wins += code == 0;
			stale += code == 3;
		}
		close(go[0]);
		close(go[1]);
		both += wins == 2;
		wins_total += wins;
		CHECK_INT(wins, 1);
		CHECK_INT(stale, 1);
	}
	fprintf(stderr, "race: 20 rounds, %d won, %d rounds where both won\n", wins_total, both);
	s->ops->close(s);
	PQfinish(lock);
}

/* ---- 3. over HTTP ---- */

struct answer {
	long status;
	char body[2048], etag[64], replica[64];
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct answer *a = ud;
	size_t k = size * n;
	if (a->len + k < sizeof(a->body)) {
		memcpy(a->body + a->len, p, k);
		a->len += k;
		a->body[a->len] = '\0';
	}
	return k;
}

static size_t on_head(char *p, size_t size, size_t n, void *ud)
{
	struct answer *a = ud;
	size_t k = size * n;
	if (k > 6 && strncasecmp(p, "ETag: ", 6) == 0)
		snprintf(a->etag, sizeof(a->etag), "%.*s", (int)strcspn(p + 6, "\r\n"), p + 6);
	if (k > 14 && strncasecmp(p, "Mesh-Replica: ", 14) == 0)
		snprintf(a->replica, sizeof(a->replica), "%.*s", (int)strcspn(p + 14, "\r\n"),
			 p + 14);
	return k;
}

static long http(uint16_t port, const char *method, const char *path, const char *token,
		 const char *if_match, const char *body, struct answer *a)
{
	char url[256], auth[256], cond[128];
	memset(a, 0, sizeof(*a));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (if_match) {
		snprintf(cond, sizeof(cond), "If-Match: %s", if_match);
		h = curl_slist_append(h, cond);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return a->status;
}

static void http_cases(const char *state_dir, const char *store_url, struct pg_cluster *pg)
{
	struct ctl_server *srv;
	struct ctl_store *st;
	char err[512], token[65];
	CHECK_INT(ctl_state_open_store(state_dir, store_url, &st, err, sizeof(err)), 0);
	CHECK_INT(ctl_state_admin_token(state_dir, st, token, err, sizeof(err)), 0);
	st->ops->close(st);
	CHECK((srv = pg_pair_server(store_url, state_dir, "ctl-a", NULL)) != NULL);
	if (!srv)
		return;
	uint16_t port = ctl_server_port(srv);
	struct answer a;
	/* a store that never had a policy: version 0 */
	CHECK_INT(http(port, "GET", "/api/v1/policy", token, NULL, NULL, &a), 200);
	CHECK_STR(a.etag, "\"0\"");
	CHECK_STR(a.replica, "ctl-a");
	CHECK(strstr(a.body, "\"etag\":\"\\\"0\\\"\"") != NULL);
	CHECK_INT(http(port, "PUT", "/api/v1/policy", token, "\"0\"", "{\"acls\": []}", &a), 200);
	char v1[64];
	snprintf(v1, sizeof(v1), "%s", a.etag);
	CHECK(strcmp(v1, "\"0\"") != 0 && v1[0] == '"');
	/* the second admin, who also read "0" */
	CHECK_INT(http(port, "PUT", "/api/v1/policy", token, "\"0\"", "{\"hosts\": {}}", &a), 412);
	char want[256];
	snprintf(want, sizeof(want),
		 "{\"error\":\"the policy changed since you read it (yours \\\"0\\\", now "
		 "\\\"%.*s\\\"): get it again and redo your edit\"}",
		 (int)strlen(v1) - 2, v1 + 1);
	CHECK_STR(a.body, want);
	CHECK_STR(a.replica, "ctl-a");
	CHECK_INT(http(port, "GET", "/api/v1/policy", token, NULL, NULL, &a), 200);
	CHECK_STR(a.etag, v1);
	CHECK(strstr(a.body, "{\\\"acls\\\": []}") != NULL); /* the loser changed nothing */
	CHECK_INT(http(port, "PUT", "/api/v1/policy", token, "W/\"1\"", "{}", &a), 400);
	CHECK_STR(a.body, "{\"error\":\"If-Match: 'W/\\\"1\\\"' is not a policy ETag (a number in "
			  "double quotes, as GET /api/v1/policy gives it)\"}");
	CHECK_INT(http(port, "PUT", "/api/v1/policy", token, v1, "{\"hosts\": {}}", &a), 200);
	CHECK(strcmp(a.etag, v1) != 0);
	CHECK_INT(http(port, "PUT", "/api/v1/policy", token, NULL, "{}", &a), 200); /* as before */
	/* policy/check is not a write: If-Match does not matter there */
	CHECK_INT(http(port, "POST", "/api/v1/policy/check", token, "\"0\"", "{}", &a), 200);
	/* health, without a token */
	CHECK_INT(http(port, "GET", "/healthz", NULL, NULL, NULL, &a), 200);
	CHECK_STR(a.body, "{\"status\":\"ok\",\"replica\":\"ctl-a\"}");
	CHECK_STR(a.replica, "ctl-a");
	if (pg) {
		CHECK_INT(pg_cluster_stop_server(pg), 0);
		struct timespec ts = { 1, 100 * 1000000L };
		nanosleep(&ts, NULL);
		CHECK_INT(http(port, "GET", "/healthz", NULL, NULL, NULL, &a), 503);
		CHECK_STR(a.body, "{\"status\":\"store unreachable: the connection to the database "
				  "is lost\",\"replica\":\"ctl-a\"}");
		/* asked again and again within the second: the cached answer, no query */
		for (int i = 0; i < 50; i++)
			CHECK_INT(http(port, "GET", "/healthz", NULL, NULL, NULL, &a), 503);
	}
	ctl_server_drain(srv);
	CHECK_INT(http(port, "GET", "/healthz", NULL, NULL, NULL, &a), 503);
	CHECK_STR(a.body, "{\"status\":\"draining\",\"replica\":\"ctl-a\"}");
	ctl_server_free(srv);
	/* a replica name that would break a header is refused */
	struct ctl_server_config cfg = { .state_dir = state_dir,
					 .store_url = store_url,
					 .replica_name = "a\r\nX-Evil: 1" };
	CHECK_INT(ctl_server_new(&cfg, &srv, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--replica-name 'a\r\nX-Evil: 1': use 1 to 63 letters, digits, '.', '-' "
		       "or '_'");
}

static int pg_cases(struct pg_cluster *c, void *ctx)
{
	char url[512], url2[512], dir[] = "/tmp/ctl-etag-XXXXXX", cmd[300];
	(void)ctx;
	CHECK_INT(pg_cluster_createdb(c, "store", url, sizeof(url)), 0);
	store_cases(url);
	race_cases(url);
	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(pg_cluster_createdb(c, "http", url2, sizeof(url2)), 0);
	http_cases(dir, url2, c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	fprintf(stderr, "PostgreSQL: ");
	return check_finish();
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (argc == 2 && strcmp(argv[1], "postgres") == 0)
		return pg_cluster_main(pg_cases, NULL);
	char dir[] = "/tmp/ctl-etag-XXXXXX", url[300], cmd[300];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(url, sizeof(url), "sqlite:%s/policy.db", dir);
	store_cases(url);
	http_cases(dir, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_finish();
}
