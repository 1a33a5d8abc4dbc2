/* Check mode through the identity provider (#17): whether a verified re-authentication may
 * approve a hold.  Pure (no I/O, no clock: the time is a field), so each refusal is a unit
 * test's exact sentence (tests/unit/control/test_sso_check.c).  The ID token's verifier
 * already required auth_time at or after the hold's creation (struct ctl_oidc_verify's
 * check and auth_after); this says it again next to the rest, so that the rule holds in one
 * place whatever the verifier was asked. */
#include <errno.h>
#include <stdio.h>

#include "control/server/sso.h"

int ctl__sso_check_decide(const struct ctl__sso_check *c, char *why, size_t whylen)
{
	const long long skew = CTL_OIDC_SKEW;
	if (!c->hold_pending) {
		snprintf(why, whylen, "this login was already approved or rejected");
		return -ESTALE;
	}
	if (c->src_tagged || c->src_owner <= 0) {
		snprintf(why, whylen,
			 "the connecting device is tagged: no person can approve its logins");
		return -EPERM;
	}
	if (c->auth_time <= 0) {
		snprintf(why, whylen,
			 "the identity provider did not say when you signed in (the ID token has "
			 "no auth_time), so this is not a fresh login");
		return -EACCES;
	}
	if (c->auth_time + skew < c->hold_created) {
		snprintf(why, whylen,
			 "you signed in at the identity provider %lld s before this login was "
			 "asked for (%lld s of clock skew allowed), so not for it",
			 (long long)(c->hold_created - c->auth_time), skew);
		return -EACCES;
	}
	if (c->auth_time > c->now + skew) {
		snprintf(why, whylen,
			 "the identity provider says you signed in %lld s from now (%lld s of "
			 "clock skew allowed)",
			 (long long)(c->auth_time - c->now), skew);
		return -EACCES;
	}
	if (c->user_id != c->src_owner) {
		snprintf(why, whylen,
			 "only the owner of the connecting device can approve this login");
		return -EPERM;
	}
	return 0;
}
