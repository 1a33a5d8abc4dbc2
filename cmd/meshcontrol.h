/* cmd/meshcontrol.h: meshcontrol's commands kept in files of their own. */
#ifndef MESH_CMD_MESHCONTROL_H
#define MESH_CMD_MESHCONTROL_H

/* audit verify|export|prune (argv[0] is "audit"), on the store of state_dir or store_url (NULL:
 * STATE/state.db); the exit code. */
int meshcontrol_audit(int argc, char **argv, const char *state_dir, const char *store_url);

/* store migrate --from sqlite:PATH --to URL (argv[0] is "store"); the exit code. */
int meshcontrol_store(int argc, char **argv);

#endif
