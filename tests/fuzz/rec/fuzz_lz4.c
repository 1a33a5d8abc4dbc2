/* Fuzz target for the recorder's inflating of a PUT body (rec_lz4_unpack), which reads what
 * any tailnet peer sends with Content-Encoding: lz4.  The contract: 0 with at most the cap
 * written, -EFBIG or -EBADMSG with a sentence; and whatever it took packs and unpacks back to
 * the same bytes.  The first byte picks the cap (up to 64 KiB, so a bomb meets it). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rec/lz4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cap = (size_t)data[0] << 8;
	char *out = malloc(cap ? cap : 1), why[REC_LZ4_WHY_MAX];
	size_t plain = 7;
	int rc = rec_lz4_unpack(data + 1, size - 1, out, cap, &plain, why);
	if (rc == 0) {
		if (plain > cap || why[0])
			abort();
		struct rec_part p = { out, plain };
		size_t bound = rec_lz4_bound(&p, 1), again;
		char *f = malloc(bound), *back = malloc(plain ? plain : 1);
		static struct rec_lz4 *z;
		if (!z && rec_lz4_new(&z) != 0)
			abort();
		ssize_t k = rec_lz4_pack(z, &p, 1, f, bound);
		if (k <= 0 || rec_lz4_unpack(f, (size_t)k, back, plain, &again, why) != 0 ||
		    again != plain || memcmp(back, out, plain) != 0)
			abort();
		free(f);
		free(back);
	} else if ((rc != -EFBIG && rc != -EBADMSG && rc != -ENOMEM) || plain != 0 || !why[0] ||
		   strlen(why) >= REC_LZ4_WHY_MAX) {
		abort();
	}
	free(out);
	return 0;
}
