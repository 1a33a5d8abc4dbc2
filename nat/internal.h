/* Shared inside nat/ only. */
#ifndef MESH_NAT_INTERNAL_H
#define MESH_NAT_INTERNAL_H

#include <stddef.h>

/* Formats a parse error into err (when given) and returns -EBADMSG. */
int nat__fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
