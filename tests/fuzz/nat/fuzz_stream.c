/* Fuzz target for the stream reassembler (nat/stream.h): the bytes a relay (or anyone on a
 * plain TCP path) writes into our TURN connection.  The first input byte seeds the chunk
 * sizes, the rest is the stream.  Contract: the stream fed in one chunk and in the seeded
 * chunks gives the same messages and the same error; every message is whole (STUN: its
 * length field, a multiple of 4, the magic cookie; ChannelData: its length field, one of
 * the channels nat_turn binds), at most NAT_STREAM_MAX_MSG bytes; all input is consumed
 * unless the stream broke, and a broken stream has a reason and stays broken.  The same bytes
 * as one datagram on the shim (anyone on 127.0.0.1 who reaches it): nat_stream_frame_data takes
 * only one whole ChannelData message (never STUN), padded to a multiple of 4, and the framed
 * bytes read back as exactly that message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nat/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	struct nat_stream s;
	uint8_t out[1 << 16];
	size_t out_len, count;
	int rc;
};

static void check_msg(const uint8_t *m, size_t len)
{
	if (len > NAT_STREAM_MAX_MSG || len < 4)
		abort();
	size_t field = (size_t)m[2] << 8 | m[3];
	if ((m[0] & 0xF0) == 0x40) {
		if (4 + field != len || ((size_t)m[0] << 8 | m[1]) > NAT_STREAM_LAST_CHANNEL)
			abort();
		return;
	}
	if ((m[0] & 0xC0) != 0 || NAT_STUN_HEADER + field != len || (len & 3) ||
	    memcmp(m + 4, "\x21\x12\xA4\x42", 4) != 0)
		abort();
}

/* Feeds (p, n) in chunks of sizes drawn from seed (0: one chunk). */
static void run(struct run *r, const uint8_t *p, size_t n, unsigned seed)
{
	nat_stream_init(&r->s);
	r->out_len = r->count = 0;
	r->rc = 0;
	while (n > 0 && r->rc >= 0) {
		size_t c = n;
		if (seed) {
			seed = seed * 1103515245u + 12345u;
			c = 1 + (seed >> 16) % (seed & 0x100 ? 9 : 700);
			if (c > n)
				c = n;
		}
		const uint8_t *q = p;
		size_t left = c;
		const uint8_t *msg;
		size_t len;
		while ((r->rc = nat_stream_next(&r->s, &q, &left, &msg, &len)) == 1) {
			check_msg(msg, len);
			/* a hash of what came out, in order, bounded */
			if (r->out_len + len + 2 <= sizeof(r->out)) {
				r->out[r->out_len++] = (uint8_t)(len >> 8);
				r->out[r->out_len++] = (uint8_t)len;
				memcpy(r->out + r->out_len, msg, len);
				r->out_len += len;
			}
			r->count++;
		}
		if (r->rc == 0 && left != 0)
			abort(); /* 0 means all consumed */
		if (r->rc < 0 && (r->rc != -EBADMSG || !r->s.why[0]))
			abort();
		p += c;
		n -= c;
	}
	if (r->rc < 0) {
		const uint8_t *q = (const uint8_t *)"\x00\x01\x00\x00";
		size_t left = 4;
		const uint8_t *msg;
		size_t len;
		if (nat_stream_next(&r->s, &q, &left, &msg, &len) != -EBADMSG)
			abort(); /* broken stays broken */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, chunked;
	if (size < 1)
		return 0;
	uint8_t *copy = malloc(size - 1 ? size - 1 : 1); /* exact size: ASan sees overreads */
	if (!copy)
		abort();
	memcpy(copy, data + 1, size - 1);
	run(&whole, copy, size - 1, 0);
	run(&chunked, copy, size - 1, 1u + data[0]);
	if (whole.rc != chunked.rc || whole.count != chunked.count ||
	    whole.out_len != chunked.out_len || memcmp(whole.out, chunked.out, whole.out_len) ||
	    strcmp(whole.s.why, chunked.s.why) || whole.s.oversized != chunked.s.oversized)
		abort();
	free(copy);

	/* the shim: one datagram */
	static uint8_t dgram[NAT_STREAM_MAX_MSG + 4];
	size_t n = size - 1;
	if (n > NAT_STREAM_MAX_MSG)
		return 0;
	memcpy(dgram, data + 1, n);
	int framed = nat_stream_frame_data(dgram, n, sizeof(dgram));
	if (framed == -EINVAL || framed == -ENOSPC)
		return 0;
	if (framed < 0 || (size_t)framed < n || (framed & 3) || (dgram[0] & 0xF0) != 0x40)
		abort();
	struct nat_stream s;
	const uint8_t *q = dgram, *msg;
	size_t left = (size_t)framed, len;
	nat_stream_init(&s);
	if (nat_stream_next(&s, &q, &left, &msg, &len) != 1 || len != n || memcmp(msg, data + 1, n))
		abort();
	if (nat_stream_next(&s, &q, &left, &msg, &len) != 0 || left)
		abort(); /* the padding is skipped, nothing else follows */
	return 0;
}
