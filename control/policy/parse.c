/* The policy file's top level: pol_parse reads the HuJSON text (hujson.c), gives every field
 * name its canonical spelling (Go's encoding/json, which the reference service uses, matches
 * names without regard to case), refuses unknown sections, and hands each section to its
 * parser: parse_names.c (groups, tagOwners, hosts), parse_netrules.c (acls, grants),
 * parse_ssh.c, parse_tests.c (tests, sshTests).  Sections that do not affect node-to-node
 * access (autoApprovers, nodeAttrs, ...) are type-checked here and otherwise ignored.  Also
 * what a parsed policy answers on its own (summary, a rule's text) and its free. */
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

static const char *const acl_fields[] = { "action", "src",   "dst",	  "proto",
					  "users",  "ports", "srcPosture" };
static const char *const grant_fields[] = { "src", "dst", "ip", "app", "via", "srcPosture" };
static const char *const ssh_fields[] = { "action",	    "src",	   "dst",
					  "users",	    "checkPeriod", "acceptEnv",
					  "srcPosture",	    "message",	   "recorder",
					  "enforceRecorder" };
static const char *const test_fields[] = { "src", "proto", "accept", "deny" };
static const char *const sshtest_fields[] = { "src", "dst", "accept", "check", "deny" };

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
		{ "acls", NAMES(acl_fields) },	       { "grants", NAMES(grant_fields) },
		{ "ssh", NAMES(ssh_fields) },	       { "tests", NAMES(test_fields) },
		{ "sshTests", NAMES(sshtest_fields) },
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
			static const char *const legacy[][2] = { { "users", "src" },
								 { "ports", "dst" } };
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

int pol__section_new(json_t *j, bool object, const char *must, void *arrp, size_t elem,
		     struct pol_error *err)
{
	void **arr = arrp;

	if (!j || json_is_null(j))
		return 0;
	if (object ? !json_is_object(j) : !json_is_array(j))
		return pol__fail(err, "%s", must);
	*arr = calloc((object ? json_object_size(j) : json_array_size(j)) + 1, elem);
	return *arr ? 1 : -ENOMEM;
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
	if ((rc = pol__parse_groups(pol, json_object_get(root, "groups"), err)) ||
	    (rc = pol__parse_tag_owners(pol, json_object_get(root, "tagOwners"), err)) ||
	    (rc = pol__parse_hosts(pol, json_object_get(root, "hosts"), err)) ||
	    (rc = pol__parse_netrules(pol, json_object_get(root, "acls"),
				      json_object_get(root, "grants"), err)) ||
	    (rc = pol__parse_ssh(pol, json_object_get(root, "ssh"), err)) ||
	    (rc = pol__parse_tests(pol, json_object_get(root, "tests"), err)) ||
	    (rc = pol__parse_sshtests(pol, json_object_get(root, "sshTests"), err)))
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
					if (s && pol__starts(s, "tag:") &&
					    pol__strmap_get(&pol->tag_idx, s) < 0)
						return pol__fail(err,
								 "autoApprovers.%s[\"%s\"]: tag "
								 "\"%s\" not found",
								 k, r, s);
					if (s && pol__starts(s, "group:") &&
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
		alias_array_free(r->recorders, r->n_recorders);
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
