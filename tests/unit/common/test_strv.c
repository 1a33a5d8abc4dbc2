/* common/strv.h: a numbered table of splits (empty items, whitespace, repeats, the bound at
 * its edge), the split against a naive character-by-character reference on random inputs,
 * and copies. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "common/strv.h"

/* v joined with '|' (no item of the table holds one), or "E2BIG"/"EINVAL"/"ENOMEM". */
static const char *show(int rc, char **v, size_t n)
{
	static char buf[512];
	if (rc)
		return rc == -E2BIG ? "E2BIG" : rc == -EINVAL ? "EINVAL" : "ENOMEM";
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(buf, "|");
		strcat(buf, v[i]);
	}
	return buf;
}

static const struct {
	const char *s;
	char sep;
	size_t max;
	const char *want;
} splits[] = {
	/* 1 */ { NULL, ',', 8, "" },
	/* 2 */ { "", ',', 8, "" },
	/* 3 */ { ",", ',', 8, "" },
	/* 4 */ { ",,,", ',', 0, "" }, /* empty items are no items, even at max 0 */
	/* 5 */ { "tag:a", ',', 8, "tag:a" },
	/* 6 */ { "tag:a,tag:b", ',', 8, "tag:a|tag:b" },
	/* 7 */ { "tag:a,,tag:b", ',', 8, "tag:a|tag:b" },
	/* 8 */ { ",tag:a,", ',', 8, "tag:a" },
	/* 9 */ { " tag:a , tag:b", ',', 8, " tag:a | tag:b" }, /* whitespace is kept */
	/* 10 */ { " ", ',', 8, " " },
	/* 11 */ { "b,a,b", ',', 8, "b|a|b" },	  /* repeats and order are kept */
	/* 12 */ { "a,b,c", ',', 3, "a|b|c" },	  /* at the bound */
	/* 13 */ { "a,b,c,d", ',', 3, "E2BIG" },  /* one over */
	/* 14 */ { "a,b,c,,,", ',', 3, "a|b|c" }, /* empty items do not count */
	/* 15 */ { "a", ',', 0, "E2BIG" },
	/* 16 */ { "a b\tc", ' ', 8, "a|b\tc" },
	/* 17 */ { "a,b", '\0', 8, "EINVAL" },
	/* 18 */ { "a,b", ';', 8, "a,b" },
};

/* The reference: walk the characters, cut at each sep, keep the non-empty pieces. */
static const char *naive(const char *s, char sep, size_t max)
{
	static char buf[512];
	size_t n = 0, len = 0, out = 0;
	buf[0] = '\0';
	for (size_t i = 0;; i++) {
		if (s[i] == sep || s[i] == '\0') {
			if (len && n++ == max)
				return "E2BIG";
			if (len) {
				if (out)
					buf[out++] = '|';
				memcpy(buf + out, s + i - len, len);
				out += len;
				buf[out] = '\0';
			}
			len = 0;
			if (s[i] == '\0')
				return buf;
		} else {
			len++;
		}
	}
}

int main(void)
{
	char **v;
	size_t n;
	for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		int rc = strv_split(splits[i].s, splits[i].sep, splits[i].max, &v, &n);
		if (strcmp(show(rc, v, n), splits[i].want) != 0)
			fprintf(stderr, "split %zu: '%s'\n", i + 1,
				splits[i].s ? splits[i].s : "(null)");
		CHECK_STR(show(rc, v, n), splits[i].want);
		CHECK(rc || n || v == NULL);	     /* no items: no array */
		CHECK(!rc || (v == NULL && n == 0)); /* an error leaves nothing */
		strv_free(v, n);
	}

	/* Random strings over {a, b, ',', ' '} against the reference, bounds 0 to 6. */
	srandom(15);
	for (int t = 0; t < 20000; t++) {
		char s[24];
		size_t len = (size_t)random() % sizeof(s);
		for (size_t i = 0; i < len; i++)
			s[i] = "ab, "[random() % 4];
		s[len] = '\0';
		size_t max = (size_t)random() % 7;
		int rc = strv_split(s, ',', max, &v, &n);
		const char *want = naive(s, ',', max);
		if (strcmp(show(rc, v, n), want) != 0) {
			fprintf(stderr, "random: '%s' max %zu\n", s, max);
			CHECK_STR(show(rc, v, n), want);
			break;
		}
		strv_free(v, n);
	}

	/* Copies are deep; none of nothing. */
	const char *src[] = { "one", "", "three" };
	CHECK_INT(strv_dup(src, 3, &v), 0);
	CHECK_STR(show(0, v, 3), "one||three");
	CHECK(v[0] != src[0] && v[2] != src[2]);
	strv_free(v, 3);
	v = (char **)src;
	CHECK_INT(strv_dup(src, 0, &v), 0);
	CHECK(v == NULL);
	strv_free(NULL, 0);
	return check_finish();
}
