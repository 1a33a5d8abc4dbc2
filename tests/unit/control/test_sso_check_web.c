/* Check mode through the identity provider, through the fuzz harness's server without a
 * socket: the hold FZ_HOLD_ID (laptop -> server as root).  Its check page keeps the password
 * form for a local user (alice: break-glass admins), and for a person who signs in at the
 * provider (carol, made the laptop's owner here) sends the browser to /oidc/start?hold=ID
 * until that browser's session re-authenticated for the hold; /oidc/start binds the pending
 * login to the hold; the Approve page then needs no password and records the provider's
 * auth_time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "check.h"
#include "control/server/internal.h"
#include "control/server/sso.h"
#include "control/server/store.h"
#include "tests/fuzz/control/srv_harness.h"

#define CAROL "ca401ca401ca401ca401ca401ca401ca401ca401ca401ca401ca401ca401ca40"
#define CAROL_CSRF "ca40c5rfca40c5rfca40c5rfca40c5rf"

/* The newest sign-in in flight as the store holds it (sso_pending), and how many there are. */
struct pending_row {
	char hold[33], next[SRV_SSO_NEXT_MAX];
	int64_t auth_after;
};

static int64_t pending_newest(struct ctl_server *srv, struct pending_row *p)
{
	sqlite3 *db = ctl__sq(srv->store)->db;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;
	memset(p, 0, sizeof(*p));
	if (sqlite3_prepare_v2(db,
			       "SELECT hold, next, auth_after, (SELECT count(*) FROM sso_pending) "
			       "FROM sso_pending ORDER BY created DESC, rowid DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(p->hold, sizeof(p->hold), "%s", sqlite3_column_text(st, 0));
		snprintf(p->next, sizeof(p->next), "%s", sqlite3_column_text(st, 1));
		p->auth_after = sqlite3_column_int64(st, 2);
		n = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	return n;
}

static char last[64 * 1024]; /* the last answer's body */

/* One request: its status, its body in last; want (unless NULL) must be in it. */
static unsigned get(struct ctl_server *srv, const char *head, const char *body, const char *want)
{
	struct fz_reply out = { 0 };
	fz_http(srv, head, body ? body : "", body ? strlen(body) : 0, &out);
	snprintf(last, sizeof(last), "%.*s", out.body ? (int)out.len : 0, out.body ? out.body : "");
	free(out.body);
	if (want && !strstr(last, want)) {
		fprintf(stderr, "%s: no \"%s\" in: %s\n", head, want, last);
		CHECK(!"the answer has the text");
	}
	return out.status;
}

/* The laptop (node 1) owned by carol, who signed in at the provider once; a session of
 * hers (CAROL) that nothing re-authenticated yet. */
static struct ctl_server *open_sso(int64_t *carol)
{
	struct ctl_server *srv = fz_srv_open();
	struct ctl_sso_login in = { .iss = FZ_SSO_ISSUER,
				    .sub = "carol-sub",
				    .email = "carol@example.com",
				    .groups = "[]",
				    .login = "carol@example.com",
				    .now = ctl__now_s() };
	struct ctl_user u;
	bool created = false;
	CHECK_INT(srv->store->ops->sso_login(srv->store, &in, &u, &created), 0);
	struct ctl__node *n = ctl__node_by_id(srv, 1);
	n->rec.user_id = u.id;
	snprintf(n->owner, sizeof(n->owner), "%s", u.login);
	CHECK_INT(fz_session_add(srv, CAROL, CAROL_CSRF, u.id), 0);
	*carol = u.id;
	return srv;
}

#define CHECK_GET(cookie) "GET /check/" FZ_HOLD_ID "\n" cookie
#define CHECK_POST(cookie) "POST /check/" FZ_HOLD_ID "\n" cookie

int main(void)
{
	/* 1 a local user (alice, no provider identity): the password form, as before */
	struct ctl_server *srv = fz_srv_open();
	CHECK_INT(get(srv, CHECK_GET("Cookie: mesh_session=" FZ_SESSION "\n"), NULL,
		      "Your password, to approve this login"),
		  200);
	fz_srv_close(srv);

	int64_t carol;
	srv = open_sso(&carol);
	struct ctl__hold *h = ctl__hold_find(srv, FZ_HOLD_ID);
	/* 2 carol's hold: to the provider, with or without a session, her own or not */
	CHECK_INT(get(srv, CHECK_GET(""), NULL, NULL), 303);
	CHECK_INT(get(srv, CHECK_GET("Cookie: mesh_session=" CAROL "\n"), NULL, NULL), 303);
	CHECK_INT(get(srv, CHECK_GET("Cookie: mesh_session=" FZ_SESSION "\n"), NULL, NULL), 303);
	/* 3 approving without the new sign-in: refused, the hold stays pending */
	CHECK_INT(get(srv, CHECK_POST("Cookie: mesh_session=" CAROL "\n"),
		      "csrf=" CAROL_CSRF "&action=approve",
		      "Sign in again at the identity provider to approve or reject this login"),
		  403);
	CHECK_INT(h->state, 0);
	/* 4 /oidc/start?hold=ID: a pending login bound to the hold, back to its page */
	struct pending_row p;
	int64_t n = pending_newest(srv, &p);
	CHECK_INT(get(srv, "GET /oidc/start?hold=" FZ_HOLD_ID "\n", NULL, NULL), 303);
	CHECK_INT(pending_newest(srv, &p), n + 1);
	CHECK_STR(p.hold, FZ_HOLD_ID);
	CHECK_INT(p.auth_after, h->created);
	CHECK_STR(p.next, "/check/" FZ_HOLD_ID);
	/* 5 an unknown hold, and a decided one */
	CHECK_INT(get(srv, "GET /oidc/start?hold=0123\n", NULL, "This check link is unknown"), 404);
	h->state = -1;
	CHECK_INT(get(srv, "GET /oidc/start?hold=" FZ_HOLD_ID "\n", NULL,
		      "This check link is unknown, has expired or was already decided"),
		  404);
	h->state = 0;
	/* 6 re-authenticated in another browser (session): this one is still sent there */
	fz_session_ref(FZ_SESSION, h->reauth_session);
	h->reauth_user = carol;
	h->reauth_at = h->created + 5;
	CHECK_INT(get(srv, CHECK_GET("Cookie: mesh_session=" CAROL "\n"), NULL, NULL), 303);
	/* 7 re-authenticated in this browser: the Approve page, no password */
	fz_session_ref(CAROL, h->reauth_session);
	CHECK_INT(get(srv, CHECK_GET("Cookie: mesh_session=" CAROL "\n"), NULL,
		      "You signed in again at the identity provider at "),
		  200);
	CHECK(!strstr(last, "name=password"));
	/* 8 approved with the provider's auth_time, kept in the store */
	CHECK_INT(get(srv, CHECK_POST("Cookie: mesh_session=" CAROL "\n"),
		      "csrf=" CAROL_CSRF "&action=approve",
		      "signed in again at the identity provider for this login at"),
		  200);
	CHECK_INT(h->state, 1);
	struct ctl_approval a;
	CHECK_INT(srv->store->ops->approval_get(srv->store, 1, 2, &a), 0);
	CHECK_INT(a.auth_at, h->created + 5);
	CHECK_INT(a.user_id, carol);
	fz_srv_close(srv);
	return check_finish();
}
