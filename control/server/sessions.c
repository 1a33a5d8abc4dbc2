/* Live SSH sessions tailnet-wide (issue #18): each node's list as it last reported it (node
 * API "sessions", control/netmap/sessions.h), the admin's view of them (GET
 * /api/v1/sessions?node=&user=) and the admin's kill (POST /api/v1/sessions/kill
 * {"node", "id"}), queued for that node and sent in its next map message as
 * "kill_sessions".  Both live in the store (store.h's ssh_* ops), so that with replicas the
 * admin's list is every node's whichever replica its lists reach, and a kill made through one
 * replica reaches the node streaming from another: the store's triggers say "kill:NODE_ID"
 * and every replica reads the kills waiting again into its copy (n->kills; replica.c).  A
 * kill leaves the store once the map message carrying it was queued (ctl__kills_sent), not
 * when it was put in one: a message that could not be sent leaves it for the next.  A list
 * is stored as the validated sessions written out again, and read back with the same strict
 * parser (anyone who can write to the database could put text there).  A node sends its
 * list again whenever its map stream answers; one whose stream is down keeps its last list,
 * shown as stale: its sessions may well go on.  Everything runs under srv->lock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/log.h"
#include "common/now.h"
#include "control/netmap/netmap_json.h"
#include "control/netmap/sessions.h"
#include "control/server/internal.h"

void ctl__sessions_forget(struct ctl__node *n)
{
	n->n_kills = 0;
	n->kills_taken = 0;
}

/* ---- the copy of the kills waiting, per node ---- */

struct kill_vec {
	int64_t *node;
	struct ctl_session_kill *v;
	size_t n, cap;
};

static int collect_kill(void *ctx, int64_t node_id, const struct ctl_session_kill *k)
{
	struct kill_vec *kv = ctx;
	if (kv->n == kv->cap) {
		size_t cap = kv->cap ? 2 * kv->cap : 16;
		int64_t *node = realloc(kv->node, cap * sizeof(*node));
		if (node)
			kv->node = node;
		struct ctl_session_kill *v = node ? realloc(kv->v, cap * sizeof(*v)) : NULL;
		if (!v)
			return -ENOMEM;
		kv->v = v;
		kv->cap = cap;
	}
	kv->node[kv->n] = node_id;
	kv->v[kv->n++] = *k;
	return 0;
}

/* n's copy set to v[0..count) (the store's order; at most CTL_SESSIONS_KILL_MAX kept, the
 * store's cap); true when it now holds one it did not. */
static bool kills_set(struct ctl__node *n, const struct ctl_session_kill *v, size_t count)
{
	bool news = false;
	if (count > CTL_SESSIONS_KILL_MAX)
		count = CTL_SESSIONS_KILL_MAX;
	for (size_t i = 0; i < count && !news; i++) {
		bool had = false;
		for (size_t j = 0; j < n->n_kills && !had; j++)
			had = !strcmp(n->kills[j].id, v[i].id) && n->kills[j].since == v[i].since;
		news = !had;
	}
	if (count)
		memcpy(n->kills, v, count * sizeof(*v));
	n->n_kills = count;
	return news;
}

/* A map poll of node_id is held here. */
static bool poll_held(struct ctl_server *srv, int64_t node_id)
{
	const struct ctl__req *head = &srv->waiting[SRV_WAIT_MAP];
	for (const struct ctl__req *r = head->next; r != head; r = r->next)
		if (r->node_id == node_id)
			return true;
	return false;
}

/* Reads the kills waiting for node_id (0: every node) into the nodes' copies; wakes the map
 * polls when a node whose poll is held here got one. */
static int kills_load(struct ctl_server *srv, int64_t node_id)
{
	struct kill_vec kv = { 0 };
	int rc = srv->store->ops->ssh_kills_list(srv->store, node_id, collect_kill, &kv);
	struct ctl__node *one = node_id ? ctl__node_by_id(srv, node_id) : NULL;
	struct ctl__node **nodes = node_id ? &one : srv->nodes;
	size_t count = node_id ? (one ? 1 : 0) : srv->n_nodes;
	bool wake = false;
	size_t j = 0;
	/* both in ascending node id: every node's copy set in one pass */
	for (size_t i = 0; !rc && i < count; i++) {
		struct ctl__node *n = nodes[i];
		while (j < kv.n && kv.node[j] < n->rec.id) /* kills of a node not known here */
			j++;
		size_t from = j;
		while (j < kv.n && kv.node[j] == n->rec.id)
			j++;
		if (kills_set(n, kv.v + from, j - from) && poll_held(srv, n->rec.id))
			wake = true;
	}
	free(kv.node);
	free(kv.v);
	if (wake)
		ctl__wake(srv, SRV_WAIT_MAP, NULL);
	return rc;
}

int ctl__kills_reload(struct ctl_server *srv)
{
	return kills_load(srv, 0);
}

/* ---- the node API ---- */

enum MHD_Result ctl__api_sessions(struct ctl__req *r, struct ctl__node *n)
{
	struct ctl_server *srv = r->srv;
	struct ctl_session *v;
	size_t count;
	char err[512];
	/* a node whose key expired is out of the tailnet until it logs in again */
	if (ctl__node_expired(n, ctl__now_s()))
		return ctl__sealed_error(r, MHD_HTTP_FORBIDDEN, "sessions: the node's key expired");
	/* a list costs its parse and a write under the lock (up to 2 MiB): a node may not send
	 * them in a loop, and the same list again is not written again for a minute (review-66
	 * #3; meshd sends one when its sessions change, at most one a second) */
	uint64_t now = now_mono_ms();
	if (!n->sessions_window_ms || now - n->sessions_window_ms >= 60000) {
		n->sessions_window_ms = now;
		n->sessions_posts = 0;
	}
	if (++n->sessions_posts > SRV_SESSIONS_PER_MIN)
		return ctl__sealed_error(
		    r, MHD_HTTP_TOO_MANY_REQUESTS,
		    "sessions: more than %d lists a minute (meshd sends one when its "
		    "sessions change, at most one a second)",
		    SRV_SESSIONS_PER_MIN);
	int rc = ctl__sessions_from_json(r->msg, &v, &count, err, sizeof(err));
	if (rc == -ENOMEM)
		return ctl__sealed_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	if (rc)
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "sessions: %s", err);
	char *list = ctl_sessions_format(v, count);
	free(v);
	if (!list)
		return ctl__sealed_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	/* Not with replicas: the node may have stored another list through one of them since. */
	uint8_t hash[sizeof(n->sessions_hash)];
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)list, strlen(list), NULL, 0);
	if (!srv->shared && n->sessions_stored_ms &&
	    now - n->sessions_stored_ms < SRV_SESSIONS_SAME_MS &&
	    memcmp(hash, n->sessions_hash, sizeof(hash)) == 0) {
		free(list);
		return ctl__reply_sealed_json(r, MHD_HTTP_OK,
					      json_pack("{s:I}", "stored", (json_int_t)count));
	}
	n->sessions_stored_ms = 0;
	rc =
	    srv->store->ops->ssh_sessions_put(srv->store, n->rec.id, list, (int64_t)ctl__wall_ms());
	free(list);
	if (!rc) {
		memcpy(n->sessions_hash, hash, sizeof(hash));
		n->sessions_stored_ms = now ? now : 1;
	}
	/* the store dropped the kills of sessions no longer listed */
	if (!rc)
		rc = kills_load(srv, n->rec.id);
	if (rc) {
		log_err("meshcontrol", "node %lld: cannot store its live sessions: %s",
			(long long)n->rec.id, strerror(-rc));
		return ctl__sealed_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
					 "sessions: control cannot store the list now (%s)",
					 strerror(-rc));
	}
	return ctl__reply_sealed_json(r, MHD_HTTP_OK,
				      json_pack("{s:I}", "stored", (json_int_t)count));
}

/* ---- the map's kill_sessions ---- */

char *ctl__kills_take(struct ctl__node *n)
{
	n->kills_taken = 0;
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
		n->kills_taken = n->n_kills;
	return s;
}

size_t ctl__kills_taken(struct ctl__node *n, struct ctl_session_kill *out)
{
	size_t k = n->kills_taken;
	if (k)
		memcpy(out, n->kills, k * sizeof(*out));
	n->kills_taken = 0;
	return k;
}

void ctl__kills_sent(struct ctl_server *srv, int64_t node_id, const struct ctl_session_kill *v,
		     size_t count)
{
	if (!count)
		return;
	/* kept in the store when it cannot delete them: sent again, the node ends nothing more
	 * (a kill names the session's start as well) */
	int rc = srv->store->ops->ssh_kills_delete(srv->store, node_id, v, count);
	if (rc)
		log_warn("meshcontrol", "node %lld: cannot remove %zu session kill(s) sent: %s",
			 (long long)node_id, count, strerror(-rc));
	struct ctl__node *n = ctl__node_by_id(srv, node_id);
	size_t k = 0;
	for (size_t i = 0; n && i < n->n_kills; i++) {
		bool sent = false;
		for (size_t j = 0; j < count && !sent; j++)
			sent = !strcmp(n->kills[i].id, v[j].id) && n->kills[i].since == v[j].since;
		if (!sent)
			n->kills[k++] = n->kills[i];
	}
	if (n)
		n->n_kills = k;
}

struct ctl__node *ctl__node_by_name(struct ctl_server *srv, const char *name)
{
	char *end;
	long long id = strtoll(name, &end, 10);
	struct ctl__node *n = *name && !*end ? ctl__node_by_id(srv, id) : NULL;
	if (n) /* an id first: a node named "12" does not stand for node 12 */
		return n;
	return ctl__node_by_hostname(srv, name);
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

/* A node's stored list parsed again (strictly: the database is not trusted more than the
 * node); 0 with *v (malloc'd) and *count, or an error logged. */
static int list_parse(int64_t node_id, const char *list, struct ctl_session **v, size_t *count)
{
	char err[256];
	int rc = ctl_sessions_parse(list, strlen(list), v, count, err, sizeof(err));
	if (rc)
		log_warn("meshcontrol", "node %lld: its stored session list is skipped: %s",
			 (long long)node_id, err);
	return rc;
}

struct listing {
	struct ctl_server *srv;
	const struct filter *f;
	json_t *a;
};

static int list_node(void *ctx, int64_t node_id, const char *list, int64_t reported_ms)
{
	struct listing *l = ctx;
	const struct ctl__node *n = ctl__node_by_id(l->srv, node_id);
	struct ctl_session *v;
	size_t count;
	/* not known here (yet): its lists follow it into the maps */
	if (!n || (l->f->node[0] && strcmp(n->rec.hostname, l->f->node) != 0))
		return 0;
	int rc = list_parse(node_id, list, &v, &count);
	if (rc)
		return rc == -ENOMEM ? rc : 0;
	for (size_t j = 0; !rc && j < count; j++) {
		const struct ctl_session *s = &v[j];
		if (l->f->user[0] && strcmp(s->who, l->f->user) != 0)
			continue;
		json_t *o = ctl__session_json(s);
		if (!o || json_object_set_new(o, "node", json_string(n->rec.hostname)) ||
		    json_object_set_new(o, "node_id", json_integer(n->rec.id)) ||
		    json_object_set_new(o, "stale", json_boolean(!n->online)) ||
		    json_object_set_new(o, "reported", json_integer(reported_ms)) ||
		    json_array_append_new(l->a, o))
			rc = -ENOMEM;
	}
	free(v);
	return rc;
}

static enum MHD_Result list_sessions(struct ctl__req *r)
{
	struct ctl_server *srv = r->srv;
	struct filter f = { 0 };
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_arg, &f);
	if (f.why[0])
		return ctl__reply_error(r->conn, MHD_HTTP_BAD_REQUEST, "%s", f.why);
	struct listing l = { .srv = srv, .f = &f, .a = json_array() };
	int rc = l.a ? srv->store->ops->ssh_sessions_list(srv->store, 0, list_node, &l) : -ENOMEM;
	if (rc) {
		json_decref(l.a);
		if (rc == -ENOMEM)
			return MHD_NO;
		log_err("meshcontrol", "admin: cannot read the live sessions: %s", strerror(-rc));
		return ctl__reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					"cannot read the live sessions from the store: %s",
					strerror(-rc));
	}
	return ctl__reply_json(r->conn, MHD_HTTP_OK, json_pack("{s:o}", "sessions", l.a));
}

/* What a kill looks for: session id in its node's stored list (s.id "" while not found). */
struct finding {
	const char *id;
	struct ctl_session s;
};

static int find_session(void *ctx, int64_t node_id, const char *list, int64_t reported_ms)
{
	struct finding *f = ctx;
	struct ctl_session *v;
	size_t count;
	(void)reported_ms;
	int rc = list_parse(node_id, list, &v, &count);
	if (rc)
		return rc == -ENOMEM ? rc : 0;
	for (size_t i = 0; i < count; i++)
		if (!strcmp(v[i].id, f->id))
			f->s = v[i];
	free(v);
	return 0;
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
	struct finding f = { .id = id };
	int rc = 0;
	if (n && id && ctl_session_id_valid(id))
		rc = srv->store->ops->ssh_sessions_list(srv->store, n->rec.id, find_session, &f);
	const struct ctl_session *s = f.s.id[0] ? &f.s : NULL;
	if (!json_is_object(j) || !name || !id || json_object_size(j) != 2)
		res = ctl__reply_error(r->conn, MHD_HTTP_BAD_REQUEST,
				       "expected {\"node\": NAME, \"id\": \"s7\"} (a session of "
				       "GET /api/v1/sessions)");
	else if (!ctl_session_id_valid(id))
		res = ctl__reply_error(r->conn, MHD_HTTP_BAD_REQUEST,
				       "id: not a session ID (they look like s7)");
	else if (!n)
		res = ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no node '%.64s'", name);
	else if (rc)
		res = ctl__reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				       "cannot read %s's sessions from the store: %s",
				       n->rec.hostname, strerror(-rc));
	else if (!s)
		res = ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND,
				       "no session '%s' on %s (as it last reported its sessions)",
				       id, n->rec.hostname);
	else if (!n->online)
		/* the ID may be another session's by the time it is back (a restarted meshd) */
		res = ctl__reply_error(r->conn, MHD_HTTP_CONFLICT,
				       "%s is offline: it cannot be told now (its list is stale)",
				       n->rec.hostname);
	else {
		struct ctl_session_kill k = { .since = s->since };
		memcpy(k.id, id, strlen(id) + 1);
		rc = srv->store->ops->ssh_kill_put(srv->store, n->rec.id, &k, ctl__now_s(),
						   CTL_SESSIONS_KILL_MAX);
		if (!rc) /* its copy here: sent by this replica when the node streams from it */
			rc = kills_load(srv, n->rec.id);
		if (rc == -ENOSPC)
			res =
			    ctl__reply_error(r->conn, MHD_HTTP_TOO_MANY_REQUESTS,
					     "%d kills already wait for %s; try again in a moment",
					     CTL_SESSIONS_KILL_MAX, n->rec.hostname);
		else if (rc == -ENOENT) /* its list went meanwhile (the node removed) */
			res = ctl__reply_error(
			    r->conn, MHD_HTTP_NOT_FOUND,
			    "no session '%s' on %s (as it last reported its sessions)", id,
			    n->rec.hostname);
		else if (rc)
			res = ctl__reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					       "cannot queue the kill in the store: %s",
					       strerror(-rc));
		else {
			log_info("meshcontrol",
				 "admin: session %s on %s (%s as %s from %s) to be ended", id,
				 n->rec.hostname, s->who, s->local_user, s->src_node);
			res = ctl__reply_json(
			    r->conn, MHD_HTTP_ACCEPTED,
			    json_pack("{s:b, s:s}", "queued", 1, "message",
				      "sent to the node with its next map message; it ends the "
				      "session as `meshctl sessions kill` there does"));
		}
	}
	json_decref(j);
	return res;
}

enum MHD_Result ctl__admin_sessions(struct ctl__req *r, const char *method, const char *rest)
{
	if (!*rest && !strcmp(method, "GET"))
		return list_sessions(r);
	if (!strcmp(rest, "/kill") && !strcmp(method, "POST"))
		return kill_one(r);
	return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no such admin endpoint");
}
