/* The recorder's request line (cmd/recorder/proto.c) as a numbered table: every route, each
 * refusal with the exact sentence the node or meshctl sees, the edges of the id (128
 * characters, a leading '.'), of the offset (18 digits, leading zeros) and of the source
 * (only the canonical text), the end flag (&end=1 only, after the offset); the node's
 * reading of the answers, each refusal with its sentence; then random ids against a naive character
 * check. */
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
	  "unexpected query 'offset=1&offset=2': PUT takes ?offset=N or ?offset=N&end=1" },
	/* 21 */
	{ "PUT", "/v1/recordings/x?from=1", 400,
	  "unexpected query 'from=1': PUT takes ?offset=N or ?offset=N&end=1" },
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
	/* 41: the end of a recording */
	{ "PUT", "/v1/recordings/x?offset=5&end=1", 0, "upload x - 5 end" },
	/* 42 */ { "PUT", "/v1/recordings/x?offset=0&end=1", 0, "upload x - 0 end" },
	/* 43 */
	{ "PUT", "/v1/recordings/x?offset=5&end=0", 400,
	  "unexpected query 'offset=5&end=0': PUT takes ?offset=N or ?offset=N&end=1" },
	/* 44 */
	{ "PUT", "/v1/recordings/x?offset=5&end=1&end=1", 400,
	  "unexpected query 'offset=5&end=1&end=1': PUT takes ?offset=N or ?offset=N&end=1" },
	/* 45 */
	{ "PUT", "/v1/recordings/x?end=1&offset=5", 400,
	  "unexpected query 'end=1&offset=5': PUT takes ?offset=N or ?offset=N&end=1" },
	/* 46 */
	{ "PUT", "/v1/recordings/x?offset=&end=1", 400,
	  "bad offset '': 0 or a decimal number without leading zeros, at most 18 digits" },
	/* 47 */
	{ "PUT", "/v1/recordings/x?offset=01&end=1", 400,
	  "bad offset '01': 0 or a decimal number without leading zeros, at most 18 digits" },
	/* 48 */
	{ "PUT", "/v1/recordings/x?offset=12345678901234567890123&end=1", 400,
	  "bad offset '12345678901234567890123': 0 or a decimal number without leading zeros, "
	  "at most 18 digits" },
	/* 49 */
	{ "HEAD", "/v1/recordings/x?offset=1&end=1", 400,
	  "unexpected query 'offset=1&end=1': only PUT takes one (?offset=N)" },
};

/* The recorder's answers as the node reads them (recorder_reply_parse): the result (the head's
 * length, 0 for "not complete yet", -1), then "status acked content-length close [lz4]" or
 * the sentence. */
struct reply_row {
	const char *in;
	int rc;
	const char *want;
};

#define OK200 "HTTP/1.1 200 OK\r\n"
static const struct reply_row replies[] = {
	/* 1 */ { OK200 "Mesh-Acked: 42\r\nContent-Length: 16\r\n\r\nstored up to 42\n", 55,
		  "200 42 16 keep" },
	/* 2: MHD's spelling, any case, spaces around the value */
	{ "HTTP/1.1 409 Conflict\r\nmesh-acked:   7  \r\ncontent-length:0\r\n"
	  "Connection: close\r\n\r\n",
	  81, "409 7 0 close" },
	/* 3 */
	{ "HTTP/1.0 507 Insufficient Storage\r\nContent-Length: 3\r\n\r\n", 56, "507 - 3 keep" },
	/* 4: not complete yet */ { OK200 "Mesh-Acked: 42\r\nContent-Len", 0, "" },
	/* 5 */ { "", 0, "" },
	/* 6 */ { "HTTP/1.", 0, "" },
	/* 7 */ { "SSH-2.0-OpenSSH\r\n", -1, "not an HTTP/1.x answer: 'SSH-2.0-OpenSSH\\r'" },
	/* 8 */ { "HTTP/2 200\r\n", -1, "not an HTTP/1.x answer: 'HTTP/2 200\\r'" },
	/* 9 */ { "HTTP/1.1 2000 OK\r\n\r\n", -1, "bad status line 'HTTP/1.1 2000 OK'" },
	/* 10 */ { "HTTP/1.1 099 x\r\n\r\n", -1, "bad status line 'HTTP/1.1 099 x'" },
	/* 11 */ { "HTTP/1.1 20\r\n", -1, "bad status line 'HTTP/1.1 20'" },
	/* 12 */ { OK200 "Mesh-Acked: 42\n", -1, "a line without CRLF: 'Mesh-Acked: 42'" },
	/* 13 */ { OK200 "Mesh-Acked: -1\r\n", -1, "bad Mesh-Acked '-1': not an offset" },
	/* 14 */ { OK200 "Mesh-Acked: 0042\r\n", -1, "bad Mesh-Acked '0042': not an offset" },
	/* 15 */
	{ OK200 "Mesh-Acked: 1234567890123456789\r\n", -1,
	  "bad Mesh-Acked '1234567890123456789': not an offset" },
	/* 16 */
	{ OK200 "Mesh-Acked: 1\r\nMesh-Acked: 2\r\n", -1, "Mesh-Acked twice: 'Mesh-Acked: 2'" },
	/* 17 */
	{ OK200 "Content-Length: 65537\r\n", -1,
	  "bad Content-Length '65537': at most 65536 bytes of answer" },
	/* 18 */
	{ OK200 "Content-Length: 1\r\nContent-Length: 1\r\n", -1,
	  "Content-Length twice: 'Content-Length: 1'" },
	/* 19 */
	{ OK200 "Transfer-Encoding: chunked\r\n", -1,
	  "unexpected Transfer-Encoding 'chunked': the answer is a sentence" },
	/* 20 */ { OK200 "Mesh-Acked: 1\r\n\r\n", -1, "an answer without Content-Length" },
	/* 21 */ { OK200 "no colon\r\n", -1, "bad header line 'no colon'" },
	/* 22 */ { OK200 ": empty name\r\n", -1, "bad header line ': empty name'" },
	/* 23: a control byte is quoted escaped */
	{ OK200 "Mesh-Acked: 4\x01\r\n", -1, "bad Mesh-Acked '4\\x01': not an offset" },
	/* 24: the recorder inflates lz4 bodies (RFC 7694), one coding of a list, any case */
	{ OK200 "Accept-Encoding: gzip, LZ4;q=1\r\nContent-Length: 0\r\n\r\n", 70,
	  "200 - 0 keep lz4" },
	/* 25: names that only contain it, twice */
	{ OK200 "Accept-Encoding: lz4x, zlz4,\r\nAccept-Encoding: identity\r\n"
		"Content-Length: 0\r\n\r\n",
	  95, "200 - 0 keep" },
};

static void check_replies(void)
{
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		const struct reply_row *t = &replies[i];
		struct recorder_reply r;
		char why[RECORDER_WHY_MAX], got[512] = "";
		int rc = recorder_reply_parse(t->in, strlen(t->in), &r, why);
		if (rc > 0) {
			char acked[24] = "-";
			if (r.has_acked)
				snprintf(acked, sizeof(acked), "%llu", (unsigned long long)r.acked);
			snprintf(got, sizeof(got), "%u %s %llu %s%s", r.status, acked,
				 (unsigned long long)r.content_length, r.close ? "close" : "keep",
				 r.lz4 ? " lz4" : "");
		} else if (rc < 0) {
			snprintf(got, sizeof(got), "%s", why);
		}
		if (rc != t->rc || strcmp(got, t->want) != 0)
			fprintf(stderr, "reply %zu: %s\n", i + 1, t->in);
		CHECK_INT(rc, t->rc);
		CHECK_STR(got, t->want);
	}
	/* a head that never ends is refused at RECORDER_REPLY_HEAD_MAX, not waited for */
	static char big[RECORDER_REPLY_HEAD_MAX + 10];
	memset(big, 'x', sizeof(big));
	memcpy(big, OK200 "X-Pad: ", strlen(OK200 "X-Pad: "));
	struct recorder_reply r;
	char why[RECORDER_WHY_MAX];
	CHECK_INT(recorder_reply_parse(big, RECORDER_REPLY_HEAD_MAX - 1, &r, why), 0);
	CHECK_INT(recorder_reply_parse(big, sizeof(big), &r, why), -1);
	CHECK_STR(why, "the answer's head is over 4096 bytes");
}

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
			snprintf(got, sizeof(got), "%s %s %s %llu%s", route_name(req.route), req.id,
				 req.route == RECORDER_FETCH ? req.source : "-",
				 (unsigned long long)req.offset, req.end ? " end" : "");
		else
			snprintf(got, sizeof(got), "%s", why);
		if (st != t->status || strcmp(got, t->why) != 0)
			fprintf(stderr, "row %zu: %s %s\n", i + 1, t->method, t->target);
		CHECK_INT(st, t->status);
		CHECK_STR(got, t->why);
	}
	check_replies();
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
