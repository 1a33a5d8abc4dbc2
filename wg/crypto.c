/* The primitives of the WireGuard paper, section 5.4, over libsodium (X25519,
 * ChaCha20-Poly1305, XChaCha20-Poly1305, randomness) and libb2 (BLAKE2s).  HMAC and the
 * KDF are built here because neither library offers HMAC over BLAKE2s.  Every
 * intermediate secret is wiped before return. */
#include "wg/crypto.h"

#include <string.h>

#include <blake2.h>
#include <sodium.h>

#include "common/key.h"

enum { BLAKE2S_BLOCK = 64, BLAKE2S_OUT = 32 };

bool wg__crypto_init(void)
{
	return sodium_init() >= 0;
}

void wg__hash2(uint8_t out[static 32], const void *a, size_t alen, const void *b, size_t blen)
{
	blake2s_state st;
	blake2s_init(&st, BLAKE2S_OUT);
	blake2s_update(&st, a, alen);
	if (blen)
		blake2s_update(&st, b, blen);
	blake2s_final(&st, out, BLAKE2S_OUT);
	key_wipe(&st, sizeof(st));
}

void wg__blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen, const uint8_t *key,
		 size_t keylen)
{
	blake2s_state st;
	if (keylen)
		blake2s_init_key(&st, outlen, key, keylen);
	else
		blake2s_init(&st, outlen);
	blake2s_update(&st, in, inlen);
	blake2s_final(&st, out, outlen);
	key_wipe(&st, sizeof(st));
}

void wg__hmac(uint8_t out[static 32], const uint8_t *key, size_t keylen, const void *in,
	      size_t inlen)
{
	uint8_t k[BLAKE2S_BLOCK] = { 0 }, pad[BLAKE2S_BLOCK], inner[BLAKE2S_OUT];
	blake2s_state st;

	if (keylen > BLAKE2S_BLOCK)
		wg__hash2(k, key, keylen, NULL, 0);
	else
		memcpy(k, key, keylen);

	for (int i = 0; i < BLAKE2S_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	blake2s_init(&st, BLAKE2S_OUT);
	blake2s_update(&st, pad, BLAKE2S_BLOCK);
	blake2s_update(&st, in, inlen);
	blake2s_final(&st, inner, BLAKE2S_OUT);

	for (int i = 0; i < BLAKE2S_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	blake2s_init(&st, BLAKE2S_OUT);
	blake2s_update(&st, pad, BLAKE2S_BLOCK);
	blake2s_update(&st, inner, BLAKE2S_OUT);
	blake2s_final(&st, out, BLAKE2S_OUT);

	key_wipe(k, sizeof(k));
	key_wipe(pad, sizeof(pad));
	key_wipe(inner, sizeof(inner));
	key_wipe(&st, sizeof(st));
}

void wg__kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t key[static 32],
	     const uint8_t *input, size_t inlen)
{
	uint8_t prk[32], buf[33];

	wg__hmac(prk, key, 32, input, inlen);
	buf[0] = 1;
	wg__hmac(buf, prk, 32, buf, 1);
	memcpy(t1, buf, 32);
	if (t2) {
		buf[32] = 2;
		wg__hmac(buf, prk, 32, buf, 33);
		memcpy(t2, buf, 32);
	}
	if (t3) {
		buf[32] = 3;
		wg__hmac(buf, prk, 32, buf, 33);
		memcpy(t3, buf, 32);
	}
	key_wipe(prk, sizeof(prk));
	key_wipe(buf, sizeof(buf));
}

static void make_nonce(uint8_t nonce[12], uint64_t counter)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

void wg__aead_encrypt_nonce(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			    size_t adlen, const uint8_t nonce[static 12],
			    const uint8_t key[static 32])
{
	crypto_aead_chacha20poly1305_ietf_encrypt(dst, NULL, src, len, ad, adlen, NULL, nonce, key);
}

void wg__aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		      uint64_t counter, const uint8_t key[static 32])
{
	uint8_t nonce[12];
	make_nonce(nonce, counter);
	wg__aead_encrypt_nonce(dst, src, len, ad, adlen, nonce, key);
}

bool wg__aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		      uint64_t counter, const uint8_t key[static 32])
{
	uint8_t nonce[12];
	if (len < 16)
		return false;
	make_nonce(nonce, counter);
	return crypto_aead_chacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, len, ad, adlen,
							 nonce, key) == 0;
}

void wg__xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		       size_t adlen, const uint8_t nonce[static 24], const uint8_t key[static 32])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(dst, NULL, src, len, ad, adlen, NULL, nonce,
						   key);
}

bool wg__xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		       size_t adlen, const uint8_t nonce[static 24], const uint8_t key[static 32])
{
	if (len < 16)
		return false;
	return crypto_aead_xchacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, len, ad, adlen,
							  nonce, key) == 0;
}

bool wg__dh(uint8_t out[static 32], const uint8_t priv[static 32], const uint8_t pub[static 32])
{
	/* libsodium clamps the scalar and returns -1 for an all-zero result. */
	if (crypto_scalarmult(out, priv, pub) != 0) {
		key_wipe(out, 32);
		return false;
	}
	return true;
}

bool wg__pubkey(uint8_t pub[static 32], const uint8_t priv[static 32])
{
	return crypto_scalarmult_base(pub, priv) == 0;
}

void wg__clamp(uint8_t key[static 32])
{
	key[0] &= 248;
	key[31] = (key[31] & 127) | 64;
}

void wg__gen_privkey(uint8_t key[static 32])
{
	randombytes_buf(key, 32);
	wg__clamp(key);
}

void wg__random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

uint32_t wg__random_u32(void)
{
	return randombytes_random();
}
