/* meshd: the node daemon.  Wires wg/ (userspace WireGuard), netstack/ (lwIP, TUN,
 * interception) and sshd/ (embedded SSH server) through cmd/daemon/node.c, fed by
 * netmaps from meshcontrol (cmd/daemon/link.c) or, for tests and for running without
 * control, from a file (--netmap, re-read on SIGHUP).  meshctl talks to it over the local
 * API (cmd/daemon/api.c). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cmd/daemon/api.h"
#include "cmd/daemon/config.h"
#include "cmd/daemon/link.h"
#include "cmd/daemon/node.h"
#include "common/common.h"
#include "control/netmap/netmap.h"
#include "mesh_version.h"

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

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: meshd [OPTION]...\n"
	    "The Mesh node daemon: userspace WireGuard, an embedded TCP/IP stack that serves\n"
	    "SSH on this node's tailnet address, and the control-plane client.\n"
	    "\n"
	    "Options:\n"
	    "      --state-dir=DIR    keys and SSH host keys (default /var/lib/meshd)\n"
	    "      --tun=NAME         TUN interface name (default mesh0), or 'userspace' to run\n"
	    "                         without a TUN device (SSH and inbound forwarding to\n"
	    "                         127.0.0.1 still work; outbound through --socks5-socket)\n"
	    "      --port=N           WireGuard UDP port (default 41641; 0 = any)\n"
	    "      --login-server=URL the control server (like 'meshctl up --login-server');\n"
	    "                         https:// is verified, http:// only goes to loopback\n"
	    "      --ca-file=FILE     trust the CA in FILE (PEM) for control's certificate\n"
	    "                         (default: the system's CAs)\n"
	    "      --relay-ca-file=FILE trust the CA in FILE (PEM) for TLS relays' certificates\n"
	    "                         (turns: relays; default: the system's CAs)\n"
	    "      --insecure-http    allow an http:// login server that is not loopback\n"
	    "                         (logged as a warning: no TLS protects the first fetch of\n"
	    "                         control's key, nor anything else)\n"
	    "      --authkey=KEY      join with this auth key (used once, never stored);\n"
	    "                         file:PATH reads it from PATH, so it stays out of ps\n"
	    "      --hostname=NAME    the name to register (default: the system's)\n"
	    "      --netmap=FILE      take the netmap from FILE (JSON) instead of control;\n"
	    "                         SIGHUP re-reads it\n"
	    "      --no-ssh           do not serve SSH on the tailnet address\n"
	    "      --record-dir=DIR   record every SSH session's output into DIR (asciicast v2,\n"
	    "                         0600 files; `asciinema play` and `asciinema cat` read them)\n"
	    "      --record-max-bytes=N  cap of one recording (default 64 MiB); at the cap it\n"
	    "                         stops with a marker; an enforceRecorder rule ends the "
	    "session\n"
	    "      --socks5-socket=PATH\n"
	    "                         userspace mode: SOCKS5 proxy on the Unix socket PATH\n"
	    "                         (0600; 0660 for --operator-group) for root, the user meshd\n"
	    "                         runs as and the operator group; peer names resolve\n"
	    "                         (curl -x socks5h://localhost/PATH http://my-server/)\n"
	    "      --uapi-dir=DIR     where the `wg` tool finds us (default /var/run/wireguard)\n"
	    "      --socket=PATH      local API socket for meshctl (default "
	    "/run/meshd/meshd.sock)\n"
	    "      --operator-group=G members of group G may change state through meshctl\n"
	    "      --log-level=LEVEL  err, warn, info (default) or debug\n"
	    "      --config=FILE      settings as 'name = value' lines (long option names);\n"
	    "                         default /etc/meshd.conf if it exists; flags override\n"
	    "                         it; SIGHUP re-reads its log-level\n"
	    "      --print-public-key print this node's WireGuard public key and exit\n"
	    "  -h, --help             show this help and exit\n"
	    "  -V, --version          show the version and exit\n");
}

static char *authkey; /* ours: wiped and freed once the link has it, or at exit */

static void forget_authkey(void)
{
	if (authkey) {
		explicit_bzero(authkey, strlen(authkey));
		free(authkey);
		authkey = NULL;
	}
}

/* --authkey file:PATH: the key is the file's first line (what 'meshctl up' also takes),
 * in a file only its owner may read. */
static char *read_authkey_file(const char *path)
{
	char err[512];
	char *key = file_read_secret_line(path, err, sizeof(err));
	if (!key)
		fprintf(stderr, "meshd: --authkey file %s\n", err);
	return key;
}

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

static int config_argc, config_orig_argc;
static char **config_argv;

static void free_config_argv(void)
{
	meshd_config_argv_free(config_argc, config_argv, config_orig_argc);
}

/* SIGHUP: the log level follows the file; everything else needs a restart. */
static void reload_config(struct meshd *d)
{
	char *argv0 = "meshd";
	int n;
	char **v;
	if (!meshd_config_argv(d->config_path, false, 1, &argv0, &n, &v)) {
		log_warn(subject, "SIGHUP: %s not reloaded (see the error above)", d->config_path);
		return;
	}
	for (int i = 1; i < n; i++) {
		if (strncmp(v[i], "--log-level=", 12) == 0) {
			enum log_level lv;
			if (log_level_parse(v[i] + 12, &lv)) {
				log_set_level(lv);
				log_info(subject, "SIGHUP: log level %s", v[i] + 12);
			} else {
				log_warn(subject, "SIGHUP: %s: bad log-level '%s' ignored",
					 d->config_path, v[i] + 12);
			}
		}
	}
	meshd_config_argv_free(n, v, 1);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct meshd *d = h->data;
	if (signum == SIGHUP) {
		reload_config(d);
		if (d->netmap_path) {
			log_info(subject, "SIGHUP: re-reading %s", d->netmap_path);
			load_netmap(d);
		}
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

int main(int argc, char **argv)
{
	enum {
		OPT_STATE = 256,
		OPT_TUN,
		OPT_PORT,
		OPT_NETMAP,
		OPT_NO_SSH,
		OPT_SOCKS,
		OPT_UAPI,
		OPT_LOG,
		OPT_PUB,
		OPT_TIME_SCALE,
		OPT_SOCKET,
		OPT_OPERATOR,
		OPT_LOGIN,
		OPT_AUTHKEY,
		OPT_HOSTNAME,
		OPT_CA_FILE,
		OPT_RELAY_CA_FILE,
		OPT_INSECURE_HTTP,
		OPT_CONFIG,
		OPT_RECORD_DIR,
		OPT_RECORD_MAX,
		OPT_SOCKS_PORT
	};
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "tun", required_argument, NULL, OPT_TUN },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "netmap", required_argument, NULL, OPT_NETMAP },
		{ "no-ssh", no_argument, NULL, OPT_NO_SSH },
		{ "socks5-socket", required_argument, NULL, OPT_SOCKS },
		{ "socks5-port", required_argument, NULL, OPT_SOCKS_PORT },
		{ "uapi-dir", required_argument, NULL, OPT_UAPI },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "print-public-key", no_argument, NULL, OPT_PUB },
		{ "test-time-scale", required_argument, NULL, OPT_TIME_SCALE },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "operator-group", required_argument, NULL, OPT_OPERATOR },
		{ "login-server", required_argument, NULL, OPT_LOGIN },
		{ "ca-file", required_argument, NULL, OPT_CA_FILE },
		{ "relay-ca-file", required_argument, NULL, OPT_RELAY_CA_FILE },
		{ "insecure-http", no_argument, NULL, OPT_INSECURE_HTTP },
		{ "authkey", required_argument, NULL, OPT_AUTHKEY },
		{ "hostname", required_argument, NULL, OPT_HOSTNAME },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "record-dir", required_argument, NULL, OPT_RECORD_DIR },
		{ "record-max-bytes", required_argument, NULL, OPT_RECORD_MAX },
		{ 0 },
	};
	struct meshd_node_config cfg = {
		.state_dir = "/var/lib/meshd",
		.tun = "mesh0",
		.listen_port = 41641,
		.ssh = true,
	};
	struct meshd d = { 0 };
	const char *config_path = "/etc/meshd.conf";
	bool config_required = false;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--config=", 9) == 0) {
			config_path = argv[i] + 9;
			config_required = true;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config_path = argv[++i];
			config_required = true;
		}
	}
	config_orig_argc = argc;
	if (!meshd_config_argv(config_path, config_required, argc, argv, &argc, &argv))
		return 2;
	config_argc = argc;
	config_argv = argv;
	atexit(free_config_argv);
	d.config_path = config_path;
	const char *socket_path = "/run/meshd/meshd.sock", *operator_group = NULL;
	const char *login_server = NULL, *hostname = NULL;
	const char *ca_arg = NULL, *relay_ca_arg = NULL;
	char *ca_file = NULL;
	bool insecure_http = false;
	atexit(forget_authkey);
	bool print_pub = false;
	int c;
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		char *end;
		unsigned long v;
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("meshd %s\n", MESH_VERSION);
			return 0;
		case OPT_STATE:
			cfg.state_dir = optarg;
			break;
		case OPT_TUN:
			if (!*optarg || strlen(optarg) > 15) {
				fprintf(stderr,
					"meshd: --tun: '%s' is not an interface name (1-15 "
					"characters) or 'userspace'\n",
					optarg);
				return 2;
			}
			cfg.tun = optarg;
			break;
		case OPT_SOCKS:
			if (!*optarg) {
				fprintf(stderr, "meshd: --socks5-socket: empty path\n");
				return 2;
			}
			cfg.socks5_path = optarg;
			break;
		case OPT_SOCKS_PORT:
			fprintf(stderr,
				"meshd: --socks5-port=%s: SOCKS5 is served on a Unix socket now "
				"(--socks5-socket=PATH): on a TCP port every local user could act "
				"as this node\n",
				optarg);
			return 2;
		case OPT_PORT:
		case OPT_TIME_SCALE:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || v > 65535) {
				fprintf(stderr, "meshd: %s: '%s' is not a number from 0 to 65535\n",
					c == OPT_PORT ? "--port" : "--test-time-scale", optarg);
				return 2;
			}
			if (c == OPT_PORT)
				cfg.listen_port = (uint16_t)v;
			else
				cfg.wg_time_scale = (unsigned)v;
			break;
		case OPT_NETMAP:
			d.netmap_path = optarg;
			break;
		case OPT_NO_SSH:
			cfg.ssh = false;
			break;
		case OPT_RECORD_DIR:
			if (optarg[0] != '/') {
				fprintf(stderr,
					"meshd: --record-dir: '%s' is not an absolute path\n",
					optarg);
				return 2;
			}
			cfg.record_dir = optarg;
			break;
		case OPT_RECORD_MAX:
			errno = 0;
			cfg.record_max_bytes = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || cfg.record_max_bytes < 65536) {
				fprintf(stderr,
					"meshd: --record-max-bytes: '%s' is not a number of bytes "
					"(at least 65536)\n",
					optarg);
				return 2;
			}
			break;
		case OPT_UAPI:
			cfg.uapi_dir = optarg;
			break;
		case OPT_LOG: {
			enum log_level lv;
			if (!log_level_parse(optarg, &lv)) {
				fprintf(stderr,
					"meshd: --log-level: '%s' is not err, warn, info or "
					"debug\n",
					optarg);
				return 2;
			}
			log_set_level(lv);
			break;
		}
		case OPT_SOCKET:
			socket_path = optarg;
			break;
		case OPT_OPERATOR:
			operator_group = cfg.operator_group = optarg;
			break;
		case OPT_LOGIN:
			login_server = optarg;
			break;
		case OPT_CA_FILE:
			ca_arg = optarg;
			break;
		case OPT_RELAY_CA_FILE:
			relay_ca_arg = optarg;
			break;
		case OPT_INSECURE_HTTP:
			insecure_http = true;
			break;
		case OPT_AUTHKEY:
			free(authkey);
			authkey = strncmp(optarg, "file:", 5) == 0 ? read_authkey_file(optarg + 5)
								   : strdup(optarg);
			if (!authkey)
				return 2;
			break;
		case OPT_HOSTNAME:
			hostname = optarg;
			break;
		case OPT_CONFIG:
			break; /* read before parsing */
		case OPT_PUB:
			print_pub = true;
			break;
		default:
			fprintf(stderr, "Try 'meshd --help' for more information.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "meshd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (d.netmap_path && (login_server || authkey || ca_arg || insecure_http)) {
		fprintf(stderr, "meshd: --netmap and --login-server/--authkey/--ca-file/"
				"--insecure-http exclude each other\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	d.loop = uv_default_loop();
	if (print_pub) {
		cfg.ssh = false;
		cfg.listen_port = 0;
		cfg.uapi_dir = "/nonexistent";
	}
	int err = meshd_node_new(d.loop, &cfg, &d.node);
	if (err) {
		log_err(subject, "cannot start: %s", strerror(-err));
		return 1;
	}
	if (print_pub) {
		char b64[KEY_BASE64_SIZE];
		key_to_base64(b64, meshd_node_public_key(d.node));
		printf("%s\n", b64);
		meshd_node_close(d.node, NULL, NULL);
		uv_run(d.loop, UV_RUN_DEFAULT);
		uv_loop_close(d.loop);
		return 0;
	}
	/* --relay-ca-file: read now, so a wrong path is said at start, not at the first relay */
	if (relay_ca_arg) {
		char *path = realpath(relay_ca_arg, NULL);
		FILE *f = path ? fopen(path, "r") : NULL;
		if (!f) {
			fprintf(stderr, "meshd: --relay-ca-file %s: %s\n", relay_ca_arg,
				strerror(errno));
			free(path);
			meshd_node_close(d.node, NULL, NULL);
			uv_run(d.loop, UV_RUN_DEFAULT);
			return 2;
		}
		fclose(f);
		err = meshd_reach_set_relay_ca_file(meshd_node_reach(d.node), path);
		free(path);
		if (err) {
			log_err(subject, "cannot start: %s", strerror(-err));
			return 1;
		}
	}
	uv_signal_init(d.loop, &d.sig_term);
	uv_signal_init(d.loop, &d.sig_int);
	uv_signal_init(d.loop, &d.sig_hup);
	d.sig_term.data = d.sig_int.data = d.sig_hup.data = &d;
	uv_signal_start(&d.sig_term, on_signal, SIGTERM);
	uv_signal_start(&d.sig_int, on_signal, SIGINT);
	uv_signal_start(&d.sig_hup, on_signal, SIGHUP);

	/* --ca-file is remembered: absolute, so it means the same file wherever meshd runs */
	if (!d.netmap_path && ca_arg && !(ca_file = realpath(ca_arg, NULL))) {
		log_err(subject, "--ca-file %s: %s", ca_arg, strerror(errno));
		err = -ENOENT;
	} else if (!d.netmap_path) {
		struct ctl_lapi_request up = { .login_server = (char *)login_server,
					       .authkey = authkey,
					       .hostname = (char *)hostname,
					       .ca_file = ca_file,
					       .insecure_http = insecure_http };
		bool any = login_server || authkey || ca_arg || insecure_http;
		err = meshd_link_new(d.loop, cfg.state_dir, d.node, any ? &up : NULL, &d.link);
	}
	forget_authkey();
	free(ca_file);
	struct meshd_api_hooks hooks = {
		.fill_status = meshd_link_fill_status,
		.change = meshd_link_change,
		.ctx = d.link,
	};
	if (!err)
		err = meshd_api_start(d.loop, socket_path, operator_group, d.node,
				      d.link ? &hooks : NULL, &d.api);
	if (err || (d.netmap_path && load_netmap(&d) != 0)) {
		d.exit_code = 1;
		d.stopping = true;
		meshd_link_free(d.link);
		d.link = NULL;
		meshd_node_close(d.node, on_closed, &d);
	} else {
		log_info(subject, "running (%s)%s", cfg.tun,
			 d.netmap_path ? ", netmap from file" : "");
	}
	uv_run(d.loop, UV_RUN_DEFAULT);
	uv_loop_close(d.loop);
	return d.exit_code;
}
