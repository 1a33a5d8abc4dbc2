/* cmd/recorder/proto.h: the request line of the recorder upload protocol v1, parsed.
 *
 *	struct recorder_req req;
 *	char why[RECORDER_WHY_MAX];
 *	unsigned status = recorder_proto_parse(method, raw_target, &req, why);
 *	if (status)			// 400, 404 or 405: answer it with why as the reason line
 *		return reply(status, why);
 *	switch (req.route) { case RECORDER_UPLOAD: ... }
 *
 * The routes (the protocol is in cmd/meshrecorder.c's opening comment and the README):
 *	PUT  /v1/recordings/ID?offset=N		append the body at N
 *	PUT  /v1/recordings/ID?offset=N&end=1	... and the recording ends with it
 *	HEAD /v1/recordings/ID			the bytes held (Mesh-Acked)
 *	GET  /v1/recordings			the JSON list
 *	GET  /v1/recordings/SOURCE/ID		one recording
 *
 * The target is parsed raw, as it came on the request line: nothing is percent-decoded, so
 * an ID or SOURCE has one spelling only.  An ID is 1-128 of [A-Za-z0-9._-], not starting
 * with '.' (so "ID.cast" is a plain file name: never "..", never hidden); a SOURCE is an IP
 * address in its canonical text (addr_ip_format's), which is also a plain file name; N is 0
 * or a decimal number without leading zeros, at most RECORDER_OFFSET_MAX.  Pure: no I/O, no
 * HTTP library; the fuzz target recorder-proto drives it with any bytes. */
#ifndef MESH_CMD_RECORDER_PROTO_H
#define MESH_CMD_RECORDER_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "common/addr.h"

enum {
	RECORDER_ID_MAX = 128,
	RECORDER_WHY_MAX = 256,
	RECORDER_BODY_MAX = 1 << 20,		  /* one PUT's body */
	RECORDER_OFFSET_MAX = 999999999999999999, /* 18 digits: far above any cap */
};

enum recorder_route {
	RECORDER_UPLOAD, /* PUT: id, offset */
	RECORDER_STAT,	 /* HEAD: id */
	RECORDER_LIST,	 /* GET: nothing */
	RECORDER_FETCH,	 /* GET: source, id */
};

struct recorder_req {
	enum recorder_route route;
	char id[RECORDER_ID_MAX + 1];
	char source[ADDR_TEXT_MAX];
	uint64_t offset;
	bool end; /* PUT ...&end=1: the last upload of the recording */
};

/* Whether id is a recording id (1-128 of [A-Za-z0-9._-], not starting with '.'). */
bool recorder_id_valid(const char *id);

/* Whether s is an IP address in its canonical text (addr_ip_format's). */
bool recorder_source_valid(const char *s);

/* Parses method and the raw request target into req: 0, or the HTTP status to answer
 * (400 bad id/source/offset/query, 404 no such path, 405 method not allowed) with a sentence
 * in why that quotes the bad part (escaped, cut at 64 bytes). */
unsigned recorder_proto_parse(const char *method, const char *target, struct recorder_req *req,
			      char why[static RECORDER_WHY_MAX]);

/* ---- the node's side: the recorder's answer to a PUT ---- */

enum {
	RECORDER_REPLY_HEAD_MAX = 4096,	 /* status line and headers */
	RECORDER_REPLY_BODY_MAX = 65536, /* the sentence after them */
};

struct recorder_reply {
	unsigned status;	 /* 100-599 */
	bool has_acked;		 /* a Mesh-Acked header came */
	uint64_t acked;		 /* its value */
	uint64_t content_length; /* the body to read past */
	bool close;		 /* Connection: close */
	bool lz4; /* Accept-Encoding names lz4 (RFC 7694): the recorder inflates such bodies */
};

/* Parses an HTTP/1.1 response head at the start of buf[0..len): its length (through the
 * blank line, at most RECORDER_REPLY_HEAD_MAX) with *out filled; 0 when it is not complete
 * yet and may still be; -1 with a sentence in why for a head the node cannot take (not
 * HTTP/1.x, a bad status, too long, no Content-Length or one over RECORDER_REPLY_BODY_MAX,
 * chunked, a Mesh-Acked that is not an offset, a header twice).  Accept-Encoding is a
 * comma-separated list of codings (parameters after ';' ignored, case-insensitive).  Pure, like
 * recorder_proto_parse: the fuzz target recorder-proto drives it too. */
int recorder_reply_parse(const char *buf, size_t len, struct recorder_reply *out,
			 char why[static RECORDER_WHY_MAX]);

#endif
