/* The AllowedIPs trie against a deliberately naive reference (a list scanned linearly for
 * the longest matching prefix): 100 rounds of 1 000 random IPv4/IPv6 prefixes drawn from a
 * few clustered networks (so prefixes nest and collide) and 1 000 lookups each, 100 000
 * of both in total; removal of peers and the per-peer walk are checked the same way.
 * Then a numbered table of edge cases (/0, /32, /128, re-owning a prefix). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wg/internal.h"

enum { ROUNDS = 100, PREFIXES = 1000, LOOKUPS = 1000, PEERS = 16 };

struct ref {
	int family;
	uint8_t addr[16];
	uint8_t cidr;
	int peer;
};

static struct ref refs[PREFIXES];
static size_t n_refs;
static uint64_t rng_state = 0x1234567887654321ULL;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static struct wg__peer *peer_ptr(int i)
{
	return (struct wg__peer *)(uintptr_t)(0x1000 * (i + 1));
}

static void mask(uint8_t *a, int bytes, unsigned int cidr)
{
	for (int i = 0; i < bytes; i++) {
		int keep = (int)cidr - 8 * i;
		if (keep <= 0)
			a[i] = 0;
		else if (keep < 8)
			a[i] &= (uint8_t)(0xff << (8 - keep));
	}
}

static bool prefix_match(const struct ref *r, const uint8_t *addr)
{
	uint8_t a[16];
	int bytes = r->family == AF_INET ? 4 : 16;
	memcpy(a, addr, (size_t)bytes);
	mask(a, bytes, r->cidr);
	return memcmp(a, r->addr, (size_t)bytes) == 0;
}

static int ref_lookup(int family, const uint8_t *addr)
{
	int best = -1, best_cidr = -1;
	for (size_t i = 0; i < n_refs; i++)
		if (refs[i].family == family && refs[i].peer >= 0 && refs[i].cidr > best_cidr &&
		    prefix_match(&refs[i], addr)) {
			best = refs[i].peer;
			best_cidr = refs[i].cidr;
		}
	return best;
}

static void ref_insert(int family, const uint8_t *addr, uint8_t cidr, int peer)
{
	int bytes = family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < n_refs; i++)
		if (refs[i].family == family && refs[i].cidr == cidr &&
		    memcmp(refs[i].addr, addr, (size_t)bytes) == 0) {
			refs[i].peer = peer;
			return;
		}
	refs[n_refs] = (struct ref){ .family = family, .cidr = cidr, .peer = peer };
	memcpy(refs[n_refs].addr, addr, (size_t)bytes);
	n_refs++;
}

static uint8_t nets[8][16];

static void random_addr(int family, uint8_t *a)
{
	int bytes = family == AF_INET ? 4 : 16;
	memcpy(a, nets[rnd() % 8], 16);
	/* keep a random-length cluster prefix, randomize the rest */
	int keep = (int)(rnd() % (unsigned int)(bytes + 1));
	for (int i = keep; i < bytes; i++)
		a[i] = (uint8_t)rnd();
}

static int peer_index(struct wg__peer *p)
{
	return p ? (int)((uintptr_t)p / 0x1000) - 1 : -1;
}

static void random_rounds(void)
{
	long lookups = 0, prefixes = 0, mismatches = 0;
	for (int round = 0; round < ROUNDS; round++) {
		struct wg__allowedips t = { 0 };
		n_refs = 0;
		for (int i = 0; i < 8; i++)
			for (int j = 0; j < 16; j++)
				nets[i][j] = (uint8_t)rnd();
		for (int i = 0; i < PREFIXES; i++) {
			int family = rnd() % 2 ? AF_INET : AF_INET6;
			unsigned int maxbits = family == AF_INET ? 32 : 128;
			uint8_t a[16] = { 0 };
			uint8_t cidr = (uint8_t)(rnd() % (maxbits + 1));
			int peer = (int)(rnd() % PEERS);
			random_addr(family, a);
			mask(a, family == AF_INET ? 4 : 16, cidr);
			CHECK_INT(wg__aip_insert(&t, family, a, cidr, peer_ptr(peer)), 0);
			ref_insert(family, a, cidr, peer);
			prefixes++;
		}
		for (int i = 0; i < LOOKUPS; i++) {
			int family = rnd() % 2 ? AF_INET : AF_INET6;
			uint8_t a[16] = { 0 };
			random_addr(family, a);
			int want = ref_lookup(family, a);
			int got = peer_index(wg__aip_lookup(&t, family, a));
			lookups++;
			if (got != want && mismatches++ < 5)
				fprintf(stderr, "round %d lookup %d: got %d want %d\n", round, i,
					got, want);
		}
		/* remove two peers, then compare again, including the per-peer counts */
		for (int k = 0; k < 2; k++) {
			int victim = (int)(rnd() % PEERS);
			wg__aip_remove_peer(&t, peer_ptr(victim));
			for (size_t i = 0; i < n_refs; i++)
				if (refs[i].peer == victim)
					refs[i].peer = -1;
		}
		for (int p = 0; p < PEERS; p++) {
			size_t want = 0;
			for (size_t i = 0; i < n_refs; i++)
				want += refs[i].peer == p;
			if (wg__aip_walk_peer(&t, peer_ptr(p), NULL, NULL) != want)
				mismatches++;
		}
		for (int i = 0; i < LOOKUPS / 4; i++) {
			int family = rnd() % 2 ? AF_INET : AF_INET6;
			uint8_t a[16] = { 0 };
			random_addr(family, a);
			if (peer_index(wg__aip_lookup(&t, family, a)) != ref_lookup(family, a))
				mismatches++;
		}
		wg__aip_free(&t);
	}
	fprintf(stderr, "%ld prefixes, %ld lookups, %ld mismatches\n", prefixes, lookups,
		mismatches);
	CHECK(prefixes >= 100000 && lookups >= 100000);
	CHECK_INT(mismatches, 0);
}

static void edge_cases(void)
{
	struct wg__allowedips t = { 0 };
	uint8_t a[16];
	struct wg__peer *p1 = peer_ptr(1), *p2 = peer_ptr(2), *p3 = peer_ptr(3);

	/* 1: empty trie */
	inet_pton(AF_INET, "10.0.0.1", a);
	CHECK(wg__aip_lookup(&t, AF_INET, a) == NULL);
	/* 2: /0 catches everything of its family only */
	uint8_t zero[16] = { 0 };
	CHECK_INT(wg__aip_insert(&t, AF_INET, zero, 0, p1), 0);
	CHECK(wg__aip_lookup(&t, AF_INET, a) == p1);
	inet_pton(AF_INET6, "fd00::1", a);
	CHECK(wg__aip_lookup(&t, AF_INET6, a) == NULL);
	/* 3: a /32 beats the /0 */
	inet_pton(AF_INET, "10.0.0.1", a);
	CHECK_INT(wg__aip_insert(&t, AF_INET, a, 32, p2), 0);
	CHECK(wg__aip_lookup(&t, AF_INET, a) == p2);
	inet_pton(AF_INET, "10.0.0.2", a);
	CHECK(wg__aip_lookup(&t, AF_INET, a) == p1);
	/* 4: host bits of the inserted address are ignored */
	inet_pton(AF_INET, "192.168.7.77", a);
	CHECK_INT(wg__aip_insert(&t, AF_INET, a, 24, p3), 0);
	inet_pton(AF_INET, "192.168.7.1", a);
	CHECK(wg__aip_lookup(&t, AF_INET, a) == p3);
	/* 5: re-inserting a prefix moves it to the new peer */
	CHECK_INT(wg__aip_insert(&t, AF_INET, a, 24, p2), 0);
	CHECK(wg__aip_lookup(&t, AF_INET, a) == p2);
	CHECK_INT(wg__aip_walk_peer(&t, p3, NULL, NULL), 0);
	/* 6: /128 and bad cidrs */
	inet_pton(AF_INET6, "fd7a:115c:a1e0::1", a);
	CHECK_INT(wg__aip_insert(&t, AF_INET6, a, 128, p3), 0);
	CHECK(wg__aip_lookup(&t, AF_INET6, a) == p3);
	a[15] ^= 1;
	CHECK(wg__aip_lookup(&t, AF_INET6, a) == NULL);
	CHECK_INT(wg__aip_insert(&t, AF_INET6, a, 129, p3), -EINVAL);
	CHECK_INT(wg__aip_insert(&t, AF_INET, a, 33, p3), -EINVAL);
	CHECK_INT(wg__aip_insert(&t, AF_UNIX, a, 1, p3), -EINVAL);
	/* 7: removing p1 keeps the others */
	wg__aip_remove_peer(&t, p1);
	inet_pton(AF_INET, "10.0.0.1", a);
	CHECK(wg__aip_lookup(&t, AF_INET, a) == p2);
	inet_pton(AF_INET, "10.0.0.2", a);
	CHECK(wg__aip_lookup(&t, AF_INET, a) == NULL);
	CHECK_INT(wg__aip_walk_peer(&t, p2, NULL, NULL), 2);
	wg__aip_free(&t);
	CHECK(t.root4 == NULL && t.root6 == NULL);
}

int main(void)
{
	edge_cases();
	random_rounds();
	return check_finish();
}
