/* meshd's uploader (cmd/daemon/record_upload.c) against the real meshrecorder on 127.0.0.1:
 *   1  a stream of lines and the end: the file is the stream byte for byte, ended (0400);
 *      3 MB of lines: the first PUT plain, the others coded lz4 (the recorder offered it),
 *      the file the plain stream byte for byte; 3 MiB of lines LZ4 cannot shrink (base64
 *      of random bytes): those bodies go plain (a coded one over 1 MiB was refused 413),
 *      no coded body is ever larger than its plain bytes, the file byte for byte
 *   2  the recorder killed mid-stream and started again on the same port within the
 *      timeout: the same recording goes on, nothing lost, nothing twice
 *   3  a recorder already holding part of the recording (a 409 at offset 0): the upload
 *      goes on from where it stands
 *   4  the first recorder refuses connections: the second takes the recording, same id
 *   5  no recorder: failed once with the sentence, later appends -EPIPE
 *   6  bounds: pause(true) past MESHD_UPLOAD_PAUSE, -ENOBUFS past MESHD_UPLOAD_BUF_MAX
 *   7  a recorder given up on lately is not where a new upload starts
 *   8  shutdown with an upload live
 *   9  lines written in place (meshd_upload_room, _commit): the file is the stream byte for
 *      byte, with rooms given before and after the recorder acknowledged lines (the room
 *      follows what is kept, wherever trim left it), a room partly committed (the rest is
 *      written over by the next), a commit over the room refused (-EINVAL, nothing joins),
 *      a room at the bound exactly what MESHD_UPLOAD_BUF_MAX leaves, -EPIPE after failing
 * The loop closes with no handle left (uv_loop_close == 0).
 * Usage: test-meshd-record-upload MESHRECORDER */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "cmd/daemon/record_upload.h"
#include "common/file.h"
#include "common/now.h"

static const char *exe;
static char dir[256], portfile[300];
static pid_t rec_pid;
static unsigned port;

struct ev {
	int accepted, failed, paused, resumed;
	char why[256];
};

static void on_accepted(void *ctx)
{
	((struct ev *)ctx)->accepted++;
}

static void on_failed(void *ctx, const char *why)
{
	struct ev *e = ctx;
	e->failed++;
	snprintf(e->why, sizeof(e->why), "%s", why);
}

static void on_pause(void *ctx, bool paused)
{
	struct ev *e = ctx;
	if (paused)
		e->paused++;
	else
		e->resumed++;
}

static const struct meshd_upload_events events = { on_accepted, on_failed, on_pause };

/* meshrecorder on 127.0.0.1:port (0: any, read back from --port-file). */
static void recorder_start(unsigned want)
{
	char listen[64], p[16];
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", want);
	unlink(portfile);
	rec_pid = fork();
	if (rec_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		execl(exe, exe, "--listen", listen, "--dir", dir, "--port-file", portfile,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		char *s = NULL;
		size_t n;
		if (file_read_all(portfile, 16, &s, &n) == 0 && n) {
			snprintf(p, sizeof(p), "%.*s", (int)n, s);
			free(s);
			port = (unsigned)atoi(p);
			return;
		}
		free(s);
		usleep(50 * 1000);
	}
	fprintf(stderr, "meshrecorder did not start\n");
	exit(1);
}

static void recorder_kill(void)
{
	kill(rec_pid, SIGKILL);
	waitpid(rec_pid, NULL, 0);
}

/* Runs the loop until cond(ctx) or ms pass. */
static void run_until(uv_loop_t *loop, bool (*cond)(void *), void *ctx, unsigned ms)
{
	uint64_t end = now_mono_ms() + ms;
	while (!cond(ctx) && now_mono_ms() < end)
		uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
}

static bool idle(void *ctx)
{
	struct meshd_upload_config *cfg = ctx;
	return cfg->live == NULL && cfg->handles == 0;
}

static bool never(void *ctx)
{
	(void)ctx;
	return false;
}

static bool accepted(void *ctx)
{
	return ((struct ev *)ctx)->accepted > 0;
}

static void count_done(void *arg)
{
	(*(int *)arg)++;
}

static char *file_of(const char *id, size_t *len, int *mode)
{
	char p[512], *s = NULL;
	struct stat sb;
	snprintf(p, sizeof(p), "%s/127.0.0.1/%s.cast", dir, id);
	*mode = stat(p, &sb) == 0 ? (int)(sb.st_mode & 0777) : -1;
	if (file_read_all(p, 64 << 20, &s, len) != 0)
		*len = 0;
	return s;
}

static const char header[] = "{\"version\": 2, \"width\": 80, \"height\": 24}\n";

/* Line i of a test stream, into out; its length. */
static size_t line(char *out, size_t size, int i)
{
	return (size_t)snprintf(out, size, "[%d.000000, \"o\", \"line %06d\"]\n", i, i);
}

/* The whole expected stream of lines [0, n). */
static char *stream(int n, size_t *len)
{
	char *s = malloc(sizeof(header) + (size_t)n * 64), l[64];
	size_t at = strlen(header);
	memcpy(s, header, at);
	for (int i = 0; i < n; i++) {
		size_t k = line(l, sizeof(l), i);
		memcpy(s + at, l, k);
		at += k;
	}
	*len = at;
	return s;
}

/* About len bytes of asciicast lines of base64 of random bytes (16 KiB a line), which LZ4
 * makes larger, not smaller; *out_len gets their length. */
static char *random_lines(size_t len, size_t *out_len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *s = malloc(len + 64);
	size_t at = 0;
	srand(1813);
	while (at + (16 << 10) + 32 <= len) {
		at += (size_t)sprintf(s + at, "[0.5, \"o\", \"");
		for (int k = 0; k < 16 << 10; k++)
			s[at++] = b64[rand() & 63];
		at += (size_t)sprintf(s + at, "\"]\n");
	}
	*out_len = at;
	return s;
}

static void append_lines(struct meshd_upload *u, int from, int to)
{
	char l[64];
	for (int i = from; i < to; i++)
		CHECK_INT(meshd_upload_append(u, l, line(l, sizeof(l), i)), 0);
}

/* Lines [from, to) written in place, each room asked for two lines and only the first
 * committed (the second is written over by the next). */
static void room_lines(struct meshd_upload *u, int from, int to)
{
	for (int i = from; i < to; i++) {
		char *p;
		ssize_t n = meshd_upload_room(u, 128, &p);
		CHECK(n >= 128);
		if (n < 128)
			return;
		size_t k = line(p, (size_t)n, i);
		line(p + k, (size_t)n - k, i + 1);
		CHECK_INT(meshd_upload_commit(u, (size_t)n + 1), -EINVAL); /* over the room */
		CHECK_INT(meshd_upload_commit(u, k), 0);
		CHECK_INT(meshd_upload_commit(u, 1), -EINVAL); /* the room was taken */
	}
}

static void check_file(const char *id, int n)
{
	size_t want_len, got_len;
	int mode;
	char *want = stream(n, &want_len), *got = file_of(id, &got_len, &mode);
	CHECK_INT(got_len, want_len);
	if (got && got_len == want_len)
		CHECK_MEM(got, want, want_len);
	CHECK_INT(mode, 0400);
	free(want);
	free(got);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s MESHRECORDER\n", argv[0]);
		return 2;
	}
	exe = argv[1];
	signal(SIGPIPE, SIG_IGN);
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dir, sizeof(dir), "%s/upload-XXXXXX", tmp);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(portfile, sizeof(portfile), "%s/port", dir);
	strcat(dir, "/rec");
	recorder_start(0);

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct meshd_upload_config cfg = { .loop = &loop, .timeout_ms = 2000 };
	cfg.port = (uint16_t)port;
	struct addr_ip lo, lo2;
	CHECK(addr_ip_parse("127.0.0.1", &lo, NULL));
	CHECK(addr_ip_parse("127.0.0.2", &lo2, NULL));
	struct meshd_upload *u;

	/* 1: a stream and its end */
	struct ev e1 = { 0 };
	CHECK_INT(meshd_upload_new(&cfg, &lo, 1, "t1", header, strlen(header), &events, &e1, &u),
		  0);
	append_lines(u, 0, 3000);
	meshd_upload_end(u);
	run_until(&loop, idle, &cfg, 10000);
	CHECK_INT(e1.accepted, 0); /* ended before the loop ran: no callback after _end */
	CHECK_INT(e1.failed, 0);
	check_file("t1", 3000);
	CHECK(cfg.lz4_plain == 0); /* one PUT: the first on a connection goes plain */
	struct ev e1b = { 0 };
	CHECK_INT(meshd_upload_new(&cfg, &lo, 1, "t1b", header, strlen(header), &events, &e1b, &u),
		  0);
	for (int i = 0; i < 100000; i += 10000) {
		append_lines(u, i, i + 10000);
		run_until(&loop, idle, &cfg, 20);
	}
	meshd_upload_end(u);
	run_until(&loop, idle, &cfg, 10000);
	CHECK_INT(e1b.failed, 0);
	check_file("t1b", 100000);
	CHECK(cfg.lz4_plain >= 1 << 20); /* all but the first MiB */
	fprintf(stderr, "coded: %llu plain bytes sent as %llu\n", (unsigned long long)cfg.lz4_plain,
		(unsigned long long)cfg.lz4_sent);
	CHECK(cfg.lz4_sent < cfg.lz4_plain / 2);
	struct ev e1c = { 0 };
	size_t rlen;
	char *random = random_lines(3 << 20, &rlen);
	uint64_t plain0 = cfg.lz4_plain, sent0 = cfg.lz4_sent;
	CHECK_INT(meshd_upload_new(&cfg, &lo, 1, "t1c", header, strlen(header), &events, &e1c, &u),
		  0);
	CHECK_INT(meshd_upload_append(u, random, rlen), 0);
	meshd_upload_end(u);
	run_until(&loop, idle, &cfg, 10000);
	CHECK_INT(e1c.failed, 0);
	CHECK(cfg.lz4_sent - sent0 <= cfg.lz4_plain - plain0);
	size_t got_len;
	int mode;
	char *got = file_of("t1c", &got_len, &mode);
	CHECK_INT(got_len, strlen(header) + rlen);
	if (got && got_len == strlen(header) + rlen)
		CHECK_MEM(got + strlen(header), random, rlen);
	free(got);
	free(random);

	/* 2: killed mid-stream, back on the same port within the timeout */
	struct ev e2 = { 0 };
	CHECK_INT(meshd_upload_new(&cfg, &lo, 1, "t2", header, strlen(header), &events, &e2, &u),
		  0);
	append_lines(u, 0, 500);
	run_until(&loop, idle, &cfg, 500); /* the first lines go up */
	recorder_kill();
	append_lines(u, 500, 1000);
	run_until(&loop, idle, &cfg, 300); /* the upload finds the recorder gone */
	recorder_start(port);
	append_lines(u, 1000, 1500);
	meshd_upload_end(u);
	run_until(&loop, idle, &cfg, 10000);
	CHECK_INT(e2.failed, 0);
	check_file("t2", 1500);

	/* 3: the recorder holds the header and 10 lines already: a 409 at 0, then from there */
	{
		size_t len;
		char *s = stream(10, &len), p[512];
		snprintf(p, sizeof(p), "%s/127.0.0.1/t3.cast", dir);
		CHECK_INT(file_write_atomic(p, s, len, 0600), 0);
		free(s);
	}
	struct ev e3 = { 0 };
	CHECK_INT(meshd_upload_new(&cfg, &lo, 1, "t3", header, strlen(header), &events, &e3, &u),
		  0);
	append_lines(u, 0, 100);
	meshd_upload_end(u);
	run_until(&loop, idle, &cfg, 10000);
	check_file("t3", 100);

	/* 4: the first recorder refuses: the second takes it under the same id */
	struct ev e4 = { 0 };
	struct addr_ip two[2] = { lo2, lo };
	CHECK_INT(meshd_upload_new(&cfg, two, 2, "t4", header, strlen(header), &events, &e4, &u),
		  0);
	append_lines(u, 0, 50);
	run_until(&loop, idle, &cfg, 6000);
	CHECK_INT(e4.accepted, 1);
	meshd_upload_end(u);
	run_until(&loop, idle, &cfg, 10000);
	check_file("t4", 50);

	/* 5: no recorder */
	struct ev e5 = { 0 };
	CHECK_INT(meshd_upload_new(&cfg, &lo2, 1, "t5", header, strlen(header), &events, &e5, &u),
		  0);
	run_until(&loop, idle, &cfg, 6000);
	CHECK_INT(e5.failed, 1);
	CHECK_STR(e5.why, "no recorder took the recording (1 tried; the last: cannot connect: "
			  "connection refused)");
	CHECK_INT(meshd_upload_append(u, "x\n", 2), -EPIPE);
	{
		char *p = NULL;
		CHECK_INT(meshd_upload_room(u, 2, &p), -EPIPE);
		CHECK(p == NULL);
		CHECK_INT(meshd_upload_commit(u, 0), -EPIPE);
	}
	meshd_upload_end(u);

	/* 7: 127.0.0.2 was given up on (cases 4, 5): a new upload starts at the next one, at
	 * once, not after its timeout */
	struct ev e7 = { 0 };
	CHECK_INT(meshd_upload_new(&cfg, two, 2, "t7", header, strlen(header), &events, &e7, &u),
		  0);
	append_lines(u, 0, 5);
	run_until(&loop, accepted, &e7, 1000);
	CHECK_INT(e7.accepted, 1);
	meshd_upload_end(u);
	run_until(&loop, idle, &cfg, 10000);
	check_file("t7", 5);

	/* 9: lines written in place, before and after acknowledgements, one room of 1 MiB */
	struct ev e9 = { 0 };
	CHECK_INT(meshd_upload_new(&cfg, &lo, 1, "t9", header, strlen(header), &events, &e9, &u),
		  0);
	room_lines(u, 0, 1000);
	run_until(&loop, accepted, &e9, 2000);
	CHECK_INT(e9.accepted, 1);
	for (int r = 0; r < 20; r++) {
		/* between the recorder's answers: trim leaves what is kept past buf's start */
		int at = 1000 + r * 50;
		append_lines(u, at, at + 25);
		run_until(&loop, never, NULL, 5);
		room_lines(u, at + 25, at + 50);
	}
	{
		char *p;
		ssize_t n = meshd_upload_room(u, 1 << 20, &p);
		CHECK(n >= 1 << 20);
		size_t at = 0;
		for (int i = 2000; n >= 1 << 20 && i < 20000; i++)
			at += line(p + at, (size_t)n - at, i);
		CHECK_INT(meshd_upload_commit(u, at), 0);
	}
	room_lines(u, 20000, 20010);
	meshd_upload_end(u);
	run_until(&loop, idle, &cfg, 10000);
	CHECK_INT(e9.failed, 0);
	check_file("t9", 20010);

	/* 6: bounds, before the loop runs */
	struct ev e6 = { 0 };
	CHECK_INT(meshd_upload_new(&cfg, &lo, 1, "t6", header, strlen(header), &events, &e6, &u),
		  0);
	static char big[65536];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\n';
	int i = 0, rc = 0;
	while (i < 200 && (rc = meshd_upload_append(u, big, sizeof(big))) == 0)
		i++;
	CHECK_INT(rc, -ENOBUFS);
	CHECK_INT(i, MESHD_UPLOAD_BUF_MAX / (int)sizeof(big) - 1); /* the header is in too */
	{ /* a room at the bound: what is left, no more, however much is asked */
		char *p;
		ssize_t n = meshd_upload_room(u, sizeof(big), &p);
		CHECK_INT(n, (ssize_t)(sizeof(big) - strlen(header)));
		CHECK_INT(meshd_upload_commit(u, sizeof(big)), -EINVAL);
	}
	CHECK_INT(e6.paused, 1);
	run_until(&loop, idle, &cfg, 5000);
	CHECK_INT(e6.resumed, 1); /* taken: the session may go on */
	meshd_upload_end(u);
	run_until(&loop, idle, &cfg, 10000);

	/* 8: shutdown with an upload live (its session not ended yet, a connection open): every
	 * handle closes, done runs once, the session's end afterwards frees it (ASan: no leak) */
	struct ev e8 = { 0 };
	CHECK_INT(meshd_upload_new(&cfg, &lo, 1, "t8", header, strlen(header), &events, &e8, &u),
		  0);
	append_lines(u, 0, 5);
	run_until(&loop, accepted, &e8, 2000);
	int done = 0;
	meshd_upload_close_all(&cfg, count_done, &done);
	run_until(&loop, idle, &cfg, 2000);
	CHECK_INT(done, 1);
	CHECK_INT(meshd_upload_append(u, "x\n", 2), -EPIPE);
	meshd_upload_end(u);
	CHECK_INT(uv_loop_close(&loop), 0);
	recorder_kill();
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(dir) - 4), dir);
	CHECK_INT(system(cmd), 0);
	return check_finish();
}
