/* The stream reassembler (nat/stream.h): whole messages out of chunks of any size — one
 * byte at a time, many messages in one chunk, every split point — ChannelData's padding
 * skipped and never handed out, the bound of NAT_STREAM_MAX_MSG at its edge (a 4096-byte
 * STUN message kept, 4100 refused; a ChannelData of 4096 kept, 4097 skipped and counted
 * while the stream goes on), the exact sentence for each kind of garbage (text, a channel
 * we never bind, a reserved first byte, an odd or too long STUN length, no cookie; each as
 * early as the bytes allow, before the rest of a message arrives), a broken stream staying
 * broken,
 * the framing out (padding), and random message sequences in random chunks against the
 * list they were made from. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "nat/stream.h"

/* A STUN message of 20 + body bytes (the reassembler reads only its header). */
static size_t stun(uint8_t *out, size_t body, uint8_t fill)
{
	out[0] = 0x01;
	out[1] = 0x01;
	out[2] = (uint8_t)(body >> 8);
	out[3] = (uint8_t)body;
	out[4] = 0x21;
	out[5] = 0x12;
	out[6] = 0xA4;
	out[7] = 0x42;
	memset(out + 8, fill, NAT_STUN_TXID + body);
	return NAT_STUN_HEADER + body;
}

/* ChannelData on channel 0x400f with len bytes of fill, and its padding (of 0xEE, which a
 * receiver must not care about); returns the framed length. */
static size_t chan(uint8_t *out, size_t len, uint8_t fill)
{
	out[0] = 0x40;
	out[1] = 0x0F; /* the last channel we bind */
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	memset(out + 4, fill, len);
	size_t framed = (4 + len + 3) & ~(size_t)3;
	memset(out + 4 + len, 0xEE, framed - 4 - len);
	return framed;
}

/* Feeds (p, n) as one chunk; the messages go to out (lengths in lens); returns the last rc. */
static int feed(struct nat_stream *s, const uint8_t *p, size_t n, uint8_t *out, size_t *lens,
		int *count)
{
	const uint8_t *msg;
	size_t len;
	int rc;
	while ((rc = nat_stream_next(s, &p, &n, &msg, &len)) == 1) {
		size_t at = 0;
		for (int i = 0; i < *count; i++)
			at += lens[i];
		memcpy(out + at, msg, len);
		lens[(*count)++] = len;
	}
	if (rc == 0)
		CHECK_INT(n, 0); /* 0 means everything was consumed */
	return rc;
}

/* Feeds bad (n bytes) to a fresh stream and checks the error, its sentence, and that only
 * the good messages before it (none, unless `good`) were handed out. */
static void refused_after(const char *what, const uint8_t *bad, size_t n, int good, const char *why)
{
	struct nat_stream s;
	static uint8_t out[8192];
	size_t lens[8];
	int count = 0;
	nat_stream_init(&s);
	int rc = feed(&s, bad, n, out, lens, &count);
	if (rc != -EBADMSG)
		fprintf(stderr, "case '%s':\n", what);
	CHECK_INT(rc, -EBADMSG);
	CHECK_STR(s.why, why);
	CHECK_INT(count, good);
}

static void refused(const char *what, const uint8_t *bad, size_t n, const char *why)
{
	refused_after(what, bad, n, 0, why);
}

static uint8_t in[1 << 22], out[1 << 22];

int main(void)
{
	struct nat_stream s;
	size_t lens[64], n;
	int count;

	/* 1. One STUN message a byte at a time: nothing until the last byte. */
	n = stun(in, 8, 0xAB);
	nat_stream_init(&s);
	count = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK_INT(feed(&s, in + i, 1, out, lens, &count), 0);
		CHECK_INT(count, i + 1 == n ? 1 : 0);
	}
	CHECK(lens[0] == n && memcmp(out, in, n) == 0);

	/* 2. Many in one chunk: ChannelData of 5 (3 bytes of padding), STUN, ChannelData of 0,
	 * ChannelData of 8 (no padding); the padding never handed out. */
	n = 0;
	n += chan(in + n, 5, 'a');
	n += stun(in + n, 4, 0x11);
	n += chan(in + n, 0, 0);
	n += chan(in + n, 8, 'b');
	CHECK_INT(n, 12 + 24 + 4 + 12);
	nat_stream_init(&s);
	count = 0;
	CHECK_INT(feed(&s, in, n, out, lens, &count), 0);
	CHECK_INT(count, 4);
	CHECK(lens[0] == 9 && lens[1] == 24 && lens[2] == 4 && lens[3] == 12);
	CHECK_MEM(out, in, 9);
	CHECK_MEM(out + 9, in + 12, 24);
	CHECK_MEM(out + 33, in + 36, 4);
	CHECK_MEM(out + 37, in + 40, 12);

	/* 3. The same bytes split in two at every point: the same four messages. */
	for (size_t cut = 0; cut <= n; cut++) {
		static uint8_t got[256];
		size_t gl[8];
		nat_stream_init(&s);
		count = 0;
		CHECK_INT(feed(&s, in, cut, got, gl, &count), 0);
		CHECK_INT(feed(&s, in + cut, n - cut, got, gl, &count), 0);
		CHECK_INT(count, 4);
		CHECK_MEM(got, out, 49);
		CHECK_INT(s.have + s.skip + s.need, 0);
	}

	/* 4. The bound, at its edge. */
	n = stun(in, NAT_STREAM_MAX_MSG - NAT_STUN_HEADER, 0x22); /* 4096: kept */
	nat_stream_init(&s);
	count = 0;
	CHECK_INT(feed(&s, in, n, out, lens, &count), 0);
	CHECK(count == 1 && lens[0] == NAT_STREAM_MAX_MSG);
	n = chan(in, NAT_STREAM_MAX_MSG - 4, 'c');	/* 4096: kept */
	n += chan(in + n, NAT_STREAM_MAX_MSG - 3, 'd'); /* 4097: skipped, padding and all */
	n += chan(in + n, 0xFFFF, 'e');			/* the longest a peer can send */
	n += stun(in + n, 0, 0x33);
	nat_stream_init(&s);
	count = 0;
	for (size_t i = 0; i < n; i += 1000) /* chunks across the skipped ones' ends */
		CHECK_INT(feed(&s, in + i, n - i < 1000 ? n - i : 1000, out, lens, &count), 0);
	CHECK_INT(count, 2);
	CHECK(lens[0] == NAT_STREAM_MAX_MSG && out[4] == 'c' && out[NAT_STREAM_MAX_MSG - 1] == 'c');
	CHECK(lens[1] == NAT_STUN_HEADER && out[NAT_STREAM_MAX_MSG] == 0x01);
	CHECK_INT(s.oversized, 2);
	CHECK(s.why[0] == '\0');

	/* 5. Garbage, each with its sentence. */
	static const uint8_t http[] = "HTTP/1.1 400 Bad Request\r\n";
	refused("text", http, sizeof(http) - 1,
		"relay stream: ChannelData at offset 0 on channel 0x4854, not one of ours "
		"(0x4000-0x400f)");
	static const uint8_t ch16[] = { 0x40, 0x10, 0x00, 0x00 };
	refused("the first channel we never bind", ch16, 4,
		"relay stream: ChannelData at offset 0 on channel 0x4010, not one of ours "
		"(0x4000-0x400f)");
	static const uint8_t high[] = { 0x80, 0x01, 0x00, 0x00 };
	refused(
	    "top bit", high, 4,
	    "relay stream: byte 0x80 at offset 0 starts neither a STUN message nor ChannelData");
	n = chan(in, 5, 'a');
	static const uint8_t reserved[] = { 0x50, 0x00, 0x00, 0x04, 1, 2, 3, 4 };
	memcpy(in + n, reserved, sizeof(reserved));
	refused_after(
	    "reserved channel after a good message", in, n + sizeof(reserved), 1,
	    "relay stream: byte 0x50 at offset 12 starts neither a STUN message nor ChannelData");
	n = stun(in, 8, 0);
	in[3] = 7;
	refused("odd STUN length", in, n,
		"relay stream: STUN message at offset 0 has length 7, not a multiple of 4");
	/* Refused at its first 4 bytes: nothing is buffered waiting for 4100. */
	static const uint8_t huge[] = { 0x01, 0x01, 0x0F, 0xF0 };
	refused("STUN longer than the bound", huge, 4,
		"relay stream: STUN message at offset 0 of 4100 bytes is longer than 4096");
	static const uint8_t max[] = { 0x00, 0x01, 0xFF, 0xFC };
	refused("STUN of the longest length field", max, 4,
		"relay stream: STUN message at offset 0 of 65552 bytes is longer than 4096");
	/* Refused at its first 8 bytes, before the 4 KiB its length announces. */
	n = stun(in, 4076, 0);
	in[7] = 0x43;
	refused("no magic cookie", in, 8,
		"relay stream: STUN message at offset 0 without the magic cookie (0x2112a443)");
	refused("no magic cookie, the whole message in one chunk", in, n,
		"relay stream: STUN message at offset 0 without the magic cookie (0x2112a443)");

	/* 6. Broken stays broken: good bytes after garbage give nothing. */
	nat_stream_init(&s);
	count = 0;
	CHECK_INT(feed(&s, high, 4, out, lens, &count), -EBADMSG);
	n = stun(in, 0, 0);
	CHECK_INT(feed(&s, in, n, out, lens, &count), -EBADMSG);
	CHECK_INT(count, 0);

	/* 7. Framing out: ChannelData padded with zeros, STUN as it is, anything else refused. */
	uint8_t f[16];
	memset(f, 0xFF, sizeof(f));
	f[0] = 0x40;
	f[1] = 0x00;
	f[2] = 0;
	f[3] = 5;
	CHECK_INT(nat_stream_frame(f, 9, sizeof(f)), 12);
	CHECK(f[9] == 0 && f[10] == 0 && f[11] == 0 && f[12] == 0xFF);
	CHECK_INT(nat_stream_frame(f, 9, 11), -ENOSPC);
	f[3] = 8;
	CHECK_INT(nat_stream_frame(f, 12, 12), 12);
	CHECK_INT(nat_stream_frame(f, 11, sizeof(f)), -EINVAL); /* length field disagrees */
	n = stun(in, 4, 0);
	CHECK_INT(nat_stream_frame(in, n, n), (int)n);
	/* ... but not from the shim (WireGuard's datagrams): a STUN message there is someone
	 * else's on 127.0.0.1 wanting its own requests on our TURN stream. */
	CHECK_INT(nat_stream_frame_data(in, n, n), -EINVAL);
	CHECK_INT(nat_stream_frame_data(f, 12, 12), 12);
	f[1] = NAT_TURN_MAX_PEERS; /* 0x4010: a channel nat_turn never binds */
	CHECK_INT(nat_stream_frame_data(f, 12, 12), -EINVAL);
	f[1] = 0;
	f[0] = 0x80;
	CHECK_INT(nat_stream_frame(f, 12, sizeof(f)), -EINVAL);

	/* 8. Random sequences in random chunks against the list they were made from. */
	srand(16);
	for (int round = 0; round < 300; round++) {
		static uint8_t want[1 << 22];
		size_t wl[64], wn = 0, wat = 0;
		int kinds = 1 + rand() % 40;
		n = 0;
		for (int k = 0; k < kinds; k++) {
			size_t at = n;
			if (rand() % 2) {
				n += stun(in + n, (size_t)(rand() % 100) * 4, (uint8_t)rand());
				wl[wn++] = n - at;
			} else {
				size_t len = rand() % 8 ? (size_t)(rand() % 300)
							: (size_t)(rand() % 0x10000);
				n += chan(in + n, len, (uint8_t)rand());
				if (4 + len > NAT_STREAM_MAX_MSG)
					continue;
				wl[wn++] = 4 + len;
			}
			memcpy(want + wat, in + at, wl[wn - 1]);
			wat += wl[wn - 1];
		}
		nat_stream_init(&s);
		count = 0;
		for (size_t i = 0; i < n;) {
			size_t c = 1 + (size_t)rand() % (rand() % 2 ? 7 : 3000);
			if (c > n - i)
				c = n - i;
			CHECK_INT(feed(&s, in + i, c, out, lens, &count), 0);
			i += c;
		}
		CHECK_INT(count, (int)wn);
		CHECK_MEM(out, want, wat);
		for (size_t i = 0; i < wn && (int)i < count; i++)
			CHECK_INT(lens[i], wl[i]);
		CHECK_INT(s.offset, n);
	}
	return check_finish();
}
