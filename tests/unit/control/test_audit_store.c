/* The audit log in the store and `meshcontrol audit verify`, on SQLite (`test-control-audit-
 * store sqlite`) and PostgreSQL (`... postgres`, a cluster of the test's own, pg_cluster.h;
 * exit 77 without PostgreSQL): the same cases on both.  Appends chain rows 1, 2, 3 ...; a
 * node's events already held are skipped and its highest seq returned; the filters; two
 * processes appending at once leave one unbroken chain; the table refuses UPDATE and
 * DELETE; and with those triggers dropped (someone with the database), a row edited, a row
 * deleted, a filtered column changed and a tail cut off (with the head recorded before) are
 * each named by verify.  Prune: verify starts from the anchor and says so, rows appended
 * after it chain on, a second prune, everything pruned, a pruned log tampered with (a row,
 * the anchor, a row deleted in the middle or at its start) named, a tampered row refused
 * before it is pruned, a stale plan refused, prunes racing appends from another process;
 * and `meshcontrol audit prune` itself (argv[2]: the binary): its export, its dry run, its
 * bad arguments with their exact errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Node node_id's event seq ("ssh.accept") from queue (its body's "queue" member). */
static struct ctl_audit_rec mkq(int64_t received, int64_t node_id, int64_t seq, const char *queue)
{
	struct ctl_audit_event e = {
		.seq = seq, .time = received, .type = "ssh.accept", .queue = queue
	};
	char *body = ctl_audit_body(&e, received, "srv", node_id, "", "192.0.2.1");
	CHECK(body != NULL && n_bodies < sizeof(bodies) / sizeof(bodies[0]));
	bodies[n_bodies++] = body;
	return (struct ctl_audit_rec){ .received_ms = received,
				       .node_id = node_id,
				       .node_seq = seq,
				       .type = "ssh.accept",
				       .node = "srv",
				       .who = "",
				       .body = body,
				       .queue = queue };
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
	char err[512] = "";
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
	struct ctl_audit_rec qr = mkq(7000, 7, 1, qid);
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

static int prune(struct ctl_store *s, int64_t before_ms, int64_t now_ms, int64_t *event_id);

/* Two processes appending 40 rows each at once: one chain of 80; with pruning, after 10 rows
 * and while this one prunes the oldest again and again, one chain all along. */
static void concurrent(struct backend *b, bool pruning)
{
	char url[512], out[512];
	int64_t event_id;
	int pruned = 0;
	fresh(b, pruning ? "p-concurrent" : "concurrent", url, sizeof(url));
	struct ctl_store *s = open_store(url);
	if (pruning)
		append_control(s, 10);
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
	for (int i = 0; pruning && i < 40; i++) { /* received 1000 .. 40000: a prefix each */
		int rc = prune(s, 1000 * (i + 1) + 500, 50000, &event_id);
		CHECK(rc == 0 || rc == -EINVAL); /* -EINVAL: nothing new to prune */
		pruned += rc == 0;
		usleep(2000);
	}
	for (int k = 0; k < 2; k++) {
		int st = 0;
		CHECK(waitpid(kids[k], &st, 0) == kids[k]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CHECK(pruned > 0 || !pruning);
	CHECK_INT(verify(s, NULL, out, sizeof(out)), 0);
	if (pruning)
		CHECK(strstr(out, " rows checked, head ") != NULL);
	else
		CHECK(strncmp(out, "80 rows checked, head ", 22) == 0);
	s->ops->close(s);
}

static const char *const unlock_sqlite =
    "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;";
static const char *const unlock_pg = "DROP TRIGGER audit_append_only ON audit;";
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

enum { WITH_HEAD = 1, PRUNED = 2 };

/* A log of 6 rows (with PRUNED rows 1..3 then pruned: the prune's event is row 7) tampered
 * with by sql (the triggers dropped first): verify's result and output (given the head
 * recorded before with WITH_HEAD), that head in before, the head after in after. */
static int tampered(struct backend *b, const char *name, const char *sql, int how,
		    char out[static 512], char before[static 65], char after[static 65])
{
	char url[512];
	int64_t event_id;
	fresh(b, name, url, sizeof(url));
	struct ctl_store *s = open_store(url);
	append_control(s, 6);
	if (how & PRUNED)
		CHECK_INT(prune(s, 3500, 10000, &event_id), 0);
	head_hex(s, before);
	s->ops->close(s);
	CHECK_INT(raw_sql(url, b->pg ? unlock_pg : unlock_sqlite), 0);
	CHECK_INT(raw_sql(url, sql), 0);
	s = open_store(url);
	int rc = verify(s, how & WITH_HEAD ? before : NULL, out, 512);
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
		CHECK_INT(tampered(b, bad[i].name, bad[i].sql, 0, out, before, after), -EBADMSG);
		CHECK_STR(out, bad[i].want);
	}
	/* a tail cut off leaves a sound chain: only the head recorded before shows it */
	CHECK_INT(tampered(b, "cut", "DELETE FROM audit WHERE id > 4", 0, out, before, after), 0);
	snprintf(want, sizeof(want), "4 rows checked, head %s\n", after);
	CHECK_STR(out, want);
	CHECK_INT(
	    tampered(b, "cut2", "DELETE FROM audit WHERE id > 4", WITH_HEAD, out, before, after),
	    -EBADMSG);
	snprintf(want, sizeof(want),
		 "audit head %s is not in the log: rows cut off its end? (last row 4, hash %s)",
		 before, after);
	CHECK_STR(out, want);
}

static int first_hash(void *ctx, const struct ctl_audit_rec *r)
{
	sodium_bin2hex(ctx, 65, r->hash, CTL_AUDIT_HASH_LEN);
	return 0;
}

/* The hash of row id, as hex ("" when there is none). */
static void row_hex(struct ctl_store *s, int64_t id, char hex[65])
{
	struct ctl_audit_filter f = { .after = id - 1, .limit = 1 };
	hex[0] = '\0';
	CHECK_INT(s->ops->audit_list(s, &f, first_hash, hex), 0);
}

/* Plan and prune the rows received before before_ms, at now_ms: the prune's result. */
static int prune(struct ctl_store *s, int64_t before_ms, int64_t now_ms, int64_t *event_id)
{
	struct ctl_audit_prune_plan p;
	char err[256];
	int rc = ctl_audit_prune_plan(s, before_ms, &p, err, sizeof(err));
	if (!rc)
		rc = ctl_audit_prune(s, &p, now_ms, "tester", event_id, err, sizeof(err));
	if (rc && rc != -EINVAL) /* -EINVAL: nothing to prune */
		fprintf(stderr, "prune: %s\n", err);
	return rc;
}

static void prune_cases(struct backend *b)
{
	char url[512], out[512], want[512], h3[65], h5[65], h1[65], hex[65];
	struct ctl_audit_prune_plan p;
	int64_t event_id = 0;
	fresh(b, "prune", url, sizeof(url));
	struct ctl_store *s = open_store(url);
	append_control(s, 6); /* received 1000 .. 6000 */
	row_hex(s, 1, h1);
	row_hex(s, 3, h3);
	row_hex(s, 5, h5);
	/* the plan: the rows before 3500, their chain checked */
	CHECK_INT(ctl_audit_prune_plan(s, 3500, &p, out, sizeof(out)), 0);
	CHECK_INT(p.prev.through, 0);
	CHECK_INT(p.next.through, 3);
	CHECK_INT(p.next.count, 3);
	CHECK_INT(p.first_ms, 1000);
	CHECK_INT(p.last_ms, 3000);
	sodium_bin2hex(hex, sizeof(hex), p.next.hash, sizeof(p.next.hash));
	CHECK_STR(hex, h3);
	CHECK_INT(ctl_audit_prune_plan(s, 1000, &p, out, sizeof(out)), 0);
	CHECK_INT(p.next.count, 0); /* nothing received before the first row */
	CHECK_INT(prune(s, 3500, 10000, &event_id), 0);
	CHECK_INT(event_id, 7); /* the prune's own event, after rows 4..6 */
	struct seen seen = { 0 };
	struct ctl_audit_filter all = { 0 };
	CHECK_INT(s->ops->audit_list(s, &all, collect, &seen), 0);
	CHECK_INT(seen.n, 4);
	CHECK_INT(seen.ids[0], 4);
	CHECK_INT(verify(s, NULL, out, sizeof(out)), 0);
	snprintf(want, sizeof(want),
		 "3 events pruned up to seq 3 (hash %s) on 1970-01-01T00:00:10Z\n4 rows checked, "
		 "head %s\n",
		 h3, head_hex(s, hex));
	CHECK_STR(out, want);
	/* a head recorded before: the anchor's is still proven, a pruned row's is not here */
	CHECK_INT(verify(s, h3, out, sizeof(out)), 0);
	CHECK_INT(verify(s, h1, out, sizeof(out)), -EBADMSG);
	snprintf(want, sizeof(want),
		 "audit head %s is not in the log from row 4 on: rows cut off its end, or it was "
		 "pruned (rows up to 3 are; their export has it)? (last row 7, hash %s)",
		 h1, hex);
	CHECK_STR(out, want);
	/* appended after it, rows chain on; a second prune counts on from the anchor */
	append_control(s, 2); /* rows 8, 9 */
	CHECK_INT(verify(s, NULL, out, sizeof(out)), 0);
	CHECK(strstr(out, "\n6 rows checked, head ") != NULL);
	CHECK_INT(prune(s, 5500, 20000, &event_id), 0);
	CHECK_INT(event_id, 10);
	CHECK_INT(verify(s, NULL, out, sizeof(out)), 0);
	snprintf(want, sizeof(want),
		 "2 events pruned up to seq 5 (hash %s) on 1970-01-01T00:00:20Z, 3 more before\n"
		 "5 rows checked, head %s\n",
		 h5, head_hex(s, hex));
	CHECK_STR(out, want);
	/* a stale plan (another prune came first) is refused, nothing written */
	CHECK_INT(ctl_audit_prune_plan(s, 6500, &p, out, sizeof(out)), 0);
	struct ctl_audit_prune_plan stale = p;
	CHECK_INT(ctl_audit_prune(s, &p, 30000, "tester", &event_id, out, sizeof(out)), 0);
	CHECK_INT(ctl_audit_prune(s, &stale, 30000, "tester", &event_id, out, sizeof(out)),
		  -ESTALE);
	CHECK_STR(out, "the audit log changed under the prune (another prune?); nothing pruned: "
		       "run it again");
	/* everything pruned: the next row chains to the anchor */
	CHECK_INT(prune(s, INT64_MAX, 40000, &event_id), 0);
	CHECK_INT(verify(s, NULL, out, sizeof(out)), 0);
	CHECK(strstr(out, "\n1 rows checked, head ") != NULL);
	append_control(s, 1);
	CHECK_INT(verify(s, NULL, out, sizeof(out)), 0);
	CHECK(strstr(out, "\n2 rows checked, head ") != NULL);
	s->ops->close(s);
	/* the table still refuses a change after a prune */
	CHECK_INT(raw_sql(url, "DELETE FROM audit WHERE id = 1"), 0); /* none left: no row */
	CHECK_INT(raw_sql(url, "UPDATE audit SET body = '{}'"), -1);
	CHECK_INT(raw_sql(url, "DELETE FROM audit"), -1);
	while (n_bodies)
		free(bodies[--n_bodies]);
}

/* A node's held seqs and its last queue outlive its rows pruned: redeliveries still
 * skipped, no false audit.gap for the seqs the prune took, a new queue still noticed. */
static void prune_held(struct backend *b)
{
	static const char qid[] = "0123456789abcdef0123456789abcdef";
	char url[512], last[CTL_AUDIT_QUEUE_MAX + 1];
	int64_t held = -1, event_id;
	fresh(b, "p-held", url, sizeof(url));
	struct ctl_store *s = open_store(url);
	struct ctl_audit_rec r[3] = {
		mk(1000, 7, 1, "ssh.accept", "srv", "alice@example.com"),
		mk(2000, 7, 2, "ssh.accept", "srv", "alice@example.com"),
		mk(2500, 7, 3, "ssh.accept", "srv", "alice@example.com"),
	};
	CHECK_INT(s->ops->audit_append(s, r, 3, 7, NULL, &held), 0);
	struct ctl_audit_rec qr = mkq(3000, 7, 1, qid);
	CHECK_INT(s->ops->audit_append(s, &qr, 1, 7, qid, &held), 0);
	CHECK_INT(prune(s, 5000, 9000, &event_id), 0);
	CHECK_INT(event_id, 5); /* the node's rows are all gone */
	CHECK_INT(s->ops->audit_append(s, NULL, 0, 7, "", &held), 0);
	CHECK_INT(held, 3);
	CHECK_INT(s->ops->audit_append(s, NULL, 0, 7, qid, &held), 0);
	CHECK_INT(held, 1);
	CHECK_INT(s->ops->audit_last_queue(s, 7, last, &held), 0);
	CHECK_STR(last, qid);
	CHECK_INT(held, 1);
	CHECK_INT(s->ops->audit_last_queue(s, 8, last, &held), -ENOENT);
	CHECK_INT(s->ops->audit_append(s, &r[1], 1, 7, "", &held), 0);
	CHECK_INT(r[1].id, 0); /* a redelivery, skipped */
	/* a second prune keeps the highest: seq 4 stored, then pruned with the old ones */
	struct ctl_audit_rec r4 = mk(9500, 7, 4, "ssh.accept", "srv", "alice@example.com");
	CHECK_INT(s->ops->audit_append(s, &r4, 1, 7, "", &held), 0);
	CHECK_INT(prune(s, 10000, 11000, &event_id), 0);
	CHECK_INT(s->ops->audit_last_queue(s, 7, last, &held), 0);
	CHECK_STR(last, "");
	CHECK_INT(held, 4);
	s->ops->close(s);
	while (n_bodies)
		free(bodies[--n_bodies]);
}

static void prune_tamper_cases(struct backend *b)
{
	static const struct {
		const char *name, *sql, *want;
	} bad[] = {
		{ "p-edited", "UPDATE audit SET body = replace(body, '5', '4') WHERE id = 5",
		  "audit row 5: hash mismatch (edited?)" },
		{ "p-middle", "DELETE FROM audit WHERE id = 5",
		  "audit row 5 missing (rows 4 → 6)" },
		{ "p-start", "DELETE FROM audit WHERE id = 4", "audit row 4 missing (rows 3 → 5)" },
		/* the anchor moved on without its rows, or pointing at another hash */
		{ "p-anchor-seq",
		  "UPDATE meta SET value = '2' || substr(value, 2, 66) || '10000 2' WHERE key = "
		  "'audit_anchor'",
		  "audit row 3 missing (rows 2 → 4)" },
		{ "p-anchor-hash",
		  "UPDATE meta SET value = '3 " HASH_A " 10000 3' WHERE key = 'audit_anchor'",
		  "audit row 4: hash mismatch (edited?)" },
		{ "p-anchor-junk", "UPDATE meta SET value = '3 x 1 1' WHERE key = 'audit_anchor'",
		  "the audit log's anchor (meta audit_anchor) is not one (edited?)" },
		{ "p-anchor-gone", "DELETE FROM meta WHERE key = 'audit_anchor'",
		  "audit rows 1..3 missing (rows 0 → 4)" },
	};
	char out[512], before[65], after[65];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(tampered(b, bad[i].name, bad[i].sql, PRUNED, out, before, after),
			  -EBADMSG);
		CHECK_STR(out, bad[i].want);
	}
	/* a row to be pruned that was tampered with is not destroyed: the plan refuses */
	char url[512];
	struct ctl_audit_prune_plan p;
	fresh(b, "p-refused", url, sizeof(url));
	struct ctl_store *s = open_store(url);
	append_control(s, 6);
	s->ops->close(s);
	CHECK_INT(raw_sql(url, b->pg ? unlock_pg : unlock_sqlite), 0);
	CHECK_INT(raw_sql(url, "UPDATE audit SET body = replace(body, '2', '9') WHERE id = 2"), 0);
	s = open_store(url);
	CHECK_INT(ctl_audit_prune_plan(s, 3500, &p, out, sizeof(out)), -EBADMSG);
	CHECK_STR(out, "audit row 2: hash mismatch (edited?); nothing pruned (`meshcontrol audit "
		       "verify` names the row)");
	s->ops->close(s);
}

/* The meshcontrol binary (argv[2]). */
static const char *meshcontrol;

/* `meshcontrol --store url audit ARGS` (stdout and stderr in out): its exit status. */
static int mc(const char *url, const char *args, char *out, size_t len)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "'%s' -s /tmp/ctl-audit-mc --store '%s' audit %s 2>&1",
		 meshcontrol, url, args);
	FILE *f = popen(cmd, "r");
	size_t n = f ? fread(out, 1, len - 1, f) : 0;
	out[n] = '\0';
	int st = f ? pclose(f) : -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void prune_command(struct backend *b)
{
	char url[512], out[2048], args[512], path[128], h3[65];
	if (!meshcontrol)
		return;
	fresh(b, "p-command", url, sizeof(url));
	struct ctl_store *s = open_store(url);
	append_control(s, 6);
	row_hex(s, 3, h3);
	s->ops->close(s);
	static const struct {
		const char *args, *want;
	} bad[] = {
		{ "prune", "meshcontrol: audit prune: expected --before TIME (90d, 12h, or an RFC "
			   "3339 time like 2026-03-01T00:00:00Z) [--export FILE] [--dry-run]\n" },
		{ "prune --before 90d --head " HASH_A,
		  "meshcontrol: audit prune: expected --before TIME (90d, 12h, or an RFC 3339 time "
		  "like 2026-03-01T00:00:00Z) [--export FILE] [--dry-run]\n" },
		{ "prune --before 90d extra",
		  "meshcontrol: audit prune: expected --before TIME (90d, 12h, or an RFC 3339 time "
		  "like 2026-03-01T00:00:00Z) [--export FILE] [--dry-run]\n" },
		{ "prune --before 3w", "meshcontrol: audit prune: --before '3w': expected a "
				       "duration (30s, 10m, 12h, 90d) "
				       "or an RFC 3339 time (2026-03-01T00:00:00Z)\n" },
		{ "prune --before 2026-02-30T00:00:00Z",
		  "meshcontrol: audit prune: --before '2026-02-30T00:00:00Z': expected a duration "
		  "(30s, 10m, 12h, 90d) or an RFC 3339 time (2026-03-01T00:00:00Z)\n" },
		{ "prune --before 90d --export ''",
		  "meshcontrol: audit prune: --export: expected a file name\n" },
		{ "verify --dry-run", "meshcontrol: audit verify: expected [--head HASH]\n" },
		{ "export --to - --before 1d",
		  "meshcontrol: audit export: expected --to FILE|- [--follow] [--after ID]\n" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(mc(url, bad[i].args, out, sizeof(out)), 2);
		CHECK_STR(out, bad[i].want);
	}
	/* nothing before 1970-01-01T00:00:01Z but row 1 at 1000 ms: nothing to prune */
	CHECK_INT(mc(url, "prune --before 1970-01-01T00:00:01Z", out, sizeof(out)), 0);
	CHECK_STR(out, "nothing to prune: no event received before 1970-01-01T00:00:01Z (the log "
		       "starts after row 0)\n");
	/* the dry run says what would go, and nothing goes */
	CHECK_INT(mc(url, "prune --dry-run --before 1970-01-01T01:00:03.5+01:00", out, sizeof(out)),
		  0);
	char want[1024];
	snprintf(want, sizeof(want),
		 "would prune 3 events (rows 1..3, received 1970-01-01T00:00:01Z to "
		 "1970-01-01T00:00:03Z); the log would start after row 3, hash %s\n",
		 h3);
	CHECK_STR(out, want);
	CHECK_INT(mc(url, "verify", out, sizeof(out)), 0);
	CHECK(strncmp(out, "6 rows checked", 14) == 0);
	/* --export: a new file, the rows as export writes them; an existing one refused */
	snprintf(path, sizeof(path), "/tmp/ctl-audit-mc/pruned-%s.jsonl", b->kind);
	unlink(path);
	snprintf(args, sizeof(args), "prune --before 1970-01-01T00:00:03.5Z --export %s", path);
	CHECK_INT(mc(url, args, out, sizeof(out)), 0);
	const char *done = "pruned 3 events (rows 1..3, received 1970-01-01T00:00:01Z to "
			   "1970-01-01T00:00:03Z), exported to ";
	CHECK(strncmp(out, done, strlen(done)) == 0);
	CHECK(strstr(out, "; row 7 says so (admin.audit.prune)\n") != NULL);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	char line[2048];
	int lines = 0;
	while (f && fgets(line, sizeof(line), f)) {
		char start[16];
		snprintf(start, sizeof(start), "{\"id\":%d,", ++lines);
		CHECK(strncmp(line, start, strlen(start)) == 0);
	}
	CHECK_INT(lines, 3);
	CHECK(strstr(line, h3) != NULL); /* the last exported row's hash is the anchor */
	if (f)
		fclose(f);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	snprintf(args, sizeof(args), "prune --before 1970-01-01T00:00:05.5Z --export %s", path);
	CHECK_INT(mc(url, args, out, sizeof(out)), 1);
	snprintf(want, sizeof(want),
		 "meshcontrol: audit prune: --export %s: the file exists (not overwritten: name a "
		 "new one)\n",
		 path);
	CHECK_STR(out, want);
	CHECK_INT(mc(url, "verify", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "3 events pruned up to seq 3 (hash %s) on ", h3);
	CHECK(strncmp(out, want, strlen(want)) == 0);
	CHECK(strstr(out, "\n4 rows checked, head ") != NULL);
	unlink(path);
}

static void cases(struct backend *b)
{
	append_and_list(b);
	concurrent(b, false);
	tamper_cases(b);
	prune_cases(b);
	prune_held(b);
	prune_tamper_cases(b);
	concurrent(b, true);
	prune_command(b);
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
	meshcontrol = argc > 2 ? argv[2] : NULL;
	mkdir("/tmp/ctl-audit-mc", 0700);
	if (argc >= 2 && strcmp(argv[1], "postgres") == 0)
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
