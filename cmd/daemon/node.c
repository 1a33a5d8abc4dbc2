/* Wiring of wg/, netstack/ and sshd/ for one node.  Nothing here parses packets or
 * speaks a protocol: it makes the node (its key, WireGuard, reachability, the SSH server),
 * moves packets between the modules' callbacks, and closes it all.  Netmaps become the
 * modules' configuration in netmap.c; SSH logins are decided in ssh.c. */
#include "cmd/daemon/node.h"
#include "cmd/daemon/internal.h"

#include <errno.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/daemon/dns_host.h"
#include "cmd/daemon/dns.h"
#include "cmd/daemon/reach/reach.h"
#include "cmd/daemon/audit.h"
#include "cmd/daemon/record.h"
#include "cmd/daemon/sessions.h"
#include "cmd/daemon/sessions_report.h"
#include "control/client/client.h"
#include "common/common.h"
#include "nat/stun.h"
#include "netstack/netstack.h"
#include "sshd/sshd.h"
#include "wg/wg.h"

static const char *const subject = "meshd";

/* ---- node key ---- */

int meshd_node_key(const char *state_dir, uint8_t priv[static 32], uint8_t pub[static 32])
{
	char path[4096], err[512];
	bool created;
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
		int rc = -errno;
		log_err(subject, "state directory %s: %s", state_dir, strerror(errno));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/node.key", state_dir);
	int rc = file_key_load_or_create(path, priv, &created, err, sizeof(err));
	if (rc) {
		log_err(subject, "%s", err);
		return rc;
	}
	if (created)
		log_info(subject, "created a new node key in %s", path);
	if (crypto_scalarmult_curve25519_base(pub, priv) != 0)
		return -EINVAL;
	return 0;
}

/* ---- packets between the modules ---- */

static void on_wg_packet(void *ctx, const uint8_t *pkt, size_t len)
{
	struct meshd_node *node = ctx;
	if (node->ns)
		ns_input(node->ns, pkt, len);
}

/* wg's hooks for what is not WireGuard, and for where a peer's datagrams go. */
static void on_wg_other(void *ctx, uint8_t *buf, size_t len, const struct sockaddr *src)
{
	struct meshd_node *node = ctx;
	if (node->reach)
		meshd_reach_on_other(node->reach, buf, len, src);
}

static int on_wg_route(void *ctx, uint64_t path, size_t len, struct wg_route *r)
{
	struct meshd_node *node = ctx;
	return node->reach ? meshd_reach_route(node->reach, path, len, r) : -ENETUNREACH;
}

static void on_wg_roam(void *ctx, const uint8_t key[WG_KEY_LEN], const struct wg_source *from)
{
	struct meshd_node *node = ctx;
	if (node->reach)
		meshd_reach_on_roam(node->reach, key, from);
}

int meshd__on_ns_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct meshd_node *node = ctx;
	return wg_device_send(node->wg, pkt, len);
}

size_t meshd__on_ns_send_batch(void *ctx, const struct iovec *pkts, size_t n)
{
	struct meshd_node *node = ctx;
	return wg_device_send_batch(node->wg, pkts, n);
}

/* ---- what the node has ---- */

const struct ctl_netmap *meshd_node_netmap(const struct meshd_node *node)
{
	return node->nm;
}

const uint8_t *meshd_node_public_key(const struct meshd_node *node)
{
	return node->public_key;
}

int meshd_node_peer_stats(struct meshd_node *node, const uint8_t key[static 32],
			  struct meshd_peer_stats *out)
{
	struct wg_peer_status st;
	memset(out, 0, sizeof(*out));
	int err = wg_device_peer_status(node->wg, key, &st);
	if (err)
		return err;
	out->rx_bytes = st.rx_bytes;
	out->tx_bytes = st.tx_bytes;
	out->last_handshake = (int64_t)(st.last_handshake_wall_ns / 1000000000u);
	if (meshd_reach_peer_path(node->reach, key, out->path, &out->rtt_ms) != 0) {
		snprintf(out->path, sizeof(out->path), "none");
		out->rtt_ms = -1;
	}
	if (st.has_endpoint)
		nat_sockaddr_format(&st.endpoint, out->endpoint, sizeof(out->endpoint));
	return 0;
}

struct meshd_reach *meshd_node_reach(struct meshd_node *node)
{
	return node->reach;
}

void meshd_node_counters(const struct meshd_node *node,
			 void (*cb)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	meshd_reach_counters(node->reach, cb, ctx);
	meshd_dns_counters(node->dns, cb, ctx);
	meshd_audit_counters(node->audit, cb, ctx);
	if (!node->ns)
		return;
	struct ns_counters c;
	ns_get_counters(node->ns, &c);
	ns_counters_foreach(&c, cb, ctx);
}

struct meshd_sessions *meshd_node_sessions(const struct meshd_node *node)
{
	return node->sessions;
}

struct meshd_dns *meshd_node_dns(const struct meshd_node *node)
{
	return node->dns;
}

const char *meshd_node_tun(const struct meshd_node *node)
{
	return node->tun;
}

bool meshd_node_userspace(const struct meshd_node *node)
{
	return strcmp(node->tun, "userspace") == 0;
}

bool meshd_node_ssh(const struct meshd_node *node)
{
	return node->ssh_on;
}

int meshd_node_set_ssh(struct meshd_node *node, bool on)
{
	if (on == node->ssh_on)
		return 0;
	if (!node->sshd)
		return -ENOTSUP;
	node->ssh_on = on;
	if (!node->ns)
		return 0;
	int err =
	    on ? ns_listen(node->ns, 22, meshd__on_ssh_accept, node) : ns_unlisten(node->ns, 22);
	if (err)
		node->ssh_on = !on;
	else
		log_info(subject, "SSH on the tailnet address: %s", on ? "on" : "off");
	return err;
}

int meshd_node_set_node_key(struct meshd_node *node, const uint8_t priv[static 32])
{
	uint8_t pub[KEY_LEN];
	char fp[KEY_FINGERPRINT_SIZE];
	if (crypto_scalarmult_curve25519_base(pub, priv) != 0)
		return -EINVAL;
	int rc = wg_device_set_private_key(node->wg, priv);
	if (rc) {
		log_err(subject, "WireGuard refused the new node key: %s", strerror(-rc));
		return rc;
	}
	memcpy(node->private_key, priv, KEY_LEN);
	memcpy(node->public_key, pub, KEY_LEN);
	meshd_reach_set_node_key(node->reach, pub);
	key_fingerprint(fp, pub);
	log_info(subject, "WireGuard now uses node key %s", fp);
	return 0;
}

void meshd_node_set_control(struct meshd_node *node, struct ctl_client *client)
{
	if (client != node->control)
		meshd__flush_holds(node, "the control connection was replaced");
	node->control = client;
	meshd_audit_set_control(node->audit, client);
	meshd_sessions_report_set_control(node->sessions_report, client);
	if (client) { /* discovery messages are sealed with the key control publishes */
		uint8_t pub[KEY_LEN], priv[KEY_LEN];
		ctl_client_disco_key(client, pub, priv);
		meshd_reach_set_disco_key(node->reach, pub, priv);
		key_wipe(priv, KEY_LEN);
	}
}

void meshd_node_control_connected(struct meshd_node *node)
{
	meshd_sessions_report_resend(node->sessions_report);
}

void meshd_node_kill_session(struct meshd_node *node, const char *id, int64_t since)
{
	char err[200];
	if (!node->sessions)
		log_warn(subject, "control asks to end session %s: this node serves no SSH", id);
	else if (meshd_sessions_kill_since(node->sessions, id, since, "control admin", err,
					   sizeof(err)))
		log_warn(subject, "control asks to end session %s: %s", id, err);
}

size_t meshd_node_host_keys(const struct meshd_node *node, const char **lines, size_t max)
{
	size_t n = 0;
	if (!node->sshd)
		return 0;
	for (size_t i = 0; i < sshd_host_key_count(node->sshd) && n < max; i++) {
		const char *line, *fp;
		if (sshd_host_key(node->sshd, i, &line, &fp) == 0)
			lines[n++] = line;
	}
	return n;
}

uint16_t meshd_node_listen_port(const struct meshd_node *node)
{
	return wg_device_listen_port(node->wg);
}

int meshd_node_dial(struct meshd_node *node, int family, const uint8_t *addr, uint16_t port,
		    void (*cb)(void *ctx, int fd_or_err), void *ctx)
{
	if (!node->ns)
		return -ENETDOWN;
	return ns_dial(node->ns, family, addr, port, cb, ctx);
}

static void free_on_close(uv_handle_t *h)
{
	free(h->data);
}

int meshd_node_new(uv_loop_t *loop, const struct meshd_node_config *cfg, struct meshd_node **out)
{
	if (sodium_init() < 0)
		return -EIO;
	struct meshd_node *node = calloc(1, sizeof(*node));
	if (!node)
		return -ENOMEM;
	node->loop = loop;
	node->cfg = *cfg;
	node->state_dir = strdup(cfg->state_dir);
	node->tun = strdup(cfg->tun);
	if (!node->state_dir || !node->tun) {
		free(node->state_dir);
		free(node->tun);
		free(node);
		return -ENOMEM;
	}
	snprintf(node->name, sizeof(node->name), "%s", cfg->tun);
	int err = meshd_node_key(node->state_dir, node->private_key, node->public_key);
	if (err)
		goto fail;
	struct meshd_dns_host_config dc = { .resolv_conf = cfg->resolv_conf,
					    .state_dir = node->state_dir,
					    .ifname = cfg->tun,
					    .accept = cfg->accept_dns };
	if ((err = meshd_dns_host_new(&dc, &node->dns_host))) /* a crash's resolv.conf back */
		goto fail;
	uv_timer_init(loop, &node->linger_timer);
	node->linger_timer.data = node;
	uv_timer_init(loop, &node->restart_timer);
	node->restart_timer.data = node;
	node->linger_timer_init = true;

	struct wg_device_config wc = {
		.name = node->name,
		.private_key = node->private_key,
		.listen_port = cfg->listen_port,
		.time_scale = cfg->wg_time_scale,
		.crypto_workers = 1, /* a second core for ChaCha20-Poly1305 on bulk transfers */
	};
	static const struct wg_device_ops wg_ops = {
		.recv = on_wg_packet,
		.other = on_wg_other,
		.route = on_wg_route,
		.roam = on_wg_roam,
	};
	err = wg_device_new(loop, &wc, &wg_ops, node, &node->wg);
	if (err) {
		log_err(subject, "WireGuard on UDP port %u: %s", cfg->listen_port, strerror(-err));
		goto fail;
	}
	err = meshd_reach_new(loop, node->wg, &node->reach);
	if (err)
		goto fail;
	struct addr_endpoint upstream[DNS_VIEW_MAX_UPSTREAMS];
	size_t n_up = meshd_dns_host_resolvers(node->dns_host, upstream, DNS_VIEW_MAX_UPSTREAMS);
	err = meshd_dns_new(loop, upstream, n_up, &node->dns);
	if (err)
		goto fail;
	meshd_reach_set_node_key(node->reach, node->public_key);
	const char *dir = cfg->uapi_dir ? cfg->uapi_dir : "/var/run/wireguard";
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		log_warn(subject, "%s: %s; `wg show` will not see this node", dir, strerror(errno));
	} else {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s.sock", dir, node->name);
		err = wg_device_uapi_start(node->wg, path);
		if (err)
			log_warn(subject, "%s: %s; `wg show` will not see this node", path,
				 strerror(-err));
		err = 0;
	}

	meshd_audit_new(loop, node->state_dir, &node->audit); /* failure logged: runs without */
	node->ssh_on = cfg->ssh;
	if (cfg->ssh && geteuid() != 0) {
		struct passwd *pw = getpwuid(geteuid());
		log_warn(subject,
			 "running without root: SSH logins only as \"%s\" (uid %u); other "
			 "users are refused with a banner that says so",
			 pw ? pw->pw_name : "?", (unsigned)geteuid());
	}
	if (cfg->ssh) {
		struct sshd_config sc = { .state_dir = node->state_dir };
		struct sshd_hooks hooks = {
			.authorize = meshd__on_ssh_authorize,
			.check_cancel = meshd__on_ssh_check_cancel,
			.ctx = node,
		};
		struct meshd_sessions_config rc = { .node = node, .recorded = meshd_record_where };
		err = meshd_record_new(loop, node, cfg->record_dir, cfg->record_max_bytes,
				       cfg->record_input, &hooks, &node->rec);
		err = err ? err : meshd_sessions_new(&rc, &hooks, &node->sessions);
		err = err ? err : meshd__audit_hooks(node, &hooks);
		err = err ? err : sshd_server_new(loop, &sc, &hooks, &node->sshd);
		if (err) {
			log_err(subject, "SSH server: %s", strerror(-err));
			goto fail;
		}
		if (meshd_sessions_report_new(loop, node->sessions, &node->sessions_report))
			log_err(subject,
				"out of memory: live sessions are not reported to control");
	}
	*out = node;
	return 0;
fail:
	if (node->wg)
		wg_device_free(node->wg);
	if (node->reach)
		meshd_reach_close(node->reach, NULL, NULL);
	if (node->dns)
		meshd_dns_close(node->dns, NULL, NULL);
	meshd_sessions_free(node->sessions);
	meshd_record_free(node->rec);
	meshd_audit_close(node->audit, NULL, NULL);
	meshd_dns_host_free(node->dns_host);
	key_wipe(node->private_key, KEY_LEN);
	free(node->state_dir);
	free(node->tun);
	if (node->linger_timer_init) {
		uv_close((uv_handle_t *)&node->restart_timer, NULL);
		uv_close((uv_handle_t *)&node->linger_timer, free_on_close);
	} else {
		free(node);
	}
	return err;
}

static void finish_close(void *arg)
{
	struct meshd_node *node = arg;
	if (--node->pending_closes > 0)
		return;
	void (*done)(void *) = node->done;
	void *done_arg = node->done_arg;
	if (node->nm)
		ctl_netmap_free(node->nm);
	meshd_sessions_free(node->sessions); /* after sshd: its sessions ended */
	meshd_record_free(node->rec);	     /* after sshd: its sessions ended their recordings */
	free(node->peer_keys);
	free(node->lingering);
	free(node->state_dir);
	free(node->tun);
	key_wipe(node->private_key, KEY_LEN);
	free(node);
	if (done)
		done(done_arg);
}

static void sshd_closed(void *arg)
{
	struct meshd_node *node = arg;
	struct meshd_audit *a = node->audit;
	node->audit = NULL; /* what comes later (a recorder failing) goes nowhere */
	meshd_audit_close(a, finish_close, node);
	finish_close(node);
}

static void timer_closed(uv_handle_t *h)
{
	finish_close(h->data);
}

void meshd_node_close(struct meshd_node *node, void (*done)(void *arg), void *arg)
{
	node->done = done;
	node->done_arg = arg;
	node->pending_closes = 1;
	meshd__flush_holds(node, "meshd is shutting down");
	node->control = NULL;
	meshd_audit_set_control(node->audit, NULL);
	meshd_sessions_report_close(node->sessions_report); /* before sshd ends the sessions */
	node->sessions_report = NULL;
	meshd_dns_host_free(node->dns_host); /* the host's resolv.conf back */
	node->dns_host = NULL;
	if (node->sshd) {
		node->pending_closes += 2; /* sshd, then the audit queue its sessions' ends go to */
		node->sshd_closing = true;
		sshd_server_close(node->sshd, sshd_closed, node);
		node->sshd = NULL;
	}
	if (node->rec) { /* after sshd's close began: its sessions end their uploads */
		node->pending_closes++;
		meshd_record_close(node->rec, finish_close, node);
	}
	if (!node->sshd_closing) {
		struct meshd_audit *a = node->audit;
		node->audit = NULL;
		node->pending_closes++;
		meshd_audit_close(a, finish_close, node);
	}
	node->pending_closes++;
	meshd_dns_close(node->dns, finish_close, node); /* before the netstack: its streams */
	node->dns = NULL;
	if (node->ns) {
		ns_free(node->ns);
		node->ns = NULL;
	}
	wg_device_free(node->wg);
	node->wg = NULL;
	node->pending_closes++;
	meshd_reach_close(node->reach, finish_close, node); /* after wg: it calls into it */
	node->reach = NULL;
	node->pending_closes += 2;
	uv_close((uv_handle_t *)&node->linger_timer, timer_closed);
	uv_close((uv_handle_t *)&node->restart_timer, timer_closed);
	finish_close(node);
}
