/* control/server: meshcontrol, the control server.
 *
 * One process serves three things over HTTPS, or plain HTTP on loopback (libmicrohttpd
 * with GnuTLS): the node API (register, map stream, check-mode holds, logout; every message
 * sealed with the node protocol envelope), the admin API (JSON, bearer token), and
 * plain-HTML web pages (login, device approval, check-mode approval).  State lives in a store
 * (SQLite in the state directory); the server key, the admin token and the database sit in that
 * directory with mode 0600.  With a PostgreSQL store several replicas serve one tailnet: the
 * server key and the admin token's hash live in the store, and each replica hears the others'
 * changes (replica.c has the design, and what is still per replica). */
#ifndef MESH_CONTROL_SERVER_H
#define MESH_CONTROL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "control/netmap/relay.h"

struct ctl_server;
struct ctl_store;

/* Single sign-on through an OpenID provider (meshcontrol serve --oidc-*); off when issuer is
 * NULL.  Lists are comma-separated, NULL or "" for none; at least one list, or allow_anyone
 * (everyone the provider knows, said on purpose), is required. */
struct ctl_server_oidc {
	const char *issuer; /* https://...; http:// only to loopback (labs) */
	const char *client_id;
	const char *client_secret_file; /* one line, mode 0600 or tighter */
	const char *scopes;	  /* space-separated, with openid; NULL: "openid email profile" */
	const char *groups_claim; /* NULL: "groups" */
	const char *allowed_domains; /* of the verified email */
	const char *allowed_groups;  /* at least one of them */
	const char *allowed_users;   /* verified emails */
	bool allow_anyone;	     /* --oidc-allow-anyone: no list, on purpose */
};

/* The tailnet's DNS suffix unless the configuration names another. */
#define CTL_DOMAIN_DEFAULT "mesh.internal"

enum { CTL_REPLICA_NAME_MAX = 63 };

/* The balancers whose connections start with a PROXY protocol header (v2, or v1's text)
 * naming the client (meshcontrol serve --trusted-proxy; proxy.h, proxy_listen.c). */
enum { CTL_TRUSTED_PROXIES_MAX = 16 };
struct ctl_trusted_proxies {
	struct addr_prefix nets[CTL_TRUSTED_PROXIES_MAX];
	size_t n;
};

/* Adds the networks of "CIDR[,CIDR]..." (an address alone is its host): true, or false with a
 * sentence quoting the bad one in err. */
bool ctl_trusted_proxies_add(struct ctl_trusted_proxies *t, const char *list, char *err,
			     size_t errlen);

struct ctl_server_config {
	const char *state_dir; /* holds state.db, server.key, admin-token */
	/* the store when not STATE_DIR/state.db: sqlite:PATH or postgres://... (store.h) */
	const char *store_url;
	const char *listen;	/* "127.0.0.1" (default), "0.0.0.0", "::" */
	uint16_t port;		/* 0 = pick one (see ctl_server_port) */
	const char *public_url; /* base of the URLs shown to people; NULL = http(s)://listen:port */
	/* HTTPS: PEM files of the certificate (chain) and its private key (mode 0600 or
	 * tighter); both or neither.  Without them the server listens only on loopback unless
	 * insecure_http says to serve plain HTTP on the network anyway (logged as a warning). */
	const char *tls_cert, *tls_key;
	bool insecure_http;
	const char *domain;	 /* tailnet DNS suffix, default CTL_DOMAIN_DEFAULT */
	uint32_t keepalive_ms;	 /* map stream keep-alive; 0 = 25 s */
	uint32_t key_lifetime_s; /* node key expiry after registration; 0 = 180 days */
	unsigned threads;	 /* HTTP worker threads; 0 = 4 */
	/* TURN relays (coturn with use-auth-secret) and the file holding their shared secret
	 * (one line, at most 256 bytes, mode 0600 or tighter); both or neither.  Each node's
	 * own netmap gets credentials for every relay, valid relay_ttl_s (0 = 24 h) and
	 * minted again when less than half of that is left. */
	const struct ctl_relay_url *relays;
	size_t n_relays;
	const char *relay_secret_file;
	uint32_t relay_ttl_s;
	struct ctl_server_oidc oidc;
	/* This replica's name (letters, digits, '.', '-', '_'; at most CTL_REPLICA_NAME_MAX
	 * bytes), in /healthz and the admin API's Mesh-Replica header; NULL: the host name. */
	const char *replica_name;
	/* A connection from these must start with a PROXY header (else it is closed, logged);
	 * its client address is then the one every per-source limit, the audit and the logs
	 * see.  Others are served as they connect, a header from them being a bad request.
	 * NULL or none: libmicrohttpd listens itself, nobody's header is read. */
	const struct ctl_trusted_proxies *trusted_proxies;
};

/* Open the state directory (creating it, the store, the server key and the admin token
 * when missing).  err receives a sentence on failure. */
int ctl_state_open(const char *state_dir, struct ctl_store **store, char *err, size_t errlen);
/* The same with the store at store_url (store.h's ctl_store_open) unless it is NULL; the
 * state directory still holds the server key and the admin token. */
int ctl_state_open_store(const char *state_dir, const char *store_url, struct ctl_store **store,
			 char *err, size_t errlen);

/* Create the server (opens state, reads the relay secret), then start serving on its own
 * threads.  New refuses relays without a secret file or the other way round, and a secret
 * file others may read, that is empty, or longer than 256 bytes.  Start refuses
 * (err says why and how to fix it) a TLS key others may read, half a certificate/key pair,
 * an http:// public URL with TLS, and plain HTTP on a non-loopback address without
 * insecure_http. */
int ctl_server_new(const struct ctl_server_config *cfg, struct ctl_server **out, char *err,
		   size_t errlen);
int ctl_server_start(struct ctl_server *srv, char *err, size_t errlen);
uint16_t ctl_server_port(const struct ctl_server *srv);
/* Graceful drain, the first step of a stop (meshcontrol serve on SIGTERM): /healthz turns
 * 503 "draining" at once, so a balancer sends no more; held map polls and check-mode holds
 * are answered now and no request is held any more (a node asks again, through the
 * balancer, and reaches another replica); every answer closes its connection.  Requests are
 * still served.  Check-mode holds live in the store: a node waiting on one asks again
 * elsewhere and is answered there.  Pending interactive logins live in this replica's
 * memory: a node waiting on one asks again and gets a new one elsewhere. */
void ctl_server_drain(struct ctl_server *srv);
/* The second step, after a grace: new connections are refused (the listening socket
 * closed); those open are served until ctl_server_free.  0, or -EIO when the daemon cannot. */
int ctl_server_quiesce(struct ctl_server *srv);
/* Stop serving (held requests are answered), then free. */
void ctl_server_free(struct ctl_server *srv);

/* The server's public key in base64 (for the join command and `meshcontrol key`). */
int ctl_state_server_key(const char *state_dir, char out[static 45], char *err, size_t errlen);

/* The server key in base64 of a running server. */
void ctl_server_key(const struct ctl_server *srv, char out[static 45]);

/* The server key in base64 of the tailnet in store s (opened from store_url, NULL for the
 * state directory's SQLite): ctl_state_server_key's, or for a store replicas share
 * (PostgreSQL) the one kept in it, stored first (from STATE/server.key when that exists)
 * when it has none. */
int ctl_store_server_key(struct ctl_store *s, const char *store_url, const char *state_dir,
			 char out[static 45], char *err, size_t errlen);

/* Rotate the admin token: writes state_dir/admin-token (0600) and stores its hash. */
int ctl_state_admin_token(const char *state_dir, struct ctl_store *s, char out[static 65],
			  char *err, size_t errlen);

#endif
