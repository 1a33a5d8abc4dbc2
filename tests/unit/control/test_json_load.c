/* The netmap's JSON parser (control/netmap/json_load.c) against jansson's json_loadb: every
 * case gives the same value (dumped: key order, numbers' kinds and reals' text included) or
 * is refused by both, with or without JSON_REJECT_DUPLICATES; refusals' exact sentences;
 * random documents (escapes, UTF-8, numbers at their limits, nesting) and their mutations
 * (a byte changed, dropped or cut) agree as well; a NUL byte jansson drops is refused. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control/netmap/netmap_json.h"

static unsigned long long rng = 0x9e3779b97f4a7c15ull;

static char *dumped(json_t *j)
{
	return j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* ours and jansson's agree on text[0..len) under flags; returns whether it was accepted */
static bool same(const char *text, size_t len, size_t flags)
{
	json_error_t e1, e2;
	json_t *a = ctl__json_loadb(text, len, flags, &e1), *b = json_loadb(text, len, flags, &e2);
	char *da = dumped(a), *db = dumped(b);
	size_t at = (size_t)e1.position; /* ours refused at a NUL jansson dropped */
	bool ok = (!a && !b) || (da && db && strcmp(da, db) == 0) ||
		  (!a && at > 0 && at < len && !text[at] && isalnum((unsigned char)text[at - 1]));
	if (!ok)
		fprintf(stderr, "differ on %.*s (flags %zu): ours %s (%s), jansson %s (%s)\n",
			(int)(len > 300 ? 300 : len), text, flags, da ? da : "refused",
			a ? "" : e1.text, db ? db : "refused", b ? "" : e2.text);
	CHECK(ok);
	if (!a)
		CHECK(e1.text[0] != 0);
	free(da);
	free(db);
	json_decref(a);
	json_decref(b);
	return a != NULL;
}

static bool both(const char *text, size_t len)
{
	bool r = same(text, len, 0);
	same(text, len, JSON_REJECT_DUPLICATES);
	return r;
}

static void check_error_flags(const char *text, size_t len, size_t flags, const char *want)
{
	json_error_t e;
	json_t *j = ctl__json_loadb(text, len, flags, &e);
	CHECK(!j);
	CHECK_STR(e.text, want);
	json_decref(j);
}

static void check_error_len(const char *text, size_t len, const char *want)
{
	check_error_flags(text, len, 0, want);
}

static void check_error(const char *text, size_t flags, const char *want)
{
	check_error_flags(text, strlen(text), flags, want);
}

static void cases(void)
{
	static const struct {
		const char *text;
		bool ok;
	} c[] = {
		{ "{}", true },
		{ " [ ] ", true },
		{ "\t\r\n{\"a\" : [1, -2, 0, -0, 3.5, -0.0, 1e3, 1E+3, 2e-3, true, false, null]}\n",
		  true },
		{ "[\"100.64.0.1/32\",\"fd7a:115c:a1e0::1/128\"]", true },
		{ "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", true },
		{ "[\"\\u00e9\\u20AC\\ud83d\\ude00x\"]", true },
		{ "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]", true },
		{ "[\"a\\nb\",\"\\u0041\"]", true },
		{ "{\"a\":1,\"b\":2,\"a\":3}", true }, /* refused with JSON_REJECT_DUPLICATES */
		{ "{\"k\\u00e9y\":{\"k\\u00e9y\":[]}}", true },
		{ "[9223372036854775807,-9223372036854775808,999999999999999999]", true },
		{ "[1.7976931348623157e308,4.9e-324,1e-400,123456789012345678901234567890.5]",
		  true },
		{ "[0.1,100,1.0,12345678901234567890e0]", true },
		{ "", false },
		{ "   ", false },
		{ "1", false },
		{ "\"s\"", false },
		{ "true", false },
		{ "[", false },
		{ "[1,]", false },
		{ "{\"a\":1,}", false },
		{ "{\"a\" 1}", false },
		{ "{1:2}", false },
		{ "[1 2]", false },
		{ "[01]", false },
		{ "[-]", false },
		{ "[1.]", false },
		{ "[.5]", false },
		{ "[1e]", false },
		{ "[1e+]", false },
		{ "[+1]", false },
		{ "[9223372036854775808]", false },
		{ "[-9223372036854775809]", false },
		{ "[1e309]", false },
		{ "[-1e309]", false },
		{ "[tru]", false },
		{ "[truex]", false },
		{ "[nul]", false },
		{ "[True]", false },
		{ "[\"a]", false },
		{ "[\"a\\\"]", false },
		{ "[\"\\x\"]", false },
		{ "[\"\\u12\"]", false },
		{ "[\"\\u12G4\"]", false },
		{ "[\"\\u0000\"]", false },
		{ "{\"\\u0000\":1}", false },
		{ "[\"\\ud800\"]", false },
		{ "[\"\\ud800x\"]", false },
		{ "[\"\\ud800\\u0041\"]", false },
		{ "[\"\\ud800\\uzzzz\"]", false },
		{ "[\"\\udc00\"]", false },
		{ "[\"\\udc00\\ud800\"]", false },
		{ "[\"tab\there\"]", false },
		{ "[\"\xc0\xaf\"]", false },	     /* overlong '/' */
		{ "[\"\xe0\x80\xaf\"]", false },     /* overlong, 3 bytes */
		{ "[\"\xed\xa0\x80\"]", false },     /* a surrogate in UTF-8 */
		{ "[\"\xf4\x90\x80\x80\"]", false }, /* past U+10FFFF */
		{ "[\"\xf0\x8f\xbf\xbf\"]", false }, /* overlong, 4 bytes */
		{ "[\"\xc3\"]", false },
		{ "[\"\xc3", false },
		{ "[\"\x80\"]", false },
		{ "[\"\xff\"]", false },
		{ "[] x", false },
		{ "[]]", false },
		{ "{}{}", false },
		{ "[\xc3\xa9]", false },
		{ "\xef\xbb\xbf[]", false }, /* a BOM */
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		bool r = both(c[i].text, strlen(c[i].text));
		if (r != c[i].ok)
			fprintf(stderr, "case %zu: %s\n", i, c[i].text);
		CHECK(r == c[i].ok);
	}
	/* bytes past a NUL are read (json_loadb's length, not the C string's) */
	CHECK(!both("[1]\0", 4));
	CHECK(!both("[\"a\0b\"]", 7));
	/* ... and a NUL is refused even where jansson's stream drops it (after a number) */
	json_t *nul = json_loadb("[22,2\0]", 7, 0, NULL);
	CHECK(nul && json_array_size(nul) == 2);
	json_decref(nul);
	check_error_len("[22,2\0]", 7, "',' or ']' expected at byte 5");
	check_error_len("[true\0]", 7, "',' or ']' expected at byte 5");
	check_error_len("{\"a\":null\0}", 11, "',' or '}' expected at byte 9");
	json_error_t e;
	CHECK(!ctl__json_loadb(NULL, 0, 0, &e));
	CHECK_STR(e.text, "no text at byte 0");
	/* duplicates: the last value stands in the first key's place, or refused */
	json_t *j = ctl__json_loadb("{\"a\":1,\"b\":2,\"a\":3}", 19, 0, NULL);
	char *d = dumped(j);
	CHECK_STR(d, "{\"a\":3,\"b\":2}");
	free(d);
	json_decref(j);
	/* depth: JSON_PARSER_MAX_DEPTH values, counting a scalar inside */
	size_t n = JSON_PARSER_MAX_DEPTH + 2;
	char *deep = malloc(2 * n + 2);
	for (size_t k = 0; k < 4; k++) {
		size_t arrays = JSON_PARSER_MAX_DEPTH - 1 + k / 2;
		bool scalar = k % 2;
		size_t len = 0;
		for (size_t i = 0; i < arrays; i++)
			deep[len++] = '[';
		if (scalar)
			deep[len++] = '1';
		for (size_t i = 0; i < arrays; i++)
			deep[len++] = ']';
		CHECK(both(deep, len) == (arrays + scalar <= JSON_PARSER_MAX_DEPTH));
	}
	free(deep);
}

static void errors(void)
{
	check_error("", 0, "'[' or '{' expected at byte 0");
	check_error("  7", 0, "'[' or '{' expected at byte 2");
	check_error("[1,]", 0, "invalid token at byte 3");
	check_error("[1 2]", 0, "',' or ']' expected at byte 3");
	check_error("{\"a\" 1}", 0, "':' expected at byte 5");
	check_error("{\"a\":1,}", 0, "a key (a string) expected at byte 7");
	check_error("{\"a\":1 \"b\"}", 0, "',' or '}' expected at byte 7");
	check_error("{\"a\":1,\"a\":2}", JSON_REJECT_DUPLICATES, "duplicate object key at byte 10");
	check_error("[01]", 0, "a number with a leading zero at byte 2");
	check_error("[1.x]", 0, "no digit after a number's '.' at byte 3");
	check_error("[1e+]", 0, "no digit in a number's exponent at byte 4");
	check_error("[99999999999999999999]", 0, "integer out of range at byte 21");
	check_error("[1e999]", 0, "real number out of range at byte 6");
	check_error("[\"ab", 0, "end of text inside a string at byte 4");
	check_error("[\"a\tb\"]", 0, "control character 0x09 in a string at byte 3");
	check_error("[\"\xc0\xaf\"]", 0, "invalid UTF-8 byte 0xc0 at byte 2");
	check_error("[\"\\q\"]", 0, "invalid escape '\\q' at byte 2");
	check_error("[\"\\u12\"]", 0, "invalid \\u escape at byte 2");
	check_error("[\"\\udc00\"]", 0,
		    "invalid Unicode '\\uDC00' (a second surrogate alone) at byte 2");
	check_error("[\"\\ud800\"]", 0,
		    "invalid Unicode '\\uD800' (a first surrogate alone) at byte 2");
	check_error("[\"\\u0000\"]", 0, "\\u0000 in a string at byte 2");
	check_error("[nulls]", 0, "invalid token at byte 1");
	check_error("[] ]", 0, "end of text expected at byte 3");
	check_error("[1]", JSON_DECODE_ANY, "unsupported flags 0x4 at byte 0");
	CHECK(!ctl__json_loadb("[", 1, 0, NULL)); /* no error to fill */
}

/* A random document: the pieces the parser treats apart, at their edges. */
static void gen(char *b, size_t *len, size_t cap, int depth)
{
	static const char *const atoms[] = {
		"0",
		"-0",
		"1",
		"-1",
		"18",
		"123456789012345678",
		"-123456789012345678",
		"1234567890123456789",
		"9223372036854775807",
		"-9223372036854775808",
		"0.5",
		"-2.25e-3",
		"1e-400",
		"true",
		"false",
		"null",
		"\"\"",
		"\"plain\"",
		"\"\\n\\t\\\"\\\\\\/\"",
		"\"\\u00e9\"",
		"\"\\uD83D\\uDE00\"",
		"\"\xc3\xa9\"",
		"\"\xf0\x9f\x98\x80\"",
		"\"100.64.0.1/32\"",
	};
	static const char *const refused[] = {
		"9223372036854775808", "1E400", "\"\\ud800\"", "\"\xed\xa0\x80\"", "\"a\\u0000\"",
	};
	if (*len + 64 >= cap)
		return;
	unsigned k = check_rand(&rng, depth > 6 ? 2 : 4);
	if (k < 2) {
		const char *a =
		    check_rand(&rng, 50) == 0
			? refused[check_rand(&rng, sizeof(refused) / sizeof(refused[0]))]
			: atoms[check_rand(&rng, sizeof(atoms) / sizeof(atoms[0]))];
		memcpy(b + *len, a, strlen(a));
		*len += strlen(a);
		return;
	}
	bool obj = k == 3;
	b[(*len)++] = obj ? '{' : '[';
	unsigned n = check_rand(&rng, 5);
	for (unsigned i = 0; i < n && *len + 80 < cap; i++) {
		if (i)
			b[(*len)++] = ',';
		if (check_rand(&rng, 4) == 0)
			b[(*len)++] = ' ';
		if (obj) {
			static const char *const keys[] = { "\"a\"", "\"b\"", "\"\\u0061\"",
							    "\"k\xc3\xa9\"", "\"srcs\"" };
			const char *key = keys[check_rand(&rng, 5)];
			memcpy(b + *len, key, strlen(key));
			*len += strlen(key);
			b[(*len)++] = ':';
		}
		gen(b, len, cap, depth + 1);
	}
	b[(*len)++] = obj ? '}' : ']';
}

static void random_docs(void)
{
	char b[4096];
	int accepted = 0, total = 0;
	for (int i = 0; i < 20000; i++) {
		size_t len = 0;
		gen(b, &len, sizeof(b), check_rand(&rng, 2) ? 0 : 7);
		if (check_rand(&rng, 3) == 0 && len) { /* a mutation */
			size_t at = check_rand(&rng, (unsigned)len);
			switch (check_rand(&rng, 3)) {
			case 0:
				b[at] = (char)check_rand(&rng, 256);
				break;
			case 1:
				memmove(b + at, b + at + 1, len - at - 1);
				len--;
				break;
			default:
				len = at;
			}
		}
		accepted += both(b, len);
		total++;
	}
	fprintf(stderr, "random documents: %d of %d accepted\n", accepted, total);
	/* the generator makes both kinds */
	CHECK(accepted > total / 10 && accepted < total - total / 10);
}

int main(void)
{
	cases();
	errors();
	random_docs();
	return check_finish();
}
