/* The recorder's request line (cmd/recorder/proto.c) as a numbered table: every route, each
 * refusal with the exact sentence the node or meshctl sees, the edges of the id (128
 * characters, a leading '.'), of the offset (18 digits, leading zeros) and of the source
 * (only the canonical text); then random ids against a naive character check. */
#include <stdlib.h>

#include "check.h"
#include "cmd/recorder/proto.h"

struct row {
	const char *method, *target;
	unsigned status;
	const char *why; /* the sentence, or for status 0 "route id source offset" */
};

#define ID128                                                                                      \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define BAD_ID "1-128 of A-Z a-z 0-9 . _ -, not starting with '.'"

static const struct row table[] = {
	/* 1 */ { "PUT", "/v1/recordings/web1-42-1765000000?offset=0", 0,
		  "upload web1-42-1765000000 - 0" },
	/* 2 */
	{ "PUT", "/v1/recordings/a.b_c-D9?offset=123456789012345678", 0,
	  "upload a.b_c-D9 - 123456789012345678" },
	/* 3 */ { "HEAD", "/v1/recordings/x", 0, "stat x - 0" },
	/* 4 */ { "GET", "/v1/recordings", 0, "list  - 0" },
	/* 5 */ { "GET", "/v1/recordings/100.64.0.7/x", 0, "fetch x 100.64.0.7 0" },
	/* 6 */ { "GET", "/v1/recordings/fd7a:115c:a1e0::1/x", 0, "fetch x fd7a:115c:a1e0::1 0" },
	/* 7 */ { "PUT", "/v1/recordings/" ID128 "?offset=1", 0, "upload " ID128 " - 1" },
	/* 8 */
	{ "PUT", "/v1/recordings/" ID128 "a?offset=1", 400,
	  "bad recording id 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': " BAD_ID },
	/* 9 */
	{ "PUT", "/v1/recordings/.hidden?offset=0", 400, "bad recording id '.hidden': " BAD_ID },
	/* 10 */ { "PUT", "/v1/recordings/..?offset=0", 400, "bad recording id '..': " BAD_ID },
	/* 11 */ { "PUT", "/v1/recordings/?offset=0", 400, "bad recording id '': " BAD_ID },
	/* 12 */
	{ "PUT", "/v1/recordings/a%2Fb?offset=0", 400, "bad recording id 'a%2Fb': " BAD_ID },
	/* 13 */
	{ "HEAD", "/v1/recordings/a\x01\xff", 400, "bad recording id 'a\\x01\\xff': " BAD_ID },
	/* 14 */
	{ "PUT", "/v1/recordings/x", 400, "PUT needs ?offset=N (the bytes the recorder holds)" },
	/* 15 */
	{ "PUT", "/v1/recordings/x?offset=", 400,
	  "bad offset '': 0 or a decimal number without leading zeros, at most 18 digits" },
	/* 16 */
	{ "PUT", "/v1/recordings/x?offset=01", 400,
	  "bad offset '01': 0 or a decimal number without leading zeros, at most 18 "
	  "digits" },
	/* 17 */
	{ "PUT", "/v1/recordings/x?offset=1234567890123456789", 400,
	  "bad offset '1234567890123456789': 0 or a decimal number without leading zeros, "
	  "at most 18 digits" },
	/* 18 */
	{ "PUT", "/v1/recordings/x?offset=-1", 400,
	  "bad offset '-1': 0 or a decimal number without leading zeros, at most 18 "
	  "digits" },
	/* 19 */
	{ "PUT", "/v1/recordings/x?offset=+1", 400,
	  "bad offset '+1': 0 or a decimal number without leading zeros, at most 18 "
	  "digits" },
	/* 20 */
	{ "PUT", "/v1/recordings/x?offset=1&offset=2", 400,
	  "unexpected query 'offset=1&offset=2': PUT takes ?offset=N only" },
	/* 21 */
	{ "PUT", "/v1/recordings/x?from=1", 400,
	  "unexpected query 'from=1': PUT takes ?offset=N only" },
	/* 22 */
	{ "HEAD", "/v1/recordings/x?offset=1", 400,
	  "unexpected query 'offset=1': only PUT takes one (?offset=N)" },
	/* 23 */
	{ "GET", "/v1/recordings?", 400, "unexpected query '': only PUT takes one (?offset=N)" },
	/* 24 */
	{ "GET", "/v1/recordings/x", 404,
	  "no such path '/v1/recordings/x': GET takes /v1/recordings/SOURCE/ID" },
	/* 25 */
	{ "PUT", "/v1/recordings/100.64.0.7/x?offset=0", 404,
	  "no such path '/v1/recordings/100.64.0.7/x': PUT and HEAD take "
	  "/v1/recordings/ID" },
	/* 26 */
	{ "GET", "/v1/recordings/a/b/c", 404,
	  "no such path '/v1/recordings/a/b/c': the recorder serves /v1/recordings" },
	/* 27 */
	{ "GET", "/v1/recordingsX", 404,
	  "no such path '/v1/recordingsX': the recorder serves /v1/recordings" },
	/* 28 */ { "GET", "/", 404, "no such path '/': the recorder serves /v1/recordings" },
	/* 29 */ { "GET", "", 404, "no such path '': the recorder serves /v1/recordings" },
	/* 30 */
	{ "DELETE", "/v1/recordings/x", 405,
	  "method 'DELETE' is not allowed: the recorder takes PUT, HEAD and GET" },
	/* 31 */
	{ "PUT", "/v1/recordings?offset=0", 405,
	  "method 'PUT' is not allowed on /v1/recordings: GET lists them" },
	/* 32 */
	{ "GET", "/v1/recordings/100.064.0.7/x", 400,
	  "bad source '100.064.0.7': an IP address as the list shows it" },
	/* 33 */
	{ "GET", "/v1/recordings/FD7A::1/x", 400,
	  "bad source 'FD7A::1': an IP address as the list shows it" },
	/* 34 */
	{ "GET", "/v1/recordings/../x", 400,
	  "bad source '..': an IP address as the list shows it" },
	/* 35 */ { "GET", "/v1/recordings/100.64.0.7/.x", 400, "bad recording id '.x': " BAD_ID },
	/* 36 */ { "GET", "/v1/recordings/100.64.0.7/", 400, "bad recording id '': " BAD_ID },
	/* 37 */
	{ "GET", "/v1/recordings/", 404,
	  "no such path '/v1/recordings/': GET takes /v1/recordings/SOURCE/ID" },
	/* 38 */
	{ "GET", "/v1/recordings/100.64.0.7/x?y", 400,
	  "unexpected query 'y': only PUT takes one (?offset=N)" },
	/* 39 */
	{ "PUT", "/v1/recordings/x?offset=999999999999999999", 0, "upload x - 999999999999999999" },
	/* 40: a long bad id is quoted cut, with "..." */
	{ "HEAD", "/v1/recordings/" ID128 ID128, 400,
	  "bad recording id 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': " BAD_ID },
};

static const char *route_name(enum recorder_route r)
{
	static const char *names[] = { "upload", "stat", "list", "fetch" };
	return names[r];
}

/* A naive reading of the id rule, for the random cross-check. */
static bool naive_id(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 128 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int main(void)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct row *t = &table[i];
		struct recorder_req req;
		char why[RECORDER_WHY_MAX];
		unsigned st = recorder_proto_parse(t->method, t->target, &req, why);
		char got[512];
		if (st == 0)
			snprintf(got, sizeof(got), "%s %s %s %llu", route_name(req.route), req.id,
				 req.route == RECORDER_FETCH ? req.source : "-",
				 (unsigned long long)req.offset);
		else
			snprintf(got, sizeof(got), "%s", why);
		if (st != t->status || strcmp(got, t->why) != 0)
			fprintf(stderr, "row %zu: %s %s\n", i + 1, t->method, t->target);
		CHECK_INT(st, t->status);
		CHECK_STR(got, t->why);
	}
	srand(18);
	const char alphabet[] = "aZ09._-/%?&. \x01\x80";
	for (int i = 0; i < 20000; i++) {
		char id[140];
		size_t n = (size_t)(rand() % 135);
		for (size_t j = 0; j < n; j++)
			id[j] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		id[n] = '\0';
		if (recorder_id_valid(id) != naive_id(id)) {
			fprintf(stderr, "random %d: id '%s'\n", i, id);
			CHECK(false);
		}
	}
	return check_finish();
}
