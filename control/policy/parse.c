/* Policy model and validation: turns the jansson tree of a policy file into struct
 * pol_policy, refusing anything the reference service refuses with a message that names
 * the offending section, field and value.  Strings are trimmed of surrounding white space
 * first, as the reference service does.  Sections that do not affect node-to-node access
 * (autoApprovers, nodeAttrs, ...) are type-checked and otherwise ignored. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

static const char *const known_sections[] = {
    "acls",
    "grants",
    "ssh",
    "groups",
    "tagOwners",
    "hosts",
    "tests",
    "sshTests",
    "autoApprovers",
    "nodeAttrs",
    "derpMap",
    "disableIPv4",
    "randomizeClientPort",
    "postures",
    "defaultSrcPosture",
    "ipsets",
    "OneCGNATRoute",
    "attrConfig",
    "warnOnUnknownAttrs",
    "extraDNSRecords",
};

/* Copies s trimmed of leading/trailing ASCII white space. */
static char *trimdup(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

void pol__alias_clear(struct pol__alias *a)
{
	free(a->text);
	free(a->name);
	memset(a, 0, sizeof(*a));
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Reads an optional array of strings (trimmed).  Missing or null: empty. */
static int strv_get(json_t *arr, char ***out, size_t *n, struct pol_error *err, const char *ctx)
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
		v[i] = trimdup(json_string_value(e));
		if (!v[i]) {
			strv_free(v, i);
			return pol__fail(err, "out of memory"), -ENOMEM;
		}
	}
	*out = v;
	*n = cnt;
	return 0;
}

static bool ascii_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool domain_ok(const struct pol_policy *pol, const char *domain)
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
	if (starts(s, "autogroup:")) {
		static const struct {
			const char *n;
			enum pol__alias_kind k;
		} ag[] = {
		    {"autogroup:member", POL__A_MEMBER},
		    {"autogroup:members", POL__A_MEMBER},
		    {"autogroup:tagged", POL__A_TAGGED},
		    {"autogroup:self", POL__A_SELF},
		    {"autogroup:internet", POL__A_INTERNET},
		    {"autogroup:danger-all", POL__A_DANGER_ALL},
		};
		for (size_t i = 0; i < sizeof(ag) / sizeof(ag[0]); i++)
			if (strcmp(s, ag[i].n) == 0) {
				out->kind = ag[i].k;
				return true;
			}
		pol__alias_clear(out);
		return pol__fail(err, "%sunknown autogroup \"%s\"", ctx, s), false;
	}
	if (starts(s, "group:")) {
		if (pol__strmap_get(&pol->group_idx, s) < 0) {
			pol__alias_clear(out);
			return pol__fail(err, "%sgroup \"%s\" not found", ctx, s), false;
		}
		out->kind = POL__A_GROUP;
		out->name = strdup(s);
		return out->name || (pol__fail(err, "out of memory"), false);
	}
	if (starts(s, "tag:")) {
		if (pol__strmap_get(&pol->tag_idx, s) < 0) {
			pol__alias_clear(out);
			return pol__fail(err, "%stag not found: \"%s\"", ctx, s), false;
		}
		out->kind = POL__A_TAG;
		out->name = strdup(s);
		return out->name || (pol__fail(err, "out of memory"), false);
	}
	if (starts(s, "user:*@")) {
		const char *d = s + strlen("user:*@");
		if (!*d || !domain_ok(pol, d)) {
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
		out->name = strdup(starts(s, "user:") ? s + 5 : s);
		return out->name || (pol__fail(err, "out of memory"), false);
	}
	int h = pol__strmap_get(&pol->host_idx, s);
	if (h >= 0) {
		out->kind = POL__A_HOST;
		out->name = strdup(s);
		out->prefix = pol->hosts[h].prefix;
		return out->name || (pol__fail(err, "out of memory"), false);
	}
	if (pol_prefix_parse(s, &out->prefix)) {
		out->kind = POL__A_PREFIX;
		return true;
	}
	pol__alias_clear(out);
	return pol__fail(err, "%shost \"%s\" not found (not a user, group, tag, host or IP)", ctx,
			 s),
	       false;
}

/* ---- groups, tagOwners, hosts ---- */

static int group_cmp(const void *a, const void *b)
{
	return strcmp((*(struct pol__group *const *)a)->name,
		      (*(struct pol__group *const *)b)->name);
}

static int check_members(struct pol_policy *pol, struct pol__group **sorted, struct pol_error *err);

static int parse_groups(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return pol__fail(err, "groups: must be an object");
	pol->groups = calloc(json_object_size(j) + 1, sizeof(*pol->groups));
	if (!pol->groups)
		return -ENOMEM;
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		struct pol__group *g = &pol->groups[pol->n_groups];
		char ctx[300];
		if (!starts(k, "group:") || !k[6])
			return pol__fail(err,
					 "groups[\"%s\"]: group names must start with 'group:'", k);
		snprintf(ctx, sizeof(ctx), "groups[\"%s\"]", k);
		g->name = strdup(k);
		if (!g->name)
			return -ENOMEM;
		pol->n_groups++;
		int rc = strv_get(v, &g->members, &g->n_members, err, ctx);
		if (rc)
			return rc;
		if (!json_is_array(v) && !json_is_null(v))
			return pol__fail(err, "%s: must be a list of users", ctx);
	}
	for (size_t i = 0; i < pol->n_groups; i++) {
		int rc = pol__strmap_put(&pol->group_idx, pol->groups[i].name, (int)i);
		if (rc)
			return rc;
	}
	struct pol__group **sorted = calloc(pol->n_groups + 1, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < pol->n_groups; i++)
		sorted[i] = &pol->groups[i];
	qsort(sorted, pol->n_groups, sizeof(*sorted), group_cmp);
	int rc = check_members(pol, sorted, err);
	free(sorted);
	return rc;
}

static int check_members(struct pol_policy *pol, struct pol__group **sorted, struct pol_error *err)
{
	/* Checked in reverse name order, which is the order the reference service reports
	 * nested groups in. */
	for (size_t i = pol->n_groups; i-- > 0;) {
		struct pol__group *g = sorted[i];
		for (size_t m = 0; m < g->n_members; m++) {
			const char *mem = g->members[m];
			if (starts(mem, "group:"))
				return pol__fail(err,
						 "groups[\"%s\"]: \"%s\": group members cannot be "
						 "recursive",
						 g->name, mem);
			if (starts(mem, "tag:") || starts(mem, "autogroup:") || !strchr(mem, '@'))
				return pol__fail(
				    err,
				    "groups[\"%s\"]: \"%s\": group members must be users "
				    "(logins such as alice@example.com)",
				    g->name, mem);
		}
	}
	return 0;
}

static int parse_tag_owners(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return pol__fail(err, "tagOwners: must be an object");
	pol->tags = calloc(json_object_size(j) + 1, sizeof(*pol->tags));
	if (!pol->tags)
		return -ENOMEM;
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		if (!starts(k, "tag:"))
			return pol__fail(err, "tagOwners[\"%s\"]: tag names must start with 'tag:'",
					 k);
		if (!ascii_letter(k[4]))
			return pol__fail(err,
					 "tagOwners[\"%s\"]: tag names must start with a letter, "
					 "after 'tag:'",
					 k);
		for (const char *p = k + 4; *p; p++)
			if (!(ascii_letter(*p) || (*p >= '0' && *p <= '9') || *p == '-' ||
			      *p == '_'))
				return pol__fail(err,
						 "tagOwners[\"%s\"]: tag names may contain only "
						 "letters, numbers, '-' and '_'",
						 k);
		if (!json_is_array(v) && !json_is_null(v))
			return pol__fail(err, "tagOwners[\"%s\"]: must be a list of owners", k);
		pol->tags[pol->n_tags] = strdup(k);
		if (!pol->tags[pol->n_tags])
			return -ENOMEM;
		pol->n_tags++;
	}
	for (size_t i = 0; i < pol->n_tags; i++) {
		int rc = pol__strmap_put(&pol->tag_idx, pol->tags[i], (int)i);
		if (rc)
			return rc;
	}
	/* Owners: users, groups, other tags, autogroup:admin/member. */
	json_object_foreach(j, k, v)
	{
		size_t i;
		json_t *o;
		json_array_foreach(v, i, o)
		{
			if (!json_is_string(o))
				return pol__fail(err, "tagOwners[\"%s\"][%zu]: must be a string", k,
						 i);
			const char *s = json_string_value(o);
			if (starts(s, "group:") && pol__strmap_get(&pol->group_idx, s) < 0)
				return pol__fail(err, "tagOwners[\"%s\"]: group \"%s\" not found",
						 k, s);
			if (starts(s, "tag:") && pol__strmap_get(&pol->tag_idx, s) < 0)
				return pol__fail(err, "tagOwners[\"%s\"]: tag \"%s\" not found", k,
						 s);
		}
	}
	/* Keep the owners for pol_tag_owned_by(). */
	pol->tag_owners = calloc(pol->n_tags + 1, sizeof(*pol->tag_owners));
	pol->n_tag_owners = calloc(pol->n_tags + 1, sizeof(*pol->n_tag_owners));
	if (!pol->tag_owners || !pol->n_tag_owners)
		return -ENOMEM;
	json_object_foreach(j, k, v)
	{
		int t = pol__strmap_get(&pol->tag_idx, k);
		size_t i, n = json_array_size(v);
		json_t *o;
		if (t < 0 || !n)
			continue;
		pol->tag_owners[t] = calloc(n, sizeof(char *));
		if (!pol->tag_owners[t])
			return -ENOMEM;
		json_array_foreach(v, i, o)
		{
			pol->tag_owners[t][i] = strdup(json_string_value(o));
			if (!pol->tag_owners[t][i])
				return -ENOMEM;
			pol->n_tag_owners[t]++;
		}
	}
	return 0;
}

bool pol_tag_owned_by(const struct pol_policy *pol, const char *tag, const char *login)
{
	int t = pol__strmap_get(&pol->tag_idx, tag);
	if (t < 0 || !pol->tag_owners)
		return false;
	for (size_t i = 0; i < pol->n_tag_owners[t]; i++) {
		const char *o = pol->tag_owners[t][i];
		if (strcmp(o, login) == 0 || strcmp(o, "autogroup:member") == 0)
			return true;
		if (starts(o, "group:")) {
			int g = pol__strmap_get(&pol->group_idx, o);
			for (size_t m = 0; g >= 0 && m < pol->groups[g].n_members; m++)
				if (strcmp(pol->groups[g].members[m], login) == 0)
					return true;
		}
	}
	return false;
}

static int parse_hosts(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return pol__fail(err, "hosts: must be an object");
	pol->hosts = calloc(json_object_size(j) + 1, sizeof(*pol->hosts));
	if (!pol->hosts)
		return -ENOMEM;
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		struct pol__host *h = &pol->hosts[pol->n_hosts];
		if (!json_is_string(v))
			return pol__fail(err, "hosts[\"%s\"]: must be an IP address or CIDR", k);
		if (!*k || strchr(k, '@') || strchr(k, ':') || strcmp(k, "*") == 0)
			return pol__fail(err, "hosts[\"%s\"]: invalid host name", k);
		if (!pol_prefix_parse(json_string_value(v), &h->prefix))
			return pol__fail(err, "hosts[\"%s\"]: \"%s\" is not an IP address or CIDR",
					 k, json_string_value(v));
		h->name = strdup(k);
		if (!h->name)
			return -ENOMEM;
		pol->n_hosts++;
	}
	for (size_t i = 0; i < pol->n_hosts; i++) {
		int rc = pol__strmap_put(&pol->host_idx, pol->hosts[i].name, (int)i);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- acls and grants ---- */

static const uint8_t default_protos[] = {POL_PROTO_TCP, POL_PROTO_UDP, POL_PROTO_ICMP,
					 POL_PROTO_ICMPV6};

static int rule_add_dst(struct pol__netrule *r, const struct pol__alias *a, const char *text,
			const uint8_t *protos, size_t n_protos, struct pol_port_range *ports,
			size_t n_ports)
{
	struct pol__dst d = {.alias = *a};
	d.text = strdup(text);
	d.alias.text = a->text ? strdup(a->text) : NULL;
	d.alias.name = a->name ? strdup(a->name) : NULL;
	d.protos = n_protos ? malloc(n_protos) : NULL;
	if (!d.text || (a->text && !d.alias.text) || (a->name && !d.alias.name) ||
	    (n_protos && !d.protos))
		goto oom;
	if (n_protos)
		memcpy(d.protos, protos, n_protos);
	d.n_protos = n_protos;
	d.ports = ports;
	d.n_ports = n_ports;
	if (POL__PUSH(r->dsts, r->n_dsts, r->cap_dsts, d))
		goto oom;
	return 0;
oom:
	free(d.text);
	free(d.alias.text);
	free(d.alias.name);
	free(d.protos);
	free(ports);
	return -ENOMEM;
}

static int parse_srcs(struct pol_policy *pol, struct pol__netrule *r, json_t *src,
		      struct pol_error *err, const char *sec, size_t idx)
{
	char **v;
	size_t n;
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "%s[%zu].src", sec, idx);
	if (!src)
		return pol__fail(err, "%s: src must be specified", ctx);
	int rc = strv_get(src, &v, &n, err, ctx);
	if (rc)
		return rc;
	r->srcs = calloc(n + 1, sizeof(*r->srcs));
	if (!r->srcs) {
		strv_free(v, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (!pol__alias_parse(pol, v[i], &r->srcs[i], err, "src=")) {
			strv_free(v, n);
			return -EINVAL;
		}
		r->n_srcs++;
		/* Both select destinations only: autogroup:self means "the source's own
		 * devices" and autogroup:internet "all public IP addresses"
		 * (https://tailscale.com/kb/1396/targets), so as a source either would
		 * silently match nothing. */
		enum pol__alias_kind k = r->srcs[i].kind;
		if (k == POL__A_SELF || k == POL__A_INTERNET) {
			pol__fail(err, "%s[%zu]: %s cannot be used as a src", sec, idx, v[i]);
			strv_free(v, n);
			return -EINVAL;
		}
	}
	strv_free(v, n);
	return 0;
}

/* autogroup:self as a dst needs sources that are people. */
static int check_self_srcs(const struct pol__netrule *r, bool star_ok, struct pol_error *err)
{
	for (size_t i = 0; i < r->n_srcs; i++) {
		enum pol__alias_kind k = r->srcs[i].kind;
		if (k == POL__A_USER || k == POL__A_GROUP || k == POL__A_MEMBER ||
		    k == POL__A_DOMAIN || (k == POL__A_ANY && star_ok))
			continue;
		return pol__fail(err,
				 "%s[%d]: src \"%s\": autogroup:self can only be used with users, "
				 "groups, or supported autogroups",
				 r->section, r->index, r->srcs[i].text);
	}
	return 0;
}

static int parse_acl(struct pol_policy *pol, struct pol__netrule *r, json_t *j, size_t idx,
		     struct pol_error *err)
{
	if (!json_is_object(j))
		return pol__fail(err, "acls[%zu]: must be an object", idx);
	json_t *act = json_object_get(j, "action");
	if (!json_is_string(act))
		return pol__fail(err, "acls[%zu]: action must be specified", idx);
	char *a = trimdup(json_string_value(act));
	bool ok = a && strcmp(a, "accept") == 0;
	if (!ok) {
		pol__fail(err, "acls[%zu]: action=\"%s\" is not supported (only \"accept\")", idx,
			  json_string_value(act));
		free(a);
		return -EINVAL;
	}
	free(a);
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		if (strcmp(k, "action") && strcmp(k, "src") && strcmp(k, "dst") &&
		    strcmp(k, "proto") && strcmp(k, "srcPosture"))
			return pol__fail(err, "acls[%zu]: unknown field \"%s\"", idx, k);
	}
	int rc = parse_srcs(pol, r, json_object_get(j, "src"), err, "acls", idx);
	if (rc)
		return rc;

	uint8_t proto_one;
	const uint8_t *protos = default_protos;
	size_t n_protos = sizeof(default_protos);
	json_t *pj = json_object_get(j, "proto");
	if (pj && !json_is_null(pj)) {
		char buf[32];
		if (json_is_integer(pj))
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(pj));
		else if (json_is_string(pj))
			snprintf(buf, sizeof(buf), "%s", json_string_value(pj));
		else
			return pol__fail(err, "acls[%zu]: proto must be a string", idx);
		if (!pol_proto_parse(buf, &proto_one))
			return pol__fail(err, "acls[%zu]: proto=\"%s\" is not a known protocol",
					 idx, buf);
		protos = &proto_one;
		n_protos = 1;
	}

	char **dsts;
	size_t n_dsts;
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "acls[%zu].dst", idx);
	json_t *dj = json_object_get(j, "dst");
	if (!dj)
		return pol__fail(err, "acls[%zu]: dst must be specified", idx);
	rc = strv_get(dj, &dsts, &n_dsts, err, ctx);
	if (rc)
		return rc;
	bool has_self = false;
	for (size_t i = 0; i < n_dsts && !rc; i++) {
		const char *d = dsts[i];
		const char *colon = strrchr(d, ':');
		char pctx[300];
		snprintf(pctx, sizeof(pctx), "dst=\"%s\": ", d ? d : "");
		if (!colon) {
			rc = pol__fail(err, "dst=\"%s\": missing port (use \"%s:*\" for all ports)",
				       d, d);
			break;
		}
		char *host = strndup(d, (size_t)(colon - d));
		if (!host) {
			rc = -ENOMEM;
			break;
		}
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			memmove(host, host + 1, strlen(host));
			host[strlen(host) - 1] = '\0';
		}
		struct pol_port_range *ports;
		size_t n_ports;
		struct pol__alias al;
		if (!pol__ports_parse(colon + 1, &ports, &n_ports, err, pctx)) {
			free(host);
			rc = -EINVAL;
			break;
		}
		if (!pol__alias_parse(pol, host, &al, err, pctx)) {
			free(host);
			free(ports);
			rc = -EINVAL;
			break;
		}
		free(host);
		if (al.kind == POL__A_DANGER_ALL) {
			pol__alias_clear(&al);
			free(ports);
			rc = pol__fail(err, "%scannot use autogroup:danger-all as a dst", pctx);
			break;
		}
		if (al.kind == POL__A_SELF)
			has_self = true;
		rc = rule_add_dst(r, &al, d, protos, n_protos, ports, n_ports);
		pol__alias_clear(&al);
	}
	strv_free(dsts, n_dsts);
	if (!rc && has_self)
		rc = check_self_srcs(r, true, err);
	return rc;
}

/* One grant `ip` entry: "*", "22", "80-443", "tcp:22", "icmp:*", "6:22". */
static int grant_ip(struct pol__netrule *r, const struct pol__alias *al, const char *ip,
		    const char *dsttext, size_t idx, struct pol_error *err)
{
	const char *colon = strchr(ip, ':');
	uint8_t proto;
	const uint8_t *protos = default_protos;
	size_t n_protos = sizeof(default_protos);
	const char *ports_s = ip;
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "grants[%zu].ip \"%s\": ", idx, ip ? ip : "");
	if (strcmp(ip, "*") == 0) {
		protos = NULL;
		n_protos = 0;
	} else if (colon) {
		char name[32];
		size_t n = (size_t)(colon - ip);
		if (n >= sizeof(name))
			return pol__fail(err, "%sunknown protocol", ctx);
		memcpy(name, ip, n);
		name[n] = '\0';
		if (!pol_proto_parse(name, &proto))
			return pol__fail(err, "%sunknown protocol \"%s\"", ctx, name);
		protos = &proto;
		n_protos = 1;
		ports_s = colon + 1;
	}
	struct pol_port_range *ports;
	size_t n_ports;
	if (!pol__ports_parse(ports_s, &ports, &n_ports, err, ctx))
		return -EINVAL;
	return rule_add_dst(r, al, dsttext, protos, n_protos, ports, n_ports);
}

static int check_app(json_t *app, size_t idx, struct pol_error *err)
{
	if (!json_is_object(app))
		return pol__fail(err, "grants[%zu].app: must be an object", idx);
	const char *k;
	json_t *v;
	json_object_foreach(app, k, v)
	{
		const char *slash = strchr(k, '/');
		if (!slash || slash == k || !slash[1] || strstr(k, "://"))
			return pol__fail(err,
					 "grants[%zu].app \"%s\": capability name must have the "
					 "form {domain}/{path}",
					 idx, k);
		size_t dl = (size_t)(slash - k);
		static const char *const known[] = {
		    "tailscale.com/cap/drive", "tailscale.com/cap/kubernetes",
		    "tailscale.com/cap/relay", "tailscale.com/cap/webui",
		    "tailscale.com/cap/tsidp",
		};
		bool ts = (dl == 13 && strncmp(k, "tailscale.com", 13) == 0) ||
			  (dl > 14 && strncmp(k + dl - 14, ".tailscale.com", 14) == 0);
		if (ts) {
			bool found = false;
			for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
				found |= strcmp(k, known[i]) == 0;
			if (!found)
				return pol__fail(
				    err,
				    "grants[%zu].app \"%s\": capability name must not be "
				    "in the tailscale.com domain",
				    idx, k);
		}
		if (!json_is_array(v))
			return pol__fail(err, "grants[%zu].app \"%s\": must be a list of objects",
					 idx, k);
	}
	return 0;
}

static int parse_grant(struct pol_policy *pol, struct pol__netrule *r, json_t *j, size_t idx,
		       struct pol_error *err)
{
	if (!json_is_object(j))
		return pol__fail(err, "grants[%zu]: must be an object", idx);
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		if (strcmp(k, "src") && strcmp(k, "dst") && strcmp(k, "ip") && strcmp(k, "app") &&
		    strcmp(k, "via") && strcmp(k, "srcPosture"))
			return pol__fail(err, "grants[%zu]: unknown field \"%s\"", idx, k);
	}
	int rc = parse_srcs(pol, r, json_object_get(j, "src"), err, "grants", idx);
	if (rc)
		return rc;
	char **ips = NULL, **dsts = NULL, **via = NULL;
	size_t n_ips = 0, n_dsts = 0, n_via = 0;
	json_t *app = json_object_get(j, "app");
	bool has_app = app && !json_is_null(app) && json_object_size(app) > 0;
	if (app && !json_is_null(app) && (rc = check_app(app, idx, err)))
		return rc;
	if ((rc = strv_get(json_object_get(j, "ip"), &ips, &n_ips, err, "ip")))
		return rc;
	if (!n_ips && !has_app) {
		strv_free(ips, n_ips);
		return pol__fail(err, "grants[%zu]: ip and app can not both be empty", idx);
	}
	if ((rc = strv_get(json_object_get(j, "via"), &via, &n_via, err, "via")))
		goto out;
	for (size_t i = 0; i < n_via; i++) {
		if (!starts(via[i], "tag:")) {
			rc = pol__fail(err, "grants[%zu].via \"%s\": via must name tags", idx,
				       via[i]);
			goto out;
		}
		if (pol__strmap_get(&pol->tag_idx, via[i]) < 0) {
			rc = pol__fail(err, "grants[%zu].via: tag \"%s\" not found", idx, via[i]);
			goto out;
		}
	}
	r->has_via = n_via > 0;
	if (n_via && !(r->via = calloc(n_via, sizeof(*r->via)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_via; i++)
		r->via[r->n_via++] = pol__strmap_get(&pol->tag_idx, via[i]);
	if (!json_object_get(j, "dst")) {
		rc = pol__fail(err, "grants[%zu]: dst must be specified", idx);
		goto out;
	}
	if ((rc = strv_get(json_object_get(j, "dst"), &dsts, &n_dsts, err, "dst")))
		goto out;
	bool has_self = false;
	for (size_t d = 0; d < n_dsts && !rc; d++) {
		struct pol__alias al;
		char ctx[300];
		snprintf(ctx, sizeof(ctx), "grants[%zu]: dst \"%s\": ", idx, dsts[d]);
		if (!pol__alias_parse(pol, dsts[d], &al, err, ctx)) {
			rc = -EINVAL;
			break;
		}
		if (al.kind == POL__A_DANGER_ALL) {
			rc = pol__fail(err, "%scannot use autogroup:danger-all as a dst", ctx);
		} else if ((al.kind == POL__A_PREFIX || al.kind == POL__A_HOST) &&
			   al.prefix.bits == 0) {
			rc = pol__fail(
			    err,
			    "grants[%zu]: dst \"%s\": to allow all IP addresses, use \"*\" "
			    "or \"autogroup:internet\"",
			    idx, dsts[d]);
		} else if (al.kind == POL__A_INTERNET && has_app) {
			rc = pol__fail(err, "%scannot use app grants with autogroup:internet", ctx);
		}
		if (al.kind == POL__A_SELF)
			has_self = true;
		for (size_t i = 0; i < n_ips && !rc; i++)
			rc = grant_ip(r, &al, ips[i], dsts[d], idx, err);
		pol__alias_clear(&al);
	}
	if (!rc && has_self)
		rc = check_self_srcs(r, false, err);
out:
	strv_free(ips, n_ips);
	strv_free(dsts, n_dsts);
	strv_free(via, n_via);
	return rc;
}

static int parse_netrules(struct pol_policy *pol, json_t *acls, json_t *grants,
			  struct pol_error *err)
{
	size_t na = json_is_array(acls) ? json_array_size(acls) : 0;
	size_t ng = json_is_array(grants) ? json_array_size(grants) : 0;
	if (acls && !json_is_null(acls) && !json_is_array(acls))
		return pol__fail(err, "acls: must be a list of rules");
	if (grants && !json_is_null(grants) && !json_is_array(grants))
		return pol__fail(err, "grants: must be a list of rules");
	pol->has_rules = (acls && !json_is_null(acls)) || (grants && !json_is_null(grants));
	pol->rules = calloc(na + ng + 1, sizeof(*pol->rules));
	if (!pol->rules)
		return -ENOMEM;
	for (size_t i = 0; i < na + ng; i++) {
		struct pol__netrule *r = &pol->rules[pol->n_rules++];
		bool acl = i < na;
		r->section = acl ? "acls" : "grants";
		r->index = (int)(acl ? i : i - na);
		json_t *rj = acl ? json_array_get(acls, i) : json_array_get(grants, i - na);
		int rc = acl ? parse_acl(pol, r, rj, i, err) : parse_grant(pol, r, rj, i - na, err);
		if (rc)
			return rc;
		if (!(r->source = json_dumps(rj, JSON_COMPACT)))
			return -ENOMEM;
	}
	return 0;
}

/* ---- ssh ---- */

/* Go's time.ParseDuration, which the service uses for checkPeriod
 * (https://pkg.go.dev/time#ParseDuration: "A duration string is a possibly signed sequence
 * of decimal numbers, each with optional fraction and a unit suffix, such as "300ms",
 * "-1.5h" or "2h45m". Valid time units are "ns", "us" (or "µs"), "ms", "s", "m", "h".").
 * Digits and '.' only, so no exponents or hex that strtod would take.  Nanoseconds out;
 * false with Go's own message in msg. */
static bool go_duration(const char *orig, int64_t *out, char *msg, size_t msglen)
{
	static const struct {
		const char *u;
		int64_t ns;
	} units[] = {{"ns", 1},
		     {"us", 1000},
		     {"\xc2\xb5s", 1000} /* U+00B5 */,
		     {"\xce\xbcs", 1000} /* U+03BC */,
		     {"ms", 1000000},
		     {"s", 1000000000},
		     {"m", 60LL * 1000000000},
		     {"h", 3600LL * 1000000000}};
	const char *s = orig;
	double total = 0;
	bool neg = false;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return true;
	}
	if (!*s)
		goto invalid;
	while (*s) {
		double v = 0, scale = 1;
		bool digits = false;
		if (!((*s >= '0' && *s <= '9') || *s == '.'))
			goto invalid;
		for (; *s >= '0' && *s <= '9'; s++, digits = true)
			v = v * 10 + (*s - '0');
		if (*s == '.')
			for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
				v += (*s - '0') * (scale /= 10);
		if (!digits)
			goto invalid;
		size_t ul = 0;
		while (s[ul] && s[ul] != '.' && !(s[ul] >= '0' && s[ul] <= '9'))
			ul++;
		if (!ul) {
			snprintf(msg, msglen, "time: missing unit in duration \"%s\"", orig);
			return false;
		}
		size_t u = 0;
		while (u < sizeof(units) / sizeof(units[0]) &&
		       !(strlen(units[u].u) == ul && strncmp(s, units[u].u, ul) == 0))
			u++;
		if (u == sizeof(units) / sizeof(units[0])) {
			snprintf(msg, msglen, "time: unknown unit \"%.*s\" in duration \"%s\"",
				 (int)ul, s, orig);
			return false;
		}
		total += v * (double)units[u].ns;
		if (total > 9223372036854775807.0)
			goto invalid;
		s += ul;
	}
	*out = (int64_t)(neg ? -total : total);
	return true;
invalid:
	snprintf(msg, msglen, "time: invalid duration \"%s\"", orig);
	return false;
}

/* Go's Duration.String: "1h30m0s", "-1.5s", "500ms", "0s" (for the messages that echo a
 * parsed duration back, as the service does). */
static void go_duration_format(int64_t ns, char *buf, size_t n)
{
	static const char *const small[] = {"ns", "\xc2\xb5s", "ms"};
	bool neg = ns < 0;
	uint64_t u = neg ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
	const char *sign = neg ? "-" : "";
	if (u == 0) {
		snprintf(buf, n, "0s");
		return;
	}
	if (u < 1000000000ULL) {
		int k = u < 1000ULL ? 0 : u < 1000000ULL ? 1 : 2;
		uint64_t div = k == 0 ? 1 : k == 1 ? 1000 : 1000000;
		char frac[16] = "";
		if (u % div) {
			snprintf(frac, sizeof(frac), ".%0*llu", k == 1 ? 3 : 6,
				 (unsigned long long)(u % div));
			for (size_t l = strlen(frac); frac[l - 1] == '0'; l--)
				frac[l - 1] = '\0';
		}
		snprintf(buf, n, "%s%llu%s%s", sign, (unsigned long long)(u / div), frac, small[k]);
		return;
	}
	uint64_t secs = u / 1000000000ULL, sub = u % 1000000000ULL;
	char frac[16] = "";
	if (sub) {
		snprintf(frac, sizeof(frac), ".%09llu", (unsigned long long)sub);
		for (size_t l = strlen(frac); frac[l - 1] == '0'; l--)
			frac[l - 1] = '\0';
	}
	uint64_t h = secs / 3600, m = secs / 60 % 60, sec = secs % 60;
	if (h)
		snprintf(buf, n, "%s%lluh%llum%llu%ss", sign, (unsigned long long)h,
			 (unsigned long long)m, (unsigned long long)sec, frac);
	else if (m)
		snprintf(buf, n, "%s%llum%llu%ss", sign, (unsigned long long)m,
			 (unsigned long long)sec, frac);
	else
		snprintf(buf, n, "%s%llu%ss", sign, (unsigned long long)sec, frac);
}

static int parse_ssh_users(struct pol_policy *pol, struct pol__sshrule *r, json_t *uj, size_t idx,
			   struct pol_error *err)
{
	char **v;
	size_t n;
	if (!uj || json_is_null(uj) || (json_is_array(uj) && json_array_size(uj) == 0))
		return pol__fail(err, "ssh[%zu]: users must be specified", idx);
	int rc = strv_get(uj, &v, &n, err, "ssh users");
	if (rc)
		return rc;
	r->users = calloc(n, sizeof(*r->users));
	if (!r->users) {
		strv_free(v, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		struct pol__sshuser *u = &r->users[i];
		if (!v[i][0] || strcmp(v[i], "*") == 0) {
			rc = pol__fail(err, "ssh[%zu]: user \"%s\" is not valid", idx, v[i]);
			break;
		}
		if (strcmp(v[i], "autogroup:nonroot") == 0) {
			u->kind = POL__U_NONROOT;
		} else if (starts(v[i], "localpart:*@")) {
			const char *d = v[i] + strlen("localpart:*@");
			/* "localpart:*@" (no domain) is accepted and matches nobody. */
			if ((*d && !domain_ok(pol, d)) || strchr(d, '*')) {
				rc = pol__fail(
				    err,
				    "ssh[%zu]: users \"%s\": %s is not associated with this "
				    "Tailnet and cannot be used in user:*@<domain> "
				    "expressions",
				    idx, v[i], d);
				break;
			}
			u->kind = POL__U_LOCALPART;
			u->name = strdup(d);
			if (!u->name)
				rc = -ENOMEM;
			r->n_users++;
			continue;
		} else {
			u->kind = POL__U_NAME;
		}
		u->name = v[i];
		v[i] = NULL;
		r->n_users++;
	}
	strv_free(v, n);
	return rc;
}

static int parse_ssh_rule(struct pol_policy *pol, struct pol__sshrule *r, json_t *j, size_t idx,
			  struct pol_error *err)
{
	if (!json_is_object(j))
		return pol__fail(err, "ssh[%zu]: must be an object", idx);
	r->index = (int)idx;
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		if (strcmp(k, "action") && strcmp(k, "src") && strcmp(k, "dst") &&
		    strcmp(k, "users") && strcmp(k, "checkPeriod") && strcmp(k, "acceptEnv") &&
		    strcmp(k, "srcPosture") && strcmp(k, "message") && strcmp(k, "recorder") &&
		    strcmp(k, "enforceRecorder"))
			return pol__fail(err, "ssh[%zu]: unknown field \"%s\"", idx, k);
	}
	json_t *act = json_object_get(j, "action");
	if (act && !json_is_null(act) && !json_is_string(act))
		return pol__fail(err, "ssh[%zu]: action must be a string", idx);
	char *a = act && json_is_string(act) ? trimdup(json_string_value(act)) : NULL;
	int rc = 0;
	if (!a || !*a)
		rc = pol__fail(err, "ssh[%zu]: action must be specified", idx);
	else if (strcmp(a, "accept") == 0)
		r->action = VERDICT_ACCEPT;
	else if (strcmp(a, "check") == 0)
		r->action = VERDICT_CHECK;
	else
		rc = pol__fail(err, "ssh[%zu]: \"%s\" is not a valid action", idx, a);
	free(a);
	if (rc)
		return rc;

	char **srcs, **dsts;
	size_t n_srcs, n_dsts;
	if ((rc = strv_get(json_object_get(j, "src"), &srcs, &n_srcs, err, "ssh src")))
		return rc;
	r->srcs = calloc(n_srcs + 1, sizeof(*r->srcs));
	for (size_t i = 0; r->srcs && i < n_srcs && !rc; i++) {
		char ctx[64];
		snprintf(ctx, sizeof(ctx), "ssh[%zu]: src: ", idx);
		if (!pol__alias_parse(pol, srcs[i], &r->srcs[i], err, ctx)) {
			rc = -EINVAL;
			break;
		}
		r->n_srcs++;
		enum pol__alias_kind sk = r->srcs[i].kind;
		if (sk == POL__A_SELF || sk == POL__A_INTERNET || sk == POL__A_DANGER_ALL)
			rc = pol__fail(err, "ssh[%zu]: invalid src \"%s\"", idx, srcs[i]);
	}
	strv_free(srcs, n_srcs);
	if (!r->srcs)
		return -ENOMEM;
	if (rc)
		return rc;
	if ((rc = strv_get(json_object_get(j, "dst"), &dsts, &n_dsts, err, "ssh dst")))
		return rc;
	r->dsts = calloc(n_dsts + 1, sizeof(*r->dsts));
	for (size_t i = 0; r->dsts && i < n_dsts && !rc; i++) {
		char ctx[64];
		snprintf(ctx, sizeof(ctx), "ssh[%zu]: dst: ", idx);
		if (!pol__alias_parse(pol, dsts[i], &r->dsts[i], err, ctx)) {
			rc = -EINVAL;
			break;
		}
		r->n_dsts++;
		enum pol__alias_kind dk = r->dsts[i].kind;
		if (dk != POL__A_TAG && dk != POL__A_SELF && dk != POL__A_MEMBER &&
		    dk != POL__A_TAGGED && dk != POL__A_USER)
			rc = pol__fail(err, "ssh[%zu]: invalid dst \"%s\"", idx, dsts[i]);
	}
	strv_free(dsts, n_dsts);
	if (!r->dsts)
		return -ENOMEM;
	if (rc)
		return rc;

	if ((rc = parse_ssh_users(pol, r, json_object_get(j, "users"), idx, err)))
		return rc;

	r->check_period_s = 12 * 3600;
	json_t *cp = json_object_get(j, "checkPeriod");
	if (cp && !json_is_null(cp)) {
		if (!json_is_string(cp))
			return pol__fail(err, "ssh[%zu]: checkPeriod must be a string", idx);
		char *s = trimdup(json_string_value(cp));
		char why[POL_ERR_MAX / 2];
		int64_t ns;
		if (!s)
			return -ENOMEM;
		if (strcmp(s, "always") == 0) {
			r->check_period_s = 0;
		} else if (!go_duration(s, &ns, why, sizeof(why))) {
			rc = pol__fail(err, "ssh[%zu]: checkPeriod: %s", idx, why);
		} else if (ns <= 0) {
			char d[48];
			go_duration_format(ns, d, sizeof(d));
			rc = pol__fail(err, "ssh[%zu]: checkPeriod %s must be a positive duration",
				       idx, d);
		} else if (ns > 168LL * 3600 * 1000000000) {
			rc = pol__fail(err, "ssh[%zu]: checkPeriod \"%s\" is longer than 168h", idx,
				       s);
		} else {
			/* Whole seconds, rounded up: a positive period never becomes 0, which
			 * means "every connection". */
			r->check_period_s = (ns + 999999999) / 1000000000;
		}
		free(s);
		if (rc)
			return rc;
	}
	if ((rc = strv_get(json_object_get(j, "acceptEnv"), &r->accept_env, &r->n_accept_env, err,
			   "ssh acceptEnv")))
		return rc;
	for (size_t i = 0; i < r->n_accept_env; i++)
		if (!r->accept_env[i][0])
			return pol__fail(err, "ssh[%zu]: acceptEnv values cannot be empty", idx);
	return 0;
}

static int parse_ssh(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	if (!j)
		return 0;
	pol->has_ssh = true;
	if (json_is_null(j))
		return 0;
	if (!json_is_array(j))
		return pol__fail(err, "ssh: must be a list of rules");
	pol->ssh = calloc(json_array_size(j) + 1, sizeof(*pol->ssh));
	if (!pol->ssh)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(j); i++) {
		struct pol__sshrule *r = &pol->ssh[pol->n_ssh++];
		int rc = parse_ssh_rule(pol, r, json_array_get(j, i), i, err);
		if (rc)
			return rc;
		if (!(r->source = json_dumps(json_array_get(j, i), JSON_COMPACT)))
			return -ENOMEM;
	}
	return 0;
}

/* ---- tests and sshTests: checked when run, so a malformed entry is a failed test ---- */

static int parse_tests(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_array(j))
		return pol__fail(err, "tests: must be a list");
	pol->tests = calloc(json_array_size(j) + 1, sizeof(*pol->tests));
	if (!pol->tests)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *t = json_array_get(j, i);
		struct pol__test *x = &pol->tests[pol->n_tests++];
		if (!json_is_object(t))
			return pol__fail(err, "tests[%zu]: must be an object", i);
		json_t *src = json_object_get(t, "src");
		if (src && !json_is_string(src))
			return pol__fail(err, "tests[%zu]: src must be a string", i);
		x->src.text = trimdup(src ? json_string_value(src) : "");
		if (!x->src.text)
			return -ENOMEM;
		json_t *pj = json_object_get(t, "proto");
		if (pj && json_is_string(pj)) {
			uint8_t p;
			if (!pol_proto_parse(json_string_value(pj), &p))
				return pol__fail(err, "tests[%zu]: proto \"%s\" is not a protocol",
						 i, json_string_value(pj));
			x->protos = malloc(1);
			if (!x->protos)
				return -ENOMEM;
			x->protos[0] = p;
			x->n_protos = 1;
		}
		int rc = strv_get(json_object_get(t, "accept"), &x->accept, &x->n_accept, err,
				  "tests accept");
		if (!rc)
			rc = strv_get(json_object_get(t, "deny"), &x->deny, &x->n_deny, err,
				      "tests deny");
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_sshtests(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_array(j))
		return pol__fail(err, "sshTests: must be a list");
	pol->sshtests = calloc(json_array_size(j) + 1, sizeof(*pol->sshtests));
	if (!pol->sshtests)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *t = json_array_get(j, i);
		struct pol__sshtest *x = &pol->sshtests[pol->n_sshtests++];
		if (!json_is_object(t))
			return pol__fail(err, "sshTests[%zu]: must be an object", i);
		json_t *src = json_object_get(t, "src");
		if (src && !json_is_string(src))
			return pol__fail(err, "sshTests[%zu]: src must be a string", i);
		x->src.text = trimdup(src ? json_string_value(src) : "");
		if (!x->src.text)
			return -ENOMEM;
		char **dsts;
		size_t n;
		int rc = strv_get(json_object_get(t, "dst"), &dsts, &n, err, "sshTests dst");
		if (rc)
			return rc;
		x->dsts = calloc(n + 1, sizeof(*x->dsts));
		for (size_t d = 0; x->dsts && d < n && !rc; d++) {
			struct pol_prefix p;
			const char *s = dsts[d];
			/* A hosts entry stands for its prefix, so one naming a range is refused
			 * like the range written out. */
			int h = pol__strmap_get(&pol->host_idx, s);
			bool range = h >= 0 ? pol->hosts[h].prefix.bits !=
						  (pol->hosts[h].prefix.addr.family == 4 ? 32 : 128)
					    : strchr(s, '/') && pol_prefix_parse(s, &p);
			if (strcmp(s, "autogroup:internet") == 0 || strcmp(s, "*") == 0 ||
			    strcmp(s, "autogroup:danger-all") == 0 || range) {
				rc = pol__fail(err,
					       "sshTests[%zu]: SSH tests dst contains disallowed "
					       "element \"%s\"",
					       i, s);
				break;
			}
			x->dsts[d].text = strdup(s);
			if (!x->dsts[d].text)
				rc = -ENOMEM;
			x->n_dsts++;
		}
		strv_free(dsts, n);
		if (!x->dsts)
			return -ENOMEM;
		if (rc)
			return rc;
		rc = strv_get(json_object_get(t, "accept"), &x->accept, &x->n_accept, err,
			      "sshTests accept");
		if (!rc)
			rc = strv_get(json_object_get(t, "check"), &x->check, &x->n_check, err,
				      "sshTests check");
		if (!rc)
			rc = strv_get(json_object_get(t, "deny"), &x->deny, &x->n_deny, err,
				      "sshTests deny");
		if (rc)
			return rc;
	}
	return 0;
}

/* Field names compare without regard to case, as Go's encoding/json (the reference
 * service) does: rename keys to their canonical spelling before anything reads them. */
static int canon_keys(json_t *obj, const char *const *names, size_t n, struct pol_error *err,
		      const char *ctx)
{
	const char *k;
	json_t *v;
	void *tmp;
	if (!json_is_object(obj))
		return 0;
	json_object_foreach_safe(obj, tmp, k, v)
	{
		for (size_t i = 0; i < n; i++) {
			if (strcasecmp(k, names[i]) != 0 || strcmp(k, names[i]) == 0)
				continue;
			if (json_object_get(obj, names[i]))
				return pol__fail(err, "%s: \"%s\" and \"%s\" both given", ctx, k,
						 names[i]);
			if (json_object_set(obj, names[i], v) || json_object_del(obj, k))
				return -ENOMEM;
			break;
		}
	}
	return 0;
}

static const char *const acl_fields[] = {"action", "src",   "dst",	 "proto",
					 "users",  "ports", "srcPosture"};
static const char *const grant_fields[] = {"src", "dst", "ip", "app", "via", "srcPosture"};
static const char *const ssh_fields[] = {
    "action",	 "src",	       "dst",	  "users",    "checkPeriod",
    "acceptEnv", "srcPosture", "message", "recorder", "enforceRecorder"};
static const char *const test_fields[] = {"src", "proto", "accept", "deny"};
static const char *const sshtest_fields[] = {"src", "dst", "accept", "check", "deny"};

#define NAMES(a) a, sizeof(a) / sizeof(a[0])

/* Canonical key spelling everywhere a rule is read, and the legacy ACL form
 * {"Action", "Users", "Ports"} as src/dst. */
static int canon_policy(json_t *root, struct pol_error *err)
{
	static const struct {
		const char *section;
		const char *const *names;
		size_t n;
	} secs[] = {
	    {"acls", NAMES(acl_fields)},	 {"grants", NAMES(grant_fields)},
	    {"ssh", NAMES(ssh_fields)},		 {"tests", NAMES(test_fields)},
	    {"sshTests", NAMES(sshtest_fields)},
	};
	int rc = canon_keys(root, NAMES(known_sections), err, "policy");
	for (size_t s = 0; s < sizeof(secs) / sizeof(secs[0]) && !rc; s++) {
		json_t *arr = json_object_get(root, secs[s].section), *e;
		size_t i;
		char ctx[48];
		json_array_foreach(arr, i, e)
		{
			snprintf(ctx, sizeof(ctx), "%s[%zu]", secs[s].section, i);
			if ((rc = canon_keys(e, secs[s].names, secs[s].n, err, ctx)))
				break;
			if (s != 0 || !json_is_object(e))
				continue;
			static const char *const legacy[][2] = {{"users", "src"}, {"ports", "dst"}};
			for (int l = 0; l < 2 && !rc; l++) {
				json_t *old = json_object_get(e, legacy[l][0]);
				if (!old)
					continue;
				if (json_object_get(e, legacy[l][1]))
					rc = pol__fail(err, "%s: give \"%s\" or \"%s\", not both",
						       ctx, legacy[l][1], legacy[l][0]);
				else if (json_object_set(e, legacy[l][1], old) ||
					 json_object_del(e, legacy[l][0]))
					rc = -ENOMEM;
			}
			if (rc)
				break;
		}
	}
	return rc;
}

static int parse_root(struct pol_policy *pol, json_t *root, struct pol_error *err)
{
	const char *k;
	json_t *v;
	int rc = canon_policy(root, err);
	if (rc)
		return rc;
	json_object_foreach(root, k, v)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof(known_sections) / sizeof(known_sections[0]); i++)
			known |= strcmp(k, known_sections[i]) == 0;
		if (!known)
			return pol__fail(err, "unknown top-level key \"%s\"", k);
	}
	json_t *aa = json_object_get(root, "autoApprovers");
	if (aa && !json_is_null(aa) && !json_is_object(aa))
		return pol__fail(err, "autoApprovers: must be an object");
	json_t *na = json_object_get(root, "nodeAttrs");
	if (na && !json_is_null(na) && !json_is_array(na))
		return pol__fail(err, "nodeAttrs: must be a list");
	if ((rc = parse_groups(pol, json_object_get(root, "groups"), err)) ||
	    (rc = parse_tag_owners(pol, json_object_get(root, "tagOwners"), err)) ||
	    (rc = parse_hosts(pol, json_object_get(root, "hosts"), err)) ||
	    (rc = parse_netrules(pol, json_object_get(root, "acls"),
				 json_object_get(root, "grants"), err)) ||
	    (rc = parse_ssh(pol, json_object_get(root, "ssh"), err)) ||
	    (rc = parse_tests(pol, json_object_get(root, "tests"), err)) ||
	    (rc = parse_sshtests(pol, json_object_get(root, "sshTests"), err)))
		return rc;
	/* autoApprovers may only name defined tags and groups. */
	if (aa && json_is_object(aa)) {
		json_t *sec;
		json_object_foreach(aa, k, sec)
		{
			if (!json_is_object(sec))
				continue;
			const char *r;
			json_t *owners;
			json_object_foreach(sec, r, owners)
			{
				size_t i;
				json_t *o;
				json_array_foreach(owners, i, o)
				{
					const char *s = json_string_value(o);
					if (s && starts(s, "tag:") &&
					    pol__strmap_get(&pol->tag_idx, s) < 0)
						return pol__fail(err,
								 "autoApprovers.%s[\"%s\"]: tag "
								 "\"%s\" not found",
								 k, r, s);
					if (s && starts(s, "group:") &&
					    pol__strmap_get(&pol->group_idx, s) < 0)
						return pol__fail(err,
								 "autoApprovers.%s[\"%s\"]: group "
								 "\"%s\" not found",
								 k, r, s);
				}
			}
		}
	}
	return 0;
}

int pol_parse(const char *text, size_t len, const char *tailnet_domain, struct pol_policy **out,
	      struct pol_error *err)
{
	struct pol_error scratch;
	*out = NULL;
	json_t *root = pol__hujson_begin(text, len, &err, &scratch);
	if (!root)
		return strcmp(err->msg, "out of memory") == 0 ? -ENOMEM : -EINVAL;
	struct pol_policy *pol = calloc(1, sizeof(*pol));
	if (!pol) {
		json_decref(root);
		return -ENOMEM;
	}
	if (tailnet_domain && !(pol->domain = strdup(tailnet_domain))) {
		free(pol);
		json_decref(root);
		return -ENOMEM;
	}
	int rc = parse_root(pol, root, err);
	json_decref(root);
	if (rc) {
		if (rc == -ENOMEM)
			snprintf(err->msg, sizeof(err->msg), "out of memory");
		pol_policy_free(pol);
		return rc;
	}
	*out = pol;
	return 0;
}

bool pol_policy_has_ssh(const struct pol_policy *pol)
{
	return pol->has_ssh;
}

const char *pol_policy_rule_text(const struct pol_policy *pol, const char *section, int index)
{
	if (!section || index < 0)
		return NULL;
	if (strcmp(section, "ssh") == 0)
		return (size_t)index < pol->n_ssh ? pol->ssh[index].source : NULL;
	for (size_t i = 0; i < pol->n_rules; i++)
		if (strcmp(pol->rules[i].section, section) == 0 && pol->rules[i].index == index)
			return pol->rules[i].source;
	return NULL;
}

void pol_policy_summary(const struct pol_policy *pol, char *buf, size_t len)
{
	size_t acls = 0;
	for (size_t i = 0; i < pol->n_rules; i++)
		acls += strcmp(pol->rules[i].section, "acls") == 0;
	snprintf(buf, len, "%zu acls, %zu grants, %zu ssh rules, %zu tests, %zu sshTests%s", acls,
		 pol->n_rules - acls, pol->n_ssh, pol->n_tests, pol->n_sshtests,
		 pol->has_rules ? "" : " (no acls or grants: all traffic allowed)");
}

static void alias_array_free(struct pol__alias *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pol__alias_clear(&v[i]);
	free(v);
}

void pol_policy_free(struct pol_policy *pol)
{
	if (!pol)
		return;
	for (size_t i = 0; i < pol->n_groups; i++) {
		free(pol->groups[i].name);
		strv_free(pol->groups[i].members, pol->groups[i].n_members);
	}
	free(pol->groups);
	for (size_t i = 0; pol->tag_owners && i < pol->n_tags; i++)
		strv_free(pol->tag_owners[i], pol->n_tag_owners[i]);
	free(pol->tag_owners);
	free(pol->n_tag_owners);
	strv_free(pol->tags, pol->n_tags);
	for (size_t i = 0; i < pol->n_hosts; i++)
		free(pol->hosts[i].name);
	free(pol->hosts);
	for (size_t i = 0; i < pol->n_rules; i++) {
		struct pol__netrule *r = &pol->rules[i];
		alias_array_free(r->srcs, r->n_srcs);
		for (size_t d = 0; d < r->n_dsts; d++) {
			pol__alias_clear(&r->dsts[d].alias);
			free(r->dsts[d].protos);
			free(r->dsts[d].ports);
			free(r->dsts[d].text);
		}
		free(r->dsts);
		free(r->via);
		free(r->source);
	}
	free(pol->rules);
	for (size_t i = 0; i < pol->n_ssh; i++) {
		struct pol__sshrule *r = &pol->ssh[i];
		alias_array_free(r->srcs, r->n_srcs);
		alias_array_free(r->dsts, r->n_dsts);
		for (size_t u = 0; u < r->n_users; u++)
			free(r->users[u].name);
		free(r->users);
		strv_free(r->accept_env, r->n_accept_env);
		free(r->source);
	}
	free(pol->ssh);
	for (size_t i = 0; i < pol->n_tests; i++) {
		struct pol__test *t = &pol->tests[i];
		pol__alias_clear(&t->src);
		free(t->protos);
		strv_free(t->accept, t->n_accept);
		strv_free(t->deny, t->n_deny);
	}
	free(pol->tests);
	for (size_t i = 0; i < pol->n_sshtests; i++) {
		struct pol__sshtest *t = &pol->sshtests[i];
		pol__alias_clear(&t->src);
		alias_array_free(t->dsts, t->n_dsts);
		strv_free(t->accept, t->n_accept);
		strv_free(t->check, t->n_check);
		strv_free(t->deny, t->n_deny);
	}
	free(pol->sshtests);
	pol__strmap_free(&pol->group_idx);
	pol__strmap_free(&pol->tag_idx);
	pol__strmap_free(&pol->host_idx);
	free(pol->domain);
	free(pol);
}
