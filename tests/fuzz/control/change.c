/* Fuzz target for ctl_change_parse (a replica's change notification; its payload comes from
 * the database, which anyone able to write there can fill): an accepted payload prints back
 * to the same text, ids are positive, and a refused one leaves no NUL-less error. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/server/store_notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "node", "policy", "user",	"approval", "sso",
					     "meta", "hold",   "audit", "login" };
	char *s = malloc(size + 1), why[200], again[128];
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	struct ctl_change c;
	if (ctl_change_parse(s, &c, why, sizeof(why))) {
		if (c.kind == CTL_CHANGE_META || c.kind == CTL_CHANGE_HOLD ||
		    c.kind == CTL_CHANGE_LOGIN)
			snprintf(again, sizeof(again), "%s:%s", names[c.kind], c.name);
		else if (c.id <= 0)
			abort();
		else
			snprintf(again, sizeof(again), "%s:%" PRId64, names[c.kind], c.id);
		if (strcmp(again, s) != 0)
			abort();
	} else if (!memchr(why, '\0', sizeof(why)) || strncmp(why, "change '", 8) != 0) {
		abort();
	}
	free(s);
	return 0;
}
