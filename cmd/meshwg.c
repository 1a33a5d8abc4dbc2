/* meshwg: our wg/ device bound to a plain TUN interface, driven exactly like wireguard-go:
 *
 *	meshwg [--time-scale N] [--log-level LEVEL] IFACE
 *
 * creates the TUN device IFACE (IFF_TUN | IFF_NO_PI), serves the UAPI socket at
 * /var/run/wireguard/IFACE.sock so `wg show/set/setconf IFACE` work unchanged, and runs in
 * the foreground until SIGINT or SIGTERM.  The interface is configured with ip(8) as
 * usual.  --time-scale is test-only: protocol timers run N times faster.
 *
 * The TUN code is local to this program (netstack/ owns the real TUN module).  It asks the
 * kernel for TCP segmentation offload (IFF_VNET_HDR + TUN_F_TSO4/6): one read returns up to
 * 64 KiB of a TCP stream, which is cut here into MTU-sized segments with their own
 * headers and checksums, so reading the TUN costs one syscall per 64 KiB, not per packet. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "wg/wg.h"

enum {
	TUN_BATCH = 16,
	TUN_READ_MAX = 65535 + sizeof(struct virtio_net_hdr),
	SEG_MAX = 128, /* segments of one 64 KiB read at the smallest sane MSS */
	SEG_BUF = 1600,
};

struct meshwg {
	uv_loop_t *loop;
	struct wg_device *dev;
	int tun_fd;
	uv_poll_t tun_poll;
	uv_signal_t sigint, sigterm;
	char ifname[IFNAMSIZ];
	uint64_t tun_write_errors, tun_bad_gso;
	uint8_t *rx_bufs;
	uint8_t seg[SEG_MAX][SEG_BUF];
};

static int tun_open(const char *name, char out_name[IFNAMSIZ])
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
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
	struct virtio_net_hdr vh = { 0 }; /* no offload on the way in */
	struct iovec iov[2] = { { &vh, sizeof(vh) }, { (void *)pkt, len } };
	if (writev(m->tun_fd, iov, 2) < 0)
		m->tun_write_errors++;
}

/* Ones-complement sum of len bytes (network order pairs) added to sum. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t s = sum;
	while (len >= 2) {
		s += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* TCP checksum of seg (IP header ip_len bytes, then TCP header + data, total len). */
static void tcp_checksum(uint8_t *seg, size_t ip_len, size_t len, bool v6)
{
	uint8_t pseudo[4];
	uint32_t sum;
	size_t tcp_len = len - ip_len;

	if (v6)
		sum = csum_add(0, seg + 8, 32);
	else
		sum = csum_add(0, seg + 12, 8);
	put16(pseudo, 6);
	put16(pseudo + 2, (uint16_t)tcp_len);
	sum = csum_add(sum, pseudo, 4);
	put16(seg + ip_len + 16, 0);
	sum = csum_add(sum, seg + ip_len, tcp_len);
	put16(seg + ip_len + 16, csum_fold(sum));
}

/* Cuts one TSO super-packet into segments of gso_size payload bytes each. */
static size_t tso_split(struct meshwg *m, const struct virtio_net_hdr *vh, uint8_t *pkt,
			size_t len, struct iovec *out, size_t max)
{
	bool v6 = (pkt[0] >> 4) == 6;
	size_t ip_len = v6 ? 40 : (size_t)(pkt[0] & 15) * 4;
	size_t tcp_len, hdr, payload, mss = vh->gso_size, n = 0;
	uint32_t seq;
	uint16_t id;

	if (len < ip_len + 20 || (v6 ? pkt[6] : pkt[9]) != 6 || mss == 0)
		return 0;
	tcp_len = (size_t)(pkt[ip_len + 12] >> 4) * 4;
	hdr = ip_len + tcp_len;
	if (tcp_len < 20 || len < hdr || hdr + mss > SEG_BUF)
		return 0;
	payload = len - hdr;
	seq = (uint32_t)pkt[ip_len + 4] << 24 | pkt[ip_len + 5] << 16 | pkt[ip_len + 6] << 8 |
	      pkt[ip_len + 7];
	id = (uint16_t)(pkt[4] << 8 | pkt[5]);
	for (size_t off = 0; off < payload && n < max; off += mss, n++) {
		size_t chunk = payload - off < mss ? payload - off : mss;
		uint8_t *seg = m->seg[n];
		bool last = off + chunk >= payload;

		memcpy(seg, pkt, hdr);
		memcpy(seg + hdr, pkt + hdr + off, chunk);
		if (v6) {
			put16(seg + 4, (uint16_t)(tcp_len + chunk));
		} else {
			put16(seg + 2, (uint16_t)(hdr + chunk));
			put16(seg + 4, (uint16_t)(id + n));
			put16(seg + 10, 0);
			put16(seg + 10, csum_fold(csum_add(0, seg, ip_len)));
		}
		uint32_t s = seq + (uint32_t)off;
		seg[ip_len + 4] = (uint8_t)(s >> 24);
		seg[ip_len + 5] = (uint8_t)(s >> 16);
		seg[ip_len + 6] = (uint8_t)(s >> 8);
		seg[ip_len + 7] = (uint8_t)s;
		if (!last)
			seg[ip_len + 13] &= (uint8_t)~0x09; /* FIN, PSH only on the last */
		if (n)
			seg[ip_len + 13] &= (uint8_t)~0x80; /* CWR only on the first */
		tcp_checksum(seg, ip_len, hdr + chunk, v6);
		out[n].iov_base = seg;
		out[n].iov_len = hdr + chunk;
	}
	return n;
}

static void on_tun_readable(uv_poll_t *h, int status, int events)
{
	struct meshwg *m = h->data;
	struct iovec pkts[SEG_MAX];

	if (status < 0)
		return;
	/* Drain a few reads; the device queues everything and flushes with sendmmsg(). */
	for (int i = 0; i < TUN_BATCH; i++) {
		uint8_t *buf = m->rx_bufs;
		ssize_t r = read(m->tun_fd, buf, TUN_READ_MAX);
		struct virtio_net_hdr vh;
		if (r < (ssize_t)sizeof(vh))
			break;
		memcpy(&vh, buf, sizeof(vh));
		uint8_t *pkt = buf + sizeof(vh);
		size_t len = (size_t)r - sizeof(vh);
		uint8_t gso = vh.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

		if (gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6) {
			size_t n = tso_split(m, &vh, pkt, len, pkts, SEG_MAX);
			if (!n)
				m->tun_bad_gso++;
			wg_device_send_batch(m->dev, pkts, n);
			continue;
		}
		if ((vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		    (size_t)vh.csum_start + vh.csum_offset + 2 <= len) {
			/* the field holds the pseudo-header sum; complete it over the rest */
			uint16_t c = csum_fold(csum_add(0, pkt + vh.csum_start, len - vh.csum_start));
			put16(pkt + vh.csum_start + vh.csum_offset, c);
		}
		wg_device_send(m->dev, pkt, len);
	}
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
	static struct meshwg m = { .tun_fd = -1 };
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
	m.rx_bufs = malloc(TUN_READ_MAX);
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
