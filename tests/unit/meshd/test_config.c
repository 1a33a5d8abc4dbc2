/* meshd's configuration file: settings become long options before the command line's,
 * and each bad line is refused with one message naming the file and line. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "cmd/daemon/config.h"

static char path[] = "/tmp/mesh-test-config.XXXXXX";

/* Runs the reader on the file at `at` (text written there first unless NULL); returns its
 * stderr line ("" on success). */
static const char *run_at(const char *at, const char *text, int *argc_out, char ***argv_out,
			  bool *ok)
{
	static char out[512];
	if (text) {
		FILE *f = fopen(at, "w");
		fputs(text, f);
		fclose(f);
	}
	int p[2], saved = dup(2);
	if (pipe(p) != 0)
		abort();
	dup2(p[1], 2);
	char *argv[] = { "meshd", "--port=5", NULL };
	*ok = meshd_config_argv(at, true, 2, argv, argc_out, argv_out);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(p[1]);
	ssize_t n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return out;
}

static const char *run(const char *text, int *argc_out, char ***argv_out, bool *ok)
{
	return run_at(path, text, argc_out, argv_out, ok);
}

int main(void)
{
	int fd = mkstemp(path);
	close(fd);
	int argc;
	char **argv;
	bool ok;
	const char *msg =
	    run("# comment\n\ntun = userspace   # trailing\nno-ssh\nlog-level=debug\n", &argc,
		&argv, &ok);
	CHECK(ok);
	CHECK_STR(msg, "");
	CHECK_INT(argc, 5);
	if (ok && argc == 5) {
		CHECK_STR(argv[0], "meshd");
		CHECK_STR(argv[1], "--tun=userspace");
		CHECK_STR(argv[2], "--no-ssh");
		CHECK_STR(argv[3], "--log-level=debug");
		CHECK_STR(argv[4], "--port=5"); /* the command line comes last and wins */
		meshd_config_argv_free(argc, argv, 2);
	}
	char want[256];
	msg = run("tun = a\nBad Name = 1\n", &argc, &argv, &ok);
	CHECK(!ok);
	snprintf(want, sizeof(want), "meshd: %s:2: 'Bad Name' is not a setting name", path);
	CHECK_STR(msg, want);
	msg = run("authkey = secret\n", &argc, &argv, &ok);
	CHECK(!ok);
	snprintf(want, sizeof(want), "meshd: %s:1: 'authkey' can only be 'file:PATH' in the file",
		 path);
	CHECK_STR(msg, want);
	msg = run("authkey = file:/etc/meshd/authkey\n", &argc, &argv, &ok);
	CHECK(ok);
	CHECK_STR(msg, "");
	CHECK_INT(argc, 3);
	if (ok && argc == 3) {
		CHECK_STR(argv[1], "--authkey=file:/etc/meshd/authkey");
		meshd_config_argv_free(argc, argv, 2);
	}
	msg = run("= value\n", &argc, &argv, &ok);
	CHECK(!ok);
	snprintf(want, sizeof(want), "meshd: %s:1: '' is not a setting name", path);
	CHECK_STR(msg, want);
	unlink(path);
	/* a directory reads as nothing: refused, not taken as an empty file */
	msg = run_at("/tmp", NULL, &argc, &argv, &ok);
	CHECK(!ok);
	CHECK_STR(msg, "meshd: /tmp: Is a directory");
	char *a0[] = { "meshd", NULL };
	CHECK(meshd_config_argv("/nonexistent/meshd.conf", false, 1, a0, &argc, &argv));
	meshd_config_argv_free(argc, argv, 1);
	return check_finish();
}
