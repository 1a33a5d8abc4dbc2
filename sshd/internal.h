/* Internal to sshd/: the connection and channel structures shared by server.c (the server,
 * host keys, children), conn.c (libssh on the loop, lifetime), auth.c (authentication,
 * checks, revalidation), session.c (session channels and their I/O), forward.c (the
 * bridge), dial.c (direct-tcpip), listen.c (tcpip-forward, agent), child.c (the login
 * child) and env.c. */
#ifndef MESH_SSHD_INTERNAL_H
#define MESH_SSHD_INTERNAL_H

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <netinet/in.h>
#include <sys/types.h>
#include <uv.h>

#include "common/container.h"
#include "sshd/sshd.h"

struct sshd__node {
	struct sshd__node *prev, *next;
};

static inline void sshd__list_init(struct sshd__node *h)
{
	h->prev = h->next = h;
}
static inline void sshd__list_add(struct sshd__node *h, struct sshd__node *n)
{
	n->next = h;
	n->prev = h->prev;
	h->prev->next = n;
	h->prev = n;
}
static inline void sshd__list_del(struct sshd__node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

enum { SSHD__HOSTKEYS_MAX = 1 };

/* A user name ending in this ("alice+key") asks for a non-trivial login: "none" and
 * "password" are refused, a public key is taken once its signature verifies (any key: the
 * tailnet source is the identity).  For clients that refuse a server accepting "none"
 * (dbclient -o DisableTrivialAuth=yes, plink -no-trivial-auth). */
#define SSHD__KEY_SUFFIX "+key"
/* Auth requests one connection may make; each may carry a signature libssh verifies. */
enum { SSHD__AUTH_REQUESTS_MAX = 32 };

struct sshd__hostkey {
	char *public_line;
	char *fingerprint;
};

/* Per-connection bytes of client data we buffer toward local descriptors (struct sshd__inq
 * buffers are charged here while they hold data), and the channel data the client sent: its
 * packets and bytes, counted by sshd__inq_seen() (conn.c tells them from other input). */
struct sshd__budget {
	size_t used, max;
	uint64_t data_packets, data_bytes;
};

/* A session's cgroup (cgroup.c): made before the login child runs, removed once empty. */
struct sshd__cg {
	struct sshd__node node;
	bool live; /* its login child may still move into it */
	char path[448];
};

struct sshd_server {
	uv_loop_t *loop;
	struct sshd_hooks hooks;
	char *state_dir, *pam_service, *sftp_server;
	unsigned max_connections, preauth_timeout_ms, keepalive_ms, stall_timeout_ms;
	uint64_t rekey_data;
	unsigned max_channels;
	size_t max_conn_buffer;
	unsigned nresolving; /* direct-tcpip names being resolved (libuv's thread pool) */
	/* cgroup.c: cg_base is "<cgroup2 mount><meshd's cgroup>" when sessions get cgroups */
	bool cg_ok;
	char cg_mount[128], cg_self[256], cg_base[384];
	unsigned cg_seq;
	uint64_t conn_seq; /* the last connection's id */
	struct sshd__node cgroups;
	ssh_bind bind;
	struct sshd__hostkey keys[SSHD__HOSTKEYS_MAX];
	size_t nkeys;
	struct sshd__node conns;
	struct sshd__node children;
	unsigned nconns, nchildren;
	uv_signal_t sigchld;
	bool closing;
	void (*close_done)(void *);
	void *close_arg;
};

struct sshd__user {
	char name[SSHD_NAME_MAX];
	uid_t uid;
	gid_t gid;
	char home[256];
	char shell[128];
};

struct sshd_check {
	struct sshd_conn *conn;
};

enum sshd__conn_state {
	SSHD__CONN_AUTH,  /* key exchange and authentication */
	SSHD__CONN_HELD,  /* check mode: waiting for sshd_check_resolve() */
	SSHD__CONN_READY, /* authenticated */
	SSHD__CONN_DYING,
};

/* conn.c: the client's input counters at some moment (libssh's raw ones, and the channel
 * data our callbacks saw) */
struct sshd__in_mark {
	uint64_t payload, packets, data_packets, data_bytes;
};

/* conn.c: how much of our output libssh holds, from its counters.  The mark is taken
 * whenever its output buffer is seen empty; `stall_*` while the client is over the limit. */
struct sshd__out {
	uint64_t mark_payload, mark_packets, mark_sent;
	bool gated;		 /* the client leaves more than SSHD__OUT_MAX: requests wait */
	uint64_t stall_sent;	 /* socket bytes out when the gate last saw some leave */
	uint64_t stall_since_ms; /* when that was */
	/* input counters when libssh's request queue was last seen empty, and the requests
	 * popped since: what may wait in it is bounded (SSHD__REQ_MAX); and when a packet of
	 * ours last went into libssh's output (quiet_out: its count then) */
	struct sshd__in_mark q, quiet;
	uint64_t q_popped, quiet_out;
	bool quiet_probed; /* an SSH_MSG_IGNORE sent since quiet_out (conn.c hard_limits()) */
	/* our channel data libssh keeps back during a key re-exchange it started: bytes, and
	 * its payload counter when the first of them was kept (kex_held()) */
	uint64_t kex_queued, kex_base;
	/* a send of ours libssh kept back for that exchange (any, channel data or not): when
	 * the first was seen, and its packet counter after the latest; a packet out since means
	 * the exchange went on (conn.c kex_check(), review-72 A2) */
	bool kex_wait;
	uint64_t kex_wait_ms, kex_wait_out;
};

struct sshd_conn {
	struct sshd__node node;
	struct sshd_server *srv;
	ssh_session session;
	ssh_event event;
	uv_poll_t poll;
	uv_timer_t timer;
	int handles; /* open uv handles; freed at zero */
	int fd;
	int poll_events;
	enum sshd__conn_state state;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char peer_host[INET6_ADDRSTRLEN];
	int peer_port;
	char local_host[INET6_ADDRSTRLEN];
	int local_port;
	char subject[80];	      /* for logs: "sshd: 127.0.0.1:5555" */
	uint64_t id;		      /* sshd_session_info.conn_id: 1, 2, ... per server */
	char req_user[SSHD_NAME_MAX]; /* as asked, without the SSHD__KEY_SUFFIX */
	bool key_required;	      /* the name carried the suffix: no "none", a signed key */
	unsigned auth_requests;	      /* SSHD__AUTH_REQUESTS_MAX */
	bool have_decision;
	struct sshd_decision decision;
	struct sshd__user user;
	struct sshd_check check;
	bool check_pending;
	ssh_message held;     /* the auth request a check holds */
	uint64_t deadline_ms; /* session duration limit (0 = none) */
	int in_dopoll;
	bool want_close;
	char close_reason[512];
	const char *end_phase;	 /* "kex", "auth", "session": libssh ended it, close_reason says
				  * why in its words; NULL: we did (close_reason is ours) */
	struct sshd__node chans; /* struct sshd__chan (session channels) */
	struct sshd__node fwds;	 /* struct sshd__fwd (tcpip channels, listeners, agent) */
	struct sshd__node dials; /* struct sshd__dial (direct-tcpip being connected) */
	unsigned nchan;		 /* sessions, bridges, listeners and dials: max_channels */
	unsigned nfreed;	 /* channels we freed whose CLOSE the client has not sent: at
				  * most max_channels of them (sshd__conn_free_channel) */
	struct ssh_channel_callbacks_struct freed_cb;
	uint64_t freed_allow; /* data they may still bring (conn.c freed_data()) */
	struct sshd__budget budget;
	struct ssh_counter_struct sock_count; /* libssh counts the socket's bytes here */
	struct ssh_counter_struct raw_count;  /* and the packets it queued, with their payload */
	struct sshd__out out;		      /* our output the client has not taken (conn.c) */
	char *agent_dir;		      /* ssh -A: directory holding the agent socket */
};

enum { SSHD__IOBUF = 65536, SSHD__INQ_CAP = 2 << 20, SSHD__PIPE_SIZE = 256 << 10 };

/* The most client data libssh may hold for one channel before the client counts as one that
 * ignores the window.  libssh 0.10 grants 1 280 000 bytes and re-opens the window once what
 * it holds plus what is left of the window is under half of that, so a client that keeps to
 * the window leaves at most about 1.9 MB there; one that does not would have libssh buffer
 * up to 256 MiB per channel. */
enum { SSHD__HELD_MAX = 4 << 20 };

/* Our output a client may leave untaken before its requests wait (conn.c): more than
 * sessions and bridges put there at once (a pump writes SSHD__IOBUF at a time, and only once
 * libssh's last write has gone out), so only a client that stops reading while it sends
 * requests gets there.  SSHD__PACKET_OVERHEAD bounds what a packet adds to its payload on the
 * wire: length and padding length (5), padding (at most the 16-byte block + 3), MAC (at most
 * 64, hmac-sha2-512) and what zlib can add to an incompressible payload. */
enum { SSHD__OUT_MAX = 256 << 10, SSHD__PACKET_OVERHEAD = 128 };

/* What the requests waiting unanswered in libssh's queue may cost before the client is
 * closed (conn.c): its input since the queue was last seen empty, channel data aside (its
 * windows bound that), each packet its payload plus SSHD__REQ_PACKET, about what libssh
 * allocates for a queued request (its ssh_message, list entry and strings), a data packet
 * only its 9-byte header.  SSHD__OUT_HARD: our output libssh may hold before the client is
 * closed, whatever it sends (libssh answers some packets itself: window adjusts for channel
 * data, key exchanges, "unimplemented"). */
enum { SSHD__REQ_MAX = 1 << 20, SSHD__REQ_PACKET = 384, SSHD__OUT_HARD = 1 << 20 };

/* inq.c: client data on its way to a descriptor, with back-pressure */
struct sshd__inq {
	char *buf; /* SSHD__INQ_CAP bytes while it holds data, else NULL */
	size_t len, off;
	bool backlog; /* libssh holds data we have not taken */
	uint64_t total;
	uint32_t lib_held; /* what libssh holds of the channel's data after our last look */
	struct sshd__budget *budget; /* the connection's; NULL: unlimited (tests) */
	/* when set, gets every byte taken from the client, in order (input recording) */
	void (*seen)(void *ctx, const char *p, size_t n);
	void *seen_ctx;
};
int sshd__inq_take(struct sshd__inq *q, const void *data, size_t len);
/* Every return of a channel data callback (not stderr) goes through here: libssh holds `len`
 * bytes, the callback took `took`; counts the packet and its new bytes on q->budget. */
int sshd__inq_seen(struct sshd__inq *q, uint32_t len, int took);
bool sshd__inq_pull(struct sshd__inq *q, ssh_channel channel);
int sshd__inq_flush(struct sshd__inq *q, int fd);
bool sshd__inq_empty(const struct sshd__inq *q);
void sshd__inq_drop(struct sshd__inq *q);
void sshd__inq_free(struct sshd__inq *q);

struct sshd__io {
	uv_poll_t poll;
	int fd;
	int events;
	bool open;
	bool done;  /* output stream: EOF seen; input stream: closed */
	char *pend; /* output read but not yet taken by libssh (window, rekey) */
	size_t plen, poff;
};

struct sshd__winsize {
	unsigned cols, rows, xpix, ypix;
};

struct sshd__pty {
	char term[64];
	struct sshd__winsize ws;
};

struct sshd__chan {
	struct sshd__node node;
	struct sshd_conn *conn;
	ssh_channel channel;
	struct ssh_channel_callbacks_struct cb;
	int handles;
	bool started; /* exec/shell/subsystem ran */
	bool pty;
	char term[64];
	struct sshd__winsize ws;
	struct sshd__cg *cg; /* NULL: no cgroups on this system (process group only) */
	char **env;	     /* client-sent, already filtered */
	size_t nenv;
	bool agent; /* auth-agent-req accepted */
	pid_t pid;
	struct sshd__io in, out, err; /* pty: out is the master, in shares its fd */
	struct sshd__inq inq;	      /* client data for the child */
	bool in_full;	    /* its descriptor said EAGAIN: no write until the poll says writable */
	bool in_eof;	    /* client sent EOF */
	uint64_t bytes_out; /* to the client */
	bool remote_closed;
	bool exited;
	int status;
	bool finished; /* EOF/exit-status/close sent */
	bool detached; /* libssh channel released */
	void *watch;   /* the session hooks' pointer (sshd_hooks.session_start), or NULL */
	/* session_start or session_output refused: end the session with this message ("":
	 * none; a fixed buffer, so a refusal cannot be lost to a failed allocation) */
	char watch_stop[SSHD_MESSAGE_MAX];
	/* sshd_session_hold: the command waits for sshd_session_go (held_cmd, NULL for a
	 * shell: held_has_cmd false) */
	bool held, held_has_cmd;
	char *held_cmd;
	bool watch_paused; /* sshd_session_pause: the child's output is not read */
	bool in_hook;	   /* inside session_output */
};

/* server.c: session children, reaped by pid */
int sshd__child_track(struct sshd_server *srv, pid_t pid, struct sshd__chan *chan,
		      struct sshd__cg *cg);
void sshd__child_forget_chan(struct sshd_server *srv, struct sshd__chan *chan);

/* conn.c */
void sshd__conn_update(struct sshd_conn *conn);
void sshd__conn_process(struct sshd_conn *conn);
void sshd__conn_close(struct sshd_conn *conn, const char *reason);
/* Tears the connection down now (not from inside libssh). */
void sshd__conn_destroy(struct sshd_conn *conn);
/* Arms the timer for what the connection's state waits on next (auth, deadline, keepalive). */
void sshd__conn_timer_arm(struct sshd_conn *conn);
/* Ends every session of the connection with a message on its stderr. */
void sshd__conn_abort_all(struct sshd_conn *conn, const char *message);
bool sshd__conn_room(struct sshd_conn *conn, char *why, size_t size);
/* True while a channel should not write: libssh has output waiting, or the client leaves
 * more than SSHD__OUT_MAX of it untaken (a key re-exchange's queue included). */
bool sshd__conn_out_blocked(struct sshd_conn *conn);
/* ssh_channel_write(_stderr), noting what libssh keeps back during a key re-exchange it
 * started (it counts those bytes only when they leave, after our NEWKEYS). */
int sshd__conn_write(struct sshd_conn *conn, ssh_channel channel, bool is_err, const void *p,
		     uint32_t n);
/* Free a channel we are done with (its callbacks `cb` are removed).  `awaiting_close`: it
 * was open and the client has not sent its CLOSE; until then libssh keeps it and what the client
 * still sends on it (libssh 0.10 does not enforce the window: channels.c "let's accept it anyway"),
 * so it gets callbacks that drop it, counted against SSHD__HELD_MAX for each such channel,
 * and such channels are capped at max_channels (sshd__conn_room). */
void sshd__conn_free_channel(struct sshd_conn *conn, ssh_channel channel,
			     struct ssh_channel_callbacks_struct *cb, bool awaiting_close);
/* From a channel's data callback, libssh holding `held` bytes of it: true (and the
 * connection closing) when that is more than a client keeping to the window can send. */
bool sshd__conn_overrun(struct sshd_conn *conn, size_t held);
void sshd__refuse_open(struct sshd_conn *conn, ssh_message msg, const char *why);

/* auth.c */
/* An SSH_REQUEST_AUTH message: asks the hook (once per requested user), then accepts, holds
 * for a check or refuses with a banner.  Takes msg. */
void sshd__auth_handle(struct sshd_conn *conn, ssh_message msg);
/* Swaps the auth request held during a check; returns the one held before. */
ssh_message sshd__held_msg(struct sshd_conn *conn, ssh_message set);
int sshd__user_lookup(const char *name, struct sshd__user *out);

/* session.c */
struct sshd__chan *sshd__chan_open(struct sshd_conn *conn);
/* The child of a session the hooks let start (now, or when a held one goes); 0 or -errno. */
int sshd__chan_spawn(struct sshd__chan *chan, const char *command);

/* watch.c: the session hooks.  start: false when the hooks refuse the session (the message
 * is in watch_stop, the session ends at the next pump); output: what the client was sent;
 * end: once, with the wait status (-1: cut short). */
bool sshd__watch_start(struct sshd__chan *chan, const char *command);
void sshd__watch_output(struct sshd__chan *chan, const char *p, size_t n, bool is_err);
void sshd__watch_input(void *chan, const char *p, size_t n);
void sshd__watch_end(struct sshd__chan *chan, int status);
int sshd__chan_request(struct sshd__chan *chan, ssh_message msg);
void sshd__chan_pump(struct sshd__chan *chan);
void sshd__chan_exited(struct sshd__chan *chan, int status);
void sshd__chan_kill(struct sshd__chan *chan, int sig);
void sshd__chan_abort(struct sshd__chan *chan, const char *message);
void sshd__chan_release(struct sshd__chan *chan);

/* forward.c: the bridge between a channel and a socket, and what all forwarding shares */
enum sshd__fwd_kind {
	SSHD__FWD_BRIDGE,
	SSHD__FWD_TCP_LISTEN,
	SSHD__FWD_AGENT_LISTEN,
};

struct sshd__fwd {
	struct sshd__node node;
	struct sshd_conn *conn;
	enum sshd__fwd_kind kind;
	uv_poll_t poll;
	int fd;
	int events;
	bool readable; /* the socket said so and we have not seen EAGAIN since */
	bool dead;
	/* bridge */
	ssh_channel channel;
	struct ssh_channel_callbacks_struct cb;
	bool agent;	 /* opening an agent channel (else forwarded-tcpip) */
	bool opening;	 /* our channel open is in flight */
	bool connecting; /* our TCP connect is in flight */
	bool direct;	 /* direct-tcpip (ssh -L), else forwarded-tcpip or agent */
	bool fd_eof, eof_sent, shut_wr;
	bool in_eof, remote_closed;
	struct sshd__inq inq;
	char *pend; /* socket data libssh did not take yet (key re-exchange) */
	size_t plen, poff;
	/* listener (tcpip-forward: the address and port the client asked for) */
	char addr[128];
	int port;
	char orig_host[INET6_ADDRSTRLEN];
	int orig_port;
	char sock_path[160];
};

/* Takes fd (closed on failure); the bridge or listener is on conn's list, counted as a
 * channel. */
struct sshd__fwd *sshd__fwd_new(struct sshd_conn *conn, enum sshd__fwd_kind kind, int fd);
void sshd__fwd_free(struct sshd__fwd *f);
/* Hooks the bridge's channel callbacks to f->channel. */
void sshd__fwd_bridge_callbacks(struct sshd__fwd *f);
/* Moves one bridge's data both ways as far as windows and buffers allow. */
void sshd__fwd_pump_one(struct sshd__fwd *f);
void sshd__fwd_pump(struct sshd_conn *conn);
void sshd__fwd_close_all(struct sshd_conn *conn);
/* forward.c: tells the embedder's forward hook ("-L HOST:PORT", "-R ADDR:PORT", "-A"). */
void sshd__fwd_report(struct sshd_conn *conn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
unsigned sshd__fwd_in_use(const struct sshd_conn *conn);

/* dial.c: direct-tcpip (ssh -L) */
int sshd__fwd_direct(struct sshd_conn *conn, ssh_message msg);
/* Ends every dial of the connection (its channel opens refused silently). */
void sshd__dial_end_all(struct sshd_conn *conn);

/* listen.c: tcpip-forward (ssh -R) and the agent socket (ssh -A) */
int sshd__fwd_global(struct sshd_conn *conn, ssh_message msg);
int sshd__agent_start(struct sshd_conn *conn, char *path, size_t size);

/* child.c: the login child, described by everything it needs after fork */
struct sshd__spawn {
	const struct sshd__user *user;
	const char *pam_service;
	const char *command; /* NULL: interactive login shell */
	bool pty;
	const char *term;
	int stdin_fd, stdout_fd, stderr_fd; /* pty: all the slave */
	const char *tty_name;		    /* pty: "/dev/pts/N" */
	char *const *client_env;
	size_t nclient_env;
	const char *peer_host, *local_host;
	int peer_port, local_port;
	const char *agent_sock;
	const char *cgroup; /* "<dir>/cgroup.procs" the user's process enters; NULL: none */
};
pid_t sshd__spawn(const struct sshd__spawn *sp, int *err);

/* cgroup.c */
void sshd__cg_init(struct sshd_server *srv);
struct sshd__cg *sshd__cg_new(struct sshd_server *srv);
void sshd__cg_kill(struct sshd_server *srv, struct sshd__cg *cg, pid_t monitor);
void sshd__cg_sweep(struct sshd_server *srv, bool all);

/* req.c: decisions on post-auth requests from plain values; false fills `why` */
enum {
	SSHD__ENV_MAX = 64,
	SSHD__ENV_VALUE_MAX = 4096,
	SSHD__COMMAND_MAX = 256 * 1024,
	SSHD__HOST_MAX = 255,
	SSHD__FWD_ADDR_MAX = 128,
	SSHD__WHY_MAX = 200,
};
bool sshd__req_pty(const char *term, long cols, long rows, long xpix, long ypix,
		   struct sshd__pty *out, char *why, size_t size);
bool sshd__req_winsize(long cols, long rows, long xpix, long ypix, struct sshd__winsize *out,
		       char *why, size_t size);
bool sshd__req_env(const char *name, const char *value, const char *patterns, size_t nenv,
		   char *why, size_t size);
bool sshd__req_exec(const char *command, char *why, size_t size);
bool sshd__req_subsystem(const char *name, char *why, size_t size);
bool sshd__req_direct(const char *host, long port, unsigned flags, char *why, size_t size);
/* The length of `user` without SSHD__KEY_SUFFIX in *name_len; true when the suffix ends it
 * ("+key" alone is a name). */
bool sshd__req_user_key(const char *user, size_t *name_len);
bool sshd__req_tcpip_forward(const char *addr, long port, unsigned flags, bool root, char *why,
			     size_t size);

/* env.c */
bool sshd__env_name_ok(const char *name);
bool sshd__env_accepted(const char *name, const char *patterns);

#endif
