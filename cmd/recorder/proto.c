/* The recorder's request line: method and raw target to a route with its id, source and
 * offset, or the status and the sentence to answer (proto.h has the grammar).  The first
 * failing check decides, in this order: the path (404), the method (405), then the id, the
 * source and the query (400), so each bad request has exactly one answer.  Also the node's
 * reading of the recorder's answers (recorder_reply_parse): the status, Mesh-Acked and the
 * body's length, each refused with a sentence that quotes it. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cmd/recorder/proto.h"
#include "common/log.h"
#include "rec/lz4.h"

static const char prefix[] = "/v1/recordings";

bool recorder_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > RECORDER_ID_MAX || id[0] == '.')
		return false;
	return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* why = fmt with the (escaped, shortened) quote of s[0..len) for its one %s. */
static unsigned fail(char why[static RECORDER_WHY_MAX], unsigned status, const char *fmt,
		     const char *s, size_t len)
{
	char q[4 * 48 + 4];
	size_t took = log_escape(q, sizeof(q) - 3, s, len > 48 ? 48 : len);
	if (took < len)
		strcat(q, "...");
	snprintf(why, RECORDER_WHY_MAX, fmt, q);
	return status;
}

/* N of ?offset=N: 0 or 1-18 digits without a leading zero. */
static bool parse_offset(const char *s, uint64_t *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 18 || strspn(s, "0123456789") != n || (s[0] == '0' && n > 1))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	*out = v;
	return true;
}

bool recorder_source_valid(const char *s)
{
	struct addr_ip ip;
	char canon[ADDR_TEXT_MAX];
	return strlen(s) < ADDR_TEXT_MAX && addr_ip_parse(s, &ip, NULL) &&
	       strcmp(addr_ip_format(&ip, canon), s) == 0;
}

static unsigned parse_id(const char *seg, size_t len, struct recorder_req *req,
			 char why[static RECORDER_WHY_MAX])
{
	if (len <= RECORDER_ID_MAX) {
		memcpy(req->id, seg, len);
		req->id[len] = '\0';
	}
	if (len > RECORDER_ID_MAX || !recorder_id_valid(req->id))
		return fail(why, 400,
			    "bad recording id '%s': 1-128 of A-Z a-z 0-9 . _ -, not starting "
			    "with '.'",
			    seg, len);
	return 0;
}

unsigned recorder_proto_parse(const char *method, const char *target, struct recorder_req *req,
			      char why[static RECORDER_WHY_MAX])
{
	memset(req, 0, sizeof(*req));
	why[0] = '\0';
	const char *q = strchr(target, '?');
	size_t plen = q ? (size_t)(q - target) : strlen(target);
	const char *query = q ? q + 1 : NULL;
	const size_t pre = sizeof(prefix) - 1;
	if (plen < pre || memcmp(target, prefix, pre) != 0 || (plen > pre && target[pre] != '/'))
		return fail(why, 404, "no such path '%s': the recorder serves /v1/recordings",
			    target, plen);
	/* segments after the prefix: none, ID, or SOURCE/ID */
	const char *seg[2] = { NULL, NULL };
	size_t seglen[2] = { 0, 0 };
	int nseg = 0;
	for (const char *p = target + pre; p < target + plen;) {
		if (nseg == 2)
			return fail(why, 404,
				    "no such path '%s': the recorder serves /v1/recordings", target,
				    plen);
		p++; /* the '/' */
		const char *e = memchr(p, '/', (size_t)(target + plen - p));
		if (!e)
			e = target + plen;
		seg[nseg] = p;
		seglen[nseg++] = (size_t)(e - p);
		p = e;
	}
	bool put = strcmp(method, "PUT") == 0, head = strcmp(method, "HEAD") == 0,
	     get = strcmp(method, "GET") == 0;
	if (!put && !head && !get)
		return fail(why, 405,
			    "method '%s' is not allowed: the recorder takes PUT, HEAD and GET",
			    method, strlen(method));
	unsigned rc;
	switch (nseg) {
	case 0:
		if (!get)
			return fail(why, 405,
				    "method '%s' is not allowed on /v1/recordings: GET lists them",
				    method, strlen(method));
		req->route = RECORDER_LIST;
		break;
	case 1:
		if (get)
			return fail(why, 404,
				    "no such path '%s': GET takes /v1/recordings/SOURCE/ID", target,
				    plen);
		if ((rc = parse_id(seg[0], seglen[0], req, why)))
			return rc;
		req->route = put ? RECORDER_UPLOAD : RECORDER_STAT;
		break;
	default:
		if (!get)
			return fail(why, 404,
				    "no such path '%s': PUT and HEAD take /v1/recordings/ID",
				    target, plen);
		if (seglen[0] >= ADDR_TEXT_MAX)
			return fail(why, 400, "bad source '%s': an IP address as the list shows it",
				    seg[0], seglen[0]);
		memcpy(req->source, seg[0], seglen[0]);
		req->source[seglen[0]] = '\0';
		if (!recorder_source_valid(req->source))
			return fail(why, 400, "bad source '%s': an IP address as the list shows it",
				    seg[0], seglen[0]);
		if ((rc = parse_id(seg[1], seglen[1], req, why)))
			return rc;
		req->route = RECORDER_FETCH;
		break;
	}
	if (req->route != RECORDER_UPLOAD) {
		if (query)
			return fail(why, 400,
				    "unexpected query '%s': only PUT takes one (?offset=N)", query,
				    strlen(query));
		return 0;
	}
	if (!query) {
		snprintf(why, RECORDER_WHY_MAX,
			 "PUT needs ?offset=N (the bytes the recorder holds)");
		return 400;
	}
	const char *amp = strchr(query, '&');
	if (strncmp(query, "offset=", 7) != 0 || (amp && strcmp(amp, "&end=1") != 0))
		return fail(why, 400,
			    "unexpected query '%s': PUT takes ?offset=N or ?offset=N&end=1", query,
			    strlen(query));
	char num[20] = "";
	size_t nlen = amp ? (size_t)(amp - query - 7) : strlen(query + 7);
	if (nlen < sizeof(num))
		memcpy(num, query + 7, nlen);
	if (nlen >= sizeof(num) || !parse_offset(num, &req->offset))
		return fail(why, 400,
			    "bad offset '%s': 0 or a decimal number without leading zeros, at most "
			    "18 digits",
			    query + 7, nlen);
	req->end = amp != NULL;
	return 0;
}

/* -1, with fmt's sentence quoting s[0..len) in why. */
static int reject(char why[static RECORDER_WHY_MAX], const char *fmt, const char *s, size_t len)
{
	fail(why, 0, fmt, s, len);
	return -1;
}

/* Whether the list v[0..len) ("a, b;q=1, c") names coding. */
static bool lists_coding(const char *v, size_t len, const char *coding)
{
	size_t cl = strlen(coding);
	for (const char *p = v, *end = v + len; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p)), *e = comma ? comma : end;
		const char *semi = memchr(p, ';', (size_t)(e - p)), *te = semi ? semi : e;
		while (p < te && (*p == ' ' || *p == '\t'))
			p++;
		while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if ((size_t)(te - p) == cl && strncasecmp(p, coding, cl) == 0)
			return true;
		p = e + 1;
	}
	return false;
}

/* One header line (name: value, without its CRLF) into out; 0 or -1 with why. */
static int reply_header(const char *line, size_t len, struct recorder_reply *out, bool *seen_cl,
			char why[static RECORDER_WHY_MAX])
{
	const char *colon = memchr(line, ':', len);
	if (!colon || colon == line)
		return reject(why, "bad header line '%s'", line, len);
	size_t nlen = (size_t)(colon - line);
	const char *v = colon + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vlen = (size_t)(end - v);
	char num[20] = "";
	if (vlen < sizeof(num))
		memcpy(num, v, vlen);
	if (nlen == 10 && strncasecmp(line, "Mesh-Acked", 10) == 0) {
		if (out->has_acked)
			return reject(why, "Mesh-Acked twice: '%s'", line, len);
		if (vlen >= sizeof(num) || !parse_offset(num, &out->acked))
			return reject(why, "bad Mesh-Acked '%s': not an offset", v, vlen);
		out->has_acked = true;
	} else if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		if (*seen_cl)
			return reject(why, "Content-Length twice: '%s'", line, len);
		if (vlen >= sizeof(num) || !parse_offset(num, &out->content_length) ||
		    out->content_length > RECORDER_REPLY_BODY_MAX)
			return reject(why, "bad Content-Length '%s': at most 65536 bytes of answer",
				      v, vlen);
		*seen_cl = true;
	} else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
		return reject(why, "unexpected Transfer-Encoding '%s': the answer is a sentence", v,
			      vlen);
	} else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0) {
		out->close = vlen == 5 && strncasecmp(v, "close", 5) == 0;
	} else if (nlen == 15 && strncasecmp(line, "Accept-Encoding", 15) == 0) {
		out->lz4 = out->lz4 || lists_coding(v, vlen, REC_LZ4_CODING);
	}
	return 0;
}

int recorder_reply_parse(const char *buf, size_t len, struct recorder_reply *out,
			 char why[static RECORDER_WHY_MAX])
{
	memset(out, 0, sizeof(*out));
	why[0] = '\0';
	size_t lim = len < RECORDER_REPLY_HEAD_MAX ? len : RECORDER_REPLY_HEAD_MAX;
	const char *p = buf, *end = buf + lim;
	/* the status line first: it is refused as soon as its start is wrong */
	size_t pre = lim < 9 ? lim : 9;
	if (memcmp(p, "HTTP/1.1 ", pre) != 0 && memcmp(p, "HTTP/1.0 ", pre) != 0) {
		const char *nl = memchr(p, '\n', lim);
		return reject(why, "not an HTTP/1.x answer: '%s'", p, nl ? (size_t)(nl - p) : lim);
	}
	bool seen_cl = false;
	for (int n = 0;; n++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			if (len >= RECORDER_REPLY_HEAD_MAX) {
				snprintf(why, RECORDER_WHY_MAX,
					 "the answer's head is over %d bytes",
					 RECORDER_REPLY_HEAD_MAX);
				return -1;
			}
			return 0;
		}
		if (nl == p || nl[-1] != '\r')
			return reject(why, "a line without CRLF: '%s'", p, (size_t)(nl - p));
		size_t llen = (size_t)(nl - 1 - p);
		if (n == 0) {
			if (llen < 12 || !(p[9] >= '1' && p[9] <= '5') ||
			    !(p[10] >= '0' && p[10] <= '9') || !(p[11] >= '0' && p[11] <= '9') ||
			    (llen > 12 && p[12] != ' '))
				return reject(why, "bad status line '%s'", p, llen);
			out->status =
			    (unsigned)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
		} else if (llen == 0) {
			if (!seen_cl) {
				snprintf(why, RECORDER_WHY_MAX, "an answer without Content-Length");
				return -1;
			}
			return (int)(nl + 1 - buf);
		} else if (reply_header(p, llen, out, &seen_cl, why)) {
			return -1;
		}
		p = nl + 1;
	}
}
