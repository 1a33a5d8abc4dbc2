/* Inside meshd's MagicDNS (dns.h): the state dns.c (view, UDP, deadlines) and dns_tcp.c
 * (clients' TCP streams, upstream TCP connections) share.  Not for anything else. */
#ifndef MESH_CMD_DAEMON_DNS_INTERNAL_H
#define MESH_CMD_DAEMON_DNS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cmd/daemon/dns.h"
#include "dns/dns.h"

struct ns_packet_info;
struct meshd_dns_conn;

struct meshd_dns {
	uv_loop_t *loop;
	struct dns_resolver *res;
	struct ns *ns;					   /* while attached */
	struct addr_endpoint host[DNS_VIEW_MAX_UPSTREAMS]; /* from resolv.conf, at start */
	size_t n_host;
	uv_udp_t up4, up6; /* to upstreams */
	bool up4_open, up6_open;
	uv_timer_t expiry;		/* at dns_resolver_next_deadline */
	struct meshd_dns_conn *clients; /* dns_tcp.c: this host's TCP streams */
	size_t n_clients;
	struct meshd_dns_conn *upconns; /* ... and TCP connections to upstreams */
	size_t n_upconns;
	struct {
		uint64_t tcp_clients, tcp_refused, tcp_bad_frames, tcp_idle;
		uint64_t replies_lost, upstream_errors;
	} c;
	uint8_t udp_buf[65536];
	/* closing: handles not closed yet (+1 while meshd_dns_close runs) */
	unsigned pending;
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
};

/* dns.c */
void meshd__dns_handle(struct meshd_dns *d, const struct addr_endpoint *from, const uint8_t *msg,
		       size_t len, enum dns_transport t, bool upstream);
void meshd__dns_result(void *ctx, struct dns_result *r);
void meshd__dns_handle_closed(uv_handle_t *h); /* h->data = d */
void meshd__dns_release(struct meshd_dns *d);

/* dns_tcp.c */
void meshd__dns_tcp_accept(void *ctx, int fd, const struct ns_packet_info *info);
void meshd__dns_tcp_reply(struct meshd_dns *d, const struct addr_endpoint *client,
			  const uint8_t *msg, size_t len);
void meshd__dns_tcp_forward(struct meshd_dns *d, const struct addr_endpoint *upstream,
			    const uint8_t *msg, size_t len);
void meshd__dns_tcp_close_clients(struct meshd_dns *d);
void meshd__dns_tcp_close_upstreams(struct meshd_dns *d);

#endif
