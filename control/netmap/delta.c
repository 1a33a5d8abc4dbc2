/* Folding map-stream messages ("full", "delta", "keepalive") into the previous netmap.
 *
 * A node keeps its netmap in two forms: the JSON object the cache on disk is written from,
 * and the decoded struct it works with.  ctl__netmap_fold_both() keeps both up to date and
 * decodes only what a message carries, so a delta costs what it changes, not the size of
 * the netmap (a node with 900 peers no longer decodes all of them for a filter change).
 * Every part of a delta is decoded before anything is changed, so a refused delta leaves
 * both forms as they were. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/netmap/netmap_json.h"

/* A delta's parts, decoded. */
struct delta {
	struct ctl_node *changed; /* sorted by id */
	size_t n_changed;
	uint64_t *removed; /* sorted */
	size_t n_removed;
	struct ctl_node self;
	struct pol_filter_rule **filter;
	size_t n_filter;
	struct pol_ssh_rule **ssh;
	size_t n_ssh;
	char *domain;
	struct ctl_relay relays[CTL_RELAYS_MAX];
	size_t n_relays;
	struct ctl_dns *dns; /* NULL with has_dns: the settings were withdrawn */
	bool has_self, has_filter, has_ssh, has_domain, has_relays, has_dns;
	struct ctl_node *peers; /* room for the new peer list, taken before anything changes */
};

static void delta_free(struct delta *d)
{
	for (size_t i = 0; i < d->n_changed; i++)
		ctl__node_clear(&d->changed[i]);
	free(d->changed);
	free(d->removed);
	ctl__node_clear(&d->self);
	ctl__filter_free(d->filter, d->n_filter);
	ctl__ssh_free(d->ssh, d->n_ssh);
	free(d->domain);
	free(d->peers);
	ctl__relays_wipe(d->relays, CTL_RELAYS_MAX);
	ctl_dns_free(d->dns);
	memset(d, 0, sizeof(*d));
}

static int node_id_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct ctl_node *)a)->id, y = ((const struct ctl_node *)b)->id;
	return x < y ? -1 : x > y;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* domain: the tailnet's after this delta (a route under it is refused); filter: the delta's
 * filter, NULL when it has none: with its references resolved (filter_refs.c), or as it came
 * when base holds the rules they name. */
static int delta_decode(json_t *msg, json_t *filter, const struct ctl_netmap *base,
			const char *domain, struct delta *d, char *err, size_t errlen)
{
	json_t *changed = json_object_get(msg, "peers_changed");
	json_t *removed = json_object_get(msg, "peers_removed");
	json_t *v;
	size_t i;
	int rc;
	memset(d, 0, sizeof(*d));
	if ((changed && !json_is_array(changed)) || (removed && !json_is_array(removed)))
		return ctl__fail(err, errlen,
				 "delta: peers_changed and peers_removed must be arrays");
	d->removed = calloc(json_array_size(removed) + 1, sizeof(*d->removed));
	d->changed = calloc(json_array_size(changed) + 1, sizeof(*d->changed));
	if (!d->removed || !d->changed)
		return -ENOMEM;
	json_array_foreach(removed, i, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return ctl__fail(err, errlen, "delta: peers_removed[%zu] is not an id", i);
		d->removed[d->n_removed++] = (uint64_t)json_integer_value(v);
	}
	qsort(d->removed, d->n_removed, sizeof(*d->removed), u64_cmp);
	json_array_foreach(changed, i, v)
	{
		if ((rc = ctl__node_from_json(v, &d->changed[i], err, errlen)))
			return rc;
		d->n_changed = i + 1;
	}
	qsort(d->changed, d->n_changed, sizeof(*d->changed), node_id_cmp);
	for (i = 1; i < d->n_changed; i++)
		if (d->changed[i].id == d->changed[i - 1].id)
			return ctl__fail(err, errlen,
					 "delta: peer %llu appears twice in peers_changed",
					 (unsigned long long)d->changed[i].id);
	if ((v = json_object_get(msg, "self"))) {
		if ((rc = ctl__node_from_json(v, &d->self, err, errlen)))
			return rc;
		d->has_self = true;
	}
	if (filter) {
		if ((rc = ctl__filter_from_json_base(
			 filter, base ? (const struct pol_filter_rule *const *)base->filter : NULL,
			 base ? base->n_filter : 0, &d->filter, &d->n_filter, err, errlen)))
			return rc;
		d->has_filter = true;
	}
	if ((v = json_object_get(msg, "ssh"))) {
		if ((rc = ctl__ssh_from_json(v, &d->ssh, &d->n_ssh, err, errlen)))
			return rc;
		d->has_ssh = true;
	}
	if ((v = json_object_get(msg, "domain"))) {
		if (!json_is_string(v))
			return ctl__fail(err, errlen, "domain: expected a string");
		if (!(d->domain = strdup(json_string_value(v))))
			return -ENOMEM;
		d->has_domain = true;
	}
	if ((v = json_object_get(msg, "relays"))) {
		if ((rc = ctl__relays_from_json(v, d->relays, &d->n_relays, err, errlen)))
			return rc;
		d->has_relays = true;
	}
	if ((v = json_object_get(msg, "dns"))) {
		if (d->has_domain)
			domain = d->domain;
		if (!json_is_null(v) && (rc = ctl__dns_from_json(v, domain, &d->dns, err, errlen)))
			return rc;
		d->has_dns = true;
	}
	return 0;
}

static bool removed_has(const struct delta *d, uint64_t id)
{
	return bsearch(&id, d->removed, d->n_removed, sizeof(*d->removed), u64_cmp) != NULL;
}

static bool changed_has(const struct delta *d, uint64_t id)
{
	struct ctl_node key = { .id = id };
	return bsearch(&key, d->changed, d->n_changed, sizeof(*d->changed), node_id_cmp) != NULL;
}

/* Move the delta's parts into nm; d->peers must have room for the result.  Cannot fail. */
static void delta_commit_struct(struct ctl_netmap *nm, struct delta *d, uint64_t version)
{
	if (d->n_changed || d->n_removed) {
		size_t k = 0;
		for (size_t i = 0; i < nm->n_peers; i++) {
			struct ctl_node *p = &nm->peers[i];
			if (removed_has(d, p->id) || changed_has(d, p->id))
				ctl__node_clear(p);
			else
				d->peers[k++] = *p;
		}
		memcpy(d->peers + k, d->changed, d->n_changed * sizeof(*d->changed));
		k += d->n_changed;
		d->n_changed = 0;
		qsort(d->peers, k, sizeof(*d->peers), node_id_cmp);
		free(nm->peers);
		nm->peers = d->peers;
		nm->n_peers = k;
		d->peers = NULL;
	}
	if (d->has_self) {
		ctl__node_clear(&nm->self);
		nm->self = d->self;
		memset(&d->self, 0, sizeof(d->self));
	}
	if (d->has_filter) {
		ctl__filter_free(nm->filter, nm->n_filter);
		nm->filter = d->filter;
		nm->n_filter = d->n_filter;
		d->filter = NULL;
		d->n_filter = 0;
	}
	if (d->has_ssh) {
		ctl__ssh_free(nm->ssh, nm->n_ssh);
		nm->ssh = d->ssh;
		nm->n_ssh = d->n_ssh;
		d->ssh = NULL;
		d->n_ssh = 0;
	}
	if (d->has_domain) {
		free(nm->domain);
		nm->domain = d->domain;
		d->domain = NULL;
	}
	if (d->has_relays) {
		memcpy(nm->relays, d->relays, sizeof(nm->relays));
		nm->n_relays = d->n_relays;
	}
	if (d->has_dns) {
		ctl_dns_free(nm->dns);
		nm->dns = d->dns;
		d->dns = NULL;
	}
	nm->version = version;
}

static int json_id_cmp(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "id"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "id"));
	return x < y ? -1 : x > y;
}

/* peers_changed replaces or adds peers by id; peers_removed drops ids; self, filter, ssh,
 * domain, relays and dns replace the previous values when present.  Peers are indexed by id in a
 * hash table, so a delta costs O(peers), not O(peers x changes); a delta that changes no peer
 * leaves the peer list alone.  msg has been decoded (checked) already. */
static int delta_apply_json(json_t *nm, json_t *msg, json_t *filter, char *err, size_t errlen)
{
	json_t *peers = json_object_get(nm, "peers");
	json_t *changed = json_object_get(msg, "peers_changed");
	json_t *removed = json_object_get(msg, "peers_removed");
	if (!json_is_array(peers))
		return ctl__fail(err, errlen, "previous netmap has no peers array");
	if (json_array_size(changed) || json_array_size(removed)) {
		json_t *byid = json_object(), *v;
		size_t i;
		char key[24];
		if (!byid)
			return -ENOMEM;
		json_array_foreach(peers, i, v)
		{
			snprintf(key, sizeof(key), "%lld",
				 (long long)json_integer_value(json_object_get(v, "id")));
			json_object_set(byid, key, v);
		}
		json_array_foreach(removed, i, v)
		{
			snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(v));
			json_object_del(byid, key);
		}
		json_array_foreach(changed, i, v)
		{
			snprintf(key, sizeof(key), "%lld",
				 (long long)json_integer_value(json_object_get(v, "id")));
			json_object_set(byid, key, v);
		}
		size_t n = json_object_size(byid), k = 0;
		json_t **arr = calloc(n ? n : 1, sizeof(*arr)), *out = json_array();
		const char *name;
		if (!arr || !out) {
			free(arr);
			json_decref(out);
			json_decref(byid);
			return -ENOMEM;
		}
		json_object_foreach(byid, name, v) arr[k++] = v;
		qsort(arr, n, sizeof(*arr), json_id_cmp);
		for (k = 0; k < n; k++)
			json_array_append(out, arr[k]);
		free(arr);
		json_decref(byid);
		json_object_set_new(nm, "peers", out);
	}
	static const char *const whole[] = { "self", "ssh", "domain", "relays", "dns" };
	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
		json_t *w = json_object_get(msg, whole[i]);
		if (w)
			json_object_set(nm, whole[i], w);
	}
	if (filter) /* references resolved: the netmap holds whole rules */
		json_object_set(nm, "filter", filter);
	return 0;
}

enum msg_type { MSG_FULL, MSG_DELTA, MSG_KEEPALIVE };

static int msg_type(json_t *m, enum msg_type *t, char *err, size_t errlen)
{
	const char *type = json_string_value(json_object_get(m, "type"));
	if (!type || !json_is_integer(json_object_get(m, "version")))
		return ctl__fail(err, errlen, "map message: missing type or version");
	if (strcmp(type, "full") == 0)
		*t = MSG_FULL;
	else if (strcmp(type, "delta") == 0)
		*t = MSG_DELTA;
	else if (strcmp(type, "keepalive") == 0)
		*t = MSG_KEEPALIVE;
	else
		return ctl__fail(err, errlen, "map message: unknown type '%s'", type);
	return 0;
}

/* The delta's filter with the base's sources put back (NULL when it carries none). */
static int filter_of(json_t *m, json_t *nm_json, json_t **filter, char *err, size_t errlen)
{
	json_t *f = json_object_get(m, "filter");
	*filter = NULL;
	return f ? ctl__filter_refs_resolve(f, json_object_get(nm_json, "filter"), filter, err,
					    errlen)
		 : 0;
}

static int check_base(json_t *m, bool have, json_int_t version, char *err, size_t errlen)
{
	json_t *base = json_object_get(m, "base");
	if (!have) {
		ctl__fail(err, errlen, "delta before any full netmap");
		return -ESTALE;
	}
	if (!json_is_integer(base) || json_integer_value(base) != version) {
		ctl__fail(err, errlen, "delta is based on another version");
		return -ESTALE;
	}
	return 0;
}

int ctl__netmap_fold(json_t **nm, json_t *m, bool *keepalive, char *err, size_t errlen)
{
	enum msg_type t;
	int rc = msg_type(m, &t, err, errlen);
	*keepalive = t == MSG_KEEPALIVE;
	if (rc || t == MSG_KEEPALIVE)
		return rc;
	if (t == MSG_FULL) {
		json_t *full = json_object_get(m, "netmap");
		struct ctl_netmap *check;
		if ((rc = ctl__netmap_from_json(full, &check, err, errlen)))
			return rc;
		ctl_netmap_free(check);
		json_decref(*nm);
		*nm = json_incref(full);
		return 0;
	}
	rc = check_base(m, *nm != NULL, json_integer_value(json_object_get(*nm, "version")), err,
			errlen);
	struct delta d;
	json_t *filter = NULL;
	if (!rc)
		rc = filter_of(m, *nm, &filter, err, errlen);
	if (!rc) {
		rc =
		    delta_decode(m, filter, NULL, json_string_value(json_object_get(*nm, "domain")),
				 &d, err, errlen);
		delta_free(&d);
	}
	if (!rc)
		rc = delta_apply_json(*nm, m, filter, err, errlen);
	if (!rc)
		json_object_set(*nm, "version", json_object_get(m, "version"));
	json_decref(filter);
	return rc;
}

int ctl__netmap_fold_both(json_t **json, struct ctl_netmap **nm, json_t *m, bool *keepalive,
			  char *err, size_t errlen)
{
	enum msg_type t;
	int rc = msg_type(m, &t, err, errlen);
	*keepalive = t == MSG_KEEPALIVE;
	if (rc || t == MSG_KEEPALIVE)
		return rc;
	json_t *ver = json_object_get(m, "version");
	if (t == MSG_FULL) {
		json_t *full = json_object_get(m, "netmap");
		struct ctl_netmap *fresh;
		if ((rc = ctl__netmap_from_json(full, &fresh, err, errlen)))
			return rc;
		ctl_netmap_free(*nm);
		json_decref(*json);
		*nm = fresh;
		*json = json_incref(full);
		return 0;
	}
	if ((rc = check_base(m, *nm && *json, *nm ? (json_int_t)(*nm)->version : 0, err, errlen)))
		return rc;
	struct delta d = { 0 };
	json_t *filter = NULL;
	/* the struct's rules from the base's, not from the addresses' text again */
	rc = filter_of(m, *json, &filter, err, errlen);
	if (!rc)
		rc = delta_decode(m, filter ? json_object_get(m, "filter") : NULL, *nm,
				  (*nm)->domain, &d, err, errlen);
	if (!rc && (d.n_changed || d.n_removed) &&
	    !(d.peers = calloc((*nm)->n_peers + d.n_changed + 1, sizeof(*d.peers))))
		rc = -ENOMEM;
	if (!rc)
		rc = delta_apply_json(*json, m, filter, err, errlen);
	if (!rc) {
		json_object_set(*json, "version", ver);
		delta_commit_struct(*nm, &d, (uint64_t)json_integer_value(ver));
	}
	delta_free(&d);
	json_decref(filter);
	return rc;
}

int ctl_netmap_apply(char **json, const char *msg, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *m = ctl__json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr), *nm = NULL;
	bool keepalive;
	int rc = 0;
	if (!m)
		return ctl__fail(err, errlen, "map message JSON: %s", jerr.text);
	if (*json && !(nm = ctl__json_loadb(*json, strlen(*json), 0, &jerr))) {
		rc = ctl__fail(err, errlen, "previous netmap is not JSON");
		goto out;
	}
	rc = ctl__netmap_fold(&nm, m, &keepalive, err, errlen);
	if (rc || keepalive)
		goto out;
	char *text = json_dumps(nm, JSON_COMPACT);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	free(*json);
	*json = text;
out:
	json_decref(nm);
	json_decref(m);
	return rc;
}
