/* 32-byte keys (X25519 and symmetric) and their text forms: base64 as wg(8) prints them
 * (44 characters ending in '=') and lowercase hex as the UAPI protocol uses.
 *
 * Encoding and decoding run in constant time over the key bytes: no branch or table
 * lookup depends on a secret.  Only after a decode has failed is the input scanned again
 * to say exactly what was wrong. */
#ifndef MESH_COMMON_KEY_H
#define MESH_COMMON_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	KEY_LEN = 32,
	KEY_BASE64_LEN = 44,		      /* ((32 + 2) / 3) * 4 */
	KEY_BASE64_SIZE = KEY_BASE64_LEN + 1, /* with the NUL */
	KEY_HEX_LEN = 64,
	KEY_HEX_SIZE = KEY_HEX_LEN + 1,
	KEY_FINGERPRINT_SIZE = 12, /* "abcdEFGH…" is 8 characters + 3 bytes of '…' + NUL */
};

enum key_error_kind {
	KEY_ERROR_NONE = 0,
	KEY_ERROR_LENGTH,    /* not 44 (base64) or 64 (hex) characters */
	KEY_ERROR_CHARACTER, /* a character outside the alphabet */
	KEY_ERROR_PADDING,   /* base64 only: missing '=' or non-zero unused bits */
};

struct key_error {
	enum key_error_kind kind;
	size_t position; /* 1-based offset of the bad character, 0 when not applicable */
	char message[128];
};

void key_to_base64(char out[static KEY_BASE64_SIZE], const uint8_t key[static KEY_LEN]);
void key_to_hex(char out[static KEY_HEX_SIZE], const uint8_t key[static KEY_LEN]);

/* Decode; on failure `key` is zeroed, false is returned and *err (if given) says why. */
bool key_from_base64(uint8_t key[static KEY_LEN], const char *in, struct key_error *err);
bool key_from_hex(uint8_t key[static KEY_LEN], const char *in, struct key_error *err);

/* Constant-time comparisons. */
bool key_equal(const uint8_t a[static KEY_LEN], const uint8_t b[static KEY_LEN]);
bool key_is_zero(const uint8_t key[static KEY_LEN]);

/* A short name for a PUBLIC key in logs: its first 8 base64 characters and "…".
 * Never call it on a private or symmetric key. */
void key_fingerprint(char out[static KEY_FINGERPRINT_SIZE],
		     const uint8_t public_key[static KEY_LEN]);

/* Overwrite memory the compiler may not optimise away. */
void key_wipe(void *p, size_t len);

#endif
