/* The admin API under /api/v1/ (bearer token checked by http.c): users, auth keys, nodes
 * the policy and the DNS settings (dns.c).  Bodies are JSON objects (the policy is its own HuJSON
 * text); a bad field is refused with 400 and a message naming it, and a change reaches the maps
 * before the answer is sent.  The policy carries an ETag, its version in the store: a PUT
 * with If-Match is refused with 412 when anyone (through any replica) set it since; one
 * without If-Match replaces whatever is there, as before ETags. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "common/log.h"
#include "common/now.h"
#include "common/strv.h"
#include "control/server/ident.h"
#include "control/server/polglue.h"
#include "control/server/internal.h"
#include "control/server/tags.h"

static enum MHD_Result bad(struct ctl__req *r, const char *msg)
{
	return ctl__reply_error(r->conn, MHD_HTTP_BAD_REQUEST, "%s", msg);
}

static json_t *body_object(struct ctl__req *r, char *err, size_t errlen)
{
	json_error_t jerr;
	if (!r->body || !r->len) {
		snprintf(err, errlen, "request body is empty (expected a JSON object)");
		return NULL;
	}
	json_t *j = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		snprintf(err, errlen, "request JSON, line %d column %d: %s", jerr.line, jerr.column,
			 jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(err, errlen, "request body must be a JSON object");
		return NULL;
	}
	return j;
}

static int user_json(void *ctx, const struct ctl_user *u)
{
	json_array_append_new(ctx, json_pack("{s:I, s:s, s:I}", "id", (json_int_t)u->id, "login",
					     u->login, "created", (json_int_t)u->created));
	return 0;
}

static int authkey_json(void *ctx, const struct ctl_authkey *k)
{
	char tags[CTL_TAGS_TEXT_MAX]; /* shown as "tag:a,tag:b", as before schema 5 */
	ctl_tags_join((const char *const *)k->tags, k->n_tags, tags, sizeof(tags));
	json_array_append_new(ctx, json_pack("{s:s, s:I, s:b, s:b, s:b, s:s, s:I, s:I, s:I}",
					     "prefix", k->prefix, "user_id", (json_int_t)k->user_id,
					     "reusable", k->reusable, "ephemeral", k->ephemeral,
					     "revoked", k->revoked, "tags", tags, "expires",
					     (json_int_t)k->expires, "created",
					     (json_int_t)k->created, "uses", (json_int_t)k->uses));
	return 0;
}

struct id_list {
	int64_t *ids;
	size_t n;
};

static int collect_node(void *ctx, const struct ctl_node_rec *n)
{
	struct id_list *l = ctx;
	int64_t *ids = realloc(l->ids, (l->n + 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	l->ids = ids;
	l->ids[l->n++] = n->id;
	return 0;
}

static enum MHD_Result users(struct ctl__req *r, const char *method, const char *rest)
{
	struct ctl_server *srv = r->srv;
	char err[256];
	if (!*rest && strcmp(method, "GET") == 0) {
		json_t *a = json_array();
		srv->store->ops->user_list(srv->store, user_json, a);
		return ctl__reply_json(r->conn, MHD_HTTP_OK, json_pack("{s:o}", "users", a));
	}
	if (!*rest && strcmp(method, "POST") == 0) {
		json_t *j = body_object(r, err, sizeof(err));
		if (!j)
			return bad(r, err);
		const char *login = json_string_value(json_object_get(j, "login"));
		const char *pw = json_string_value(json_object_get(j, "password"));
		const char *why = NULL;
		int64_t id;
		enum MHD_Result res;
		if (!login)
			res = bad(r, "login: missing (a string like alice@example.com)");
		else if (!pw)
			res = bad(r, "password: missing");
		else {
			int rc = ctl_user_create(srv->store, login, pw, &id, &why);
			if (rc == -EEXIST)
				res = ctl__reply_error(r->conn, MHD_HTTP_CONFLICT, "%s", why);
			else if (rc == -EINVAL)
				res = bad(r, why);
			else if (rc)
				res = ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
						       "cannot add the user: %s", strerror(-rc));
			else
				res = ctl__reply_json(
				    r->conn, MHD_HTTP_CREATED,
				    json_pack("{s:I, s:s}", "id", (json_int_t)id, "login", login));
		}
		json_decref(j);
		return res;
	}
	if (*rest == '/' && strcmp(method, "DELETE") == 0) {
		struct id_list l = { 0 };
		int rc = srv->store->ops->user_remove(srv->store, rest + 1, collect_node, &l);
		if (rc == -ENOENT) {
			free(l.ids);
			return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no user '%s'",
						rest + 1);
		}
		if (!rc)
			rc = ctl__nodes_remove(srv, l.ids, l.n);
		free(l.ids);
		if (rc)
			return ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
						"cannot remove the user: %s", strerror(-rc));
		return ctl__reply_json(r->conn, MHD_HTTP_OK, json_pack("{s:b}", "removed", 1));
	}
	return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no such admin endpoint");
}

static enum MHD_Result authkeys(struct ctl__req *r, const char *method, const char *rest)
{
	struct ctl_server *srv = r->srv;
	char err[256];
	if (!*rest && strcmp(method, "GET") == 0) {
		json_t *a = json_array();
		srv->store->ops->authkey_list(srv->store, authkey_json, a);
		return ctl__reply_json(r->conn, MHD_HTTP_OK, json_pack("{s:o}", "authkeys", a));
	}
	if (*rest == '/' && strcmp(method, "DELETE") == 0) {
		int rc = srv->store->ops->authkey_revoke(srv->store, rest + 1);
		if (rc == -ENOENT)
			return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND,
						"no auth key with prefix '%s'", rest + 1);
		if (rc)
			return ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
						strerror(-rc));
		return ctl__reply_json(r->conn, MHD_HTTP_OK, json_pack("{s:b}", "revoked", 1));
	}
	if (*rest || strcmp(method, "POST") != 0)
		return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no such admin endpoint");
	json_t *j = body_object(r, err, sizeof(err));
	if (!j)
		return bad(r, err);
	enum MHD_Result res;
	const char *login = json_string_value(json_object_get(j, "user"));
	json_t *tags = json_object_get(j, "tags"), *expiry = json_object_get(j, "expiry");
	json_t *reusable = json_object_get(j, "reusable"), *eph = json_object_get(j, "ephemeral");
	char **tagv = NULL;
	size_t nt = 0;
	struct ctl_user u;
	if (!login) {
		res = bad(r, "user: missing (the login that owns the key)");
		goto out;
	}
	if ((reusable && !json_is_boolean(reusable)) || (eph && !json_is_boolean(eph))) {
		res = bad(r, "reusable and ephemeral must be true or false");
		goto out;
	}
	if (expiry && (!json_is_integer(expiry) || json_integer_value(expiry) <= 0 ||
		       json_integer_value(expiry) > CTL_AUTHKEY_EXPIRY_MAX)) {
		/* bounded: now + expiry must not overflow, and a key for ever is "never" */
		snprintf(err, sizeof(err), "expiry: expected 1 to %d seconds (10 years)",
			 CTL_AUTHKEY_EXPIRY_MAX);
		res = bad(r, err);
		goto out;
	}
	if (tags && ctl_tags_from_json(tags, &tagv, &nt, err, sizeof(err)) != 0) {
		res = bad(r, err);
		goto out;
	}
	if (srv->store->ops->user_get(srv->store, login, &u, NULL, 0) != 0) {
		snprintf(err, sizeof(err), "user: no user '%s'", login);
		res = bad(r, err);
		goto out;
	}
	if (ctl_authkey_check_tags(srv->policy_text, login, (const char *const *)tagv, nt, err,
				   sizeof(err)) != 0) {
		res = ctl__reply_error(r->conn, MHD_HTTP_FORBIDDEN, "%s", err);
		goto out;
	}
	char key[CTL_AUTHKEY_TEXT_SIZE];
	struct ctl_authkey k;
	int64_t exp = ctl__now_s() + (expiry ? json_integer_value(expiry) : 90 * 86400);
	int rc = ctl_authkey_create(srv->store, u.id, json_is_true(reusable), json_is_true(eph),
				    (const char *const *)tagv, nt, exp, key, &k);
	ctl_authkey_clear(&k);
	if (rc) {
		res = ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "cannot create the key: %s", strerror(-rc));
		goto out;
	}
	res = ctl__reply_json(r->conn, MHD_HTTP_CREATED,
			      json_pack("{s:s, s:s, s:I}", "key", key, "prefix", k.prefix,
					"expires", (json_int_t)exp));
out:
	strv_free(tagv, nt);
	json_decref(j);
	return res;
}

static enum MHD_Result nodes(struct ctl__req *r, const char *method, const char *rest)
{
	struct ctl_server *srv = r->srv;
	char err[256];
	if (!*rest && strcmp(method, "GET") == 0) {
		json_t *a = json_array();
		for (size_t i = 0; i < srv->n_nodes; i++) {
			json_t *n = json_loads(srv->nodes[i]->peer_json, 0, NULL);
			if (n)
				json_array_append_new(a, n);
		}
		return ctl__reply_json(r->conn, MHD_HTTP_OK, json_pack("{s:o}", "nodes", a));
	}
	char *end;
	long long id = *rest == '/' ? strtoll(rest + 1, &end, 10) : 0;
	if (id <= 0)
		return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no such admin endpoint");
	struct ctl__node *n = ctl__node_by_id(srv, id);
	if (!n)
		return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no node %lld", id);
	if (!*end && strcmp(method, "DELETE") == 0) {
		int rc = ctl__node_remove(srv, id);
		if (rc)
			return ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
						strerror(-rc));
		log_info("meshcontrol", "node %lld removed by the admin API", id);
		return ctl__reply_json(r->conn, MHD_HTTP_OK, json_pack("{s:b}", "removed", 1));
	}
	if (strcmp(end, "/expire") == 0 && strcmp(method, "POST") == 0) {
		int rc = ctl__node_expire(srv, n, err, sizeof(err));
		if (rc)
			return ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
						strerror(-rc));
		return ctl__reply_json(r->conn, MHD_HTTP_OK, json_pack("{s:b}", "expired", 1));
	}
	return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no such admin endpoint");
}

/* The policy's ETag is its version in the store (store.h's policy_set_if): "N". */
static void etag_set(struct ctl__req *r, int64_t version)
{
	snprintf(r->etag, sizeof(r->etag), "\"%lld\"", (long long)version);
}

/* GET reads the store, not this replica's copy: another replica may have set a newer one,
 * and the ETag must name the text it comes with. */
static enum MHD_Result policy_get(struct ctl__req *r)
{
	struct ctl_store *st = r->srv->store;
	char *text = NULL;
	int64_t version;
	int rc = st->ops->policy_current(st, &text, &version);
	if (rc)
		return ctl__reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					"cannot read the policy from the store: %s", strerror(-rc));
	etag_set(r, version);
	json_t *j = json_pack("{s:s?, s:s}", "policy", text, "etag", r->etag);
	free(text);
	return ctl__reply_json(r->conn, MHD_HTTP_OK, j);
}

/* The version a PUT's If-Match names into *expect (left CTL_POLICY_ANY without the header,
 * or for "*"); false with the refusal in err for anything but one "N" we could have given. */
static bool if_match(struct ctl__req *r, int64_t *expect, char *err, size_t errlen)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-Match");
	if (!h || strcmp(h, "*") == 0)
		return true;
	char *end = NULL;
	size_t len = strlen(h);
	errno = 0;
	long long v =
	    len > 2 && h[0] == '"' && h[1] >= '0' && h[1] <= '9' ? strtoll(h + 1, &end, 10) : -1;
	if (v < 0 || errno || end != h + len - 1 || *end != '"') {
		snprintf(err, errlen,
			 "If-Match: '%.64s' is not a policy ETag (a number in double quotes, as "
			 "GET /api/v1/policy gives it)",
			 h);
		return false;
	}
	*expect = v;
	return true;
}

static enum MHD_Result policy(struct ctl__req *r, const char *method, const char *rest)
{
	struct ctl_server *srv = r->srv;
	char err[600] = "";
	if (!*rest && strcmp(method, "GET") == 0)
		return policy_get(r);
	bool check = strcmp(rest, "/check") == 0;
	if ((!check && *rest) || (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0))
		return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no such admin endpoint");
	if (!r->body || !r->len)
		return bad(r, "request body is empty (expected the policy file)");
	if (strlen(r->body) != r->len)
		return bad(r, "policy contains a NUL byte");
	int64_t expect = CTL_POLICY_ANY, version;
	if (!check && !if_match(r, &expect, err, sizeof(err)))
		return bad(r, err);
	/* Checking compiles once; setting compiles once, in place (a refused policy changes
	 * nothing), then stores; a store failure puts the previous policy back. */
	uint64_t t0 = now_mono_ms();
	int rc = check ? ctl__policy_check(srv, r->body, err, sizeof(err))
		       : polglue_apply(srv, r->body, true, err, sizeof(err));
	uint64_t t1 = now_mono_ms();
	if (rc == -EINVAL || rc == -ENOTSUP)
		return ctl__reply_error(r->conn, MHD_HTTP_BAD_REQUEST, "policy: %s", err);
	if (rc)
		return ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
	if (check)
		return ctl__reply_json(r->conn, MHD_HTTP_OK, json_pack("{s:b}", "valid", 1));
	char *text = strdup(r->body);
	rc = text ? srv->store->ops->policy_set_if(srv->store, r->body, expect, &version) : -ENOMEM;
	if (rc) {
		free(text);
		ctl__map_rebuild(srv, err, sizeof(err));
		if (rc == -ESTALE)
			return ctl__reply_error(r->conn, MHD_HTTP_PRECONDITION_FAILED,
						"the policy changed since you read it (yours "
						"\"%lld\", now \"%lld\"): get it again and redo "
						"your edit",
						(long long)expect, (long long)version);
		return ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
					"cannot store the policy: %s", strerror(-rc));
	}
	etag_set(r, version);
	uint64_t t2 = now_mono_ms();
	free(srv->policy_text);
	srv->policy_text = text;
	srv->dirty = false; /* polglue_apply rebuilt every node */
	ctl__map_published(srv);
	log_info("meshcontrol",
		 "policy updated (%zu bytes, %zu nodes): compiled in %llu ms (policy engine %llu "
		 "ms), stored in %llu ms, %llu ms to wake the streams; map version %llu",
		 r->len, srv->n_nodes, (unsigned long long)(t1 - t0),
		 (unsigned long long)srv->engine_ms, (unsigned long long)(t2 - t1),
		 (unsigned long long)(now_mono_ms() - t2), (unsigned long long)srv->map_version);
	return ctl__reply_json(r->conn, MHD_HTTP_OK,
			       json_pack("{s:b, s:I, s:s}", "updated", 1, "version",
					 (json_int_t)srv->map_version, "etag", r->etag));
}

enum MHD_Result ctl__admin_api(struct ctl__req *r, const char *method, const char *path)
{
	static const struct {
		const char *name;
		enum MHD_Result (*fn)(struct ctl__req *, const char *, const char *);
	} table[] = {
		{ "users", users },
		{ "authkeys", authkeys },
		{ "nodes", nodes },
		{ "policy", policy },
		{ "dns", ctl__admin_dns },
		{ "audit", ctl__admin_audit },
		{ "sessions", ctl__admin_sessions },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		size_t len = strlen(table[i].name);
		if (strncmp(path, table[i].name, len) != 0 ||
		    (path[len] != '\0' && path[len] != '/'))
			continue;
		/* a change is written to the audit log once its answer says it was made (the
		 * node's name is taken first: removing it forgets it) */
		char name[CTL_HOSTNAME_MAX] = "";
		struct ctl__node *n = strncmp(path, "nodes/", 6) == 0
					  ? ctl__node_by_id(r->srv, strtoll(path + 6, NULL, 10))
					  : NULL;
		if (n)
			snprintf(name, sizeof(name), "%s", n->rec.hostname);
		ctl__last_status = 0;
		enum MHD_Result res = table[i].fn(r, method, path + len);
		if (strcmp(method, "GET") != 0)
			ctl__audit_admin(r, method, path, name, ctl__last_status);
		return res;
	}
	return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no admin endpoint '/api/v1/%s'",
				path);
}
