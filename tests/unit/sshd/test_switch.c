/* The login child's check that the user switch took, with failure injected: run under
 * LD_PRELOAD of setid_shim.so (setuid and friends do nothing and return 0), a session
 * for "nobody" must not run its command but end with status 254 and the child's message
 * on stderr.  Needs root (the child switches users); skipped otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sshd/internal.h"

static void read_all(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
}

int main(void)
{
	struct sshd__user user;
	struct sshd__spawn sp;
	int in[2], out[2], err[2], e = 0, status = 0;
	char obuf[256], ebuf[1024];
	pid_t pid;

	if (geteuid() != 0) {
		printf("skip: needs root\n");
		return 77;
	}
	/* the shim must be in place, or this test proves nothing */
	if (setuid(65534) != 0 || getuid() != 0) {
		fprintf(stderr, "setid_shim.so is not preloaded\n");
		return 1;
	}
	CHECK_INT(sshd__user_lookup("nobody", &user), 0);
	CHECK(pipe(in) == 0 && pipe(out) == 0 && pipe(err) == 0);
	memset(&sp, 0, sizeof(sp));
	sp.user = &user;
	sp.pam_service = "meshd-unit-switch"; /* not installed: PAM's "other" stack */
	sp.command = "echo ran-as-$(id -u)";
	sp.stdin_fd = in[0];
	sp.stdout_fd = out[1];
	sp.stderr_fd = err[1];
	sp.tty_name = "";
	sp.peer_host = "127.0.0.1";
	sp.local_host = "127.0.0.1";
	sp.peer_port = 5555;
	sp.local_port = 22;
	pid = sshd__spawn(&sp, &e);
	CHECK(pid > 0);
	close(in[0]);
	close(in[1]);
	close(out[1]);
	close(err[1]);
	read_all(out[0], obuf, sizeof(obuf));
	read_all(err[0], ebuf, sizeof(ebuf));
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 254);
	CHECK_STR(obuf, "");
	CHECK_STR(ebuf, "meshd: user switch did not take\r\n");
	return check_finish();
}
