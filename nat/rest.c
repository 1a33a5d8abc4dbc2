/* TURN REST credentials: the password a relay with `use-auth-secret` expects (rest.h). */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "nat/rest.h"

void nat_turn_rest_password(const uint8_t *secret, size_t secret_len, const char *username,
			    char out[static NAT_TURN_REST_PASSWORD_SIZE])
{
	static const uint8_t none;
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int len = sizeof(mac);
	/* HMAC() wants a key pointer even for an empty key */
	HMAC(EVP_sha1(), secret_len ? secret : &none, (int)secret_len,
	     (const unsigned char *)username, strlen(username), mac, &len);
	sodium_bin2base64(out, NAT_TURN_REST_PASSWORD_SIZE, mac, 20,
			  sodium_base64_VARIANT_ORIGINAL);
	OPENSSL_cleanse(mac, sizeof(mac));
}
