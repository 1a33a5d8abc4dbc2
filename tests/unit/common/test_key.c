/* Key text encoding: numbered vectors, random round trips against a straightforward
 * reference encoder, and every kind of bad input with its exact message. */
#include <stdlib.h>

#include "check.h"
#include "common/key.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Naive reference: table lookup, obviously correct, not constant time. */
static void ref_base64(char out[45], const uint8_t k[32])
{
	size_t o = 0;
	for (size_t i = 0; i < 32; i += 3) {
		uint32_t v = (uint32_t)k[i] << 16;
		if (i + 1 < 32)
			v |= (uint32_t)k[i + 1] << 8;
		if (i + 2 < 32)
			v |= k[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < 32 ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < 32 ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
}

static const struct {
	int n;
	uint8_t fill; /* 0: bytes 0..31; else every byte = fill */
	const char *b64;
	const char *hex;
} vectors[] = {
	{ 1, 0x00, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" },
	{ 2, 0xff, "//////////////////////////////////////////8=",
	  "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" },
};

static const struct {
	int n;
	const char *in;
	enum key_error_kind kind;
	size_t pos;
	const char *message;
} bad_b64[] = {
	{ 1, "", KEY_ERROR_LENGTH, 0, "key is 0 characters long; a base64 key is exactly 44" },
	{ 2, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", KEY_ERROR_LENGTH, 0,
	  "key is 43 characters long; a base64 key is exactly 44" },
	{ 3, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==", KEY_ERROR_LENGTH, 0,
	  "key is 45 characters long; a base64 key is exactly 44" },
	{ 4, "AAECAwQFBgcI!QoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", KEY_ERROR_CHARACTER, 13,
	  "invalid base64 character '!' at position 13" },
	{ 5, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh\x01=", KEY_ERROR_CHARACTER, 43,
	  "invalid base64 character '\\x01' at position 43" },
	{ 6, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A", KEY_ERROR_PADDING, 44,
	  "bad padding: key must end with '=', not 'A'" },
	{ 7, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=", KEY_ERROR_PADDING, 43,
	  "bad padding: character '9' at position 43 leaves non-zero bits after the last byte" },
	{ 8, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH=8=", KEY_ERROR_PADDING, 42,
	  "bad padding: '=' at position 42; a base64 key has exactly one '=', at the end" },
	{ 9, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-=", KEY_ERROR_CHARACTER, 43,
	  "invalid base64 character '-' at position 43" },
};

static const struct {
	int n;
	const char *in;
	enum key_error_kind kind;
	size_t pos;
	const char *message;
} bad_hex[] = {
	{ 1, "00", KEY_ERROR_LENGTH, 0, "key is 2 characters long; a hex key is exactly 64" },
	{ 2, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", KEY_ERROR_LENGTH, 0,
	  "key is 63 characters long; a hex key is exactly 64" },
	{ 3, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
	  KEY_ERROR_CHARACTER, 64, "invalid hex character 'g' at position 64" },
	{ 4, "0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	  KEY_ERROR_CHARACTER, 2, "invalid hex character 'x' at position 2" },
	{ 5, " 00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	  KEY_ERROR_CHARACTER, 1, "invalid hex character ' ' at position 1" },
};

static void fill_key(uint8_t k[32], uint8_t fill)
{
	for (int i = 0; i < 32; i++)
		k[i] = fill ? fill : (uint8_t)i;
}

int main(void)
{
	uint8_t key[KEY_LEN], back[KEY_LEN];
	char b64[KEY_BASE64_SIZE], hex[KEY_HEX_SIZE], ref[45];
	struct key_error err;

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		fprintf(stderr, "vector %d\n", vectors[i].n);
		fill_key(key, vectors[i].fill);
		key_to_base64(b64, key);
		key_to_hex(hex, key);
		CHECK_STR(b64, vectors[i].b64);
		CHECK_STR(hex, vectors[i].hex);
		CHECK(key_from_base64(back, vectors[i].b64, &err));
		CHECK_INT(err.kind, KEY_ERROR_NONE);
		CHECK_MEM(back, key, KEY_LEN);
		CHECK(key_from_hex(back, vectors[i].hex, &err));
		CHECK_MEM(back, key, KEY_LEN);
	}

	/* Upper-case hex is accepted too. */
	CHECK(key_from_hex(back, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
			   &err));
	fill_key(key, 0);
	CHECK_MEM(back, key, KEY_LEN);

	/* Random round trips against the reference encoder. */
	srand(1234);
	int mismatches = 0;
	for (int round = 0; round < 20000; round++) {
		for (int i = 0; i < KEY_LEN; i++)
			key[i] = (uint8_t)rand();
		key_to_base64(b64, key);
		ref_base64(ref, key);
		if (strcmp(b64, ref) != 0)
			mismatches++;
		if (!key_from_base64(back, b64, NULL) || memcmp(back, key, KEY_LEN) != 0)
			mismatches++;
		key_to_hex(hex, key);
		if (!key_from_hex(back, hex, NULL) || memcmp(back, key, KEY_LEN) != 0)
			mismatches++;
	}
	CHECK_INT(mismatches, 0);

	/* Every single-character substitution outside the alphabet is refused. */
	fill_key(key, 0);
	key_to_base64(b64, key);
	int accepted = 0;
	for (int pos = 0; pos < 43; pos++) {
		for (int c = 1; c < 256; c++) {
			if (strchr(b64_alphabet, c))
				continue;
			char copy[KEY_BASE64_SIZE];
			memcpy(copy, b64, sizeof(copy));
			copy[pos] = (char)c;
			if (key_from_base64(back, copy, &err))
				accepted++;
		}
	}
	CHECK_INT(accepted, 0);

	for (size_t i = 0; i < sizeof(bad_b64) / sizeof(bad_b64[0]); i++) {
		fprintf(stderr, "bad base64 %d\n", bad_b64[i].n);
		memset(back, 0xaa, KEY_LEN);
		CHECK(!key_from_base64(back, bad_b64[i].in, &err));
		CHECK_INT(err.kind, bad_b64[i].kind);
		CHECK_INT(err.position, bad_b64[i].pos);
		CHECK_STR(err.message, bad_b64[i].message);
		CHECK(key_is_zero(back)); /* nothing half-written */
	}
	for (size_t i = 0; i < sizeof(bad_hex) / sizeof(bad_hex[0]); i++) {
		fprintf(stderr, "bad hex %d\n", bad_hex[i].n);
		CHECK(!key_from_hex(back, bad_hex[i].in, &err));
		CHECK_INT(err.kind, bad_hex[i].kind);
		CHECK_INT(err.position, bad_hex[i].pos);
		CHECK_STR(err.message, bad_hex[i].message);
	}
	CHECK(!key_from_base64(back, NULL, &err));
	CHECK_INT(err.kind, KEY_ERROR_LENGTH);

	/* Comparisons and fingerprint. */
	uint8_t a[KEY_LEN] = { 0 }, b[KEY_LEN] = { 0 };
	CHECK(key_is_zero(a));
	CHECK(key_equal(a, b));
	b[31] = 1;
	CHECK(!key_equal(a, b));
	CHECK(!key_is_zero(b));
	char fp[KEY_FINGERPRINT_SIZE];
	fill_key(key, 0);
	key_fingerprint(fp, key);
	CHECK_STR(fp, "AAECAwQF\xe2\x80\xa6");

	return check_finish();
}
