/* meshctl's verb table.  Each verb lives in its own file meshctl_<verb>.c and is listed
 * once in meshctl.c's table; a handler gets argv starting at the verb's name and
 * returns the process exit code (0 ok, 1 failure, 2 usage error). */
#ifndef MESH_CMD_MESHCTL_H
#define MESH_CMD_MESHCTL_H

#include <stdbool.h>
#include <stddef.h>

struct meshctl_verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int meshctl_policy(int argc, char **argv);
int meshctl_control(int argc, char **argv);
int meshctl_status(int argc, char **argv);
int meshctl_ip(int argc, char **argv);
int meshctl_whois(int argc, char **argv);
int meshctl_sessions(int argc, char **argv);
int meshctl_dns(int argc, char **argv);
int meshctl_nc(int argc, char **argv);
int meshctl_ssh(int argc, char **argv);
int meshctl_up(int argc, char **argv);
int meshctl_ping(int argc, char **argv);
int meshctl_netcheck(int argc, char **argv);
int meshctl_user(int argc, char **argv);
int meshctl_authkey(int argc, char **argv);
int meshctl_node(int argc, char **argv);
/* policy get/set (argv[1] is "get" or "set") */
int meshctl_policy_admin(int argc, char **argv);
int meshctl_down(int argc, char **argv);
int meshctl_logout(int argc, char **argv);
int meshctl_recordings(int argc, char **argv);
int meshctl_dns_config(int argc, char **argv);
int meshctl_audit(int argc, char **argv);

/* An admin document read with "get" and replaced with "set FILE" (meshctl_admin.c), for
 * verbs in files of their own: check() refuses a bad file before anything is sent
 * (printing why); get prints control's answer as it came. */
struct meshctl_admin_doc {
	const char *verb, *path, *what; /* "dns-config", "dns" (under /api/v1/), "DNS settings" */
	const char *help;
	size_t max_bytes;
	bool (*check)(const char *file, const char *text, size_t len);
	const char *cleared; /* non-NULL: "clear" withdraws the document (DELETE) and says this */
};
int meshctl_admin_document(int argc, char **argv, const struct meshctl_admin_doc *doc);

/* An admin verb in a file of its own: the admin options (--server, --token-file, ...) of
 * argv taken, the other arguments in *args (n of them); NULL after printing why.  A
 * request's answer (malloc'd) when its status is 2xx, else NULL after printing control's
 * sentence.  The help text of the admin options. */
struct meshctl_admin;
struct meshctl_admin *meshctl_admin_new(int argc, char **argv, char ***args, int *n);
char *meshctl_admin_request(struct meshctl_admin *a, const char *method, const char *path,
			    const char *body);
void meshctl_admin_free(struct meshctl_admin *a);
const char *meshctl_admin_help(void);
/* value percent-encoded onto path (its room len) as "&key=VALUE". */
void meshctl_admin_param(char *path, size_t len, const char *key, const char *value);

#endif
