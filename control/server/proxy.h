/* control/server/proxy.h: the PROXY protocol (HAProxy's, versions 1 and 2) a TCP balancer puts
 * before a client's bytes, so that meshcontrol counts its per-source limits, audits and logs
 * the client's address rather than the balancer's.  Read only from the addresses given with
 * `meshcontrol serve --trusted-proxy CIDR` (proxy_listen.c); anyone else's header is HTTP
 * garbage.
 *
 *	struct ctl_proxy_hdr h;
 *	char err[CTL_PROXY_ERR_MAX];
 *	int n = ctl_proxy_parse(buf, len, &h, err, sizeof(err));
 *	if (n < 0)		// err says why: close the connection
 *	else if (n == 0)	// not complete yet: every byte so far belongs to the header
 *	else			// the first n bytes were the header; h.local: use the peer's
 *address
 *
 * The parser is pure (no I/O) and reads at most CTL_PROXY_MAX bytes: the caller never needs
 * to read past the header, since an incomplete answer means every byte seen is the header's.
 * Accepted: v2 PROXY over TCP (IPv4, IPv6) with well-formed TLVs (skipped), v2 LOCAL (the
 * balancer's own connection: its health checks) and v1 "TCP4", "TCP6" and "UNKNOWN" (the
 * latter as LOCAL).  Refused, each with its sentence: a wrong signature, a version other
 * than 2, a command other than LOCAL or PROXY, UDP, AF_UNIX or an unspecified family with
 * PROXY, an address block shorter than its family, a TLV running past the end, and a
 * header longer than CTL_PROXY_MAX (v2) or 107 bytes (v1). */
#ifndef MESH_CONTROL_SERVER_PROXY_H
#define MESH_CONTROL_SERVER_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

enum {
	CTL_PROXY_V2_FIXED = 16, /* signature, version and command, family, length */
	CTL_PROXY_V1_MAX = 107,	 /* the spec's longest v1 line, CRLF included */
	CTL_PROXY_MAX = 536,	 /* the spec's receive buffer: v2 with some TLVs */
	CTL_PROXY_ERR_MAX = 192, /* a sentence quoting at most 16 bytes of the input */
};

struct ctl_proxy_hdr {
	bool local;		  /* LOCAL (v2) or UNKNOWN (v1): no client address */
	struct addr_endpoint src; /* the client (port as sent, 0 included) */
	struct addr_endpoint dst; /* the address the client connected to */
};

/* See the top of this file: >0 the header's length, 0 incomplete, -EPROTO (malformed),
 * -ENOTSUP (a family, transport or command this server does not take) or -EMSGSIZE
 * (longer than this server reads), with err set. */
int ctl_proxy_parse(const uint8_t *buf, size_t len, struct ctl_proxy_hdr *out, char *err,
		    size_t errlen);

#endif
