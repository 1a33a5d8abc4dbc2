/* Check mode through the identity provider: whether a verified re-authentication may approve
 * a hold (control/server/sso_check.c), each refusal with its exact sentence.  The hold was
 * made at T by the node of user 7; the callback comes 30 s later. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "control/server/sso.h"

enum { T = 1800000000, OWNER = 7 };

static struct ctl__sso_check good(void)
{
	return (struct ctl__sso_check){ .hold_created = T,
					.hold_pending = true,
					.src_owner = OWNER,
					.user_id = OWNER,
					.auth_time = T + 20,
					.now = T + 30 };
}

static void expect(const struct ctl__sso_check *c, int rc, const char *why)
{
	char got[256] = "(unset)";
	CHECK_INT(ctl__sso_check_decide(c, got, sizeof(got)), rc);
	if (why)
		CHECK_STR(got, why);
}

int main(void)
{
	struct ctl__sso_check c = good();
	expect(&c, 0, NULL);

	/* the verifier's skew, both ends: at the hold's creation less 60 s, and 60 s ahead */
	c.auth_time = T - CTL_OIDC_SKEW;
	expect(&c, 0, NULL);
	c = good();
	c.auth_time = c.now + CTL_OIDC_SKEW;
	expect(&c, 0, NULL);

	/* bob (user 8) re-authenticated for alice's hold */
	c = good();
	c.user_id = 8;
	expect(&c, -EPERM, "only the owner of the connecting device can approve this login");

	/* a tagged source, flagged or without an owner */
	c = good();
	c.src_tagged = true;
	expect(&c, -EPERM, "the connecting device is tagged: no person can approve its logins");
	c = good();
	c.src_owner = 0;
	c.user_id = 0;
	expect(&c, -EPERM, "the connecting device is tagged: no person can approve its logins");

	/* no auth_time: fails closed, also for the owner */
	c = good();
	c.auth_time = 0;
	expect(&c, -EACCES,
	       "the identity provider did not say when you signed in (the ID token has no "
	       "auth_time), so this is not a fresh login");

	/* a login older than the hold (a provider that ignored prompt=login and max_age=0) */
	c = good();
	c.auth_time = T - CTL_OIDC_SKEW - 1;
	expect(&c, -EACCES,
	       "you signed in at the identity provider 61 s before this login was asked for "
	       "(60 s of clock skew allowed), so not for it");

	/* auth_time in the future */
	c = good();
	c.auth_time = c.now + CTL_OIDC_SKEW + 1;
	expect(&c, -EACCES,
	       "the identity provider says you signed in 61 s from now (60 s of clock skew "
	       "allowed)");

	/* already decided: nothing more to approve */
	c = good();
	c.hold_pending = false;
	expect(&c, -ESTALE, "this login was already approved or rejected");

	/* the order of the refusals: decided, tagged, auth_time, owner */
	c = good();
	c.user_id = 8;
	c.auth_time = 0;
	expect(&c, -EACCES, NULL);
	c.src_tagged = true;
	expect(&c, -EPERM, "the connecting device is tagged: no person can approve its logins");
	return check_finish();
}
