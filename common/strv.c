/* String vectors (strv.h): one implementation of freeing, copying and splitting the lists
 * the tree keeps as (char **v, size_t n). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"

void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

int strv_dup(const char *const *src, size_t n, char ***out)
{
	*out = NULL;
	if (!n)
		return 0;
	char **v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(src[i]);
		if (!v[i]) {
			strv_free(v, i);
			return -ENOMEM;
		}
	}
	*out = v;
	return 0;
}

int strv_split(const char *s, char sep, size_t max, char ***out, size_t *n)
{
	size_t count = 0;
	*out = NULL;
	*n = 0;
	if (sep == '\0')
		return -EINVAL;
	/* count first: the bound is checked before anything is allocated */
	for (const char *p = s; p && *p;) {
		const char *e = strchr(p, sep);
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len && count++ == max)
			return -E2BIG;
		p += len + (e ? 1 : 0);
	}
	if (!count)
		return 0;
	char **v = calloc(count, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t i = 0;
	for (const char *p = s; *p;) {
		const char *e = strchr(p, sep);
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len && !(v[i++] = strndup(p, len))) {
			strv_free(v, i - 1);
			return -ENOMEM;
		}
		p += len + (e ? 1 : 0);
	}
	*out = v;
	*n = count;
	return 0;
}
