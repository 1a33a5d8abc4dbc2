/* sshd/ unit tests: the environment filter (numbered table), the post-auth request
 * decisions with their exact refusals (numbered table), the "+key" user name suffix
 * (numbered table), the per-connection buffer budget, host keys generated once with mode
 * 0600 and reused with the same fingerprints, the algorithm lists of the KEXINIT a client
 * reads, exactly, and a connection fed garbage through sshd_accept_fd() that must close
 * cleanly with no handle left behind. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "sshd/sshd.h"
#include "sshd/internal.h"

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

/* Each post-auth request decision: accepted, or refused with exactly this line. */
enum req_kind { R_PTY, R_WINSIZE, R_ENV, R_EXEC, R_SUBSYS, R_DIRECT, R_TCPIP };
static const struct {
	enum req_kind kind;
	const char *a, *b;
	long n1, n2;
	unsigned flags;
	const char *why; /* NULL: accepted */
} req_cases[] = {
	/* 1 */ { R_PTY, "xterm-256color", NULL, 80, 24, 0, NULL },
	/* 2 */
	{ R_PTY, "xterm\x1b[31m", NULL, 80, 24, 0,
	  "pty-req: terminal name 'xterm?[31m' has a bad character" },
	/* 3 */
	{ R_PTY, "a-terminal-name-that-is-far-too-long-for-the-sixty-four-byte-buffer!", NULL, 80,
	  24, 0,
	  "pty-req: terminal name "
	  "'a-terminal-name-that-is-far-too-long-for-the-sixty-four-byte-buf...' "
	  "is longer than 63 bytes" },
	/* 4 */
	{ R_PTY, "xterm", NULL, 70000, 24, 0, "window size 70000x24 (0x0 pixels) is out of range" },
	/* 5 */
	{ R_WINSIZE, NULL, NULL, -1, 24, 0, "window size -1x24 (0x0 pixels) is out of range" },
	/* 6 */ { R_WINSIZE, NULL, NULL, 65535, 65535, 0, NULL },
	/* 7 */ { R_ENV, "LANG", "C.UTF-8", 0, 0, 0, NULL },
	/* 8 */
	{ R_ENV, "LD_PRELOAD", "/x.so", 0, 0, 0,
	  "env: 'LD_PRELOAD' refused by the acceptEnv patterns" },
	/* 9 */ { R_ENV, "LANG", "C", 64, 0, 0, "env: 'LANG' refused: already 64 variables" },
	/* 10 */ { R_ENV, NULL, "x", 0, 0, 0, "env: request without a name or value" },
	/* 11 */ { R_EXEC, "id", NULL, 0, 0, 0, NULL },
	/* 12 */ { R_EXEC, NULL, NULL, 0, 0, 0, "exec: request without a command" },
	/* 13 */ { R_SUBSYS, "sftp", NULL, 0, 0, 0, NULL },
	/* 14 */
	{ R_SUBSYS, "netconf\n", NULL, 0, 0, 0, "subsystem 'netconf?' is not offered (only sftp)" },
	/* 15 */ { R_DIRECT, "127.0.0.1", NULL, 8080, 0, SSHD_ALLOW_LOCAL_FWD, NULL },
	/* 16 */
	{ R_DIRECT, "db.internal", NULL, 5432, 0, 0,
	  "local port forwarding to db.internal:5432 refused by policy" },
	/* 17 */
	{ R_DIRECT, "-oProxyCommand=x", NULL, 22, 0, SSHD_ALLOW_LOCAL_FWD,
	  "direct-tcpip: bad host name '-oProxyCommand=x'" },
	/* 18 */
	{ R_DIRECT, "host name", NULL, 22, 0, SSHD_ALLOW_LOCAL_FWD,
	  "direct-tcpip: bad host name 'host name'" },
	/* 19 */
	{ R_DIRECT, "", NULL, 22, 0, SSHD_ALLOW_LOCAL_FWD, "direct-tcpip: bad host name ''" },
	/* 20 */
	{ R_DIRECT, "::1", NULL, 0, 0, SSHD_ALLOW_LOCAL_FWD, "direct-tcpip: bad port 0 for '::1'" },
	/* 21 */ { R_TCPIP, "localhost", NULL, 8080, 0, SSHD_ALLOW_REMOTE_FWD, NULL },
	/* 22 */
	{ R_TCPIP, "localhost", NULL, 8080, 0, 0,
	  "remote port forwarding on localhost:8080 refused by policy" },
	/* 23 */
	{ R_TCPIP, "", NULL, 80, 0, SSHD_ALLOW_REMOTE_FWD,
	  "tcpip-forward: port 80 is privileged and the user is not root" },
	/* 24 */
	{ R_TCPIP, "", NULL, 70000, 0, SSHD_ALLOW_REMOTE_FWD, "tcpip-forward: bad port 70000" },
};

static void test_requests(void)
{
	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		char why[SSHD__WHY_MAX] = "";
		struct sshd__pty pty;
		struct sshd__winsize ws;
		bool ok = false;

		switch (req_cases[i].kind) {
		case R_PTY:
			ok = sshd__req_pty(req_cases[i].a, req_cases[i].n1, req_cases[i].n2, 0, 0,
					   &pty, why, sizeof(why));
			break;
		case R_WINSIZE:
			ok = sshd__req_winsize(req_cases[i].n1, req_cases[i].n2, 0, 0, &ws, why,
					       sizeof(why));
			break;
		case R_ENV:
			ok = sshd__req_env(req_cases[i].a, req_cases[i].b, "",
					   (size_t)req_cases[i].n1, why, sizeof(why));
			break;
		case R_EXEC:
			ok = sshd__req_exec(req_cases[i].a, why, sizeof(why));
			break;
		case R_SUBSYS:
			ok = sshd__req_subsystem(req_cases[i].a, why, sizeof(why));
			break;
		case R_DIRECT:
			ok = sshd__req_direct(req_cases[i].a, req_cases[i].n1, req_cases[i].flags,
					      why, sizeof(why));
			break;
		case R_TCPIP:
			ok = sshd__req_tcpip_forward(req_cases[i].a, req_cases[i].n1,
						     req_cases[i].flags, false, why, sizeof(why));
			break;
		}
		if (ok != !req_cases[i].why)
			fprintf(stderr, "request case %zu: %s\n", i + 1, why);
		CHECK_INT(ok, !req_cases[i].why);
		if (req_cases[i].why)
			CHECK_STR(why, req_cases[i].why);
	}
}

/* The "+key" suffix of a requested user name: the name the hook decides for. */
static const struct {
	const char *user;
	bool key;
	size_t len;
} user_key_cases[] = {
	/* 1 */ { "alice", false, 5 },
	/* 2 */ { "alice+key", true, 5 },
	/* 3 */ { "+key", false, 4 },
	/* 4 */ { "alice+keys", false, 10 },
	/* 5 */ { "alice+key+key", true, 9 },
	/* 6 */ { "a+key", true, 1 },
	/* 7 */ { "alice+KEY", false, 9 },
	/* 8 */ { "", false, 0 },
};

static void test_user_key(void)
{
	for (size_t i = 0; i < sizeof(user_key_cases) / sizeof(user_key_cases[0]); i++) {
		size_t len = 99;
		bool key = sshd__req_user_key(user_key_cases[i].user, &len);
		if (key != user_key_cases[i].key || len != user_key_cases[i].len)
			fprintf(stderr, "user name case %zu ('%s')\n", i + 1,
				user_key_cases[i].user);
		CHECK_INT(key, user_key_cases[i].key);
		CHECK_INT(len, user_key_cases[i].len);
	}
}

/* A connection's budget: a second buffer past it is not taken (back-pressure), and a
 * drained queue gives its share back. */
static void test_budget(void)
{
	struct sshd__budget budget = { .used = 0, .max = SSHD__INQ_CAP + SSHD__INQ_CAP / 2 };
	struct sshd__inq a = { .budget = &budget }, b = { .budget = &budget };
	int sv[2];

	CHECK_INT(sshd__inq_take(&a, "x", 1), 1);
	CHECK_INT(budget.used, SSHD__INQ_CAP);
	CHECK_INT(sshd__inq_take(&b, "y", 1), 0);
	CHECK(b.backlog);
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_INT(sshd__inq_flush(&a, sv[0]), 0);
	CHECK_INT(budget.used, 0);
	CHECK(a.buf == NULL);
	CHECK_INT(sshd__inq_take(&b, "y", 1), 1);
	CHECK_INT(budget.used, SSHD__INQ_CAP);
	sshd__inq_free(&b);
	CHECK_INT(budget.used, 0);
	close(sv[0]);
	close(sv[1]);
}

/* sshd__inq_seen(): libssh calls a data callback once per data packet with all it holds of
 * the channel, so what is new is what it holds beyond what it held after the last call
 * (conn.c tells channel data from other input with it, sshd/conn.c "A client that does not
 * read").  Each row is one callback: libssh holds `len`, the callback took `took`. */
static const struct {
	uint32_t len;
	int took;
	uint64_t packets, bytes; /* counted after the call */
	uint32_t held;		 /* libssh holds after the call */
} seen_cases[] = {
	/* 1 */ { 100, 100, 1, 100, 0 }, /* taken whole */
	/* 2 */ { 50, 0, 2, 150, 50 },	 /* not taken: libssh keeps it */
	/* 3 */ { 80, 0, 3, 180, 80 },	 /* 30 more arrive; the 50 are not new */
	/* 4 */ { 100, 100, 4, 200, 0 }, /* 20 more, all taken */
	/* 5 */ { 32768, 0, 5, 32968, 32768 },
	/* 6 */ { 32768, 32768, 6, 32968, 0 }, /* a packet with no data */
	/* 7 */ { 1, 1, 7, 32969, 0 },
};

static void test_seen(void)
{
	struct sshd__budget budget = { .max = SSHD__INQ_CAP };
	struct sshd__inq q = { .budget = &budget }, loose = { 0 };

	for (size_t i = 0; i < sizeof(seen_cases) / sizeof(seen_cases[0]); i++) {
		int r = sshd__inq_seen(&q, seen_cases[i].len, seen_cases[i].took);
		if (budget.data_packets != seen_cases[i].packets ||
		    budget.data_bytes != seen_cases[i].bytes || q.lib_held != seen_cases[i].held)
			fprintf(stderr, "seen case %zu\n", i + 1);
		CHECK_INT(r, seen_cases[i].took);
		CHECK_INT(budget.data_packets, seen_cases[i].packets);
		CHECK_INT(budget.data_bytes, seen_cases[i].bytes);
		CHECK_INT(q.lib_held, seen_cases[i].held);
	}
	/* a queue without a budget (a released channel) counts nothing */
	CHECK_INT(sshd__inq_seen(&loose, 10, 0), 0);
	CHECK_INT(loose.lib_held, 10);
	CHECK_INT(budget.data_packets, 7);
}

static void authorize(void *ctx, const struct sockaddr *peer, const char *user,
		      struct sshd_check *check, struct sshd_decision *out)
{
	out->action = VERDICT_REJECT;
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

/* The ten name-lists of the server's KEXINIT as a client reads them after its own
 * identification line: key exchange, host key, cipher and MAC (each way), compression (each
 * way), languages (each way). */
static const char *const want_kexinit[10] = {
	"curve25519-sha256,curve25519-sha256@libssh.org,kex-strict-s-v00@openssh.com",
	"ssh-ed25519",
	"chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
	"aes256-ctr,aes128-ctr",
	"chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
	"aes256-ctr,aes128-ctr",
	"hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256",
	"hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256",
	"none", /* no zlib: one read could unpack into MiBs of queued requests (conn.c) */
	"none",
	"",
	"",
};

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Splits "SSH-2.0-...\r\n" + one binary packet holding KEXINIT (RFC 4253 7.1) into its
 * name-lists; false until all of it has arrived (or when it is not a KEXINIT). */
static bool kexinit_parse(const unsigned char *buf, size_t len, char lists[10][512])
{
	const unsigned char *eol = memmem(buf, len, "\r\n", 2), *p, *end;
	uint32_t plen;

	if (!eol || (size_t)(buf + len - (eol + 2)) < 5)
		return false;
	p = eol + 2;
	plen = be32(p);
	if ((size_t)(buf + len - p) < 4 + (size_t)plen || plen < 1 + 1 + 16)
		return false;
	end = p + 4 + plen - p[4];
	p += 5;
	if (*p++ != 20)
		return false;
	p += 16; /* cookie */
	for (int i = 0; i < 10; i++) {
		uint32_t n;
		if (end - p < 4)
			return false;
		n = be32(p);
		p += 4;
		if ((size_t)(end - p) < n || n >= 512)
			return false;
		memcpy(lists[i], p, n);
		lists[i][n] = '\0';
		p += n;
	}
	return true;
}

/* What a client sees: the advertised algorithm lists, exactly. */
static void test_kexinit(uv_loop_t *loop, struct sshd_server *srv)
{
	struct sockaddr_in peer = { .sin_family = AF_INET };
	unsigned char buf[8192];
	char lists[10][512];
	size_t len = 0;
	bool got = false;
	int sv[2];

	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	CHECK_INT(sshd_accept_fd(srv, sv[0], (struct sockaddr *)&peer, sizeof(peer)), 0);
	CHECK(write(sv[1], "SSH-2.0-unit\r\n", 14) == 14);
	for (int i = 0; i < 2000 && !got; i++) {
		ssize_t n;
		uv_run(loop, UV_RUN_NOWAIT);
		n = read(sv[1], buf + len, sizeof(buf) - len);
		if (n > 0)
			len += (size_t)n;
		got = kexinit_parse(buf, len, lists);
		if (!got)
			usleep(1000);
	}
	CHECK(got);
	CHECK(len > 14 && memcmp(buf, "SSH-2.0-meshd\r\n", 15) == 0);
	for (int i = 0; got && i < 10; i++) {
		if (strcmp(lists[i], want_kexinit[i]) != 0)
			fprintf(stderr, "KEXINIT name-list %d differs\n", i);
		CHECK_STR(lists[i], want_kexinit[i]);
	}
	close(sv[1]);
	for (int i = 0; i < 100 && sshd_connection_count(srv) > 0; i++)
		uv_run(loop, UV_RUN_ONCE);
	CHECK_INT(sshd_connection_count(srv), 0);
}

static void test_server(const char *dir)
{
	struct sshd_hooks hooks = { .authorize = authorize };
	struct sshd_config cfg = { .state_dir = dir };
	struct sshd_server *srv;
	const char *line, *fp;
	char fp1[128], path[512];
	struct stat st;
	uv_loop_t loop;
	int sv[2];

	uv_loop_init(&loop);
	CHECK_INT(sshd_server_new(&loop, &cfg, &hooks, &srv), 0);
	CHECK_INT(sshd_host_key_count(srv), 1);
	CHECK_INT(sshd_host_key(srv, 0, &line, &fp), 0);
	CHECK(strncmp(line, "ssh-ed25519 AAAA", 16) == 0);
	CHECK(strncmp(fp, "SHA256:", 7) == 0);
	snprintf(fp1, sizeof(fp1), "%s", fp);
	CHECK_INT(sshd_host_key(srv, 1, &line, &fp), -ENOENT);
	snprintf(path, sizeof(path), "%s/ssh_host_ed25519_key", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);

	test_kexinit(&loop, srv);

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
	test_requests();
	test_user_key();
	test_budget();
	test_seen();
	if (!mkdtemp(dir))
		return 1;
	snprintf(state, sizeof(state), "%s/state", dir);
	test_server(state);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	return check_finish();
}
