/* TURN relay URIs (RFC 7065) and the "relays" list of a node's netmap: one strict parser
 * for meshcontrol's --relay and for the node, and the list's JSON codec.  A password is
 * never quoted in an error. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "control/netmap/netmap_json.h"
#include "control/netmap/relay.h"

static bool fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

static bool is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/* A DNS name: labels of letters, digits and '-' (1-63, no '-' at either end), 253 in all,
 * the last one not all digits (that would be a mistyped IPv4 address). */
static bool dns_name_valid(const char *h, size_t len)
{
	if (len == 0 || len > 253)
		return false;
	size_t start = 0;
	bool digits = true;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || h[i] == '.') {
			size_t l = i - start;
			if (l == 0 || l > 63 || h[start] == '-' || h[i - 1] == '-')
				return false;
			if (i == len && digits)
				return false;
			start = i + 1;
			digits = true;
		} else if (!is_ldh(h[i])) {
			return false;
		} else if (h[i] < '0' || h[i] > '9') {
			digits = false;
		}
	}
	return true;
}

static bool port_parse(const char *p, uint16_t *out)
{
	unsigned long v = 0;
	size_t n = strlen(p);
	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v < 1 || v > 65535 || p[0] == '0')
		return false;
	*out = (uint16_t)v;
	return true;
}

bool ctl_relay_url_parse(const char *s, struct ctl_relay_url *out, char *err, size_t errlen)
{
	char buf[CTL_RELAY_URL_MAX];
	size_t len = strlen(s);
	bool tls;
	memset(out, 0, sizeof(*out));
	if (len >= sizeof(buf))
		return fail(err, errlen, "'%.40s...': longer than %d characters", s,
			    CTL_RELAY_URL_MAX - 1);
	if (strncmp(s, "turns:", 6) == 0)
		tls = true;
	else if (strncmp(s, "turn:", 5) == 0)
		tls = false;
	else
		return fail(err, errlen,
			    "'%s': expected a TURN URI, turn:HOST:PORT or "
			    "turns:HOST:PORT (RFC 7065)",
			    s);
	memcpy(buf, s, len + 1);
	char *hp = buf + (tls ? 6 : 5), *query = strchr(hp, '?'), *port = NULL;
	if (strncmp(hp, "//", 2) == 0)
		return fail(err, errlen,
			    "'%s': a TURN URI has no '//' after the scheme (RFC 7065: "
			    "turn:HOST:PORT)",
			    s);
	if (query)
		*query++ = '\0';
	out->transport = tls ? CTL_RELAY_TLS : CTL_RELAY_UDP;
	if (query) {
		const char *v = query + strlen("transport=");
		if (strncmp(query, "transport=", 10) != 0)
			return fail(err, errlen,
				    "'%s': unknown query '%s' (only ?transport=udp or "
				    "?transport=tcp)",
				    s, query);
		if (strcmp(v, "tcp") == 0)
			out->transport = tls ? CTL_RELAY_TLS : CTL_RELAY_TCP;
		else if (strcmp(v, "udp") != 0)
			return fail(err, errlen, "'%s': transport '%s' is not udp or tcp", s, v);
		else if (tls)
			return fail(err, errlen,
				    "'%s': turns over udp is DTLS, which Mesh does not "
				    "speak (turns:HOST:PORT is TLS over TCP)",
				    s);
	}
	if (hp[0] == '[') {
		char *close = strchr(hp, ']');
		uint8_t a[16];
		if (!close)
			return fail(err, errlen, "'%s': '[' without ']'", s);
		*close = '\0';
		if (inet_pton(AF_INET6, hp + 1, a) != 1)
			return fail(err, errlen, "'%s': '%s' is not an IPv6 address", s, hp + 1);
		if (close[1] && close[1] != ':')
			return fail(err, errlen, "'%s': expected ':PORT' after ']', not '%s'", s,
				    close + 1);
		port = close[1] ? close + 2 : NULL;
		snprintf(out->host, sizeof(out->host), "%s", hp + 1);
	} else {
		char *colon = strchr(hp, ':');
		uint8_t a[4];
		if (colon && strchr(colon + 1, ':'))
			return fail(err, errlen,
				    "'%s': an IPv6 address goes in brackets: "
				    "turn:[ADDRESS]:PORT",
				    s);
		if (colon) {
			*colon = '\0';
			port = colon + 1;
		}
		if (!hp[0])
			return fail(err, errlen, "'%s': no host", s);
		if (inet_pton(AF_INET, hp, a) != 1 && !dns_name_valid(hp, strlen(hp)))
			return fail(err, errlen, "'%s': '%s' is not a host name or IP address", s,
				    hp);
		snprintf(out->host, sizeof(out->host), "%s", hp);
	}
	if (port && !port_parse(port, &out->port))
		return fail(err, errlen, "'%s': port '%s' is not 1-65535", s, port);
	if (!port)
		out->port = tls ? CTL_RELAY_TLS_PORT : CTL_RELAY_PORT;
	return true;
}

void ctl_relay_url_format(const struct ctl_relay_url *u, char out[static CTL_RELAY_URL_MAX])
{
	bool v6 = strchr(u->host, ':') != NULL;
	snprintf(out, CTL_RELAY_URL_MAX, "%s:%s%s%s:%u?transport=%s",
		 u->transport == CTL_RELAY_TLS ? "turns" : "turn", v6 ? "[" : "", u->host,
		 v6 ? "]" : "", u->port, u->transport == CTL_RELAY_UDP ? "udp" : "tcp");
}

static bool url_equal(const struct ctl_relay_url *a, const struct ctl_relay_url *b)
{
	return a->transport == b->transport && a->port == b->port && strcmp(a->host, b->host) == 0;
}

bool ctl_relay_list_parse(const char *s, struct ctl_relay_url out[static CTL_RELAYS_MAX], size_t *n,
			  char *err, size_t errlen)
{
	*n = 0;
	const char *p = s;
	for (size_t i = 1;; i++) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char one[CTL_RELAY_URL_MAX];
		if (len == 0)
			return fail(err, errlen, "relay %zu of '%s' is empty", i, s);
		if (i > CTL_RELAYS_MAX)
			return fail(err, errlen, "at most %d relays", CTL_RELAYS_MAX);
		if (len >= sizeof(one))
			return fail(err, errlen, "'%.40s...': longer than %d characters", p,
				    CTL_RELAY_URL_MAX - 1);
		memcpy(one, p, len);
		one[len] = '\0';
		if (!ctl_relay_url_parse(one, &out[*n], err, errlen))
			return false;
		for (size_t k = 0; k < *n; k++)
			if (url_equal(&out[k], &out[*n]))
				return fail(err, errlen, "'%s' names relay %zu again", one, k + 1);
		(*n)++;
		if (!comma)
			return true;
		p = comma + 1;
	}
}

/* ---- the netmap's "relays" ---- */

json_t *ctl__relays_json(const struct ctl_relay *r, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		char url[CTL_RELAY_URL_MAX];
		ctl_relay_url_format(&r[i].url, url);
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "url", url, "username",
						   r[i].username, "password", r[i].password,
						   "expires", (json_int_t)r[i].expires));
	}
	return a;
}

/* 1 to max - 1 printable ASCII characters: what a STUN USERNAME or a REST password holds
 * without SASLprep (nat/stun.h). */
static bool credential_valid(json_t *j, size_t max)
{
	const char *s = json_string_value(j);
	size_t len = json_string_length(j);
	if (!s || len == 0 || len >= max || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

static int relay_from_json(json_t *j, size_t i, struct ctl_relay *r, char *err, size_t errlen)
{
	char why[512];
	if (!json_is_object(j))
		return ctl__fail(err, errlen, "relays[%zu]: expected an object", i);
	json_t *url = json_object_get(j, "url"), *exp = json_object_get(j, "expires");
	if (!json_is_string(url))
		return ctl__fail(err, errlen, "relays[%zu].url: expected a string", i);
	if (!ctl_relay_url_parse(json_string_value(url), &r->url, why, sizeof(why)))
		return ctl__fail(err, errlen, "relays[%zu].url: %s", i, why);
	if (!credential_valid(json_object_get(j, "username"), sizeof(r->username)))
		return ctl__fail(err, errlen,
				 "relays[%zu].username: expected 1 to %zu printable "
				 "ASCII characters",
				 i, sizeof(r->username) - 1);
	if (!credential_valid(json_object_get(j, "password"), sizeof(r->password)))
		return ctl__fail(err, errlen,
				 "relays[%zu].password: expected 1 to %zu printable "
				 "ASCII characters",
				 i, sizeof(r->password) - 1);
	if (!json_is_integer(exp) || json_integer_value(exp) <= 0)
		return ctl__fail(err, errlen,
				 "relays[%zu].expires: expected a unix time in "
				 "seconds",
				 i);
	memcpy(r->username, json_string_value(json_object_get(j, "username")),
	       json_string_length(json_object_get(j, "username")) + 1);
	memcpy(r->password, json_string_value(json_object_get(j, "password")),
	       json_string_length(json_object_get(j, "password")) + 1);
	r->expires = json_integer_value(exp);
	return 0;
}

int ctl__relays_from_json(json_t *a, struct ctl_relay out[static CTL_RELAYS_MAX], size_t *n,
			  char *err, size_t errlen)
{
	*n = 0;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return ctl__fail(err, errlen, "relays: expected an array");
	if (json_array_size(a) > CTL_RELAYS_MAX)
		return ctl__fail(err, errlen, "relays: at most %d entries, got %zu", CTL_RELAYS_MAX,
				 json_array_size(a));
	for (size_t i = 0; i < json_array_size(a); i++) {
		int rc = relay_from_json(json_array_get(a, i), i, &out[i], err, errlen);
		if (rc) {
			ctl__relays_wipe(out, CTL_RELAYS_MAX);
			return rc;
		}
	}
	*n = json_array_size(a);
	return 0;
}

void ctl__relays_wipe(struct ctl_relay *r, size_t n)
{
	key_wipe(r, n * sizeof(*r));
}
