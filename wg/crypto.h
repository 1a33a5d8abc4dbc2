/* Thin wrappers over libsodium and libb2 for the primitives WireGuard names: HASH and MAC
 * (BLAKE2s), HMAC and the KDF chain over BLAKE2s, AEAD (ChaCha20-Poly1305 with the 64-bit
 * counter nonce), XAEAD (XChaCha20-Poly1305) and DH (X25519).  Internal to wg/. */
#ifndef MESH_WG_CRYPTO_H
#define MESH_WG_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Must run once before any other wg__ crypto call; false if libsodium cannot start. */
bool wg__crypto_init(void);

/* BLAKE2s-256 of a || b (b may be NULL with blen 0). */
void wg__hash2(uint8_t out[static 32], const void *a, size_t alen, const void *b, size_t blen);
/* Keyed BLAKE2s with any output length 1..32 (MAC uses 16). */
void wg__blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen, const uint8_t *key,
		 size_t keylen);
/* HMAC-BLAKE2s (64-byte block). */
void wg__hmac(uint8_t out[static 32], const uint8_t *key, size_t keylen, const void *in,
	      size_t inlen);
/* KDF_n(key, input): fills t1 and, when non-NULL, t2 and t3. */
void wg__kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t key[static 32],
	     const uint8_t *input, size_t inlen);

/* ChaCha20-Poly1305 (RFC 8439), nonce = 4 zero bytes || le64(counter).  dst holds len+16. */
void wg__aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		      uint64_t counter, const uint8_t key[static 32]);
/* The same with a caller-built 96-bit nonce (test vectors use other nonce prefixes). */
void wg__aead_encrypt_nonce(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			    size_t adlen, const uint8_t nonce[static 12],
			    const uint8_t key[static 32]);
/* dst holds len-16; false when len < 16 or the tag does not verify. */
bool wg__aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		      uint64_t counter, const uint8_t key[static 32]);
void wg__xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		       size_t adlen, const uint8_t nonce[static 24], const uint8_t key[static 32]);
bool wg__xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
		       size_t adlen, const uint8_t nonce[static 24], const uint8_t key[static 32]);

/* X25519; false when the result is all zero (a low-order point). */
bool wg__dh(uint8_t out[static 32], const uint8_t priv[static 32], const uint8_t pub[static 32]);
/* Public key of a private key (clamping applied inside). */
bool wg__pubkey(uint8_t pub[static 32], const uint8_t priv[static 32]);
void wg__clamp(uint8_t key[static 32]);
/* A fresh clamped private key. */
void wg__gen_privkey(uint8_t key[static 32]);
void wg__random(void *buf, size_t len);
uint32_t wg__random_u32(void);

#endif
