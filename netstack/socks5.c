/* A SOCKS5 listener on a Unix socket (RFC 1928: CONNECT only, method "no authentication").
 * Whoever connects acts as this node on the tailnet, so who may connect is decided by the
 * kernel: the socket file is 0600 (or 0660 for one group) and every client's SO_PEERCRED
 * goes through the owner's allow callback before a byte of it is read.  A TCP port on
 * loopback could not do that: every local user reaches it and none can be told apart.
 * Each client's greeting and request are read on its own poll handle; the destination
 * is dialed through lwIP, and once connected the client's socket itself becomes the
 * local end of the bridge (a dup of it, so our poll handle can close independently).
 * Domain names are IP literals or go to the resolver the caller set (peer names); others
 * are answered "host unreachable". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "netstack/internal.h"

enum {
	SOCKS_VER = 5,
	SOCKS_CMD_CONNECT = 1,
	SOCKS_ATYP_IPV4 = 1,
	SOCKS_ATYP_DOMAIN = 3,
	SOCKS_ATYP_IPV6 = 4,
	REP_OK = 0,
	REP_FAILURE = 1,
	REP_HOST_UNREACHABLE = 4,
	REP_REFUSED = 5,
	REP_CMD_UNSUPPORTED = 7,
	REP_ATYP_UNSUPPORTED = 8,
	MAX_CLIENTS = 256,
	HANDSHAKE_TIMEOUT_MS = 10000, /* greeting + request must arrive within this */
};

enum client_state { ST_GREETING, ST_REQUEST, ST_DIALING, ST_CLOSING };

struct ns__socks_client {
	struct ns__socks_client *prev, *next;
	struct ns__socks *socks;
	int fd;
	uv_poll_t poll;
	enum client_state state;
	uint64_t since_ms;
	uint8_t buf[262 + 8];
	size_t len;
};

struct ns__socks {
	struct ns *ns;
	int fd;
	uv_poll_t poll;
	uv_timer_t sweep; /* runs only while clients are in their handshake */
	unsigned open_handles;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ns_socks5_allow_fn *allow;
	void *allow_ctx;
	struct ns__socks_client *clients;
	unsigned n_clients;
};

static struct log_ratelimit socks_rl = LOG_RATELIMIT_INIT(5000, 5);

static void client_close(struct ns__socks_client *cl);

/* Closes clients that stalled in their handshake; stops when none is left. */
static void on_sweep(uv_timer_t *t)
{
	struct ns__socks *s = container_of(t, struct ns__socks, sweep);
	uint64_t now = uv_now(s->ns->loop);
	for (struct ns__socks_client *cl = s->clients, *next; cl; cl = next) {
		next = cl->next;
		if ((cl->state == ST_GREETING || cl->state == ST_REQUEST) &&
		    now - cl->since_ms >= HANDSHAKE_TIMEOUT_MS) {
			log_debug_rl(&socks_rl, "socks5", "client handshake timed out");
			client_close(cl);
		}
	}
	if (!s->clients)
		uv_timer_stop(t);
}
static void on_client_closed(uv_handle_t *h)
{
	struct ns__socks_client *cl = h->data;
	struct ns *ns = cl->socks->ns;
	if (cl->fd >= 0)
		close(cl->fd);
	free(cl);
	ns__handle_closed(ns);
}

static void client_close(struct ns__socks_client *cl)
{
	struct ns__socks *s = cl->socks;
	if (cl->state == ST_CLOSING)
		return;
	cl->state = ST_CLOSING;
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		s->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	s->n_clients--;
	s->ns->closing++;
	uv_close((uv_handle_t *)&cl->poll, on_client_closed);
}

static void reply(struct ns__socks_client *cl, uint8_t rep)
{
	uint8_t r[10] = { SOCKS_VER, rep, 0, SOCKS_ATYP_IPV4 };
	(void)send(cl->fd, r, sizeof(r), MSG_NOSIGNAL | MSG_DONTWAIT);
}

static int on_dial_ready(void *ctx, int err)
{
	struct ns__socks_client *cl = ctx;
	if (err < 0) {
		reply(cl, err == -ECONNREFUSED ? REP_REFUSED : REP_HOST_UNREACHABLE);
		client_close(cl);
		return -1;
	}
	reply(cl, REP_OK);
	int fd = dup(cl->fd);
	client_close(cl);
	return fd < 0 ? -1 : fd;
}

int ns__socks_parse_greeting(const uint8_t *b, size_t n, size_t *used, bool *noauth)
{
	if (n < 2)
		return 1;
	if (b[0] != SOCKS_VER)
		return -1;
	*used = 2 + (size_t)b[1];
	if (n < *used)
		return 1;
	*noauth = memchr(b + 2, 0, b[1]) != NULL;
	return 0;
}

int ns__socks_parse_request(const uint8_t *b, size_t n, struct ns__socks_request *req, size_t *used)
{
	memset(req, 0, sizeof(*req));
	if (n < 5)
		return 1;
	if (b[0] != SOCKS_VER)
		return -NS__SOCKS_DROP;
	size_t need;
	switch (b[3]) {
	case SOCKS_ATYP_IPV4:
		need = 4 + 4 + 2;
		break;
	case SOCKS_ATYP_IPV6:
		need = 4 + 16 + 2;
		break;
	case SOCKS_ATYP_DOMAIN:
		need = 5 + (size_t)b[4] + 2;
		break;
	default:
		return -REP_ATYP_UNSUPPORTED;
	}
	if (n < need)
		return 1;
	*used = need;
	if (b[1] != SOCKS_CMD_CONNECT)
		return -REP_CMD_UNSUPPORTED;
	if (b[3] == SOCKS_ATYP_DOMAIN) {
		char name[256];
		memcpy(name, b + 5, b[4]);
		name[b[4]] = 0;
		if (inet_pton(AF_INET, name, req->addr) == 1)
			req->family = AF_INET;
		else if (inet_pton(AF_INET6, name, req->addr) == 1)
			req->family = AF_INET6;
		else if (name[0] && strlen(name) == b[4])	   /* no NUL inside */
			memcpy(req->name, name, (size_t)b[4] + 1); /* family 0: to resolve */
		else
			return -REP_HOST_UNREACHABLE;
	} else {
		req->family = b[3] == SOCKS_ATYP_IPV4 ? AF_INET : AF_INET6;
		memcpy(req->addr, b + 4, req->family == AF_INET ? 4 : 16);
	}
	req->port = (uint16_t)(b[need - 2] << 8 | b[need - 1]);
	return 0;
}

/* Acts on the request in cl->buf: 0 when dialing, 1 when more bytes are needed, -1 when
 * the client was answered with an error and closed. */
static int handle_request(struct ns__socks_client *cl)
{
	struct ns__socks_request req;
	size_t used = 0;
	int r = ns__socks_parse_request(cl->buf, cl->len, &req, &used);
	if (r == 1)
		return 1;
	if (r < 0) {
		if (r != -NS__SOCKS_DROP)
			reply(cl, (uint8_t)-r);
		log_debug_rl(&socks_rl, "socks5", "request refused with code %d", -r);
		client_close(cl);
		return -1;
	}
	if (req.family == 0) {
		struct ns *ns = cl->socks->ns;
		if (!ns->resolve ||
		    ns->resolve(ns->resolve_ctx, req.name, &req.family, req.addr) != 0 ||
		    (req.family != AF_INET && req.family != AF_INET6)) {
			reply(cl, REP_HOST_UNREACHABLE);
			log_debug_rl(&socks_rl, "socks5",
				     "a name the resolver does not know (%zu bytes)",
				     strlen(req.name));
			client_close(cl);
			return -1;
		}
	}
	cl->state = ST_DIALING;
	uv_poll_stop(&cl->poll);
	r = ns__dial_fd(cl->socks->ns, req.family, req.addr, req.port, on_dial_ready, cl);
	if (r < 0) {
		reply(cl, r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT ? REP_ATYP_UNSUPPORTED
								    : REP_FAILURE);
		client_close(cl);
		return -1;
	}
	return 0;
}

static void on_client_readable(uv_poll_t *h, int status, int events)
{
	struct ns__socks_client *cl = h->data;
	if (status < 0) {
		client_close(cl);
		return;
	}
	ssize_t n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(cl);
		return;
	}
	cl->len += (size_t)n;
	if (cl->state == ST_GREETING) {
		size_t need = 0;
		bool noauth = false;
		int g = ns__socks_parse_greeting(cl->buf, cl->len, &need, &noauth);
		if (g == 1)
			return;
		if (g < 0) {
			client_close(cl);
			return;
		}
		uint8_t r[2] = { SOCKS_VER, noauth ? 0 : 0xff };
		(void)send(cl->fd, r, sizeof(r), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (!noauth) {
			client_close(cl);
			return;
		}
		memmove(cl->buf, cl->buf + need, cl->len - need);
		cl->len -= need;
		cl->state = ST_REQUEST;
	}
	if (cl->state == ST_REQUEST) {
		handle_request(cl);
		ns__kick(cl->socks->ns);
		return;
	}
	if (cl->len == sizeof(cl->buf))
		client_close(cl);
}

static void on_listen_readable(uv_poll_t *h, int status, int events)
{
	struct ns__socks *s = h->data;
	for (;;) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct ucred cred;
		socklen_t cl_len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl_len) != 0 ||
		    !s->allow(s->allow_ctx, cred.uid, cred.gid)) {
			/* Closed before it can hold a client slot: refused users cannot crowd
			 * out the allowed ones. */
			log_warn_rl(&socks_rl, "socks5",
				    "%s: refused uid %u (pid %d): not allowed to "
				    "act as this node",
				    s->path, (unsigned)cred.uid, (int)cred.pid);
			close(fd);
			continue;
		}
		struct ns__socks_client *cl =
		    s->n_clients < MAX_CLIENTS ? calloc(1, sizeof(*cl)) : NULL;
		if (!cl) {
			log_warn_rl(&socks_rl, "socks5", "%s: too many clients", s->path);
			close(fd);
			continue;
		}
		cl->socks = s;
		cl->fd = fd;
		if (uv_poll_init_socket(s->ns->loop, &cl->poll, fd) < 0) {
			close(fd);
			free(cl);
			continue;
		}
		cl->poll.data = cl;
		cl->since_ms = uv_now(s->ns->loop);
		if (!uv_is_active((uv_handle_t *)&s->sweep))
			uv_timer_start(&s->sweep, on_sweep, HANDSHAKE_TIMEOUT_MS / 10,
				       HANDSHAKE_TIMEOUT_MS / 10);
		cl->next = s->clients;
		if (s->clients)
			s->clients->prev = cl;
		s->clients = cl;
		s->n_clients++;
		uv_poll_start(&cl->poll, UV_READABLE, on_client_readable);
	}
}

void ns_socks5_set_resolver(struct ns *ns, ns_resolve_fn *fn, void *ctx)
{
	ns->resolve = fn;
	ns->resolve_ctx = ctx;
}

/* Replaces a stale socket at path; anything else there is left alone and refused. */
static int remove_stale(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	return unlink(path) < 0 ? -errno : 0;
}

int ns_socks5_start(struct ns *ns, const char *path, gid_t group, ns_socks5_allow_fn *allow,
		    void *ctx)
{
	if (ns->socks)
		return -EALREADY;
	if (!allow)
		return -EINVAL;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("socks5", "%s: path longer than %zu bytes", path, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	struct ns__socks *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ns = ns;
	s->allow = allow;
	s->allow_ctx = ctx;
	strcpy(s->path, path);
	const char *what = "replace";
	int err = remove_stale(path);
	if (err) {
		s->fd = -1;
		goto fail;
	}
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	what = "bind";
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto fail_errno;
	/* Narrowed before listen(): until then a connect() is refused, so there is no moment
	 * in which the umask's mode lets anyone in. */
	what = "set the mode of";
	if (chmod(path, group == (gid_t)-1 ? 0600 : 0660) < 0)
		goto fail_unlink;
	what = "give the group access to";
	if (group != (gid_t)-1 && chown(path, (uid_t)-1, group) < 0)
		goto fail_unlink;
	what = "listen on";
	if (listen(s->fd, 128) < 0)
		goto fail_unlink;
	err = uv_poll_init_socket(ns->loop, &s->poll, s->fd);
	if (err < 0) {
		unlink(path);
		goto fail;
	}
	s->poll.data = s;
	uv_timer_init(ns->loop, &s->sweep);
	s->sweep.data = s;
	s->open_handles = 2;
	uv_poll_start(&s->poll, UV_READABLE, on_listen_readable);
	ns->socks = s;
	log_info("socks5", "listening on %s", path);
	return 0;
fail_unlink:
	err = -errno;
	unlink(path);
	goto fail;
fail_errno:
	err = -errno;
fail:
	log_err("socks5", "cannot %s %s: %s", what, path, strerror(-err));
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	return err;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct ns__socks *s = h->data;
	struct ns *ns = s->ns;
	if (--s->open_handles == 0) {
		unlink(s->path);
		close(s->fd);
		free(s);
	}
	ns__handle_closed(ns);
}

void ns__socks_free_all(struct ns *ns)
{
	struct ns__socks *s = ns->socks;
	if (!s)
		return;
	while (s->clients)
		client_close(s->clients);
	ns->socks = NULL;
	ns->closing += 2;
	uv_close((uv_handle_t *)&s->poll, on_listener_closed);
	uv_close((uv_handle_t *)&s->sweep, on_listener_closed);
}
