/* The tailnet's DNS settings in meshcontrol (control/netmap/dns.h, issue #20): kept in the
 * store's meta table as their canonical JSON text ("dns"; "" once withdrawn), so every
 * store backend holds them without an operation of its own; served and changed through
 * /api/v1/dns; sent to every node in its netmap, and as a delta when they change (map.c
 * compares each node's sent_dns_gen with dns_gen). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "control/server/internal.h"

static const char *const meta_key = "dns";

int ctl__dns_load(struct ctl_server *srv, char *err, size_t errlen)
{
	char *text = malloc(CTL_DNS_TEXT_MAX + 2), why[512];
	struct ctl_dns *d;
	if (!text)
		return -ENOMEM;
	int rc = srv->store->ops->meta_get(srv->store, meta_key, text, CTL_DNS_TEXT_MAX + 2);
	if (rc == -ENOENT || (!rc && !text[0])) {
		free(text);
		return 0;
	}
	if (!rc && (rc = ctl_dns_parse(text, strlen(text), srv->domain, &d, why, sizeof(why))))
		snprintf(err, errlen,
			 "the stored DNS settings are refused (%s): set new ones with "
			 "'meshcontrol dns set FILE'",
			 why);
	else if (rc)
		snprintf(err, errlen, "cannot read the DNS settings: %s", strerror(-rc));
	free(text);
	if (rc)
		return rc;
	srv->dns_json = ctl_dns_format(d, false);
	ctl_dns_free(d);
	return srv->dns_json ? 0 : -ENOMEM;
}

/* Stores text ("" withdraws), then the maps carry it. */
static int publish(struct ctl_server *srv, char *text)
{
	int rc = srv->store->ops->meta_set(srv->store, meta_key, text ? text : "");
	if (rc) {
		free(text);
		return rc;
	}
	free(srv->dns_json);
	srv->dns_json = text;
	srv->dns_gen++;
	ctl__map_published(srv);
	return 0;
}

enum MHD_Result ctl__admin_dns(struct ctl__req *r, const char *method, const char *rest)
{
	struct ctl_server *srv = r->srv;
	char err[512];
	struct ctl_dns *d;
	if (*rest)
		return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no such admin endpoint");
	if (strcmp(method, "GET") == 0) {
		if (!srv->dns_json)
			return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND,
						"no DNS settings are set: MagicDNS is off");
		if (ctl_dns_parse(srv->dns_json, strlen(srv->dns_json), NULL, &d, NULL, 0))
			return MHD_NO;
		char *text = ctl_dns_format(d, true);
		ctl_dns_free(d);
		return text ? ctl__reply(r->conn, MHD_HTTP_OK, "application/json", text,
					 strlen(text))
			    : MHD_NO;
	}
	if (strcmp(method, "DELETE") == 0) {
		int rc = srv->dns_json ? publish(srv, NULL) : 0;
		if (rc)
			return ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
						"cannot store the DNS settings: %s", strerror(-rc));
		log_info("meshcontrol", "DNS settings withdrawn; map version %llu",
			 (unsigned long long)srv->map_version);
		return ctl__reply_json(r->conn, MHD_HTTP_OK, json_pack("{s:b}", "removed", 1));
	}
	if (strcmp(method, "PUT") != 0 && strcmp(method, "POST") != 0)
		return ctl__reply_error(r->conn, MHD_HTTP_NOT_FOUND, "no such admin endpoint");
	if (!r->body || !r->len)
		return ctl__reply_error(r->conn, MHD_HTTP_BAD_REQUEST,
					"request body is empty (expected the DNS settings)");
	int rc = ctl_dns_parse(r->body, r->len, srv->domain, &d, err, sizeof(err));
	if (rc == -EINVAL)
		return ctl__reply_error(r->conn, MHD_HTTP_BAD_REQUEST, "dns: %s", err);
	if (rc)
		return ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
					strerror(-rc));
	char *text = ctl_dns_format(d, false);
	size_t n_records = d->n_records, n_routes = d->n_routes, n_search = d->n_search;
	bool magic = d->magic_dns;
	ctl_dns_free(d);
	if (!text)
		return MHD_NO;
	if (srv->dns_json && strcmp(text, srv->dns_json) == 0) {
		free(text);
		return ctl__reply_json(
		    r->conn, MHD_HTTP_OK,
		    json_pack("{s:b, s:I}", "updated", 0, "version", (json_int_t)srv->map_version));
	}
	if ((rc = publish(srv, text)))
		return ctl__reply_error(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
					"cannot store the DNS settings: %s", strerror(-rc));
	log_info("meshcontrol",
		 "DNS settings updated: MagicDNS %s, %zu records, %zu routes, %zu search "
		 "domains; map version %llu",
		 magic ? "on" : "off", n_records, n_routes, n_search,
		 (unsigned long long)srv->map_version);
	return ctl__reply_json(
	    r->conn, MHD_HTTP_OK,
	    json_pack("{s:b, s:I}", "updated", 1, "version", (json_int_t)srv->map_version));
}
