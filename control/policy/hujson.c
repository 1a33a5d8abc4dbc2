/* HuJSON in front of jansson.
 *
 * Policy files are JSON plus `//` and block comments and trailing commas.  Rather than a
 * second JSON parser, this file rewrites the text in place into standard JSON of the same
 * length: comments and trailing commas become spaces (newlines are kept), a UTF-8 BOM
 * becomes spaces, so that jansson's line:column of a later syntax error still points into
 * the admin's file.  Problems only this layer sees (an unterminated comment or string,
 * nesting deeper than POL__MAX_DEPTH) are reported with their own line:column. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

struct scan {
	char *s;
	size_t len, i;
	struct pol_error *err;
};

static void position(const char *s, size_t upto, int *line, int *col)
{
	int l = 1, c = 1;
	for (size_t i = 0; i < upto; i++) {
		if (s[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)s[i] & 0xc0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static int fail_at(struct scan *sc, size_t at, const char *what)
{
	int line, col;
	position(sc->s, at, &line, &col);
	sc->err->line = line;
	sc->err->column = col;
	snprintf(sc->err->msg, sizeof(sc->err->msg), "line %d, column %d: %s", line, col, what);
	return -EINVAL;
}

/* Blanks [from, to) keeping newlines so positions survive. */
static void blank(char *s, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (s[i] != '\n' && s[i] != '\r')
			s[i] = ' ';
}

/* Skips whitespace and comments starting at i (blanking comments); returns the index of
 * the next significant byte, or len, or (size_t)-1 after an error. */
static size_t skip_ws(struct scan *sc, size_t i)
{
	char *s = sc->s;
	while (i < sc->len) {
		char ch = s[i];
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			i++;
		} else if (ch == '/' && i + 1 < sc->len && s[i + 1] == '/') {
			size_t j = i;
			while (j < sc->len && s[j] != '\n')
				j++;
			blank(s, i, j);
			i = j;
		} else if (ch == '/' && i + 1 < sc->len && s[i + 1] == '*') {
			size_t j = i + 2;
			while (j + 1 < sc->len && !(s[j] == '*' && s[j + 1] == '/'))
				j++;
			if (j + 1 >= sc->len) {
				fail_at(sc, i, "unterminated /* comment");
				return (size_t)-1;
			}
			blank(s, i, j + 2);
			i = j + 2;
		} else if (ch == '/') {
			fail_at(sc, i, "unexpected '/' (comments are // or /* */)");
			return (size_t)-1;
		} else {
			break;
		}
	}
	return i;
}

int pol__hujson_standardize(char *s, size_t len, struct pol_error *err)
{
	struct scan sc = { .s = s, .len = len, .err = err };
	int depth = 0;
	size_t i = 0;

	if (len >= 3 && (unsigned char)s[0] == 0xef && (unsigned char)s[1] == 0xbb &&
	    (unsigned char)s[2] == 0xbf) {
		/* jansson would refuse the BOM; a column shift of one is fine. */
		s[0] = s[1] = s[2] = ' ';
		i = 3;
	}
	while (i < len) {
		i = skip_ws(&sc, i);
		if (i == (size_t)-1)
			return -EINVAL;
		if (i >= len)
			break;
		char ch = s[i];
		if (ch == '"') {
			size_t j = i + 1;
			while (j < len && s[j] != '"' && s[j] != '\n') {
				if (s[j] == '\\')
					j++;
				j++;
			}
			if (j >= len || s[j] != '"')
				return fail_at(&sc, i, "unterminated string");
			i = j + 1;
		} else if (ch == '{' || ch == '[') {
			if (++depth > POL__MAX_DEPTH) {
				char m[80];
				snprintf(m, sizeof(m), "nesting deeper than %d levels",
					 POL__MAX_DEPTH);
				return fail_at(&sc, i, m);
			}
			i++;
		} else if (ch == '}' || ch == ']') {
			depth--;
			i++;
		} else if (ch == ',') {
			size_t j = skip_ws(&sc, i + 1);
			if (j == (size_t)-1)
				return -EINVAL;
			if (j < len && (s[j] == '}' || s[j] == ']'))
				s[i] = ' ';
			i = j;
		} else {
			i++;
		}
	}
	return 0;
}

json_t *pol__hujson_load(const char *text, size_t len, struct pol_error *err)
{
	char *s = malloc(len + 1);
	if (!s) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return NULL;
	}
	memcpy(s, text, len);
	s[len] = '\0';
	if (memchr(s, '\0', len)) {
		struct scan sc = { .s = s, .len = len, .err = err };
		fail_at(&sc, (size_t)((char *)memchr(s, '\0', len) - s), "NUL byte in policy");
		free(s);
		return NULL;
	}
	if (pol__hujson_standardize(s, len, err) < 0) {
		free(s);
		return NULL;
	}
	json_error_t je;
	json_t *root = json_loadb(s, len, JSON_REJECT_DUPLICATES, &je);
	free(s);
	if (!root) {
		err->line = je.line > 0 ? je.line : 1;
		err->column = je.column > 0 ? je.column : 1;
		snprintf(err->msg, sizeof(err->msg), "line %d, column %d: %s", err->line,
			 err->column, je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		err->line = err->column = 0;
		snprintf(err->msg, sizeof(err->msg), "policy must be a JSON object");
		return NULL;
	}
	return root;
}

json_t *pol__hujson_begin(const char *text, size_t len, struct pol_error **errp,
			  struct pol_error *scratch)
{
	if (!*errp)
		*errp = scratch;
	memset(*errp, 0, sizeof(**errp));
	return pol__hujson_load(text, len, *errp);
}
