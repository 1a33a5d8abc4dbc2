/* The PostgreSQL store's versioned policy ops (store.h: policy_current, policy_set_if).  The
 * version is the policy row's id from its BIGSERIAL: it only grows, a migrated tailnet keeps
 * it (store_migrate.c sets the sequence past the ids copied), and nothing has to be added to
 * the schema.  The compare-and-set takes a lock on the policy table that conflicts with
 * itself but not with readers (SHARE ROW EXCLUSIVE): at READ COMMITTED, a SELECT of the
 * newest row alone would let two replicas both read version N and both insert a row on top
 * of it (the unit test saw that in 16 of 20 rounds without the lock); with the lock the
 * second one waits, then reads the first one's row and gets -ESTALE. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "control/server/store_pg_int.h"

struct policy_if_args {
	const char *text;
	int64_t expect;
	char **out;
	int64_t *version;
};

/* The newest row's id (0 when none) and, with a->out, its text. */
static int current_body(struct ctl__pg_store *s, void *ctx)
{
	struct policy_if_args *a = ctx;
	PGresult *r;
	int rc = ctl__pg_q(s, "SELECT id, text FROM policy ORDER BY id DESC LIMIT 1", NULL, &r);
	*a->version = 0;
	if (a->out)
		*a->out = NULL;
	if (!rc && PQntuples(r) == 1) {
		*a->version = ctl__pg_get_int(r, 0, 0);
		if (a->out && !(*a->out = ctl__pg_get_dup(r, 0, 1)))
			rc = -ENOMEM;
	}
	PQclear(r);
	return rc;
}

int ctl__pg_policy_current(struct ctl_store *s, char **text, int64_t *version)
{
	struct policy_if_args a = { .out = text, .version = version };
	return ctl__pg_run(ctl__pg(s), CTL__PG_READ, current_body, &a);
}

static int set_if_body(struct ctl__pg_store *s, void *ctx)
{
	struct policy_if_args *a = ctx;
	int rc = ctl__pg_q(s, "LOCK TABLE policy IN SHARE ROW EXCLUSIVE MODE", NULL, NULL);
	if (!rc)
		rc = current_body(s, a);
	if (!rc && a->expect != CTL_POLICY_ANY && *a->version != a->expect)
		return -ESTALE;
	struct ctl__pg_params p = { 0 };
	ctl__pg_text(&p, a->text);
	ctl__pg_int(&p, (int64_t)time(NULL));
	PGresult *r = NULL;
	if (!rc)
		rc = ctl__pg_q(s, "INSERT INTO policy (text, created) VALUES ($1, $2) RETURNING id",
			       &p, &r);
	if (!rc)
		*a->version = ctl__pg_get_int(r, 0, 0);
	PQclear(r);
	return rc;
}

/* Run again after a connection lost before COMMIT (nothing was written), never after. */
int ctl__pg_policy_set_if(struct ctl_store *s, const char *text, int64_t expect, int64_t *version)
{
	struct policy_if_args a = { .text = text, .expect = expect, .version = version };
	return ctl__pg_run(ctl__pg(s), CTL__PG_TXN, set_if_body, &a);
}
