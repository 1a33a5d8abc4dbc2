/* Whole-file helpers: read a file into memory with a size limit, and replace a file
 * atomically (write a temporary beside it, fsync, rename) so a crash never leaves a
 * half-written key, cache or preference file. */
#ifndef MESH_COMMON_FILE_H
#define MESH_COMMON_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads all of path (at most max bytes) into a NUL-terminated malloc'd buffer.
 * 0, -errno from open/read, or -EFBIG when the file is larger than max. */
int file_read_all(const char *path, size_t max, char **out, size_t *len);

/* Like file_read_all, for a private key or another secret: refuses (-EACCES) a file that users
 * other than its owner may read or write (any of mode 077), as OpenSSH does.  err gets a sentence
 * naming the file (its mode and the fix, when that is why) on every failure. */
int file_read_secret(const char *path, size_t max, char **out, size_t *len, char *err,
		     size_t errlen);

enum { FILE_SECRET_LINE_MAX = 4096 };

/* A secret kept as the first line of a file (an auth key, an admin token): read with
 * file_read_secret's checks, at most FILE_SECRET_LINE_MAX bytes; the line without its end
 * (malloc'd; the rest of the buffer wiped), or NULL with a sentence naming the file in err
 * (also for an empty first line). */
char *file_read_secret_line(const char *path, char *err, size_t errlen);

/* Writes len bytes to a new file beside path (path.XXXXXX, its own name) with the given
 * mode, fsyncs and renames it over path.
 * Nothing is left behind on failure.  0 or -errno. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Appends len bytes to path (created with mode; a symlink refused) and fdatasyncs it.  A
 * failure may leave part of them there.  0 or -errno. */
int file_append(const char *path, const void *data, size_t len, mode_t mode);

/* Loads a 32-byte private key kept as one base64 line in path, or, only when the file
 * does not exist, creates one (random, X25519-clamped, written 0600 atomically).
 * 0 (*created says which), or -errno / -EINVAL with a sentence naming the file in err.
 * An unreadable or malformed key file is an error, never silently replaced. */
int file_key_load_or_create(const char *path, uint8_t key[static 32], bool *created, char *err,
			    size_t errlen);

#endif
