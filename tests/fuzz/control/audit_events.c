/* Fuzz target for the audit events a node sends (ctl_audit_events_parse): the bytes as the
 * node API's JSON (decoded as ctl__node_decode does), and whatever is accepted checked
 * against the parser's promises (1..256 events, seq >= 1 strictly ascending, a node type,
 * every string bounded and free of control characters, the request's queue id on every
 * event: "" or 32 lowercase hex digits) and turned into the canonical body control stores,
 * which must parse back as an object with the same seq, type and queue. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/server/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl_audit_event ev[CTL_AUDIT_EVENTS_MAX];
	char why[256];
	size_t n;
	json_t *msg = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(msg)) {
		json_decref(msg);
		return 0;
	}
	why[0] = '\0';
	if (ctl_audit_events_parse(msg, ev, &n, why, sizeof(why)) != 0) {
		if (!why[0] || n != 0)
			abort();
		json_decref(msg);
		return 0;
	}
	if (n < 1 || n > CTL_AUDIT_EVENTS_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (ev[i].seq < 1 || (i && ev[i].seq <= ev[i - 1].seq) ||
		    !ctl_audit_node_type(ev[i].type) || !ev[i].queue ||
		    strcmp(ev[i].queue, ev[0].queue) != 0 ||
		    (ev[i].queue[0] &&
		     strspn(ev[i].queue, "0123456789abcdef") != CTL_AUDIT_QUEUE_HEX) ||
		    strlen(ev[i].queue) != (ev[i].queue[0] ? CTL_AUDIT_QUEUE_HEX : 0))
			abort();
		for (int k = 0; k < CTL_AUDIT_N_STR; k++) {
			if (strlen(ev[i].str[k]) > CTL_AUDIT_STR_MAX)
				abort();
			for (const char *p = ev[i].str[k]; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					abort();
		}
		char *body = ctl_audit_body(&ev[i], 1, "node", 2, "", "192.0.2.1");
		json_t *back = body ? json_loads(body, JSON_REJECT_DUPLICATES, NULL) : NULL;
		if (!json_is_object(back) ||
		    json_integer_value(json_object_get(back, "seq")) != ev[i].seq ||
		    strcmp(json_string_value(json_object_get(back, "type")), ev[i].type) != 0 ||
		    (ev[i].queue[0] &&
		     strcmp(json_string_value(json_object_get(back, "queue")), ev[i].queue) != 0))
			abort();
		json_decref(back);
		free(body);
	}
	json_decref(msg);
	return 0;
}
