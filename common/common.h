/* common/: the few helpers every module shares.
 *   addr.h addresses, prefixes and endpoints: one type each, their text and sockaddrs
 *   log.h  levelled, subject-first, rate-limited logging
 *   key.h  32-byte keys as base64/hex, constant time, precise decode errors
 *   now.h  monotonic, boot-time and wall clocks
 *   file.h whole-file read with a limit, atomic replace
 *   verdict.h  reject / accept / check: the one decision vocabulary
 *   container.h  container_of */
#ifndef MESH_COMMON_H
#define MESH_COMMON_H

#include "common/addr.h"
#include "common/container.h"
#include "common/file.h"
#include "common/key.h"
#include "common/log.h"
#include "common/now.h"
#include "common/verdict.h"

#endif
