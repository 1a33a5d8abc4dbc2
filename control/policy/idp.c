/* Policy groups fed by the identity provider.  A group member written `oidc:NAME` stands for
 * every user whose last sign-in through the provider carried NAME in its groups claim; the
 * topology brings each user's stored claim (struct pol_user's idp_groups), so the engine
 * never asks anyone: membership is an input like the nodes are.  Names match exactly, case
 * and all, as providers compare them.  Checked here when a policy is read, used here when
 * it is compiled, tested and explained. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "control/policy/internal.h"
static const size_t idp_prefix_len = sizeof(POL_IDP_PREFIX) - 1;

/* Member through one of g's provider groups (*via: which), whatever its listed logins. */
static bool idp_has(const struct pol_compiled *c, const struct pol__group *g, int u,
		    const char **via);

int pol__group_member_check(const struct pol__group *g, const char *m, struct pol_error *err)
{
	if (pol__starts(m, "group:"))
		return pol__fail(err, "groups[\"%s\"]: \"%s\": group members cannot be recursive",
				 g->name, m);
	if (pol__starts(m, POL_IDP_PREFIX)) {
		const char *name = m + idp_prefix_len;
		size_t n = strlen(name);
		if (!n)
			return pol__fail(err,
					 "groups[\"%s\"]: \"%s\": a provider group needs a name "
					 "after '" POL_IDP_PREFIX "'",
					 g->name, m);
		if (n > POL_IDP_GROUP_MAX)
			return pol__fail(err,
					 "groups[\"%s\"]: \"%.40s...\": a provider group's name "
					 "is at most %d bytes, not %zu",
					 g->name, m, POL_IDP_GROUP_MAX, n);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
				return pol__fail(err,
						 "groups[\"%s\"]: a provider group's name has a "
						 "control character (byte %zu of \"%.*s...\")",
						 g->name, i + 1, (int)(idp_prefix_len + i), m);
		return 0;
	}
	if (pol__starts(m, "tag:") || pol__starts(m, "autogroup:") || !strchr(m, '@'))
		return pol__fail(err,
				 "groups[\"%s\"]: \"%s\": group members must be users "
				 "(logins such as alice@example.com)",
				 g->name, m);
	return 0;
}

bool pol__group_has(const struct pol_compiled *c, const struct pol__group *g, int u,
		    const char **via)
{
	if (via)
		*via = NULL;
	if (u < 0 || (size_t)u >= c->n_users)
		return false;
	for (size_t m = 0; m < g->n_members; m++)
		if (!pol__starts(g->members[m], POL_IDP_PREFIX) &&
		    strcasecmp(g->members[m], c->users[u]) == 0)
			return true;
	return idp_has(c, g, u, via);
}

int pol__group_idp_users(struct pol__cctx *x, int g, const struct pol__ivec **out)
{
	struct pol__ivec *v = &x->idp_users[g];
	*out = v;
	if (x->idp_done[g])
		return 0;
	x->idp_done[g] = true;
	const struct pol__group *grp = &x->pol->groups[g];
	for (size_t u = 0; grp->has_idp && u < x->c->n_users; u++)
		if (idp_has(x->c, grp, (int)u, NULL) && pol__ivec_push(v, (int)u))
			return -ENOMEM;
	return 0;
}

static bool idp_has(const struct pol_compiled *c, const struct pol__group *g, int u,
		    const char **via)
{
	if (!g->has_idp)
		return false;
	const struct pol__uidp *p = &c->user_idp[u];
	for (size_t m = 0; m < g->n_members; m++) {
		if (!pol__starts(g->members[m], POL_IDP_PREFIX))
			continue;
		for (size_t k = 0; k < p->n; k++)
			if (strcmp(g->members[m] + idp_prefix_len, p->groups[k]) == 0) {
				if (via)
					*via = p->groups[k];
				return true;
			}
	}
	return false;
}

size_t pol_user_groups_describe(const struct pol_compiled *c, const char *login, char *buf,
				size_t len)
{
	int u = pol__user_index(c, login);
	size_t shown = 0, n = 0;
	if (len)
		buf[0] = '\0';
	for (size_t i = 0; u >= 0 && i < c->pol->n_groups; i++) {
		const struct pol__group *g = &c->pol->groups[i];
		const char *via;
		if (!pol__group_has(c, g, u, &via))
			continue;
		int w;
		const char *sep = shown++ ? "; " : "";
		if (!via) {
			w = snprintf(buf + n, len - n, "%s%s (listed by login)", sep, g->name);
		} else {
			char at[64] = "";
			struct tm tm;
			time_t t = (time_t)c->user_idp[u].at;
			if (t > 0 && gmtime_r(&t, &tm))
				strftime(at, sizeof(at), ", at the login of %Y-%m-%d %H:%M UTC",
					 &tm);
			w = snprintf(buf + n, len - n, "%s%s via the provider's group %s%s", sep,
				     g->name, via, at);
		}
		if (w < 0 || (size_t)w >= len - n) {
			n = len ? len - 1 : 0; /* cut short: what fits */
			continue;
		}
		n += (size_t)w;
	}
	return shown;
}
