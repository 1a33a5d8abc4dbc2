/* The control client's state machine: connect (GET /key, pin), register (auth key, or
 * an interactive login URL), the map stream with backoff and jitter, logout, and the
 * public API (check-mode holds: hold.c).  See client.h; the parts are listed in internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
#include "common/strv.h"
#include "control/client/internal.h"
#include "control/netmap/netmap_json.h"
#include "control/netmap/wire.h"
#include "control/url/url.h"

void ctl__event(struct ctl_client *c, enum ctl_client_event ev, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* the words are often control's, or whoever answered in its place before any key was
	 * checked: they must not drive a terminal when meshctl shows them */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (c->cfg.on_event)
		c->cfg.on_event(c->cfg.ctx, ev, msg);
}

/* ---- files ---- */

int ctl__path_of(const struct ctl_client *c, const char *name, char *out, size_t len)
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

int ctl__load_key(struct ctl_client *c, const char *name, uint8_t pub[32], uint8_t priv[32],
		  char *err, size_t errlen)
{
	char path[4096];
	bool created;
	ctl__path_of(c, name, path, sizeof(path));
	int rc = file_key_load_or_create(path, priv, &created, err, errlen);
	if (rc)
		return rc;
	crypto_scalarmult_base(pub, priv);
	return 0;
}

void ctl__deliver(struct ctl_client *c, bool from_cache)
{
	if (c->logged_out)
		return; /* the node forgets its netmap on logout; a late delta must not undo it */
	ctl__node_key_seen(c, c->nm->self.node_key);
	c->netmap_version = c->nm->version;
	if (c->cfg.on_netmap)
		c->cfg.on_netmap(c->cfg.ctx, c->nm, from_cache);
	ctl__check_expiry(c);
}

/* ---- the state machine ---- */

static void connect_start(struct ctl_client *c);
static void map_poll(struct ctl_client *c);

struct creq *ctl__post_json(struct ctl_client *c, const char *path, json_t *j, enum req_kind kind,
			    long timeout_ms)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	struct creq *r = s ? calloc(1, sizeof(*r)) : NULL;
	json_decref(j);
	if (r) {
		r->kind = kind;
		if (ctl__req_start(c, r, path, s, timeout_ms) != 0) {
			ctl__req_free(r);
			r = NULL;
		}
	}
	free(s);
	return r;
}

static void on_retry(uv_timer_t *t)
{
	connect_start(t->data);
}

static void retry_later(struct ctl_client *c, const char *why)
{
	if (c->stopped)
		return;
	c->connected = false;
	/* the next server (failover.c; the same one when there is only one), after the
	 * backoff with jitter, on a connection of its own */
	const char *failed = c->url;
	unsigned ms = ctl__failover_failed(&c->fo);
	c->url = c->urls[c->fo.cur];
	if (c->n_urls > 1) {
		c->fresh_connect = true;
		ctl__event(c, CTL_CLIENT_UNREACHABLE, "%s: %s; trying %s in %u ms", failed, why,
			   c->url, ms);
	} else {
		ctl__event(c, CTL_CLIENT_UNREACHABLE, "%s; retrying in %u ms", why, ms);
	}
	uv_timer_start(&c->retry_timer, on_retry, ms, 0);
}

static char *opened(struct creq *r, long status, const char **why)
{
	char *plain;
	size_t plen;
	if (!r->resp ||
	    !ctl_wire_open_response(r->c->server_pub, r->c->machine_priv, r->nonce,
				    (const uint8_t *)r->resp, r->resp_len, &plain, &plen, why))
		return NULL;
	return plain;
}

json_t *ctl__response_json(struct creq *r, long status, char *errbuf, size_t errlen)
{
	const char *why = "empty response";
	char *plain = status ? opened(r, status, &why) : NULL;
	if (!status) {
		snprintf(errbuf, errlen, "control is unreachable (%s)", ctl__req_error(r));
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
	ctl__path_of(c, "server.pub", path, sizeof(path));
	key_to_base64(b64, key);
	b64[KEY_BASE64_LEN] = '\n';
	b64[KEY_BASE64_LEN + 1] = '\0';
	memcpy(c->server_pub, key, 32);
	c->pinned = true;
	return file_write_atomic(path, b64, KEY_BASE64_LEN + 1, 0600);
}

void ctl__register_send(struct ctl_client *c)
{
	if (c->reg_req || c->stopped)
		return; /* one at a time: the one in flight carries the current wishes */
	char nk[KEY_BASE64_SIZE], old[KEY_BASE64_SIZE], dk[KEY_BASE64_SIZE];
	key_to_base64(nk, c->have_next && (c->rotating || c->relogin) ? c->next_pub : c->node_pub);
	key_to_base64(dk, c->disco_pub);
	json_t *j =
	    json_pack("{s:s, s:s, s:s}", "node_key", nk, "hostname", c->hostname, "disco_key", dk);
	if (c->have_next && (c->rotating || c->relogin)) {
		key_to_base64(old, c->node_pub);
		json_object_set_new(j, "old_node_key", json_string(old));
	}
	if (c->reauth) /* a new login even though the key is valid */
		json_object_set_new(j, "reauth", json_true());
	else if (c->relogin) /* control keeps the current key while it has not expired */
		json_object_set_new(j, "expired", json_true());
	if (c->tags) {
		/* meshd's --advertise-tags as given: control checks each and their number */
		char **v;
		size_t n;
		if (strv_split(c->tags, ',', SIZE_MAX, &v, &n) == 0) {
			json_t *a = json_array();
			for (size_t i = 0; i < n; i++)
				json_array_append_new(a, json_string(v[i]));
			strv_free(v, n);
			json_object_set_new(j, "tags", a);
		} else {
			json_decref(j); /* out of memory: never a request without the tags */
			j = NULL;
		}
	}
	if (c->followup[0]) {
		json_object_set_new(j, "followup", json_string(c->followup));
		json_object_set_new(j, "wait", json_true());
	} else if (c->auth_key && !(c->rotating && !c->relogin)) {
		json_object_set_new(j, "auth_key", json_string(c->auth_key));
	}
	struct creq *r = ctl__post_json(c, "/machine/register", j, REQ_REGISTER, REQ_TIMEOUT_MS);
	if (!r) {
		retry_later(c, "cannot start the registration request");
		return;
	}
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
			retry_later(c, ctl__req_error(r));
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
		ctl__event(c, CTL_CLIENT_KEY_MISMATCH,
			   "control at %s presents server key %s, not the pinned %s; refusing it",
			   c->url, got, want);
		return;
	}
	if (!c->pinned && pin_key(c, key) != 0)
		log_warn("control", "cannot save the pinned server key");
	/* A registered node streams at once, and registers again only to ask for tags
	 * (control answers at once when it has them already) or to change its node key; an
	 * auth key given to it is not needed then, and not kept. */
	if (c->registered)
		map_poll(c);
	if (!c->registered || c->tags || c->renaming || c->relogin || c->rotating)
		ctl__register_send(c);
	if (c->registered && !c->relogin)
		forget_auth_key(c);
}

static void mark_registered(struct ctl_client *c, bool yes)
{
	char path[4096];
	ctl__path_of(c, "registered", path, sizeof(path));
	c->registered = yes;
	if (yes)
		file_write_atomic(path, "1\n", 2, 0600);
	else
		unlink(path);
}

static void on_register(struct ctl_client *c, struct creq *r, long status)
{
	char err[512];
	json_t *j = ctl__response_json(r, status, err, sizeof(err));
	/* A definite refusal of a new key: forget it (an unanswered request may have reached
	 * control, so then the key stays for the next try, or for a netmap that confirms it). */
	bool refused = status >= 400 && status < 500 && status != 401;
	if (refused && c->have_next && (c->rotating || c->relogin))
		ctl__next_key_discard(c);
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
			ctl__event(c, CTL_CLIENT_REFUSED, "%s", err);
		}
		return;
	}
	const char *e = json_string_value(json_object_get(j, "error"));
	bool tags_asked = c->registered && !c->relogin && !c->rotating && (c->tags || c->renaming);
	bool reauth_asked = c->registered && c->reauth;
	if (e && status != 410 && (tags_asked || reauth_asked)) {
		/* a registered node asked for tags or a new login (its key still valid) and was
		 * refused: it stays as it was, and does not ask again (a later 'up' may) */
		free(c->tags);
		c->tags = NULL;
		c->relogin = c->reauth = c->renaming = false;
		c->followup[0] = '\0';
		forget_auth_key(c);
		ctl__event(c, CTL_CLIENT_CHANGE_REFUSED, "%s", e);
	} else if (e) {
		c->refused = status != 410;
		c->followup[0] = '\0';
		ctl__event(c, CTL_CLIENT_REFUSED, "%s", e);
		if (!c->refused)
			retry_later(c, e);
	} else if (json_is_true(json_object_get(j, "registered"))) {
		json_t *node = json_object_get(j, "node");
		const char *key = json_string_value(json_object_get(node, "node_key"));
		uint8_t k[32];
		struct key_error kerr;
		bool had_next = c->have_next;
		if (key && key_from_base64(k, key, &kerr))
			ctl__node_key_seen(c, k);
		/* a netmap for the new key may have come first, and been ignored by the node */
		if (had_next && !c->have_next && c->nm &&
		    sodium_memcmp(c->nm->self.node_key, c->node_pub, 32) == 0)
			ctl__deliver(c, false);
		c->rotating = c->relogin = c->reauth = c->renaming =
		    false; /* done, or control kept the old key */
		c->followup[0] = '\0';
		ctl__failover_ok(&c->fo);
		forget_auth_key(c); /* used: a reconnect must not present it again */
		mark_registered(c, true);
		ctl__event(c, CTL_CLIENT_REGISTERED, "%s",
			   json_string_value(json_object_get(node, "name")) ?: "");
		map_poll(c);
	} else {
		const char *url = json_string_value(json_object_get(j, "auth_url"));
		const char *fu = json_string_value(json_object_get(j, "followup"));
		if (!url || !fu || strlen(fu) >= sizeof(c->followup)) {
			retry_later(c, "registration answer has neither a node nor a login URL");
		} else {
			if (strcmp(fu, c->followup) != 0)
				ctl__event(c, CTL_CLIENT_NEEDS_LOGIN, "%s", url);
			snprintf(c->followup, sizeof(c->followup), "%s", fu);
			ctl__register_send(c);
		}
	}
	json_decref(j);
}

static void map_poll(struct ctl_client *c)
{
	if (c->stopped || c->map_req)
		return;
	char dk[KEY_BASE64_SIZE];
	key_to_base64(dk, c->disco_pub);
	/* filter_refs: it takes a delta's rule sources as indexes (control/netmap/filter_refs.c) */
	json_t *j = json_pack("{s:I, s:b, s:s, s:b}", "since", (json_int_t)c->netmap_version,
			      "wait", 1, "disco_key", dk, "filter_refs", 1);
	json_t *eps = json_array(), *hks = json_array();
	for (size_t i = 0; i < c->n_endpoints; i++)
		json_array_append_new(eps, json_string(c->endpoints[i]));
	for (size_t i = 0; i < c->n_host_keys; i++)
		json_array_append_new(hks, json_string(c->host_keys[i]));
	json_object_set_new(j, "endpoints", eps);
	json_object_set_new(j, "ssh_host_keys", hks);
	struct creq *r = ctl__post_json(c, "/machine/map", j, REQ_MAP, MAP_TIMEOUT_MS);
	if (!r) {
		retry_later(c, "cannot start the map request");
		return;
	}
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
		ctl__event(c, CTL_CLIENT_REFUSED,
			   "this node is no longer in the tailnet (removed?); log in again");
		return;
	}
	char *plain = NULL;
	const char *why = "no response";
	if (status == 200)
		plain = opened(r, status, &why);
	if (!plain) {
		json_t *j = ctl__response_json(r, status, err, sizeof(err));
		if (j) { /* a sealed refusal (a replica draining says 503): its sentence */
			const char *e = json_string_value(json_object_get(j, "error"));
			snprintf(err, sizeof(err), "HTTP %ld: %s", status, e ? e : "refused");
		}
		json_decref(j);
		if (!status)
			snprintf(err, sizeof(err), "control is unreachable (%s)",
				 ctl__req_error(r));
		retry_later(c, err);
		return;
	}
	json_error_t jerr;
	size_t plain_len = strlen(plain);
	json_t *m = ctl__json_loadb(plain, plain_len, 0, &jerr);
	bool keepalive = false;
	const char *type = json_string_value(json_object_get(m, "type"));
	bool full = type && strcmp(type, "full") == 0;
	if (type && c->cfg.on_contact)
		c->cfg.on_contact(c->cfg.ctx, type,
				  (uint64_t)json_integer_value(json_object_get(m, "version")));
	bool prompt = ctl__cache_prompt(m); /* written soon, whatever the interval */
	int rc = m ? ctl__netmap_fold_both(&c->netmap, &c->nm, m, &keepalive, err, sizeof(err))
		   : -EINVAL;
	if (!m)
		snprintf(err, sizeof(err), "map message JSON: %s", jerr.text);
	if (!rc || rc == -ESTALE) /* an admin's kills ride on a map message of any kind */
		ctl__kill_sessions(c, m);
	json_decref(m);
	if (rc == -ESTALE) {
		free(plain);
		c->netmap_version = 0; /* ask for a full map */
		map_poll(c);
		return;
	}
	if (rc) {
		free(plain);
		log_warn("control", "map message refused: %s", err);
		retry_later(c, err);
		return;
	}
	if (!c->connected) /* also when the answer is a keep-alive for the cached netmap */
		ctl__event(c, CTL_CLIENT_CONNECTED, "%s", c->url);
	c->connected = true;
	ctl__failover_ok(&c->fo);
	if (!keepalive) {
		c->netmap_time = (int64_t)time(NULL);
		ctl__deliver(c, false);
		ctl__cache_change(c, plain, plain_len, full, prompt);
	}
	free(plain);
	map_poll(c);
}

static void on_logout(struct ctl_client *c, struct creq *r, long status)
{
	char err[512];
	json_t *j = ctl__response_json(r, status, err, sizeof(err));
	bool ok = j && json_is_true(json_object_get(j, "logged_out"));
	json_decref(j);
	if (ok) {
		mark_registered(c, false);
		ctl_cache_remove(c->state_dir);
		ctl__event(c, CTL_CLIENT_LOGGED_OUT, "logged out");
	}
	if (r->logout_cb)
		r->logout_cb(r->cb_ctx, ok ? 0 : -EIO);
}

/* The transport hands every finished request here (transport.c). */
void ctl__request_done(struct ctl_client *c, struct creq *r, long status)
{
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
		ctl__on_hold(c, r, status);
		break;
	case REQ_LOGOUT:
		on_logout(c, r, status);
		break;
	case REQ_AUDIT:
		ctl__on_audit(c, r, status);
		break;
	case REQ_SESSIONS:
		ctl__on_sessions(c, r, status);
		break;
	}
}

static void connect_start(struct ctl_client *c)
{
	if (c->stopped || c->refused)
		return;
	struct creq *r = calloc(1, sizeof(*r));
	if (!r || ctl__req_start(c, r, "/key", NULL, REQ_TIMEOUT_MS) != 0) {
		if (r)
			ctl__req_free(r);
		retry_later(c, "cannot start a request");
		return;
	}
	r->kind = REQ_KEY;
	c->key_pending = true;
}

/* ---- public ---- */

/* --login-server A,B,...: the list split (failover.c), each URL checked by the same rules
 * (plain HTTP allowed by insecure_http logged as a warning). */
static int servers_load(const char *list, bool insecure_http, char ***urls, size_t *n, char *err,
			size_t errlen)
{
	int rc = ctl__servers_parse(list, urls, n, err, errlen);
	for (size_t i = 0; !rc && i < *n; i++) {
		rc = ctl_url_check((*urls)[i], insecure_http, err, errlen);
		if (rc == CTL_URL_INSECURE)
			log_warn("control", "%s", err);
		rc = rc < 0 ? rc : 0;
	}
	if (rc && !*urls)
		return rc;
	if (rc) {
		strv_free(*urls, *n);
		*urls = NULL;
		*n = 0;
	}
	return rc;
}

/* The keys wiped, the copies of the configuration freed (new's failure, and free). */
static void forget_config(struct ctl_client *c)
{
	sodium_memzero(c->machine_priv, 32);
	sodium_memzero(c->disco_priv, 32);
	sodium_memzero(c->node_priv, 32);
	sodium_memzero(c->next_priv, 32);
	strv_free(c->urls, c->n_urls);
	c->urls = NULL;
	c->url = NULL;
	free(c->ca_file);
	free(c->state_dir);
	free(c->hostname);
	free(c->auth_key);
	free(c->tags);
	strv_free(c->endpoints, c->n_endpoints);
	strv_free(c->host_keys, c->n_host_keys);
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
	c->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
	c->state_dir = strdup(cfg->state_dir);
	c->hostname = strdup(cfg->hostname ? cfg->hostname : "node");
	c->auth_key = cfg->auth_key ? strdup(cfg->auth_key) : NULL;
	c->tags = cfg->advertise_tags ? strdup(cfg->advertise_tags) : NULL;
	c->renaming = cfg->ask_hostname;
	bool lists = strv_dup(cfg->endpoints, cfg->n_endpoints, &c->endpoints) == 0 &&
		     strv_dup(cfg->ssh_host_keys, cfg->n_ssh_host_keys, &c->host_keys) == 0;
	c->n_endpoints = c->endpoints ? cfg->n_endpoints : 0;
	c->n_host_keys = c->host_keys ? cfg->n_ssh_host_keys : 0;
	c->cfg.server_url = c->cfg.state_dir = c->cfg.hostname = c->cfg.auth_key = NULL;
	c->cfg.ca_file = NULL;
	c->cfg.advertise_tags = NULL;
	c->cfg.endpoints = c->cfg.ssh_host_keys = NULL;
	int rc = -ENOMEM;
	if (!c->state_dir || !c->hostname || !lists || (cfg->advertise_tags && !c->tags) ||
	    (cfg->ca_file && !c->ca_file))
		goto fail;
	rc = servers_load(cfg->server_url, cfg->insecure_http, &c->urls, &c->n_urls, err, errlen);
	if (rc)
		goto fail;
	c->url = c->urls[0];
	uint64_t seed;
	randombytes_buf(&seed, sizeof(seed));
	ctl__failover_init(&c->fo, c->n_urls, seed);
	if (mkdir(c->state_dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", c->state_dir, strerror(errno));
		goto fail;
	}
	rc = ctl__load_key(c, "machine.key", c->machine_pub, c->machine_priv, err, errlen);
	if (!rc)
		rc = ctl__load_key(c, "node.key", c->node_pub, c->node_priv, err, errlen);
	/* a crypto_box key pair is an X25519 one: the public half is the scalar times the base */
	if (!rc)
		rc = ctl__load_key(c, "disco.key", c->disco_pub, c->disco_priv, err, errlen);
	char path[4096];
	ctl__path_of(c, "node.key.next", path, sizeof(path));
	if (!rc && access(path, F_OK) == 0) { /* a rotation a crash interrupted */
		rc = ctl__load_key(c, "node.key.next", c->next_pub, c->next_priv, err, errlen);
		c->have_next = rc == 0;
	}
	if (rc)
		goto fail;
	struct key_error kerr;
	ctl__path_of(c, "server.pub", path, sizeof(path));
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
			snprintf(err, errlen,
				 "the server key given differs from the one pinned in "
				 "%s; refusing it",
				 path);
			rc = -EKEYREJECTED;
			goto fail;
		}
	} else if (cfg->server_key && pin_key(c, given) != 0) {
		snprintf(err, errlen, "%s: cannot save the server key", path);
		rc = -EIO;
		goto fail;
	}
	ctl__path_of(c, "registered", path, sizeof(path));
	c->registered = access(path, F_OK) == 0;
	if (cfg->force_reauth && c->registered) {
		if ((rc = ctl__next_key_prepare(c)) != 0) {
			snprintf(err, errlen, "cannot make a new node key in %s", c->state_dir);
			goto fail;
		}
		c->relogin = c->reauth = true;
	}
	if ((rc = ctl__transport_init(c)) != 0) {
		snprintf(err, errlen, "cannot set up libcurl: %s", strerror(-rc));
		goto fail;
	}
	uv_timer_init(cfg->loop, &c->retry_timer);
	uv_timer_init(cfg->loop, &c->cache_timer);
	uv_timer_init(cfg->loop, &c->expiry_timer);
	c->retry_timer.data = c->cache_timer.data = c->expiry_timer.data = c;
	c->open_handles = 4;
	*out = c;
	return 0;
fail:
	if (c->multi)
		curl_multi_cleanup(c->multi);
	forget_config(c);
	free(c);
	return rc;
}

int ctl_client_start(struct ctl_client *c)
{
	char path[4096];
	struct ctl__cache_state cs;
	struct ctl_netmap *nm;
	char err[256];
	json_t *j = c->registered ? ctl__cache_read(c->state_dir, &cs, err, sizeof(err)) : NULL;
	/* the first write is the whole netmap, unless this one has no deltas to carry */
	c->cache_whole = !j || cs.had_log;
	c->cache_base_len = j ? cs.base_len : 0;
	c->cache_base_version = j ? cs.base_version : 0;
	if (j && ctl__netmap_from_json(j, &nm, err, sizeof(err)) == 0) {
		struct stat st;
		int64_t t = (int64_t)time(NULL);
		c->nm = nm;
		c->netmap = j;
		ctl__path_of(c, cs.folded ? "netmap.deltas" : "netmap.json", path, sizeof(path));
		c->netmap_time = stat(path, &st) == 0 ? (int64_t)st.st_mtime : t;
		ctl__deliver(c, true);
	} else {
		if (j)
			log_warn("control", "ignoring the cached netmap in %s: %s", c->state_dir,
				 err);
		json_decref(j);
	}
	connect_start(c);
	return 0;
}

void ctl_client_free(struct ctl_client *c)
{
	if (!c)
		return;
	ctl__cache_flush(c);
	c->stopped = true;
	ctl__transport_stop(c);
	forget_config(c);
	json_decref(c->netmap);
	ctl__cache_texts_clear(&c->cache_texts);
	ctl_netmap_free(c->nm);
	uv_close((uv_handle_t *)&c->curl_timer, ctl__handle_closed);
	uv_close((uv_handle_t *)&c->retry_timer, ctl__handle_closed);
	uv_close((uv_handle_t *)&c->cache_timer, ctl__handle_closed);
	uv_close((uv_handle_t *)&c->expiry_timer, ctl__handle_closed);
}

int ctl_client_set_endpoints(struct ctl_client *c, const char *const *eps, size_t n)
{
	bool changed = n != c->n_endpoints;
	for (size_t i = 0; !changed && i < n; i++)
		changed = strcmp(eps[i], c->endpoints[i]) != 0;
	if (!changed)
		return 0;
	char **v;
	int rc = strv_dup(eps, n, &v);
	if (rc)
		return rc;
	strv_free(c->endpoints, c->n_endpoints);
	c->endpoints = v;
	c->n_endpoints = n;
	/* Peers need the new addresses now, not with the next long-poll (up to a keep-alive
	 * away); and after a move the open one may sit on a connection that died with our
	 * old address, silent until MAP_TIMEOUT_MS.  Ask again, on a new connection. */
	if (c->map_req && !c->stopped) {
		ctl__req_free(c->map_req);
		c->fresh_connect = true;
		map_poll(c);
	}
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
	if (ctl__req_start(c, r, "/machine/logout", "{}", REQ_TIMEOUT_MS) != 0) {
		ctl__req_free(r);
		return -EIO;
	}
	return 0;
}

void ctl_client_disco_key(const struct ctl_client *c, uint8_t pub[static 32],
			  uint8_t priv[static 32])
{
	memcpy(pub, c->disco_pub, 32);
	memcpy(priv, c->disco_priv, 32);
}

int ctl_client_servers_check(const char *list, bool insecure_http, char *err, size_t errlen)
{
	char **v;
	size_t n;
	int rc = servers_load(list, insecure_http, &v, &n, err, errlen);
	if (!rc)
		strv_free(v, n);
	return rc;
}

const char *ctl_client_server_url(const struct ctl_client *c)
{
	return c->url;
}

int64_t ctl_client_netmap_age(const struct ctl_client *c)
{
	if (!c->netmap)
		return -1;
	return (int64_t)time(NULL) - c->netmap_time;
}
