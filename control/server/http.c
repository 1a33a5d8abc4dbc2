/* meshcontrol's HTTP front: the libmicrohttpd daemon (epoll, a few worker threads; HTTPS with
 * GnuTLS, or plain HTTP on loopback), body
 * collection with a size cap per route (checked, with the admin token, from the headers
 * before any of the body is read), routing to the node API, the admin API and the web pages,
 * the wait list of suspended (held) requests, the timer thread that answers them on
 * deadline, and the state directory (database, server key, admin token). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/file.h"
#include "common/key.h"
#include "common/log.h"
#include "common/now.h"
#include "control/server/audit.h"
#include "control/server/internal.h"
#include "control/server/sso.h"
#include "control/url/url.h"

/* Body limits, per route: what its largest legitimate request needs.  Nobody is
 * authenticated while a body arrives, so these (and the budget over all connections) are
 * what an anonymous client can make the server hold. */
enum {
	SRV_BODY_SMALL = 4 << 10,     /* hold, logout, unknown node API paths */
	SRV_BODY_WEB = 8 << 10,	      /* the web forms */
	SRV_BODY_REGISTER = 16 << 10, /* keys, a hostname, at most 32 tags of 64 bytes */
	SRV_BODY_MAP = 64 << 10,      /* 16 endpoints, 8 SSH host keys of 1 KiB */
	SRV_BODY_AUDIT = CTL_AUDIT_BODY_MAX + 256,	 /* 256 events; the envelope's bytes */
	SRV_BODY_SESSIONS = CTL_SESSIONS_BODY_MAX + 256, /* a node's live sessions */
	SRV_BODY_ADMIN = 64 << 10,	 /* admin API objects (after the token was checked) */
	SRV_BODY_POLICY = 1 << 20,	 /* a policy file */
	SRV_BODY_DNS = CTL_DNS_TEXT_MAX, /* the DNS settings */
	SRV_BODY_BUDGET = 64 << 20,	 /* every body being received at once */
	SRV_BODY_DROP_MAX = 8 << 20,	 /* what a refused request may send before it is cut off */
	SRV_TICK_MS = 50,
};

_Thread_local unsigned ctl__last_status;

uint64_t ctl__wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t ctl__now_s(void)
{
	return (int64_t)time(NULL);
}

void ctl__random_hex(char *out, size_t bytes)
{
	uint8_t b[64];
	randombytes_buf(b, bytes);
	sodium_bin2hex(out, 2 * bytes + 1, b, bytes);
}

void ctl__source(struct MHD_Connection *c, char out[static SRV_SOURCE_MAX])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	char a[INET6_ADDRSTRLEN];
	snprintf(out, SRV_SOURCE_MAX, "?");
	if (sa && sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, a, sizeof(a));
		snprintf(out, SRV_SOURCE_MAX, "%s", a);
	} else if (sa && sa->sa_family == AF_INET6) {
		struct in6_addr net = ((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&net)) {
			inet_ntop(AF_INET, net.s6_addr + 12, a, sizeof(a));
			snprintf(out, SRV_SOURCE_MAX, "%s", a);
			return;
		}
		memset(net.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &net, a, sizeof(a));
		snprintf(out, SRV_SOURCE_MAX, "%s/64", a);
	}
}

/* The request being answered on this thread (on_request sets it around route): ctl__reply
 * sees only the connection, and the headers a request adds to its answer are in it. */
static _Thread_local struct ctl__req *answering;

enum MHD_Result ctl__reply(struct MHD_Connection *c, unsigned status, const char *ctype, char *body,
			   size_t len)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (answering && answering->conn == c)
		ctl__reply_headers(answering, resp);
	ctl__last_status = status;
	enum MHD_Result rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

enum MHD_Result ctl__reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return MHD_NO;
	size_t len = strlen(s);
	return ctl__reply(c, status, "application/json", s, len);
}

enum MHD_Result ctl__reply_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The message may quote a client's bytes (a URL, a login) that are not UTF-8, which
	 * JSON cannot carry: they become '?' rather than the refusal going unanswered. */
	json_t *j = json_pack("{s:s}", "error", msg);
	for (char *p = msg; !j && *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	return ctl__reply_json(c, status, j ? j : json_pack("{s:s}", "error", msg));
}

static void wait_unlink(struct ctl__req *r)
{
	if (!r->prev)
		return;
	r->prev->next = r->next;
	r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->srv->n_waiting[r->wait]--;
}

void ctl__suspend(struct ctl__req *r, enum ctl__wait wait, uint64_t deadline_ms)
{
	struct ctl_server *srv = r->srv;
	struct ctl__req *head = &srv->waiting[wait];
	r->wait = wait;
	r->deadline_ms = deadline_ms;
	if (!srv->next_deadline_ms || deadline_ms < srv->next_deadline_ms)
		srv->next_deadline_ms = deadline_ms;
	r->suspended = true;
	r->next = head;
	r->prev = head->prev;
	head->prev->next = r;
	head->prev = r;
	srv->n_waiting[wait]++;
	MHD_suspend_connection(r->conn);
}

static void resume(struct ctl__req *r)
{
	wait_unlink(r);
	r->suspended = false;
	MHD_resume_connection(r->conn);
}

void ctl__wake(struct ctl_server *srv, enum ctl__wait wait, const char *token)
{
	struct ctl__req *head = &srv->waiting[wait], *r = head->next, *next;
	for (; r != head; r = next) {
		next = r->next;
		if (!token || strcmp(token, r->token) == 0)
			resume(r);
	}
}

void ctl__wake_if(struct ctl_server *srv, enum ctl__wait wait,
		  bool (*due)(struct ctl__req *r, void *ctx), void *ctx)
{
	struct ctl__req *head = &srv->waiting[wait], *r = head->next, *next;
	for (; r != head; r = next) {
		next = r->next;
		if (due(r, ctx))
			resume(r);
	}
}

void ctl__wake_all(struct ctl_server *srv)
{
	for (int k = SRV_WAIT_NONE + 1; k < SRV_WAIT_KINDS; k++)
		ctl__wake(srv, (enum ctl__wait)k, NULL);
}

static void *timer_main(void *arg)
{
	struct ctl_server *srv = arg;
	pthread_mutex_lock(&srv->lock);
	while (!srv->stopping) {
		struct timespec ts; /* timer_cond waits on CLOCK_MONOTONIC */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += SRV_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->timer_cond, &srv->lock, &ts);
		if (srv->stopping)
			break;
		/* held requests past their deadline: walked only once the earliest is due (at
		 * 10 000 nodes every tick's walk of all the held map polls was ~1.3 % of the CPU)
		 */
		uint64_t now = now_mono_ms();
		if (srv->next_deadline_ms && now >= srv->next_deadline_ms) {
			uint64_t next_due = 0;
			for (int k = SRV_WAIT_NONE + 1; k < SRV_WAIT_KINDS; k++) {
				struct ctl__req *head = &srv->waiting[k], *r = head->next, *next;
				for (; r != head; r = next) {
					next = r->next;
					if (r->deadline_ms <= now)
						resume(r);
					else if (!next_due || r->deadline_ms < next_due)
						next_due = r->deadline_ms;
				}
			}
			srv->next_deadline_ms = next_due;
		}
		ctl__timer_tick(srv);
		ctl__transient_sweep(srv, ctl__now_s());
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Not under srv->lock (it takes it). */
static bool admin_authorized(struct ctl_server *srv, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	uint8_t hash[32];
	if (!h || strncmp(h, "Bearer ", 7) != 0)
		return false;
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)h + 7, strlen(h + 7), NULL, 0);
	/* from the headers' first call, without the lock: a replica's listener may be storing
	 * a rotated token's hash meanwhile (replica.c) */
	uint8_t want[32];
	pthread_mutex_lock(&srv->lock);
	memcpy(want, srv->admin_hash, sizeof(want));
	pthread_mutex_unlock(&srv->lock);
	return sodium_memcmp(hash, want, sizeof(hash)) == 0;
}

static size_t body_limit(const char *url)
{
	if (strcmp(url, "/machine/register") == 0)
		return SRV_BODY_REGISTER;
	if (strcmp(url, "/machine/map") == 0)
		return SRV_BODY_MAP;
	if (strcmp(url, "/machine/audit") == 0)
		return SRV_BODY_AUDIT;
	if (strcmp(url, "/machine/sessions") == 0)
		return SRV_BODY_SESSIONS;
	if (strncmp(url, "/machine/", 9) == 0)
		return SRV_BODY_SMALL;
	if (strcmp(url, "/api/v1/policy") == 0 || strcmp(url, "/api/v1/policy/check") == 0)
		return SRV_BODY_POLICY;
	if (strcmp(url, "/api/v1/dns") == 0)
		return SRV_BODY_DNS;
	if (strncmp(url, "/api/v1/", 8) == 0)
		return SRV_BODY_ADMIN;
	return SRV_BODY_WEB;
}

static enum MHD_Result refuse(struct ctl__req *r)
{
	switch (r->refusal) {
	case SRV_REFUSE_TOKEN:
		return ctl__reply_error(r->conn, MHD_HTTP_UNAUTHORIZED,
					"missing or wrong admin token (Authorization: Bearer "
					"<token>)");
	case SRV_REFUSE_BUSY:
		return ctl__reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					"the server is receiving too many requests at once; try "
					"again in a few seconds");
	default:
		return ctl__reply_error(r->conn, MHD_HTTP_CONTENT_TOO_LARGE,
					"request body is larger than %zu bytes", r->max);
	}
}

/* Before any of the body is read: an admin request without the token, or a body over the
 * route's limit, is refused.  The answer goes out at once when the client waits for it
 * (Expect: 100-continue) or would send more than we care to drop; otherwise the body is
 * read and dropped first, so the client is not reset while it still sends. */
static enum MHD_Result headers_check(struct ctl__req *r, const char *url)
{
	const char *cl =
	    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *expect =
	    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
	unsigned long long len = 0;
	r->max = body_limit(url);
	if (cl) {
		char *end;
		errno = 0;
		len = strtoull(cl, &end, 10);
		if (errno || *end || end == cl)
			len = ULLONG_MAX;
	}
	if (strncmp(url, "/api/v1/", 8) == 0 && !admin_authorized(r->srv, r->conn))
		r->refusal = SRV_REFUSE_TOKEN;
	else if (len > r->max)
		r->refusal = SRV_REFUSE_SIZE;
	if (r->refusal &&
	    ((expect && strcasecmp(expect, "100-continue") == 0) || len > SRV_BODY_DROP_MAX)) {
		r->answered = true;
		return refuse(r);
	}
	return MHD_YES;
}

static enum MHD_Result route(struct ctl__req *r, const char *url, const char *method)
{
	struct ctl_server *srv = r->srv;
	if (r->refusal)
		return refuse(r);
	r->replica_header = strncmp(url, "/api/v1/", 8) == 0 || strcmp(url, "/healthz") == 0;
	if (strcmp(url, "/healthz") == 0 && strcmp(method, "GET") == 0)
		return ctl__healthz(r);
	if (strcmp(url, "/key") == 0) {
		char key[KEY_BASE64_SIZE];
		key_to_base64(key, srv->server_pub);
		return ctl__reply_json(r->conn, MHD_HTTP_OK,
				       json_pack("{s:s, s:i}", "server_key", key, "version", 1));
	}
	if (strncmp(url, "/machine/", 9) == 0) {
		if (strcmp(method, "POST") != 0)
			return ctl__reply_error(r->conn, MHD_HTTP_METHOD_NOT_ALLOWED,
						"the node API takes POST");
		return ctl__node_api(r, url + 9);
	}
	if (strncmp(url, "/api/v1/", 8) == 0)
		return ctl__admin_api(r, method, url + 8); /* the token was checked first */
	return ctl__web(r, method, url);
}

/* Room for want bytes of body, counted against the budget of all bodies being received;
 * -ENOBUFS when that is spent. */
static int body_grow(struct ctl__req *r, size_t want)
{
	if (want <= r->cap)
		return 0;
	size_t cap = want * 2 > r->max + 1 ? r->max + 1 : want * 2;
	size_t more = cap - r->budgeted;
	if (atomic_fetch_add(&r->srv->body_bytes, more) + more > SRV_BODY_BUDGET) {
		atomic_fetch_sub(&r->srv->body_bytes, more);
		return -ENOBUFS;
	}
	r->budgeted += more;
	char *b = realloc(r->body, cap);
	if (!b)
		return -ENOMEM;
	r->body = b;
	r->cap = cap;
	return 0;
}

static void body_free(struct ctl__req *r)
{
	free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
	atomic_fetch_sub(&r->srv->body_bytes, r->budgeted);
	r->budgeted = 0;
}

/* Refused while its body arrives: what came is freed, the rest will be dropped. */
static void body_refuse(struct ctl__req *r, enum ctl__refusal why)
{
	r->refusal = why;
	body_free(r);
}

void ctl__body_release(struct ctl__req *r)
{
	body_free(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct ctl_server *srv = cls;
	struct ctl__req *r = *con_cls;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->srv = srv;
		r->conn = c;
		*con_cls = r;
		return headers_check(r, url);
	}
	if (r->answered) { /* refused from its headers: the body goes unread */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!r->refusal && r->len + *upload_size > r->max)
			body_refuse(r, SRV_REFUSE_SIZE);
		if (!r->refusal && body_grow(r, r->len + *upload_size + 1) != 0)
			body_refuse(r, SRV_REFUSE_BUSY);
		if (r->refusal) {
			r->dropped += *upload_size;
			if (r->dropped > SRV_BODY_DROP_MAX)
				return MHD_NO; /* an endless body: close the connection */
		} else {
			memcpy(r->body + r->len, upload, *upload_size);
			r->len += *upload_size;
			r->body[r->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&srv->lock);
	answering = r;
	enum MHD_Result rc = route(r, url, method);
	answering = NULL;
	pthread_mutex_unlock(&srv->lock);
	return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct ctl_server *srv = cls;
	struct ctl__req *r = *con_cls;
	if (!r)
		return;
	pthread_mutex_lock(&srv->lock);
	wait_unlink(r);
	if (r->sso_job) /* closed while its token exchange ran */
		ctl__sso_job_release(srv, r->sso_job);
	pthread_mutex_unlock(&srv->lock);
	json_decref(r->msg);
	body_free(r);
	free(r);
	*con_cls = NULL;
}

/* The request handler libmicrohttpd calls, for driving a request without a socket (the
 * fuzz target): the first call sees the headers, then each piece of body, then an empty
 * one to answer; ctl__http_completed ends it. */
enum MHD_Result ctl__http_request(struct ctl_server *srv, struct MHD_Connection *c, const char *url,
				  const char *method, const char *upload, size_t *upload_size,
				  void **con_cls)
{
	return on_request(srv, c, url, method, "HTTP/1.1", upload, upload_size, con_cls);
}

void ctl__http_completed(struct ctl_server *srv, struct MHD_Connection *c, void **con_cls)
{
	on_completed(srv, c, con_cls, MHD_REQUEST_TERMINATED_COMPLETED_OK);
}

/* ---- lifecycle ---- */

/* --oidc-*: checked, the client secret read; the provider is reached once serving. */
static int sso_config(struct ctl_server *srv, char *err, size_t errlen)
{
	struct ctl__sso_config c;
	int rc = ctl__sso_config_load(&srv->cfg.oidc, &c, err, errlen);
	if (rc)
		return rc;
	rc = ctl__sso_new(srv, &c, &srv->sso);
	ctl__sso_config_free(&c);
	if (rc)
		snprintf(err, errlen, "out of memory");
	return rc;
}

int ctl_server_new(const struct ctl_server_config *cfg, struct ctl_server **out, char *err,
		   size_t errlen)
{
	struct ctl_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	for (int k = 0; k < SRV_WAIT_KINDS; k++)
		srv->waiting[k].next = srv->waiting[k].prev = &srv->waiting[k];
	pthread_mutex_init(&srv->lock, NULL);
	/* deadlines are on the monotonic clock: setting the wall clock back must not hold a
	 * request (or a login) for as long as it went back */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->timer_cond, &ca);
	pthread_condattr_destroy(&ca);
	srv->state_dir = strdup(cfg->state_dir);
	srv->domain = strdup(cfg->domain ? cfg->domain : CTL_DOMAIN_DEFAULT);
	if (!srv->cfg.keepalive_ms)
		srv->cfg.keepalive_ms = 25000;
	if (!srv->cfg.key_lifetime_s)
		srv->cfg.key_lifetime_s = 180 * 86400;
	if (!srv->cfg.threads)
		srv->cfg.threads = 4;
	if (!srv->cfg.listen)
		srv->cfg.listen = "127.0.0.1";
	srv->map_version = ctl__wall_ms() * 1000;
	int rc = -ENOMEM;
	if (sodium_init() < 0)
		goto fail;
	if (!srv->state_dir || !srv->domain || ctl_replay_new(&srv->replay))
		goto fail;
	rc = ctl__relay_config(srv, err, errlen);
	if (!rc)
		rc = ctl__replica_config(srv, err, errlen);
	if (!rc && cfg->oidc.issuer)
		rc = sso_config(srv, err, errlen);
	if (!rc)
		rc = ctl_state_open_store(cfg->state_dir, cfg->store_url, &srv->store, err, errlen);
	srv->shared = ctl__store_shared(cfg->store_url);
	if (!rc && srv->shared)
		rc = ctl__replica_identity(srv, err, errlen);
	else if (!rc)
		rc = ctl__load_server_key(cfg->state_dir, srv->server_pub, srv->server_priv, err,
					  errlen);
	if (rc)
		goto fail;
	ctl__csrf_key_derive(srv);
	if (srv->sso)
		ctl__sso_attach(srv);
	char hash_hex[65], token[65];
	if (!srv->shared && srv->store->ops->meta_get(srv->store, "admin_token_hash", hash_hex,
						      sizeof(hash_hex)) != 0) {
		rc = ctl_state_admin_token(cfg->state_dir, srv->store, token, err, errlen);
		sodium_memzero(token, sizeof(token));
		if (rc)
			goto fail;
		srv->store->ops->meta_get(srv->store, "admin_token_hash", hash_hex,
					  sizeof(hash_hex));
	}
	if (!srv->shared)
		sodium_hex2bin(srv->admin_hash, 32, hash_hex, strlen(hash_hex), NULL, NULL, NULL);
	rc = srv->store->ops->policy_get(srv->store, &srv->policy_text);
	if (!rc)
		rc = ctl__nodes_load(srv);
	if (rc) {
		snprintf(err, errlen, "cannot load state: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = ctl__dns_load(srv, err, errlen)))
		goto fail;
	rc = ctl__map_rebuild(srv, err, errlen);
	if (rc)
		goto fail;
	*out = srv;
	return 0;
fail:
	ctl_server_free(srv);
	return rc;
}

enum { SRV_TLS_FILE_MAX = 1 << 20 }; /* a certificate chain or key in PEM */

/* What to serve with: the certificate and key when given (the key refused when others may
 * read it), otherwise plain HTTP only on loopback or when insecure_http says so.  The
 * public URL must be https:// when we serve HTTPS. */
static int transport_check(struct ctl_server *srv, char *err, size_t errlen)
{
	const struct ctl_server_config *cfg = &srv->cfg;
	if (!cfg->tls_cert != !cfg->tls_key) {
		snprintf(err, errlen,
			 "--tls-cert and --tls-key go together (the certificate and "
			 "its private key)");
		return -EINVAL;
	}
	if (!cfg->tls_cert) {
		if (ctl_url_host_is_loopback(cfg->listen))
			return 0;
		if (!cfg->insecure_http) {
			snprintf(
			    err, errlen,
			    "refusing to serve plain HTTP on %s, which is not "
			    "loopback: give --tls-cert and --tls-key, or --insecure-http to send "
			    "passwords, cookies and the admin token unencrypted",
			    cfg->listen);
			return -EINVAL;
		}
		log_warn("meshcontrol",
			 "--insecure-http: serving plain HTTP on %s: web passwords, "
			 "session cookies and the admin token cross the network unencrypted",
			 cfg->listen);
		return 0;
	}
	if (cfg->public_url && strncmp(cfg->public_url, "https://", 8) != 0) {
		snprintf(err, errlen,
			 "--public-url '%s' is not https://, but the server serves "
			 "HTTPS (--tls-cert)",
			 cfg->public_url);
		return -EINVAL;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, errlen,
			 "this libmicrohttpd was built without TLS; --tls-cert cannot "
			 "be served");
		return -ENOTSUP;
	}
	int rc = file_read_all(cfg->tls_cert, SRV_TLS_FILE_MAX, &srv->tls_cert, NULL);
	if (rc) {
		snprintf(err, errlen, "--tls-cert %s: %s", cfg->tls_cert,
			 rc == -EFBIG ? "larger than a certificate chain can be" : strerror(-rc));
		return rc;
	}
	char why[512];
	rc = file_read_secret(cfg->tls_key, SRV_TLS_FILE_MAX, &srv->tls_key, &srv->tls_key_len, why,
			      sizeof(why));
	if (rc)
		snprintf(err, errlen, "--tls-key: %s", why);
	return rc;
}

int ctl_server_start(struct ctl_server *srv, char *err, size_t errlen)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} addr;
	memset(&addr, 0, sizeof(addr));
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG |
			 MHD_USE_ITC; /* ITC: the threads can be told to stop accepting (drain) */
	if (inet_pton(AF_INET, srv->cfg.listen, &addr.in.sin_addr) == 1) {
		addr.in.sin_family = AF_INET;
		addr.in.sin_port = htons(srv->cfg.port);
	} else if (inet_pton(AF_INET6, srv->cfg.listen, &addr.in6.sin6_addr) == 1) {
		addr.in6.sin6_family = AF_INET6;
		addr.in6.sin6_port = htons(srv->cfg.port);
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(err, errlen, "listen address '%s' is not an IP address", srv->cfg.listen);
		return -EINVAL;
	}
	int rc = transport_check(srv, err, errlen);
	if (rc)
		return rc;
	/* The certificate and key options come last: without TLS they are not given at all. */
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key },
		{ MHD_OPTION_END, 0, NULL },
	};
	if (srv->tls_cert)
		flags |= MHD_USE_TLS;
	else
		tls[0].option = MHD_OPTION_END;
	/* --trusted-proxy: proxy_listen.c listens and hands the daemon each connection */
	bool proxied = srv->cfg.trusted_proxies && srv->cfg.trusted_proxies->n;
	struct MHD_OptionItem where[] = {
		{ proxied ? MHD_OPTION_END : MHD_OPTION_SOCK_ADDR, 0, &addr.sa },
		{ MHD_OPTION_END, 0, NULL },
	};
	if (proxied)
		flags |= MHD_USE_NO_LISTEN_SOCKET;
	errno = 0;
	srv->mhd = MHD_start_daemon(
	    flags, srv->cfg.port, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY, where,
	    MHD_OPTION_THREAD_POOL_SIZE, srv->cfg.threads, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, srv, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)60000, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)16384, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (!srv->mhd && srv->tls_cert) {
		snprintf(err, errlen,
			 "cannot serve HTTPS on %s port %u: the certificate (%s) or "
			 "key (%s) is not PEM, or they do not match (libmicrohttpd said why above)",
			 srv->cfg.listen, srv->cfg.port, srv->cfg.tls_cert, srv->cfg.tls_key);
		return -EINVAL;
	}
	if (!srv->mhd) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s", srv->cfg.listen,
			 srv->cfg.port, strerror(errno ? errno : EADDRINUSE));
		return -EADDRINUSE;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : srv->cfg.port;
	if (proxied &&
	    (rc = ctl__proxy_listen_start(
		 srv, &addr.sa, addr.sa.sa_family == AF_INET ? sizeof(addr.in) : sizeof(addr.in6),
		 err, errlen)))
		return rc;
	if (srv->cfg.public_url) {
		srv->public_url = strdup(srv->cfg.public_url);
	} else {
		char url[128];
		bool v6 = strchr(srv->cfg.listen, ':') != NULL;
		snprintf(url, sizeof(url), "%s://%s%s%s:%u", srv->tls_cert ? "https" : "http",
			 v6 ? "[" : "", srv->cfg.listen, v6 ? "]" : "", srv->port);
		srv->public_url = strdup(url);
	}
	if (!srv->public_url)
		return -ENOMEM;
	size_t len = strlen(srv->public_url);
	while (len && srv->public_url[len - 1] == '/')
		srv->public_url[--len] = '\0';
	if (pthread_create(&srv->timer, NULL, timer_main, srv) != 0) {
		snprintf(err, errlen, "cannot start the timer thread");
		return -EAGAIN;
	}
	srv->timer_running = true;
	rc = srv->shared ? ctl__replica_start(srv, err, errlen) : 0;
	return !rc && srv->sso ? ctl__sso_start(srv, err, errlen) : rc;
}

uint16_t ctl_server_port(const struct ctl_server *srv)
{
	return srv->port;
}

void ctl_server_key(const struct ctl_server *srv, char out[static 45])
{
	key_to_base64(out, srv->server_pub);
}

void ctl_server_free(struct ctl_server *srv)
{
	if (!srv)
		return;
	ctl__replica_stop(srv); /* first: it takes srv->lock to apply what it hears */
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_cond_signal(&srv->timer_cond);
	/* Answer every held request so the daemon can close its connections. */
	ctl__wake_all(srv);
	pthread_mutex_unlock(&srv->lock);
	if (srv->timer_running)
		pthread_join(srv->timer, NULL);
	ctl__proxy_listen_stop(srv); /* before the daemon it hands connections to */
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	if (srv->quiesced_fd > 0)
		close(srv->quiesced_fd); /* only now: the daemon's threads no longer use it */
	ctl__sso_free(srv);		 /* after the daemon: no request points to a job any more */
	ctl__nodes_free(srv);
	if (srv->store)
		srv->store->ops->close(srv->store);
	ctl_replay_free(srv->replay);
	free(srv->holds);
	sodium_memzero(srv->csrf_key, sizeof(srv->csrf_key));
	free(srv->policy_text);
	free(srv->dns_json);
	free(srv->state_dir);
	free(srv->public_url);
	free(srv->domain);
	free(srv->tls_cert);
	if (srv->tls_key)
		sodium_memzero(srv->tls_key, srv->tls_key_len);
	free(srv->tls_key);
	sodium_memzero(srv->server_priv, sizeof(srv->server_priv));
	sodium_memzero(srv->relay_secret, sizeof(srv->relay_secret));
	pthread_cond_destroy(&srv->timer_cond);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
