/* Cryptokey routing: a path-compressed binary trie per address family mapping prefixes
 * to peers, with longest-prefix lookup (outbound: destination -> peer; inbound: is the
 * inner source inside the sender's AllowedIPs).  Addresses are held as 128-bit integers,
 * most significant bit first (IPv4 in the top 32 bits), so prefix tests and the first
 * differing bit are a mask and a count-leading-zeros.
 *
 * Invariants: a node's key has no bits set beyond its cidr; a child's cidr is larger than
 * its parent's and its key extends the parent's; a node without a peer has two children
 * (it only exists to split), except transiently during removal. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wg/internal.h"

typedef unsigned __int128 u128;

struct wg__aip_node {
	struct wg__aip_node *child[2];
	struct wg__peer *peer;
	u128 key;
	uint8_t cidr;
};

static u128 mask_of(unsigned int cidr)
{
	return cidr == 0 ? 0 : ~(u128)0 << (128 - cidr);
}

static unsigned int bit_at(u128 key, unsigned int i)
{
	return (unsigned int)(key >> (127 - i)) & 1;
}

/* Leading bits a and b share, at most limit. */
static unsigned int common_bits(u128 a, u128 b, unsigned int limit)
{
	u128 x = a ^ b;
	uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
	unsigned int n = hi   ? (unsigned int)__builtin_clzll(hi)
			 : lo ? 64 + (unsigned int)__builtin_clzll(lo)
			      : 128;
	return n < limit ? n : limit;
}

static u128 load_addr(int family, const uint8_t *addr)
{
	u128 k = 0;
	int n = family == AF_INET ? 4 : 16;
	for (int i = 0; i < n; i++)
		k = k << 8 | addr[i];
	return k << (128 - 8 * n);
}

static void store_addr(int family, uint8_t *out, u128 k)
{
	int n = family == AF_INET ? 4 : 16;
	for (int i = 0; i < n; i++)
		out[i] = (uint8_t)(k >> (120 - 8 * i));
}

static struct wg__aip_node *node_new(u128 key, uint8_t cidr, struct wg__peer *peer)
{
	struct wg__aip_node *n = calloc(1, sizeof(*n));
	if (n) {
		n->key = key & mask_of(cidr);
		n->cidr = cidr;
		n->peer = peer;
	}
	return n;
}

int wg__aip_insert(struct wg__allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
		   struct wg__peer *peer)
{
	unsigned int maxbits = family == AF_INET ? 32 : 128;
	struct wg__aip_node **slot, *node, *nn, *mid;
	u128 key;

	if ((family != AF_INET && family != AF_INET6) || cidr > maxbits || !peer)
		return -EINVAL;
	key = load_addr(family, addr) & mask_of(cidr);
	slot = family == AF_INET ? &t->root4 : &t->root6;

	while ((node = *slot)) {
		unsigned int limit = node->cidr < cidr ? node->cidr : cidr;
		unsigned int common = common_bits(node->key, key, limit);
		if (common < node->cidr) {
			nn = node_new(key, cidr, peer);
			if (!nn)
				return -ENOMEM;
			if (common == cidr) {
				/* the new prefix contains node: it becomes node's parent */
				nn->child[bit_at(node->key, cidr)] = node;
				*slot = nn;
				return 0;
			}
			mid = node_new(key, (uint8_t)common, NULL);
			if (!mid) {
				free(nn);
				return -ENOMEM;
			}
			mid->child[bit_at(node->key, common)] = node;
			mid->child[bit_at(key, common)] = nn;
			*slot = mid;
			return 0;
		}
		if (node->cidr == cidr) {
			node->peer = peer;
			return 0;
		}
		slot = &node->child[bit_at(key, node->cidr)];
	}
	nn = node_new(key, cidr, peer);
	if (!nn)
		return -ENOMEM;
	*slot = nn;
	return 0;
}

struct wg__peer *wg__aip_lookup(const struct wg__allowedips *t, int family, const uint8_t *addr)
{
	const struct wg__aip_node *node = family == AF_INET ? t->root4 : t->root6;
	struct wg__peer *best = NULL;
	u128 key = load_addr(family, addr);

	while (node && ((key ^ node->key) & mask_of(node->cidr)) == 0) {
		if (node->peer)
			best = node->peer;
		if (node->cidr == 128)
			break;
		node = node->child[bit_at(key, node->cidr)];
	}
	return best;
}

static void remove_peer(struct wg__aip_node **slot, struct wg__peer *peer)
{
	struct wg__aip_node *n = *slot;
	if (!n)
		return;
	remove_peer(&n->child[0], peer);
	remove_peer(&n->child[1], peer);
	if (peer && n->peer == peer)
		n->peer = NULL;
	if (n->peer && peer)
		return;
	if (!peer || (!n->child[0] && !n->child[1])) {
		*slot = NULL;
		free(n);
	} else if (!n->child[0] || !n->child[1]) {
		*slot = n->child[0] ? n->child[0] : n->child[1];
		free(n);
	}
}

void wg__aip_remove_peer(struct wg__allowedips *t, struct wg__peer *peer)
{
	remove_peer(&t->root4, peer);
	remove_peer(&t->root6, peer);
}

void wg__aip_free(struct wg__allowedips *t)
{
	remove_peer(&t->root4, NULL);
	remove_peer(&t->root6, NULL);
}

static size_t walk(const struct wg__aip_node *n, int family, const struct wg__peer *peer,
		   void (*cb)(void *ctx, const struct addr_prefix *aip), void *ctx)
{
	size_t count = 0;
	if (!n)
		return 0;
	if (n->peer == peer) {
		count++;
		if (cb) {
			struct addr_prefix aip = { .ip.family = (uint8_t)family, .bits = n->cidr };
			store_addr(family, aip.ip.bytes, n->key);
			cb(ctx, &aip);
		}
	}
	count += walk(n->child[0], family, peer, cb, ctx);
	count += walk(n->child[1], family, peer, cb, ctx);
	return count;
}

size_t wg__aip_walk_peer(const struct wg__allowedips *t, const struct wg__peer *peer,
			 void (*cb)(void *ctx, const struct addr_prefix *aip), void *ctx)
{
	return walk(t->root4, AF_INET, peer, cb, ctx) + walk(t->root6, AF_INET6, peer, cb, ctx);
}
