/* common/sbuf.h: appends in order whatever their sizes, a reservation, printf text, and text
 * too long for sbuf_fmt refused (oom) rather than cut, after which nothing more goes in. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/sbuf.h"

int main(void)
{
	struct sbuf b = { 0 };
	char want[70000];
	size_t n = 0;
	for (size_t k = 1; n + k < sizeof(want) && k < 5000; k += 97) {
		char piece[5000];
		memset(piece, 'a' + (int)(k % 26), k);
		sbuf_add(&b, piece, k);
		memcpy(want + n, piece, k);
		n += k;
	}
	CHECK(!b.oom);
	CHECK_INT(b.len, n);
	CHECK(b.s && memcmp(b.s, want, n) == 0 && b.s[n] == '\0');
	free(b.s);

	struct sbuf f = { 0 };
	sbuf_reserve(&f, 100);
	CHECK(f.cap >= 101 && f.len == 0);
	sbuf_str(&f, "{\"v\":");
	sbuf_fmt(&f, "%u,\"s\":\"%s\"}", 7u, "x");
	CHECK_STR(f.s, "{\"v\":7,\"s\":\"x\"}");
	char longer[300];
	memset(longer, 'z', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	sbuf_fmt(&f, "%s", longer);
	CHECK(f.oom);
	sbuf_str(&f, "more");
	CHECK_STR(f.s, "{\"v\":7,\"s\":\"x\"}"); /* nothing cut in, nothing after */
	free(f.s);
	return check_finish();
}
