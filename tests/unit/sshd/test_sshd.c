/* sshd/ unit tests: the environment filter (numbered table), host keys generated once
 * with mode 0600 and reused with the same fingerprints, and a connection fed garbage
 * through sshd_accept_fd() that must close cleanly with no handle left behind. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "sshd/sshd.h"
#include "sshd/sshd_int.h"

static const struct {
	const char *name, *patterns;
	bool ok;
} env_cases[] = {
	/* 1 */ { "LANG", "", true },
	/* 2 */ { "LC_ALL", "", true },
	/* 3 */ { "FOO", "", false },
	/* 4 */ { "FOO", "FOO", true },
	/* 5 */ { "FOOBAR", "FOO*", true },
	/* 6 */ { "FOOBAR", "BAR,FOO*", true },
	/* 7 */ { "LD_PRELOAD", "*", false },
	/* 8 */ { "LD_LIBRARY_PATH", "LD_*", false },
	/* 9 */ { "DYLD_INSERT_LIBRARIES", "*", false },
	/* 10 */ { "BASH_ENV", "*", false },
	/* 11 */ { "PATH", "*", false },
	/* 12 */ { "IFS", "*", false },
	/* 13 */ { "A=B", "*", false },
	/* 14 */ { "", "*", false },
	/* 15 */ { "9X", "*", false },
	/* 16 */ { "GIT_AUTHOR", "GIT_* EDITOR", true },
	/* 17 */ { "EDITOR", "GIT_* EDITOR", true },
	/* 18 */ { "SSH_AUTH_SOCK", "*", false },
};

static void authorize(void *ctx, const struct sockaddr *peer, const char *user,
		      struct sshd_check *check, struct sshd_decision *out)
{
	out->action = SSHD_REJECT;
}

static void test_env(void)
{
	for (size_t i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
		bool got = sshd__env_accepted(env_cases[i].name, env_cases[i].patterns);
		if (got != env_cases[i].ok)
			fprintf(stderr, "env case %zu (%s)\n", i + 1, env_cases[i].name);
		CHECK_INT(got, env_cases[i].ok);
	}
}

static int closed;
static void on_closed(void *arg)
{
	closed++;
}

static void test_server(const char *dir)
{
	struct sshd_hooks hooks = { authorize, NULL, NULL };
	struct sshd_config cfg = { .state_dir = dir };
	struct sshd_server *srv;
	const char *line, *fp;
	char fp1[128], path[512];
	struct stat st;
	uv_loop_t loop;
	int sv[2];

	uv_loop_init(&loop);
	CHECK_INT(sshd_server_new(&loop, &cfg, &hooks, &srv), 0);
	CHECK_INT(sshd_host_key_count(srv), 2);
	CHECK_INT(sshd_host_key(srv, 0, &line, &fp), 0);
	CHECK(strncmp(line, "ssh-ed25519 AAAA", 16) == 0);
	CHECK(strncmp(fp, "SHA256:", 7) == 0);
	snprintf(fp1, sizeof(fp1), "%s", fp);
	CHECK_INT(sshd_host_key(srv, 1, &line, &fp), 0);
	CHECK(strncmp(line, "ecdsa-sha2-nistp256 AAAA", 24) == 0);
	CHECK_INT(sshd_host_key(srv, 2, &line, &fp), -ENOENT);
	snprintf(path, sizeof(path), "%s/ssh_host_ed25519_key", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);

	/* garbage through the fd path: the server must drop the connection */
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	{
		struct sockaddr_in peer = { .sin_family = AF_INET };
		CHECK_INT(sshd_accept_fd(srv, sv[0], (struct sockaddr *)&peer, sizeof(peer)), 0);
	}
	CHECK_INT(sshd_connection_count(srv), 1);
	CHECK(write(sv[1], "GET / HTTP/1.0\r\n\r\n", 18) == 18);
	for (int i = 0; i < 100 && sshd_connection_count(srv) > 0; i++)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK_INT(sshd_connection_count(srv), 0);
	close(sv[1]);
	sshd_server_close(srv, on_closed, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(closed, 1);
	CHECK_INT(uv_loop_close(&loop), 0);

	/* a second start reuses the keys */
	uv_loop_init(&loop);
	CHECK_INT(sshd_server_new(&loop, &cfg, &hooks, &srv), 0);
	CHECK_INT(sshd_host_key(srv, 0, &line, &fp), 0);
	CHECK_STR(fp, fp1);
	sshd_server_close(srv, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
	char dir[] = "/tmp/sshd-unit-XXXXXX", state[64], cmd[128];

	test_env();
	if (!mkdtemp(dir))
		return 1;
	snprintf(state, sizeof(state), "%s/state", dir);
	test_server(state);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	return check_finish();
}
