/* The node API (register, map, hold, logout) and the per-node maps behind it.
 *
 * Each node keeps what it was last sent (peer ids with their versions, the filter, the
 * SSH rules, its own entry); a map poll answers with a full netmap when the node's `since`
 * is not that version, otherwise with the difference, and holds the request when there is
 * none until a change or the keep-alive deadline.  A peer's JSON is built once when it
 * changes and shared by every viewer; a policy or topology change recompiles (polglue.c)
 * and every held poll computes its own delta by comparing versions and strings.  A node's
 * relays with its TURN credentials (relay.c) are its own, like its filter: they travel
 * beside "self", never in the JSON its peers get. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/key.h"
#include "common/log.h"
#include "common/now.h"
#include "control/netmap/endpoint.h"
#include "control/netmap/netmap_json.h"
#include "control/policy/policy.h"
#include "control/server/ident.h"
#include "control/server/polglue.h"
#include "control/server/srv.h"
#include "control/server/tags.h"

enum {
	SRV_HOLD_WAIT_MS = 25000,
	SRV_LOGIN_TTL_S = 3600,
	SRV_LAST_SEEN_WRITE_S = 60,
	/* Check-mode holds: any registered node can ask for them, so they are capped per node
	 * asking, per source device and in all; a pending hold nobody has asked about for a
	 * while (its SSH client left without a cancel) is dropped. */
	SRV_HOLDS_PER_NODE = 32,
	SRV_HOLDS_PER_SOURCE = 16,
	SRV_HOLDS_MAX = 4096,
	SRV_HOLD_IDLE_S = 90, /* > SRV_HOLD_WAIT_MS: a client waiting asks again before */
};

/* ---- a growable string ---- */

struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->s, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	sb_add(b, tmp, n < 0 ? 0 : (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* ---- nodes in memory ---- */

struct srv_node *srv_node_by_id(struct ctl_server *srv, int64_t id)
{
	size_t lo = 0, hi = srv->n_nodes;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (srv->nodes[mid]->rec.id == id)
			return srv->nodes[mid];
		if (srv->nodes[mid]->rec.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct srv_node *node_by_machine(struct ctl_server *srv, const uint8_t mkey[32])
{
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (memcmp(srv->nodes[i]->rec.machine_key, mkey, 32) == 0)
			return srv->nodes[i];
	return NULL;
}

/* Free a string that may hold credentials. */
static void secret_free(char *s)
{
	if (s)
		sodium_memzero(s, strlen(s));
	free(s);
}

static void node_free(struct srv_node *n)
{
	if (!n)
		return;
	ctl_node_rec_clear(&n->rec);
	free(n->peer_json);
	free(n->vis);
	free(n->filter_json);
	free(n->ssh_json);
	free(n->sent_ids);
	free(n->sent_vers);
	free(n->sent_filter);
	free(n->sent_ssh);
	free(n->sent_self);
	secret_free(n->relays_json);
	secret_free(n->sent_relays);
	free(n);
}

void srv_nodes_free(struct ctl_server *srv)
{
	for (size_t i = 0; i < srv->n_nodes; i++)
		node_free(srv->nodes[i]);
	free(srv->nodes);
	srv->nodes = NULL;
	srv->n_nodes = 0;
	polglue_free(srv);
}

static void split_tags(const char *tags, char ***v, size_t *n)
{
	*v = NULL;
	*n = 0;
	if (!tags || !*tags)
		return;
	size_t count = 1;
	for (const char *p = tags; *p; p++)
		count += *p == ',';
	char **out = calloc(count, sizeof(*out));
	if (!out)
		return;
	const char *p = tags;
	for (size_t i = 0; i < count; i++) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		out[i] = strndup(p, len);
		*n = i + 1;
		p = e ? e + 1 : p + len;
	}
	*v = out;
}

static json_t *json_text_array(const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_array(j)) {
		json_decref(j);
		return json_array();
	}
	return j;
}

/* Rebuild the node's public JSON; bumps its version when the text changed. */
static int node_render(struct ctl_server *srv, struct srv_node *n)
{
	struct ctl_node v;
	memset(&v, 0, sizeof(v));
	v.id = (uint64_t)n->rec.id;
	v.name = n->rec.hostname;
	v.owner = n->owner[0] ? n->owner : NULL;
	split_tags(n->rec.tags, &v.tags, &v.n_tags);
	memcpy(v.node_key, n->rec.node_key, 32);
	memcpy(v.disco_key, n->rec.disco_key, 32);
	v.has_disco_key = n->rec.has_disco_key;
	v.key_expiry = n->rec.key_expiry;
	v.addrs[0].ip.family = AF_INET;
	v.addrs[0].bits = 32;
	for (int i = 0; i < 4; i++)
		v.addrs[0].ip.bytes[i] = (uint8_t)(n->rec.ipv4 >> (24 - 8 * i));
	v.addrs[1].ip.family = AF_INET6;
	v.addrs[1].bits = 128;
	memcpy(v.addrs[1].ip.bytes, n->rec.ipv6, 16);
	v.n_addrs = 2;
	v.allowed_ips = v.addrs;
	v.n_allowed_ips = 2;
	v.online = n->online;
	v.last_seen = n->rec.last_seen;
	json_t *j = ctl__node_json(&v);
	ctl__strv_free(v.tags, v.n_tags);
	if (!j)
		return -ENOMEM;
	json_object_set_new(j, "endpoints", json_text_array(n->rec.endpoints));
	json_object_set_new(j, "ssh_host_keys", json_text_array(n->rec.ssh_host_keys));
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return -ENOMEM;
	if (n->peer_json && strcmp(n->peer_json, s) == 0) {
		free(s);
		return 0;
	}
	free(n->peer_json);
	n->peer_json = s;
	n->peer_version = ++srv->map_version;
	return 0;
}

static int node_owner(struct ctl_server *srv, struct srv_node *n)
{
	struct ctl_user u;
	n->owner[0] = '\0';
	if (n->rec.user_id && !n->rec.tags[0] &&
	    srv->store->ops->user_by_id(srv->store, n->rec.user_id, &u) == 0)
		snprintf(n->owner, sizeof(n->owner), "%s", u.login);
	return 0;
}

static int insert_node(struct ctl_server *srv, const struct ctl_node_rec *rec)
{
	struct srv_node *n = calloc(1, sizeof(*n));
	struct srv_node **arr = realloc(srv->nodes, (srv->n_nodes + 1) * sizeof(*arr));
	if (!n || !arr) {
		free(n);
		return -ENOMEM;
	}
	srv->nodes = arr;
	n->rec = *rec;
	n->rec.endpoints = rec->endpoints ? strdup(rec->endpoints) : NULL;
	n->rec.ssh_host_keys = rec->ssh_host_keys ? strdup(rec->ssh_host_keys) : NULL;
	/* nothing allowed and nobody visible until the next rebuild says otherwise */
	n->filter_json = strdup("[]");
	n->ssh_json = strdup("[]");
	if (!n->filter_json || !n->ssh_json) {
		node_free(n);
		return -ENOMEM;
	}
	node_owner(srv, n);
	size_t pos = srv->n_nodes;
	while (pos > 0 && srv->nodes[pos - 1]->rec.id > rec->id)
		pos--;
	memmove(&srv->nodes[pos + 1], &srv->nodes[pos], (srv->n_nodes - pos) * sizeof(*arr));
	srv->nodes[pos] = n;
	srv->n_nodes++;
	srv_relay_refresh(srv, n, srv_now_s());
	return node_render(srv, n);
}

static int load_one(void *ctx, const struct ctl_node_rec *rec)
{
	return insert_node(ctx, rec);
}

int srv_nodes_load(struct ctl_server *srv)
{
	return srv->store->ops->node_list(srv->store, load_one, srv);
}

static void login_forget(struct ctl_server *srv, size_t i)
{
	srv->logins[i] = srv->logins[--srv->n_logins];
}

static bool node_expired(const struct srv_node *n, int64_t now)
{
	return n->rec.key_expiry && n->rec.key_expiry <= now;
}

/* With no policy: every node may reach every other on any port, and there is no SSH. */
static int rebuild_open(struct ctl_server *srv)
{
	const struct pol_filter_rule *open_rule = &pol_filter_allow_all;
	json_t *fj = ctl__filter_json(&open_rule, 1);
	char *allow_all = fj ? json_dumps(fj, JSON_COMPACT) : NULL;
	json_decref(fj);
	if (!allow_all)
		return -ENOMEM;
	int64_t now = srv_now_s();
	int rc = 0;
	for (size_t i = 0; i < srv->n_nodes && !rc; i++) {
		struct srv_node *n = srv->nodes[i];
		free(n->filter_json);
		free(n->ssh_json);
		free(n->vis);
		n->filter_json = strdup(allow_all);
		n->ssh_json = strdup("[]");
		n->vis = calloc(srv->n_nodes ? srv->n_nodes : 1, sizeof(*n->vis));
		n->n_vis = 0;
		if (!n->filter_json || !n->ssh_json || !n->vis) {
			rc = -ENOMEM;
			break;
		}
		for (size_t j = 0; j < srv->n_nodes && !node_expired(n, now); j++)
			if (j != i && !node_expired(srv->nodes[j], now))
				n->vis[n->n_vis++] = j;
	}
	free(allow_all);
	return rc;
}

static void update_next_expiry(struct ctl_server *srv)
{
	int64_t now = srv_now_s();
	srv->next_expiry = 0;
	for (size_t i = 0; i < srv->n_nodes; i++) {
		int64_t e = srv->nodes[i]->rec.key_expiry;
		if (e > now && (!srv->next_expiry || e < srv->next_expiry))
			srv->next_expiry = e;
	}
}

void srv_map_published(struct ctl_server *srv)
{
	update_next_expiry(srv);
	srv->dirty = false;
	srv->map_version++;
	srv_wake(srv, SRV_WAIT_MAP, NULL);
	/* held logins are decided again against what changed (a rule removed rejects them) */
	srv_wake(srv, SRV_WAIT_HOLD, NULL);
}

int srv_map_rebuild(struct ctl_server *srv, char *err, size_t errlen)
{
	int rc = srv->policy_text ? polglue_apply(srv, srv->policy_text, true, err, errlen)
				  : rebuild_open(srv);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (rc)
		return rc;
	srv_map_published(srv);
	return 0;
}

int srv_policy_check(struct ctl_server *srv, const char *text, char *err, size_t errlen)
{
	return polglue_apply(srv, text, false, err, errlen);
}

/* Takes node id out of the store and of memory, without publishing a map. */
static int node_drop(struct ctl_server *srv, int64_t id)
{
	size_t i;
	for (i = 0; i < srv->n_nodes && srv->nodes[i]->rec.id != id; i++)
		;
	if (i == srv->n_nodes)
		return -ENOENT;
	int rc = srv->store->ops->node_remove(srv->store, id);
	if (rc && rc != -ENOENT)
		return rc;
	node_free(srv->nodes[i]);
	memmove(&srv->nodes[i], &srv->nodes[i + 1], (srv->n_nodes - i - 1) * sizeof(*srv->nodes));
	srv->n_nodes--;
	return 0;
}

int srv_nodes_remove(struct ctl_server *srv, const int64_t *ids, size_t n)
{
	/* All first, then one map: a user's nodes leave together, so no map is ever built
	 * with some of them and without their owner (the topology would be refused). */
	int first = 0;
	for (size_t i = 0; i < n; i++) {
		int rc = node_drop(srv, ids[i]);
		if (rc && !first)
			first = rc;
	}
	char err[256];
	int rc = srv_map_rebuild(srv, err, sizeof(err));
	if (rc)
		log_err("meshcontrol", "after removing %zu node(s): %s", n, err);
	return first ? first : rc;
}

int srv_node_remove(struct ctl_server *srv, int64_t id)
{
	return srv_nodes_remove(srv, &id, 1);
}

/* Some request is held waiting for h's answer. */
static bool hold_waited(struct ctl_server *srv, const struct srv_hold *h)
{
	for (struct srv_req *r = srv->waiting.next; r != &srv->waiting; r = r->next)
		if (r->wait == SRV_WAIT_HOLD && strcmp(r->token, h->id) == 0)
			return true;
	return false;
}

void srv_timer_tick(struct ctl_server *srv)
{
	uint64_t now_ms = srv_wall_ms();
	int64_t now = (int64_t)(now_ms / 1000);
	bool changed = false;
	for (size_t i = 0; i < srv->n_nodes; i++) {
		struct srv_node *n = srv->nodes[i];
		bool online = n->rec.last_seen &&
			      (uint64_t)n->rec.last_seen * 1000 + srv->cfg.keepalive_ms + 15000 >
				      now_ms;
		if (online != n->online) {
			n->online = online;
			node_render(srv, n);
			changed = true;
		}
		/* credentials with less than half their lifetime left, or a key that expired */
		changed |= srv_relay_refresh(srv, n, now);
	}
	if (srv->dirty || (srv->next_expiry && srv->next_expiry <= now)) {
		char err[256];
		if (srv_map_rebuild(srv, err, sizeof(err))) {
			log_err("meshcontrol", "rebuilding the maps: %s", err);
			srv->dirty = false; /* retried on the next change, not every tick */
			srv_wake(srv, SRV_WAIT_MAP, NULL);
		}
		return;
	}
	if (changed) {
		srv->map_version++;
		srv_wake(srv, SRV_WAIT_MAP, NULL);
	}
	/* forget decided or stale login requests and holds */
	for (size_t i = 0; i < srv->n_logins;) {
		if (srv->logins[i].created + SRV_LOGIN_TTL_S < now) {
			login_forget(srv, i);
		} else {
			i++;
		}
	}
	for (size_t i = 0; i < srv->n_holds;) {
		const struct srv_hold *h = &srv->holds[i];
		if (h->created + SRV_LOGIN_TTL_S < now ||
		    (h->state == 0 && h->last_asked + SRV_HOLD_IDLE_S < now && !hold_waited(srv, h)))
			srv->holds[i] = srv->holds[--srv->n_holds];
		else
			i++;
	}
}

/* ---- replies ---- */

/* Always a handler's last step: sealing (up to a full netmap) and queueing run without the
 * server lock, so the workers answering a wave of map polls encrypt in parallel.  Only
 * per-request data and the immutable server key are used. */
static enum MHD_Result reply_sealed(struct srv_req *r, unsigned status, const char *json,
				    size_t len)
{
	uint8_t *body;
	size_t blen;
	pthread_mutex_unlock(&r->srv->lock);
	enum MHD_Result rc = MHD_NO;
	if (ctl_wire_seal_response(r->machine_key, r->srv->server_priv, r->nonce, json, len, &body,
				   &blen) == 0)
		rc = srv_reply(r->conn, status, "application/octet-stream", (char *)body, blen);
	pthread_mutex_lock(&r->srv->lock);
	return rc;
}

static enum MHD_Result reply_sealed_json(struct srv_req *r, unsigned status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return MHD_NO;
	enum MHD_Result rc = reply_sealed(r, status, s, strlen(s));
	free(s);
	return rc;
}

static enum MHD_Result sealed_error(struct srv_req *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum MHD_Result sealed_error(struct srv_req *r, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply_sealed_json(r, status, json_pack("{s:s}", "error", msg));
}

/* ---- the map ---- */

static const char *relays_of(const struct srv_node *n);

static void sent_record(struct srv_node *n, uint64_t version, struct ctl_server *srv)
{
	free(n->sent_ids);
	free(n->sent_vers);
	n->sent_ids = calloc(n->n_vis ? n->n_vis : 1, sizeof(*n->sent_ids));
	n->sent_vers = calloc(n->n_vis ? n->n_vis : 1, sizeof(*n->sent_vers));
	n->n_sent = 0;
	if (n->sent_ids && n->sent_vers) {
		for (size_t i = 0; i < n->n_vis; i++) {
			struct srv_node *p = srv->nodes[n->vis[i]];
			n->sent_ids[i] = (uint64_t)p->rec.id;
			n->sent_vers[i] = p->peer_version;
		}
		n->n_sent = n->n_vis;
	}
	free(n->sent_filter);
	free(n->sent_ssh);
	free(n->sent_self);
	secret_free(n->sent_relays);
	n->sent_filter = strdup(n->filter_json);
	n->sent_ssh = strdup(n->ssh_json);
	n->sent_self = strdup(n->peer_json);
	n->sent_relays = strdup(relays_of(n));
	n->sent_version = version;
}

static const char *relays_of(const struct srv_node *n)
{
	return n->relays_json ? n->relays_json : "[]";
}

static char *map_full(struct ctl_server *srv, struct srv_node *n)
{
	struct sbuf b = { 0 };
	uint64_t v = srv->map_version;
	sb_fmt(&b, "{\"type\":\"full\",\"version\":%llu,\"netmap\":{\"version\":%llu,\"domain\":",
	       (unsigned long long)v, (unsigned long long)v);
	json_t *d = json_string(srv->domain);
	char *ds = json_dumps(d, JSON_ENCODE_ANY);
	json_decref(d);
	sb_str(&b, ds ? ds : "\"\"");
	free(ds);
	sb_str(&b, ",\"self\":");
	sb_str(&b, n->peer_json);
	sb_str(&b, ",\"peers\":[");
	for (size_t i = 0; i < n->n_vis; i++) {
		if (i)
			sb_str(&b, ",");
		sb_str(&b, srv->nodes[n->vis[i]]->peer_json);
	}
	sb_str(&b, "],\"filter\":");
	sb_str(&b, n->filter_json);
	sb_str(&b, ",\"ssh\":");
	sb_str(&b, n->ssh_json);
	sb_str(&b, ",\"relays\":");
	sb_str(&b, relays_of(n));
	sb_str(&b, "}}");
	if (b.oom) {
		secret_free(b.s);
		return NULL;
	}
	sent_record(n, v, srv);
	return b.s;
}

/* NULL with *empty set when nothing changed since what the node was sent. */
static char *map_delta(struct ctl_server *srv, struct srv_node *n, bool *empty)
{
	struct sbuf ch = { 0 }, rm = { 0 };
	size_t i = 0, j = 0, nch = 0, nrm = 0;
	while (i < n->n_vis || j < n->n_sent) {
		struct srv_node *p = i < n->n_vis ? srv->nodes[n->vis[i]] : NULL;
		uint64_t pid = p ? (uint64_t)p->rec.id : UINT64_MAX;
		uint64_t sid = j < n->n_sent ? n->sent_ids[j] : UINT64_MAX;
		if (pid < sid) {
			sb_str(&ch, nch++ ? "," : "");
			sb_str(&ch, p->peer_json);
			i++;
		} else if (sid < pid) {
			sb_fmt(&rm, "%s%llu", nrm++ ? "," : "", (unsigned long long)sid);
			j++;
		} else {
			if (p->peer_version != n->sent_vers[j]) {
				sb_str(&ch, nch++ ? "," : "");
				sb_str(&ch, p->peer_json);
			}
			i++;
			j++;
		}
	}
	bool filter = strcmp(n->filter_json, n->sent_filter) != 0;
	bool ssh = strcmp(n->ssh_json, n->sent_ssh) != 0;
	bool self = strcmp(n->peer_json, n->sent_self) != 0;
	bool relays = !n->sent_relays || strcmp(relays_of(n), n->sent_relays) != 0;
	*empty = !nch && !nrm && !filter && !ssh && !self && !relays;
	if (*empty || ch.oom || rm.oom) {
		free(ch.s);
		free(rm.s);
		return NULL;
	}
	struct sbuf b = { 0 };
	uint64_t v = srv->map_version;
	sb_fmt(&b, "{\"type\":\"delta\",\"version\":%llu,\"base\":%llu", (unsigned long long)v,
	       (unsigned long long)n->sent_version);
	if (nch) {
		sb_str(&b, ",\"peers_changed\":[");
		sb_str(&b, ch.s);
		sb_str(&b, "]");
	}
	if (nrm) {
		sb_str(&b, ",\"peers_removed\":[");
		sb_str(&b, rm.s);
		sb_str(&b, "]");
	}
	if (filter) {
		sb_str(&b, ",\"filter\":");
		sb_str(&b, n->filter_json);
	}
	if (ssh) {
		sb_str(&b, ",\"ssh\":");
		sb_str(&b, n->ssh_json);
	}
	if (self) {
		sb_str(&b, ",\"self\":");
		sb_str(&b, n->peer_json);
	}
	if (relays) {
		sb_str(&b, ",\"relays\":");
		sb_str(&b, relays_of(n));
	}
	sb_str(&b, "}");
	free(ch.s);
	free(rm.s);
	if (b.oom) {
		secret_free(b.s);
		return NULL;
	}
	sent_record(n, v, srv);
	return b.s;
}

static char *array_text(json_t *a)
{
	return json_is_array(a) ? json_dumps(a, JSON_COMPACT) : NULL;
}

static bool text_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* The discovery key a request carries ("disco_key"): 1 with it in key, 0 when absent,
 * -EINVAL with the reason in why. */
static int disco_from_msg(json_t *m, uint8_t key[32], char *why, size_t len)
{
	json_t *j = json_object_get(m, "disco_key");
	struct key_error kerr;
	if (!j)
		return 0;
	if (!json_is_string(j)) {
		snprintf(why, len, "disco_key: expected a base64 key");
		return -EINVAL;
	}
	if (!key_from_base64(key, json_string_value(j), &kerr)) {
		snprintf(why, len, "disco_key: %s", kerr.message);
		return -EINVAL;
	}
	if (key_is_zero(key)) { /* a low-order point: crypto_box refuses it */
		snprintf(why, len, "disco_key: the all-zero key is not a public key");
		return -EINVAL;
	}
	return 1;
}

/* Another node than self uses this discovery key.  Peers find a discovery message's node
 * by its sender key, so two nodes must never share one. */
static bool disco_taken(struct ctl_server *srv, const struct srv_node *self, const uint8_t key[32])
{
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (srv->nodes[i] != self && srv->nodes[i]->rec.has_disco_key &&
		    sodium_memcmp(srv->nodes[i]->rec.disco_key, key, 32) == 0)
			return true;
	return false;
}

/* n uses discovery key k from now on: stored, and in what its peers see of it (a change in
 * their maps).  1 when it changed, 0 when n had it already, -EEXIST when another node uses
 * it, or the store's error. */
static int disco_set(struct ctl_server *srv, struct srv_node *n, const uint8_t k[32])
{
	if (n->rec.has_disco_key && sodium_memcmp(n->rec.disco_key, k, 32) == 0)
		return 0;
	if (disco_taken(srv, n, k))
		return -EEXIST;
	struct ctl_node_rec rec = n->rec; /* memory changes once the store has it */
	memcpy(rec.disco_key, k, 32);
	rec.has_disco_key = true;
	int rc = srv->store->ops->node_update(srv->store, &rec);
	if (rc)
		return rc;
	memcpy(n->rec.disco_key, k, 32);
	n->rec.has_disco_key = true;
	node_render(srv, n);
	return 1;
}

/* The discovery key a known node's request carries, taken (its peers are woken for it);
 * false with the refusal in *res. */
static bool disco_report(struct srv_req *r, struct srv_node *n, enum MHD_Result *res)
{
	uint8_t k[32];
	char why[192];
	int rc = disco_from_msg(r->msg, k, why, sizeof(why));
	if (rc < 0) {
		*res = sealed_error(r, MHD_HTTP_BAD_REQUEST, "%s", why);
		return false;
	}
	if (rc > 0)
		rc = disco_set(r->srv, n, k);
	if (rc == -EEXIST) {
		*res = sealed_error(r, MHD_HTTP_CONFLICT,
				    "disco_key: another node already uses this key");
		return false;
	}
	if (rc < 0) {
		*res = sealed_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "disco_key: %s",
				    strerror(-rc));
		return false;
	}
	if (rc > 0) {
		r->srv->map_version++;
		srv_wake(r->srv, SRV_WAIT_MAP, NULL);
	}
	return true;
}

/* Endpoints and SSH host keys the node reports; they reach its peers as a change. */
static enum MHD_Result map_report(struct srv_req *r, struct srv_node *n, const char **bad)
{
	struct ctl_server *srv = r->srv;
	json_t *ep = json_object_get(r->msg, "endpoints");
	json_t *hk = json_object_get(r->msg, "ssh_host_keys");
	size_t i;
	json_t *v;
	if ((ep && !json_is_array(ep)) || (hk && !json_is_array(hk))) {
		*bad = "endpoints and ssh_host_keys must be arrays of strings";
		return MHD_NO;
	}
	json_array_foreach(ep, i, v) {
		struct ctl_endpoint e;
		if (i >= 16 || !ctl_endpoint_parse(json_string_value(v), &e, NULL, 0)) {
			*bad = "endpoints: each must be addr:port or [addr]:port, typed or not "
			       "('local', 'reflexive' or 'relay', a space, the address) (at most 16)";
			return MHD_NO;
		}
	}
	json_array_foreach(hk, i, v) {
		if (!json_is_string(v) || i >= 8 || /* no NUL in it either: "\u0000" */
		    json_string_length(v) != strlen(json_string_value(v)) ||
		    !ctl_ssh_host_key_valid(json_string_value(v), NULL, 0)) {
			*bad = "ssh_host_keys: at most 8 lines 'TYPE BASE64' of known SSH key types";
			return MHD_NO;
		}
	}
	char *eps = ep ? array_text(ep) : NULL, *hks = hk ? array_text(hk) : NULL;
	bool changed = (ep && text_differs(eps, n->rec.endpoints)) ||
		       (hk && text_differs(hks, n->rec.ssh_host_keys));
	int64_t now = srv_now_s();
	bool was_offline = !n->online;
	if (changed || now - n->rec.last_seen >= SRV_LAST_SEEN_WRITE_S) {
		if (ep) {
			free(n->rec.endpoints);
			n->rec.endpoints = eps;
			eps = NULL;
		}
		if (hk) {
			free(n->rec.ssh_host_keys);
			n->rec.ssh_host_keys = hks;
			hks = NULL;
		}
		n->rec.last_seen = now;
		int rc = srv->store->ops->node_update(srv->store, &n->rec);
		if (rc)
			log_warn("meshcontrol", "node %lld: cannot store endpoints: %s",
				 (long long)n->rec.id, strerror(-rc));
	}
	n->rec.last_seen = now;
	free(eps);
	free(hks);
	if (was_offline)
		n->online = true;
	if (changed || was_offline) {
		node_render(srv, n);
		srv->map_version++;
		srv_wake(srv, SRV_WAIT_MAP, NULL);
	}
	return MHD_YES;
}

int srv_node_expire(struct ctl_server *srv, struct srv_node *n, char *err, size_t errlen)
{
	n->rec.key_expiry = srv_now_s();
	int rc = srv->store->ops->node_set_expiry(srv->store, n->rec.id, n->rec.key_expiry);
	if (!rc)
		rc = node_render(srv, n); /* its self (and what peers see) carries the expiry */
	if (!rc)
		srv_relay_refresh(srv, n, srv_now_s()); /* and its relay credentials go */
	if (!rc)
		rc = srv_map_rebuild(srv, err, errlen);
	return rc;
}

static enum MHD_Result api_map(struct srv_req *r)
{
	struct ctl_server *srv = r->srv;
	struct srv_node *n = node_by_machine(srv, r->machine_key);
	if (!n)
		return srv_reply_error(r->conn, MHD_HTTP_UNAUTHORIZED,
				       "machine key is not registered");
	json_t *since = json_object_get(r->msg, "since");
	if (since && !json_is_integer(since))
		return sealed_error(r, MHD_HTTP_BAD_REQUEST, "since: expected an integer");
	if (!r->wait) {
		const char *bad = NULL;
		enum MHD_Result res;
		if (!disco_report(r, n, &res))
			return res;
		if (map_report(r, n, &bad) != MHD_YES)
			return sealed_error(r, MHD_HTTP_BAD_REQUEST, "%s", bad);
	} else {
		n->rec.last_seen = srv_now_s();
	}
	uint64_t s = since ? (uint64_t)json_integer_value(since) : 0;
	char *msg;
	if (srv->dirty && !srv->stopping && r->wait == SRV_WAIT_NONE) {
		/* a registration is not in the maps yet: answer after the next rebuild */
		r->node_id = n->rec.id;
		srv_suspend(r, SRV_WAIT_MAP, now_mono_ms() + srv->cfg.keepalive_ms);
		return MHD_YES;
	}
	if (s == 0 || s != n->sent_version) {
		msg = map_full(srv, n);
	} else {
		bool empty;
		msg = map_delta(srv, n, &empty);
		if (!msg && empty) {
			bool wait = json_is_true(json_object_get(r->msg, "wait"));
			uint64_t now = now_mono_ms();
			if (wait && !srv->stopping &&
			    (r->wait == SRV_WAIT_NONE || now < r->deadline_ms)) {
				r->node_id = n->rec.id;
				srv_suspend(r, SRV_WAIT_MAP,
					    r->wait == SRV_WAIT_NONE ? now + srv->cfg.keepalive_ms
								     : r->deadline_ms);
				return MHD_YES;
			}
			char ka[96];
			int len = snprintf(ka, sizeof(ka), "{\"type\":\"keepalive\",\"version\":%llu}",
					   (unsigned long long)n->sent_version);
			return reply_sealed(r, MHD_HTTP_OK, ka, (size_t)len);
		}
	}
	if (!msg)
		return MHD_NO;
	enum MHD_Result rc = reply_sealed(r, MHD_HTTP_OK, msg, strlen(msg));
	secret_free(msg); /* a map may carry the node's relay credentials */
	return rc;
}

/* ---- registration ---- */

static json_t *registered_json(struct ctl_server *srv, struct srv_node *n)
{
	json_t *self = json_loads(n->peer_json, 0, NULL);
	char key[KEY_BASE64_SIZE];
	key_to_base64(key, srv->server_pub);
	return json_pack("{s:b, s:o, s:s}", "registered", 1, "node", self ? self : json_null(),
			 "server_key", key);
}

static void unique_hostname(struct ctl_server *srv, struct ctl_node_rec *rec)
{
	for (size_t i = 0; i < srv->n_nodes; i++) {
		const struct ctl_node_rec *o = &srv->nodes[i]->rec;
		if (memcmp(o->machine_key, rec->machine_key, 32) != 0 &&
		    strcmp(o->hostname, rec->hostname) == 0) {
			char suffix[8];
			size_t len = strnlen(rec->hostname, CTL_HOSTNAME_MAX - 12);
			snprintf(suffix, sizeof(suffix), "-%u",
				 (unsigned)randombytes_uniform(100000));
			memcpy(rec->hostname + len, suffix, strlen(suffix) + 1);
			i = (size_t)-1;
		}
	}
}

static bool hostname_valid(const char *h)
{
	size_t len = strlen(h);
	if (len == 0 || len >= CTL_HOSTNAME_MAX - 12)
		return false;
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return h[0] != '-';
}

/* Store a node for machine key + what it asked for and bring it into every map. */
static int do_register(struct ctl_server *srv, const uint8_t mkey[32], const uint8_t nkey[32],
		       const uint8_t *disco, const char *hostname, int64_t user_id,
		       const char *tags, bool ephemeral, int64_t authkey_id, struct srv_node **out,
		       char *err, size_t errlen)
{
	struct ctl_node_rec rec;
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.machine_key, mkey, 32);
	memcpy(rec.node_key, nkey, 32);
	if (disco && disco_taken(srv, node_by_machine(srv, mkey), disco)) {
		snprintf(err, errlen, "disco_key: another node already uses this key");
		return -EEXIST;
	}
	if (disco) {
		memcpy(rec.disco_key, disco, 32);
		rec.has_disco_key = true;
	}
	snprintf(rec.hostname, sizeof(rec.hostname), "%s", hostname);
	rec.user_id = tags[0] ? 0 : user_id;
	if (tags[0])
		rec.user_id = user_id; /* the key's creator stays accountable */
	snprintf(rec.tags, sizeof(rec.tags), "%s", tags);
	rec.ephemeral = ephemeral;
	rec.key_expiry = tags[0] ? 0 : srv_now_s() + srv->cfg.key_lifetime_s;
	unique_hostname(srv, &rec);
	int rc = srv->store->ops->node_register(srv->store, &rec, authkey_id);
	if (rc == -EKEYREVOKED) {
		snprintf(err, errlen, "auth key was single-use and has already been used");
		return rc;
	}
	if (rc) {
		snprintf(err, errlen, "cannot store the node: %s", strerror(-rc));
		return rc;
	}
	struct srv_node *n = srv_node_by_id(srv, rec.id);
	if (n) {
		ctl_node_rec_clear(&n->rec);
		struct ctl_node_rec keep = n->rec;
		n->rec = rec;
		n->rec.endpoints = keep.endpoints;
		n->rec.ssh_host_keys = keep.ssh_host_keys;
		n->rec.last_seen = keep.last_seen;
		node_owner(srv, n);
		srv_relay_refresh(srv, n, srv_now_s()); /* a key valid again gets credentials */
		rc = node_render(srv, n);
	} else {
		rc = insert_node(srv, &rec);
		n = srv_node_by_id(srv, rec.id);
	}
	/* Registrations come in bursts: the maps are rebuilt once on the next tick. */
	srv->dirty = true;
	*out = n;
	return rc;
}

int srv_register_finish(struct ctl_server *srv, struct srv_login_req *lr, int64_t user_id,
			const char *login, char *err, size_t errlen)
{
	struct srv_node *n = NULL;
	char asked[CTL_TAGS_MAX] = "", tags[CTL_TAGS_MAX];
	struct srv_node *known = node_by_machine(srv, lr->machine_key);
	int rc = 0;
	err[0] = '\0';
	if (lr->has_tags)
		snprintf(asked, sizeof(asked), "%s", lr->tags);
	else if (known) /* a known node logging in again keeps its tags */
		snprintf(asked, sizeof(asked), "%s", known->rec.tags);
	rc = ctl_tags_grant(srv->policy_text, login, "", asked, tags, sizeof(tags), err, errlen);
	if (rc && rc != -ENOMEM) {
		/* the person approving does not own the tags the node asks for (or they are
		 * not valid): the node is told why */
		lr->state = -1;
		snprintf(lr->reason, sizeof(lr->reason), "%s", err);
		srv_wake(srv, SRV_WAIT_REGISTER, lr->token);
		return rc;
	}
	if (!rc)
		rc = do_register(srv, lr->machine_key, lr->node_key,
				 lr->has_disco_key ? lr->disco_key : NULL, lr->hostname, user_id,
				 tags, false, 0, &n, err, errlen);
	if (rc) {
		log_err("meshcontrol", "interactive registration: %s", err);
		return rc;
	}
	lr->state = 1;
	lr->user_id = user_id;
	lr->node_id = n ? n->rec.id : 0;
	srv_wake(srv, SRV_WAIT_REGISTER, lr->token);
	return 0;
}

static struct srv_login_req *login_by_token(struct ctl_server *srv, const char *token)
{
	for (size_t i = 0; i < srv->n_logins; i++)
		if (strcmp(srv->logins[i].token, token) == 0)
			return &srv->logins[i];
	return NULL;
}

/* A new interactive registration, unless the caps say no (then a sealed 429 in *res).  A
 * machine has one at a time: asking again replaces its pending one. */
static struct srv_login_req *login_new(struct srv_req *r, const uint8_t nkey[32],
				       const char *hostname, const char *tags, bool has_tags,
				       enum MHD_Result *res)
{
	struct ctl_server *srv = r->srv;
	char src[SRV_SOURCE_MAX];
	size_t from_src = 0;
	srv_source(r->conn, src);
	for (size_t i = 0; i < srv->n_logins;) {
		struct srv_login_req *lr = &srv->logins[i];
		if (lr->state == 0 && memcmp(lr->machine_key, r->machine_key, 32) == 0) {
			login_forget(srv, i);
			continue;
		}
		from_src += strcmp(lr->source, src) == 0;
		i++;
	}
	if (from_src >= SRV_LOGINS_PER_SOURCE) {
		*res = sealed_error(r, MHD_HTTP_TOO_MANY_REQUESTS,
				    "too many logins waiting for approval from %s (at most %d); "
				    "approve or let them expire (1 hour) first",
				    src, SRV_LOGINS_PER_SOURCE);
		return NULL;
	}
	if (srv->n_logins >= SRV_LOGINS_MAX) {
		*res = sealed_error(r, MHD_HTTP_TOO_MANY_REQUESTS,
				    "too many logins waiting for approval on this server (at most "
				    "%d); try again later",
				    SRV_LOGINS_MAX);
		return NULL;
	}
	struct srv_login_req *arr = realloc(srv->logins, (srv->n_logins + 1) * sizeof(*arr));
	if (!arr) {
		*res = MHD_NO;
		return NULL;
	}
	srv->logins = arr;
	struct srv_login_req *lr = &arr[srv->n_logins++];
	memset(lr, 0, sizeof(*lr));
	srv_random_hex(lr->token, 16);
	memcpy(lr->machine_key, r->machine_key, 32);
	memcpy(lr->node_key, nkey, 32);
	snprintf(lr->hostname, sizeof(lr->hostname), "%s", hostname);
	snprintf(lr->tags, sizeof(lr->tags), "%s", tags);
	lr->has_tags = has_tags;
	snprintf(lr->source, sizeof(lr->source), "%s", src);
	char why[192];
	lr->has_disco_key = disco_from_msg(r->msg, lr->disco_key, why, sizeof(why)) > 0;
	lr->created = srv_now_s();
	return lr;
}

static enum MHD_Result register_interactive(struct srv_req *r, const uint8_t nkey[32],
					    const char *hostname, const char *tags, bool has_tags)
{
	struct ctl_server *srv = r->srv;
	const char *followup = json_string_value(json_object_get(r->msg, "followup"));
	struct srv_login_req *lr;
	if (followup) {
		lr = login_by_token(srv, followup);
		if (!lr || memcmp(lr->machine_key, r->machine_key, 32) != 0)
			return sealed_error(r, MHD_HTTP_BAD_REQUEST,
					    "followup: unknown or expired login request");
		if (lr->state < 0)
			return sealed_error(r, MHD_HTTP_FORBIDDEN,
					    "the device was rejected on the login page%s%s",
					    lr->reason[0] ? ": " : "", lr->reason);
		if (lr->state > 0) {
			struct srv_node *n = srv_node_by_id(srv, lr->node_id);
			if (!n)
				return sealed_error(r, MHD_HTTP_GONE, "the node was removed");
			return reply_sealed_json(r, MHD_HTTP_OK, registered_json(srv, n));
		}
		if (r->wait == SRV_WAIT_NONE && !srv->stopping &&
		    json_is_true(json_object_get(r->msg, "wait"))) {
			snprintf(r->token, sizeof(r->token), "%s", lr->token);
			srv_suspend(r, SRV_WAIT_REGISTER, now_mono_ms() + SRV_HOLD_WAIT_MS);
			return MHD_YES;
		}
	} else {
		enum MHD_Result res;
		lr = login_new(r, nkey, hostname, tags, has_tags, &res);
		if (!lr)
			return res;
	}
	char url[512];
	snprintf(url, sizeof(url), "%s/register/%s", srv->public_url, lr->token);
	return reply_sealed_json(r, MHD_HTTP_OK,
				 json_pack("{s:b, s:s, s:s}", "registered", 0, "auth_url", url,
					   "followup", lr->token));
}

static enum MHD_Result api_register(struct srv_req *r)
{
	struct ctl_server *srv = r->srv;
	json_t *m = r->msg;
	const char *hostname = json_string_value(json_object_get(m, "hostname"));
	const char *nkey = json_string_value(json_object_get(m, "node_key"));
	const char *authkey = json_string_value(json_object_get(m, "auth_key"));
	uint8_t nk[32];
	struct key_error kerr;
	if (!nkey)
		return sealed_error(r, MHD_HTTP_BAD_REQUEST, "node_key: missing");
	if (!key_from_base64(nk, nkey, &kerr))
		return sealed_error(r, MHD_HTTP_BAD_REQUEST, "node_key: %s", kerr.message);
	if (!hostname || !hostname_valid(hostname))
		return sealed_error(r, MHD_HTTP_BAD_REQUEST,
				    "hostname: expected 1 to 51 letters, digits and dashes");
	if (json_object_get(m, "auth_key") && !authkey)
		return sealed_error(r, MHD_HTTP_BAD_REQUEST, "auth_key: expected a string");
	char err[256], asked[CTL_TAGS_MAX] = "";
	json_t *tj = json_object_get(m, "tags");
	if (tj && ctl_tags_from_json(tj, asked, sizeof(asked), err, sizeof(err)) != 0)
		return sealed_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
	uint8_t dk[32];
	int dk_given = disco_from_msg(m, dk, err, sizeof(err));
	if (dk_given < 0)
		return sealed_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
	struct srv_node *known = node_by_machine(srv, r->machine_key), *n = NULL;
	enum MHD_Result dres;
	/* the machine is this node's: its discovery key is taken whatever else it asks */
	if (known && !disco_report(r, known, &dres))
		return dres;
	if (!known && dk_given > 0 && disco_taken(srv, NULL, dk))
		return sealed_error(r, MHD_HTTP_CONFLICT,
				    "disco_key: another node already uses this key");
	/* Peers tell nodes apart by node key: one in use by another machine is refused. */
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (srv->nodes[i] != known && sodium_memcmp(srv->nodes[i]->rec.node_key, nk, 32) == 0)
			return sealed_error(r, MHD_HTTP_CONFLICT,
					    "node_key: another node already uses this key");
	/* Asking for tags the node does not have takes a login or an auth key again (tags it
	 * has from its auth key need not be asked for; dropping tags takes a new login). */
	bool same_tags = !tj || (known && ctl_tags_subset(asked, known->rec.tags));
	/* Key rotation: a known machine presenting its current node key may replace it.  The
	 * expiry stays: only a login or an auth key extends it, so once the key has expired
	 * the request goes on below to a login (or the auth key it carries). */
	const char *old = json_string_value(json_object_get(m, "old_node_key"));
	uint8_t ok[32];
	if (old && !key_from_base64(ok, old, &kerr))
		return sealed_error(r, MHD_HTTP_BAD_REQUEST, "old_node_key: %s", kerr.message);
	/* "reauth": the node wants a new login although its key is valid (meshctl up
	 * --force-reauth): none of the shortcuts below, straight to the auth key or a login. */
	bool live = known && !node_expired(known, srv_now_s()) &&
		    !json_is_true(json_object_get(m, "reauth"));
	/* A node that believes its key expired while it has not (clocks differ): nothing to do. */
	if (live && same_tags && json_is_true(json_object_get(m, "expired")))
		return reply_sealed_json(r, MHD_HTTP_OK, registered_json(srv, known));
	if (live && !authkey && old && same_tags) {
		if (sodium_memcmp(ok, known->rec.node_key, 32) != 0)
			return sealed_error(r, MHD_HTTP_FORBIDDEN,
					    "old_node_key is not this node's current key");
		struct ctl_node_rec rec = known->rec; /* memory changes once the store has it */
		memcpy(rec.node_key, nk, 32);
		int rc = srv->store->ops->node_register(srv->store, &rec, 0);
		if (!rc) {
			memcpy(known->rec.node_key, nk, 32);
			rc = node_render(srv, known);
		}
		if (!rc)
			rc = srv_map_rebuild(srv, err, sizeof(err));
		if (rc)
			return sealed_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", strerror(-rc));
		return reply_sealed_json(r, MHD_HTTP_OK, registered_json(srv, known));
	}
	/* A registered machine asking again with the same node key and tags: already done
	 * (an auth key it also sent is not needed, so not checked). */
	if (live && same_tags && sodium_memcmp(nk, known->rec.node_key, 32) == 0)
		return reply_sealed_json(r, MHD_HTTP_OK, registered_json(srv, known));
	if (!authkey)
		return register_interactive(r, nk, hostname, asked, tj != NULL);
	struct ctl_authkey k;
	const char *why = NULL;
	int rc = ctl_authkey_check(srv->store, authkey, srv_now_s(), &k, &why);
	if (rc)
		return sealed_error(r, MHD_HTTP_FORBIDDEN, "%s", why);
	struct ctl_user u;
	char tags[CTL_TAGS_MAX];
	if (asked[0] && srv->store->ops->user_by_id(srv->store, k.user_id, &u) != 0)
		return sealed_error(r, MHD_HTTP_FORBIDDEN, "tags: the auth key's user is gone");
	rc = ctl_tags_grant(srv->policy_text, asked[0] ? u.login : "", k.tags, asked, tags,
			    sizeof(tags), err, sizeof(err));
	if (rc)
		return sealed_error(r, rc == -EPERM ? MHD_HTTP_FORBIDDEN : MHD_HTTP_BAD_REQUEST,
				    "%s", err);
	rc = do_register(srv, r->machine_key, nk, dk_given > 0 ? dk : NULL, hostname, k.user_id,
			 tags, k.ephemeral, k.id, &n, err, sizeof(err));
	if (rc == -EKEYREVOKED)
		return sealed_error(r, MHD_HTTP_FORBIDDEN, "%s", err);
	if (rc == -EEXIST)
		return sealed_error(r, MHD_HTTP_CONFLICT, "%s", err);
	if (rc)
		return sealed_error(r, rc == -EINVAL ? MHD_HTTP_BAD_REQUEST
						     : MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "%s", err);
	log_info("meshcontrol", "node %lld (%s) registered by auth key %s", (long long)n->rec.id,
		 n->rec.hostname, k.prefix);
	return reply_sealed_json(r, MHD_HTTP_OK, registered_json(srv, n));
}

/* ---- check-mode holds ---- */

static struct srv_hold *hold_by_id(struct ctl_server *srv, const char *id)
{
	for (size_t i = 0; i < srv->n_holds; i++)
		if (strcmp(srv->holds[i].id, id) == 0)
			return &srv->holds[i];
	return NULL;
}

static struct srv_node *node_by_addr(struct ctl_server *srv, const char *addr)
{
	struct addr_prefix p;
	if (!addr_prefix_parse(addr, &p, NULL))
		return NULL;
	for (size_t i = 0; i < srv->n_nodes; i++) {
		const struct ctl_node_rec *rec = &srv->nodes[i]->rec;
		const uint8_t *b = p.ip.bytes;
		uint32_t v4 = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		if ((p.ip.family == AF_INET && v4 == rec->ipv4) ||
		    (p.ip.family == AF_INET6 && memcmp(b, rec->ipv6, 16) == 0))
			return srv->nodes[i];
	}
	return NULL;
}

static bool node_index(struct ctl_server *srv, const struct srv_node *n, size_t *index)
{
	char a[16];
	snprintf(a, sizeof(a), "%u.%u.%u.%u", n->rec.ipv4 >> 24, (n->rec.ipv4 >> 16) & 255,
		 (n->rec.ipv4 >> 8) & 255, n->rec.ipv4 & 255);
	return pol_compiled_find_node(srv->compiled, a, index) == 0;
}

int srv_ssh_verdict(struct ctl_server *srv, int64_t src, int64_t dst, const char *user, char *why,
		    size_t whylen)
{
	struct srv_node *s = srv_node_by_id(srv, src), *d = srv_node_by_id(srv, dst);
	int64_t now = srv_now_s();
	struct pol_decision dec;
	size_t si, di;
	if (!s || !d) {
		snprintf(why, whylen, "the %s node is no longer in the tailnet",
			 s ? "destination" : "source");
		return VERDICT_REJECT;
	}
	if (node_expired(s, now) || node_expired(d, now)) {
		snprintf(why, whylen, "the %s node's key has expired",
			 node_expired(s, now) ? "source" : "destination");
		return VERDICT_REJECT;
	}
	if (!srv->compiled) {
		snprintf(why, whylen, "there is no policy, so no SSH");
		return VERDICT_REJECT;
	}
	if (!node_index(srv, s, &si) || !node_index(srv, d, &di) ||
	    pol_ssh_decide(srv->compiled, si, di, user, &dec) != 0) {
		snprintf(why, whylen, "the policy does not know the %s node yet",
			 node_index(srv, s, &si) ? "destination" : "source");
		return VERDICT_REJECT;
	}
	snprintf(why, whylen, "%s", dec.why);
	return dec.verdict;
}

static enum MHD_Result hold_reject(struct srv_req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static enum MHD_Result hold_reject(struct srv_req *r, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return reply_sealed_json(r, MHD_HTTP_OK,
				 json_pack("{s:s, s:s}", "decision", "reject", "reason", reason));
}

/* The answer to a hold, decided now: the policy first (a rule removed while the login
 * waited rejects it, whatever was approved), then the person's approval. */
static enum MHD_Result hold_answer(struct srv_req *r, struct srv_hold *h)
{
	struct ctl_server *srv = r->srv;
	char url[512], why[POL_WHY_MAX];
	int v = srv_ssh_verdict(srv, h->src, h->dst, h->local_user, why, sizeof(why));
	if (v == VERDICT_REJECT && h->state >= 0) {
		h->state = -1;
		snprintf(h->reason, sizeof(h->reason), "the policy no longer allows this login: %s",
			 why);
	}
	if (h->state < 0)
		return hold_reject(r, "%s", h->reason[0] ? h->reason
							   : "the login was rejected on the check page");
	if (h->state > 0 || v == VERDICT_ACCEPT)
		return reply_sealed_json(r, MHD_HTTP_OK, json_pack("{s:s}", "decision", "accept"));
	bool wait = json_is_true(json_object_get(r->msg, "wait"));
	uint64_t now = now_mono_ms();
	if (wait && !srv->stopping && (r->wait == SRV_WAIT_NONE || now < r->deadline_ms)) {
		snprintf(r->token, sizeof(r->token), "%s", h->id);
		srv_suspend(r, SRV_WAIT_HOLD,
			    r->wait == SRV_WAIT_NONE ? now + SRV_HOLD_WAIT_MS : r->deadline_ms);
		return MHD_YES;
	}
	snprintf(url, sizeof(url), "%s/check/%s", srv->public_url, h->id);
	return reply_sealed_json(r, MHD_HTTP_OK,
				 json_pack("{s:s, s:s, s:s}", "decision", "pending", "url", url,
					   "hold_id", h->id));
}

/* Room for one more hold from src to dst, or a sealed 429 in *res saying which cap. */
static bool hold_room(struct srv_req *r, const struct srv_node *src, const struct srv_node *dst,
		      enum MHD_Result *res)
{
	struct ctl_server *srv = r->srv;
	size_t to_dst = 0, from_src = 0;
	for (size_t i = 0; i < srv->n_holds; i++) {
		const struct srv_hold *h = &srv->holds[i];
		to_dst += h->state == 0 && h->dst == dst->rec.id;
		from_src += h->state == 0 && h->src == src->rec.id;
	}
	if (from_src >= SRV_HOLDS_PER_SOURCE)
		*res = sealed_error(r, MHD_HTTP_TOO_MANY_REQUESTS,
				    "too many check-mode logins from %s waiting for approval (at "
				    "most %d); approve or reject them first",
				    src->rec.hostname, SRV_HOLDS_PER_SOURCE);
	else if (to_dst >= SRV_HOLDS_PER_NODE)
		*res = sealed_error(r, MHD_HTTP_TOO_MANY_REQUESTS,
				    "too many check-mode logins to %s waiting for approval (at most "
				    "%d); approve or reject them first",
				    dst->rec.hostname, SRV_HOLDS_PER_NODE);
	else if (srv->n_holds >= SRV_HOLDS_MAX)
		*res = sealed_error(r, MHD_HTTP_TOO_MANY_REQUESTS,
				    "too many check-mode logins on this server (at most %d); try "
				    "again later",
				    SRV_HOLDS_MAX);
	else
		return true;
	return false;
}

static enum MHD_Result api_hold(struct srv_req *r)
{
	struct ctl_server *srv = r->srv;
	struct srv_node *dst = node_by_machine(srv, r->machine_key);
	if (!dst)
		return srv_reply_error(r->conn, MHD_HTTP_UNAUTHORIZED,
				       "machine key is not registered");
	const char *hid = json_string_value(json_object_get(r->msg, "hold_id"));
	struct srv_hold *h;
	if (hid) {
		h = hold_by_id(srv, hid);
		if (!h || h->dst != dst->rec.id)
			return sealed_error(r, MHD_HTTP_BAD_REQUEST,
					    "hold_id: unknown or expired hold");
		if (json_is_true(json_object_get(r->msg, "cancel"))) {
			/* the SSH client went away: nobody waits for this hold any more */
			char id[sizeof(h->id)];
			snprintf(id, sizeof(id), "%s", h->id);
			srv->holds[h - srv->holds] = srv->holds[--srv->n_holds];
			srv_wake(srv, SRV_WAIT_HOLD, id);
			return reply_sealed_json(r, MHD_HTTP_OK,
						 json_pack("{s:s}", "decision", "cancelled"));
		}
		h->last_asked = srv_now_s();
		return hold_answer(r, h);
	}
	const char *src_addr = json_string_value(json_object_get(r->msg, "src"));
	const char *user = json_string_value(json_object_get(r->msg, "user"));
	json_t *period = json_object_get(r->msg, "check_period");
	if (!src_addr || !user || !*user || strlen(user) >= sizeof(h->local_user))
		return sealed_error(r, MHD_HTTP_BAD_REQUEST,
				    "hold needs src (an address) and user (1-63 chars)");
	if (period && (!json_is_integer(period) || json_integer_value(period) < 0 ||
		       json_integer_value(period) > 168 * 3600))
		return sealed_error(r, MHD_HTTP_BAD_REQUEST,
				    "check_period: expected 0 to 604800 seconds");
	struct srv_node *src = node_by_addr(srv, src_addr);
	if (!src)
		return hold_reject(r, "unknown source address");
	if (src->rec.tags[0] || !src->owner[0])
		return hold_reject(r, "tagged sources cannot use check mode");
	char why[POL_WHY_MAX];
	int v = srv_ssh_verdict(srv, src->rec.id, dst->rec.id, user, why, sizeof(why));
	if (v == VERDICT_REJECT)
		return hold_reject(r, "the policy does not allow this login: %s", why);
	if (v == VERDICT_ACCEPT)
		return reply_sealed_json(r, MHD_HTTP_OK, json_pack("{s:s}", "decision", "accept"));
	int64_t p = period ? json_integer_value(period) : 12 * 3600;
	struct ctl_approval a;
	if (p > 0 && srv->store->ops->approval_get(srv->store, src->rec.id, dst->rec.id, &a) == 0 &&
	    a.approved_at + p > srv_now_s())
		return reply_sealed_json(r, MHD_HTTP_OK, json_pack("{s:s}", "decision", "accept"));
	enum MHD_Result res;
	if (!hold_room(r, src, dst, &res))
		return res;
	struct srv_hold *arr = realloc(srv->holds, (srv->n_holds + 1) * sizeof(*arr));
	if (!arr)
		return MHD_NO;
	srv->holds = arr;
	h = &arr[srv->n_holds++];
	memset(h, 0, sizeof(*h));
	srv_random_hex(h->id, 16);
	h->src = src->rec.id;
	h->dst = dst->rec.id;
	snprintf(h->local_user, sizeof(h->local_user), "%s", user);
	h->check_period_s = p;
	h->created = h->last_asked = srv_now_s();
	return hold_answer(r, h);
}

static enum MHD_Result api_logout(struct srv_req *r)
{
	struct ctl_server *srv = r->srv;
	struct srv_node *n = node_by_machine(srv, r->machine_key);
	if (!n)
		return srv_reply_error(r->conn, MHD_HTTP_UNAUTHORIZED,
				       "machine key is not registered");
	int64_t id = n->rec.id;
	int rc;
	char err[256];
	bool removed = n->rec.ephemeral;
	if (removed) {
		rc = srv_node_remove(srv, id);
	} else {
		rc = srv_node_expire(srv, n, err, sizeof(err));
	}
	if (rc)
		return sealed_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "logout: %s", strerror(-rc));
	log_info("meshcontrol", "node %lld logged out (%s)", (long long)id,
		 removed ? "ephemeral, removed" : "key expired");
	return reply_sealed_json(r, MHD_HTTP_OK,
				 json_pack("{s:b, s:b}", "logged_out", 1, "removed", removed));
}

/* ---- the envelope ---- */

/* Decode and authenticate a request body: 0, or an HTTP status with *why; *authed says
 * whether the sender was authenticated (so an error can be sealed to it). */
int srv_node_decode(const uint8_t server_priv[static 32], struct ctl_replay *replay,
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
	if (replay && !ctl_replay_check(replay, nonce, ts, srv_wall_ms(), why)) {
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
			snprintf(buf, sizeof(buf), "request JSON, line %d column %d: %s",
				 jerr.line, jerr.column, jerr.text);
		json_decref(*msg);
		*msg = NULL;
		*why = buf;
		return MHD_HTTP_BAD_REQUEST;
	}
	return 0;
}

enum MHD_Result srv_node_api(struct srv_req *r, const char *path)
{
	struct ctl_server *srv = r->srv;
	if (!r->msg) {
		const char *why = NULL;
		bool authed;
		int status = srv_node_decode(srv->server_priv, srv->replay,
					     (const uint8_t *)r->body, r->len, r->machine_key,
					     r->nonce, &r->msg, &authed, &why);
		srv_body_release(r); /* a held request keeps only what it decoded */
		if (status && authed)
			return sealed_error(r, (unsigned)status, "%s", why);
		if (status)
			return srv_reply_error(r->conn, (unsigned)status, "%s", why);
	}
	if (strcmp(path, "register") == 0)
		return api_register(r);
	if (strcmp(path, "map") == 0)
		return api_map(r);
	if (strcmp(path, "hold") == 0)
		return api_hold(r);
	if (strcmp(path, "logout") == 0)
		return api_logout(r);
	return sealed_error(r, MHD_HTTP_NOT_FOUND, "unknown node API '%s'", path);
}
