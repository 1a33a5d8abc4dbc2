/* The netmap's JSON codec: plain structs <-> the JSON control sends on the map stream,
 * (the fold of deltas is in delta.c).  Decoding is strict: a wrong
 * type or a bad address is refused with the field's name, never guessed at. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "common/strv.h"
#include "control/netmap/endpoint.h"
#include "control/netmap/netmap_json.h"

int ctl__fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* ---- encoding ---- */

json_t *ctl__prefix_json(const struct addr_prefix *p)
{
	char s[ADDR_TEXT_MAX];
	addr_prefix_format(p, s);
	return json_string(s);
}

static json_t *prefixes_json(const struct addr_prefix *p, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, ctl__prefix_json(&p[i]));
	return a;
}

json_t *ctl__strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *ctl__node_json(const struct ctl_node *n)
{
	char key[KEY_BASE64_SIZE], disco[KEY_BASE64_SIZE];
	key_to_base64(key, n->node_key);
	json_t *j =
	    json_pack("{s:I, s:s?, s:s?, s:o, s:s, s:I, s:o, s:o, s:o, s:o, s:b, s:I}", "id",
		      (json_int_t)n->id, "name", n->name, "owner", n->owner, "tags",
		      ctl__strv_json(n->tags, n->n_tags), "node_key", key, "key_expiry",
		      (json_int_t)n->key_expiry, "addresses", prefixes_json(n->addrs, n->n_addrs),
		      "allowed_ips", prefixes_json(n->allowed_ips, n->n_allowed_ips), "endpoints",
		      ctl__strv_json(n->endpoints, n->n_endpoints), "ssh_host_keys",
		      ctl__strv_json(n->ssh_host_keys, n->n_ssh_host_keys), "online",
		      (int)n->online, "last_seen", (json_int_t)n->last_seen);
	if (j && n->has_disco_key) {
		key_to_base64(disco, n->disco_key);
		json_object_set_new(j, "disco_key", json_string(disco));
	}
	return j;
}

/* ---- freeing ---- */

void ctl__node_clear(struct ctl_node *n)
{
	free(n->name);
	free(n->owner);
	strv_free(n->tags, n->n_tags);
	free(n->allowed_ips);
	strv_free(n->endpoints, n->n_endpoints);
	strv_free(n->ssh_host_keys, n->n_ssh_host_keys);
	memset(n, 0, sizeof(*n));
}

void ctl_netmap_free(struct ctl_netmap *nm)
{
	if (!nm)
		return;
	free(nm->domain);
	ctl__node_clear(&nm->self);
	for (size_t i = 0; i < nm->n_peers; i++)
		ctl__node_clear(&nm->peers[i]);
	free(nm->peers);
	ctl__filter_free(nm->filter, nm->n_filter);
	ctl__ssh_free(nm->ssh, nm->n_ssh);
	ctl__relays_wipe(nm->relays, CTL_RELAYS_MAX);
	ctl_dns_free(nm->dns);
	free(nm);
}

/* ---- decoding ---- */

int ctl__prefix_from_json(json_t *j, struct addr_prefix *p, const char *field, char *err,
			  size_t errlen)
{
	if (!json_is_string(j))
		return ctl__fail(err, errlen, "%s: expected an address string", field);
	if (!addr_prefix_parse(json_string_value(j), p, NULL))
		return ctl__fail(err, errlen, "%s: '%s' is not an IP address or prefix", field,
				 json_string_value(j));
	return 0;
}

static int prefixes_from_json(json_t *obj, const char *key, struct addr_prefix **out, size_t *n,
			      size_t max, char *err, size_t errlen)
{
	json_t *a = json_object_get(obj, key);
	*n = 0;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return ctl__fail(err, errlen, "%s: expected an array", key);
	size_t len = json_array_size(a);
	if (max && len > max)
		return ctl__fail(err, errlen, "%s: at most %zu entries", key, max);
	struct addr_prefix *p = calloc(len ? len : 1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int rc = ctl__prefix_from_json(json_array_get(a, i), &p[i], key, err, errlen);
		if (rc) {
			free(p);
			return rc;
		}
	}
	*out = p;
	*n = len;
	return 0;
}

int ctl__strv_from_json(json_t *obj, const char *key, char ***v, size_t *n, char *err,
			size_t errlen)
{
	json_t *a = json_object_get(obj, key);
	*v = NULL;
	*n = 0;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return ctl__fail(err, errlen, "%s: expected an array of strings", key);
	size_t len = json_array_size(a);
	char **s = calloc(len ? len : 1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		json_t *e = json_array_get(a, i);
		if (!json_is_string(e)) {
			strv_free(s, i);
			return ctl__fail(err, errlen, "%s[%zu]: expected a string", key, i);
		}
		s[i] = strdup(json_string_value(e));
		if (!s[i]) {
			strv_free(s, i);
			return -ENOMEM;
		}
	}
	*v = s;
	*n = len;
	return 0;
}

static int int_member(json_t *obj, const char *key, bool required, int64_t lo, int64_t hi,
		      int64_t *out, char *err, size_t errlen)
{
	json_t *j = json_object_get(obj, key);
	if (!j) {
		*out = 0;
		return required ? ctl__fail(err, errlen, "%s: missing", key) : 0;
	}
	if (!json_is_integer(j))
		return ctl__fail(err, errlen, "%s: expected an integer", key);
	json_int_t v = json_integer_value(j);
	if (v < lo || v > hi)
		return ctl__fail(err, errlen, "%s: %lld is out of range", key, (long long)v);
	*out = v;
	return 0;
}

static int str_member(json_t *obj, const char *key, bool required, char **out, char *err,
		      size_t errlen)
{
	json_t *j = json_object_get(obj, key);
	*out = NULL;
	if (!j || json_is_null(j))
		return required ? ctl__fail(err, errlen, "%s: missing", key) : 0;
	if (!json_is_string(j))
		return ctl__fail(err, errlen, "%s: expected a string", key);
	*out = strdup(json_string_value(j));
	return *out ? 0 : -ENOMEM;
}

int ctl__node_from_json(json_t *j, struct ctl_node *n, char *err, size_t errlen)
{
	int64_t v;
	int rc;
	memset(n, 0, sizeof(*n));
	if (!json_is_object(j))
		return ctl__fail(err, errlen, "node: expected an object");
	if ((rc = int_member(j, "id", true, 1, INT64_MAX, &v, err, errlen)))
		return rc;
	n->id = (uint64_t)v;
	json_t *k = json_object_get(j, "node_key");
	struct key_error kerr;
	if (!json_is_string(k))
		return ctl__fail(err, errlen, "node_key: missing");
	if (!key_from_base64(n->node_key, json_string_value(k), &kerr))
		return ctl__fail(err, errlen, "node_key: %s", kerr.message);
	if ((k = json_object_get(j, "disco_key")) && !json_is_null(k)) {
		if (!json_is_string(k))
			return ctl__fail(err, errlen, "disco_key: expected a base64 key");
		if (!key_from_base64(n->disco_key, json_string_value(k), &kerr))
			return ctl__fail(err, errlen, "disco_key: %s", kerr.message);
		n->has_disco_key = true;
	}
	struct addr_prefix *addrs = NULL;
	if ((rc = str_member(j, "name", false, &n->name, err, errlen)) ||
	    (rc = str_member(j, "owner", false, &n->owner, err, errlen)) ||
	    (rc = ctl__strv_from_json(j, "tags", &n->tags, &n->n_tags, err, errlen)) ||
	    (rc = int_member(j, "key_expiry", false, 0, INT64_MAX, &n->key_expiry, err, errlen)) ||
	    (rc = int_member(j, "last_seen", false, 0, INT64_MAX, &n->last_seen, err, errlen)) ||
	    (rc = prefixes_from_json(j, "addresses", &addrs, &n->n_addrs, CTL_MAX_NODE_ADDRS, err,
				     errlen)) ||
	    (rc = prefixes_from_json(j, "allowed_ips", &n->allowed_ips, &n->n_allowed_ips, 0, err,
				     errlen)) ||
	    (rc = ctl__strv_from_json(j, "endpoints", &n->endpoints, &n->n_endpoints, err,
				      errlen)) ||
	    (rc = ctl__strv_from_json(j, "ssh_host_keys", &n->ssh_host_keys, &n->n_ssh_host_keys,
				      err, errlen))) {
		free(addrs);
		ctl__node_clear(n);
		return rc;
	}
	if (addrs)
		memcpy(n->addrs, addrs, n->n_addrs * sizeof(*addrs));
	free(addrs);
	/* Endpoints are path candidates (and relayed addresses): the parser meshd uses on
	 * them decides here, so a netmap never holds one meshd would read differently. */
	for (size_t i = 0; i < n->n_endpoints; i++) {
		struct ctl_endpoint e;
		char why[160];
		if (!ctl_endpoint_parse(n->endpoints[i], &e, why, sizeof(why))) {
			ctl__node_clear(n);
			return ctl__fail(err, errlen, "endpoints[%zu]: %s", i, why);
		}
	}
	n->online = json_is_true(json_object_get(j, "online"));
	return 0;
}

static int netmap_from_json(json_t *j, struct ctl_netmap **out, char *err, size_t errlen)
{
	if (!json_is_object(j))
		return ctl__fail(err, errlen, "netmap: expected an object");
	struct ctl_netmap *nm = calloc(1, sizeof(*nm));
	if (!nm)
		return -ENOMEM;
	int64_t version;
	int rc = int_member(j, "version", true, 0, INT64_MAX, &version, err, errlen);
	if (!rc)
		rc = str_member(j, "domain", false, &nm->domain, err, errlen);
	if (!rc)
		rc = ctl__node_from_json(json_object_get(j, "self"), &nm->self, err, errlen);
	nm->version = (uint64_t)version;
	json_t *peers = json_object_get(j, "peers");
	if (!rc && !json_is_array(peers))
		rc = ctl__fail(err, errlen, "peers: expected an array");
	if (!rc) {
		size_t np = json_array_size(peers);
		nm->peers = calloc(np ? np : 1, sizeof(*nm->peers));
		if (!nm->peers)
			rc = -ENOMEM;
		for (size_t i = 0; !rc && i < np; i++) {
			rc = ctl__node_from_json(json_array_get(peers, i), &nm->peers[i], err,
						 errlen);
			if (!rc)
				nm->n_peers = i + 1;
		}
	}
	if (!rc)
		rc = ctl__filter_from_json(json_object_get(j, "filter"), &nm->filter, &nm->n_filter,
					   err, errlen);
	if (!rc)
		rc = ctl__ssh_from_json(json_object_get(j, "ssh"), &nm->ssh, &nm->n_ssh, err,
					errlen);
	if (!rc)
		rc = ctl__relays_from_json(json_object_get(j, "relays"), nm->relays, &nm->n_relays,
					   err, errlen);
	json_t *dns = json_object_get(j, "dns");
	if (!rc && dns && !json_is_null(dns))
		rc = ctl__dns_from_json(dns, nm->domain, &nm->dns, err, errlen);
	if (rc) {
		ctl_netmap_free(nm);
		return rc;
	}
	*out = nm;
	return 0;
}

int ctl_netmap_parse(const char *json, size_t len, struct ctl_netmap **out, char *err,
		     size_t errlen)
{
	json_error_t jerr;
	json_t *j = ctl__json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return ctl__fail(err, errlen, "netmap JSON: %s", jerr.text);
	int rc = netmap_from_json(j, out, err, errlen);
	json_decref(j);
	return rc;
}

int ctl__netmap_from_json(json_t *j, struct ctl_netmap **out, char *err, size_t errlen)
{
	return netmap_from_json(j, out, err, errlen);
}

const struct ctl_node *ctl_netmap_peer_by_id(const struct ctl_netmap *nm, uint64_t id)
{
	for (size_t i = 0; i < nm->n_peers; i++)
		if (nm->peers[i].id == id)
			return &nm->peers[i];
	return NULL;
}

const struct ctl_node *ctl_netmap_peer_by_addr(const struct ctl_netmap *nm,
					       const struct addr_prefix *addr)
{
	for (size_t i = 0; i < nm->n_peers; i++)
		for (size_t a = 0; a < nm->peers[i].n_addrs; a++)
			if (addr_prefix_covers(&nm->peers[i].addrs[a], addr))
				return &nm->peers[i];
	return NULL;
}
