/* Who a verified sign-in is here, and what it changes (#17).  A person is (iss, sub): a
 * sign-in finds their user, or creates it at the first sign-in, except for a check (a new
 * login to approve an SSH hold), which only finds: nobody becomes a user by failing a
 * check.  Each sign-in stores the groups claim it carried; those groups are policy members
 * (oidc:NAME), so when they differ from what the last login stored the maps are rebuilt
 * like after a policy change, and sessions the new maps no longer allow are closed by the
 * nodes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "control/server/internal.h"
#include "control/server/sso.h"

static char *groups_json(const struct ctl_oidc_identity *id)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < id->ngroups; i++)
		json_array_append_new(a, json_string(id->groups[i]));
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

int ctl__sso_user_login(struct ctl_server *srv, const struct ctl_oidc_identity *id,
			const char *login, bool check_only, int64_t now, struct ctl_user *u,
			bool *created, char *why, size_t whylen)
{
	struct ctl_store *st = srv->store;
	char *before = NULL, *groups = NULL;
	*created = false;
	int rc = st->ops->sso_user(st, id->iss, id->sub, u);
	if (rc == -ENOENT && check_only) {
		snprintf(why, whylen,
			 "you have never signed in to this tailnet, so no device here is yours "
			 "and you cannot approve its logins");
		return -EPERM;
	}
	if (!rc && st->ops->sso_groups(st, u->id, &before) != 0)
		before = NULL;
	if (rc && rc != -ENOENT)
		goto out;
	groups = groups_json(id);
	if (!groups) {
		rc = -ENOMEM;
		goto out;
	}
	struct ctl_sso_login in = { .iss = id->iss,
				    .sub = id->sub,
				    .email = id->email,
				    .groups = groups,
				    .login = login,
				    .now = now };
	rc = st->ops->sso_login(st, &in, u, created);
	if (rc || *created || (before && strcmp(before, groups) == 0))
		goto out;
	char err[256];
	log_info("meshcontrol",
		 "oidc: %s's groups at the provider changed (%s -> %s): maps rebuilt", u->login,
		 before ? before : "none", groups);
	if (ctl__map_rebuild(srv, err, sizeof(err)) != 0)
		log_err("meshcontrol", "after %s's groups changed: %s", u->login, err);
out:
	if (rc == -EEXIST)
		snprintf(why, whylen,
			 "the login %s is already another user's here; an "
			 "administrator can remove that user (meshcontrol user remove %s)",
			 login, login);
	else if (rc)
		snprintf(why, whylen, "the user could not be stored: %s", strerror(-rc));
	free(before);
	free(groups);
	return rc;
}
