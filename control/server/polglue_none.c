/* Stand-in for polglue.c while the policy engine is not part of the build: every policy is
 * refused with a message saying so, and the server runs without one (allow-all, no SSH). */
#include <errno.h>
#include <stdio.h>

#include "control/server/polglue.h"

int polglue_apply(struct ctl_server *srv, const char *text, bool commit, char *err,
		  size_t errlen)
{
	snprintf(err, errlen, "this meshcontrol was built without the policy engine");
	return -ENOTSUP;
}

void polglue_free(struct ctl_server *srv)
{
}
