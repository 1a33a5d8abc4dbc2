/* Fuzz target for the netmap's JSON parser (control/netmap/json_load.c), differential:
 * against jansson's json_loadb on the same bytes, with and without JSON_REJECT_DUPLICATES,
 * both refuse, or both accept and dump the same text (key order, numbers' kinds and reals
 * included); a refusal has a sentence.  One exception: a NUL byte, which jansson's stream
 * drops when it follows a number or a word ("[2\0]" is [2] to it) and this parser refuses
 * right there. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/netmap/netmap_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const char *text, size_t len, size_t flags)
{
	json_error_t e1, e2;
	json_t *a = ctl__json_loadb(text, len, flags, &e1), *b = json_loadb(text, len, flags, &e2);
	size_t at = (size_t)e1.position;
	if (!a && b && at > 0 && at < len && !text[at] && isalnum((unsigned char)text[at - 1])) {
		json_decref(b);
		return;
	}
	if (!a != !b || (!a && !e1.text[0]))
		abort();
	if (a) {
		char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
		char *db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!da || !db || strcmp(da, db) != 0)
			abort();
		free(da);
		free(db);
	}
	json_decref(a);
	json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	same((const char *)data, size, 0);
	same((const char *)data, size, JSON_REJECT_DUPLICATES);
	return 0;
}
