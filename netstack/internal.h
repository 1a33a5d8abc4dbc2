/* netstack/ private declarations shared by its files (core, dispatch, bridge, tun,
 * socks5).  Only netstack/ and its tests include this header; it is where lwIP types
 * meet ours. */
#ifndef MESH_NETSTACK_INTERNAL_H
#define MESH_NETSTACK_INTERNAL_H

#include <net/if.h>

#include "common/container.h"
#include "netstack/netstack.h"

/* <uv.h> pulls in <netinet/tcp.h>, whose TCP_MSS socket option would clash with lwIP's
 * TCP_MSS setting; lwIP's meaning wins in this module. */
#undef TCP_MSS

#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/tcp.h"

enum { NS__IOBUF = 65536 };

struct ns__conn;
struct ns__listener;
struct ns__socks;
struct ns__probe;
struct ns__dns;

/* conntrack.c: TCP connections and UDP flows this node opened or accepted. */
enum ns__ct_state {
	NS__CT_FREE,
	NS__CT_UDP,
	NS__CT_ICMP,	    /* we sent an ICMP echo request (lport: its identifier) */
	NS__CT_SYN_SENT,    /* we sent a SYN */
	NS__CT_SYN_RECV,    /* we answered a SYN with SYN|ACK */
	NS__CT_ESTABLISHED, /* both sides spoke */
	NS__CT_FIN,	    /* a FIN went one way or the other */
	NS__CT_CLOSE,	    /* a RST */
	NS__CT_STATE_MAX,
};

enum {
	NS__CT_SLOTS = 8192,
	NS__CT_PROBE = 8,
	/* Linux conntrack's defaults (nf_conntrack_tcp_timeout_*, udp_timeout_stream). */
	NS__CT_SYN_SENT_MS = 120 * 1000,
	NS__CT_SYN_RECV_MS = 60 * 1000,
	NS__CT_FIN_MS = 120 * 1000,
	NS__CT_CLOSE_MS = 10 * 1000,
	NS__CT_UDP_MS = 120 * 1000,
	NS__CT_ICMP_MS = 30 * 1000, /* nf_conntrack_icmp_timeout */
};
#define NS__CT_ESTABLISHED_MS (5ull * 24 * 3600 * 1000)

struct ns__ct_entry {
	uint8_t state; /* enum ns__ct_state */
	uint8_t family, proto;
	uint16_t lport, rport;
	uint8_t local[16], remote[16];
	uint64_t last_ms;
};

struct ns__ct {
	struct ns__ct_entry slot[NS__CT_SLOTS];
	uint32_t seed;
	uint64_t evicted; /* live entries replaced because a key's slots were full */
};

void ns__ct_init(struct ns__ct *ct);
/* Notes a parsed outbound packet (TCP, UDP and ICMP echo requests; anything else is
 * ignored). */
void ns__ct_outbound(struct ns__ct *ct, const struct ns_packet_info *pi, uint64_t now_ms);
/* True when a parsed inbound packet belongs to a tracked connection or flow (a bare SYN
 * never does), or is the echo reply to an echo request we sent; moves its TCP state and
 * keeps it alive. */
bool ns__ct_inbound(struct ns__ct *ct, const struct ns_packet_info *pi, uint64_t now_ms);

struct ns {
	uv_loop_t *loop;
	struct ns_config cfg;
	struct netif nif;
	bool nif_added;
	uv_timer_t timer;
	uint64_t timer_due_ms; /* 0 = not armed */
	/* TUN */
	int tun_fd;
	bool tun_polling;
	uv_poll_t tun_poll;
	char tun_name[IFNAMSIZ];
	uint8_t *tun_batch; /* with send_batch: TUN_READ_BATCH slots of tun_slot bytes */
	size_t tun_slot;
	/* dispatch */
	const struct pol_filter_rule *const *rules; /* filter.c; borrowed */
	size_t n_rules;
	bool rules_set;
	struct ns__ct ct;
	uint8_t tcp_ports[65536]; /* how many listeners intercept each local TCP port */
	/* how many dials use each local TCP port: in TUN mode only their replies (ns__dial_reply)
	 * reach lwIP, not everything to the port (the kernel's connections and services use the
	 * same address, and lwIP's ports overlap its ephemeral ones).  Counted until the bridge
	 * ends (ns__conn_end): a FIN or ACK for lwIP's half-closed connection after that goes to
	 * the TUN, where the kernel answers it with RST.  meshd makes no dial in TUN mode (its API
	 * refuses one, the recording uploader uses the kernel's TCP): that, and recorders off the
	 * tailnet, are to be handled before one is (tests/bench/results.md, record-upload). */
	uint8_t tcp_dials[65536];
	/* connections */
	struct ns__listener *listeners;
	struct ns__conn *conns;
	struct ns__socks *socks;
	ns_resolve_fn *resolve; /* SOCKS5 names that are not IP literals */
	void *resolve_ctx;
	struct ns__dns *dns;	  /* dns.c: the tailnet resolver's addresses (TUN mode) */
	struct ns__probe *probes; /* userspace mode: SYNs held while 127.0.0.1 is tried */
	unsigned n_probes;
	struct ns_counters ctr;
	unsigned max_conns;
	size_t max_buffered;
	/* teardown: handles still closing; the last close callback frees ns */
	unsigned closing;
	bool freeing;
	uint8_t iobuf[NS__IOBUF];
};

/* dispatch.c: parse a packet, and the table that picks its path. */
int ns__parse(const uint8_t *pkt, size_t len, struct ns_packet_info *pi, bool *fragment);

struct ns__facts {
	enum ns_mode mode;
	bool parsed, fragment, own_dst;
	bool tracked; /* belongs to a connection or flow we opened or accepted */
	bool tcp_new; /* TCP with SYN set and ACK clear: a new connection */
	bool allowed; /* tracked, or the filter said yes */
	bool intercepted;
	uint8_t proto;
	bool echo_request;
};
enum ns_path ns__classify(const struct ns__facts *f, enum ns_drop *drop);
/* Whether the facts leave the packet to the filter's word: ours, whole, untracked, and for
 * TCP a bare SYN (ns__classify drops other untracked TCP without asking). */
bool ns__filter_judges(const struct ns__facts *f);
/* TCP with SYN set and ACK clear: the start of a new connection. */
bool ns__tcp_bare_syn(const struct ns_packet_info *pi);
/* ICMP (v4 or v6) echo reply. */
bool ns__is_echo_reply(const struct ns_packet_info *pi);

/* filter.c: the installed rules' verdict (everything passes before ns_set_rules). */
bool ns__filter_check(const struct ns *ns, const struct ns_packet_info *pi);
bool ns__is_echo_request(const struct ns_packet_info *pi);

/* core.c */
void ns__kick(struct ns *ns); /* re-arms the lwIP timer after any call into lwIP */
void ns__note_outbound(struct ns *ns, const uint8_t *pkt, size_t len);
void ns__to_lwip(struct ns *ns, const uint8_t *pkt, size_t len);
void ns__handle_closed(struct ns *ns);
err_t ns__nif_init(struct netif *nif); /* output to the send callback (or the TUN) */
bool ns__is_own(const struct ns *ns, int family, const uint8_t *addr);
void ns__to_ip_addr(int family, const uint8_t *addr, ip_addr_t *out);
void ns__from_ip_addr(const ip_addr_t *a, int *family, uint8_t addr[16]);

/* bridge.c: lwIP pcb <-> stream fd. */
enum ns__conn_kind { NS__CONN_INTERCEPT, NS__CONN_FORWARD, NS__CONN_DIAL };
/* A dial for an fd the caller holds (SOCKS5): err < 0 reports failure; err == 0 asks
 * for the fd to bridge (>= 0, the bridge owns it then) or -1 to give up. */
typedef int ns__dial_ready_fn(void *ctx, int err);

struct ns__rx {
	struct ns__rx *next;
	struct pbuf *p;
};

struct ns__conn {
	struct ns *ns;
	struct ns__conn *prev, *next;
	enum ns__conn_kind kind;
	struct tcp_pcb *pcb;
	int fd;
	bool fd_is_tcp;
	uv_poll_t poll;
	bool poll_init, started, connecting;
	int events;
	/* remote -> fd */
	struct ns__rx *rx_head, *rx_tail;
	size_t rx_bytes;
	bool rx_fin, fd_wr_shut;
	bool wr_blocked; /* the fd said EAGAIN: wait for POLLOUT before writing again */
	/* fd -> remote */
	uint8_t *stash;
	size_t stash_len;
	bool fd_eof, fd_closed, tx_blocked;
	uint16_t dial_port;
	/* dial: where to (network order), for matching its replies */
	int dial_family;
	uint8_t dial_addr[16];
	uint16_t dial_rport;
	ns__dial_ready_fn *ready;
	void *ready_ctx;
	ns_dial_fn *dial_cb;
	void *dial_ctx;
};

struct ns__listener {
	struct ns__listener *next;
	struct ns *ns;
	struct tcp_pcb *pcb;
	uint16_t port;
	bool forward;
	bool bound; /* to one address (the resolver's): not the port's interception */
	ns_accept_fn *cb;
	void *ctx;
};

/* Attaches a bridge to pcb (callbacks hooked; fd may still be -1). */
struct ns__conn *ns__conn_new(struct ns *ns, struct tcp_pcb *pcb, int fd, enum ns__conn_kind kind);
/* Starts moving bytes once c->fd is set; ERR_ABRT when the pcb was aborted (c is gone). */
err_t ns__conn_start(struct ns__conn *c);
/* Ends the bridge (reset: RST, else a graceful close); ERR_ABRT when it aborted the pcb. */
err_t ns__conn_end(struct ns__conn *c, bool reset);
void ns__port_ref(uint8_t *ports, uint16_t port);
void ns__port_unref(uint8_t *ports, uint16_t port);

/* listen.c: listeners (intercept / forward) and dials. */
int ns__listen_forward(struct ns *ns, uint16_t port);
/* Intercepts TCP port on addr alone (not one of ours: the resolver's); it stays until
 * ns_free and is not the port's listener for ns_listen. */
int ns__listen_addr(struct ns *ns, const ip_addr_t *addr, uint16_t port, ns_accept_fn *cb,
		    void *ctx);
bool ns__has_listener(const struct ns *ns, uint16_t port);
/* pi (TCP, to one of our addresses) comes from the remote end of one of our dials, to its
 * local port. */
bool ns__dial_reply(const struct ns *ns, const struct ns_packet_info *pi);
int ns__dial_fd(struct ns *ns, int family, const uint8_t *addr, uint16_t port,
		ns__dial_ready_fn *ready, void *ctx);
void ns__bridge_free_all(struct ns *ns);

/* forward.c: userspace mode, TCP to 127.0.0.1:port. */
void ns__forward_syn(struct ns *ns, const struct ns_packet_info *pi, const uint8_t *pkt,
		     size_t len);
int ns__forward_take_fd(struct ns *ns, const struct tcp_pcb *pcb);
void ns__forward_free_all(struct ns *ns);

/* dns.c: the tailnet resolver's addresses. */
/* A packet read from the TUN: true when it was for the resolver (taken into lwIP when UDP
 * or TCP to port 53, dropped and counted otherwise), so it must not go to WireGuard. */
bool ns__dns_from_host(struct ns *ns, const uint8_t *pkt, size_t len);
/* An lwIP packet from a resolver address: goes to the TUN, never to WireGuard. */
bool ns__dns_answer(struct ns *ns, const uint8_t *pkt, size_t len);
void ns__dns_free(struct ns *ns);

/* tun.c */
int ns__tun_open(struct ns *ns);
int ns__tun_write(struct ns *ns, const uint8_t *pkt, size_t len);
void ns__tun_close(struct ns *ns);

/* socks5.c: the RFC 1928 parsers (pure, fuzzed) and the listener's teardown. */
enum { NS__SOCKS_DROP = 256 }; /* not SOCKS5 at all: close without a reply */
struct ns__socks_request {
	int family; /* 0: a name to resolve (name) */
	uint8_t addr[16];
	uint16_t port;
	char name[256];
};
/* 0: complete (*used bytes; *noauth: method 0 offered), 1: need more, -1: not SOCKS5. */
int ns__socks_parse_greeting(const uint8_t *b, size_t n, size_t *used, bool *noauth);
/* 0: a CONNECT request (*req, *used bytes), 1: need more, -REP (the RFC 1928 reply code
 * to send) or -NS__SOCKS_DROP. */
int ns__socks_parse_request(const uint8_t *b, size_t n, struct ns__socks_request *req,
			    size_t *used);
void ns__socks_free_all(struct ns *ns);

#endif
