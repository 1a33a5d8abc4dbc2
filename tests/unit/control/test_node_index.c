/* control/server/node_index.c: the hash tables over the node registry.
 *
 * The table itself: numbered cases (empty, one item, items under one hash, a tombstone in a
 * probe run), then random inserts, removals and lookups checked against a linear scan of
 * the items, under three hash functions (spread; 13 values: every probe run long; equal low
 * bits: every item in one cluster), growth past many doublings and churn that must not grow
 * it.  The registry: thousands of nodes (the fuzz harness's server) inserted, changed and
 * removed, every lookup (machine key, node key, discovery key, hostname in any case and
 * exactly, addresses) against a scan of srv->nodes, with the indexes as they should be
 * (ctl__nodes_index_check), and the scanning fallback after an insert ran out of memory. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "check.h"
#include "control/server/node_index.h"
#include "tests/fuzz/control/srv_harness.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ---- the table ---- */

struct item {
	uint64_t key;
	bool in;
};

static uint64_t hash_mode(uint64_t key, int mode)
{
	switch (mode) {
	case 0:
		return key * 0x9e3779b97f4a7c15ull;
	case 1:
		return key % 13; /* long runs of equal and neighbouring hashes */
	default:
		return (key + 1) << 40; /* low bits all zero: one cluster */
	}
}

static void table_cases(void)
{
	struct ctl__ix ix = { 0 };
	size_t cur;
	int a, b, c;
	/* 1 empty */
	CHECK(ctl__ix_first(&ix, 5, &cur) == NULL);
	CHECK(!ctl__ix_remove(&ix, 5, &a));
	/* 2 one item: found under its hash only; removed once */
	CHECK_INT(ctl__ix_insert(&ix, 5, &a), 0);
	CHECK(ctl__ix_first(&ix, 5, &cur) == &a);
	CHECK(ctl__ix_next(&ix, 5, &cur) == NULL);
	CHECK(ctl__ix_first(&ix, 6, &cur) == NULL);
	CHECK(ctl__ix_first(&ix, 5 + 64, &cur) == NULL); /* same slot, other hash */
	CHECK(ctl__ix_remove(&ix, 5, &a));
	CHECK(!ctl__ix_remove(&ix, 5, &a));
	CHECK(ctl__ix_first(&ix, 5, &cur) == NULL);
	CHECK_INT(ix.used, 0);
	/* 3 three items under one hash, the first removed: the others past its tombstone */
	CHECK_INT(ctl__ix_insert(&ix, 7, &a), 0);
	CHECK_INT(ctl__ix_insert(&ix, 7, &b), 0);
	CHECK_INT(ctl__ix_insert(&ix, 7, &c), 0);
	CHECK(ctl__ix_remove(&ix, 7, &a));
	int seen = 0;
	for (void *it = ctl__ix_first(&ix, 7, &cur); it; it = ctl__ix_next(&ix, 7, &cur))
		seen |= it == &a ? 1 : it == &b ? 2 : it == &c ? 4 : 8;
	CHECK_INT(seen, 6);
	/* 4 an item of a neighbouring hash placed after the run, the run then emptied */
	CHECK_INT(ctl__ix_insert(&ix, 8, &a), 0); /* slot 8 holds c's or b's: a goes further */
	CHECK(ctl__ix_remove(&ix, 7, &b));
	CHECK(ctl__ix_remove(&ix, 7, &c));
	CHECK(ctl__ix_first(&ix, 8, &cur) == &a);
	CHECK(!ctl__ix_remove(&ix, 8, &b)); /* another item under that hash: not there */
	CHECK_INT(ix.used, 1);
	ctl__ix_free(&ix);
	CHECK(ix.slots == NULL && ix.cap == 0);
}

static void table_random(int mode, size_t n_items, size_t keys, size_t ops)
{
	struct item *items = calloc(n_items, sizeof(*items));
	struct ctl__ix ix = { 0 };
	size_t live = 0;
	for (size_t i = 0; i < n_items; i++)
		items[i].key = next_rand() % keys; /* several items share a key */
	for (size_t op = 0; op < ops; op++) {
		struct item *it = &items[next_rand() % n_items];
		uint64_t h = hash_mode(it->key, mode);
		switch (next_rand() % 3) {
		case 0:
			if (!it->in) {
				CHECK_INT(ctl__ix_insert(&ix, h, it), 0);
				it->in = true;
				live++;
			}
			break;
		case 1: /* absent ones too: false, nothing changed */
			CHECK_INT(ctl__ix_remove(&ix, h, it), it->in);
			live -= it->in;
			it->in = false;
			break;
		default: {
			/* the iteration yields exactly the live items under h, once each */
			uint64_t key = next_rand() % keys;
			h = hash_mode(key, mode);
			size_t want = 0, got = 0, cur;
			for (size_t i = 0; i < n_items; i++)
				want += items[i].in && hash_mode(items[i].key, mode) == h;
			for (struct item *x = ctl__ix_first(&ix, h, &cur); x;
			     x = ctl__ix_next(&ix, h, &cur)) {
				CHECK(x->in && hash_mode(x->key, mode) == h);
				got++;
			}
			CHECK_INT(got, want);
		}
		}
		if (ix.used != live) {
			CHECK_INT(ix.used, live);
			break;
		}
	}
	/* every live item found under its own hash; the table at most 3/4 full */
	for (size_t i = 0; i < n_items; i++) {
		size_t cur;
		uint64_t h = hash_mode(items[i].key, mode);
		struct item *x = ctl__ix_first(&ix, h, &cur);
		while (x && x != &items[i])
			x = ctl__ix_next(&ix, h, &cur);
		CHECK((x != NULL) == items[i].in);
	}
	CHECK((ix.used + ix.tombs) * 4 <= ix.cap * 3);
	ctl__ix_free(&ix);
	free(items);
}

static void table_growth(void)
{
	enum { N = 50000 };
	struct ctl__ix ix = { 0 };
	static int items[N];
	for (size_t i = 0; i < N; i++)
		CHECK_INT(ctl__ix_insert(&ix, hash_mode(i, 0), &items[i]), 0);
	CHECK_INT(ix.used, N);
	CHECK(ix.cap >= 2 * N && ix.cap <= 4 * N && (ix.cap & (ix.cap - 1)) == 0);
	size_t missing = 0;
	for (size_t i = 0; i < N; i++) {
		size_t cur;
		int *x = ctl__ix_first(&ix, hash_mode(i, 0), &cur);
		while (x && x != &items[i])
			x = ctl__ix_next(&ix, hash_mode(i, 0), &cur);
		missing += x == NULL;
	}
	CHECK_INT(missing, 0);
	ctl__ix_free(&ix);
	/* churn of few live items: tombstones are dropped, the table does not grow */
	for (size_t i = 0; i < 200000; i++) {
		CHECK_INT(ctl__ix_insert(&ix, hash_mode(i, 0), &items[i % 8]), 0);
		if (i >= 8)
			CHECK(ctl__ix_remove(&ix, hash_mode(i - 8, 0), &items[(i - 8) % 8]));
	}
	CHECK_INT(ix.used, 8);
	CHECK(ix.cap <= 64);
	ctl__ix_free(&ix);
}

/* ---- the registry ---- */

/* What a scan of srv->nodes finds: the first (lowest id) node that fits. */
static struct ctl__node *scan_machine(struct ctl_server *srv, const uint8_t k[32])
{
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (memcmp(srv->nodes[i]->rec.machine_key, k, 32) == 0)
			return srv->nodes[i];
	return NULL;
}

static bool scan_node_key(struct ctl_server *srv, const struct ctl__node *self, const uint8_t k[32])
{
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (srv->nodes[i] != self && memcmp(srv->nodes[i]->rec.node_key, k, 32) == 0)
			return true;
	return false;
}

static bool scan_disco(struct ctl_server *srv, const struct ctl__node *self, const uint8_t k[32])
{
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (srv->nodes[i] != self && srv->nodes[i]->rec.has_disco_key &&
		    memcmp(srv->nodes[i]->rec.disco_key, k, 32) == 0)
			return true;
	return false;
}

static bool scan_name_taken(struct ctl_server *srv, const uint8_t mkey[32], const char *name)
{
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (memcmp(srv->nodes[i]->rec.machine_key, mkey, 32) != 0 &&
		    strcasecmp(srv->nodes[i]->rec.hostname, name) == 0)
			return true;
	return false;
}

static struct ctl__node *scan_hostname(struct ctl_server *srv, const char *name)
{
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (strcmp(srv->nodes[i]->rec.hostname, name) == 0)
			return srv->nodes[i];
	return NULL;
}

static struct ctl__node *scan_ipv4(struct ctl_server *srv, uint32_t a)
{
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (srv->nodes[i]->rec.ipv4 == a)
			return srv->nodes[i];
	return NULL;
}

static struct ctl__node *scan_ipv6(struct ctl_server *srv, const uint8_t a[16])
{
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (memcmp(srv->nodes[i]->rec.ipv6, a, 16) == 0)
			return srv->nodes[i];
	return NULL;
}

static void random_name(char out[CTL_HOSTNAME_MAX])
{
	/* 300 names in two cases: nodes share names, and names differ in case only */
	snprintf(out, CTL_HOSTNAME_MAX, "%s%u", next_rand() % 2 ? "box" : "Box",
		 (unsigned)(next_rand() % 300));
}

/* Every lookup for n's keys, a case-changed name and absent keys against the scans. */
static size_t compare_node(struct ctl_server *srv, const struct ctl__node *n)
{
	size_t bad = 0;
	uint8_t absent[32];
	char upper[CTL_HOSTNAME_MAX];
	randombytes_buf(absent, sizeof(absent));
	snprintf(upper, sizeof(upper), "%s", n->rec.hostname);
	for (char *p = upper; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	bad +=
	    ctl__node_by_machine(srv, n->rec.machine_key) != scan_machine(srv, n->rec.machine_key);
	bad += ctl__node_by_machine(srv, absent) != NULL;
	bad +=
	    ctl__node_key_taken(srv, n, n->rec.node_key) != scan_node_key(srv, n, n->rec.node_key);
	bad += ctl__node_key_taken(srv, NULL, n->rec.node_key) != true;
	bad += ctl__node_key_taken(srv, NULL, absent) != false;
	bad += ctl__disco_taken(srv, n, n->rec.disco_key) != scan_disco(srv, n, n->rec.disco_key);
	bad += ctl__disco_taken(srv, NULL, n->rec.disco_key) !=
	       scan_disco(srv, NULL, n->rec.disco_key);
	bad += ctl__name_taken(srv, n->rec.machine_key, n->rec.hostname) !=
	       scan_name_taken(srv, n->rec.machine_key, n->rec.hostname);
	bad += ctl__name_taken(srv, n->rec.machine_key, upper) !=
	       scan_name_taken(srv, n->rec.machine_key, upper);
	bad += ctl__name_taken(srv, absent, upper) != true;
	bad += ctl__node_by_hostname(srv, n->rec.hostname) != scan_hostname(srv, n->rec.hostname);
	bad += ctl__node_by_hostname(srv, upper) != scan_hostname(srv, upper);
	bad += ctl__node_by_ipv4(srv, n->rec.ipv4) != scan_ipv4(srv, n->rec.ipv4);
	bad += ctl__node_by_ipv6(srv, n->rec.ipv6) != scan_ipv6(srv, n->rec.ipv6);
	bad += ctl__node_by_ipv6(srv, absent) != NULL;
	return bad;
}

static size_t compare_all(struct ctl_server *srv)
{
	size_t bad = 0;
	for (size_t i = 0; i < srv->n_nodes; i++)
		bad += compare_node(srv, srv->nodes[i]);
	return bad;
}

static void registry(void)
{
	enum { ADD = 3000, CHANGE = 1500, DROP = 400 };
	struct ctl_server *srv = fz_srv_open();
	pthread_mutex_lock(&srv->lock);
	CHECK(ctl__nodes_index_check(srv)); /* the two loaded at start */
	int64_t owner = srv->nodes[0]->rec.user_id;
	/* 1 inserted: machine keys of node 3 + 7k shared with the node before (two records
	 * of one machine, as while replicas merge), so lookups must pick the lowest id */
	for (int64_t i = 0; i < ADD; i++) {
		struct ctl_node_rec rec;
		memset(&rec, 0, sizeof(rec));
		rec.id = 3 + i;
		randombytes_buf(rec.machine_key, 32);
		if (i % 7 == 0 && i)
			memcpy(rec.machine_key, ctl__node_by_id(srv, 2 + i)->rec.machine_key, 32);
		randombytes_buf(rec.node_key, 32);
		if (i % 3) {
			randombytes_buf(rec.disco_key, 32);
			rec.has_disco_key = true;
		}
		random_name(rec.hostname);
		rec.user_id = owner;
		rec.ipv4 = 0x64500000u + (uint32_t)i;
		rec.ipv6[0] = 0xfd;
		randombytes_buf(rec.ipv6 + 1, 15);
		CHECK_INT(ctl__node_insert(srv, &rec), 0);
	}
	CHECK_INT(srv->n_nodes, ADD + 2);
	CHECK(ctl__nodes_index_check(srv));
	CHECK_INT(compare_all(srv), 0);
	/* 2 records changed in place, then rendered (as every change of a record is) */
	for (int i = 0; i < CHANGE; i++) {
		struct ctl__node *n = srv->nodes[next_rand() % srv->n_nodes];
		struct ctl__node *o = srv->nodes[next_rand() % srv->n_nodes];
		switch (next_rand() % 5) {
		case 0:
			randombytes_buf(n->rec.node_key, 32);
			break;
		case 1: /* a discovery key taken, given up, or another node's copied */
			n->rec.has_disco_key = !n->rec.has_disco_key;
			if (next_rand() % 2)
				memcpy(n->rec.disco_key, o->rec.disco_key, 32);
			break;
		case 2:
			random_name(n->rec.hostname);
			break;
		case 3: /* another node's address: both hold it for a while */
			n->rec.ipv4 = o->rec.ipv4;
			break;
		default:
			memcpy(n->rec.node_key, o->rec.node_key, 32);
		}
		CHECK_INT(ctl__node_render(srv, n), 0);
	}
	CHECK(ctl__nodes_index_check(srv));
	CHECK_INT(compare_all(srv), 0);
	/* 3 removed (none of them is in the store: dropped from memory all the same; the
	 * topology refuses the names listed twice, so the map after it fails, logged) */
	int64_t ids[DROP];
	for (int i = 0; i < DROP; i++)
		ids[i] = 3 + 7 * i;
	ctl__nodes_remove(srv, ids, DROP);
	CHECK_INT(srv->n_nodes, ADD + 2 - DROP);
	CHECK(ctl__node_by_id(srv, 3) == NULL);
	CHECK(ctl__nodes_index_check(srv));
	CHECK_INT(compare_all(srv), 0);
	/* 4 an index broken by an insert that ran out of memory: the lookups scan, and the
	 * next published map indexes every node again */
	ctl__ix_free(&srv->node_ix[CTL__IX_MACHINE]);
	srv->ix_broken = true;
	CHECK(!ctl__nodes_index_check(srv));
	CHECK_INT(compare_all(srv), 0);
	ctl__map_published(srv);
	CHECK(!srv->ix_broken);
	CHECK(ctl__nodes_index_check(srv));
	CHECK_INT(compare_all(srv), 0);
	pthread_mutex_unlock(&srv->lock);
	fz_srv_close(srv);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	table_cases();
	table_random(0, 4000, 1000, 60000);
	table_random(1, 4000, 1000, 30000);
	table_random(2, 1500, 400, 20000);
	table_growth();
	registry();
	return check_finish();
}
