/* rec/lz4.c: one PUT body as one LZ4 frame (rec/lz4.h), on liblz4's frame API. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>

#include "rec/lz4.h"

static const LZ4F_preferences_t prefs_base = {
	.frameInfo = { .blockSizeID = LZ4F_max64KB, .blockMode = LZ4F_blockLinked },
	.compressionLevel = 0, /* LZ4's fastest */
	.autoFlush = 1, /* each part packed from where it is: no staging buffer to set up per body
			 * (liblz4 1.9.4 callocs one in every compressBegin otherwise: 190 K
			 * instructions a body) */
};

struct rec_lz4 {
	LZ4F_cctx *cx;
};

int rec_lz4_new(struct rec_lz4 **out)
{
	struct rec_lz4 *z = calloc(1, sizeof(*z));
	if (!z || LZ4F_isError(LZ4F_createCompressionContext(&z->cx, LZ4F_VERSION))) {
		free(z);
		return -ENOMEM;
	}
	*out = z;
	return 0;
}

void rec_lz4_free(struct rec_lz4 *z)
{
	if (!z)
		return;
	LZ4F_freeCompressionContext(z->cx);
	free(z);
}

size_t rec_lz4_bound(const struct rec_part *parts, size_t n)
{
	size_t b = LZ4F_HEADER_SIZE_MAX + LZ4F_compressBound(0, &prefs_base);
	for (size_t i = 0; i < n; i++)
		b += LZ4F_compressBound(parts[i].len, &prefs_base);
	return b;
}

ssize_t rec_lz4_pack(struct rec_lz4 *z, const struct rec_part *parts, size_t n, void *out,
		     size_t cap)
{
	if (cap < rec_lz4_bound(parts, n))
		return -ENOBUFS;
	LZ4F_preferences_t prefs = prefs_base;
	for (size_t i = 0; i < n; i++)
		prefs.frameInfo.contentSize += parts[i].len;
	/* stableSrc: every part stays where it is for the whole frame (the caller's, for this
	 * call), so the linked blocks find the last 64 KiB in place; without it liblz4 copies them
	 * into its own buffer after each part (LZ4_saveDict: 10 M instructions of the 412 M the
	 * recording added for 16 MiB of text, tests/bench/results.md).  Nothing links frames:
	 * each Begin forgets the last one's bytes, which need not outlive the call. */
	static const LZ4F_compressOptions_t stable = { .stableSrc = 1 };
	LZ4F_cctx *cx = z->cx;
	char *o = out;
	size_t at = 0, r = LZ4F_compressBegin(cx, o, cap, &prefs);
	for (size_t i = 0; i < n && !LZ4F_isError(r); i++) {
		at += r;
		r = LZ4F_compressUpdate(cx, o + at, cap - at, parts[i].data, parts[i].len, &stable);
	}
	if (!LZ4F_isError(r)) {
		at += r;
		r = LZ4F_compressEnd(cx, o + at, cap - at, NULL);
	}
	if (LZ4F_isError(r)) /* only memory: cap is the bound (the next Begin starts afresh) */
		return -ENOMEM;
	return (ssize_t)(at + r);
}

static int bad(char why[static REC_LZ4_WHY_MAX], const char *fmt, const char *what)
{
	snprintf(why, REC_LZ4_WHY_MAX, fmt, what);
	return -EBADMSG;
}

int rec_lz4_unpack(const void *in, size_t len, void *out, size_t cap, size_t *plain_len,
		   char why[static REC_LZ4_WHY_MAX])
{
	why[0] = '\0';
	*plain_len = 0;
	LZ4F_dctx *dx;
	if (LZ4F_isError(LZ4F_createDecompressionContext(&dx, LZ4F_VERSION))) {
		snprintf(why, REC_LZ4_WHY_MAX, "out of memory");
		return -ENOMEM;
	}
	const char *src = in;
	LZ4F_frameInfo_t fi;
	size_t pos = len, hint = LZ4F_getFrameInfo(dx, &fi, src, &pos);
	int rc = 0;
	if (LZ4F_isError(hint)) {
		rc = bad(why, "not an lz4 frame: %s", LZ4F_getErrorName(hint));
	} else if (hint == 0 || pos == 0) {
		rc = bad(why, "%s", "the lz4 frame is truncated");
	} else if (fi.frameType != LZ4F_frame) {
		rc = bad(why, "%s", "a skippable lz4 frame, not one of data");
	} else if (fi.blockSizeID != LZ4F_max64KB && fi.blockSizeID != LZ4F_default) {
		rc = bad(why, "%s", "lz4 blocks over 64 KiB (lz4 -B4 makes them 64 KiB)");
	} else if (!(((const unsigned char *)src)[4] & 0x08)) { /* FLG's Content Size */
		rc = bad(why, "%s", "the lz4 frame does not declare its size (lz4 --content-size)");
	} else if (fi.contentSize > cap) {
		snprintf(why, REC_LZ4_WHY_MAX,
			 "the body inflates to %llu bytes, over the %zu a request may carry",
			 (unsigned long long)fi.contentSize, cap);
		rc = -EFBIG;
	}
	size_t at = 0, want = (size_t)fi.contentSize;
	while (!rc && hint) {
		size_t dn = want - at, sn = len - pos;
		hint = LZ4F_decompress(dx, (char *)out + at, &dn, src + pos, &sn, NULL);
		if (LZ4F_isError(hint)) {
			const char *e = LZ4F_getErrorName(hint);
			rc = strcmp(e, "ERROR_frameSize_wrong") == 0
				 ? bad(why, "%s",
				       "the lz4 frame holds less than the size it declares")
				 : bad(why, "a bad lz4 frame: %s", e);
			break;
		}
		at += dn;
		pos += sn;
		if (hint && dn == 0 && sn == 0) /* no input left, or output full */
			rc = bad(why, "%s",
				 pos == len ? "the lz4 frame is truncated"
					    : "the lz4 frame holds more than the size it declares");
	}
	if (!rc && at != want)
		rc = bad(why, "%s", "the lz4 frame holds less than the size it declares");
	if (!rc && pos != len)
		rc = bad(why, "%s", "bytes after the lz4 frame");
	LZ4F_freeDecompressionContext(dx);
	if (!rc)
		*plain_len = at;
	return rc;
}
