/* The web side of single sign-on: the login page's "Sign in with <provider>", /oidc/start
 * (a pending login bound to the browser's pre-session cookie, then the provider's
 * authorization URL; ?hold=ID: check mode, a new login at the provider for that hold) and
 * /oidc/callback (the state taken once and only by the browser that
 * started it, iss checked (RFC 9207), the code exchanged on the provider thread while the
 * request waits suspended, the person mapped to a user by (iss, sub), a session, and a 303
 * so a reload never sends the code again).  Anyone on the network can reach both: what they
 * fill is bounded (sso_pending.c), what they send is quoted, and nothing secret is logged. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/log.h"
#include "common/now.h"
#include "control/server/ident.h"
#include "control/server/internal.h"
#include "control/server/sso.h"

static const char again[] = "<p><a href=/login>Sign in again</a>.</p>";

void ctl__sso_login_html(struct ctl__req *r, const char *next, char *out, size_t outlen)
{
	struct ctl__sso *s = r->srv->sso;
	char host[sizeof(s->cfg.issuer_host) * 6], st[sizeof(s->status) * 6],
	    nx[SRV_SSO_NEXT_MAX * 6];
	out[0] = '\0';
	if (!s)
		return;
	ctl__sso_kick(r->srv);
	ctl__html_escape(host, sizeof(host), s->cfg.issuer_host);
	ctl__html_escape(st, sizeof(st), s->status);
	ctl__html_escape(nx, sizeof(nx), next);
	snprintf(out, outlen,
		 "%s%s%s<p><a id=sso href=\"/oidc/start?next=%s\" style=\"display:inline-block;"
		 "padding:.5rem 1rem;border-radius:6px;background:#1a7f37;color:#fff;"
		 "text-decoration:none\">Sign in with %s</a></p><p>Administrators: your local "
		 "login and password.</p>",
		 s->have_disco ? "" : "<p class=err id=idp-error>", s->have_disco ? "" : st,
		 s->have_disco ? "" : "</p>", nx, host);
}

static enum MHD_Result fail_page(struct ctl__req *r, unsigned status, const char *title,
				 const char *what, const char *detail)
{
	char d[SRV_SSO_ERR_MAX * 6];
	ctl__html_escape(d, sizeof(d), detail);
	return ctl__page(r, status, title, NULL, "<p class=err id=error>%s%s%s</p>%s", what,
			 detail[0] ? ": " : "", d, again);
}

static void when_utc(char out[static 32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	strftime(out, 32, "%H:%M:%S UTC", gmtime_r(&tt, &tm));
}

/* The browser's address as the SSO limits count it. */
static void source_of(struct ctl__req *r, char out[static SRV_SSO_SOURCE_MAX])
{
	char src[SRV_SOURCE_MAX];
	ctl__source(r->conn, src);
	ctl__sso_source_key(src, out);
}

static bool https(const struct ctl_server *srv)
{
	return ctl__cookie_secure(srv)[0] != '\0';
}

struct cookie_find {
	const char *name, *value;
	int n;
};

static enum MHD_Result on_cookie(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct cookie_find *f = cls;
	(void)kind;
	if (strcmp(key, f->name) == 0 && f->n++ == 0)
		f->value = value;
	return MHD_YES;
}

/* The browser's pre-session id for sign-ins, from a cookie this server signed.  A cookie
 * sent twice is neither: the second was planted (a sibling subdomain or plain HTTP can set
 * one with a longer Path, which the browser sends first) to sign the victim in as the
 * attacker, and which one is ours cannot be told. */
static bool pre_cookie(struct ctl__req *r, char pre[static SRV_SSO_PRE_HEX + 1])
{
	struct cookie_find f = { .name = ctl__sso_cookie_name(https(r->srv)) };
	MHD_get_connection_values(r->conn, MHD_COOKIE_KIND, on_cookie, &f);
	return f.n == 1 && f.value && ctl__sso_pre_check(r->srv->sso->cookie_key, f.value, pre);
}

static enum MHD_Result start(struct ctl__req *r)
{
	struct ctl_server *srv = r->srv;
	struct ctl__sso *s = srv->sso;
	const char *next = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "next");
	struct ctl__sso_pending p = { 0 };
	struct ctl_oidc_login l;
	char url[CTL_OIDC_AUTH_URL_MAX], err[CTL_OIDC_ERR_MAX], cookie[256];
	char signed_pre[SRV_SSO_COOKIE_HEX + 1];
	char pre[SRV_SSO_PRE_HEX + 1], when[32];
	int64_t now = ctl__now_s(), retry_at = 0;
	const char *hold = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "hold");
	if (!s->have_disco) {
		ctl__sso_kick(srv);
		return fail_page(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Sign-in unavailable",
				 "Signing in is not possible now", s->status);
	}
	snprintf(p.next, sizeof(p.next), "%s", next && ctl__safe_next(next) ? next : "/");
	if (hold) { /* check mode: the person signs in again for this hold, then approves it */
		const struct ctl__hold *h = ctl__hold_find(srv, hold);
		if (!h || h->state != CTL__PENDING)
			return ctl__page(r, MHD_HTTP_NOT_FOUND, "Unknown request", NULL,
					 "<p class=err id=error>This check link is unknown, has "
					 "expired or was already decided; connect again for a new "
					 "one.</p>");
		snprintf(p.hold, sizeof(p.hold), "%s", h->id);
		snprintf(p.next, sizeof(p.next), "/check/%s", h->id);
		p.auth_after = h->created;
	}
	if (!pre_cookie(r, pre))
		ctl__random_hex(pre, SRV_SSO_PRE_HEX / 2);
	memcpy(p.pre, pre, sizeof(p.pre));
	source_of(r, p.source);
	ctl_oidc_login_new(&l);
	memcpy(p.state, l.state, sizeof(p.state));
	memcpy(p.nonce, l.nonce, sizeof(p.nonce));
	memcpy(p.verifier, l.verifier, sizeof(p.verifier));
	/* check mode: prompt=login and max_age=0, the provider asks for the password again */
	int rc = ctl_oidc_auth_url(&s->disco, s->cfg.client_id, s->redirect_uri, s->cfg.scopes, &l,
				   p.hold[0] != '\0', url, sizeof(url), err, sizeof(err));
	bool url_made = !rc;
	if (!rc)
		rc = ctl__sso_table_add(&s->pending, &p, now, &retry_at);
	sodium_memzero(&l, sizeof(l));
	sodium_memzero(&p, sizeof(p));
	when_utc(when, retry_at);
	if (rc == -EAGAIN)
		return ctl__page(r, MHD_HTTP_TOO_MANY_REQUESTS, "Too many sign-ins", NULL,
				 "<p class=err id=error>Too many sign-ins were started from your "
				 "address. Try again at %s.</p>",
				 when);
	if (rc && rc != -EINVAL && url_made) /* fail closed: the store cannot count or keep it */
		return fail_page(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Sign-in unavailable",
				 "Signing in is not possible now", "the store does not answer");
	if (rc == -EINVAL) /* a state of the wrong length: ours, not the store's */
		snprintf(err, sizeof(err), "the login's state is malformed (internal error)");
	if (rc)
		return fail_page(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Sign-in unavailable",
				 "The provider's sign-in address cannot be made", err);
	ctl__sso_pre_sign(s->cookie_key, pre, signed_pre);
	ctl__sso_cookie_header(https(srv), signed_pre, cookie, sizeof(cookie));
	return ctl__redirect(r, url, cookie);
}

struct args_ctx {
	struct ctl__sso_callback *cb;
	char *err;
	size_t errlen;
	int rc;
};

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			      const char *value)
{
	struct args_ctx *a = cls;
	(void)kind;
	if (!a->rc)
		a->rc = ctl__sso_callback_arg(a->cb, key, value ? value : "", a->err, a->errlen);
	return a->rc ? MHD_NO : MHD_YES;
}

bool ctl__check_via_sso(struct ctl_server *srv, const struct ctl__node *src)
{
	char *groups = NULL;
	if (!srv->sso || src->rec.user_id <= 0 ||
	    srv->store->ops->sso_groups(srv->store, src->rec.user_id, &groups) != 0)
		return false;
	free(groups);
	return true;
}

/* Check mode: the person signed in again at the provider for hold_id (its token verified
 * with auth_time required, at or after the hold's creation) and is u here.  The Approve
 * page for that hold alone, or a refusal page (logged) saying why. */
static enum MHD_Result check_finish(struct ctl__req *r, const char *hold_id,
				    const struct ctl_oidc_identity *id, const struct ctl_user *u)
{
	struct ctl_server *srv = r->srv;
	struct ctl__hold *h = ctl__hold_find(srv, hold_id);
	struct ctl__node *src = h ? ctl__node_by_id(srv, h->src) : NULL;
	char why[256];
	if (!h || !src)
		return fail_page(r, MHD_HTTP_NOT_FOUND, "Unknown request",
				 "This check link has expired; connect again for a new one", "");
	struct ctl__sso_check c = { .hold_created = h->created,
				    .hold_pending = h->state == CTL__PENDING,
				    .src_tagged = src->rec.n_tags > 0,
				    .src_owner = src->rec.user_id,
				    .user_id = u->id,
				    .auth_time = id->auth_time,
				    .now = ctl__now_s() };
	if (ctl__sso_check_decide(&c, why, sizeof(why)) != 0) {
		log_info("meshcontrol",
			 "oidc: %s (sub %s) may not approve check %.8s (SSH as %s "
			 "from %s): %s",
			 u->login, id->sub, hold_id, h->local_user, src->rec.hostname, why);
		return fail_page(r, MHD_HTTP_FORBIDDEN, "Not approved",
				 "You cannot approve this login", why);
	}
	log_info("meshcontrol", "oidc: %s signed in again for check %.8s (auth_time %lld)",
		 u->login, hold_id, (long long)id->auth_time);
	return ctl__check_reauthed(r, h, u, id->auth_time);
}

/* The exchange is done (or its time ran out): who the person is here, then a session. */
/* A sign-in through the provider as control.login: how it ended (why it failed). */
static void sso_audit(struct ctl__req *r, const char *who, const char *how, const char *why)
{
	char detail[SRV_SSO_ERR_MAX + 32];
	snprintf(detail, sizeof(detail), "%s%.480s", how, why);
	ctl__audit(r->srv, r->conn, "control.login", NULL, who, detail);
}

static enum MHD_Result finish(struct ctl__req *r)
{
	struct ctl_server *srv = r->srv;
	struct ctl__sso *s = srv->sso;
	struct ctl__sso_job *job = r->sso_job;
	char why[SRV_SSO_ERR_MAX], login[CTL_LOGIN_MAX], next[SRV_SSO_NEXT_MAX];
	r->sso_job = NULL;
	if (job->step != SRV_SSO_DONE) {
		ctl__sso_job_release(srv, job);
		snprintf(why, sizeof(why), "the identity provider at %s did not answer within %d s",
			 s->cfg.issuer, SRV_SSO_EXCHANGE_WAIT_MS / 1000);
		return fail_page(r, MHD_HTTP_GATEWAY_TIMEOUT, "Sign-in failed", "Sign-in failed",
				 why);
	}
	int rc = job->rc;
	struct ctl_oidc_identity *id = malloc(sizeof(*id));
	if (id)
		*id = job->id;
	snprintf(next, sizeof(next), "%s", job->next);
	char hold[sizeof(job->hold)];
	snprintf(hold, sizeof(hold), "%s", job->hold);
	char err[sizeof(job->err)];
	snprintf(err, sizeof(err), "%s", job->err);
	ctl__sso_job_release(srv, job);
	if (!id)
		return MHD_NO;
	enum MHD_Result res;
	if (rc && hold[0]) {
		log_info("meshcontrol", "oidc: a new sign-in for check %.8s failed: %s", hold, err);
		res = fail_page(
		    r, MHD_HTTP_FORBIDDEN, "Not approved",
		    "Your new sign-in at the identity provider cannot approve this login", err);
		goto out;
	}
	if (rc) {
		log_info("meshcontrol", "oidc: a sign-in failed: %s", err);
		sso_audit(r, "", "failed (sso): ", err);
		res = fail_page(r, MHD_HTTP_FORBIDDEN, "Sign-in failed", "Sign-in failed", err);
		goto out;
	}
	if (!ctl__sso_allowed(&s->cfg, id, why, sizeof(why))) {
		log_info("meshcontrol", "oidc: %s (sub %s, email '%s') refused: %s", id->iss,
			 id->sub, id->email, why);
		sso_audit(r, id->email[0] ? id->email : id->sub, "failed (sso): ", why);
		res = fail_page(r, MHD_HTTP_FORBIDDEN, "Not allowed",
				"You may not use this tailnet", why);
		goto out;
	}
	if (ctl__sso_login_for(&s->cfg, id, login, why, sizeof(why)) != 0) {
		res = fail_page(r, MHD_HTTP_FORBIDDEN, "Sign-in failed", "Sign-in failed", why);
		goto out;
	}
	struct ctl_user u;
	bool created = false;
	rc = ctl__sso_user_login(srv, id, login, hold[0] != '\0', ctl__now_s(), &u, &created, why,
				 sizeof(why));
	if (rc == -EPERM) {
		log_info("meshcontrol", "oidc: %s (sub %s) may not approve check %.8s: %s", id->iss,
			 id->sub, hold, why);
		res = fail_page(r, MHD_HTTP_FORBIDDEN, "Not approved",
				"You cannot approve this login", why);
		goto out;
	}
	if (rc) {
		res =
		    fail_page(r, rc == -EEXIST ? MHD_HTTP_CONFLICT : MHD_HTTP_INTERNAL_SERVER_ERROR,
			      "Sign-in failed", "Sign-in failed", why);
		goto out;
	}
	log_info("meshcontrol", "oidc: %s signed in (%s, sub %s, %zu groups)%s%s%.8s", u.login,
		 id->iss, id->sub, id->ngroups, created ? ": a new user" : "",
		 hold[0] ? " for check " : "", hold);
	if (!hold[0])
		sso_audit(r, u.login, "ok (sso)", "");
	res = hold[0] ? check_finish(r, hold, id, &u) : ctl__session_start(r, &u, next);
out:
	free(id);
	return res;
}

static enum MHD_Result callback(struct ctl__req *r)
{
	struct ctl_server *srv = r->srv;
	struct ctl__sso *s = srv->sso;
	struct ctl__sso_callback cb = { 0 };
	struct ctl__sso_pending p;
	char err[SRV_SSO_ERR_MAX], q1[CTL_OIDC_QUOTE_BUF], q2[CTL_OIDC_QUOTE_BUF];
	char pre[SRV_SSO_PRE_HEX + 1];
	struct args_ctx a = { .cb = &cb, .err = err, .errlen = sizeof(err) };
	if (r->sso_job)
		return finish(r);
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, on_arg, &a);
	int rc = a.rc ? a.rc : ctl__sso_callback_finish(&cb, err, sizeof(err));
	if (rc)
		return fail_page(r, MHD_HTTP_BAD_REQUEST, "Sign-in failed",
				 "This sign-in cannot be finished", err);
	rc = ctl__sso_table_take(&s->pending, cb.state, pre_cookie(r, pre) ? pre : NULL,
				 ctl__now_s(), &p);
	if (rc == -EPERM)
		return fail_page(r, MHD_HTTP_FORBIDDEN, "Sign-in failed",
				 "This sign-in was started in another browser", "");
	if (rc)
		return fail_page(r, MHD_HTTP_BAD_REQUEST, "Sign-in expired",
				 "This sign-in link was already used or has expired (a sign-in "
				 "link works once, within 10 minutes)",
				 "");
	if (cb.has_iss && strcmp(cb.iss, s->disco.issuer) != 0) {
		sodium_memzero(&p, sizeof(p));
		snprintf(err, sizeof(err), "the callback's iss \"%s\" is not the issuer \"%s\"",
			 ctl_oidc_quote(cb.iss, q1), s->disco.issuer);
		return fail_page(r, MHD_HTTP_BAD_REQUEST, "Sign-in failed",
				 "This sign-in came back from another provider", err);
	}
	if (cb.has_error) {
		sodium_memzero(&p, sizeof(p));
		snprintf(err, sizeof(err), "%s%s%s%s", ctl_oidc_quote(cb.error, q1),
			 cb.error_description[0] ? " (" : "",
			 ctl_oidc_quote(cb.error_description, q2),
			 cb.error_description[0] ? ")" : "");
		log_info("meshcontrol", "oidc: the provider ended a sign-in: %s", err);
		return fail_page(r, MHD_HTTP_FORBIDDEN, "Sign-in failed",
				 "The identity provider did not sign you in", err);
	}
	struct ctl__sso_job *job = calloc(1, sizeof(*job));
	if (!job) {
		sodium_memzero(&p, sizeof(p));
		return MHD_NO;
	}
	ctl__random_hex(job->token, 16);
	source_of(r, job->source);
	memcpy(job->code, cb.code, sizeof(job->code));
	memcpy(job->verifier, p.verifier, sizeof(job->verifier));
	memcpy(job->nonce, p.nonce, sizeof(job->nonce));
	memcpy(job->next, p.next, sizeof(job->next));
	memcpy(job->hold, p.hold, sizeof(job->hold));
	job->auth_after = p.auth_after;
	sodium_memzero(&p, sizeof(p));
	sodium_memzero(&cb, sizeof(cb));
	rc = ctl__sso_job_queue(s, job);
	if (rc) {
		sodium_memzero(job, sizeof(*job));
		free(job);
		return ctl__page(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Busy", NULL,
				 "<p class=err id=error>Too many sign-ins %sare being finished at "
				 "once; try again in a few seconds.</p>%s",
				 rc == -EAGAIN ? "from your address " : "", again);
	}
	r->sso_job = job;
	snprintf(r->token, sizeof(r->token), "%s", job->token);
	ctl__suspend(r, SRV_WAIT_SSO, now_mono_ms() + SRV_SSO_EXCHANGE_WAIT_MS);
	return MHD_YES;
}

enum MHD_Result ctl__sso_web(struct ctl__req *r, const char *method, const char *path)
{
	if (!r->srv->sso)
		return ctl__page(r, MHD_HTTP_NOT_FOUND, "Not found", NULL,
				 "<p>Single sign-on is not configured here.</p>");
	if (strcmp(method, "GET") != 0)
		return ctl__page(r, MHD_HTTP_METHOD_NOT_ALLOWED, "Not allowed", NULL,
				 "<p>This page takes GET.</p>");
	if (strcmp(path, "/oidc/start") == 0)
		return start(r);
	if (strcmp(path, "/oidc/callback") == 0)
		return callback(r);
	return ctl__page(r, MHD_HTTP_NOT_FOUND, "Not found", NULL, "<p>There is no page here.</p>");
}
