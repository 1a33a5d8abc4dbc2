/* A node's packet filter and SSH rules on the wire: the policy engine's own rule types
 * (struct pol_filter_rule, struct pol_ssh_rule) to JSON and back, so what the node
 * enforces is the compiled form `policy explain`, tests and sshTests decide over, not a
 * translation of it.  Each decoded rule is one allocation (the rule, then its arrays and
 * strings), so copying and freeing a netmap's rules is one call per rule.
 *
 *   filter: {"srcs":["100.64.0.1/32"],"dsts":["100.64.0.2/32"],"ports":[[22,22]],
 *            "protos":[6],"section":"acls","index":0}          protos [] = any protocol
 *   ssh:    {"principals":[...],"users":[["*","="],["root",""]],"action":"check",
 *            "check_period":3600,"agent":true,"local_fwd":false,"remote_fwd":false,
 *            "accept_env":["LANG"],"index":1}
 *           + "recorders":["100.64.0.9"],"enforce_recorder":true only when set (a rule without
 *             recording is written as before)
 *
 * ctl__filter_json is the one encoder of this shape; control/server/polglue.c keeps a fast
 * path for whole tailnets that must write the same bytes (polglue_filter_json_general is
 * the reference; a test holding them equal is still to be written). */
#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"
#include "control/netmap/netmap_json.h"

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

struct pol_filter_rule *ctl__filter_rule_pack(const struct pol_filter_rule *r)
{
	const char *section = r->section ? r->section : "";
	size_t o_ports = align_up(sizeof(*r), alignof(struct pol_port_range));
	size_t o_srcs = o_ports + r->n_ports * sizeof(*r->ports);
	size_t o_dsts = o_srcs + r->n_srcs * sizeof(*r->srcs);
	size_t o_protos = o_dsts + r->n_dsts * sizeof(*r->dsts);
	size_t o_section = o_protos + r->n_protos;
	char *b = malloc(o_section + strlen(section) + 1);
	if (!b)
		return NULL;
	struct pol_filter_rule *p = (struct pol_filter_rule *)b;
	*p = *r;
	if (r->n_ports)
		memcpy(b + o_ports, r->ports, r->n_ports * sizeof(*r->ports));
	if (r->n_srcs)
		memcpy(b + o_srcs, r->srcs, r->n_srcs * sizeof(*r->srcs));
	if (r->n_dsts)
		memcpy(b + o_dsts, r->dsts, r->n_dsts * sizeof(*r->dsts));
	if (r->n_protos)
		memcpy(b + o_protos, r->protos, r->n_protos);
	strcpy(b + o_section, section);
	p->ports = (const struct pol_port_range *)(b + o_ports);
	p->srcs = (const struct addr_prefix *)(b + o_srcs);
	p->dsts = (const struct addr_prefix *)(b + o_dsts);
	p->protos = (const uint8_t *)(b + o_protos);
	p->section = b + o_section;
	return p;
}

struct pol_ssh_rule *ctl__ssh_rule_pack(const struct pol_ssh_rule *r)
{
	size_t o_users = align_up(sizeof(*r), alignof(struct pol_ssh_usermap));
	size_t o_env = o_users + r->n_users * sizeof(*r->users);
	size_t o_princ = o_env + r->n_accept_env * sizeof(*r->accept_env);
	size_t o_rec = o_princ + r->n_principals * sizeof(*r->principals);
	size_t o_str = o_rec + r->n_recorders * sizeof(*r->recorders), len = o_str;
	for (size_t i = 0; i < r->n_users; i++)
		len += strlen(r->users[i].from) + strlen(r->users[i].to) + 2;
	for (size_t i = 0; i < r->n_accept_env; i++)
		len += strlen(r->accept_env[i]) + 1;
	char *b = malloc(len);
	if (!b)
		return NULL;
	struct pol_ssh_rule *p = (struct pol_ssh_rule *)b;
	struct pol_ssh_usermap *users = (struct pol_ssh_usermap *)(b + o_users);
	const char **env = (const char **)(b + o_env);
	char *s = b + o_str;
	*p = *r;
	for (size_t i = 0; i < r->n_users; i++) {
		users[i].from = strcpy(s, r->users[i].from);
		s += strlen(s) + 1;
		users[i].to = strcpy(s, r->users[i].to);
		s += strlen(s) + 1;
	}
	for (size_t i = 0; i < r->n_accept_env; i++) {
		env[i] = strcpy(s, r->accept_env[i]);
		s += strlen(s) + 1;
	}
	if (r->n_principals)
		memcpy(b + o_princ, r->principals, r->n_principals * sizeof(*r->principals));
	p->users = users;
	p->accept_env = env;
	if (r->n_recorders)
		memcpy(b + o_rec, r->recorders, r->n_recorders * sizeof(*r->recorders));
	p->principals = (const struct addr_prefix *)(b + o_princ);
	p->recorders = (const struct addr_ip *)(b + o_rec);
	return p;
}

/* ---- encoding ---- */

static json_t *prefixes_json(const struct addr_prefix *p, size_t n)
{
	char s[ADDR_TEXT_MAX];
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(addr_prefix_format(&p[i], s)));
	return a;
}

json_t *ctl__filter_json(const struct pol_filter_rule *const *rules, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		const struct pol_filter_rule *r = rules[i];
		json_t *ports = json_array(), *protos = json_array();
		for (size_t k = 0; ports && k < r->n_ports; k++)
			json_array_append_new(
			    ports, json_pack("[i, i]", r->ports[k].first, r->ports[k].last));
		for (size_t k = 0; protos && k < r->n_protos; k++)
			json_array_append_new(protos, json_integer(r->protos[k]));
		json_array_append_new(a,
				      json_pack("{s:o, s:o, s:o, s:o, s:s, s:i}", "srcs",
						prefixes_json(r->srcs, r->n_srcs), "dsts",
						prefixes_json(r->dsts, r->n_dsts), "ports", ports,
						"protos", protos, "section",
						r->section ? r->section : "", "index", r->index));
	}
	return a;
}

json_t *ctl__ssh_json(const struct pol_ssh_rule *const *rules, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		const struct pol_ssh_rule *r = rules[i];
		json_t *users = json_array(), *env = json_array();
		for (size_t u = 0; users && u < r->n_users; u++)
			json_array_append_new(
			    users, json_pack("[s, s]", r->users[u].from, r->users[u].to));
		for (size_t k = 0; env && k < r->n_accept_env; k++)
			json_array_append_new(env, json_string(r->accept_env[k]));
		json_t *o = json_pack(
		    "{s:o, s:o, s:s, s:I, s:b, s:b, s:b, s:o, s:i}", "principals",
		    prefixes_json(r->principals, r->n_principals), "users", users, "action",
		    verdict_name(r->action), "check_period", (json_int_t)r->check_period_s, "agent",
		    (int)r->allow_agent_forwarding, "local_fwd",
		    (int)r->allow_local_port_forwarding, "remote_fwd",
		    (int)r->allow_remote_port_forwarding, "accept_env", env, "index", r->index);
		json_t *rec = r->n_recorders ? json_array() : NULL;
		for (size_t k = 0; rec && k < r->n_recorders; k++) {
			char s[ADDR_TEXT_MAX];
			json_array_append_new(rec,
					      json_string(addr_ip_format(&r->recorders[k], s)));
		}
		if (o && rec)
			json_object_set_new(o, "recorders", rec);
		if (o && r->enforce_recorder)
			json_object_set_new(o, "enforce_recorder", json_true());
		json_array_append_new(a, o);
	}
	return a;
}

/* ---- decoding ---- */

void ctl__filter_free(struct pol_filter_rule **rules, size_t n)
{
	for (size_t i = 0; rules && i < n; i++)
		free(rules[i]);
	free(rules);
}

void ctl__ssh_free(struct pol_ssh_rule **rules, size_t n)
{
	for (size_t i = 0; rules && i < n; i++)
		free(rules[i]);
	free(rules);
}

/* A list member: absent or null is empty; anything but an array is refused. */
static int list_member(json_t *obj, const char *key, const char *ctx, size_t i, json_t **out,
		       char *err, size_t errlen)
{
	json_t *a = json_object_get(obj, key);
	*out = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return ctl__fail(err, errlen, "%s[%zu].%s: expected an array", ctx, i, key);
	*out = a;
	return 0;
}

static int prefixes_from(json_t *obj, const char *key, const char *ctx, size_t i,
			 struct addr_prefix **out, size_t *n, char *err, size_t errlen)
{
	json_t *a;
	int rc = list_member(obj, key, ctx, i, &a, err, errlen);
	*out = NULL;
	*n = 0;
	if (rc || !a)
		return rc;
	size_t len = json_array_size(a);
	struct addr_prefix *p = calloc(len ? len : 1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (size_t k = 0; k < len; k++) {
		const char *s = json_string_value(json_array_get(a, k));
		if (!s || !addr_net_parse(s, &p[k], NULL)) {
			free(p);
			if (!s)
				return ctl__fail(err, errlen, "%s[%zu].%s[%zu]: expected a string",
						 ctx, i, key, k);
			return ctl__fail(err, errlen,
					 "%s[%zu].%s[%zu]: '%s' is not an IP address or prefix",
					 ctx, i, key, k, s);
		}
	}
	*out = p;
	*n = len;
	return 0;
}

/* A list of IP addresses (absent: none). */
static int addrs_from(json_t *obj, const char *key, const char *ctx, size_t i, struct addr_ip **out,
		      size_t *n, char *err, size_t errlen)
{
	json_t *a;
	int rc = list_member(obj, key, ctx, i, &a, err, errlen);
	*out = NULL;
	*n = 0;
	if (rc || !a)
		return rc;
	size_t len = json_array_size(a);
	struct addr_ip *p = calloc(len ? len : 1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (size_t k = 0; k < len; k++) {
		const char *s = json_string_value(json_array_get(a, k));
		if (!s || !addr_ip_parse(s, &p[k], NULL)) {
			free(p);
			return ctl__fail(err, errlen, "%s[%zu].%s[%zu]: expected an IP address",
					 ctx, i, key, k);
		}
	}
	*out = p;
	*n = len;
	return 0;
}

/* An integer member in [lo, hi]; absent is 0 unless required. */
static int int_in(json_t *obj, const char *key, const char *ctx, size_t i, bool required,
		  json_int_t lo, json_int_t hi, json_int_t *out, char *err, size_t errlen)
{
	json_t *j = json_object_get(obj, key);
	*out = 0;
	if (!j)
		return required ? ctl__fail(err, errlen, "%s[%zu].%s: missing", ctx, i, key) : 0;
	if (!json_is_integer(j))
		return ctl__fail(err, errlen, "%s[%zu].%s: expected an integer", ctx, i, key);
	*out = json_integer_value(j);
	if (*out < lo || *out > hi)
		return ctl__fail(err, errlen, "%s[%zu].%s: %lld is out of range", ctx, i, key,
				 (long long)*out);
	return 0;
}

/* One filter rule into *tmp, whose arrays the caller frees after packing (its srcs not when
 * *borrowed: a delta's "srcs": i, base[i]'s list; filter_refs.c). */
static int filter_rule_from(json_t *e, size_t i, const struct pol_filter_rule *const *base,
			    size_t n_base, struct pol_filter_rule *r, struct pol_port_range **ports,
			    uint8_t **protos, bool *borrowed, char *err, size_t errlen)
{
	struct addr_prefix *srcs = NULL, *dsts = NULL;
	json_t *pa = NULL, *qa = NULL;
	json_int_t index = 0;
	*borrowed = false;
	if (!json_is_object(e))
		return ctl__fail(err, errlen, "filter[%zu]: expected an object", i);
	const char *section = json_string_value(json_object_get(e, "section"));
	if (!section || (strcmp(section, "acls") != 0 && strcmp(section, "grants") != 0 &&
			 strcmp(section, "default") != 0))
		return ctl__fail(
		    err, errlen,
		    "filter[%zu].section: expected \"acls\", \"grants\" or \"default\"", i);
	int rc = int_in(e, "index", "filter", i, true, 0, INT_MAX, &index, err, errlen);
	if (!rc)
		rc = list_member(e, "ports", "filter", i, &pa, err, errlen);
	if (!rc)
		rc = list_member(e, "protos", "filter", i, &qa, err, errlen);
	json_t *ref = json_object_get(e, "srcs");
	if (!rc && json_is_integer(ref) && json_integer_value(ref) >= 0 &&
	    (size_t)json_integer_value(ref) < n_base) {
		const struct pol_filter_rule *b = base[json_integer_value(ref)];
		srcs = (struct addr_prefix *)b->srcs;
		r->n_srcs = b->n_srcs;
		*borrowed = true;
	} else if (!rc) {
		rc = prefixes_from(e, "srcs", "filter", i, &srcs, &r->n_srcs, err, errlen);
	}
	if (!rc)
		rc = prefixes_from(e, "dsts", "filter", i, &dsts, &r->n_dsts, err, errlen);
	size_t np = pa ? json_array_size(pa) : 0, nq = qa ? json_array_size(qa) : 0;
	*ports = rc ? NULL : calloc(np ? np : 1, sizeof(**ports));
	*protos = rc ? NULL : calloc(nq ? nq : 1, 1);
	if (!rc && (!*ports || !*protos))
		rc = -ENOMEM;
	for (size_t k = 0; !rc && k < np; k++) {
		json_t *pr = json_array_get(pa, k);
		json_t *lo = json_array_get(pr, 0), *hi = json_array_get(pr, 1);
		if (json_array_size(pr) != 2 || !json_is_integer(lo) || !json_is_integer(hi) ||
		    json_integer_value(lo) < 0 || json_integer_value(lo) > json_integer_value(hi) ||
		    json_integer_value(hi) > 65535)
			rc = ctl__fail(err, errlen,
				       "filter[%zu].ports[%zu]: expected [first, last] in 0-65535",
				       i, k);
		else
			(*ports)[k] = (struct pol_port_range){ (uint16_t)json_integer_value(lo),
							       (uint16_t)json_integer_value(hi) };
	}
	for (size_t k = 0; !rc && k < nq; k++) {
		json_t *q = json_array_get(qa, k);
		if (!json_is_integer(q) || json_integer_value(q) < 0 || json_integer_value(q) > 255)
			rc = ctl__fail(err, errlen,
				       "filter[%zu].protos[%zu]: expected a protocol number 0-255",
				       i, k);
		else
			(*protos)[k] = (uint8_t)json_integer_value(q);
	}
	r->srcs = srcs;
	r->dsts = dsts;
	r->ports = *ports;
	r->n_ports = np;
	r->protos = *protos;
	r->n_protos = nq;
	r->section = section;
	r->index = (int)index;
	return rc;
}

int ctl__filter_from_json(json_t *a, struct pol_filter_rule ***out, size_t *n, char *err,
			  size_t errlen)
{
	return ctl__filter_from_json_base(a, NULL, 0, out, n, err, errlen);
}

int ctl__filter_from_json_base(json_t *a, const struct pol_filter_rule *const *base, size_t n_base,
			       struct pol_filter_rule ***out, size_t *n, char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return ctl__fail(err, errlen, "filter: expected an array");
	size_t len = json_array_size(a), done = 0;
	struct pol_filter_rule **v = calloc(len ? len : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int rc = 0;
	for (; done < len && !rc; done++) {
		struct pol_filter_rule r = { 0 };
		struct pol_port_range *ports = NULL;
		uint8_t *protos = NULL;
		bool borrowed;
		rc = filter_rule_from(json_array_get(a, done), done, base, n_base, &r, &ports,
				      &protos, &borrowed, err, errlen);
		if (!rc && !(v[done] = ctl__filter_rule_pack(&r)))
			rc = -ENOMEM;
		if (!borrowed)
			free((void *)r.srcs);
		free((void *)r.dsts);
		free(ports);
		free(protos);
	}
	if (rc) {
		ctl__filter_free(v, done);
		return rc;
	}
	*out = v;
	*n = len;
	return 0;
}

static int ssh_rule_from(json_t *e, size_t i, struct pol_ssh_rule *r, char err[], size_t errlen,
			 struct pol_ssh_usermap **users, char ***env, size_t *n_env,
			 struct addr_ip **rec)
{
	struct addr_prefix *princ = NULL;
	json_int_t period = 0, index = 0;
	json_t *ua = NULL;
	if (!json_is_object(e))
		return ctl__fail(err, errlen, "ssh[%zu]: expected an object", i);
	const char *act = json_string_value(json_object_get(e, "action"));
	if (act && strcmp(act, "accept") == 0)
		r->action = VERDICT_ACCEPT;
	else if (act && strcmp(act, "check") == 0)
		r->action = VERDICT_CHECK;
	else
		return ctl__fail(err, errlen, "ssh[%zu].action: expected accept or check", i);
	int rc = int_in(e, "check_period", "ssh", i, false, 0, INT32_MAX, &period, err, errlen);
	if (!rc)
		rc = int_in(e, "index", "ssh", i, true, 0, INT_MAX, &index, err, errlen);
	if (!rc)
		rc = list_member(e, "users", "ssh", i, &ua, err, errlen);
	if (!rc)
		rc = ctl__strv_from_json(e, "accept_env", env, n_env, err, errlen);
	if (!rc)
		rc =
		    prefixes_from(e, "principals", "ssh", i, &princ, &r->n_principals, err, errlen);
	if (!rc)
		rc = addrs_from(e, "recorders", "ssh", i, rec, &r->n_recorders, err, errlen);
	json_t *enf = json_object_get(e, "enforce_recorder");
	if (!rc && enf && !json_is_boolean(enf))
		rc = ctl__fail(err, errlen, "ssh[%zu].enforce_recorder: expected true or false", i);
	size_t nu = ua ? json_array_size(ua) : 0;
	*users = rc ? NULL : calloc(nu ? nu : 1, sizeof(**users));
	if (!rc && !*users)
		rc = -ENOMEM;
	for (size_t u = 0; !rc && u < nu; u++) {
		json_t *pair = json_array_get(ua, u);
		const char *from = json_string_value(json_array_get(pair, 0));
		const char *to = json_string_value(json_array_get(pair, 1));
		if (json_array_size(pair) != 2 || !from || !to)
			rc = ctl__fail(err, errlen, "ssh[%zu].users[%zu]: expected [from, to]", i,
				       u);
		else
			(*users)[u] = (struct pol_ssh_usermap){ from, to };
	}
	r->principals = princ;
	r->users = *users;
	r->n_users = nu;
	r->accept_env = (const char *const *)*env;
	r->n_accept_env = *n_env;
	r->check_period_s = period;
	r->index = (int)index;
	r->allow_agent_forwarding = json_is_true(json_object_get(e, "agent"));
	r->allow_local_port_forwarding = json_is_true(json_object_get(e, "local_fwd"));
	r->allow_remote_port_forwarding = json_is_true(json_object_get(e, "remote_fwd"));
	r->recorders = *rec;
	r->enforce_recorder = json_is_true(enf);
	return rc;
}

int ctl__ssh_from_json(json_t *a, struct pol_ssh_rule ***out, size_t *n, char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return ctl__fail(err, errlen, "ssh: expected an array");
	size_t len = json_array_size(a), done = 0;
	struct pol_ssh_rule **v = calloc(len ? len : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int rc = 0;
	for (; done < len && !rc; done++) {
		struct pol_ssh_rule r = { 0 };
		struct pol_ssh_usermap *users = NULL;
		char **env = NULL;
		size_t n_env = 0;
		struct addr_ip *rec = NULL;
		rc = ssh_rule_from(json_array_get(a, done), done, &r, err, errlen, &users, &env,
				   &n_env, &rec);
		if (!rc && !(v[done] = ctl__ssh_rule_pack(&r)))
			rc = -ENOMEM;
		free((void *)r.principals);
		free(users);
		free(rec);
		strv_free(env, n_env);
	}
	if (rc) {
		ctl__ssh_free(v, done);
		return rc;
	}
	*out = v;
	*n = len;
	return 0;
}

int ctl__rules_dup(const struct ctl_netmap *src, struct ctl_netmap *dst)
{
	if (src->n_filter && !(dst->filter = calloc(src->n_filter, sizeof(*dst->filter))))
		return -ENOMEM;
	for (; dst->n_filter < src->n_filter; dst->n_filter++)
		if (!(dst->filter[dst->n_filter] =
			  ctl__filter_rule_pack(src->filter[dst->n_filter])))
			return -ENOMEM;
	if (src->n_ssh && !(dst->ssh = calloc(src->n_ssh, sizeof(*dst->ssh))))
		return -ENOMEM;
	for (; dst->n_ssh < src->n_ssh; dst->n_ssh++)
		if (!(dst->ssh[dst->n_ssh] = ctl__ssh_rule_pack(src->ssh[dst->n_ssh])))
			return -ENOMEM;
	return 0;
}
