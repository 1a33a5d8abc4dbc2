/* control/server/store_pg_int.h: what the PostgreSQL store's files share (store_pg.c: the
 * connection, the schema, users, meta, policy, SSO; store_pg_nodes.c: nodes and
 * auth keys; store_pg_policy.c: the policy's version and its compare-and-set;
 * store_pg_notify.c: meta_add and change notifications; store_pg_holds.c: check mode's approvals
 * and holds; store_pg_transient.c: web sessions, password throttles, request nonces;
 * store_pg_logins.c: pending interactive logins and SSO sign-ins in flight;
 * store_pg_live.c: live SSH sessions and their kills;
 * store_migrate.c: SQLite -> PostgreSQL).  Every statement goes through ctl__pg_q with its
 * values as parameters (PQexecParams, text format): no SQL is ever built from input.  Errors
 * are negative errno values: -EEXIST for a constraint (SQLSTATE class 23, as SQLite's
 * SQLITE_CONSTRAINT), -EBUSY for a serialization failure or deadlock, -EPIPE when the connection
 * was lost, -EIO otherwise. */
#ifndef MESH_CONTROL_SERVER_STORE_PG_INT_H
#define MESH_CONTROL_SERVER_STORE_PG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "control/server/store.h"

enum {
	CTL__PG_PARAMS_MAX = 16,
	/* ctl__pg_run's flags: a read, an op that may run twice with the same result, an op
	 * of several statements (run between BEGIN and COMMIT) */
	CTL__PG_READ = 1,
	CTL__PG_IDEMPOTENT = 2,
	CTL__PG_TXN = 4,
};

/* pg_advisory_xact_lock's key for changing the schema or filling a new database ("meshctr") */
#define CTL__PG_MIGRATE_LOCK INT64_C(0x6d657368637472)

struct ctl__pg_store {
	struct ctl_store base;
	PGconn *conn;
	/* set by an op's body once it has handed rows to the caller's callback: such an op
	 * is never run again after a lost connection (the callback would see rows twice) */
	bool delivered;
};

/* Parameters as text: an integer, bytes as bytea's hex form, text (NULL: SQL NULL). */
struct ctl__pg_params {
	int n;
	const char *v[CTL__PG_PARAMS_MAX];
	char buf[CTL__PG_PARAMS_MAX][68];
};
void ctl__pg_int(struct ctl__pg_params *p, int64_t x);
void ctl__pg_bytes(struct ctl__pg_params *p, const uint8_t *b, size_t len); /* len <= 32 */
void ctl__pg_text(struct ctl__pg_params *p, const char *t);

struct ctl__pg_store *ctl__pg(struct ctl_store *s);

/* Run sql with p (NULL: none).  With res, a result with rows is the caller's to PQclear
 * (*res NULL on error). */
int ctl__pg_q(struct ctl__pg_store *s, const char *sql, const struct ctl__pg_params *p,
	      PGresult **res);

/* Run one op: body inside BEGIN/COMMIT with CTL__PG_TXN (rolled back when it fails), else
 * its one statement on its own.  A connection lost is reset once and the op run again only
 * when that is safe: a read; any op lost before its COMMIT was sent (nothing was written);
 * an idempotent op whatever it had reached.  Otherwise -EPIPE: it may or may not have
 * happened. */
int ctl__pg_run(struct ctl__pg_store *s, int flags, int (*body)(struct ctl__pg_store *, void *),
		void *ctx);

/* Column readers of a text-format result: a 64-bit integer (0 for NULL), bytes of bytea
 * into out (exactly len, else zeros and false), text (NULL stays NULL), text into a buffer. */
int64_t ctl__pg_get_int(const PGresult *r, int row, int col);
bool ctl__pg_get_bytes(const PGresult *r, int row, int col, uint8_t *out, size_t len);
char *ctl__pg_get_dup(const PGresult *r, int row, int col);
void ctl__pg_get_text(const PGresult *r, int row, int col, char *out, size_t len);

/* A meta value inside the caller's op; meta_put stores one (replacing it). */
int ctl__pg_meta_get(struct ctl__pg_store *s, const char *key, char *out, size_t outlen);
int ctl__pg_meta_put(struct ctl__pg_store *s, const char *key, const char *value);

/* store_pg_nodes.c: the ops on nodes and auth keys, and user_remove's node rows */
int ctl__pg_node_query(struct ctl__pg_store *s, const char *where, const struct ctl__pg_params *p,
		       ctl_node_cb cb, void *ctx);
int ctl__pg_authkey_add(struct ctl_store *s, struct ctl_authkey *k);
int ctl__pg_authkey_get(struct ctl_store *s, const char *prefix, struct ctl_authkey *k);
int ctl__pg_authkey_list(struct ctl_store *s, ctl_authkey_cb cb, void *ctx);
int ctl__pg_authkey_revoke(struct ctl_store *s, const char *prefix);
int ctl__pg_node_register(struct ctl_store *s, struct ctl_node_rec *n, int64_t authkey_id);
int ctl__pg_node_by_machine(struct ctl_store *s, const uint8_t mkey[static 32],
			    struct ctl_node_rec *n);
int ctl__pg_node_get(struct ctl_store *s, int64_t id, struct ctl_node_rec *n);
int ctl__pg_node_update(struct ctl_store *s, const struct ctl_node_rec *n);
int ctl__pg_node_set_expiry(struct ctl_store *s, int64_t id, int64_t key_expiry);
int ctl__pg_node_list(struct ctl_store *s, ctl_node_cb cb, void *ctx);
int ctl__pg_node_remove(struct ctl_store *s, int64_t id);

/* store_pg_policy.c: the policy's version and its compare-and-set */
int ctl__pg_policy_current(struct ctl_store *s, char **text, int64_t *version);
int ctl__pg_policy_set_if(struct ctl_store *s, const char *text, int64_t expect, int64_t *version);
/* store_pg_audit.c: the audit log's ops */
int ctl__pg_audit_append(struct ctl_store *s, struct ctl_audit_rec *recs, size_t n, int64_t node_id,
			 const char *queue, int64_t *held);
int ctl__pg_audit_last_queue(struct ctl_store *s, int64_t node_id,
			     char queue[CTL_AUDIT_QUEUE_MAX + 1], int64_t *held);
int ctl__pg_audit_list(struct ctl_store *s, const struct ctl_audit_filter *f, ctl_audit_cb cb,
		       void *ctx);
int ctl__pg_audit_head(struct ctl_store *s, int64_t *id, uint8_t hash[CTL_AUDIT_HASH_LEN]);
int ctl__pg_audit_prune(struct ctl_store *s, int64_t prev_through, const struct ctl_audit_anchor *a,
			struct ctl_audit_rec *event);
/* store_pg_holds.c: check mode's approvals and holds (store.h); the row sql ("SELECT state
 * ... FOR UPDATE" with p) locked while it is pending: 0, -ESTALE (decided), -ENOENT (gone) */
int ctl__pg_lock_pending(struct ctl__pg_store *s, const char *sql, struct ctl__pg_params *p);
int ctl__pg_approval_put(struct ctl_store *s, const struct ctl_approval *a);
int ctl__pg_approval_get(struct ctl_store *s, int64_t src, int64_t dst, struct ctl_approval *a);
int ctl__pg_hold_put(struct ctl_store *s, const struct ctl__hold *h);
int ctl__pg_hold_get(struct ctl_store *s, const char *id, struct ctl__hold *h);
int ctl__pg_hold_update(struct ctl_store *s, const struct ctl__hold *h);
int ctl__pg_hold_touch(struct ctl_store *s, const char *id, int64_t last_asked);
int ctl__pg_hold_delete(struct ctl_store *s, const char *id);
int ctl__pg_hold_count(struct ctl_store *s, int64_t src, int64_t dst, struct ctl_hold_count *c);
int ctl__pg_hold_expire(struct ctl_store *s, int64_t created_before, int64_t asked_before);
/* store_pg_transient.c: web sessions, password throttles, request nonces (store.h) */
int ctl__pg_session_put(struct ctl_store *s, const struct ctl_web_session *ws, int64_t per_user,
			int64_t max);
int ctl__pg_session_get(struct ctl_store *s, const uint8_t id_hash[static 32], int64_t now,
			struct ctl_web_session *ws);
int ctl__pg_session_delete(struct ctl_store *s, const uint8_t id_hash[static 32]);
int ctl__pg_throttle_take(struct ctl_store *s, const struct ctl_throttle_rule *rule,
			  const char *key, int64_t now, int64_t *retry_at);
int ctl__pg_throttle_give_back(struct ctl_store *s, enum ctl_throttle_kind kind, const char *key,
			       bool all, int64_t now);
int ctl__pg_nonce_add(struct ctl_store *s, const uint8_t nonce[static 24], int64_t expires);
int ctl__pg_transient_expire(struct ctl_store *s, int64_t now);
/* store_pg_logins.c: pending interactive logins and SSO sign-ins in flight (store.h) */
int ctl__pg_login_put(struct ctl_store *s, const struct ctl__login_req *lr);
int ctl__pg_login_get(struct ctl_store *s, const char *id, struct ctl__login_req *lr);
int ctl__pg_login_decide(struct ctl_store *s, const struct ctl__login_req *lr);
int ctl__pg_login_delete(struct ctl_store *s, const char *id);
int ctl__pg_login_count(struct ctl_store *s, const char *source, const uint8_t mkey[static 32],
			struct ctl_login_count *c);
int ctl__pg_login_expire(struct ctl_store *s, int64_t created_before);
int ctl__pg_sso_pending_put(struct ctl_store *s, const char *state_id, const char *sealed,
			    const struct ctl__sso_pending *p);
int ctl__pg_sso_pending_take(struct ctl_store *s, const char *state_id, const char *pre,
			     int64_t now, struct ctl__sso_pending *p, char *sealed,
			     size_t sealed_len);
/* store_pg_live.c: live SSH sessions and the kills waiting for each node (store.h) */
int ctl__pg_ssh_sessions_put(struct ctl_store *s, int64_t node_id, const char *list,
			     int64_t reported_ms);
int ctl__pg_ssh_sessions_list(struct ctl_store *s, int64_t node_id, ctl_ssh_sessions_cb cb,
			      void *ctx);
int ctl__pg_ssh_kill_put(struct ctl_store *s, int64_t node_id, const struct ctl_session_kill *k,
			 int64_t made, int64_t max);
int ctl__pg_ssh_kills_list(struct ctl_store *s, int64_t node_id, ctl_ssh_kill_cb cb, void *ctx);
int ctl__pg_ssh_kills_delete(struct ctl_store *s, int64_t node_id, const struct ctl_session_kill *v,
			     size_t n);
/* store_pg_notify.c: the triggers that notify every change (store_notify.h), installed
 * (or replaced) in a transaction of their own under the migration lock. */
int ctl__pg_notify_install(struct ctl__pg_store *s, char *err, size_t errlen);
/* ... and the op replicas agree through (store.h's meta_add) */
int ctl__pg_meta_add(struct ctl_store *s, const char *key, const char *value, char *out,
		     size_t outlen);

/* store_pg.c: connect (the URL already checked) and migrate; err never holds the password */
int ctl__pg_connect(const char *url, struct ctl__pg_store **out, char *err, size_t errlen);

#endif
