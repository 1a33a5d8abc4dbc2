/* Userspace mode, inbound TCP to a port that is not intercepted: proxied to
 * 127.0.0.1:port.  To behave like the kernel would, the peer's SYN is held until a
 * connection to the local service is made: when it succeeds the SYN goes to lwIP (an
 * on-demand listener accepts it, and the bridge takes the ready socket); when nothing
 * listens the peer gets an RST for its SYN, just as a closed port answers.  SYNs that
 * repeat while the local connect is pending are dropped (the peer retransmits). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netstack/internal.h"

#include "lwip/priv/tcp_priv.h"

#include "common/now.h"

enum { MAX_PROBES = 256, READY_TTL_MS = 10000 };

struct ns__probe {
	struct ns__probe *next;
	struct ns *ns;
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t syn_seq;
	int fd;
	uv_poll_t *poll; /* while connecting */
	bool ready;	 /* connected; the SYN went to lwIP; fd waits for the accept */
	uint64_t ready_ms;
	size_t syn_len;
	uint8_t syn[];
};

static void on_poll_closed(uv_handle_t *h)
{
	struct ns *ns = h->data;
	free(h);
	ns__handle_closed(ns);
}

static void probe_stop_poll(struct ns__probe *pr)
{
	if (!pr->poll)
		return;
	pr->poll->data = pr->ns;
	pr->ns->closing++;
	uv_close((uv_handle_t *)pr->poll, on_poll_closed);
	pr->poll = NULL;
}

static void probe_free(struct ns__probe *pr)
{
	struct ns *ns = pr->ns;
	for (struct ns__probe **pp = &ns->probes; *pp; pp = &(*pp)->next) {
		if (*pp == pr) {
			*pp = pr->next;
			break;
		}
	}
	ns->n_probes--;
	probe_stop_poll(pr);
	if (pr->fd >= 0)
		close(pr->fd);
	free(pr);
}

/* Answers the held SYN with RST|ACK, as a closed port does. */
static void probe_refuse(struct ns__probe *pr)
{
	ip_addr_t local, remote;
	ns__to_ip_addr(pr->family, pr->dst, &local);
	ns__to_ip_addr(pr->family, pr->src, &remote);
	tcp_rst(NULL, 0, pr->syn_seq + 1, &local, &remote, pr->dport, pr->sport);
	pr->ns->ctr.forward_refused++;
}

static void on_probe_writable(uv_poll_t *h, int status, int events)
{
	struct ns__probe *pr = h->data;
	struct ns *ns = pr->ns;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (status < 0 || getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
		probe_refuse(pr);
		probe_free(pr);
		ns__kick(ns);
		return;
	}
	probe_stop_poll(pr);
	pr->ready = true;
	pr->ready_ms = now_mono_ms();
	if (!ns__has_listener(ns, pr->dport) && ns__listen_forward(ns, pr->dport) < 0) {
		probe_refuse(pr);
		probe_free(pr);
		ns__kick(ns);
		return;
	}
	ns__to_lwip(ns, pr->syn, pr->syn_len);
}

static struct ns__probe *probe_find(struct ns *ns, int family, const uint8_t *src, uint16_t sport,
				    uint16_t dport)
{
	size_t alen = family == AF_INET ? 4 : 16;
	for (struct ns__probe *pr = ns->probes; pr; pr = pr->next)
		if (pr->family == family && pr->sport == sport && pr->dport == dport &&
		    memcmp(pr->src, src, alen) == 0)
			return pr;
	return NULL;
}

static void sweep(struct ns *ns)
{
	uint64_t now = now_mono_ms();
	for (struct ns__probe *pr = ns->probes, *next; pr; pr = next) {
		next = pr->next;
		if (pr->ready && now - pr->ready_ms > READY_TTL_MS)
			probe_free(pr);
	}
}

void ns__forward_syn(struct ns *ns, const struct ns_packet_info *pi, const uint8_t *pkt, size_t len)
{
	struct ns__probe *pr = probe_find(ns, pi->family, pi->src, pi->sport, pi->dport);
	if (pr) {
		if (pr->ready)
			ns__to_lwip(ns, pkt, len); /* a retransmitted SYN for a pcb lwIP has */
		return;
	}
	sweep(ns);
	if (ns->n_probes >= MAX_PROBES) {
		ns->ctr.drop[NS_DROP_NOMEM]++;
		return;
	}
	pr = calloc(1, sizeof(*pr) + len);
	if (!pr) {
		ns->ctr.drop[NS_DROP_NOMEM]++;
		return;
	}
	pr->ns = ns;
	pr->family = pi->family;
	memcpy(pr->src, pi->src, 16);
	memcpy(pr->dst, pi->dst, 16);
	pr->sport = pi->sport;
	pr->dport = pi->dport;
	pr->syn_seq = pi->tcp_seq;
	pr->syn_len = len;
	memcpy(pr->syn, pkt, len);
	pr->next = ns->probes;
	ns->probes = pr;
	ns->n_probes++;
	pr->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(pi->dport) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (pr->fd < 0 ||
	    (connect(pr->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS)) {
		probe_refuse(pr);
		probe_free(pr);
		ns__kick(ns);
		return;
	}
	pr->poll = malloc(sizeof(*pr->poll));
	if (!pr->poll || uv_poll_init_socket(ns->loop, pr->poll, pr->fd) < 0) {
		free(pr->poll);
		pr->poll = NULL;
		probe_free(pr);
		ns->ctr.drop[NS_DROP_NOMEM]++;
		return;
	}
	pr->poll->data = pr;
	uv_poll_start(pr->poll, UV_WRITABLE, on_probe_writable);
}

int ns__forward_take_fd(struct ns *ns, const struct tcp_pcb *pcb)
{
	int family;
	uint8_t src[16];
	ns__from_ip_addr(&pcb->remote_ip, &family, src);
	struct ns__probe *pr = probe_find(ns, family, src, pcb->remote_port, pcb->local_port);
	if (!pr || !pr->ready)
		return -1;
	int fd = pr->fd;
	pr->fd = -1;
	probe_free(pr);
	return fd;
}

void ns__forward_free_all(struct ns *ns)
{
	while (ns->probes)
		probe_free(ns->probes);
}
