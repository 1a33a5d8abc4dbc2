/* JSON codec for the local API.  Every decoder checks types and names the offending
 * member in its error; every encoder emits one line terminated by '\n'. */
#include "control/localapi/localapi.h"
#include "control/localapi/internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"
#include "control/netmap/endpoint.h"
#include "control/netmap/netmap_json.h"

static const char *const cmd_names[] = {
	[CTL_LAPI_STATUS] = "status", [CTL_LAPI_WHOIS] = "whois",
	[CTL_LAPI_DIAL] = "dial",     [CTL_LAPI_UP] = "up",
	[CTL_LAPI_DOWN] = "down",     [CTL_LAPI_LOGOUT] = "logout",
	[CTL_LAPI_DNS] = "dns",	      [CTL_LAPI_SESSIONS] = "sessions",
	[CTL_LAPI_KILL] = "kill",
};

const char *ctl_lapi_cmd_name(enum ctl_lapi_cmd cmd)
{
	return (unsigned)cmd < sizeof(cmd_names) / sizeof(cmd_names[0]) ? cmd_names[cmd] : "?";
}

char *ctl__lapi_dump_line(json_t *j)
{
	if (!j)
		return NULL;
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

json_t *ctl__lapi_load(const char *text, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		ctl__fail(err, errlen, "malformed JSON at line %d column %d: %s", je.line,
			  je.column, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		ctl__fail(err, errlen, "expected a JSON object");
		return NULL;
	}
	return j;
}

/* Optional string member: *out stays NULL when absent. */
int ctl__lapi_opt_str(json_t *o, const char *key, char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return ctl__fail(err, errlen, "\"%s\" must be a string", key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

int ctl__lapi_opt_bool(json_t *o, const char *key, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (v && !json_is_boolean(v))
		return ctl__fail(err, errlen, "\"%s\" must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int ctl__lapi_opt_int(json_t *o, const char *key, long long lo, long long hi, long long *out,
		      char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return ctl__fail(err, errlen, "\"%s\" must be an integer", key);
	long long x = json_integer_value(v);
	if (x < lo || x > hi)
		return ctl__fail(err, errlen, "\"%s\" is %lld, outside %lld..%lld", key, x, lo, hi);
	*out = x;
	return 0;
}

/* ---- requests ---- */

int ctl_lapi_request_parse(const char *text, size_t len, struct ctl_lapi_request *out, char *err,
			   size_t errlen)
{
	memset(out, 0, sizeof(*out));
	json_t *j = ctl__lapi_load(text, len, err, errlen);
	if (!j)
		return -EINVAL;
	int rc = 0;
	const char *cmd = json_string_value(json_object_get(j, "cmd"));
	size_t i;
	for (i = 0; cmd && i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++)
		if (strcmp(cmd, cmd_names[i]) == 0)
			break;
	if (!cmd) {
		rc = ctl__fail(err, errlen, "\"cmd\" is missing or not a string");
		goto out;
	}
	if (i == sizeof(cmd_names) / sizeof(cmd_names[0])) {
		rc = ctl__fail(err, errlen, "unknown \"cmd\" \"%s\"", cmd);
		goto out;
	}
	out->cmd = (enum ctl_lapi_cmd)i;
	long long port = 0;
	if ((rc = ctl__lapi_opt_str(j, "host", &out->host, err, errlen)) ||
	    (rc = ctl__lapi_opt_int(j, "port", 0, 65535, &port, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(j, "login_server", &out->login_server, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(j, "authkey", &out->authkey, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(j, "hostname", &out->hostname, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(j, "ca_file", &out->ca_file, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(j, "type", &out->type, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(j, "id", &out->id, err, errlen)) ||
	    (rc = ctl__strv_from_json(j, "tags", &out->tags, &out->n_tags, err, errlen)) ||
	    (rc = ctl__lapi_opt_bool(j, "ssh", &out->ssh, err, errlen)) ||
	    (rc = ctl__lapi_opt_bool(j, "force_reauth", &out->force_reauth, err, errlen)) ||
	    (rc = ctl__lapi_opt_bool(j, "insecure_http", &out->insecure_http, err, errlen)))
		goto out;
	out->port = (uint16_t)port;
	out->tags_given = json_object_get(j, "tags") != NULL;
	if ((out->cmd == CTL_LAPI_WHOIS || out->cmd == CTL_LAPI_DIAL || out->cmd == CTL_LAPI_DNS) &&
	    !out->host)
		rc = ctl__fail(err, errlen, "\"%s\" needs \"host\"", cmd);
	else if (out->cmd == CTL_LAPI_KILL && (!out->id || !*out->id))
		rc = ctl__fail(err, errlen, "\"kill\" needs \"id\"");
	else if (out->cmd == CTL_LAPI_DIAL && out->port == 0)
		rc = ctl__fail(err, errlen, "\"dial\" needs \"port\" from 1 to 65535");
out:
	json_decref(j);
	if (rc)
		ctl_lapi_request_clear(out);
	return rc;
}

char *ctl_lapi_request_format(const struct ctl_lapi_request *r)
{
	json_t *j = json_pack("{s:s}", "cmd", ctl_lapi_cmd_name(r->cmd));
	if (!j)
		return NULL;
	if (r->host)
		json_object_set_new(j, "host", json_string(r->host));
	if (r->port)
		json_object_set_new(j, "port", json_integer(r->port));
	if (r->login_server)
		json_object_set_new(j, "login_server", json_string(r->login_server));
	if (r->authkey)
		json_object_set_new(j, "authkey", json_string(r->authkey));
	if (r->hostname)
		json_object_set_new(j, "hostname", json_string(r->hostname));
	if (r->tags_given || r->n_tags)
		json_object_set_new(j, "tags", ctl__strv_json(r->tags, r->n_tags));
	if (r->cmd == CTL_LAPI_UP)
		json_object_set_new(j, "ssh", json_boolean(r->ssh));
	if (r->force_reauth)
		json_object_set_new(j, "force_reauth", json_true());
	if (r->ca_file)
		json_object_set_new(j, "ca_file", json_string(r->ca_file));
	if (r->insecure_http)
		json_object_set_new(j, "insecure_http", json_true());
	if (r->type)
		json_object_set_new(j, "type", json_string(r->type));
	if (r->id)
		json_object_set_new(j, "id", json_string(r->id));
	return ctl__lapi_dump_line(j);
}

void ctl_lapi_request_clear(struct ctl_lapi_request *r)
{
	free(r->host);
	free(r->login_server);
	free(r->ca_file);
	if (r->authkey) {
		explicit_bzero(r->authkey, strlen(r->authkey));
		free(r->authkey);
	}
	free(r->hostname);
	free(r->type);
	free(r->id);
	strv_free(r->tags, r->n_tags);
	memset(r, 0, sizeof(*r));
}

/* ---- nodes and status ---- */

/* Errors meshctl prints quote what came in: no terminal controls in them. */
void ctl__lapi_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* A peer's path as meshd says it: "none", "direct " and an untyped endpoint, or "relay ",
 * a TURN URI and its transport in parentheses; what meshctl prints, so nothing else. */
static int path_check(const char *s, char *err, size_t errlen)
{
	char why[400], uri[CTL_RELAY_URL_MAX];
	struct ctl_endpoint e;
	struct ctl_relay_url u;
	static const char *const proto[] = { "udp", "tcp", "tls" };
	char shown[81];
	snprintf(shown, sizeof(shown), "%s", s);
	ctl__lapi_printable(shown);
	why[0] = '\0';
	if (strcmp(s, "none") == 0)
		return 0;
	if (strncmp(s, "direct ", 7) == 0) {
		if (strchr(s + 7, ' ') || !ctl_endpoint_parse(s + 7, &e, why, sizeof(why))) {
			ctl__lapi_printable(why);
			return ctl__fail(err, errlen, "\"path\" '%s': %s", shown,
					 strchr(s + 7, ' ') ? "expected direct ADDR:PORT" : why);
		}
		return 0;
	}
	const char *open = strrchr(s, '(');
	if (strncmp(s, "relay ", 6) == 0 && open && open > s + 6 && open[-1] == ' ' &&
	    (size_t)(open - 1 - (s + 6)) < sizeof(uri)) {
		memcpy(uri, s + 6, (size_t)(open - 1 - (s + 6)));
		uri[open - 1 - (s + 6)] = '\0';
		if (!ctl_relay_url_parse(uri, &u, why, sizeof(why))) {
			ctl__lapi_printable(why);
			return ctl__fail(err, errlen, "\"path\" '%s': %s", shown, why);
		}
		for (size_t i = 0; i < 3; i++)
			if (strlen(open) == strlen(proto[i]) + 2 &&
			    strncmp(open + 1, proto[i], strlen(proto[i])) == 0 &&
			    open[strlen(proto[i]) + 1] == ')')
				return 0;
		return ctl__fail(err, errlen,
				 "\"path\" '%s': the transport is (udp), (tcp) or "
				 "(tls)",
				 shown);
	}
	return ctl__fail(err, errlen,
			 "\"path\" '%s': expected none, direct ADDR:PORT or "
			 "relay TURN-URI (udp|tcp|tls)",
			 shown);
}

static json_t *node_json(const struct ctl_lapi_node *n)
{
	json_t *addrs = json_array();
	for (size_t i = 0; addrs && i < n->n_addrs; i++)
		json_array_append_new(addrs, ctl__prefix_json(&n->addrs[i]));
	json_t *j = json_pack("{s:s?, s:s?, s:s?, s:o, s:o, s:s?, s:b, s:I, s:I, s:I, s:o}", "name",
			      n->name, "owner", n->owner, "dns_name", n->dns_name, "tags",
			      ctl__strv_json(n->tags, n->n_tags), "addresses", addrs, "endpoint",
			      n->endpoint, "online", (int)n->online, "last_handshake",
			      (json_int_t)n->last_handshake, "rx_bytes", (json_int_t)n->rx_bytes,
			      "tx_bytes", (json_int_t)n->tx_bytes, "ssh_host_keys",
			      ctl__strv_json(n->ssh_host_keys, n->n_ssh_host_keys));
	if (j && n->path)
		json_object_set_new(j, "path", json_string(n->path));
	if (j && n->path && n->rtt_ms >= 0)
		json_object_set_new(j, "rtt_ms", json_integer((json_int_t)n->rtt_ms));
	return j;
}

static int node_from_json(json_t *j, struct ctl_lapi_node *n, char *err, size_t errlen)
{
	memset(n, 0, sizeof(*n));
	if (!json_is_object(j))
		return ctl__fail(err, errlen, "node must be an object");
	long long hs = 0, rx = 0, tx = 0, rtt = -1;
	int rc;
	if ((rc = ctl__lapi_opt_str(j, "name", &n->name, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(j, "owner", &n->owner, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(j, "dns_name", &n->dns_name, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(j, "endpoint", &n->endpoint, err, errlen)) ||
	    (rc = ctl__strv_from_json(j, "tags", &n->tags, &n->n_tags, err, errlen)) ||
	    (rc = ctl__strv_from_json(j, "ssh_host_keys", &n->ssh_host_keys, &n->n_ssh_host_keys,
				      err, errlen)) ||
	    (rc = ctl__lapi_opt_int(j, "last_handshake", 0, INT64_MAX, &hs, err, errlen)) ||
	    (rc = ctl__lapi_opt_int(j, "rx_bytes", 0, INT64_MAX, &rx, err, errlen)) ||
	    (rc = ctl__lapi_opt_int(j, "tx_bytes", 0, INT64_MAX, &tx, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(j, "path", &n->path, err, errlen)) ||
	    (rc = ctl__lapi_opt_int(j, "rtt_ms", 0, 60000, &rtt, err, errlen)) ||
	    (n->path && (rc = path_check(n->path, err, errlen))))
		goto bad;
	n->rtt_ms = rtt;
	n->last_handshake = hs;
	n->rx_bytes = (uint64_t)rx;
	n->tx_bytes = (uint64_t)tx;
	n->online = json_is_true(json_object_get(j, "online"));
	json_t *addrs = json_object_get(j, "addresses");
	if (addrs && !json_is_array(addrs)) {
		rc = ctl__fail(err, errlen, "\"addresses\" must be an array");
		goto bad;
	}
	for (size_t i = 0; addrs && i < json_array_size(addrs) && i < CTL_MAX_NODE_ADDRS; i++) {
		rc = ctl__prefix_from_json(json_array_get(addrs, i), &n->addrs[i], "addresses", err,
					   errlen);
		if (rc)
			goto bad;
		n->n_addrs++;
	}
	return 0;
bad:
	ctl_lapi_node_clear(n);
	return rc;
}

void ctl_lapi_node_clear(struct ctl_lapi_node *n)
{
	free(n->name);
	free(n->owner);
	free(n->dns_name);
	free(n->endpoint);
	free(n->path);
	strv_free(n->tags, n->n_tags);
	strv_free(n->ssh_host_keys, n->n_ssh_host_keys);
	memset(n, 0, sizeof(*n));
}

char *ctl_lapi_node_format(const struct ctl_lapi_node *n)
{
	return ctl__lapi_dump_line(json_pack("{s:b, s:o}", "ok", 1, "node", node_json(n)));
}

int ctl_lapi_node_parse(const char *text, size_t len, struct ctl_lapi_node *out, char *err,
			size_t errlen)
{
	memset(out, 0, sizeof(*out));
	json_t *j = ctl__lapi_load(text, len, err, errlen);
	if (!j)
		return -EINVAL;
	int rc = node_from_json(json_object_get(j, "node"), out, err, errlen);
	json_decref(j);
	return rc;
}

static const char *const alloc_names[] = {
	[CTL_LAPI_ALLOC_NONE] = "none",
	[CTL_LAPI_ALLOC_ALLOCATING] = "allocating",
	[CTL_LAPI_ALLOC_ALLOCATED] = "allocated",
	[CTL_LAPI_ALLOC_FAILED] = "failed",
};

const char *ctl_lapi_alloc_state_name(enum ctl_lapi_alloc_state s)
{
	return (unsigned)s < sizeof(alloc_names) / sizeof(alloc_names[0]) ? alloc_names[s] : "?";
}

/* NULL (left out) without a relay. */
static json_t *alloc_json(const struct ctl_lapi_alloc *a)
{
	char url[CTL_RELAY_URL_MAX];
	if (a->state == CTL_LAPI_ALLOC_NONE)
		return NULL;
	ctl_relay_url_format(&a->relay, url);
	json_t *j =
	    json_pack("{s:s, s:s, s:I}", "relay", url, "state", ctl_lapi_alloc_state_name(a->state),
		      "allocations", (json_int_t)(a->allocations & INT64_MAX));
	if (j && a->state == CTL_LAPI_ALLOC_ALLOCATED)
		json_object_set_new(j, "relayed", json_string(a->relayed));
	if (j && a->state == CTL_LAPI_ALLOC_FAILED) {
		json_object_set_new(j, "why", json_string(a->why));
		json_object_set_new(j, "retry_s", json_integer((json_int_t)a->retry_s));
	}
	return j;
}

/* The "allocation" object: absent is no relay.  Each member is checked by the parser
 * that made it; the relay's reason text is kept without terminal controls. */
static int alloc_from_json(json_t *o, struct ctl_lapi_alloc *a, char *err, size_t errlen)
{
	char why[400];
	struct ctl_endpoint e;
	long long n = 0, retry = 0;
	int rc;
	if (!o)
		return 0;
	if (!json_is_object(o))
		return ctl__fail(err, errlen, "\"allocation\" must be an object");
	const char *url = json_string_value(json_object_get(o, "relay"));
	const char *state = json_string_value(json_object_get(o, "state"));
	if (!url)
		return ctl__fail(err, errlen, "allocation.relay must be a string");
	if (!ctl_relay_url_parse(url, &a->relay, why, sizeof(why)))
		return ctl__fail(err, errlen, "allocation.relay: %s", why);
	size_t n_names = sizeof(alloc_names) / sizeof(alloc_names[0]);
	for (size_t i = CTL_LAPI_ALLOC_ALLOCATING; state && i < n_names; i++)
		if (strcmp(state, alloc_names[i]) == 0)
			a->state = (enum ctl_lapi_alloc_state)i;
	if (a->state == CTL_LAPI_ALLOC_NONE) {
		snprintf(why, 41, "%s", state ? state : "");
		ctl__lapi_printable(why);
		return ctl__fail(err, errlen,
				 "allocation.state '%s': expected allocating, "
				 "allocated or failed",
				 why);
	}
	if ((rc = ctl__lapi_opt_int(o, "allocations", 0, INT64_MAX, &n, err, errlen)))
		return rc;
	a->allocations = (uint64_t)n;
	if (a->state == CTL_LAPI_ALLOC_ALLOCATED) {
		const char *relayed = json_string_value(json_object_get(o, "relayed"));
		char shown[41];
		if (!relayed)
			return ctl__fail(err, errlen, "allocation.relayed must be a string");
		snprintf(shown, sizeof(shown), "%s", relayed);
		ctl__lapi_printable(shown);
		why[0] = '\0';
		if (strlen(relayed) >= CTL_ENDPOINT_MAX || strchr(relayed, ' ') ||
		    !ctl_endpoint_parse(relayed, &e, why, sizeof(why))) {
			ctl__lapi_printable(why);
			return ctl__fail(err, errlen, "allocation.relayed '%s': %s", shown,
					 why[0] ? why : "expected ADDR:PORT");
		}
		snprintf(a->relayed, sizeof(a->relayed), "%s", relayed);
	}
	if (a->state == CTL_LAPI_ALLOC_FAILED) {
		const char *w = json_string_value(json_object_get(o, "why"));
		if (!w || !*w || strlen(w) >= CTL_LAPI_ALLOC_WHY)
			return ctl__fail(err, errlen,
					 "allocation.why must be a string of 1 to %d "
					 "characters",
					 CTL_LAPI_ALLOC_WHY - 1);
		snprintf(a->why, sizeof(a->why), "%s", w);
		ctl__lapi_printable(a->why);
		if (!json_object_get(o, "retry_s"))
			return ctl__fail(err, errlen, "allocation.retry_s is missing");
		if ((rc = ctl__lapi_opt_int(o, "retry_s", 0, CTL_LAPI_ALLOC_RETRY_MAX, &retry, err,
					    errlen)))
			return rc;
		a->retry_s = retry;
	}
	return 0;
}

char *ctl_lapi_status_format(const struct ctl_lapi_status *st)
{
	json_t *peers = json_array();
	for (size_t i = 0; peers && i < st->n_peers; i++)
		json_array_append_new(peers, node_json(&st->peers[i]));
	json_t *counters = json_object();
	for (size_t i = 0; counters && i < st->n_counters; i++)
		json_object_set_new(counters, st->counters[i].name,
				    json_integer((json_int_t)(st->counters[i].value & INT64_MAX)));
	json_t *relays = json_array();
	for (size_t i = 0; relays && i < st->n_relays; i++) {
		char url[CTL_RELAY_URL_MAX];
		ctl_relay_url_format(&st->relays[i].url, url);
		json_array_append_new(relays, json_pack("{s:s, s:I}", "url", url, "expires",
							(json_int_t)st->relays[i].expires));
	}
	json_t *alloc = alloc_json(&st->alloc);
	json_t *s =
	    json_pack("{s:s?, s:s?, s:b, s:s?, s:b, s:I, s:s?, s:s?, s:i, s:s?, s:s?, s:o, s:o, "
		      "s:o, s:o, s:o*}",
		      "state", st->state, "tun", st->tun, "ssh", (int)st->ssh, "control_url",
		      st->control_url, "control_connected", (int)st->control_connected,
		      "netmap_time", (json_int_t)st->netmap_time, "domain", st->domain,
		      "public_key", st->public_key, "listen_port", (int)st->listen_port, "auth_url",
		      st->auth_url, "error", st->error, "self", node_json(&st->self), "peers",
		      peers, "counters", counters, "relays", relays, "allocation", alloc);
	return ctl__lapi_dump_line(s ? json_pack("{s:b, s:o}", "ok", 1, "status", s) : NULL);
}

/* The "counters" object: at most CTL_LAPI_MAX_COUNTERS names of bounded length, each a
 * non-negative integer.  Absent is fine (an older meshd). */
static int counters_from_json(json_t *o, struct ctl_lapi_status *out, char *err, size_t errlen)
{
	if (!o)
		return 0;
	if (!json_is_object(o))
		return ctl__fail(err, errlen, "\"counters\" must be an object");
	size_t n = json_object_size(o);
	if (n > CTL_LAPI_MAX_COUNTERS)
		return ctl__fail(err, errlen, "\"counters\" has %zu entries (at most %d)", n,
				 CTL_LAPI_MAX_COUNTERS);
	if (n && !(out->counters = calloc(n, sizeof(*out->counters))))
		return -ENOMEM;
	const char *name;
	json_t *v;
	json_object_foreach(o, name, v)
	{
		size_t len = strlen(name);
		if (len == 0 || len >= CTL_LAPI_COUNTER_NAME ||
		    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._") != len)
			return ctl__fail(
			    err, errlen,
			    "counter names are 1 to %d characters of a-z, 0-9, '.' and '_'",
			    CTL_LAPI_COUNTER_NAME - 1);
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return ctl__fail(err, errlen,
					 "counter \"%s\" must be a non-negative integer", name);
		struct ctl_lapi_counter *c = &out->counters[out->n_counters++];
		memcpy(c->name, name, len + 1);
		c->value = (uint64_t)json_integer_value(v);
	}
	return 0;
}

/* The "relays" array: at most CTL_RELAYS_MAX, each a TURN URI the one parser takes and an
 * expiry. */
static int relays_from_json(json_t *a, struct ctl_lapi_status *out, char *err, size_t errlen)
{
	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > CTL_RELAYS_MAX)
		return ctl__fail(err, errlen, "\"relays\" must be an array of at most %d",
				 CTL_RELAYS_MAX);
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *r = json_array_get(a, i), *e = json_object_get(r, "expires");
		const char *url = json_string_value(json_object_get(r, "url"));
		char why[400];
		if (!url)
			return ctl__fail(err, errlen, "relays[%zu].url must be a string", i);
		if (!ctl_relay_url_parse(url, &out->relays[i].url, why, sizeof(why)))
			return ctl__fail(err, errlen, "relays[%zu].url: %s", i, why);
		if (!json_is_integer(e) || json_integer_value(e) < 0)
			return ctl__fail(err, errlen,
					 "relays[%zu].expires must be a non-negative integer", i);
		out->relays[i].expires = json_integer_value(e);
		out->n_relays++;
	}
	return 0;
}

int ctl_lapi_status_parse(const char *text, size_t len, struct ctl_lapi_status *out, char *err,
			  size_t errlen)
{
	memset(out, 0, sizeof(*out));
	json_t *j = ctl__lapi_load(text, len, err, errlen);
	if (!j)
		return -EINVAL;
	json_t *s = json_object_get(j, "status");
	int rc = 0;
	long long t = 0, port = 0;
	if (!json_is_object(s)) {
		rc = ctl__fail(err, errlen, "\"status\" is missing");
		goto out;
	}
	if ((rc = ctl__lapi_opt_str(s, "state", &out->state, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(s, "tun", &out->tun, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(s, "control_url", &out->control_url, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(s, "domain", &out->domain, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(s, "public_key", &out->public_key, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(s, "auth_url", &out->auth_url, err, errlen)) ||
	    (rc = ctl__lapi_opt_str(s, "error", &out->error, err, errlen)) ||
	    (rc = ctl__lapi_opt_int(s, "netmap_time", 0, INT64_MAX, &t, err, errlen)) ||
	    (rc = ctl__lapi_opt_int(s, "listen_port", 0, 65535, &port, err, errlen)))
		goto out;
	out->netmap_time = t;
	out->listen_port = (uint16_t)port;
	out->ssh = json_is_true(json_object_get(s, "ssh"));
	out->control_connected = json_is_true(json_object_get(s, "control_connected"));
	json_t *self = json_object_get(s, "self");
	if (self && (rc = node_from_json(self, &out->self, err, errlen)))
		goto out;
	json_t *peers = json_object_get(s, "peers");
	if (peers && !json_is_array(peers)) {
		rc = ctl__fail(err, errlen, "\"peers\" must be an array");
		goto out;
	}
	size_t n = json_array_size(peers);
	if (n) {
		out->peers = calloc(n, sizeof(*out->peers));
		if (!out->peers) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		rc = node_from_json(json_array_get(peers, i), &out->peers[i], err, errlen);
		if (rc)
			goto out;
		out->n_peers++;
	}
	rc = counters_from_json(json_object_get(s, "counters"), out, err, errlen);
	if (!rc)
		rc = relays_from_json(json_object_get(s, "relays"), out, err, errlen);
	if (!rc)
		rc = alloc_from_json(json_object_get(s, "allocation"), &out->alloc, err, errlen);
out:
	json_decref(j);
	if (rc)
		ctl_lapi_status_clear(out);
	return rc;
}

void ctl_lapi_status_clear(struct ctl_lapi_status *st)
{
	free(st->state);
	free(st->tun);
	free(st->control_url);
	free(st->domain);
	free(st->public_key);
	free(st->auth_url);
	free(st->error);
	ctl_lapi_node_clear(&st->self);
	for (size_t i = 0; i < st->n_peers; i++)
		ctl_lapi_node_clear(&st->peers[i]);
	free(st->peers);
	free(st->counters);
	memset(st, 0, sizeof(*st));
}

/* ---- generic replies ---- */

char *ctl_lapi_reply_ok(const char *message)
{
	return ctl__lapi_dump_line(message ? json_pack("{s:b, s:s}", "ok", 1, "message", message)
					   : json_pack("{s:b}", "ok", 1));
}

char *ctl_lapi_reply_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ctl__lapi_dump_line(json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

int ctl_lapi_reply_parse(const char *text, size_t len, bool *ok, char *msg, size_t msglen)
{
	char err[256];
	json_t *j = ctl__lapi_load(text, len, err, sizeof(err));
	if (!j)
		return ctl__fail(msg, msglen, "meshd sent a malformed answer: %s", err);
	json_t *okj = json_object_get(j, "ok");
	if (!json_is_boolean(okj)) {
		json_decref(j);
		return ctl__fail(msg, msglen, "meshd sent an answer without \"ok\"");
	}
	*ok = json_is_true(okj);
	const char *m = json_string_value(json_object_get(j, *ok ? "message" : "error"));
	if (msg && msglen)
		snprintf(msg, msglen, "%s", m ? m : "");
	json_decref(j);
	return 0;
}

char *ctl_lapi_pretty(const char *text, size_t len, const char *member)
{
	json_t *j = ctl__lapi_load(text, len, NULL, 0);
	if (!j)
		return NULL;
	json_t *m = member ? json_object_get(j, member) : j;
	char *s = m ? json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	return s;
}
