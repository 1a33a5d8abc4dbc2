/* Aliases, the words every rule is written in: "*", a login, group:x, tag:x, a hosts entry,
 * an IP or CIDR, the autogroups and user:*@domain.  pol__alias_parse checks each against the
 * sections already read (an unknown group, tag or host is refused with the rule's context and
 * the word as written), so the section parsers and the tests runner share one reading.  Also
 * the string-list reader every section uses: strings are trimmed of surrounding white space
 * first, as the reference service does. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

/* Copies s trimmed of leading/trailing ASCII white space. */
char *pol__trimdup(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

void pol__alias_clear(struct pol__alias *a)
{
	free(a->text);
	free(a->name);
	memset(a, 0, sizeof(*a));
}

/* Reads an optional array of strings (trimmed).  Missing or null: empty. */
int pol__strv_get(json_t *arr, char ***out, size_t *n, struct pol_error *err, const char *ctx)
{
	*out = NULL;
	*n = 0;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return pol__fail(err, "%s: must be a list of strings", ctx);
	size_t cnt = json_array_size(arr);
	char **v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v)
		return pol__fail(err, "out of memory"), -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		json_t *e = json_array_get(arr, i);
		if (!json_is_string(e)) {
			strv_free(v, i);
			return pol__fail(err, "%s[%zu]: must be a string", ctx, i);
		}
		v[i] = pol__trimdup(json_string_value(e));
		if (!v[i]) {
			strv_free(v, i);
			return pol__fail(err, "out of memory"), -ENOMEM;
		}
	}
	*out = v;
	*n = cnt;
	return 0;
}

bool pol__domain_ok(const struct pol_policy *pol, const char *domain)
{
	/* Case matters: the service refuses "EXAMPLE.COM" for "example.com". */
	return !pol->domain || strcmp(domain, pol->domain) == 0;
}

bool pol__alias_parse(const struct pol_policy *pol, const char *s, struct pol__alias *out,
		      struct pol_error *err, const char *ctx)
{
	memset(out, 0, sizeof(*out));
	out->text = strdup(s);
	if (!out->text)
		return pol__fail(err, "out of memory"), false;
	if (strcmp(s, "*") == 0) {
		out->kind = POL__A_ANY;
		return true;
	}
	if (pol__starts(s, "autogroup:")) {
		static const struct {
			const char *n;
			enum pol__alias_kind k;
		} ag[] = {
			{ "autogroup:member", POL__A_MEMBER },
			{ "autogroup:members", POL__A_MEMBER },
			{ "autogroup:tagged", POL__A_TAGGED },
			{ "autogroup:self", POL__A_SELF },
			{ "autogroup:internet", POL__A_INTERNET },
			{ "autogroup:danger-all", POL__A_DANGER_ALL },
		};
		for (size_t i = 0; i < sizeof(ag) / sizeof(ag[0]); i++)
			if (strcmp(s, ag[i].n) == 0) {
				out->kind = ag[i].k;
				return true;
			}
		pol__alias_clear(out);
		return pol__fail(err, "%sunknown autogroup \"%s\"", ctx, s), false;
	}
	if (pol__starts(s, "group:")) {
		if (pol__strmap_get(&pol->group_idx, s) < 0) {
			pol__alias_clear(out);
			return pol__fail(err, "%sgroup \"%s\" not found", ctx, s), false;
		}
		out->kind = POL__A_GROUP;
		out->name = strdup(s);
		return out->name || (pol__fail(err, "out of memory"), false);
	}
	if (pol__starts(s, "tag:")) {
		if (pol__strmap_get(&pol->tag_idx, s) < 0) {
			pol__alias_clear(out);
			return pol__fail(err, "%stag not found: \"%s\"", ctx, s), false;
		}
		out->kind = POL__A_TAG;
		out->name = strdup(s);
		return out->name || (pol__fail(err, "out of memory"), false);
	}
	if (pol__starts(s, "user:*@")) {
		const char *d = s + strlen("user:*@");
		if (!*d || !pol__domain_ok(pol, d)) {
			pol__alias_clear(out);
			return pol__fail(
				   err,
				   "%s%s is not associated with this Tailnet and cannot be used in "
				   "user:*@<domain> expressions",
				   ctx, d),
			       false;
		}
		out->kind = POL__A_DOMAIN;
		out->name = strdup(d);
		return out->name || (pol__fail(err, "out of memory"), false);
	}
	if (strchr(s, '@')) {
		out->kind = POL__A_USER;
		out->name = strdup(pol__starts(s, "user:") ? s + 5 : s);
		return out->name || (pol__fail(err, "out of memory"), false);
	}
	int h = pol__strmap_get(&pol->host_idx, s);
	if (h >= 0) {
		out->kind = POL__A_HOST;
		out->name = strdup(s);
		out->prefix = pol->hosts[h].prefix;
		return out->name || (pol__fail(err, "out of memory"), false);
	}
	if (addr_net_parse(s, &out->prefix, NULL)) {
		out->kind = POL__A_PREFIX;
		return true;
	}
	pol__alias_clear(out);
	return pol__fail(err, "%shost \"%s\" not found (not a user, group, tag, host or IP)", ctx,
			 s),
	       false;
}
