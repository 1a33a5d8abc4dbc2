/* Live sessions tailnet-wide through the fuzz harness's server (no socket; two prepared
 * nodes, "laptop" and "server"): a node's list refused with its exact sentence (nothing kept)
 * or replacing the one held; each node posts only its own (the envelope's machine key says
 * whose); GET /api/v1/sessions with its filters and bad parameters; a kill refused for an
 * unknown node or session and an offline node, queued otherwise (202), sent once in the
 * node's next map message as "kill_sessions" and written to the audit log as
 * admin.session.kill; a kill stays queued until a message carrying it was queued; a node
 * removed takes its list with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tests/fuzz/control/srv_harness.h"

#define ADMIN "Authorization: Bearer " FZ_ADMIN_TOKEN

#define ONE(id, who, cmd)                                                                   \
	"{\"id\":\"" id "\",\"since\":1765000000,\"conn\":42,\"pty\":true,\"src_node\":"    \
	"\"laptop\",\"src_addr\":\"100.64.0.1\",\"who\":\"" who "\",\"ssh_user\":\"root\"," \
	"\"local_user\":\"root\",\"command\":\"" cmd "\",\"recorder\":\"\"}"

static void post(struct ctl_server *srv, int node, const char *msg, unsigned status,
		 const char *want)
{
	struct fz_reply rep;
	fz_node(srv, node, "sessions", msg, strlen(msg), &rep);
	CHECK_INT(rep.status, status);
	CHECK_STR(rep.body, want);
	free(rep.body);
}

static char *admin(struct ctl_server *srv, const char *method, const char *path, const char *body,
		   unsigned status)
{
	char head[600];
	struct fz_reply rep;
	snprintf(head, sizeof(head), "%s /api/v1/%s\n" ADMIN "\n", method, path);
	fz_http(srv, head, body, body ? strlen(body) : 0, &rep);
	if (rep.status != status)
		fprintf(stderr, "%s %s: %u %s\n", method, path, rep.status,
			rep.body ? rep.body : "");
	CHECK_INT(rep.status, status);
	return rep.body;
}

static void admin_is(struct ctl_server *srv, const char *method, const char *path, const char *body,
		     unsigned status, const char *want)
{
	char *got = admin(srv, method, path, body, status);
	if (want)
		CHECK_STR(got, want);
	free(got);
}

/* node's map message: since 0 asks for a full one */
/* when control last wrote NODE's list (admin GET sessions' "reported"; 0: none) */
static long long reported_of(struct ctl_server *srv, const char *node)
{
	char path[64];
	snprintf(path, sizeof(path), "sessions?node=%s", node);
	char *body = admin(srv, "GET", path, NULL, 200);
	const char *at = body ? strstr(body, "\"reported\":") : NULL;
	long long v = at ? strtoll(at + strlen("\"reported\":"), NULL, 10) : 0;
	free(body);
	return v;
}

static char *map(struct ctl_server *srv, int node, long long since)
{
	char msg[64];
	struct fz_reply rep;
	snprintf(msg, sizeof(msg), "{\"since\":%lld}", since);
	fz_node(srv, node, "map", msg, strlen(msg), &rep);
	CHECK_INT(rep.status, 200);
	return rep.body;
}

static long long version_of(const char *map)
{
	const char *v = map ? strstr(map, "\"version\":") : NULL;
	return v ? strtoll(v + 10, NULL, 10) : 0;
}

int main(void)
{
	struct ctl_server *srv = fz_srv_open();
	char *body;
	/* bad lists: the sentence, and nothing kept */
	post(srv, 0, "{\"sessions\":{}}", 400,
	     "{\"error\":\"sessions: \\\"sessions\\\" must be an array\"}");
	post(srv, 0, "{\"sessions\":[" ONE("s1", "a", "") "," ONE("s1", "b", "") "]}", 400,
	     "{\"error\":\"sessions: session ID 's1' is in the list twice\"}");
	post(srv, 0, "{\"sessions\":[{\"id\":\"s1\",\"since\":1,\"conn\":1,\"cgroup\":\"/x\"}]}",
	     400, "{\"error\":\"sessions: sessions[0]: unknown member 'cgroup'\"}");
	admin_is(srv, "GET", "sessions", NULL, 200, "{\"sessions\":[]}");
	/* a node whose key expired is out of the tailnet: its list is not taken */
	struct ctl__node *laptop = ctl__node_by_id(srv, 1);
	int64_t expiry = laptop->rec.key_expiry;
	laptop->rec.key_expiry = 1;
	post(srv, 0, "{\"sessions\":[]}", 403, "{\"error\":\"sessions: the node's key expired\"}");
	laptop->rec.key_expiry = expiry;
	/* laptop's list, then server's: each its own */
	post(srv, 0,
	     "{\"sessions\":[" ONE("s1", "alice@example.com", "") "," ONE("s2", "tag:ci",
									  "make test") "]}",
	     200, "{\"stored\":2}");
	post(srv, 1, "{\"sessions\":[" ONE("s1", "bob@example.com", "") "]}", 200,
	     "{\"stored\":1}");
	body = admin(srv, "GET", "sessions", NULL, 200);
	CHECK(body &&
	      strstr(body, "\"id\":\"s1\",\"since\":1765000000,\"conn\":42,\"pty\":true,"
			   "\"src_node\":\"laptop\",\"src_addr\":\"100.64.0.1\",\"who\":"
			   "\"alice@example.com\",\"ssh_user\":\"root\",\"local_user\":"
			   "\"root\",\"command\":\"\",\"recorder\":\"\",\"node\":\"laptop\","
			   "\"node_id\":1,\"stale\":true,\"reported\":"));
	CHECK(body && strstr(body, "\"who\":\"bob@example.com\"") &&
	      strstr(body, "\"node\":\"server\",\"node_id\":2"));
	free(body);
	body = admin(srv, "GET", "sessions?node=laptop&user=tag:ci", NULL, 200);
	CHECK(body && strstr(body, "\"command\":\"make test\"") && !strstr(body, "alice") &&
	      !strstr(body, "bob"));
	free(body);
	admin_is(srv, "GET", "sessions?node=nowhere", NULL, 200, "{\"sessions\":[]}");
	admin_is(srv, "GET", "sessions?who=x", NULL, 400,
		 "{\"error\":\"unknown parameter 'who' (known: node, user)\"}");
	/* kills refused */
	admin_is(srv, "POST", "sessions/kill", "{\"node\":\"laptop\"}", 400,
		 "{\"error\":\"expected {\\\"node\\\": NAME, \\\"id\\\": \\\"s7\\\"} (a session "
		 "of GET /api/v1/sessions)\"}");
	admin_is(srv, "POST", "sessions/kill", "{\"node\":\"laptop\",\"id\":\"7\"}", 400,
		 "{\"error\":\"id: not a session ID (they look like s7)\"}");
	admin_is(srv, "POST", "sessions/kill", "{\"node\":\"nowhere\",\"id\":\"s1\"}", 404,
		 "{\"error\":\"no node 'nowhere'\"}");
	admin_is(srv, "POST", "sessions/kill", "{\"node\":\"laptop\",\"id\":\"s9\"}", 404,
		 "{\"error\":\"no session 's9' on laptop (as it last reported its sessions)\"}");
	admin_is(srv, "POST", "sessions/kill", "{\"node\":\"laptop\",\"id\":\"s2\"}", 409,
		 "{\"error\":\"laptop is offline: it cannot be told now (its list is stale)\"}");
	/* online (its map stream answered): queued, and sent once */
	body = map(srv, 0, 0);
	long long v = version_of(body);
	CHECK(body && !strstr(body, "kill_sessions"));
	free(body);
	admin_is(srv, "POST", "sessions/kill", "{\"node\":\"laptop\",\"id\":\"s2\"}", 202,
		 "{\"queued\":true,\"message\":\"sent to the node with its next map message; it "
		 "ends the session as `meshctl sessions kill` there does\"}");
	body = map(srv, 1, 0); /* the other node is not told */
	CHECK(body && !strstr(body, "kill_sessions"));
	free(body);
	body = map(srv, 0, v);
	CHECK(body && strstr(body, "\"type\":\"delta\"") &&
	      strstr(body, ",\"kill_sessions\":[{\"id\":\"s2\",\"since\":1765000000}]}"));
	free(body);
	body = map(srv, 0, v);
	CHECK(body && !strstr(body, "kill_sessions"));
	free(body);
	/* in a full map too; a kill for a session gone from the next list is dropped.  "1" is
	 * node 1 (laptop) even with the server calling itself "1" (a name chosen by a node) */
	struct ctl__node *server = ctl__node_by_id(srv, 2);
	char name[sizeof(server->rec.hostname)];
	snprintf(name, sizeof(name), "%s", server->rec.hostname);
	snprintf(server->rec.hostname, sizeof(server->rec.hostname), "1");
	admin_is(srv, "POST", "sessions/kill", "{\"node\":\"1\",\"id\":\"s1\"}", 202, NULL);
	snprintf(server->rec.hostname, sizeof(server->rec.hostname), "%s", name);
	body = map(srv, 0, 0);
	CHECK(body && strstr(body, "\"type\":\"full\"") &&
	      strstr(body, "},\"kill_sessions\":[{\"id\":\"s1\",\"since\":1765000000}]}"));
	free(body);
	/* a message that could not be queued (its connection went) leaves its kill for the
	 * next (refused twice: the harness runs a handler that queued nothing once more) */
	admin_is(srv, "POST", "sessions/kill", "{\"node\":\"laptop\",\"id\":\"s2\"}", 202, NULL);
	struct fz_reply lost;
	fz_queue_refuse = 2;
	fz_node(srv, 0, "map", "{\"since\":0}", 11, &lost);
	CHECK_INT(lost.status, 0);
	CHECK_INT(fz_queue_refuse, 0);
	free(lost.body);
	body = map(srv, 0, 0);
	CHECK(body && strstr(body, ",\"kill_sessions\":[{\"id\":\"s2\",\"since\":1765000000}]}"));
	free(body);
	body = map(srv, 0, 0);
	CHECK(body && !strstr(body, "kill_sessions"));
	free(body);
	admin_is(srv, "POST", "sessions/kill", "{\"node\":\"laptop\",\"id\":\"s1\"}", 202, NULL);
	post(srv, 0, "{\"sessions\":[" ONE("s2", "tag:ci", "make test") "]}", 200,
	     "{\"stored\":1}");
	body = map(srv, 0, 0);
	CHECK(body && !strstr(body, "kill_sessions"));
	free(body);
	/* ... and one for a session of that ID that started at another time (meshd restarted) */
	admin_is(srv, "POST", "sessions/kill", "{\"node\":\"laptop\",\"id\":\"s2\"}", 202, NULL);
	post(srv, 0,
	     "{\"sessions\":[{\"id\":\"s2\",\"since\":1765000999,\"conn\":1,\"who\":\"x\"}]}", 200,
	     "{\"stored\":1}");
	body = map(srv, 0, 0);
	CHECK(body && !strstr(body, "kill_sessions"));
	free(body);
	body = admin(srv, "GET", "audit?type=admin.session.kill", NULL, 200);
	CHECK(body && strstr(body, "\"detail\":\"session s2 on laptop\"") &&
	      strstr(body, "\"node\":\"laptop\",\"node_id\":1,\"actor\":\"admin token\""));
	free(body);
	/* removed with the node */
	free(admin(srv, "DELETE", "nodes/1", NULL, 200));
	body = admin(srv, "GET", "sessions", NULL, 200);
	CHECK(body && !strstr(body, "\"node\":\"laptop\"") && strstr(body, "bob@example.com"));
	free(body);
	/* the same list again within a minute is not written again (review-66 #3: up to 2 MiB
	 * under the lock each time): its "reported" stays; another list is written */
	long long r0 = reported_of(srv, "server");
	usleep(5000);
	post(srv, 1, "{\"sessions\":[" ONE("s1", "bob@example.com", "") "]}", 200,
	     "{\"stored\":1}");
	CHECK(r0 > 0 && reported_of(srv, "server") == r0);
	usleep(5000);
	post(srv, 1, "{\"sessions\":[" ONE("s3", "bob@example.com", "") "]}", 200,
	     "{\"stored\":1}");
	CHECK(reported_of(srv, "server") > r0);
	/* a node sending lists too fast (meshd: when they change, at most one a second) */
	for (int i = 0; i < 60; i++) {
		struct fz_reply rep;
		fz_node(srv, 1, "sessions", "{\"sessions\":[]}", 15, &rep);
		if (rep.status != 200)
			CHECK_STR(rep.body, "{\"error\":\"sessions: more than 60 lists a minute "
					    "(meshd sends one when its sessions change, at most "
					    "one a second)\"}");
		free(rep.body);
	}
	post(srv, 1, "{\"sessions\":[]}", 429,
	     "{\"error\":\"sessions: more than 60 lists a minute (meshd sends one when its "
	     "sessions change, at most one a second)\"}");
	fz_srv_close(srv);
	return check_finish();
}
