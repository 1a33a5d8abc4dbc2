/* Several meshcontrol replicas on one PostgreSQL store (issue #21): what they must agree on,
 * and how a change written through one reaches the nodes streaming from the others.
 *
 * Identity: the server key (nodes seal to it and pin it) and the admin token's hash live in
 * the store's meta table.  The first replica stores them, insert-if-absent in one
 * transaction (meta_add), and every other loads what is there: replicas starting together
 * agree.  A state directory's server.key (a tailnet moved from SQLite) is the candidate, so
 * its nodes keep the key they pinned.  The tailnet's ULA prefix is made by the store's first
 * migration, already shared.
 *
 * Fan-out: each replica keeps one more connection to the database listening on the change
 * channel (store_notify.h) on a thread of its own, blocked in poll() on that socket and a
 * pipe that stops it: no polling loop.  What arrives is batched (everything readable at
 * once), then under srv->lock the replica reloads what changed from the store: the nodes
 * named ("node:ID", one row each with node_get: added, removed, changed; the whole list
 * diffed against memory instead after a user went, when a batch names more than
 * REPLICA_NODE_IDS_MAX, and when the listener (re)connects), the policy, the DNS settings,
 * the admin token hash; SSO groups and topology changes mark the maps dirty, so
 * the timer's next tick (50 ms) runs the same rebuild and delta path as a local change.  Its
 * own writes come back too and find nothing to change.  A lost listener reconnects with
 * backoff (0.5 s doubling to 30 s, jittered), then reloads everything (changes made
 * meanwhile were not heard).
 *
 * Online across replicas: derived from last_seen in the store, not a stored flag (a replica
 * killed while holding a node's stream would leave a flag set forever).  The replica a node
 * streams from writes its last_seen at least every SRV_LAST_SEEN_WRITE_S (map.c), and a
 * shared server counts a node online while last_seen is within that plus the keep-alive
 * plus 15 s (node.c's tick): a node that vanished shows offline on the other replicas up to
 * a minute later than on its own.
 *
 * Check-mode holds live in the store (hold.c): a replica keeps copies of those it served,
 * and a hold decided, re-authenticated for or removed through another ("hold:ID") has every
 * pending copy read again and the held requests woken.  A row appended to the audit log
 * through any replica ("audit:ID") wakes every replica's long polls (GET /api/v1/audit?wait=,
 * meshctl audit --follow), which read the log again.
 *
 * Web sessions, password throttles and the node API's nonces live in the store too (schema
 * 8, store_*_transient.c), read where they are needed, with no notification: a session made
 * or ended through one replica is known to every other at its next request (session.c);
 * failed passwords are counted in one row per account and per source, so N replicas allow
 * the guesses of one (throttle.c); a sealed request's nonce, once this replica's cache let it
 * through, is inserted into the store, where a replica that took it first makes it a replay
 * (node_api.c).  The login form's CSRF key is derived from the shared server key (session.c).
 *
 * Interactive logins live in the store too (register.c, keyed by their token's SHA-256): a
 * login started through one replica is approved on any replica's page, and its decision
 * ("login:ID", ID that hash) wakes the request of its node held here, by id (every held
 * registration when a batch brings more than REPLICA_LOGIN_WAKES); the caps count the
 * store's logins.
 *
 * SSO sign-ins in flight live in the store too (sso_pending.c; schema 11): a callback on any
 * replica finishes a sign-in another started, and the pre-session cookie's key is derived
 * from the shared server key, and the start rate per address is counted in the store's
 * throttles (kind CTL_THROTTLE_SSO_START), so N replicas allow the starts of one.
 *
 * Live SSH sessions live in the store too (sessions.c; schema 13): a node's list posted
 * through any replica is what every replica's admin API lists, and a kill queued through any
 * ("kill:NODE_ID", also when one is taken) has every replica read the kills waiting again
 * (a small table: all of them, one query) and the one holding the node's map poll send it;
 * it leaves the store once the message carrying it was queued.
 *
 * Still in memory per replica (not shared): the rate of a node's session lists
 * (SRV_SESSIONS_PER_MIN on each replica it reaches). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/file.h"
#include "common/key.h"
#include "common/log.h"
#include "common/strv.h"
#include "control/server/internal.h"
#include "control/server/store_notify.h"

enum {
	REPLICA_BACKOFF_MIN_MS = 500,
	REPLICA_BACKOFF_MAX_MS = 30000,
	/* a batch naming more nodes than this reloads the whole list (one query) instead */
	REPLICA_NODE_IDS_MAX = 256,
};

/* what a batch of notifications asks to reload */
enum {
	RELOAD_NODES = 1,
	RELOAD_POLICY = 2,
	RELOAD_DNS = 4,
	RELOAD_ADMIN = 8,
	RELOAD_HOLDS = 16,    /* an approval: held check-mode logins ask again */
	RELOAD_TOPOLOGY = 32, /* SSO groups: the policy's input changed */
	RELOAD_HOLD = 64,     /* a hold decided elsewhere: this replica's copies read again */
	RELOAD_AUDIT = 128,   /* audit rows appended: the long polls read the log again */
	RELOAD_LOGINS = 256,  /* logins decided elsewhere: every held registration asks again */
	RELOAD_KILLS = 512,   /* session kills queued or taken: the nodes' copies read again */
	RELOAD_ALL = 1023,
	/* logins decided in one batch whose held registrations are woken by id; past this
	 * many, all of them are (each reads its login from the store again) */
	REPLICA_LOGIN_WAKES = 16,
};

/* What one batch of notifications asks for: RELOAD_* bits, the nodes named by "node:ID"
 * (RELOAD_NODES instead once there are too many) and the logins decided (their held
 * registrations woken by id; RELOAD_LOGINS instead past REPLICA_LOGIN_WAKES). */
struct batch {
	unsigned what;
	int64_t ids[REPLICA_NODE_IDS_MAX];
	size_t n_ids;
	size_t n_logins;
	char logins[REPLICA_LOGIN_WAKES][CTL_CHANGE_LOGIN_ID_LEN + 1];
};

struct ctl__replica {
	pthread_t thread;
	bool running;
	int stop[2]; /* a pipe: written once to stop the thread */
	char *url;
	uint64_t reloads; /* batches applied, for the log */
	unsigned failed;  /* RELOAD_* the last batch could not read: the next one reads them */
};

bool ctl__store_shared(const char *store_url)
{
	return store_url && strncmp(store_url, "sqlite:", 7) != 0;
}

/* ---- identity ---- */

/* The shared server key: the store's, stored first from the state directory's key when
 * that exists, else from a new one. */
static int shared_server_key(struct ctl_store *s, const char *state_dir, uint8_t priv[static 32],
			     char *err, size_t errlen)
{
	char path[4096], hex[KEY_HEX_SIZE], stored[2 * KEY_HEX_SIZE];
	uint8_t mine[32];
	bool created;
	int rc = 0;
	snprintf(path, sizeof(path), "%s/server.key", state_dir);
	if (access(path, F_OK) == 0) {
		rc = file_key_load_or_create(path, mine, &created, err, errlen);
		if (rc)
			return rc;
	} else {
		randombytes_buf(mine, sizeof(mine));
		mine[0] &= 248; /* X25519 clamping, as file_key_load_or_create does */
		mine[31] = (mine[31] & 127) | 64;
	}
	key_to_hex(hex, mine);
	rc = s->ops->meta_add(s, "server_key", hex, stored, sizeof(stored));
	struct key_error kerr;
	if (rc)
		snprintf(err, errlen, "cannot read or store the server key: %s", strerror(-rc));
	else if (!key_from_hex(priv, stored, &kerr)) {
		snprintf(err, errlen, "the store's server_key is not a key: %s", kerr.message);
		rc = -EINVAL;
	} else if (access(path, F_OK) == 0 && sodium_memcmp(priv, mine, 32) != 0) {
		log_warn("meshcontrol",
			 "%s is not the tailnet's server key: serving with the one in the store "
			 "(nodes that pinned this file's key must join again)",
			 path);
	}
	sodium_memzero(mine, sizeof(mine));
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(stored, sizeof(stored));
	return rc;
}

int ctl_store_server_key(struct ctl_store *s, const char *store_url, const char *state_dir,
			 char out[static 45], char *err, size_t errlen)
{
	uint8_t priv[32], pub[32];
	if (!ctl__store_shared(store_url))
		return ctl_state_server_key(state_dir, out, err, errlen);
	int rc = shared_server_key(s, state_dir, priv, err, errlen);
	if (!rc) {
		crypto_scalarmult_base(pub, priv);
		key_to_base64(out, pub);
	}
	sodium_memzero(priv, sizeof(priv));
	return rc;
}

int ctl__replica_identity(struct ctl_server *srv, char *err, size_t errlen)
{
	struct ctl_store *s = srv->store;
	int rc = shared_server_key(s, srv->state_dir, srv->server_priv, err, errlen);
	if (rc)
		return rc;
	crypto_scalarmult_base(srv->server_pub, srv->server_priv);
	/* the admin token: ours only when our hash is the one stored */
	char token[65], hex[65], stored[80], path[4096], line[66];
	uint8_t hash[32];
	ctl__random_hex(token, 32);
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)token, strlen(token), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	rc = s->ops->meta_add(s, "admin_token_hash", hex, stored, sizeof(stored));
	if (rc) {
		snprintf(err, errlen, "cannot read or store the admin token: %s", strerror(-rc));
	} else if (strcmp(stored, hex) == 0) {
		snprintf(path, sizeof(path), "%s/admin-token", srv->state_dir);
		snprintf(line, sizeof(line), "%s\n", token);
		rc = file_write_atomic(path, line, strlen(line), 0600);
		if (rc)
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		sodium_memzero(line, sizeof(line));
	}
	sodium_memzero(token, sizeof(token));
	if (!rc && sodium_hex2bin(srv->admin_hash, 32, stored, strlen(stored), NULL, NULL, NULL)) {
		snprintf(err, errlen, "the store's admin_token_hash is not 64 hex digits");
		rc = -EINVAL;
	}
	return rc;
}

/* ---- reloading what changed ---- */

static bool text_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

enum ctl__rec_diff ctl__node_rec_diff(const struct ctl_node_rec *mem, const struct ctl_node_rec *st)
{
	bool tags_eq = mem->n_tags == st->n_tags;
	for (size_t i = 0; tags_eq && i < mem->n_tags; i++)
		tags_eq = strcmp(mem->tags[i], st->tags[i]) == 0;
	if (mem->id != st->id || memcmp(mem->machine_key, st->machine_key, 32) ||
	    memcmp(mem->node_key, st->node_key, 32) || mem->key_expiry != st->key_expiry ||
	    mem->user_id != st->user_id || !tags_eq || mem->ipv4 != st->ipv4 ||
	    memcmp(mem->ipv6, st->ipv6, 16) || mem->ephemeral != st->ephemeral)
		return CTL__REC_TOPOLOGY;
	if (strcmp(mem->hostname, st->hostname) != 0 || !text_eq(mem->endpoints, st->endpoints) ||
	    !text_eq(mem->ssh_host_keys, st->ssh_host_keys) ||
	    mem->has_disco_key != st->has_disco_key ||
	    (st->has_disco_key && memcmp(mem->disco_key, st->disco_key, 32)))
		return CTL__REC_SEEN_BY_PEERS;
	if (st->last_seen > mem->last_seen)
		return CTL__REC_LAST_SEEN;
	return CTL__REC_SAME;
}

struct rec_vec {
	struct ctl_node_rec *v;
	size_t n, cap;
};

static int collect_rec(void *ctx, const struct ctl_node_rec *rec)
{
	struct rec_vec *rv = ctx;
	if (rv->n == rv->cap) {
		size_t cap = rv->cap ? 2 * rv->cap : 64;
		struct ctl_node_rec *v = realloc(rv->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		rv->v = v;
		rv->cap = cap;
	}
	memset(&rv->v[rv->n], 0, sizeof(rv->v[0]));
	if (ctl_node_rec_copy(&rv->v[rv->n], rec))
		return -ENOMEM;
	rv->n++;
	return 0;
}

/* A node's record replaced by the store's; its peers' view rendered again.  A node streaming
 * from us is seen by us more recently than the store says: last_seen never goes back. */
static int node_take(struct ctl_server *srv, struct ctl__node *n, const struct ctl_node_rec *st)
{
	struct ctl_node_rec copy;
	memset(&copy, 0, sizeof(copy));
	if (ctl_node_rec_copy(&copy, st))
		return -ENOMEM;
	if (n->rec.last_seen > copy.last_seen)
		copy.last_seen = n->rec.last_seen;
	ctl_node_rec_clear(&n->rec);
	n->rec = copy;
	ctl__node_owner(srv, n);
	ctl__relay_refresh(srv, n, ctl__now_s());
	return ctl__node_render(srv, n);
}

/* The store's record of memory's node m (NULL: a node new to us) taken: *topology when it
 * came or changed what the policy sees, *seen when only what peers see of it changed.  A
 * change of last_seen alone is the tick's online state, not a map change. */
static int node_merge(struct ctl_server *srv, struct ctl__node *m, const struct ctl_node_rec *st,
		      bool *topology, bool *seen)
{
	if (!m) {
		*topology = true;
		return ctl__node_insert(srv, st);
	}
	enum ctl__rec_diff d = ctl__node_rec_diff(&m->rec, st);
	*topology |= d == CTL__REC_TOPOLOGY;
	*seen |= d == CTL__REC_SEEN_BY_PEERS;
	if (d == CTL__REC_LAST_SEEN)
		m->rec.last_seen = st->last_seen;
	return d == CTL__REC_SAME || d == CTL__REC_LAST_SEEN ? 0 : node_take(srv, m, st);
}

/* Nodes gone from the store dropped from memory, with one map published without them. */
static void nodes_gone(struct ctl_server *srv, const int64_t *gone, size_t n_gone)
{
	if (!n_gone)
		return;
	/* already gone from the store: ctl__nodes_remove takes -ENOENT there in its stride,
	 * drops them from memory and publishes the maps */
	log_info("meshcontrol", "replica: %zu node(s) removed through another replica", n_gone);
	ctl__nodes_remove(srv, gone, n_gone);
}

/* The store's nodes against memory, both in ascending id (after the listener connects, when
 * a user went, or when a batch names more nodes than REPLICA_NODE_IDS_MAX). */
static int reload_nodes(struct ctl_server *srv, bool *topology, bool *seen)
{
	struct rec_vec rv = { 0 };
	int rc = srv->store->ops->node_list(srv->store, collect_rec, &rv);
	int64_t *gone = rc ? NULL : calloc(srv->n_nodes + 1, sizeof(*gone));
	size_t n_gone = 0, i = 0, j = 0;
	if (!rc && !gone)
		rc = -ENOMEM;
	while (!rc && (i < srv->n_nodes || j < rv.n)) {
		struct ctl__node *m = i < srv->n_nodes ? srv->nodes[i] : NULL;
		const struct ctl_node_rec *st = j < rv.n ? &rv.v[j] : NULL;
		if (m && (!st || m->rec.id < st->id)) {
			gone[n_gone++] = m->rec.id;
			i++;
		} else { /* a new one lands at i: step over it too */
			rc = node_merge(srv, m && m->rec.id == st->id ? m : NULL, st, topology,
					seen);
			i++, j++;
		}
	}
	for (size_t k = 0; k < rv.n; k++)
		ctl_node_rec_clear(&rv.v[k]);
	free(rv.v);
	if (!rc)
		nodes_gone(srv, gone, n_gone);
	free(gone);
	return rc;
}

/* The nodes a batch named ("node:ID"), one row each: a node streaming its last_seen once a
 * minute costs every replica one row, not the whole list. */
static int reload_node_ids(struct ctl_server *srv, const int64_t *ids, size_t n, bool *topology,
			   bool *seen)
{
	int64_t *gone = calloc(n + 1, sizeof(*gone));
	size_t n_gone = 0;
	int rc = gone ? 0 : -ENOMEM;
	for (size_t k = 0; k < n && !rc; k++) {
		struct ctl_node_rec st;
		memset(&st, 0, sizeof(st));
		struct ctl__node *m = ctl__node_by_id(srv, ids[k]);
		rc = srv->store->ops->node_get(srv->store, ids[k], &st);
		if (rc == -ENOENT) {
			if (m)
				gone[n_gone++] = ids[k];
			rc = 0;
			continue;
		}
		if (!rc)
			rc = node_merge(srv, m, &st, topology, seen);
		ctl_node_rec_clear(&st);
	}
	if (!rc)
		nodes_gone(srv, gone, n_gone);
	free(gone);
	return rc;
}

static int reload_policy(struct ctl_server *srv)
{
	char *text = NULL;
	int rc = srv->store->ops->policy_get(srv->store, &text);
	if (rc || text_eq(text, srv->policy_text)) {
		free(text);
		return rc;
	}
	free(srv->policy_text);
	srv->policy_text = text;
	srv->dirty = true; /* polglue_rebuild compiles it on the next tick */
	log_info("meshcontrol", "replica: the policy changed through another replica");
	return 0;
}

static int reload_dns(struct ctl_server *srv)
{
	char err[512];
	char *old = srv->dns_json;
	srv->dns_json = NULL;
	int rc = ctl__dns_load(srv, err, sizeof(err));
	if (rc) {
		log_err("meshcontrol", "replica: %s", err);
		srv->dns_json = old;
		return rc;
	}
	if (!text_eq(old, srv->dns_json)) {
		srv->dns_gen++;
		ctl__map_published(srv);
	}
	free(old);
	return 0;
}

static int reload_admin(struct ctl_server *srv)
{
	char hex[80];
	uint8_t hash[32];
	int rc = srv->store->ops->meta_get(srv->store, "admin_token_hash", hex, sizeof(hex));
	if (!rc && sodium_hex2bin(hash, 32, hex, strlen(hex), NULL, NULL, NULL) != 0)
		rc = -EINVAL;
	if (!rc)
		memcpy(srv->admin_hash, hash, 32);
	return rc;
}

/* Under srv->lock.  What could not be read (the store failing) is what it returns: the
 * next batch reads it again (the nodes then whole: the ids of this one are not kept). */
static unsigned reload(struct ctl_server *srv, const struct batch *b)
{
	bool topology = false, seen = false;
	unsigned what = b->what, failed = 0;
	int rc = 0;
	if ((what & RELOAD_NODES) && (rc = reload_nodes(srv, &topology, &seen))) {
		log_err("meshcontrol", "replica: cannot reload the nodes: %s", strerror(-rc));
		failed |= RELOAD_NODES;
	} else if (!(what & RELOAD_NODES) && b->n_ids &&
		   (rc = reload_node_ids(srv, b->ids, b->n_ids, &topology, &seen))) {
		log_err("meshcontrol", "replica: cannot reload %zu node(s): %s", b->n_ids,
			strerror(-rc));
		failed |= RELOAD_NODES;
	}
	if ((what & RELOAD_POLICY) && (rc = reload_policy(srv))) {
		log_err("meshcontrol", "replica: cannot reload the policy: %s", strerror(-rc));
		failed |= RELOAD_POLICY;
	}
	if ((what & RELOAD_DNS) && reload_dns(srv))
		failed |= RELOAD_DNS;
	if ((what & RELOAD_ADMIN) && (rc = reload_admin(srv))) {
		log_err("meshcontrol", "replica: cannot reload the admin token: %s", strerror(-rc));
		failed |= RELOAD_ADMIN;
	}
	if (topology || (what & RELOAD_TOPOLOGY))
		srv->dirty = true;
	if (seen && !srv->dirty) {
		srv->map_version++;
		ctl__wake(srv, SRV_WAIT_MAP, NULL);
	}
	if (what & RELOAD_HOLD)
		ctl__holds_reload(srv);
	if (what & (RELOAD_HOLDS | RELOAD_HOLD))
		ctl__wake(srv, SRV_WAIT_HOLD, NULL);
	if (what & RELOAD_AUDIT)
		ctl__wake(srv, SRV_WAIT_AUDIT, NULL);
	if (what & RELOAD_LOGINS)
		ctl__wake(srv, SRV_WAIT_REGISTER, NULL);
	if ((what & RELOAD_KILLS) && (rc = ctl__kills_reload(srv))) {
		log_err("meshcontrol", "replica: cannot reload the session kills: %s",
			strerror(-rc));
		failed |= RELOAD_KILLS;
	}
	if (srv->dirty)
		pthread_cond_signal(&srv->timer_cond); /* rebuild now, not at the tick's end */
	return failed;
}

unsigned ctl__replica_reload_bits(const struct ctl_change *c)
{
	switch (c->kind) {
	case CTL_CHANGE_NODE:
	case CTL_CHANGE_USER:
		return RELOAD_NODES;
	case CTL_CHANGE_POLICY:
		return RELOAD_POLICY;
	case CTL_CHANGE_APPROVAL:
		return RELOAD_HOLDS;
	case CTL_CHANGE_SSO:
		return RELOAD_TOPOLOGY;
	case CTL_CHANGE_HOLD:
		return RELOAD_HOLD;
	case CTL_CHANGE_AUDIT:
		return RELOAD_AUDIT;
	case CTL_CHANGE_LOGIN:
		return RELOAD_LOGINS;
	case CTL_CHANGE_KILL:
		return RELOAD_KILLS;
	case CTL_CHANGE_META:
		if (strcmp(c->name, "dns") == 0)
			return RELOAD_DNS;
		if (strcmp(c->name, "admin_token_hash") == 0)
			return RELOAD_ADMIN;
		return 0;
	}
	return 0;
}

static void on_change(void *ctx, const struct ctl_change *c)
{
	struct batch *b = ctx;
	if (c->kind == CTL_CHANGE_NODE && !(b->what & RELOAD_NODES)) {
		for (size_t i = 0; i < b->n_ids; i++)
			if (b->ids[i] == c->id)
				return;
		if (b->n_ids == REPLICA_NODE_IDS_MAX)
			b->what |= RELOAD_NODES;
		else
			b->ids[b->n_ids++] = c->id;
		return;
	}
	unsigned bits = ctl__replica_reload_bits(c);
	if (c->kind == CTL_CHANGE_LOGIN && b->n_logins < REPLICA_LOGIN_WAKES) {
		memcpy(b->logins[b->n_logins++], c->name, sizeof(b->logins[0]));
		bits &= ~(unsigned)RELOAD_LOGINS; /* its own request is woken, not every one */
	}
	b->what |= bits;
}

/* ---- the listener thread ---- */

/* Waits ms (-1: until the stop pipe or the listener's fd is readable); true when stopped. */
static bool wait_for(struct ctl__replica *rp, int fd, int ms)
{
	struct pollfd p[2] = { { .fd = rp->stop[0], .events = POLLIN },
			       { .fd = fd, .events = POLLIN } };
	int rc;
	do
		rc = poll(p, fd >= 0 ? 2 : 1, ms);
	while (rc < 0 && errno == EINTR);
	return p[0].revents != 0;
}

static void apply(struct ctl_server *srv, const struct batch *b)
{
	pthread_mutex_lock(&srv->lock);
	if (!srv->stopping) {
		struct batch again = *b;
		again.what |= srv->fanout->failed; /* what the last batch could not read */
		srv->fanout->failed = reload(srv, &again);
		/* after the nodes: an approved login's node is known when its request resumes */
		for (size_t i = 0; i < b->n_logins; i++)
			ctl__wake(srv, SRV_WAIT_REGISTER, b->logins[i]);
		srv->fanout->reloads++;
	}
	pthread_mutex_unlock(&srv->lock);
}

static void *replica_main(void *arg)
{
	struct ctl_server *srv = arg;
	struct ctl__replica *rp = srv->fanout;
	struct ctl_store_listener *l = NULL;
	int backoff = 0, failures = 0;
	char err[512];
	for (;;) {
		if (!l) {
			if (backoff &&
			    wait_for(rp, -1,
				     backoff + (int)randombytes_uniform((uint32_t)backoff / 4 + 1)))
				break;
			if (ctl_store_listen(rp->url, &l, err, sizeof(err)) != 0) {
				if (failures++ == 0)
					log_warn("meshcontrol",
						 "replica: cannot listen for changes: %s; retrying "
						 "with backoff",
						 err);
				backoff = backoff ? backoff * 2 : REPLICA_BACKOFF_MIN_MS;
				if (backoff > REPLICA_BACKOFF_MAX_MS)
					backoff = REPLICA_BACKOFF_MAX_MS;
				continue;
			}
			log_info("meshcontrol",
				 "replica: listening for changes through other replicas%s",
				 failures ? " again; reloading everything" : "");
			failures = 0;
			backoff = 0;
			/* what changed before we listened (at start: since the state was loaded) */
			struct batch all = { .what = RELOAD_ALL };
			apply(srv, &all);
		}
		if (wait_for(rp, ctl_store_listener_fd(l), -1))
			break;
		struct batch b = { 0 };
		if (ctl_store_listener_read(l, on_change, &b) != 0) {
			log_warn("meshcontrol",
				 "replica: lost the database connection that listens "
				 "for changes; reconnecting");
			ctl_store_listener_free(l);
			l = NULL;
			failures = 1;
			backoff = REPLICA_BACKOFF_MIN_MS;
			continue;
		}
		if (b.what || b.n_ids || b.n_logins)
			apply(srv, &b);
	}
	ctl_store_listener_free(l);
	return NULL;
}

int ctl__replica_start(struct ctl_server *srv, char *err, size_t errlen)
{
	struct ctl__replica *rp = calloc(1, sizeof(*rp));
	if (!rp || !(rp->url = strdup(srv->cfg.store_url))) {
		free(rp);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	srv->fanout = rp;
	if (pipe2(rp->stop, O_CLOEXEC) != 0) {
		rp->stop[0] = rp->stop[1] = -1;
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
		return -errno;
	}
	if (pthread_create(&rp->thread, NULL, replica_main, srv) != 0) {
		snprintf(err, errlen, "cannot start the thread that listens for changes");
		return -EAGAIN;
	}
	rp->running = true;
	return 0;
}

void ctl__replica_stop(struct ctl_server *srv)
{
	struct ctl__replica *rp = srv->fanout;
	if (!rp)
		return;
	if (rp->running) {
		ssize_t w;
		do
			w = write(rp->stop[1], "x", 1);
		while (w < 0 && errno == EINTR);
		pthread_join(rp->thread, NULL);
	}
	if (rp->stop[0] >= 0) {
		close(rp->stop[0]);
		close(rp->stop[1]);
	}
	free(rp->url);
	free(rp);
	srv->fanout = NULL;
}
