/* The control client: libcurl multi driven by libuv (uv_poll per socket, one uv_timer for
 * curl's timeouts), the connect -> register -> map-stream state machine with backoff and
 * jitter, the netmap cache, check-mode holds and logout.  See client.h. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "common/file.h"
#include "common/key.h"
#include "common/log.h"
#include "control/client/client.h"
#include "control/netmap/netmap_json.h"
#include "control/netmap/wire.h"

#define ctl__container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

enum {
	BACKOFF_MIN_MS = 500,
	BACKOFF_MAX_MS = 30000,
	MAP_TIMEOUT_MS = 120000,
	REQ_TIMEOUT_MS = 60000,
	/* The cache is written this long after the first change it has not got yet: a burst
	 * of deltas (peers coming online) costs one write, and applying a delta never waits
	 * behind serializing the whole netmap. */
	CACHE_DELAY_MS = 1000,
	/* After a re-login that left the key expired by our clock (skew with control's), wait
	 * this long before trying again. */
	RELOGIN_RETRY_S = 60,
};

enum req_kind {
	REQ_KEY,
	REQ_REGISTER,
	REQ_MAP,
	REQ_HOLD,
	REQ_LOGOUT,
};

struct creq;

struct ctl_client {
	struct ctl_client_config cfg;
	char *url, *state_dir, *hostname, *auth_key, *tags;
	char **endpoints, **host_keys;
	size_t n_endpoints, n_host_keys;
	uint8_t machine_pub[32], machine_priv[32], node_pub[32], node_priv[32];
	uint8_t next_pub[32], next_priv[32]; /* node.key.next: the key being rotated to */
	bool have_next, rotating, relogin;
	bool key_pending; /* GET /key in flight: its answer registers or streams */
	int64_t relogin_at;
	uint8_t server_pub[32];
	bool pinned, registered, stopped, refused, logged_out;
	char followup[64];
	CURLM *multi;
	uv_timer_t curl_timer, retry_timer, cache_timer, expiry_timer;
	int open_handles; /* uv handles and cache writes still to finish before free */
	bool cache_busy, cache_again, cache_due;
	char *cache_last; /* at free, with a write still running: the netmap to write after it */
	unsigned backoff_ms;
	json_t *netmap; /* the current full netmap as JSON, for the cache */
	struct ctl_netmap *nm; /* the same, decoded (deltas decode only what they carry) */
	uint64_t netmap_version;
	int64_t netmap_time;
	struct creq *map_req, *reg_req; /* at most one of each in flight */
	struct creq *reqs; /* every request in flight */
	struct sockctx *socks; /* every socket curl asked us to watch */
};

struct creq {
	struct ctl_client *c;
	enum req_kind kind;
	CURL *easy;
	struct curl_slist *headers;
	uint8_t nonce[CTL_WIRE_NONCE_LEN];
	uint8_t *body;
	size_t body_len;
	char *resp;
	size_t resp_len;
	bool too_big;
	/* hold / logout */
	ctl_hold_cb hold_cb;
	void (*logout_cb)(void *ctx, int status);
	void *cb_ctx;
	char hold_src[64], hold_user[64], hold_id[64];
	uint32_t hold_period;
	bool hold_pending_told;
	CURLcode curl_result;
	struct creq *next;
};

struct sockctx {
	uv_poll_t poll;
	curl_socket_t fd;
	struct ctl_client *c;
	struct sockctx *next;
};

static void event(struct ctl_client *c, enum ctl_client_event ev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void event(struct ctl_client *c, enum ctl_client_event ev, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->cfg.on_event)
		c->cfg.on_event(c->cfg.ctx, ev, msg);
}

/* ---- files ---- */

static int path_of(const struct ctl_client *c, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", c->state_dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* NULL when missing, unreadable or larger than max. */
static char *read_file(const char *path, size_t max, size_t *len)
{
	char *buf;
	return file_read_all(path, max, &buf, len) == 0 ? buf : NULL;
}

static int load_key(struct ctl_client *c, const char *name, uint8_t pub[32], uint8_t priv[32],
		    char *err, size_t errlen)
{
	char path[4096];
	bool created;
	path_of(c, name, path, sizeof(path));
	int rc = file_key_load_or_create(path, priv, &created, err, errlen);
	if (rc)
		return rc;
	crypto_scalarmult_base(pub, priv);
	return 0;
}

/* The cache is written on libuv's thread pool so a slow disk (fsync) never stalls the
 * loop meshd's data plane runs on.  One write at a time; a newer netmap arriving meanwhile
 * is written when the current write is done, so the file never goes back in time. */
struct cache_write {
	uv_work_t work;
	struct ctl_client *c;
	char path[4096];
	char *json;
	int rc;
};

static void cache_write_work(uv_work_t *w)
{
	struct cache_write *cw = ctl__container_of(w, struct cache_write, work);
	cw->rc = file_write_atomic(cw->path, cw->json, strlen(cw->json), 0600);
}

static void write_netmap(struct ctl_client *c);

static void cache_write_done(uv_work_t *w, int status)
{
	struct cache_write *cw = ctl__container_of(w, struct cache_write, work);
	struct ctl_client *c = cw->c;
	if (cw->rc)
		log_warn("control", "cannot cache the netmap in %s: %s", cw->path,
			 strerror(-cw->rc));
	else if (c->logged_out)
		unlink(cw->path); /* the logout came while this write was under way */
	c->cache_busy = false;
	if (c->stopped) {
		if (c->cache_last) {
			int rc = file_write_atomic(cw->path, c->cache_last, strlen(c->cache_last), 0600);
			if (rc)
				log_warn("control", "cannot cache the netmap in %s: %s", cw->path,
					 strerror(-rc));
			free(c->cache_last);
			c->cache_last = NULL;
		}
		free(cw->json);
		free(cw);
		if (--c->open_handles == 0)
			free(c);
		return;
	}
	free(cw->json);
	free(cw);
	c->open_handles--;
	if (c->cache_again) {
		c->cache_again = false;
		write_netmap(c);
	}
}

static void write_netmap(struct ctl_client *c)
{
	c->cache_due = false;
	if (!c->netmap || c->logged_out)
		return;
	if (c->cache_busy) {
		c->cache_again = true;
		return;
	}
	struct cache_write *cw = calloc(1, sizeof(*cw));
	if (!cw || !(cw->json = json_dumps(c->netmap, JSON_COMPACT))) {
		free(cw);
		log_warn("control", "out of memory caching the netmap");
		return;
	}
	cw->c = c;
	path_of(c, "netmap.json", cw->path, sizeof(cw->path));
	if (uv_queue_work(c->cfg.loop, &cw->work, cache_write_work, cache_write_done) != 0) {
		free(cw->json);
		free(cw);
		return;
	}
	c->cache_busy = true;
	c->open_handles++;
}

static void on_cache_timer(uv_timer_t *t)
{
	write_netmap(t->data);
}

/* The netmap changed: write the cache within CACHE_DELAY_MS. */
static void save_netmap(struct ctl_client *c)
{
	if (c->cache_due)
		return;
	c->cache_due = true;
	uv_timer_start(&c->cache_timer, on_cache_timer, CACHE_DELAY_MS, 0);
}

/* On free: a change still waiting for its write is written now, on the caller's thread, or
 * right after the write under way (two writers would share the temporary file). */
static void flush_netmap(struct ctl_client *c)
{
	char path[4096];
	char *json;
	if (!(c->cache_due || c->cache_again) || !c->netmap || c->logged_out)
		return;
	c->cache_due = c->cache_again = false;
	if (!(json = json_dumps(c->netmap, JSON_COMPACT)))
		return;
	if (c->cache_busy) {
		c->cache_last = json;
		return;
	}
	path_of(c, "netmap.json", path, sizeof(path));
	int rc = file_write_atomic(path, json, strlen(json), 0600);
	if (rc)
		log_warn("control", "cannot cache the netmap in %s: %s", path, strerror(-rc));
	free(json);
}

static void check_expiry(struct ctl_client *c);
static void node_key_seen(struct ctl_client *c, const uint8_t key[32]);

static void deliver(struct ctl_client *c, bool from_cache)
{
	if (c->logged_out)
		return; /* the node forgets its netmap on logout; a late delta must not undo it */
	node_key_seen(c, c->nm->self.node_key);
	c->netmap_version = c->nm->version;
	if (c->cfg.on_netmap)
		c->cfg.on_netmap(c->cfg.ctx, c->nm, from_cache);
	check_expiry(c);
}

/* ---- curl on the loop ---- */

static void handle_closed(uv_handle_t *h)
{
	struct ctl_client *c = h->data;
	if (h->type == UV_POLL)
		free(ctl__container_of((uv_poll_t *)h, struct sockctx, poll));
	if (--c->open_handles == 0 && c->stopped) {
		free(c);
	}
}

static void check_done(struct ctl_client *c);

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sockctx *s = ctl__container_of(p, struct sockctx, poll);
	struct ctl_client *c = s->c;
	int flags = 0, running;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	check_done(c);
}

static void sock_close(struct ctl_client *c, struct sockctx *s)
{
	for (struct sockctx **pp = &c->socks; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, handle_closed);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct ctl_client *c = userp;
	struct sockctx *s = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sock_close(c, s);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->fd = fd;
		s->c = c;
		if (uv_poll_init_socket(c->cfg.loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->poll.data = c;
		s->next = c->socks;
		c->socks = s;
		c->open_handles++;
		curl_multi_assign(c->multi, fd, s);
	}
	int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
	uv_poll_start(&s->poll, ev, on_poll);
	return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
	struct ctl_client *c = t->data;
	int running;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static int on_timer_change(CURLM *m, long timeout_ms, void *userp)
{
	struct ctl_client *c = userp;
	if (timeout_ms < 0)
		uv_timer_stop(&c->curl_timer);
	else
		uv_timer_start(&c->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct creq *r = userdata;
	size_t n = size * nmemb;
	if (r->resp_len + n > CTL_WIRE_MAX_BODY) {
		r->too_big = true;
		return 0;
	}
	char *p = realloc(r->resp, r->resp_len + n + 1);
	if (!p)
		return 0;
	memcpy(p + r->resp_len, ptr, n);
	r->resp = p;
	r->resp_len += n;
	p[r->resp_len] = '\0';
	return n;
}

static void req_free(struct creq *r)
{
	struct ctl_client *c = r->c;
	for (struct creq **pp = &c->reqs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	if (c->map_req == r)
		c->map_req = NULL;
	if (c->reg_req == r)
		c->reg_req = NULL;
	if (r->easy) {
		curl_multi_remove_handle(c->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->resp);
	free(r);
}

/* Start a request: GET /key when json is NULL, otherwise a sealed POST. */
static int req_start(struct ctl_client *c, struct creq *r, const char *path, const char *json,
		     long timeout_ms)
{
	char url[1024];
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	r->c = c;
	r->easy = curl_easy_init();
	if (!r->easy)
		return -ENOMEM;
	if (json) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		int rc = ctl_wire_seal_request(c->server_pub, c->machine_pub, c->machine_priv,
					       now_ms, json, strlen(json), &r->body, &r->body_len,
					       r->nonce);
		if (rc)
			return rc;
		r->headers = curl_slist_append(NULL, "Content-Type: application/octet-stream");
		curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	r->next = c->reqs;
	c->reqs = r;
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK)
		return -EIO;
	return 0;
}

/* ---- the state machine ---- */

static void connect_start(struct ctl_client *c);
static void map_poll(struct ctl_client *c);
static void register_send(struct ctl_client *c);

/* ---- the node key: rotation and expiry ----
 * A new node key is written to node.key.next before control hears of it, and renamed over
 * node.key once control confirms it (in its answer, or in a netmap whose self carries it),
 * so a crash in between loses nothing: the next start finds node.key.next and finishes. */

static int next_key_prepare(struct ctl_client *c)
{
	char err[512];
	if (c->have_next)
		return 0;
	int rc = load_key(c, "node.key.next", c->next_pub, c->next_priv, err, sizeof(err));
	if (rc) {
		log_err("control", "new node key: %s", err);
		return rc;
	}
	c->have_next = true;
	return 0;
}

/* Control refused the new key (or the change): forget it, the next try makes another. */
static void next_key_discard(struct ctl_client *c)
{
	char path[4096];
	if (!c->have_next)
		return;
	path_of(c, "node.key.next", path, sizeof(path));
	unlink(path);
	sodium_memzero(c->next_priv, 32);
	c->have_next = false;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Control knows this node by key: when it is the one being rotated to, make it ours. */
static void node_key_seen(struct ctl_client *c, const uint8_t key[32])
{
	char from[4096], to[4096], fp[KEY_FINGERPRINT_SIZE];
	if (!c->have_next || sodium_memcmp(key, c->next_pub, 32) != 0)
		return;
	path_of(c, "node.key.next", from, sizeof(from));
	path_of(c, "node.key", to, sizeof(to));
	if (rename(from, to) != 0)
		/* node.key.next stays: the next start finds it confirmed and renames it then */
		log_err("control", "cannot rename %s to %s: %s", from, to, strerror(errno));
	else
		sync_dir(c->state_dir);
	memcpy(c->node_pub, c->next_pub, 32);
	memcpy(c->node_priv, c->next_priv, 32);
	sodium_memzero(c->next_priv, 32);
	c->have_next = c->rotating = c->relogin = false;
	key_fingerprint(fp, c->node_pub);
	log_info("control", "the node key is now %s", fp);
	if (c->cfg.on_node_key)
		c->cfg.on_node_key(c->cfg.ctx, c->node_priv);
}

static void check_expiry(struct ctl_client *c);

static void on_expiry_timer(uv_timer_t *t)
{
	check_expiry(t->data);
}

/* Arm a timer for the node key's expiry; once it has passed, log in again with a new key
 * (control hands out a login URL, or takes the auth key given to `up`). */
static void check_expiry(struct ctl_client *c)
{
	int64_t exp = c->nm ? c->nm->self.key_expiry : 0, now = (int64_t)time(NULL);
	uv_timer_stop(&c->expiry_timer);
	if (!exp || c->relogin || c->stopped || c->logged_out || c->refused)
		return;
	if (exp > now || now - c->relogin_at < RELOGIN_RETRY_S) {
		int64_t at = exp > now ? exp : c->relogin_at + RELOGIN_RETRY_S;
		uv_timer_start(&c->expiry_timer, on_expiry_timer, (uint64_t)(at - now) * 1000 + 500,
			       0);
		return;
	}
	if (next_key_prepare(c) != 0)
		return;
	c->relogin = true;
	c->relogin_at = now;
	event(c, CTL_CLIENT_KEY_EXPIRED, "the node key expired; log in again to stay in the "
					"tailnet");
	/* unless a connect is under way (its answer registers) */
	if (c->pinned && !c->key_pending && !uv_is_active((uv_handle_t *)&c->retry_timer))
		register_send(c);
}

static void on_retry(uv_timer_t *t)
{
	connect_start(t->data);
}

static void retry_later(struct ctl_client *c, const char *why)
{
	if (c->stopped)
		return;
	/* jitter: 75 % to 125 % of the backoff, so many nodes do not come back in step */
	unsigned ms = c->backoff_ms * 3 / 4 + randombytes_uniform(c->backoff_ms / 2 + 1);
	event(c, CTL_CLIENT_UNREACHABLE, "%s; retrying in %u ms", why, ms);
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
	uv_timer_start(&c->retry_timer, on_retry, ms, 0);
}

static char *opened(struct creq *r, long status, const char **why)
{
	char *plain;
	size_t plen;
	if (!r->resp || !ctl_wire_open_response(r->c->server_pub, r->c->machine_priv, r->nonce,
						(const uint8_t *)r->resp, r->resp_len, &plain,
						&plen, why))
		return NULL;
	return plain;
}

static json_t *response_json(struct creq *r, long status, char *errbuf, size_t errlen)
{
	const char *why = "empty response";
	char *plain = status ? opened(r, status, &why) : NULL;
	if (!status) {
		snprintf(errbuf, errlen, "control is unreachable (%s)",
			 curl_easy_strerror(r->curl_result));
		return NULL;
	}
	if (!plain) {
		/* Refusals before authentication are plain JSON {"error": ...}. */
		json_t *j = r->resp ? json_loads(r->resp, 0, NULL) : NULL;
		const char *e = json_string_value(json_object_get(j, "error"));
		snprintf(errbuf, errlen, "HTTP %ld: %s", status, e ? e : why);
		json_decref(j);
		return NULL;
	}
	json_t *j = json_loads(plain, 0, NULL);
	free(plain);
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(errbuf, errlen, "HTTP %ld: response is not a JSON object", status);
		return NULL;
	}
	return j;
}

static int pin_key(struct ctl_client *c, const uint8_t key[32])
{
	char path[4096], b64[KEY_BASE64_SIZE + 1];
	path_of(c, "server.pub", path, sizeof(path));
	key_to_base64(b64, key);
	b64[KEY_BASE64_LEN] = '\n';
	b64[KEY_BASE64_LEN + 1] = '\0';
	memcpy(c->server_pub, key, 32);
	c->pinned = true;
	return file_write_atomic(path, b64, KEY_BASE64_LEN + 1, 0600);
}

static void register_send(struct ctl_client *c)
{
	if (c->reg_req || c->stopped)
		return; /* one at a time: the one in flight carries the current wishes */
	char nk[KEY_BASE64_SIZE], old[KEY_BASE64_SIZE];
	key_to_base64(nk, c->have_next && (c->rotating || c->relogin) ? c->next_pub : c->node_pub);
	json_t *j = json_pack("{s:s, s:s}", "node_key", nk, "hostname", c->hostname);
	if (c->have_next && (c->rotating || c->relogin)) {
		key_to_base64(old, c->node_pub);
		json_object_set_new(j, "old_node_key", json_string(old));
	}
	if (c->relogin) /* control keeps the current key while it has not expired */
		json_object_set_new(j, "expired", json_true());
	if (c->tags) {
		json_t *a = json_array();
		char *copy = strdup(c->tags), *save = NULL;
		for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
		     t = strtok_r(NULL, ",", &save))
			json_array_append_new(a, json_string(t));
		free(copy);
		json_object_set_new(j, "tags", a);
	}
	if (c->followup[0]) {
		json_object_set_new(j, "followup", json_string(c->followup));
		json_object_set_new(j, "wait", json_true());
	} else if (c->auth_key && !(c->rotating && !c->relogin)) {
		json_object_set_new(j, "auth_key", json_string(c->auth_key));
	}
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	struct creq *r = calloc(1, sizeof(*r));
	if (!s || !r || req_start(c, r, "/machine/register", s, REQ_TIMEOUT_MS) != 0) {
		free(s);
		if (r)
			req_free(r);
		retry_later(c, "cannot start the registration request");
		return;
	}
	free(s);
	r->kind = REQ_REGISTER;
	c->reg_req = r;
}

static void forget_auth_key(struct ctl_client *c)
{
	if (c->auth_key) {
		sodium_memzero(c->auth_key, strlen(c->auth_key));
		free(c->auth_key);
		c->auth_key = NULL;
	}
}

static void on_key(struct ctl_client *c, struct creq *r, long status)
{
	c->key_pending = false;
	json_t *j = r->resp ? json_loads(r->resp, 0, NULL) : NULL;
	const char *k = json_string_value(json_object_get(j, "server_key"));
	uint8_t key[32];
	struct key_error kerr;
	if (status != 200 || !k || !key_from_base64(key, k, &kerr)) {
		json_decref(j);
		if (!status)
			retry_later(c, curl_easy_strerror(r->curl_result));
		else
			retry_later(c, "control did not answer with its key");
		return;
	}
	json_decref(j);
	if (c->pinned && sodium_memcmp(key, c->server_pub, 32) != 0) {
		char want[KEY_FINGERPRINT_SIZE], got[KEY_FINGERPRINT_SIZE];
		key_fingerprint(want, c->server_pub);
		key_fingerprint(got, key);
		c->refused = true;
		event(c, CTL_CLIENT_KEY_MISMATCH,
		      "control at %s presents server key %s, not the pinned %s; refusing it", c->url,
		      got, want);
		return;
	}
	if (!c->pinned && pin_key(c, key) != 0)
		log_warn("control", "cannot save the pinned server key");
	/* A registered node streams at once, and registers again only to ask for tags
	 * (control answers at once when it has them already) or to change its node key; an
	 * auth key given to it is not needed then, and not kept. */
	if (c->registered)
		map_poll(c);
	if (!c->registered || c->tags || c->relogin || c->rotating)
		register_send(c);
	if (c->registered && !c->relogin)
		forget_auth_key(c);
}

static void mark_registered(struct ctl_client *c, bool yes)
{
	char path[4096];
	path_of(c, "registered", path, sizeof(path));
	c->registered = yes;
	if (yes)
		file_write_atomic(path, "1\n", 2, 0600);
	else
		unlink(path);
}

static void on_register(struct ctl_client *c, struct creq *r, long status)
{
	char err[512];
	json_t *j = response_json(r, status, err, sizeof(err));
	/* A definite refusal of a new key: forget it (an unanswered request may have reached
	 * control, so then the key stays for the next try, or for a netmap that confirms it). */
	bool refused = status >= 400 && status < 500 && status != 401;
	if (refused && c->have_next && (c->rotating || c->relogin))
		next_key_discard(c);
	if (c->rotating && !c->relogin && (!j || json_object_get(j, "error"))) {
		/* a failed rotation leaves the node as it was, connected */
		const char *e = json_string_value(json_object_get(j, "error"));
		log_warn("control", "node key rotation %s: %s", refused ? "refused" : "failed",
			 e ? e : err);
		c->rotating = false;
		c->followup[0] = '\0';
		json_decref(j);
		return;
	}
	if (!j) {
		/* 401 here is a late or replayed request (libcurl resends a POST when a reused
		 * connection died); a fresh one gets a fresh nonce */
		if (status >= 500 || status == 0 || status == 401)
			retry_later(c, err);
		else {
			c->refused = true;
			event(c, CTL_CLIENT_REFUSED, "%s", err);
		}
		return;
	}
	const char *e = json_string_value(json_object_get(j, "error"));
	if (e) {
		c->refused = status != 410;
		c->followup[0] = '\0';
		event(c, CTL_CLIENT_REFUSED, "%s", e);
		if (!c->refused)
			retry_later(c, e);
	} else if (json_is_true(json_object_get(j, "registered"))) {
		json_t *node = json_object_get(j, "node");
		const char *key = json_string_value(json_object_get(node, "node_key"));
		uint8_t k[32];
		struct key_error kerr;
		bool had_next = c->have_next;
		if (key && key_from_base64(k, key, &kerr))
			node_key_seen(c, k);
		/* a netmap for the new key may have come first, and been ignored by the node */
		if (had_next && !c->have_next && c->nm &&
		    sodium_memcmp(c->nm->self.node_key, c->node_pub, 32) == 0)
			deliver(c, false);
		c->rotating = c->relogin = false; /* done, or control kept the old key */
		c->followup[0] = '\0';
		c->backoff_ms = BACKOFF_MIN_MS;
		forget_auth_key(c); /* used: a reconnect must not present it again */
		mark_registered(c, true);
		event(c, CTL_CLIENT_REGISTERED, "%s",
		      json_string_value(json_object_get(node, "name")) ?: "");
		map_poll(c);
	} else {
		const char *url = json_string_value(json_object_get(j, "auth_url"));
		const char *fu = json_string_value(json_object_get(j, "followup"));
		if (!url || !fu || strlen(fu) >= sizeof(c->followup)) {
			retry_later(c, "registration answer has neither a node nor a login URL");
		} else {
			if (strcmp(fu, c->followup) != 0)
				event(c, CTL_CLIENT_NEEDS_LOGIN, "%s", url);
			snprintf(c->followup, sizeof(c->followup), "%s", fu);
			register_send(c);
		}
	}
	json_decref(j);
}

static void map_poll(struct ctl_client *c)
{
	if (c->stopped || c->map_req)
		return;
	json_t *j = json_pack("{s:I, s:b}", "since", (json_int_t)c->netmap_version, "wait", 1);
	json_t *eps = json_array(), *hks = json_array();
	for (size_t i = 0; i < c->n_endpoints; i++)
		json_array_append_new(eps, json_string(c->endpoints[i]));
	for (size_t i = 0; i < c->n_host_keys; i++)
		json_array_append_new(hks, json_string(c->host_keys[i]));
	json_object_set_new(j, "endpoints", eps);
	json_object_set_new(j, "ssh_host_keys", hks);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	struct creq *r = calloc(1, sizeof(*r));
	if (!s || !r || req_start(c, r, "/machine/map", s, MAP_TIMEOUT_MS) != 0) {
		free(s);
		if (r)
			req_free(r);
		retry_later(c, "cannot start the map request");
		return;
	}
	free(s);
	r->kind = REQ_MAP;
	c->map_req = r;
}

static void on_map(struct ctl_client *c, struct creq *r, long status)
{
	char err[512];
	if (status == 401 && r->resp && strstr(r->resp, "\"machine key is not registered\"")) {
		/* control forgot this machine: removed from the tailnet, or a new database.  The
		 * auth key was for joining once; a person has to log this node in again.  (Other
		 * 401s - a replayed or late request - are retried with a fresh nonce.) */
		mark_registered(c, false);
		c->netmap_version = 0;
		c->refused = true;
		event(c, CTL_CLIENT_REFUSED,
		      "this node is no longer in the tailnet (removed?); log in again");
		return;
	}
	char *plain = NULL;
	const char *why = "no response";
	if (status == 200)
		plain = opened(r, status, &why);
	if (!plain) {
		json_t *j = response_json(r, status, err, sizeof(err));
		json_decref(j);
		if (!status)
			snprintf(err, sizeof(err), "control is unreachable (%s)",
				 curl_easy_strerror(r->curl_result));
		retry_later(c, err);
		return;
	}
	json_error_t jerr;
	json_t *m = json_loads(plain, 0, &jerr);
	bool keepalive = false;
	free(plain);
	if (m && c->cfg.on_contact && json_is_string(json_object_get(m, "type")))
		c->cfg.on_contact(c->cfg.ctx, json_string_value(json_object_get(m, "type")),
				  (uint64_t)json_integer_value(json_object_get(m, "version")));
	int rc = m ? ctl__netmap_fold_both(&c->netmap, &c->nm, m, &keepalive, err, sizeof(err))
		   : -EINVAL;
	if (!m)
		snprintf(err, sizeof(err), "map message JSON: %s", jerr.text);
	json_decref(m);
	if (rc == -ESTALE) {
		c->netmap_version = 0; /* ask for a full map */
		map_poll(c);
		return;
	}
	if (rc) {
		log_warn("control", "map message refused: %s", err);
		retry_later(c, err);
		return;
	}
	if (c->backoff_ms != BACKOFF_MIN_MS || !c->netmap_time)
		event(c, CTL_CLIENT_CONNECTED, "%s", c->url);
	c->backoff_ms = BACKOFF_MIN_MS;
	if (!keepalive) {
		c->netmap_time = (int64_t)time(NULL);
		deliver(c, false);
		save_netmap(c);
	}
	map_poll(c);
}

static void hold_send(struct ctl_client *c, struct creq *old);

static void on_hold(struct ctl_client *c, struct creq *r, long status)
{
	char err[512];
	json_t *j = response_json(r, status, err, sizeof(err));
	const char *d = json_string_value(json_object_get(j, "decision"));
	if (!j || !d) {
		const char *e = json_string_value(json_object_get(j, "error"));
		r->hold_cb(r->cb_ctx, CTL_HOLD_ERROR, e ? e : err);
	} else if (strcmp(d, "accept") == 0) {
		r->hold_cb(r->cb_ctx, CTL_HOLD_ACCEPT, "approved");
	} else if (strcmp(d, "reject") == 0) {
		r->hold_cb(r->cb_ctx, CTL_HOLD_REJECT,
			   json_string_value(json_object_get(j, "reason")) ?: "rejected");
	} else {
		const char *url = json_string_value(json_object_get(j, "url"));
		const char *id = json_string_value(json_object_get(j, "hold_id"));
		if (!r->hold_pending_told)
			r->hold_cb(r->cb_ctx, CTL_HOLD_PENDING, url ? url : "");
		snprintf(r->hold_id, sizeof(r->hold_id), "%s", id ? id : "");
		r->hold_pending_told = true;
		hold_send(c, r);
	}
	json_decref(j);
}

static void hold_send(struct ctl_client *c, struct creq *old)
{
	json_t *j = old->hold_id[0]
			    ? json_pack("{s:s, s:b}", "hold_id", old->hold_id, "wait", 1)
			    : json_pack("{s:s, s:s, s:i, s:b}", "src", old->hold_src, "user",
					old->hold_user, "check_period", (int)old->hold_period,
					"wait", 0);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	struct creq *r = calloc(1, sizeof(*r));
	if (!s || !r) {
		free(s);
		free(r);
		old->hold_cb(old->cb_ctx, CTL_HOLD_ERROR, "out of memory");
		return;
	}
	r->kind = REQ_HOLD;
	r->hold_cb = old->hold_cb;
	r->cb_ctx = old->cb_ctx;
	r->hold_period = old->hold_period;
	r->hold_pending_told = old->hold_pending_told;
	memcpy(r->hold_src, old->hold_src, sizeof(r->hold_src));
	memcpy(r->hold_user, old->hold_user, sizeof(r->hold_user));
	memcpy(r->hold_id, old->hold_id, sizeof(r->hold_id));
	if (req_start(c, r, "/machine/hold", s, MAP_TIMEOUT_MS) != 0) {
		r->hold_cb(r->cb_ctx, CTL_HOLD_ERROR, "cannot reach control");
		req_free(r);
	}
	free(s);
}

static void on_logout(struct ctl_client *c, struct creq *r, long status)
{
	char err[512];
	json_t *j = response_json(r, status, err, sizeof(err));
	bool ok = j && json_is_true(json_object_get(j, "logged_out"));
	json_decref(j);
	if (ok) {
		char path[4096];
		mark_registered(c, false);
		path_of(c, "netmap.json", path, sizeof(path));
		unlink(path);
		event(c, CTL_CLIENT_LOGGED_OUT, "logged out");
	}
	if (r->logout_cb)
		r->logout_cb(r->cb_ctx, ok ? 0 : -EIO);
}

static void check_done(struct ctl_client *c)
{
	CURLMsg *msg;
	int pending;
	while ((msg = curl_multi_info_read(c->multi, &pending))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct creq *r;
		long status = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		r->curl_result = msg->data.result;
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		if (c->map_req == r)
			c->map_req = NULL;
		if (c->reg_req == r)
			c->reg_req = NULL;
		if (!c->stopped) {
			switch (r->kind) {
			case REQ_KEY:
				on_key(c, r, status);
				break;
			case REQ_REGISTER:
				on_register(c, r, status);
				break;
			case REQ_MAP:
				on_map(c, r, status);
				break;
			case REQ_HOLD:
				on_hold(c, r, status);
				break;
			case REQ_LOGOUT:
				on_logout(c, r, status);
				break;
			}
		}
		if (c->stopped)
			return; /* a callback freed the client, and with it r and the multi handle */
		req_free(r);
	}
}

static void connect_start(struct ctl_client *c)
{
	if (c->stopped || c->refused)
		return;
	struct creq *r = calloc(1, sizeof(*r));
	if (!r || req_start(c, r, "/key", NULL, REQ_TIMEOUT_MS) != 0) {
		if (r)
			req_free(r);
		retry_later(c, "cannot start a request");
		return;
	}
	r->kind = REQ_KEY;
	c->key_pending = true;
}

/* ---- public ---- */

static char **strv_dup(const char *const *v, size_t n)
{
	char **out = calloc(n ? n : 1, sizeof(*out));
	for (size_t i = 0; out && i < n; i++)
		out[i] = strdup(v[i]);
	return out;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

int ctl_client_new(const struct ctl_client_config *cfg, struct ctl_client **out, char *err,
		   size_t errlen)
{
	static bool curl_ready;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || sodium_init() < 0) {
			snprintf(err, errlen, "cannot initialize libcurl or libsodium");
			return -EIO;
		}
		curl_ready = true;
	}
	struct ctl_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->url = strdup(cfg->server_url);
	c->state_dir = strdup(cfg->state_dir);
	c->hostname = strdup(cfg->hostname ? cfg->hostname : "node");
	c->auth_key = cfg->auth_key ? strdup(cfg->auth_key) : NULL;
	c->tags = cfg->advertise_tags ? strdup(cfg->advertise_tags) : NULL;
	c->endpoints = strv_dup(cfg->endpoints, cfg->n_endpoints);
	c->n_endpoints = cfg->n_endpoints;
	c->host_keys = strv_dup(cfg->ssh_host_keys, cfg->n_ssh_host_keys);
	c->n_host_keys = cfg->n_ssh_host_keys;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->cfg.server_url = c->cfg.state_dir = c->cfg.hostname = c->cfg.auth_key = NULL;
	c->cfg.advertise_tags = NULL;
	c->cfg.endpoints = c->cfg.ssh_host_keys = NULL;
	int rc = -ENOMEM;
	if (!c->url || !c->state_dir || !c->hostname || !c->endpoints || !c->host_keys ||
	    (cfg->advertise_tags && !c->tags))
		goto fail;
	size_t ul = strlen(c->url);
	while (ul && c->url[ul - 1] == '/')
		c->url[--ul] = '\0';
	if (mkdir(c->state_dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", c->state_dir, strerror(errno));
		goto fail;
	}
	rc = load_key(c, "machine.key", c->machine_pub, c->machine_priv, err, errlen);
	if (!rc)
		rc = load_key(c, "node.key", c->node_pub, c->node_priv, err, errlen);
	char path[4096];
	path_of(c, "node.key.next", path, sizeof(path));
	if (!rc && access(path, F_OK) == 0) { /* a rotation a crash interrupted */
		rc = load_key(c, "node.key.next", c->next_pub, c->next_priv, err, errlen);
		c->have_next = rc == 0;
	}
	if (rc)
		goto fail;
	struct key_error kerr;
	path_of(c, "server.pub", path, sizeof(path));
	char *pinned = read_file(path, 128, NULL);
	uint8_t given[32];
	if (cfg->server_key && !key_from_base64(given, cfg->server_key, &kerr)) {
		free(pinned);
		snprintf(err, errlen, "server key: %s", kerr.message);
		rc = -EINVAL;
		goto fail;
	}
	if (pinned) {
		pinned[strcspn(pinned, "\r\n")] = '\0';
		bool ok = key_from_base64(c->server_pub, pinned, &kerr);
		free(pinned);
		if (!ok) {
			snprintf(err, errlen, "%s: %s", path, kerr.message);
			rc = -EINVAL;
			goto fail;
		}
		c->pinned = true;
		if (cfg->server_key && sodium_memcmp(given, c->server_pub, 32) != 0) {
			snprintf(err, errlen, "the server key given differs from the one pinned in "
					      "%s; refusing it", path);
			rc = -EKEYREJECTED;
			goto fail;
		}
	} else if (cfg->server_key && pin_key(c, given) != 0) {
		snprintf(err, errlen, "%s: cannot save the server key", path);
		rc = -EIO;
		goto fail;
	}
	path_of(c, "registered", path, sizeof(path));
	c->registered = access(path, F_OK) == 0;
	c->multi = curl_multi_init();
	if (!c->multi)
		goto fail;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	uv_timer_init(cfg->loop, &c->curl_timer);
	uv_timer_init(cfg->loop, &c->retry_timer);
	uv_timer_init(cfg->loop, &c->cache_timer);
	uv_timer_init(cfg->loop, &c->expiry_timer);
	c->curl_timer.data = c->retry_timer.data = c->cache_timer.data = c;
	c->expiry_timer.data = c;
	c->open_handles = 4;
	*out = c;
	return 0;
fail:
	if (c->multi)
		curl_multi_cleanup(c->multi);
	sodium_memzero(c->machine_priv, 32);
	sodium_memzero(c->node_priv, 32);
	free(c->url);
	free(c->state_dir);
	free(c->hostname);
	free(c->auth_key);
	free(c->tags);
	strv_free(c->endpoints, c->n_endpoints);
	strv_free(c->host_keys, c->n_host_keys);
	free(c);
	return rc;
}

int ctl_client_start(struct ctl_client *c)
{
	char path[4096];
	size_t len;
	path_of(c, "netmap.json", path, sizeof(path));
	char *cached = read_file(path, CTL_WIRE_MAX_BODY, &len);
	json_t *j = cached && c->registered ? json_loadb(cached, len, 0, NULL) : NULL;
	struct ctl_netmap *nm;
	char err[256];
	free(cached);
	if (j && ctl__netmap_from_json(j, &nm, err, sizeof(err)) == 0) {
		struct stat st;
		c->nm = nm;
		c->netmap = j;
		c->netmap_time = stat(path, &st) == 0 ? (int64_t)st.st_mtime : (int64_t)time(NULL);
		deliver(c, true);
	} else {
		if (j)
			log_warn("control", "ignoring the cached netmap %s: %s", path, err);
		json_decref(j);
	}
	connect_start(c);
	return 0;
}

void ctl_client_free(struct ctl_client *c)
{
	if (!c)
		return;
	flush_netmap(c);
	c->stopped = true;
	while (c->reqs)
		req_free(c->reqs);
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	while (c->socks)
		sock_close(c, c->socks);
	sodium_memzero(c->machine_priv, 32);
	sodium_memzero(c->node_priv, 32);
	sodium_memzero(c->next_priv, 32);
	free(c->url);
	free(c->state_dir);
	free(c->hostname);
	free(c->auth_key);
	free(c->tags);
	json_decref(c->netmap);
	ctl_netmap_free(c->nm);
	strv_free(c->endpoints, c->n_endpoints);
	strv_free(c->host_keys, c->n_host_keys);
	uv_close((uv_handle_t *)&c->curl_timer, handle_closed);
	uv_close((uv_handle_t *)&c->retry_timer, handle_closed);
	uv_close((uv_handle_t *)&c->cache_timer, handle_closed);
	uv_close((uv_handle_t *)&c->expiry_timer, handle_closed);
}

int ctl_client_set_endpoints(struct ctl_client *c, const char *const *eps, size_t n)
{
	char **v = strv_dup(eps, n);
	if (!v)
		return -ENOMEM;
	strv_free(c->endpoints, c->n_endpoints);
	c->endpoints = v;
	c->n_endpoints = n;
	return 0;
}

int ctl_client_hold(struct ctl_client *c, const char *src, const char *user,
		    uint32_t check_period_s, ctl_hold_cb cb, void *ctx)
{
	struct creq tmpl;
	if (!c->pinned || strlen(src) >= sizeof(tmpl.hold_src) ||
	    strlen(user) >= sizeof(tmpl.hold_user))
		return -EINVAL;
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.hold_cb = cb;
	tmpl.cb_ctx = ctx;
	tmpl.hold_period = check_period_s;
	snprintf(tmpl.hold_src, sizeof(tmpl.hold_src), "%s", src);
	snprintf(tmpl.hold_user, sizeof(tmpl.hold_user), "%s", user);
	hold_send(c, &tmpl);
	return 0;
}

int ctl_client_logout(struct ctl_client *c, void (*cb)(void *ctx, int status), void *ctx)
{
	if (!c->pinned)
		return -ENOTCONN;
	struct creq *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	c->logged_out = true; /* no more cache writes, whatever control answers */
	uv_timer_stop(&c->cache_timer);
	r->kind = REQ_LOGOUT;
	r->logout_cb = cb;
	r->cb_ctx = ctx;
	if (req_start(c, r, "/machine/logout", "{}", REQ_TIMEOUT_MS) != 0) {
		req_free(r);
		return -EIO;
	}
	return 0;
}

int ctl_client_rotate_key(struct ctl_client *c)
{
	if (!c->registered || !c->pinned)
		return -ENOTCONN;
	if (c->rotating || c->relogin)
		return -EBUSY;
	int rc = next_key_prepare(c);
	if (rc)
		return rc;
	c->rotating = true;
	register_send(c);
	return 0;
}

int64_t ctl_client_netmap_age(const struct ctl_client *c)
{
	if (!c->netmap)
		return -1;
	return (int64_t)time(NULL) - c->netmap_time;
}
