/* rec/asciicast: the header and event lines byte for byte, a numbered table of string
 * escapes (quotes, control characters, UTF-8 kept, each ill-formed sequence one U+FFFD),
 * UTF-8 cut by chunk boundaries, -ENOSPC leaving the writer as it was, and 20 000 random
 * byte strings in random chunks: every line is one valid JSON value (tests/unit/rec/
 * json_check.h, an independent checker) and the chunked escape equals the escape of the
 * whole (the naive reference). */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "json_check.h"
#include "rec/asciicast.h"

static const struct {
	const char *in;
	size_t len; /* 0: strlen */
	const char *out;
} escapes[] = {
	/* 1 */ { "plain text", 0, "plain text" },
	/* 2 */ { "say \"hi\" \\o/", 0, "say \\\"hi\\\" \\\\o/" },
	/* 3 RFC 8259's short escapes */ { "a\r\n\tb\b\f", 0, "a\\r\\n\\tb\\b\\f" },
	/* 4 */ { "\x1b[1mbold\x1b[0m", 0, "\\u001b[1mbold\\u001b[0m" },
	/* 5 */ { "nul\0x\v\x01\x1f", 8, "nul\\u0000x\\u000b\\u0001\\u001f" },
	/* 6 */ { "del\x7f", 0, "del\\u007f" },
	/* 7 */
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0,
	  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
	/* 8 a stray continuation byte */ { "a\x80z", 0, "a\xef\xbf\xbdz" },
	/* 9 overlong '/' (C0 is never a first byte) */
	{ "\xc0\xaf", 0, "\xef\xbf\xbd\xef\xbf\xbd" },
	/* 10 overlong 3-byte form */ { "\xe0\x80\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	/* 11 a surrogate (U+D800) */ { "\xed\xa0\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	/* 12 past U+10FFFF */
	{ "\xf4\x90\x80\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	/* 13 a sequence cut by a letter: one U+FFFD for the maximal prefix */
	{ "\xe2\x82"
	  "A",
	  0,
	  "\xef\xbf\xbd"
	  "A" },
	/* 14 a sequence cut by the end */ { "x\xf0\x9f\x98", 0, "x\xef\xbf\xbd" },
	/* 15 bytes never in UTF-8 */ { "\xf5\xff\xfe", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	/* 16 U+10FFFF and U+FFFF are characters */
	{ "\xf4\x8f\xbf\xbf\xef\xbf\xbf", 0, "\xf4\x8f\xbf\xbf\xef\xbf\xbf" },
};

static void test_escapes(void)
{
	char out[256];
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		size_t len = escapes[i].len ? escapes[i].len : strlen(escapes[i].in), used = 99;
		ssize_t n = rec_json_escape((const uint8_t *)escapes[i].in, len, false, &used, out,
					    sizeof(out) - 1);
		CHECK(n >= 0);
		out[n < 0 ? 0 : n] = '\0';
		if (strcmp(out, escapes[i].out) != 0)
			fprintf(stderr, "escape %zu:\n", i + 1);
		CHECK_STR(out, escapes[i].out);
		CHECK_INT(used, len);
	}
	/* partial: a cut sequence at the end stays unconsumed */
	size_t used = 0;
	ssize_t n =
	    rec_json_escape((const uint8_t *)"ab\xe2\x82", 4, true, &used, out, sizeof(out));
	CHECK_INT(n, 2);
	CHECK_INT(used, 2);
	/* no room: -ENOSPC */
	CHECK_INT(rec_json_escape((const uint8_t *)"\x01", 1, false, NULL, out, 5), -ENOSPC);
}

/* RFC 8259's two-character escapes of control characters, 0 for the others. */
static char short_escape(unsigned c)
{
	switch (c) {
	case '\b':
		return 'b';
	case '\t':
		return 't';
	case '\n':
		return 'n';
	case '\f':
		return 'f';
	case '\r':
		return 'r';
	default:
		return 0;
	}
}

/* Plain text is let through sixteen bytes at a time: every byte value, at every place of
 * two words, in plain text of every length around them, comes out as it would alone. */
static void test_escape_words(void)
{
	char want[64], out[64];
	uint8_t in[40]; /* two vectors of 16 and a tail */
	size_t bad = 0;
	for (unsigned c = 0; c < 256; c++)
		for (size_t len = 1; len <= sizeof(in); len++)
			for (size_t at = 0; at < len; at++) {
				memset(in, 'a', len);
				in[at] = (uint8_t)c;
				/* alone: itself, \" \\, \n (\b \t \f \r), \u00XX, or a lone byte
				 * >= 0x80 is U+FFFD */
				size_t w = 0;
				memset(want, 'a', at);
				w = at;
				if (c == '"' || c == '\\')
					w += (size_t)sprintf(want + w, "\\%c", c);
				else if (short_escape(c))
					w += (size_t)sprintf(want + w, "\\%c", short_escape(c));
				else if (c < 0x20 || c == 0x7f)
					w += (size_t)sprintf(want + w, "\\u%04x", c);
				else if (c >= 0x80)
					w += (size_t)sprintf(want + w, "\xef\xbf\xbd");
				else
					want[w++] = (char)c;
				memset(want + w, 'a', len - at - 1);
				w += len - at - 1;
				ssize_t n = rec_json_escape(in, len, false, NULL, out, sizeof(out));
				if (n != (ssize_t)w || memcmp(out, want, w) != 0) {
					if (!bad++)
						fprintf(stderr, "byte 0x%02x at %zu of %zu\n", c,
							at, len);
				}
			}
	CHECK_INT(bad, 0);
}

static void test_lines(void)
{
	char buf[1024];
	const char *tags[] = { "tag:ci", "tag:\"odd\"" };
	struct rec_header h = { .width = 120,
				.height = 40,
				.timestamp = 1796000000,
				.command = "ls -l",
				.term = "xterm-256color",
				.src_node = "laptop",
				.src_addr = "100.64.0.1",
				.src_owner = "alice@example.com",
				.ssh_user = "alice",
				.local_user = "alice",
				.conn_id = "c7" };
	ssize_t n = rec_cast_header(&h, buf, sizeof(buf) - 1);
	CHECK(n > 0);
	buf[n < 0 ? 0 : n] = '\0';
	CHECK_STR(buf,
		  "{\"version\": 2, \"width\": 120, \"height\": 40, \"timestamp\": 1796000000, "
		  "\"command\": \"ls -l\", \"env\": {\"TERM\": \"xterm-256color\"}, \"mesh\": "
		  "{\"src_node\": \"laptop\", \"src_addr\": \"100.64.0.1\", \"src_owner\": "
		  "\"alice@example.com\", \"ssh_user\": \"alice\", \"local_user\": \"alice\", "
		  "\"conn_id\": \"c7\"}}\n");
	CHECK(json_check(buf, (size_t)n));
	/* a tagged source, no terminal, a shell */
	struct rec_header t = { .timestamp = 5,
				.src_node = "ci",
				.src_tags = tags,
				.n_src_tags = 2,
				.ssh_user = "root",
				.local_user = "root",
				.conn_id = "c8" };
	n = rec_cast_header(&t, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	CHECK_STR(buf,
		  "{\"version\": 2, \"width\": 80, \"height\": 24, \"timestamp\": 5, \"mesh\": "
		  "{\"src_node\": \"ci\", \"src_tags\": [\"tag:ci\", \"tag:\\\"odd\\\"\"], "
		  "\"ssh_user\": \"root\", \"local_user\": \"root\", \"conn_id\": \"c8\"}}\n");
	CHECK(json_check(buf, (size_t)n));
	CHECK_INT(rec_cast_header(&h, buf, 50), -ENOSPC);

	struct rec_cast c;
	rec_cast_init(&c, 1000000);
	n = rec_cast_output(&c, 2250000, "hi\r\n", 4, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	CHECK_STR(buf, "[1.250000, \"o\", \"hi\\r\\n\"]\n");
	n = rec_cast_resize(&c, 3000001, 100, 30, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	CHECK_STR(buf, "[2.000001, \"r\", \"100x30\"]\n");
	n = rec_cast_marker(&c, 61000000, "exit status 3", buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	CHECK_STR(buf, "[60.000000, \"m\", \"exit status 3\"]\n");
	/* input (recorded only when switched on): whole, a cut sequence as U+FFFD */
	static const struct {
		const char *in, *want;
	} typed[] = {
		{ "ls\r", "[60.500000, \"i\", \"ls\\r\"]\n" },
		{ "\xe2\x82", "[60.500000, \"i\", \"\xef\xbf\xbd\"]\n" },
	};
	for (size_t i = 0; i < sizeof(typed) / sizeof(typed[0]); i++) {
		n = rec_cast_input(&c, 61500000, typed[i].in, strlen(typed[i].in), buf,
				   sizeof(buf) - 1);
		buf[n < 0 ? 0 : n] = '\0';
		CHECK_STR(buf, typed[i].want);
	}
	CHECK_INT(rec_cast_input(&c, 61500000, "", 0, buf, sizeof(buf) - 1), 0);
	CHECK_INT(rec_cast_input(&c, 61500000, "ls", 2, buf, 10), -ENOSPC);
	/* a clock before the start counts as 0 */
	n = rec_cast_output(&c, 0, "x", 1, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	CHECK_STR(buf, "[0.000000, \"o\", \"x\"]\n");

	/* "€" cut after its first byte, then byte by byte */
	n = rec_cast_output(&c, 1000000, "a\xe2", 2, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	CHECK_STR(buf, "[0.000000, \"o\", \"a\"]\n");
	n = rec_cast_output(&c, 1000000, "\x82\xac!", 3, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	CHECK_STR(buf, "[0.000000, \"o\", \"\xe2\x82\xac!\"]\n");
	CHECK_INT(rec_cast_output(&c, 1000000, "\xf0", 1, buf, sizeof(buf)), 0);
	CHECK_INT(rec_cast_output(&c, 1000000, "\x9f", 1, buf, sizeof(buf)), 0);
	/* no room: nothing consumed, the held bytes stay */
	CHECK_INT(rec_cast_output(&c, 1000000, "\x98\x80", 2, buf, 10), -ENOSPC);
	n = rec_cast_output(&c, 1000000, "\x98\x80", 2, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	CHECK_STR(buf, "[0.000000, \"o\", \"\xf0\x9f\x98\x80\"]\n");
	/* cut at the end of the session: flushed as U+FFFD */
	CHECK_INT(rec_cast_output(&c, 1000000, "\xe2\x82", 2, buf, sizeof(buf)), 0);
	n = rec_cast_flush(&c, 1000000, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	CHECK_STR(buf, "[0.000000, \"o\", \"\xef\xbf\xbd\"]\n");
	CHECK_INT(rec_cast_flush(&c, 1000000, buf, sizeof(buf)), 0);
}

/* The body of an "o" line ('[T, "o", "' ... '"]\n'). */
static void append_body(char *acc, size_t *n, const char *line, ssize_t len)
{
	const char *b = strstr(line, ", \"o\", \"") + 8;
	size_t bl = (size_t)(line + len - 3 - b);
	memcpy(acc + *n, b, bl);
	*n += bl;
}

static void test_random(void)
{
	static uint8_t in[512];
	static char line[REC_CAST_EVENT_MAX(512)], whole[6 * 512 + 8], acc[6 * 512 + 64];
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	int bad_json = 0, mismatch = 0;
	for (int it = 0; it < 20000; it++) {
		size_t len = 0;
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		len = (size_t)(seed >> 33) % sizeof(in);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			uint8_t b = (uint8_t)(seed >> 40);
			/* mostly UTF-8-looking bytes, so sequences both form and break */
			in[i] = (seed >> 60) < 6   ? (uint8_t)(0x80 | (b & 0x7f))
				: (seed >> 60) < 9 ? (uint8_t)(0xc2 + b % 0x33)
						   : b;
		}
		ssize_t wn = rec_json_escape(in, len, false, NULL, whole, sizeof(whole));
		struct rec_cast c;
		size_t an = 0, off = 0;
		rec_cast_init(&c, 0);
		while (off < len) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			size_t k = 1 + (size_t)(seed >> 33) % 7;
			if (k > len - off)
				k = len - off;
			ssize_t n =
			    rec_cast_output(&c, (int64_t)off, in + off, k, line, sizeof(line));
			if (n > 0) {
				bad_json += !json_check(line, (size_t)n - 1) || line[n - 1] != '\n';
				append_body(acc, &an, line, n);
			}
			off += k;
		}
		ssize_t n = rec_cast_flush(&c, 0, line, sizeof(line));
		if (n > 0) {
			bad_json += !json_check(line, (size_t)n - 1);
			append_body(acc, &an, line, n);
		}
		mismatch += wn < 0 || (size_t)wn != an || memcmp(whole, acc, an) != 0;
		/* the whole as one event is valid JSON too */
		rec_cast_init(&c, 0);
		n = rec_cast_output(&c, 123456789, in, len, line, sizeof(line));
		if (n > 0)
			bad_json += !json_check(line, (size_t)n - 1);
	}
	CHECK_INT(bad_json, 0);
	CHECK_INT(mismatch, 0);
	/* the checker itself refuses what it must */
	CHECK(!json_check("[1, \"\x80\"]", 7));
	CHECK(!json_check("\"a\x01\"", 4));
	CHECK(!json_check("[1, \"o\", \"x\"", 12));
	CHECK(!json_check("\"\xed\xa0\x80\"", 5));
	CHECK(json_check("[1.5, \"o\", \"\\u001b\"]", 20));
}

int main(void)
{
	test_escapes();
	test_escape_words();
	test_lines();
	test_random();
	return check_finish();
}
