/* A tiny, independent JSON checker for the asciicast tests: is a line exactly one JSON value
 * (RFC 8259), with strings free of raw control characters and made of well-formed UTF-8
 * (decoded here by code point and range, not by rec/'s table)?  Header-only, used by the
 * unit test and the fuzz target. */
#ifndef MESH_TESTS_JSON_CHECK_H
#define MESH_TESTS_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct jc {
	const unsigned char *p, *end;
};

static void jc_ws(struct jc *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool jc_lit(struct jc *j, const char *w)
{
	for (; *w; w++, j->p++)
		if (j->p >= j->end || *j->p != (unsigned char)*w)
			return false;
	return true;
}

static bool jc_utf8(struct jc *j)
{
	unsigned char b = *j->p;
	int n = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : -1;
	if (n < 0 || b > 0xf7)
		return false;
	uint32_t cp = b & (0x3f >> n);
	j->p++;
	for (int k = 0; k < n; k++, j->p++) {
		if (j->p >= j->end || (*j->p & 0xc0) != 0x80)
			return false;
		cp = cp << 6 | (*j->p & 0x3f);
	}
	uint32_t min = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;
	return cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

static bool jc_string(struct jc *j)
{
	if (!jc_lit(j, "\""))
		return false;
	while (j->p < j->end) {
		unsigned char c = *j->p;
		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			j->p++;
			if (j->p >= j->end)
				return false;
			if (*j->p == 'u') {
				for (int k = 0; k < 4; k++) {
					j->p++;
					if (j->p >= j->end || !((*j->p >= '0' && *j->p <= '9') ||
								(*j->p >= 'a' && *j->p <= 'f') ||
								(*j->p >= 'A' && *j->p <= 'F')))
						return false;
				}
			} else if (!*j->p || !strchr("\"\\/bfnrt", *j->p)) {
				return false;
			}
			j->p++;
		} else if (c >= 0x80) {
			if (!jc_utf8(j))
				return false;
		} else {
			j->p++;
		}
	}
	return false;
}

static bool jc_digits(struct jc *j)
{
	const unsigned char *s = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool jc_number(struct jc *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!jc_digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!jc_digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!jc_digits(j))
			return false;
	}
	return true;
}

static bool jc_value(struct jc *j, int depth)
{
	jc_ws(j);
	if (j->p >= j->end || depth > 32)
		return false;
	bool ok = true;
	switch (*j->p) {
	case '"':
		ok = jc_string(j);
		break;
	case 't':
		ok = jc_lit(j, "true");
		break;
	case 'f':
		ok = jc_lit(j, "false");
		break;
	case 'n':
		ok = jc_lit(j, "null");
		break;
	case '[':
	case '{': {
		bool obj = *j->p == '{';
		j->p++;
		jc_ws(j);
		if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
			j->p++;
			break;
		}
		for (;;) {
			if (obj) {
				jc_ws(j);
				if (!jc_string(j))
					return false;
				jc_ws(j);
				if (!jc_lit(j, ":"))
					return false;
			}
			if (!jc_value(j, depth + 1))
				return false;
			jc_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			ok = jc_lit(j, obj ? "}" : "]");
			break;
		}
		break;
	}
	default:
		ok = jc_number(j);
	}
	jc_ws(j);
	return ok;
}

/* True when s[0..len) is one JSON value and nothing else. */
static inline bool json_check(const char *s, size_t len)
{
	struct jc j = { (const unsigned char *)s, (const unsigned char *)s + len };
	return jc_value(&j, 0) && j.p == j.end;
}

#endif
