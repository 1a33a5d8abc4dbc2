/* Fuzz target: meshd's local API decoders (what any local user can send to meshd, and
 * what meshctl reads back: status, sessions).  Never crash; a decoded request or status re-encodes
 * and decodes again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/localapi/localapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char err[256];
	struct ctl_lapi_request r;
	if (ctl_lapi_request_parse(text, size, &r, err, sizeof(err)) == 0) {
		char *line = ctl_lapi_request_format(&r);
		struct ctl_lapi_request again;
		if (line &&
		    ctl_lapi_request_parse(line, strlen(line), &again, err, sizeof(err)) != 0)
			abort(); /* what we encode we must decode */
		if (line)
			ctl_lapi_request_clear(&again);
		free(line);
		ctl_lapi_request_clear(&r);
	}
	struct ctl_lapi_status st;
	if (ctl_lapi_status_parse(text, size, &st, err, sizeof(err)) == 0) {
		/* what meshctl accepts (peers' paths among it), meshd can say again */
		char *line = ctl_lapi_status_format(&st);
		struct ctl_lapi_status again;
		if (line &&
		    ctl_lapi_status_parse(line, strlen(line), &again, err, sizeof(err)) != 0)
			abort();
		if (line)
			ctl_lapi_status_clear(&again);
		free(line);
		ctl_lapi_status_clear(&st);
	}
	struct ctl_lapi_session *v;
	size_t nv;
	if (ctl_lapi_sessions_parse(text, size, &v, &nv, err, sizeof(err)) == 0) {
		/* what meshctl sessions accepts, meshd can say again */
		char *line = ctl_lapi_sessions_format(v, nv);
		struct ctl_lapi_session *again;
		size_t na;
		if (line &&
		    ctl_lapi_sessions_parse(line, strlen(line), &again, &na, err, sizeof(err)) != 0)
			abort();
		if (line)
			ctl_lapi_sessions_free(again, na);
		free(line);
		ctl_lapi_sessions_free(v, nv);
	}
	struct ctl_lapi_node n;
	if (ctl_lapi_node_parse(text, size, &n, err, sizeof(err)) == 0)
		ctl_lapi_node_clear(&n);
	bool ok;
	ctl_lapi_reply_parse(text, size, &ok, err, sizeof(err));
	free(ctl_lapi_pretty(text, size, "status"));
	return 0;
}
