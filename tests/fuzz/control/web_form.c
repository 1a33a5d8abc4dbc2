/* Fuzz target: the web forms' body parser (what anyone can POST to /login, /register/ and
 * /check/ before being authenticated).  Never crash or read past the body; a field found
 * fits its buffer and holds no more bytes than the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/server/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "login", "password", "csrf", "next", "action", "" };
	char *body = malloc(size + 1), out[64];
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		bool found = ctl__form_get(body, keys[i], out, sizeof(out));
		if (strlen(out) >= sizeof(out) || (!found && out[0]) || strlen(out) > size)
			abort();
	}
	free(body);
	return 0;
}
