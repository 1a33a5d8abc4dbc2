/* A scratch directory for a fuzz target that needs files (a server's store, a client's
 * keys): made once under /dev/shm (or /tmp without it), removed with all it holds at exit. */
#ifndef MESH_TESTS_FUZZ_TMPDIR_H
#define MESH_TESTS_FUZZ_TMPDIR_H

#include <stddef.h>

/* Makes "<base>/<prefix>-XXXXXX" into out (size outlen) and has it removed at exit;
 * aborts when it cannot. */
void fz_tmpdir(const char *prefix, char *out, size_t outlen);

#endif
