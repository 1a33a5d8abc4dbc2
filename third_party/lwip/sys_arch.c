/* lwIP's system hooks for NO_SYS=1: the millisecond clock, randomness, and routing of
 * assertions and diagnostics into our log. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

#include "lwip/opt.h"
#include "lwip/sys.h"

#include "common/log.h"
#include "common/now.h"

u32_t sys_now(void)
{
	return (u32_t)now_mono_ms();
}

uint32_t mesh_lwip_rand(void)
{
	return arc4random();
}

void mesh_lwip_assert(const char *message, const char *file, int line)
{
	log_err("lwip", "assertion failed at %s:%d: %s", file, line, message);
	abort();
}

void mesh_lwip_diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_DEBUG, "lwip", fmt, ap);
	va_end(ap);
}
