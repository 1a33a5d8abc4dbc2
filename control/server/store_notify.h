/* control/server/store_notify.h: changes to a shared store, as other replicas hear of them.
 *
 * With PostgreSQL, every write that matters to the maps notifies channel "mesh_changes"
 * from inside its own transaction (triggers installed by store_pg_notify.c at connect, so
 * every op, present and future, notifies without code of its own); the payload is
 * "KIND:ID": node:ID (a node or its tags inserted, updated or deleted), policy:ID,
 * user:ID (removed), approval:SRC_NODE, sso:USER_ID (groups from the provider), meta:KEY
 * (the DNS settings "dns", the admin token hash), hold:ID (a check-mode hold decided,
 * re-authenticated for or removed; ID its 32 hex digits), audit:ID (a row appended to the
 * audit log; one per row, ID its id), login:ID (an interactive login approved or rejected;
 * ID its 64 hex digits, the SHA-256 of its token), kill:NODE_ID (a kill of one of the node's
 * live SSH sessions queued or changed, or taken: sent, or no longer listed).  A notification
 * is delivered only after its transaction commits, and to every listening connection, the
 * writer's own replica included.
 *
 *	struct ctl_store_listener *l;
 *	if (ctl_store_listen(url, &l, err, sizeof(err)) == 0)
 *		... poll(ctl_store_listener_fd(l)) readable: ctl_store_listener_read(l, cb, ctx)
 *
 * Payloads come from the database, which anyone with write access to it can fill: they are
 * parsed strictly (ctl_change_parse) and one that does not parse is logged and dropped. */
#ifndef MESH_CONTROL_STORE_NOTIFY_H
#define MESH_CONTROL_STORE_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_CHANGES_CHANNEL "mesh_changes"

enum ctl_change_kind {
	CTL_CHANGE_NODE,
	CTL_CHANGE_POLICY,
	CTL_CHANGE_USER,
	CTL_CHANGE_APPROVAL,
	CTL_CHANGE_SSO,
	CTL_CHANGE_META,
	CTL_CHANGE_HOLD,
	CTL_CHANGE_AUDIT,
	CTL_CHANGE_LOGIN,
	CTL_CHANGE_KILL,
};

enum {
	CTL_CHANGE_NAME_MAX = 32,     /* a meta key, with its '\0' */
	CTL_CHANGE_HOLD_ID_LEN = 32,  /* a hold's id: hex digits */
	CTL_CHANGE_LOGIN_ID_LEN = 64, /* a login's id: hex digits */
};

struct ctl_change {
	enum ctl_change_kind kind;
	int64_t id; /* every kind but meta: a row id, > 0 */
	/* meta: the key ([a-z0-9_], 1..31 bytes); hold: its id (32 of [0-9a-f]); login: its
	 * id (64 of [0-9a-f]) */
	char name[CTL_CHANGE_LOGIN_ID_LEN + 1];
};

/* "KIND:ID" into c: true, or false with a sentence quoting the bad payload in why. */
bool ctl_change_parse(const char *payload, struct ctl_change *c, char *why, size_t whylen);

struct ctl_store_listener;

/* A connection of its own to the PostgreSQL store at url, listening on the changes
 * channel.  0, -EINVAL for a URL that is not PostgreSQL's, -EIO with the reason (never the
 * password) in err. */
int ctl_store_listen(const char *url, struct ctl_store_listener **out, char *err, size_t errlen);
/* The socket to poll for input. */
int ctl_store_listener_fd(const struct ctl_store_listener *l);
typedef void (*ctl_change_cb)(void *ctx, const struct ctl_change *c);
/* Reads what has arrived and hands each change to cb (bad payloads logged and skipped).
 * 0, or -EPIPE when the connection is lost (free it and listen again). */
int ctl_store_listener_read(struct ctl_store_listener *l, ctl_change_cb cb, void *ctx);
void ctl_store_listener_free(struct ctl_store_listener *l);

#endif
