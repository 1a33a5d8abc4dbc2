/* Hash tables over the node registry (node_index.h): a multimap from a keyed 64-bit hash to
 * items, open addressing with linear probing.  Removal leaves a tombstone, so that an item
 * further along the same probe run stays reachable; tombstones are dropped whenever the
 * table is rebuilt (when live items and tombstones together pass 3/4 of it). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "control/server/internal.h"
#include "control/server/node_index.h"

static char tomb_mark;
#define TOMB ((void *)&tomb_mark)

enum { IX_MIN_CAP = 64 };

uint64_t ctl__ix_hash(const uint8_t key[static CTL__IX_HASH_KEY], const void *bytes, size_t len)
{
	_Static_assert(crypto_shorthash_KEYBYTES == CTL__IX_HASH_KEY, "SipHash's key size");
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h = 0;
	crypto_shorthash(out, bytes, len, key);
	for (size_t i = 0; i < sizeof(out); i++)
		h = h << 8 | out[i];
	return h;
}

/* Every live item moved into a table of cap slots (tombstones dropped). */
static int rehash(struct ctl__ix *ix, size_t cap)
{
	struct ctl__ix_slot *s = calloc(cap, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < ix->cap; i++) {
		const struct ctl__ix_slot *o = &ix->slots[i];
		if (!o->item || o->item == TOMB)
			continue;
		size_t j = (size_t)o->hash & (cap - 1);
		while (s[j].item)
			j = (j + 1) & (cap - 1);
		s[j] = *o;
	}
	free(ix->slots);
	ix->slots = s;
	ix->cap = cap;
	ix->tombs = 0;
	return 0;
}

int ctl__ix_insert(struct ctl__ix *ix, uint64_t hash, void *item)
{
	if ((ix->used + ix->tombs + 1) * 4 > ix->cap * 3) {
		/* grow when the live items alone fill half of it; else only drop tombstones */
		size_t cap = ix->cap ? ix->cap : IX_MIN_CAP;
		while ((ix->used + 1) * 2 > cap)
			cap *= 2;
		int rc = rehash(ix, cap);
		if (rc)
			return rc;
	}
	size_t mask = ix->cap - 1, j = (size_t)hash & mask;
	while (ix->slots[j].item && ix->slots[j].item != TOMB)
		j = (j + 1) & mask;
	if (ix->slots[j].item == TOMB)
		ix->tombs--;
	ix->slots[j].hash = hash;
	ix->slots[j].item = item;
	ix->used++;
	return 0;
}

/* The slot at or after *cursor (a probe position) holding an item under hash. */
static void *scan(const struct ctl__ix *ix, uint64_t hash, size_t *cursor)
{
	if (!ix->cap)
		return NULL;
	size_t mask = ix->cap - 1;
	/* an empty slot ends the run; the table always has one (at most 3/4 full) */
	for (size_t j = *cursor & mask; ix->slots[j].item; j = (j + 1) & mask) {
		if (ix->slots[j].item != TOMB && ix->slots[j].hash == hash) {
			*cursor = j;
			return ix->slots[j].item;
		}
	}
	return NULL;
}

void *ctl__ix_first(const struct ctl__ix *ix, uint64_t hash, size_t *cursor)
{
	*cursor = (size_t)hash;
	return scan(ix, hash, cursor);
}

void *ctl__ix_next(const struct ctl__ix *ix, uint64_t hash, size_t *cursor)
{
	(*cursor)++;
	return scan(ix, hash, cursor);
}

bool ctl__ix_remove(struct ctl__ix *ix, uint64_t hash, const void *item)
{
	size_t cur;
	for (void *it = ctl__ix_first(ix, hash, &cur); it; it = ctl__ix_next(ix, hash, &cur)) {
		if (it != item)
			continue;
		ix->slots[cur].item = TOMB;
		ix->used--;
		ix->tombs++;
		return true;
	}
	return false;
}

void ctl__ix_free(struct ctl__ix *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

/* ---- the registry's indexes ---- */

/* A hostname as its index hashes it: ASCII letters lowercased (strcasecmp's equality). */
static size_t name_lower(const char *name, uint8_t out[static CTL_HOSTNAME_MAX])
{
	size_t i = 0;
	for (; name[i] && i < CTL_HOSTNAME_MAX - 1; i++)
		out[i] =
		    (uint8_t)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	return i;
}

/* n's key of kind as the bytes hashed (a hostname lowercased into buf); false when n has
 * none of that kind (no discovery key). */
static bool key_of(const struct ctl__node *n, enum ctl__ix_kind kind,
		   uint8_t buf[static CTL_HOSTNAME_MAX], const void **key, size_t *len)
{
	switch (kind) {
	case CTL__IX_MACHINE:
		*key = n->rec.machine_key, *len = 32;
		return true;
	case CTL__IX_NODE_KEY:
		*key = n->rec.node_key, *len = 32;
		return true;
	case CTL__IX_DISCO:
		*key = n->rec.disco_key, *len = 32;
		return n->rec.has_disco_key;
	case CTL__IX_NAME:
		*len = name_lower(n->rec.hostname, buf);
		*key = buf;
		return true;
	case CTL__IX_IPV4:
		*key = &n->rec.ipv4, *len = sizeof(n->rec.ipv4);
		return true;
	case CTL__IX_IPV6:
		*key = n->rec.ipv6, *len = 16;
		return true;
	default:
		return false;
	}
}

static uint64_t hash_of(struct ctl_server *srv, const void *key, size_t len)
{
	if (!srv->ix_keyed) { /* per process: nobody outside can aim keys at one chain */
		randombytes_buf(srv->ix_key, sizeof(srv->ix_key));
		srv->ix_keyed = true;
	}
	return ctl__ix_hash(srv->ix_key, key, len);
}

void ctl__node_unindex(struct ctl_server *srv, struct ctl__node *n)
{
	for (int k = 0; k < CTL__IX_KINDS; k++)
		if (n->ix_in & 1u << k)
			ctl__ix_remove(&srv->node_ix[k], n->ix_hash[k], n);
	n->ix_in = 0;
}

int ctl__node_reindex(struct ctl_server *srv, struct ctl__node *n)
{
	int rc = 0;
	for (int k = 0; k < CTL__IX_KINDS; k++) {
		uint8_t buf[CTL_HOSTNAME_MAX];
		const void *key;
		size_t len;
		bool has = key_of(n, (enum ctl__ix_kind)k, buf, &key, &len);
		uint64_t h = has ? hash_of(srv, key, len) : 0;
		bool in = n->ix_in & 1u << k;
		if (in && has && n->ix_hash[k] == h)
			continue;
		if (in) {
			ctl__ix_remove(&srv->node_ix[k], n->ix_hash[k], n);
			n->ix_in &= ~(1u << k);
		}
		if (!has)
			continue;
		int r = ctl__ix_insert(&srv->node_ix[k], h, n);
		if (r) {
			/* the lookups scan srv->nodes until every node is indexed again */
			srv->ix_broken = true;
			rc = r;
			continue;
		}
		n->ix_hash[k] = h;
		n->ix_in |= 1u << k;
	}
	return rc;
}

void ctl__nodes_index_free(struct ctl_server *srv)
{
	for (int k = 0; k < CTL__IX_KINDS; k++)
		ctl__ix_free(&srv->node_ix[k]);
	for (size_t i = 0; i < srv->n_nodes; i++)
		srv->nodes[i]->ix_in = 0;
	srv->ix_broken = false;
}

void ctl__nodes_index_repair(struct ctl_server *srv)
{
	if (!srv->ix_broken)
		return;
	ctl__nodes_index_free(srv);
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (ctl__node_reindex(srv, srv->nodes[i]) != 0)
			return; /* still broken: tried again at the next map */
}

/* ---- lookups ---- */

struct query {
	enum ctl__ix_kind kind;
	const void *key; /* as key_of makes it */
	size_t len;
	const struct ctl__node *not_self; /* skipped */
	const uint8_t *not_machine;	  /* nodes of this machine key skipped */
	const char *exact;		  /* a hostname: this case only */
};

static bool matches(const struct ctl__node *n, const struct query *q)
{
	uint8_t buf[CTL_HOSTNAME_MAX];
	const void *key;
	size_t len;
	if (n == q->not_self || !key_of(n, q->kind, buf, &key, &len) || len != q->len ||
	    memcmp(key, q->key, len) != 0)
		return false;
	if (q->not_machine && memcmp(n->rec.machine_key, q->not_machine, 32) == 0)
		return false;
	return !q->exact || strcmp(n->rec.hostname, q->exact) == 0;
}

/* The node of lowest id that q matches (what a scan of srv->nodes finds first), or NULL. */
static struct ctl__node *find(struct ctl_server *srv, const struct query *q)
{
	if (srv->ix_broken) {
		for (size_t i = 0; i < srv->n_nodes; i++)
			if (matches(srv->nodes[i], q))
				return srv->nodes[i];
		return NULL;
	}
	struct ctl__node *best = NULL;
	uint64_t h = hash_of(srv, q->key, q->len);
	const struct ctl__ix *ix = &srv->node_ix[q->kind];
	size_t cur;
	for (struct ctl__node *n = ctl__ix_first(ix, h, &cur); n; n = ctl__ix_next(ix, h, &cur))
		if (matches(n, q) && (!best || n->rec.id < best->rec.id))
			best = n;
	return best;
}

struct ctl__node *ctl__node_by_machine(struct ctl_server *srv, const uint8_t mkey[32])
{
	struct query q = { .kind = CTL__IX_MACHINE, .key = mkey, .len = 32 };
	return find(srv, &q);
}

bool ctl__disco_taken(struct ctl_server *srv, const struct ctl__node *self, const uint8_t key[32])
{
	struct query q = { .kind = CTL__IX_DISCO, .key = key, .len = 32, .not_self = self };
	return find(srv, &q) != NULL;
}

bool ctl__node_key_taken(struct ctl_server *srv, const struct ctl__node *self,
			 const uint8_t key[32])
{
	struct query q = { .kind = CTL__IX_NODE_KEY, .key = key, .len = 32, .not_self = self };
	return find(srv, &q) != NULL;
}

bool ctl__name_taken(struct ctl_server *srv, const uint8_t mkey[32], const char *name)
{
	uint8_t buf[CTL_HOSTNAME_MAX];
	struct query q = { .kind = CTL__IX_NAME, .key = buf, .not_machine = mkey };
	q.len = name_lower(name, buf);
	return find(srv, &q) != NULL;
}

struct ctl__node *ctl__node_by_hostname(struct ctl_server *srv, const char *name)
{
	uint8_t buf[CTL_HOSTNAME_MAX];
	struct query q = { .kind = CTL__IX_NAME, .key = buf, .exact = name };
	q.len = name_lower(name, buf);
	return find(srv, &q);
}

struct ctl__node *ctl__node_by_ipv4(struct ctl_server *srv, uint32_t ipv4)
{
	struct query q = { .kind = CTL__IX_IPV4, .key = &ipv4, .len = sizeof(ipv4) };
	return find(srv, &q);
}

struct ctl__node *ctl__node_by_ipv6(struct ctl_server *srv, const uint8_t ipv6[16])
{
	struct query q = { .kind = CTL__IX_IPV6, .key = ipv6, .len = 16 };
	return find(srv, &q);
}

bool ctl__nodes_index_check(struct ctl_server *srv)
{
	size_t count[CTL__IX_KINDS] = { 0 };
	for (size_t i = 0; i < srv->n_nodes; i++) {
		struct ctl__node *n = srv->nodes[i];
		for (int k = 0; k < CTL__IX_KINDS; k++) {
			uint8_t buf[CTL_HOSTNAME_MAX];
			const void *key;
			size_t len, cur;
			if (!key_of(n, (enum ctl__ix_kind)k, buf, &key, &len))
				continue;
			count[k]++;
			uint64_t h = hash_of(srv, key, len);
			const struct ctl__ix *ix = &srv->node_ix[k];
			void *it = ctl__ix_first(ix, h, &cur);
			while (it && it != n)
				it = ctl__ix_next(ix, h, &cur);
			if (!it)
				return false;
		}
	}
	for (int k = 0; k < CTL__IX_KINDS; k++)
		if (srv->node_ix[k].used != count[k])
			return false;
	return true;
}
