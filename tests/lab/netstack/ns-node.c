/* ns-node: a small node daemon for the netstack lab tests and benchmark.  It wires a wg/
 * device to a netstack (decrypted packets -> ns_input, netstack output -> wg_device_send),
 * serves the WireGuard UAPI on /var/run/wireguard/<name>.sock so the stock `wg` tool
 * configures it, and registers test handlers through ns_listen():
 *   --banner-port P   writes "MESH-NETSTACK-HANDLER <port>\n", then echoes what it reads
 *   --sink-port P     reads and discards; on EOF writes "bytes=<n>\n" and closes
 * Modes: --tun NAME (TUN mode) or --userspace (no TUN; --socks PATH starts SOCKS5 on that
 * Unix socket, for our own uid).
 *
 *   ns-node --name wgX --listen-port 51820 --addr4 100.64.0.1 --addr6 fd7a::1
 *           [--route 100.64.0.0/10 ...] (--tun NAME | --userspace [--socks PATH])
 *           [--banner-port 22] [--sink-port 9000]
 * Prints "ready" on stdout once everything is up; SIGTERM/SIGINT stop it cleanly. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "netstack/netstack.h"
#include "wg/wg.h"

struct node {
	uv_loop_t *loop;
	struct wg_device *dev;
	struct ns *ns;
	uv_signal_t sigterm, sigint;
	uint16_t banner_port, sink_port;
};

struct handler {
	struct node *node;
	uv_poll_t poll;
	int fd;
	bool sink;
	uint64_t bytes;
	uint8_t buf[65536];
};

static void on_handler_closed(uv_handle_t *h)
{
	struct handler *hd = h->data;
	close(hd->fd);
	free(hd);
}

static void write_all(int fd, const void *d, size_t n)
{
	const uint8_t *p = d;
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			usleep(1000);
			continue;
		}
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void on_handler_readable(uv_poll_t *h, int status, int events)
{
	struct handler *hd = h->data;
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(hd->fd, hd->buf, sizeof(hd->buf), MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			if (hd->sink) {
				char line[64];
				int len = snprintf(line, sizeof(line), "bytes=%llu\n",
						   (unsigned long long)hd->bytes);
				write_all(hd->fd, line, (size_t)len);
			}
			uv_close((uv_handle_t *)&hd->poll, on_handler_closed);
			return;
		}
		hd->bytes += (uint64_t)n;
		if (!hd->sink)
			write_all(hd->fd, hd->buf, (size_t)n);
	}
}

static void on_accept(void *ctx, int fd, const struct ns_packet_info *info)
{
	struct node *node = ctx;
	struct handler *hd = calloc(1, sizeof(*hd));
	if (!hd) {
		close(fd);
		return;
	}
	hd->node = node;
	hd->fd = fd;
	hd->sink = info->dport == node->sink_port;
	char src[INET6_ADDRSTRLEN];
	inet_ntop(info->family, info->src, src, sizeof(src));
	log_info("ns-node", "handler: connection from [%s]:%u to port %u", src, info->sport,
		 info->dport);
	if (!hd->sink) {
		char banner[64];
		int len =
		    snprintf(banner, sizeof(banner), "MESH-NETSTACK-HANDLER %u\n", info->dport);
		write_all(fd, banner, (size_t)len);
	}
	uv_poll_init_socket(node->loop, &hd->poll, fd);
	hd->poll.data = hd;
	uv_poll_start(&hd->poll, UV_READABLE, on_handler_readable);
}

/* wg -> netstack */
static void on_wg_recv(void *ctx, const uint8_t *pkt, size_t len)
{
	struct node *node = ctx;
	if (node->ns)
		ns_input(node->ns, pkt, len);
}

/* netstack -> wg */
static int on_ns_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct node *node = ctx;
	return wg_device_send(node->dev, pkt, len);
}

static size_t on_ns_send_batch(void *ctx, const struct iovec *pkts, size_t n)
{
	struct node *node = ctx;
	return wg_device_send_batch(node->dev, pkts, n);
}

static void log_counter(void *ctx, const char *name, uint64_t value)
{
	if (value)
		log_info("ns-node", "counter %s %llu", name, (unsigned long long)value);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct node *node = s->data;
	log_info("ns-node", "signal %d: stopping", signum);
	struct ns_counters c;
	ns_get_counters(node->ns, &c);
	ns_counters_foreach(&c, log_counter, NULL);
	ns_free(node->ns);
	node->ns = NULL;
	wg_device_free(node->dev);
	uv_close((uv_handle_t *)&node->sigterm, NULL);
	uv_close((uv_handle_t *)&node->sigint, NULL);
}

static bool socks_allow_self(void *ctx, uid_t uid, gid_t gid)
{
	(void)ctx;
	(void)gid;
	return uid == geteuid();
}

static bool parse_prefix(const char *arg, struct addr_prefix *p)
{
	const char *why;
	if (!addr_prefix_parse(arg, p, &why)) {
		fprintf(stderr, "ns-node: '%s': %s\n", arg, why);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, 0, 'n' },
		{ "listen-port", required_argument, 0, 'l' },
		{ "addr4", required_argument, 0, '4' },
		{ "addr6", required_argument, 0, '6' },
		{ "route", required_argument, 0, 'r' },
		{ "tun", required_argument, 0, 't' },
		{ "userspace", no_argument, 0, 'u' },
		{ "socks", required_argument, 0, 's' },
		{ "banner-port", required_argument, 0, 'b' },
		{ "sink-port", required_argument, 0, 'k' },
		{ "mtu", required_argument, 0, 'm' },
		{ 0, 0, 0, 0 },
	};
	struct node node = { 0 };
	struct ns_config cfg = { .mode = NS_MODE_TUN, .tun_fd = -1 };
	const char *name = "nsnode";
	uint16_t listen_port = 51820;
	const char *socks = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			name = optarg;
			break;
		case 'l':
			listen_port = (uint16_t)atoi(optarg);
			break;
		case '4':
			if (!parse_prefix(optarg, &cfg.addr4) || cfg.addr4.ip.family != AF_INET)
				return 2;
			break;
		case '6':
			if (!parse_prefix(optarg, &cfg.addr6) || cfg.addr6.ip.family != AF_INET6)
				return 2;
			break;
		case 'r':
			if (cfg.n_routes == NS_MAX_ROUTES ||
			    !parse_prefix(optarg, &cfg.routes[cfg.n_routes++]))
				return 2;
			break;
		case 't':
			cfg.mode = NS_MODE_TUN;
			cfg.tun_name = optarg;
			break;
		case 'u':
			cfg.mode = NS_MODE_USERSPACE;
			break;
		case 's':
			socks = optarg;
			break;
		case 'b':
			node.banner_port = (uint16_t)atoi(optarg);
			break;
		case 'k':
			node.sink_port = (uint16_t)atoi(optarg);
			break;
		case 'm':
			cfg.mtu = (uint32_t)atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: see the comment atop tests/lab/netstack/ns-node.c\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	node.loop = uv_default_loop();
	struct wg_device_config wcfg = { .name = name, .listen_port = listen_port };
	struct wg_device_ops ops = { .recv = on_wg_recv };
	int r = wg_device_new(node.loop, &wcfg, &ops, &node, &node.dev);
	if (r < 0) {
		fprintf(stderr, "ns-node: wg device: %s\n", strerror(-r));
		return 1;
	}
	mkdir("/var/run/wireguard", 0755);
	char path[256];
	snprintf(path, sizeof(path), "/var/run/wireguard/%s.sock", name);
	r = wg_device_uapi_start(node.dev, path);
	if (r < 0) {
		fprintf(stderr, "ns-node: UAPI %s: %s\n", path, strerror(-r));
		return 1;
	}
	cfg.send = on_ns_send;
	cfg.send_batch = on_ns_send_batch;
	cfg.send_ctx = &node;
	r = ns_new(node.loop, &cfg, &node.ns);
	if (r < 0) {
		fprintf(stderr, "ns-node: netstack: %s\n", strerror(-r));
		return 1;
	}
	if (node.banner_port && (r = ns_listen(node.ns, node.banner_port, on_accept, &node)) < 0) {
		fprintf(stderr, "ns-node: listen %u: %s\n", node.banner_port, strerror(-r));
		return 1;
	}
	if (node.sink_port && (r = ns_listen(node.ns, node.sink_port, on_accept, &node)) < 0) {
		fprintf(stderr, "ns-node: listen %u: %s\n", node.sink_port, strerror(-r));
		return 1;
	}
	if (socks) {
		r = ns_socks5_start(node.ns, socks, (gid_t)-1, socks_allow_self, NULL);
		if (r < 0) {
			fprintf(stderr, "ns-node: socks5: %s\n", strerror(-r));
			return 1;
		}
	}
	uv_signal_init(node.loop, &node.sigterm);
	uv_signal_init(node.loop, &node.sigint);
	node.sigterm.data = node.sigint.data = &node;
	uv_signal_start(&node.sigterm, on_signal, SIGTERM);
	uv_signal_start(&node.sigint, on_signal, SIGINT);
	printf("ready tun=%s\n", ns_tun_name(node.ns));
	fflush(stdout);
	uv_run(node.loop, UV_RUN_DEFAULT);
	uv_loop_close(node.loop);
	return 0;
}
