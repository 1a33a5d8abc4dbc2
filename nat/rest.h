/* TURN REST credentials (draft-uberti-behave-turn-rest-00, coturn's `use-auth-secret`): the
 * relay and whoever mints credentials share one secret; a username is "<expiry>:<anything>"
 * (unix seconds first) and its password is base64(HMAC-SHA1(secret, username)).  The relay
 * recomputes the password and refuses a username whose expiry has passed, so nothing per
 * node is configured on the relay, and a credential cannot be revoked before it expires.
 *
 * Here, beside the TURN client that presents them, because nat/ already owns libcrypto's
 * HMAC-SHA1 (MESSAGE-INTEGRITY); meshcontrol mints with the same function. */
#ifndef MESH_NAT_REST_H
#define MESH_NAT_REST_H

#include <stddef.h>
#include <stdint.h>

enum {
	NAT_TURN_REST_PASSWORD_LEN = 28, /* base64 of a 20-byte HMAC-SHA1, with its '=' */
	NAT_TURN_REST_PASSWORD_SIZE = NAT_TURN_REST_PASSWORD_LEN + 1,
};

/* The password of username under secret: base64(HMAC-SHA1(secret, username)), padded,
 * NUL-terminated.  Cannot fail for a secret of any length (0 included). */
void nat_turn_rest_password(const uint8_t *secret, size_t secret_len, const char *username,
			    char out[static NAT_TURN_REST_PASSWORD_SIZE]);

#endif
