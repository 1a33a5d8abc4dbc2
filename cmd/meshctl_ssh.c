/* meshctl ssh: the system ssh, pointed at a tailnet node with its host keys from the
 * netmap (no trust-on-first-use prompt) and meshctl nc as the transport, so it works in
 * userspace mode too. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"
#include "common/file.h"
#include "control/netmap/hostkey.h"

/* ~/.config/mesh/known_hosts (or $XDG_CONFIG_HOME/mesh/known_hosts). */
static int known_hosts_path(char *out, size_t len)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char dir[PATH_MAX];
	if (xdg && *xdg)
		snprintf(dir, sizeof(dir), "%s/mesh", xdg);
	else if (home && *home)
		snprintf(dir, sizeof(dir), "%s/.config/mesh", home);
	else
		return -ENOENT;
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash) {
		*slash = '\0';
		mkdir(parent, 0700);
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((size_t)snprintf(out, len, "%s/known_hosts", dir) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* A name that is safe as a known_hosts host pattern: letters, digits, '-' and '.'. */
static bool known_hosts_name(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			return false;
	return true;
}

/* Rewrites the file with one line per valid peer host key, atomically; the others are
 * skipped with a warning naming their node. */
static int write_known_hosts(const char *path, const struct ctl_lapi_status *st)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "# written by meshctl ssh from the tailnet's netmap; rewritten on every run\n");
	for (size_t i = 0; i < st->n_peers; i++) {
		const struct ctl_lapi_node *n = &st->peers[i];
		if (!known_hosts_name(n->name) || (n->dns_name && !known_hosts_name(n->dns_name))) {
			fprintf(stderr,
				"meshctl ssh: warning: skipping the host keys of a node whose "
				"name is not a host name\n");
			continue;
		}
		for (size_t k = 0; k < n->n_ssh_host_keys; k++) {
			char err[256];
			/* Control checks them too; this is what stands between a node (or a
			 * control that let one through) and lines for other hosts. */
			if (!ctl_ssh_host_key_valid(n->ssh_host_keys[k], err, sizeof(err))) {
				fprintf(stderr,
					"meshctl ssh: warning: skipping a host key of %s: %s\n",
					n->name, err);
				continue;
			}
			fprintf(f, "%s", n->name);
			if (n->dns_name)
				fprintf(f, ",%s", n->dns_name);
			for (size_t a = 0; a < n->n_addrs; a++) {
				char buf[64];
				meshctl_node_addr(n, n->addrs[a].ip.family, buf, sizeof(buf));
				if (buf[0])
					fprintf(f, ",%s", buf);
			}
			fprintf(f, " %s\n", n->ssh_host_keys[k]);
		}
	}
	int err = fclose(f) == 0 ? file_write_atomic(path, text, len, 0600) : -ENOMEM;
	free(text);
	return err;
}

static bool have_xdg_open(void)
{
	const char *path = getenv("PATH");
	char *copy = path ? strdup(path) : NULL, *save = NULL;
	bool found = false;
	for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/xdg-open", d);
		found = access(p, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* With a display: runs ssh with its stderr passed through us, and opens the first
 * check-mode login URL of the banner in the browser (xdg-open), as well as showing it. */
static int run_ssh_opening_urls(char **args)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "meshctl ssh: pipe: %s\n", strerror(errno));
		return 1;
	}
	pid_t ssh = fork();
	if (ssh < 0) {
		fprintf(stderr, "meshctl ssh: fork: %s\n", strerror(errno));
		return 1;
	}
	if (ssh == 0) {
		dup2(p[1], 2);
		execvp("ssh", args);
		fprintf(stderr, "meshctl ssh: cannot run ssh: %s\n", strerror(errno));
		_exit(255);
	}
	close(p[1]);
	signal(SIGINT, SIG_IGN); /* the terminal's ^C goes to ssh, which decides */
	FILE *in = fdopen(p[0], "r");
	char line[4096];
	bool opened = false;
	while (in && fgets(line, sizeof(line), in)) {
		fputs(line, stderr);
		fflush(stderr);
		char *u = strstr(line, "http");
		if (!opened && u && strstr(u, "/check/")) {
			u[strcspn(u, " \t\r\n")] = '\0';
			opened = true;
			/* Double fork: the browser launcher is never ours to wait for. */
			pid_t b = fork();
			if (b == 0) {
				if (fork() == 0) {
					int null = open("/dev/null", O_RDWR | O_CLOEXEC);
					dup2(null, 0);
					dup2(null, 1);
					dup2(null, 2);
					execlp("xdg-open", "xdg-open", u, (char *)NULL);
				}
				_exit(0);
			}
			if (b > 0) {
				fprintf(stderr, "# opened the login page in your browser\n");
				int st;
				while (waitpid(b, &st, 0) < 0 && errno == EINTR) {
				}
			}
		}
	}
	if (in)
		fclose(in);
	int status;
	while (waitpid(ssh, &status, 0) < 0 && errno == EINTR) {
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int meshctl_ssh(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		FILE *out = argc < 2 ? stderr : stdout;
		fprintf(
		    out,
		    "Usage: meshctl ssh [USER@]HOST [COMMAND...]\n"
		    "Log in to tailnet node HOST as the local user USER with the system ssh.\n"
		    "Host keys come from the netmap (written to ~/.config/mesh/known_hosts) and\n"
		    "strict host key checking is on; the connection goes through 'meshctl nc',\n"
		    "so it also works when meshd runs without a TUN device.  The tailnet policy\n"
		    "decides whether you may log in; no SSH key is needed.  When a check-mode\n"
		    "login is needed and a display is available, the login page opens in your\n"
		    "browser (xdg-open); otherwise its URL is printed.\n");
		return argc < 2 ? 2 : 0;
	}
	const char *target = argv[1];
	const char *at = strrchr(target, '@');
	const char *host = at ? at + 1 : target;
	struct ctl_lapi_status st;
	if (meshctl_get_status(&st, NULL))
		return 1;
	const struct ctl_lapi_node *n = meshctl_find_node(&st, host);
	if (!n) {
		fprintf(stderr, "meshctl ssh: unknown host '%s': no such node in the tailnet\n",
			host);
		ctl_lapi_status_clear(&st);
		return 1;
	}
	if (!n->n_ssh_host_keys)
		fprintf(stderr,
			"meshctl ssh: warning: %s has published no SSH host key; is "
			"meshd running there with SSH enabled?\n",
			host);
	char kh[PATH_MAX];
	int err = known_hosts_path(kh, sizeof(kh));
	if (!err)
		err = write_known_hosts(kh, &st);
	ctl_lapi_status_clear(&st);
	if (err) {
		fprintf(stderr, "meshctl ssh: cannot write known_hosts: %s\n", strerror(-err));
		return 1;
	}
	char self[PATH_MAX];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl <= 0) {
		fprintf(stderr, "meshctl ssh: cannot find my own path: %s\n", strerror(errno));
		return 1;
	}
	self[sl] = '\0';
	char proxy[PATH_MAX * 2 + 64], khopt[PATH_MAX + 32];
	snprintf(proxy, sizeof(proxy), "ProxyCommand='%s' --socket='%s' nc %%h %%p", self,
		 meshctl_socket());
	snprintf(khopt, sizeof(khopt), "UserKnownHostsFile=%s", kh);

	char **args = calloc((size_t)argc + 16, sizeof(char *));
	if (!args)
		return 1;
	int a = 0;
	args[a++] = "ssh";
	args[a++] = "-o";
	args[a++] = khopt;
	args[a++] = "-o";
	args[a++] = "StrictHostKeyChecking=yes";
	args[a++] = "-o";
	args[a++] = "GlobalKnownHostsFile=/dev/null";
	args[a++] = "-o";
	args[a++] = proxy;
	args[a++] = (char *)target;
	for (int i = 2; i < argc; i++)
		args[a++] = argv[i];
	args[a] = NULL;
	fflush(stdout);
	if ((getenv("DISPLAY") || getenv("WAYLAND_DISPLAY")) && have_xdg_open()) {
		int rc = run_ssh_opening_urls(args);
		free(args);
		return rc;
	}
	execvp("ssh", args);
	fprintf(stderr, "meshctl ssh: cannot run ssh: %s (install openssh-client)\n",
		strerror(errno));
	free(args);
	return 1;
}
