/* TURN REST passwords (nat/rest.c) against values from Python's hmac module, an
 * implementation of its own: base64(HMAC-SHA1(secret, username)). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "nat/rest.h"

int main(void)
{
	static uint8_t all[256];
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	static const struct {
		const char *secret; /* NULL: the 256 bytes 0..255 */
		const char *username, *password;
	} v[] = {
		/* 1 */ { "north", "1700000000:7", "PPWz7PpRwxKwGzZCJzS+CZ2BJhk=" },
		/* 2 an empty secret */ { "", "x", "YkTmZFGhyGlduXMc4sT9XeJcz4c=" },
		/* 3 a secret of 256 bytes (longer than SHA-1's block: hashed first), with NUL */
		{ NULL, "1700086400:42", "loW3Yr3aGUYYKH7keWgy1ad3L88=" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char out[NAT_TURN_REST_PASSWORD_SIZE];
		memset(out, 'X', sizeof(out));
		if (v[i].secret)
			nat_turn_rest_password((const uint8_t *)v[i].secret, strlen(v[i].secret),
					       v[i].username, out);
		else
			nat_turn_rest_password(all, sizeof(all), v[i].username, out);
		CHECK_STR(out, v[i].password);
		CHECK_INT(strlen(out), NAT_TURN_REST_PASSWORD_LEN);
	}
	return check_finish();
}
