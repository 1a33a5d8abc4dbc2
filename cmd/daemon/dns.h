/* MagicDNS on the node: dns/'s resolver wired to the netstack's resolver addresses and to
 * real sockets.  Each netmap becomes the resolver's view (peers and this node as NAME and
 * NAME.<domain>); queries from this host reach it through the netstack (UDP datagrams,
 * TCP streams); what the view does not answer goes to the host's resolvers (dns_host.h read
 * them from resolv.conf at start), over UDP (TCP when the answer came truncated).
 *
 *	meshd_dns_new(loop, upstream, n_upstream, &dns);
 *	meshd_dns_apply_netmap(dns, nm);	// every netmap
 *	meshd_dns_attach(dns, ns, nm);		// every new netstack (TUN mode)
 *	meshd_dns_close(dns, done, arg);
 *
 * The resolver's addresses: 100.100.100.100, and in the tailnet's ULA /48 (P, the first 48
 * bits of this node's IPv6 address) P:53::53.  Control numbers nodes P::N (bits 48-95
 * zero), so the resolver's can never be a node's; Tailscale's fd7a:115c:a1e0::53 is its
 * own ULA's and not ours to take. */
#ifndef MESH_CMD_DAEMON_DNS_H
#define MESH_CMD_DAEMON_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/addr.h"

struct ctl_netmap;
struct meshd_dns;
struct ns;

/* The host's resolvers are upstream (the resolver's own addresses among them are skipped,
 * so that we never ask ourselves); none leaves names outside the tailnet to SERVFAIL.
 * -ENOMEM. */
int meshd_dns_new(uv_loop_t *loop, const struct addr_endpoint *upstream, size_t n_upstream,
		  struct meshd_dns **out);

/* The view of nm (names control gave that are not DNS labels are left out, logged). */
void meshd_dns_apply_netmap(struct meshd_dns *d, const struct ctl_netmap *nm);

/* No netmap any more (meshctl down, logout): every name gets SERVFAIL until the next. */
void meshd_dns_clear(struct meshd_dns *d);

/* Serves the resolver's addresses on ns (a new netstack: the old one's TCP clients are
 * gone with it).  0 or -errno from ns_dns_start. */
int meshd_dns_attach(struct meshd_dns *d, struct ns *ns, const struct ctl_netmap *nm);

/* The netstack is going away (its sockets and TCP streams with it). */
void meshd_dns_detach(struct meshd_dns *d);

/* The resolver's addresses for nm's tailnet (family 0 when nm gives none of that family). */
void meshd_dns_addresses(const struct ctl_netmap *nm, struct addr_ip *v4, struct addr_ip *v6);

/* `meshctl dns query`: name of type asked of the current view (dns_view_lookup_text). */
int meshd_dns_query_text(const struct meshd_dns *d, const char *name, const char *type, char **out,
			 char *err, size_t errlen);

/* Whether this host's queries are answered: the resolver is on the netstack and holds a view
 * of the tailnet (a netmap with a domain, taken by the view).  Only then may the host's
 * resolv.conf point at it (dns_host.h). */
bool meshd_dns_serving(const struct meshd_dns *d);

/* Calls cb for every counter, named "dns.*". */
void meshd_dns_counters(const struct meshd_dns *d,
			void (*cb)(void *ctx, const char *name, uint64_t value), void *ctx);

/* Closes every socket and connection; done(arg) once they are closed. */
void meshd_dns_close(struct meshd_dns *d, void (*done)(void *arg), void *arg);

#endif
