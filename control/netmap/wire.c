/* The node protocol envelope: crypto_box requests from the machine key to the server key
 * with a timestamp, responses bound to the request nonce, and the server's replay cache.
 * See wire.h for the layout and docs/control-protocol.md for the reasoning. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "control/netmap/wire.h"

/* ---- precomputed shared keys ----
 * X25519 is most of sealing a map delta: 367k of the 470k instructions a policy change's
 * answer to one node cost (callgrind, control-scale at 1 000 nodes), every time, for a pair
 * of keys that never changes.  crypto_box_beforenm's key is kept per pair in a fixed table
 * of sets of WIRE_WAYS entries (the least recently used of a full set is replaced), found
 * by a BLAKE2b tag of both keys, never by the private key itself.  meshcontrol keeps one per
 * node (its poll's open and its answer's seal use the same pair); a table of 16 384 single
 * entries kept ~7 500 of 10 000 nodes' (the rest collided and evicted each other at every
 * message: an X25519 each time); sets of 8 in 65 536 keep them all.  Bounded whoever sends:
 * churning it with fresh key pairs costs us what every message cost before (one X25519).
 * meshcontrol's workers seal in parallel: a mutex, held for the lookup only.  An open keeps
 * a key only once a box authenticated with it.  The shared keys are secrets: an entry
 * replaced is wiped first, and every entry at exit (atexit, registered with the first) or by
 * ctl_wire_keys_forget, which wipes only the sets used (wire_sets_used: a process that
 * sealed once does not touch the whole table's pages at exit). */
enum { WIRE_KEYS = 65536, WIRE_WAYS = 8, WIRE_SETS = WIRE_KEYS / WIRE_WAYS };

struct wire_key {
	uint8_t tag[crypto_generichash_BYTES];
	uint8_t k[crypto_box_BEFORENMBYTES];
	uint64_t used; /* 0: empty; else when last used (wire_clock) */
};

static struct wire_key wire_keys[WIRE_KEYS];
static uint64_t wire_sets_used[WIRE_SETS / 64]; /* a bit per set that holds or held a key */
static uint64_t wire_clock, wire_made;
static pthread_mutex_t wire_keys_lock = PTHREAD_MUTEX_INITIALIZER;

static void pair_tag(const uint8_t pub[static 32], const uint8_t priv[static 32],
		     uint8_t tag[static crypto_generichash_BYTES])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES);
	crypto_generichash_update(&st, pub, 32);
	crypto_generichash_update(&st, priv, 32);
	crypto_generichash_final(&st, tag, crypto_generichash_BYTES);
}

/* The first entry of tag's set. */
static struct wire_key *key_set(const uint8_t *tag)
{
	size_t set = (tag[0] | (size_t)tag[1] << 8 | (size_t)tag[2] << 16) % WIRE_SETS;
	return &wire_keys[set * WIRE_WAYS];
}

/* tag's entry in its set, or NULL; the lock is held */
static struct wire_key *key_in_set(struct wire_key *set, const uint8_t *tag)
{
	for (size_t i = 0; i < WIRE_WAYS; i++)
		if (set[i].used && sodium_memcmp(set[i].tag, tag, sizeof(set[i].tag)) == 0)
			return &set[i];
	return NULL;
}

/* The kept key of tag into k: true, or false when it is not kept. */
static bool keys_find(const uint8_t *tag, uint8_t k[static crypto_box_BEFORENMBYTES])
{
	pthread_mutex_lock(&wire_keys_lock);
	struct wire_key *w = key_in_set(key_set(tag), tag);
	if (w) {
		memcpy(k, w->k, crypto_box_BEFORENMBYTES);
		w->used = ++wire_clock;
	}
	pthread_mutex_unlock(&wire_keys_lock);
	return w != NULL;
}

size_t ctl_wire_keys_forget(void)
{
	size_t n = 0;
	pthread_mutex_lock(&wire_keys_lock);
	for (size_t w = 0; w < WIRE_SETS / 64; w++)
		for (size_t b = 0; wire_sets_used[w] && b < 64; b++) {
			struct wire_key *set = &wire_keys[(w * 64 + b) * WIRE_WAYS];
			if (!(wire_sets_used[w] >> b & 1))
				continue;
			for (size_t i = 0; i < WIRE_WAYS; i++)
				n += set[i].used != 0;
			sodium_memzero(set, WIRE_WAYS * sizeof(*set));
		}
	memset(wire_sets_used, 0, sizeof(wire_sets_used));
	pthread_mutex_unlock(&wire_keys_lock);
	return n;
}

uint64_t ctl_wire_keys_made(void)
{
	pthread_mutex_lock(&wire_keys_lock);
	uint64_t n = wire_made;
	pthread_mutex_unlock(&wire_keys_lock);
	return n;
}

static void keys_forget_at_exit(void)
{
	ctl_wire_keys_forget();
}

static void keys_at_exit(void)
{
	atexit(keys_forget_at_exit);
}

static void keys_put(const uint8_t *tag, const uint8_t k[static crypto_box_BEFORENMBYTES])
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, keys_at_exit);
	pthread_mutex_lock(&wire_keys_lock);
	struct wire_key *set = key_set(tag), *w = key_in_set(set, tag);
	if (!w) { /* an empty entry, or else the least recently used */
		w = &set[0];
		for (size_t i = 0; i < WIRE_WAYS; i++) {
			if (!set[i].used) {
				w = &set[i];
				break;
			}
			if (set[i].used < w->used)
				w = &set[i];
		}
	}
	sodium_memzero(w, sizeof(*w)); /* what it held is wiped, not kept */
	memcpy(w->tag, tag, sizeof(w->tag));
	memcpy(w->k, k, crypto_box_BEFORENMBYTES);
	w->used = ++wire_clock;
	wire_made++;
	size_t s = (size_t)(set - wire_keys) / WIRE_WAYS;
	wire_sets_used[s / 64] |= (uint64_t)1 << (s % 64);
	pthread_mutex_unlock(&wire_keys_lock);
}

/* crypto_box_easy with the pair's kept key (made and kept on a miss): 0 or -1. */
static int box_seal(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *nonce,
		    const uint8_t pub[static 32], const uint8_t priv[static 32])
{
	uint8_t tag[crypto_generichash_BYTES], k[crypto_box_BEFORENMBYTES];
	pair_tag(pub, priv, tag);
	int rc = 0;
	if (!keys_find(tag, k)) {
		rc = crypto_box_beforenm(k, pub, priv);
		if (!rc)
			keys_put(tag, k);
	}
	if (!rc)
		rc = crypto_box_easy_afternm(c, m, mlen, nonce, k);
	sodium_memzero(k, sizeof(k));
	return rc;
}

/* crypto_box_open_easy likewise; the key is kept once the box authenticated: 0 or -1. */
static int box_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *nonce,
		    const uint8_t pub[static 32], const uint8_t priv[static 32])
{
	uint8_t tag[crypto_generichash_BYTES], k[crypto_box_BEFORENMBYTES];
	pair_tag(pub, priv, tag);
	bool kept = keys_find(tag, k);
	int rc = kept ? 0 : crypto_box_beforenm(k, pub, priv);
	if (!rc)
		rc = crypto_box_open_easy_afternm(m, c, clen, nonce, k);
	if (!rc && !kept)
		keys_put(tag, k);
	sodium_memzero(k, sizeof(k));
	return rc;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

int ctl_wire_seal_request(const uint8_t server_pub[static 32], const uint8_t machine_pub[static 32],
			  const uint8_t machine_priv[static 32], uint64_t now_ms, const char *json,
			  size_t len, uint8_t **out, size_t *outlen,
			  uint8_t nonce_out[static CTL_WIRE_NONCE_LEN])
{
	size_t plen = CTL_WIRE_TS_LEN + len;
	size_t total = CTL_WIRE_REQ_HDR + CTL_WIRE_MAC_LEN + plen;
	uint8_t *plain = malloc(plen), *buf = malloc(total);
	if (!plain || !buf) {
		free(plain);
		free(buf);
		return -ENOMEM;
	}
	put_be64(plain, now_ms);
	memcpy(plain + CTL_WIRE_TS_LEN, json, len);
	memcpy(buf, CTL_WIRE_MAGIC, CTL_WIRE_MAGIC_LEN);
	memcpy(buf + CTL_WIRE_MAGIC_LEN, machine_pub, 32);
	randombytes_buf(nonce_out, CTL_WIRE_NONCE_LEN);
	memcpy(buf + CTL_WIRE_MAGIC_LEN + 32, nonce_out, CTL_WIRE_NONCE_LEN);
	int rc = box_seal(buf + CTL_WIRE_REQ_HDR, plain, plen, nonce_out, server_pub, machine_priv);
	sodium_memzero(plain, plen);
	free(plain);
	if (rc != 0) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*outlen = total;
	return 0;
}

bool ctl_wire_peek_request(const uint8_t *body, size_t len, const uint8_t **machine_pub,
			   const char **why)
{
	if (len > CTL_WIRE_MAX_BODY) {
		*why = "request body is larger than 4 MiB";
		return false;
	}
	if (len < CTL_WIRE_MAGIC_LEN || memcmp(body, CTL_WIRE_MAGIC, CTL_WIRE_MAGIC_LEN) != 0) {
		*why = "request body does not start with the MSH1 envelope magic";
		return false;
	}
	if (len < CTL_WIRE_REQ_HDR + CTL_WIRE_MAC_LEN + CTL_WIRE_TS_LEN) {
		*why = "request envelope is truncated";
		return false;
	}
	*machine_pub = body + CTL_WIRE_MAGIC_LEN;
	return true;
}

bool ctl_wire_open_request(const uint8_t server_priv[static 32], const uint8_t *body, size_t len,
			   uint8_t machine_pub[static 32], uint8_t nonce[static CTL_WIRE_NONCE_LEN],
			   uint64_t *ts_ms, char **plain, size_t *plainlen, const char **why)
{
	const uint8_t *mpub;
	if (!ctl_wire_peek_request(body, len, &mpub, why))
		return false;
	size_t clen = len - CTL_WIRE_REQ_HDR;
	size_t plen = clen - CTL_WIRE_MAC_LEN;
	uint8_t *p = malloc(plen + 1);
	if (!p) {
		*why = "out of memory";
		return false;
	}
	memcpy(machine_pub, mpub, 32);
	memcpy(nonce, body + CTL_WIRE_MAGIC_LEN + 32, CTL_WIRE_NONCE_LEN);
	if (box_open(p, body + CTL_WIRE_REQ_HDR, clen, nonce, machine_pub, server_priv) != 0) {
		free(p);
		*why = "request does not authenticate with its machine key";
		return false;
	}
	*ts_ms = get_be64(p);
	plen -= CTL_WIRE_TS_LEN;
	memmove(p, p + CTL_WIRE_TS_LEN, plen);
	p[plen] = '\0';
	*plain = (char *)p;
	*plainlen = plen;
	return true;
}

int ctl_wire_seal_response(const uint8_t machine_pub[static 32],
			   const uint8_t server_priv[static 32],
			   const uint8_t req_nonce[static CTL_WIRE_NONCE_LEN], const char *json,
			   size_t len, uint8_t **out, size_t *outlen)
{
	size_t plen = CTL_WIRE_NONCE_LEN + len;
	size_t total = CTL_WIRE_NONCE_LEN + CTL_WIRE_MAC_LEN + plen;
	uint8_t *plain = malloc(plen), *buf = malloc(total);
	if (!plain || !buf) {
		free(plain);
		free(buf);
		return -ENOMEM;
	}
	memcpy(plain, req_nonce, CTL_WIRE_NONCE_LEN);
	memcpy(plain + CTL_WIRE_NONCE_LEN, json, len);
	randombytes_buf(buf, CTL_WIRE_NONCE_LEN);
	int rc = box_seal(buf + CTL_WIRE_NONCE_LEN, plain, plen, buf, machine_pub, server_priv);
	free(plain);
	if (rc != 0) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*outlen = total;
	return 0;
}

bool ctl_wire_open_response(const uint8_t server_pub[static 32],
			    const uint8_t machine_priv[static 32],
			    const uint8_t req_nonce[static CTL_WIRE_NONCE_LEN], const uint8_t *body,
			    size_t len, char **plain, size_t *plainlen, const char **why)
{
	if (len < CTL_WIRE_NONCE_LEN + CTL_WIRE_MAC_LEN + CTL_WIRE_NONCE_LEN) {
		*why = "response is truncated";
		return false;
	}
	size_t clen = len - CTL_WIRE_NONCE_LEN;
	size_t plen = clen - CTL_WIRE_MAC_LEN;
	uint8_t *p = malloc(plen + 1);
	if (!p) {
		*why = "out of memory";
		return false;
	}
	if (box_open(p, body + CTL_WIRE_NONCE_LEN, clen, body, server_pub, machine_priv) != 0) {
		free(p);
		*why = "response does not authenticate with the pinned server key";
		return false;
	}
	if (sodium_memcmp(p, req_nonce, CTL_WIRE_NONCE_LEN) != 0) {
		free(p);
		*why = "response answers a different request";
		return false;
	}
	plen -= CTL_WIRE_NONCE_LEN;
	memmove(p, p + CTL_WIRE_NONCE_LEN, plen);
	p[plen] = '\0';
	*plain = (char *)p;
	*plainlen = plen;
	return true;
}

/* Open addressing on the nonce's first 8 bytes (random, so already a good hash).  Entries
 * older than twice the skew window are dropped when the table is rebuilt. */
struct replay_slot {
	uint8_t nonce[CTL_WIRE_NONCE_LEN];
	uint64_t ts_ms; /* 0 = empty */
};

struct ctl_replay {
	struct replay_slot *slots;
	size_t cap, used;
};

int ctl_replay_new(struct ctl_replay **out)
{
	struct ctl_replay *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cap = 1024;
	r->slots = calloc(r->cap, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void ctl_replay_free(struct ctl_replay *r)
{
	if (!r)
		return;
	free(r->slots);
	free(r);
}

static size_t slot_of(const struct ctl_replay *r, const uint8_t *nonce)
{
	uint64_t h;
	memcpy(&h, nonce, sizeof(h));
	return (size_t)(h & (r->cap - 1));
}

static void replay_insert(struct ctl_replay *r, const uint8_t *nonce, uint64_t ts)
{
	size_t i = slot_of(r, nonce);
	while (r->slots[i].ts_ms)
		i = (i + 1) & (r->cap - 1);
	memcpy(r->slots[i].nonce, nonce, CTL_WIRE_NONCE_LEN);
	r->slots[i].ts_ms = ts ? ts : 1;
	r->used++;
}

static int replay_rebuild(struct ctl_replay *r, uint64_t now_ms)
{
	struct replay_slot *old = r->slots;
	size_t oldcap = r->cap, live = 0;
	uint64_t horizon =
	    now_ms > 2 * CTL_WIRE_MAX_SKEW_MS ? now_ms - 2 * CTL_WIRE_MAX_SKEW_MS : 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].ts_ms && old[i].ts_ms >= horizon)
			live++;
	size_t cap = 1024;
	while (cap < live * 4)
		cap <<= 1;
	struct replay_slot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	r->slots = slots;
	r->cap = cap;
	r->used = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].ts_ms && old[i].ts_ms >= horizon)
			replay_insert(r, old[i].nonce, old[i].ts_ms);
	free(old);
	return 0;
}

bool ctl_replay_check(struct ctl_replay *r, const uint8_t nonce[static CTL_WIRE_NONCE_LEN],
		      uint64_t ts_ms, uint64_t now_ms, const char **why)
{
	if (ts_ms + CTL_WIRE_MAX_SKEW_MS < now_ms || ts_ms > now_ms + CTL_WIRE_MAX_SKEW_MS) {
		*why = "request timestamp is more than 120 s away from the server's clock";
		return false;
	}
	for (size_t i = slot_of(r, nonce); r->slots[i].ts_ms; i = (i + 1) & (r->cap - 1)) {
		if (memcmp(r->slots[i].nonce, nonce, CTL_WIRE_NONCE_LEN) == 0) {
			*why = "request nonce was already used (replay)";
			return false;
		}
	}
	if ((r->used + 1) * 2 > r->cap && replay_rebuild(r, now_ms) != 0) {
		*why = "out of memory";
		return false;
	}
	replay_insert(r, nonce, ts_ms);
	return true;
}
