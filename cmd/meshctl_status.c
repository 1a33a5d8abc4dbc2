/* meshctl status: this node and its peers, as a table or as JSON. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"

static void human_bytes(uint64_t b, char *out, size_t len)
{
	const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void human_ago(int64_t t, char *out, size_t len)
{
	if (t <= 0) {
		snprintf(out, len, "never");
		return;
	}
	long long d = (long long)time(NULL) - t;
	if (d < 0)
		d = 0;
	if (d < 120)
		snprintf(out, len, "%llds ago", d);
	else if (d < 7200)
		snprintf(out, len, "%lldm ago", d / 60);
	else if (d < 172800)
		snprintf(out, len, "%lldh ago", d / 3600);
	else
		snprintf(out, len, "%lldd ago", d / 86400);
}

static void who(const struct ctl_lapi_node *n, char *out, size_t len)
{
	if (n->n_tags) {
		size_t o = 0;
		out[0] = '\0';
		for (size_t i = 0; i < n->n_tags && o < len; i++)
			o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : "", n->tags[i]);
	} else {
		snprintf(out, len, "%s", n->owner ? n->owner : "-");
	}
}

/* One line with every nonzero drop counter: what the filter and the stateful table refused
 * (fragments, TCP without state, packets for addresses that are not ours). */
static void print_drops(const struct ctl_lapi_status *st)
{
	bool any = false;
	for (size_t i = 0; i < st->n_counters; i++) {
		const struct ctl_lapi_counter *c = &st->counters[i];
		if (strncmp(c->name, "drop.", 5) != 0 || c->value == 0)
			continue;
		printf("%s %s %llu", any ? "," : "# inbound packets dropped:", c->name + 5,
		       (unsigned long long)c->value);
		any = true;
	}
	if (any)
		printf("\n");
}

/* The TURN allocation: "# relay: turn:HOST:3478?transport=udp (udp) allocated ADDR:PORT"
 * (or "turns:...:443?transport=tcp (tls)" when UDP did not pass), "... allocating" or
 * "... failed: WHY, retry in Ns"; nothing without a relay. */
static void print_alloc(const struct ctl_lapi_alloc *a)
{
	char url[CTL_RELAY_URL_MAX];
	if (a->state == CTL_LAPI_ALLOC_NONE)
		return;
	ctl_relay_url_format(&a->relay, url);
	printf("# relay: %s (%s) %s", url,
	       a->relay.transport == CTL_RELAY_TLS   ? "tls"
	       : a->relay.transport == CTL_RELAY_TCP ? "tcp"
						     : "udp",
	       ctl_lapi_alloc_state_name(a->state));
	if (a->state == CTL_LAPI_ALLOC_ALLOCATED && a->allocations > 1)
		printf(" %s (allocation %llu: earlier ones were lost or failed)", a->relayed,
		       (unsigned long long)a->allocations);
	else if (a->state == CTL_LAPI_ALLOC_ALLOCATED)
		printf(" %s", a->relayed);
	else if (a->state == CTL_LAPI_ALLOC_FAILED)
		printf(": %s, retry in %llds", a->why, (long long)a->retry_s);
	printf("\n");
}

int meshctl_status(int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf(
			    "Usage: meshctl status [--json]\n"
			    "Show this node and its peers: addresses, owner or tags, whether they\n"
			    "are online, the latest WireGuard handshake, bytes received and sent,\n"
			    "the path to each (direct ADDR:PORT, relay TURN-URI (udp|tcp|tls), or "
			    "none)\n"
			    "with the last discovery pong's round trip,\n"
			    "and whether this node serves SSH; then the inbound packets the\n"
			    "filter dropped, by reason (fragment, no_state, not_ours, ...), and\n"
			    "the relays control gave this node ('meshctl netcheck' probes them)\n"
			    "and the state of this node's allocation on the first one.\n"
			    "  --json   the full status as JSON\n");
			return 0;
		} else {
			fprintf(stderr, "meshctl status: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	struct ctl_lapi_status st;
	char *raw = NULL;
	if (meshctl_get_status(&st, &raw))
		return 1;
	if (json) {
		char *pretty = ctl_lapi_pretty(raw, strlen(raw), "status");
		printf("%s\n", pretty ? pretty : raw);
		free(pretty);
		free(raw);
		ctl_lapi_status_clear(&st);
		return 0;
	}
	free(raw);
	char addr[INET6_ADDRSTRLEN], w[256];
	if (st.control_url && !st.control_connected) {
		char ago[32];
		human_ago(st.netmap_time, ago, sizeof(ago));
		printf("# control server %s is unreachable; using the netmap received %s\n",
		       st.control_url, ago);
	}
	if (!st.self.name) {
		printf("Not logged in%s%s\n", st.auth_url ? ": log in at " : "",
		       st.auth_url ? st.auth_url : " (run 'meshctl up')");
		ctl_lapi_status_clear(&st);
		return 1;
	}
	if (st.error)
		printf("# %s\n", st.error);
	if (st.auth_url)
		printf("# to log in, visit %s\n", st.auth_url);
	meshctl_node_addr(&st.self, 0, addr, sizeof(addr));
	who(&st.self, w, sizeof(w));
	printf("%-16s %-20s %-24s %s, SSH %s, %s\n", addr, st.self.name, w, "self",
	       st.ssh ? "on" : "off", st.tun ? st.tun : "?");
	for (size_t i = 0; i < st.n_peers; i++) {
		const struct ctl_lapi_node *p = &st.peers[i];
		char hs[32], rx[32], tx[32];
		meshctl_node_addr(p, 0, addr, sizeof(addr));
		who(p, w, sizeof(w));
		human_ago(p->last_handshake, hs, sizeof(hs));
		human_bytes(p->rx_bytes, rx, sizeof(rx));
		human_bytes(p->tx_bytes, tx, sizeof(tx));
		char rtt[32] = "";
		if (p->rtt_ms >= 0)
			snprintf(rtt, sizeof(rtt), ", pong %lld ms", (long long)p->rtt_ms);
		if (p->path) /* how WireGuard reaches it: direct, through a relay, or not at all */
			printf("%-16s %-20s %-24s %s, handshake %s, rx %s, tx %s, path %s%s\n",
			       addr, p->name ? p->name : "?", w, p->online ? "online" : "offline",
			       hs, rx, tx, p->path, rtt);
		else /* an older meshd */
			printf("%-16s %-20s %-24s %s, handshake %s, rx %s, tx %s%s%s\n", addr,
			       p->name ? p->name : "?", w, p->online ? "online" : "offline", hs, rx,
			       tx, p->endpoint ? ", direct " : "", p->endpoint ? p->endpoint : "");
	}
	print_drops(&st);
	for (size_t i = 0; i < st.n_relays; i++) {
		char url[CTL_RELAY_URL_MAX];
		long long left = (long long)(st.relays[i].expires - (int64_t)time(NULL));
		ctl_relay_url_format(&st.relays[i].url, url);
		if (left > 0)
			printf("%s %s (credentials for %lldh%02lldm more)",
			       i ? "," : "# relays:", url, left / 3600, left % 3600 / 60);
		else
			printf("%s %s (credentials expired)", i ? "," : "# relays:", url);
	}
	if (st.n_relays)
		printf("\n");
	print_alloc(&st.alloc);
	ctl_lapi_status_clear(&st);
	return 0;
}
