/* The endpoint text parser (see endpoint.h).  Strict on purpose: a text two parsers could
 * read differently ("::1:80", "1.2.3.4:80x", "10.0.0.0/8:1") is refused by both. */
#include "control/netmap/endpoint.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

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
	char host[CTL_ENDPOINT_MAX];
	const char *colon, *s = text;
	size_t hl;
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
					 "endpoint '%s': unknown type '%.*s' (local, reflexive or relay)",
					 text, (int)tl, text);
			return false;
		}
		s = sp + 1;
	}
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return fail(err, errlen, text, "expected [IPv6]:port");
		hl = (size_t)(end - s - 1);
		memcpy(host, s + 1, hl);
		colon = end + 1;
	} else {
		colon = strchr(s, ':');
		if (!colon)
			return fail(err, errlen, text, "expected addr:port");
		if (strchr(colon + 1, ':'))
			return fail(err, errlen, text, "an IPv6 address goes in brackets: [addr]:port");
		hl = (size_t)(colon - s);
		memcpy(host, s, hl);
	}
	host[hl] = '\0';
	const char *p = colon + 1;
	size_t digits = strspn(p, "0123456789");
	unsigned long port = 0;
	for (size_t i = 0; i < digits && i < 6; i++)
		port = port * 10 + (unsigned long)(p[i] - '0');
	if (!digits || p[digits] || digits > 5 || port == 0 || port > 65535)
		return fail(err, errlen, text, "port must be 1 to 65535");
	if (s[0] == '[' && inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = 6;
	else if (s[0] != '[' && inet_pton(AF_INET, host, out->addr) == 1)
		out->family = 4;
	else
		return fail(err, errlen, text, s[0] == '[' ? "not an IPv6 address in brackets"
						       : "not an IPv4 address");
	out->port = (uint16_t)port;
	return true;
}

void ctl_endpoint_format(const struct ctl_endpoint *e, char out[static CTL_ENDPOINT_MAX])
{
	char host[INET6_ADDRSTRLEN] = "?";
	inet_ntop(e->family == 4 ? AF_INET : AF_INET6, e->addr, host, sizeof(host));
	snprintf(out, CTL_ENDPOINT_MAX, e->family == 4 ? "%s %s:%u" : "%s [%s]:%u",
		 ctl_endpoint_type_name(e->type), host, e->port);
}
