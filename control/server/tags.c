/* Tags: the list form control keeps ("tag:a,tag:b", sorted, no repeats), reading one from
 * a JSON array, and who may put which tag on what.  A tag is owned per the policy's
 * tagOwners; the owner of an auth key must own its tags, and a node may ask for tags at
 * registration ("tags" in the request) only when the person or key registering it owns
 * them (tags the key already carries need no further check). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Split a list in place into v (at most max); the count, or -E2BIG. */
static int split(char *csv, const char **v, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(csv, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == max)
			return -E2BIG;
		v[n++] = t;
	}
	return (int)n;
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
	json_array_foreach(arr, i, t) {
		v[i] = json_string_value(t);
		if (!v[i] || !tag_valid(v[i])) {
			snprintf(err, errlen, "tags[%zu]: expected \"tag:<name>\" (letters, digits, - "
					      "and _, at most %d characters)", i, TAG_NAME_MAX);
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
	const char *v[TAGS_LIST_MAX];
	char *copy = strdup(csv ? csv : "");
	if (!copy)
		return -ENOMEM;
	int n = split(copy, v, TAGS_LIST_MAX);
	int rc = n < 0 ? n : join(v, (size_t)n, out, outlen);
	free(copy);
	return rc;
}

int ctl_tags_grant(const char *policy_text, const char *login, const char *key_tags,
		   const char *asked, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *v[2 * TAGS_LIST_MAX], *kv[TAGS_LIST_MAX];
	char *kcopy = strdup(key_tags ? key_tags : ""), *acopy = strdup(asked ? asked : "");
	char extra[2 * CTL_TAGS_MAX] = "";
	int rc = kcopy && acopy ? 0 : -ENOMEM;
	int nk = rc ? 0 : split(kcopy, kv, TAGS_LIST_MAX);
	int na = rc || nk < 0 ? 0 : split(acopy, v + nk, TAGS_LIST_MAX);
	if (!rc && (nk < 0 || na < 0))
		rc = -E2BIG;
	/* the asked-for tags the key does not carry must be owned by login */
	for (int i = 0; !rc && i < na; i++) {
		bool carried = false;
		for (int k = 0; k < nk && !carried; k++)
			carried = strcmp(kv[k], v[nk + i]) == 0;
		if (carried)
			continue;
		if (strlen(extra) + 1 + strlen(v[nk + i]) + 1 > sizeof(extra)) {
			rc = -E2BIG; /* never grant a tag that was not checked */
			break;
		}
		if (extra[0])
			strcat(extra, ",");
		strcat(extra, v[nk + i]);
	}
	if (!rc && extra[0])
		rc = ctl_authkey_check_tags(policy_text, login, extra, err, errlen);
	if (!rc) {
		memcpy(v, kv, (size_t)nk * sizeof(*v));
		if (join(v, (size_t)(nk + na), out, outlen) != 0) {
			snprintf(err, errlen, "tags: the list is too long");
			rc = -EINVAL;
		}
	} else if (rc == -E2BIG || rc == -ENOMEM) {
		snprintf(err, errlen, "tags: %s", rc == -E2BIG ? "too many tags" : "out of memory");
	}
	free(kcopy);
	free(acopy);
	return rc;
}

bool ctl_tags_subset(const char *a, const char *b)
{
	const char *v[TAGS_LIST_MAX], *w[TAGS_LIST_MAX];
	char *ac = strdup(a ? a : ""), *bc = strdup(b ? b : "");
	int na = ac ? split(ac, v, TAGS_LIST_MAX) : -ENOMEM;
	int nb = bc ? split(bc, w, TAGS_LIST_MAX) : -ENOMEM;
	bool all = na >= 0 && nb >= 0;
	for (int i = 0; all && i < na; i++) {
		bool found = false;
		for (int k = 0; k < nb && !found; k++)
			found = strcmp(v[i], w[k]) == 0;
		all = found;
	}
	free(ac);
	free(bc);
	return all;
}

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
