/* Known-answer vectors through wg/'s crypto wrappers: BLAKE2s-256 (RFC 7693 appendix B),
 * keyed BLAKE2s, HMAC/KDF consistency, ChaCha20-Poly1305 (RFC 8439 section 2.8.2) and
 * our counter-nonce layout, XChaCha20-Poly1305 round trip and tamper detection, X25519
 * (RFC 7748 section 6.1) and the low-order rejection. */
#include <string.h>

#include "check.h"
#include "wg/crypto.h"

static void unhex(uint8_t *out, const char *hex)
{
	for (size_t i = 0; hex[2 * i]; i++) {
		unsigned int v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void test_blake2s(void)
{
	uint8_t out[32], want[32], key[32], kmac[16], kmac2[16];
	/* 1: RFC 7693 appendix B */
	wg__hash2(out, "abc", 3, NULL, 0);
	unhex(want, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
	CHECK_MEM(out, want, 32);
	/* 2: hash2 is HASH(a || b) */
	wg__hash2(want, "a", 1, "bc", 2);
	CHECK_MEM(out, want, 32);
	/* 3: keyed, 16-byte output differs from unkeyed and from other keys */
	memset(key, 1, sizeof(key));
	wg__blake2s(kmac, 16, "abc", 3, key, 32);
	key[31] ^= 1;
	wg__blake2s(kmac2, 16, "abc", 3, key, 32);
	CHECK(memcmp(kmac, kmac2, 16) != 0);
}

static void test_kdf(void)
{
	uint8_t key[32], t1[32], t2[32], t3[32], a[32], b[33];
	memset(key, 7, sizeof(key));
	/* KDF1..3 share their prefix: KDF3's t1, t2 equal KDF2's */
	wg__kdf(t1, t2, t3, key, (const uint8_t *)"in", 2);
	wg__kdf(a, NULL, NULL, key, (const uint8_t *)"in", 2);
	CHECK_MEM(a, t1, 32);
	/* t2 = HMAC(HMAC(key, in), t1 || 2) */
	uint8_t prk[32];
	wg__hmac(prk, key, 32, "in", 2);
	memcpy(b, t1, 32);
	b[32] = 2;
	wg__hmac(a, prk, 32, b, 33);
	CHECK_MEM(a, t2, 32);
	/* HMAC with a key longer than the block hashes the key first */
	uint8_t longkey[100], hk[32];
	memset(longkey, 3, sizeof(longkey));
	wg__hash2(hk, longkey, sizeof(longkey), NULL, 0);
	wg__hmac(a, longkey, sizeof(longkey), "x", 1);
	wg__hmac(b, hk, 32, "x", 1);
	CHECK_MEM(a, b, 32);
}

static void test_aead(void)
{
	static const char pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
				 "only one tip for the future, sunscreen would be it.";
	uint8_t key[32], nonce[12], ad[12], ct[114 + 16], want[114 + 16], back[114];
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
	unhex(nonce, "070000004041424344454647");
	unhex(ad, "50515253c0c1c2c3c4c5c6c7");
	unhex(want, "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
		    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
		    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
		    "3ff4def08e4b7a9de576d26586cec64b6116"
		    "1ae10b594f09e26a7e902ecbd0600691");
	CHECK_INT(sizeof(pt) - 1, 114);
	/* 1: RFC 8439 2.8.2 */
	wg__aead_encrypt_nonce(ct, (const uint8_t *)pt, 114, ad, 12, nonce, key);
	CHECK_MEM(ct, want, sizeof(want));

	/* 2: our nonce is 4 zero bytes || le64(counter) */
	uint64_t counter = 0x0807060504030201ULL;
	unhex(nonce, "000000000102030405060708");
	wg__aead_encrypt_nonce(want, (const uint8_t *)pt, 114, ad, 12, nonce, key);
	wg__aead_encrypt(ct, (const uint8_t *)pt, 114, ad, 12, counter, key);
	CHECK_MEM(ct, want, sizeof(want));
	CHECK(wg__aead_decrypt(back, ct, sizeof(ct), ad, 12, counter, key));
	CHECK_MEM(back, pt, 114);
	/* 3: wrong counter, tampered tag, tampered ad, short input all fail */
	CHECK(!wg__aead_decrypt(back, ct, sizeof(ct), ad, 12, counter + 1, key));
	ct[sizeof(ct) - 1] ^= 1;
	CHECK(!wg__aead_decrypt(back, ct, sizeof(ct), ad, 12, counter, key));
	ct[sizeof(ct) - 1] ^= 1;
	ad[0] ^= 1;
	CHECK(!wg__aead_decrypt(back, ct, sizeof(ct), ad, 12, counter, key));
	CHECK(!wg__aead_decrypt(back, ct, 15, NULL, 0, 0, key));
	/* 4: in place */
	uint8_t buf[64 + 16] = { 0 };
	wg__aead_encrypt(buf, buf, 64, NULL, 0, 9, key);
	CHECK(wg__aead_decrypt(buf, buf, sizeof(buf), NULL, 0, 9, key));
	CHECK(buf[0] == 0 && buf[63] == 0);
}

static void test_xaead(void)
{
	uint8_t key[32], nonce[24], ct[16 + 16], back[16], msg[16];
	memset(key, 9, 32);
	memset(nonce, 4, 24);
	memset(msg, 0x5a, 16);
	wg__xaead_encrypt(ct, msg, 16, (const uint8_t *)"ad", 2, nonce, key);
	CHECK(wg__xaead_decrypt(back, ct, sizeof(ct), (const uint8_t *)"ad", 2, nonce, key));
	CHECK_MEM(back, msg, 16);
	nonce[23] ^= 1;
	CHECK(!wg__xaead_decrypt(back, ct, sizeof(ct), (const uint8_t *)"ad", 2, nonce, key));
}

static void test_x25519(void)
{
	uint8_t a[32], b[32], ap[32], bp[32], want[32], s1[32], s2[32], zero[32] = { 0 };
	/* 1: RFC 7748 section 6.1 */
	unhex(a, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	unhex(b, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	CHECK(wg__pubkey(ap, a));
	CHECK(wg__pubkey(bp, b));
	unhex(want, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	CHECK_MEM(ap, want, 32);
	unhex(want, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	CHECK_MEM(bp, want, 32);
	unhex(want, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	CHECK(wg__dh(s1, a, bp));
	CHECK(wg__dh(s2, b, ap));
	CHECK_MEM(s1, want, 32);
	CHECK_MEM(s2, want, 32);
	/* 2: a low-order point gives an all-zero secret, which is refused */
	CHECK(!wg__dh(s1, a, zero));
	CHECK_MEM(s1, zero, 32);
	/* 3: generated keys are clamped */
	wg__gen_privkey(a);
	CHECK((a[0] & 7) == 0 && (a[31] & 0x80) == 0 && (a[31] & 0x40) != 0);
}

int main(void)
{
	CHECK(wg__crypto_init());
	test_blake2s();
	test_kdf();
	test_aead();
	test_xaead();
	test_x25519();
	return check_finish();
}
