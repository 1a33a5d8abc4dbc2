/* The WireGuard handshake through our Noise code against known answers produced by an
 * independent reference (noise_vector.py: hashlib + libsodium, written from the paper):
 * every byte of the initiation and response (mac1 included), the transport keys and the
 * first data message, for WireGuard's prologue with no PSK and for another prologue with
 * a PSK.  Then the negative cases: mismatched prologue, replayed or flooding initiation,
 * tampered messages, wrong state. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "noise_vectors.h"
#include "wg/crypto.h"
#include "wg/internal.h"

struct side {
	struct wg__static_identity id;
	struct wg__handshake hs;
	struct wg__cookie_maker maker;
};

static struct wg__handshake *lookup(void *ctx, const uint8_t pub[static 32])
{
	struct side *s = ctx;
	return memcmp(pub, s->hs.remote_static, 32) == 0 ? &s->hs : NULL;
}

static void seq(uint8_t *out, int start)
{
	for (int i = 0; i < 32; i++)
		out[i] = (uint8_t)(start + i);
}

static void setup(struct side *i, struct side *r, const char *prologue, const uint8_t *psk)
{
	uint8_t si[32], sr[32];
	seq(si, 1);
	seq(sr, 33);
	memset(i, 0, sizeof(*i));
	memset(r, 0, sizeof(*r));
	wg__noise_identity_init(&i->id, si, (const uint8_t *)prologue, strlen(prologue));
	wg__noise_identity_init(&r->id, sr, (const uint8_t *)prologue, strlen(prologue));
	CHECK(wg__noise_handshake_init(&i->hs, &i->id, r->id.static_public, psk));
	CHECK(wg__noise_handshake_init(&r->hs, &r->id, i->id.static_public, psk));
	wg__cookie_maker_init(&i->maker, r->id.static_public);
	wg__cookie_maker_init(&r->maker, i->id.static_public);
	i->hs.entry.index = 0x11223344;
	r->hs.entry.index = 0x55667788;
}

static const uint8_t ts[12] = { 0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0, 0x0a, 0x0b, 0x0c, 0 };

static void run_vector(int n, const char *prologue, const uint8_t *psk, const uint8_t *v_init,
		       const uint8_t *v_resp, const uint8_t *v_send, const uint8_t *v_recv,
		       const uint8_t *v_data)
{
	struct side i, r;
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	struct wg__keypair ki, kr;
	uint8_t ei[32], er[32], data[16 + 16 + 16], plain[16] = { 0x45 };

	fprintf(stderr, "vector %d\n", n);
	seq(ei, 65);
	seq(er, 97);
	setup(&i, &r, prologue, psk);

	CHECK(wg__noise_handshake_create_initiation(&init, &i.hs, &i.id, ei, ts));
	wg__cookie_add_macs(&i.maker, (uint8_t *)&init, sizeof(init), 0);
	CHECK_MEM(&init, v_init, sizeof(init));
	CHECK_INT(i.hs.state, HANDSHAKE_CREATED_INITIATION);

	CHECK(wg__noise_handshake_consume_initiation(&init, &r.id, lookup, &r, 1000) == &r.hs);
	CHECK_INT(r.hs.state, HANDSHAKE_CONSUMED_INITIATION);
	CHECK_INT(r.hs.remote_index, 0x11223344);

	CHECK(wg__noise_handshake_create_response(&resp, &r.hs, &r.id, er));
	wg__cookie_add_macs(&r.maker, (uint8_t *)&resp, sizeof(resp), 0);
	CHECK_MEM(&resp, v_resp, sizeof(resp));

	CHECK(wg__noise_handshake_consume_response(&resp, &i.hs, &i.id));
	CHECK_INT(i.hs.remote_index, 0x55667788);
	CHECK(wg__noise_handshake_begin_session(&i.hs, &ki, 5));
	CHECK(wg__noise_handshake_begin_session(&r.hs, &kr, 5));
	CHECK(ki.i_am_initiator && !kr.i_am_initiator);
	CHECK_MEM(ki.send_key, v_send, 32);
	CHECK_MEM(ki.recv_key, v_recv, 32);
	CHECK_MEM(kr.recv_key, v_send, 32);
	CHECK_MEM(kr.send_key, v_recv, 32);
	CHECK_INT(ki.remote_index, 0x55667788);
	CHECK_INT(kr.remote_index, 0x11223344);
	CHECK_INT(i.hs.state, HANDSHAKE_ZEROED);

	memcpy(data, v_data, 16);
	wg__aead_encrypt(data + 16, plain, 16, NULL, 0, 0, ki.send_key);
	CHECK_MEM(data, v_data, sizeof(data));
	CHECK(wg__aead_decrypt(plain, v_data + 16, 32, NULL, 0, 0, kr.recv_key));
	CHECK_INT(plain[0], 0x45);
}

static void negative(void)
{
	struct side i, r, r2;
	struct message_handshake_initiation init, bad;
	struct message_handshake_response resp, resp2;
	uint8_t t2[12];

	/* 1: responder with another prologue cannot decrypt */
	setup(&i, &r, WG_IDENTIFIER, NULL);
	setup(&i, &r2, "other prologue", NULL);
	setup(&i, &r, WG_IDENTIFIER, NULL);
	CHECK(wg__noise_handshake_create_initiation(&init, &i.hs, &i.id, NULL, ts));
	CHECK(wg__noise_handshake_consume_initiation(&init, &r2.id, lookup, &r2, 0) == NULL);

	/* 2: each flipped bit in the Noise fields is rejected, state untouched */
	for (size_t b = 8; b < offsetof(struct message_handshake_initiation, macs); b += 7) {
		bad = init;
		((uint8_t *)&bad)[b] ^= 0x10;
		if (wg__noise_handshake_consume_initiation(&bad, &r.id, lookup, &r, 0) != NULL) {
			fprintf(stderr, "flip at byte %zu accepted\n", b);
			CHECK(0);
		}
	}
	CHECK_INT(r.hs.state, HANDSHAKE_ZEROED);

	/* 3: accepted once; the same timestamp again is a replay */
	CHECK(wg__noise_handshake_consume_initiation(&init, &r.id, lookup, &r, 0) == &r.hs);
	CHECK(wg__noise_handshake_consume_initiation(&init, &r.id, lookup, &r, NS_PER_SEC) == NULL);

	/* 4: a newer timestamp within 20 ms of the last consumption is a flood */
	memcpy(t2, ts, 12);
	t2[7]++;
	CHECK(wg__noise_handshake_create_initiation(&init, &i.hs, &i.id, NULL, t2));
	CHECK(wg__noise_handshake_consume_initiation(&init, &r.id, lookup, &r, 19 * NS_PER_MS) ==
	      NULL);
	CHECK(wg__noise_handshake_consume_initiation(&init, &r.id, lookup, &r, 21 * NS_PER_MS) ==
	      &r.hs);

	/* 5: a response cannot be consumed twice, nor a tampered one */
	CHECK(wg__noise_handshake_create_response(&resp, &r.hs, &r.id, NULL));
	CHECK(!wg__noise_handshake_create_response(&resp2, &r.hs, &r.id, NULL));
	CHECK_INT(r.hs.state, HANDSHAKE_CREATED_RESPONSE);
	struct message_handshake_response tampered = resp;
	tampered.encrypted_nothing[3] ^= 1;
	CHECK(!wg__noise_handshake_consume_response(&tampered, &i.hs, &i.id));
	CHECK_INT(i.hs.state, HANDSHAKE_CREATED_INITIATION);
	CHECK(wg__noise_handshake_consume_response(&resp, &i.hs, &i.id));
	CHECK(!wg__noise_handshake_consume_response(&resp, &i.hs, &i.id));

	/* 6: a peer whose public key is a low-order point has no precomputed DH */
	uint8_t zero[32] = { 0 };
	struct wg__handshake hz = { 0 };
	CHECK(!wg__noise_handshake_init(&hz, &i.id, zero, NULL));
}

int main(void)
{
	uint8_t ck[32], h[32];
	static const uint8_t ck0[32] = { 0x60, 0xe2, 0x6d, 0xae, 0xf3, 0x27, 0xef, 0xc0,
					 0x2e, 0xc3, 0x35, 0xe2, 0xa0, 0x25, 0xd2, 0xd0,
					 0x16, 0xeb, 0x42, 0x06, 0xf8, 0x72, 0x77, 0xf5,
					 0x2d, 0x38, 0xd1, 0x98, 0x8b, 0x78, 0xcd, 0x36 };
	static const uint8_t h0[32] = { 0x22, 0x11, 0xb3, 0x61, 0x08, 0x1a, 0xc5, 0x66,
					0x69, 0x12, 0x43, 0xdb, 0x45, 0x8a, 0xd5, 0x32,
					0x2d, 0x9c, 0x6c, 0x66, 0x22, 0x93, 0xe8, 0xb7,
					0x0e, 0xe1, 0x9c, 0x65, 0xba, 0x07, 0x9e, 0xf3 };
	uint8_t psk[32];

	CHECK(wg__crypto_init());
	/* 0: the published initial chaining key and hash of WireGuard */
	struct wg__static_identity id;
	wg__noise_identity_init(&id, NULL, (const uint8_t *)WG_IDENTIFIER, strlen(WG_IDENTIFIER));
	memcpy(ck, id.initial_ck, 32);
	memcpy(h, id.initial_h, 32);
	CHECK_MEM(ck, ck0, 32);
	CHECK_MEM(h, h0, 32);
	CHECK(!id.has_identity);

	run_vector(1, WG_IDENTIFIER, NULL, wg_init, wg_resp, wg_send_i, wg_recv_i, wg_data);
	memset(psk, 0xaa, sizeof(psk));
	run_vector(2, "Mesh test prologue", psk, alt_init, alt_resp, alt_send_i, alt_recv_i,
		   alt_data);
	negative();
	return check_finish();
}
