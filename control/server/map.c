/* The map a node polls for.  Each node keeps what it was last sent (peer ids with their
 * versions, the filter, the SSH rules, its own entry); a map poll answers with a full netmap
 * when the node's `since` is not that version, otherwise with the difference, and holds the
 * request when there is none until a change or the keep-alive deadline.  Every held poll
 * computes its own delta by comparing versions and strings.  A node's relays with its TURN
 * credentials (relay.c) are its own, like its filter: they travel beside "self", never in the
 * JSON its peers get.  The tailnet's DNS settings (dns.c) are every node's: in each full map,
 * and in a delta when dns_gen moved past what the node was sent.  Sessions an admin asked to
 * end (sessions.c) ride on the next message of either kind as "kill_sessions".  A poll also
 * reports the node's endpoints and SSH host keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/now.h"
#include "control/netmap/endpoint.h"
#include "control/netmap/hostkey.h"
#include "control/netmap/netmap_json.h"
#include "control/server/internal.h"

/* ---- the map ---- */

/* The sessions an admin asked to end (sessions.c): ,"kill_sessions":[...] (again in the next
 * message until one carrying them was queued) */
static void kills_add(struct sbuf *b, struct ctl__node *n)
{
	char *kills = ctl__kills_take(n);
	if (kills) {
		sbuf_str(b, ",\"kill_sessions\":");
		sbuf_str(b, kills);
		free(kills);
	}
}

static const char *relays_of(const struct ctl__node *n);

static void sent_record(struct ctl__node *n, uint64_t version, struct ctl_server *srv)
{
	free(n->sent_ids);
	free(n->sent_vers);
	n->sent_ids = calloc(n->n_vis ? n->n_vis : 1, sizeof(*n->sent_ids));
	n->sent_vers = calloc(n->n_vis ? n->n_vis : 1, sizeof(*n->sent_vers));
	n->n_sent = 0;
	if (n->sent_ids && n->sent_vers) {
		for (size_t i = 0; i < n->n_vis; i++) {
			struct ctl__node *p = srv->nodes[n->vis[i]];
			n->sent_ids[i] = (uint64_t)p->rec.id;
			n->sent_vers[i] = p->peer_version;
		}
		n->n_sent = n->n_vis;
	}
	/* the texts themselves, shared (internal.h): a copy of each was ~100 MB at 10 000 nodes */
	if (n->sent_filter != n->filter_json)
		free(n->sent_filter);
	if (n->sent_ssh != n->ssh_json)
		free(n->sent_ssh);
	free(n->sent_self);
	ctl__secret_free(n->sent_relays);
	n->sent_filter = n->filter_json;
	n->sent_ssh = n->ssh_json;
	n->sent_self = strdup(n->peer_json);
	n->sent_relays = strdup(relays_of(n));
	n->sent_dns_gen = srv->dns_gen;
	/* out of memory: the next poll gets a full map (a delta compares with these) */
	n->sent_version = n->sent_self && n->sent_relays ? version : 0;
}

static const char *relays_of(const struct ctl__node *n)
{
	return n->relays_json ? n->relays_json : "[]";
}

static char *map_full(struct ctl_server *srv, struct ctl__node *n)
{
	struct sbuf b = { 0 };
	/* a new version, as for a delta (map_delta): a node that lost this map and restarted
	 * from its cache of that version must not be sent deltas based on this one */
	if (srv->map_version == n->sent_version)
		srv->map_version++;
	uint64_t v = srv->map_version;
	sbuf_fmt(&b, "{\"type\":\"full\",\"version\":%llu,\"netmap\":{\"version\":%llu,\"domain\":",
		 (unsigned long long)v, (unsigned long long)v);
	json_t *d = json_string(srv->domain);
	char *ds = json_dumps(d, JSON_ENCODE_ANY);
	json_decref(d);
	sbuf_str(&b, ds ? ds : "\"\"");
	free(ds);
	sbuf_str(&b, ",\"self\":");
	sbuf_str(&b, n->peer_json);
	sbuf_str(&b, ",\"peers\":[");
	for (size_t i = 0; i < n->n_vis; i++) {
		if (i)
			sbuf_str(&b, ",");
		sbuf_str(&b, srv->nodes[n->vis[i]]->peer_json);
	}
	sbuf_str(&b, "],\"filter\":");
	sbuf_str(&b, n->filter_json);
	sbuf_str(&b, ",\"ssh\":");
	sbuf_str(&b, n->ssh_json);
	sbuf_str(&b, ",\"relays\":");
	sbuf_str(&b, relays_of(n));
	sbuf_str(&b, ",\"dns\":"); /* null when none: what a delta withdrawing them leaves */
	sbuf_str(&b, srv->dns_json ? srv->dns_json : "null");
	sbuf_str(&b, "}");
	kills_add(&b, n);
	sbuf_str(&b, "}");
	if (b.oom) {
		ctl__secret_free(b.s);
		return NULL;
	}
	sent_record(n, v, srv);
	return b.s;
}

/* What of the node's own changed since it was last sent (besides its peers). */
struct own {
	bool filter, ssh, self, relays, dns;
};

static bool own_changes(const struct ctl_server *srv, const struct ctl__node *n, struct own *c)
{
	c->filter = n->filter_json != n->sent_filter && strcmp(n->filter_json, n->sent_filter) != 0;
	c->ssh = n->ssh_json != n->sent_ssh && strcmp(n->ssh_json, n->sent_ssh) != 0;
	c->self = strcmp(n->peer_json, n->sent_self) != 0;
	c->relays = !n->sent_relays || strcmp(relays_of(n), n->sent_relays) != 0;
	c->dns = n->sent_dns_gen != srv->dns_gen;
	return c->filter || c->ssh || c->self || c->relays || c->dns || n->n_kills;
}

/* A rebuild is pending (a registration is not in the maps yet), or the vis indexes are off
 * until one runs (srv->nodes moved under them: ctl__node_insert, node_drop): no map is made
 * meanwhile, and the rebuild wakes the polls held for it (ctl__map_published). */
static bool maps_pending(const struct ctl_server *srv)
{
	return srv->dirty || srv->vis_stale;
}

/* The held poll r has something to answer now: its node is gone, is owed a full map, has a
 * delta (map_delta's test, without making it), or did not ask to wait ("wait" absent: held
 * only for the rebuild).  While maps_pending only a gone node's is (its answer reads no
 * vis). */
static bool poll_due(struct ctl__req *r, void *ctx)
{
	struct ctl_server *srv = ctx;
	struct ctl__node *n = ctl__node_by_id(srv, r->node_id);
	json_t *since = json_object_get(r->msg, "since");
	uint64_t s = json_is_integer(since) ? (uint64_t)json_integer_value(since) : 0;
	if (!n)
		return true;
	if (maps_pending(srv))
		return false;
	if (s == 0 || s != n->sent_version || !n->sent_filter ||
	    !json_is_true(json_object_get(r->msg, "wait")))
		return true;
	if (n->n_vis != n->n_sent)
		return true;
	for (size_t i = 0; i < n->n_vis; i++) {
		const struct ctl__node *p = srv->nodes[n->vis[i]];
		if ((uint64_t)p->rec.id != n->sent_ids[i] || p->peer_version != n->sent_vers[i])
			return true;
	}
	struct own c;
	return own_changes(srv, n, &c);
}

void ctl__wake_maps(struct ctl_server *srv)
{
	ctl__wake_if(srv, SRV_WAIT_MAP, poll_due, srv);
}

/* NULL with *empty set when nothing changed since what the node was sent. */
static char *map_delta(struct ctl_server *srv, struct ctl__node *n, bool *empty)
{
	struct sbuf ch = { 0 }, rm = { 0 };
	size_t i = 0, j = 0, nch = 0, nrm = 0;
	while (i < n->n_vis || j < n->n_sent) {
		struct ctl__node *p = i < n->n_vis ? srv->nodes[n->vis[i]] : NULL;
		uint64_t pid = p ? (uint64_t)p->rec.id : UINT64_MAX;
		uint64_t sid = j < n->n_sent ? n->sent_ids[j] : UINT64_MAX;
		if (pid < sid) {
			sbuf_str(&ch, nch++ ? "," : "");
			sbuf_str(&ch, p->peer_json);
			i++;
		} else if (sid < pid) {
			sbuf_fmt(&rm, "%s%llu", nrm++ ? "," : "", (unsigned long long)sid);
			j++;
		} else {
			if (p->peer_version != n->sent_vers[j]) {
				sbuf_str(&ch, nch++ ? "," : "");
				sbuf_str(&ch, p->peer_json);
			}
			i++;
			j++;
		}
	}
	struct own c;
	bool own_changed = own_changes(srv, n, &c);
	bool filter = c.filter, ssh = c.ssh, self = c.self, relays = c.relays, dns = c.dns;
	*empty = !nch && !nrm && !own_changed;
	if (*empty || ch.oom || rm.oom) {
		free(ch.s);
		free(rm.s);
		return NULL;
	}
	struct sbuf b = { 0 };
	/* Never a delta whose version is its base: texts can change without the version moving
	 * (a rebuild that failed part-way), and a node that lost such a delta would ask again
	 * "since" the version control believes carried it, then apply the next delta (its
	 * filter's indexes) to a base it does not hold.  A new version makes that poll a full
	 * map. */
	if (srv->map_version == n->sent_version)
		srv->map_version++;
	uint64_t v = srv->map_version;
	sbuf_fmt(&b, "{\"type\":\"delta\",\"version\":%llu,\"base\":%llu", (unsigned long long)v,
		 (unsigned long long)n->sent_version);
	if (nch) {
		sbuf_str(&b, ",\"peers_changed\":[");
		sbuf_str(&b, ch.s);
		sbuf_str(&b, "]");
	}
	if (nrm) {
		sbuf_str(&b, ",\"peers_removed\":[");
		sbuf_str(&b, rm.s);
		sbuf_str(&b, "]");
	}
	if (filter) { /* sources the node holds already as indexes into what it was sent */
		sbuf_str(&b, ",\"filter\":");
		if (n->filter_refs)
			ctl__filter_refs_write(&b, n->sent_filter, n->filter_json);
		else
			sbuf_str(&b, n->filter_json);
	}
	if (ssh) {
		sbuf_str(&b, ",\"ssh\":");
		sbuf_str(&b, n->ssh_json);
	}
	if (self) {
		sbuf_str(&b, ",\"self\":");
		sbuf_str(&b, n->peer_json);
	}
	if (relays) {
		sbuf_str(&b, ",\"relays\":");
		sbuf_str(&b, relays_of(n));
	}
	if (dns) { /* the same settings for every node; null once withdrawn */
		sbuf_str(&b, ",\"dns\":");
		sbuf_str(&b, srv->dns_json ? srv->dns_json : "null");
	}
	kills_add(&b, n);
	sbuf_str(&b, "}");
	free(ch.s);
	free(rm.s);
	if (b.oom) {
		ctl__secret_free(b.s);
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

/* Endpoints and SSH host keys the node reports; they reach its peers as a change. */
static enum MHD_Result map_report(struct ctl__req *r, struct ctl__node *n, const char **bad)
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
	json_array_foreach(ep, i, v)
	{
		struct ctl_endpoint e;
		if (i >= 16 || !ctl_endpoint_parse(json_string_value(v), &e, NULL, 0)) {
			*bad =
			    "endpoints: each must be addr:port or [addr]:port, typed or not "
			    "('local', 'reflexive' or 'relay', a space, the address) (at most 16)";
			return MHD_NO;
		}
	}
	json_array_foreach(hk, i, v)
	{
		if (!json_is_string(v) || i >= 8 || /* no NUL in it either: "\u0000" */
		    json_string_length(v) != strlen(json_string_value(v)) ||
		    !ctl_ssh_host_key_valid(json_string_value(v), NULL, 0)) {
			*bad =
			    "ssh_host_keys: at most 8 lines 'TYPE BASE64' of known SSH key types";
			return MHD_NO;
		}
	}
	char *eps = ep ? array_text(ep) : NULL, *hks = hk ? array_text(hk) : NULL;
	bool changed = (ep && text_differs(eps, n->rec.endpoints)) ||
		       (hk && text_differs(hks, n->rec.ssh_host_keys));
	int64_t now = ctl__now_s();
	bool was_offline = !n->online;
	/* replicas sharing the store see a node online by the last_seen stored: written at
	 * least every SRV_LAST_SEEN_WRITE_S while it streams (replica.c) */
	int64_t stored = srv->shared ? n->seen_stored : n->rec.last_seen;
	if (changed || now - stored >= SRV_LAST_SEEN_WRITE_S) {
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
		n->seen_stored = now;
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
		ctl__node_render(srv, n);
		srv->map_version++;
		srv->wake_maps = true; /* the tick wakes its peers' polls */
	}
	return MHD_YES;
}

/* The poll r of node n held until a change for it, the rebuild or its keep-alive deadline
 * (a new poll's, or the one it was held with); false when it cannot be (stopping,
 * draining, or that deadline has passed). */
static bool map_hold(struct ctl__req *r, const struct ctl__node *n, uint64_t now)
{
	struct ctl_server *srv = r->srv;
	if (ctl__not_holding(srv) || (r->wait != SRV_WAIT_NONE && now >= r->deadline_ms))
		return false;
	r->node_id = n->rec.id;
	ctl__suspend(r, SRV_WAIT_MAP,
		     r->wait == SRV_WAIT_NONE ? now + srv->cfg.keepalive_ms : r->deadline_ms);
	return true;
}

/* Nothing to send: a keep-alive, which the node applies by polling again. */
static enum MHD_Result map_keepalive(struct ctl__req *r, const struct ctl__node *n)
{
	char ka[96];
	int len = snprintf(ka, sizeof(ka), "{\"type\":\"keepalive\",\"version\":%llu}",
			   (unsigned long long)n->sent_version);
	return ctl__reply_sealed(r, MHD_HTTP_OK, ka, (size_t)len);
}

/* draining: a new poll that would be held is sent away at once (the client's backoff, not a
 * loop of keep-alives, until the balancer sends it elsewhere); one held already gets its
 * keep-alive */
static enum MHD_Result map_draining(struct ctl__req *r)
{
	return ctl__sealed_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
				 "this control replica (%s) is draining: ask again, another one "
				 "will answer",
				 r->srv->replica);
}

enum MHD_Result ctl__api_map(struct ctl__req *r, struct ctl__node *n)
{
	struct ctl_server *srv = r->srv;
	json_t *since = json_object_get(r->msg, "since");
	if (since && !json_is_integer(since))
		return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "since: expected an integer");
	if (!r->wait) {
		const char *bad = NULL;
		enum MHD_Result res;
		if (!ctl__disco_report(r, n, &res))
			return res;
		if (map_report(r, n, &bad) != MHD_YES)
			return ctl__sealed_error(r, MHD_HTTP_BAD_REQUEST, "%s", bad);
	} else {
		n->rec.last_seen = ctl__now_s();
	}
	uint64_t s = since ? (uint64_t)json_integer_value(since) : 0;
	bool wait = json_is_true(json_object_get(r->msg, "wait"));
	n->filter_refs = json_is_true(json_object_get(r->msg, "filter_refs"));
	uint64_t now = now_mono_ms();
	char *msg;
	if (maps_pending(srv)) {
		/* Nothing is made from the vis meanwhile: every poll, "wait" or not, is held
		 * for the rebuild (which wakes it, poll_due), and one whose keep-alive deadline
		 * comes first gets a keep-alive. */
		if (map_hold(r, n, now))
			return MHD_YES;
		if (srv->draining && r->wait == SRV_WAIT_NONE)
			return map_draining(r);
		return map_keepalive(r, n);
	}
	if (s == 0 || s != n->sent_version) {
		msg = map_full(srv, n);
	} else {
		bool empty;
		msg = map_delta(srv, n, &empty);
		if (!msg && empty) {
			if (wait && srv->draining && r->wait == SRV_WAIT_NONE)
				return map_draining(r);
			if (wait && map_hold(r, n, now))
				return MHD_YES;
			return map_keepalive(r, n);
		}
	}
	if (!msg)
		return MHD_NO;
	/* the kills it carries leave the store once it is queued (the lock is let go while it
	 * is sealed: copied, and the node found again by id) */
	struct ctl_session_kill kills[CTL_SESSIONS_KILL_MAX];
	size_t n_kills = ctl__kills_taken(n, kills);
	int64_t id = n->rec.id;
	enum MHD_Result rc = ctl__reply_sealed(r, MHD_HTTP_OK, msg, strlen(msg));
	ctl__secret_free(msg); /* a map may carry the node's relay credentials */
	if (rc == MHD_YES)
		ctl__kills_sent(srv, id, kills, n_kills);
	return rc;
}
