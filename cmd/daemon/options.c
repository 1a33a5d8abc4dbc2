/* meshd's command line: getopt over the configuration file's settings (config.h turns
 * them into long options first) and then the flags, with one message per bad option. */
#include "cmd/daemon/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/daemon/config.h"
#include "common/common.h"
#include "mesh_version.h"

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
	    "                         https:// is verified, http:// only goes to loopback;\n"
	    "                         several (URL,URL or repeated) fail over in order\n"
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
	    "      --accept-dns=BOOL  with a TUN device and MagicDNS on in the tailnet, point\n"
	    "                         /etc/resolv.conf at the tailnet resolver (default true;\n"
	    "                         the host's file is kept and comes back on 'meshctl down'\n"
	    "                         and exit); false leaves the host's DNS alone\n"
	    "      --record-dir=DIR   record every SSH session's output into DIR (asciicast v2,\n"
	    "                         0600 files; `asciinema play` and `asciinema cat` read them)\n"
	    "      --record-max-bytes=N  cap of one recording (default 64 MiB); at the cap it\n"
	    "                         stops with a marker; an enforceRecorder rule ends the "
	    "session\n"
	    "      --record-input     recordings (local and uploaded) hold what clients type\n"
	    "                         too, as \"i\" events: passwords typed included (off)\n"
	    "      --socks5-socket=PATH\n"
	    "                         userspace mode: SOCKS5 proxy on the Unix socket PATH\n"
	    "                         (0600; 0660 for --operator-group) for root, the user meshd\n"
	    "                         runs as and the operator group; peer names resolve\n"
	    "                         (curl -x socks5h://localhost/PATH http://my-server/)\n"
	    "      --resolv-conf=FILE the host's resolv.conf (default /etc/resolv.conf): its\n"
	    "                         nameservers answer names outside the tailnet, read once\n"
	    "                         at start; MagicDNS answers this host at 100.100.100.100\n"
	    "                         (TUN mode), and --accept-dns points FILE there\n"
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
	OPT_RECORD_INPUT,
	OPT_SOCKS_PORT,
	OPT_ACCEPT_DNS,
	OPT_RESOLV_CONF,
};
static const struct option opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "state-dir", required_argument, NULL, OPT_STATE },
	{ "tun", required_argument, NULL, OPT_TUN },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "netmap", required_argument, NULL, OPT_NETMAP },
	{ "no-ssh", no_argument, NULL, OPT_NO_SSH },
	{ "accept-dns", required_argument, NULL, OPT_ACCEPT_DNS },
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
	{ "record-input", no_argument, NULL, OPT_RECORD_INPUT },
	{ "resolv-conf", required_argument, NULL, OPT_RESOLV_CONF },
	{ 0 },
};

int meshd_options_parse(int argc, char **argv, struct meshd_options *o)
{
	*o = (struct meshd_options){
		.node = {
			.state_dir = "/var/lib/meshd",
			.tun = "mesh0",
			.listen_port = 41641,
			.ssh = true,
			.accept_dns = true,
		},
		.config_path = "/etc/meshd.conf",
		.socket_path = "/run/meshd/meshd.sock",
	};
	bool config_required = false;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--config=", 9) == 0) {
			o->config_path = argv[i] + 9;
			config_required = true;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			o->config_path = argv[++i];
			config_required = true;
		}
	}
	o->orig_argc = argc;
	if (!meshd_config_argv(o->config_path, config_required, argc, argv, &argc, &argv))
		return 2;
	o->argc = argc;
	o->argv = argv;
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
			o->node.state_dir = optarg;
			break;
		case OPT_TUN:
			if (!*optarg || strlen(optarg) > 15) {
				fprintf(stderr,
					"meshd: --tun: '%s' is not an interface name (1-15 "
					"characters) or 'userspace'\n",
					optarg);
				return 2;
			}
			o->node.tun = optarg;
			break;
		case OPT_SOCKS:
			if (!*optarg) {
				fprintf(stderr, "meshd: --socks5-socket: empty path\n");
				return 2;
			}
			o->node.socks5_path = optarg;
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
				o->node.listen_port = (uint16_t)v;
			else
				o->node.wg_time_scale = (unsigned)v;
			break;
		case OPT_NETMAP:
			o->netmap_path = optarg;
			break;
		case OPT_NO_SSH:
			o->node.ssh = false;
			break;
		case OPT_ACCEPT_DNS:
			if (strcmp(optarg, "true") != 0 && strcmp(optarg, "false") != 0) {
				fprintf(stderr, "meshd: --accept-dns: '%s' is not true or false\n",
					optarg);
				return 2;
			}
			o->node.accept_dns = strcmp(optarg, "true") == 0;
			break;
		case OPT_RECORD_DIR:
			if (optarg[0] != '/') {
				fprintf(stderr,
					"meshd: --record-dir: '%s' is not an absolute path\n",
					optarg);
				return 2;
			}
			o->node.record_dir = optarg;
			break;
		case OPT_RESOLV_CONF:
			o->node.resolv_conf = optarg;
			break;
		case OPT_RECORD_INPUT:
			o->node.record_input = true;
			break;
		case OPT_RECORD_MAX:
			errno = 0;
			o->node.record_max_bytes = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || o->node.record_max_bytes < 65536) {
				fprintf(stderr,
					"meshd: --record-max-bytes: '%s' is not a number of bytes "
					"(at least 65536)\n",
					optarg);
				return 2;
			}
			break;
		case OPT_UAPI:
			o->node.uapi_dir = optarg;
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
			o->socket_path = optarg;
			break;
		case OPT_OPERATOR:
			o->operator_group = o->node.operator_group = optarg;
			break;
		case OPT_LOGIN: /* repeated: several servers, tried in order */
			if (o->login_server) {
				static char servers[1024];
				size_t have = strlen(o->login_server);
				if (have + strlen(optarg) + 2 > sizeof(servers)) {
					fprintf(stderr, "meshd: --login-server: the servers are "
							"longer than 1023 characters\n");
					return 2;
				}
				memmove(servers, o->login_server, have);
				servers[have] = ',';
				strcpy(servers + have + 1, optarg);
				o->login_server = servers;
			} else {
				o->login_server = optarg;
			}
			break;
		case OPT_CA_FILE:
			o->ca_file = optarg;
			break;
		case OPT_RELAY_CA_FILE:
			o->relay_ca_file = optarg;
			break;
		case OPT_INSECURE_HTTP:
			o->insecure_http = true;
			break;
		case OPT_AUTHKEY:
			free(o->authkey);
			o->authkey = strncmp(optarg, "file:", 5) == 0
					 ? read_authkey_file(optarg + 5)
					 : strdup(optarg);
			if (!o->authkey)
				return 2;
			break;
		case OPT_HOSTNAME:
			o->hostname = optarg;
			break;
		case OPT_CONFIG:
			break; /* read before parsing */
		case OPT_PUB:
			o->print_public_key = true;
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
	if (o->netmap_path && (o->login_server || o->authkey || o->ca_file || o->insecure_http)) {
		fprintf(stderr, "meshd: --netmap and --login-server/--authkey/--ca-file/"
				"--insecure-http exclude each other\n");
		return 2;
	}
	return -1;
}

void meshd_options_forget_authkey(struct meshd_options *o)
{
	if (o->authkey) {
		explicit_bzero(o->authkey, strlen(o->authkey));
		free(o->authkey);
		o->authkey = NULL;
	}
}

void meshd_options_free(struct meshd_options *o)
{
	meshd_options_forget_authkey(o);
	if (o->argv)
		meshd_config_argv_free(o->argc, o->argv, o->orig_argc);
	o->argv = NULL;
}
