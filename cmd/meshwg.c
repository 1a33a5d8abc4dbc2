/* meshwg: our wg/ device bound to a plain TUN interface, driven exactly like wireguard-go:
 *
 *	meshwg [--time-scale N] [--crypto-workers 0|1] [--log-level LEVEL] IFACE
 *
 * creates the TUN device IFACE (IFF_TUN | IFF_NO_PI), serves the UAPI socket at
 * /var/run/wireguard/IFACE.sock so `wg show/set/setconf IFACE` work unchanged, and runs in
 * the foreground until SIGINT or SIGTERM.  The interface is configured with ip(8) as
 * usual.  --time-scale is test-only: protocol timers run N times faster.
 * --crypto-workers 1 (the default) splits each batch's crypto with a worker thread.
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
#include <arpa/inet.h>
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
	uv_check_t gro_flush;
	struct gro {
		size_t len;	    /* bytes of IP packet in pkt, 0 when no run is open */
		size_t ip_len, hdr; /* IP header, IP + TCP header */
		size_t gso_size;    /* payload bytes of each segment */
		uint32_t next_seq;
		unsigned int segs;
		bool closed; /* a short or PSH segment ended the run */
		struct virtio_net_hdr vh;
		uint8_t pkt[65535];
	} gro;
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

/* Ones-complement sum of len bytes (network order pairs) added to sum.  Summed as 32-bit
 * native words into 64 bits: the ones-complement sum commutes with byte swapping, so the
 * result is swapped back once at the end (little-endian hosts). */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t s = 0;
	uint32_t w;
	uint16_t h;

	while (len >= 4) {
		memcpy(&w, p, 4);
		s += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		s += h;
		p += 2;
		len -= 2;
	}
	if (len)
		s += *p; /* the odd byte is the high half of a big-endian pair */
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	s = ntohs((uint16_t)s) + (uint64_t)sum;
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
static size_t tso_split(struct meshwg *m, const struct virtio_net_hdr *vh, uint8_t *pkt, size_t len,
			struct iovec *out, size_t max)
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

static void tun_write(struct meshwg *m, const struct virtio_net_hdr *vh, const uint8_t *pkt,
		      size_t len)
{
	struct iovec iov[2] = { { (void *)vh, sizeof(*vh) }, { (void *)pkt, len } };
	if (writev(m->tun_fd, iov, 2) < 0)
		m->tun_write_errors++;
}

/* Writes the open run: a single segment as it came, several as one TCP super-packet the
 * kernel takes whole (checksum left partial: the data was authenticated by the AEAD). */
static void gro_flush(struct meshwg *m)
{
	struct gro *g = &m->gro;
	struct virtio_net_hdr vh = { 0 };

	if (!g->len)
		return;
	if (g->segs > 1) {
		bool v6 = (g->pkt[0] >> 4) == 6;
		uint8_t pseudo[4];
		uint32_t sum;
		if (v6) {
			put16(g->pkt + 4, (uint16_t)(g->len - 40));
			sum = csum_add(0, g->pkt + 8, 32);
		} else {
			put16(g->pkt + 2, (uint16_t)g->len);
			put16(g->pkt + 10, 0);
			put16(g->pkt + 10, csum_fold(csum_add(0, g->pkt, g->ip_len)));
			sum = csum_add(0, g->pkt + 12, 8);
		}
		put16(pseudo, 6);
		put16(pseudo + 2, (uint16_t)(g->len - g->ip_len));
		sum = csum_add(sum, pseudo, 4);
		put16(g->pkt + g->ip_len + 16, (uint16_t)sum);
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		vh.hdr_len = (uint16_t)g->hdr;
		vh.gso_size = (uint16_t)g->gso_size;
		vh.csum_start = (uint16_t)g->ip_len;
		vh.csum_offset = 16;
	}
	tun_write(m, &vh, g->pkt, g->len);
	g->len = 0;
}

/* TCP segment facts: 0 when pkt is not a plain TCP segment with payload. */
static size_t tcp_headers(const uint8_t *pkt, size_t len, size_t *ip_len)
{
	size_t il, tl;
	if ((pkt[0] >> 4) == 4 && len >= 40) {
		il = 20;
		/* no IP options, TCP, not a fragment */
		if ((pkt[0] & 15) != 5 || pkt[9] != 6 || (pkt[6] & 0x3f) || pkt[7])
			return 0;
	} else if ((pkt[0] >> 4) == 6 && len >= 60) {
		il = 40;
		if (pkt[6] != 6)
			return 0;
	} else {
		return 0;
	}
	tl = (size_t)(pkt[il + 12] >> 4) * 4;
	if (tl < 20 || il + tl >= len)
		return 0;
	if ((pkt[il + 13] & ~0x08) != 0x10) /* ACK, optionally PSH; nothing else */
		return 0;
	*ip_len = il;
	return il + tl;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Same flow, same headers except sequence number, flags and checksum, next in sequence. */
static bool gro_fits(const struct gro *g, const uint8_t *pkt, size_t len, size_t hdr, size_t ip_len)
{
	size_t payload = len - hdr;
	const uint8_t *a = g->pkt, *b = pkt;
	if (!g->len || g->closed || hdr != g->hdr || ip_len != g->ip_len || payload > g->gso_size ||
	    g->len + payload > sizeof(g->pkt))
		return false;
	if (ip_len == 20) {
		if (a[1] != b[1] || a[6] != b[6] || a[8] != b[8] || memcmp(a + 12, b + 12, 8))
			return false;
	} else if (memcmp(a, b, 4) || a[7] != b[7] || memcmp(a + 8, b + 8, 32)) {
		return false;
	}
	a += ip_len;
	b += ip_len;
	return !memcmp(a, b, 4) && !memcmp(a + 8, b + 8, 5) && !memcmp(a + 14, b + 14, 2) &&
	       !memcmp(a + 18, b + 18, hdr - ip_len - 18) && get32(b + 4) == g->next_seq;
}

static void on_decrypted(void *ctx, const uint8_t *pkt, size_t len)
{
	struct meshwg *m = ctx;
	struct gro *g = &m->gro;
	size_t ip_len = 0, hdr = tcp_headers(pkt, len, &ip_len);
	bool psh;

	if (hdr && gro_fits(g, pkt, len, hdr, ip_len)) {
		size_t payload = len - hdr;
		memcpy(g->pkt + g->len, pkt + hdr, payload);
		g->len += payload;
		g->segs++;
		g->next_seq += (uint32_t)payload;
		psh = pkt[ip_len + 13] & 0x08;
		if (psh)
			g->pkt[ip_len + 13] |= 0x08;
		g->closed = payload < g->gso_size || psh;
		return;
	}
	gro_flush(m);
	if (!hdr || (pkt[ip_len + 13] & 0x08)) {
		struct virtio_net_hdr vh = { 0 };
		tun_write(m, &vh, pkt, len);
		return;
	}
	memcpy(g->pkt, pkt, len);
	g->len = len;
	g->ip_len = ip_len;
	g->hdr = hdr;
	g->gso_size = len - hdr;
	g->next_seq = get32(pkt + ip_len + 4) + (uint32_t)g->gso_size;
	g->segs = 1;
	g->closed = false;
}

static void on_gro_check(uv_check_t *h)
{
	gro_flush(h->data);
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
			uint16_t c =
			    csum_fold(csum_add(0, pkt + vh.csum_start, len - vh.csum_start));
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
	uv_close((uv_handle_t *)&m->gro_flush, NULL);
	uv_close((uv_handle_t *)&m->sigint, NULL);
	uv_close((uv_handle_t *)&m->sigterm, NULL);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: meshwg [--time-scale N] [--crypto-workers 0|1] "
		   "[--log-level err|warn|info|debug] IFACE\n");
}

int main(int argc, char **argv)
{
	static struct meshwg m = { .tun_fd = -1 };
	struct wg_device_config cfg = { .crypto_workers = 1 };
	struct wg_device_ops ops = { .recv = on_decrypted };
	const char *iface = NULL;
	char sock[128];
	int err;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--time-scale") && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || v < 1 || v > 1000) {
				fprintf(stderr, "meshwg: --time-scale: '%s' is not 1..1000\n",
					argv[i]);
				return 2;
			}
			cfg.time_scale = (unsigned int)v;
		} else if (!strcmp(argv[i], "--crypto-workers") && i + 1 < argc) {
			const char *v = argv[++i];
			if (strcmp(v, "0") && strcmp(v, "1")) {
				fprintf(stderr, "meshwg: --crypto-workers: '%s' is not 0 or 1\n",
					v);
				return 2;
			}
			cfg.crypto_workers = (unsigned int)(v[0] - '0');
		} else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
			enum log_level lvl;
			if (!log_level_parse(argv[++i], &lvl)) {
				fprintf(stderr, "meshwg: --log-level: unknown level '%s'\n",
					argv[i]);
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
		fprintf(stderr, "meshwg: %s: cannot serve %s: %s\n", m.ifname, sock,
			uv_strerror(err));
		wg_device_free(m.dev);
		goto fail;
	}

	uv_check_init(m.loop, &m.gro_flush);
	m.gro_flush.data = &m;
	uv_check_start(&m.gro_flush, on_gro_check);
	uv_unref((uv_handle_t *)&m.gro_flush);
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
