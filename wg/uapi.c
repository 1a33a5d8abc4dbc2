/* The cross-platform userspace API (wireguard.com/xplatform): "get=1" dumps the device as
 * key=value lines, "set=1" applies key=value lines; every answer ends with "errno=N" and
 * a blank line.  That is what `wg show`, `wg set` and `wg setconf` speak over
 * /var/run/wireguard/<iface>.sock.
 *
 * A set request is parsed and validated completely before anything is applied, so bad
 * input gets errno=22 (EINVAL) and changes nothing; the log line quotes the bad line. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/key.h"
#include "wg/internal.h"

enum { UAPI_MAX_REQUEST = 16 << 20 };

struct uapi_peer {
	struct wg_peer_config pc;
	struct addr_prefix *aips;
	size_t n_aips, cap_aips;
	bool remove, update_only;
};

struct uapi_set {
	bool set_private_key;
	uint8_t private_key[32];
	bool set_port;
	uint16_t port;
	bool set_fwmark;
	uint32_t fwmark;
	bool replace_peers;
	struct uapi_peer *peers;
	size_t n_peers, cap_peers;
};

struct strbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

/* realloc() that wipes the old block: these buffers hold keys (hex) */
static void *grow_wiped(void *old, size_t old_size, size_t new_size)
{
	void *p = malloc(new_size);
	if (!p)
		return NULL;
	if (old) {
		memcpy(p, old, old_size);
		key_wipe(old, old_size);
		free(old);
	}
	return p;
}

static void sb_printf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (sb->oom)
		return;
	for (;;) {
		size_t room = sb->cap - sb->len;
		va_start(ap, fmt);
		n = vsnprintf(sb->p ? sb->p + sb->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->oom = true;
			return;
		}
		if ((size_t)n < room) {
			sb->len += (size_t)n;
			return;
		}
		size_t cap = (sb->cap + (size_t)n + 1) * 2;
		char *np = grow_wiped(sb->p, sb->cap, cap);
		if (!np) {
			sb->oom = true;
			return;
		}
		sb->p = np;
		sb->cap = cap;
	}
}

static void set_free(struct uapi_set *s)
{
	for (size_t i = 0; i < s->n_peers; i++) {
		free(s->peers[i].aips);
		key_wipe(&s->peers[i].pc, sizeof(s->peers[i].pc));
	}
	free(s->peers);
	key_wipe(s, sizeof(*s));
}

static bool parse_u64(const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	if (!*v || *v == '-' || *v == '+' || *v == ' ')
		return false;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || *end || n > max)
		return false;
	*out = n;
	return true;
}

static bool parse_bool_true(const char *v)
{
	return strcmp(v, "true") == 0;
}

/* The endpoint and allowed_ip grammars are common/addr.h's, so `wg set` and the netmap
 * read an address alike; a numeric IPv6 scope id is taken, as we print one. */
static bool parse_endpoint(const char *v, struct sockaddr_storage *ss)
{
	struct addr_endpoint e;
	if (!addr_endpoint_parse(v, &e, NULL))
		return false;
	addr_endpoint_to_sockaddr(&e, ss);
	return true;
}

static bool parse_key(uint8_t out[static 32], const char *v)
{
	return key_from_hex(out, v, NULL);
}

/* Makes room for element n of a doubling array. */
static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return true;
	size_t ncap = *cap ? *cap * 2 : 8;
	void *na = grow_wiped(*arr, *cap * elem, ncap * elem);
	if (!na)
		return false;
	*arr = na;
	*cap = ncap;
	return true;
}

/* Parses one set request body (lines after "set=1").  false + *bad = the offending line. */
static bool parse_set(char *body, struct uapi_set *s, const char **bad)
{
	struct uapi_peer *peer = NULL;
	char *save = NULL;

	for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		uint64_t n;
		*bad = line;
		if (!eq)
			return false;
		*eq = '\0';
		const char *k = line, *v = eq + 1;

		if (!strcmp(k, "public_key")) {
			if (!grow((void **)&s->peers, &s->cap_peers, s->n_peers, sizeof(*s->peers)))
				goto restore;
			peer = &s->peers[s->n_peers++];
			memset(peer, 0, sizeof(*peer));
			peer->pc.persistent_keepalive = -1;
			if (!parse_key(peer->pc.public_key, v))
				goto restore;
		} else if (!peer) {
			if (!strcmp(k, "private_key")) {
				if (!parse_key(s->private_key, v))
					goto restore;
				s->set_private_key = true;
			} else if (!strcmp(k, "listen_port")) {
				if (!parse_u64(v, 65535, &n))
					goto restore;
				s->set_port = true;
				s->port = (uint16_t)n;
			} else if (!strcmp(k, "fwmark")) {
				if (!parse_u64(v, UINT32_MAX, &n))
					goto restore;
				s->set_fwmark = true;
				s->fwmark = (uint32_t)n;
			} else if (!strcmp(k, "replace_peers")) {
				if (!parse_bool_true(v))
					goto restore;
				s->replace_peers = true;
			} else {
				goto restore;
			}
		} else if (!strcmp(k, "remove")) {
			if (!parse_bool_true(v))
				goto restore;
			peer->remove = true;
		} else if (!strcmp(k, "update_only")) {
			if (!parse_bool_true(v))
				goto restore;
			peer->update_only = true;
		} else if (!strcmp(k, "preshared_key")) {
			if (!parse_key(peer->pc.preshared_key, v))
				goto restore;
			peer->pc.set_preshared_key = true;
		} else if (!strcmp(k, "endpoint")) {
			if (!parse_endpoint(v, &peer->pc.endpoint))
				goto restore;
			peer->pc.set_endpoint = true;
		} else if (!strcmp(k, "persistent_keepalive_interval")) {
			if (!parse_u64(v, 65535, &n))
				goto restore;
			peer->pc.persistent_keepalive = (int)n;
		} else if (!strcmp(k, "replace_allowed_ips")) {
			if (!parse_bool_true(v))
				goto restore;
			peer->pc.replace_allowed_ips = true;
		} else if (!strcmp(k, "allowed_ip")) {
			if (!grow((void **)&peer->aips, &peer->cap_aips, peer->n_aips,
				  sizeof(*peer->aips)))
				goto restore;
			if (!addr_prefix_parse(v, &peer->aips[peer->n_aips], NULL))
				goto restore;
			peer->n_aips++;
		} else if (!strcmp(k, "protocol_version")) {
			if (strcmp(v, "1") != 0)
				goto restore;
		} else {
			goto restore;
		}
		*eq = '=';
		continue;
	restore:
		*eq = '=';
		return false;
	}
	return true;
}

static int apply_set(struct wg_device *dev, struct uapi_set *s)
{
	int err;
	if (s->set_private_key)
		wg_device_set_private_key(dev, key_is_zero(s->private_key) ? NULL : s->private_key);
	if (s->set_fwmark)
		wg_device_set_fwmark(dev, s->fwmark);
	if (s->set_port) {
		err = wg_device_set_listen_port(dev, s->port);
		if (err)
			return err;
	}
	if (s->replace_peers)
		wg_device_peer_remove_all(dev);
	for (size_t i = 0; i < s->n_peers; i++) {
		struct uapi_peer *p = &s->peers[i];
		if (p->remove) {
			wg_device_peer_remove(dev, p->pc.public_key);
			continue;
		}
		if (p->update_only && !wg__peer_lookup(dev, p->pc.public_key))
			continue;
		p->pc.allowed_ips = p->aips;
		p->pc.n_allowed_ips = p->n_aips;
		err = wg_device_peer_set(dev, &p->pc);
		if (err)
			return err;
	}
	return 0;
}

static void format_endpoint(struct strbuf *sb, const struct sockaddr_storage *ss)
{
	struct addr_endpoint e;
	char text[ADDR_TEXT_MAX];
	if (addr_endpoint_from_sockaddr((const struct sockaddr *)ss, &e))
		sb_printf(sb, "endpoint=%s\n", addr_endpoint_format(&e, text));
}

static void print_aip(void *ctx, const struct addr_prefix *a)
{
	char text[ADDR_TEXT_MAX];
	sb_printf(ctx, "allowed_ip=%s\n", addr_prefix_format(a, text));
}

static void do_get(struct wg_device *dev, struct strbuf *sb)
{
	char hex[KEY_HEX_SIZE];

	if (dev->id.has_identity) {
		key_to_hex(hex, dev->id.static_private);
		sb_printf(sb, "private_key=%s\n", hex);
		key_wipe(hex, sizeof(hex));
	}
	sb_printf(sb, "listen_port=%u\n", dev->port);
	if (dev->fwmark)
		sb_printf(sb, "fwmark=%" PRIu32 "\n", dev->fwmark);
	for (struct wg__peer *p = dev->peers_head; p; p = p->next) {
		key_to_hex(hex, p->hs.remote_static);
		sb_printf(sb, "public_key=%s\n", hex);
		key_to_hex(hex, p->hs.preshared_key);
		sb_printf(sb, "preshared_key=%s\n", hex);
		key_wipe(hex, sizeof(hex));
		sb_printf(sb, "protocol_version=1\n");
		if (p->has_endpoint)
			format_endpoint(sb, &p->endpoint);
		sb_printf(sb, "last_handshake_time_sec=%" PRIu64 "\n",
			  (uint64_t)(p->last_handshake_wall_ns / NS_PER_SEC));
		sb_printf(sb, "last_handshake_time_nsec=%" PRIu64 "\n",
			  (uint64_t)(p->last_handshake_wall_ns % NS_PER_SEC));
		sb_printf(sb, "tx_bytes=%" PRIu64 "\n", p->tx_bytes);
		sb_printf(sb, "rx_bytes=%" PRIu64 "\n", p->rx_bytes);
		sb_printf(sb, "persistent_keepalive_interval=%u\n",
			  p->timers.persistent_keepalive_interval);
		wg__aip_walk_peer(&dev->aip, p, print_aip, sb);
	}
}

/* A log-safe rendering of untrusted text: printable ASCII only, truncated. */
static const char *printable(char *out, size_t outlen, const char *in, size_t inlen)
{
	size_t n = 0;
	for (; n < inlen && n + 1 < outlen; n++)
		out[n] = (in[n] >= 0x20 && in[n] < 0x7f) ? in[n] : '?';
	out[n] = '\0';
	return out;
}

int wg_device_uapi_request(struct wg_device *dev, const char *req, size_t len, char **reply,
			   size_t *reply_len)
{
	struct strbuf sb = { 0 };
	int errnum = 0;
	char shown[128];
	char *copy = malloc(len + 1);

	*reply = NULL;
	*reply_len = 0;
	if (!copy)
		return -ENOMEM;
	memcpy(copy, req, len);
	copy[len] = '\0';
	/* the request ends at its blank line */
	char *end = strstr(copy, "\n\n");
	if (end)
		end[1] = '\0';

	if (!strcmp(copy, "get=1\n")) {
		do_get(dev, &sb);
	} else if (!strncmp(copy, "set=1\n", 6)) {
		struct uapi_set s = { 0 };
		const char *bad = NULL;
		if (memchr(req, '\0', len)) {
			log_warn(dev->name, "uapi: request contains a NUL byte");
			errnum = EINVAL;
		} else if (!parse_set(copy + 6, &s, &bad)) {
			/* never echo a secret, even a malformed one */
			if (!strncmp(bad, "private_key=", 12) ||
			    !strncmp(bad, "preshared_key=", 14))
				log_warn(dev->name, "uapi: %.*s: not 64 hex digits",
					 (int)strcspn(bad, "="), bad);
			else
				log_warn(dev->name, "uapi: line unrecognized: '%s'",
					 printable(shown, sizeof(shown), bad, strlen(bad)));
			errnum = EINVAL;
		} else {
			int err = apply_set(dev, &s);
			errnum = err < 0 ? -err : 0;
		}
		set_free(&s);
	} else {
		log_warn(dev->name, "uapi: unknown operation: '%s'",
			 printable(shown, sizeof(shown), copy, strcspn(copy, "\n")));
		errnum = EINVAL;
	}
	key_wipe(copy, len + 1);
	free(copy);
	sb_printf(&sb, "errno=%d\n\n", errnum);
	if (sb.oom) {
		if (sb.p)
			key_wipe(sb.p, sb.cap);
		free(sb.p);
		return -ENOMEM;
	}
	*reply = sb.p;
	*reply_len = sb.len;
	return 0;
}

/* ---- the Unix socket ---- */

struct wg__uapi_conn {
	uv_pipe_t pipe;
	struct wg_device *dev;
	struct wg__uapi_conn *prev, *next;
	char *buf;
	size_t len, cap;
};

struct uapi_write {
	uv_write_t req;
	char *data;
	size_t len;
};

static void conn_closed(uv_handle_t *h)
{
	struct wg__uapi_conn *c = container_of((uv_pipe_t *)h, struct wg__uapi_conn, pipe);
	struct wg_device *dev = c->dev;
	if (c->buf)
		key_wipe(c->buf, c->cap);
	free(c->buf);
	free(c);
	wg__handle_closed(dev);
}

static void conn_close(struct wg__uapi_conn *c)
{
	struct wg_device *dev = c->dev;
	if (uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		dev->uapi_conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	uv_close((uv_handle_t *)&c->pipe, conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct uapi_write *w = container_of(req, struct uapi_write, req);
	key_wipe(w->data, w->len);
	free(w->data);
	free(w);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct wg__uapi_conn *c = container_of((uv_pipe_t *)h, struct wg__uapi_conn, pipe);
	if (c->cap - c->len < 4096 && c->cap < UAPI_MAX_REQUEST) {
		size_t cap = c->cap ? c->cap * 2 : 8192;
		char *nb = malloc(cap);
		if (nb) {
			if (c->buf) {
				memcpy(nb, c->buf, c->len);
				key_wipe(c->buf, c->cap);
				free(c->buf);
			}
			c->buf = nb;
			c->cap = cap;
		}
	}
	*buf = uv_buf_init(c->buf ? c->buf + c->len : NULL,
			   c->buf ? (unsigned int)(c->cap - c->len) : 0);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct wg__uapi_conn *c = container_of((uv_pipe_t *)s, struct wg__uapi_conn, pipe);
	char *end;

	if (nread < 0 || (nread == 0 && buf->len == 0 && c->len >= UAPI_MAX_REQUEST)) {
		conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	while (c->len >= 2 && (end = memmem(c->buf, c->len, "\n\n", 2))) {
		size_t req_len = (size_t)(end - c->buf) + 2;
		struct uapi_write *w = calloc(1, sizeof(*w));
		if (!w) {
			conn_close(c);
			return;
		}
		if (wg_device_uapi_request(c->dev, c->buf, req_len, &w->data, &w->len) < 0) {
			free(w);
			conn_close(c);
			return;
		}
		uv_buf_t out = uv_buf_init(w->data, (unsigned int)w->len);
		if (uv_write(&w->req, s, &out, 1, on_written) < 0) {
			free(w->data);
			free(w);
			conn_close(c);
			return;
		}
		key_wipe(c->buf, req_len);
		memmove(c->buf, c->buf + req_len, c->len - req_len);
		c->len -= req_len;
	}
	if (c->len >= UAPI_MAX_REQUEST)
		conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct wg_device *dev = container_of((uv_pipe_t *)server, struct wg_device, uapi);
	struct wg__uapi_conn *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->dev = dev;
	uv_pipe_init(dev->loop, &c->pipe, 0);
	dev->open_handles++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		uv_close((uv_handle_t *)&c->pipe, conn_closed);
		return;
	}
	c->next = dev->uapi_conns;
	if (c->next)
		c->next->prev = c;
	dev->uapi_conns = c;
	uv_read_start((uv_stream_t *)&c->pipe, conn_alloc, conn_read);
}

static void uapi_server_closed(uv_handle_t *h)
{
	wg__handle_closed(container_of((uv_pipe_t *)h, struct wg_device, uapi));
}

int wg_device_uapi_start(struct wg_device *dev, const char *path)
{
	int err;
	mode_t old;

	if (dev->uapi_active)
		return -EALREADY;
	dev->uapi_path = strdup(path);
	if (!dev->uapi_path)
		return -ENOMEM;
	unlink(path);
	uv_pipe_init(dev->loop, &dev->uapi, 0);
	dev->open_handles++;
	dev->uapi_active = true;
	old = umask(0077);
	err = uv_pipe_bind(&dev->uapi, path);
	umask(old);
	if (!err)
		err = uv_listen((uv_stream_t *)&dev->uapi, 16, on_connection);
	if (err) {
		log_err(dev->name, "uapi: cannot listen on %s: %s", path, uv_strerror(err));
		wg__uapi_close(dev);
		return err;
	}
	return 0;
}

void wg__uapi_close(struct wg_device *dev)
{
	while (dev->uapi_conns)
		conn_close(dev->uapi_conns);
	if (!dev->uapi_active)
		return;
	dev->uapi_active = false;
	uv_close((uv_handle_t *)&dev->uapi, uapi_server_closed);
	if (dev->uapi_path) {
		unlink(dev->uapi_path);
		free(dev->uapi_path);
		dev->uapi_path = NULL;
	}
}
