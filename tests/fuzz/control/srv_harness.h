/* Fuzz harness for meshcontrol's request handlers without a socket: a fresh server per input
 * (a copy of a prepared state directory: users, a policy, two registered nodes; a TURN relay
 * and its secret, so every node's map carries credentials), a web
 * session, a pending login and a check-mode hold with known ids, single sign-on with a
 * pending sign-in, and a stand-in for the
 * few libmicrohttpd calls the handlers make (headers, cookies, the answer). */
#ifndef MESH_TESTS_FUZZ_SRV_HARNESS_H
#define MESH_TESTS_FUZZ_SRV_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/server/internal.h"

#define FZ_ADMIN_TOKEN "fuzz-admin-token"
#define FZ_SESSION "5e5510115e5510115e5510115e5510115e5510115e5510115e5510115e551011"
#define FZ_CSRF "c5rfc5rfc5rfc5rfc5rfc5rfc5rfc5rf"
#define FZ_LOGIN_TOKEN "10910910910910910910910910910910"
#define FZ_HOLD_ID "401d401d401d401d401d401d401d401d"
#define FZ_RELAY "turn:198.51.100.1:3478"
#define FZ_RELAY_SECRET "fuzz-relay-secret"
/* single sign-on: a provider already discovered (never reached: no thread runs) and one
 * pending login of this state, bound to this pre-session id */
#define FZ_SSO_ISSUER "https://idp.test"
#define FZ_SSO_STATE "fuzzSTATEfuzzSTATEfuzzSTATEfuzzSTATEfuzzSTA"
#define FZ_SSO_PRE "55055055055055055055055055055055"
/* the cookie for FZ_SSO_PRE under the harness's cookie key (all 0x5a) */
#define FZ_SSO_COOKIE FZ_SSO_PRE "08e4b7903d6296e6d1256ca64f25c750a804d3518f453b6a6c621e0de68bae7f"

enum { FZ_NODES = 2, FZ_HEADERS_MAX = 16 };

/* Machine keys of the prepared nodes (node i+1 has machine key fz_machine_pub[i]). */
extern uint8_t fz_machine_pub[FZ_NODES][32], fz_machine_priv[FZ_NODES][32];

struct fz_reply {
	unsigned status; /* 0: no answer queued (held, or MHD_NO) */
	int queued;	 /* answers queued: at most one per request */
	char *body;
	size_t len;
	bool suspended;
	char cookie[256]; /* the answer's Set-Cookie ("" for none) */
};

/* The next this many answers are refused (MHD_queue_response says MHD_NO, nothing is
 * queued), as when the client's connection went: 0 unless a test sets it. */
extern int fz_queue_refuse;

/* A fresh server from the prepared state; aborts when it cannot be made. */
struct ctl_server *fz_srv_open(void);
void fz_srv_close(struct ctl_server *srv);
/* The state directory of the harness's tailnet as fz_srv_open starts from (state.db,
 * server.key): to be copied, e.g. into PostgreSQL (tests/unit/control/pg_pair.h). */
const char *fz_srv_template(void);
/* srv's public URL and alice's web session FZ_SESSION (fz_srv_open's; for servers made
 * otherwise, such as replicas on PostgreSQL). */
void fz_srv_web(struct ctl_server *srv);
/* A web session of user_id with this id (64 hex digits) and CSRF token, in srv's store
 * (0, or the store's error); what a hold keeps of it (ctl__session_ref). */
int fz_session_add(struct ctl_server *srv, const char *id, const char *csrf, int64_t user_id);
void fz_session_ref(const char *id, char out[static 65]);

/* One HTTP request through ctl__http_request: head is "METHOD URL\nName: value\n..."
 * (Cookie: a=b; c=d gives cookies).  The answer goes to out (free out->body). */
void fz_http(struct ctl_server *srv, const char *head, const char *body, size_t len,
	     struct fz_reply *out);
/* fz_http with a text body (NULL: none): the status, the answer's body as text in text (cut
 * to len, "" when none). */
unsigned fz_web(struct ctl_server *srv, const char *head, const char *body, char *text, size_t len);

/* The node API after decoding: msg (JSON text) from prepared node `node` (0 or 1; -1 for an
 * unknown machine key) to path ("register", "map", "hold", "logout").  Returns the opened
 * answer (malloc'd JSON text) in out->body, or the plain one when it was not sealed. */
void fz_node(struct ctl_server *srv, int node, const char *path, const char *msg, size_t len,
	     struct fz_reply *out);

/* fz_node's two halves, for a request held while other servers work (a replica's change
 * feed wakes it): start it from machine key pub (NULL when msg is not a JSON object;
 * out->suspended while it is held); then finish it: the handler runs again when it was
 * woken, or is answered now as its deadline would when it is still held, and a sealed
 * answer is opened with priv (NULL: left sealed).  finish frees what start made. */
struct fz_held;
struct fz_held *fz_node_start(struct ctl_server *srv, const uint8_t pub[32], const char *path,
			      const char *msg, size_t len, struct fz_reply *out);
void fz_node_finish(struct fz_held *h, const uint8_t *priv);

/* A sign-in of FZ_SSO_STATE in FZ_SSO_PRE's browser started on srv (fz_srv_open starts
 * one): true, or false when the table refused it (its start rate). */
bool fz_sso_started(struct ctl_server *srv);

/* A replica of the harness's tailnet (tests/unit/control/pg_pair.h's base and prepare):
 * cfg gets the harness's single sign-on settings; prepare gives srv alice's web session
 * (fz_srv_web) and the provider as if discovered, so that its pre-session cookie key is
 * the one every replica derives. */
void fz_replica_config(struct ctl_server_config *cfg);
void fz_replica_prepare(struct ctl_server *srv);

/* A count of what the store holds, to compare before and after a request. */
struct fz_census {
	size_t users, authkeys, nodes;
	uint64_t policy_hash, users_hash, nodes_hash;
};
void fz_census(struct ctl_server *srv, struct fz_census *c);

#endif
