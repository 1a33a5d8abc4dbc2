/* sshd/: the embedded SSH server.  A libssh server driven by a libuv loop: connections arrive as
 * file descriptors (a socketpair end from netstack/, or a TCP socket in tests) together with the
 * peer's address; an authorization hook supplied by the embedder decides who may log in as which
 * local Unix user.  No secret is ever checked: auth methods "none", "password" and "publickey" all
 * receive the hook's decision, their contents are ignored; only a user name ending in "+key" (for
 * clients that refuse trivial logins) asks for a public key whose signature verifies, whatever the
 * key.  Sessions run as real Unix logins (PAM service "meshd", utmp/wtmp for PTYs,
 * initgroups/setgid/setuid, checked).  The only module that includes libssh. */
#ifndef MESH_SSHD_H
#define MESH_SSHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/verdict.h"

struct uv_loop_s;
struct sshd_server;
struct sshd_check;
struct sshd_session;

/* Decision flags: what an accepted session may do besides a shell/exec/sftp. */
enum {
	SSHD_ALLOW_AGENT = 1 << 0,	/* auth-agent-req@openssh.com (ssh -A) */
	SSHD_ALLOW_LOCAL_FWD = 1 << 1,	/* direct-tcpip (ssh -L) */
	SSHD_ALLOW_REMOTE_FWD = 1 << 2, /* tcpip-forward (ssh -R) */
	SSHD_ALLOW_ROOT = 1 << 3,	/* local_user may resolve to uid 0 */
};

enum {
	SSHD_NAME_MAX = 64,
	SSHD_ENV_PATTERNS_MAX = 256,
	SSHD_MESSAGE_MAX = 512,
};

struct sshd_decision {
	/* VERDICT_REJECT: banner with `message`, then disconnect; VERDICT_ACCEPT: log in as
	 * `local_user`; VERDICT_CHECK: banner with the URL in `message`, hold until
	 * sshd_check_resolve() */
	enum verdict action;
	char local_user[SSHD_NAME_MAX];		/* accept: NSS name (or a number: a uid) */
	unsigned flags;				/* SSHD_ALLOW_* */
	char accept_env[SSHD_ENV_PATTERNS_MAX]; /* accept: comma-separated globs ("LC_*,FOO") */
	uint32_t max_duration_s;		/* accept: session lifetime limit, 0 = none */
	char message[SSHD_MESSAGE_MAX];		/* reject: the reason; check: the URL */
};

/* A session about to start, for the session hooks (recording).  Valid during the call. */
struct sshd_session_info {
	struct sshd_session *session; /* for sshd_session_hold/go/stop, until session_end */
	uint64_t conn_id;	      /* the connection's number on this server (1, 2, ...):
				       * the sessions of one connection share it */
	const struct sockaddr *peer;
	const char *ssh_user;	/* the name the client asked for */
	const char *local_user; /* the account the session runs as */
	const char *command;	/* exec: the command; sftp: the sftp server; NULL: a shell */
	const char *term;	/* the pty's TERM, NULL without a pty */
	bool pty;
	unsigned cols, rows; /* the pty's size (0 without one) */
};

struct sshd_hooks {
	/* Decide for `user` connecting from `peer`.  Fill *out synchronously.  `check` is a
	 * handle for VERDICT_CHECK answers: keep it and call sshd_check_resolve() later.  It is
	 * NULL during sshd_revalidate(), where a CHECK answer counts as an accept and must
	 * carry the same fields (local_user, flags) as one. */
	void (*authorize)(void *ctx, const struct sockaddr *peer, const char *user,
			  struct sshd_check *check, struct sshd_decision *out);
	/* The connection behind a pending check went away; `check` is invalid afterwards. */
	void (*check_cancel)(void *ctx, struct sshd_check *check);
	void *ctx;
	/* Optional reports to the embedder (NULL: none; with ctx).  revoked: sshd_revalidate
	 * closed this connection, why in sshd's words.  forward: a forwarding was opened, what
	 * as "-L HOST:PORT" (each direct-tcpip channel), "-R ADDR:PORT" (a listener),
	 * "-A" (the connection's agent socket).  sshd decides nothing from them. */
	void (*revoked)(void *ctx, const struct sockaddr *peer, const char *user,
			const char *local_user, const char *why);
	void (*forward)(void *ctx, const struct sockaddr *peer, const char *user,
			const char *local_user, const char *what);
	/* Session hooks, all NULL or all set (recording).  session_start runs before a
	 * shell, exec or subsystem starts: it returns the session's own pointer (NULL: not
	 * watched, no other hook runs for it), or NULL with a message in refuse[] to refuse
	 * the session (nothing runs; the client reads the message on stderr and the session
	 * ends with exit status 255).  For a watched
	 * session: session_output gets every byte the client is sent (the pty's output, or
	 * stdout and stderr), after libssh took it and without a copy; returning false ends
	 * the session with the message it wrote into message[] (an enforced recording that
	 * failed); session_resize gets window changes; session_end runs once with the wait
	 * status (-1 when the session was cut short: revocation, time limit, hook failure,
	 * connection lost), and the pointer is not used again.  session_input (optional,
	 * NULL: not asked) gets every byte the client sends to the session's stdin or pty, as
	 * it is taken — passwords typed included, so set it only when input is to be
	 * recorded; returning false ends the session as session_output's does.  session_start gets
	 * session_ctx, not ctx: the recorder is not the authorizer. */
	void *(*session_start)(void *session_ctx, const struct sshd_session_info *info,
			       char *refuse, size_t refuse_len);
	bool (*session_output)(void *sess, const void *data, size_t len, bool is_stderr,
			       char *message, size_t message_len);
	void (*session_resize)(void *sess, unsigned cols, unsigned rows);
	bool (*session_input)(void *sess, const void *data, size_t len, char *message,
			      size_t message_len);
	void (*session_end)(void *sess, int wait_status);
	void *session_ctx;
};

struct sshd_config {
	const char *state_dir;	     /* host keys live here (created 0700, keys 0600) */
	const char *pam_service;     /* default "meshd" */
	unsigned max_connections;    /* default 1024; more are closed at once */
	unsigned preauth_timeout_ms; /* default 30000: key exchange + auth must finish */
	unsigned keepalive_ms;	     /* default 0 (off): idle connections are probed */
	const char *sftp_server;     /* default /usr/lib/openssh/sftp-server */
	unsigned max_channels;	     /* default 32 per connection: sessions, forwarded
				      * connections, listeners; more are refused */
	size_t max_conn_buffer;	     /* default 16 MiB per connection: client data buffered
				      * toward local descriptors; a full budget stalls the
				      * client (its window stays shut) and refuses new channels */
	unsigned stall_timeout_ms;   /* default 30000: a client that leaves more than 256 KiB
				      * of our output untaken has its requests wait (it is
				      * closed past 1 MiB of them or of output), and is
				      * closed once none of it has left for this long */
	uint64_t rekey_data;	     /* 0: libssh's own (1 GiB with chacha20-poly1305); bytes
				      * after which we start a key re-exchange (tests set less) */
};

/* Create a server on `loop`; loads or generates the Ed25519 host key in cfg->state_dir (the
 * only one offered; an ECDSA key earlier versions made there is left alone and unused).
 * Returns 0 or -errno. */
int sshd_server_new(struct uv_loop_s *loop, const struct sshd_config *cfg,
		    const struct sshd_hooks *hooks, struct sshd_server **out);

/* Close every connection (children get SIGHUP), stop all handles; `done` runs once the
 * memory is gone (a later loop iteration).  Children still alive are not waited for. */
void sshd_server_close(struct sshd_server *srv, void (*done)(void *arg), void *arg);

/* Serve one connection.  Takes ownership of `fd` (closed on every path, also on error).
 * Returns 0 or -errno (-EMFILE past max_connections). */
int sshd_accept_fd(struct sshd_server *srv, int fd, const struct sockaddr *peer,
		   socklen_t peer_len);

/* Send one more banner line to the client of a pending VERDICT_CHECK (the login URL, once the
 * embedder has it); ignored when the check is no longer pending. */
void sshd_check_banner(struct sshd_check *check, const char *text);

/* Answer a pending VERDICT_CHECK with VERDICT_ACCEPT or VERDICT_REJECT (copied). */
void sshd_check_resolve(struct sshd_check *check, const struct sshd_decision *final);

/* Re-ask the hook for every authenticated connection; close with "Access revoked." those
 * whose answer is no longer accept (or check), whose local user changed (name or uid),
 * that are root logins no longer permitted, or that use agent or port forwarding the new
 * answer does not allow.  A closed session's whole cgroup is killed.  Returns how many
 * were closed. */
unsigned sshd_revalidate(struct sshd_server *srv);

/* Host keys: count, and for each its OpenSSH public line ("ssh-ed25519 AAAA…") and
 * SHA256 fingerprint ("SHA256:…").  Pointers stay valid for the server's lifetime. */
size_t sshd_host_key_count(const struct sshd_server *srv);
int sshd_host_key(const struct sshd_server *srv, size_t i, const char **public_line,
		  const char **fingerprint);

/* A watched session (sshd_session_info.session), from its session_start until its
 * session_end.  hold, called in session_start only: the command does not start (the
 * request is answered, the client's input waits) until go starts it or stop ends it; a
 * held session whose client leaves ends (session_end -1).  stop, for a held or running
 * session: ends it with message on the client's stderr (exit status 255), as a refusing
 * session_start or session_output would, from any loop callback. */
void sshd_session_hold(struct sshd_session *s);
void sshd_session_go(struct sshd_session *s);
void sshd_session_stop(struct sshd_session *s, const char *message);
/* While paused the child's output is not read (the child blocks on a full pipe, the session's
 * end waits): the recorder's backpressure.  May be called from session_output. */
void sshd_session_pause(struct sshd_session *s, bool paused);

/* A watched session's processes: *pid the login monitor's (the parent of the user's
 * process group; 0 before the session starts and once it exited) and its cgroup as
 * /proc/PID/cgroup names it ("" when sessions get none: process groups only). */
void sshd_session_process(const struct sshd_session *s, int *pid, char *cgroup, size_t len);

/* Live connections and session processes (tests, status). */
unsigned sshd_connection_count(const struct sshd_server *srv);
unsigned sshd_child_count(const struct sshd_server *srv);

#endif
