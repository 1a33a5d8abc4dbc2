/* The view: what this node knows of the tailnet's names, built as a whole from a netmap and
 * never changed after (a new netmap is a new view, so a lookup never sees half of one).
 * Names are kept canonical (lowercase, no trailing dot) in sorted arrays: a lookup is a
 * binary search, O(log n), with no hashing that a chosen name could make collide. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/internal.h"

bool dns_name_canonical(const char *name, char out[static DNS_NAME_TEXT], const char **why)
{
	size_t n = strlen(name), label = 0;

	if (n && name[n - 1] == '.')
		n--;
	if (n == 0) {
		*why = "an empty name";
		return false;
	}
	if (n > DNS_NAME_MAX) {
		*why = "a name over 253 bytes";
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (ch == '.') {
			if (!label) {
				*why = "an empty label";
				return false;
			}
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			   ch == '_') {
			label++;
		} else if (ch >= 'A' && ch <= 'Z') {
			ch = (char)(ch - 'A' + 'a');
			label++;
		} else {
			*why = "a character other than a letter, digit, '-' or '_'";
			return false;
		}
		if (label > DNS_LABEL_MAX) {
			*why = "a label over 63 bytes";
			return false;
		}
		out[i] = ch;
	}
	if (!label) {
		*why = "an empty label";
		return false;
	}
	out[n] = '\0';
	return true;
}

void dns__rdf_text(const ldns_rdf *dname, char out[static DNS__QNAME_TEXT])
{
	const uint8_t *d = ldns_rdf_data(dname);
	size_t size = ldns_rdf_size(dname), i = 0, o = 0;

	while (i < size && d[i] != 0) {
		size_t len = d[i++];

		if (o)
			out[o++] = '.';
		for (size_t k = 0; k < len && i < size; k++, i++) {
			uint8_t ch = d[i];

			if (ch >= 'A' && ch <= 'Z')
				ch = (uint8_t)(ch - 'A' + 'a');
			if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			    ch == '_') {
				out[o++] = (char)ch;
			} else {
				snprintf(out + o, 5, "\\%03u", ch);
				o += 4;
			}
		}
	}
	out[o] = '\0';
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dns__name *)a)->name, ((const struct dns__name *)b)->name);
}

static int rev_cmp(const void *a, const void *b)
{
	const struct dns__rev *x = a, *y = b;
	int c = addr_ip_compare(&x->ip, &y->ip);

	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static int route_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dns__route *)a)->suffix,
		      ((const struct dns__route *)b)->suffix);
}

void dns_view_free(struct dns_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_names; i++) {
		free(v->names[i].name);
		free(v->names[i].addrs);
	}
	free(v->names);
	free(v->rev);
	for (size_t i = 0; i < v->n_routes; i++)
		free(v->routes[i].suffix);
	free(v->routes);
	for (size_t i = 0; i < v->n_search; i++)
		free(v->search[i]);
	if (v->soa)
		ldns_rr_free(v->soa);
	free(v);
}

/* Adds one name (a peer's under the domain when peer) with its addresses. */
static int add_name(struct dns_view *v, const struct dns_host *h, bool peer,
		    char err[static DNS_ERR_MAX])
{
	char canon[DNS_NAME_TEXT], full[2 * DNS_NAME_TEXT];
	const char *why;
	struct dns__name *n = &v->names[v->n_names];

	if (!h->name || !dns_name_canonical(h->name, canon, &why)) {
		snprintf(err, DNS_ERR_MAX, "dns name '%s': %s", h->name ? h->name : "", why);
		return -EINVAL;
	}
	if (peer && strchr(canon, '.')) {
		snprintf(err, DNS_ERR_MAX, "dns name '%s': a peer's name is one label", h->name);
		return -EINVAL;
	}
	if (h->n_addrs == 0 || h->n_addrs > DNS_VIEW_MAX_ADDRS) {
		snprintf(err, DNS_ERR_MAX, "dns name '%s': %zu addresses (1 to %d)", h->name,
			 h->n_addrs, DNS_VIEW_MAX_ADDRS);
		return -EINVAL;
	}
	if (peer) {
		if (strlen(canon) + 1 + strlen(v->domain) > DNS_NAME_MAX) {
			snprintf(err, DNS_ERR_MAX, "dns name '%s': over 253 bytes under '%s'",
				 h->name, v->domain);
			return -EINVAL;
		}
		snprintf(full, sizeof(full), "%s.%s", canon, v->domain);
	} else {
		snprintf(full, sizeof(full), "%s", canon);
	}
	for (size_t i = 0; i < h->n_addrs; i++) {
		if (!addr_family_len(h->addrs[i].family)) {
			snprintf(err, DNS_ERR_MAX, "dns name '%s': address %zu has no family",
				 h->name, i);
			return -EINVAL;
		}
	}
	n->name = strdup(full);
	n->addrs = malloc(h->n_addrs * sizeof(*n->addrs));
	if (!n->name || !n->addrs) {
		free(n->name);
		free(n->addrs);
		return -ENOMEM;
	}
	memcpy(n->addrs, h->addrs, h->n_addrs * sizeof(*n->addrs));
	n->n_addrs = h->n_addrs;
	v->n_names++;
	return 0;
}

static int add_route(struct dns_view *v, const struct dns_route *r, char err[static DNS_ERR_MAX])
{
	char canon[DNS_NAME_TEXT];
	const char *why;
	struct dns__route *o = &v->routes[v->n_routes];

	if (!r->suffix || !dns_name_canonical(r->suffix, canon, &why)) {
		snprintf(err, DNS_ERR_MAX, "dns route '%s': %s", r->suffix ? r->suffix : "", why);
		return -EINVAL;
	}
	if (r->n_upstreams == 0 || r->n_upstreams > DNS_VIEW_MAX_UPSTREAMS) {
		snprintf(err, DNS_ERR_MAX, "dns route '%s': %zu resolvers (1 to %d)", r->suffix,
			 r->n_upstreams, DNS_VIEW_MAX_UPSTREAMS);
		return -EINVAL;
	}
	o->suffix = strdup(canon);
	if (!o->suffix)
		return -ENOMEM;
	memcpy(o->up, r->upstreams, r->n_upstreams * sizeof(*o->up));
	o->n_up = r->n_upstreams;
	v->n_routes++;
	return 0;
}

static int build_soa(struct dns_view *v)
{
	char text[4 * DNS_NAME_TEXT];

	/* serial 1: nothing transfers the zone; refresh/retry/expire are for secondaries,
	 * the minimum is the negative answers' TTL (RFC 2308). */
	snprintf(text, sizeof(text), "%s. %u IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 %u",
		 v->domain, v->ttl, v->domain, v->domain, v->ttl);
	if (ldns_rr_new_frm_str(&v->soa, text, 0, NULL, NULL) != LDNS_STATUS_OK)
		return -ENOMEM; /* the domain is canonical: only memory can fail here */
	return 0;
}

static int view_fill(struct dns_view *v, const struct dns_view_config *cfg,
		     char err[static DNS_ERR_MAX])
{
	const char *why;
	int rc;

	if (!cfg->domain || !dns_name_canonical(cfg->domain, v->domain, &why)) {
		snprintf(err, DNS_ERR_MAX, "dns domain '%s': %s", cfg->domain ? cfg->domain : "",
			 why);
		return -EINVAL;
	}
	if (cfg->n_hosts > DNS_VIEW_MAX_NAMES ||
	    cfg->n_records > DNS_VIEW_MAX_NAMES - cfg->n_hosts) {
		snprintf(err, DNS_ERR_MAX, "dns view: %zu names (at most %d)",
			 cfg->n_hosts + cfg->n_records, DNS_VIEW_MAX_NAMES);
		return -EINVAL;
	}
	if (cfg->n_routes > DNS_VIEW_MAX_ROUTES || cfg->n_search > DNS_VIEW_MAX_SEARCH ||
	    cfg->n_host_resolvers > DNS_VIEW_MAX_UPSTREAMS ||
	    cfg->n_prefixes > DNS_VIEW_MAX_PREFIXES) {
		snprintf(err, DNS_ERR_MAX,
			 "dns view: %zu routes, %zu search domains, %zu resolvers, %zu "
			 "prefixes (at most %d, %d, %d, %d)",
			 cfg->n_routes, cfg->n_search, cfg->n_host_resolvers, cfg->n_prefixes,
			 DNS_VIEW_MAX_ROUTES, DNS_VIEW_MAX_SEARCH, DNS_VIEW_MAX_UPSTREAMS,
			 DNS_VIEW_MAX_PREFIXES);
		return -EINVAL;
	}
	v->ttl = cfg->ttl ? cfg->ttl : DNS_TTL_DEFAULT;
	size_t total = cfg->n_hosts + cfg->n_records;

	v->names = calloc(total ? total : 1, sizeof(*v->names));
	v->routes = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof(*v->routes));
	if (!v->names || !v->routes)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_hosts; i++)
		if ((rc = add_name(v, &cfg->hosts[i], true, err)) < 0)
			return rc;
	for (size_t i = 0; i < cfg->n_records; i++)
		if ((rc = add_name(v, &cfg->records[i], false, err)) < 0)
			return rc;
	for (size_t i = 0; i < cfg->n_routes; i++)
		if ((rc = add_route(v, &cfg->routes[i], err)) < 0)
			return rc;
	for (size_t i = 0; i < cfg->n_search; i++) {
		char canon[DNS_NAME_TEXT];

		if (!cfg->search[i] || !dns_name_canonical(cfg->search[i], canon, &why)) {
			snprintf(err, DNS_ERR_MAX, "dns search domain '%s': %s",
				 cfg->search[i] ? cfg->search[i] : "", why);
			return -EINVAL;
		}
		if (!(v->search[v->n_search] = strdup(canon)))
			return -ENOMEM;
		v->n_search++;
	}
	for (size_t i = 0; i < cfg->n_host_resolvers; i++)
		v->host[v->n_host++] = cfg->host_resolvers[i];
	for (size_t i = 0; i < cfg->n_prefixes; i++)
		v->prefixes[v->n_prefixes++] = cfg->prefixes[i];
	qsort(v->names, v->n_names, sizeof(*v->names), name_cmp);
	for (size_t i = 1; i < v->n_names; i++) {
		if (strcmp(v->names[i - 1].name, v->names[i].name) == 0) {
			snprintf(err, DNS_ERR_MAX, "dns name '%s' is given twice",
				 v->names[i].name);
			return -EINVAL;
		}
	}
	qsort(v->routes, v->n_routes, sizeof(*v->routes), route_cmp);
	for (size_t i = 1; i < v->n_routes; i++) {
		if (strcmp(v->routes[i - 1].suffix, v->routes[i].suffix) == 0) {
			snprintf(err, DNS_ERR_MAX, "dns route '%s' is given twice",
				 v->routes[i].suffix);
			return -EINVAL;
		}
	}
	return build_soa(v);
}

/* The reverse table: every address of every name, sorted; a peer's name first for an
 * address that an extra record shares. */
static int build_rev(struct dns_view *v)
{
	size_t total = 0, k = 0;

	for (size_t i = 0; i < v->n_names; i++)
		total += v->names[i].n_addrs;
	v->rev = calloc(total ? total : 1, sizeof(*v->rev));
	if (!v->rev)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_names; i++) {
		/* a peer's full name is one label longer than the domain */
		const char *nm = v->names[i].name;
		size_t nl = strlen(nm), dl = strlen(v->domain);
		bool peer = nl > dl + 1 && nm[nl - dl - 1] == '.' &&
			    strcmp(nm + nl - dl, v->domain) == 0 && !memchr(nm, '.', nl - dl - 1);

		for (size_t a = 0; a < v->names[i].n_addrs; a++, k++) {
			v->rev[k].ip = v->names[i].addrs[a];
			v->rev[k].name = i;
			v->rev[k].order = (peer ? 0 : (size_t)1 << 40) + i;
		}
	}
	v->n_rev = total;
	qsort(v->rev, v->n_rev, sizeof(*v->rev), rev_cmp);
	return 0;
}

int dns_view_new(const struct dns_view_config *cfg, struct dns_view **out, char *err, size_t errlen)
{
	struct dns_view *v = calloc(1, sizeof(*v));
	char why[DNS_ERR_MAX] = "dns view: out of memory";
	int rc = -ENOMEM;

	*out = NULL;
	if (!v || (rc = view_fill(v, cfg, why)) < 0 || (rc = build_rev(v)) < 0) {
		if (rc == -ENOMEM)
			snprintf(why, sizeof(why), "dns view: out of memory");
		if (err && errlen)
			snprintf(err, errlen, "%s", why);
		dns_view_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

const char *const *dns_view_search(const struct dns_view *v, size_t *n)
{
	*n = v->n_search;
	return (const char *const *)v->search;
}

const struct dns__name *dns__view_find(const struct dns_view *v, const char *name)
{
	struct dns__name key = { .name = (char *)name };

	return bsearch(&key, v->names, v->n_names, sizeof(*v->names), name_cmp);
}

const struct dns__name *dns__view_find_addr(const struct dns_view *v, const struct addr_ip *ip)
{
	size_t lo = 0, hi = v->n_rev;

	/* the first entry not below ip: the lowest order among equal addresses */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr_ip_compare(&v->rev[mid].ip, ip) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < v->n_rev && addr_ip_equal(&v->rev[lo].ip, ip))
		return &v->names[v->rev[lo].name];
	return NULL;
}

const struct addr_endpoint *dns__view_upstreams(const struct dns_view *v, const char *name,
						size_t *n)
{
	/* from the whole name to its last label: the first match is the longest suffix */
	for (const char *s = name; s && *s; s = strchr(s, '.'), s = s ? s + 1 : NULL) {
		struct dns__route key = { .suffix = (char *)s };
		const struct dns__route *r =
		    bsearch(&key, v->routes, v->n_routes, sizeof(*v->routes), route_cmp);

		if (r) {
			*n = r->n_up;
			return r->up;
		}
	}
	*n = v->n_host;
	return v->host;
}

bool dns__view_in_tailnet(const struct dns_view *v, const struct addr_ip *ip)
{
	for (size_t i = 0; i < v->n_prefixes; i++)
		if (addr_prefix_contains(&v->prefixes[i], ip))
			return true;
	return false;
}
