/* control/netmap/sessions.h: a node's live SSH sessions as it reports them to control
 * (node API "sessions", issue #18), and the IDs control sends back to end some of them.
 *
 *	{"sessions": [{"id": "s3", "since": 1765000000, "conn": 42, "src_node": "laptop",
 *	               "src_addr": "100.64.0.9", "who": "alice@example.com", "ssh_user": "vinay",
 *	               "local_user": "vinay", "pty": true, "command": "", "recorder": ""}]}
 *
 * The whole list each time (it replaces the one control held), at most CTL_SESSIONS_MAX
 * entries in at most CTL_SESSIONS_BODY_MAX bytes.  What an admin sees of a session: who (the
 * source's owner, or its tags joined by commas), as whom, from where, since, a shell or the
 * command (the audit log's ssh.session.start shows control the same), recorded where.  Not
 * the monitor's pid or cgroup: the node's business.  Every text member is valid UTF-8 without
 * control characters (common/text.h) and at most its bound below; meshd cuts longer ones on
 * a character.  The parser is strict (control reads what any registered node sends): an
 * unknown member, a mistyped one (texts may be absent: ""; id, since and conn may not), a bad ID,
 *text too long or not clean, and the same ID twice are refused with one sentence naming the entry
 *and the member.
 *
 * A map message may carry "kill_sessions": [{"id": "s7", "since": 1765000000}, ...] (at most
 * CTL_SESSIONS_KILL_MAX): an admin asked control to end those sessions on this node; the node
 * ends one only when it started at that time. */
#ifndef MESH_CONTROL_NETMAP_SESSIONS_H
#define MESH_CONTROL_NETMAP_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CTL_SESSIONS_MAX = 2048,	 /* a node's live sessions at most (meshd's cap) */
	CTL_SESSIONS_BODY_MAX = 2 << 20, /* the request's JSON text */
	CTL_SESSIONS_KILL_MAX = 64,	 /* IDs in one map message */
	CTL_SESSION_ID_MAX = 16,	 /* "s" and up to 14 digits, NUL included */
	CTL_SESSION_NAME_MAX = 64,	 /* src_node, ssh_user, local_user (NUL included) */
	CTL_SESSION_ADDR_MAX = 48,	 /* src_addr: an IPv4 or IPv6 address */
	CTL_SESSION_TEXT_MAX = 128,	 /* who, command, recorder */
};

struct ctl_session {
	char id[CTL_SESSION_ID_MAX];	     /* "s7": unique while the node's meshd runs */
	int64_t since;			     /* unix seconds */
	uint64_t conn;			     /* the SSH connection's id (recordings' conn_id) */
	char src_node[CTL_SESSION_NAME_MAX]; /* the source node's name, or its address */
	char src_addr[CTL_SESSION_ADDR_MAX];
	char who[CTL_SESSION_TEXT_MAX]; /* the source's owner, or its tags ("tag:a,tag:b") */
	char ssh_user[CTL_SESSION_NAME_MAX], local_user[CTL_SESSION_NAME_MAX];
	bool pty;
	char command[CTL_SESSION_TEXT_MAX];  /* "": a shell */
	char recorder[CTL_SESSION_TEXT_MAX]; /* "": not recorded */
};

/* A session an admin asked to end: its ID and its start as the node reported it (an ID may
 * be another session's after the node's meshd restarted). */
struct ctl_session_kill {
	char id[CTL_SESSION_ID_MAX];
	int64_t since;
};

/* id is "s" and 1 to CTL_SESSION_ID_MAX - 2 digits. */
bool ctl_session_id_valid(const char *id);

/* dst (size bytes) gets src made fit for a session's text member: clean (common/text.h) and
 * cut on a character. */
void ctl_session_text_set(char *dst, size_t size, const char *src);

/* The request's body {"sessions":[...]} (malloc'd), or NULL when out of memory. */
char *ctl_sessions_format(const struct ctl_session *v, size_t n);

/* Parse a request's body: 0 with *out (malloc'd, NULL when n is 0) and *n, or -EINVAL with
 * the reason in err ("sessions[3]: \"id\" must be \"s\" and 1 to 14 digits"), -E2BIG for
 * more than CTL_SESSIONS_MAX entries or CTL_SESSIONS_BODY_MAX bytes, -ENOMEM. */
int ctl_sessions_parse(const char *text, size_t len, struct ctl_session **out, size_t *n, char *err,
		       size_t errlen);

#endif
