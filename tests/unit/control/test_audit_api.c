/* The audit log's HTTP side through the fuzz harness's server (no socket; two prepared
 * nodes, "laptop" and "server"): every malformed node request refused with its exact
 * sentence and nothing stored; events stored with what control adds, redeliveries skipped,
 * a jump in seq noted as audit.gap; more than a minute's allowance refused with 429; every
 * bad query parameter of GET /api/v1/audit refused with its exact sentence; the filters and
 * "next"; admin changes and decisions on the web pages written with their actor and
 * source; and a verify of the result. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control/server/audit.h"
#include "tests/fuzz/control/srv_harness.h"

#define ADMIN "Authorization: Bearer " FZ_ADMIN_TOKEN

static const struct {
	const char *msg, *err;
} bad[] = {
	/* 1 */ { "{}", "audit: events: missing" },
	/* 2 */
	{ "{\"events\":[],\"x\":1}",
	  "audit: unknown member 'x' (expected \\\"queue\\\" and \\\"events\\\")" },
	/* 3 */ { "{\"events\":{}}", "audit: events: expected an array" },
	/* 4 */ { "{\"events\":[]}", "audit: events: 0 events, expected 1 to 256" },
	/* 5 */ { "{\"events\":[7]}", "audit: events[0]: expected an object" },
	/* 6 */
	{ "{\"events\":[{\"seq\":1,\"time\":1,\"type\":\"ssh.accept\",\"user\":\"x\"}]}",
	  "audit: events[0]: unknown member 'user'" },
	/* 7 */
	{ "{\"events\":[{\"time\":1,\"type\":\"ssh.accept\"}]}", "audit: events[0].seq: missing" },
	/* 8 */
	{ "{\"events\":[{\"seq\":0,\"time\":1,\"type\":\"ssh.accept\"}]}",
	  "audit: events[0].seq: expected a whole number >= 1" },
	/* 9 */
	{ "{\"events\":[{\"seq\":1,\"time\":-1,\"type\":\"ssh.accept\"}]}",
	  "audit: events[0].time: expected a whole number >= 0" },
	/* 10 */ { "{\"events\":[{\"seq\":1,\"time\":1}]}", "audit: events[0].type: missing" },
	/* 11 */
	{ "{\"events\":[{\"seq\":1,\"time\":1,\"type\":\"admin.policy.set\"}]}",
	  "audit: events[0].type: 'admin.policy.set' is not a node event type" },
	/* 12 */
	{ "{\"events\":[{\"seq\":1,\"time\":1,\"type\":\"ssh.accept\",\"who\":5}]}",
	  "audit: events[0].who: expected a string" },
	/* 13 */
	{ "{\"events\":[{\"seq\":1,\"time\":1,\"type\":\"ssh.accept\",\"detail\":\"a\\u001b[2J\"}]"
	  "}",
	  "audit: events[0].detail: a control character at byte 1" },
	/* 14 */
	{ "{\"events\":[{\"seq\":2,\"time\":1,\"type\":\"ssh.accept\"},{\"seq\":2,\"time\":1,"
	  "\"type\":\"ssh.refuse\"}]}",
	  "audit: events[1].seq: 2 is not above the one before (2)" },
	/* 15 */
	{ "{\"events\":[{\"seq\":1,\"time\":1,\"type\":\"ssh.accept\",\"rule\":\"\\u0085\"}]}",
	  "audit: events[0].rule: a control character at byte 0" },
	/* 16 */
	{ "{\"queue\":5,\"events\":[{\"seq\":1,\"time\":1,\"type\":\"ssh.accept\"}]}",
	  "audit: queue: expected a string" },
	/* 17: 31 digits, then 32 with one uppercase */
	{ "{\"queue\":\"0123456789abcdef0123456789abcde\",\"events\":[]}",
	  "audit: queue: expected 32 lowercase hex digits (the queue's id)" },
	{ "{\"queue\":\"0123456789abcdef0123456789abcdeF\",\"events\":[]}",
	  "audit: queue: expected 32 lowercase hex digits (the queue's id)" },
};

static const struct {
	const char *query, *err;
} bad_query[] = {
	/* 1 */ { "after=x", "after: expected a row id (a whole number >= 0), got 'x'" },
	/* 2 */ { "after=-1", "after: expected a row id (a whole number >= 0), got '-1'" },
	/* 3 */ { "limit=0", "limit: expected 1 to 1000, got '0'" },
	/* 4 */ { "limit=1001", "limit: expected 1 to 1000, got '1001'" },
	/* 5 */ { "wait=31", "wait: expected 0 to 30 seconds, got '31'" },
	/* 6 */ { "since=yesterday", "since: expected unix milliseconds, got 'yesterday'" },
	/* 7 */
	{ "type=SSH", "type: 'SSH' is not an event type (like ssh.refuse) or a prefix of one "
		      "(like ssh)" },
	/* 8 */
	{ "who=alice", "unknown parameter 'who' (known: after, since, until, user, node, type, "
		       "limit, wait)" },
};

static void node_send(struct ctl_server *srv, int node, const char *msg, unsigned status,
		      const char *want)
{
	struct fz_reply rep;
	fz_node(srv, node, "audit", msg, strlen(msg), &rep);
	CHECK_INT(rep.status, status);
	CHECK_STR(rep.body, want);
	free(rep.body);
}

static char *get(struct ctl_server *srv, const char *query, unsigned status)
{
	char head[1200];
	struct fz_reply rep;
	snprintf(head, sizeof(head), "GET /api/v1/audit?%s\n" ADMIN "\n", query);
	fz_http(srv, head, NULL, 0, &rep);
	CHECK_INT(rep.status, status);
	return rep.body;
}

/* The log's chain checks, with rows rows. */
static void verified(struct ctl_server *srv, int rows)
{
	char report[256] = "", err[256] = "", want[64];
	FILE *f = fmemopen(report, sizeof(report), "w");
	CHECK_INT(ctl_audit_verify(srv->store, NULL, f, err, sizeof(err)), 0);
	fclose(f);
	int n = snprintf(want, sizeof(want), "%d rows checked, head ", rows);
	CHECK(strncmp(report, want, (size_t)n) == 0);
}

static void events_of_nodes(void)
{
	struct ctl_server *srv = fz_srv_open();
	char events[16384], *body;
	node_send(
	    srv, 0,
	    "{\"events\":[{\"seq\":1,\"time\":10,\"type\":\"ssh.accept\",\"who\":"
	    "\"alice@example.com\",\"ssh_user\":\"root\",\"local_user\":\"root\",\"rule\":"
	    "\"ssh[0]\"},{\"seq\":2,\"time\":11,\"type\":\"ssh.refuse\",\"detail\":\"no rule\"}]}",
	    200, "{\"acked\":2}");
	/* 1 and 2 again (a redelivery), then 5: 3..4 missing */
	node_send(
	    srv, 0,
	    "{\"events\":[{\"seq\":1,\"time\":10,\"type\":\"ssh.accept\"},{\"seq\":2,\"time\":"
	    "11,\"type\":\"ssh.refuse\"},{\"seq\":5,\"time\":12,\"type\":\"audit.lost\","
	    "\"detail\":\"lost 2 events (seq 3..4)\"}]}",
	    200, "{\"acked\":5}");
	node_send(srv, 0, "{\"events\":[{\"seq\":4,\"time\":13,\"type\":\"ssh.revoke\"}]}", 200,
		  "{\"acked\":5}");
	/* the other node's seqs are its own */
	node_send(srv, 1, "{\"events\":[{\"seq\":1,\"time\":14,\"type\":\"ssh.forward\"}]}", 200,
		  "{\"acked\":1}");
	body = get(srv, "type=ssh&node=laptop", 200);
	/* fewer rows than the limit matched: next is the log's last row (5), where a
	 * --follow goes on, not the last match (2), which would read 3..5 again */
	CHECK(body && strstr(body, "\"next\":5}"));
	CHECK(body && strstr(body, "\"id\":1,\"seq\":1,\"time\":10,\"type\":\"ssh.accept\","
				   "\"conn\":\"\",\"session\":\"\",\"src\":\"\",\"src_node\":\"\","
				   "\"who\":\"alice@example.com\",\"ssh_user\":\"root\","
				   "\"local_user\":\"root\",\"rule\":\"ssh[0]\",\"detail\":\"\","
				   "\"received\":"));
	CHECK(body && strstr(body, "\"node\":\"laptop\",\"node_id\":1,\"actor\":\"\","
				   "\"source\":\"203.0.113.9\",\"hash\":\""));
	free(body);
	body = get(srv, "type=audit.gap", 200);
	CHECK(body && strstr(body, "\"detail\":\"seqs 3..4 missing\""));
	CHECK(body && strstr(body, "\"next\":5}"));
	free(body);
	body = get(srv, "after=3&limit=1", 200);
	CHECK(body && strstr(body, "\"id\":4,") && strstr(body, "\"next\":4}"));
	free(body);
	body = get(srv, "user=alice@example.com", 200);
	CHECK(body && strstr(body, "\"next\":5}"));
	free(body);
	body = get(srv, "node=server", 200);
	CHECK(body && strstr(body, "\"type\":\"ssh.forward\"") && strstr(body, "\"next\":5}"));
	free(body);
	body = get(srv, "after=5&wait=1", 200); /* nothing new: answered when the wait ends */
	CHECK_STR(body, "{\"events\":[],\"next\":5}");
	free(body);
	for (size_t i = 0; i < sizeof(bad_query) / sizeof(bad_query[0]); i++) {
		char want[300];
		body = get(srv, bad_query[i].query, 400);
		snprintf(want, sizeof(want), "{\"error\":\"%s\"}", bad_query[i].err);
		if (!body || strcmp(body, want))
			fprintf(stderr, "bad query %zu:\n", i + 1);
		CHECK_STR(body, want);
		free(body);
	}
	/* a minute's allowance: 1200 rows (1 sent above, and the gap notice for 2..9 as seqs
	 * start at 10: it counts too), then 429 (the node keeps them) */
	int64_t seq = 10;
	for (int round = 0; round < 6; round++) {
		size_t o = (size_t)snprintf(events, sizeof(events), "{\"events\":[");
		for (int i = 0; i < (round < 5 ? 200 : 198); i++)
			o += (size_t)snprintf(events + o, sizeof(events) - o,
					      "%s{\"seq\":%lld,\"time\":1,\"type\":\"ssh.accept\"}",
					      i ? "," : "", (long long)seq++);
		snprintf(events + o, sizeof(events) - o, "]}");
		char want[32];
		snprintf(want, sizeof(want), "{\"acked\":%lld}", (long long)seq - 1);
		node_send(srv, 1, events, 200, want);
	}
	node_send(srv, 1, "{\"events\":[{\"seq\":5000,\"time\":1,\"type\":\"ssh.accept\"}]}", 429,
		  "{\"error\":\"audit: more than 1200 events from this node in a minute; keep "
		  "them queued and send them later\"}");
	verified(srv, 1204);
	fz_srv_close(srv);
}

#define QA "\"queue\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
#define QB "\"queue\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\","

/* A node's queue that starts again at seq 1 under another id (its file removed): a new
 * sequence, after an audit.reset row; not redeliveries of the old one's seqs. */
static void queue_restart(void)
{
	struct ctl_server *srv = fz_srv_open();
	node_send(srv, 0,
		  "{" QA "\"events\":[{\"seq\":1,\"time\":1,\"type\":\"ssh.accept\"},{\"seq\":2,"
		  "\"time\":1,\"type\":\"ssh.accept\"},{\"seq\":3,\"time\":1,\"type\":"
		  "\"ssh.accept\"}]}",
		  200, "{\"acked\":3}");
	node_send(srv, 0, "{" QA "\"events\":[{\"seq\":2,\"time\":1,\"type\":\"ssh.accept\"}]}",
		  200, "{\"acked\":3}"); /* a redelivery */
	node_send(srv, 0,
		  "{" QB "\"events\":[{\"seq\":1,\"time\":2,\"type\":\"ssh.refuse\"},{\"seq\":2,"
		  "\"time\":2,\"type\":\"ssh.revoke\"}]}",
		  200, "{\"acked\":2}");
	node_send(srv, 0, "{" QB "\"events\":[{\"seq\":2,\"time\":2,\"type\":\"ssh.revoke\"}]}",
		  200, "{\"acked\":2}"); /* a redelivery of the new queue: no second reset */
	char *body = get(srv, "after=3", 200);
	CHECK(body && strstr(body, "\"id\":4,\"seq\":0,") &&
	      strstr(body, "\"type\":\"audit.reset\"") &&
	      strstr(body, "\"detail\":\"the node's audit queue restarted (queue "
			   "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb, previous reached seq 3)\""));
	CHECK(body &&
	      strstr(body, "\"id\":5,\"seq\":1,\"queue\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\","
			   "\"time\":2,\"type\":\"ssh.refuse\""));
	CHECK(body && strstr(body, "\"id\":6,\"seq\":2,") && !strstr(body, "\"id\":7,"));
	CHECK(body && !strstr(body, "audit.gap"));
	free(body);
	/* back to the first queue (a whole state directory restored): its seqs are its own */
	node_send(srv, 0, "{" QA "\"events\":[{\"seq\":4,\"time\":3,\"type\":\"ssh.accept\"}]}",
		  200, "{\"acked\":4}");
	body = get(srv, "after=6", 200);
	CHECK(body && strstr(body, "previous reached seq 2)") &&
	      strstr(body, "\"id\":8,\"seq\":4,"));
	free(body);
	verified(srv, 8);
	fz_srv_close(srv);
}

static void admin_changes(void)
{
	struct ctl_server *srv = fz_srv_open();
	struct fz_reply rep;
	static const char user[] = "{\"login\":\"carol@example.com\",\"password\":\"s3cret-pw\"}";
	fz_http(srv, "POST /api/v1/users\n" ADMIN "\n", user, strlen(user), &rep);
	CHECK_INT(rep.status, 201);
	free(rep.body);
	static const char key[] = "{\"user\":\"alice@example.com\",\"reusable\":true}";
	fz_http(srv, "POST /api/v1/authkeys\n" ADMIN "\n", key, strlen(key), &rep);
	CHECK_INT(rep.status, 201);
	CHECK(rep.body && !strstr(rep.body, "error"));
	free(rep.body);
	fz_http(srv, "POST /api/v1/nodes/2/expire\n" ADMIN "\n", NULL, 0, &rep);
	CHECK_INT(rep.status, 200);
	free(rep.body);
	fz_http(srv, "DELETE /api/v1/users/nobody@example.com\n" ADMIN "\n", NULL, 0, &rep);
	CHECK_INT(rep.status, 404); /* refused: no event */
	free(rep.body);
	char *body = get(srv, "type=admin", 200);
	CHECK(body && strstr(body, "\"type\":\"admin.user.add\""));
	CHECK(body && strstr(body, "\"detail\":\"carol@example.com\""));
	CHECK(body && strstr(body, "\"actor\":\"admin token\",\"source\":\"203.0.113.9\""));
	CHECK(body && strstr(body, "\"type\":\"admin.key.add\""));
	CHECK(body && strstr(body, "\"detail\":\"for alice@example.com, tags []\""));
	CHECK(body && strstr(body, "\"type\":\"admin.node.expire\""));
	CHECK(body && strstr(body, "\"detail\":\"node 2 server\""));
	CHECK(body && !strstr(body, "s3cret-pw"));
	CHECK(body && !strstr(body, "admin.user.remove"));
	CHECK(body && strstr(body, "\"next\":3}"));
	free(body);
	body = get(srv, "user=admin token", 200);
	CHECK(body && strstr(body, "\"next\":3}"));
	free(body);
	fz_srv_close(srv);
}

/* Decisions on the web pages, as alice (the harness's session): a new device approved, a
 * check-mode login rejected. */
static void web_decisions(void)
{
	struct ctl_server *srv = fz_srv_open();
	struct fz_reply rep;
	static const char approve[] = "csrf=" FZ_CSRF "&action=approve";
	static const char reject[] = "csrf=" FZ_CSRF "&action=reject";
	fz_http(srv, "POST /register/" FZ_LOGIN_TOKEN "\nCookie: mesh_session=" FZ_SESSION "\n",
		approve, strlen(approve), &rep);
	CHECK_INT(rep.status, 200);
	free(rep.body);
	fz_http(srv, "POST /check/" FZ_HOLD_ID "\nCookie: mesh_session=" FZ_SESSION "\n", reject,
		strlen(reject), &rep);
	CHECK_INT(rep.status, 200);
	free(rep.body);
	char *body = get(srv, "after=0", 200);
	CHECK(body && strstr(body, "\"id\":1,\"seq\":0,") &&
	      strstr(body, "\"type\":\"node.register\""));
	CHECK(body && strstr(body, "\"detail\":\"login approved on the web\",\"received\":"));
	CHECK(body && strstr(body, "\"type\":\"admin.login.approve\""));
	CHECK(body && strstr(body, "\"detail\":\"newbox\",\"received\":"));
	CHECK(body && strstr(body, "\"type\":\"check.reject\""));
	CHECK(body && strstr(body, "\"detail\":\"laptop -> server as root\",\"received\":"));
	CHECK(body && strstr(body, "\"node\":\"server\",\"node_id\":2,\"actor\":"
				   "\"alice@example.com\",\"source\":\"203.0.113.9\""));
	CHECK(body && strstr(body, "\"next\":3}"));
	free(body);
	fz_srv_close(srv);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ctl_server *srv = fz_srv_open();
		char want[512];
		snprintf(want, sizeof(want), "{\"error\":\"%s\"}", bad[i].err);
		struct fz_reply rep;
		fz_node(srv, 0, "audit", bad[i].msg, strlen(bad[i].msg), &rep);
		if (rep.status != 400 || !rep.body || strcmp(rep.body, want))
			fprintf(stderr, "bad %zu:\n", i + 1);
		CHECK_INT(rep.status, 400);
		CHECK_STR(rep.body, want);
		free(rep.body);
		int64_t id = -1;
		uint8_t h[CTL_AUDIT_HASH_LEN];
		CHECK_INT(srv->store->ops->audit_head(srv->store, &id, h), 0);
		CHECK_INT(id, 0); /* nothing stored */
		fz_srv_close(srv);
	}
	events_of_nodes();
	queue_restart();
	admin_changes();
	web_decisions();
	return check_finish();
}
