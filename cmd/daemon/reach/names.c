/* Relays named by DNS (turn:relay.example.com, turns:relay.example.com:443): the name is
 * resolved on libuv's thread pool (uv_getaddrinfo, so /etc/hosts and the host's resolver
 * as for any program), never on the loop.  The first IPv4 address is taken (IPv6 when the
 * name has none): WireGuard's socket speaks both, and a relay's two families are one relay.
 * An address is used for NAMES_TTL_MS, then asked for again when the relay is next started
 * (new credentials come every few hours, a failed allocation starts it again), the old one
 * in use meanwhile; a name that does not resolve is asked again after NAMES_RETRY_MS.
 *
 * Who decides what a name resolves to: the host's resolver, and whoever can answer in its
 * place.  A forged answer sends our TURN traffic elsewhere: it carries WireGuard (sealed end
 * to end) and discovery messages (sealed), and the TURN credentials are never sent (their
 * HMAC is, keyed by a 160-bit password); over TLS the relay's certificate must name the
 * name.  So a forger gets what an on-path attacker gets: the chance to drop.
 *
 * Bounded: at most CTL_RELAYS_MAX names (the netmap's limit); a name that leaves the netmap
 * is forgotten at the next miss when the table is full. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/daemon/reach/internal.h"

static const char *const subject = "reach";

enum {
	NAMES_TTL_MS = 5 * 60 * 1000,
	NAMES_RETRY_MS = 30 * 1000,
};

struct meshd_relay_name {
	struct meshd_reach *r; /* NULL once reach is closed: the answer is dropped */
	char host[CTL_RELAY_HOST_MAX];
	struct sockaddr_storage addr; /* port 0; family 0 while none is known */
	uint64_t asked_ms;	      /* when it was last asked for */
	bool pending;
	int error; /* the last answer's (UV_E*), 0 */
	uv_getaddrinfo_t req;
};

/* Whether host is an address: IPv4 dotted, or IPv6 (the URL's brackets already gone). */
static bool is_address(const char *host)
{
	struct in6_addr a;
	return inet_pton(AF_INET, host, &a) == 1 || inet_pton(AF_INET6, host, &a) == 1;
}

static void with_port(const struct sockaddr_storage *a, uint16_t port, struct sockaddr_storage *out)
{
	*out = *a;
	if (a->ss_family == AF_INET)
		((struct sockaddr_in *)out)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)out)->sin6_port = htons(port);
}

/* A name that did not resolve is asked again: the relays are started again, which asks. */
static void on_retry(uv_timer_t *t)
{
	meshd__relay_names_changed(t->data);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct meshd_relay_name *nm = req->data;
	struct meshd_reach *r = nm->r;
	const struct addrinfo *pick = NULL;
	struct sockaddr_storage a = { 0 };
	nm->pending = false;
	for (const struct addrinfo *ai = res; ai && status == 0; ai = ai->ai_next)
		if ((ai->ai_family == AF_INET && (!pick || pick->ai_family != AF_INET)) ||
		    (ai->ai_family == AF_INET6 && !pick))
			pick = ai;
	if (pick && pick->ai_addrlen <= sizeof(a))
		memcpy(&a, pick->ai_addr, pick->ai_addrlen);
	if (res)
		uv_freeaddrinfo(res);
	if (!r) { /* reach closed while it was asked */
		free(nm);
		return;
	}
	if (!a.ss_family) {
		if (nm->error != (status ? status : UV_EAI_NODATA))
			log_warn(subject,
				 "relay %s: cannot resolve the name: %s; asking again in %d s",
				 nm->host, status ? uv_strerror(status) : "no IPv4 or IPv6 address",
				 NAMES_RETRY_MS / 1000);
		nm->error = status ? status : UV_EAI_NODATA;
		uv_timer_start(&r->names_timer, on_retry, NAMES_RETRY_MS, 0);
		return;
	}
	bool changed = !meshd__same(&a, &nm->addr);
	nm->addr = a;
	nm->error = 0;
	if (changed) {
		char text[INET6_ADDRSTRLEN];
		const void *ip = a.ss_family == AF_INET
				     ? (const void *)&((struct sockaddr_in *)&a)->sin_addr
				     : (const void *)&((struct sockaddr_in6 *)&a)->sin6_addr;
		inet_ntop(a.ss_family, ip, text, sizeof(text));
		log_info(subject, "relay %s resolves to %s", nm->host, text);
		meshd__relay_names_changed(r);
	}
}

static struct meshd_relay_name *find(struct meshd_reach *r, const char *host)
{
	for (size_t i = 0; i < r->n_names; i++)
		if (strcmp(r->names[i]->host, host) == 0)
			return r->names[i];
	return NULL;
}

/* A slot for host: a new entry, or when the table is full, one not being asked for. */
static struct meshd_relay_name *add(struct meshd_reach *r, const char *host)
{
	struct meshd_relay_name *nm = NULL;
	size_t at = r->n_names;
	if (r->n_names == CTL_RELAYS_MAX) {
		for (at = 0; at < r->n_names && r->names[at]->pending; at++)
			;
		if (at == r->n_names)
			return NULL;
		free(r->names[at]);
		r->names[at] = NULL;
	}
	if (!(nm = calloc(1, sizeof(*nm))))
		return NULL;
	nm->r = r;
	snprintf(nm->host, sizeof(nm->host), "%s", host);
	nm->req.data = nm;
	r->names[at] = nm;
	if (at == r->n_names)
		r->n_names++;
	return nm;
}

static void ask(struct meshd_reach *r, struct meshd_relay_name *nm, uint64_t now)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
	nm->asked_ms = now;
	int rc = uv_getaddrinfo(r->loop, &nm->req, on_resolved, nm->host, NULL, &hints);
	if (rc == 0) {
		nm->pending = true;
	} else {
		log_warn(subject, "relay %s: cannot resolve the name: %s; asking again in %d s",
			 nm->host, uv_strerror(rc), NAMES_RETRY_MS / 1000);
		uv_timer_start(&r->names_timer, on_retry, NAMES_RETRY_MS, 0);
	}
}

int meshd__relay_addr(struct meshd_reach *r, const struct ctl_relay_url *u,
		      struct sockaddr_storage *out)
{
	if (is_address(u->host)) {
		struct ctl_endpoint e;
		char text[CTL_ENDPOINT_MAX + 8];
		snprintf(text, sizeof(text), strchr(u->host, ':') ? "[%s]:%u" : "%s:%u", u->host,
			 u->port);
		if (!ctl_endpoint_parse(text, &e, NULL, 0))
			return -EINVAL;
		meshd__endpoint_to_sockaddr(&e, out);
		return 0;
	}
	uint64_t now = uv_now(r->loop);
	struct meshd_relay_name *nm = find(r, u->host);
	if (!nm && !(nm = add(r, u->host)))
		return -ENOMEM;
	uint64_t wait = nm->addr.ss_family ? NAMES_TTL_MS : NAMES_RETRY_MS;
	if (!nm->pending && (nm->asked_ms == 0 || now >= nm->asked_ms + wait))
		ask(r, nm, now);
	if (!nm->addr.ss_family)
		return nm->pending ? -EAGAIN : -EHOSTUNREACH;
	with_port(&nm->addr, u->port, out);
	return 0;
}

void meshd__relay_names_close(struct meshd_reach *r)
{
	for (size_t i = 0; i < r->n_names; i++) {
		struct meshd_relay_name *nm = r->names[i];
		if (nm->pending) { /* on_resolved frees it (UV_ECANCELED when cancelled in time) */
			uv_cancel((uv_req_t *)&nm->req);
			nm->r = NULL;
		} else {
			free(nm);
		}
		r->names[i] = NULL;
	}
	r->n_names = 0;
}
