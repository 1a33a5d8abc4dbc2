/* See tailnet.h. */
#include <stdio.h>
#include <time.h>

#include "control/server/server.h"
#include "control/server/store.h"
#include "tailnet.h"

int test_tailnet_make(const char *state, char key[static CTL_AUTHKEY_TEXT_SIZE])
{
	struct ctl_store *st;
	const char *why = "";
	char err[512];
	int64_t uid;
	struct ctl_authkey k;
	if (ctl_state_open(state, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "tailnet: %s\n", err);
		return -1;
	}
	int rc = ctl_user_create(st, "alice@example.com", "correct horse", &uid, &why);
	if (rc == 0)
		rc = ctl_authkey_create(st, uid, true, false, NULL, 0, (int64_t)time(NULL) + 3600,
					key, &k);
	if (rc == 0)
		ctl_authkey_clear(&k);
	else
		fprintf(stderr, "tailnet: cannot make the user and key (%d, %s)\n", rc, why);
	st->ops->close(st);
	return rc ? -1 : 0;
}
