/* The node protocol envelope: crypto_box requests from the machine key to the server key
 * with a timestamp, responses bound to the request nonce, and the server's replay cache.
 * See wire.h for the layout and docs/control-protocol.md for the reasoning. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "control/netmap/wire.h"

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
	int rc = crypto_box_easy(buf + CTL_WIRE_REQ_HDR, plain, plen, nonce_out, server_pub,
				 machine_priv);
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
	if (crypto_box_open_easy(p, body + CTL_WIRE_REQ_HDR, clen, nonce, machine_pub,
				 server_priv) != 0) {
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
	int rc =
	    crypto_box_easy(buf + CTL_WIRE_NONCE_LEN, plain, plen, buf, machine_pub, server_priv);
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
	if (crypto_box_open_easy(p, body + CTL_WIRE_NONCE_LEN, clen, body, server_pub,
				 machine_priv) != 0) {
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
