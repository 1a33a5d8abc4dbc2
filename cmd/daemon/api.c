/* The local API server on libuv: accept, read one line (bounded), check credentials,
 * answer, close.  A dial answer passes the connected socket with SCM_RIGHTS.
 *
 * Anyone on the machine may connect, so what a connection holds is bounded by who made
 * it: users other than root and meshd's own get at most MAX_PER_UID connections each and
 * MAX_CONNS - RESERVED_CONNS together, so the last RESERVED_CONNS slots are always free
 * for root and meshd's user; a request must arrive within REQUEST_TIMEOUT_MS and its
 * answer be read within WRITE_TIMEOUT_MS, so an idle connection does not hold its slot. */
#include "cmd/daemon/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/daemon/access.h"
#include "cmd/daemon/dns.h"
#include "cmd/daemon/node.h"
#include "cmd/daemon/reach/reach.h"
#include "cmd/daemon/sessions.h"
#include "common/common.h"

static const char *const subject = "localapi";
static struct log_ratelimit refusal_rl = LOG_RATELIMIT_INIT(5000, 5);

struct meshd_api {
	uv_loop_t *loop;
	uv_pipe_t server;
	char *path;
	char *operator_group;
	struct meshd_node *node;
	struct meshd_api_hooks hooks;
	unsigned conns;
	struct api_conn *conn_list; /* every open connection, closed with the server */
	bool closing, server_closed;
};

struct api_conn {
	uv_pipe_t pipe;
	uv_timer_t timer; /* the request's, then the answer's deadline */
	unsigned open_handles;
	struct meshd_api *api;
	struct api_conn *next;
	struct ucred cred;
	struct ctl_lapi_line req; /* the request line as it arrives */
	bool handled;
	bool privileged; /* root or meshd's own user */
	bool refused;	 /* only here to deliver its refusal; holds no slot */
	bool dialing;	 /* the netstack holds c until on_dialed runs */
	bool orphan;	 /* closed while dialing: on_dialed frees it */
};

enum {
	MAX_CONNS = 64,		   /* connections holding a slot */
	RESERVED_CONNS = 16,	   /* of those, only for root and meshd's own user */
	MAX_PER_UID = 8,	   /* per unprivileged uid */
	MAX_REFUSING = 64,	   /* refusals being written; beyond, closed without one */
	REQUEST_TIMEOUT_MS = 5000, /* from accept to the request's newline */
	WRITE_TIMEOUT_MS = 10000,  /* for the client to read the answer */
};

static void api_free_if_done(struct meshd_api *api)
{
	if (!api->closing || !api->server_closed || api->conns)
		return;
	free(api->path);
	free(api->operator_group);
	free(api);
}

static void conn_closed(uv_handle_t *h)
{
	struct api_conn *c = h->data;
	struct meshd_api *api = c->api;
	if (--c->open_handles)
		return;
	if (c->dialing) {
		c->orphan = true; /* still counted, so the API outlives the dial */
		return;
	}
	for (struct api_conn **pp = &api->conn_list; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	api->conns--;
	ctl_lapi_line_clear(&c->req);
	free(c);
	api_free_if_done(api);
}

static void conn_close(struct api_conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->pipe)) {
		uv_close((uv_handle_t *)&c->pipe, conn_closed);
		uv_close((uv_handle_t *)&c->timer, conn_closed);
	}
}

static void on_write_timeout(uv_timer_t *t)
{
	struct api_conn *c = t->data;
	log_debug(subject, "uid %u did not read its answer within %d s", (unsigned)c->cred.uid,
		  WRITE_TIMEOUT_MS / 1000);
	conn_close(c);
}

static void after_write(uv_write_t *w, int status)
{
	struct api_conn *c = w->data;
	free(w);
	conn_close(c);
}

/* Sends the line (taking ownership) and closes the connection afterwards. */
static void reply(struct api_conn *c, char *line)
{
	if (!line)
		line = ctl_lapi_reply_error("meshd is out of memory");
	if (!line) {
		conn_close(c);
		return;
	}
	uv_write_t *w = malloc(sizeof(*w) + strlen(line));
	if (!w) {
		free(line);
		conn_close(c);
		return;
	}
	size_t n = strlen(line);
	char *copy = (char *)(w + 1);
	memcpy(copy, line, n);
	free(line);
	uv_buf_t b = uv_buf_init(copy, (unsigned)n);
	w->data = c;
	uv_timer_start(&c->timer, on_write_timeout, WRITE_TIMEOUT_MS, 0);
	if (uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, after_write) != 0) {
		free(w);
		conn_close(c);
	}
}

static bool may_act(const struct meshd_api *api, const struct ucred *cred)
{
	return meshd_access_may_act(api->operator_group, cred->uid, cred->gid);
}

/* verb: the meshctl command refused ("sessions kill"), NULL: the request's name. */
static void reply_denied(struct api_conn *c, enum ctl_lapi_cmd cmd, const char *verb)
{
	char msg[256];
	meshd_access_denied(msg, sizeof(msg), verb ? verb : ctl_lapi_cmd_name(cmd),
			    c->api->operator_group);
	reply(c, ctl_lapi_reply_error("%s", msg));
}

/* ---- status ---- */

static void fill_node(struct ctl_lapi_node *out, const struct ctl_node *n, const char *domain)
{
	out->name = n->name ? strdup(n->name) : NULL;
	out->owner = n->owner ? strdup(n->owner) : NULL;
	if (n->name && domain) {
		size_t len = strlen(n->name) + strlen(domain) + 2;
		out->dns_name = malloc(len);
		if (out->dns_name)
			snprintf(out->dns_name, len, "%s.%s", n->name, domain);
	}
	if (n->n_tags && (out->tags = calloc(n->n_tags, sizeof(char *)))) {
		for (size_t i = 0; i < n->n_tags; i++)
			if ((out->tags[out->n_tags] = strdup(n->tags[i])))
				out->n_tags++;
	}
	if (n->n_ssh_host_keys &&
	    (out->ssh_host_keys = calloc(n->n_ssh_host_keys, sizeof(char *)))) {
		for (size_t i = 0; i < n->n_ssh_host_keys; i++)
			if ((out->ssh_host_keys[out->n_ssh_host_keys] =
				 strdup(n->ssh_host_keys[i])))
				out->n_ssh_host_keys++;
	}
	memcpy(out->addrs, n->addrs, sizeof(out->addrs));
	out->n_addrs = n->n_addrs;
	out->online = n->online;
}

void meshd_api_add_counter(struct ctl_lapi_status *st, const char *name, uint64_t value)
{
	static const char unshown[] = "status.unshown";
	struct ctl_lapi_counter *missing = NULL;
	for (size_t i = 0; i < st->n_counters; i++)
		if (strcmp(st->counters[i].name, unshown) == 0)
			missing = &st->counters[i];
	size_t len = strlen(name);
	bool valid = len > 0 && len < CTL_LAPI_COUNTER_NAME &&
		     strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._") == len;
	/* Until something is left out, one slot stays free to say so. */
	size_t room = CTL_LAPI_MAX_COUNTERS - (missing ? 0 : 1);
	if (valid && st->n_counters < room) {
		struct ctl_lapi_counter *c = &st->counters[st->n_counters++];
		snprintf(c->name, sizeof(c->name), "%s", name);
		c->value = value;
		return;
	}
	if (!missing) {
		missing = &st->counters[st->n_counters++];
		snprintf(missing->name, sizeof(missing->name), "%s", unshown);
		missing->value = 0;
	}
	missing->value++;
}

static void add_counter(void *ctx, const char *name, uint64_t value)
{
	meshd_api_add_counter(ctx, name, value);
}

void meshd_api_build_status(struct meshd_node *node, struct ctl_lapi_status *st)
{
	memset(st, 0, sizeof(*st));
	const struct ctl_netmap *nm = meshd_node_netmap(node);
	st->state = strdup(nm ? "Running" : "NeedsLogin");
	st->tun = strdup(meshd_node_tun(node));
	st->ssh = meshd_node_ssh(node);
	st->listen_port = meshd_node_listen_port(node);
	char b64[KEY_BASE64_SIZE];
	key_to_base64(b64, meshd_node_public_key(node));
	st->public_key = strdup(b64);
	if ((st->counters = calloc(CTL_LAPI_MAX_COUNTERS, sizeof(*st->counters))))
		meshd_node_counters(node, add_counter, st);
	if (!nm)
		return;
	st->domain = nm->domain ? strdup(nm->domain) : NULL;
	fill_node(&st->self, &nm->self, nm->domain);
	for (size_t i = 0; i < nm->n_relays && i < CTL_RELAYS_MAX; i++) /* not the credentials */
		st->relays[st->n_relays++] =
		    (struct ctl_lapi_relay){ nm->relays[i].url, nm->relays[i].expires };
	meshd_reach_alloc_status(meshd_node_reach(node), &st->alloc);
	st->peers = calloc(nm->n_peers ? nm->n_peers : 1, sizeof(*st->peers));
	if (!st->peers)
		return;
	for (size_t i = 0; i < nm->n_peers; i++) {
		struct ctl_lapi_node *p = &st->peers[st->n_peers++];
		fill_node(p, &nm->peers[i], nm->domain);
		struct meshd_peer_stats ps;
		if (meshd_node_peer_stats(node, nm->peers[i].node_key, &ps) == 0) {
			p->rx_bytes = ps.rx_bytes;
			p->tx_bytes = ps.tx_bytes;
			p->last_handshake = ps.last_handshake;
			if (ps.endpoint[0])
				p->endpoint = strdup(ps.endpoint);
			p->path = strdup(ps.path);
			p->rtt_ms = ps.rtt_ms;
		}
	}
}

/* ---- requests ---- */

/* commands: the exec command lines too (for those who may act as the node) */
static char *sessions_reply(struct meshd_node *node, bool commands)
{
	struct meshd_sessions *reg = meshd_node_sessions(node);
	struct ctl_lapi_session *v = NULL;
	size_t n = 0;
	if (reg && meshd_sessions_list(reg, commands, &v, &n) != 0)
		return NULL; /* reply() says out of memory */
	char *line = ctl_lapi_sessions_format(v, n);
	ctl_lapi_sessions_free(v, n);
	return line;
}

/* Finds the address of a peer by address text, name or DNS name. */
static void send_fd_reply(struct api_conn *c, int fd)
{
	char *line = ctl_lapi_reply_ok(NULL);
	int sock = -1;
	uv_fileno((uv_handle_t *)&c->pipe, &sock);
	if (line && sock >= 0) {
		struct iovec iov = { .iov_base = line, .iov_len = strlen(line) };
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		memset(&u, 0, sizeof(u));
		struct msghdr msg = { .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = u.buf,
				      .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
		if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
			log_debug(subject, "dial answer not delivered: %s", strerror(errno));
	}
	free(line);
	close(fd);
	conn_close(c);
}

static void on_dialed(void *ctx, int fd_or_err)
{
	struct api_conn *c = ctx;
	c->dialing = false;
	if (c->orphan) { /* the client or the API went away during the dial */
		if (fd_or_err >= 0)
			close(fd_or_err);
		c->open_handles = 1;
		conn_closed((uv_handle_t *)&c->pipe);
		return;
	}
	if (fd_or_err < 0) {
		reply(c, ctl_lapi_reply_error("cannot connect: %s", strerror(-fd_or_err)));
		return;
	}
	send_fd_reply(c, fd_or_err);
}

static void handle(struct api_conn *c)
{
	struct meshd_api *api = c->api;
	struct ctl_lapi_request req;
	char err[256];
	if (ctl_lapi_request_parse(c->req.buf, c->req.len, &req, err, sizeof(err)) != 0) {
		reply(c, ctl_lapi_reply_error("bad request: %s", err));
		return;
	}
	log_debug(subject, "pid %d uid %u: %s", (int)c->cred.pid, (unsigned)c->cred.uid,
		  ctl_lapi_cmd_name(req.cmd));
	const struct ctl_netmap *nm = meshd_node_netmap(api->node);
	switch (req.cmd) {
	case CTL_LAPI_STATUS: {
		struct ctl_lapi_status st;
		meshd_api_build_status(api->node, &st);
		if (api->hooks.fill_status)
			api->hooks.fill_status(api->hooks.ctx, &st);
		reply(c, ctl_lapi_status_format(&st));
		ctl_lapi_status_clear(&st);
		break;
	}
	case CTL_LAPI_WHOIS: {
		struct addr_prefix p;
		const struct ctl_node *n = NULL;
		if (!addr_prefix_parse(req.host, &p, NULL)) {
			reply(c, ctl_lapi_reply_error("'%s' is not an IP address", req.host));
			break;
		}
		if (nm && nm->self.n_addrs) {
			for (size_t i = 0; i < nm->self.n_addrs && !n; i++)
				if (addr_prefix_covers(&nm->self.addrs[i], &p))
					n = &nm->self;
		}
		if (!n && nm)
			n = ctl_netmap_peer_by_addr(nm, &p);
		if (!n) {
			reply(c, ctl_lapi_reply_error("no node in the tailnet has address %s",
						      req.host));
			break;
		}
		struct ctl_lapi_node ln = { 0 };
		fill_node(&ln, n, nm->domain);
		reply(c, ctl_lapi_node_format(&ln));
		ctl_lapi_node_clear(&ln);
		break;
	}
	case CTL_LAPI_DIAL: {
		/* A dial is a connection with this node's identity: not for every local user. */
		if (!may_act(api, &c->cred)) {
			reply_denied(c, req.cmd, NULL);
			break;
		}
		int family;
		uint8_t addr[16];
		if (!meshd_node_resolve(api->node, req.host, &family, addr)) {
			reply(c, ctl_lapi_reply_error("unknown host '%s': no such node in the "
						      "tailnet",
						      req.host));
			break;
		}
		if (!meshd_node_userspace(api->node)) {
			reply(c, ctl_lapi_reply_error("dial is only needed in userspace mode; "
						      "connect through the TUN device"));
			break;
		}
		c->dialing = true;
		int e = meshd_node_dial(api->node, family, addr, req.port, on_dialed, c);
		if (e)
			c->dialing = false;
		if (e)
			reply(c, ctl_lapi_reply_error("cannot connect to %s port %u: %s", req.host,
						      req.port, strerror(-e)));
		break;
	}
	case CTL_LAPI_DNS: { /* anyone: the names every process on the host may look up */
		char *text = NULL;
		int e = meshd_dns_query_text(meshd_node_dns(api->node), req.host, req.type, &text,
					     err, sizeof(err));
		reply(c, e ? ctl_lapi_reply_error("%s", err) : ctl_lapi_reply_ok(text));
		free(text);
		break;
	}
	case CTL_LAPI_SESSIONS: /* anyone, like who(1); command lines not to everyone */
		reply(c, sessions_reply(api->node, may_act(api, &c->cred)));
		break;
	case CTL_LAPI_KILL: {
		struct meshd_sessions *reg = meshd_node_sessions(api->node);
		char by[64];
		if (!may_act(api, &c->cred)) {
			reply_denied(c, req.cmd, "sessions kill");
			break;
		}
		snprintf(by, sizeof(by), "uid %u (pid %d)", (unsigned)c->cred.uid,
			 (int)c->cred.pid);
		if (!reg)
			snprintf(err, sizeof(err), "this node serves no SSH: it has no sessions");
		if (!reg || meshd_sessions_kill(reg, req.id, by, err, sizeof(err)) != 0)
			reply(c, ctl_lapi_reply_error("%s", err));
		else
			reply(c, ctl_lapi_reply_ok(NULL));
		break;
	}
	case CTL_LAPI_UP:
	case CTL_LAPI_DOWN:
	case CTL_LAPI_LOGOUT:
		if (!may_act(api, &c->cred)) {
			reply_denied(c, req.cmd, NULL);
			break;
		}
		if (api->hooks.change)
			reply(c, api->hooks.change(api->hooks.ctx, &req));
		else
			reply(c, ctl_lapi_reply_error("'%s' is not available: this meshd takes "
						      "its netmap from a file",
						      ctl_lapi_cmd_name(req.cmd)));
		break;
	}
	ctl_lapi_request_clear(&req);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char scratch[4096];
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(scratch, sizeof(scratch));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct api_conn *c = s->data;
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (n == 0 || c->handled)
		return;
	int rc = ctl_lapi_line_feed(&c->req, buf->base, (size_t)n);
	if (rc == -EMSGSIZE) {
		c->handled = true;
		uv_read_stop(s);
		reply(c, ctl_lapi_reply_error("request longer than %d bytes", CTL_LAPI_MAX_LINE));
		return;
	}
	if (rc < 0) {
		conn_close(c);
		return;
	}
	if (rc == 0)
		return;
	c->handled = true;
	uv_read_stop(s);
	uv_timer_stop(&c->timer); /* a dial takes as long as lwIP's connect; then reply() */
	handle(c);
}

static void on_request_timeout(uv_timer_t *t)
{
	struct api_conn *c = t->data;
	c->handled = true;
	uv_read_stop((uv_stream_t *)&c->pipe);
	reply(c, ctl_lapi_reply_error("no request within %d s", REQUEST_TIMEOUT_MS / 1000));
}

/* NULL when c may hold a slot, else why not. */
static const char *over_limit(const struct meshd_api *api, const struct api_conn *c, char *buf,
			      size_t len)
{
	unsigned held = 0, unprivileged = 0, same_uid = 0;
	for (const struct api_conn *o = api->conn_list; o; o = o->next) {
		if (o == c || o->refused)
			continue;
		held++;
		if (!o->privileged) {
			unprivileged++;
			same_uid += o->cred.uid == c->cred.uid;
		}
	}
	if (held >= MAX_CONNS) {
		snprintf(buf, len, "too many local API connections (%d)", MAX_CONNS);
		return buf;
	}
	if (c->privileged)
		return NULL;
	if (same_uid >= MAX_PER_UID) {
		snprintf(buf, len,
			 "too many local API connections from uid %u (at most %d at once)",
			 (unsigned)c->cred.uid, MAX_PER_UID);
		return buf;
	}
	if (unprivileged >= MAX_CONNS - RESERVED_CONNS) {
		snprintf(buf, len,
			 "local API busy: users other than root and the user meshd runs "
			 "as hold all their %d connections",
			 MAX_CONNS - RESERVED_CONNS);
		return buf;
	}
	return NULL;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct meshd_api *api = server->data;
	if (status < 0)
		return;
	struct api_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->api = api;
	uv_pipe_init(api->loop, &c->pipe, 0);
	uv_timer_init(api->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->req.max = CTL_LAPI_MAX_LINE;
	c->open_handles = 2;
	api->conns++;
	c->next = api->conn_list;
	api->conn_list = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		conn_close(c);
		return;
	}
	int fd = -1;
	socklen_t len = sizeof(c->cred);
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) != 0) {
		conn_close(c);
		return;
	}
	c->privileged = c->cred.uid == 0 || c->cred.uid == geteuid();
	char why[160];
	if (over_limit(api, c, why, sizeof(why))) {
		c->refused = c->handled = true;
		if (api->conns > MAX_CONNS + MAX_REFUSING) {
			conn_close(c);
			return;
		}
		log_warn_rl(&refusal_rl, subject, "uid %u (pid %d) refused: %s",
			    (unsigned)c->cred.uid, (int)c->cred.pid, why);
		reply(c, ctl_lapi_reply_error("%s", why));
		return;
	}
	uv_timer_start(&c->timer, on_request_timeout, REQUEST_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

static void server_closed(uv_handle_t *h)
{
	struct meshd_api *api = h->data;
	api->closing = true;
	api->server_closed = true;
	api_free_if_done(api);
}

int meshd_api_start(uv_loop_t *loop, const char *path, const char *operator_group,
		    struct meshd_node *node, const struct meshd_api_hooks *hooks,
		    struct meshd_api **out)
{
	struct meshd_api *api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->loop = loop;
	api->node = node;
	if (hooks)
		api->hooks = *hooks;
	api->path = strdup(path);
	api->operator_group = operator_group ? strdup(operator_group) : NULL;
	if (!api->path || (operator_group && !api->operator_group)) {
		free(api->path);
		free(api->operator_group);
		free(api);
		return -ENOMEM;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			log_warn(subject, "%s: %s", dir, strerror(errno));
	}
	unlink(path);
	uv_pipe_init(loop, &api->server, 0);
	api->server.data = api;
	int err = uv_pipe_bind(&api->server, path);
	if (!err) {
		chmod(path, 0666);
		err = uv_listen((uv_stream_t *)&api->server, 16, on_connection);
	}
	if (err) {
		log_err(subject, "%s: %s", path, uv_strerror(err));
		uv_close((uv_handle_t *)&api->server, server_closed);
		*out = NULL;
		return err;
	}
	*out = api;
	return 0;
}

void meshd_api_close(struct meshd_api *api)
{
	if (!api)
		return;
	api->closing = true;
	unlink(api->path);
	for (struct api_conn *c = api->conn_list; c; c = c->next)
		conn_close(c); /* a dial in flight answers into a closing pipe: dropped */
	uv_close((uv_handle_t *)&api->server, server_closed);
}
