/* rec/asciicast: arbitrary bytes as a session's output (in chunks the input picks) and as
 * every header string.  Invariant: every line written is one valid JSON value with
 * well-formed UTF-8 (tests/unit/rec/json_check.h, independent of rec/'s decoder) ending in
 * '\n', an event never exceeds REC_CAST_EVENT_MAX, and the bytes a too-small buffer refuses
 * are refused without a partial line being counted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rec/asciicast.h"
#include "tests/unit/rec/json_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void line_ok(const char *buf, ssize_t n, size_t input_len)
{
	if (n < 0)
		return;
	if (n == 0)
		return;
	if (buf[n - 1] != '\n' || !json_check(buf, (size_t)n - 1))
		abort();
	if (input_len != (size_t)-1 && (size_t)n > REC_CAST_EVENT_MAX(input_len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[16 * 4096 + 8192]; /* a header repeats two of its strings */
	if (size < 2 || size > 4096)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;

	/* The header: the input cut into NUL-terminated strings. */
	char *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	const char *s[8] = { "" };
	size_t k = 0;
	for (size_t i = 0; i <= size && k < 8; i++)
		if (i == 0 || copy[i - 1] == '\0')
			s[k++] = copy + i;
	for (; k < 8; k++)
		s[k] = NULL;
	const char *tags[] = { s[6] ? s[6] : "", s[7] ? s[7] : "" };
	struct rec_header h = { .width = mode,
				.height = size,
				.timestamp = (int64_t)size << 20,
				.command = s[0],
				.term = s[1],
				.src_node = s[2],
				.src_addr = s[3],
				.src_owner = s[4],
				.src_tags = tags,
				.n_src_tags = mode & 1 ? 2 : 0,
				.ssh_user = s[5],
				.local_user = s[4],
				.conn_id = s[3] };
	line_ok(buf, rec_cast_header(&h, buf, sizeof(buf)), (size_t)-1);
	line_ok(buf,
		rec_cast_marker(&(struct rec_cast){ 0 }, 7, s[0] ? s[0] : "", buf, sizeof(buf)),
		(size_t)-1);
	free(copy);

	/* The output in chunks of 1 + (mode >> 1) % 16 bytes; sometimes a buffer too small. */
	struct rec_cast c;
	rec_cast_init(&c, 1000);
	size_t chunk = 1 + (size_t)(mode >> 1) % 16, off = 0;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (mode & 0x80) {
			ssize_t r = rec_cast_output(&c, (int64_t)off * 997, data + off, n, buf, 24);
			line_ok(buf, r, n);
			if (r == -ENOSPC)
				r = rec_cast_output(&c, (int64_t)off * 997, data + off, n, buf,
						    REC_CAST_EVENT_MAX(n));
			line_ok(buf, r, n);
			if (r < 0)
				abort();
		} else {
			line_ok(buf,
				rec_cast_output(&c, (int64_t)off * 997, data + off, n, buf,
						REC_CAST_EVENT_MAX(n)),
				n);
		}
		off += n;
	}
	line_ok(buf, rec_cast_flush(&c, (int64_t)size * 997, buf, sizeof(buf)), 3);
	line_ok(buf, rec_cast_resize(&c, 5, mode, (unsigned)size, buf, sizeof(buf)), (size_t)-1);
	return 0;
}
