/* MagicDNS on the node (dns.h): the view from each netmap, the host's resolvers from
 * resolv.conf, the resolver's results carried out on the libuv loop (answers to the
 * netstack, forwarded queries to upstreams over UDP), and its deadlines.  The TCP sides,
 * clients' streams and upstream connections, are in dns_tcp.c. */
#include "cmd/daemon/dns_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "cmd/daemon/dns_host.h"
#include "common/log.h"
#include "control/netmap/netmap.h"
#include "netstack/netstack.h"

static const char *const subject = "dns";
static struct log_ratelimit dns_rl = LOG_RATELIMIT_INIT(5000, 5);

static const uint8_t quad100[4] = { 100, 100, 100, 100 };

void meshd_dns_addresses(const struct ctl_netmap *nm, struct addr_ip *v4, struct addr_ip *v6)
{
	memset(v4, 0, sizeof(*v4));
	memset(v6, 0, sizeof(*v6));
	for (size_t i = 0; nm && i < nm->self.n_addrs; i++) {
		const struct addr_ip *a = &nm->self.addrs[i].ip;
		if (a->family == AF_INET && !v4->family) {
			v4->family = AF_INET;
			memcpy(v4->bytes, quad100, 4);
		} else if (a->family == AF_INET6 && !v6->family) {
			v6->family = AF_INET6;
			memcpy(v6->bytes, a->bytes, 6); /* the tailnet's /48 */
			v6->bytes[7] = 0x53;
			v6->bytes[15] = 0x53;
		}
	}
}

/* ---- the host's resolvers ---- */

static bool is_ours(const struct addr_ip *a)
{
	/* 100.100.100.100, or a P:53::53 (the IPv6 resolver of some tailnet /48) */
	static const uint8_t v6tail[10] = { 0x00, 0x53, [9] = 0x53 };
	return (a->family == AF_INET && memcmp(a->bytes, quad100, 4) == 0) ||
	       (a->family == AF_INET6 && memcmp(a->bytes + 6, v6tail, 10) == 0);
}

/* The host's resolvers (dns_host.c read them from its resolv.conf, or from the copy kept
 * while ours is in place), less our own addresses: a loop otherwise. */
static void set_upstreams(struct meshd_dns *d, const struct addr_endpoint *up, size_t n)
{
	for (size_t i = 0; i < n && d->n_host < DNS_VIEW_MAX_UPSTREAMS; i++) {
		if (is_ours(&up[i].ip)) {
			char text[ADDR_TEXT_MAX];
			addr_ip_format(&up[i].ip, text);
			log_info(subject, "the host's nameserver %s is our own resolver; skipped",
				 text);
			continue;
		}
		d->host[d->n_host++] = up[i];
	}
	if (!d->n_host)
		log_warn(subject,
			 "the host's resolv.conf names no nameserver: names outside the tailnet "
			 "get SERVFAIL");
	else
		log_info(subject, "%zu upstream resolver(s) from the host's resolv.conf",
			 d->n_host);
}

/* ---- the view ---- */

/* A node's name as a view host; false (logged) when control's name is not one DNS label. */
static bool node_host(const struct ctl_node *n, struct dns_host *h, struct addr_ip *addrs)
{
	char canon[DNS_NAME_TEXT];
	const char *why = "a name of more than one label";
	if (!n->name || !n->n_addrs || !dns_name_canonical(n->name, canon, &why) ||
	    strchr(canon, '.')) {
		log_warn_rl(&dns_rl, subject, "node '%s' has no DNS name: %s",
			    n->name ? n->name : "", n->name ? why : "no name");
		return false;
	}
	for (size_t i = 0; i < n->n_addrs; i++)
		addrs[i] = n->addrs[i].ip;
	*h = (struct dns_host){ n->name, addrs, n->n_addrs };
	return true;
}

void meshd_dns_apply_netmap(struct meshd_dns *d, const struct ctl_netmap *nm)
{
	if (!d) /* meshd is closing */
		return;
	size_t max = nm->n_peers + 1;
	struct dns_host *hosts = calloc(max, sizeof(*hosts));
	struct addr_ip *addrs = calloc(max * CTL_MAX_NODE_ADDRS, sizeof(*addrs));
	struct addr_prefix prefixes[2];
	struct addr_ip r4, r6;
	struct addr_endpoint host[DNS_VIEW_MAX_UPSTREAMS];
	size_t n_host = 0, n_prefixes = 0;
	struct dns_view_config vc = { .domain = nm->domain };
	struct dns_view *view = NULL;
	struct meshd_dns_parts parts = { 0 };
	char err[DNS_ERR_MAX];
	if (!hosts || !addrs)
		goto out;
	for (size_t i = 0; i < max; i++) {
		const struct ctl_node *n = i == 0 ? &nm->self : &nm->peers[i - 1];
		/* names are unique in the tailnet; a second one would make the view refuse all */
		bool dup = false;
		for (size_t k = 0; k < vc.n_hosts && !dup; k++)
			dup = n->name && strcasecmp(hosts[k].name, n->name) == 0;
		if (!dup && node_host(n, &hosts[vc.n_hosts], addrs + i * CTL_MAX_NODE_ADDRS))
			vc.n_hosts++;
	}
	vc.hosts = hosts;
	meshd_dns_addresses(nm, &r4, &r6);
	if (r4.family) /* the whole tailnet range: its reverse names are ours */
		prefixes[n_prefixes++] = (struct addr_prefix){ { AF_INET, { 100, 64 } }, 10 };
	if (r6.family) {
		prefixes[n_prefixes] = (struct addr_prefix){ r6, 48 };
		addr_prefix_mask(&prefixes[n_prefixes++]);
	}
	vc.prefixes = prefixes;
	vc.n_prefixes = n_prefixes;
	for (size_t i = 0; i < d->n_host; i++)
		host[n_host++] = d->host[i];
	vc.host_resolvers = host;
	vc.n_host_resolvers = n_host;
	/* control's DNS settings: extra records, split routes, search domains (dns_host.c);
	 * the view checks and bounds them (dns_view_new) */
	if (meshd_dns_view_fill(nm, &vc, &parts) < 0)
		goto out;
	if (!vc.domain) {
		log_warn(subject, "netmap %llu has no tailnet domain: names answered SERVFAIL",
			 (unsigned long long)nm->version);
		goto out;
	}
	int r = dns_view_new(&vc, &view, err, sizeof(err));
	if (r == -EINVAL)
		log_err(subject, "netmap %llu: %s; the previous names stay",
			(unsigned long long)nm->version, err);
	else if (r == 0)
		dns_resolver_set_view(d->res, view);
out:
	meshd_dns_parts_clear(&parts);
	free(hosts);
	free(addrs);
}

void meshd_dns_clear(struct meshd_dns *d)
{
	if (d)
		dns_resolver_set_view(d->res, NULL);
}

int meshd_dns_query_text(const struct meshd_dns *d, const char *name, const char *type, char **out,
			 char *err, size_t errlen)
{
	if (!d) { /* meshd is closing: the resolver went first */
		snprintf(err, errlen, "meshd is shutting down");
		return -ESHUTDOWN;
	}
	return dns_view_lookup_text(dns_resolver_view(d->res), name, type, out, err, errlen);
}

bool meshd_dns_serving(const struct meshd_dns *d)
{
	return d && d->ns && dns_resolver_view(d->res) != NULL;
}

/* ---- results ---- */

static void arm_expiry(struct meshd_dns *d);

static void udp_sent(uv_udp_send_t *req, int status)
{
	(void)status; /* a lost datagram is the client's retry, or the resolver's timeout */
	free(req);
}

static void send_upstream_udp(struct meshd_dns *d, struct dns_result *r)
{
	uv_udp_t *u = r->peer.ip.family == AF_INET ? &d->up4 : &d->up6;
	bool *open = r->peer.ip.family == AF_INET ? &d->up4_open : &d->up6_open;
	if (!*open) {
		d->c.upstream_errors++;
		return;
	}
	struct sockaddr_storage ss;
	addr_endpoint_to_sockaddr(&r->peer, &ss);
	struct {
		uv_udp_send_t req;
		uint8_t msg[];
	} *s = malloc(sizeof(*s) + r->len);
	if (!s) {
		d->c.upstream_errors++;
		return;
	}
	memcpy(s->msg, r->msg, r->len);
	uv_buf_t b = uv_buf_init((char *)s->msg, (unsigned)r->len);
	if (uv_udp_send(&s->req, u, &b, 1, (const struct sockaddr *)&ss, udp_sent) < 0) {
		d->c.upstream_errors++;
		free(s);
	}
}

void meshd__dns_result(void *ctx, struct dns_result *r)
{
	struct meshd_dns *d = ctx;
	switch (r->kind) {
	case DNS_DROP:
		if (r->reason)
			log_debug(subject, "dropped: %s", r->reason);
		break;
	case DNS_REPLY:
		if (r->tcp)
			meshd__dns_tcp_reply(d, &r->peer, r->msg, r->len);
		else if (!d->ns || ns_dns_send(d->ns, &r->peer, r->msg, r->len) < 0)
			d->c.replies_lost++;
		break;
	case DNS_FORWARD:
		if (r->tcp)
			meshd__dns_tcp_forward(d, &r->peer, r->msg, r->len);
		else
			send_upstream_udp(d, r);
		break;
	}
}

/* One call into the resolver's query/upstream side, its result carried out. */
void meshd__dns_handle(struct meshd_dns *d, const struct addr_endpoint *from, const uint8_t *msg,
		       size_t len, enum dns_transport t, bool upstream)
{
	struct dns_result r;
	uint64_t now = uv_now(d->loop);
	int rc = upstream ? dns_resolver_upstream(d->res, from, msg, len, t, now, &r)
			  : dns_resolver_query(d->res, from, msg, len, t, now, &r);
	if (rc == 0)
		meshd__dns_result(d, &r);
	dns_result_clear(&r);
	arm_expiry(d);
}

static void on_expiry(uv_timer_t *t)
{
	struct meshd_dns *d = t->data;
	dns_resolver_expire(d->res, uv_now(d->loop), meshd__dns_result, d);
	arm_expiry(d);
}

static void arm_expiry(struct meshd_dns *d)
{
	uint64_t due = dns_resolver_next_deadline(d->res), now = uv_now(d->loop);
	if (d->closing)
		return;
	if (due == UINT64_MAX)
		uv_timer_stop(&d->expiry);
	else
		uv_timer_start(&d->expiry, on_expiry, due > now ? due - now : 0, 0);
}

/* ---- UDP: clients through the netstack, upstreams on sockets of our own ---- */

static void on_client_datagram(void *ctx, const struct addr_endpoint *client, const uint8_t *msg,
			       size_t len)
{
	meshd__dns_handle(ctx, client, msg, len, DNS_UDP, false);
}

static void up_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct meshd_dns *d = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)d->udp_buf, sizeof(d->udp_buf));
}

static void up_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *sa,
		    unsigned flags)
{
	struct meshd_dns *d = u->data;
	struct addr_endpoint from;
	if (n <= 0 || !sa || (flags & UV_UDP_PARTIAL) || !addr_endpoint_from_sockaddr(sa, &from))
		return;
	meshd__dns_handle(d, &from, (const uint8_t *)buf->base, (size_t)n, DNS_UDP, true);
}

static bool up_open(struct meshd_dns *d, uv_udp_t *u, int family)
{
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)family };
	if (uv_udp_init(d->loop, u) < 0)
		return false;
	u->data = d;
	int r = uv_udp_bind(u, (const struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_udp_recv_start(u, up_alloc, up_recv);
	if (r < 0) {
		log_warn(subject, "upstream %s socket: %s", family == AF_INET ? "IPv4" : "IPv6",
			 uv_strerror(r));
		d->pending++;
		uv_close((uv_handle_t *)u, meshd__dns_handle_closed);
		return false;
	}
	return true;
}

/* ---- life ---- */

static void random_fn(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	randombytes_buf(buf, len);
}

int meshd_dns_new(uv_loop_t *loop, const struct addr_endpoint *upstream, size_t n_upstream,
		  struct meshd_dns **out)
{
	struct meshd_dns *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	struct dns_resolver_config rc = { .random = random_fn };
	int r = dns_resolver_new(&rc, &d->res);
	if (r < 0) {
		free(d);
		return r;
	}
	set_upstreams(d, upstream, n_upstream);
	uv_timer_init(loop, &d->expiry);
	d->expiry.data = d;
	d->up4_open = up_open(d, &d->up4, AF_INET);
	d->up6_open = up_open(d, &d->up6, AF_INET6);
	*out = d;
	return 0;
}

int meshd_dns_attach(struct meshd_dns *d, struct ns *ns, const struct ctl_netmap *nm)
{
	struct ns_dns_config nc = {
		.datagram = on_client_datagram,
		.accept = meshd__dns_tcp_accept,
		.ctx = d,
	};
	meshd_dns_detach(d);
	meshd_dns_addresses(nm, &nc.addr4, &nc.addr6);
	int r = ns_dns_start(ns, &nc);
	if (r < 0)
		return r;
	d->ns = ns;
	char a4[ADDR_TEXT_MAX] = "-", a6[ADDR_TEXT_MAX] = "-";
	if (nc.addr4.family)
		addr_ip_format(&nc.addr4, a4);
	if (nc.addr6.family)
		addr_ip_format(&nc.addr6, a6);
	log_info(subject, "answering on %s and %s, port 53 (this host only)", a4, a6);
	return 0;
}

void meshd_dns_detach(struct meshd_dns *d)
{
	d->ns = NULL;
	meshd__dns_tcp_close_clients(d);
}

void meshd__dns_release(struct meshd_dns *d)
{
	if (--d->pending == 0 && d->closing) {
		void (*done)(void *) = d->done;
		void *arg = d->done_arg;
		dns_resolver_free(d->res);
		free(d);
		if (done)
			done(arg);
	}
}

void meshd__dns_handle_closed(uv_handle_t *h)
{
	meshd__dns_release(h->data);
}

void meshd_dns_close(struct meshd_dns *d, void (*done)(void *arg), void *arg)
{
	d->closing = true;
	d->done = done;
	d->done_arg = arg;
	d->pending++; /* held until the end of this function */
	meshd_dns_detach(d);
	meshd__dns_tcp_close_upstreams(d);
	uv_handle_t *hs[] = { (uv_handle_t *)&d->expiry,
			      d->up4_open ? (uv_handle_t *)&d->up4 : NULL,
			      d->up6_open ? (uv_handle_t *)&d->up6 : NULL };
	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		if (!hs[i])
			continue;
		hs[i]->data = d;
		d->pending++;
		uv_close(hs[i], meshd__dns_handle_closed);
	}
	meshd__dns_release(d);
}

void meshd_dns_counters(const struct meshd_dns *d,
			void (*cb)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	if (!d) /* meshd is closing */
		return;
	const struct dns_counters *c = dns_resolver_counters(d->res);
	cb(ctx, "dns.answered", c->answered);
	cb(ctx, "dns.refused", c->refused);
	cb(ctx, "dns.formerr", c->formerr);
	cb(ctx, "dns.dropped", c->dropped);
	cb(ctx, "dns.forwarded", c->forwarded);
	cb(ctx, "dns.servfail", c->servfail);
	cb(ctx, "dns.upstream_answers", c->upstream_answers);
	cb(ctx, "dns.upstream_refused", c->upstream_refused);
	cb(ctx, "dns.tcp_retries", c->tcp_retries);
	cb(ctx, "dns.timeouts", c->timeouts);
	cb(ctx, "dns.tcp_clients", d->c.tcp_clients);
	cb(ctx, "dns.tcp_refused", d->c.tcp_refused);
	cb(ctx, "dns.tcp_bad_frames", d->c.tcp_bad_frames);
	cb(ctx, "dns.tcp_idle", d->c.tcp_idle);
	cb(ctx, "dns.replies_lost", d->c.replies_lost);
	cb(ctx, "dns.upstream_errors", d->c.upstream_errors);
}
