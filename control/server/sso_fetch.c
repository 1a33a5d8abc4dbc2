/* The OpenID provider's I/O, on a thread of its own so a slow or dead provider never holds
 * the server's lock or one of its HTTP threads: the discovery document and the JWKS (at
 * start, again after a failure, after the JWKS's TTL, and on an unknown kid at most as
 * often as ctl_oidc_jwks_fetch_due allows), and each callback's token exchange
 * (client_secret_basic, the PKCE verifier) with the ID token's verification.  libcurl with
 * control/url's rules: https verified against the system's CAs, http only to a loopback
 * provider (the issuer's own URL says so), no redirects, every answer bounded.  The
 * provider being down at start stops nothing: logins say it is unreachable, with curl's
 * words, until it answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "common/log.h"
#include "control/server/internal.h"
#include "control/server/sso.h"
#include "control/url/url.h"

enum { FETCH_TIMEOUT_MS = 10000, CONNECT_TIMEOUT_MS = 5000 };

struct body {
	char *p;
	size_t n, max;
	bool over;
};

static size_t on_data(char *d, size_t size, size_t nmemb, void *u)
{
	struct body *b = u;
	size_t len = size * nmemb;
	if (b->n + len > b->max) {
		b->over = true;
		return 0;
	}
	char *p = realloc(b->p, b->n + len + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, d, len);
	b->p = p;
	b->n += len;
	b->p[b->n] = '\0';
	return len;
}

static void body_wipe(struct body *b)
{
	if (b->p)
		sodium_memzero(b->p, b->n);
	free(b->p);
	b->p = NULL;
	b->n = 0;
}

/* One request to the provider: GET, or POST of form with hdrs, on *keep (made at the first
 * use, reset but kept, so its connection serves the next request) or on a handle of its
 * own when keep is NULL.  0 with the body and HTTP status; -EIO with a sentence naming the
 * provider (and curl's words) in err. */
static int http_do(const struct ctl__sso_config *c, void **keep, const char *what, const char *url,
		   const char *form, struct curl_slist *hdrs, struct body *b, long *status,
		   char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *e = keep && *keep ? *keep : curl_easy_init();
	if (keep && e)
		curl_easy_reset(e); /* options go, the connection stays */
	if (keep)
		*keep = e;
	if (!e) {
		snprintf(err, errlen, "cannot make a request to the identity provider");
		return -ENOMEM;
	}
	ctl_url_curl_setup(e, NULL, errbuf);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	if (form)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, form);
	if (hdrs)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	CURLcode rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	if (keep) {
		/* nothing of this call's stays pointed at: hdrs (the secret) and form are wiped
		 * by the caller, errbuf is on this stack */
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
	} else {
		curl_easy_cleanup(e);
	}
	if (b->over) {
		snprintf(err, errlen, "the identity provider's %s (%s) is larger than %zu bytes",
			 what, url, b->max);
		return -EIO;
	}
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "the identity provider at %s is unreachable: %s", c->issuer,
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return -EIO;
	}
	return 0;
}

/* The discovery document and the JWKS (into the caller's fresh *keys). */
static int fetch_provider(const struct ctl__sso_config *c, struct ctl_oidc_discovery *d,
			  struct ctl_oidc_jwks **keys, char *err, size_t errlen)
{
	char url[CTL_OIDC_URL_MAX + 64], why[CTL_OIDC_ERR_MAX];
	size_t n = strlen(c->issuer);
	while (n && c->issuer[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration", (int)n, c->issuer);
	struct body b = { .max = CTL_OIDC_DOC_MAX };
	long status = 0;
	int rc = http_do(c, NULL, "discovery document", url, NULL, NULL, &b, &status, err, errlen);
	if (!rc && status != 200) {
		snprintf(err, errlen, "the identity provider at %s answered %s with HTTP %ld",
			 c->issuer, url, status);
		rc = -EIO;
	}
	if (!rc && ctl_oidc_discovery_parse(b.p ? b.p : "", b.n, c->issuer, c->loopback_http, d,
					    why, sizeof(why)) != 0) {
		snprintf(err, errlen, "the identity provider at %s is refused: %s", c->issuer, why);
		rc = -EINVAL;
	}
	body_wipe(&b);
	if (rc)
		return rc;
	b = (struct body){ .max = CTL_OIDC_JWKS_MAX };
	rc = http_do(c, NULL, "JWKS", d->jwks_uri, NULL, NULL, &b, &status, err, errlen);
	if (!rc && status != 200) {
		snprintf(err, errlen, "the identity provider's JWKS at %s answered HTTP %ld",
			 d->jwks_uri, status);
		rc = -EIO;
	}
	if (!rc && ctl_oidc_jwks_parse(b.p ? b.p : "", b.n, keys, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "the identity provider's JWKS at %s is refused: %s",
			 d->jwks_uri, why);
		rc = -EINVAL;
	}
	body_wipe(&b);
	for (size_t i = 0; !rc && ctl_oidc_jwks_ignored(*keys, i); i++)
		log_info("meshcontrol", "oidc: left out of the JWKS: %s",
			 ctl_oidc_jwks_ignored(*keys, i));
	return rc;
}

/* Discovery and keys again; the old keys stay when it fails. */
static int refresh(struct ctl__sso *s, struct ctl_oidc_discovery *d, char *err, size_t errlen)
{
	struct ctl_oidc_jwks *keys = NULL;
	int rc = fetch_provider(&s->cfg, d, &keys, err, errlen);
	if (rc)
		return rc;
	ctl_oidc_jwks_free(s->keys);
	s->keys = keys;
	s->keys_fetched = ctl__now_s();
	return 0;
}

/* RFC 6749 2.3.1: client_id and secret form-encoded, then Basic. */
static struct curl_slist *basic_auth(const struct ctl__sso_config *c)
{
	char *id = curl_easy_escape(NULL, c->client_id, 0);
	char *sec = curl_easy_escape(NULL, c->secret, 0);
	char *pair = NULL, *hdr = NULL;
	struct curl_slist *l = NULL;
	if (id && sec && asprintf(&pair, "%s:%s", id, sec) > 0) {
		size_t b64len =
		    sodium_base64_ENCODED_LEN(strlen(pair), sodium_base64_VARIANT_ORIGINAL);
		hdr = malloc(b64len + 32);
		if (hdr) {
			strcpy(hdr, "Authorization: Basic ");
			sodium_bin2base64(hdr + strlen(hdr), b64len, (const unsigned char *)pair,
					  strlen(pair), sodium_base64_VARIANT_ORIGINAL);
			l = curl_slist_append(NULL, hdr);
			sodium_memzero(hdr, strlen(hdr));
		}
		sodium_memzero(pair, strlen(pair));
	}
	if (sec)
		sodium_memzero(sec, strlen(sec));
	curl_free(id);
	curl_free(sec);
	free(pair);
	free(hdr);
	return l;
}

static void slist_wipe(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		sodium_memzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static char *token_form(const struct ctl__sso *s, const struct ctl__sso_job *job)
{
	char *code = curl_easy_escape(NULL, job->code, 0);
	char *redir = curl_easy_escape(NULL, s->redirect_uri, 0);
	char *form = NULL;
	if (code && redir &&
	    asprintf(&form,
		     "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s", code,
		     redir, job->verifier) < 0)
		form = NULL; /* the verifier is base64url: nothing to encode */
	if (code)
		sodium_memzero(code, strlen(code));
	curl_free(code);
	curl_free(redir);
	return form;
}

/* The code for tokens, and the ID token verified (the JWKS fetched again after its TTL or
 * for an unknown kid, as ctl_oidc_jwks_fetch_due allows).  Without the lock. */
static int exchange(struct ctl__sso *s, const struct ctl_oidc_discovery *d,
		    struct ctl__sso_job *job)
{
	struct ctl_oidc_tokens *tok = calloc(1, sizeof(*tok));
	struct curl_slist *hdrs = basic_auth(&s->cfg);
	char *form = token_form(s, job), why[CTL_OIDC_ERR_MAX];
	struct body b = { .max = CTL_OIDC_RESPONSE_MAX };
	long status = 0;
	int rc = -ENOMEM;
	if (!tok || !hdrs || !form) {
		snprintf(job->err, sizeof(job->err), "out of memory");
		goto out;
	}
	rc = http_do(&s->cfg, &s->token_curl, "token response", d->token_endpoint, form, hdrs, &b,
		     &status, job->err, sizeof(job->err));
	if (rc)
		goto out;
	rc = ctl_oidc_token_response_parse(b.p ? b.p : "", b.n, tok, why, sizeof(why));
	if (rc) {
		snprintf(job->err, sizeof(job->err), "%s", why);
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		int64_t now = ctl__now_s();
		bool unknown = rc == -ENOKEY;
		if (attempt > 0 && !(unknown && ctl_oidc_jwks_fetch_due(s->keys_fetched,
									s->kid_fetched, now, true)))
			break;
		if (!s->keys ||
		    ctl_oidc_jwks_fetch_due(s->keys_fetched, s->kid_fetched, now, unknown)) {
			if (unknown)
				s->kid_fetched = now;
			struct ctl_oidc_discovery fresh;
			char ferr[SRV_SSO_ERR_MAX];
			if (refresh(s, &fresh, ferr, sizeof(ferr)) != 0) {
				log_warn("meshcontrol", "oidc: %s", ferr);
				s->keys_fetched = now; /* not again at once for every login */
				if (!s->keys) {
					snprintf(job->err, sizeof(job->err), "%s", ferr);
					rc = -EIO;
					goto out;
				}
			}
		}
		struct ctl_oidc_verify p = { .issuer = d->issuer,
					     .client_id = s->cfg.client_id,
					     .nonce = job->nonce,
					     .algs = d->algs,
					     .now = now,
					     .check = job->hold[0] != '\0',
					     .auth_after = job->auth_after,
					     .groups_claim = s->cfg.groups_claim };
		rc = ctl_oidc_id_token_verify(tok->id_token, strlen(tok->id_token), s->keys, &p,
					      &job->id, why, sizeof(why));
		if (rc != -ENOKEY)
			break;
	}
	if (rc)
		snprintf(job->err, sizeof(job->err), "%s", why);
out:
	if (tok) {
		ctl_oidc_tokens_wipe(tok);
		free(tok);
	}
	if (form)
		sodium_memzero(form, strlen(form));
	free(form);
	slist_wipe(hdrs);
	body_wipe(&b);
	sodium_memzero(job->code, sizeof(job->code));
	sodium_memzero(job->verifier, sizeof(job->verifier));
	return rc;
}

static void job_unlink(struct ctl__sso *s, struct ctl__sso_job *job)
{
	for (struct ctl__sso_job **p = &s->jobs; *p; p = &(*p)->next_job)
		if (*p == job) {
			*p = job->next_job;
			s->n_jobs--;
			break;
		}
	sodium_memzero(job, sizeof(*job));
	free(job);
}

void ctl__sso_job_release(struct ctl_server *srv, struct ctl__sso_job *job)
{
	if (job->step == SRV_SSO_RUNNING)
		job->abandoned = true; /* the provider thread frees it when done */
	else
		job_unlink(srv->sso, job);
}

int ctl__sso_job_queue(struct ctl__sso *s, struct ctl__sso_job *job)
{
	size_t mine = 0;
	for (const struct ctl__sso_job *j = s->jobs; j; j = j->next_job)
		mine += strcmp(j->source, job->source) == 0;
	/* a callback takes its login out of the pending table, so only this bounds how much of
	 * the provider thread one address can keep busy with junk codes */
	if (mine >= SRV_SSO_JOBS_PER_SOURCE)
		return -EAGAIN;
	if (s->n_jobs >= SRV_SSO_JOBS_MAX)
		return -EBUSY;
	job->step = SRV_SSO_QUEUED;
	struct ctl__sso_job **p = &s->jobs;
	while (*p)
		p = &(*p)->next_job;
	*p = job;
	s->n_jobs++;
	pthread_cond_signal(&s->cond);
	return 0;
}

void ctl__sso_kick(struct ctl_server *srv)
{
	struct ctl__sso *s = srv->sso;
	if (!s->have_disco && ctl__now_s() - s->disco_tried >= SRV_SSO_KICK_S) {
		s->disco_wanted = true;
		pthread_cond_signal(&s->cond);
	}
}

static void discover(struct ctl_server *srv, struct ctl__sso *s)
{
	struct ctl_oidc_discovery d;
	char err[sizeof(s->status)];
	s->disco_tried = ctl__now_s();
	s->disco_wanted = false;
	pthread_mutex_unlock(&srv->lock);
	int rc = refresh(s, &d, err, sizeof(err));
	pthread_mutex_lock(&srv->lock);
	if (rc) {
		if (strcmp(err, s->status) != 0)
			log_warn("meshcontrol", "oidc: %s", err);
		snprintf(s->status, sizeof(s->status), "%s", err);
		return;
	}
	s->disco = d;
	s->have_disco = true;
	s->status[0] = '\0';
	log_info("meshcontrol", "oidc: the identity provider %s is ready (%zu signing keys)",
		 s->cfg.issuer, ctl_oidc_jwks_count(s->keys));
}

static void *sso_main(void *arg)
{
	struct ctl_server *srv = arg;
	struct ctl__sso *s = srv->sso;
	pthread_mutex_lock(&srv->lock);
	while (!s->stopping) {
		if (!s->have_disco &&
		    (s->disco_wanted || ctl__now_s() - s->disco_tried >= SRV_SSO_RETRY_S)) {
			discover(srv, s);
			continue;
		}
		struct ctl__sso_job *job = s->jobs;
		while (job && job->step != SRV_SSO_QUEUED)
			job = job->next_job;
		if (!job || !s->have_disco) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&s->cond, &srv->lock, &ts);
			continue;
		}
		struct ctl_oidc_discovery d = s->disco;
		job->step = SRV_SSO_RUNNING;
		pthread_mutex_unlock(&srv->lock);
		job->rc = exchange(s, &d, job);
		pthread_mutex_lock(&srv->lock);
		job->step = SRV_SSO_DONE;
		if (job->abandoned)
			job_unlink(s, job);
		else
			ctl__wake(srv, SRV_WAIT_SSO, job->token);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

void ctl__sso_attach(struct ctl_server *srv)
{
	static const char what[] = "mesh sso pre-session cookie";
	struct ctl__sso *s = srv->sso;
	s->pending.store = srv->store;
	crypto_generichash(s->cookie_key, sizeof(s->cookie_key), (const uint8_t *)what,
			   sizeof(what) - 1, srv->server_priv, sizeof(srv->server_priv));
}

int ctl__sso_new(struct ctl_server *srv, struct ctl__sso_config *c, struct ctl__sso **out)
{
	struct ctl__sso *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *c;
	c->secret = NULL;
	if (ctl__sso_table_init(&s->pending, NULL)) {
		ctl__sso_config_free(&s->cfg);
		free(s);
		return -ENOMEM;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(s->status, sizeof(s->status),
		 "the identity provider at %s has not been reached "
		 "yet",
		 s->cfg.issuer);
	*out = s;
	(void)srv;
	return 0;
}

int ctl__sso_start(struct ctl_server *srv, char *err, size_t errlen)
{
	struct ctl__sso *s = srv->sso;
	snprintf(s->redirect_uri, sizeof(s->redirect_uri), "%s/oidc/callback", srv->public_url);
	if (pthread_create(&s->thread, NULL, sso_main, srv) != 0) {
		snprintf(err, errlen, "cannot start the identity provider's thread");
		return -EAGAIN;
	}
	s->running = true;
	log_info("meshcontrol", "oidc: logins through %s as client %s, back at %s", s->cfg.issuer,
		 s->cfg.client_id, s->redirect_uri);
	return 0;
}

void ctl__sso_free(struct ctl_server *srv)
{
	struct ctl__sso *s = srv->sso;
	if (!s)
		return;
	pthread_mutex_lock(&srv->lock);
	s->stopping = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&srv->lock);
	if (s->running)
		pthread_join(s->thread, NULL);
	while (s->jobs)
		job_unlink(s, s->jobs);
	curl_easy_cleanup(s->token_curl);
	ctl_oidc_jwks_free(s->keys);
	ctl__sso_table_uninit(&s->pending);
	ctl__sso_config_free(&s->cfg);
	pthread_cond_destroy(&s->cond);
	sodium_memzero(s->cookie_key, sizeof(s->cookie_key));
	free(s);
	srv->sso = NULL;
}
