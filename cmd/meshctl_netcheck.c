/* meshctl netcheck: how this machine's network looks from the relays control gave the node.
 * A STUN Binding request to each UDP relay (from one socket, so the NAT maps it once per
 * destination) gives the round trip and the address and port the relay saw.  The same
 * address and port towards every relay: the NAT maps endpoint-independently and direct
 * paths can be punched; a different port per relay: a "hard" NAT, and peers will reach
 * this node through the relay.  Relays over TCP or TLS are listed, not probed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"
#include "nat/stun.h"

enum { TRIES = 3, WAIT_MS = 700 };

struct probe {
	const struct ctl_lapi_relay *relay;
	struct sockaddr_storage to;
	socklen_t to_len;
	uint8_t txid[NAT_STUN_TXID];
	bool sent, answered;
	double rtt_ms;
	struct sockaddr_storage seen;
	char why[400]; /* no answer: why */
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool resolve(struct probe *p)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM }, *res;
	char port[8];
	snprintf(port, sizeof(port), "%u", p->relay->url.port);
	int rc = getaddrinfo(p->relay->url.host, port, &hints, &res);
	if (rc) {
		snprintf(p->why, sizeof(p->why), "cannot resolve %s: %s", p->relay->url.host,
			 gai_strerror(rc));
		return false;
	}
	memcpy(&p->to, res->ai_addr, res->ai_addrlen);
	p->to_len = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

/* A datagram from `from`: the answer to whichever probe it matches (transaction id and
 * the relay's address), checked; t is when it arrived. */
static void take_answer(struct probe *ps, size_t n, const uint8_t *buf, size_t len,
			const struct sockaddr_storage *from, double t, const double *start)
{
	struct nat_stun_msg m;
	char err[160];
	if (nat_stun_parse(buf, len, &m, err, sizeof(err)) != 0 || m.cls != NAT_STUN_SUCCESS ||
	    m.method != NAT_STUN_BINDING || nat_stun_check_fingerprint(&m) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct probe *p = &ps[i];
		if (!p->sent || p->answered || memcmp(m.txid, p->txid, NAT_STUN_TXID) != 0 ||
		    !nat_sockaddr_equal(&p->to, (const struct sockaddr *)from))
			continue;
		if (nat_stun_get_addr(&m, NAT_STUN_XOR_MAPPED_ADDRESS, &p->seen, err,
				      sizeof(err)) != 0 &&
		    nat_stun_get_addr(&m, NAT_STUN_MAPPED_ADDRESS, &p->seen, err, sizeof(err)) != 0)
			continue; /* not a usable answer: the next try, or "no answer" */
		p->answered = true;
		p->rtt_ms = t - start[i];
	}
}

static void run_probes(struct probe *ps, size_t n)
{
	int fd[2] = { socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0),
		      socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0) };
	double start[CTL_RELAYS_MAX] = { 0 };
	for (int round = 0; round < TRIES; round++) {
		double t0 = now_ms();
		for (size_t i = 0; i < n; i++) {
			struct probe *p = &ps[i];
			int s = fd[p->to.ss_family == AF_INET6];
			if (p->answered || p->why[0] || s < 0)
				continue;
			uint8_t out[NAT_STUN_HEADER + 8];
			struct nat_stun_builder b;
			if (!p->sent && getrandom(p->txid, sizeof(p->txid), 0) != sizeof(p->txid))
				continue;
			nat_stun_build_begin(&b, out, sizeof(out), NAT_STUN_BINDING,
					     NAT_STUN_REQUEST, p->txid);
			int len = nat_stun_build_end(&b, NULL, 0, true);
			if (len > 0 && sendto(s, out, (size_t)len, 0, (struct sockaddr *)&p->to,
					      p->to_len) == len) {
				p->sent = true;
				start[i] = now_ms();
			}
		}
		for (double left = WAIT_MS; left > 0; left = WAIT_MS - (now_ms() - t0)) {
			struct pollfd pf[2] = { { .fd = fd[0], .events = POLLIN },
						{ .fd = fd[1], .events = POLLIN } };
			if (poll(pf, 2, (int)left + 1) <= 0)
				break;
			for (int k = 0; k < 2; k++) {
				if (!(pf[k].revents & POLLIN))
					continue;
				uint8_t buf[NAT_STUN_MAX_LEN];
				struct sockaddr_storage from;
				socklen_t fl = sizeof(from);
				ssize_t r = recvfrom(fd[k], buf, sizeof(buf), 0,
						     (struct sockaddr *)&from, &fl);
				if (r <= 0)
					continue;
				take_answer(ps, n, buf, (size_t)r, &from, now_ms(), start);
			}
			bool all = true;
			for (size_t i = 0; i < n; i++)
				all &= ps[i].answered || ps[i].why[0] || !ps[i].sent;
			if (all)
				break;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!ps[i].answered && !ps[i].why[0])
			snprintf(ps[i].why, sizeof(ps[i].why), "no answer in %d tries of %d ms",
				 TRIES, WAIT_MS);
	for (int k = 0; k < 2; k++)
		if (fd[k] >= 0)
			close(fd[k]);
}

int meshctl_netcheck(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf(
			    "Usage: meshctl netcheck\n"
			    "Ask each UDP relay control gave this node (STUN Binding, %d tries of\n"
			    "%d ms) how it sees this machine: round trip, the address and port it\n"
			    "saw, and from those whether the NAT here keeps one mapping for every\n"
			    "destination (direct paths can be punched) or not (a hard NAT: peers\n"
			    "reach this node through the relay).\n",
			    TRIES, WAIT_MS);
			return 0;
		}
		fprintf(stderr, "meshctl netcheck: unexpected argument '%s'\n", argv[i]);
		return 2;
	}
	struct ctl_lapi_status st;
	if (meshctl_get_status(&st, NULL))
		return 1;
	if (st.n_relays == 0) {
		fprintf(stderr, "meshctl netcheck: control gave this node no relays "
				"(meshcontrol serve --relay)\n");
		ctl_lapi_status_clear(&st);
		return 1;
	}
	struct probe ps[CTL_RELAYS_MAX] = { 0 };
	size_t n = 0;
	for (size_t i = 0; i < st.n_relays; i++) {
		struct probe *p = &ps[n++];
		p->relay = &st.relays[i];
		if (p->relay->url.transport != CTL_RELAY_UDP)
			snprintf(p->why, sizeof(p->why), "not probed (STUN here is over UDP only)");
		else
			resolve(p);
	}
	run_probes(ps, n);
	/* Relays at one address and port are one destination: comparing them says nothing. */
	size_t answered = 0, dests = 0, first = n;
	bool varies = false;
	for (size_t i = 0; i < n; i++) {
		char url[CTL_RELAY_URL_MAX], seen[64];
		ctl_relay_url_format(&ps[i].relay->url, url);
		if (!ps[i].answered) {
			printf("relay %s: %s\n", url, ps[i].why);
			continue;
		}
		nat_sockaddr_format(&ps[i].seen, seen, sizeof(seen));
		printf("relay %s: %.1f ms, sees this machine as %s\n", url, ps[i].rtt_ms, seen);
		answered++;
		bool new_dest = true;
		for (size_t k = 0; k < i; k++)
			new_dest &=
			    !(ps[k].answered &&
			      nat_sockaddr_equal(&ps[k].to, (const struct sockaddr *)&ps[i].to));
		dests += new_dest;
		if (first == n)
			first = i;
		else if (new_dest &&
			 !nat_sockaddr_equal(&ps[first].seen, (const struct sockaddr *)&ps[i].seen))
			varies = true;
	}
	int rc = 0;
	if (answered == 0) {
		printf("mapping: unknown: no relay answered over UDP (UDP blocked? relays over "
		       "TCP or TLS remain)\n");
		rc = 1;
	} else if (varies) {
		printf("mapping: varies by destination (a hard NAT): peers will reach this node "
		       "through a relay\n");
	} else if (dests < 2) {
		printf("mapping: unknown: one relay address answered, two are needed to compare\n");
	} else {
		printf("mapping: endpoint-independent (the same address and port towards %zu "
		       "relay addresses): direct paths can be punched\n",
		       dests);
	}
	ctl_lapi_status_clear(&st);
	return rc;
}
