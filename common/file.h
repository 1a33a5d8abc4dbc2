/* Whole-file helpers: read a file into memory with a size limit, and replace a file
 * atomically (write a temporary beside it, fsync, rename) so a crash never leaves a
 * half-written key, cache or preference file. */
#ifndef MESH_COMMON_FILE_H
#define MESH_COMMON_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Reads all of path (at most max bytes) into a NUL-terminated malloc'd buffer.
 * 0, -errno from open/read, or -EFBIG when the file is larger than max. */
int file_read_all(const char *path, size_t max, char **out, size_t *len);

/* Writes len bytes to path.tmp with the given mode, fsyncs and renames it over path.
 * Nothing is left behind on failure.  0 or -errno. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

#endif
