/* meshcontrol's state directory: the store's file (STATE/state.db, unless the store is
 * elsewhere), control's key (STATE/server.key, made on first use, common/file.c) and the
 * admin token (STATE/admin-token, its hash in the store). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "common/file.h"
#include "common/key.h"
#include "control/server/internal.h"

int ctl__load_server_key(const char *dir, uint8_t pub[static 32], uint8_t priv[static 32],
			 char *err, size_t errlen)
{
	char path[4096];
	bool created;
	snprintf(path, sizeof(path), "%s/server.key", dir);
	int rc = file_key_load_or_create(path, priv, &created, err, errlen);
	if (!rc)
		crypto_scalarmult_base(pub, priv);
	return rc;
}

int ctl_state_open(const char *state_dir, struct ctl_store **store, char *err, size_t errlen)
{
	return ctl_state_open_store(state_dir, NULL, store, err, errlen);
}

int ctl_state_open_store(const char *state_dir, const char *store_url, struct ctl_store **store,
			 char *err, size_t errlen)
{
	char path[4096];
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialize");
		return -EIO;
	}
	if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
		return -errno;
	}
	if (store_url)
		return ctl_store_open(store_url, store, err, errlen);
	snprintf(path, sizeof(path), "%s/state.db", state_dir);
	mode_t old = umask(077);
	int rc = ctl_store_open_sqlite(path, store, err, errlen);
	umask(old);
	return rc;
}

int ctl_state_server_key(const char *state_dir, char out[static 45], char *err, size_t errlen)
{
	uint8_t pub[32], priv[32];
	int rc = ctl__load_server_key(state_dir, pub, priv, err, errlen);
	sodium_memzero(priv, sizeof(priv));
	if (!rc)
		key_to_base64(out, pub);
	return rc;
}

int ctl_state_admin_token(const char *state_dir, struct ctl_store *s, char out[static 65],
			  char *err, size_t errlen)
{
	char path[4096], line[66], hash_hex[65];
	uint8_t hash[32];
	ctl__random_hex(out, 32);
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)out, strlen(out), NULL, 0);
	sodium_bin2hex(hash_hex, sizeof(hash_hex), hash, sizeof(hash));
	snprintf(path, sizeof(path), "%s/admin-token", state_dir);
	snprintf(line, sizeof(line), "%s\n", out);
	int rc = s->ops->meta_set(s, "admin_token_hash", hash_hex);
	if (rc) {
		snprintf(err, errlen, "cannot store the admin token: %s", strerror(-rc));
		return rc;
	}
	rc = file_write_atomic(path, line, strlen(line), 0600);
	sodium_memzero(line, sizeof(line));
	if (rc)
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
	return rc;
}
