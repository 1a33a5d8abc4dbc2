/* dns/: MagicDNS's resolver core, without I/O.  The caller (the netstack, later) hands it the
 * bytes of a DNS query that reached the tailnet resolver address and carries out what it
 * is told: send these bytes back to the client, send these bytes to that upstream, or drop.
 * No sockets, no clock reads (the time is a parameter), no randomness of its own (ids come
 * from the caller's function); DNS wire format is read and written with ldns.
 *
 *	struct dns_view_config vc = { .domain = "tail.example", .hosts = h, .n_hosts = n, ... };
 *	char err[DNS_ERR_MAX];
 *	if (dns_view_new(&vc, &view, err, sizeof(err)) < 0)
 *		log_err("dns", "%s", err);		// quotes the bad name
 *	dns_resolver_new(&rc, &res);			// limits, timeout, random ids
 *	dns_resolver_set_view(res, view);		// a new netmap: a new view, the old one
 *freed
 *
 *	struct dns_result r;
 *	dns_resolver_query(res, &client, bytes, len, DNS_UDP, now_ms, &r);
 *	switch (r.kind) {
 *	case DNS_REPLY:   send r.msg to r.peer (the client) ...
 *	case DNS_FORWARD: send r.msg to r.peer (an upstream), over TCP when r.tcp ...
 *	case DNS_DROP:    nothing; r.reason says why, and a counter went up
 *	}
 *	dns_result_clear(&r);
 *	// an upstream's datagram or TCP message:
 *	dns_resolver_upstream(res, &from, bytes, len, DNS_UDP, now_ms, &r);  // REPLY / FORWARD /
 *DROP
 *	// at dns_resolver_next_deadline(): SERVFAIL to the clients of expired queries
 *	dns_resolver_expire(res, now_ms, on_result, ctx);
 *
 * What is answered here and what is forwarded (the tailnet domain "D", a peer "p"):
 *  - A/AAAA for "p" and "p.D", and for the extra records' names; NODATA (NOERROR, no answer,
 *    D's SOA in authority) for a known name without that family or for another type;
 *    NXDOMAIN with D's SOA for an unknown name in D; SOA for D itself.
 *  - PTR for any address of the view, under in-addr.arpa and ip6.arpa; NXDOMAIN (no SOA: the
 *    reverse zones are not ours to describe) for an unknown address inside the view's
 *    tailnet prefixes; other reverse names are forwarded.
 *  - Refused (REFUSED, with the reason counted): ANY (RFC 8482: a cheap query for an
 *    amplified answer), AXFR/IXFR, a class other than IN.  NOTIMP: an opcode other than
 *    QUERY.  FORMERR: not exactly one question, or what ldns cannot parse.  BADVERS: EDNS
 *    version above 0 (RFC 6891 6.1.3).  Dropped, never answered: less than a header, a
 *    response (QR set: answering answers makes loops), a query over DNS_QUERY_MAX bytes.
 *  - Everything else goes upstream: the split route with the longest matching suffix, else
 *    the host's resolvers; with neither, SERVFAIL.
 *  - EDNS (RFC 6891): an OPT in the query gets one in the answer (our UDP size
 *    DNS_UDP_ADVERTISE); the client's UDP size (at least 512, 512 without OPT) bounds a UDP
 *    answer, and one that does not fit goes out as header and question with TC set, so the
 *    client asks again over TCP.
 *
 * Who can send queries, and the most they can make us spend: any tailnet peer the packet
 * filter lets through, and any local process.  A query costs one ldns parse of at most
 * DNS_QUERY_MAX bytes and one answer of at most 64 KiB built (a name has at most
 * DNS_VIEW_MAX_ADDRS addresses, so a real answer is a few KiB); nothing is kept for an
 * answered query.  A forwarded query keeps one in-flight entry (its bytes, at most
 * DNS_QUERY_MAX) until the answer or the timeout: at most max_inflight entries in all and
 * max_per_client per client address, so max_inflight * DNS_QUERY_MAX bytes (1 MiB with the
 * defaults) and one client cannot take more than its share.  Past either bound a query is
 * answered SERVFAIL at once and counted.  An upstream's answer counts only when it comes
 * from the upstream we asked, with our id (random, unique among those in flight to that
 * upstream) and the same question, so an off-path spoofer must guess a 16-bit id and the
 * source address, and hit the question too.
 *
 * Errors are negative errno: -EINVAL (a bad view, with the reason in err), -ENOMEM. */
#ifndef MESH_DNS_DNS_H
#define MESH_DNS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

enum {
	/* RFC 1035 2.3.4: a name is at most 255 bytes on the wire, so 253 as text without the
	 * trailing dot; a label at most 63. */
	DNS_NAME_MAX = 253,
	DNS_LABEL_MAX = 63,
	/* Room for the text of a name with its NUL. */
	DNS_NAME_TEXT = DNS_NAME_MAX + 1,
	/* View bounds: control's netmap is authenticated but still bounded here. */
	DNS_VIEW_MAX_NAMES = 100000,
	DNS_VIEW_MAX_ADDRS = 32, /* per name */
	DNS_VIEW_MAX_ROUTES = 256,
	DNS_VIEW_MAX_UPSTREAMS = 8, /* per route, and the host's */
	DNS_VIEW_MAX_SEARCH = 8,
	DNS_VIEW_MAX_PREFIXES = 8,
	/* A query larger than this is dropped: real ones are well under 512 bytes, and an
	 * in-flight entry keeps its query for a TCP retry. */
	DNS_QUERY_MAX = 4096,
	/* The UDP size we advertise in OPT, and the most we send over UDP whatever the client
	 * says (DNS flag day 2020: no IP fragmentation). */
	DNS_UDP_ADVERTISE = 1232,
	/* Without OPT a UDP answer is at most 512 bytes (RFC 1035 4.2.1). */
	DNS_UDP_PLAIN = 512,
	/* A TCP message's 16-bit length. */
	DNS_TCP_MAX = 65535,
	DNS_TTL_DEFAULT = 600,
	DNS_ERR_MAX = 384,
};

/* Resolver defaults (dns_resolver_config fields left 0). */
enum {
	DNS_INFLIGHT_DEFAULT = 256,
	DNS_PER_CLIENT_DEFAULT = 64,
	DNS_TIMEOUT_MS_DEFAULT = 5000,
};

/* A name and its addresses.  For a peer the name is one label ("my-server"), answered as
 * itself and under the tailnet domain; for an extra record it is a full name. */
struct dns_host {
	const char *name;
	const struct addr_ip *addrs;
	size_t n_addrs;
};

/* Queries for names under suffix (and suffix itself) go to these resolvers. */
struct dns_route {
	const char *suffix;
	const struct addr_endpoint *upstreams;
	size_t n_upstreams;
};

/* What the caller knows of the tailnet's DNS; copied by dns_view_new(). */
struct dns_view_config {
	const char *domain;	      /* the tailnet domain, e.g. "tail1234.mesh.example" */
	const struct dns_host *hosts; /* peers (and this node): one label each */
	size_t n_hosts;
	const struct dns_host *records; /* extra records: full names */
	size_t n_records;
	const struct dns_route *routes; /* split DNS */
	size_t n_routes;
	const char *const *search; /* search domains, for the host's configuration */
	size_t n_search;
	const struct addr_endpoint *host_resolvers; /* the host's, read once at start */
	size_t n_host_resolvers;
	const struct addr_prefix *prefixes; /* tailnet ranges: their reverse names are ours */
	size_t n_prefixes;
	uint32_t ttl; /* of our answers; 0 = DNS_TTL_DEFAULT */
};

struct dns_view;

/* A view of cfg (names checked and lowercased, sorted for O(log n) lookups); -EINVAL with
 * one sentence quoting the bad input in err, or -ENOMEM. */
int dns_view_new(const struct dns_view_config *cfg, struct dns_view **out, char *err,
		 size_t errlen);

/* Frees v (NULL is fine). */
void dns_view_free(struct dns_view *v);

/* The view's search domains (lowercase, no trailing dot); *n gets their count. */
const char *const *dns_view_search(const struct dns_view *v, size_t *n);

/* The canonical form of a name as text: lowercase, one trailing dot dropped, labels of 1-63
 * bytes of letters, digits, '-' or '_', at most DNS_NAME_MAX bytes.  False with *why. */
bool dns_name_canonical(const char *name, char out[static DNS_NAME_TEXT], const char **why);

enum dns_transport { DNS_UDP, DNS_TCP };

enum dns_result_kind {
	DNS_DROP,    /* nothing to send; reason says why */
	DNS_REPLY,   /* send msg to peer, the client, on the transport it asked on */
	DNS_FORWARD, /* send msg to peer, an upstream, over TCP when tcp */
};

struct dns_result {
	enum dns_result_kind kind;
	struct addr_endpoint peer;
	bool tcp;
	uint8_t *msg; /* malloc'd; dns_result_clear() frees it */
	size_t len;
	const char *reason; /* static text: why dropped, refused or failed; NULL when answered */
};

/* Frees r's message and zeroes it. */
void dns_result_clear(struct dns_result *r);

/* Fills buf with len random bytes (query ids; libsodium in meshd). */
typedef void dns_random_fn(void *ctx, uint8_t *buf, size_t len);

struct dns_resolver_config {
	unsigned max_inflight;	 /* forwarded queries waiting for an answer, in all */
	unsigned max_per_client; /* ... from one client address */
	unsigned timeout_ms;	 /* after which the client gets SERVFAIL */
	dns_random_fn *random;	 /* required */
	void *random_ctx;
};

/* What happened to queries, by reason (meshctl status shows them). */
struct dns_counters {
	uint64_t answered; /* from the view: A/AAAA/PTR/SOA, NODATA, NXDOMAIN */
	uint64_t refused;  /* REFUSED, NOTIMP, BADVERS */
	uint64_t formerr;
	uint64_t dropped; /* not answered at all: short, a response, too big */
	uint64_t forwarded;
	uint64_t servfail; /* no upstream, table full, over the client's share, timeout */
	uint64_t upstream_answers;
	uint64_t upstream_refused; /* unknown id, wrong source or question, unparsable */
	uint64_t tcp_retries;	   /* a truncated UDP answer asked again over TCP */
	uint64_t timeouts;
};

struct dns_resolver;

/* A resolver with no view yet (every query SERVFAIL until one is set); -EINVAL without a
 * random function, -ENOMEM. */
int dns_resolver_new(const struct dns_resolver_config *cfg, struct dns_resolver **out);

/* Frees r, its view and its in-flight queries (NULL is fine). */
void dns_resolver_free(struct dns_resolver *r);

/* Takes ownership of v and frees the view before it.  Queries in flight stay: their
 * upstreams' answers still reach their clients. */
void dns_resolver_set_view(struct dns_resolver *r, struct dns_view *v);

/* The bytes of a query from client, received over t: fills res (see the top of this file).
 * Returns 0, or -ENOMEM (res is DROP then). */
int dns_resolver_query(struct dns_resolver *r, const struct addr_endpoint *client, const uint8_t *q,
		       size_t len, enum dns_transport t, uint64_t now_ms, struct dns_result *res);

/* The bytes of a message from the upstream from, received over t: REPLY to the client of
 * the matching query (the client's id back; TC and cut to the client's size when it does
 * not fit), FORWARD the same query over TCP when a UDP answer came truncated, or DROP with
 * the reason (nothing of ours matches: an off-path spoofer's guess).  0 or -ENOMEM. */
int dns_resolver_upstream(struct dns_resolver *r, const struct addr_endpoint *from,
			  const uint8_t *msg, size_t len, enum dns_transport t, uint64_t now_ms,
			  struct dns_result *res);

typedef void dns_result_fn(void *ctx, struct dns_result *res);

/* Ends the queries whose time is up at now_ms: each client gets a SERVFAIL handed to fn (fn
 * may keep nothing of res past its return: it is cleared after).  Returns how many. */
size_t dns_resolver_expire(struct dns_resolver *r, uint64_t now_ms, dns_result_fn *fn, void *ctx);

/* When dns_resolver_expire() has something to do; UINT64_MAX when nothing is in flight. */
uint64_t dns_resolver_next_deadline(const struct dns_resolver *r);

/* Queries in flight now. */
size_t dns_resolver_inflight(const struct dns_resolver *r);

const struct dns_counters *dns_resolver_counters(const struct dns_resolver *r);

/* The view in use (NULL before the first); the resolver keeps it. */
const struct dns_view *dns_resolver_view(const struct dns_resolver *r);

/* NAME of TYPE ("A", "AAAA", "PTR", ...; NULL = A; an IP address stands for its reverse
 * name, PTR by default) asked of v alone, as ldns prints the
 * answer (dig's format) in *out (malloc'd); a name v leaves to an upstream gets one line
 * that says where it would go (nothing is sent).  -EINVAL with why in err (an unknown
 * type, a bad name), -ENOMEM. */
int dns_view_lookup_text(const struct dns_view *v, const char *name, const char *type, char **out,
			 char *err, size_t errlen);

/* DNS over TCP (RFC 1035 4.2.2): a message behind its 16-bit length.  Looks at the len
 * bytes buffered from a stream: 1 when a whole message is there (*msg_len bytes from
 * buf + 2), 0 when more are needed, -EBADMSG for a zero length or -EMSGSIZE for one over
 * max (*why says which; the stream is unusable after either). */
int dns_tcp_frame(const uint8_t *buf, size_t len, size_t max, size_t *msg_len, const char **why);

#endif
