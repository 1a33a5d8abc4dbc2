/* lwIP architecture glue for Linux/glibc: standard types come from libc, and lwIP's
 * assertions and diagnostics go to our log; a failed assertion aborts. */
#ifndef MESH_LWIP_ARCH_CC_H
#define MESH_LWIP_ARCH_CC_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#define LWIP_ERRNO_STDINCLUDE 1
#define LWIP_TIMEVAL_PRIVATE 0
#define LWIP_NO_CTYPE_H 0

#define LWIP_RAND_FROM_OPTS 1

void mesh_lwip_assert(const char *message, const char *file, int line) __attribute__((noreturn));
void mesh_lwip_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define LWIP_PLATFORM_ASSERT(x) mesh_lwip_assert((x), __FILE__, __LINE__)
#define LWIP_PLATFORM_DIAG(x)                                                                      \
	do {                                                                                       \
		mesh_lwip_diag x;                                                                  \
	} while (0)

#endif
