/* What every control/oidc fuzz target checks of a refusal: there is a sentence, and it is
 * safe to print (outside text quoted with its control characters as '?'). */
#ifndef MESH_TESTS_FUZZ_OIDC_H
#define MESH_TESTS_FUZZ_OIDC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_oidc_sentence(int rc, const char *err)
{
	if (rc >= 0)
		return;
	if (!err[0])
		abort();
	for (const unsigned char *c = (const unsigned char *)err; *c; c++)
		if (*c < 0x20 || *c >= 0x7f)
			abort();
}

#endif
