/* control/oidc's own helpers: error sentences, quoting outside text, base64url, bounded JSON. */
#ifndef MESH_CONTROL_OIDC_INTERNAL_H
#define MESH_CONTROL_OIDC_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/oidc/oidc.h"

enum {
	CTL_OIDC__QUOTE_MAX = 120, /* characters of outside text quoted in a sentence */
	CTL_OIDC__QUOTE_BUF = CTL_OIDC__QUOTE_MAX + 4,
};

struct _cjose_jwk_int;

enum { CTL_OIDC__NOTE_MAX = 200 };

/* One usable key: RSA (for RS256) or EC P-256 (for ES256). */
struct ctl_oidc__key {
	char kid[CTL_OIDC_KID_MAX];
	bool has_kid;
	unsigned alg;		    /* the one algorithm it verifies */
	struct _cjose_jwk_int *jwk; /* cjose_jwk_t */
};

struct ctl_oidc_jwks {
	size_t n;
	struct ctl_oidc__key keys[CTL_OIDC_KEYS_MAX];
	size_t nignored;
	char ignored[CTL_OIDC_KEYS_MAX][CTL_OIDC__NOTE_MAX];
};

/* The key for a token signed with alg and naming kid (NULL: none named): 0 with *key,
 * -ENOKEY (no such key: fetch again) or -EINVAL, each with a sentence in err. */
int ctl_oidc__jwks_find(const struct ctl_oidc_jwks *keys, const char *kid, unsigned alg,
			const struct ctl_oidc__key **key, char *err, size_t errlen);

/* Writes the sentence to err (may be NULL) and returns rc. */
int ctl_oidc__fail(int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Outside text made safe to quote: each byte outside printable ASCII becomes '?', and text
 * longer than CTL_OIDC__QUOTE_MAX ends in "...". */
const char *ctl_oidc__quote(const char *s, size_t n, char out[static CTL_OIDC__QUOTE_BUF]);

/* Decodes unpadded base64url of n characters into out (outlen bytes); false when it is not
 * that or does not fit. */
bool ctl_oidc__b64url_decode(const char *s, size_t n, unsigned char *out, size_t outlen,
			     size_t *written);

/* Whether n characters are base64url that libcjose can decode: the alphabet, no padding,
 * and not a length of 1 mod 4 (libcjose 0.6.2.1 asserts on that: the process aborts). */
bool ctl_oidc__b64url_valid(const char *s, size_t n);

/* Encodes n bytes as unpadded base64url into out (room for 4 * n / 3 + 2 bytes). */
void ctl_oidc__b64url_encode(const unsigned char *in, size_t n, char *out, size_t outlen);

/* Parses len bytes as one JSON object (duplicate members refused, so no two readers can
 * see different values); NULL with "WHAT is not a JSON object: ..." in err. */
json_t *ctl_oidc__json_object(const char *what, const char *s, size_t len, char *err,
			      size_t errlen);

/* "RS256" or "ES256" for one algorithm; its bit for a name, or 0. */
const char *ctl_oidc__alg_name(unsigned alg);
unsigned ctl_oidc__alg_bit(const char *name);

/* The set as "RS256, ES256". */
const char *ctl_oidc__alg_list(unsigned algs, char out[static 32]);

#endif
