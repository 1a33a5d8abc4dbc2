/* Live SSH sessions tailnet-wide (issue #18): each node's list as it last reported it (node
 * API "sessions", control/netmap/sessions.h), the admin's view of them (GET
 * /api/v1/sessions?node=&user=) and the admin's kill (POST /api/v1/sessions/kill
 * {"node", "id"}), queued for that node and sent in its next map message as
 * "kill_sessions".  Lists live in this replica's memory with the node (gone with it, never
 * stored): a node sends its list again whenever its map stream answers, so a restarted
 * control has them back within a second.  A node whose stream is down keeps its last list,
 * shown as stale: its sessions may well go on.  Everything runs under srv->lock.  With
 * replicas (a shared store) the admin's list and kill answer 501: not shared yet. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/now.h"
#include "control/netmap/netmap_json.h"
#include "control/netmap/sessions.h"
#include "control/server/internal.h"

void ctl__sessions_forget(struct ctl__node *n)
{
	free(n->sessions);
	n->sessions = NULL;
	n->n_sessions = 0;
	n->n_kills = 0;
}

enum MHD_Result ctl__api_sessions(struct ctl__req *r, struct ctl__node *n)
{
	struct ctl_session *v;
	size_t count;
	char err[512];
	/* a node whose key expired is out of the tailnet until it logs in again */
	if (ctl__node_expired(n, ctl__now_s()))
		return ctl__sealed_error(r, MHD_HTTP_FORBIDDEN, "sessions: the node's key expired");
	/* a list costs its parse under the lock: a node may not send them in a loop */
	uint64_t now = now_mono_ms();
	if (!n->sessions_window_ms || now - n->sessions_window_ms >= 60000) {
		n->sessions_window_ms = now;
		n->sessions_posts = 0;
	}
	if (++n->sessions_posts > SRV_SESSIONS_PER_MIN)
		return ctl__sealed_error(
		    r, MHD_HTTP_TOO_MANY_REQUESTS,
		    "sessions: more than %d lists a minute (meshd sends at most "
		    "one a second)",
		    SRV_SESSIONS_PER_MIN);
	int rc = ctl__sessions_from_json(r->msg, &v, &count, err, sizeof(err));
	if (rc == -ENOMEM)
		return ctl__sealed_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	if (rc)
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "sessions: %s", err);
	free(n->sessions);
	n->sessions = v;
	n->n_sessions = count;
	n->sessions_ms = (int64_t)ctl__wall_ms();
	/* a kill for a session no longer listed has nothing left to end */
	size_t k = 0;
	for (size_t i = 0; i < n->n_kills; i++)
		for (size_t j = 0; j < count; j++)
			if (!strcmp(n->kills[i].id, v[j].id) && n->kills[i].since == v[j].since) {
				n->kills[k++] = n->kills[i];
				break;
			}
	n->n_kills = k;
	return ctl__reply_sealed_json(r, MHD_HTTP_OK,
				      json_pack("{s:I}", "stored", (json_int_t)count));
}

char *ctl__kills_take(struct ctl__node *n)
{
	if (!n->n_kills)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; a && i < n->n_kills; i++)
		if (json_array_append_new(a, json_pack("{s:s, s:I}", "id", n->kills[i].id, "since",
						       (json_int_t)n->kills[i].since))) {
			json_decref(a);
			return NULL;
		}
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	if (s)
		n->n_kills = 0;
	return s;
}

struct ctl__node *ctl__node_by_name(struct ctl_server *srv, const char *name)
{
	char *end;
	long long id = strtoll(name, &end, 10);
	struct ctl__node *n = *name && !*end ? ctl__node_by_id(srv, id) : NULL;
	if (n) /* an id first: a node named "12" does not stand for node 12 */
		return n;
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (!strcmp(srv->nodes[i]->rec.hostname, name))
			return srv->nodes[i];
	return NULL;
}

struct filter {
	char node[CTL_HOSTNAME_MAX], user[CTL_SESSION_TEXT_MAX], why[160];
};

static enum MHD_Result query_arg(void *ctx, enum MHD_ValueKind kind, const char *key, const char *v)
{
	struct filter *f = ctx;
	(void)kind;
	char *dst = !strcmp(key, "node") ? f->node : !strcmp(key, "user") ? f->user : NULL;
	size_t size = dst == f->node ? sizeof(f->node) : sizeof(f->user);
	if (!dst) {
		snprintf(f->why, sizeof(f->why), "unknown parameter '%.40s' (known: node, user)",
			 key);
		return MHD_NO;
	}
	if (!v || strlen(v) >= size) {
		snprintf(f->why, sizeof(f->why), "%s: expected a value of at most %zu bytes", key,
			 size - 1);
		return MHD_NO;
	}
	memcpy(dst, v, strlen(v) + 1);
	return MHD_YES;
}

static enum MHD_Result list_sessions(struct ctl__req *r)
{
	struct ctl_server *srv = r->srv;
	struct filter f = { 0 };
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_arg, &f);
	if (f.why[0])
		return ctl__reply_error(r->conn, MHD_HTTP_BAD_REQUEST, "%s", f.why);
	json_t *a = json_array();
	for (size_t i = 0; a && i < srv->n_nodes; i++) {
		const struct ctl__node *n = srv->nodes[i];
		if (f.node[0] && strcmp(n->rec.hostname, f.node) != 0)
			continue;
		for (size_t j = 0; j < n->n_sessions; j++) {
			const struct ctl_session *s = &n->sessions[j];
			if (f.user[0] && strcmp(s->who, f.user) != 0)
				continue;
			json_t *o = ctl__session_json(s);
			if (!o || json_object_set_new(o, "node", json_string(n->rec.hostname)) ||
			    json_object_set_new(o, "node_id", json_integer(n->rec.id)) ||
			    json_object_set_new(o, "stale", json_boolean(!n->online)) ||
			    json_object_set_new(o, "reported", json_integer(n->sessions_ms)) ||
			    json_array_append_new(a, o)) {
				json_decref(a);
				return MHD_NO;
			}
		}
	}
	return a ? ctl__reply_json(r->conn, MHD_HTTP_OK, json_pack("{s:o}", "sessions", a))
		 : MHD_NO;
}

static enum MHD_Result kill_one(struct ctl__req *r)
{
	struct ctl_server *srv = r->srv;
	json_error_t jerr;
	json_t *j = r->body && r->len ? json_loadb(r->body, r->len, 0, &jerr) : NULL;
	const char *name = json_string_value(json_object_get(j, "node"));
	const char *id = json_string_value(json_object_get(j, "id"));
	enum MHD_Result res;
	struct ctl__node *n = name ? ctl__node_by_name(srv, name) : NULL;
	const struct ctl_session *s = NULL;
	for (size_t i = 0; n && id && i < n->n_sessions && !s; i++)
		if (!strcmp(n->sessions[i].id, id))
			s = &n->sessions[i];
	if (!json_is_object(j) || !name || !id || json_object_size(j) != 2)
		res = ctl__reply_error(r->conn, MHD_HTTP_BAD_REQUEST,
				       "expected {\"node\": NAME, \"id\": \"s7\"} (a session of "
				       "GET /api/v1/sessions)");
	else if (!ctl_session_id_valid(id))
		res = ctl__reply_error(r->conn, MHD_HTTP_BAD_REQUEST,
				       "id: not a session ID (they look like s7)");
	else if (!n)
		res = ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no node '%.64s'", name);
	else if (!s)
		res = ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND,
				       "no session '%s' on %s (as it last reported its sessions)",
				       id, n->rec.hostname);
	else if (!n->online)
		/* the ID may be another session's by the time it is back (a restarted meshd) */
		res = ctl__reply_error(r->conn, MHD_HTTP_CONFLICT,
				       "%s is offline: it cannot be told now (its list is stale)",
				       n->rec.hostname);
	else if (n->n_kills >= CTL_SESSIONS_KILL_MAX)
		res = ctl__reply_error(r->conn, MHD_HTTP_TOO_MANY_REQUESTS,
				       "%d kills already wait for %s; try again in a moment",
				       CTL_SESSIONS_KILL_MAX, n->rec.hostname);
	else {
		bool queued = false;
		for (size_t i = 0; i < n->n_kills && !queued; i++)
			queued = !strcmp(n->kills[i].id, id);
		if (!queued) {
			struct ctl_session_kill *k = &n->kills[n->n_kills++];
			memcpy(k->id, id, strlen(id) + 1);
			k->since = s->since;
		}
		log_info("meshcontrol", "admin: session %s on %s (%s as %s from %s) to be ended",
			 id, n->rec.hostname, s->who, s->local_user, s->src_node);
		ctl__wake(srv, SRV_WAIT_MAP, NULL);
		res = ctl__reply_json(
		    r->conn, MHD_HTTP_ACCEPTED,
		    json_pack("{s:b, s:s}", "queued", 1, "message",
			      "sent to the node with its next map message; it ends the session "
			      "as `meshctl sessions kill` there does"));
	}
	json_decref(j);
	return res;
}

enum MHD_Result ctl__admin_sessions(struct ctl__req *r, const char *method, const char *rest)
{
	/* Lists and kills live in the memory of the replica a node's requests reach: behind a
	 * balancer its list may sit on another one, and a kill queued here would never reach a
	 * node streaming from another: refused rather than answered with half the truth. */
	if (r->srv->shared && (!*rest || !strcmp(rest, "/kill")))
		return ctl__reply_error(
		    r->conn, MHD_HTTP_NOT_IMPLEMENTED,
		    "live sessions through control are not shared by replicas "
		    "yet: ask the node (meshctl sessions, meshctl sessions kill "
		    "ID on it)");
	if (!*rest && !strcmp(method, "GET"))
		return list_sessions(r);
	if (!strcmp(rest, "/kill") && !strcmp(method, "POST"))
		return kill_one(r);
	return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no such admin endpoint");
}
