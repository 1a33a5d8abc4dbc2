/* Force-included into the policy fuzz target's objects: tests/fuzz/standalone.c names an
 * enum constant MAX_INPUT, which <limits.h> (via <dirent.h>) defines as a macro under
 * _GNU_SOURCE.  Pulling those headers in first and dropping the macro lets the shared
 * driver compile unchanged; remove once standalone.c renames its constant. */
#include <dirent.h>
#include <limits.h>
#undef MAX_INPUT
