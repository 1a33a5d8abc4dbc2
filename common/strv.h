/* common/strv.h: string vectors, the (char **v, size_t n) pairs the tree passes lists of
 * names in (a node's tags, endpoints, SSH host keys, a policy's lists).  Each string and
 * the array are malloc'd and owned by whoever holds the pair.
 *
 *	char **v;
 *	size_t n;
 *	int rc = strv_split("tag:a,tag:b", ',', 32, &v, &n);	// v = {"tag:a", "tag:b"}
 *	if (rc)
 *		return rc;					// -E2BIG or -ENOMEM
 *	...
 *	strv_free(v, n);
 *
 * Errors are negative errno values; on an error nothing is allocated and *out is NULL. */
#ifndef MESH_COMMON_STRV_H
#define MESH_COMMON_STRV_H

#include <stddef.h>

/* Frees the n strings of v and v itself; v may be NULL. */
void strv_free(char **v, size_t n);

/* A deep copy of the n strings of src into *out (NULL when n is 0): 0 or -ENOMEM. */
int strv_dup(const char *const *src, size_t n, char ***out);

/* Splits s at every sep into *out and *n.  Items are kept byte for byte (no whitespace is
 * trimmed, repeats stay, order stays); empty items (two seps in a row, a sep at either end)
 * are skipped, so NULL, "" and "," give no items and *out NULL.  -E2BIG when there are more
 * than max items, -EINVAL when sep is '\0', -ENOMEM. */
int strv_split(const char *s, char sep, size_t max, char ***out, size_t *n);

#endif
