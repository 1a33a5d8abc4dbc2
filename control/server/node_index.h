/* control/server/node_index.h: hash tables over the node registry, so that the requests
 * that find a node by a key (every node API request by its machine key, a registration's
 * checks of node key, discovery key and hostname, a hold's node by address, the admin's by
 * name) cost O(1) instead of a scan of srv->nodes: at 10 000 nodes those scans were most of
 * meshcontrol's CPU while the nodes registered (#21).
 *
 * The table is a multimap from a 64-bit hash to items: open addressing with linear probing,
 * tombstones for removals, grown (or rebuilt without tombstones) past 3/4 full.  It never
 * looks at the items: the caller hashes its key (ctl__ix_hash: keyed SipHash, so that
 * nobody who picks machine keys or hostnames can pick colliding ones) and compares the
 * candidates an iteration yields with the key itself.  Equal hashes, equal keys and several
 * items under one key are all allowed.
 *
 *	struct ctl__ix ix = { 0 };
 *	ctl__ix_insert(&ix, h, item);
 *	size_t cur;
 *	for (void *it = ctl__ix_first(&ix, h, &cur); it; it = ctl__ix_next(&ix, h, &cur))
 *		if (key_of(it) == key) ...;
 *	ctl__ix_remove(&ix, h, item);
 *	ctl__ix_free(&ix);
 *
 * Errors: ctl__ix_insert returns 0 or -ENOMEM (the table unchanged). */
#ifndef MESH_CONTROL_NODE_INDEX_H
#define MESH_CONTROL_NODE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl__ix_slot {
	uint64_t hash;
	void *item; /* NULL: empty; ctl__ix_tomb: removed */
};

struct ctl__ix {
	struct ctl__ix_slot *slots;
	size_t cap;   /* 0, or a power of two */
	size_t used;  /* live items */
	size_t tombs; /* removed items' slots not yet reused */
};

enum { CTL__IX_HASH_KEY = 16 };

/* SipHash-2-4 of bytes under key. */
uint64_t ctl__ix_hash(const uint8_t key[static CTL__IX_HASH_KEY], const void *bytes, size_t len);
int ctl__ix_insert(struct ctl__ix *ix, uint64_t hash, void *item);
/* Takes item (compared by address) out from under hash; false when it was not there. */
bool ctl__ix_remove(struct ctl__ix *ix, uint64_t hash, const void *item);
/* The items under hash, one at a time (NULL after the last); the table must not change
 * during an iteration. */
void *ctl__ix_first(const struct ctl__ix *ix, uint64_t hash, size_t *cursor);
void *ctl__ix_next(const struct ctl__ix *ix, uint64_t hash, size_t *cursor);
void ctl__ix_free(struct ctl__ix *ix);

/* What the server indexes its nodes by (node.c keeps them in step with each node's record:
 * ctl__node_render reindexes, removal unindexes). */
enum ctl__ix_kind {
	CTL__IX_MACHINE,  /* machine key */
	CTL__IX_NODE_KEY, /* node key */
	CTL__IX_DISCO,	  /* discovery key, for nodes with one */
	CTL__IX_NAME,	  /* hostname, hashed in lowercase (DNS names: any case) */
	CTL__IX_IPV4,
	CTL__IX_IPV6,
	CTL__IX_KINDS
};

#endif
