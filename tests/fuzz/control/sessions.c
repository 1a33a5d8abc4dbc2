/* Fuzz target for a node's list of live SSH sessions (node API "sessions",
 * control/netmap/sessions.h), which control takes from any registered node: a refused list
 * gets a sentence and nothing; an accepted one has valid IDs, clean bounded texts, no ID
 * twice, and formats to text that parses back to the same entries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"
#include "control/netmap/sessions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_session *v, *back;
	size_t n, m;
	char err[512] = "";
	if (ctl_sessions_parse((const char *)data, size, &v, &n, err, sizeof(err))) {
		if (!err[0] || v || n)
			abort();
		return 0;
	}
	if (n > CTL_SESSIONS_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (!ctl_session_id_valid(v[i].id) ||
		    !text_clean_valid(v[i].command, strlen(v[i].command)) ||
		    !text_clean_valid(v[i].who, strlen(v[i].who)))
			abort();
		for (size_t j = 0; j < i; j++)
			if (!strcmp(v[i].id, v[j].id))
				abort();
	}
	char *text = ctl_sessions_format(v, n);
	if (!text || ctl_sessions_parse(text, strlen(text), &back, &m, err, sizeof(err)) ||
	    m != n || (n && memcmp(back, v, n * sizeof(*v))))
		abort();
	free(back);
	free(text);
	free(v);
	return 0;
}
