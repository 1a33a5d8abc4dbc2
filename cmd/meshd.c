/* meshd: the node daemon.  Wires wg/ (userspace WireGuard), netstack/ (lwIP, TUN,
 * interception), sshd/ (embedded SSH server) and the control client together. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "mesh_version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: meshd [OPTION]...\n"
		"The Mesh node daemon: userspace WireGuard, an embedded TCP/IP stack that serves\n"
		"SSH on this node's tailnet address, and the control-plane client.\n"
		"\n"
		"Options:\n"
		"  -h, --help       show this help and exit\n"
		"  -V, --version    show the version and exit\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("meshd %s\n", MESH_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'meshd --help' for more information.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "meshd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	log_err("meshd", "the daemon is not built yet (see issue [meshd])");
	return 1;
}
