/* rec/lz4: a small body's frame byte for byte (magic, FLG with linked blocks and the content
 * size, 64 KiB blocks, the size, one stored block, the end mark), round trips of parts up to
 * a whole 1 MiB body (text, runs, random bytes), a part that repeats the one before it packed
 * as references to it where it lies, and each frame the recorder refuses with
 * its exact sentence: a bomb declaring more than the cap (-EFBIG before any inflating), one
 * without its size, one truncated anywhere, bytes after it, a skippable frame, 4 MiB blocks,
 * a frame lying about its size either way, a corrupt block, nothing at all. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rec/lz4.h"

enum { CAP = 1 << 20 };

static struct rec_lz4 *z;

static char *pack(const void *data, size_t len, size_t *n)
{
	struct rec_part p = { data, len };
	size_t cap = rec_lz4_bound(&p, 1);
	char *out = malloc(cap);
	ssize_t k = rec_lz4_pack(z, &p, 1, out, cap);
	CHECK(k > 0);
	*n = k > 0 ? (size_t)k : 0;
	return out;
}

/* rec_lz4_unpack's result and sentence for in[0..len), into a CAP buffer */
static int unpack(const void *in, size_t len, char why[static REC_LZ4_WHY_MAX])
{
	static char out[CAP];
	size_t plain;
	return rec_lz4_unpack(in, len, out, CAP, &plain, why);
}

static void test_exact_bytes(void)
{
	static const unsigned char want[] = {
		0x04, 0x22, 0x4d, 0x18,				/* magic */
		0x48,						/* FLG: v1, linked, size */
		0x40,						/* BD: 64 KiB blocks */
		0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* content size 3 */
		0x0f,						/* header checksum */
		0x03, 0x00, 0x00, 0x80, 'h',  'i',  '\n',	/* a stored block of 3 */
		0x00, 0x00, 0x00, 0x00,				/* end mark */
	};
	size_t n;
	char *f = pack("hi\n", 3, &n);
	CHECK_INT(n, sizeof(want));
	CHECK(n == sizeof(want) && memcmp(f, want, n) == 0);
	char out[8], why[REC_LZ4_WHY_MAX];
	size_t plain;
	CHECK_INT(rec_lz4_unpack(f, n, out, sizeof(out), &plain, why), 0);
	CHECK_INT(plain, 3);
	CHECK(memcmp(out, "hi\n", 3) == 0);
	free(f);
}

/* parts of every kind, up to a whole body, come back as they went */
static void test_round_trips(void)
{
	static char text[CAP], out[CAP];
	srand(18);
	static const char *words[] = { "the ",	 "quick ", "brown ", "fox ",	 "\\u001b[0m",
				       "jumps ", "over ",  "lazy ",  "dog\\r\\n" };
	for (size_t i = 0; i < CAP;) { /* words and escapes, as asciicast lines look */
		const char *w = words[rand() % 9];
		for (size_t k = 0; w[k] && i < CAP; k++)
			text[i++] = w[k];
	}
	memset(text + CAP / 2, 'a', CAP / 8);
	for (size_t i = CAP - CAP / 8; i < CAP; i++)
		text[i] = (char)rand();
	static const size_t cuts[][2] = {
		{ 0, 1 }, { 1, 65535 }, { 65536, 65537 }, { 100, CAP - 100 }, { CAP / 2, CAP / 2 }
	};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct rec_part p[2] = { { text, cuts[i][0] }, { text + cuts[i][0], cuts[i][1] } };
		size_t cap = rec_lz4_bound(p, 2), plain = 7;
		char *f = malloc(cap), why[REC_LZ4_WHY_MAX];
		ssize_t k = rec_lz4_pack(z, p, 2, f, cap);
		CHECK(k > 0);
		CHECK_INT(rec_lz4_pack(z, p, 2, f, cap - 1), -ENOBUFS);
		CHECK_INT(rec_lz4_unpack(f, (size_t)k, out, CAP, &plain, why), 0);
		CHECK_INT(plain, cuts[i][0] + cuts[i][1]);
		CHECK(memcmp(out, text, plain) == 0);
		free(f);
	}
	/* nothing: a frame without its size (the node sends an empty body plain) */
	struct rec_part none = { text, 0 };
	char *f0 = malloc(rec_lz4_bound(&none, 1)), why[REC_LZ4_WHY_MAX];
	ssize_t k0 = rec_lz4_pack(z, &none, 1, f0, rec_lz4_bound(&none, 1));
	CHECK(k0 > 0);
	CHECK_INT(rec_lz4_unpack(f0, (size_t)k0, out, CAP, &(size_t){ 0 }, why), -EBADMSG);
	CHECK_STR(why, "the lz4 frame does not declare its size (lz4 --content-size)");
	free(f0);
	/* text shrinks: what the upload saves */
	size_t n;
	char *f = pack(text, CAP / 2, &n);
	CHECK(n < CAP / 4);
	free(f);
}

/* A part that repeats the one before it, each in a buffer of its own (a later segment's
 * header, then lines): its blocks refer to the first part where it lies (linked blocks, the
 * parts stable for the frame), so the frame is about one part, not two; the bytes come back.
 * The parts are freed before the next frame is packed from others: nothing of a frame is read
 * after its call (ASan). */
static void test_parts_linked(void)
{
	enum { N = 20000 };
	static char out[2 * N];
	char why[REC_LZ4_WHY_MAX];
	for (int round = 0; round < 2; round++) {
		char *a = malloc(N), *b = malloc(N);
		srand(7 + (unsigned)round);
		for (size_t i = 0; i < N; i++) /* letters LZ4 cannot shrink alone */
			a[i] = (char)('a' + rand() % 26);
		memcpy(b, a, N);
		struct rec_part p[2] = { { a, N }, { b, N } };
		size_t cap = rec_lz4_bound(p, 2), plain = 0;
		char *f = malloc(cap);
		ssize_t k = rec_lz4_pack(z, p, 2, f, cap);
		CHECK(k > 0 && k < N + 1024); /* two parts apart: over 2 * N */
		CHECK_INT(rec_lz4_unpack(f, k > 0 ? (size_t)k : 0, out, sizeof(out), &plain, why),
			  0);
		CHECK_INT(plain, 2 * N);
		CHECK(memcmp(out, a, N) == 0 && memcmp(out + N, a, N) == 0);
		free(a);
		free(b);
		free(f);
	}
}

static void test_refused(void)
{
	char why[REC_LZ4_WHY_MAX];
	static char big[CAP + 1];
	size_t n;
	char *f;

	/* a bomb: 1 MiB + 1 of zeros is a few KiB of frame; refused from its header */
	f = pack(big, sizeof(big), &n);
	CHECK(n < 8192);
	CHECK_INT(unpack(f, n, why), -EFBIG);
	CHECK_STR(why, "the body inflates to 1048577 bytes, over the 1048576 a request may carry");
	free(f);

	f = pack("hello, world\n", 13, &n);
	/* truncated anywhere */
	CHECK_INT(unpack(f, 0, why), -EBADMSG);
	CHECK_STR(why, "not an lz4 frame: ERROR_frameHeader_incomplete");
	CHECK_INT(unpack(f, 10, why), -EBADMSG);
	CHECK_STR(why, "not an lz4 frame: ERROR_frameHeader_incomplete");
	for (size_t cut = 15; cut < n; cut++) {
		CHECK_INT(unpack(f, cut, why), -EBADMSG);
		CHECK_STR(why, "the lz4 frame is truncated");
	}
	/* bytes after it */
	char *g = malloc(n + 1);
	memcpy(g, f, n);
	g[n] = '\n';
	CHECK_INT(unpack(g, n + 1, why), -EBADMSG);
	CHECK_STR(why, "bytes after the lz4 frame");
	/* a wrong magic */
	g[0] = 0x05;
	CHECK_INT(unpack(g, n, why), -EBADMSG);
	CHECK_STR(why, "not an lz4 frame: ERROR_frameType_unknown");
	free(g);
	free(f);

	/* hand-made frames: magic, FLG, BD, [size], HC (the descriptor's xxh32, second byte,
	 * as liblz4 checks it), blocks, end mark */
	static const struct {
		unsigned char b[32];
		size_t len;
		const char *why;
	} frames[] = {
		/* no content size: FLG 0x40 */
		{ { 0x04, 0x22, 0x4d, 0x18, 0x40, 0x40, 0xc0, 0x00, 0x00, 0x00, 0x00 },
		  11,
		  "the lz4 frame does not declare its size (lz4 --content-size)" },
		/* 4 MiB blocks: BD 0x70 */
		{ { 0x04, 0x22, 0x4d, 0x18, 0x48, 0x70, 0x03, 0,   0,	 0, 0, 0, 0,
		    0,	  0xfe, 0x03, 0x00, 0x00, 0x80, 'h',  'i', '\n', 0, 0, 0, 0 },
		  26,
		  "lz4 blocks over 64 KiB (lz4 -B4 makes them 64 KiB)" },
		/* declares 2, holds 3 */
		{ { 0x04, 0x22, 0x4d, 0x18, 0x48, 0x40, 0x02, 0,   0,	 0, 0, 0, 0,
		    0,	  0xf2, 0x03, 0x00, 0x00, 0x80, 'h',  'i', '\n', 0, 0, 0, 0 },
		  26,
		  "the lz4 frame holds more than the size it declares" },
		/* declares 4, holds 3 */
		{ { 0x04, 0x22, 0x4d, 0x18, 0x48, 0x40, 0x04, 0,   0,	 0, 0, 0, 0,
		    0,	  0x96, 0x03, 0x00, 0x00, 0x80, 'h',  'i', '\n', 0, 0, 0, 0 },
		  26,
		  "the lz4 frame holds less than the size it declares" },
		/* a skippable frame */
		{ { 0x50, 0x2a, 0x4d, 0x18, 0x01, 0x00, 0x00, 0x00, 'x' },
		  9,
		  "a skippable lz4 frame, not one of data" },
		/* a compressed block whose match reaches before the start */
		{ { 0x04, 0x22, 0x4d, 0x18, 0x48, 0x40, 0x08, 0,    0,	  0, 0, 0, 0,
		    0,	  0x29, 0x03, 0x00, 0x00, 0x00, 0x04, 0x10, 0x00, 0, 0, 0, 0 },
		  26,
		  "a bad lz4 frame: ERROR_decompressionFailed" },
	};
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		CHECK_INT(unpack(frames[i].b, frames[i].len, why), -EBADMSG);
		CHECK_STR(why, frames[i].why);
	}
}

int main(void)
{
	CHECK_INT(rec_lz4_new(&z), 0);
	test_exact_bytes();
	test_round_trips(); /* the one packer, body after body */
	test_parts_linked();
	test_refused();
	rec_lz4_free(z);
	return check_finish();
}
