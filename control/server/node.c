/* The node registry: every registered node in memory (ascending id) beside the store, with
 * what its peers see of it (its JSON, built once when it changes and shared by every viewer)
 * and its discovery key; loading, removing and expiring nodes, publishing the maps after a
 * policy or topology change (polglue.c compiles), and the timer's tick (online state, relay
 * credentials, stale login requests and holds). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/key.h"
#include "common/log.h"
#include "common/now.h"
#include "common/strv.h"
#include "control/netmap/netmap_json.h"
#include "control/policy/policy.h"
#include "control/server/polglue.h"
#include "control/server/internal.h"

/* ---- nodes in memory ---- */

/* Where node id is in srv->nodes (ascending id), or would go. */
static size_t node_pos(const struct ctl_server *srv, int64_t id)
{
	size_t lo = 0, hi = srv->n_nodes;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (srv->nodes[mid]->rec.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct ctl__node *ctl__node_by_id(struct ctl_server *srv, int64_t id)
{
	size_t i = node_pos(srv, id);
	return i < srv->n_nodes && srv->nodes[i]->rec.id == id ? srv->nodes[i] : NULL;
}

/* Free a string that may hold credentials. */
void ctl__secret_free(char *s)
{
	if (s)
		sodium_memzero(s, strlen(s));
	free(s);
}

static void text_replace(char **cur, const char *sent, char *next)
{
	if (*cur != sent && *cur != next)
		free(*cur);
	*cur = next;
}

void ctl__node_set_texts(struct ctl__node *n, char *filter, char *ssh)
{
	text_replace(&n->filter_json, n->sent_filter, filter);
	text_replace(&n->ssh_json, n->sent_ssh, ssh);
}

static void node_free(struct ctl__node *n)
{
	if (!n)
		return;
	ctl_node_rec_clear(&n->rec);
	free(n->peer_json);
	free(n->vis);
	ctl__node_set_texts(n, NULL, NULL);
	free(n->sent_ids);
	free(n->sent_vers);
	free(n->sent_filter);
	free(n->sent_ssh);
	free(n->sent_self);
	ctl__secret_free(n->relays_json);
	ctl__secret_free(n->sent_relays);
	ctl__sessions_forget(n);
	free(n);
}

void ctl__nodes_free(struct ctl_server *srv)
{
	ctl__nodes_index_free(srv);
	for (size_t i = 0; i < srv->n_nodes; i++)
		node_free(srv->nodes[i]);
	free(srv->nodes);
	srv->nodes = NULL;
	srv->n_nodes = srv->cap_nodes = 0;
	polglue_free(srv);
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

/* Rebuild the node's public JSON; bumps its version when the text changed.  Every change
 * of a node's record ends here, so its indexes are brought in step first. */
int ctl__node_render(struct ctl_server *srv, struct ctl__node *n)
{
	int irc = ctl__node_reindex(srv, n);
	struct ctl_node v;
	memset(&v, 0, sizeof(v));
	v.id = (uint64_t)n->rec.id;
	v.name = n->rec.hostname;
	v.owner = n->owner[0] ? n->owner : NULL;
	v.tags = n->rec.tags; /* borrowed: the map's JSON copies it */
	v.n_tags = n->rec.n_tags;
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
		return irc;
	}
	free(n->peer_json);
	n->peer_json = s;
	n->peer_version = ++srv->map_version;
	return irc;
}

int ctl__node_owner(struct ctl_server *srv, struct ctl__node *n)
{
	struct ctl_user u;
	n->owner[0] = '\0';
	if (n->rec.user_id && !n->rec.n_tags &&
	    srv->store->ops->user_by_id(srv->store, n->rec.user_id, &u) == 0)
		snprintf(n->owner, sizeof(n->owner), "%s", u.login);
	return 0;
}

int ctl__node_insert(struct ctl_server *srv, const struct ctl_node_rec *rec)
{
	struct ctl__node *n = calloc(1, sizeof(*n));
	if (n && srv->n_nodes == srv->cap_nodes) { /* doubling: 10 000 inserts, not 10 000 copies */
		size_t cap = srv->cap_nodes ? 2 * srv->cap_nodes : 64;
		struct ctl__node **arr = realloc(srv->nodes, cap * sizeof(*arr));
		if (arr) {
			srv->nodes = arr;
			srv->cap_nodes = cap;
		}
	}
	if (!n || srv->n_nodes == srv->cap_nodes) {
		free(n);
		return -ENOMEM;
	}
	struct ctl__node **arr = srv->nodes;
	if (ctl_node_rec_copy(&n->rec, rec) != 0) {
		free(n);
		return -ENOMEM;
	}
	/* nothing allowed and nobody visible until the next rebuild says otherwise */
	n->filter_json = strdup("[]");
	n->ssh_json = strdup("[]");
	if (!n->filter_json || !n->ssh_json) {
		node_free(n);
		return -ENOMEM;
	}
	ctl__node_owner(srv, n);
	size_t pos = srv->n_nodes;
	while (pos > 0 && srv->nodes[pos - 1]->rec.id > rec->id)
		pos--;
	/* Inserted before others (another replica's node with a lower id): every node's vis
	 * indexes past pos are off by one until the rebuild.  Said here, where they go wrong,
	 * so that no map is made from them (map.c holds the polls), and not paced (the
	 * tick's), so that they wait one tick at most. */
	if (pos < srv->n_nodes) {
		srv->dirty = srv->vis_stale = true;
		srv->rebuild_after_ms = 0;
	}
	memmove(&srv->nodes[pos + 1], &srv->nodes[pos], (srv->n_nodes - pos) * sizeof(*arr));
	srv->nodes[pos] = n;
	srv->n_nodes++;
	ctl__relay_refresh(srv, n, ctl__now_s());
	return ctl__node_render(srv, n);
}

static int load_one(void *ctx, const struct ctl_node_rec *rec)
{
	return ctl__node_insert(ctx, rec);
}

int ctl__nodes_load(struct ctl_server *srv)
{
	return srv->store->ops->node_list(srv->store, load_one, srv);
}

bool ctl__node_expired(const struct ctl__node *n, int64_t now)
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
	int64_t now = ctl__now_s();
	int rc = 0;
	for (size_t i = 0; i < srv->n_nodes && !rc; i++) {
		struct ctl__node *n = srv->nodes[i];
		free(n->vis);
		ctl__node_set_texts(n, strdup(allow_all), strdup("[]"));
		n->vis = calloc(srv->n_nodes ? srv->n_nodes : 1, sizeof(*n->vis));
		n->n_vis = 0;
		if (!n->filter_json || !n->ssh_json || !n->vis) {
			rc = -ENOMEM;
			break;
		}
		for (size_t j = 0; j < srv->n_nodes && !ctl__node_expired(n, now); j++)
			if (j != i && !ctl__node_expired(srv->nodes[j], now))
				n->vis[n->n_vis++] = j;
	}
	free(allow_all);
	if (!rc)
		srv->vis_stale = false; /* every node's made anew */
	return rc;
}

static void update_next_expiry(struct ctl_server *srv)
{
	int64_t now = ctl__now_s();
	srv->next_expiry = 0;
	for (size_t i = 0; i < srv->n_nodes; i++) {
		int64_t e = srv->nodes[i]->rec.key_expiry;
		if (e > now && (!srv->next_expiry || e < srv->next_expiry))
			srv->next_expiry = e;
	}
}

void ctl__map_published(struct ctl_server *srv)
{
	update_next_expiry(srv);
	ctl__nodes_index_repair(srv); /* after an insert ran out of memory: indexed again */
	srv->map_version++;
	ctl__wake_maps(srv);
	/* held logins are decided again against what changed (a rule removed rejects them) */
	ctl__wake(srv, SRV_WAIT_HOLD, NULL);
}

int ctl__map_rebuild(struct ctl_server *srv, char *err, size_t errlen)
{
	int rc = srv->policy_text ? polglue_rebuild(srv, err, errlen) : rebuild_open(srv);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (rc)
		return rc;
	/* only a rebuild settles a registration batch: a DNS change publishes without one
	 * (it cleared this too, and nodes waiting for their batch stayed without peers) */
	srv->dirty = false;
	ctl__map_published(srv);
	return 0;
}

int ctl__policy_check(struct ctl_server *srv, const char *text, char *err, size_t errlen)
{
	return polglue_apply(srv, text, false, err, errlen);
}

/* Takes node id out of the store and of memory, without publishing a map. */
static int node_drop(struct ctl_server *srv, int64_t id)
{
	size_t i = node_pos(srv, id);
	if (i == srv->n_nodes || srv->nodes[i]->rec.id != id)
		return -ENOENT;
	struct ctl__node *n = srv->nodes[i];
	int rc = srv->store->ops->node_remove(srv->store, id);
	if (rc && rc != -ENOENT)
		return rc;
	ctl__node_unindex(srv, n);
	node_free(n);
	memmove(&srv->nodes[i], &srv->nodes[i + 1], (srv->n_nodes - i - 1) * sizeof(*srv->nodes));
	srv->n_nodes--;
	/* vis indexes at or past i are off, or past the end, until the rebuild that follows;
	 * should it fail, no map is made from them (map.c) */
	srv->vis_stale = true;
	return 0;
}

int ctl__nodes_remove(struct ctl_server *srv, const int64_t *ids, size_t n)
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
	int rc = ctl__map_rebuild(srv, err, sizeof(err));
	if (rc)
		log_err("meshcontrol", "after removing %zu node(s): %s", n, err);
	return first ? first : rc;
}

int ctl__node_remove(struct ctl_server *srv, int64_t id)
{
	return ctl__nodes_remove(srv, &id, 1);
}

/* Some request is held waiting for h's answer. */
static bool hold_waited(struct ctl_server *srv, const struct ctl__hold *h)
{
	const struct ctl__req *head = &srv->waiting[SRV_WAIT_HOLD];
	for (const struct ctl__req *r = head->next; r != head; r = r->next)
		if (strcmp(r->token, h->id) == 0)
			return true;
	return false;
}

void ctl__timer_tick(struct ctl_server *srv)
{
	uint64_t now_ms = ctl__wall_ms();
	int64_t now = (int64_t)(now_ms / 1000);
	bool changed = false;
	/* with replicas, a node streaming from another is seen through the store's last_seen,
	 * written once a minute (replica.c) */
	uint64_t window_ms =
	    srv->cfg.keepalive_ms + 15000 + (srv->shared ? SRV_LAST_SEEN_WRITE_S * 1000 : 0);
	/* every node's online state and relay credentials: once a second, not every tick (at
	 * 10 000 nodes the scan every 50 ms was ~8 % of meshcontrol's CPU, under the lock) */
	bool scan = now_ms >= srv->scan_after_ms;
	if (scan)
		srv->scan_after_ms = now_ms + SRV_SCAN_MS;
	for (size_t i = 0; scan && i < srv->n_nodes; i++) {
		struct ctl__node *n = srv->nodes[i];
		bool online =
		    n->rec.last_seen && (uint64_t)n->rec.last_seen * 1000 + window_ms > now_ms;
		if (online != n->online) {
			n->online = online;
			ctl__node_render(srv, n);
			changed = true;
		}
		/* credentials with less than half their lifetime left, or a key that expired */
		changed |= ctl__relay_refresh(srv, n, now);
	}
	changed |= srv->wake_maps; /* peers' views changed since the last tick */
	srv->wake_maps = false;
	/* Registrations are batched into one rebuild, and a rebuild holds the lock for all of
	 * its O(nodes) work (~0.5 s at 10 000 nodes): after one, as long again without one, so
	 * that the requests it held up get the lock for at least half the time and the next
	 * batch is bigger, instead of back-to-back rebuilds of a few nodes each (#21). */
	uint64_t mono = now_mono_ms();
	bool batch_due = srv->dirty && mono >= srv->rebuild_after_ms;
	if (batch_due || (srv->next_expiry && srv->next_expiry <= now)) {
		char err[256];
		bool was_dirty = srv->dirty;
		if (ctl__map_rebuild(srv, err, sizeof(err))) {
			log_err("meshcontrol", "rebuilding the maps: %s", err);
			srv->dirty = false; /* retried on the next change, not every tick */
			ctl__wake(srv, SRV_WAIT_MAP, NULL);
		}
		if (was_dirty) {
			uint64_t end = now_mono_ms();
			srv->rebuild_after_ms = end + (end - mono) * SRV_REBUILD_REST;
		}
		return;
	}
	if (changed) {
		srv->map_version++;
		ctl__wake_maps(srv);
	}
	/* forget decided or stale login requests and holds */
	if (srv->holds_expired != now) { /* once a second, the store's for every replica */
		srv->holds_expired = now;
		int rc = srv->store->ops->hold_expire(srv->store, now - SRV_LOGIN_TTL_S,
						      now - SRV_HOLD_IDLE_S);
		if (rc)
			log_err("meshcontrol", "forgetting stale check-mode holds: %s",
				strerror(-rc));
		rc = srv->store->ops->login_expire(srv->store, now - SRV_LOGIN_TTL_S);
		if (rc)
			log_err("meshcontrol", "forgetting stale login requests: %s",
				strerror(-rc));
	}
	for (size_t i = 0; i < srv->n_holds;) {
		const struct ctl__hold *h = &srv->holds[i];
		if (h->created + SRV_LOGIN_TTL_S < now ||
		    (h->state == CTL__PENDING && h->last_asked + SRV_HOLD_IDLE_S < now &&
		     !hold_waited(srv, h)))
			srv->holds[i] = srv->holds[--srv->n_holds];
		else
			i++;
	}
}

/* The discovery key a request carries ("disco_key"): 1 with it in key, 0 when absent,
 * -EINVAL with the reason in why. */
int ctl__disco_from_msg(json_t *m, uint8_t key[32], char *why, size_t len)
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

/* n uses discovery key k from now on: stored, and in what its peers see of it (a change in
 * their maps).  1 when it changed, 0 when n had it already, -EEXIST when another node uses
 * it, or the store's error. */
static int disco_set(struct ctl_server *srv, struct ctl__node *n, const uint8_t k[32])
{
	if (n->rec.has_disco_key && sodium_memcmp(n->rec.disco_key, k, 32) == 0)
		return 0;
	if (ctl__disco_taken(srv, n, k))
		return -EEXIST;
	struct ctl_node_rec rec = n->rec; /* memory changes once the store has it */
	memcpy(rec.disco_key, k, 32);
	rec.has_disco_key = true;
	int rc = srv->store->ops->node_update(srv->store, &rec);
	if (rc)
		return rc;
	memcpy(n->rec.disco_key, k, 32);
	n->rec.has_disco_key = true;
	ctl__node_render(srv, n);
	return 1;
}

/* The discovery key a known node's request carries, taken (its peers are woken for it);
 * false with the refusal in *res. */
bool ctl__disco_report(struct ctl__req *r, struct ctl__node *n, enum MHD_Result *res)
{
	uint8_t k[32];
	char why[192];
	int rc = ctl__disco_from_msg(r->msg, k, why, sizeof(why));
	if (rc < 0) {
		*res = ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "%s", why);
		return false;
	}
	if (rc > 0)
		rc = disco_set(r->srv, n, k);
	if (rc == -EEXIST) {
		*res = ctl__sealed_error(r, MHD_HTTP_CONFLICT,
					 "disco_key: another node already uses this key");
		return false;
	}
	if (rc < 0) {
		*res = ctl__sealed_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "disco_key: %s",
					 strerror(-rc));
		return false;
	}
	if (rc > 0) {
		r->srv->map_version++;
		r->srv->wake_maps = true; /* the tick wakes its peers' polls */
	}
	return true;
}

int ctl__node_expire(struct ctl_server *srv, struct ctl__node *n, char *err, size_t errlen)
{
	n->rec.key_expiry = ctl__now_s();
	int rc = srv->store->ops->node_set_expiry(srv->store, n->rec.id, n->rec.key_expiry);
	if (!rc)
		rc =
		    ctl__node_render(srv, n); /* its self (and what peers see) carries the expiry */
	if (!rc)
		ctl__relay_refresh(srv, n, ctl__now_s()); /* and its relay credentials go */
	if (!rc)
		rc = ctl__map_rebuild(srv, err, errlen);
	return rc;
}
