/* meshctl: the command line people type.  Dispatches to one handler per verb. */
#include <stdio.h>
#include <string.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"
#include "common/common.h"
#include "mesh_version.h"

static int run_version(int argc, char **argv);

/* One line per verb. */
static const struct meshctl_verb verbs[] = {
	{ "up", meshctl_up, "connect to the tailnet (auth key or interactive login)" },
	{ "down", meshctl_down, "disconnect from the tailnet, stay logged in" },
	{ "logout", meshctl_logout, "leave the tailnet for good" },
	{ "status", meshctl_status, "this node and its peers (--json for everything)" },
	{ "ip", meshctl_ip, "tailnet addresses of this node or a peer" },
	{ "whois", meshctl_whois, "which node and owner stand behind an address" },
	{ "sessions", meshctl_sessions,
	  "live SSH sessions on this node; sessions kill ID ends one" },
	{ "dns", meshctl_dns, "dns query NAME [TYPE]: this node's MagicDNS answer" },
	{ "ping", meshctl_ping, "round trips to a peer over the tunnel, and the path taken" },
	{ "netcheck", meshctl_netcheck,
	  "this machine's NAT as the relays see it, and their latency" },
	{ "ssh", meshctl_ssh, "log in to a node with the system ssh, host keys from the netmap" },
	{ "nc", meshctl_nc, "connect stdin/stdout to a port on a node (ssh ProxyCommand)" },
	{ "user", meshctl_user, "admin: add, list or remove users (meshcontrol)" },
	{ "authkey", meshctl_authkey, "admin: create, list or revoke auth keys (meshcontrol)" },
	{ "node", meshctl_node, "admin: list, remove or expire nodes (meshcontrol)" },
	{ "audit", meshctl_audit, "admin: the audit log (SSH decisions, sessions, admin changes)" },
	{ "recordings", meshctl_recordings,
	  "admin: list, play or get SSH session recordings (meshrecorder)" },
	{ "version", run_version, "show the version" },
	{ "policy", meshctl_policy, "check a policy file offline; explain a decision" },
	{ "dns-config", meshctl_dns_config, "admin: the tailnet's DNS settings (meshcontrol)" },
	{ "control", meshctl_control, "admin: which meshcontrol replica answers, and its health" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: meshctl [--help|--version] [--socket=PATH] VERB [ARGS]...\n"
		     "Control a Mesh node and the tailnet: identity-based SSH over WireGuard.\n"
		     "\n"
		     "Verbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(out, "  %-12s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(out, "\nOptions:\n"
		     "  --socket=PATH  meshd's local API socket (default /run/meshd/meshd.sock,\n"
		     "                 or $MESHD_SOCKET)\n"
		     "\nRun 'meshctl VERB --help' for a verb's options.\n");
}

static int run_version(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage: meshctl version\nShow meshctl's version.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "meshctl version: unexpected argument '%s'\n", argv[1]);
		return 2;
	}
	printf("meshctl %s\n", MESH_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	while (argc >= 2 && strncmp(argv[1], "--socket", 8) == 0) {
		if (argv[1][8] == '=') {
			meshctl_set_socket(argv[1] + 9);
			argv++;
			argc--;
		} else if (argv[1][8] == '\0' && argc >= 3) {
			meshctl_set_socket(argv[2]);
			argv += 2;
			argc -= 2;
		} else {
			fprintf(stderr, "meshctl: --socket needs a path\n");
			return 2;
		}
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(verb, "--version") == 0 || strcmp(verb, "-V") == 0)
		return run_version(1, argv + 1);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verb, verbs[i].name) == 0)
			return verbs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "meshctl: unknown verb '%s'; run 'meshctl --help' for the list\n", verb);
	return 2;
}
