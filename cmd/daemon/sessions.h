/* meshd's live SSH sessions (`meshctl sessions`, `meshctl sessions kill ID`): a registry fed
 * by sshd's session hooks.  It wraps the hooks already in a struct sshd_hooks (the
 * recording's, record.h), so both see every session: a session the recording does not
 * watch is still listed, and one it refuses is not started and not listed.
 *
 *   meshd_record_new(loop, node, dir, max, &hooks, &rec);	// fills hooks' session_*
 *   struct meshd_sessions_config sc = { .node = node, .recorded = meshd_record_where };
 *   meshd_sessions_new(&sc, &hooks, &reg);			// wraps them
 *   sshd_server_new(loop, &cfg, &hooks, &srv);
 *   ...
 *   meshd_sessions_list(reg, &v, &n);			// for the local API
 *   meshd_sessions_kill(reg, "s7", "uid 0", err, sizeof(err));
 *   meshd_sessions_free(reg);				// after the SSH server closed
 *
 * Each session gets an ID, "s" and a number unique for the daemon's life ("s7").  At most
 * cfg.max sessions are live at once (the list must fit one local API answer); one more is
 * refused with MESHD_SESSIONS_FULL_MSG, before the recording sees it, and is an ssh.refuse
 * audit event (detail MESHD_SESSIONS_FULL_AUDIT; the flood rule of audit.h applies).  Killing ends
 * the session the way a revocation does (sshd_session_stop: the message on the client's stderr,
 * exit status 255, SIGHUP to its process group and its whole cgroup killed). */
#ifndef MESH_CMD_DAEMON_SESSIONS_H
#define MESH_CMD_DAEMON_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/localapi/localapi.h"

struct meshd_node;
struct meshd_sessions;
struct sshd_hooks;
struct sshd_session;

#define MESHD_SESSIONS_KILL_MSG "Session ended by the node's administrator."
#define MESHD_SESSIONS_HIDDEN "(not shown)"
#define MESHD_SESSIONS_FULL_MSG "This node has too many SSH sessions; try again later."
#define MESHD_SESSIONS_FULL_AUDIT "too many sessions"

struct meshd_sessions_config {
	/* sources are named from its netmap, refusals are its audit events (NULL: addresses,
	 * no events) */
	struct meshd_node *node;
	/* where a session the wrapped hooks watch is recorded ("": nothing kept), e.g.
	 * meshd_record_where; NULL: sessions are shown as not recorded */
	void (*recorded)(const void *inner, char *out, size_t len);
	/* The SSH server's verbs; NULL: sshd_session_stop and sshd_session_process.  Tests
	 * give their own. */
	void (*stop)(struct sshd_session *s, const char *message);
	void (*process)(const struct sshd_session *s, int *pid, char *cgroup, size_t len);
	unsigned max; /* live sessions at most; 0 or more than CTL_LAPI_SESSIONS_MAX: that */
};

/* Wraps hooks' session_* (which may be unset) with the registry's.  0 or -ENOMEM. */
int meshd_sessions_new(const struct meshd_sessions_config *cfg, struct sshd_hooks *hooks,
		       struct meshd_sessions **out);
/* Once the SSH server is closed (every session ended). */
void meshd_sessions_free(struct meshd_sessions *reg);

size_t meshd_sessions_count(const struct meshd_sessions *reg);

/* cb(ctx) after each session's start and end (NULL: none); one at a time. */
void meshd_sessions_on_change(struct meshd_sessions *reg, void (*cb)(void *ctx), void *ctx);

struct ctl_session;
/* The live sessions, oldest first, as control gets them (control/netmap/sessions.h: who, as
 * whom, from where, since, what, recorded where; texts cut to their bounds); *out is one
 * allocation (NULL when none), free() it.  0 or -ENOMEM. */
int meshd_sessions_wire(const struct meshd_sessions *reg, struct ctl_session **out, size_t *n);

/* The live sessions, oldest first, as the local API sends them (commands cut to
 * CTL_LAPI_SESSION_CMD_MAX); free with ctl_lapi_sessions_free.  Without commands (for
 * those who may not act as the node: a command line is its user's business, as in the
 * log) an exec's command is MESHD_SESSIONS_HIDDEN.  0 or -ENOMEM. */
int meshd_sessions_list(const struct meshd_sessions *reg, bool commands,
			struct ctl_lapi_session **out, size_t *n);

/* Ends session id with MESHD_SESSIONS_KILL_MSG; by says who asked, for the log.  0, or
 * -ENOENT with "no session 'ID' on this node" in err (-EINVAL when id is not "s" and
 * digits, not quoted back). */
int meshd_sessions_kill(struct meshd_sessions *reg, const char *id, const char *by, char *err,
			size_t errlen);
/* The same, only when the session started at since (unix seconds; -1: any): an ID control
 * saw may be another session's after meshd restarted.  -ENOENT with both times in err. */
int meshd_sessions_kill_since(struct meshd_sessions *reg, const char *id, int64_t since,
			      const char *by, char *err, size_t errlen);

#endif
