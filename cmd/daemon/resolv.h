/* resolv.conf as meshd reads and writes it, without I/O (dns_host.c does the files).
 *
 *	struct meshd_resolv r;
 *	char err[MESHD_RESOLV_ERR_MAX];
 *	if (meshd_resolv_parse(text, len, &r, err, sizeof(err)) < 0)
 *		log_warn("dns", "/etc/resolv.conf: %s", err);	// "line 3: nameserver ..."
 *	meshd_resolv_produce("tail.example", search, n, out, sizeof(out));
 *
 * Read the way glibc reads it (resolv.conf(5)): one keyword a line, '#' or ';' starts a
 * comment line, unknown keywords are ignored, and only the first MESHD_RESOLV_NS_MAX
 * nameservers count (glibc's MAXNS; later ones are counted in n_ignored, as glibc ignores
 * them).  Refused, with the line: a NUL byte, a nameserver without an address or with one
 * that is not an IP address (a zone, "fe80::1%eth0", included: it means one interface of
 * this host, which the tailnet resolver cannot use), and the tailnet resolver's own address
 * in a file meshd did not write (forwarding to it would be a loop).  The file meshd writes
 * starts with MESHD_RESOLV_MARKER, which is how a later meshd knows it is ours. */
#ifndef MESH_CMD_DAEMON_RESOLV_H
#define MESH_CMD_DAEMON_RESOLV_H

#include <stdbool.h>
#include <stddef.h>

#include "common/addr.h"

enum {
	MESHD_RESOLV_NS_MAX = 3,	  /* glibc's MAXNS */
	MESHD_RESOLV_FILE_MAX = 64 << 10, /* a larger file is refused */
	MESHD_RESOLV_ERR_MAX = 256,
};

#define MESHD_RESOLV_MARKER "# resolv.conf written by meshd for MagicDNS\n"

struct meshd_resolv {
	bool ours;				      /* it starts with MESHD_RESOLV_MARKER */
	struct addr_endpoint ns[MESHD_RESOLV_NS_MAX]; /* port 53 */
	size_t n_ns;
	size_t n_ignored; /* nameservers past MESHD_RESOLV_NS_MAX */
	/* nameserver lines skipped: no address, not an IP address (a zone too), or the tailnet
	 * resolver in a file not ours (a loop); the first one's sentence */
	size_t n_skipped;
	char skipped[MESHD_RESOLV_ERR_MAX];
};

/* Parse the text of a resolv.conf; 0, or -EINVAL with one sentence in err for a file that
 * is no resolv.conf (too large, a NUL byte).  A bad nameserver line does not fail it: it is
 * skipped (n_skipped), the others stand. */
int meshd_resolv_parse(const char *text, size_t len, struct meshd_resolv *out, char *err,
		       size_t errlen);

/* The file meshd puts in place: the marker, a comment saying where the host's file went,
 * "nameserver 100.100.100.100", and "search" with domain (when not NULL or empty) then the
 * search domains.  Returns its length, -ENOSPC when out is too small, or -EINVAL when a
 * name holds anything but letters, digits, '.', '-' and '_' (a newline would add lines). */
int meshd_resolv_produce(const char *domain, const char *const *search, size_t n_search, char *out,
			 size_t outlen);

#endif
