/* The store and identity layer, on SQLite (`test-control-store sqlite`) and PostgreSQL
 * (`... postgres`, in a cluster of its own, pg_cluster.h; exit 77 without PostgreSQL): the
 * same cases on both (common_cases): users (Argon2id), auth keys (single-use, reusable,
 * expired, revoked), registration atomicity and address allocation, approvals, policy,
 * discovery keys (kept when a registration or update carries none), people from an OpenID
 * provider by (iss, sub), tags as rows (sorted lists, their bounds), and that all of it
 * survives reopening.  SQLite's own: databases of schema 4 or 2 migrate (the "tag:a,tag:b"
 * text split into rows), a newer one is refused.  PostgreSQL's own: replicas opening a new
 * database at once migrate it once, a newer schema is refused, a lost connection, bad URLs
 * and a password kept out of messages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "check.h"
#include "control/server/ident.h"
#include "control/server/store.h"
#include "pg_cluster.h"

static int count_nodes(void *ctx, const struct ctl_node_rec *n)
{
	(*(int *)ctx)++;
	return 0;
}

static int count_users(void *ctx, const struct ctl_user *u)
{
	(void)u;
	(*(size_t *)ctx)++;
	return 0;
}

struct sso_seen {
	size_t n;
	int64_t user_id, at;
	char groups[64];
};

static int list_sso(void *ctx, const struct ctl_sso_member *m)
{
	struct sso_seen *s = ctx;
	s->n++;
	s->user_id = m->user_id;
	s->at = m->at;
	snprintf(s->groups, sizeof(s->groups), "%s", m->groups);
	return 0;
}

static int count_keys(void *ctx, const struct ctl_authkey *k)
{
	(*(int *)ctx)++;
	return 0;
}

/* The tags of the node of machine key seed, as "tag:a,tag:b" ("-" when it has none). */
static const char *node_tags(struct ctl_store *s, uint8_t seed)
{
	static char out[512];
	uint8_t mkey[32];
	struct ctl_node_rec n;
	memset(mkey, seed, 32);
	if (s->ops->node_by_machine(s, mkey, &n) != 0)
		return "absent";
	snprintf(out, sizeof(out), "-");
	for (size_t i = 0; i < n.n_tags; i++)
		snprintf(out + (i ? strlen(out) : 0), sizeof(out) - (i ? strlen(out) : 0), "%s%s",
			 i ? "," : "", n.tags[i]);
	ctl_node_rec_clear(&n);
	return out;
}

/* Each key (those left when schema 4 was faked) has the one tag its text had. */
static int check_key_tags(void *ctx, const struct ctl_authkey *k)
{
	CHECK_INT(k->n_tags, 1);
	CHECK_STR(k->n_tags ? k->tags[0] : "", "tag:server");
	(*(int *)ctx)++;
	return 0;
}

static struct ctl_node_rec mknode(uint8_t seed)
{
	struct ctl_node_rec n;
	memset(&n, 0, sizeof(n));
	memset(n.machine_key, seed, 32);
	memset(n.node_key, seed + 100, 32);
	snprintf(n.hostname, sizeof(n.hostname), "host%u", seed);
	return n;
}

/* The cases both backends pass, on a new store at url (sqlite:PATH or postgres://...);
 * *n4_id gets the id of the last node registered. */
static void common_cases(const char *url, int64_t *n4_id)
{
	char err[512] = "";
	struct ctl_store *s;
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "%s: %s\n", url, err);

	const char *why = NULL;
	int64_t alice, bob;
	CHECK_INT(ctl_user_create(s, "alice@example.com", "correct horse", &alice, &why), 0);
	CHECK_INT(ctl_user_create(s, "alice@example.com", "another pw", &bob, &why), -EEXIST);
	CHECK_STR(why, "a user with this login already exists");
	CHECK_INT(ctl_user_create(s, "Bob", "password1", &bob, &why), -EINVAL);
	CHECK_STR(why, "login must look like name@domain");
	CHECK_INT(ctl_user_create(s, "bob@example.com", "short", &bob, &why), -EINVAL);
	CHECK_STR(why, "password must be at least 8 characters");
	CHECK_INT(ctl_user_create(s, "bob@example.com", "password1", &bob, &why), 0);

	struct ctl_user u;
	CHECK_INT(ctl_user_authenticate(s, "alice@example.com", "correct horse", &u), 0);
	CHECK_INT(u.id, alice);
	CHECK_INT(ctl_user_authenticate(s, "alice@example.com", "wrong horse", &u), -EACCES);
	CHECK_INT(ctl_user_authenticate(s, "nobody@example.com", "correct horse", &u), -EACCES);
	char hash[CTL_PWHASH_SIZE];
	CHECK_INT(ctl_password_hash("x", hash), 0);
	CHECK(strncmp(hash, "$argon2id$", 10) == 0);

	/* single-use key: first registration works, the second is refused, nothing written */
	char key[CTL_AUTHKEY_TEXT_SIZE];
	struct ctl_authkey k, k2;
	CHECK_INT(ctl_authkey_create(s, alice, false, false, NULL, 0, 0, key, &k), 0);
	CHECK_INT(strlen(key), CTL_AUTHKEY_TEXT_SIZE - 1);
	CHECK_INT(ctl_authkey_check(s, key, 1000, &k2, &why), 0);
	CHECK_INT(k2.n_tags, 0);
	struct ctl_node_rec n1 = mknode(1), n2 = mknode(2);
	n1.user_id = alice;
	CHECK_INT(s->ops->node_register(s, &n1, k2.id), 0);
	CHECK_INT(n1.ipv4, 0x64400001);
	CHECK_INT(n1.ipv6[0], 0xfd);
	CHECK_INT(n1.ipv6[15], 1);
	CHECK_INT(ctl_authkey_check(s, key, 1000, &k2, &why), -EKEYREVOKED);
	CHECK_STR(why, "auth key was single-use and has already been used");
	n2.user_id = alice;
	CHECK_INT(s->ops->node_register(s, &n2, k2.id), -EKEYREVOKED);
	int count = 0;
	CHECK_INT(s->ops->node_list(s, count_nodes, &count), 0);
	CHECK_INT(count, 1);

	/* a wrong secret with a right prefix, a malformed key, an expired and a revoked key */
	char bad[CTL_AUTHKEY_TEXT_SIZE];
	memcpy(bad, key, sizeof(bad));
	bad[CTL_AUTHKEY_TEXT_SIZE - 2] = bad[CTL_AUTHKEY_TEXT_SIZE - 2] == 'a' ? 'b' : 'a';
	CHECK_INT(ctl_authkey_check(s, bad, 1000, &k2, &why), -EKEYREJECTED);
	CHECK_STR(why, "auth key is not valid");
	CHECK_INT(ctl_authkey_check(s, "tskey-123", 1000, &k2, &why), -EKEYREJECTED);
	CHECK_STR(why, "auth key is malformed (expected mskey-<prefix>-<secret>)");
	const char *const server_tags[] = { "tag:web", "tag:server", "tag:web" };
	CHECK_INT(ctl_authkey_create(s, alice, true, true, server_tags, 3, 2000, key, &k), 0);
	ctl_authkey_clear(&k);
	CHECK_INT(ctl_authkey_check(s, key, 1999, &k2, &why), 0);
	CHECK(k2.reusable && k2.ephemeral);
	CHECK_INT(k2.n_tags, 2); /* sorted, the repeat stored once */
	CHECK_STR(k2.tags[0], "tag:server");
	CHECK_STR(k2.tags[1], "tag:web");
	ctl_authkey_clear(&k2);
	CHECK_INT(ctl_authkey_check(s, key, 2000, &k2, &why), -EKEYEXPIRED);
	CHECK_STR(why, "auth key has expired");
	CHECK(k2.tags == NULL && k2.n_tags == 0); /* a refused key owns nothing */

	CHECK_INT(ctl_authkey_create(s, bob, true, false, NULL, 0, 0, key, &k), 0);
	CHECK_INT(s->ops->node_register(s, &n2, k.id), 0);
	CHECK_INT(n2.ipv4, 0x64400002);
	n2.user_id = bob;
	CHECK_INT(s->ops->node_register(s, &n2, k.id), 0); /* reusable; same machine: update */
	CHECK_INT(n2.ipv4, 0x64400002);
	/* a node's tags: stored sorted without repeats, replaced by a registration */
	char *web_db[] = { "tag:web", "tag:db", "tag:web" }, *x[] = { "tag:x" };
	CHECK_STR(node_tags(s, 2), "-");
	n2.tags = x;
	n2.n_tags = 1;
	CHECK_INT(s->ops->node_register(s, &n2, 0), 0);
	CHECK_STR(node_tags(s, 2), "tag:x");
	n2.tags = web_db;
	n2.n_tags = 3;
	CHECK_INT(s->ops->node_register(s, &n2, 0), 0);
	CHECK_STR(node_tags(s, 2), "tag:db,tag:web");
	n2.tags = NULL;
	n2.n_tags = 0;
	CHECK_INT(s->ops->authkey_revoke(s, k.prefix), 0);
	ctl_authkey_clear(&k);
	CHECK_INT(ctl_authkey_check(s, key, 1000, &k2, &why), -EKEYREVOKED);
	CHECK_STR(why, "auth key has been revoked");
	CHECK_INT(s->ops->authkey_revoke(s, "nope"), -ENOENT);

	/* the bounds on a list (store.h), refused before anything is written */
	char *many[CTL_TAGS_COUNT_MAX + 1], long_tag[CTL_TAG_LEN_MAX + 2];
	for (int i = 0; i <= CTL_TAGS_COUNT_MAX; i++) {
		many[i] = malloc(16);
		snprintf(many[i], 16, "tag:t%d", i);
	}
	memset(long_tag, 'x', sizeof(long_tag) - 1);
	long_tag[sizeof(long_tag) - 1] = '\0';
	memcpy(long_tag, "tag:", 4);
	const char *one_long[] = { long_tag }, *one_empty[] = { "" };
	count = 0;
	CHECK_INT(s->ops->authkey_list(s, count_keys, &count), 0);
	CHECK_INT(count, 3);
	CHECK_INT(ctl_authkey_create(s, bob, true, false, (const char *const *)many,
				     CTL_TAGS_COUNT_MAX + 1, 0, key, &k),
		  -E2BIG);
	ctl_authkey_clear(&k);
	CHECK_INT(ctl_authkey_create(s, bob, true, false, one_long, 1, 0, key, &k), -EINVAL);
	ctl_authkey_clear(&k);
	count = 0;
	CHECK_INT(s->ops->authkey_list(s, count_keys, &count), 0);
	CHECK_INT(count, 3);
	struct ctl_node_rec bounded = mknode(9);
	bounded.user_id = bob;
	bounded.tags = many;
	bounded.n_tags = CTL_TAGS_COUNT_MAX + 1;
	CHECK_INT(s->ops->node_register(s, &bounded, 0), -E2BIG);
	bounded.n_tags = CTL_TAGS_COUNT_MAX; /* exactly the bound is fine */
	CHECK_INT(s->ops->node_register(s, &bounded, 0), 0);
	CHECK_INT(s->ops->node_remove(s, bounded.id), 0);
	bounded.tags = (char **)one_long;
	bounded.n_tags = 1;
	CHECK_INT(s->ops->node_register(s, &bounded, 0), -EINVAL);
	long_tag[CTL_TAG_LEN_MAX] = '\0'; /* exactly the bound is fine */
	CHECK_INT(s->ops->node_register(s, &bounded, 0), 0);
	CHECK_INT(s->ops->node_remove(s, bounded.id), 0);
	bounded.tags = (char **)one_empty;
	CHECK_INT(s->ops->node_register(s, &bounded, 0), -EINVAL);
	CHECK_STR(node_tags(s, 9), "absent");
	for (int i = 0; i <= CTL_TAGS_COUNT_MAX; i++)
		free(many[i]);

	/* endpoints, approvals, policy */
	n1.endpoints = strdup("[\"192.0.2.1:41641\"]");
	n1.last_seen = 1234;
	memset(n1.disco_key, 0xd1, 32);
	n1.has_disco_key = true;
	CHECK_INT(s->ops->node_update(s, &n1), 0);
	n1.has_disco_key = false; /* an update without one keeps it */
	CHECK_INT(s->ops->node_update(s, &n1), 0);
	ctl_node_rec_clear(&n1);
	struct ctl_approval a = { .src_node = n1.id,
				  .dst_node = n2.id,
				  .user_id = alice,
				  .approved_at = 5000,
				  .auth_at = 4990 };
	CHECK_INT(s->ops->approval_put(s, &a), 0);
	char *pol = NULL;
	CHECK_INT(s->ops->policy_get(s, &pol), 0);
	CHECK(pol == NULL);
	CHECK_INT(s->ops->policy_set(s, "{\"acls\": []}"), 0);
	s->ops->close(s);

	/* reopen: everything is still there, the schema is not migrated twice */
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), 0);
	struct ctl_node_rec got;
	CHECK_INT(s->ops->node_by_machine(s, n1.machine_key, &got), 0);
	CHECK_STR(got.endpoints, "[\"192.0.2.1:41641\"]");
	CHECK_INT(got.last_seen, 1234);
	CHECK_STR(got.hostname, "host1");
	CHECK(got.has_disco_key);
	CHECK_INT(got.disco_key[31], 0xd1);
	ctl_node_rec_clear(&got);
	/* one node by its id (a replica hearing "node:ID"): the same record, with its tags */
	CHECK_INT(s->ops->node_get(s, n1.id, &got), 0);
	CHECK_INT(got.id, n1.id);
	CHECK_STR(got.hostname, "host1");
	CHECK_STR(got.endpoints, "[\"192.0.2.1:41641\"]");
	CHECK_INT(got.disco_key[31], 0xd1);
	ctl_node_rec_clear(&got);
	CHECK_INT(s->ops->node_get(s, n2.id, &got), 0);
	CHECK_INT(got.n_tags, 2);
	CHECK_STR(got.tags[1], "tag:web");
	ctl_node_rec_clear(&got);
	CHECK_INT(s->ops->node_get(s, 999999, &got), -ENOENT);
	/* a registration of the known machine without a discovery key keeps it (and says so) */
	struct ctl_node_rec again = mknode(1);
	again.user_id = alice;
	CHECK_INT(s->ops->node_register(s, &again, 0), 0);
	CHECK(again.has_disco_key);
	CHECK_INT(again.disco_key[0], 0xd1);
	CHECK_INT(s->ops->node_by_machine(s, n1.machine_key, &got), 0);
	CHECK(got.has_disco_key);
	ctl_node_rec_clear(&got);
	/* ... and one with a new key replaces it */
	memset(again.disco_key, 0xd2, 32);
	CHECK_INT(s->ops->node_register(s, &again, 0), 0);
	CHECK_INT(s->ops->node_by_machine(s, n1.machine_key, &got), 0);
	CHECK_INT(got.disco_key[5], 0xd2);
	ctl_node_rec_clear(&got);
	struct ctl_approval b;
	CHECK_INT(s->ops->approval_get(s, n1.id, n2.id, &b), 0);
	CHECK_INT(b.approved_at, 5000);
	CHECK_INT(b.auth_at, 4990); /* when the approver authenticated for it (schema 2) */
	CHECK_STR(node_tags(s, 2), "tag:db,tag:web"); /* and so are the tags */
	CHECK(ctl_store_schema_version() >= 8);	      /* migrations are appended: no exact number */
	CHECK_INT(s->ops->approval_get(s, n2.id, n1.id, &b), -ENOENT);
	CHECK_INT(s->ops->policy_get(s, &pol), 0);
	CHECK_STR(pol, "{\"acls\": []}");
	free(pol);
	/* single sign-on: the first login makes a user without a password, later ones find it
	 * by (iss, sub) whatever the email says, and store the groups anew */
	struct ctl_sso_login in = { .iss = "https://idp.example.com",
				    .sub = "c-1",
				    .email = "carol@example.com",
				    .groups = "[\"eng\"]",
				    .login = "carol@example.com",
				    .now = 100 };
	bool created = false;
	char *groups = NULL;
	struct ctl_user carol, again_u;
	CHECK_INT(s->ops->sso_login(s, &in, &carol, &created), 0);
	CHECK(created);
	CHECK_STR(carol.login, "carol@example.com");
	in.email = "carol@other.example";
	in.groups = "[]";
	in.login = "carol@other.example";
	CHECK_INT(s->ops->sso_login(s, &in, &again_u, &created), 0);
	CHECK(!created);
	CHECK_INT(again_u.id, carol.id);
	CHECK_STR(again_u.login, "carol@example.com");
	CHECK_INT(s->ops->sso_groups(s, carol.id, &groups), 0);
	CHECK_STR(groups, "[]");
	free(groups);
	CHECK_INT(s->ops->sso_groups(s, bob, &groups), -ENOENT);
	/* finding only: a known (iss, sub) gives its user, an unknown one nothing, and makes
	 * nothing (a sign-in for a check) */
	CHECK_INT(s->ops->sso_user(s, in.iss, "c-1", &again_u), 0);
	CHECK_INT(again_u.id, carol.id);
	CHECK_STR(again_u.login, "carol@example.com");
	size_t users_before = 0, users_after = 0;
	CHECK_INT(s->ops->user_list(s, count_users, &users_before), 0);
	CHECK_INT(s->ops->sso_user(s, in.iss, "nobody", &again_u), -ENOENT);
	CHECK_INT(s->ops->sso_user(s, "https://other-idp.example.com", "c-1", &again_u), -ENOENT);
	CHECK_INT(s->ops->user_list(s, count_users, &users_after), 0);
	CHECK_INT(users_after, users_before);
	/* every SSO user's groups and last login, for the policy */
	struct sso_seen seen = { 0 };
	CHECK_INT(s->ops->sso_list(s, list_sso, &seen), 0);
	CHECK_INT(seen.n, 1);
	CHECK_INT(seen.user_id, carol.id);
	CHECK_STR(seen.groups, "[]");
	CHECK_INT(seen.at, 100);
	/* the same sub at another issuer is someone else; a login taken is refused, unwritten */
	in.iss = "https://other-idp.example.com";
	in.login = "bob@example.com";
	CHECK_INT(s->ops->sso_login(s, &in, &again_u, &created), -EEXIST);
	CHECK(!created);
	in.login = "carol2@example.com";
	CHECK_INT(s->ops->sso_login(s, &in, &again_u, &created), 0);
	CHECK(created && again_u.id != carol.id);
	/* removing the user forgets the identity: the next login is a new user */
	CHECK_INT(s->ops->user_remove(s, "carol@example.com", NULL, NULL), 0);
	CHECK_INT(s->ops->sso_groups(s, carol.id, &groups), -ENOENT);
	in.iss = "https://idp.example.com";
	in.login = "carol@example.com";
	CHECK_INT(s->ops->sso_login(s, &in, &again_u, &created), 0);
	CHECK(created && again_u.id != carol.id);
	/* removing a user removes their nodes and approvals */
	count = 0;
	CHECK_INT(s->ops->user_remove(s, "alice@example.com", count_nodes, &count), 0);
	CHECK_INT(count, 1);
	CHECK_INT(s->ops->approval_get(s, n1.id, n2.id, &b), -ENOENT);
	CHECK_INT(s->ops->node_by_machine(s, n1.machine_key, &got), -ENOENT);
	CHECK_INT(s->ops->user_remove(s, "alice@example.com", NULL, NULL), -ENOENT);
	/* ids and addresses of removed nodes are never handed out again */
	struct ctl_node_rec n3 = mknode(3), n4 = mknode(4);
	n3.user_id = n4.user_id = bob;
	CHECK_INT(s->ops->node_register(s, &n3, 0), 0);
	CHECK_INT(s->ops->node_remove(s, n3.id), 0);
	CHECK_INT(s->ops->node_register(s, &n4, 0), 0);
	CHECK(n4.id > n3.id);
	CHECK(n4.ipv4 > n3.ipv4);
	CHECK(memcmp(n4.ipv6, n3.ipv6, 16) != 0);
	*n4_id = n4.id;
	s->ops->close(s);
}

/* SQLite's own: databases of older schemas (made with the sqlite3 shell) migrate, one from a
 * newer meshcontrol is refused. */
static void sqlite_cases(const char *path, int64_t n4_id)
{
	char err[512] = "";
	struct ctl_store *s;
	struct ctl_node_rec got, n4 = mknode(4);
	int count;

	/* a database of schema 4 (tags as "tag:a,tag:b" text) migrates: the text becomes
	 * rows, "" none; a node's or key's rows go with it */
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 %s 'DROP TABLE node_tags; DROP TABLE authkey_tags; "
		 "ALTER TABLE nodes ADD COLUMN tags TEXT NOT NULL DEFAULT \"\"; "
		 "ALTER TABLE authkeys ADD COLUMN tags TEXT NOT NULL DEFAULT \"\"; "
		 "UPDATE nodes SET tags = \"tag:a,tag:b-1,tag:c_2\" WHERE id = %lld; "
		 "UPDATE authkeys SET tags = \"tag:server\"; "
		 "PRAGMA user_version = 4' 2>/dev/null",
		 path, (long long)n4_id);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(ctl_store_open_sqlite(path, &s, err, sizeof(err)), 0);
	CHECK_STR(node_tags(s, 4), "tag:a,tag:b-1,tag:c_2");
	CHECK_STR(node_tags(s, 2), "-");
	count = 0;
	CHECK_INT(s->ops->authkey_list(s, check_key_tags, &count), 0);
	CHECK_INT(count, 1); /* bob's: alice's went with her */
	CHECK_INT(s->ops->node_remove(s, n4_id), 0);
	CHECK_INT(s->ops->node_register(s, &n4, 0), 0); /* the same machine anew: no tags */
	CHECK_STR(node_tags(s, 4), "-");
	s->ops->close(s);

	/* a database of schema 2 (before discovery keys) migrates: its nodes have none, and can
	 * be given one */
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 %s 'ALTER TABLE nodes DROP COLUMN disco_key; "
		 "DROP TABLE sso_identities; DROP TABLE node_tags; DROP TABLE authkey_tags; "
		 "ALTER TABLE nodes ADD COLUMN tags TEXT NOT NULL DEFAULT \"\"; "
		 "ALTER TABLE authkeys ADD COLUMN tags TEXT NOT NULL DEFAULT \"\"; "
		 "PRAGMA user_version = 2' 2>/dev/null",
		 path);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(ctl_store_open_sqlite(path, &s, err, sizeof(err)), 0);
	CHECK_INT(s->ops->node_by_machine(s, n4.machine_key, &got), 0);
	CHECK(!got.has_disco_key);
	memset(got.disco_key, 0xd4, 32);
	got.has_disco_key = true;
	CHECK_INT(s->ops->node_update(s, &got), 0);
	ctl_node_rec_clear(&got);
	CHECK_INT(s->ops->node_by_machine(s, n4.machine_key, &got), 0);
	CHECK(got.has_disco_key && got.disco_key[0] == 0xd4);
	ctl_node_rec_clear(&got);
	s->ops->close(s);

	/* a database from a newer meshcontrol is refused with a message */
	snprintf(cmd, sizeof(cmd), "sqlite3 %s 'PRAGMA user_version = 99' 2>/dev/null", path);
	if (system(cmd) == 0) {
		CHECK_INT(ctl_store_open_sqlite(path, &s, err, sizeof(err)), -EPROTO);
		CHECK(strstr(err, "schema version 99") != NULL);
	}
}

/* One statement on url's database from a connection of the test's own; the first value of
 * its result (or "") into out. */
static void pg_sql(const char *url, const char *sql, char *out, size_t outlen)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	CHECK(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	if (out)
		snprintf(out, outlen, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	PQfinish(c);
}

/* The server ends every other connection to url's database (as a restart or a failover). */
static void pg_drop_others(const char *url)
{
	pg_sql(url,
	       "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
	       "current_database() AND pid <> pg_backend_pid()",
	       NULL, 0);
}

/* PostgreSQL's own: replicas starting together migrate once, a newer schema is refused, a
 * lost connection is reconnected (and the op run again only when that is safe), bad URLs are
 * refused with the reason and a password never shows. */
static void pg_own_cases(struct pg_cluster *c, const char *common_url)
{
	char url[512], err[512], out[64];
	struct ctl_store *s;
	CHECK_INT(pg_cluster_createdb(c, "fresh", url, sizeof(url)), 0);
	pid_t kids[4];
	for (int i = 0; i < 4; i++)
		if ((kids[i] = fork()) == 0) {
			int rc = ctl_store_open(url, &s, err, sizeof(err));
			if (rc)
				fprintf(stderr, "replica %d: %s\n", i, err);
			else
				s->ops->close(s);
			_exit(rc ? 1 : 0);
		}
	for (int i = 0; i < 4; i++) {
		int status = -1;
		CHECK_INT(waitpid(kids[i], &status, 0), kids[i]);
		CHECK_INT(status, 0); /* each replica opened it */
	}
	char want[128];
	pg_sql(url, "SELECT version FROM schema_version", out, sizeof(out));
	snprintf(want, sizeof(want), "%d", ctl_store_schema_version());
	CHECK_STR(out, want);
	pg_sql(url, "SELECT COUNT(*) FROM meta WHERE key = 'ula48'", out, sizeof(out));
	CHECK_STR(out, "1"); /* migrated once: one tailnet prefix */
	pg_sql(url, "SELECT COUNT(*) FROM schema_version", out, sizeof(out));
	CHECK_STR(out, "1");

	pg_sql(url, "UPDATE schema_version SET version = 99", NULL, 0);
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), -EPROTO);
	snprintf(want, sizeof(want),
		 "the database has schema version 99, newer than this meshcontrol (%d)",
		 ctl_store_schema_version());
	CHECK_STR(err, want);

	/* the connection lost between ops: reads and transactions not yet committed run again */
	char *pol = NULL;
	CHECK_INT(ctl_store_open(common_url, &s, err, sizeof(err)), 0);
	pg_drop_others(common_url);
	CHECK_INT(s->ops->policy_get(s, &pol), 0);
	CHECK_STR(pol, "{\"acls\": []}");
	free(pol);
	pg_drop_others(common_url);
	struct ctl_node_rec n = mknode(42);
	CHECK_INT(s->ops->node_register(s, &n, 0), 0);
	pg_drop_others(common_url);
	CHECK_INT(s->ops->meta_set(s, "k", "v"), 0); /* idempotent */
	/* ... a single write that may have happened is not: the caller hears -EPIPE */
	pg_drop_others(common_url);
	CHECK_INT(s->ops->node_remove(s, n.id), -EPIPE);
	CHECK_INT(s->ops->node_remove(s, n.id), 0); /* the next op reconnects */
	s->ops->close(s);

	/* bad URLs, the password never in a message */
	CHECK_INT(ctl_store_open("mysql://u:pw@h/db", &s, err, sizeof(err)), -EINVAL);
	CHECK_STR(
	    err,
	    "'mysql://u:***@h/db' is not a store URL (expected sqlite:PATH or postgres://...)");
	CHECK_INT(ctl_store_open("postgres://mesh:hunter2@h/db?bogus=1", &s, err, sizeof(err)),
		  -EINVAL);
	CHECK_STR(err, "'postgres://mesh:***@h/db?bogus=1' is not a PostgreSQL URL: invalid URI "
		       "query parameter: \"bogus\"");
	CHECK_INT(ctl_store_open("postgres://mesh:hun%zzter@h/db", &s, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "'postgres://mesh:***@h/db' is not a PostgreSQL URL: invalid "
		       "percent-encoded token: \"***\"");
	snprintf(url, sizeof(url), "postgres://mesh:hunter2@/nodb?host=%s&port=%d&password=s3cr3t",
		 c->dir, c->port);
	CHECK_INT(ctl_store_open(url, &s, err, sizeof(err)), -EIO);
	CHECK(strstr(err, "hunter2") == NULL && strstr(err, "s3cr3t") == NULL);
	CHECK(strncmp(err, "postgres://mesh:***@/nodb?host=", 31) == 0);
	printf("%s\n", err);
	CHECK(strstr(err, "password=***: ") != NULL);
	CHECK(strstr(err, "database \"nodb\" does not exist") != NULL);
}

static int pg_cases(struct pg_cluster *c, void *ctx)
{
	char url[512];
	int64_t n4_id;
	(void)ctx;
	CHECK_INT(pg_cluster_createdb(c, "common", url, sizeof(url)), 0);
	common_cases(url, &n4_id);
	pg_own_cases(c, url);
	fprintf(stderr, "PostgreSQL: ");
	return check_finish();
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "postgres") == 0)
		return pg_cluster_main(pg_cases, NULL);
	char dir[] = "/tmp/ctl-store-XXXXXX", path[256], url[300], cmd[300];
	int64_t n4_id = 0;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/state.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	common_cases(url, &n4_id);
	sqlite_cases(path, n4_id);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_finish();
}
