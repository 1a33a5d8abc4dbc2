/* The audit log in the store and `meshcontrol audit verify`, on SQLite (`test-control-audit-
 * store sqlite`) and PostgreSQL (`... postgres`, a cluster of the test's own, pg_cluster.h;
 * exit 77 without PostgreSQL): the same cases on both.  Appends chain rows 1, 2, 3 ...; a
 * node's events already held are skipped and its highest seq returned; the filters; two
 * processes appending at once leave one unbroken chain; the table refuses UPDATE and
 * DELETE; and with those triggers dropped (someone with the database), a row edited, a row
 * deleted, a filtered column changed and a tail cut off (with the head recorded before) are
 * each named by verify. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>
#include <sqlite3.h>

#include "check.h"
#include "control/server/audit.h"
#include "control/server/store.h"
#include "pg_cluster.h"

/* A fresh database's URL for case name (sqlite: a file; postgres: a database). */
struct backend {
	const char *kind;
	char dir[64];
	struct pg_cluster *pg;
};

static void fresh(struct backend *b, const char *name, char *url, size_t len)
{
	if (b->pg)
		CHECK_INT(pg_cluster_createdb(b->pg, name, url, len), 0);
	else
		snprintf(url, len, "sqlite:%s/%s.db", b->dir, name);
}

/* Run sql on the database behind url, as someone holding the database would: 0 or -1. */
static int raw_sql(const char *url, const char *sql)
{
	if (strncmp(url, "sqlite:", 7) == 0) {
		sqlite3 *db;
		int rc = sqlite3_open(url + 7, &db) == SQLITE_OK &&
				 sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
			     ? 0
			     : -1;
		sqlite3_close(db);
		return rc;
	}
	PGconn *c = PQconnectdb(url);
	PGresult *r = PQexec(c, sql);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
	PQclear(r);
	PQfinish(c);
	return rc;
}

static struct ctl_store *open_store(const char *url)
{
	struct ctl_store *s = NULL;
	char err[256];
	int rc = ctl_store_open(url, &s, err, sizeof(err));
	if (rc)
		fprintf(stderr, "open %s: %s\n", url, err);
	CHECK_INT(rc, 0);
	return s;
}

/* Bodies made for records, freed at the end. */
static char *bodies[64];
static size_t n_bodies;

/* A record as control makes it (audit.h's body): a node's event when seq > 0 (who is
 * its "who"), else control's own (who is its actor). */
static struct ctl_audit_rec mk(int64_t received, int64_t node_id, int64_t seq, const char *type,
			       const char *node, const char *who)
{
	struct ctl_audit_event e = { .seq = seq, .time = received, .type = type };
	if (seq)
		e.str[CTL_AUDIT_WHO] = who;
	char *body = ctl_audit_body(&e, received, node, node_id, seq ? "" : who, "192.0.2.1");
	CHECK(body != NULL && n_bodies < sizeof(bodies) / sizeof(bodies[0]));
	bodies[n_bodies++] = body;
	return (struct ctl_audit_rec){ .received_ms = received,
				       .node_id = node_id,
				       .node_seq = seq,
				       .type = type,
				       .node = node,
				       .who = who,
				       .body = body };
}

/* n control events "admin.policy.set" by "admin token", received at 1000 * i. */
static void append_control(struct ctl_store *s, int n)
{
	for (int i = 1; i <= n; i++) {
		struct ctl_audit_rec r = mk(1000 * i, 0, 0, "admin.policy.set", "", "admin token");
		CHECK_INT(s->ops->audit_append(s, &r, 1, 0, NULL, NULL), 0);
	}
	while (n_bodies)
		free(bodies[--n_bodies]);
}

static int verify(struct ctl_store *s, const char *head, char *out, size_t len)
{
	char err[256] = "";
	FILE *f = fmemopen(out, len, "w");
	int rc = ctl_audit_verify(s, head, f, err, sizeof(err));
	fclose(f);
	if (rc)
		snprintf(out, len, "%s", err);
	return rc;
}

static char *head_hex(struct ctl_store *s, char hex[65])
{
	int64_t id;
	uint8_t h[CTL_AUDIT_HASH_LEN];
	CHECK_INT(s->ops->audit_head(s, &id, h), 0);
	sodium_bin2hex(hex, 65, h, sizeof(h));
	return hex;
}

struct seen {
	int n;
	int64_t ids[16];
};

static int collect(void *ctx, const struct ctl_audit_rec *r)
{
	struct seen *s = ctx;
	if (s->n < 16)
		s->ids[s->n] = r->id;
	s->n++;
	return 0;
}

static void append_and_list(struct backend *b)
{
	char url[512], out[256], hex[65], want[256];
	fresh(b, "append", url, sizeof(url));
	struct ctl_store *s = open_store(url);
	CHECK_INT(verify(s, NULL, out, sizeof(out)), 0);
	CHECK_STR(out, "0 rows checked, head none\n");
	append_control(s, 2);
	/* node 7's seqs 1..3 with a gap notice of control's own in the same batch */
	struct ctl_audit_rec r[4] = {
		mk(5000, 7, 1, "ssh.accept", "srv", "alice@example.com"),
		mk(5000, 7, 2, "ssh.refuse", "srv", "bob@example.com"),
		mk(5000, 7, 0, "audit.gap", "srv", ""),
		mk(6000, 7, 5, "ssh.session.end", "srv", "alice@example.com"),
	};
	int64_t held = -1;
	CHECK_INT(s->ops->audit_append(s, r, 4, 7, NULL, &held), 0);
	CHECK_INT(held, 5);
	CHECK_INT(r[0].id, 3);
	CHECK_INT(r[3].id, 6);
	/* redelivered after a crash before the ack: skipped; a new one after them stored */
	struct ctl_audit_rec again[2] = { r[3], mk(6000, 7, 6, "ssh.session.end", "srv",
						   "alice@example.com") };
	CHECK_INT(s->ops->audit_append(s, again, 2, 7, "", &held), 0);
	CHECK_INT(again[0].id, 0);
	CHECK_INT(again[1].id, 7);
	CHECK_INT(held, 6);
	CHECK_INT(s->ops->audit_append(s, NULL, 0, 8, NULL, &held), 0);
	CHECK_INT(held, 0);

	struct seen seen = { 0 };
	struct ctl_audit_filter f = { .type = "ssh" };
	CHECK_INT(s->ops->audit_list(s, &f, collect, &seen), 0);
	CHECK_INT(seen.n, 4); /* ssh.* (not "audit.gap") */
	seen.n = 0;
	f = (struct ctl_audit_filter){ .type = "ssh.refuse" };
	CHECK_INT(s->ops->audit_list(s, &f, collect, &seen), 0);
	CHECK_INT(seen.n, 1);
	CHECK_INT(seen.ids[0], 4);
	seen.n = 0;
	f = (struct ctl_audit_filter){ .type = "ss" }; /* a prefix ends at a dot */
	CHECK_INT(s->ops->audit_list(s, &f, collect, &seen), 0);
	CHECK_INT(seen.n, 0);
	f = (struct ctl_audit_filter){ .who = "alice@example.com", .after = 3, .limit = 1 };
	CHECK_INT(s->ops->audit_list(s, &f, collect, &seen), 0);
	CHECK_INT(seen.n, 1);
	CHECK_INT(seen.ids[0], 6);
	seen.n = 0;
	f = (struct ctl_audit_filter){ .since_ms = 2000, .until_ms = 5000, .node = "" };
	CHECK_INT(s->ops->audit_list(s, &f, collect, &seen), 0);
	CHECK_INT(seen.n, 4); /* rows 2..5 */
	seen.n = 0;
	f = (struct ctl_audit_filter){ .node = "srv" };
	CHECK_INT(s->ops->audit_list(s, &f, collect, &seen), 0);
	CHECK_INT(seen.n, 5);

	/* a queue's seqs are its own (schema 8): seq 1 of node 7 again, from a queue made
	 * anew, is stored, and then skipped as that queue's; the node's last queue is it */
	static const char qid[] = "0123456789abcdef0123456789abcdef";
	char last[CTL_AUDIT_QUEUE_MAX + 1];
	CHECK_INT(s->ops->audit_last_queue(s, 7, last, &held), 0);
	CHECK_STR(last, "");
	CHECK_INT(held, 6);
	CHECK_INT(s->ops->audit_last_queue(s, 8, last, &held), -ENOENT);
	struct ctl_audit_event qe = { .seq = 1, .time = 7000, .type = "ssh.accept", .queue = qid };
	char *qbody = ctl_audit_body(&qe, 7000, "srv", 7, "", "192.0.2.1");
	struct ctl_audit_rec qr = { .received_ms = 7000,
				    .node_id = 7,
				    .node_seq = 1,
				    .type = "ssh.accept",
				    .node = "srv",
				    .who = "",
				    .body = qbody,
				    .queue = qid };
	CHECK_INT(s->ops->audit_append(s, &qr, 1, 7, qid, &held), 0);
	CHECK_INT(qr.id, 8);
	CHECK_INT(held, 1);
	CHECK_INT(s->ops->audit_append(s, &qr, 1, 7, qid, &held), 0);
	CHECK_INT(qr.id, 0);
	CHECK_INT(s->ops->audit_last_queue(s, 7, last, &held), 0);
	CHECK_STR(last, qid);
	CHECK_INT(held, 1);
	CHECK_INT(s->ops->audit_append(s, NULL, 0, 7, NULL, &held), 0);
	CHECK_INT(held, 6); /* the old sequence's */
	free(qbody);

	CHECK_INT(verify(s, head_hex(s, hex), out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "8 rows checked, head %s\n", hex);
	CHECK_STR(out, want);
	CHECK_INT(verify(s, "abc", out, sizeof(out)), -EINVAL);
	CHECK_STR(out, "--head 'abc': expected 64 hex digits");
	s->ops->close(s);
	/* append-only: the table itself refuses a change */
	CHECK_INT(raw_sql(url, "UPDATE audit SET body = '{}' WHERE id = 2"), -1);
	CHECK_INT(raw_sql(url, "DELETE FROM audit WHERE id = 7"), -1);
	while (n_bodies)
		free(bodies[--n_bodies]);
}

/* Two processes appending 40 rows each at once: one chain of 80. */
static void concurrent(struct backend *b)
{
	char url[512], out[256];
	fresh(b, "concurrent", url, sizeof(url));
	struct ctl_store *s = open_store(url);
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			struct ctl_store *mine = open_store(url);
			append_control(mine, 40);
			mine->ops->close(mine);
			_exit(check_failures ? 1 : 0);
		}
	}
	for (int k = 0; k < 2; k++) {
		int st = 0;
		CHECK(waitpid(kids[k], &st, 0) == kids[k]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CHECK_INT(verify(s, NULL, out, sizeof(out)), 0);
	CHECK(strncmp(out, "80 rows checked, head ", 22) == 0);
	s->ops->close(s);
}

static const char *const unlock_sqlite =
    "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;";
static const char *const unlock_pg = "DROP TRIGGER audit_append_only ON audit;";

/* A log of 6 rows tampered with by sql (the triggers dropped first): verify's result and
 * output (given the head recorded before when with_head), that head in before, the head
 * after in after. */
static int tampered(struct backend *b, const char *name, const char *sql, bool with_head,
		    char out[static 512], char before[static 65], char after[static 65])
{
	char url[512];
	fresh(b, name, url, sizeof(url));
	struct ctl_store *s = open_store(url);
	append_control(s, 6);
	head_hex(s, before);
	s->ops->close(s);
	CHECK_INT(raw_sql(url, b->pg ? unlock_pg : unlock_sqlite), 0);
	CHECK_INT(raw_sql(url, sql), 0);
	s = open_store(url);
	int rc = verify(s, with_head ? before : NULL, out, 512);
	head_hex(s, after);
	s->ops->close(s);
	return rc;
}

static void tamper_cases(struct backend *b)
{
	static const struct {
		const char *name, *sql, *want;
	} bad[] = {
		{ "edited", "UPDATE audit SET body = replace(body, '3', '4') WHERE id = 3",
		  "audit row 3: hash mismatch (edited?)" },
		{ "rehashed",
		  "UPDATE audit SET hash = (SELECT hash FROM audit WHERE id = 1) WHERE id = 2",
		  "audit row 2: hash mismatch (edited?)" },
		{ "deleted", "DELETE FROM audit WHERE id = 4", "audit row 4 missing (rows 3 → 5)" },
		/* the columns the filters read are not under the hash, but copies of the body */
		{ "retyped", "UPDATE audit SET type = 'admin.dns.set' WHERE id = 5",
		  "audit row 5: its type column is not what its body says (edited?)" },
		{ "reowned", "UPDATE audit SET who = 'someone' WHERE id = 2",
		  "audit row 2: its who column is not what its body says (edited?)" },
		{ "deleted2", "DELETE FROM audit WHERE id IN (1, 2)",
		  "audit rows 1..2 missing (rows 0 → 3)" },
	};
	char out[512], before[65], after[65], want[512];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(tampered(b, bad[i].name, bad[i].sql, false, out, before, after),
			  -EBADMSG);
		CHECK_STR(out, bad[i].want);
	}
	/* a tail cut off leaves a sound chain: only the head recorded before shows it */
	CHECK_INT(tampered(b, "cut", "DELETE FROM audit WHERE id > 4", false, out, before, after),
		  0);
	snprintf(want, sizeof(want), "4 rows checked, head %s\n", after);
	CHECK_STR(out, want);
	CHECK_INT(tampered(b, "cut2", "DELETE FROM audit WHERE id > 4", true, out, before, after),
		  -EBADMSG);
	snprintf(want, sizeof(want),
		 "audit head %s is not in the log: rows cut off its end? (last row 4, hash %s)",
		 before, after);
	CHECK_STR(out, want);
}

static void cases(struct backend *b)
{
	append_and_list(b);
	concurrent(b);
	tamper_cases(b);
}

static int pg_cases(struct pg_cluster *c, void *ctx)
{
	(void)ctx;
	struct backend b = { .kind = "postgres", .pg = c };
	cases(&b);
	fprintf(stderr, "PostgreSQL: ");
	return check_finish();
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "postgres") == 0)
		return pg_cluster_main(pg_cases, NULL);
	struct backend b = { .kind = "sqlite" };
	char cmd[128];
	snprintf(b.dir, sizeof(b.dir), "/tmp/ctl-audit-XXXXXX");
	CHECK(mkdtemp(b.dir) != NULL);
	cases(&b);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", b.dir);
	CHECK_INT(system(cmd), 0);
	return check_finish();
}
