/* control/localapi: the messages between meshctl and meshd on meshd's local Unix socket,
 * as plain C structs; the JSON stays in here.
 *
 * One request per connection: the client writes one JSON object and a newline; meshd
 * answers with one JSON object and a newline: {"ok":true,...} or {"ok":false,"error":"..."}.
 * A "dial" answer also carries the connected socket as SCM_RIGHTS ancillary data. */
#ifndef MESH_CONTROL_LOCALAPI_H
#define MESH_CONTROL_LOCALAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/netmap/endpoint.h"
#include "control/netmap/netmap.h"

/* Longest request (meshctl -> meshd) and longest answer (a status with every peer),
 * newline not counted. */
enum { CTL_LAPI_MAX_LINE = 1 << 20, CTL_LAPI_MAX_REPLY = 4 << 20 };

/* One line read from a stream in pieces.  Set max, zero the rest; free with _clear. */
struct ctl_lapi_line {
	char *buf;  /* the bytes so far, NUL-terminated; once done, the line without '\n' */
	size_t len; /* bytes in buf */
	size_t max; /* more than this before the newline is an error */
	bool done;
};

/* Appends n bytes: 1 when the line is complete (later calls ignore their bytes), 0 when
 * more are needed, -EMSGSIZE when the line would pass max bytes, -ENOMEM. */
int ctl_lapi_line_feed(struct ctl_lapi_line *l, const char *p, size_t n);
/* Frees the buffer; the line is empty again with the same max. */
void ctl_lapi_line_clear(struct ctl_lapi_line *l);

enum ctl_lapi_cmd {
	CTL_LAPI_STATUS,   /* anyone */
	CTL_LAPI_WHOIS,	   /* anyone: host = an address */
	CTL_LAPI_DIAL,	   /* anyone: host = address or peer name, port */
	CTL_LAPI_UP,	   /* root or operator */
	CTL_LAPI_DOWN,	   /* root or operator */
	CTL_LAPI_LOGOUT,   /* root or operator */
	CTL_LAPI_DNS,	   /* anyone: host = a name, type = a record type (NULL: A) */
	CTL_LAPI_SESSIONS, /* anyone (like who(1)): the live SSH sessions */
	CTL_LAPI_KILL,	   /* root or operator: id = a session's ID; ends it */
};

struct ctl_lapi_request {
	enum ctl_lapi_cmd cmd;
	char *host;
	uint16_t port;
	/* up */
	char *login_server, *authkey, *hostname;
	char **tags;
	size_t n_tags;
	bool tags_given; /* tags were given (maybe none): the node's wanted tags change */
	bool ssh;
	bool force_reauth;  /* log in again now, with a new node key */
	char *ca_file;	    /* absolute path of a PEM CA bundle trusted for control's HTTPS */
	bool insecure_http; /* allow http:// to control on a host that is not loopback */
	char *type;	    /* dns: "A", "AAAA", "PTR", ... */
	char *id;	    /* kill: the session ("s7") */
};

/* Parse one request line; -EINVAL with a message naming the field on bad input. */
int ctl_lapi_request_parse(const char *text, size_t len, struct ctl_lapi_request *out, char *err,
			   size_t errlen);
/* One line of JSON ending in '\n' (malloc'd), or NULL when out of memory. */
char *ctl_lapi_request_format(const struct ctl_lapi_request *r);
void ctl_lapi_request_clear(struct ctl_lapi_request *r);
const char *ctl_lapi_cmd_name(enum ctl_lapi_cmd cmd);

#define CTL_LAPI_COUNTER_NAME 32  /* longest counter name + 1 */
#define CTL_LAPI_MAX_COUNTERS 128 /* more in a reply is an error, not a truncation */

/* One node as `meshctl status` shows it. */
struct ctl_lapi_node {
	char *name, *owner, *dns_name;
	char **tags;
	size_t n_tags;
	struct addr_prefix addrs[CTL_MAX_NODE_ADDRS];
	size_t n_addrs;
	char *endpoint;
	/* How WireGuard reaches the peer: "direct ADDR:PORT", "relay TURN-URI (udp|tcp|tls)"
	 * or "none" (NULL: not said, an older meshd); the last pong's round trip, -1: none. */
	char *path;
	int64_t rtt_ms;
	bool online;
	int64_t last_handshake; /* unix seconds, 0 = never */
	uint64_t rx_bytes, tx_bytes;
	char **ssh_host_keys;
	size_t n_ssh_host_keys;
};

/* One named counter of the data plane ("drop.fragment", "conns.active", ...). */
struct ctl_lapi_counter {
	char name[CTL_LAPI_COUNTER_NAME];
	uint64_t value;
};

/* A relay this node may use: where, and until when its credentials hold (never the
 * credentials themselves: the local API is for anyone on the machine). */
struct ctl_lapi_relay {
	struct ctl_relay_url url;
	int64_t expires; /* unix seconds */
};

/* The TURN allocation this node keeps on its first UDP relay, as `meshctl status` shows it. */
enum ctl_lapi_alloc_state {
	CTL_LAPI_ALLOC_NONE,	   /* no UDP relay in use: nothing else is set */
	CTL_LAPI_ALLOC_ALLOCATING, /* asked for, no answer yet */
	CTL_LAPI_ALLOC_ALLOCATED,  /* relayed is ours */
	CTL_LAPI_ALLOC_FAILED,	   /* why; the next attempt in retry_s */
};

enum { CTL_LAPI_ALLOC_WHY = 160, CTL_LAPI_ALLOC_RETRY_MAX = 3600 };

struct ctl_lapi_alloc {
	enum ctl_lapi_alloc_state state;
	struct ctl_relay_url relay;
	char relayed[CTL_ENDPOINT_MAX]; /* ALLOCATED: ADDR:PORT (an untyped endpoint) */
	uint64_t allocations;		/* made with these credentials: > 1 after a loss */
	char why[CTL_LAPI_ALLOC_WHY];	/* FAILED: what the relay said, or that it did not answer */
	int64_t retry_s;		/* FAILED: seconds to the next attempt */
};

struct ctl_lapi_status {
	char *state;	   /* "Running", "NeedsLogin", "Stopped", "Starting" */
	char *tun;	   /* interface name or "userspace" */
	bool ssh;	   /* serving SSH */
	char *control_url; /* NULL: netmap from a file */
	bool control_connected;
	int64_t netmap_time; /* unix seconds when the current netmap arrived, 0 = none */
	char *domain;
	char *public_key; /* base64 WireGuard public key */
	uint16_t listen_port;
	char *auth_url; /* interactive login in progress */
	char *error;	/* the last control error a person should see (refused key, ...) */
	struct ctl_lapi_node self;
	struct ctl_lapi_node *peers;
	size_t n_peers;
	struct ctl_lapi_counter *counters; /* the netstack's, in its order */
	size_t n_counters;
	struct ctl_lapi_relay relays[CTL_RELAYS_MAX];
	size_t n_relays;
	struct ctl_lapi_alloc alloc;
};

char *ctl_lapi_status_format(const struct ctl_lapi_status *st); /* {"ok":true,"status":{..}}\n */
int ctl_lapi_status_parse(const char *text, size_t len, struct ctl_lapi_status *out, char *err,
			  size_t errlen);
void ctl_lapi_status_clear(struct ctl_lapi_status *st);

/* "allocating", "allocated", "failed" ("none" for NONE). */
const char *ctl_lapi_alloc_state_name(enum ctl_lapi_alloc_state s);

/* whois answer: {"ok":true,"node":{...}}\n */
char *ctl_lapi_node_format(const struct ctl_lapi_node *n);
int ctl_lapi_node_parse(const char *text, size_t len, struct ctl_lapi_node *out, char *err,
			size_t errlen);
void ctl_lapi_node_clear(struct ctl_lapi_node *n);

/* One live SSH session on the node, as `meshctl sessions` shows it (sessions.c). */
enum {
	CTL_LAPI_SESSIONS_MAX = 2048, /* more in a reply is an error; meshd refuses more sessions */
	CTL_LAPI_SESSION_ID_MAX = 16, /* "s" and a decimal number, NUL included */
	CTL_LAPI_SESSION_CMD_MAX = 256, /* a longer command is shown cut, ending in "..." */
};

struct ctl_lapi_session {
	char id[CTL_LAPI_SESSION_ID_MAX]; /* "s7": unique for the daemon's life */
	uint64_t conn_id;		  /* the SSH connection's (recordings' headers: conn_id) */
	char *src_node;			  /* the source node's name, or its address when unknown */
	char *src_addr;			  /* the source's tailnet address */
	char *src_owner;		  /* NULL for a tagged node */
	char **src_tags;
	size_t n_src_tags;
	char *ssh_user, *local_user; /* the name asked for, the account it runs as */
	bool pty;
	char *command;	/* NULL: a shell; exec: the command; sftp: the sftp server */
	int64_t since;	/* unix seconds */
	char *recorder; /* NULL: not recorded; else where (record.h meshd_record_where) */
	int64_t pid;	/* the login monitor; 0: not started (held) or gone */
	char *cgroup;	/* the session's cgroup; NULL: none (process group only) */
};

/* {"ok":true,"sessions":[...]}\n */
char *ctl_lapi_sessions_format(const struct ctl_lapi_session *v, size_t n);
/* Every member checked (id "s" and digits, at most CTL_LAPI_SESSIONS_MAX, text without
 * terminal controls); -EINVAL with a message naming the member. */
int ctl_lapi_sessions_parse(const char *text, size_t len, struct ctl_lapi_session **out, size_t *n,
			    char *err, size_t errlen);
void ctl_lapi_session_clear(struct ctl_lapi_session *s);
void ctl_lapi_sessions_free(struct ctl_lapi_session *v, size_t n);

/* {"ok":true}\n, {"ok":true,"message":"..."}\n and {"ok":false,"error":"..."}\n */
char *ctl_lapi_reply_ok(const char *message);
char *ctl_lapi_reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reads ok and error/message of any reply; -EINVAL when the text is not a reply. */
int ctl_lapi_reply_parse(const char *text, size_t len, bool *ok, char *msg, size_t msglen);

/* Pretty-printed JSON of any reply's payload (its "status" or "node" member, or the
 * whole object), for --json output; malloc'd, NULL on bad input. */
char *ctl_lapi_pretty(const char *text, size_t len, const char *member);

#endif
