/* control/server/ident.h: users and auth keys on top of the store.
 *
 * Passwords are Argon2id hashes (libsodium crypto_pwhash_str, interactive limits).  An auth
 * key reads "mskey-<12 hex prefix>-<32 base32 secret>"; the store keeps the prefix (to find
 * the row) and a BLAKE2b hash of the whole key, so the key itself is shown exactly once. */
#ifndef MESH_CONTROL_IDENT_H
#define MESH_CONTROL_IDENT_H

#include <stdbool.h>
#include <stdint.h>

#include "control/server/store.h"

enum {
	CTL_PWHASH_SIZE = 128,
	CTL_AUTHKEY_TEXT_SIZE = 6 + CTL_AUTHKEY_PREFIX_LEN + 1 + 32 + 1,
	CTL_PASSWORD_MIN = 8,
	CTL_AUTHKEY_EXPIRY_MAX = 10 * 365 * 86400, /* seconds from now: 10 years at most */
};

/* A login is "local@domain": lowercase letters, digits and . _ + - ; true when valid, or
 * false with *why naming what is wrong. */
bool ctl_login_valid(const char *login, const char **why);

/* Argon2id; 0 or -ENOMEM (libsodium could not allocate the memory cost). */
int ctl_password_hash(const char *password, char out[static CTL_PWHASH_SIZE]);
bool ctl_password_verify(const char *hash, const char *password);

/* Add a user; -EEXIST for a taken login, -EINVAL (with *why) for a bad login or a
 * password shorter than CTL_PASSWORD_MIN. */
int ctl_user_create(struct ctl_store *s, const char *login, const char *password, int64_t *id,
		    const char **why);

/* Check a login and password; the same -EACCES for an unknown login or a wrong password
 * (after the same Argon2id work, so timing does not tell them apart). */
int ctl_user_authenticate(struct ctl_store *s, const char *login, const char *password,
			  struct ctl_user *u);
/* ctl_user_authenticate in two steps, for a caller that serializes the store under a lock
 * it must not hold through Argon2id: the stored hash of login (under the lock; a hash no
 * password matches for an unknown login or one without a password), then the check of the
 * password against it (without the lock): 0 or -EACCES. */
void ctl_user_credentials(struct ctl_store *s, const char *login, struct ctl_user *u,
			  char hash[static CTL_PWHASH_SIZE]);
int ctl_user_check(const char hash[static CTL_PWHASH_SIZE], const char *password);

/* Checks that the user `login` owns each of the n tags per the tagOwners of policy_text
 * (NULL: no policy, so nobody owns any tag).  0, or -EPERM / -EINVAL with a sentence
 * naming the tag in err. */
int ctl_authkey_check_tags(const char *policy_text, const char *login, const char *const *tags,
			   size_t n, char *err, size_t errlen);

/* Tag lists (tags.c; tags.h has the rest): "tag:a,tag:b" text (meshcontrol's --tags) ->
 * the list form (sorted, no repeats, within the bounds of store.h); "" gives none.
 * -EINVAL with a sentence naming the bad tag in err. */
int ctl_tags_parse(const char *csv, char ***out, size_t *n, char *err, size_t errlen);

/* The list as "tag:a,tag:b" into out ("" for none, truncated to outlen-1 bytes; a buffer
 * of CTL_TAGS_TEXT_MAX always holds a bounded list). */
void ctl_tags_join(const char *const *v, size_t n, char *out, size_t outlen);

/* Create an auth key for user_id; its text (shown once) goes to key_out.  tags: n_tags
 * tags (a copy goes to rec, which the caller clears with ctl_authkey_clear).  expires is
 * unix seconds (0 = never). */
int ctl_authkey_create(struct ctl_store *s, int64_t user_id, bool reusable, bool ephemeral,
		       const char *const *tags, size_t n_tags, int64_t expires,
		       char key_out[static CTL_AUTHKEY_TEXT_SIZE], struct ctl_authkey *rec);

/* Find and check an auth key at time now: -EKEYREJECTED unknown or malformed,
 * -EKEYEXPIRED expired, -EKEYREVOKED revoked or a single-use key already used.
 * *why is a sentence the CLI can show as is.  On success the caller clears k
 * (ctl_authkey_clear); on an error k owns nothing. */
int ctl_authkey_check(struct ctl_store *s, const char *key, int64_t now, struct ctl_authkey *k,
		      const char **why);

#endif
