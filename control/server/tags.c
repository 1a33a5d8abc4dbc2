/* Tags: the list form control keeps ("tag:a,tag:b", sorted, no repeats), reading one from
 * a JSON array, and who may put which tag on what.  A tag is owned per the policy's
 * tagOwners; the owner of an auth key must own its tags, and a node may ask for tags at
 * registration ("tags" in the request) only when the person or key registering it owns
 * them (tags the key already carries need no further check). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"
#include "control/policy/policy.h"
#include "control/server/ident.h"
#include "control/server/tags.h"

enum { TAG_NAME_MAX = 64, TAGS_LIST_MAX = 32 };

static bool tag_valid(const char *t)
{
	size_t len = strlen(t);
	if (strncmp(t, "tag:", 4) != 0 || len == 4 || len > TAG_NAME_MAX)
		return false;
	for (const char *p = t + 4; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
	return true;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sort v, drop repeats, join with commas into out. */
static int join(const char **v, size_t n, char *out, size_t outlen)
{
	size_t used = 0;
	if (n) /* an empty list may be NULL */
		qsort(v, n, sizeof(*v), str_cmp);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i && strcmp(v[i], v[i - 1]) == 0)
			continue;
		int w = snprintf(out + used, outlen - used, "%s%s", used ? "," : "", v[i]);
		if (w < 0 || (size_t)w >= outlen - used)
			return -E2BIG;
		used += (size_t)w;
	}
	return 0;
}

int ctl_tags_from_json(json_t *arr, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *v[TAGS_LIST_MAX];
	size_t i;
	json_t *t;
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "tags: expected an array like [\"tag:server\"]");
		return -EINVAL;
	}
	if (json_array_size(arr) > TAGS_LIST_MAX) {
		snprintf(err, errlen, "tags: at most %d tags", TAGS_LIST_MAX);
		return -EINVAL;
	}
	json_array_foreach(arr, i, t)
	{
		v[i] = json_string_value(t);
		if (!v[i] || !tag_valid(v[i])) {
			snprintf(err, errlen,
				 "tags[%zu]: expected \"tag:<name>\" (letters, digits, - "
				 "and _, at most %d characters)",
				 i, TAG_NAME_MAX);
			return -EINVAL;
		}
	}
	if (join(v, json_array_size(arr), out, outlen) != 0) {
		snprintf(err, errlen, "tags: the list is too long");
		return -EINVAL;
	}
	return 0;
}

int ctl_tags_canonical(const char *csv, char *out, size_t outlen)
{
	char **v;
	size_t n;
	int rc = strv_split(csv, ',', TAGS_LIST_MAX, &v, &n);
	if (!rc)
		rc = join((const char **)v, n, out, outlen);
	strv_free(v, n);
	return rc;
}

int ctl_tags_grant(const char *policy_text, const char *login, const char *key_tags,
		   const char *asked, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *v[2 * TAGS_LIST_MAX];
	char **kv = NULL, **av = NULL;
	char extra[2 * CTL_TAGS_MAX] = "";
	size_t nk = 0, na = 0;
	int rc = strv_split(key_tags, ',', TAGS_LIST_MAX, &kv, &nk);
	if (!rc)
		rc = strv_split(asked, ',', TAGS_LIST_MAX, &av, &na);
	/* the asked-for tags the key does not carry must be owned by login */
	for (size_t i = 0; !rc && i < na; i++) {
		bool carried = false;
		for (size_t k = 0; k < nk && !carried; k++)
			carried = strcmp(kv[k], av[i]) == 0;
		if (carried)
			continue;
		if (strlen(extra) + 1 + strlen(av[i]) + 1 > sizeof(extra)) {
			rc = -E2BIG; /* never grant a tag that was not checked */
			break;
		}
		if (extra[0])
			strcat(extra, ",");
		strcat(extra, av[i]);
	}
	if (!rc && extra[0])
		rc = ctl_authkey_check_tags(policy_text, login, extra, err, errlen);
	if (!rc) {
		for (size_t i = 0; i < nk + na; i++)
			v[i] = i < nk ? kv[i] : av[i - nk];
		if (join(v, nk + na, out, outlen) != 0) {
			snprintf(err, errlen, "tags: the list is too long");
			rc = -EINVAL;
		}
	} else if (rc == -E2BIG || rc == -ENOMEM) {
		snprintf(err, errlen, "tags: %s", rc == -E2BIG ? "too many tags" : "out of memory");
	}
	strv_free(kv, nk);
	strv_free(av, na);
	return rc;
}

bool ctl_tags_subset(const char *a, const char *b)
{
	char **v = NULL, **w = NULL;
	size_t na = 0, nb = 0;
	bool all = strv_split(a, ',', TAGS_LIST_MAX, &v, &na) == 0 &&
		   strv_split(b, ',', TAGS_LIST_MAX, &w, &nb) == 0;
	for (size_t i = 0; all && i < na; i++) {
		bool found = false;
		for (size_t k = 0; k < nb && !found; k++)
			found = strcmp(v[i], w[k]) == 0;
		all = found;
	}
	strv_free(v, na);
	strv_free(w, nb);
	return all;
}

int ctl_authkey_check_tags(const char *policy_text, const char *login, const char *tags_csv,
			   char *err, size_t errlen)
{
	if (!tags_csv || !*tags_csv)
		return 0;
	if (!policy_text) {
		snprintf(err, errlen,
			 "tags: no policy is set, so no one owns %s (define it in "
			 "tagOwners first)",
			 tags_csv);
		return -EPERM;
	}
	struct pol_policy *pol;
	struct pol_error perr;
	int rc = pol_parse(policy_text, strlen(policy_text), NULL, &pol, &perr);
	if (rc) {
		snprintf(err, errlen, "tags: the stored policy does not parse: %s", perr.msg);
		return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	char **v;
	size_t n;
	/* no bound of its own: its callers' lists are (an admin's, or the checked part of one) */
	rc = strv_split(tags_csv, ',', SIZE_MAX, &v, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		if (!pol_tag_owned_by(pol, v[i], login)) {
			snprintf(err, errlen, "tags: %s does not own %s in the policy's tagOwners",
				 login, v[i]);
			rc = -EPERM;
		}
	}
	strv_free(v, n);
	pol_policy_free(pol);
	return rc;
}
