/* meshd and the host's DNS (issue #20): while the node runs with a TUN device, MagicDNS is
 * on in the netmap's DNS settings and --accept-dns is not false, the host asks the tailnet
 * resolver (100.100.100.100): through systemd-resolved when it runs and the host's
 * resolv.conf names its stub 127.0.0.53 (the TUN link's DNS and domains set over D-Bus,
 * resolved.h; only the tailnet's names come to us), otherwise through /etc/resolv.conf,
 * with the tailnet's domain and the netmap's search domains on its "search" line.  The log
 * says which, and why.  A host that asks resolved's stub gives us the servers resolved uses
 * as upstreams (/run/systemd/resolve/resolv.conf), never the stub: resolved routes our
 * search domains to us, and a name under one would loop.
 *
 *	struct meshd_dns_host_config c = { .state_dir = "/var/lib/meshd", .accept = true };
 *	meshd_dns_host_new(&c, &h);		// puts back a file a crashed meshd left
 *	meshd_dns_host_apply(h, nm, true);	// each netmap: ours in place, or the host's
 *	meshd_dns_host_restore(h);		// meshctl down
 *	meshd_dns_host_free(h);			// exit: restores too
 *
 * The host's file is copied to STATE/resolv.conf.meshd-backup (fsync'd, 0600; a symbolic
 * link is remembered as one in STATE/resolv.conf.meshd-link) before ours replaces it by an
 * atomic rename; where resolv.conf is a mount point (containers, `ip netns exec`) rename
 * cannot replace it and it is rewritten in place, which the log says.  It comes back on
 * meshd_dns_host_restore, at exit, and, after a crash (kill -9), at the next start: a backup
 * with our file in place means a meshd died with it there.  A file someone else wrote while
 * ours was in place (DHCP, an admin) is left alone and the backup dropped.  The host is
 * never left without DNS: ours goes in only when the host's file names at least one
 * resolver to forward to, and a failure at any step leaves the host's file in place.
 *
 * With resolved, meshd_dns_host_restore (down, exit, MagicDNS off) reverts the link
 * (RevertLink); after a crash the TUN device is gone and resolved forgets the link itself.
 * Whether resolved is used is decided when MagicDNS goes on (`up`), and kept until it goes
 * off: resolved started later is used from the next `up`.  The file holds only
 * "nameserver 100.100.100.100": a second line for P:53::53 would reach the same meshd, and
 * glibc, trying them in order, would only wait for it as well when meshd does not answer (on
 * a host without IPv6, a line it cannot even send to).
 *
 * Not thread-safe; meshd's loop thread only.  Errors are logged with their reason. */
#ifndef MESH_CMD_DAEMON_DNS_HOST_H
#define MESH_CMD_DAEMON_DNS_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "common/addr.h"
#include "control/netmap/netmap.h"
#include "dns/dns.h"

struct meshd_dns_host_config {
	const char *resolv_conf; /* NULL: /etc/resolv.conf */
	const char *state_dir;	 /* where the host's file is kept while ours is in place */
	const char *ifname;	 /* the TUN device (systemd-resolved's link); NULL: none */
	bool accept;		 /* false (--accept-dns=false): the host's file is never touched */
};

struct meshd_dns_host;

/* Copies cfg; restores the host's file when a previous meshd left ours in place.  0 or
 * -ENOMEM. */
int meshd_dns_host_new(const struct meshd_dns_host_config *cfg, struct meshd_dns_host **out);

/* After each netmap (nm may be NULL): ours in place when the node has a TUN device (tun),
 * MagicDNS is on and accept allows it, the host's otherwise.  0 or -errno (logged). */
int meshd_dns_host_apply(struct meshd_dns_host *h, const struct ctl_netmap *nm, bool tun);

/* The host's own file back (meshctl down); 0 when it is there. */
int meshd_dns_host_restore(struct meshd_dns_host *h);

/* Restores, then frees (NULL is fine). */
void meshd_dns_host_free(struct meshd_dns_host *h);

/* The host's own resolvers (port 53), read from its file: from the backup while ours is
 * in place, so never our own address.  Copies at most max into out; returns how many. */
size_t meshd_dns_host_resolvers(const struct meshd_dns_host *h, struct addr_endpoint *out,
				size_t max);

/* Whether our file is in place now. */
bool meshd_dns_host_active(const struct meshd_dns_host *h);

/* The netmap's DNS settings as the resolver core's view needs them: extra records, split
 * routes and search domains (the tailnet's domain first).  Points into nm, which must
 * outlive vc's use (dns_view_new copies); parts holds what was allocated.  The other
 * members of vc are left as they were.  0 or -ENOMEM. */
struct meshd_dns_parts {
	struct dns_host *records;
	struct dns_route *routes;
	const char *search[CTL_DNS_SEARCH_MAX + 1];
};
int meshd_dns_view_fill(const struct ctl_netmap *nm, struct dns_view_config *vc,
			struct meshd_dns_parts *parts);
void meshd_dns_parts_clear(struct meshd_dns_parts *parts);

#endif
