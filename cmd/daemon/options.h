/* meshd's options: the configuration file's settings (config.h), then the command line's
 * flags, which override them.  Strings point into the argv they came from, which the
 * options keep until meshd_options_free. */
#ifndef MESH_CMD_DAEMON_OPTIONS_H
#define MESH_CMD_DAEMON_OPTIONS_H

#include <stdbool.h>

#include "cmd/daemon/node.h"

struct meshd_options {
	struct meshd_node_config node;
	const char *config_path;    /* SIGHUP re-reads its log-level */
	const char *netmap_path;    /* --netmap: netmaps from this file instead of control */
	const char *socket_path;    /* the local API's socket */
	const char *operator_group; /* may change state through meshctl (or NULL) */
	const char *login_server, *hostname, *ca_file, *relay_ca_file; /* as given, or NULL */
	bool insecure_http;
	bool print_public_key;
	char *authkey; /* ours: meshd_options_forget_authkey wipes it */
	/* the argv with the file's settings before the command line's */
	int argc, orig_argc;
	char **argv;
};

/* Parses argv (the file first: --config=FILE or /etc/meshd.conf when it exists).  Returns
 * -1 when meshd should run; else the exit code, after --help or --version (0) or after the
 * one line that says what is wrong (2).  meshd_options_free is due either way. */
int meshd_options_parse(int argc, char **argv, struct meshd_options *o);

/* Wipes and frees the auth key (once the link has it). */
void meshd_options_forget_authkey(struct meshd_options *o);

void meshd_options_free(struct meshd_options *o);

#endif
