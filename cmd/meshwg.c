/* meshwg: our wg/ device bound to a plain TUN interface, driven exactly like wireguard-go:
 *
 *	meshwg [--time-scale N] [--log-level LEVEL] IFACE
 *
 * creates the TUN device IFACE (IFF_TUN | IFF_NO_PI), serves the UAPI socket at
 * /var/run/wireguard/IFACE.sock so `wg show/set/setconf IFACE` work unchanged, and runs in
 * the foreground until SIGINT or SIGTERM.  The interface is configured with ip(8) as
 * usual.  --time-scale is test-only: protocol timers run N times faster.
 *
 * The TUN code is deliberately minimal and local to this program; netstack/ owns the real
 * TUN module. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "wg/wg.h"

enum { TUN_BATCH = 64, TUN_MTU_MAX = 65535 };

struct meshwg {
	uv_loop_t *loop;
	struct wg_device *dev;
	int tun_fd;
	uv_poll_t tun_poll;
	uv_signal_t sigint, sigterm;
	char ifname[IFNAMSIZ];
	uint64_t tun_write_errors;
	uint8_t *rx_bufs;
};

static int tun_open(const char *name, char out_name[IFNAMSIZ])
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	snprintf(out_name, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
}

static void on_decrypted(void *ctx, const uint8_t *pkt, size_t len)
{
	struct meshwg *m = ctx;
	if (write(m->tun_fd, pkt, len) < 0)
		m->tun_write_errors++;
}

static void on_tun_readable(uv_poll_t *h, int status, int events)
{
	struct meshwg *m = h->data;
	struct iovec pkts[TUN_BATCH];
	size_t n = 0;

	if (status < 0)
		return;
	/* Drain up to a batch: the device queues everything and flushes with sendmmsg(). */
	while (n < TUN_BATCH) {
		uint8_t *buf = m->rx_bufs + n * TUN_MTU_MAX;
		ssize_t r = read(m->tun_fd, buf, TUN_MTU_MAX);
		if (r <= 0)
			break;
		pkts[n].iov_base = buf;
		pkts[n].iov_len = (size_t)r;
		n++;
	}
	if (n)
		wg_device_send_batch(m->dev, pkts, n);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct meshwg *m = s->data;
	struct wg_device_stats st;

	wg_device_get_stats(m->dev, &st);
	log_info(m->ifname,
		 "signal %d: shutting down; stats: rx_packets=%llu tx_packets=%llu "
		 "handshakes_completed=%llu cookie_replies_sent=%llu drop_mac1=%llu "
		 "drop_mac2=%llu drop_ratelimit=%llu drop_handshake=%llu drop_allowed_ips=%llu "
		 "drop_decrypt=%llu drop_replay=%llu drop_no_keypair=%llu tun_write_errors=%llu",
		 signum, (unsigned long long)st.rx_packets, (unsigned long long)st.tx_packets,
		 (unsigned long long)st.handshakes_completed,
		 (unsigned long long)st.cookie_replies_sent, (unsigned long long)st.drop_mac1,
		 (unsigned long long)st.drop_mac2, (unsigned long long)st.drop_ratelimit,
		 (unsigned long long)st.drop_handshake, (unsigned long long)st.drop_allowed_ips,
		 (unsigned long long)st.drop_decrypt, (unsigned long long)st.drop_replay,
		 (unsigned long long)st.drop_no_keypair, (unsigned long long)m->tun_write_errors);
	wg_device_free(m->dev);
	m->dev = NULL;
	uv_poll_stop(&m->tun_poll);
	uv_close((uv_handle_t *)&m->tun_poll, NULL);
	uv_close((uv_handle_t *)&m->sigint, NULL);
	uv_close((uv_handle_t *)&m->sigterm, NULL);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: meshwg [--time-scale N] [--log-level err|warn|info|debug] IFACE\n");
}

int main(int argc, char **argv)
{
	struct meshwg m = { .tun_fd = -1 };
	struct wg_device_config cfg = { 0 };
	struct wg_device_ops ops = { .recv = on_decrypted };
	const char *iface = NULL;
	char sock[128];
	int err;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--time-scale") && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 1 || v > 1000) {
				fprintf(stderr, "meshwg: --time-scale: '%s' is not 1..1000\n", argv[i]);
				return 2;
			}
			cfg.time_scale = (unsigned int)v;
		} else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
			enum log_level lvl;
			if (!log_level_parse(argv[++i], &lvl)) {
				fprintf(stderr, "meshwg: --log-level: unknown level '%s'\n", argv[i]);
				return 2;
			}
			log_set_level(lvl);
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || iface) {
			fprintf(stderr, "meshwg: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		} else {
			iface = argv[i];
		}
	}
	if (!iface || strlen(iface) >= IFNAMSIZ || strchr(iface, '/')) {
		usage(stderr);
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	m.rx_bufs = malloc((size_t)TUN_BATCH * TUN_MTU_MAX);
	if (!m.rx_bufs)
		return 1;
	m.tun_fd = tun_open(iface, m.ifname);
	if (m.tun_fd < 0) {
		fprintf(stderr, "meshwg: cannot create TUN device '%s': %s\n", iface,
			strerror(-m.tun_fd));
		free(m.rx_bufs);
		return 1;
	}
	m.loop = uv_default_loop();
	cfg.name = m.ifname;
	err = wg_device_new(m.loop, &cfg, &ops, &m, &m.dev);
	if (err) {
		fprintf(stderr, "meshwg: %s: cannot create the device: %s\n", m.ifname,
			strerror(-err));
		goto fail;
	}
	mkdir("/var/run/wireguard", 0755);
	snprintf(sock, sizeof(sock), "/var/run/wireguard/%s.sock", m.ifname);
	err = wg_device_uapi_start(m.dev, sock);
	if (err) {
		fprintf(stderr, "meshwg: %s: cannot serve %s: %s\n", m.ifname, sock, uv_strerror(err));
		wg_device_free(m.dev);
		goto fail;
	}

	uv_poll_init(m.loop, &m.tun_poll, m.tun_fd);
	m.tun_poll.data = &m;
	uv_poll_start(&m.tun_poll, UV_READABLE, on_tun_readable);
	uv_signal_init(m.loop, &m.sigint);
	uv_signal_init(m.loop, &m.sigterm);
	m.sigint.data = m.sigterm.data = &m;
	uv_signal_start(&m.sigint, on_signal, SIGINT);
	uv_signal_start(&m.sigterm, on_signal, SIGTERM);
	log_info(m.ifname, "up: UDP port %u, UAPI %s", wg_device_listen_port(m.dev), sock);

	uv_run(m.loop, UV_RUN_DEFAULT);
	err = uv_loop_close(m.loop);
	close(m.tun_fd);
	free(m.rx_bufs);
	return err ? 1 : 0;
fail:
	uv_run(m.loop, UV_RUN_DEFAULT); /* lets the device's close callbacks free it */
	uv_loop_close(m.loop);
	close(m.tun_fd);
	free(m.rx_bufs);
	return 1;
}
