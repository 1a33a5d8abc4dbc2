/* The login child of a session, dropbear's order: fork a "monitor" that stays root, runs
 * PAM (account, setcred, open_session) and writes the utmp/wtmp/lastlog records, then
 * forks the user's process: new session and controlling terminal, descriptors in place,
 * supplementary groups, gid, uid (and a check that they took), a clean environment,
 * home directory, exec of the login shell.  The monitor forwards signals to the user's
 * process, waits for it, closes the PAM session and the utmp record, and exits with the
 * same status (re-raising a fatal signal) so the server can send exit-status or
 * exit-signal.  Everything after fork() uses only async-signal-safe calls or code that
 * does not touch the parent's loop; exits go through _exit(). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <lastlog.h>
#include <paths.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utmpx.h>

#include "sshd/internal.h"

static volatile sig_atomic_t user_pid;

static void say(int fd, const char *a, const char *b)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "meshd: %s%s\r\n", a, b ? b : "");

	if (n > 0 && write(fd, line, (size_t)n) < 0) {
		/* nothing left to tell */
	}
}

/* PAM may want to show text (pam_nologin, expiry warnings); we have no prompt. */
static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	int fd = *(int *)data, i;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	if (!r)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		int style = msg[i]->msg_style;
		if (style == PAM_TEXT_INFO || style == PAM_ERROR_MSG) {
			if (write(fd, msg[i]->msg, strlen(msg[i]->msg)) < 0 ||
			    write(fd, "\r\n", 2) < 0) {
				/* the client went away; PAM continues */
			}
		} else {
			free(r);
			return PAM_CONV_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static void forward_signal(int sig)
{
	if (user_pid <= 0)
		return;
	kill((pid_t)user_pid, sig);
	/* the user's process leads its own process group: without a cgroup, a hangup or
	 * termination (revocation) reaches at least the rest of that group */
	if (sig == SIGHUP || sig == SIGTERM)
		kill(-(pid_t)user_pid, sig);
}

/* This process's cgroup v2 path ("0::/x/y" in /proc/self/cgroup), "" when unknown. */
static void own_cgroup(char *out, size_t size)
{
	char buf[1024], *p;
	ssize_t n;
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);

	out[0] = '\0';
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	p = strstr(buf, "0::");
	if (p && (p == buf || p[-1] == '\n')) {
		size_t len;
		p += 3;
		len = strcspn(p, "\n");
		if (len < size) {
			memcpy(out, p, len);
			out[len] = '\0';
		}
	}
}

/* Move this process (still root) into the session's cgroup; false with the reason told. */
static bool enter_cgroup(const char *procs)
{
	int fd = open(procs, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, "0", 1) != 1) {
		say(2, "cannot enter the session's cgroup: ", strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	return true;
}

static void login_record(const struct sshd__spawn *sp, pid_t pid, bool login)
{
	struct utmpx ut;
	struct timeval tv;
	const char *line = sp->tty_name;

	if (strncmp(line, "/dev/", 5) == 0)
		line += 5;
	memset(&ut, 0, sizeof(ut));
	ut.ut_type = login ? USER_PROCESS : DEAD_PROCESS;
	ut.ut_pid = pid;
	strncpy(ut.ut_line, line, sizeof(ut.ut_line) - 1);
	if (strncmp(line, "pts/", 4) == 0)
		strncpy(ut.ut_id, line + 4, sizeof(ut.ut_id));
	else
		strncpy(ut.ut_id, line, sizeof(ut.ut_id));
	if (login) {
		strncpy(ut.ut_user, sp->user->name, sizeof(ut.ut_user) - 1);
		strncpy(ut.ut_host, sp->peer_host, sizeof(ut.ut_host) - 1);
	}
	gettimeofday(&tv, NULL);
	ut.ut_tv.tv_sec = (int32_t)tv.tv_sec;
	ut.ut_tv.tv_usec = (int32_t)tv.tv_usec;
	setutxent();
	pututxline(&ut);
	endutxent();
	updwtmpx(_PATH_WTMP, &ut);

	if (login) {
		struct lastlog ll;
		int fd = open(_PATH_LASTLOG, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			memset(&ll, 0, sizeof(ll));
			ll.ll_time = (int32_t)tv.tv_sec;
			strncpy(ll.ll_line, line, sizeof(ll.ll_line) - 1);
			strncpy(ll.ll_host, sp->peer_host, sizeof(ll.ll_host) - 1);
			if (pwrite(fd, &ll, sizeof(ll), (off_t)sp->user->uid * (off_t)sizeof(ll)) <
			    0) {
				/* lastlog is advisory */
			}
			close(fd);
		}
	}
}

static int env_add(char **env, int n, int max, const char *name, const char *value)
{
	size_t len;
	char *s;
	int i;

	if (!value || n >= max - 1)
		return n;
	len = strlen(name) + strlen(value) + 2;
	s = malloc(len);
	if (!s)
		return n;
	snprintf(s, len, "%s=%s", name, value);
	for (i = 0; i < n; i++) {
		size_t k = strlen(name);
		if (strncmp(env[i], name, k) == 0 && env[i][k] == '=') {
			env[i] = s;
			return n;
		}
	}
	env[n++] = s;
	env[n] = NULL;
	return n;
}

static int env_add_kv(char **env, int n, int max, const char *kv)
{
	char name[160];
	const char *eq = strchr(kv, '=');

	if (!eq || (size_t)(eq - kv) >= sizeof(name))
		return n;
	memcpy(name, kv, (size_t)(eq - kv));
	name[eq - kv] = '\0';
	return env_add(env, n, max, name, eq + 1);
}

static void print_motd(void)
{
	char buf[4096];
	ssize_t r;
	int fd = open("/etc/motd", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		if (write(STDOUT_FILENO, buf, (size_t)r) < 0)
			break;
	close(fd);
}

/* The user's process: never returns. */
static void become_user(const struct sshd__spawn *sp, pam_handle_t *pamh)
{
	enum { ENV_MAX = 256 };
	static char *env[ENV_MAX];
	char buf[160], shell_base[160], **pam_env;
	const char *shell = sp->user->shell[0] ? sp->user->shell : "/bin/sh";
	const char *base;
	int n = 0, i;
	uid_t uid = sp->user->uid;
	gid_t gid = sp->user->gid;

	if (sp->cgroup && !enter_cgroup(sp->cgroup))
		_exit(254);
	if (setsid() < 0)
		_exit(254);
	if (sp->pty && ioctl(sp->stdin_fd, TIOCSCTTY, 0) < 0) {
		say(sp->stderr_fd, "cannot set the controlling terminal: ", strerror(errno));
		_exit(254);
	}
	/* Without root we already are the user (meshd refuses anyone else): nothing to drop,
	 * but capabilities meshd was given (systemd AmbientCapabilities) must not pass on to
	 * the login's programs. */
	if (geteuid() != 0) {
		if (geteuid() != uid || getegid() != gid) {
			say(2,
			    "meshd runs without root and with other user or group ids than this "
			    "user's",
			    NULL);
			_exit(254);
		}
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
		    errno != EINVAL) {
			say(2, "cannot clear ambient capabilities: ", strerror(errno));
			_exit(254);
		}
	} else if (initgroups(sp->user->name, gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		say(2, "cannot switch to the user: ", strerror(errno));
		_exit(254);
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
	    (uid != 0 && setuid(0) == 0)) {
		say(2, "user switch did not take", NULL);
		_exit(254);
	}

	env[0] = NULL;
	n = env_add(env, n, ENV_MAX, "USER", sp->user->name);
	n = env_add(env, n, ENV_MAX, "LOGNAME", sp->user->name);
	n = env_add(env, n, ENV_MAX, "HOME", sp->user->home);
	n = env_add(env, n, ENV_MAX, "SHELL", shell);
	n = env_add(env, n, ENV_MAX, "PATH",
		    uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
			     : "/usr/local/bin:/usr/bin:/bin:/usr/games");
	snprintf(shell_base, sizeof(shell_base), "%s/%s", _PATH_MAILDIR, sp->user->name);
	n = env_add(env, n, ENV_MAX, "MAIL", shell_base);
	pam_env = pamh ? pam_getenvlist(pamh) : NULL;
	for (i = 0; pam_env && pam_env[i]; i++)
		n = env_add_kv(env, n, ENV_MAX, pam_env[i]);
	for (i = 0; i < (int)sp->nclient_env; i++)
		n = env_add_kv(env, n, ENV_MAX, sp->client_env[i]);
	snprintf(shell_base, sizeof(shell_base), "%s %d %d", sp->peer_host, sp->peer_port,
		 sp->local_port);
	n = env_add(env, n, ENV_MAX, "SSH_CLIENT", shell_base);
	snprintf(shell_base, sizeof(shell_base), "%s %d %s %d", sp->peer_host, sp->peer_port,
		 sp->local_host, sp->local_port);
	n = env_add(env, n, ENV_MAX, "SSH_CONNECTION", shell_base);
	if (sp->pty) {
		n = env_add(env, n, ENV_MAX, "TERM", sp->term[0] ? sp->term : "dumb");
		n = env_add(env, n, ENV_MAX, "SSH_TTY", sp->tty_name);
	}
	if (sp->agent_sock)
		n = env_add(env, n, ENV_MAX, "SSH_AUTH_SOCK", sp->agent_sock);

	if (chdir(sp->user->home) < 0) {
		say(2, "no home directory, using /: ", sp->user->home);
		if (chdir("/") < 0)
			_exit(254);
		n = env_add(env, n, ENV_MAX, "HOME", "/");
	}

	signal(SIGPIPE, SIG_DFL);
	base = strrchr(shell, '/');
	base = base ? base + 1 : shell;
	if (!sp->command) {
		if (sp->pty)
			print_motd();
		snprintf(buf, sizeof(buf), "-%s", base);
		execle(shell, buf, (char *)NULL, env);
	} else {
		execle(shell, base, "-c", sp->command, (char *)NULL, env);
	}
	say(2, "cannot run the login shell: ", strerror(errno));
	_exit(254);
}

static void monitor(struct sshd__spawn *sp)
{
	static const int fwd[] = { SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1,
				   SIGUSR2, SIGALRM, SIGPIPE, SIGCONT, SIGWINCH };
	struct pam_conv pc = { conv, NULL };
	int errfd = sp->stderr_fd, status = 0, rc;
	struct sigaction sa;
	pam_handle_t *pamh = NULL;
	sigset_t all;
	size_t i;
	pid_t pid;
	char cg_before[256], cg_after[256];

	/* PAM and the login records need root (shadow, loginuid, limits, utmp).  Without it
	 * meshd logs in only its own user, who is running processes already: no PAM then. */
	bool as_root = geteuid() == 0;
	pc.appdata_ptr = &errfd;
	own_cgroup(cg_before, sizeof(cg_before));
	rc = as_root ? pam_start(sp->pam_service, sp->user->name, &pc, &pamh) : PAM_SUCCESS;
	if (rc != PAM_SUCCESS) {
		say(errfd, "PAM start failed", NULL);
		_exit(254);
	}
	if (pamh) {
		pam_set_item(pamh, PAM_RHOST, sp->peer_host);
		pam_set_item(pamh, PAM_TTY, sp->pty ? sp->tty_name : "ssh");
		rc = pam_acct_mgmt(pamh, 0);
		if (rc != PAM_SUCCESS) {
			say(errfd, "account not permitted: ", pam_strerror(pamh, rc));
			pam_end(pamh, rc);
			_exit(254);
		}
		rc = pam_setcred(pamh, PAM_ESTABLISH_CRED);
		if (rc == PAM_SUCCESS)
			rc = pam_open_session(pamh, 0);
		if (rc != PAM_SUCCESS) {
			say(errfd, "PAM session failed: ", pam_strerror(pamh, rc));
			pam_end(pamh, rc);
			_exit(254);
		}
	}
	/* pam_systemd put us into a logind scope: the session lives there (meshd ends it
	 * through that scope), not in the cgroup meshd made */
	own_cgroup(cg_after, sizeof(cg_after));
	if (strcmp(cg_before, cg_after) != 0)
		sp->cgroup = NULL;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	pid = fork();
	if (pid < 0) {
		say(errfd, "fork: ", strerror(errno));
		_exit(254);
	}
	if (pid == 0) {
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		become_user(sp, pamh);
	}
	user_pid = pid;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaction(fwd[i], &sa, NULL);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	/* The monitor holds no end of the session's streams: EOF must come from the user. */
	close(0);
	close(1);
	close(2);

	if (sp->pty && as_root)
		login_record(sp, pid, true);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	if (sp->pty && as_root)
		login_record(sp, pid, false);
	if (pamh) {
		pam_close_session(pamh, 0);
		pam_setcred(pamh, PAM_DELETE_CRED);
		pam_end(pamh, PAM_SUCCESS);
	}

	if (WIFSIGNALED(status)) {
		struct rlimit no_core = { 0, 0 };
		int sig = WTERMSIG(status);
		setrlimit(RLIMIT_CORE, &no_core);
		signal(sig, SIG_DFL);
		sigprocmask(SIG_BLOCK, &all, NULL);
		kill(getpid(), sig);
		sigdelset(&all, sig);
		sigprocmask(SIG_SETMASK, &all, NULL);
		_exit(255);
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 255);
}

/* Fork the session's monitor; returns its pid, or -1 with *err = -errno. */
pid_t sshd__spawn(const struct sshd__spawn *spawn, int *err)
{
	struct sshd__spawn copy = *spawn, *sp = &copy;
	sigset_t all, old;
	pid_t pid;
	int i;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid < 0) {
		*err = -errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	if (pid > 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return pid;
	}
	for (i = 1; i < NSIG; i++)
		signal(i, SIG_DFL);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	if (dup2(sp->stdin_fd, 0) < 0 || dup2(sp->stdout_fd, 1) < 0 || dup2(sp->stderr_fd, 2) < 0)
		_exit(254);
	close_range(3, ~0U, 0);
	sp->stdin_fd = 0;
	sp->stdout_fd = 1;
	sp->stderr_fd = 2;
	monitor(sp);
	_exit(255);
}
