/* meshd and systemd-resolved: the TUN link's DNS set over D-Bus (resolved.h).  sd-bus only
 * here; the link's settings are worked out without I/O in meshd_resolved_link_fill. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>

#include "cmd/daemon/dns.h"
#include "cmd/daemon/resolved.h"

#define RESOLVE1 "org.freedesktop.resolve1"
#define RESOLVE1_PATH "/org/freedesktop/resolve1"
#define RESOLVE1_MANAGER "org.freedesktop.resolve1.Manager"

struct meshd_resolved {
	sd_bus *bus;
};

/* ---- the link's settings, without I/O ---- */

static void add_domain(struct meshd_resolved_link *l, const char *name, bool route_only)
{
	if (!name || !*name || l->n_domains >= MESHD_RESOLVED_DOMAINS_MAX)
		return;
	for (size_t i = 0; i < l->n_domains; i++)
		if (strcmp(l->domains[i].name, name) == 0)
			return;
	l->domains[l->n_domains++] = (struct meshd_resolved_domain){ name, route_only };
}

int meshd_resolved_link_fill(const struct ctl_netmap *nm, int ifindex,
			     struct meshd_resolved_link *out)
{
	struct addr_ip v4, v6;
	memset(out, 0, sizeof(*out));
	out->ifindex = ifindex;
	if (!nm || !nm->dns)
		return -EINVAL;
	meshd_dns_addresses(nm, &v4, &v6);
	if (v4.family)
		out->dns[out->n_dns++] = v4;
	if (v6.family)
		out->dns[out->n_dns++] = v6;
	if (!out->n_dns)
		return -EINVAL;
	add_domain(out, nm->domain, false);
	for (size_t i = 0; i < nm->dns->n_search; i++)
		add_domain(out, nm->dns->search[i], false);
	for (size_t i = 0; i < nm->dns->n_routes; i++)
		add_domain(out, nm->dns->routes[i].domain, true);
	for (size_t i = 0; i < nm->dns->n_records; i++)
		add_domain(out, nm->dns->records[i].name, true);
	/* no setting asks for every name yet (Tailscale's "override local DNS"): the host's
	 * other links keep the names that are not the tailnet's */
	out->default_route = false;
	return 0;
}

size_t meshd_resolved_link_text(const struct meshd_resolved_link *l, const char *ifname, char *out,
				size_t len)
{
	size_t n = 0;
	char ip[ADDR_TEXT_MAX];
#define PUT(...)                                                                \
	do {                                                                    \
		int w_ = snprintf(out + n, n < len ? len - n : 0, __VA_ARGS__); \
		n += w_ > 0 ? (size_t)w_ : 0;                                   \
	} while (0)
	if (len)
		out[0] = '\0';
	PUT("%s: DNS", ifname);
	for (size_t i = 0; i < l->n_dns; i++)
		PUT(" %s", addr_ip_format(&l->dns[i], ip));
	PUT(", domains");
	for (size_t i = 0; i < l->n_domains; i++)
		PUT(" %s%s", l->domains[i].route_only ? "~" : "", l->domains[i].name);
	PUT(", default route %s", l->default_route ? "yes" : "no");
#undef PUT
	return n < len ? n : len ? len - 1 : 0;
}

/* ---- the bus ---- */

/* Whether resolved (the name's owner) sees the links we see: a link index means one device
 * only within one network namespace, and a meshd in a container may share the host's bus.
 * 0, or -EXDEV / -errno with why. */
static int same_netns(sd_bus *bus, char *why, size_t whylen)
{
	sd_bus_creds *creds = NULL;
	pid_t pid = 0;
	char path[64];
	struct stat ours, theirs;
	int rc = sd_bus_get_name_creds(bus, RESOLVE1, SD_BUS_CREDS_PID, &creds);
	if (rc >= 0)
		rc = sd_bus_creds_get_pid(creds, &pid);
	sd_bus_creds_unref(creds);
	if (rc < 0) {
		snprintf(why, whylen, "the bus does not say which process %s is: %s", RESOLVE1,
			 strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if (stat("/proc/self/ns/net", &ours) < 0 || stat(path, &theirs) < 0) {
		rc = -errno;
		snprintf(why, whylen, "%s: %s (%s in another PID namespace?)", path,
			 strerror(errno), RESOLVE1);
		return rc;
	}
	if (ours.st_ino != theirs.st_ino || ours.st_dev != theirs.st_dev) {
		snprintf(why, whylen,
			 "%s (pid %d) runs in another network namespace: its links are not ours",
			 RESOLVE1, (int)pid);
		return -EXDEV;
	}
	return 0;
}

int meshd_resolved_open(struct meshd_resolved **out, char *why, size_t whylen)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	struct meshd_resolved *r = calloc(1, sizeof(*r));
	int has = 0, rc;
	*out = NULL;
	if (!r)
		return -ENOMEM;
	if ((rc = sd_bus_open_system(&r->bus)) < 0) {
		snprintf(why, whylen, "no system bus (%s)", strerror(-rc));
		goto fail;
	}
	sd_bus_set_method_call_timeout(r->bus, MESHD_RESOLVED_TIMEOUT_MS * 1000ULL);
	rc = sd_bus_call_method(r->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
				"org.freedesktop.DBus", "NameHasOwner", &error, &reply, "s",
				RESOLVE1);
	if (rc >= 0)
		rc = sd_bus_message_read(reply, "b", &has);
	if (rc < 0) {
		snprintf(why, whylen, "the system bus did not answer NameHasOwner: %s",
			 error.message ? error.message : strerror(-rc));
		goto fail;
	}
	if (!has) {
		snprintf(why, whylen, "no one owns %s on the system bus", RESOLVE1);
		rc = -ESRCH;
		goto fail;
	}
	if ((rc = same_netns(r->bus, why, whylen)) < 0)
		goto fail;
	snprintf(why, whylen, "%s is on the system bus", RESOLVE1);
	sd_bus_message_unref(reply);
	*out = r;
	return 0;
fail:
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	meshd_resolved_close(r);
	return rc;
}

void meshd_resolved_close(struct meshd_resolved *r)
{
	if (!r)
		return;
	sd_bus_flush_close_unref(r->bus);
	free(r);
}

/* Sends *m (taking it: *m is NULL after); 0 or -errno, with the call's name and resolved's
 * words in err. */
static int call(struct meshd_resolved *r, sd_bus_message **m, const char *what, char *err,
		size_t errlen)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int rc = sd_bus_call(r->bus, *m, 0, &error, NULL);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s%s%s", what, error.name ? error.name : "",
			 error.name ? ": " : "", error.message ? error.message : strerror(-rc));
	sd_bus_error_free(&error);
	*m = sd_bus_message_unref(*m);
	return rc < 0 ? rc : 0;
}

static int new_call(struct meshd_resolved *r, const char *member, sd_bus_message **m)
{
	return sd_bus_message_new_method_call(r->bus, m, RESOLVE1, RESOLVE1_PATH, RESOLVE1_MANAGER,
					      member);
}

/* member(i a(contents)) begun: the link's index, the array opened */
static int link_array(struct meshd_resolved *r, const char *member, int ifindex,
		      const char *contents, sd_bus_message **m)
{
	int rc = new_call(r, member, m);
	if (rc >= 0)
		rc = sd_bus_message_append(*m, "i", ifindex);
	if (rc >= 0)
		rc = sd_bus_message_open_container(*m, 'a', contents);
	return rc;
}

/* SetLinkDNS(ia(iay)) */
static int set_dns(struct meshd_resolved *r, const struct meshd_resolved_link *l,
		   sd_bus_message **m)
{
	int rc = link_array(r, "SetLinkDNS", l->ifindex, "(iay)", m);
	for (size_t i = 0; rc >= 0 && i < l->n_dns; i++) {
		int v6 = l->dns[i].family == AF_INET6;
		rc = sd_bus_message_open_container(*m, 'r', "iay");
		if (rc >= 0)
			rc = sd_bus_message_append(*m, "i", l->dns[i].family);
		if (rc >= 0)
			rc = sd_bus_message_append_array(*m, 'y', l->dns[i].bytes, v6 ? 16 : 4);
		if (rc >= 0)
			rc = sd_bus_message_close_container(*m);
	}
	return rc >= 0 ? sd_bus_message_close_container(*m) : rc;
}

/* SetLinkDomains(ia(sb)) */
static int set_domains(struct meshd_resolved *r, const struct meshd_resolved_link *l,
		       sd_bus_message **m)
{
	int rc = link_array(r, "SetLinkDomains", l->ifindex, "(sb)", m);
	for (size_t i = 0; rc >= 0 && i < l->n_domains; i++)
		rc = sd_bus_message_append(*m, "(sb)", l->domains[i].name,
					   (int)l->domains[i].route_only);
	return rc >= 0 ? sd_bus_message_close_container(*m) : rc;
}

int meshd_resolved_set(struct meshd_resolved *r, const struct meshd_resolved_link *l, char *err,
		       size_t errlen)
{
	static const char *const off[][2] = {
		{ "SetLinkLLMNR", "no" },
		{ "SetLinkMulticastDNS", "no" },
		{ "SetLinkDNSSEC", "no" },
		{ "SetLinkDNSOverTLS", "no" },
	};
	sd_bus_message *m = NULL;
	if (errlen)
		err[0] = '\0';
	int rc = set_dns(r, l, &m);
	if (rc < 0 || (rc = call(r, &m, "SetLinkDNS", err, errlen)) < 0)
		goto out;
	if ((rc = set_domains(r, l, &m)) < 0 ||
	    (rc = call(r, &m, "SetLinkDomains", err, errlen)) < 0)
		goto out;
	if ((rc = new_call(r, "SetLinkDefaultRoute", &m)) < 0 ||
	    (rc = sd_bus_message_append(m, "ib", l->ifindex, (int)l->default_route)) < 0 ||
	    (rc = call(r, &m, "SetLinkDefaultRoute", err, errlen)) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		if ((rc = new_call(r, off[i][0], &m)) < 0 ||
		    (rc = sd_bus_message_append(m, "is", l->ifindex, off[i][1])) < 0 ||
		    (rc = call(r, &m, off[i][0], err, errlen)) < 0)
			goto out;
out:
	if (rc < 0 && errlen && !err[0]) /* building it failed, not the call */
		snprintf(err, errlen, "cannot build the D-Bus message: %s", strerror(-rc));
	sd_bus_message_unref(m);
	return rc < 0 ? rc : 0;
}

int meshd_resolved_revert(struct meshd_resolved *r, int ifindex, char *err, size_t errlen)
{
	sd_bus_message *m = NULL;
	int rc = new_call(r, "RevertLink", &m);
	if (rc >= 0 && (rc = sd_bus_message_append(m, "i", ifindex)) >= 0)
		return call(r, &m, "RevertLink", err, errlen);
	snprintf(err, errlen, "cannot build the D-Bus message: %s", strerror(-rc));
	sd_bus_message_unref(m);
	return rc;
}
