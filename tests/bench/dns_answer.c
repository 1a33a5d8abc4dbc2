/* The dns-answer benchmark's driver (tests/bench/dns-answer builds it against a build's
 * dns/ and common/).  Three modes over the same 10 000 names node-0 … node-9999 in
 * tail.example (100.64.x.y):
 *   dns_answer hosts FILE             the names as a hosts file (for dnsmasq --addn-hosts)
 *   dns_answer inproc N               N A queries answered by dns_resolver_query in-process
 *   dns_answer serve PORT             answers UDP on 127.0.0.1:PORT with the resolver (the
 *                                     tiny loopback server beside dnsmasq)
 *   dns_answer load PORT N WINDOW     N A queries for random names to 127.0.0.1:PORT, at most
 *                                     WINDOW outstanding; every answer must be NOERROR with
 *                                     the name's address
 * inproc and load print "qps Q p50_us A p99_us B". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "dns/dns.h"

enum { NAMES = 10000 };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct addr_ip addr_of(int i)
{
	struct addr_ip a = { .family = AF_INET,
			     .bytes = { 100, 64, (uint8_t)(i / 256), (uint8_t)i } };

	return a;
}

static void random_bytes(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rand();
}

static struct dns_resolver *make_resolver(void)
{
	static struct addr_ip addrs[NAMES];
	static char names[NAMES][16];
	static struct dns_host hosts[NAMES];
	struct dns_view_config vc = { .domain = "tail.example", .hosts = hosts, .n_hosts = NAMES };
	struct dns_resolver_config rc = { .random = random_bytes };
	struct dns_resolver *r;
	struct dns_view *v;
	char err[DNS_ERR_MAX];

	for (int i = 0; i < NAMES; i++) {
		snprintf(names[i], sizeof(names[i]), "node-%d", i);
		addrs[i] = addr_of(i);
		hosts[i] = (struct dns_host){ names[i], &addrs[i], 1 };
	}
	if (dns_view_new(&vc, &v, err, sizeof(err)) < 0 || dns_resolver_new(&rc, &r) < 0) {
		fprintf(stderr, "dns_answer: %s\n", err);
		exit(1);
	}
	dns_resolver_set_view(r, v);
	return r;
}

/* The A query for node-i.tail.example with id. */
static uint8_t *make_query(int i, uint16_t id, size_t *len)
{
	char name[64];
	uint8_t *w = NULL;

	snprintf(name, sizeof(name), "node-%d.tail.example.", i);
	ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str(name), LDNS_RR_TYPE_A,
					 LDNS_RR_CLASS_IN, LDNS_RD);

	ldns_pkt_set_id(p, id);
	ldns_pkt2wire(&w, p, len);
	ldns_pkt_free(p);
	return w;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void report(uint64_t *lat, size_t n, uint64_t elapsed)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("qps %.0f p50_us %.1f p99_us %.1f\n", (double)n * 1e9 / (double)elapsed,
	       (double)lat[n / 2] / 1e3, (double)lat[n * 99 / 100] / 1e3);
}

static int inproc(size_t n)
{
	struct dns_resolver *r = make_resolver();
	struct addr_endpoint client = { .ip = addr_of(1), .port = 5353 };
	uint64_t *lat = calloc(n, sizeof(*lat)), t0 = now_ns();
	uint8_t *q[256];
	size_t qlen[256];

	/* the query bytes are made beforehand: what is timed is the resolver alone */
	for (int k = 0; k < 256; k++)
		q[k] = make_query(rand() % NAMES, (uint16_t)k, &qlen[k]);
	t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		struct dns_result res;
		uint64_t s = now_ns();

		dns_resolver_query(r, &client, q[i % 256], qlen[i % 256], DNS_UDP, 0, &res);
		lat[i] = now_ns() - s;
		if (res.kind != DNS_REPLY)
			return 1;
		dns_result_clear(&res);
	}
	report(lat, n, now_ns() - t0);
	return 0;
}

static int udp_socket(int port, bool bind_it)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || (bind_it ? bind(fd, (struct sockaddr *)&sa, sizeof(sa))
			       : connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0) {
		perror("dns_answer: socket");
		exit(1);
	}
	return fd;
}

static int serve(int port)
{
	struct dns_resolver *r = make_resolver();
	int fd = udp_socket(port, true);
	uint8_t buf[DNS_QUERY_MAX + 1];

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t k = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sl);
		struct addr_endpoint from;
		struct dns_result res;

		if (k < 0 || !addr_endpoint_from_sockaddr((struct sockaddr *)&ss, &from))
			continue;
		if (dns_resolver_query(r, &from, buf, (size_t)k, DNS_UDP, 0, &res) == 0 &&
		    res.kind == DNS_REPLY)
			sendto(fd, res.msg, res.len, 0, (struct sockaddr *)&ss, sl);
		dns_result_clear(&res);
	}
}

static int load(int port, size_t n, unsigned window)
{
	int fd = udp_socket(port, false);
	uint64_t *lat = calloc(n, sizeof(*lat)), sent_at[65536], t0;
	int name_of[65536];
	size_t sent = 0, got = 0, bad = 0;
	uint8_t buf[4096], *wire[NAMES];
	size_t wlen[NAMES];

	/* every name's query made beforehand, the id patched per send: the client's own cost
	 * stays small beside either server's */
	for (int i = 0; i < NAMES; i++)
		wire[i] = make_query(i, 0, &wlen[i]);
	t0 = now_ns();
	while (got < n) {
		while (sent < n && sent - got < window) {
			int i = rand() % NAMES;
			uint16_t id = (uint16_t)sent;

			LDNS_ID_SET(wire[i], id);
			name_of[id] = i;
			sent_at[id] = now_ns();
			if (send(fd, wire[i], wlen[i], 0) < 0)
				perror("send");
			sent++;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 2000) <= 0) {
			fprintf(stderr, "dns_answer: no answer in 2 s (%zu of %zu)\n", got, n);
			return 1;
		}
		ssize_t k = recv(fd, buf, sizeof(buf), 0);
		ldns_pkt *a = NULL;

		if (k < 12)
			continue;
		uint16_t id = LDNS_ID_WIRE(buf);

		lat[got++] = now_ns() - sent_at[id];
		if (ldns_wire2pkt(&a, buf, (size_t)k) != LDNS_STATUS_OK ||
		    ldns_pkt_get_rcode(a) != LDNS_RCODE_NOERROR || ldns_pkt_ancount(a) < 1 ||
		    memcmp(ldns_rdf_data(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(a), 0), 0)),
			   addr_of(name_of[id]).bytes, 4) != 0)
			bad++;
		ldns_pkt_free(a);
	}
	report(lat, n, now_ns() - t0);
	if (bad) {
		fprintf(stderr, "dns_answer: %zu wrong answers\n", bad);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	srand(1);
	if (argc == 3 && strcmp(argv[1], "hosts") == 0) {
		FILE *f = fopen(argv[2], "w");

		for (int i = 0; f && i < NAMES; i++)
			fprintf(f, "100.64.%d.%d node-%d.tail.example node-%d\n", i / 256, i % 256,
				i, i);
		return f && fclose(f) == 0 ? 0 : 1;
	}
	if (argc == 3 && strcmp(argv[1], "inproc") == 0)
		return inproc((size_t)atol(argv[2]));
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(atoi(argv[2]));
	if (argc == 5 && strcmp(argv[1], "load") == 0)
		return load(atoi(argv[2]), (size_t)atol(argv[3]), (unsigned)atoi(argv[4]));
	fprintf(stderr,
		"usage: dns_answer hosts FILE | inproc N | serve PORT | load PORT N WINDOW\n");
	return 2;
}
