/* audit/queue: arbitrary bytes as a queue file (after its magic, MESHAQ2 whose id is the
 * next 16 bytes, or MESHAQ1 with the first input byte's bit 1 set; with its bit 0 set each
 * record's CRC is fixed up, so the payload checks are reached).  Invariants: the queue's id
 * is "" for MESHAQ1, else 32 hex digits, the same after the reopen;
 * open never fails on such a file; every event handed out has a seq above the acked floor,
 * in strictly increasing order, with members the wire accepts; an event appended then gets a
 * seq above all of them, and a reopen hands it out again with the others. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "audit/audit.h"
#include "audit/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct audit_event out[AUDIT_BATCH_MAX];

static ssize_t check_events(struct audit_queue *q, uint64_t *last)
{
	struct audit_queue_stats st;
	audit_queue_stats(q, &st);
	ssize_t n = audit_queue_peek(q, out, AUDIT_BATCH_MAX);
	if (n < 0 || (uint64_t)n > st.pending)
		abort();
	uint64_t prev = st.acked;
	for (ssize_t i = 0; i < n; i++) {
		if (out[i].seq <= prev || out[i].seq >= st.next_seq ||
		    !audit_type_name(out[i].type))
			abort();
		for (size_t f = 0; f < AUDIT_FIELD_COUNT; f++) {
			const char *s = audit_field_get(&out[i], f);
			if (!audit_text_valid(s, strlen(s)))
				abort();
		}
		prev = out[i].seq;
	}
	*last = prev;
	return n;
}

static char dir[] = "/tmp/mesh-fuzz-audit-XXXXXX", path[64];

static void remove_dir(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/q", dir);
		atexit(remove_dir);
	}
	if (size < 1)
		return 0;
	uint8_t *body = malloc(size + AUDIT_FILE_MAGIC_LEN);
	if (!body)
		return 0;
	bool v1 = data[0] & 2;
	memcpy(body, v1 ? AUDIT_FILE_MAGIC_V1 : AUDIT_FILE_MAGIC, AUDIT_FILE_MAGIC_LEN);
	memcpy(body + AUDIT_FILE_MAGIC_LEN, data + 1, size - 1);
	size_t len = AUDIT_FILE_MAGIC_LEN + size - 1;
	size_t head = v1 ? AUDIT_FILE_MAGIC_LEN : AUDIT_FILE_HEAD;
	for (size_t off = head; (data[0] & 1) && off + AUDIT_REC_HEAD <= len;) {
		uint8_t *p = body + off;
		size_t n =
		    (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
		if (n > len - off - AUDIT_REC_HEAD)
			break;
		uint32_t c = (uint32_t)crc32(0, p + AUDIT_REC_HEAD, (uInt)n);
		for (int i = 0; i < 4; i++)
			p[4 + i] = (uint8_t)(c >> (8 * i));
		off += AUDIT_REC_HEAD + n;
	}
	FILE *f = fopen(path, "we");
	if (!f || fwrite(body, 1, len, f) != len || fclose(f) != 0)
		abort();
	free(body);

	struct audit_queue *q;
	struct audit_queue_limits lim = { .max_events = 64 };
	if (audit_queue_open(path, &lim, &q, NULL, 0) != 0)
		abort();
	uint64_t last;
	check_events(q, &last);
	char id[AUDIT_QUEUE_ID_HEX + 1];
	snprintf(id, sizeof(id), "%s", audit_queue_id(q));
	if (v1 ? id[0] != '\0' : strspn(id, "0123456789abcdef") != AUDIT_QUEUE_ID_HEX)
		abort();
	struct audit_event e = { .type = AUDIT_SSH_ACCEPT, .time_ms = 1 };
	audit_text_set(e.detail, "fuzz");
	int err = audit_queue_append(q, &e);
	if (err == -EOVERFLOW) { /* a file whose floor is at AUDIT_SEQ_MAX */
		audit_queue_close(q);
		return 0;
	}
	if (err != 0 || e.seq <= last || audit_queue_sync(q) != 0)
		abort();
	struct audit_queue_stats st;
	audit_queue_stats(q, &st);
	audit_queue_close(q);
	if (audit_queue_open(path, &lim, &q, NULL, 0) != 0)
		abort();
	struct audit_queue_stats again;
	audit_queue_stats(q, &again);
	if (again.pending != st.pending || again.next_seq != st.next_seq ||
	    strcmp(audit_queue_id(q), id) != 0)
		abort();
	if (st.pending <= AUDIT_BATCH_MAX && (check_events(q, &last) < 1 || last != e.seq ||
					      strcmp(out[st.pending - 1].detail, "fuzz")))
		abort();
	audit_queue_close(q);
	unlink(path);
	return 0;
}
