/* Users (login names, Argon2id passwords) and auth keys (prefix + hash, shown once). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/strv.h"
#include "control/server/ident.h"
#include "control/server/tags.h"

bool ctl_login_valid(const char *login, const char **why)
{
	size_t len = strlen(login);
	const char *at = strchr(login, '@');
	if (len == 0 || len >= CTL_LOGIN_MAX) {
		*why = "login must be 1 to 127 characters";
		return false;
	}
	if (!at || at == login || !at[1] || strchr(at + 1, '@')) {
		*why = "login must look like name@domain";
		return false;
	}
	for (const char *p = login; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '+' || c == '-' || c == '@')) {
			*why = "login may only contain lowercase letters, digits and . _ + - @";
			return false;
		}
	}
	return true;
}

int ctl_password_hash(const char *password, char out[static CTL_PWHASH_SIZE])
{
	_Static_assert(CTL_PWHASH_SIZE >= crypto_pwhash_STRBYTES, "hash buffer too small");
	if (crypto_pwhash_str_alg(out, password, strlen(password),
				  crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13))
		return -ENOMEM;
	return 0;
}

bool ctl_password_verify(const char *hash, const char *password)
{
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

int ctl_user_create(struct ctl_store *s, const char *login, const char *password, int64_t *id,
		    const char **why)
{
	char hash[CTL_PWHASH_SIZE];
	if (!ctl_login_valid(login, why))
		return -EINVAL;
	if (strlen(password) < CTL_PASSWORD_MIN) {
		*why = "password must be at least 8 characters";
		return -EINVAL;
	}
	int rc = ctl_password_hash(password, hash);
	if (rc)
		return rc;
	rc = s->ops->user_add(s, login, hash, id);
	if (rc == -EEXIST)
		*why = "a user with this login already exists";
	return rc;
}

void ctl_user_credentials(struct ctl_store *s, const char *login, struct ctl_user *u,
			  char hash[static CTL_PWHASH_SIZE])
{
	/* A fixed hash to verify against for unknown logins so both paths cost the same. */
	static char dummy[CTL_PWHASH_SIZE];
	/* A user made by a single sign-on has no password ("!"): the same work and refusal. */
	if (s->ops->user_get(s, login, u, hash, CTL_PWHASH_SIZE) != 0 || hash[0] != '$') {
		if (!dummy[0] && ctl_password_hash("not a password", dummy) != 0)
			dummy[0] = '\0';
		memcpy(hash, dummy, CTL_PWHASH_SIZE);
		hash[0] = hash[0] ? '!' : '\0'; /* the same work, never a match */
	}
}

int ctl_user_check(const char hash[static CTL_PWHASH_SIZE], const char *password)
{
	if (hash[0] == '$')
		return ctl_password_verify(hash, password) ? 0 : -EACCES;
	if (hash[0] == '!') {
		char h[CTL_PWHASH_SIZE];
		memcpy(h, hash, CTL_PWHASH_SIZE);
		h[0] = '$';
		ctl_password_verify(h, password);
	}
	return -EACCES;
}

int ctl_user_authenticate(struct ctl_store *s, const char *login, const char *password,
			  struct ctl_user *u)
{
	char hash[CTL_PWHASH_SIZE];
	ctl_user_credentials(s, login, u, hash);
	return ctl_user_check(hash, password);
}

static void key_hash(const char *key, uint8_t out[static CTL_AUTHKEY_HASH_LEN])
{
	crypto_generichash(out, CTL_AUTHKEY_HASH_LEN, (const uint8_t *)key, strlen(key), NULL, 0);
}

int ctl_authkey_create(struct ctl_store *s, int64_t user_id, bool reusable, bool ephemeral,
		       const char *const *tags, size_t n_tags, int64_t expires,
		       char key_out[static CTL_AUTHKEY_TEXT_SIZE], struct ctl_authkey *rec)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint8_t pbin[CTL_AUTHKEY_PREFIX_LEN / 2], sbin[32];
	char secret[33];
	memset(rec, 0, sizeof(*rec));
	if (strv_dup(tags, n_tags, &rec->tags) != 0)
		return -ENOMEM;
	rec->n_tags = n_tags;
	ctl_tags_canonical(rec->tags, &rec->n_tags);
	randombytes_buf(pbin, sizeof(pbin));
	randombytes_buf(sbin, sizeof(sbin));
	sodium_bin2hex(rec->prefix, sizeof(rec->prefix), pbin, sizeof(pbin));
	for (int i = 0; i < 32; i++)
		secret[i] = b32[sbin[i] & 31];
	secret[32] = '\0';
	snprintf(key_out, CTL_AUTHKEY_TEXT_SIZE, "mskey-%s-%s", rec->prefix, secret);
	key_hash(key_out, rec->hash);
	rec->user_id = user_id;
	rec->reusable = reusable;
	rec->ephemeral = ephemeral;
	rec->expires = expires;
	sodium_memzero(sbin, sizeof(sbin));
	sodium_memzero(secret, sizeof(secret));
	return s->ops->authkey_add(s, rec);
}

int ctl_authkey_check(struct ctl_store *s, const char *key, int64_t now, struct ctl_authkey *k,
		      const char **why)
{
	char prefix[CTL_AUTHKEY_PREFIX_LEN + 1];
	uint8_t h[CTL_AUTHKEY_HASH_LEN];
	if (strlen(key) != CTL_AUTHKEY_TEXT_SIZE - 1 || strncmp(key, "mskey-", 6) != 0 ||
	    key[6 + CTL_AUTHKEY_PREFIX_LEN] != '-') {
		*why = "auth key is malformed (expected mskey-<prefix>-<secret>)";
		return -EKEYREJECTED;
	}
	memcpy(prefix, key + 6, CTL_AUTHKEY_PREFIX_LEN);
	prefix[CTL_AUTHKEY_PREFIX_LEN] = '\0';
	key_hash(key, h);
	if (s->ops->authkey_get(s, prefix, k) != 0) {
		*why = "auth key is not valid";
		return -EKEYREJECTED;
	}
	int rc = 0;
	if (sodium_memcmp(h, k->hash, sizeof(h)) != 0) {
		*why = "auth key is not valid";
		rc = -EKEYREJECTED;
	} else if (k->revoked) {
		*why = "auth key has been revoked";
		rc = -EKEYREVOKED;
	} else if (k->expires && now >= k->expires) {
		*why = "auth key has expired";
		rc = -EKEYEXPIRED;
	} else if (!k->reusable && k->uses > 0) {
		*why = "auth key was single-use and has already been used";
		rc = -EKEYREVOKED;
	}
	if (rc) /* a refused key is not the caller's to clear */
		ctl_authkey_clear(k);
	return rc;
}
