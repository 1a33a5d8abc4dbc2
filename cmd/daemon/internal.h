/* Inside meshd's node (node.h): the state node.c (creation, packets between the modules,
 * accessors, close), netmap.c (a netmap -> WireGuard peers, the netstack and its rules),
 * ssh.c (SSH authorization and check-mode holds) and audit.c (what emits audit events)
 * share, and the calls each makes into the others.  Not for anything outside those four
 * files. */
#ifndef MESH_CMD_DAEMON_INTERNAL_H
#define MESH_CMD_DAEMON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <uv.h>

#include "cmd/daemon/node.h"
#include "common/common.h"

struct hold;
struct meshd_audit;
struct meshd_sessions_report;
struct meshd_dns_host;
struct sshd_decision;
struct sshd_hooks;
struct ns;
struct ns_packet_info;
struct wg_device;

/* Refused logins from one source in the current minute (audit.c): past a burst they are
 * counted, not queued one by one, so a peer that can reach port 22 cannot flood the audit
 * queue and push older events out of it. */
struct meshd__refusals {
	struct addr_ip src;
	uint64_t window_ms; /* now_mono_ms() at the window's start; 0: a free slot */
	uint32_t count, suppressed;
	char last_user[64]; /* the last suppressed one's SSH user (cut) */
};

enum { MESHD_REFUSE_SOURCES = 64, MESHD_REFUSE_BURST = 20, MESHD_REFUSE_WINDOW_MS = 60 * 1000 };

struct meshd_node {
	uv_loop_t *loop;
	struct meshd_node_config cfg;
	char *state_dir, *tun;
	char name[32];
	uint8_t private_key[KEY_LEN], public_key[KEY_LEN];
	struct wg_device *wg;
	struct meshd_reach *reach; /* peers' paths: direct, relayed (nat/ on wg's hooks) */
	struct ns *ns;
	struct sshd_server *sshd;
	struct meshd_record *rec;	 /* session recording: sshd's session hooks */
	struct meshd_sessions *sessions; /* live sessions: wraps the recording's hooks */
	struct meshd_sessions_report *sessions_report; /* their list to control */
	struct meshd_dns_host *dns_host;	       /* the host's resolv.conf under MagicDNS */
	struct meshd_dns *dns; /* MagicDNS: the resolver at 100.100.100.100 (dns.h) */
	struct ctl_netmap *nm;
	struct ctl_client *control;
	bool ssh_on;		   /* port 22 is intercepted */
	struct hold *holds;	   /* check-mode holds waiting on control */
	struct meshd_audit *audit; /* the audit queue and its sender (audit.h) */
	struct meshd__refusals refusals[MESHD_REFUSE_SOURCES];
	bool sshd_closing; /* the audit queue closes after sshd */
	/* Keys of the peers configured in wg, to remove the ones a new netmap drops. */
	uint8_t (*peer_keys)[KEY_LEN];
	size_t n_peer_keys;
	/* Peers a netmap dropped stay in WireGuard a moment longer, so the sessions closed
	 * because of it can still tell their clients ("Access revoked.", FIN). */
	struct lingering {
		uint8_t key[KEY_LEN];
		uint64_t deadline_ms;
	} * lingering;
	size_t n_lingering;
	uv_timer_t linger_timer;
	bool linger_timer_init;
	/* After an address change the old TUN goes away in a close callback; the new
	 * netstack starts from this timer, retried while the kernel still has the old one. */
	uv_timer_t restart_timer;
	unsigned restart_tries;
	unsigned pending_closes;
	void (*done)(void *arg);
	void *done_arg;
};

/* ---- ssh.c ---- */

/* sshd's hooks (struct sshd_hooks, ctx = the node): the decision for a login, a held
 * login whose connection went away. */
void meshd__on_ssh_authorize(void *ctx, const struct sockaddr *peer, const char *user,
			     struct sshd_check *check, struct sshd_decision *out);
void meshd__on_ssh_check_cancel(void *ctx, struct sshd_check *check);

/* The netstack's port-22 listener (ns_listen, ctx = the node): the stream goes to sshd. */
void meshd__on_ssh_accept(void *ctx, int fd, const struct ns_packet_info *info);

/* Holds die with the client that carries them: each held login is refused with why. */
void meshd__flush_holds(struct meshd_node *node, const char *why);

/* ---- audit.c ---- */

/* A login's decision (not a revalidation's): ssh.accept, ssh.check.hold or ssh.refuse. */
void meshd__audit_decision(struct meshd_node *node, const struct sockaddr *peer, const char *user,
			   const struct sshd_decision *d);
/* Sets sshd's revoked and forward reports (ssh.revoke, ssh.forward); 0.  Sessions' events
 * come from the sessions' registry (sessions.c). */
int meshd__audit_hooks(struct meshd_node *node, struct sshd_hooks *hooks);

/* ---- node.c ---- */

/* The netstack's output (struct ns_config's send and send_batch, ctx = the node): to
 * WireGuard, routed by AllowedIPs. */
int meshd__on_ns_send(void *ctx, const uint8_t *pkt, size_t len);
size_t meshd__on_ns_send_batch(void *ctx, const struct iovec *pkts, size_t n);

#endif
