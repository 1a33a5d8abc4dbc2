/* meshd: the node daemon.  Wires wg/ (userspace WireGuard), netstack/ (lwIP, TUN,
 * interception) and sshd/ (embedded SSH server) through cmd/daemon/node.c, fed by
 * netmaps from meshcontrol (cmd/daemon/link.c) or, for tests and for running without
 * control, from a file (--netmap, re-read on SIGHUP).  meshctl talks to it over the local
 * API (cmd/daemon/api.c).  Options: cmd/daemon/options.c (the file's: config.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "cmd/daemon/api.h"
#include "cmd/daemon/config.h"
#include "cmd/daemon/options.h"
#include "cmd/daemon/link.h"
#include "cmd/daemon/node.h"
#include "common/common.h"
#include "control/netmap/netmap.h"

static const char *const subject = "meshd";

struct meshd {
	uv_loop_t *loop;
	struct meshd_node *node;
	struct meshd_api *api;
	struct meshd_link *link;
	const char *netmap_path;
	const char *config_path;
	uv_signal_t sig_term, sig_int, sig_hup;
	bool stopping;
	int exit_code;
};

static int load_netmap(struct meshd *d)
{
	char *buf;
	size_t len;
	int rc = file_read_all(d->netmap_path, 64u << 20, &buf, &len);
	if (rc) {
		log_err(subject, "netmap %s: %s", d->netmap_path, strerror(-rc));
		return rc;
	}
	struct ctl_netmap *nm;
	char err[256];
	rc = ctl_netmap_parse(buf, len, &nm, err, sizeof(err));
	free(buf);
	if (rc) {
		log_err(subject, "netmap %s: %s", d->netmap_path, err);
		return rc;
	}
	return meshd_node_apply_netmap(d->node, nm);
}

static void on_closed(void *arg)
{
	struct meshd *d = arg;
	d->node = NULL;
	meshd_api_close(d->api);
	d->api = NULL;
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
}

/* SIGHUP: the log level follows the file; everything else needs a restart. */
static void reload_config(struct meshd *d)
{
	meshd_config_reload_log_level(d->config_path);
	if (d->netmap_path) {
		log_info(subject, "SIGHUP: re-reading %s", d->netmap_path);
		load_netmap(d);
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct meshd *d = h->data;
	if (signum == SIGHUP) {
		reload_config(d);
		return;
	}
	if (d->stopping)
		return;
	d->stopping = true;
	log_info(subject, "%s: shutting down", strsignal(signum));
	meshd_link_free(d->link);
	d->link = NULL;
	meshd_node_close(d->node, on_closed, d);
}

/* --print-public-key: the node key (made if there is none yet); nothing else is started or
 * made (no socket, no TUN, no UAPI directory). */
static int print_public_key(const struct meshd_node_config *cfg)
{
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	int err = meshd_node_key(cfg->state_dir, priv, pub);
	key_wipe(priv, sizeof(priv));
	if (err)
		return 1;
	char b64[KEY_BASE64_SIZE];
	key_to_base64(b64, pub);
	printf("%s\n", b64);
	return 0;
}

/* --relay-ca-file: read now, so a wrong path is said at start, not at the first relay.
 * Returns 0 or the exit code. */
static int set_relay_ca(struct meshd *d, const char *relay_ca_file)
{
	char *path = realpath(relay_ca_file, NULL);
	FILE *f = path ? fopen(path, "r") : NULL;
	struct stat st;
	if (f && fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
		fclose(f);
		f = NULL;
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL; /* EINVAL: "not a regular file" */
	}
	if (!f) {
		fprintf(stderr, "meshd: --relay-ca-file %s: %s\n", relay_ca_file,
			errno == EINVAL ? "not a regular file" : strerror(errno));
		free(path);
		meshd_node_close(d->node, NULL, NULL);
		uv_run(d->loop, UV_RUN_DEFAULT);
		return 2;
	}
	fclose(f);
	int err = meshd_reach_set_relay_ca_file(meshd_node_reach(d->node), path);
	free(path);
	if (err) {
		log_err(subject, "cannot start: %s", strerror(-err));
		return 1;
	}
	return 0;
}

/* The link to control (unless netmaps come from a file): what the command line says about
 * control is handed over once, the auth key wiped after. */
static int start_link(struct meshd *d, struct meshd_options *o)
{
	int err = 0;
	char *ca_file = NULL;
	/* --ca-file is remembered: absolute, so it means the same file wherever meshd runs
	 */
	if (!d->netmap_path && o->ca_file && !(ca_file = realpath(o->ca_file, NULL))) {
		log_err(subject, "--ca-file %s: %s", o->ca_file, strerror(errno));
		err = -ENOENT;
	} else if (!d->netmap_path) {
		struct ctl_lapi_request up = { .login_server = (char *)o->login_server,
					       .authkey = o->authkey,
					       .hostname = (char *)o->hostname,
					       .ca_file = ca_file,
					       .insecure_http = o->insecure_http };
		bool any = o->login_server || o->authkey || o->ca_file || o->insecure_http;
		err =
		    meshd_link_new(d->loop, o->node.state_dir, d->node, any ? &up : NULL, &d->link);
	}
	meshd_options_forget_authkey(o);
	free(ca_file);
	return err;
}

static int run(struct meshd_options *o)
{
	struct meshd d = { .netmap_path = o->netmap_path, .config_path = o->config_path };
	signal(SIGPIPE, SIG_IGN);
	d.loop = uv_default_loop();
	if (o->print_public_key)
		return print_public_key(&o->node);
	int err = meshd_node_new(d.loop, &o->node, &d.node);
	if (err) {
		log_err(subject, "cannot start: %s", strerror(-err));
		return 1;
	}
	if (o->relay_ca_file && (err = set_relay_ca(&d, o->relay_ca_file)) != 0)
		return err;
	uv_signal_init(d.loop, &d.sig_term);
	uv_signal_init(d.loop, &d.sig_int);
	uv_signal_init(d.loop, &d.sig_hup);
	d.sig_term.data = d.sig_int.data = d.sig_hup.data = &d;
	uv_signal_start(&d.sig_term, on_signal, SIGTERM);
	uv_signal_start(&d.sig_int, on_signal, SIGINT);
	uv_signal_start(&d.sig_hup, on_signal, SIGHUP);

	err = start_link(&d, o);
	struct meshd_api_hooks hooks = {
		.fill_status = meshd_link_fill_status,
		.change = meshd_link_change,
		.ctx = d.link,
	};
	if (!err)
		err = meshd_api_start(d.loop, o->socket_path, o->operator_group, d.node,
				      d.link ? &hooks : NULL, &d.api);
	if (err || (d.netmap_path && load_netmap(&d) != 0)) {
		d.exit_code = 1;
		d.stopping = true;
		meshd_link_free(d.link);
		d.link = NULL;
		meshd_node_close(d.node, on_closed, &d);
	} else {
		log_info(subject, "running (%s)%s", o->node.tun,
			 d.netmap_path ? ", netmap from file" : "");
	}
	uv_run(d.loop, UV_RUN_DEFAULT);
	uv_loop_close(d.loop);
	return d.exit_code;
}

int main(int argc, char **argv)
{
	struct meshd_options o;
	int rc = meshd_options_parse(argc, argv, &o);
	if (rc < 0)
		rc = run(&o);
	meshd_options_free(&o);
	return rc;
}
