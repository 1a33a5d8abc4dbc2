/* The node protocol envelope: round trips, every refusal with its message, the replay
 * cache's window and its growth, the kept shared keys forgotten. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control/netmap/wire.h"

/* A request from machine (mpub, mpriv) to server (spub, spriv) opens with spriv, not with
 * another server's wrong_priv. */
static void request_pair(const uint8_t *spub, const uint8_t *spriv, const uint8_t *mpub,
			 const uint8_t *mpriv, const uint8_t *wrong_priv)
{
	uint8_t *body, nonce[24], got_m[32], got_n[24];
	size_t len, plen;
	char *plain;
	const char *why;
	uint64_t ts;
	CHECK_INT(ctl_wire_seal_request(spub, mpub, mpriv, 1, "{}", 2, &body, &len, nonce), 0);
	CHECK(ctl_wire_open_request(spriv, body, len, got_m, got_n, &ts, &plain, &plen, &why));
	free(plain);
	CHECK_MEM(got_m, mpub, 32);
	CHECK(
	    !ctl_wire_open_request(wrong_priv, body, len, got_m, got_n, &ts, &plain, &plen, &why));
	free(body);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	uint8_t spub[32], spriv[32], mpub[32], mpriv[32], opub[32], opriv[32];
	/* fixed keys: the cache's slots (a hash of both keys) are then the same every run, and
	 * the seal's and the open's pairs are known to land in different ones */
	uint8_t seed[crypto_box_SEEDBYTES] = { 1 };
	crypto_box_seed_keypair(spub, spriv, seed);
	seed[0] = 2;
	crypto_box_seed_keypair(mpub, mpriv, seed);
	crypto_box_keypair(opub, opriv);
	const char *json = "{\"since\":0}", *why = NULL;
	uint8_t *body, nonce[24], got_m[32], got_n[24];
	size_t len, plen;
	char *plain;
	uint64_t ts;
	CHECK_INT(ctl_wire_seal_request(spub, mpub, mpriv, 1700000000000ull, json, strlen(json),
					&body, &len, nonce),
		  0);
	CHECK(ctl_wire_open_request(spriv, body, len, got_m, got_n, &ts, &plain, &plen, &why));
	CHECK_STR(plain, json);
	CHECK_INT(plen, strlen(json));
	CHECK_MEM(got_m, mpub, 32);
	CHECK_MEM(got_n, nonce, 24);
	CHECK_INT(ts, 1700000000000ull);
	/* both sides' keys are kept (the seal's and the open's pair tags differ); forgetting
	 * wipes them, and what is not kept is made again */
	CHECK_INT(ctl_wire_keys_forget(), 2);
	CHECK_INT(ctl_wire_keys_forget(), 0);
	free(plain);
	CHECK(ctl_wire_open_request(spriv, body, len, got_m, got_n, &ts, &plain, &plen, &why));
	CHECK_INT(ctl_wire_keys_forget(), 1);
	free(plain);

	/* sealed to another server key: does not authenticate */
	CHECK(!ctl_wire_open_request(opriv, body, len, got_m, got_n, &ts, &plain, &plen, &why));
	CHECK_STR(why, "request does not authenticate with its machine key");
	/* a claimed machine key that is not the sender's */
	memcpy(body + 4, opub, 32);
	CHECK(!ctl_wire_open_request(spriv, body, len, got_m, got_n, &ts, &plain, &plen, &why));
	memcpy(body + 4, mpub, 32);
	body[len - 1] ^= 1;
	CHECK(!ctl_wire_open_request(spriv, body, len, got_m, got_n, &ts, &plain, &plen, &why));
	CHECK(!ctl_wire_open_request(spriv, body, 70, got_m, got_n, &ts, &plain, &plen, &why));
	CHECK_STR(why, "request envelope is truncated");
	body[0] = 'X';
	CHECK(!ctl_wire_open_request(spriv, body, len, got_m, got_n, &ts, &plain, &plen, &why));
	CHECK_STR(why, "request body does not start with the MSH1 envelope magic");
	free(body);

	/* responses answer exactly one request and only from the pinned server key */
	uint8_t other_nonce[24] = { 1 };
	CHECK_INT(ctl_wire_seal_response(mpub, spriv, nonce, "{\"ok\":1}", 8, &body, &len), 0);
	CHECK(ctl_wire_open_response(spub, mpriv, nonce, body, len, &plain, &plen, &why));
	CHECK_STR(plain, "{\"ok\":1}");
	free(plain);
	CHECK(!ctl_wire_open_response(spub, mpriv, other_nonce, body, len, &plain, &plen, &why));
	CHECK_STR(why, "response answers a different request");
	CHECK(!ctl_wire_open_response(opub, mpriv, nonce, body, len, &plain, &plen, &why));
	CHECK_STR(why, "response does not authenticate with the pinned server key");
	CHECK(!ctl_wire_open_response(spub, mpriv, nonce, body, 40, &plain, &plen, &why));
	CHECK_STR(why, "response is truncated");
	free(body);

	/* the kept shared keys (wire.c): a pair's second message uses the kept key; the same
	 * machine key with another server key (and the other way round) is another pair */
	for (int round = 0; round < 2; round++) {
		CHECK_INT(ctl_wire_seal_response(mpub, spriv, nonce, "{\"r\":1}", 7, &body, &len),
			  0);
		CHECK(ctl_wire_open_response(spub, mpriv, nonce, body, len, &plain, &plen, &why));
		free(plain);
		free(body);
		CHECK_INT(ctl_wire_seal_response(mpub, opriv, nonce, "{\"r\":2}", 7, &body, &len),
			  0);
		CHECK(ctl_wire_open_response(opub, mpriv, nonce, body, len, &plain, &plen, &why));
		free(plain);
		CHECK(!ctl_wire_open_response(spub, mpriv, nonce, body, len, &plain, &plen, &why));
		free(body);
		request_pair(opub, opriv, mpub, mpriv, spriv);
		request_pair(spub, spriv, opub, opriv, opriv);
	}

	/* replay cache: fresh once, refused twice, window edges, growth past its start size */
	struct ctl_replay *r;
	CHECK_INT(ctl_replay_new(&r), 0);
	uint64_t now = 10000000;
	CHECK(ctl_replay_check(r, nonce, now, now, &why));
	CHECK(!ctl_replay_check(r, nonce, now, now, &why));
	CHECK_STR(why, "request nonce was already used (replay)");
	CHECK(!ctl_replay_check(r, other_nonce, now - CTL_WIRE_MAX_SKEW_MS - 1, now, &why));
	CHECK_STR(why, "request timestamp is more than 120 s away from the server's clock");
	CHECK(!ctl_replay_check(r, other_nonce, now + CTL_WIRE_MAX_SKEW_MS + 1, now, &why));
	CHECK(ctl_replay_check(r, other_nonce, now - CTL_WIRE_MAX_SKEW_MS, now, &why));
	uint8_t many[24];
	int fresh = 0;
	for (int i = 0; i < 5000; i++) {
		randombytes_buf(many, sizeof(many));
		fresh += ctl_replay_check(r, many, now, now, &why);
	}
	CHECK_INT(fresh, 5000);
	CHECK(!ctl_replay_check(r, many, now, now, &why));
	CHECK(!ctl_replay_check(r, nonce, now, now, &why));
	ctl_replay_free(r);

	/* the kept keys of 10 000 nodes (meshcontrol at #21's scale): all but a few stay kept.
	 * A table of single entries indexed like the sets kept ~7 500 (collisions evicted each
	 * other, and each of those nodes cost an X25519 at every message). */
	ctl_wire_keys_forget();
	static uint8_t npub[10000][32];
	for (int i = 0; i < 10000; i++) {
		uint8_t npriv[32];
		memset(seed, 0, sizeof(seed));
		memcpy(seed + 1, &i, sizeof(i));
		seed[0] = 9;
		crypto_box_seed_keypair(npub[i], npriv, seed);
	}
	/* each made once, then a second round (every node answered in turn, as after a policy
	 * change) finds them: the old table made ~2 500 again, each an X25519 */
	for (int round = 0; round < 2; round++) {
		uint64_t made = ctl_wire_keys_made();
		for (int i = 0; i < 10000; i++) {
			CHECK_INT(
			    ctl_wire_seal_response(npub[i], spriv, nonce, "{}", 2, &body, &len), 0);
			free(body);
		}
		made = ctl_wire_keys_made() - made;
		if (round == 0)
			CHECK_INT(made, 10000);
		else
			CHECK(made <= 50);
	}
	size_t kept = ctl_wire_keys_forget();
	CHECK(kept >= 9950 && kept <= 10000);
	return check_finish();
}
