/* Constant-time base64 and hex for 32-byte keys.  The character arithmetic uses masks
 * built from sign bits instead of branches or lookup tables, the technique of
 * wireguard-tools' encoding.c, so decode time does not depend on the key. */
#include "common/key.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void key_wipe(void *p, size_t len)
{
	explicit_bzero(p, len);
}

/* Mask: -1 when lo <= c <= hi, else 0 (c in 0..255). */
static inline int in_range(int c, int lo, int hi)
{
	return (((lo - 1) - c) & (c - (hi + 1))) >> 8;
}

/* 0..63 for a base64 character, -1 for anything else. */
static int b64_value(unsigned char uc)
{
	int c = uc;
	int v = -1;
	v += in_range(c, 'A', 'Z') & (c - 'A' + 1);
	v += in_range(c, 'a', 'z') & (c - 'a' + 27);
	v += in_range(c, '0', '9') & (c - '0' + 53);
	v += in_range(c, '+', '+') & 63;
	v += in_range(c, '/', '/') & 64;
	return v;
}

static char b64_char(unsigned int v)
{
	int s = (int)v;
	return (char)(s + 'A' + (((25 - s) >> 8) & 6) - (((51 - s) >> 8) & 75) -
		      (((61 - s) >> 8) & 15) + (((62 - s) >> 8) & 3));
}

/* 0..15 for a hex digit (either case), -1 for anything else. */
static int hex_value(unsigned char uc)
{
	int c = uc;
	int v = -1;
	v += in_range(c, '0', '9') & (c - '0' + 1);
	v += in_range(c, 'a', 'f') & (c - 'a' + 11);
	v += in_range(c, 'A', 'F') & (c - 'A' + 11);
	return v;
}

static char hex_char(unsigned int n)
{
	int s = (int)n;
	return (char)(s + 87 + (((s - 10) >> 8) & ~38));
}

void key_to_base64(char out[static KEY_BASE64_SIZE], const uint8_t key[static KEY_LEN])
{
	unsigned int i;
	for (i = 0; i < KEY_LEN / 3; i++) {
		const uint8_t *p = key + i * 3;
		out[i * 4 + 0] = b64_char(p[0] >> 2);
		out[i * 4 + 1] = b64_char(((p[0] << 4) | (p[1] >> 4)) & 63);
		out[i * 4 + 2] = b64_char(((p[1] << 2) | (p[2] >> 6)) & 63);
		out[i * 4 + 3] = b64_char(p[2] & 63);
	}
	const uint8_t *p = key + i * 3;
	out[i * 4 + 0] = b64_char(p[0] >> 2);
	out[i * 4 + 1] = b64_char(((p[0] << 4) | (p[1] >> 4)) & 63);
	out[i * 4 + 2] = b64_char((p[1] << 2) & 63);
	out[i * 4 + 3] = '=';
	out[KEY_BASE64_LEN] = '\0';
}

void key_to_hex(char out[static KEY_HEX_SIZE], const uint8_t key[static KEY_LEN])
{
	for (unsigned int i = 0; i < KEY_LEN; i++) {
		out[i * 2] = hex_char(key[i] >> 4);
		out[i * 2 + 1] = hex_char(key[i] & 15);
	}
	out[KEY_HEX_LEN] = '\0';
}

static void describe_char(char *buf, size_t size, unsigned char c)
{
	if (c >= 0x20 && c < 0x7f && c != '\'')
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "'\\x%02x'", c);
}

static bool fail(struct key_error *err, uint8_t key[static KEY_LEN], enum key_error_kind kind,
		 size_t position, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static bool fail(struct key_error *err, uint8_t key[static KEY_LEN], enum key_error_kind kind,
		 size_t position, const char *fmt, ...)
{
	key_wipe(key, KEY_LEN);
	if (err) {
		va_list ap;
		err->kind = kind;
		err->position = position;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return false;
}

static void ok(struct key_error *err)
{
	if (err) {
		err->kind = KEY_ERROR_NONE;
		err->position = 0;
		err->message[0] = '\0';
	}
}

bool key_from_base64(uint8_t key[static KEY_LEN], const char *in, struct key_error *err)
{
	size_t len = in ? strlen(in) : 0;
	if (len != KEY_BASE64_LEN)
		return fail(err, key, KEY_ERROR_LENGTH, 0,
			    "key is %zu characters long; a base64 key is exactly %d", len,
			    KEY_BASE64_LEN);

	const unsigned char *s = (const unsigned char *)in;
	int bad = 0;
	unsigned int i;
	for (i = 0; i < KEY_LEN / 3; i++) {
		int v0 = b64_value(s[i * 4]), v1 = b64_value(s[i * 4 + 1]);
		int v2 = b64_value(s[i * 4 + 2]), v3 = b64_value(s[i * 4 + 3]);
		bad |= v0 | v1 | v2 | v3;
		unsigned int val = ((unsigned)v0 << 18) | ((unsigned)v1 << 12) |
				   ((unsigned)v2 << 6) | (unsigned)v3;
		key[i * 3 + 0] = (uint8_t)(val >> 16);
		key[i * 3 + 1] = (uint8_t)(val >> 8);
		key[i * 3 + 2] = (uint8_t)val;
	}
	int v0 = b64_value(s[i * 4]), v1 = b64_value(s[i * 4 + 1]), v2 = b64_value(s[i * 4 + 2]);
	bad |= v0 | v1 | v2;
	unsigned int val = ((unsigned)v0 << 18) | ((unsigned)v1 << 12) | ((unsigned)v2 << 6);
	key[i * 3 + 0] = (uint8_t)(val >> 16);
	key[i * 3 + 1] = (uint8_t)(val >> 8);
	int unused_bits = v2 & 3;
	int pad_ok = s[KEY_BASE64_LEN - 1] == '=';

	if ((bad >> 8) == 0 && unused_bits == 0 && pad_ok) {
		ok(err);
		return true;
	}

	/* Failed: now say why (timing no longer matters, the key is being rejected). */
	char what[16];
	for (size_t k = 0; k < KEY_BASE64_LEN - 1; k++) {
		if (b64_value(s[k]) < 0) {
			describe_char(what, sizeof(what), s[k]);
			if (s[k] == '=')
				return fail(err, key, KEY_ERROR_PADDING, k + 1,
					    "bad padding: '=' at position %zu; a base64 key has "
					    "exactly one '=', at the end",
					    k + 1);
			return fail(err, key, KEY_ERROR_CHARACTER, k + 1,
				    "invalid base64 character %s at position %zu", what, k + 1);
		}
	}
	if (!pad_ok) {
		describe_char(what, sizeof(what), s[KEY_BASE64_LEN - 1]);
		return fail(err, key, KEY_ERROR_PADDING, KEY_BASE64_LEN,
			    "bad padding: key must end with '=', not %s", what);
	}
	describe_char(what, sizeof(what), s[KEY_BASE64_LEN - 2]);
	return fail(err, key, KEY_ERROR_PADDING, KEY_BASE64_LEN - 1,
		    "bad padding: character %s at position %d leaves non-zero bits after the "
		    "last byte",
		    what, KEY_BASE64_LEN - 1);
}

bool key_from_hex(uint8_t key[static KEY_LEN], const char *in, struct key_error *err)
{
	size_t len = in ? strlen(in) : 0;
	if (len != KEY_HEX_LEN)
		return fail(err, key, KEY_ERROR_LENGTH, 0,
			    "key is %zu characters long; a hex key is exactly %d", len,
			    KEY_HEX_LEN);

	const unsigned char *s = (const unsigned char *)in;
	int bad = 0;
	for (unsigned int i = 0; i < KEY_LEN; i++) {
		int hi = hex_value(s[i * 2]), lo = hex_value(s[i * 2 + 1]);
		bad |= hi | lo;
		key[i] = (uint8_t)(((unsigned)hi << 4) | (unsigned)lo);
	}
	if ((bad >> 8) == 0) {
		ok(err);
		return true;
	}
	char what[16];
	for (size_t k = 0; k < KEY_HEX_LEN; k++) {
		if (hex_value(s[k]) < 0) {
			describe_char(what, sizeof(what), s[k]);
			return fail(err, key, KEY_ERROR_CHARACTER, k + 1,
				    "invalid hex character %s at position %zu", what, k + 1);
		}
	}
	return fail(err, key, KEY_ERROR_CHARACTER, 0, "invalid hex key");
}

bool key_equal(const uint8_t a[static KEY_LEN], const uint8_t b[static KEY_LEN])
{
	volatile uint8_t d = 0;
	for (unsigned int i = 0; i < KEY_LEN; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

bool key_is_zero(const uint8_t key[static KEY_LEN])
{
	volatile uint8_t d = 0;
	for (unsigned int i = 0; i < KEY_LEN; i++)
		d |= key[i];
	return d == 0;
}

void key_fingerprint(char out[static KEY_FINGERPRINT_SIZE],
		     const uint8_t public_key[static KEY_LEN])
{
	char b64[KEY_BASE64_SIZE];
	key_to_base64(b64, public_key);
	memcpy(out, b64, 8);
	memcpy(out + 8, "\xe2\x80\xa6", 3);
	out[11] = '\0';
}
