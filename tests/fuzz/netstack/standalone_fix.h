/* Force-included into the netstack fuzz target's objects: tests/fuzz/standalone.c names an
 * enum constant MAX_INPUT, which <limits.h> (via <dirent.h>) defines under _GNU_SOURCE.
 * Remove once standalone.c renames its constant (reported to the lead). */
#include <dirent.h>
#include <limits.h>
#undef MAX_INPUT
