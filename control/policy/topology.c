/* Topology files: the users and nodes a policy is compiled against, read from JSON so
 * that `meshctl policy` can check and explain policies offline.  The format is the one the
 * conformance corpus uses (users with name and email, nodes by name with user or tags and
 * addresses), so a corpus case doubles as a topology file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/policy/internal.h"

struct pol_topology_doc {
	struct pol_topology topo;
	json_t *root; /* strings point into it */
	struct pol_user *users;
	struct pol_node *nodes;
	struct addr_ip *addrs;	    /* 2 per node */
	const char **tags;	    /* all nodes' tags, back to back */
	struct addr_prefix *routes; /* all nodes' routes, back to back */
	const char **idp;	    /* all users' oidc_groups, back to back */
	char *domain;
};

/* A user's "oidc_groups" (strings) and "oidc_login" ("2026-12-06T21:03:00Z", UTC). */
static int user_idp_parse(struct pol_topology_doc *d, size_t i, json_t *u, size_t *idp_at,
			  struct pol_error *err)
{
	struct pol_user *pu = &d->users[i];
	json_t *g = json_object_get(u, "oidc_groups"), *v;
	const char *at = json_string_value(json_object_get(u, "oidc_login"));
	size_t k;
	if (g && !json_is_array(g))
		return pol__fail(err, "topology: users[%zu].oidc_groups: must be a list", i);
	pu->idp_groups = &d->idp[*idp_at];
	json_array_foreach(g, k, v)
	{
		if (!json_is_string(v))
			return pol__fail(
			    err, "topology: users[%zu].oidc_groups[%zu]: must be a string", i, k);
		d->idp[(*idp_at)++] = json_string_value(v);
		pu->n_idp_groups++;
	}
	if (json_object_get(u, "oidc_login")) {
		struct tm tm = { 0 };
		const char *end = at ? strptime(at, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
		if (!end || *end)
			return pol__fail(err,
					 "topology: users[%zu].oidc_login: want a UTC time such as "
					 "\"2026-12-06T21:03:00Z\"",
					 i);
		pu->idp_at = (int64_t)timegm(&tm);
	}
	return 0;
}

static int node_parse(struct pol_topology_doc *d, size_t i, const char *name, json_t *n,
		      json_t *users, size_t *tag_at, size_t *route_at, struct pol_error *err)
{
	struct pol_node *nd = &d->nodes[i];
	if (!json_is_object(n))
		return pol__fail(err, "topology: nodes[\"%s\"]: must be an object", name);
	nd->name = name;
	nd->hostname = json_string_value(json_object_get(n, "hostname"));
	json_t *tags = json_object_get(n, "tags");
	nd->tags = &d->tags[*tag_at];
	size_t k;
	json_t *v;
	json_array_foreach(tags, k, v)
	{
		if (!json_is_string(v))
			return pol__fail(err, "topology: nodes[\"%s\"].tags[%zu]: must be a string",
					 name, k);
		d->tags[(*tag_at)++] = json_string_value(v);
		nd->n_tags++;
	}
	const char *user = json_string_value(json_object_get(n, "user"));
	if (user) {
		json_array_foreach(users, k, v)
		{
			const char *un = json_string_value(json_object_get(v, "name"));
			const char *em = json_string_value(json_object_get(v, "email"));
			if ((un && strcmp(un, user) == 0) || (em && strcmp(em, user) == 0))
				nd->owner = em;
		}
		if (!nd->owner)
			return pol__fail(err,
					 "topology: nodes[\"%s\"]: user \"%s\" is not in users",
					 name, user);
	}
	if (!nd->owner && !nd->n_tags)
		return pol__fail(err, "topology: nodes[\"%s\"]: needs a user or tags", name);
	nd->addrs = &d->addrs[2 * i];
	static const char *const fam[] = { "ipv4", "ipv6" };
	for (int f = 0; f < 2; f++) {
		json_t *a = json_object_get(n, fam[f]);
		if (!a || json_is_null(a))
			continue;
		if (!json_is_string(a) ||
		    !addr_ip_parse(json_string_value(a), &d->addrs[2 * i + nd->n_addrs], NULL) ||
		    d->addrs[2 * i + nd->n_addrs].family != (f ? AF_INET6 : AF_INET))
			return pol__fail(err, "topology: nodes[\"%s\"].%s: not an IPv%c address",
					 name, fam[f], f ? '6' : '4');
		nd->n_addrs++;
	}
	if (!nd->n_addrs)
		return pol__fail(err, "topology: nodes[\"%s\"]: needs ipv4 or ipv6", name);
	nd->routes = &d->routes[*route_at];
	json_array_foreach(json_object_get(n, "approved_routes"), k, v)
	{
		if (!json_is_string(v) ||
		    !addr_net_parse(json_string_value(v), &d->routes[*route_at], NULL))
			return pol__fail(err,
					 "topology: nodes[\"%s\"].approved_routes[%zu]: not a CIDR",
					 name, k);
		(*route_at)++;
		nd->n_routes++;
	}
	return 0;
}

int pol_topology_parse(const char *text, size_t len, struct pol_topology_doc **out,
		       struct pol_error *err)
{
	struct pol_error scratch;
	*out = NULL;
	json_t *root = pol__hujson_begin(text, len, &err, &scratch);
	if (!root)
		return -EINVAL;
	json_t *t = json_object_get(root, "topology") ? json_object_get(root, "topology") : root;
	json_t *users = json_object_get(t, "users"), *nodes = json_object_get(t, "nodes");
	if (!json_is_array(users) || !json_is_object(nodes)) {
		json_decref(root);
		return pol__fail(err,
				 "topology: needs \"users\" (a list) and \"nodes\" (an object)");
	}
	size_t nu = json_array_size(users), nn = json_object_size(nodes), ntags = 0, nroutes = 0;
	size_t nidp = 0, idp_at = 0;
	const char *name;
	json_t *n;
	size_t i;
	json_t *u;
	json_array_foreach(users, i, u)
	{
		nidp += json_array_size(json_object_get(u, "oidc_groups"));
	}
	json_object_foreach(nodes, name, n)
	{
		ntags += json_array_size(json_object_get(n, "tags"));
		nroutes += json_array_size(json_object_get(n, "approved_routes"));
	}
	struct pol_topology_doc *d = calloc(1, sizeof(*d));
	if (d) {
		d->root = root;
		d->users = calloc(nu + 1, sizeof(*d->users));
		d->nodes = calloc(nn + 1, sizeof(*d->nodes));
		d->addrs = calloc(2 * nn + 1, sizeof(*d->addrs));
		d->tags = calloc(ntags + 1, sizeof(*d->tags));
		d->routes = calloc(nroutes + 1, sizeof(*d->routes));
		d->idp = calloc(nidp + 1, sizeof(*d->idp));
	}
	if (!d || !d->users || !d->nodes || !d->addrs || !d->tags || !d->routes || !d->idp) {
		if (d)
			pol_topology_doc_free(d);
		else
			json_decref(root);
		return -ENOMEM;
	}
	json_array_foreach(users, i, u)
	{
		const char *em = json_string_value(json_object_get(u, "email"));
		if (!em)
			em = json_string_value(json_object_get(u, "login"));
		if (!em) {
			pol_topology_doc_free(d);
			return pol__fail(err, "topology: users[%zu]: needs \"email\"", i);
		}
		d->users[i].login = em;
		int rc = user_idp_parse(d, i, u, &idp_at, err);
		if (rc) {
			pol_topology_doc_free(d);
			return rc;
		}
	}
	size_t tag_at = 0, route_at = 0;
	i = 0;
	json_object_foreach(nodes, name, n)
	{
		int rc = node_parse(d, i++, name, n, users, &tag_at, &route_at, err);
		if (rc) {
			pol_topology_doc_free(d);
			return rc;
		}
	}
	d->topo = (struct pol_topology){ d->users, nu, d->nodes, nn };
	const char *owner = json_string_value(json_object_get(root, "tailnet_owner"));
	if (!owner)
		owner = json_string_value(json_object_get(t, "tailnet_owner"));
	if (!owner && nu)
		owner = d->users[0].login;
	if (owner && strchr(owner, '@') && !(d->domain = strdup(strchr(owner, '@') + 1))) {
		pol_topology_doc_free(d);
		return -ENOMEM;
	}
	*out = d;
	return 0;
}

const struct pol_topology *pol_topology_doc_get(const struct pol_topology_doc *doc)
{
	return &doc->topo;
}

const char *pol_topology_doc_domain(const struct pol_topology_doc *doc)
{
	return doc->domain;
}

void pol_topology_doc_free(struct pol_topology_doc *d)
{
	if (!d)
		return;
	json_decref(d->root);
	free(d->users);
	free(d->nodes);
	free(d->addrs);
	free(d->tags);
	free(d->routes);
	free(d->idp);
	free(d->domain);
	free(d);
}
