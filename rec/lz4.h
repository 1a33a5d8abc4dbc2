/* rec/lz4.h: the upload's content coding "lz4" (the LZ4 frame format of Debian's liblz4, the
 * one `lz4` writes), the node's packing and the recorder's bounded unpacking of one PUT body.
 *
 *   struct rec_lz4 *z;                                         // the packer, kept
 *   rec_lz4_new(&z);
 *   struct rec_part parts[] = { { hdr, hn }, { lines, n } };   // one frame of their bytes
 *   ssize_t k = rec_lz4_pack(z, parts, 2, out, rec_lz4_bound(parts, 2));
 *   rec_lz4_free(z);
 *   int e = rec_lz4_unpack(body, blen, plain, RECORDER_BODY_MAX, &plen, why);
 *   // 0; -EFBIG: more than cap plain bytes (answer 413); -EBADMSG: not a frame we take
 *
 * A body is exactly one frame that declares its content size, in blocks of at most 64 KiB
 * (linked or not, with or without checksums): so the recorder knows the plain size before it
 * inflates a byte, never holds more than cap plain bytes nor a decoder buffer over 64 KiB
 * (a frame asking for larger blocks, a skippable frame, one without its size, bytes after
 * its end are refused with a sentence).  Offsets and acknowledgements stay in plain bytes:
 * the coding is of one request's body, nothing carries over between requests.  The node
 * packs at LZ4's fastest level with linked 64 KiB blocks and the content size.  Pure: no
 * I/O; the fuzz target rec-lz4 drives rec_lz4_unpack with any bytes. */
#ifndef MESH_REC_LZ4_H
#define MESH_REC_LZ4_H

#include <stddef.h>
#include <sys/types.h>

#define REC_LZ4_CODING "lz4" /* its name in Content-Encoding and Accept-Encoding */

enum { REC_LZ4_WHY_MAX = 160 };

struct rec_part {
	const void *data;
	size_t len;
};

/* A packer: liblz4's compression context, kept from one body to the next (its allocations
 * made once).  0 or -ENOMEM. */
struct rec_lz4;
int rec_lz4_new(struct rec_lz4 **out);
void rec_lz4_free(struct rec_lz4 *z);

/* The most rec_lz4_pack writes for these parts. */
size_t rec_lz4_bound(const struct rec_part *parts, size_t n);

/* The parts' bytes, one after another, as one frame into out[0..cap) (later parts' blocks
 * refer to earlier parts where they are: none may overlap out): its length, or -ENOMEM
 * (the compressor's buffers), or -ENOBUFS (cap below rec_lz4_bound). */
ssize_t rec_lz4_pack(struct rec_lz4 *z, const struct rec_part *parts, size_t n, void *out,
		     size_t cap);

/* Inflates the frame in[0..len) into out[0..cap): 0 with *plain_len; -EFBIG when it declares
 * more than cap bytes (nothing inflated); -EBADMSG for anything else it is not, with the
 * reason in why; -ENOMEM. */
int rec_lz4_unpack(const void *in, size_t len, void *out, size_t cap, size_t *plain_len,
		   char why[static REC_LZ4_WHY_MAX]);

#endif
