/* meshcontrol: the control server (identity, policy, netmaps, check-mode web login). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "mesh_version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: meshcontrol [OPTION]... [COMMAND]\n"
		"The Mesh control server: users, nodes, auth keys, policy, netmaps and\n"
		"check-mode web login, with its state in SQLite.\n"
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
	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("meshcontrol %s\n", MESH_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'meshcontrol --help' for more information.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "meshcontrol: unknown command '%s'\n", argv[optind]);
		return 2;
	}
	log_err("meshcontrol", "the server is not built yet (see issue [control])");
	return 1;
}
