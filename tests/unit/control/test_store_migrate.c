/* `meshcontrol store migrate` (store_migrate.c): a SQLite store with rows in every table
 * (users with passwords and from an OpenID provider, auth keys with tags, nodes with tags,
 * endpoints, host keys and discovery keys, a removed node, policy history, approvals,
 * meta) copied into PostgreSQL reads back the same through every op; ids and addresses of
 * removed nodes stay retired; a copy that reads back different is rolled back naming the
 * table; a target that is not empty is refused and left as it was.
 * Runs in a cluster of its own (pg_cluster.h); exit 77 without PostgreSQL. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "check.h"
#include "control/server/ident.h"
#include "control/server/store.h"
#include "pg_cluster.h"

struct dump {
	char *buf;
	size_t len;
	FILE *f;
};

static int dump_user(void *ctx, const struct ctl_user *u)
{
	fprintf(ctx, "user %lld %s %lld\n", (long long)u->id, u->login, (long long)u->created);
	return 0;
}

static void hex(FILE *f, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
	fputc(' ', f);
}

static int dump_key(void *ctx, const struct ctl_authkey *k)
{
	FILE *f = ctx;
	fprintf(f, "key %lld %s ", (long long)k->id, k->prefix);
	hex(f, k->hash, sizeof(k->hash));
	fprintf(f, "%lld %d%d%d %lld %lld %lld", (long long)k->user_id, k->reusable, k->ephemeral,
		k->revoked, (long long)k->expires, (long long)k->created, (long long)k->uses);
	for (size_t i = 0; i < k->n_tags; i++)
		fprintf(f, " %s", k->tags[i]);
	fputc('\n', f);
	return 0;
}

static int dump_node(void *ctx, const struct ctl_node_rec *n)
{
	FILE *f = ctx;
	fprintf(f, "node %lld ", (long long)n->id);
	hex(f, n->machine_key, 32);
	hex(f, n->node_key, 32);
	hex(f, n->ipv6, 16);
	if (n->has_disco_key)
		hex(f, n->disco_key, 32);
	fprintf(f, "%lld %s %lld %08x %d %s %s %lld %lld", (long long)n->key_expiry, n->hostname,
		(long long)n->user_id, n->ipv4, n->ephemeral, n->endpoints ?: "-",
		n->ssh_host_keys ?: "-", (long long)n->created, (long long)n->last_seen);
	for (size_t i = 0; i < n->n_tags; i++)
		fprintf(f, " %s", n->tags[i]);
	fputc('\n', f);
	return 0;
}

/* Everything meshcontrol can read from s, as text. */
static char *dump(struct ctl_store *s)
{
	struct dump d = { 0 };
	d.f = open_memstream(&d.buf, &d.len);
	char v[256], *pol = NULL, *groups = NULL;
	CHECK_INT(s->ops->user_list(s, dump_user, d.f), 0);
	CHECK_INT(s->ops->authkey_list(s, dump_key, d.f), 0);
	CHECK_INT(s->ops->node_list(s, dump_node, d.f), 0);
	CHECK_INT(s->ops->policy_get(s, &pol), 0);
	fprintf(d.f, "policy %s\n", pol ?: "(none)");
	free(pol);
	const char *keys[] = { "ula48", "next_host", "admin_token_hash" };
	for (size_t i = 0; i < 3; i++) {
		int rc = s->ops->meta_get(s, keys[i], v, sizeof(v));
		fprintf(d.f, "meta %s %d %s\n", keys[i], rc, rc ? "" : v);
	}
	for (int64_t a = 1; a <= 6; a++)
		for (int64_t b = 1; b <= 6; b++) {
			struct ctl_approval ap;
			if (s->ops->approval_get(s, a, b, &ap) == 0)
				fprintf(d.f, "approval %lld %lld %lld %lld %lld\n", (long long)a,
					(long long)b, (long long)ap.user_id,
					(long long)ap.approved_at, (long long)ap.auth_at);
		}
	for (int64_t u = 1; u <= 6; u++) {
		int rc = s->ops->sso_groups(s, u, &groups);
		fprintf(d.f, "sso %lld %d %s\n", (long long)u, rc, rc ? "" : groups);
		if (!rc)
			free(groups);
	}
	fclose(d.f);
	return d.buf;
}

/* A store with rows in every table. */
static void populate(struct ctl_store *s)
{
	const char *why;
	int64_t alice, bob;
	char key[CTL_AUTHKEY_TEXT_SIZE];
	struct ctl_authkey k;
	CHECK_INT(ctl_user_create(s, "alice@example.com", "correct horse", &alice, &why), 0);
	CHECK_INT(ctl_user_create(s, "bob@example.com", "password1", &bob, &why), 0);
	const char *tags[] = { "tag:web", "tag:db" };
	CHECK_INT(ctl_authkey_create(s, alice, true, false, tags, 2, 0, key, &k), 0);
	int64_t kid = k.id;
	ctl_authkey_clear(&k);
	CHECK_INT(ctl_authkey_create(s, bob, false, true, NULL, 0, 99999, key, &k), 0);
	CHECK_INT(s->ops->authkey_revoke(s, k.prefix), 0);
	ctl_authkey_clear(&k);
	struct ctl_node_rec n1 = pg_cluster_node(1, alice), n2 = pg_cluster_node(2, 0),
			    n3 = pg_cluster_node(3, bob);
	char *ntags[] = { "tag:web" };
	n2.tags = ntags;
	n2.n_tags = 1;
	memset(n2.disco_key, 0xd2, 32);
	n2.has_disco_key = true;
	CHECK_INT(s->ops->node_register(s, &n1, kid), 0);
	CHECK_INT(s->ops->node_register(s, &n2, kid), 0);
	CHECK_INT(s->ops->node_register(s, &n3, 0), 0);
	n1.endpoints = "[\"192.0.2.1:41641\",\"[2001:db8::1]:41641\"]";
	n1.ssh_host_keys = "[\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE\"]";
	n1.last_seen = 1234;
	CHECK_INT(s->ops->node_update(s, &n1), 0);
	CHECK_INT(s->ops->node_set_expiry(s, n1.id, 777), 0);
	CHECK_INT(s->ops->node_remove(s, n3.id), 0); /* its id and address stay retired */
	struct ctl_approval a = { n1.id, n2.id, alice, 5000, 4990 };
	CHECK_INT(s->ops->approval_put(s, &a), 0);
	CHECK_INT(s->ops->policy_set(s, "{\"acls\": []}"), 0);
	CHECK_INT(s->ops->policy_set(s, "{\"acls\": [{\"action\": \"accept\"}]}"), 0);
	CHECK_INT(s->ops->meta_set(s, "admin_token_hash", "00ff"), 0);
	struct ctl_sso_login in = { "https://login.example.org", "erin-7",
				    "erin@example.org",		 "[\"ops\",\"eng\"]",
				    "erin@example.org",		 100 };
	struct ctl_user erin;
	bool created;
	CHECK_INT(s->ops->sso_login(s, &in, &erin, &created), 0);
}

static int cases(struct pg_cluster *c, void *ctx)
{
	const char *path = ctx;
	char url[512], err[1024];
	struct ctl_store *sq, *pg;
	CHECK_INT(ctl_store_open_sqlite(path, &sq, err, sizeof(err)), 0);
	populate(sq);
	char *want = dump(sq);
	sq->ops->close(sq);

	/* a copy that does not read back the same (a trigger of the target's changes each
	 * login) is rolled back, naming the table */
	CHECK_INT(pg_cluster_createdb(c, "tampered", url, sizeof(url)), 0);
	CHECK_INT(ctl_store_open(url, &pg, err, sizeof(err)), 0);
	pg->ops->close(pg);
	PGconn *conn = PQconnectdb(url);
	PGresult *r = PQexec(conn, "CREATE FUNCTION t() RETURNS trigger LANGUAGE plpgsql AS "
				   "$$BEGIN NEW.login := NEW.login || 'x'; RETURN NEW; END$$;"
				   "CREATE TRIGGER t BEFORE INSERT ON users FOR EACH ROW "
				   "EXECUTE FUNCTION t()");
	CHECK_INT(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	CHECK_INT(ctl_store_migrate(path, url, stdout, err, sizeof(err)), -EIO);
	CHECK(strncmp(err, "users differs after the copy: 3 rows (digest ", 45) == 0);
	CHECK(strstr(err, "in PostgreSQL; nothing was written") != NULL);
	printf("%s\n", err);
	r = PQexec(conn, "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM nodes) + "
			 "(SELECT COUNT(*) FROM meta WHERE key <> 'ula48')");
	CHECK_STR(PQgetvalue(r, 0, 0), "0"); /* rolled back */
	PQclear(r);
	PQfinish(conn);

	CHECK_INT(pg_cluster_createdb(c, "target", url, sizeof(url)), 0);
	char *report = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&report, &len);
	int rc = ctl_store_migrate(path, url, f, err, sizeof(err));
	fclose(f);
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "migrate: %s\n", err);
	printf("%s", report);
	CHECK(strstr(report, "users                  3 rows") != NULL);
	CHECK(strstr(report, "nodes                  2 rows") != NULL);
	CHECK(strstr(report, "policy                 2 rows") != NULL);
	CHECK(strstr(report, "sso_identities         1 rows") != NULL);
	free(report);

	CHECK_INT(ctl_store_open(url, &pg, err, sizeof(err)), 0);
	char *got = dump(pg);
	CHECK_STR(got, want);
	/* a node registered after the move gets neither a removed node's id nor its address */
	struct ctl_node_rec n4 = pg_cluster_node(4, 1);
	CHECK_INT(pg->ops->node_register(pg, &n4, 0), 0);
	CHECK_INT(n4.id, 4);
	CHECK_INT(n4.ipv4, 0x64400004);
	int64_t uid;
	const char *why;
	CHECK_INT(ctl_user_create(pg, "dave@example.com", "password1", &uid, &why), 0);
	CHECK_INT(uid, 4);
	/* the passwords came along */
	struct ctl_user u;
	CHECK_INT(ctl_user_authenticate(pg, "alice@example.com", "correct horse", &u), 0);
	pg->ops->close(pg);
	free(got);

	/* a target with data in it is refused, and left as it was */
	f = open_memstream(&report, &len);
	CHECK_INT(ctl_store_migrate(path, url, f, err, sizeof(err)), -EEXIST);
	fclose(f);
	CHECK_STR(err, "the target database is not empty (users has 4 rows): migrate into a new "
		       "database");
	CHECK_STR(report, "");
	free(report);
	CHECK_INT(ctl_store_open(url, &pg, err, sizeof(err)), 0);
	CHECK_INT(ctl_user_authenticate(pg, "dave@example.com", "password1", &u), 0);
	pg->ops->close(pg);
	free(want);
	return check_finish();
}

int main(void)
{
	char dir[] = "/tmp/ctl-migrate-XXXXXX", path[256], why[256] = "", cmd[300];
	struct pg_cluster c;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/state.db", dir);
	int rc = pg_cluster_run(&c, cases, path, why, sizeof(why));
	if (why[0])
		printf("%s\n", why);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
