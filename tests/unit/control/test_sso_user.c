/* Who a verified sign-in is (control/server/sso_user.c), through the fuzz harness's server:
 * a sign-in for a check finds only, so a person who never signed in is refused and no user
 * is made; a first sign-in creates the user; a sign-in that brings other groups than the
 * last one stored rebuilds the maps, and the policy's oidc:eng member follows it (carol's
 * laptop may SSH to the server while the provider says eng, and not after). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "control/policy/policy.h"
#include "control/server/polglue.h"
#include "control/server/sso.h"
#include "control/server/store.h"
#include "tests/fuzz/control/srv_harness.h"

static const char policy[] =
    "{\"groups\": {\"group:eng\": [\"oidc:eng\"], \"group:admins\": [\"alice@example.com\"]},"
    " \"tagOwners\": {\"tag:server\": [\"group:admins\"]},"
    " \"acls\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"*:22\"]}],"
    " \"ssh\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:server\"],"
    "           \"users\": [\"root\"]}]}";

static struct ctl_oidc_identity carol(const char *group)
{
	struct ctl_oidc_identity id = { 0 };
	snprintf(id.iss, sizeof(id.iss), FZ_SSO_ISSUER);
	snprintf(id.sub, sizeof(id.sub), "carol-sub");
	snprintf(id.email, sizeof(id.email), "carol@example.com");
	if (group)
		snprintf(id.groups[id.ngroups++], sizeof(id.groups[0]), "%s", group);
	return id;
}

/* laptop (node index 0) -> server (1) as root, by the server's current compiled policy */
static const char *laptop_to_server(struct ctl_server *srv)
{
	struct pol_decision d;
	size_t laptop, server;
	if (pol_compiled_find_node(srv->compiled, "laptop", &laptop) ||
	    pol_compiled_find_node(srv->compiled, "server", &server))
		return "no such node";
	pol_ssh_decide(srv->compiled, laptop, server, "root", &d);
	return verdict_name(d.verdict);
}

int main(void)
{
	struct ctl_server *srv = fz_srv_open();
	struct fz_census before, after;
	struct ctl_user u, known;
	bool created = true;
	char why[256] = "", err[256] = "";
	struct ctl_oidc_identity id = carol("eng");

	/* 1 a sign-in for a check by someone who never signed in: refused, nothing made */
	fz_census(srv, &before);
	CHECK_INT(ctl__sso_user_login(srv, &id, "carol@example.com", true, 100, &u, &created, why,
				      sizeof(why)),
		  -EPERM);
	CHECK_STR(why, "you have never signed in to this tailnet, so no device here is yours and "
		       "you cannot approve its logins");
	CHECK(!created);
	fz_census(srv, &after);
	CHECK_INT(after.users, before.users);
	CHECK_INT(after.users_hash, before.users_hash);
	CHECK_INT(srv->store->ops->sso_user(srv->store, id.iss, id.sub, &known), -ENOENT);

	/* 2 her first sign-in makes her user, without eng yet; the laptop becomes hers */
	id = carol(NULL);
	CHECK_INT(ctl__sso_user_login(srv, &id, "carol@example.com", false, 100, &u, &created, why,
				      sizeof(why)),
		  0);
	CHECK(created);
	CHECK_INT(srv->store->ops->sso_user(srv->store, id.iss, id.sub, &known), 0);
	CHECK_INT(known.id, u.id);
	struct ctl__node *n = ctl__node_by_id(srv, 1);
	n->rec.user_id = u.id;
	snprintf(n->owner, sizeof(n->owner), "%s", u.login);
	char *text = strdup(policy);
	CHECK_INT(polglue_apply(srv, policy, true, err, sizeof(err)), 0);
	free(srv->policy_text);
	srv->policy_text = text;
	CHECK_STR(laptop_to_server(srv), "reject");

	/* 3 the provider puts her in eng: the next sign-in rebuilds the maps, and she may */
	uint64_t v = srv->map_version;
	id = carol("eng");
	CHECK_INT(ctl__sso_user_login(srv, &id, "carol@example.com", false, 200, &u, &created, why,
				      sizeof(why)),
		  0);
	CHECK(!created);
	CHECK_INT(srv->map_version, v + 1);
	CHECK_STR(laptop_to_server(srv), "accept");

	/* 4 the same groups again: nothing to send */
	CHECK_INT(ctl__sso_user_login(srv, &id, "carol@example.com", false, 300, &u, &created, why,
				      sizeof(why)),
		  0);
	CHECK_INT(srv->map_version, v + 1);

	/* 5 removed from eng, she signs in (for a check, as an existing user: allowed, and
	 * her groups are stored anew): maps rebuilt, refused */
	id = carol(NULL);
	CHECK_INT(ctl__sso_user_login(srv, &id, "carol@example.com", true, 400, &u, &created, why,
				      sizeof(why)),
		  0);
	CHECK_INT(srv->map_version, v + 2);
	CHECK_STR(laptop_to_server(srv), "reject");
	char *groups = NULL;
	CHECK_INT(srv->store->ops->sso_groups(srv->store, u.id, &groups), 0);
	CHECK_STR(groups, "[]");
	free(groups);

	fz_srv_close(srv);
	return check_finish();
}
