/* Deep copy of a netmap, for holders that outlive the callback that lent it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"
#include "control/netmap/netmap_json.h"

static bool dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return true;
	*dst = strdup(src);
	return *dst != NULL;
}

static bool dup_strv(char ***dst, size_t *n_dst, char *const *src, size_t n)
{
	*n_dst = 0;
	if (strv_dup((const char *const *)src, n, dst) != 0)
		return false;
	*n_dst = n;
	return true;
}

static bool dup_array(void **dst, const void *src, size_t n, size_t size)
{
	*dst = NULL;
	if (!n)
		return true;
	*dst = malloc(n * size);
	if (!*dst)
		return false;
	memcpy(*dst, src, n * size);
	return true;
}

static bool dup_node(struct ctl_node *d, const struct ctl_node *s)
{
	*d = *s;
	d->name = d->owner = NULL;
	d->tags = d->endpoints = d->ssh_host_keys = NULL;
	d->n_tags = d->n_endpoints = d->n_ssh_host_keys = 0;
	d->allowed_ips = NULL;
	d->n_allowed_ips = 0;
	if (!dup_str(&d->name, s->name) || !dup_str(&d->owner, s->owner) ||
	    !dup_strv(&d->tags, &d->n_tags, s->tags, s->n_tags) ||
	    !dup_strv(&d->endpoints, &d->n_endpoints, s->endpoints, s->n_endpoints) ||
	    !dup_strv(&d->ssh_host_keys, &d->n_ssh_host_keys, s->ssh_host_keys,
		      s->n_ssh_host_keys) ||
	    !dup_array((void **)&d->allowed_ips, s->allowed_ips, s->n_allowed_ips,
		       sizeof(*s->allowed_ips)))
		return false;
	d->n_allowed_ips = s->n_allowed_ips;
	return true;
}

int ctl_netmap_dup(const struct ctl_netmap *src, struct ctl_netmap **out)
{
	struct ctl_netmap *nm = calloc(1, sizeof(*nm));
	if (!nm)
		return -ENOMEM;
	nm->version = src->version;
	bool ok = dup_str(&nm->domain, src->domain) && dup_node(&nm->self, &src->self);
	if (ok && src->n_peers) {
		nm->peers = calloc(src->n_peers, sizeof(*nm->peers));
		ok = nm->peers != NULL;
		for (size_t i = 0; ok && i < src->n_peers; i++) {
			ok = dup_node(&nm->peers[i], &src->peers[i]);
			nm->n_peers++;
		}
	}
	if (ok)
		ok = ctl__rules_dup(src, nm) == 0;
	if (ok && src->dns)
		ok = ctl_dns_dup(src->dns, &nm->dns) == 0;
	memcpy(nm->relays, src->relays, sizeof(nm->relays));
	nm->n_relays = src->n_relays;
	if (!ok) {
		ctl_netmap_free(nm);
		return -ENOMEM;
	}
	*out = nm;
	return 0;
}
