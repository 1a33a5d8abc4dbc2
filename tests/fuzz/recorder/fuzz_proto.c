/* Fuzz target for meshrecorder's request line (recorder_proto_parse), which reads what any
 * peer that reaches the recorder sends.  The first byte picks the method, the rest is the raw
 * target.  Checks the contract: an answer is 0 or one of 400/404/405 with a sentence; a
 * request taken has a valid id (and source), and printing it back as a target gives the
 * same request again.  A first byte with its top bit set feeds the rest to the node's side
 * instead, recorder_reply_parse (the answers a recorder, or whoever answers in its place,
 * sends). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/recorder/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The node's reading of an answer: a head taken is within the bytes and the bounds, and
 * reads the same from exactly its own bytes; an incomplete one is short of the bound. */
static void check_reply(const char *buf, size_t len)
{
	struct recorder_reply r, again;
	char why[RECORDER_WHY_MAX];
	int rc = recorder_reply_parse(buf, len, &r, why);
	if (rc < 0) {
		if (!why[0] || strlen(why) >= RECORDER_WHY_MAX)
			abort();
		return;
	}
	if (rc == 0) {
		if (len >= RECORDER_REPLY_HEAD_MAX)
			abort();
		return;
	}
	if ((size_t)rc > len || rc > RECORDER_REPLY_HEAD_MAX || r.status < 100 || r.status > 599 ||
	    r.content_length > RECORDER_REPLY_BODY_MAX || r.acked > RECORDER_OFFSET_MAX)
		abort();
	if (recorder_reply_parse(buf, (size_t)rc, &again, why) != rc ||
	    memcmp(&r, &again, sizeof(r)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 0x80) { /* the other parser: a recorder's answer, as the node reads it */
		check_reply((const char *)data + 1, size - 1);
		return 0;
	}
	static const char *methods[] = { "PUT", "HEAD", "GET", "POST" };
	const char *method = methods[data[0] & 3];
	char *target = malloc(size);
	if (!target)
		abort();
	memcpy(target, data + 1, size - 1);
	target[size - 1] = '\0';
	struct recorder_req req, again;
	char why[RECORDER_WHY_MAX];
	unsigned st = recorder_proto_parse(method, target, &req, why);
	if (st) {
		if ((st != 400 && st != 404 && st != 405) || !why[0] ||
		    strlen(why) >= RECORDER_WHY_MAX)
			abort();
		free(target);
		return 0;
	}
	char back[512];
	switch (req.route) {
	case RECORDER_UPLOAD:
		snprintf(back, sizeof(back), "/v1/recordings/%s?offset=%llu%s", req.id,
			 (unsigned long long)req.offset, req.end ? "&end=1" : "");
		break;
	case RECORDER_STAT:
		snprintf(back, sizeof(back), "/v1/recordings/%s", req.id);
		break;
	case RECORDER_LIST:
		snprintf(back, sizeof(back), "/v1/recordings");
		break;
	case RECORDER_FETCH:
		if (!recorder_source_valid(req.source))
			abort();
		snprintf(back, sizeof(back), "/v1/recordings/%s/%s", req.source, req.id);
		break;
	}
	if (req.route != RECORDER_LIST && !recorder_id_valid(req.id))
		abort();
	if (req.offset > RECORDER_OFFSET_MAX || strcmp(back, target) != 0)
		abort(); /* the one spelling of a request */
	if (recorder_proto_parse(method, back, &again, why) != 0 ||
	    memcmp(&req, &again, sizeof(req)) != 0)
		abort();
	free(target);
	return 0;
}
