/* The web pages people use: log in, approve a new device (interactive registration), and
 * approve a check-mode SSH login.  Plain HTML forms and a little CSS, no JavaScript, sized
 * for a phone.  Sessions are an HttpOnly SameSite cookie (Secure over HTTPS) whose row is in
 * the store (session.c); every form carries the session's CSRF token.  Check approvals are written
 * to the store before the held request is released, so they survive a restart. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/log.h"
#include "control/policy/policy.h"
#include "control/server/ident.h"
#include "control/server/internal.h"
#include "control/server/tags.h"

static const char page_head[] =
    "<!doctype html><html lang=en><head><meta charset=utf-8>"
    "<meta name=viewport content=\"width=device-width, initial-scale=1\">"
    "<title>%s</title><style>"
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;"
    "color:#1b1b1b;background:#fafafa}"
    "h1{font-size:1.4rem}.box{background:#fff;border:1px solid #ddd;border-radius:8px;"
    "padding:1rem 1.2rem}label{display:block;margin:.6rem 0 .2rem}"
    "input[type=text],input[type=password]{width:100%%;box-sizing:border-box;padding:.5rem;"
    "font-size:1rem}button{font-size:1rem;padding:.5rem 1rem;margin:.8rem .4rem 0 0;"
    "border-radius:6px;border:1px solid #888;background:#eee}"
    "button.ok{background:#1a7f37;color:#fff;border-color:#1a7f37}"
    ".err{color:#b00020;font-weight:600}.ok-msg{color:#1a7f37;font-weight:600}"
    "dt{font-weight:600}dd{margin:0 0 .5rem 0}</style></head><body><h1>%s</h1>"
    "<div class=box>";

void ctl__html_escape(char *out, size_t outlen, const char *in)
{
	size_t o = 0;
	for (; *in && o + 7 < outlen; in++) {
		const char *rep = NULL;
		switch (*in) {
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '&':
			rep = "&amp;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		}
		if (rep) {
			memcpy(out + o, rep, strlen(rep));
			o += strlen(rep);
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

/* Headers some pages add (NULL: none). */
struct page_extra {
	const char *cookie;
	int64_t retry_after_s; /* 0 = none */
};

static enum MHD_Result vpage(struct ctl__req *r, unsigned status, const char *title,
			     const struct page_extra *x, const char *fmt, va_list ap)
{
	char *body = NULL, *all = NULL;
	int n = vasprintf(&body, fmt, ap);
	if (n < 0)
		return MHD_NO;
	char head[2048];
	snprintf(head, sizeof(head), page_head, title, title);
	n = asprintf(&all, "%s%s</div></body></html>\n", head, body);
	free(body);
	if (n < 0)
		return MHD_NO;
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer_with_free_callback((size_t)n, all, free);
	if (!resp) {
		free(all);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(
	    resp, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
	if (x && x->cookie)
		MHD_add_response_header(resp, "Set-Cookie", x->cookie);
	if (x && x->retry_after_s > 0) {
		char ra[24];
		snprintf(ra, sizeof(ra), "%lld", (long long)x->retry_after_s);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	enum MHD_Result rc = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result page(struct ctl__req *r, unsigned status, const char *title,
			    const struct page_extra *x, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static enum MHD_Result page(struct ctl__req *r, unsigned status, const char *title,
			    const struct page_extra *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	enum MHD_Result rc = vpage(r, status, title, x, fmt, ap);
	va_end(ap);
	return rc;
}

enum MHD_Result ctl__page(struct ctl__req *r, unsigned status, const char *title,
			  const char *cookie, const char *fmt, ...)
{
	struct page_extra x = { .cookie = cookie };
	va_list ap;
	va_start(ap, fmt);
	enum MHD_Result rc = vpage(r, status, title, &x, fmt, ap);
	va_end(ap);
	return rc;
}

enum MHD_Result ctl__redirect(struct ctl__req *r, const char *to, const char *cookie)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Location", to);
	if (cookie)
		MHD_add_response_header(resp, "Set-Cookie", cookie);
	enum MHD_Result rc = MHD_queue_response(r->conn, MHD_HTTP_SEE_OTHER, resp);
	MHD_destroy_response(resp);
	return rc;
}

bool ctl__form_get(const char *body, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	for (const char *p = body; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) != 0 || p[klen] != '=')
			continue;
		const char *v = p + klen + 1;
		size_t o = 0;
		for (; *v && *v != '&' && o + 1 < outlen; v++) {
			if (*v == '+') {
				out[o++] = ' ';
			} else if (*v == '%' && isxdigit((unsigned char)v[1]) &&
				   isxdigit((unsigned char)v[2])) {
				char hex[3] = { v[1], v[2], 0 };
				out[o++] = (char)strtol(hex, NULL, 16);
				v += 2;
			} else {
				out[o++] = *v;
			}
		}
		out[o] = '\0';
		return true;
	}
	out[0] = '\0';
	return false;
}

bool ctl__safe_next(const char *next)
{
	return (strncmp(next, "/register/", 10) == 0 || strncmp(next, "/check/", 7) == 0) &&
	       strspn(next + 1, "abcdefghijklmnopqrstuvwxyz0123456789/") == strlen(next + 1);
}

/* ---- passwords: rate limited, the same for every form ---- */

static enum MHD_Result too_many(struct ctl__req *r, const char *title, bool account,
				const char *who, int64_t retry_at)
{
	char when[32], who_h[CTL_LOGIN_MAX * 6];
	int64_t now = ctl__now_s(), wait = retry_at > now ? retry_at - now : 1;
	time_t t = (time_t)retry_at;
	struct tm tm;
	strftime(when, sizeof(when), "%H:%M:%S UTC", gmtime_r(&t, &tm));
	ctl__html_escape(who_h, sizeof(who_h), who);
	struct page_extra x = { .retry_after_s = wait };
	return page(r, MHD_HTTP_TOO_MANY_REQUESTS, title, &x,
		    "<p class=err id=error>Too many failed attempts %s %s. Try again at %s (in "
		    "%lld min).</p>",
		    account ? "for" : "from", who_h, when, (long long)(wait + 59) / 60);
}

/* Check login's password the way every form does: at most SRV_THROTTLE_ACCOUNT failures per
 * account and SRV_THROTTLE_SOURCE per source address in a window, counted in the store (for
 * every replica) before Argon2id runs (without the server lock).  0 (u filled), -EACCES, or
 * -EAGAIN with a page already in *res (429; 503 when the store could not count). */
static int password_check(struct ctl__req *r, const char *login, const char *pw, struct ctl_user *u,
			  const char *title, enum MHD_Result *res)
{
	struct ctl_server *srv = r->srv;
	char src[SRV_SOURCE_MAX];
	int64_t now = ctl__now_s(), retry_at;
	ctl__source(r->conn, src);
	bool by_source = true;
	int rc = ctl__throttle_take(srv, CTL_THROTTLE_SOURCE, src, now, &retry_at);
	if (!rc) {
		by_source = false;
		rc = ctl__throttle_take(srv, CTL_THROTTLE_ACCOUNT, login, now, &retry_at);
		if (rc)
			ctl__throttle_give_back(srv, CTL_THROTTLE_SOURCE, src, false, now);
	}
	if (rc == -EAGAIN || rc == -ENOSPC) {
		*res = too_many(r, title, !by_source, by_source ? src : login, retry_at);
		return -EAGAIN;
	}
	if (rc) { /* not counted, so not checked either (logged) */
		*res = page(r, MHD_HTTP_SERVICE_UNAVAILABLE, title, NULL,
			    "<p class=err id=error>The password cannot be checked now; try again "
			    "later.</p>");
		return -EAGAIN;
	}
	/* Argon2id takes a while: done without the server lock, which the store is read under
	 * (one connection: another thread may use it meanwhile) */
	char hash[CTL_PWHASH_SIZE];
	ctl_user_credentials(srv->store, login, u, hash);
	pthread_mutex_unlock(&srv->lock);
	rc = ctl_user_check(hash, pw);
	pthread_mutex_lock(&srv->lock);
	sodium_memzero(hash, sizeof(hash));
	if (rc) {
		log_info("meshcontrol", "web password refused for '%s' from %s", login, src);
		return -EACCES;
	}
	now = ctl__now_s();
	ctl__throttle_give_back(srv, CTL_THROTTLE_SOURCE, src, false, now);
	ctl__throttle_give_back(srv, CTL_THROTTLE_ACCOUNT, login, true, now);
	return 0;
}

/* ---- the login form: its token is bound to a pre-session cookie (login CSRF) ---- */

enum { PRE_HEX = 32, LOGIN_FORM_TTL_S = 3600 };

static void login_token(struct ctl_server *srv, const char *pre, char out[static PRE_HEX + 1])
{
	uint8_t mac[PRE_HEX / 2];
	crypto_generichash_state st;
	crypto_generichash_init(&st, srv->csrf_key, sizeof(srv->csrf_key), sizeof(mac));
	crypto_generichash_update(&st, (const uint8_t *)"login-form|", 11);
	crypto_generichash_update(&st, (const uint8_t *)pre, PRE_HEX);
	crypto_generichash_final(&st, mac, sizeof(mac));
	sodium_bin2hex(out, PRE_HEX + 1, mac, sizeof(mac));
}

/* The pre-session cookie, when it looks like one of ours (PRE_HEX lowercase hex). */
static const char *pre_cookie(struct ctl__req *r)
{
	const char *c = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "mesh_login");
	if (!c || strlen(c) != PRE_HEX || strspn(c, "0123456789abcdef") != PRE_HEX)
		return NULL;
	return c;
}

/* The form's csrf field against the token of its pre-session cookie, in constant time. */
static bool login_csrf_ok(struct ctl__req *r)
{
	const char *pre = pre_cookie(r);
	char tok[64], want[PRE_HEX + 1];
	ctl__form_get(r->body ? r->body : "", "csrf", tok, sizeof(tok));
	if (!pre || strlen(tok) != PRE_HEX)
		return false;
	login_token(r->srv, pre, want);
	return sodium_memcmp(tok, want, PRE_HEX) == 0;
}

/* "; Secure" when people reach us over HTTPS (served by us, or by a proxy in front: the
 * public URL says which), so a browser never sends the cookie over plain HTTP. */
const char *ctl__cookie_secure(const struct ctl_server *srv)
{
	return strncmp(srv->public_url, "https://", 8) == 0 ? "; Secure" : "";
}

static enum MHD_Result login_form(struct ctl__req *r, unsigned status, const char *next,
				  const char *error)
{
	char en[256], ee[256], pre[PRE_HEX + 1], tok[PRE_HEX + 1], cookie[192], sso[2048];
	const char *have = pre_cookie(r);
	if (have && status != MHD_HTTP_FORBIDDEN)
		snprintf(pre, sizeof(pre), "%s", have);
	else
		ctl__random_hex(pre, PRE_HEX / 2);
	login_token(r->srv, pre, tok);
	snprintf(cookie, sizeof(cookie),
		 "mesh_login=%s; Path=/login; HttpOnly; SameSite=Strict; Max-Age=%d%s", pre,
		 LOGIN_FORM_TTL_S, ctl__cookie_secure(r->srv));
	struct page_extra x = { .cookie = cookie };
	ctl__html_escape(en, sizeof(en), next);
	ctl__html_escape(ee, sizeof(ee), error ? error : "");
	ctl__sso_login_html(r, next, sso, sizeof(sso));
	return page(r, status, "Log in to Mesh", &x,
		    "%s%s%s%s<form method=post action=/login>"
		    "<input type=hidden name=csrf value=%s>"
		    "<input type=hidden name=next value=\"%s\">"
		    "<label for=login>Login</label>"
		    "<input type=text id=login name=login autocomplete=username "
		    "placeholder=alice@example.com>"
		    "<label for=password>Password</label>"
		    "<input type=password id=password name=password "
		    "autocomplete=current-password>"
		    "<button class=ok type=submit>Log in</button></form>",
		    error ? "<p class=err id=error>" : "", ee, error ? "</p>" : "", sso, tok, en);
}

static enum MHD_Result do_login(struct ctl__req *r)
{
	char login[CTL_LOGIN_MAX], pw[256], next[128];
	const char *body = r->body ? r->body : "";
	ctl__form_get(body, "next", next, sizeof(next));
	if (!ctl__safe_next(next))
		snprintf(next, sizeof(next), "/");
	if (!login_csrf_ok(r))
		return login_form(r, MHD_HTTP_FORBIDDEN, next,
				  "This login form has expired or did not come from this site; "
				  "enter your login and password again.");
	if (!ctl__form_get(body, "login", login, sizeof(login)) ||
	    !ctl__form_get(body, "password", pw, sizeof(pw)))
		return login_form(r, MHD_HTTP_BAD_REQUEST, next,
				  "Enter your login and your password.");
	struct ctl_user u;
	enum MHD_Result res;
	int rc = password_check(r, login, pw, &u, "Log in to Mesh", &res);
	sodium_memzero(pw, sizeof(pw));
	/* a throttled attempt is not a row: it costs its sender nothing, and rows are kept
	 * for good (the attempts that got the source or account throttled are rows) */
	if (rc != -EAGAIN)
		ctl__audit(r->srv, r->conn, "control.login", NULL, login,
			   rc ? "failed (password): wrong login or password" : "ok (password)");
	if (rc == -EAGAIN)
		return res;
	if (rc)
		return login_form(r, MHD_HTTP_UNAUTHORIZED, next, "Wrong login or password.");
	return ctl__session_start(r, &u, next);
}

enum MHD_Result ctl__check_reauthed(struct ctl__req *r, struct ctl__hold *h,
				    const struct ctl_user *u, int64_t auth_at)
{
	struct ctl__session *s = ctl__session_of(r);
	char cookie[192] = "", to[64];
	if (!s || s->user_id != u->id) {
		if (!(s = ctl__session_new(r, u)))
			return ctl__session_unavailable(r);
		ctl__session_cookie(r, s, cookie);
	}
	ctl__session_ref(s, h->reauth_session);
	h->reauth_user = u->id;
	h->reauth_at = auth_at;
	ctl__hold_save(r->srv, h); /* so that the page on any replica lets this session approve */
	snprintf(to, sizeof(to), "/check/%s", h->id);
	return ctl__redirect(r, to, cookie[0] ? cookie : NULL);
}

static enum MHD_Result need_login(struct ctl__req *r, const char *path)
{
	char to[160];
	snprintf(to, sizeof(to), "/login?next=%s", path);
	return ctl__redirect(r, to, NULL);
}

/* The page of login lr (read from the store: a login started through any replica). */
static enum MHD_Result device_page_of(struct ctl__req *r, const char *method, const char *path,
				      struct ctl__login_req *lr)
{
	struct ctl_server *srv = r->srv;
	struct ctl__session *s = ctl__session_of(r);
	char host[128], who[256], action[16], tags[CTL_TAGS_TEXT_MAX] = "";
	char tags_h[CTL_TAGS_TEXT_MAX * 2], err[512] = "", err_h[1024];
	if (!s)
		return need_login(r, path);
	ctl__html_escape(host, sizeof(host), lr->hostname);
	ctl_tags_join((const char *const *)lr->tags, lr->has_tags ? lr->n_tags : 0, tags,
		      sizeof(tags));
	ctl__html_escape(tags_h, sizeof(tags_h), tags);
	ctl__html_escape(who, sizeof(who), s->login);
	if (strcmp(method, "POST") == 0 && lr->state == CTL__PENDING) {
		if (!ctl__session_csrf_ok(r, s))
			return page(r, MHD_HTTP_FORBIDDEN, "Refused", NULL,
				    "<p class=err>The form has expired; reload the page.</p>");
		ctl__form_get(r->body ? r->body : "", "action", action, sizeof(action));
		if (strcmp(action, "approve") == 0) {
			int rc =
			    ctl__register_finish(srv, lr, s->user_id, s->login, err, sizeof(err));
			ctl__html_escape(err_h, sizeof(err_h), err);
			if (rc == -EPERM)
				return page(r, MHD_HTTP_FORBIDDEN, "Not your tags", NULL,
					    "<p class=err id=error>%s was not added: %s</p>", host,
					    err_h);
			if (rc == -ESTALE)
				return page(r, MHD_HTTP_CONFLICT, "Already decided", NULL,
					    "<p class=err id=error>%s was not added: %s</p>", host,
					    err_h);
			if (rc)
				return page(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Error", NULL,
					    "<p class=err id=error>The device could not be added: "
					    "%s</p>",
					    err_h);
			struct ctl__node *n = ctl__node_by_id(srv, lr->node_id);
			ctl__audit(srv, r->conn, "node.register", n, s->login,
				   "login approved on the web");
			ctl__audit(srv, r->conn, "admin.login.approve", n, s->login, lr->hostname);
		} else {
			lr->state = CTL__REJECTED;
			if (ctl__login_save(srv, lr) == 0) /* else the first decision stands */
				ctl__audit(srv, r->conn, "admin.login.reject", NULL, s->login,
					   lr->hostname);
		}
	}
	if (lr->state == CTL__APPROVED)
		return page(r, MHD_HTTP_OK, "Device approved", NULL,
			    "<p class=ok-msg id=result>%s is now in your tailnet.</p>"
			    "<p>You can close this page.</p>",
			    host);
	if (lr->state == CTL__REJECTED) {
		ctl__html_escape(err_h, sizeof(err_h), lr->reason);
		return page(r, MHD_HTTP_OK, "Device rejected", NULL,
			    "<p class=err id=result>%s was not added%s%s.</p>", host,
			    lr->reason[0] ? ": " : "", err_h);
	}
	return page(r, MHD_HTTP_OK, "Approve a new device", NULL,
		    "<p>Logged in as <b>%s</b>.</p><dl><dt>Device</dt><dd id=device>%s</dd>%s%s%s"
		    "</dl><p>Add this device to your tailnet? %s</p>"
		    "<form method=post action=\"%s\"><input type=hidden name=csrf value=%s>"
		    "<button class=ok name=action value=approve>Approve</button>"
		    "<button name=action value=reject>Reject</button></form>",
		    who, host, tags[0] ? "<dt>Tags</dt><dd id=tags>" : "", tags_h,
		    tags[0] ? "</dd>" : "",
		    tags[0] ? "It will be a tagged device: its tags, not you, decide what it may "
			      "reach, and you must own each tag."
			    : "It will be owned by you.",
		    path, s->csrf);
}

static enum MHD_Result device_page(struct ctl__req *r, const char *method, const char *token)
{
	struct ctl__login_req lr;
	char path[64];
	snprintf(path, sizeof(path), "/register/%.40s", token);
	int rc = ctl__login_find(r->srv, token, &lr);
	if (rc == -ENOENT)
		return page(r, MHD_HTTP_NOT_FOUND, "Unknown device", NULL,
			    "<p class=err>This login link is unknown or has expired. Run "
			    "<code>meshctl up</code> again for a new one.</p>");
	if (rc)
		return page(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Error", NULL,
			    "<p class=err id=error>The login request cannot be read now: %s. "
			    "Reload the page.</p>",
			    strerror(-rc));
	enum MHD_Result res = device_page_of(r, method, path, &lr);
	ctl__login_clear(&lr);
	return res;
}

static void utc_time(char out[static 32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&tt, &tm));
}

/* Fresh authentication of the person approving hold hold_id, now: the password of login,
 * typed on this hold's page (rate limited like every password).  The one place that says
 * "login authenticated for hold X at time T" (an identity provider's login with max_age=0
 * takes its place for SSO users: ctl__check_reauthed).  0 with *at, -EACCES, or -EAGAIN with the
 * 429 page in *res. */
static int check_fresh_auth(struct ctl__req *r, const char *login, const char *hold_id,
			    const char *password, int64_t *at, enum MHD_Result *res)
{
	struct ctl_user u;
	int rc = password_check(r, login, password, &u, "Approve an SSH login", res);
	if (rc)
		return rc;
	*at = ctl__now_s();
	log_info("meshcontrol", "%s authenticated to approve check %.8s", login, hold_id);
	return 0;
}

struct check_view {
	char path[64], src[128], dst[128], user[160], login[CTL_LOGIN_MAX * 6];
	bool via_sso; /* the re-authentication was at the identity provider, not a password */
};

/* Whether s re-authenticated at the identity provider for h (ctl__check_reauthed). */
static bool reauthed(const struct ctl__hold *h, const struct ctl__session *s)
{
	char ref[65];
	if (!s || !h->reauth_session[0] || h->reauth_user != s->user_id)
		return false;
	ctl__session_ref(s, ref);
	return sodium_memcmp(h->reauth_session, ref, 64) == 0;
}

static enum MHD_Result check_form(struct ctl__req *r, unsigned status, const struct check_view *v,
				  const struct ctl__hold *h, const char *csrf, const char *error)
{
	char asked[40], reauth[160], at[40];
	utc_time(asked, h->created);
	utc_time(at, h->reauth_at);
	if (v->via_sso)
		snprintf(reauth, sizeof(reauth),
			 "<p id=reauth>You signed in again at the identity provider at %s.</p>",
			 at);
	else
		snprintf(reauth, sizeof(reauth), "%s",
			 "<label for=reauth>Your password, to approve this login</label>"
			 "<input type=password id=reauth name=password "
			 "autocomplete=current-password>");
	return page(r, status, "Approve an SSH login", NULL,
		    "<p>Logged in as <b>%s</b>.</p><dl><dt>From</dt><dd id=src>%s</dd>"
		    "<dt>To</dt><dd id=dst>%s</dd><dt>As user</dt><dd id=user>%s</dd>"
		    "<dt>Asked at</dt><dd id=asked>%s</dd></dl>%s%s%s"
		    "<form method=post action=\"%s\"><input type=hidden name=csrf value=%s>%s"
		    "<button class=ok name=action value=approve>Approve</button>"
		    "<button name=action value=reject>Reject</button></form>",
		    v->login, v->src, v->dst, v->user, asked, error ? "<p class=err id=error>" : "",
		    error ? error : "", error ? "</p>" : "", v->path, csrf, reauth);
}

/* The password typed on h's form for the session's user (the lock is let go for it: *h and
 * *s are found again).  true with *at; false with the page sent in *res. */
static bool check_password(struct ctl__req *r, const struct check_view *v, struct ctl__hold **h,
			   struct ctl__session **s, int64_t *at, enum MHD_Result *res)
{
	char pw[256], id[sizeof((*h)->id)], login[CTL_LOGIN_MAX];
	if (!ctl__form_get(r->body ? r->body : "", "password", pw, sizeof(pw)) || !pw[0]) {
		*res = check_form(r, MHD_HTTP_UNAUTHORIZED, v, *h, (*s)->csrf,
				  "Enter your password to approve this login.");
		return false;
	}
	snprintf(id, sizeof(id), "%s", (*h)->id);
	snprintf(login, sizeof(login), "%s", (*s)->login);
	int rc = check_fresh_auth(r, login, id, pw, at, res);
	sodium_memzero(pw, sizeof(pw));
	if (rc == -EAGAIN)
		return false;
	*h = ctl__hold_find(r->srv, id);
	*s = ctl__session_of(r);
	if (!*h || !*s)
		*res = page(r, MHD_HTTP_NOT_FOUND, "Unknown request", NULL,
			    "<p class=err>This check link has expired; connect again for a new "
			    "one.</p>");
	else if (rc)
		*res = check_form(r, MHD_HTTP_UNAUTHORIZED, v, *h, (*s)->csrf, "Wrong password.");
	return *h && *s && !rc;
}

/* Approve h as the session's user: a fresh authentication for it (a password, or the
 * identity provider's, made before: check_page), then the policy as it is now (a rule
 * removed while the login waited cannot be approved back), then the store. */
static enum MHD_Result check_approve(struct ctl__req *r, const struct check_view *v,
				     struct ctl__hold *h, struct ctl__session *s)
{
	struct ctl_server *srv = r->srv;
	char login[CTL_LOGIN_MAX], why[POL_WHY_MAX];
	int64_t user_id = s->user_id, at = h->reauth_at; /* via_sso: reauthed(h, s) held */
	enum MHD_Result res;
	if (!v->via_sso && !check_password(r, v, &h, &s, &at, &res))
		return res;
	snprintf(login, sizeof(login), "%s", s->login);
	if (h->state != CTL__PENDING)
		return MHD_YES; /* decided meanwhile: the caller shows how */
	if (ctl__ssh_verdict(srv, h->src, h->dst, h->local_user, why, sizeof(why)) ==
	    VERDICT_REJECT) {
		h->state = CTL__REJECTED;
		snprintf(h->reason, sizeof(h->reason), "the policy no longer allows this login: %s",
			 why);
		ctl__hold_save(srv, h);
		return MHD_YES;
	}
	struct ctl_approval a = { .src_node = h->src,
				  .dst_node = h->dst,
				  .user_id = user_id,
				  .approved_at = ctl__now_s(),
				  .auth_at = at };
	if (srv->store->ops->approval_put(srv->store, &a) != 0)
		return page(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Error", NULL,
			    "<p class=err>The approval could not be saved.</p>");
	h->state = CTL__APPROVED;
	h->auth_at = at;
	snprintf(h->approver, sizeof(h->approver), "%s", login);
	int rc = ctl__hold_save(srv, h);
	if (rc == -ESTALE)
		return MHD_YES; /* decided through another replica first: the caller shows how */
	if (rc && rc != -ENOENT) {
		h->state = CTL__PENDING;
		return page(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Error", NULL,
			    "<p class=err>The approval could not be saved.</p>");
	}
	log_info("meshcontrol", "check approved by %s (%s): %s -> %s as %s", login,
		 v->via_sso ? "signed in again at the identity provider for it"
			    : "password entered for it",
		 v->src, v->dst, h->local_user);
	return MHD_YES;
}

/* A person's decision on h as its audit event (on the node held).  Its nodes are looked up
 * again: an approval may have let the lock go. */
static void check_audit(struct ctl__req *r, const struct ctl__hold *h, const char *login)
{
	char detail[CTL_HOSTNAME_MAX * 2 + 600];
	struct ctl__node *src = ctl__node_by_id(r->srv, h->src);
	struct ctl__node *dst = ctl__node_by_id(r->srv, h->dst);
	snprintf(detail, sizeof(detail), "%s -> %s as %s%s%s", src ? src->rec.hostname : "?",
		 dst ? dst->rec.hostname : "?", h->local_user, h->reason[0] ? ": " : "", h->reason);
	ctl__audit(r->srv, r->conn, h->state == CTL__APPROVED ? "check.approve" : "check.reject",
		   dst, login, detail);
}

static enum MHD_Result check_page(struct ctl__req *r, const char *method, const char *id)
{
	struct ctl_server *srv = r->srv;
	struct ctl__session *s = ctl__session_of(r);
	struct check_view v;
	char action[16];
	snprintf(v.path, sizeof(v.path), "/check/%.40s", id);
	struct ctl__hold *h = ctl__hold_find(srv, id);
	struct ctl__node *src = h ? ctl__node_by_id(srv, h->src) : NULL;
	struct ctl__node *dst = h ? ctl__node_by_id(srv, h->dst) : NULL;
	if (!h || !src || !dst)
		return page(r, MHD_HTTP_NOT_FOUND, "Unknown request", NULL,
			    "<p class=err>This check link is unknown or has expired; connect "
			    "again for a new one.</p>");
	/* A person who signs in at the provider approves after signing in there again, for this
	 * hold (prompt=login, max_age=0): until this browser's session did, the page sends it
	 * there.  Local users (break-glass admins) type their password on the form. */
	v.via_sso = ctl__check_via_sso(srv, src);
	if (v.via_sso && h->state == CTL__PENDING && !reauthed(h, s)) {
		char to[64];
		if (strcmp(method, "POST") == 0)
			return page(r, MHD_HTTP_FORBIDDEN, "Refused", NULL,
				    "<p class=err id=error>Sign in again at the identity provider "
				    "to approve or reject this login: <a href=\"%s\">%s</a>.</p>",
				    v.path, v.path);
		snprintf(to, sizeof(to), "/oidc/start?hold=%s", h->id);
		return ctl__redirect(r, to, NULL);
	}
	if (!s)
		return need_login(r, v.path);
	if (src->rec.user_id != s->user_id || !src->owner[0])
		return page(r, MHD_HTTP_FORBIDDEN, "Not yours", NULL,
			    "<p class=err id=error>Only the owner of the connecting device can "
			    "approve this login.</p>");
	ctl__html_escape(v.src, sizeof(v.src), src->rec.hostname);
	ctl__html_escape(v.dst, sizeof(v.dst), dst->rec.hostname);
	ctl__html_escape(v.user, sizeof(v.user), h->local_user);
	ctl__html_escape(v.login, sizeof(v.login), s->login);
	if (strcmp(method, "POST") == 0 && h->state == CTL__PENDING) {
		if (!ctl__session_csrf_ok(r, s))
			return page(r, MHD_HTTP_FORBIDDEN, "Refused", NULL,
				    "<p class=err>The form has expired; reload the page.</p>");
		ctl__form_get(r->body ? r->body : "", "action", action, sizeof(action));
		char login[CTL_LOGIN_MAX]; /* s may not outlive an approval (the lock let go) */
		snprintf(login, sizeof(login), "%s", s->login);
		if (strcmp(action, "approve") == 0) {
			char hid[sizeof(h->id)];
			snprintf(hid, sizeof(hid), "%s", h->id);
			enum MHD_Result res = check_approve(r, &v, h, s);
			h = ctl__hold_find(srv, hid);
			if (res != MHD_YES || !h || h->state == CTL__PENDING)
				return res; /* a page (the form again, 429, an error) went out */
		} else {
			h->state = CTL__REJECTED;
			ctl__hold_save(srv, h); /* -ESTALE: decided elsewhere first, shown below */
		}
		check_audit(r, h, login);
		ctl__wake(srv, SRV_WAIT_HOLD, h->id);
	}
	if (h->state == CTL__APPROVED) {
		char when[40], who[CTL_LOGIN_MAX * 6];
		utc_time(when, h->auth_at);
		ctl__html_escape(who, sizeof(who), h->approver);
		return page(r, MHD_HTTP_OK, "Login approved", NULL,
			    "<p class=ok-msg id=result>SSH from %s to %s as %s is approved.</p>"
			    "<p id=auth>%s %s for this login at %s.</p>"
			    "<p>You can close this page.</p>",
			    v.src, v.dst, v.user, who,
			    v.via_sso ? "signed in again at the identity provider"
				      : "entered their password",
			    when);
	}
	if (h->state == CTL__REJECTED) {
		char reason_h[sizeof(h->reason) * 6];
		ctl__html_escape(reason_h, sizeof(reason_h), h->reason);
		return page(r, MHD_HTTP_OK, "Login rejected", NULL,
			    "<p class=err id=result>SSH from %s to %s as %s was rejected%s%s.</p>",
			    v.src, v.dst, v.user, h->reason[0] ? ": " : "", reason_h);
	}
	return check_form(r, MHD_HTTP_OK, &v, h, s->csrf, NULL);
}

enum MHD_Result ctl__web(struct ctl__req *r, const char *method, const char *path)
{
	if (strcmp(path, "/login") == 0) {
		if (strcmp(method, "POST") == 0)
			return do_login(r);
		const char *next =
		    MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "next");
		return login_form(r, MHD_HTTP_OK, next && ctl__safe_next(next) ? next : "/", NULL);
	}
	if (strncmp(path, "/oidc/", 6) == 0)
		return ctl__sso_web(r, method, path);
	if (strncmp(path, "/register/", 10) == 0)
		return device_page(r, method, path + 10);
	if (strncmp(path, "/check/", 7) == 0)
		return check_page(r, method, path + 7);
	if (strcmp(path, "/logout") == 0)
		return ctl__logout(r, method);
	if (strcmp(path, "/") == 0) {
		struct ctl__session *s = ctl__session_of(r);
		char who[256];
		ctl__html_escape(who, sizeof(who), s ? s->login : "");
		if (!s)
			return page(r, MHD_HTTP_OK, "Mesh control", NULL,
				    "<p><a href=/login>Log in</a> to approve devices and SSH "
				    "logins.</p>");
		return page(r, MHD_HTTP_OK, "Mesh control", NULL,
			    "<p>Logged in as <b id=who>%s</b>.</p><form method=post "
			    "action=/logout><input type=hidden name=csrf value=%s>"
			    "<button type=submit>Log out</button></form>",
			    who, s->csrf);
	}
	return page(r, MHD_HTTP_NOT_FOUND, "Not found", NULL, "<p>There is no page here.</p>");
}
