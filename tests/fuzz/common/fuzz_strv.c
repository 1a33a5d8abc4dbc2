/* Fuzz target for strv_split(), which reads lists from outside (a node's stored tags,
 * --advertise-tags, an admin's --tags).  The first byte picks the separator and the bound;
 * checks the contract: -E2BIG exactly when the input has more than max non-empty items,
 * otherwise items that are non-empty, hold no separator, and joined with it give back the
 * input without its empty items; strv_dup copies them exactly. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char sep = ",: \n"[data[0] & 3];
	size_t max = data[0] >> 2; /* 0 to 63 */
	char *s = malloc(size);
	if (!s)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0'; /* up to the first NUL, as a C string is read */
	/* the expected result, by one pass over the characters */
	size_t len = strlen(s), items = 0;
	char *want = malloc(len + 1);
	if (!want)
		abort();
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == sep)
			continue;
		if (i == 0 || s[i - 1] == sep) {
			if (items++)
				want[w++] = sep;
		}
		want[w++] = s[i];
	}
	want[w] = '\0';

	char **v, **d;
	size_t n;
	int rc = strv_split(s, sep, max, &v, &n);
	if (rc == -E2BIG) {
		if (items <= max || v || n)
			abort();
	} else if (rc) {
		abort(); /* no -ENOMEM here: nothing is allocated that large */
	} else {
		if (items > max || n != items || (n == 0) != (v == NULL))
			abort();
		char *got = calloc(1, len + 1);
		if (!got)
			abort();
		for (size_t i = 0; i < n; i++) {
			if (!v[i][0] || strchr(v[i], sep))
				abort();
			if (i)
				strncat(got, &sep, 1);
			strcat(got, v[i]);
		}
		if (strcmp(got, want) != 0)
			abort();
		if (strv_dup((const char *const *)v, n, &d) != 0)
			abort();
		for (size_t i = 0; i < n; i++)
			if (d[i] == v[i] || strcmp(d[i], v[i]) != 0)
				abort();
		strv_free(d, n);
		free(got);
		strv_free(v, n);
	}
	free(want);
	free(s);
	return 0;
}
