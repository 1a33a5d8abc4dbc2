/* See srv_harness.h.  The libmicrohttpd functions below replace the library's for the
 * handlers linked into the fuzz target (the target never starts a daemon), so a request is
 * its bytes and nothing else; crypto_pwhash_str_alg is replaced by Argon2id at its minimum
 * cost, so that adding a user is not 100 ms per input (verification reads the cost from the
 * hash, so it is as fast). */
#include "tests/fuzz/control/srv_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/key.h"
#include "control/server/ident.h"
#include "control/server/sso.h"
#include "tests/fuzz/tmpdir.h"

uint8_t fz_machine_pub[FZ_NODES][32], fz_machine_priv[FZ_NODES][32];

static const char policy[] =
    "{\"groups\": {\"group:admins\": [\"alice@example.com\"]},"
    " \"tagOwners\": {\"tag:server\": [\"group:admins\"]},"
    " \"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}],"
    " \"ssh\": [{\"action\": \"check\", \"src\": [\"group:admins\"], \"dst\": [\"tag:server\"],"
    " \"users\": [\"root\", \"autogroup:nonroot\"]}]}";

/* ---- libmicrohttpd, as far as the handlers use it ---- */

struct MHD_Connection {
	char *hdr_name[FZ_HEADERS_MAX], *hdr_value[FZ_HEADERS_MAX];
	int hdr_kind[FZ_HEADERS_MAX];
	size_t n_hdr;
	union MHD_ConnectionInfo info;
	struct sockaddr_in addr;
	struct fz_reply *reply;
};

struct MHD_Response {
	void *body;
	size_t len;
	MHD_ContentReaderFreeCallback free_cb;
	char cookie[sizeof(((struct fz_reply *)0)->cookie)]; /* its Set-Cookie, cut */
};

const char *MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
					const char *key)
{
	for (size_t i = 0; i < c->n_hdr; i++) {
		if (c->hdr_kind[i] != (int)kind)
			continue;
		if (kind == MHD_HEADER_KIND ? strcasecmp(c->hdr_name[i], key) == 0
					    : strcmp(c->hdr_name[i], key) == 0)
			return c->hdr_value[i];
	}
	return NULL;
}

int MHD_get_connection_values(struct MHD_Connection *c, enum MHD_ValueKind kind,
			      MHD_KeyValueIterator it, void *cls)
{
	int n = 0;
	for (size_t i = 0; i < c->n_hdr; i++) {
		if (!(c->hdr_kind[i] & (int)kind))
			continue;
		n++;
		if (it && it(cls, (enum MHD_ValueKind)c->hdr_kind[i], c->hdr_name[i],
			     c->hdr_value[i]) != MHD_YES)
			break;
	}
	return n;
}

const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *c,
							enum MHD_ConnectionInfoType type, ...)
{
	if (type != MHD_CONNECTION_INFO_CLIENT_ADDRESS)
		return NULL;
	c->info.client_addr = (struct sockaddr *)&c->addr;
	return &c->info;
}

struct MHD_Response *
MHD_create_response_from_buffer_with_free_callback(size_t size, void *buffer,
						   MHD_ContentReaderFreeCallback crfc)
{
	struct MHD_Response *r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->body = buffer;
	r->len = size;
	r->free_cb = crfc;
	return r;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
						     enum MHD_ResponseMemoryMode mode)
{
	void *copy = malloc(size + 1);
	if (!copy)
		abort();
	memcpy(copy, buffer, size);
	if (mode == MHD_RESPMEM_MUST_FREE)
		free(buffer);
	return MHD_create_response_from_buffer_with_free_callback(size, copy, free);
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *r, const char *h, const char *v)
{
	(void)r;
	/* a header value with a line break would split the answer */
	if (strpbrk(h, "\r\n:") || strpbrk(v, "\r\n"))
		abort();
	if (strcasecmp(h, "Set-Cookie") == 0)
		snprintf(r->cookie, sizeof(r->cookie), "%s", v);
	return MHD_YES;
}

int fz_queue_refuse;

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status,
				   struct MHD_Response *r)
{
	struct fz_reply *out = c->reply;
	if (fz_queue_refuse > 0) { /* as libmicrohttpd does when the connection is gone */
		fz_queue_refuse--;
		return MHD_NO;
	}
	out->queued++;
	if (out->queued > 1 || status < 100 || status > 599)
		abort();
	out->status = status;
	memcpy(out->cookie, r->cookie, sizeof(out->cookie));
	out->body = malloc(r->len + 1);
	if (!out->body)
		abort();
	memcpy(out->body, r->body, r->len);
	out->body[r->len] = '\0';
	out->len = r->len;
	return MHD_YES;
}

void MHD_destroy_response(struct MHD_Response *r)
{
	if (r->free_cb)
		r->free_cb(r->body);
	free(r);
}

void MHD_suspend_connection(struct MHD_Connection *c)
{
	c->reply->suspended = true;
}

void MHD_resume_connection(struct MHD_Connection *c)
{
	c->reply->suspended = false;
}

int crypto_pwhash_str_alg(char out[crypto_pwhash_STRBYTES], const char *const passwd,
			  unsigned long long passwdlen, unsigned long long opslimit,
			  size_t memlimit, int alg)
{
	(void)opslimit;
	(void)memlimit;
	(void)alg;
	return crypto_pwhash_argon2id_str(out, passwd, passwdlen,
					  crypto_pwhash_argon2id_OPSLIMIT_MIN,
					  crypto_pwhash_argon2id_MEMLIMIT_MIN);
}

/* ---- the prepared state ---- */

static char template_dir[256], work_dir[300], relay_secret_file[300], sso_secret_file[300];

static void copy_file(const char *from_dir, const char *to_dir, const char *name)
{
	char a[512], b[512];
	snprintf(a, sizeof(a), "%s/%s", from_dir, name);
	snprintf(b, sizeof(b), "%s/%s", to_dir, name);
	FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
	if (!in || !out)
		abort();
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			abort();
	fclose(in);
	if (fclose(out) != 0)
		abort();
	chmod(b, 0600);
}

static void prepare(void)
{
	fz_tmpdir("mesh-fuzz-srv", template_dir, sizeof(template_dir));
	snprintf(work_dir, sizeof(work_dir), "%s/w", template_dir);
	snprintf(relay_secret_file, sizeof(relay_secret_file), "%s/relay-secret", template_dir);
	int sfd = open(relay_secret_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (sfd < 0 || write(sfd, FZ_RELAY_SECRET "\n", sizeof(FZ_RELAY_SECRET)) !=
			   (ssize_t)sizeof(FZ_RELAY_SECRET))
		abort();
	close(sfd);
	snprintf(sso_secret_file, sizeof(sso_secret_file), "%s/sso-secret", template_dir);
	sfd = open(sso_secret_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (sfd < 0 || write(sfd, "sso-secret\n", 11) != 11)
		abort();
	close(sfd);
	char tdir[300], err[256], hex[65];
	snprintf(tdir, sizeof(tdir), "%s/t", template_dir);
	struct ctl_store *s;
	if (ctl_state_open(tdir, &s, err, sizeof(err)) != 0)
		abort();
	uint8_t hash[32];
	crypto_generichash(hash, 32, (const uint8_t *)FZ_ADMIN_TOKEN, strlen(FZ_ADMIN_TOKEN), NULL,
			   0);
	sodium_bin2hex(hex, sizeof(hex), hash, 32);
	int64_t alice, bob;
	const char *why;
	if (s->ops->meta_set(s, "admin_token_hash", hex) ||
	    ctl_user_create(s, "alice@example.com", "password1", &alice, &why) ||
	    ctl_user_create(s, "bob@example.com", "password2", &bob, &why) ||
	    s->ops->policy_set(s, policy))
		abort();
	for (int i = 0; i < FZ_NODES; i++) {
		uint8_t seed[32] = { (uint8_t)(0x40 + i) };
		crypto_box_seed_keypair(fz_machine_pub[i], fz_machine_priv[i], seed);
		struct ctl_node_rec n = { 0 };
		memcpy(n.machine_key, fz_machine_pub[i], 32);
		memset(n.node_key, 0x10 + i, 32);
		snprintf(n.hostname, sizeof(n.hostname), i ? "server" : "laptop");
		n.user_id = i ? 0 : alice;
		char *server[] = { "tag:server" };
		n.tags = i ? server : NULL; /* borrowed: the store copies it */
		n.n_tags = i ? 1 : 0;
		n.key_expiry = (int64_t)time(NULL) + 86400;
		/* the server has a discovery key ("IiIi...": 32 x 0x22), the laptop none yet */
		memset(n.disco_key, 0x22, 32);
		n.has_disco_key = i == 1;
		if (s->ops->node_register(s, &n, 0))
			abort();
	}
	s->ops->close(s);
	/* a known server key, so the harness can check what is sealed with it */
	char b64[KEY_BASE64_SIZE + 1], path[400];
	uint8_t priv[32];
	memset(priv, 0x55, 32);
	key_to_base64(b64, priv);
	b64[KEY_BASE64_LEN] = '\n';
	snprintf(path, sizeof(path), "%s/server.key", tdir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, b64, KEY_BASE64_LEN + 1) != KEY_BASE64_LEN + 1)
		abort();
	close(fd);
	snprintf(template_dir + strlen(template_dir), sizeof(template_dir) - strlen(template_dir),
		 "/t");
	if (mkdir(work_dir, 0700) != 0)
		abort();
}

void fz_srv_web(struct ctl_server *srv)
{
	srv->public_url = strdup("http://ctl.test");
	if (!srv->public_url)
		abort();
	/* alice's session, in the store (replicas on one database: the first one's) */
	int rc = fz_session_add(srv, FZ_SESSION, FZ_CSRF, 1);
	if (rc && rc != -EEXIST)
		abort();
}

void fz_session_ref(const char *id, char out[static 65])
{
	uint8_t h[32];
	crypto_hash_sha256(h, (const uint8_t *)id, 64);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

int fz_session_add(struct ctl_server *srv, const char *id, const char *csrf, int64_t user_id)
{
	struct ctl_web_session ws = { .user_id = user_id, .created = ctl__now_s() };
	ws.expires = ws.created + 3600;
	crypto_hash_sha256(ws.id_hash, (const uint8_t *)id, 64);
	snprintf(ws.csrf, sizeof(ws.csrf), "%s", csrf);
	return srv->store->ops->session_put(srv->store, &ws, SRV_SESSIONS_PER_USER,
					    SRV_SESSIONS_MAX);
}

/* The provider as if discovered (never reached: no thread runs). */
static void sso_discovered(struct ctl__sso *sso)
{
	struct ctl_oidc_discovery *d = &sso->disco;
	snprintf(d->issuer, sizeof(d->issuer), FZ_SSO_ISSUER);
	snprintf(d->authorization_endpoint, sizeof(d->issuer), FZ_SSO_ISSUER "/auth");
	snprintf(d->token_endpoint, sizeof(d->issuer), FZ_SSO_ISSUER "/token");
	snprintf(d->jwks_uri, sizeof(d->issuer), FZ_SSO_ISSUER "/jwks");
	d->algs = CTL_OIDC_RS256;
	sso->have_disco = true;
	sso->status[0] = '\0';
	snprintf(sso->redirect_uri, sizeof(sso->redirect_uri), "http://ctl.test/oidc/callback");
}

bool fz_sso_started(struct ctl_server *srv)
{
	struct ctl__sso_pending p = { .state = FZ_SSO_STATE,
				      .nonce = "n",
				      .verifier = "v",
				      .pre = FZ_SSO_PRE,
				      .source = "203.0.113.9",
				      .next = "/" };
	int64_t retry;
	pthread_mutex_lock(&srv->lock);
	int rc = ctl__sso_table_add(&srv->sso->pending, &p, ctl__now_s(), &retry);
	pthread_mutex_unlock(&srv->lock);
	return rc == 0;
}

struct ctl_server *fz_srv_open(void)
{
	if (!template_dir[0])
		prepare();
	copy_file(template_dir, work_dir, "state.db");
	copy_file(template_dir, work_dir, "server.key");
	char path[400];
	snprintf(path, sizeof(path), "%s/state.db-wal", work_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state.db-shm", work_dir);
	unlink(path);
	static struct ctl_relay_url relay;
	if (!relay.port && !ctl_relay_url_parse(FZ_RELAY, &relay, NULL, 0))
		abort();
	struct ctl_server_config cfg = { .state_dir = work_dir,
					 .relays = &relay,
					 .n_relays = 1,
					 .relay_secret_file = relay_secret_file,
					 .oidc = { .issuer = FZ_SSO_ISSUER,
						   .client_id = "mesh",
						   .client_secret_file = sso_secret_file,
						   .allowed_domains = "example.com" } };
	struct ctl_server *srv;
	char err[256];
	if (ctl_server_new(&cfg, &srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz harness: %s\n", err);
		abort();
	}
	fz_srv_web(srv);
	srv->holds = calloc(1, sizeof(*srv->holds));
	if (!srv->holds)
		abort();
	struct ctl__login_req lr = { 0 };
	ctl__login_id(FZ_LOGIN_TOKEN, lr.id);
	memset(lr.machine_key, 0x77, 32);
	memset(lr.node_key, 0x78, 32);
	snprintf(lr.hostname, sizeof(lr.hostname), "newbox");
	snprintf(lr.source, sizeof(lr.source), "203.0.113.9");
	lr.created = ctl__now_s();
	if (srv->store->ops->login_put(srv->store, &lr) != 0)
		abort();
	struct ctl__hold *h = &srv->holds[srv->n_holds++];
	snprintf(h->id, sizeof(h->id), "%s", FZ_HOLD_ID);
	h->src = 1;
	h->dst = 2;
	snprintf(h->local_user, sizeof(h->local_user), "root");
	h->check_period_s = 3600;
	h->created = h->last_asked = ctl__now_s();
	struct ctl__sso *sso = srv->sso;
	sso_discovered(sso);
	memset(sso->cookie_key, 0x5a, sizeof(sso->cookie_key));
	if (!fz_sso_started(srv))
		abort();
	return srv;
}

void fz_srv_close(struct ctl_server *srv)
{
	ctl_server_free(srv);
}

const char *fz_srv_template(void)
{
	if (!template_dir[0])
		prepare();
	return template_dir;
}

/* ---- requests ---- */

static void conn_add(struct MHD_Connection *c, int kind, const char *name, size_t nlen,
		     const char *value, size_t vlen)
{
	if (c->n_hdr >= FZ_HEADERS_MAX)
		return;
	c->hdr_kind[c->n_hdr] = kind;
	c->hdr_name[c->n_hdr] = strndup(name, nlen);
	c->hdr_value[c->n_hdr] = strndup(value, vlen);
	if (!c->hdr_name[c->n_hdr] || !c->hdr_value[c->n_hdr])
		abort();
	c->n_hdr++;
}

static void conn_clear(struct MHD_Connection *c)
{
	for (size_t i = 0; i < c->n_hdr; i++) {
		free(c->hdr_name[i]);
		free(c->hdr_value[i]);
	}
}

/* "a=b; c=d" into cookies; "x=1&y=2" into arguments (no decoding: the names are ours) */
static void split_pairs(struct MHD_Connection *c, int kind, const char *s, const char *sep)
{
	while (*s) {
		s += strspn(s, " ");
		size_t n = strcspn(s, sep);
		const char *eq = memchr(s, '=', n);
		if (eq)
			conn_add(c, kind, s, (size_t)(eq - s), eq + 1, n - (size_t)(eq - s) - 1);
		s += n;
		if (*s)
			s++;
	}
}

void fz_http(struct ctl_server *srv, const char *head, const char *body, size_t len,
	     struct fz_reply *out)
{
	memset(out, 0, sizeof(*out));
	struct MHD_Connection c = { .reply = out };
	c.addr.sin_family = AF_INET;
	c.addr.sin_addr.s_addr = htonl(0xcb007109); /* 203.0.113.9 */
	char method[16] = "", url[1024] = "";
	size_t line = strcspn(head, "\n");
	size_t ml = strcspn(head, " \n");
	if (ml == 0 || ml >= sizeof(method) || head[ml] != ' ' || line - ml - 1 >= sizeof(url) ||
	    line == ml + 1)
		return; /* not "METHOD URL" */
	memcpy(method, head, ml);
	memcpy(url, head + ml + 1, line - ml - 1);
	char *q = strchr(url, '?');
	for (const char *h = head + line; *h;) {
		h++;
		size_t n = strcspn(h, "\n");
		const char *colon = memchr(h, ':', n);
		if (colon) {
			const char *v = colon + 1 + (colon[1] == ' ');
			size_t vlen = n - (size_t)(v - h);
			if ((size_t)(colon - h) == 6 && strncasecmp(h, "Cookie", 6) == 0) {
				char *cookies = strndup(v, vlen);
				split_pairs(&c, MHD_COOKIE_KIND, cookies, ";");
				free(cookies);
			} else {
				conn_add(&c, MHD_HEADER_KIND, h, (size_t)(colon - h), v, vlen);
			}
		}
		h += n;
	}
	if (q) {
		*q = '\0';
		split_pairs(&c, MHD_GET_ARGUMENT_KIND, q + 1, "&");
	}
	void *cls = NULL;
	size_t zero = 0;
	enum MHD_Result rc = ctl__http_request(srv, &c, url, method, NULL, &zero, &cls);
	/* the body in two pieces, as it may arrive */
	for (size_t off = 0, piece = len / 2 + 1; rc == MHD_YES && off < len && !out->queued;) {
		size_t n = len - off < piece ? len - off : piece, left = n;
		rc = ctl__http_request(srv, &c, url, method, body + off, &left, &cls);
		if (left)
			abort(); /* the handler must take (or drop) every byte it is given */
		off += n;
	}
	if (rc == MHD_YES && !out->queued)
		rc = ctl__http_request(srv, &c, url, method, NULL, &zero, &cls);
	if (out->suspended) { /* a held request: wake it as its deadline would */
		pthread_mutex_lock(&srv->lock);
		ctl__wake(srv, SRV_WAIT_MAP, NULL);
		ctl__wake(srv, SRV_WAIT_REGISTER, NULL);
		ctl__wake(srv, SRV_WAIT_HOLD, NULL);
		ctl__wake(srv, SRV_WAIT_SSO, NULL);
		ctl__wake(srv, SRV_WAIT_AUDIT, NULL);
		pthread_mutex_unlock(&srv->lock);
		struct ctl__req *r = cls;
		r->deadline_ms = 0;
		srv->stopping = true; /* answer now instead of holding again */
		rc = ctl__http_request(srv, &c, url, method, NULL, &zero, &cls);
		srv->stopping = false;
	}
	ctl__http_completed(srv, &c, &cls);
	conn_clear(&c);
}

unsigned fz_web(struct ctl_server *srv, const char *head, const char *body, char *text, size_t len)
{
	struct fz_reply out = { 0 };
	fz_http(srv, head, body ? body : "", body ? strlen(body) : 0, &out);
	snprintf(text, len, "%.*s", out.body ? (int)out.len : 0, out.body ? out.body : "");
	free(out.body);
	return out.status;
}

struct fz_held {
	struct ctl_server *srv;
	struct MHD_Connection c;
	struct ctl__req *r;
	const char *path;
};

struct fz_held *fz_node_start(struct ctl_server *srv, const uint8_t pub[32], const char *path,
			      const char *msg, size_t len, struct fz_reply *out)
{
	memset(out, 0, sizeof(*out));
	json_t *m = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(m)) {
		json_decref(m);
		return NULL;
	}
	struct fz_held *h = calloc(1, sizeof(*h));
	struct ctl__req *r = calloc(1, sizeof(*r));
	if (!h || !r)
		abort();
	h->srv = srv;
	h->r = r;
	h->path = path;
	h->c.reply = out;
	h->c.addr.sin_family = AF_INET;
	h->c.addr.sin_addr.s_addr = htonl(0xcb007109);
	r->srv = srv;
	r->conn = &h->c;
	r->msg = m;
	memcpy(r->machine_key, pub, 32);
	randombytes_buf(r->nonce, sizeof(r->nonce));
	pthread_mutex_lock(&srv->lock);
	ctl__node_api(r, path);
	pthread_mutex_unlock(&srv->lock);
	return h;
}

void fz_node_finish(struct fz_held *h, const uint8_t *priv)
{
	struct ctl_server *srv = h->srv;
	struct ctl__req *r = h->r;
	struct fz_reply *out = h->c.reply;
	pthread_mutex_lock(&srv->lock);
	if (out->suspended) { /* still held: answer now, as its deadline would */
		srv->stopping = true;
		r->deadline_ms = 0;
		ctl__wake(srv, SRV_WAIT_MAP, NULL);
		ctl__wake(srv, SRV_WAIT_REGISTER, NULL);
		ctl__wake(srv, SRV_WAIT_HOLD, NULL);
		ctl__node_api(r, h->path);
		srv->stopping = false;
	} else if (!out->queued) { /* woken: the handler runs again, as libmicrohttpd does */
		ctl__node_api(r, h->path);
	}
	pthread_mutex_unlock(&srv->lock);
	uint8_t nonce[CTL_WIRE_NONCE_LEN];
	memcpy(nonce, r->nonce, sizeof(nonce));
	void *cls = r;
	ctl__http_completed(srv, &h->c, &cls);
	/* open a sealed answer as the node would */
	json_t *plain_reply = out->body ? json_loads(out->body, 0, NULL) : NULL;
	if (out->body && !plain_reply && priv) {
		char *plain;
		size_t plen;
		const char *why;
		if (!ctl_wire_open_response(srv->server_pub, priv, nonce,
					    (const uint8_t *)out->body, out->len, &plain, &plen,
					    &why))
			abort(); /* sealed to the node that asked, so it must open */
		free(out->body);
		out->body = plain;
		out->len = plen;
	}
	json_decref(plain_reply);
	conn_clear(&h->c);
	free(h);
}

void fz_node(struct ctl_server *srv, int node, const char *path, const char *msg, size_t len,
	     struct fz_reply *out)
{
	uint8_t other_pub[32], other_priv[32];
	if (node < 0)
		crypto_box_keypair(other_pub, other_priv);
	struct fz_held *h =
	    fz_node_start(srv, node >= 0 ? fz_machine_pub[node] : other_pub, path, msg, len, out);
	if (h)
		fz_node_finish(h, node >= 0 ? fz_machine_priv[node] : NULL);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
	return h;
}

static int census_user(void *ctx, const struct ctl_user *u)
{
	struct fz_census *c = ctx;
	c->users++;
	c->users_hash = fnv(c->users_hash, u->login, strlen(u->login));
	return 0;
}

static int census_key(void *ctx, const struct ctl_authkey *k)
{
	(void)k;
	((struct fz_census *)ctx)->authkeys++;
	return 0;
}

static int census_node(void *ctx, const struct ctl_node_rec *n)
{
	struct fz_census *c = ctx;
	c->nodes++;
	c->nodes_hash = fnv(c->nodes_hash, n->node_key, 32);
	for (size_t i = 0; i < n->n_tags; i++)
		c->nodes_hash = fnv(c->nodes_hash, n->tags[i], strlen(n->tags[i]) + 1);
	c->nodes_hash = fnv(c->nodes_hash, &n->user_id, sizeof(n->user_id));
	return 0;
}

void fz_census(struct ctl_server *srv, struct fz_census *c)
{
	struct ctl_store *s = srv->store;
	char *p = NULL;
	memset(c, 0, sizeof(*c));
	c->policy_hash = c->users_hash = c->nodes_hash = 0xcbf29ce484222325ull;
	s->ops->user_list(s, census_user, c);
	s->ops->authkey_list(s, census_key, c);
	s->ops->node_list(s, census_node, c);
	s->ops->policy_get(s, &p);
	if (p)
		c->policy_hash = fnv(c->policy_hash, p, strlen(p));
	free(p);
}

/* ---- two replicas on one PostgreSQL database ---- */

void fz_replica_config(struct ctl_server_config *cfg)
{
	if (!template_dir[0])
		prepare();
	cfg->oidc.issuer = FZ_SSO_ISSUER;
	cfg->oidc.client_id = "mesh";
	cfg->oidc.client_secret_file = sso_secret_file;
	cfg->oidc.allowed_domains = "example.com";
}

void fz_replica_prepare(struct ctl_server *srv)
{
	fz_srv_web(srv);
	sso_discovered(srv->sso);
}
