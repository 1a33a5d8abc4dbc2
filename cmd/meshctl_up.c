/* meshctl up / down / logout: join the tailnet (auth key or interactive login), leave it
 * for now, or leave it for good.  The daemon does the work; up waits until the node is
 * running, printing the login URL when a person has to act. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"
#include "common/file.h"
#include "common/strv.h"

static void up_usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: meshctl up [--login-server=URL] [--ca-file=FILE] [--insecure-http]\n"
	    "                  [--authkey=KEY] [--ssh] [--hostname=NAME]\n"
	    "                  [--advertise-tags=TAGS] [--force-reauth] [--timeout=SECONDS]\n"
	    "Connect this node to the tailnet.  Without --authkey, prints a URL where a\n"
	    "person logs in and approves the device, and waits.\n"
	    "  --login-server=URL     the meshcontrol server (remembered, with the two options\n"
	    "                         below: a URL given alone forgets them); https:// is\n"
	    "                         verified, http:// only goes to loopback.  Several\n"
	    "                         (URL,URL or the option repeated, at most 8): tried\n"
	    "                         in order, the next when one fails (status: in use)\n"
	    "  --ca-file=FILE         trust the CA in FILE (PEM) for meshcontrol's certificate\n"
	    "                         (default: the system's CAs)\n"
	    "  --insecure-http        allow an http:// login server that is not loopback: no\n"
	    "                         TLS then protects the first fetch of control's key\n"
	    "  --authkey=KEY          join with an auth key ('file:PATH' reads it from a file)\n"
	    "  --ssh                  serve SSH on this node's tailnet address\n"
	    "  --hostname=NAME        the name to register (default: the system's); on a\n"
	    "                         registered node, control renames it\n"
	    "  --advertise-tags=TAGS  tags for this node, comma-separated (tag:web,tag:db);\n"
	    "                         the login or auth key's user must own them in the\n"
	    "                         policy's tagOwners; '' removes them (remembered)\n"
	    "  --force-reauth         log in again now (a URL, or --authkey), with a new node\n"
	    "                         key and a new key expiry\n"
	    "  --timeout=SECONDS      give up after this long (default 60 with --authkey,\n"
	    "                         forever for an interactive login)\n");
}

static char *read_key_file(const char *path)
{
	char err[512];
	char *key = file_read_secret_line(path, err, sizeof(err));
	if (!key)
		fprintf(stderr, "meshctl up: --authkey file %s\n", err);
	return key;
}

int meshctl_up(int argc, char **argv)
{
	enum {
		O_LOGIN = 256,
		O_AUTH,
		O_SSH,
		O_HOST,
		O_TAGS,
		O_TIMEOUT,
		O_REAUTH,
		O_CA,
		O_INSECURE
	};
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "login-server", required_argument, NULL, O_LOGIN },
		{ "authkey", required_argument, NULL, O_AUTH },
		{ "ssh", no_argument, NULL, O_SSH },
		{ "hostname", required_argument, NULL, O_HOST },
		{ "advertise-tags", required_argument, NULL, O_TAGS },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "force-reauth", no_argument, NULL, O_REAUTH },
		{ "ca-file", required_argument, NULL, O_CA },
		{ "insecure-http", no_argument, NULL, O_INSECURE },
		{ 0 },
	};
	struct ctl_lapi_request req = { .cmd = CTL_LAPI_UP };
	char *tags_arg = NULL, *key = NULL, ca_path[PATH_MAX];
	long timeout = -1;
	int c, rc = 1;
	static char servers[1024];
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'h':
			up_usage(stdout);
			return 0;
		case O_LOGIN: /* repeated: several servers, tried in order */
			if (req.login_server) {
				size_t have = strlen(req.login_server);
				if (have + strlen(optarg) + 2 > sizeof(servers)) {
					fprintf(stderr, "meshctl up: --login-server: the servers "
							"are longer than 1023 characters\n");
					return 2;
				}
				memmove(servers, req.login_server, have);
				servers[have] = ',';
				strcpy(servers + have + 1, optarg);
				req.login_server = servers;
			} else {
				req.login_server = optarg;
			}
			break;
		case O_AUTH:
			free(key);
			key = strncmp(optarg, "file:", 5) == 0 ? read_key_file(optarg + 5)
							       : strdup(optarg);
			if (!key)
				return 1;
			break;
		case O_SSH:
			req.ssh = true;
			break;
		case O_REAUTH:
			req.force_reauth = true;
			break;
		case O_CA: /* meshd reads it, from its own directory: the absolute path */
			req.ca_file = realpath(optarg, ca_path);
			if (!req.ca_file) {
				fprintf(stderr, "meshctl up: --ca-file %s: %s\n", optarg,
					strerror(errno));
				free(key);
				return 2;
			}
			break;
		case O_INSECURE:
			req.insecure_http = true;
			break;
		case O_HOST:
			req.hostname = optarg;
			break;
		case O_TAGS:
			tags_arg = optarg;
			break;
		case O_TIMEOUT:
			errno = 0;
			timeout = strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || timeout < 0) {
				fprintf(stderr,
					"meshctl up: --timeout: '%s' is not a number of "
					"seconds\n",
					optarg);
				free(key);
				return 2;
			}
			break;
		default:
			up_usage(stderr);
			free(key);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "meshctl up: unexpected argument '%s'\n", argv[optind]);
		free(key);
		return 2;
	}
	if (tags_arg) {
		enum { UP_TAGS_MAX = 32 };
		int trc = strv_split(tags_arg, ',', UP_TAGS_MAX, &req.tags, &req.n_tags);
		if (trc == -E2BIG)
			fprintf(stderr, "meshctl up: --advertise-tags: at most %d tags\n",
				UP_TAGS_MAX);
		else if (trc)
			fprintf(stderr, "meshctl up: --advertise-tags: %s\n", strerror(-trc));
		for (size_t i = 0; !trc && i < req.n_tags; i++) {
			const char *t = req.tags[i];
			if (strncmp(t, "tag:", 4) != 0 || !t[4]) {
				fprintf(stderr,
					"meshctl up: --advertise-tags: '%s' is not a tag (tags "
					"look like tag:NAME)\n",
					t);
				trc = -EINVAL;
			}
		}
		if (trc) {
			strv_free(req.tags, req.n_tags);
			free(key);
			return 2;
		}
		req.tags_given = true;
	}
	req.authkey = key;
	if (timeout < 0)
		timeout = key ? 60 : 0;
	char *line = meshctl_call(&req, NULL);
	strv_free(req.tags, req.n_tags);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	if (!line)
		return 1;
	free(line);

	/* Wait for the outcome. */
	time_t start = time(NULL);
	bool url_shown = false;
	for (;;) {
		struct ctl_lapi_status st;
		if (meshctl_get_status(&st, NULL))
			return 1;
		bool needs_login = st.state && strcmp(st.state, "NeedsLogin") == 0;
		if (st.error && !needs_login) {
			/* (errors start empty with this 'up': a refusal, or tags control refused)
			 */
			fprintf(stderr, "meshctl up: %s\n", st.error);
			rc = 1;
		} else if (st.state && strcmp(st.state, "Running") == 0 && st.self.name &&
			   st.control_connected) {
			char addr[64];
			meshctl_node_addr(&st.self, 0, addr, sizeof(addr));
			printf("Connected as %s (%s)%s\n", st.self.name, addr,
			       st.ssh ? "; SSH on" : "");
			rc = 0;
		} else if (st.auth_url && !url_shown) {
			printf("\nTo authenticate, visit:\n\n\t%s\n\n", st.auth_url);
			fflush(stdout);
			url_shown = true;
			rc = -1;
		} else {
			rc = -1;
		}
		ctl_lapi_status_clear(&st);
		if (rc >= 0)
			return rc;
		if (timeout && time(NULL) - start >= timeout) {
			fprintf(stderr,
				"meshctl up: not connected after %ld s; 'meshctl status' "
				"shows where it stands\n",
				timeout);
			return 1;
		}
		usleep(200 * 1000);
	}
}

static int simple_change(int argc, char **argv, enum ctl_lapi_cmd cmd, const char *help)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("%s", help);
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "meshctl %s: unexpected argument '%s'\n", argv[0], argv[1]);
		return 2;
	}
	struct ctl_lapi_request req = { .cmd = cmd };
	char *line = meshctl_call(&req, NULL);
	if (!line)
		return 1;
	bool ok;
	char msg[512];
	if (ctl_lapi_reply_parse(line, strlen(line), &ok, msg, sizeof(msg)) == 0 && msg[0])
		printf("%s\n", msg);
	free(line);
	return 0;
}

int meshctl_down(int argc, char **argv)
{
	return simple_change(argc, argv, CTL_LAPI_DOWN,
			     "Usage: meshctl down\n"
			     "Disconnect from the tailnet (stay logged in): every peer is dropped\n"
			     "and SSH refuses everyone until 'meshctl up'.\n");
}

int meshctl_logout(int argc, char **argv)
{
	return simple_change(
	    argc, argv, CTL_LAPI_LOGOUT,
	    "Usage: meshctl logout\n"
	    "Leave the tailnet for good: control forgets this node (an ephemeral one\n"
	    "is removed) and the cached netmap is deleted.\n");
}
