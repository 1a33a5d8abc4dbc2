/* meshd and the host's DNS: /etc/resolv.conf put in our place and back (dns_host.h), and the
 * netmap's DNS settings handed to the resolver core's view. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/daemon/dns_host.h"
#include "cmd/daemon/resolv.h"
#include "cmd/daemon/resolved.h"
#include "common/file.h"
#include "common/log.h"

static const char *const subject = "dns";

struct meshd_dns_host {
	char *resolv_conf, *backup, *link, *ifname;
	bool accept;
	bool active;	  /* our file is in place (the backup holds the host's) */
	bool noted_busy;  /* the log said once that resolv.conf is a mount point */
	char *written;	  /* what we last put there */
	bool stub;	  /* the host's resolv.conf names only systemd-resolved's stub */
	bool resolved;	  /* the TUN link is set in systemd-resolved (and resolv.conf left alone) */
	bool no_resolved; /* resolved was asked and is not to be used: resolv.conf until down */
	int ifindex;	  /* the link set in resolved */
	char *resolved_text; /* what was set, in words (meshd_resolved_link_text) */
	struct addr_endpoint ns[MESHD_RESOLV_NS_MAX];
	size_t n_ns;
};

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* path's contents, parsed; 0 or -errno (-EINVAL: not a resolv.conf, why logged). */
static int read_parsed(const char *path, char **text, size_t *len, struct meshd_resolv *r)
{
	char err[MESHD_RESOLV_ERR_MAX];
	int rc = file_read_all(path, MESHD_RESOLV_FILE_MAX, text, len);
	if (rc)
		return rc;
	if (meshd_resolv_parse(*text, *len, r, err, sizeof(err)) != 0) {
		log_warn(subject, "%s: %s", path, err);
		free(*text);
		*text = NULL;
		return -EINVAL;
	}
	return 0;
}

/* Replaces resolv.conf: an atomic rename, or in place where it is a mount point. */
static int write_resolv(struct meshd_dns_host *h, const char *text, size_t len)
{
	int rc = file_write_atomic(h->resolv_conf, text, len, 0644);
	if (rc != -EBUSY)
		return rc;
	if (!h->noted_busy)
		log_info(subject,
			 "%s is a mount point (a container's or 'ip netns exec''s): "
			 "rewritten in place, not renamed over",
			 h->resolv_conf);
	h->noted_busy = true;
	rc = 0;
	int fd = open(h->resolv_conf, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len && !rc;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno != EINTR)
			rc = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	return rc;
}

/* A symbolic link at resolv.conf back to target (atomic: a new link renamed over). */
static int relink(struct meshd_dns_host *h, const char *target)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.meshd-tmp", h->resolv_conf) >= sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return -errno;
	if (rename(tmp, h->resolv_conf) < 0) {
		int rc = -errno;
		unlink(tmp);
		return rc;
	}
	return 0;
}

static void forget_backup(struct meshd_dns_host *h)
{
	unlink(h->backup);
	unlink(h->link);
	h->active = false;
	free(h->written);
	h->written = NULL;
}

/* A resolv.conf naming the host's resolvers as we read them (malloc'd), or NULL when we know
 * none: what goes back when the host's own file cannot be read from the state directory. */
static char *resolvers_text(const struct meshd_dns_host *h, size_t *len)
{
	size_t cap = 128 + h->n_ns * (ADDR_TEXT_MAX + 16), n;
	char *t = h->n_ns ? malloc(cap) : NULL, ip[ADDR_TEXT_MAX];
	if (!t)
		return NULL;
	n = (size_t)snprintf(t, cap, "# the host's resolvers, as meshd read them\n");
	for (size_t i = 0; i < h->n_ns; i++)
		n += (size_t)snprintf(t + n, cap - n, "nameserver %s\n",
				      addr_ip_format(&h->ns[i].ip, ip));
	*len = n;
	return t;
}

/* resolved's link given back (RevertLink); its TUN device gone, resolved forgot it already. */
static void revert_resolved(struct meshd_dns_host *h)
{
	struct meshd_resolved *r;
	char why[MESHD_RESOLVED_ERR_MAX];
	int rc = meshd_resolved_open(&r, why, sizeof(why));
	if (rc == 0) {
		rc = meshd_resolved_revert(r, h->ifindex, why, sizeof(why));
		meshd_resolved_close(r);
	}
	if (rc)
		log_warn(subject, "%s: systemd-resolved's link %d not reverted: %s", h->ifname,
			 h->ifindex, why);
	else
		log_info(subject, "%s: systemd-resolved has its link back (RevertLink)", h->ifname);
	h->resolved = false;
	free(h->resolved_text);
	h->resolved_text = NULL;
}

int meshd_dns_host_restore(struct meshd_dns_host *h)
{
	char *cur = NULL, *saved = NULL, *target = NULL;
	size_t len, slen, tlen;
	struct meshd_resolv r;
	if (h && h->resolved)
		revert_resolved(h);
	if (h)
		h->no_resolved = false; /* asked again at the next up */
	if (!h || !h->active)
		return 0;
	int rc = read_parsed(h->resolv_conf, &cur, &len, &r);
	free(cur);
	if (rc == 0 && !r.ours) {
		log_info(subject, "%s was replaced while MagicDNS ran: left as it is",
			 h->resolv_conf);
		forget_backup(h);
		return 0;
	}
	rc = file_read_all(h->backup, MESHD_RESOLV_FILE_MAX, &saved, &slen);
	if (rc && !(saved = resolvers_text(h, &slen))) {
		log_err(subject, "%s: cannot read the host's resolv.conf kept there: %s", h->backup,
			strerror(-rc));
		return rc;
	}
	if (rc) /* ours would send every name to a resolver that is going away */
		log_err(subject,
			"%s: cannot read the host's resolv.conf kept there: %s; %s gets the "
			"host's %zu resolvers instead",
			h->backup, strerror(-rc), h->resolv_conf, h->n_ns);
	if (file_read_all(h->link, PATH_MAX, &target, &tlen) == 0 && tlen > 0)
		rc = relink(h, target);
	else
		rc = write_resolv(h, saved, slen);
	free(saved);
	if (rc) {
		log_err(subject, "%s: cannot put the host's file back: %s (it is kept in %s)",
			h->resolv_conf, strerror(-rc), h->backup);
	} else {
		log_info(subject, "%s: the host's own file is back%s%s%s", h->resolv_conf,
			 target ? " (a link to " : "", target ? target : "", target ? ")" : "");
		forget_backup(h);
	}
	free(target);
	return rc;
}

/* Keeps the host's file (and its link target), then puts text in its place. */
static int take_over(struct meshd_dns_host *h, const char *text)
{
	char *cur = NULL, target[PATH_MAX];
	size_t len;
	struct meshd_resolv r;
	struct stat st;
	ssize_t tl = -1;
	if (lstat(h->resolv_conf, &st) == 0 && S_ISLNK(st.st_mode) &&
	    (tl = readlink(h->resolv_conf, target, sizeof(target) - 1)) >= 0)
		target[tl] = '\0';
	int rc = read_parsed(h->resolv_conf, &cur, &len, &r);
	if (rc == 0 && r.ours)
		rc = -EEXIST;
	else if (rc == 0 && r.n_ns == 0)
		rc = -ENOENT;
	if (rc) {
		log_warn(subject, "%s: %s: MagicDNS leaves the host's DNS alone", h->resolv_conf,
			 rc == -EEXIST ? "holds meshd's file, but no copy of the host's is kept"
			 : rc == -ENOENT
			     ? "names no nameserver, so names outside the tailnet would not resolve"
			     : strerror(-rc));
		free(cur);
		return rc;
	}
	if (tl >= 0)
		rc = file_write_atomic(h->link, target, (size_t)tl, 0600);
	else if (unlink(h->link) < 0 && errno != ENOENT)
		rc = -errno;
	if (!rc)
		rc = file_write_atomic(h->backup, cur, len, 0600);
	if (rc) {
		log_err(subject, "%s: cannot keep the host's resolv.conf: %s", h->backup,
			strerror(-rc));
		unlink(h->link);
		free(cur);
		return rc;
	}
	if ((rc = write_resolv(h, text, strlen(text)))) {
		/* written in place, it may be cut short: the host's text goes back */
		int back = write_resolv(h, cur, len);
		log_err(subject, "%s: cannot write: %s; the host's file %s", h->resolv_conf,
			strerror(-rc), back ? "is kept in the state directory" : "stays");
		if (!back)
			forget_backup(h);
		free(cur);
		return rc;
	}
	free(cur);
	memcpy(h->ns, r.ns, sizeof(h->ns));
	h->n_ns = r.n_ns;
	h->active = true;
	log_info(subject,
		 "%s now points at the tailnet resolver %s (the host's %zu resolvers "
		 "are its upstreams; its file is kept in %s)",
		 h->resolv_conf, CTL_DNS_RESOLVER_V4, r.n_ns, h->backup);
	return 0;
}

/* MagicDNS through systemd-resolved (resolved.h) when it runs and the host asks it (its
 * resolv.conf names resolved's stub): 0 when resolved has the link (a change it refused
 * logged), -ENOENT when resolv.conf is the way (the log says why, once). */
static int apply_resolved(struct meshd_dns_host *h, const struct ctl_netmap *nm)
{
	struct meshd_resolved_link l;
	struct meshd_resolved *r;
	char text[2048], why[MESHD_RESOLVED_ERR_MAX];
	int ifindex = h->ifname ? (int)if_nametoindex(h->ifname) : 0, rc;
	if (h->no_resolved)
		return -ENOENT;
	if (!ifindex || meshd_resolved_link_fill(nm, ifindex, &l) < 0)
		return h->resolved ? 0 : -ENOENT;
	meshd_resolved_link_text(&l, h->ifname, text, sizeof(text));
	if (h->resolved && h->ifindex == ifindex && strcmp(text, h->resolved_text) == 0)
		return 0;
	if ((rc = meshd_resolved_open(&r, why, sizeof(why)))) {
		if (!h->resolved) {
			log_info(subject, "systemd-resolved is not used (%s): %s is managed", why,
				 h->resolv_conf);
			h->no_resolved = true;
			return -ENOENT;
		}
	} else if (!h->resolved && !h->stub) {
		log_info(subject,
			 "systemd-resolved runs, but %s names other resolvers than its "
			 "stub " MESHD_RESOLVED_STUB
			 " (glibc would not ask it): the file is managed",
			 h->resolv_conf);
		meshd_resolved_close(r);
		h->no_resolved = true;
		return -ENOENT;
	} else {
		rc = meshd_resolved_set(r, &l, why, sizeof(why));
		meshd_resolved_close(r);
	}
	if (rc && h->resolved) { /* the link keeps what it had */
		log_err(subject, "systemd-resolved: %s: %s", h->ifname, why);
		return 0;
	}
	if (rc) { /* half a link is worse than none: resolv.conf instead, at once */
		log_err(subject, "systemd-resolved: %s: %s; %s is managed instead", h->ifname, why,
			h->resolv_conf);
		h->ifindex = ifindex;
		h->resolved = true;
		revert_resolved(h);
		h->no_resolved = true;
		return -ENOENT;
	}
	free(h->resolved_text);
	h->resolved_text = strdup(text);
	h->ifindex = ifindex;
	h->resolved = true;
	log_info(subject, "MagicDNS through systemd-resolved: %s", text);
	return 0;
}

int meshd_dns_host_apply(struct meshd_dns_host *h, const struct ctl_netmap *nm, bool tun)
{
	if (!h)
		return 0;
	if (!h->accept || !tun || !nm || !nm->dns || !nm->dns->magic_dns)
		return meshd_dns_host_restore(h);
	if (!h->active && apply_resolved(h, nm) == 0)
		return 0;
	const char *search[CTL_DNS_SEARCH_MAX];
	char text[4096];
	for (size_t i = 0; i < nm->dns->n_search; i++)
		search[i] = nm->dns->search[i];
	int n = meshd_resolv_produce(nm->domain, search, nm->dns->n_search, text, sizeof(text));
	if (n < 0)
		return n;
	if (h->active && h->written && strcmp(h->written, text) == 0)
		return 0;
	int rc;
	if (h->active) {
		char *cur = NULL;
		size_t len;
		struct meshd_resolv r;
		if (read_parsed(h->resolv_conf, &cur, &len, &r) == 0 && !r.ours) {
			log_info(subject, "%s was replaced while MagicDNS ran: kept as the host's",
				 h->resolv_conf);
			forget_backup(h);
		}
		free(cur);
	}
	if (h->active && (rc = write_resolv(h, text, (size_t)n))) {
		log_err(subject, "%s: cannot write: %s", h->resolv_conf, strerror(-rc));
		return rc;
	}
	if (!h->active && (rc = take_over(h, text)))
		return rc;
	free(h->written);
	h->written = strdup(text);
	return 0;
}

/* Whether the host's resolvers are resolved's stub alone. */
static bool only_stub(const struct meshd_dns_host *h)
{
	struct addr_ip stub;
	if (!h->n_ns || !addr_ip_parse(MESHD_RESOLVED_STUB, &stub, NULL))
		return false;
	for (size_t i = 0; i < h->n_ns; i++)
		if (!addr_ip_equal(&h->ns[i].ip, &stub))
			return false;
	return true;
}

/* A host that asks resolved's stub: our upstreams are the servers resolved uses, from its
 * MESHD_RESOLVED_UPLINK_CONF.  Through the stub, a name under a search domain would come
 * back to us from resolved, which routes that domain to our link: a loop. */
static void uplink_resolvers(struct meshd_dns_host *h)
{
	char *text = NULL;
	size_t len;
	struct meshd_resolv r;
	if (read_parsed(MESHD_RESOLVED_UPLINK_CONF, &text, &len, &r) != 0 || r.n_ns == 0) {
		log_warn(subject,
			 "%s names only systemd-resolved's stub " MESHD_RESOLVED_STUB
			 " and %s names no server: names outside the tailnet go to the stub",
			 h->resolv_conf, MESHD_RESOLVED_UPLINK_CONF);
		free(text);
		return;
	}
	free(text);
	memcpy(h->ns, r.ns, sizeof(h->ns));
	h->n_ns = r.n_ns;
	log_info(subject,
		 "%s names only systemd-resolved's stub " MESHD_RESOLVED_STUB
		 ": upstreams are the %zu server(s) resolved uses, from %s",
		 h->resolv_conf, r.n_ns, MESHD_RESOLVED_UPLINK_CONF);
}

int meshd_dns_host_new(const struct meshd_dns_host_config *cfg, struct meshd_dns_host **out)
{
	struct meshd_dns_host *h = calloc(1, sizeof(*h));
	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->accept = cfg->accept;
	h->resolv_conf = strdup(cfg->resolv_conf ? cfg->resolv_conf : "/etc/resolv.conf");
	h->backup = path_join(cfg->state_dir, "resolv.conf.meshd-backup");
	h->link = path_join(cfg->state_dir, "resolv.conf.meshd-link");
	h->ifname = cfg->ifname ? strdup(cfg->ifname) : NULL;
	if (!h->resolv_conf || !h->backup || !h->link || (cfg->ifname && !h->ifname)) {
		meshd_dns_host_free(h);
		return -ENOMEM;
	}
	if (access(h->backup, F_OK) == 0) {
		log_warn(subject, "%s: kept by a meshd that did not stop; putting it back",
			 h->backup);
		h->active = true;
		meshd_dns_host_restore(h);
	}
	char *cur = NULL;
	size_t len;
	struct meshd_resolv r;
	if (read_parsed(h->resolv_conf, &cur, &len, &r) == 0 && !r.ours) {
		memcpy(h->ns, r.ns, sizeof(h->ns));
		h->n_ns = r.n_ns;
		if (r.n_skipped)
			log_warn(subject, "%s: %zu nameserver line(s) skipped, the first: %s",
				 h->resolv_conf, r.n_skipped, r.skipped);
	}
	free(cur);
	h->stub = only_stub(h);
	if (h->stub)
		uplink_resolvers(h);
	*out = h;
	return 0;
}

void meshd_dns_host_free(struct meshd_dns_host *h)
{
	if (!h)
		return;
	meshd_dns_host_restore(h);
	free(h->resolv_conf);
	free(h->backup);
	free(h->link);
	free(h->ifname);
	free(h->written);
	free(h->resolved_text);
	free(h);
}

bool meshd_dns_host_active(const struct meshd_dns_host *h)
{
	return h && h->active;
}

size_t meshd_dns_host_resolvers(const struct meshd_dns_host *h, struct addr_endpoint *out,
				size_t max)
{
	size_t n = h && h->n_ns < max ? h->n_ns : h ? max : 0;
	if (n)
		memcpy(out, h->ns, n * sizeof(*out));
	return n;
}

/* ---- the resolver core's view ---- */

int meshd_dns_view_fill(const struct ctl_netmap *nm, struct dns_view_config *vc,
			struct meshd_dns_parts *parts)
{
	const struct ctl_dns *d = nm->dns;
	size_t ns = 0;
	memset(parts, 0, sizeof(*parts));
	if (nm->domain && *nm->domain)
		parts->search[ns++] = nm->domain;
	vc->records = NULL;
	vc->routes = NULL;
	vc->n_records = vc->n_routes = 0;
	if (d) {
		parts->records = calloc(d->n_records + 1, sizeof(*parts->records));
		parts->routes = calloc(d->n_routes + 1, sizeof(*parts->routes));
		if (!parts->records || !parts->routes) {
			meshd_dns_parts_clear(parts);
			return -ENOMEM;
		}
		for (size_t i = 0; i < d->n_records; i++)
			parts->records[i] =
			    (struct dns_host){ d->records[i].name, d->records[i].addrs,
					       d->records[i].n_addrs };
		for (size_t i = 0; i < d->n_routes; i++)
			parts->routes[i] =
			    (struct dns_route){ d->routes[i].domain, d->routes[i].resolvers,
						d->routes[i].n_resolvers };
		for (size_t i = 0; i < d->n_search; i++)
			parts->search[ns++] = d->search[i];
		vc->records = parts->records;
		vc->n_records = d->n_records;
		vc->routes = parts->routes;
		vc->n_routes = d->n_routes;
	}
	vc->search = parts->search;
	vc->n_search = ns;
	return 0;
}

void meshd_dns_parts_clear(struct meshd_dns_parts *parts)
{
	free(parts->records);
	free(parts->routes);
	memset(parts, 0, sizeof(*parts));
}
