/* Tags: the list form control keeps (a sorted string vector without repeats, bounded as
 * store.h says), reading one from a JSON array or from "tag:a,tag:b" text, and who may put
 * which tag on what.  A tag is owned per the policy's tagOwners; the owner of an auth key
 * must own its tags, and a node may ask for tags at registration ("tags" in the request)
 * only when the person or key registering it owns them (tags the key already carries need
 * no further check). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"
#include "control/policy/policy.h"
#include "control/server/ident.h"
#include "control/server/store.h"
#include "control/server/tags.h"

static bool tag_valid(const char *t)
{
	size_t len = strlen(t);
	if (strncmp(t, "tag:", 4) != 0 || len == 4 || len > CTL_TAG_LEN_MAX)
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

void ctl_tags_canonical(char **v, size_t *n)
{
	size_t kept = 0;
	if (!*n) /* an empty list may be NULL */
		return;
	qsort(v, *n, sizeof(*v), str_cmp);
	for (size_t i = 0; i < *n; i++) {
		if (kept && strcmp(v[i], v[kept - 1]) == 0)
			free(v[i]);
		else
			v[kept++] = v[i];
	}
	*n = kept;
}

/* A copy of the n tags of v in the list form. */
static int canonical_copy(const char *const *v, size_t n, char ***out, size_t *nout)
{
	int rc = strv_dup(v, n, out);
	*nout = rc ? 0 : n;
	if (!rc)
		ctl_tags_canonical(*out, nout);
	return rc;
}

int ctl_tags_from_json(json_t *arr, char ***out, size_t *n, char *err, size_t errlen)
{
	const char *v[CTL_TAGS_COUNT_MAX];
	size_t i;
	json_t *t;
	*out = NULL;
	*n = 0;
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "tags: expected an array like [\"tag:server\"]");
		return -EINVAL;
	}
	if (json_array_size(arr) > CTL_TAGS_COUNT_MAX) {
		snprintf(err, errlen, "tags: at most %d tags", CTL_TAGS_COUNT_MAX);
		return -EINVAL;
	}
	json_array_foreach(arr, i, t)
	{
		v[i] = json_string_value(t);
		if (!v[i] || !tag_valid(v[i])) {
			snprintf(err, errlen,
				 "tags[%zu]: expected \"tag:<name>\" (letters, digits, - "
				 "and _, at most %d characters)",
				 i, CTL_TAG_LEN_MAX);
			return -EINVAL;
		}
	}
	if (canonical_copy(v, json_array_size(arr), out, n) != 0) {
		snprintf(err, errlen, "tags: out of memory");
		return -ENOMEM;
	}
	return 0;
}

int ctl_tags_parse(const char *csv, char ***out, size_t *n, char *err, size_t errlen)
{
	int rc = strv_split(csv, ',', CTL_TAGS_COUNT_MAX, out, n);
	if (rc == -E2BIG) {
		snprintf(err, errlen, "tags: at most %d tags", CTL_TAGS_COUNT_MAX);
		return -EINVAL;
	}
	if (rc) {
		snprintf(err, errlen, "tags: out of memory");
		return rc;
	}
	for (size_t i = 0; i < *n; i++) {
		if (!tag_valid((*out)[i])) {
			snprintf(err, errlen,
				 "tags: '%.*s' is not \"tag:<name>\" (letters, digits, - and _, "
				 "at most %d characters)",
				 CTL_TAG_LEN_MAX + 1, (*out)[i], CTL_TAG_LEN_MAX);
			strv_free(*out, *n);
			*out = NULL;
			*n = 0;
			return -EINVAL;
		}
	}
	ctl_tags_canonical(*out, n);
	return 0;
}

void ctl_tags_join(const char *const *v, size_t n, char *out, size_t outlen)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && used + 1 < outlen; i++) {
		int w = snprintf(out + used, outlen - used, "%s%s", i ? "," : "", v[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

static bool has_tag(const char *const *v, size_t n, const char *t)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], t) == 0)
			return true;
	return false;
}

bool ctl_tags_subset(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	for (size_t i = 0; i < na; i++)
		if (!has_tag(b, nb, a[i]))
			return false;
	return true;
}

int ctl_tags_grant(const char *policy_text, const char *login, const char *const *key_tags,
		   size_t nk, const char *const *asked, size_t na, char ***out, size_t *n,
		   char *err, size_t errlen)
{
	const char **v = calloc(nk + na + 1, sizeof(*v));
	size_t extra = 0;
	*out = NULL;
	*n = 0;
	if (!v) {
		snprintf(err, errlen, "tags: out of memory");
		return -ENOMEM;
	}
	/* the asked-for tags the key does not carry must be owned by login */
	for (size_t i = 0; i < na; i++)
		if (!has_tag(key_tags, nk, asked[i]))
			v[extra++] = asked[i];
	int rc = ctl_authkey_check_tags(policy_text, login, v, extra, err, errlen);
	if (!rc) {
		for (size_t i = 0; i < nk; i++)
			v[extra++] = key_tags[i];
		rc = canonical_copy(v, extra, out, n);
		if (rc)
			snprintf(err, errlen, "tags: out of memory");
	}
	if (!rc && *n > CTL_TAGS_COUNT_MAX) {
		snprintf(err, errlen, "tags: at most %d tags (the auth key's and the asked-for)",
			 CTL_TAGS_COUNT_MAX);
		strv_free(*out, *n);
		*out = NULL;
		*n = 0;
		rc = -EINVAL;
	}
	free(v);
	return rc;
}

int ctl_authkey_check_tags(const char *policy_text, const char *login, const char *const *tags,
			   size_t n, char *err, size_t errlen)
{
	if (!n)
		return 0;
	if (!policy_text) {
		char text[CTL_TAGS_TEXT_MAX];
		ctl_tags_join(tags, n, text, sizeof(text));
		snprintf(err, errlen,
			 "tags: no policy is set, so no one owns %s (define it in "
			 "tagOwners first)",
			 text);
		return -EPERM;
	}
	struct pol_policy *pol;
	struct pol_error perr;
	int rc = pol_parse(policy_text, strlen(policy_text), NULL, &pol, &perr);
	if (rc) {
		snprintf(err, errlen, "tags: the stored policy does not parse: %s", perr.msg);
		return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		if (!pol_tag_owned_by(pol, tags[i], login)) {
			snprintf(err, errlen, "tags: %s does not own %s in the policy's tagOwners",
				 login, tags[i]);
			rc = -EPERM;
		}
	}
	pol_policy_free(pol);
	return rc;
}
