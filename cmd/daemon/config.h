/* meshd's configuration file: one "name = value" per line (names are the long options
 * without "--", e.g. "tun = userspace", "log-level = debug"; a bare name is a flag such
 * as "no-ssh"), '#' comments.  The file's settings come first and command-line flags
 * override them. */
#ifndef MESH_CMD_DAEMON_CONFIG_H
#define MESH_CMD_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Reads path into a new argv: argv[0], "--name=value" for every setting, then the rest
 * of argv.  A missing file is fine when !required.  On error prints one line naming the
 * file, line and problem, and returns false. */
bool meshd_config_argv(const char *path, bool required, int argc, char **argv, int *out_argc,
		       char ***out_argv);

/* Frees what meshd_config_argv() allocated. */
void meshd_config_argv_free(int argc, char **argv, int orig_argc);

/* SIGHUP: the log level follows the file at path (a missing file changes nothing); what
 * else it sets needs a restart.  A bad file or level is logged and changes nothing. */
void meshd_config_reload_log_level(const char *path);

#endif
