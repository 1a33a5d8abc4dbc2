/* Admin API changes as audit events: each request that changed something (its answer 2xx)
 * becomes admin.<what> by "admin token", from the client's address, with a detail naming
 * what changed (never a password or a key: a user's login, a key's prefix, a policy's size
 * and SHA-256).  One table from (method, path) to the event, so a new route is one line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "control/server/internal.h"

enum { DETAIL_MAX = 256 };

/* The member key of the request's JSON body for the detail: a string as is, anything else
 * as JSON text, "" when absent. */
static void body_member(const struct ctl__req *r, const char *key, char *out, size_t len)
{
	json_t *j = r->body && r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	json_t *v = json_object_get(j, key);
	char *text = v && !json_is_string(v) ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	snprintf(out, len, "%s", json_is_string(v) ? json_string_value(v) : text ? text : "");
	free(text);
	json_decref(j);
}

static void policy_detail(const struct ctl__req *r, char *out, size_t len)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof(h) + 1];
	crypto_hash_sha256(h, (const uint8_t *)(r->body ? r->body : ""), r->body ? r->len : 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, len, "%zu bytes, sha256 %.16s", r->body ? r->len : 0, hex);
}

void ctl__audit_admin(struct ctl__req *r, const char *method, const char *path,
		      const char *node_name, unsigned status)
{
	char detail[DETAIL_MAX] = "", a[CTL_LOGIN_MAX], b[CTL_TAGS_TEXT_MAX];
	const char *type = NULL, *slash = strchr(path, '/');
	const char *tail = slash ? strchr(slash + 1, '/') : NULL;
	bool post = !strcmp(method, "POST"), del = !strcmp(method, "DELETE");
	bool put = !strcmp(method, "PUT");
	struct ctl__node *sessions_node = NULL; /* a session's node, for the node filter */
	if (status < 200 || status > 299)
		return;
	if (!strcmp(path, "policy") && (post || put)) {
		type = "admin.policy.set";
		policy_detail(r, detail, sizeof(detail));
	} else if (!strcmp(path, "dns") && (put || del)) {
		type = "admin.dns.set";
		snprintf(detail, sizeof(detail), "%s", del ? "removed" : "set");
	} else if (!strcmp(path, "users") && post) {
		type = "admin.user.add";
		body_member(r, "login", detail, sizeof(detail));
	} else if (!strncmp(path, "users/", 6) && del) {
		type = "admin.user.remove";
		snprintf(detail, sizeof(detail), "%.200s", path + 6);
	} else if (!strcmp(path, "authkeys") && post) {
		type = "admin.key.add";
		body_member(r, "user", a, sizeof(a));
		body_member(r, "tags", b, sizeof(b));
		snprintf(detail, sizeof(detail), "for %.100s, tags %.120s", a, b[0] ? b : "[]");
	} else if (!strncmp(path, "authkeys/", 9) && del) {
		type = "admin.key.revoke";
		snprintf(detail, sizeof(detail), "prefix %.64s", path + 9);
	} else if (!strncmp(path, "nodes/", 6) && del && !tail) {
		type = "admin.node.remove";
	} else if (!strncmp(path, "nodes/", 6) && tail && !strcmp(tail, "/expire") && post) {
		type = "admin.node.expire";
	} else if (!strncmp(path, "nodes/", 6) && tail && !strcmp(tail, "/tags")) {
		type = "admin.node.tags";
		body_member(r, "tags", b, sizeof(b));
		snprintf(detail, sizeof(detail), "tags %.200s", b[0] ? b : "[]");
	} else if (!strcmp(path, "sessions/kill") && post) {
		type = "admin.session.kill";
		body_member(r, "id", a, sizeof(a));
		body_member(r, "node", b, sizeof(b));
		snprintf(detail, sizeof(detail), "session %.20s on %.64s", a, b);
		sessions_node = ctl__node_by_name(r->srv, b);
	}
	if (!type)
		return;
	if (!strncmp(path, "nodes/", 6) && !detail[0])
		snprintf(detail, sizeof(detail), "node %lld %s", strtoll(path + 6, NULL, 10),
			 node_name);
	/* the node itself (when it is still there) for the node filter */
	struct ctl__node *n = !strncmp(path, "nodes/", 6)
				  ? ctl__node_by_id(r->srv, strtoll(path + 6, NULL, 10))
				  : sessions_node;
	struct ctl__node gone = { 0 };
	if (!n && node_name[0]) {
		gone.rec.id = strtoll(path + 6, NULL, 10);
		snprintf(gone.rec.hostname, sizeof(gone.rec.hostname), "%s", node_name);
		n = &gone;
	}
	ctl__audit(r->srv, r->conn, type, n, "admin token", detail);
}
