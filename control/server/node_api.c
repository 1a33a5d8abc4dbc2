/* The node API's envelope: a request is opened and authenticated with the sender's machine
 * key (with a replay check: this replica's cache, then the store's for replicas), dispatched
 * to register, map, hold, logout, audit or sessions, and answered sealed to that key. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "control/server/internal.h"

/* ---- replies ---- */

/* Always a handler's last step: sealing (up to a full netmap) and queueing run without the
 * server lock, so the workers answering a wave of map polls encrypt in parallel.  Only
 * per-request data and the immutable server key are used. */
enum MHD_Result ctl__reply_sealed(struct ctl__req *r, unsigned status, const char *json, size_t len)
{
	uint8_t *body;
	size_t blen;
	pthread_mutex_unlock(&r->srv->lock);
	enum MHD_Result rc = MHD_NO;
	if (ctl_wire_seal_response(r->machine_key, r->srv->server_priv, r->nonce, json, len, &body,
				   &blen) == 0)
		rc = ctl__reply(r->conn, status, "application/octet-stream", (char *)body, blen);
	pthread_mutex_lock(&r->srv->lock);
	return rc;
}

enum MHD_Result ctl__reply_sealed_json(struct ctl__req *r, unsigned status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return MHD_NO;
	enum MHD_Result rc = ctl__reply_sealed(r, status, s, strlen(s));
	free(s);
	return rc;
}

enum MHD_Result ctl__sealed_error(struct ctl__req *r, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ctl__reply_sealed_json(r, status, json_pack("{s:s}", "error", msg));
}

/* ---- the envelope ---- */

/* Decode and authenticate a request body: 0, or an HTTP status with *why; *authed says
 * whether the sender was authenticated (so an error can be sealed to it). */
int ctl__node_decode(const uint8_t server_priv[static 32], struct ctl_replay *replay,
		     const uint8_t *body, size_t len, uint8_t machine_key[static 32],
		     uint8_t nonce[static CTL_WIRE_NONCE_LEN], json_t **msg, bool *authed,
		     const char **why)
{
	static _Thread_local char buf[256];
	char *plain;
	size_t plen;
	uint64_t ts;
	const uint8_t *mpub;
	*msg = NULL;
	*authed = false;
	if (!ctl_wire_peek_request(body, len, &mpub, why))
		return MHD_HTTP_BAD_REQUEST;
	if (!ctl_wire_open_request(server_priv, body, len, machine_key, nonce, &ts, &plain, &plen,
				   why))
		return MHD_HTTP_UNAUTHORIZED;
	if (replay && !ctl_replay_check(replay, nonce, ts, ctl__wall_ms(), why)) {
		free(plain);
		return MHD_HTTP_UNAUTHORIZED;
	}
	*authed = true;
	json_error_t jerr;
	*msg = json_loadb(plain, plen, JSON_REJECT_DUPLICATES, &jerr);
	free(plain);
	if (!*msg || !json_is_object(*msg)) {
		if (*msg)
			snprintf(buf, sizeof(buf), "request JSON must be an object");
		else
			snprintf(buf, sizeof(buf), "request JSON, line %d column %d: %s", jerr.line,
				 jerr.column, jerr.text);
		json_decref(*msg);
		*msg = NULL;
		*why = buf;
		return MHD_HTTP_BAD_REQUEST;
	}
	return 0;
}

/* Replicas sharing the store share the replay cache: the nonce of a request this replica's
 * own cache let through is inserted into the store, where another replica's insert of it
 * (the same sealed request sent there first) makes it a replay.  Kept for twice the skew:
 * past that, the request's timestamp alone refuses it.  With one replica (SQLite) the cache
 * in memory sees every request, and the store is not asked. */
static int nonce_shared(struct ctl__req *r, const char **why)
{
	struct ctl_store *s = r->srv->store;
	int rc = s->ops->nonce_add(s, r->nonce, ctl__now_s() + 2 * CTL_WIRE_MAX_SKEW_MS / 1000);
	if (rc == -EEXIST) {
		*why = "request nonce was already used (replay)";
		return MHD_HTTP_UNAUTHORIZED;
	}
	if (rc) {
		log_err("meshcontrol", "cannot store a request's nonce: %s", strerror(-rc));
		*why = "the request cannot be checked for a replay now; try again";
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	return 0;
}

enum MHD_Result ctl__node_api(struct ctl__req *r, const char *path)
{
	struct ctl_server *srv = r->srv;
	if (!r->msg) {
		const char *why = NULL;
		bool authed;
		int status =
		    ctl__node_decode(srv->server_priv, srv->replay, (const uint8_t *)r->body,
				     r->len, r->machine_key, r->nonce, &r->msg, &authed, &why);
		ctl__body_release(r); /* a held request keeps only what it decoded */
		if (status && authed)
			return ctl__sealed_error(r, (unsigned)status, "%s", why);
		if (status)
			return ctl__reply_error(r->conn, (unsigned)status, "%s", why);
		/* Only a registered node's requests (and registrations) cost the store a write:
		 * anyone can make a machine key and seal a request with it. */
		if (strcmp(path, "register") != 0 && !ctl__node_by_machine(srv, r->machine_key))
			return ctl__reply_error(r->conn, MHD_HTTP_UNAUTHORIZED,
						"machine key is not registered");
		/* a replay is answered as this replica's cache answers one: not sealed */
		if (srv->shared && (status = nonce_shared(r, &why)) == MHD_HTTP_UNAUTHORIZED)
			return ctl__reply_error(r->conn, (unsigned)status, "%s", why);
		if (status)
			return ctl__sealed_error(r, (unsigned)status, "%s", why);
	}
	if (strcmp(path, "register") == 0)
		return ctl__api_register(r);
	static const struct {
		const char *path;
		enum MHD_Result (*handle)(struct ctl__req *r, struct ctl__node *n);
	} as_node[] = {
		{ "map", ctl__api_map },	   { "hold", ctl__api_hold },
		{ "logout", ctl__api_logout },	   { "audit", ctl__api_audit },
		{ "sessions", ctl__api_sessions },
	};
	for (size_t i = 0; i < sizeof(as_node) / sizeof(as_node[0]); i++) {
		if (strcmp(path, as_node[i].path) != 0)
			continue;
		/* the rest are a registered node's (looked up again when a held one resumes) */
		struct ctl__node *n = ctl__node_by_machine(srv, r->machine_key);
		if (!n)
			return ctl__reply_error(r->conn, MHD_HTTP_UNAUTHORIZED,
						"machine key is not registered");
		return as_node[i].handle(r, n);
	}
	return ctl__sealed_error(r, MHD_HTTP_NOT_FOUND, "unknown node API '%s'", path);
}
