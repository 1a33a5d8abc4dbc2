/* The web pages' sessions, kept in the store so that every replica knows them (issue #21): a
 * person signed in through replica A is signed in on B, where the balancer may send the next
 * request, and a logout through B ends the session on A.
 *
 * The cookie carries 32 random bytes as hex; the store keeps only their SHA-256 (whoever
 * reads the database, or a backup of it, cannot take a session over), the user, the CSRF
 * token its forms carry, and the expiry.  Every request with the cookie reads its row, so a
 * session ended or a user removed (the rows go with the user) is refused at once by every
 * replica.  Sessions are capped per user and in all, the oldest dropped: only a person who
 * authenticated makes one.
 *
 * The login form's CSRF key is derived from the server key (BLAKE2b keyed with it over a
 * label of its own): replicas share the server key through the store, so a form served by
 * one is accepted by another, with no second secret to store, and the form survives a
 * restart. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "common/log.h"
#include "control/server/internal.h"

enum { SESSION_TTL_S = 3600, SWEEP_S = 10 };

void ctl__csrf_key_derive(struct ctl_server *srv)
{
	static const char label[] = "mesh web csrf key v1";
	crypto_generichash(srv->csrf_key, sizeof(srv->csrf_key), (const uint8_t *)label,
			   sizeof(label) - 1, srv->server_priv, sizeof(srv->server_priv));
}

/* The session id's hash, as the store keys it. */
static void id_hash(const char id[static 65], uint8_t out[static 32])
{
	crypto_hash_sha256(out, (const uint8_t *)id, 64);
}

void ctl__session_ref(const struct ctl__session *s, char out[static 65])
{
	sodium_bin2hex(out, 65, s->id_hash, sizeof(s->id_hash));
}

struct ctl__session *ctl__session_of(struct ctl__req *r)
{
	struct ctl__session *s = &r->session;
	struct ctl_web_session ws;
	const char *id = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "mesh_session");
	if (!id || strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64)
		return NULL;
	memset(s, 0, sizeof(*s));
	memcpy(s->id, id, 65);
	id_hash(s->id, s->id_hash);
	int rc = r->srv->store->ops->session_get(r->srv->store, s->id_hash, ctl__now_s(), &ws);
	if (rc) {
		if (rc != -ENOENT)
			log_err("meshcontrol", "cannot read a web session: %s", strerror(-rc));
		sodium_memzero(s->id, sizeof(s->id));
		return NULL;
	}
	memcpy(s->csrf, ws.csrf, sizeof(s->csrf));
	s->user_id = ws.user_id;
	memcpy(s->login, ws.login, sizeof(s->login));
	s->expires = ws.expires;
	return s;
}

struct ctl__session *ctl__session_new(struct ctl__req *r, const struct ctl_user *u)
{
	struct ctl__session *s = &r->session;
	struct ctl_web_session ws = { .user_id = u->id, .created = ctl__now_s() };
	memset(s, 0, sizeof(*s));
	ctl__random_hex(s->id, 32);
	ctl__random_hex(s->csrf, 16);
	id_hash(s->id, s->id_hash);
	memcpy(ws.id_hash, s->id_hash, sizeof(ws.id_hash));
	memcpy(ws.csrf, s->csrf, sizeof(ws.csrf));
	ws.expires = ws.created + SESSION_TTL_S;
	int rc = r->srv->store->ops->session_put(r->srv->store, &ws, SRV_SESSIONS_PER_USER,
						 SRV_SESSIONS_MAX);
	if (rc) {
		log_err("meshcontrol", "cannot store a web session for '%s': %s", u->login,
			strerror(-rc));
		sodium_memzero(s->id, sizeof(s->id));
		return NULL;
	}
	s->user_id = u->id;
	snprintf(s->login, sizeof(s->login), "%s", u->login);
	s->expires = ws.expires;
	return s;
}

void ctl__session_cookie(struct ctl__req *r, const struct ctl__session *s, char out[static 192])
{
	snprintf(out, 192, "mesh_session=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%d%s", s->id,
		 SESSION_TTL_S, ctl__cookie_secure(r->srv));
}

enum MHD_Result ctl__session_unavailable(struct ctl__req *r)
{
	return ctl__page(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Busy", NULL,
			 "<p class=err>The session could not be saved; try again later.</p>");
}

enum MHD_Result ctl__session_start(struct ctl__req *r, const struct ctl_user *u, const char *next)
{
	struct ctl__session *s = ctl__session_new(r, u);
	if (!s)
		return ctl__session_unavailable(r);
	char cookie[192];
	ctl__session_cookie(r, s, cookie);
	return ctl__redirect(r, next, cookie);
}

bool ctl__session_csrf_ok(struct ctl__req *r, const struct ctl__session *s)
{
	char tok[64];
	ctl__form_get(r->body ? r->body : "", "csrf", tok, sizeof(tok));
	return strlen(tok) == 32 && sodium_memcmp(tok, s->csrf, 32) == 0;
}

/* POST /logout with the session's CSRF token: its row removed, so every replica refuses the
 * cookie from now on, and the browser told to forget it. */
enum MHD_Result ctl__logout(struct ctl__req *r, const char *method)
{
	struct ctl_server *srv = r->srv;
	char cookie[192];
	if (strcmp(method, "POST") != 0)
		return ctl__redirect(r, "/", NULL);
	struct ctl__session *s = ctl__session_of(r);
	if (!s)
		return ctl__page(r, MHD_HTTP_OK, "Logged out", NULL,
				 "<p id=result>You are not logged in.</p>");
	if (!ctl__session_csrf_ok(r, s))
		return ctl__page(
		    r, MHD_HTTP_FORBIDDEN, "Refused", NULL,
		    "<p class=err id=error>The form has expired; reload the page.</p>");
	int rc = srv->store->ops->session_delete(srv->store, s->id_hash);
	if (rc) {
		log_err("meshcontrol", "cannot end the web session of '%s': %s", s->login,
			strerror(-rc));
		return ctl__page(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Error", NULL,
				 "<p class=err id=error>The session could not be ended; try "
				 "again.</p>");
	}
	log_info("meshcontrol", "%s logged out of the web pages", s->login);
	snprintf(cookie, sizeof(cookie),
		 "mesh_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0%s",
		 ctl__cookie_secure(srv));
	sodium_memzero(s->id, sizeof(s->id));
	return ctl__page(r, MHD_HTTP_OK, "Logged out", cookie,
			 "<p class=ok-msg id=result>You are logged out.</p>");
}

void ctl__transient_sweep(struct ctl_server *srv, int64_t now)
{
	if (now - srv->transient_swept < SWEEP_S)
		return;
	srv->transient_swept = now;
	int rc = srv->store->ops->transient_expire(srv->store, now);
	if (rc)
		log_err("meshcontrol", "forgetting expired sessions, throttles and nonces: %s",
			strerror(-rc));
}
