/* The named sets rules refer to: groups (of users, never nested), tagOwners (which tags exist
 * and who may apply them) and hosts (names for addresses).  They are read before any rule, so
 * an alias naming one that does not exist is refused where the rule is read.  Names are
 * checked as the reference service checks them, with its messages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"
static bool ascii_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int group_cmp(const void *a, const void *b)
{
	return strcmp((*(struct pol__group *const *)a)->name,
		      (*(struct pol__group *const *)b)->name);
}

static int check_members(struct pol_policy *pol, struct pol__group **sorted, struct pol_error *err);

int pol__parse_groups(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	int sec = pol__section_new(j, true, "groups: must be an object", &pol->groups,
				   sizeof(*pol->groups), err);
	if (sec <= 0)
		return sec;
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		struct pol__group *g = &pol->groups[pol->n_groups];
		char ctx[300];
		if (!pol__starts(k, "group:") || !k[6])
			return pol__fail(err,
					 "groups[\"%s\"]: group names must start with 'group:'", k);
		snprintf(ctx, sizeof(ctx), "groups[\"%s\"]", k);
		g->name = strdup(k);
		if (!g->name)
			return -ENOMEM;
		pol->n_groups++;
		int rc = pol__strv_get(v, &g->members, &g->n_members, err, ctx);
		if (rc)
			return rc;
		if (!json_is_array(v) && !json_is_null(v))
			return pol__fail(err, "%s: must be a list of users", ctx);
	}
	for (size_t i = 0; i < pol->n_groups; i++) {
		int rc = pol__strmap_put(&pol->group_idx, pol->groups[i].name, (int)i);
		if (rc)
			return rc;
	}
	struct pol__group **sorted = calloc(pol->n_groups + 1, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < pol->n_groups; i++)
		sorted[i] = &pol->groups[i];
	qsort(sorted, pol->n_groups, sizeof(*sorted), group_cmp);
	int rc = check_members(pol, sorted, err);
	free(sorted);
	return rc;
}

static int check_members(struct pol_policy *pol, struct pol__group **sorted, struct pol_error *err)
{
	/* Checked in reverse name order, which is the order the reference service reports
	 * nested groups in. */
	for (size_t i = pol->n_groups; i-- > 0;) {
		struct pol__group *g = sorted[i];
		for (size_t m = 0; m < g->n_members; m++) {
			int rc = pol__group_member_check(g, g->members[m], err);
			if (rc)
				return rc;
			g->has_idp |= pol__starts(g->members[m], POL_IDP_PREFIX);
		}
	}
	return 0;
}

int pol__parse_tag_owners(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	int sec = pol__section_new(j, true, "tagOwners: must be an object", &pol->tags,
				   sizeof(*pol->tags), err);
	if (sec <= 0)
		return sec;
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		if (!pol__starts(k, "tag:"))
			return pol__fail(err, "tagOwners[\"%s\"]: tag names must start with 'tag:'",
					 k);
		if (!ascii_letter(k[4]))
			return pol__fail(err,
					 "tagOwners[\"%s\"]: tag names must start with a letter, "
					 "after 'tag:'",
					 k);
		for (const char *p = k + 4; *p; p++)
			if (!(ascii_letter(*p) || (*p >= '0' && *p <= '9') || *p == '-' ||
			      *p == '_'))
				return pol__fail(err,
						 "tagOwners[\"%s\"]: tag names may contain only "
						 "letters, numbers, '-' and '_'",
						 k);
		if (!json_is_array(v) && !json_is_null(v))
			return pol__fail(err, "tagOwners[\"%s\"]: must be a list of owners", k);
		pol->tags[pol->n_tags] = strdup(k);
		if (!pol->tags[pol->n_tags])
			return -ENOMEM;
		pol->n_tags++;
	}
	for (size_t i = 0; i < pol->n_tags; i++) {
		int rc = pol__strmap_put(&pol->tag_idx, pol->tags[i], (int)i);
		if (rc)
			return rc;
	}
	/* Owners: users, groups, other tags, autogroup:admin/member. */
	json_object_foreach(j, k, v)
	{
		size_t i;
		json_t *o;
		json_array_foreach(v, i, o)
		{
			if (!json_is_string(o))
				return pol__fail(err, "tagOwners[\"%s\"][%zu]: must be a string", k,
						 i);
			const char *s = json_string_value(o);
			if (pol__starts(s, "group:") && pol__strmap_get(&pol->group_idx, s) < 0)
				return pol__fail(err, "tagOwners[\"%s\"]: group \"%s\" not found",
						 k, s);
			if (pol__starts(s, "tag:") && pol__strmap_get(&pol->tag_idx, s) < 0)
				return pol__fail(err, "tagOwners[\"%s\"]: tag \"%s\" not found", k,
						 s);
		}
	}
	/* Keep the owners for pol_tag_owned_by(). */
	pol->tag_owners = calloc(pol->n_tags + 1, sizeof(*pol->tag_owners));
	pol->n_tag_owners = calloc(pol->n_tags + 1, sizeof(*pol->n_tag_owners));
	if (!pol->tag_owners || !pol->n_tag_owners)
		return -ENOMEM;
	json_object_foreach(j, k, v)
	{
		int t = pol__strmap_get(&pol->tag_idx, k);
		size_t i, n = json_array_size(v);
		json_t *o;
		if (t < 0 || !n)
			continue;
		pol->tag_owners[t] = calloc(n, sizeof(char *));
		if (!pol->tag_owners[t])
			return -ENOMEM;
		json_array_foreach(v, i, o)
		{
			pol->tag_owners[t][i] = strdup(json_string_value(o));
			if (!pol->tag_owners[t][i])
				return -ENOMEM;
			pol->n_tag_owners[t]++;
		}
	}
	return 0;
}

bool pol_tag_owned_by(const struct pol_policy *pol, const char *tag, const char *login)
{
	int t = pol__strmap_get(&pol->tag_idx, tag);
	if (t < 0 || !pol->tag_owners)
		return false;
	for (size_t i = 0; i < pol->n_tag_owners[t]; i++) {
		const char *o = pol->tag_owners[t][i];
		if (strcmp(o, login) == 0 || strcmp(o, "autogroup:member") == 0)
			return true;
		if (pol__starts(o, "group:")) {
			int g = pol__strmap_get(&pol->group_idx, o);
			for (size_t m = 0; g >= 0 && m < pol->groups[g].n_members; m++)
				if (strcmp(pol->groups[g].members[m], login) == 0)
					return true;
		}
	}
	return false;
}

int pol__parse_hosts(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	int sec = pol__section_new(j, true, "hosts: must be an object", &pol->hosts,
				   sizeof(*pol->hosts), err);
	if (sec <= 0)
		return sec;
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		struct pol__host *h = &pol->hosts[pol->n_hosts];
		if (!json_is_string(v))
			return pol__fail(err, "hosts[\"%s\"]: must be an IP address or CIDR", k);
		if (!*k || strchr(k, '@') || strchr(k, ':') || strcmp(k, "*") == 0)
			return pol__fail(err, "hosts[\"%s\"]: invalid host name", k);
		if (!addr_net_parse(json_string_value(v), &h->prefix, NULL))
			return pol__fail(err, "hosts[\"%s\"]: \"%s\" is not an IP address or CIDR",
					 k, json_string_value(v));
		h->name = strdup(k);
		if (!h->name)
			return -ENOMEM;
		pol->n_hosts++;
	}
	for (size_t i = 0; i < pol->n_hosts; i++) {
		int rc = pol__strmap_put(&pol->host_idx, pol->hosts[i].name, (int)i);
		if (rc)
			return rc;
	}
	return 0;
}
