/* Who may put which tag on an auth key: the key's owner must own each tag in the policy's
 * tagOwners, as when a person tags a device.  Checked when a key is created (admin API
 * and `meshcontrol authkey create`). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/policy.h"
#include "control/server/ident.h"

int ctl_authkey_check_tags(const char *policy_text, const char *login, const char *tags_csv,
			   char *err, size_t errlen)
{
	if (!tags_csv || !*tags_csv)
		return 0;
	if (!policy_text) {
		snprintf(err, errlen, "tags: no policy is set, so no one owns %s (define it in "
				      "tagOwners first)", tags_csv);
		return -EPERM;
	}
	struct pol_policy *pol;
	struct pol_error perr;
	int rc = pol_parse(policy_text, strlen(policy_text), NULL, &pol, &perr);
	if (rc) {
		snprintf(err, errlen, "tags: the stored policy does not parse: %s", perr.msg);
		return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	char *copy = strdup(tags_csv), *save = NULL;
	rc = copy ? 0 : -ENOMEM;
	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && !rc;
	     t = strtok_r(NULL, ",", &save)) {
		if (!pol_tag_owned_by(pol, t, login)) {
			snprintf(err, errlen, "tags: %s does not own %s in the policy's tagOwners", login,
				 t);
			rc = -EPERM;
		}
	}
	free(copy);
	pol_policy_free(pol);
	return rc;
}
