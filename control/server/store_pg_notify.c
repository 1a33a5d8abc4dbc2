/* What replicas sharing the PostgreSQL store need of it: meta_add (insert-if-absent, how
 * they agree on the server key and the admin token) and the change notifications
 * (store_notify.h): the triggers that notify from inside each writing transaction, installed
 * at connect; the listener connection each replica keeps; and the parser of the payloads it
 * receives.
 *
 * Triggers rather than a NOTIFY in each op: every op that writes a table the maps are made
 * of notifies, including ops added later and cascades (a user removed deletes their nodes,
 * each row notifying), and nothing can forget to.  PostgreSQL folds identical payloads of
 * one transaction into one notification. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "control/server/store_notify.h"
#include "control/server/store_pg_int.h"

/* One function for every table: TG_ARGV[0] is the kind, TG_ARGV[1] the column naming the
 * row.  CREATE OR REPLACE so replicas of different builds converge on the newest. */
static const char install_sql[] =
    "CREATE OR REPLACE FUNCTION mesh_notify() RETURNS trigger LANGUAGE plpgsql AS $f$"
    " BEGIN"
    "  PERFORM pg_notify('" CTL_CHANGES_CHANNEL "', TG_ARGV[0] || ':' ||"
    "   (to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END) ->> TG_ARGV[1]));"
    "  RETURN NULL;"
    " END $f$;"
    "CREATE OR REPLACE TRIGGER mesh_notify AFTER INSERT OR UPDATE OR DELETE ON nodes"
    " FOR EACH ROW EXECUTE FUNCTION mesh_notify('node', 'id');"
    "CREATE OR REPLACE TRIGGER mesh_notify AFTER INSERT OR DELETE ON node_tags"
    " FOR EACH ROW EXECUTE FUNCTION mesh_notify('node', 'node_id');"
    "CREATE OR REPLACE TRIGGER mesh_notify AFTER INSERT OR UPDATE ON policy"
    " FOR EACH ROW EXECUTE FUNCTION mesh_notify('policy', 'id');"
    "CREATE OR REPLACE TRIGGER mesh_notify AFTER DELETE ON users"
    " FOR EACH ROW EXECUTE FUNCTION mesh_notify('user', 'id');"
    "CREATE OR REPLACE TRIGGER mesh_notify AFTER INSERT OR UPDATE ON approvals"
    " FOR EACH ROW EXECUTE FUNCTION mesh_notify('approval', 'src_node');"
    /* a check-mode hold decided, re-authenticated for or removed: the replica whose node
     * waits on it answers (not its creation, nor a node asking again: last_asked) */
    "CREATE OR REPLACE TRIGGER mesh_notify AFTER DELETE ON holds"
    " FOR EACH ROW EXECUTE FUNCTION mesh_notify('hold', 'id');"
    "CREATE OR REPLACE TRIGGER mesh_notify_changed AFTER UPDATE ON holds FOR EACH ROW"
    " WHEN (OLD.state IS DISTINCT FROM NEW.state OR"
    "  OLD.reauth_session IS DISTINCT FROM NEW.reauth_session OR"
    "  OLD.reauth_at IS DISTINCT FROM NEW.reauth_at)"
    " EXECUTE FUNCTION mesh_notify('hold', 'id');"
    /* a row appended to the audit log: the replica's long polls (meshctl audit --follow)
     * read again */
    "CREATE OR REPLACE TRIGGER mesh_notify AFTER INSERT ON audit"
    " FOR EACH ROW EXECUTE FUNCTION mesh_notify('audit', 'id');"
    /* an interactive login decided: the replica holding its node's request answers (the
     * payload is the login's id, the token's hash; not its creation, nor its removal: a
     * node whose login went finds out at its next followup) */
    "CREATE OR REPLACE TRIGGER mesh_notify_changed AFTER UPDATE ON pending_logins FOR EACH ROW"
    " WHEN (OLD.state IS DISTINCT FROM NEW.state)"
    " EXECUTE FUNCTION mesh_notify('login', 'token');"
    /* a kill of a live SSH session queued or taken: the replica streaming its node sends it
     * (the payload is the node's id; a list stored notifies nothing: the admin's list reads
     * the store) */
    "CREATE OR REPLACE TRIGGER mesh_notify AFTER INSERT OR UPDATE OR DELETE ON ssh_kills"
    " FOR EACH ROW EXECUTE FUNCTION mesh_notify('kill', 'node_id');"
    "CREATE OR REPLACE TRIGGER mesh_notify AFTER INSERT OR UPDATE OR DELETE ON sso_identities"
    " FOR EACH ROW EXECUTE FUNCTION mesh_notify('sso', 'user_id');"
    /* only the values replicas reload (not the address allocator's next_host, written at
     * each registration) */
    "CREATE OR REPLACE TRIGGER mesh_notify AFTER INSERT OR UPDATE ON meta FOR EACH ROW"
    " WHEN (NEW.key IN ('dns', 'admin_token_hash'))"
    " EXECUTE FUNCTION mesh_notify('meta', 'key');";

int ctl__pg_notify_install(struct ctl__pg_store *s, char *err, size_t errlen)
{
	struct ctl__pg_params p = { 0 };
	ctl__pg_int(&p, CTL__PG_MIGRATE_LOCK);
	int rc = ctl__pg_q(s, "BEGIN", NULL, NULL);
	if (!rc)
		rc = ctl__pg_q(s, "SELECT pg_advisory_xact_lock($1)", &p, NULL);
	if (!rc) {
		PGresult *r = PQexec(s->conn, install_sql);
		rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -EIO;
		PQclear(r);
	}
	if (!rc)
		rc = ctl__pg_q(s, "COMMIT", NULL, NULL);
	if (rc) {
		snprintf(err, errlen, "cannot install the change notifications: %s",
			 PQerrorMessage(s->conn));
		ctl__pg_q(s, "ROLLBACK", NULL, NULL);
	}
	return rc;
}

struct meta_add_args {
	const char *key, *value;
	char *out;
	size_t outlen;
};

static int meta_add_body(struct ctl__pg_store *s, void *ctx)
{
	struct meta_add_args *a = ctx;
	struct ctl__pg_params p = { 0 };
	ctl__pg_text(&p, a->key);
	ctl__pg_text(&p, a->value);
	int rc = ctl__pg_q(
	    s, "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING", &p, NULL);
	return rc ? rc : ctl__pg_meta_get(s, a->key, a->out, a->outlen);
}

/* Idempotent: run again after a lost COMMIT it finds the row it (or another) inserted. */
int ctl__pg_meta_add(struct ctl_store *s, const char *key, const char *value, char *out,
		     size_t outlen)
{
	struct meta_add_args a = { .key = key, .value = value, .out = out, .outlen = outlen };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN | CTL__PG_IDEMPOTENT, meta_add_body, &a);
}

static const struct {
	const char *name;
	enum ctl_change_kind kind;
} kinds[] = {
	{ "node", CTL_CHANGE_NODE },   { "policy", CTL_CHANGE_POLICY },
	{ "user", CTL_CHANGE_USER },   { "approval", CTL_CHANGE_APPROVAL },
	{ "sso", CTL_CHANGE_SSO },     { "meta", CTL_CHANGE_META },
	{ "hold", CTL_CHANGE_HOLD },   { "audit", CTL_CHANGE_AUDIT },
	{ "login", CTL_CHANGE_LOGIN }, { "kill", CTL_CHANGE_KILL },
};

bool ctl_change_parse(const char *payload, struct ctl_change *c, char *why, size_t whylen)
{
	const char *colon = strchr(payload, ':');
	size_t klen = colon ? (size_t)(colon - payload) : 0;
	memset(c, 0, sizeof(*c));
	size_t i;
	for (i = 0; colon && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].name) == klen && memcmp(kinds[i].name, payload, klen) == 0)
			break;
	if (!colon || i == sizeof(kinds) / sizeof(kinds[0])) {
		snprintf(why, whylen,
			 "change '%.64s': expected KIND:ID with KIND one of node, "
			 "policy, user, approval, sso, meta, hold, audit, login, kill",
			 payload);
		return false;
	}
	c->kind = kinds[i].kind;
	const char *v = colon + 1;
	size_t n = strlen(v);
	if (c->kind == CTL_CHANGE_META) {
		bool ok = n > 0 && n < CTL_CHANGE_NAME_MAX;
		for (size_t j = 0; ok && j < n; j++)
			ok = islower((unsigned char)v[j]) || isdigit((unsigned char)v[j]) ||
			     v[j] == '_';
		if (!ok) {
			snprintf(why, whylen,
				 "change '%.64s': a meta key is 1 to %d of a-z, 0-9 and _", payload,
				 CTL_CHANGE_NAME_MAX - 1);
			return false;
		}
		memcpy(c->name, v, n + 1);
		return true;
	}
	if (c->kind == CTL_CHANGE_HOLD || c->kind == CTL_CHANGE_LOGIN) {
		bool hold = c->kind == CTL_CHANGE_HOLD;
		size_t want = hold ? CTL_CHANGE_HOLD_ID_LEN : CTL_CHANGE_LOGIN_ID_LEN;
		bool ok = n == want;
		for (size_t j = 0; ok && j < n; j++)
			ok = isdigit((unsigned char)v[j]) || (v[j] >= 'a' && v[j] <= 'f');
		if (!ok) {
			snprintf(why, whylen, "change '%.64s': a %s's id is %zu of 0-9 and a-f",
				 payload, hold ? "hold" : "login", want);
			return false;
		}
		memcpy(c->name, v, n + 1);
		return true;
	}
	/* a positive decimal id of at most 18 digits: no sign, no leading zero, no overflow */
	bool ok = n > 0 && n <= 18 && v[0] != '0';
	for (size_t j = 0; ok && j < n; j++)
		ok = isdigit((unsigned char)v[j]);
	if (!ok) {
		snprintf(why, whylen, "change '%.64s': the id must be a positive decimal integer",
			 payload);
		return false;
	}
	c->id = (int64_t)strtoll(v, NULL, 10);
	return true;
}

struct ctl_store_listener {
	PGconn *conn;
};

/* The server's messages on this connection ("terminating connection due to administrator
 * command" at a restart) as debug lines: the loss itself is logged once, by the caller. */
static void on_notice(void *arg, const char *message)
{
	(void)arg;
	log_debug("meshcontrol", "store listener: %.*s", (int)strcspn(message, "\n"), message);
}

int ctl_store_listen(const char *url, struct ctl_store_listener **out, char *err, size_t errlen)
{
	int rc = ctl_store_url_check(url, err, errlen);
	if (rc)
		return rc;
	struct ctl_store_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->conn = PQconnectdb(url);
	if (l->conn)
		PQsetNoticeProcessor(l->conn, on_notice, NULL);
	PGresult *r = l->conn && PQstatus(l->conn) == CONNECTION_OK
			  ? PQexec(l->conn, "LISTEN " CTL_CHANGES_CHANNEL)
			  : NULL;
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "%s", l->conn ? PQerrorMessage(l->conn) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		ctl_store_scrub(url, err);
		PQclear(r);
		ctl_store_listener_free(l);
		return -EIO;
	}
	PQclear(r);
	*out = l;
	return 0;
}

int ctl_store_listener_fd(const struct ctl_store_listener *l)
{
	return PQsocket(l->conn);
}

int ctl_store_listener_read(struct ctl_store_listener *l, ctl_change_cb cb, void *ctx)
{
	if (!PQconsumeInput(l->conn) || PQstatus(l->conn) != CONNECTION_OK)
		return -EPIPE;
	PGnotify *nt;
	while ((nt = PQnotifies(l->conn))) {
		struct ctl_change c;
		char why[160];
		if (ctl_change_parse(nt->extra, &c, why, sizeof(why)))
			cb(ctx, &c);
		else
			log_warn("meshcontrol", "store: dropped a notification: %s", why);
		PQfreemem(nt);
	}
	return 0;
}

void ctl_store_listener_free(struct ctl_store_listener *l)
{
	if (!l)
		return;
	PQfinish(l->conn);
	free(l);
}
