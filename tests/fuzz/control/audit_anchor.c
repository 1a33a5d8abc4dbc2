/* Fuzz target for ctl_audit_anchor_parse (the audit log's anchor after a prune, read from
 * meta, which whoever holds the database can write): an accepted value prints back to the
 * same text and is one (through >= 1, 1 <= count <= through); a refused one is all zeros. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/server/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), again[CTL_AUDIT_ANCHOR_TEXT];
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	struct ctl_audit_anchor a, zero = { 0 };
	if (ctl_audit_anchor_parse(s, &a) == 0) {
		ctl_audit_anchor_text(&a, again);
		if (strcmp(again, s) != 0 || a.through < 1 || a.count < 1 || a.count > a.through ||
		    a.at_ms < 0)
			abort();
	} else if (memcmp(&a, &zero, sizeof(a)) != 0) {
		abort();
	}
	free(s);
	return 0;
}
