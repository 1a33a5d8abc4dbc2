/* container_of: the struct a member pointer lives in (libuv handles embedded in our own
 * structs come back to us as the handle). */
#ifndef MESH_COMMON_CONTAINER_H
#define MESH_COMMON_CONTAINER_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
