/* HuJSON reader: comments (also inside strings, where they are not comments), trailing
 * commas at every nesting level, a BOM, the depth limit, and line:column of errors. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "control/policy/internal.h"

static json_t *load(const char *s, struct pol_error *err)
{
	memset(err, 0, sizeof(*err));
	return pol__hujson_load(s, strlen(s), err);
}

static void test_comments_in_strings(void)
{
	struct pol_error err;
	json_t *j = load("{\n// a comment\n\"a\": \"x // not a comment\", /* block\n */ \"b\": "
			 "\"/* still text */\"}",
			 &err);
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "a")), "x // not a comment");
	CHECK_STR(json_string_value(json_object_get(j, "b")), "/* still text */");
	json_decref(j);

	j = load("{\"q\": \"say \\\"//hi\\\"\", // trailing\n}", &err);
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "q")), "say \"//hi\"");
	json_decref(j);
}

static void test_trailing_commas(void)
{
	struct pol_error err;
	json_t *j =
	    load("{\"a\": [1, [2, 3,], {\"x\": [4,],},], \"b\": {\"c\": 1, /* c */ },}", &err);
	CHECK(j != NULL);
	json_t *a = json_object_get(j, "a");
	CHECK_INT(json_array_size(a), 3);
	CHECK_INT(json_array_size(json_array_get(a, 1)), 2);
	CHECK_INT(json_array_size(json_object_get(json_array_get(a, 2), "x")), 1);
	CHECK_INT(json_object_size(json_object_get(j, "b")), 1);
	json_decref(j);

	/* A comma followed by a comment then the bracket is still trailing. */
	j = load("{\"a\": [1, // one\n]}", &err);
	CHECK(j != NULL);
	json_decref(j);

	/* Two commas are not a trailing comma. */
	j = load("{\"a\": [1,,]}", &err);
	CHECK(j == NULL);
	CHECK_INT(err.line, 1);
}

static void test_bom(void)
{
	struct pol_error err;
	json_t *j = load("\xef\xbb\xbf{\"a\": 1}", &err);
	CHECK(j != NULL);
	CHECK_INT(json_integer_value(json_object_get(j, "a")), 1);
	json_decref(j);
}

static void test_depth(void)
{
	struct pol_error err;
	char buf[400];
	size_t n = 0;
	buf[n++] = '{';
	memcpy(buf + n, "\"a\":", 4);
	n += 4;
	for (int i = 0; i < POL__MAX_DEPTH - 1; i++)
		buf[n++] = '[';
	for (int i = 0; i < POL__MAX_DEPTH - 1; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	buf[n] = '\0';
	json_t *j = load(buf, &err);
	CHECK(j != NULL); /* exactly the limit */
	json_decref(j);

	n = 0;
	buf[n++] = '{';
	memcpy(buf + n, "\"a\":", 4);
	n += 4;
	for (int i = 0; i < POL__MAX_DEPTH; i++)
		buf[n++] = '[';
	buf[n] = '\0';
	j = load(buf, &err);
	CHECK(j == NULL);
	CHECK_INT(err.line, 1);
	CHECK_INT(err.column, 5 + POL__MAX_DEPTH);
	CHECK_STR(err.msg, "line 1, column 69: nesting deeper than 64 levels");
}

static void test_errors(void)
{
	struct pol_error err;
	CHECK(load("{\n  \"a\": 1\n  \"b\": 2\n}", &err) == NULL);
	CHECK_INT(err.line, 3);
	CHECK(err.column >= 3);
	CHECK(strstr(err.msg, "line 3, column") == err.msg);

	CHECK(load("{\"a\": 1 /* never closed", &err) == NULL);
	CHECK_STR(err.msg, "line 1, column 9: unterminated /* comment");

	CHECK(load("{\n\"a\": \"open\n}", &err) == NULL);
	CHECK_STR(err.msg, "line 2, column 6: unterminated string");

	CHECK(load("{\"a\": 1} / 2", &err) == NULL);
	CHECK_STR(err.msg, "line 1, column 10: unexpected '/' (comments are // or /* */)");

	CHECK(load("[1, 2]", &err) == NULL);
	CHECK_STR(err.msg, "policy must be a JSON object");

	CHECK(load("{\"a\": 1, \"a\": 2}", &err) == NULL);
	CHECK(strstr(err.msg, "duplicate") != NULL);

	/* Positions after a multi-byte character count characters. */
	CHECK(load("{\"é\": 1,\n \"b\" 2}", &err) == NULL);
	CHECK_INT(err.line, 2);
}

int main(void)
{
	test_comments_in_strings();
	test_trailing_commas();
	test_bom();
	test_depth();
	test_errors();
	return check_finish();
}
