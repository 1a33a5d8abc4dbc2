/* meshd and systemd-resolved (issue #20): where resolved runs, MagicDNS is set on the TUN
 * link over D-Bus (org.freedesktop.resolve1.Manager, sd-bus from libsystemd) instead of
 * rewriting /etc/resolv.conf, so only the tailnet's names come to us.
 *
 *	struct meshd_resolved_link l;
 *	meshd_resolved_link_fill(nm, if_nametoindex("mesh0"), &l);	// no I/O
 *	struct meshd_resolved *r;
 *	if (meshd_resolved_open(&r, why, sizeof(why)) == 0) {	// the bus and resolved run
 *		meshd_resolved_set(r, &l, err, sizeof(err));	// SetLinkDNS, SetLinkDomains, ...
 *		meshd_resolved_close(r);
 *	}
 *
 * The link gets the resolver's addresses (100.100.100.100 and P:53::53) as its DNS servers;
 * the tailnet's domain and the settings' search domains as search domains (resolved routes
 * a search domain to the link too: `ssh my-server` needs the tailnet's domain searched), the
 * split routes and the names of the extra records as routing-only domains ("~corp.example"),
 * since we answer them; DefaultRoute off (names outside
 * these stay with the host's other links), LLMNR, mDNS, DNSSEC and DNS-over-TLS off on it
 * (our resolver signs nothing and speaks plain DNS; a single label must not go out as
 * multicast on the tailnet).  meshd_resolved_revert gives resolved the link back
 * (RevertLink); a crashed meshd's TUN device goes away with it, and resolved forgets the link.
 *
 * Each call is synchronous on the system bus, bounded by MESHD_RESOLVED_TIMEOUT_MS, and made
 * only when the settings change, at `meshctl down` and at exit: a resolved that does not
 * answer costs the loop that long, once, and the error is logged.  Errors: -errno (bus), or
 * -EIO with resolved's error name and message in err. */
#ifndef MESH_CMD_DAEMON_RESOLVED_H
#define MESH_CMD_DAEMON_RESOLVED_H

#include <stdbool.h>
#include <stddef.h>

#include "common/addr.h"
#include "control/netmap/netmap.h"

enum {
	MESHD_RESOLVED_TIMEOUT_MS = 2000,
	MESHD_RESOLVED_DOMAINS_MAX =
	    1 + CTL_DNS_SEARCH_MAX + CTL_DNS_ROUTES_MAX + CTL_DNS_RECORDS_MAX,
	MESHD_RESOLVED_ERR_MAX = 256,
};

/* resolved's stub resolver: a resolv.conf naming only it hands every name to resolved */
#define MESHD_RESOLVED_STUB "127.0.0.53"
/* the servers resolved itself uses, as a resolv.conf (without its stub) */
#define MESHD_RESOLVED_UPLINK_CONF "/run/systemd/resolve/resolv.conf"

struct meshd_resolved_domain {
	const char *name;
	bool route_only; /* "~name": routing only, not searched */
};

struct meshd_resolved_link {
	int ifindex;
	struct addr_ip dns[2]; /* 100.100.100.100, P:53::53 */
	size_t n_dns;
	struct meshd_resolved_domain domains[MESHD_RESOLVED_DOMAINS_MAX];
	size_t n_domains;
	bool default_route;
};

/* nm's DNS settings as the link ifindex gets them (points into nm).  A name twice (a
 * search domain that is also a route or a record) is given once, searched the first time.  0, or
 * -EINVAL when nm has no DNS settings or no resolver address. */
int meshd_resolved_link_fill(const struct ctl_netmap *nm, int ifindex,
			     struct meshd_resolved_link *out);

/* One line saying what l sets, for the log and to tell a change ("tun0: DNS
 * 100.100.100.100 fd00:..:53::53, domains mesh.internal ~corp.example, default route no").
 * Returns its length (truncated to len - 1 like snprintf). */
size_t meshd_resolved_link_text(const struct meshd_resolved_link *l, const char *ifname, char *out,
				size_t len);

struct meshd_resolved;

/* Connects to the system bus and asks whether org.freedesktop.resolve1 has an owner, in
 * this network namespace (a link index names a device only within one; a container's meshd
 * may share the host's bus).  0: resolved runs (*out to close); -ESRCH: the bus runs,
 * resolved does not; -EXDEV: it runs in another network namespace; -errno: no system bus.
 * why says which, in words. */
int meshd_resolved_open(struct meshd_resolved **out, char *why, size_t whylen);

/* The link's DNS servers, domains, default route, LLMNR/mDNS/DNSSEC/DoT off; stops at the
 * first call refused.  0 or -errno (err says which call and why). */
int meshd_resolved_set(struct meshd_resolved *r, const struct meshd_resolved_link *l, char *err,
		       size_t errlen);

/* RevertLink: everything set on ifindex dropped.  0 or -errno (err says why). */
int meshd_resolved_revert(struct meshd_resolved *r, int ifindex, char *err, size_t errlen);

void meshd_resolved_close(struct meshd_resolved *r);

#endif
