/* Network rules: the acls section (action, src, dst host:ports, proto) and the grants section
 * (src, dst, ip, app, via) both become struct pol__netrule, one (alias, protocols, ports)
 * destination each, in file order, acls first.  Each rule keeps its compact JSON for explain. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

static const uint8_t default_protos[] = { POL_PROTO_TCP, POL_PROTO_UDP, POL_PROTO_ICMP,
					  POL_PROTO_ICMPV6 };

static int rule_add_dst(struct pol__netrule *r, const struct pol__alias *a, const char *text,
			const uint8_t *protos, size_t n_protos, struct pol_port_range *ports,
			size_t n_ports)
{
	struct pol__dst d = { .alias = *a };
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
	int rc = pol__strv_get(src, &v, &n, err, ctx);
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
	char *a = pol__trimdup(json_string_value(act));
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
	rc = pol__strv_get(dj, &dsts, &n_dsts, err, ctx);
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
	if ((rc = pol__strv_get(json_object_get(j, "ip"), &ips, &n_ips, err, "ip")))
		return rc;
	if (!n_ips && !has_app) {
		strv_free(ips, n_ips);
		return pol__fail(err, "grants[%zu]: ip and app can not both be empty", idx);
	}
	if ((rc = pol__strv_get(json_object_get(j, "via"), &via, &n_via, err, "via")))
		goto out;
	for (size_t i = 0; i < n_via; i++) {
		if (!pol__starts(via[i], "tag:")) {
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
	if ((rc = pol__strv_get(json_object_get(j, "dst"), &dsts, &n_dsts, err, "dst")))
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

int pol__parse_netrules(struct pol_policy *pol, json_t *acls, json_t *grants, struct pol_error *err)
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
