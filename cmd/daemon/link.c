/* The control link.  Preferences (login server with its CA file and --insecure-http,
 * hostname, SSH on/off, wanted up) live in state_dir/prefs as key=value lines, rewritten
 * atomically; the auth key is used once and never stored. */
#include "cmd/daemon/link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/daemon/node.h"
#include "common/common.h"
#include "control/client/client.h"
#include "control/url/url.h"

static const char *const subject = "control-link";

enum link_state { LINK_STOPPED, LINK_STARTING, LINK_NEEDS_LOGIN, LINK_RUNNING };

struct meshd_link {
	uv_loop_t *loop;
	struct meshd_node *node;
	char *state_dir;
	/* prefs */
	char login_server[512];
	char ca_file[512]; /* "" = the system's CAs */
	bool insecure_http;
	char hostname[256];
	char tags[512]; /* advertised tags, comma-separated; meaningful when tags_set */
	bool ssh, wanted, tags_set;
	/* runtime */
	struct ctl_client *client;
	enum link_state state;
	bool connected;
	char auth_url[512];
	char error[512];
	char change_error[512]; /* control refused tags or a re-login; kept until the next 'up' */
	bool reauth_pending;	/* 'up --force-reauth' until control has registered the node */
};

/* ---- prefs ---- */

static void prefs_path(const struct meshd_link *l, char *out, size_t len)
{
	snprintf(out, len, "%s/prefs", l->state_dir);
}

static void prefs_load(struct meshd_link *l)
{
	char path[4096], line[1024];
	prefs_path(l, path, sizeof(path));
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	unsigned n = 0;
	while (fgets(line, sizeof(line), f)) {
		n++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		char *eq = strchr(line, '=');
		if (!eq) {
			log_warn(subject, "%s:%u: ignored (no '='): '%s'", path, n, line);
			continue;
		}
		*eq = '\0';
		const char *v = eq + 1;
		if (strcmp(line, "login_server") == 0)
			snprintf(l->login_server, sizeof(l->login_server), "%s", v);
		else if (strcmp(line, "ca_file") == 0)
			snprintf(l->ca_file, sizeof(l->ca_file), "%s", v);
		else if (strcmp(line, "insecure_http") == 0)
			l->insecure_http = strcmp(v, "1") == 0;
		else if (strcmp(line, "hostname") == 0)
			snprintf(l->hostname, sizeof(l->hostname), "%s", v);
		else if (strcmp(line, "ssh") == 0)
			l->ssh = strcmp(v, "1") == 0;
		else if (strcmp(line, "wanted") == 0)
			l->wanted = strcmp(v, "1") == 0;
		else if (strcmp(line, "advertise_tags") == 0) {
			snprintf(l->tags, sizeof(l->tags), "%s", v);
			l->tags_set = true;
		} else
			log_warn(subject, "%s:%u: unknown key '%s' ignored", path, n, line);
	}
	fclose(f);
}

static int prefs_save(const struct meshd_link *l)
{
	char path[4096], text[3072];
	prefs_path(l, path, sizeof(path));
	int n = snprintf(text, sizeof(text),
			 "# meshd preferences (meshctl up / down / logout rewrite this file)\n"
			 "login_server=%s\nca_file=%s\ninsecure_http=%d\nhostname=%s\nssh=%d\n"
			 "wanted=%d\n%s%s%s",
			 l->login_server, l->ca_file, l->insecure_http, l->hostname, l->ssh,
			 l->wanted, l->tags_set ? "advertise_tags=" : "",
			 l->tags_set ? l->tags : "", l->tags_set ? "\n" : "");
	int err = file_write_atomic(path, text, (size_t)n, 0600);
	if (err)
		log_err(subject, "%s: %s", path, strerror(-err));
	return err;
}

/* ---- the client ---- */

static void on_netmap(void *ctx, const struct ctl_netmap *nm, bool from_cache)
{
	struct meshd_link *l = ctx;
	struct ctl_netmap *copy;
	if (ctl_netmap_dup(nm, &copy) != 0) {
		log_err(subject, "out of memory copying netmap %llu",
			(unsigned long long)nm->version);
		return;
	}
	if (meshd_node_apply_netmap(l->node, copy) == 0 && !from_cache) {
		if (l->state != LINK_NEEDS_LOGIN) { /* a pending login keeps its URL and reason */
			l->state = LINK_RUNNING;
			l->auth_url[0] = '\0';
			l->error[0] = '\0';
		}
	} else if (from_cache && l->state != LINK_RUNNING) {
		log_info(subject, "started from the cached netmap %llu",
			 (unsigned long long)nm->version);
	}
}

static void on_event(void *ctx, enum ctl_client_event ev, const char *msg)
{
	struct meshd_link *l = ctx;
	switch (ev) {
	case CTL_CLIENT_NEEDS_LOGIN:
		l->state = LINK_NEEDS_LOGIN;
		snprintf(l->auth_url, sizeof(l->auth_url), "%s", msg);
		log_info(subject, "to log this node in, visit %s", msg);
		break;
	case CTL_CLIENT_REGISTERED:
		l->auth_url[0] = '\0';
		l->error[0] = '\0';
		l->reauth_pending = false;
		if (l->state == LINK_NEEDS_LOGIN)
			l->state = LINK_STARTING; /* the next netmap makes it Running */
		log_info(subject, "registered as %s", msg);
		break;
	case CTL_CLIENT_CONNECTED:
		l->connected = true;
		l->error[0] = '\0';
		meshd_node_control_connected(l->node); /* control may have forgotten them */
		break;
	case CTL_CLIENT_UNREACHABLE:
		l->connected = false;
		log_warn(subject, "%s", msg);
		break;
	case CTL_CLIENT_UNTRUSTED: /* shown (meshctl up stops on it) until control is reached */
		l->connected = false;
		snprintf(l->error, sizeof(l->error), "%s", msg);
		log_err(subject, "%s", msg);
		break;
	case CTL_CLIENT_REFUSED:
	case CTL_CLIENT_KEY_MISMATCH:
		l->connected = false;
		l->reauth_pending = false;
		snprintf(l->error, sizeof(l->error), "%s", msg);
		log_err(subject, "%s", msg);
		if (l->state != LINK_RUNNING)
			l->state = LINK_STOPPED;
		break;
	case CTL_CLIENT_LOGGED_OUT:
		l->connected = false;
		break;
	case CTL_CLIENT_KEY_EXPIRED:
		l->state = LINK_NEEDS_LOGIN;
		snprintf(l->error, sizeof(l->error), "%s", msg);
		log_warn(subject, "%s", msg);
		break;
	case CTL_CLIENT_CHANGE_REFUSED:
		snprintf(l->change_error, sizeof(l->change_error), "%s", msg);
		l->reauth_pending = false;
		if (l->state == LINK_NEEDS_LOGIN) { /* the login was refused; the key still works */
			l->state = LINK_RUNNING;
			l->auth_url[0] = '\0';
		}
		log_err(subject, "%s; the node stays as it was", msg);
		break;
	}
}

static void on_kill_session(void *ctx, const char *id, int64_t since)
{
	struct meshd_link *l = ctx;
	meshd_node_kill_session(l->node, id, since);
}

static void on_node_key(void *ctx, const uint8_t priv[32])
{
	struct meshd_link *l = ctx;
	meshd_node_set_node_key(l->node, priv);
}

/* Our UDP endpoints, typed: every non-loopback, non-tailnet address with the WireGuard port
 * (local), then what reachability found (reflexive behind an easy NAT, our relayed
 * address). */
static size_t collect_endpoints(struct meshd_link *l, char eps[][CTL_ENDPOINT_MAX], size_t max)
{
	struct ifaddrs *ifa, *i;
	size_t n = 0;
	uint16_t port = meshd_node_listen_port(l->node);
	if (getifaddrs(&ifa) != 0)
		return 0;
	for (i = ifa; i && n < max; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
			continue;
		char host[INET6_ADDRSTRLEN];
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)i->ifa_addr;
			const uint8_t *b = (const uint8_t *)&in->sin_addr;
			if (b[0] == 100 && (b[1] & 0xc0) == 64)
				continue; /* a tailnet address */
			inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
			snprintf(eps[n++], CTL_ENDPOINT_MAX, "local %s:%u", host, port);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const void *)i->ifa_addr;
			if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr) ||
			    (in6->sin6_addr.s6_addr[0] & 0xfe) == 0xfc)
				continue;
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
			snprintf(eps[n++], CTL_ENDPOINT_MAX, "local [%s]:%u", host, port);
		}
	}
	freeifaddrs(ifa);
	return n + meshd_reach_endpoints(meshd_node_reach(l->node), eps + n, max - n);
}

/* Reachability found a new reflexive or relayed address: control hears of it at once
 * (the client asks again on a new connection when the list changed). */
static void on_reach_endpoints(void *ctx)
{
	struct meshd_link *l = ctx;
	char eps[16][CTL_ENDPOINT_MAX];
	const char *ptrs[16];
	size_t n = collect_endpoints(l, eps, 16);
	for (size_t i = 0; i < n; i++)
		ptrs[i] = eps[i];
	if (l->client && ctl_client_set_endpoints(l->client, ptrs, n) != 0)
		log_warn(subject, "out of memory for our endpoints");
}

static void stop_client(struct meshd_link *l)
{
	if (!l->client)
		return;
	meshd_node_set_control(l->node, NULL);
	ctl_client_free(l->client);
	l->client = NULL;
	l->connected = false;
	l->reauth_pending = false;
}

static int start_client(struct meshd_link *l, const char *authkey, bool reauth, bool ask_hostname,
			char *err, size_t errlen)
{
	stop_client(l);
	char eps[16][CTL_ENDPOINT_MAX];
	const char *ep_ptrs[16];
	size_t n_eps = collect_endpoints(l, eps, 16);
	for (size_t i = 0; i < n_eps; i++)
		ep_ptrs[i] = eps[i];
	const char *hks[8];
	size_t n_hks = meshd_node_host_keys(l->node, hks, 8);
	char host[256];
	if (l->hostname[0])
		snprintf(host, sizeof(host), "%s", l->hostname);
	else if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "node");
	struct ctl_client_config cc = {
		.loop = l->loop,
		.server_url = l->login_server,
		.ca_file = l->ca_file[0] ? l->ca_file : NULL,
		.insecure_http = l->insecure_http,
		.state_dir = l->state_dir,
		.auth_key = authkey,
		.hostname = host,
		.advertise_tags = l->tags_set ? l->tags : NULL,
		.force_reauth = reauth,
		.ask_hostname = ask_hostname,
		.endpoints = ep_ptrs,
		.n_endpoints = n_eps,
		.ssh_host_keys = hks,
		.n_ssh_host_keys = n_hks,
		.on_netmap = on_netmap,
		.on_event = on_event,
		.on_node_key = on_node_key,
		.on_kill_session = on_kill_session,
		.ctx = l,
	};
	int rc = ctl_client_new(&cc, &l->client, err, errlen);
	if (rc)
		return rc;
	l->state = LINK_STARTING;
	l->error[0] = '\0';
	l->change_error[0] = '\0';
	l->auth_url[0] = '\0';
	rc = ctl_client_start(l->client);
	if (rc) {
		snprintf(err, errlen, "cannot start the control client: %s", strerror(-rc));
		ctl_client_free(l->client);
		l->client = NULL;
		return rc;
	}
	meshd_node_set_control(l->node, l->client);
	return 0;
}

static char *do_up(struct meshd_link *l, const struct ctl_lapi_request *req)
{
	char tags[sizeof(l->tags)] = "";
	for (size_t i = 0; i < req->n_tags; i++) {
		const char *t = req->tags[i];
		if (strncmp(t, "tag:", 4) != 0 || !t[4] || strchr(t, ','))
			return ctl_lapi_reply_error("'%s' is not a tag (tags look like tag:NAME)",
						    t);
		if (strlen(tags) + strlen(t) + 2 > sizeof(tags))
			return ctl_lapi_reply_error("too many tags");
		if (tags[0])
			strcat(tags, ",");
		strcat(tags, t);
	}
	bool tags_changed = req->tags_given && (!l->tags_set || strcmp(tags, l->tags) != 0);
	const char *server = req->login_server ? req->login_server : l->login_server;
	if (!server[0])
		return ctl_lapi_reply_error("no control server known: give --login-server=URL");
	if (strlen(server) >= sizeof(l->login_server))
		return ctl_lapi_reply_error("--login-server is longer than %zu characters",
					    sizeof(l->login_server) - 1);
	/* A request naming the server says how to reach it (its CA, --insecure-http); one
	 * without keeps what was remembered, unless it gives a CA file. */
	const char *ca = req->login_server ? (req->ca_file ? req->ca_file : "")
					   : (req->ca_file ? req->ca_file : l->ca_file);
	bool insecure =
	    req->login_server ? req->insecure_http : (req->insecure_http || l->insecure_http);
	if (strlen(ca) >= sizeof(l->ca_file))
		return ctl_lapi_reply_error("--ca-file is longer than %zu characters",
					    sizeof(l->ca_file) - 1);
	if (ca[0] && ca[0] != '/')
		return ctl_lapi_reply_error("--ca-file must be an absolute path, not '%s'", ca);
	char why[512];
	if (ctl_client_servers_check(server, insecure, why, sizeof(why)) < 0)
		return ctl_lapi_reply_error("--login-server: %s", why);
	bool server_changed = strcmp(server, l->login_server) != 0 || strcmp(ca, l->ca_file) != 0 ||
			      insecure != l->insecure_http;
	if (server_changed) { /* server and ca may point at l's own fields */
		char keep_server[sizeof(l->login_server)], keep_ca[sizeof(l->ca_file)];
		snprintf(keep_server, sizeof(keep_server), "%s", server);
		snprintf(keep_ca, sizeof(keep_ca), "%s", ca);
		memcpy(l->login_server, keep_server, sizeof(keep_server));
		memcpy(l->ca_file, keep_ca, sizeof(keep_ca));
		l->insecure_http = insecure;
	}
	/* a registered node registers again only for this: control renames it (#20) */
	bool hostname_changed = req->hostname && strcmp(req->hostname, l->hostname) != 0;
	if (req->hostname)
		snprintf(l->hostname, sizeof(l->hostname), "%s", req->hostname);
	if (req->tags_given) {
		snprintf(l->tags, sizeof(l->tags), "%s", tags);
		l->tags_set = true;
	}
	l->ssh = req->ssh;
	l->wanted = true;
	if (prefs_save(l) != 0)
		return ctl_lapi_reply_error("cannot save preferences in %s", l->state_dir);
	int rc = meshd_node_set_ssh(l->node, l->ssh);
	if (rc)
		return ctl_lapi_reply_error("cannot %s SSH: %s", l->ssh ? "enable" : "disable",
					    strerror(-rc));
	if (l->client && !server_changed && !req->authkey && !tags_changed && !hostname_changed &&
	    !req->force_reauth && l->state == LINK_RUNNING)
		return ctl_lapi_reply_ok("already up");
	char err[512];
	rc = start_client(l, req->authkey, req->force_reauth, req->hostname != NULL, err,
			  sizeof(err));
	l->reauth_pending = rc == 0 && req->force_reauth;
	if (rc)
		return ctl_lapi_reply_error("%s", err);
	return ctl_lapi_reply_ok("starting");
}

static char *do_down(struct meshd_link *l)
{
	stop_client(l);
	meshd_node_clear_netmap(l->node);
	l->wanted = false;
	l->state = LINK_STOPPED;
	prefs_save(l);
	return ctl_lapi_reply_ok("stopped: no peers, SSH refuses everyone until 'meshctl up'");
}

static void on_logged_out(void *ctx, int status)
{
	struct meshd_link *l = ctx;
	if (status)
		log_warn(subject, "logout: control did not confirm: %s", strerror(-status));
	stop_client(l);
}

static char *do_logout(struct meshd_link *l)
{
	if (!l->client)
		return ctl_lapi_reply_error("not logged in");
	int rc = ctl_client_logout(l->client, on_logged_out, l);
	meshd_node_clear_netmap(l->node);
	l->wanted = false;
	l->state = LINK_STOPPED;
	l->login_server[0] = '\0';
	l->ca_file[0] = '\0';
	l->insecure_http = false;
	l->tags[0] = '\0';
	l->tags_set = false;
	prefs_save(l);
	ctl_cache_remove(l->state_dir);
	if (rc)
		return ctl_lapi_reply_error("logout request failed: %s", strerror(-rc));
	return ctl_lapi_reply_ok("logged out");
}

char *meshd_link_change(void *ctx, const struct ctl_lapi_request *req)
{
	struct meshd_link *l = ctx;
	switch (req->cmd) {
	case CTL_LAPI_UP:
		return do_up(l, req);
	case CTL_LAPI_DOWN:
		return do_down(l);
	case CTL_LAPI_LOGOUT:
		return do_logout(l);
	default:
		return ctl_lapi_reply_error("'%s' is not a state change",
					    ctl_lapi_cmd_name(req->cmd));
	}
}

void meshd_link_fill_status(void *ctx, struct ctl_lapi_status *st)
{
	struct meshd_link *l = ctx;
	static const char *const names[] = { "Stopped", "Starting", "NeedsLogin", "Running" };
	const char *state = names[l->state];
	if (l->state == LINK_STARTING && meshd_node_netmap(l->node))
		state = "Running"; /* from the cache while control is unreachable */
	if (l->reauth_pending && l->state != LINK_NEEDS_LOGIN)
		state = "Starting"; /* not done until control has registered the node again */
	free(st->state);
	st->state = strdup(state);
	if (l->client) /* with several servers, the one in use */
		st->control_url = strdup(ctl_client_server_url(l->client));
	else if (l->login_server[0])
		st->control_url = strdup(l->login_server);
	st->control_connected = l->connected;
	if (l->client) {
		int64_t age = ctl_client_netmap_age(l->client);
		if (age >= 0)
			st->netmap_time = (int64_t)time(NULL) - age;
	}
	if (l->auth_url[0])
		st->auth_url = strdup(l->auth_url);
	if (l->error[0] || l->change_error[0])
		st->error = strdup(l->error[0] ? l->error : l->change_error);
}

int meshd_link_new(uv_loop_t *loop, const char *state_dir, struct meshd_node *node,
		   const struct ctl_lapi_request *up, struct meshd_link **out)
{
	struct meshd_link *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->node = node;
	l->state_dir = strdup(state_dir);
	if (!l->state_dir) {
		free(l);
		return -ENOMEM;
	}
	l->ssh = meshd_node_ssh(node);
	meshd_reach_on_endpoints(meshd_node_reach(node), on_reach_endpoints, l);
	prefs_load(l);
	*out = l;
	if (up) {
		struct ctl_lapi_request req = *up;
		req.cmd = CTL_LAPI_UP;
		req.ssh = meshd_node_ssh(node);
		char *r = do_up(l, &req);
		bool ok = false;
		char msg[512] = "";
		if (r)
			ctl_lapi_reply_parse(r, strlen(r), &ok, msg, sizeof(msg));
		free(r);
		if (!ok) {
			log_err(subject, "%s", msg);
			meshd_link_free(l);
			*out = NULL;
			return -EINVAL;
		}
		return 0;
	}
	if (l->wanted && l->login_server[0]) {
		meshd_node_set_ssh(node, l->ssh);
		char err[512];
		int rc = start_client(l, NULL, false, false, err, sizeof(err));
		if (rc)
			log_err(subject, "%s", err);
	}
	return 0;
}

void meshd_link_free(struct meshd_link *l)
{
	if (!l)
		return;
	meshd_reach_on_endpoints(meshd_node_reach(l->node), NULL, NULL);
	stop_client(l);
	free(l->state_dir);
	free(l);
}
