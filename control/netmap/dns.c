/* The tailnet's DNS settings (dns.h): the strict parser, the canonical JSON text, and the
 * netmap's "dns" member.  Names are checked by the resolver core's own rule
 * (dns_name_canonical), so control keeps only names the node's resolver takes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/netmap/dns.h"
#include "control/netmap/netmap_json.h"
#include "dns/dns.h"

_Static_assert((int)CTL_DNS_NAME_TEXT == (int)DNS_NAME_TEXT, "one bound for a DNS name");
_Static_assert((int)CTL_DNS_ADDRS_MAX <= (int)DNS_VIEW_MAX_ADDRS, "a record fits the view");
_Static_assert((int)CTL_DNS_RESOLVERS_MAX <= (int)DNS_VIEW_MAX_UPSTREAMS, "a route fits it");
_Static_assert((int)CTL_DNS_SEARCH_MAX < (int)DNS_VIEW_MAX_SEARCH, "the tailnet's domain first");

/* A name at field: canonical into out, or -EINVAL quoting it. */
static int name_from_json(json_t *j, const char *field, char out[static CTL_DNS_NAME_TEXT],
			  char *err, size_t errlen)
{
	const char *why;
	if (!json_is_string(j))
		return ctl__fail(err, errlen, "%s: expected a DNS name (a string)", field);
	const char *s = json_string_value(j); /* no NUL inside: refused by json_loadb */
	if (!dns_name_canonical(s, out, &why))
		return ctl__fail(err, errlen, "%s: '%.80s' is not a DNS name: %s", field, s, why);
	return 0;
}

/* What an address handed to every node cannot be; NULL when it may. */
static const char *addr_refusal(const struct addr_ip *a)
{
	static const struct addr_ip resolver = { AF_INET, { 100, 100, 100, 100 } };
	static const uint8_t zero[16];
	if (memcmp(a->bytes, zero, addr_family_len(a->family)) == 0)
		return "the unspecified address";
	if (a->family == AF_INET) {
		if (a->bytes[0] == 127)
			return "a loopback address (each node's own)";
		if (a->bytes[0] >= 224 && a->bytes[0] <= 239)
			return "a multicast address";
		if (a->bytes[0] == 255 && a->bytes[1] == 255 && a->bytes[2] == 255 &&
		    a->bytes[3] == 255)
			return "the broadcast address";
	} else {
		if (memcmp(a->bytes, zero, 15) == 0 && a->bytes[15] == 1)
			return "a loopback address (each node's own)";
		if (a->bytes[0] == 0xff)
			return "a multicast address";
	}
	if (addr_ip_equal(a, &resolver))
		return "the tailnet resolver's own address";
	return NULL;
}

/* j is an object whose members are all in allowed (a NULL-terminated list, also named in
 * the message); what names it in the message ("records[2]: "), or "". */
static int object_check(json_t *j, const char *what, const char *const *allowed, const char *names,
			char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	if (!json_is_object(j))
		return ctl__fail(err, errlen, "%sexpected an object", what);
	json_object_foreach(j, key, v)
	{
		size_t i = 0;
		while (allowed[i] && strcmp(key, allowed[i]) != 0)
			i++;
		if (!allowed[i])
			return ctl__fail(err, errlen, "%sunknown member '%.40s' (%s)", what, key,
					 names);
	}
	return 0;
}

static int record_from_json(json_t *j, size_t i, struct ctl_dns_record *r, char *err, size_t errlen)
{
	static const char *const allowed[] = { "name", "addresses", NULL };
	char field[64];
	snprintf(field, sizeof(field), "records[%zu]: ", i);
	int rc = object_check(j, field, allowed, "name, addresses", err, errlen);
	snprintf(field, sizeof(field), "records[%zu].name", i);
	if (rc || (rc = name_from_json(json_object_get(j, "name"), field, r->name, err, errlen)))
		return rc;
	json_t *a = json_object_get(j, "addresses");
	if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > CTL_DNS_ADDRS_MAX)
		return ctl__fail(err, errlen,
				 "records[%zu].addresses: expected 1 to %d IP addresses", i,
				 CTL_DNS_ADDRS_MAX);
	for (size_t k = 0; k < json_array_size(a); k++) {
		const char *s = json_string_value(json_array_get(a, k)), *why;
		struct addr_ip *ip = &r->addrs[k];
		if (!s || !addr_ip_parse(s, ip, &why))
			return ctl__fail(err, errlen,
					 "records[%zu].addresses[%zu]: '%.60s' is not an IP "
					 "address",
					 i, k, s ? s : "(not a string)");
		addr_ip_unmap(ip);
		if ((why = addr_refusal(ip)))
			return ctl__fail(err, errlen, "records[%zu].addresses[%zu]: '%s' is %s", i,
					 k, s, why);
		for (size_t m = 0; m < k; m++)
			if (addr_ip_equal(&r->addrs[m], ip))
				return ctl__fail(err, errlen,
						 "records[%zu].addresses[%zu]: '%s' is there twice",
						 i, k, s);
	}
	r->n_addrs = json_array_size(a);
	return 0;
}

/* "ADDR" (port 53) or "ADDR:PORT" / "[ADDR]:PORT". */
static bool resolver_parse(const char *s, struct addr_endpoint *e, const char **why)
{
	memset(e, 0, sizeof(*e));
	if (addr_ip_parse(s, &e->ip, NULL)) {
		e->port = 53;
	} else if (!addr_endpoint_parse(s, e, why)) {
		return false;
	} else if (e->scope) {
		*why = "a scope id means something only on one host";
		return false;
	}
	addr_ip_unmap(&e->ip);
	return true;
}

static int route_from_json(json_t *j, size_t i, const char *domain, struct ctl_dns_route *r,
			   char *err, size_t errlen)
{
	static const char *const allowed[] = { "domain", "resolvers", NULL };
	char field[64];
	snprintf(field, sizeof(field), "routes[%zu]: ", i);
	int rc = object_check(j, field, allowed, "domain, resolvers", err, errlen);
	snprintf(field, sizeof(field), "routes[%zu].domain", i);
	if (rc ||
	    (rc = name_from_json(json_object_get(j, "domain"), field, r->domain, err, errlen)))
		return rc;
	size_t dl = domain ? strlen(domain) : 0, rl = strlen(r->domain);
	if (domain &&
	    (strcmp(r->domain, domain) == 0 || (rl > dl && r->domain[rl - dl - 1] == '.' &&
						strcmp(r->domain + rl - dl, domain) == 0)))
		return ctl__fail(err, errlen,
				 "routes[%zu].domain: '%s' is the tailnet's domain '%s' or under "
				 "it; those names are answered from the netmap",
				 i, r->domain, domain);
	json_t *a = json_object_get(j, "resolvers");
	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > CTL_DNS_RESOLVERS_MAX)
		return ctl__fail(err, errlen,
				 "routes[%zu].resolvers: expected 1 to %d addresses (ADDR or "
				 "ADDR:PORT)",
				 i, CTL_DNS_RESOLVERS_MAX);
	for (size_t k = 0; k < json_array_size(a); k++) {
		const char *s = json_string_value(json_array_get(a, k)), *why = "not a string";
		struct addr_endpoint *e = &r->resolvers[k];
		if (!s || !resolver_parse(s, e, &why))
			return ctl__fail(err, errlen,
					 "routes[%zu].resolvers[%zu]: '%.60s' is not ADDR or "
					 "ADDR:PORT: %s",
					 i, k, s ? s : "", why);
		if ((why = addr_refusal(&e->ip)))
			return ctl__fail(err, errlen, "routes[%zu].resolvers[%zu]: '%s' is %s", i,
					 k, s, why);
		for (size_t m = 0; m < k; m++)
			if (addr_endpoint_equal(&r->resolvers[m], e))
				return ctl__fail(err, errlen,
						 "routes[%zu].resolvers[%zu]: '%s' is there twice",
						 i, k, s);
	}
	r->n_resolvers = json_array_size(a);
	return 0;
}

/* An optional array member of at most max entries; -EINVAL naming it otherwise. */
static int list_member(json_t *j, const char *key, size_t max, json_t **out, char *err,
		       size_t errlen)
{
	*out = json_object_get(j, key);
	if (!*out || json_is_null(*out)) {
		*out = NULL;
		return 0;
	}
	if (!json_is_array(*out))
		return ctl__fail(err, errlen, "%s: expected an array", key);
	if (json_array_size(*out) > max)
		return ctl__fail(err, errlen, "%s: at most %zu entries, got %zu", key, max,
				 json_array_size(*out));
	return 0;
}

static int dns_decode(json_t *j, const char *domain, struct ctl_dns *d, char *err, size_t errlen)
{
	static const char *const members[] = { "magic_dns", "records", "routes", "search", NULL };
	json_t *v, *records, *routes, *search;
	int rc = object_check(j, "", members, "magic_dns, records, routes, search", err, errlen);
	if (rc)
		return rc;
	v = json_object_get(j, "magic_dns");
	if (v && !json_is_boolean(v))
		return ctl__fail(err, errlen, "magic_dns: expected true or false");
	d->magic_dns = !v || json_is_true(v);
	if ((rc = list_member(j, "records", CTL_DNS_RECORDS_MAX, &records, err, errlen)) ||
	    (rc = list_member(j, "routes", CTL_DNS_ROUTES_MAX, &routes, err, errlen)) ||
	    (rc = list_member(j, "search", CTL_DNS_SEARCH_MAX, &search, err, errlen)))
		return rc;
	d->records = calloc(json_array_size(records) + 1, sizeof(*d->records));
	d->routes = calloc(json_array_size(routes) + 1, sizeof(*d->routes));
	if (!d->records || !d->routes)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(records); i++) {
		if ((rc = record_from_json(json_array_get(records, i), i, &d->records[i], err,
					   errlen)))
			return rc;
		for (size_t k = 0; k < i; k++)
			if (strcmp(d->records[k].name, d->records[i].name) == 0)
				return ctl__fail(err, errlen,
						 "records[%zu].name: '%s' is records[%zu]'s too "
						 "(give one record all its addresses)",
						 i, d->records[i].name, k);
		d->n_records = i + 1;
	}
	for (size_t i = 0; i < json_array_size(routes); i++) {
		if ((rc = route_from_json(json_array_get(routes, i), i, domain, &d->routes[i], err,
					  errlen)))
			return rc;
		for (size_t k = 0; k < i; k++)
			if (strcmp(d->routes[k].domain, d->routes[i].domain) == 0)
				return ctl__fail(err, errlen,
						 "routes[%zu].domain: '%s' is routes[%zu]'s too", i,
						 d->routes[i].domain, k);
		d->n_routes = i + 1;
	}
	for (size_t i = 0; i < json_array_size(search); i++) {
		char field[32];
		snprintf(field, sizeof(field), "search[%zu]", i);
		if ((rc = name_from_json(json_array_get(search, i), field, d->search[i], err,
					 errlen)))
			return rc;
		for (size_t k = 0; k < i; k++)
			if (strcmp(d->search[k], d->search[i]) == 0)
				return ctl__fail(err, errlen, "search[%zu]: '%s' is there twice", i,
						 d->search[i]);
		d->n_search = i + 1;
	}
	return 0;
}

int ctl__dns_from_json(json_t *j, const char *domain, struct ctl_dns **out, char *err,
		       size_t errlen)
{
	struct ctl_dns *d = calloc(1, sizeof(*d));
	*out = NULL;
	if (!d)
		return -ENOMEM;
	int rc = dns_decode(j, domain, d, err, errlen);
	if (rc) {
		ctl_dns_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int ctl_dns_parse(const char *json, size_t len, const char *domain, struct ctl_dns **out, char *err,
		  size_t errlen)
{
	json_error_t jerr;
	*out = NULL;
	if (len > CTL_DNS_TEXT_MAX)
		return ctl__fail(err, errlen, "DNS settings: %zu bytes, at most %d", len,
				 CTL_DNS_TEXT_MAX);
	json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return ctl__fail(err, errlen, "DNS settings JSON, line %d column %d: %s", jerr.line,
				 jerr.column, jerr.text);
	int rc = ctl__dns_from_json(j, domain, out, err, errlen);
	json_decref(j);
	return rc;
}

json_t *ctl__dns_json(const struct ctl_dns *d)
{
	json_t *records = json_array(), *routes = json_array(), *search = json_array();
	char text[ADDR_TEXT_MAX];
	for (size_t i = 0; records && i < d->n_records; i++) {
		json_t *a = json_array();
		for (size_t k = 0; a && k < d->records[i].n_addrs; k++)
			json_array_append_new(
			    a, json_string(addr_ip_format(&d->records[i].addrs[k], text)));
		json_array_append_new(
		    records, json_pack("{s:s, s:o*}", "name", d->records[i].name, "addresses", a));
	}
	for (size_t i = 0; routes && i < d->n_routes; i++) {
		json_t *a = json_array();
		for (size_t k = 0; a && k < d->routes[i].n_resolvers; k++)
			json_array_append_new(
			    a, json_string(addr_endpoint_format(&d->routes[i].resolvers[k], text)));
		json_array_append_new(routes, json_pack("{s:s, s:o*}", "domain",
							d->routes[i].domain, "resolvers", a));
	}
	for (size_t i = 0; search && i < d->n_search; i++)
		json_array_append_new(search, json_string(d->search[i]));
	return json_pack("{s:b, s:o*, s:o*, s:o*}", "magic_dns", (int)d->magic_dns, "records",
			 records, "routes", routes, "search", search);
}

char *ctl_dns_format(const struct ctl_dns *d, bool pretty)
{
	json_t *j = ctl__dns_json(d);
	char *s = j ? json_dumps(j, pretty ? JSON_INDENT(2) : JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

int ctl_dns_dup(const struct ctl_dns *src, struct ctl_dns **out)
{
	struct ctl_dns *d = calloc(1, sizeof(*d));
	*out = NULL;
	if (!d)
		return -ENOMEM;
	*d = *src;
	d->records = calloc(src->n_records + 1, sizeof(*d->records));
	d->routes = calloc(src->n_routes + 1, sizeof(*d->routes));
	if (!d->records || !d->routes) {
		ctl_dns_free(d);
		return -ENOMEM;
	}
	memcpy(d->records, src->records, src->n_records * sizeof(*d->records));
	memcpy(d->routes, src->routes, src->n_routes * sizeof(*d->routes));
	*out = d;
	return 0;
}

void ctl_dns_free(struct ctl_dns *d)
{
	if (!d)
		return;
	free(d->records);
	free(d->routes);
	free(d);
}
