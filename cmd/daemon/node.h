/* The data plane of one node: a WireGuard device, the netstack (TUN or userspace), and
 * the embedded SSH server, wired together and driven by netmaps.
 *
 *   UDP -> wg (decrypt) -> ns_input -> filter -> lwIP :22 -> sshd_accept_fd
 *                                            \-> TUN / userspace forward
 *   TUN read / lwIP output -> wg_device_send (route by AllowedIPs, encrypt) -> UDP
 *
 * The netstack is created with the first netmap (it needs our addresses); later netmaps
 * update WireGuard peers, the packet filter and the SSH rules in place, and every change
 * re-validates live SSH sessions. */
#ifndef MESH_CMD_DAEMON_NODE_H
#define MESH_CMD_DAEMON_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cmd/daemon/reach/reach.h"
#include "control/netmap/netmap.h"
#include "sshd/sshd.h"

struct ctl_client;
struct meshd_sessions;

struct meshd_node;

struct meshd_node_config {
	const char *state_dir;	    /* node.key and SSH host keys live here */
	const char *tun;	    /* TUN interface name, or "userspace" */
	uint16_t listen_port;	    /* WireGuard UDP port; 0 = any */
	bool ssh;		    /* serve SSH on port 22 of our tailnet addresses (at start) */
	const char *uapi_dir;	    /* the `wg` tool's socket dir; NULL = /var/run/wireguard */
	const char *socks5_path;    /* userspace mode: SOCKS5 on this Unix socket (NULL = off) */
	const char *operator_group; /* may use SOCKS5 besides root and meshd's user (or NULL) */
	unsigned wg_time_scale;	    /* tests only: WireGuard timers run this much faster */
	const char *record_dir;	    /* SSH sessions recorded here (record.h), NULL: none */
	uint64_t record_max_bytes;  /* per recording; 0: MESHD_RECORD_MAX_BYTES */
	bool record_input;	    /* recordings hold what clients type too (passwords!) */
	/* MagicDNS may point the host at the tailnet resolver (dns_host.h; --accept-dns) */
	bool accept_dns;
	/* the host's resolv.conf (NULL: /etc/resolv.conf): its nameservers are MagicDNS's
	 * upstreams, read once at start; the file --accept-dns points at the tailnet resolver */
	const char *resolv_conf;
};

/* The node key: state_dir/node.key (0600), made with the directory (0700) when missing;
 * what went wrong is logged.  Returns 0 or -errno. */
int meshd_node_key(const char *state_dir, uint8_t priv[static 32], uint8_t pub[static 32]);

/* Loads or creates the node key (meshd_node_key) and starts WireGuard. */
int meshd_node_new(uv_loop_t *loop, const struct meshd_node_config *cfg, struct meshd_node **out);

/* Applies a full netmap; takes ownership of nm (also on error).  Returns 0 or -errno. */
int meshd_node_apply_netmap(struct meshd_node *node, struct ctl_netmap *nm);

/* Forgets the netmap: every WireGuard peer is removed, the filter drops everything new
 * and SSH refuses everyone (meshctl down, logout). */
void meshd_node_clear_netmap(struct meshd_node *node);

/* Starts or stops intercepting port 22 (meshctl up --ssh). */
int meshd_node_set_ssh(struct meshd_node *node, bool on);

/* A peer's name ("my-server" or "my-server.<domain>") or an IP literal -> an address
 * (the peer's IPv4 one when it has one); false when no peer has that name. */
bool meshd_node_resolve(const struct meshd_node *node, const char *host, int *family,
			uint8_t addr[16]);

/* The node key changed (control confirmed a rotation or a re-login): WireGuard takes the new
 * private key (sessions start over); netmaps for the old public key are ignored from now. */
int meshd_node_set_node_key(struct meshd_node *node, const uint8_t priv[static 32]);

/* The control client used for check-mode holds (NULL: check rules are refused). */
void meshd_node_set_control(struct meshd_node *node, struct ctl_client *client);

/* The SSH server's public host key lines ("ssh-ed25519 AAAA…"); pointers stay valid for
 * the node's lifetime.  Returns the count (at most max). */
size_t meshd_node_host_keys(const struct meshd_node *node, const char **lines, size_t max);

/* The current netmap (NULL before the first); owned by the node. */
const struct ctl_netmap *meshd_node_netmap(const struct meshd_node *node);

/* Our WireGuard public key (32 bytes). */
const uint8_t *meshd_node_public_key(const struct meshd_node *node);

struct meshd_peer_stats {
	uint64_t rx_bytes, tx_bytes;
	int64_t last_handshake;		  /* unix seconds, 0 = never */
	char endpoint[64];		  /* "" when unknown */
	char path[MESHD_REACH_PATH_TEXT]; /* "direct ADDR:PORT", "relay turn:..." or "none" */
	int64_t rtt_ms;			  /* the last pong's round trip; -1: none */
};

/* WireGuard counters of the peer with this node key; -ENOENT when not configured. */
int meshd_node_peer_stats(struct meshd_node *node, const uint8_t key[static 32],
			  struct meshd_peer_stats *out);

/* Its reachability: our endpoints for control (meshd_reach_endpoints). */
struct meshd_reach *meshd_node_reach(struct meshd_node *node);

/* Calls cb for every reachability counter ("nat.*") and netstack counter (see
 * ns_counters_foreach; none before the netstack starts). */
void meshd_node_counters(const struct meshd_node *node,
			 void (*cb)(void *ctx, const char *name, uint64_t value), void *ctx);

/* The map stream to control answered (again): the live sessions' list is sent anew. */
void meshd_node_control_connected(struct meshd_node *node);
/* Control asks, for an admin, to end the live SSH session id that started at since (unix
 * seconds): as `meshctl sessions kill` does, by "control admin" (an unknown ID, or one that
 * started at another time, is logged). */
void meshd_node_kill_session(struct meshd_node *node, const char *id, int64_t since);

/* The live SSH sessions (sessions.h); NULL when the node serves no SSH. */
struct meshd_sessions *meshd_node_sessions(const struct meshd_node *node);

/* MagicDNS (dns.h): the resolver of this node's view. */
struct meshd_dns *meshd_node_dns(const struct meshd_node *node);

const char *meshd_node_tun(const struct meshd_node *node); /* name or "userspace" */
bool meshd_node_userspace(const struct meshd_node *node);
bool meshd_node_ssh(const struct meshd_node *node);
uint16_t meshd_node_listen_port(const struct meshd_node *node);

/* Userspace mode: a TCP connection through the embedded stack; cb gets a connected
 * socket (ours to keep) or -errno, exactly once, unless this returns an error. */
int meshd_node_dial(struct meshd_node *node, int family, const uint8_t *addr, uint16_t port,
		    void (*cb)(void *ctx, int fd_or_err), void *ctx);

/* Closes SSH sessions ("daemon shutting down"), the netstack and WireGuard; `done` runs
 * once every handle is closed. */
void meshd_node_close(struct meshd_node *node, void (*done)(void *arg), void *arg);

/* The SSH decision for src as user on this node: the policy engine's pol_ssh_rules_decide
 * over the netmap's compiled rules (the code sshTests and `policy explain` run; nm may be
 * NULL: no rules), turned into what sshd needs: *accept for an accept or check verdict
 * (SSHD_ALLOW_ROOT unless autogroup:nonroot admitted the name), *check_period_s for a
 * check, the banner in message for a reject. */
enum verdict meshd_ssh_decide(const struct ctl_netmap *nm, const struct addr_prefix *src,
			      const char *user, struct sshd_decision *accept,
			      uint32_t *check_period_s, char *message, size_t msglen);

#endif
