/* The endpoint text parser (see endpoint.h): the type here, the address and port by
 * common/addr.h's parser, so the netmap and `wg set` read an endpoint alike. */
#include "control/netmap/endpoint.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"

static bool fail(char *err, size_t errlen, const char *s, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "endpoint '%.*s': %s", CTL_ENDPOINT_MAX, s, why);
	return false;
}

static const char *const type_names[] = { "local", "reflexive", "relay" };

const char *ctl_endpoint_type_name(enum ctl_endpoint_type t)
{
	return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "?";
}

bool ctl_endpoint_parse(const char *text, struct ctl_endpoint *out, char *err, size_t errlen)
{
	const char *s = text;
	memset(out, 0, sizeof(*out));
	if (!text)
		return fail(err, errlen, "", "not a string");
	if (strlen(text) >= CTL_ENDPOINT_MAX)
		return fail(err, errlen, text, "too long");
	const char *sp = strchr(text, ' ');
	if (sp) {
		size_t tl = (size_t)(sp - text);
		bool known = false;
		for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]) && !known; i++) {
			if (tl == strlen(type_names[i]) && memcmp(text, type_names[i], tl) == 0) {
				out->type = (enum ctl_endpoint_type)i;
				known = true;
			}
		}
		if (!known) {
			if (err && errlen)
				snprintf(err, errlen,
					 "endpoint '%s': unknown type '%.*s' (local, reflexive or "
					 "relay)",
					 text, (int)tl, text);
			return false;
		}
		s = sp + 1;
	}
	/* A scope id names an interface of the host that chose it: nothing to a peer. */
	if (strchr(s, '%'))
		return fail(err, errlen, text,
			    "no scope id in a netmap endpoint (it names an interface of one host)");
	struct addr_endpoint e;
	const char *why;
	if (!addr_endpoint_parse(s, &e, &why))
		return fail(err, errlen, text, why);
	out->family = e.ip.family == AF_INET ? 4 : 6;
	memcpy(out->addr, e.ip.bytes, sizeof(out->addr));
	out->port = e.port;
	return true;
}

void ctl_endpoint_format(const struct ctl_endpoint *e, char out[static CTL_ENDPOINT_MAX])
{
	struct addr_endpoint ae = { .ip.family = e->family == 4 ? AF_INET : AF_INET6,
				    .port = e->port };
	char text[ADDR_TEXT_MAX];
	memcpy(ae.ip.bytes, e->addr, sizeof(ae.ip.bytes));
	snprintf(out, CTL_ENDPOINT_MAX, "%s %s", ctl_endpoint_type_name(e->type),
		 addr_endpoint_format(&ae, text));
}
