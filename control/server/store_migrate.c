/* `meshcontrol store migrate`: a SQLite store copied into an empty PostgreSQL database.
 *
 * The SQLite side is read in one read transaction (a snapshot: a running server's later
 * writes are not half in it); the PostgreSQL side is written in one transaction, which is
 * committed only when every table has as many rows on both sides and the same digest
 * (BLAKE2b over each row's cells, tagged by kind and length, in primary-key order with
 * byte-wise text order on both sides).  Ids are kept and each BIGSERIAL set past the
 * highest id SQLite ever handed out (its sqlite_sequence), so an id is never given twice.
 * Not copied: what is in flight or live and ends with the server (check-mode holds, pending
 * logins, SSO sign-ins, web sessions, password throttles, request nonces; the nodes' live
 * SSH sessions and the kills waiting for them, which each node sends again, ssh_sessions
 * and ssh_kills). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sodium.h>
#include <sqlite3.h>

#include "control/server/internal.h"
#include "control/server/store.h"
#include "control/server/store_pg_int.h"

/* Each table in an order its foreign keys allow; kinds: I integer, T text, B bytes. */
static const struct table {
	const char *name, *cols, *kinds, *order, *pg_order;
	bool serial; /* id is a BIGSERIAL */
} tables[] = {
	{ "meta", "key, value", "TT", "key", "key COLLATE \"C\"", false },
	{ "users", "id, login, pwhash, created", "ITTI", "id", "id", true },
	{ "authkeys",
	  "id, prefix, hash, user_id, reusable, ephemeral, expires, created, uses, revoked",
	  "ITBIIIIIII", "id", "id", true },
	{ "authkey_tags", "authkey_id, tag", "IT", "authkey_id, tag",
	  "authkey_id, tag COLLATE \"C\"", false },
	{ "nodes",
	  "id, machine_key, node_key, key_expiry, hostname, user_id, ipv4, ipv6, ephemeral, "
	  "endpoints, ssh_host_keys, created, last_seen, disco_key",
	  "IBBITIIBITTIIB", "id", "id", true },
	{ "node_tags", "node_id, tag", "IT", "node_id, tag", "node_id, tag COLLATE \"C\"", false },
	{ "policy", "id, text, created", "ITI", "id", "id", true },
	{ "approvals", "src_node, dst_node, user_id, approved_at, auth_at", "IIIII",
	  "src_node, dst_node", "src_node, dst_node", false },
	{ "sso_identities", "iss, sub, user_id, email, groups, updated", "TTITTI", "iss, sub",
	  "iss COLLATE \"C\", sub COLLATE \"C\"", false },
	{ "audit", "id, received_ms, node_id, node_seq, type, node, who, body, hash", "IIIITTTTB",
	  "id", "id", false },
	{ "audit_pruned", "node_id, queue, seq, last_id", "ITII", "node_id, queue",
	  "node_id, queue COLLATE \"C\"", false },
};

enum { N_TABLES = sizeof(tables) / sizeof(tables[0]), COLS_MAX = 16 };

struct tally {
	int64_t rows;
	uint8_t digest[32];
	crypto_generichash_state h;
};

static void tally_init(struct tally *t)
{
	t->rows = 0;
	crypto_generichash_init(&t->h, NULL, 0, sizeof(t->digest));
}

static void tally_cell(struct tally *t, char kind, bool null, const void *v, size_t len)
{
	uint8_t head[9] = { null ? 'N' : (uint8_t)kind };
	for (int i = 0; i < 8; i++)
		head[1 + i] = (uint8_t)((uint64_t)len >> (8 * i));
	crypto_generichash_update(&t->h, head, null ? 1 : sizeof(head));
	if (!null && len)
		crypto_generichash_update(&t->h, v, len);
}

/* One table: its SQLite rows inserted into PostgreSQL and tallied. */
static int copy_table(sqlite3 *db, struct ctl__pg_store *pg, const struct table *tb,
		      struct tally *t, char *err, size_t errlen)
{
	char sql[1024], ins[1024];
	int ncols = (int)strlen(tb->kinds), o;
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", tb->cols, tb->name, tb->order);
	o = snprintf(ins, sizeof(ins), "INSERT INTO %s (%s) VALUES (", tb->name, tb->cols);
	for (int c = 0; c < ncols; c++)
		o += snprintf(ins + o, sizeof(ins) - (size_t)o, "%s$%d", c ? ", " : "", c + 1);
	snprintf(ins + o, sizeof(ins) - (size_t)o, ")");
	sqlite3_stmt *st = ctl__sq_prep(db, sql);
	if (!st) {
		snprintf(err, errlen, "%s: cannot read it from SQLite: %s", tb->name,
			 sqlite3_errmsg(db));
		return -EIO;
	}
	int rc = 0, step;
	tally_init(t);
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *v[COLS_MAX];
		char *hex[COLS_MAX] = { 0 };
		for (int c = 0; c < ncols; c++) {
			bool null = sqlite3_column_type(st, c) == SQLITE_NULL;
			const void *b = tb->kinds[c] == 'B' ? sqlite3_column_blob(st, c)
							    : sqlite3_column_text(st, c);
			size_t len = (size_t)sqlite3_column_bytes(st, c);
			tally_cell(t, tb->kinds[c], null, b, len);
			v[c] = null ? NULL : (const char *)b;
			if (!null && tb->kinds[c] == 'B') {
				hex[c] = malloc(2 * len + 3);
				if (!hex[c]) {
					rc = -ENOMEM;
					continue;
				}
				memcpy(hex[c], "\\x", 2);
				sodium_bin2hex(hex[c] + 2, 2 * len + 1, b, len);
				v[c] = hex[c];
			}
		}
		PGresult *r =
		    rc ? NULL : PQexecParams(pg->conn, ins, ncols, NULL, v, NULL, NULL, 0);
		if (!rc && PQresultStatus(r) != PGRES_COMMAND_OK) {
			snprintf(err, errlen, "%s: row %lld: %s", tb->name, (long long)t->rows + 1,
				 PQerrorMessage(pg->conn));
			err[strcspn(err, "\n")] = '\0';
			rc = -EIO;
		}
		PQclear(r);
		for (int c = 0; c < ncols; c++)
			free(hex[c]);
		t->rows++;
	}
	if (!rc && step != SQLITE_DONE) {
		snprintf(err, errlen, "%s: reading SQLite: %s", tb->name, sqlite3_errmsg(db));
		rc = -EIO;
	}
	sqlite3_finalize(st);
	crypto_generichash_final(&t->h, t->digest, sizeof(t->digest));
	return rc;
}

/* The same table read back from PostgreSQL and tallied the same way. */
static int tally_pg(struct ctl__pg_store *pg, const struct table *tb, struct tally *t)
{
	char sql[1024];
	PGresult *r;
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", tb->cols, tb->name,
		 tb->pg_order);
	int rc = ctl__pg_q(pg, sql, NULL, &r);
	tally_init(t);
	for (int i = 0; !rc && i < PQntuples(r); i++, t->rows++) {
		for (int c = 0; !rc && tb->kinds[c]; c++) {
			bool null = PQgetisnull(r, i, c);
			const char *v = PQgetvalue(r, i, c);
			if (null || tb->kinds[c] != 'B') {
				tally_cell(t, tb->kinds[c], null, v, strlen(v));
				continue;
			}
			size_t len;
			unsigned char *b = PQunescapeBytea((const unsigned char *)v, &len);
			if (!b)
				rc = -ENOMEM;
			else
				tally_cell(t, 'B', false, b, len);
			PQfreemem(b);
		}
	}
	PQclear(r);
	crypto_generichash_final(&t->h, t->digest, sizeof(t->digest));
	return rc;
}

/* The highest id of tb SQLite ever gave: its sqlite_sequence (AUTOINCREMENT) or MAX(id). */
static int64_t sqlite_last_id(sqlite3 *db, const struct table *tb)
{
	char sql[128];
	int64_t last = 0;
	snprintf(sql, sizeof(sql), "SELECT MAX(id) FROM %s", tb->name);
	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *st =
		    ctl__sq_prep(db, i ? sql : "SELECT seq FROM sqlite_sequence WHERE name = ?");
		if (!st)
			continue;
		if (!i)
			sqlite3_bind_text(st, 1, tb->name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > last)
			last = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	return last;
}

/* Refused unless the target holds nothing but the ULA prefix its first migration made. */
static int target_empty(struct ctl__pg_store *pg, char *err, size_t errlen)
{
	for (int j = 1; j <= N_TABLES; j++) {
		int i = j % N_TABLES; /* meta last: a table of data is the better example */
		char sql[256];
		PGresult *r;
		snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s%s", tables[i].name,
			 i == 0 ? " WHERE key <> 'ula48'" : "");
		int rc = ctl__pg_q(pg, sql, NULL, &r);
		int64_t n = rc ? 0 : ctl__pg_get_int(r, 0, 0);
		PQclear(r);
		if (rc) {
			snprintf(err, errlen, "cannot count %s in the target: %s", tables[i].name,
				 PQerrorMessage(pg->conn));
			err[strcspn(err, "\n")] = '\0';
			return rc;
		}
		if (n) {
			snprintf(err, errlen,
				 "the target database is not empty (%s has %lld rows): migrate "
				 "into a new database",
				 tables[i].name, (long long)n);
			return -EEXIST;
		}
	}
	return ctl__pg_q(pg, "DELETE FROM meta", NULL, NULL);
}

static int copy_all(sqlite3 *db, struct ctl__pg_store *pg, FILE *report, char *err, size_t errlen)
{
	struct ctl__pg_params p = { 0 };
	struct tally from[N_TABLES], to;
	ctl__pg_int(&p, CTL__PG_MIGRATE_LOCK);
	int rc = ctl__pg_q(pg, "SELECT pg_advisory_xact_lock($1)", &p, NULL);
	if (!rc)
		rc = target_empty(pg, err, errlen);
	for (int i = 0; !rc && i < N_TABLES; i++) {
		rc = copy_table(db, pg, &tables[i], &from[i], err, errlen);
		p.n = 0;
		ctl__pg_text(&p, tables[i].name);
		ctl__pg_int(&p, tables[i].serial ? sqlite_last_id(db, &tables[i]) : 0);
		if (!rc && tables[i].serial &&
		    (rc = ctl__pg_q(pg,
				    "SELECT setval(pg_get_serial_sequence($1, 'id'), "
				    "GREATEST($2::bigint, 1), $2::bigint > 0)",
				    &p, NULL)) != 0)
			snprintf(err, errlen, "%s: cannot set its id sequence", tables[i].name);
	}
	for (int i = 0; !rc && i < N_TABLES; i++) {
		char hex[17];
		rc = tally_pg(pg, &tables[i], &to);
		if (rc) {
			snprintf(err, errlen, "%s: cannot read it back", tables[i].name);
			break;
		}
		sodium_bin2hex(hex, sizeof(hex), to.digest, 8);
		if (to.rows != from[i].rows || memcmp(to.digest, from[i].digest, 32) != 0) {
			char was[17];
			sodium_bin2hex(was, sizeof(was), from[i].digest, 8);
			snprintf(err, errlen,
				 "%s differs after the copy: %lld rows (digest %s) in SQLite, %lld "
				 "(digest %s) in PostgreSQL; nothing was written",
				 tables[i].name, (long long)from[i].rows, was, (long long)to.rows,
				 hex);
			rc = -EIO;
			break;
		}
		fprintf(report, "%-15s %8lld rows  digest %s  same\n", tables[i].name,
			(long long)to.rows, hex);
	}
	return rc;
}

int ctl_store_migrate(const char *sqlite_path, const char *pg_url, FILE *report, char *err,
		      size_t errlen)
{
	struct ctl_store *sq = NULL;
	struct ctl__pg_store *pg = NULL;
	int rc = ctl_store_url_check(pg_url, err, errlen);
	if (!rc)
		rc = ctl_store_open_sqlite(sqlite_path, &sq, err, errlen);
	if (!rc)
		rc = ctl__pg_connect(pg_url, &pg, err, errlen);
	if (rc)
		goto out;
	sqlite3 *db = ctl__sq(sq)->db;
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    ctl__pg_q(pg, "BEGIN", NULL, NULL) != 0) {
		snprintf(err, errlen, "cannot begin the copy");
		rc = -EIO;
		goto out;
	}
	rc = copy_all(db, pg, report, err, errlen);
	if (!rc && ctl__pg_q(pg, "COMMIT", NULL, NULL) != 0) {
		snprintf(err, errlen, "the commit failed: %s", PQerrorMessage(pg->conn));
		err[strcspn(err, "\n")] = '\0';
		rc = -EIO;
	} else if (rc) {
		ctl__pg_q(pg, "ROLLBACK", NULL, NULL);
	}
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	if (rc)
		ctl_store_scrub(pg_url, err);
	if (sq)
		sq->ops->close(sq);
	if (pg)
		pg->base.ops->close(&pg->base);
	return rc;
}
