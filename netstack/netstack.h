/* netstack/: the node's packet plane between WireGuard and the host.
 *
 * Decrypted inbound packets enter through ns_input().  One table-driven dispatch decides
 * each packet's path: fragments, packets for other addresses, and TCP that neither opens
 * nor continues a tracked connection are dropped; the packet filter (installed from
 * outside; allow-all until set) may drop the rest; a packet whose (protocol, port) is
 * registered for interception terminates in the embedded lwIP stack and reaches an
 * in-process handler as one end of an AF_UNIX socketpair; everything else is written to
 * the TUN device (TUN mode) or, in userspace mode (no TUN), is served by lwIP (TCP proxied
 * to 127.0.0.1:port, ICMP echo answered) or dropped.  Outbound packets (TUN reads and lwIP output)
 * all go to the send callback given at creation (wg routes and encrypts them).
 *
 * lwIP is a process-wide singleton: at most one struct ns exists at a time, and every
 * call below must be made on the loop thread.  The module does not depend on wg/. */
#ifndef MESH_NETSTACK_H
#define MESH_NETSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <uv.h>

#include "common/addr.h"

struct ns;

enum ns_mode {
	NS_MODE_TUN,	   /* non-intercepted traffic goes to a TUN device */
	NS_MODE_USERSPACE, /* no TUN: lwIP serves our address, the rest is dropped */
};

enum { NS_MAX_ROUTES = 16, NS_DEFAULT_MTU = 1280 };

struct ns_config {
	enum ns_mode mode;
	/* TUN mode: interface name ("mesh0"); ignored when tun_fd >= 0. */
	const char *tun_name;
	/* TUN mode: an already open packet fd to use as the TUN (tests: one end of an
	 * AF_UNIX SOCK_DGRAM pair); no netlink setup is done then, and the netstack owns and
	 * closes it.  -1 opens /dev/net/tun. */
	int tun_fd;
	uint32_t mtu; /* 0 = NS_DEFAULT_MTU */
	/* Our tailnet addresses (host addresses; bits is the prefix set on the TUN); family 0
	 * when there is none of that family. */
	struct addr_prefix addr4, addr6;
	/* Extra routes pointed at the TUN (e.g. 100.64.0.0/10 and the tailnet ULA /48). */
	struct addr_prefix routes[NS_MAX_ROUTES];
	unsigned n_routes;
	/* Limits for bridged TCP connections (0 = defaults: 1024 conns, 64 MiB). */
	unsigned max_conns;
	size_t max_buffered;
	/* Every outbound IP packet; returns 0 or -errno (counted, the packet is lost). */
	int (*send)(void *ctx, const uint8_t *pkt, size_t len);
	/* Optional: packets read from the TUN in one wakeup, handed over at once (wg's
	 * wg_device_send_batch: one sendmmsg); returns how many were accepted. */
	size_t (*send_batch)(void *ctx, const struct iovec *pkts, size_t n);
	void *send_ctx;
};

/* What the packet filter and the accept callback see of a packet / connection.
 * Addresses are in network byte order (4 or 16 bytes used by family). */
struct ns_packet_info {
	int family; /* AF_INET or AF_INET6 */
	uint8_t proto;
	uint8_t src[16], dst[16];
	uint16_t sport, dport; /* TCP/UDP/SCTP ports; ICMP: type and code */
	uint16_t icmp_id;      /* ICMP echo request/reply: the identifier */
	uint8_t tcp_flags;
	uint32_t tcp_seq;
	size_t len;
};

struct pol_filter_rule;

/* The node's packet filter: true when one of the compiled policy rules admits the packet
 * (pol_filter_rules_match, the evaluator `policy explain` and the policy's tests use, over
 * the rules of the netmap).  Pure; ns_input asks it only about packets that are for one of
 * our addresses, not fragments and not part of a tracked connection or flow (for TCP: only
 * bare SYNs). */
bool ns_filter_allows(const struct pol_filter_rule *const *rules, size_t n,
		      const struct ns_packet_info *pi);

/* The paths a packet can take, and why one was dropped. */
enum ns_path {
	NS_PATH_INTERCEPT, /* own address, registered (proto, port): lwIP -> handler */
	NS_PATH_LOCAL,	   /* userspace mode, own address: lwIP (forward, ICMP echo) */
	NS_PATH_TUN,	   /* written to the TUN device */
	NS_PATH_DROP,
	NS_PATH_MAX,
};

enum ns_drop {
	NS_DROP_NONE,
	NS_DROP_MALFORMED,  /* not a parseable IPv4/IPv6 packet */
	NS_DROP_FILTERED,   /* the packet filter said no */
	NS_DROP_NOT_OURS,   /* destination is not one of our addresses */
	NS_DROP_FRAGMENT,   /* an IP fragment: never reassembled, never passed */
	NS_DROP_NO_STATE,   /* TCP that neither opens a connection nor belongs to a tracked one */
	NS_DROP_NO_HANDLER, /* userspace mode: our address, but nothing serves that proto */
	NS_DROP_TUN_WRITE,  /* the TUN write failed (full or down) */
	NS_DROP_NOMEM,	    /* no pbuf for the packet */
	NS_DROP_MAX,
};

struct ns_counters {
	uint64_t in_packets, in_bytes;
	uint64_t path[NS_PATH_MAX]; /* inbound packets per path */
	uint64_t drop[NS_DROP_MAX]; /* inbound drops per reason */
	uint64_t out_lwip, out_tun; /* outbound packets from lwIP / read from the TUN */
	uint64_t out_send_errors;   /* send callback failures */
	uint64_t conns_accepted;    /* bridged connections (listen, forward, dial, socks) */
	uint64_t conns_active;
	uint64_t conns_refused_limit;	 /* reset because max_conns was reached */
	uint64_t conns_reset_in;	 /* reset by the remote peer */
	uint64_t conns_reset_out;	 /* we sent RST (local side aborted) */
	uint64_t forward_refused;	 /* userspace mode: nothing listened on 127.0.0.1:port */
	uint64_t buffered, buffered_max; /* bytes held between lwIP and local fds */
	uint64_t timer_wakeups;		 /* lwIP timer runs (an idle netstack sleeps) */
	uint64_t ct_evicted;		 /* tracked connections pushed out of the full table */
	uint64_t filter_asked;		 /* packets the filter judged (untracked, whole, ours) */
	uint64_t dns_in;		 /* from the TUN to the resolver's port 53: into lwIP */
	uint64_t dns_dropped;		 /* from the TUN to the resolver, not UDP/TCP port 53 */
	uint64_t dns_out;		 /* from the resolver's addresses to the TUN */
};

/* Creates the netstack on loop (opens and configures the TUN in TUN mode). */
int ns_new(uv_loop_t *loop, const struct ns_config *cfg, struct ns **out);
/* Aborts every connection, closes the TUN and handles; memory is released by the close
 * callbacks, so run the loop afterwards.  ns may be NULL. */
void ns_free(struct ns *ns);

/* One decrypted inbound IP packet (copied; the caller keeps pkt).  Before any path is
 * chosen: fragments are dropped (IPv4 and IPv6: a fragment's ports cannot be trusted, and
 * nothing behind us may reassemble one we did not examine); so is anything whose
 * destination is not one of our addresses (no subnet routes yet).  TCP and UDP that belong
 * to a connection or flow this node opened or accepted (its own outbound packets are
 * tracked, a bounded table with TCP's timeouts), and ICMP echo replies to echo requests
 * this node sent, pass without the filter; other TCP passes only as a bare SYN the filter
 * allows, everything else only as the filter allows. */
void ns_input(struct ns *ns, const uint8_t *pkt, size_t len);

/* Installs the inbound packet filter: this node's compiled rules (borrowed: they must stay
 * valid until the next call or ns_free).  Until the first call every packet the checks
 * above let through passes (tests of the plumbing); meshd installs its rules at once. */
void ns_set_rules(struct ns *ns, const struct pol_filter_rule *const *rules, size_t n);

/* A new intercepted connection: fd is our caller's end of a connected AF_UNIX stream
 * socketpair (non-blocking, close-on-exec); the callee owns it.  info describes the TCP
 * connection (src = remote peer). */
typedef void ns_accept_fn(void *ctx, int fd, const struct ns_packet_info *info);

/* Intercepts TCP port on our addresses (both families) and hands each accepted
 * connection to cb.  -EADDRINUSE if the port is already intercepted. */
int ns_listen(struct ns *ns, uint16_t port, ns_accept_fn *cb, void *ctx);
/* Stops intercepting port (userspace mode: it is proxied to 127.0.0.1 again);
 * established connections stay.  -ENOENT when port is not intercepted. */
int ns_unlisten(struct ns *ns, uint16_t port);

/* Result of ns_dial: fd >= 0 (our end of a socketpair, caller owns it) or -errno. */
typedef void ns_dial_fn(void *ctx, int fd_or_err);

/* Opens a TCP connection through lwIP to addr (AF_INET/AF_INET6, network order) port.
 * cb runs exactly once, later, unless this returns an error. */
int ns_dial(struct ns *ns, int family, const uint8_t *addr, uint16_t port, ns_dial_fn *cb,
	    void *ctx);

/* Decides from a SOCKS5 client's kernel credentials (SO_PEERCRED) whether it may act as
 * this node; runs on the loop when the client connects, before any of its bytes are read. */
typedef bool ns_socks5_allow_fn(void *ctx, uid_t uid, gid_t gid);

/* Starts a SOCKS5 listener (RFC 1928, CONNECT, no authentication method) on the Unix socket
 * path: a stale socket there is replaced (any other file is refused: -EEXIST), the file is
 * 0600, or 0660 owned by group unless group is (gid_t)-1, before it listens, and a client
 * that allow refuses is closed at once (logged).  Connections go out via ns_dial; the file
 * is removed when the netstack closes. */
int ns_socks5_start(struct ns *ns, const char *path, gid_t group, ns_socks5_allow_fn *allow,
		    void *ctx);

/* Resolves a name a SOCKS5 client asks for (curl --socks5-hostname): 0 with *family
 * (AF_INET or AF_INET6) and addr (network order) filled, or -ENOENT.  Runs on the loop
 * and must not block: a lookup in what the caller already knows (peer names). */
typedef int ns_resolve_fn(void *ctx, const char *name, int *family, uint8_t addr[16]);
/* Without a resolver, only IP literals are accepted as names (others: host unreachable). */
void ns_socks5_set_resolver(struct ns *ns, ns_resolve_fn *fn, void *ctx);

/* ---- the tailnet resolver's addresses (MagicDNS), TUN mode ----
 *
 * UDP and TCP to port 53 of addr4 (100.100.100.100) and addr6 (the tailnet's, see
 * cmd/daemon/dns.c) from this host, read from the TUN, end in lwIP and never reach
 * WireGuard; the answers go back to the TUN.  Anything else this host sends to those
 * addresses is dropped (counter dnsaddr.dropped).  Only this host is served: a peer's packet
 * for them is not for one of our addresses (drop.not_ours), like Tailscale's
 * 100.100.100.100, which serves only its own host.  The netstack carries bytes and
 * parses no DNS. */
typedef void ns_dns_datagram_fn(void *ctx, const struct addr_endpoint *client, const uint8_t *msg,
				size_t len);
struct ns_dns_config {
	struct addr_ip addr4, addr6;  /* family 0: none of that family (one at least) */
	ns_dns_datagram_fn *datagram; /* a UDP query (msg only valid during the call) */
	ns_accept_fn *accept;	      /* a TCP connection: the stream as a socketpair fd */
	void *ctx;
};
/* Starts serving those addresses (once per netstack; they stay until ns_free).  -EOPNOTSUPP
 * in userspace mode (no host sends there), -EADDRINUSE when one is our own address,
 * -EINVAL, -EALREADY, -ENOMEM. */
int ns_dns_start(struct ns *ns, const struct ns_dns_config *cfg);
/* A UDP answer to client, from the resolver's address of its family and port 53.  0 or
 * -errno (-ENOTCONN before ns_dns_start, -EMSGSIZE, -ENOMEM). */
int ns_dns_send(struct ns *ns, const struct addr_endpoint *client, const uint8_t *msg, size_t len);

/* Copies the counters. */
void ns_get_counters(const struct ns *ns, struct ns_counters *out);
/* Calls cb for every counter with a stable dotted name ("in.packets", "path.intercept",
 * "drop.filtered", "conns.active", ...), for status output such as JSON. */
void ns_counters_foreach(const struct ns_counters *c,
			 void (*cb)(void *ctx, const char *name, uint64_t value), void *ctx);
const char *ns_path_name(enum ns_path path);
const char *ns_drop_name(enum ns_drop reason);

/* The TUN interface name in TUN mode ("" otherwise). */
const char *ns_tun_name(const struct ns *ns);

#endif
