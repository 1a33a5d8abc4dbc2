/* Test-only server: the embedded SSH server on a loopback TCP port with a fixed
 * authorization table read from a file, so the client suite runs without the mesh.
 *
 *   sshd-test-server --listen 127.0.0.1:PORT --state DIR --table FILE
 *                    [--control FIFO] [--known-hosts FILE] [--preauth-ms N] [--max-conns N]
 *                    [--max-channels N] [--stall-ms N] [--rekey-data BYTES] [--keepalive-ms N]
 *                    [--watch DIR]
 *
 * Table: one rule per line, first match wins, '#' comments:
 *   USER-GLOB ACTION [from=IP] [local=NAME] [flags=agent,lfwd,rfwd,root] [env=GLOBS]
 *                    [duration=SECONDS] [msg=TEXT TO THE END OF THE LINE]
 * ACTION is accept, reject or check (msg= is then the URL).  local= defaults to the
 * requested user.  No match: reject with "policy does not permit you to SSH to this node".
 * Control FIFO lines: "reload" (re-read the table, then sshd_revalidate()), "release" and
 * "reject" (answer every held check).  Events are printed on stdout, one per line.
 * --watch DIR sets the session hooks: a rule's watch=on writes every byte its sessions send
 * to the client into DIR/N.out (N counts watched sessions from 1) and prints "watch start",
 * "watch resize" and "watch end" lines; watch=refuse refuses its sessions with a message;
 * watch=fail:BYTES ends them with a message once BYTES were sent (a recording that fails). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/log.h"
#include "sshd/sshd.h"

struct rule {
	char user[64], from[64], watch[32];
	struct sshd_decision d;
	bool same_user;
};

static struct rule rules[128];
static size_t nrules;
static const char *table_path;
static struct sshd_server *srv;
static uv_loop_t *loop;
static struct sshd_check *held[256];
static struct sshd_decision held_d[256];
static size_t nheld;
static char ctl_buf[512];
static size_t ctl_len;

static int load_table(void)
{
	FILE *f = fopen(table_path, "r");
	char line[1024];
	size_t n = 0;

	if (!f) {
		fprintf(stderr, "table %s: %s\n", table_path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) && n < sizeof(rules) / sizeof(rules[0])) {
		struct rule *r = &rules[n];
		char *save = NULL, *tok, *msg;

		line[strcspn(line, "\n")] = '\0';
		msg = strstr(line, "msg=");
		if (msg) {
			*msg = '\0';
			msg += 4;
		}
		tok = strtok_r(line, " \t", &save);
		if (!tok || tok[0] == '#')
			continue;
		memset(r, 0, sizeof(*r));
		snprintf(r->user, sizeof(r->user), "%s", tok);
		tok = strtok_r(NULL, " \t", &save);
		if (!tok) {
			fprintf(stderr, "table: rule for '%s' has no action\n", r->user);
			fclose(f);
			return -1;
		}
		if (strcmp(tok, "accept") == 0)
			r->d.action = VERDICT_ACCEPT;
		else if (strcmp(tok, "check") == 0)
			r->d.action = VERDICT_CHECK;
		else if (strcmp(tok, "reject") == 0)
			r->d.action = VERDICT_REJECT;
		else {
			fprintf(stderr, "table: unknown action '%s'\n", tok);
			fclose(f);
			return -1;
		}
		r->same_user = true;
		while ((tok = strtok_r(NULL, " \t", &save))) {
			if (strncmp(tok, "from=", 5) == 0)
				snprintf(r->from, sizeof(r->from), "%s", tok + 5);
			else if (strncmp(tok, "local=", 6) == 0) {
				snprintf(r->d.local_user, sizeof(r->d.local_user), "%s", tok + 6);
				r->same_user = false;
			} else if (strncmp(tok, "env=", 4) == 0)
				snprintf(r->d.accept_env, sizeof(r->d.accept_env), "%s", tok + 4);
			else if (strncmp(tok, "watch=", 6) == 0)
				snprintf(r->watch, sizeof(r->watch), "%s", tok + 6);
			else if (strncmp(tok, "duration=", 9) == 0)
				r->d.max_duration_s = (uint32_t)atoi(tok + 9);
			else if (strncmp(tok, "flags=", 6) == 0) {
				if (strstr(tok, "agent"))
					r->d.flags |= SSHD_ALLOW_AGENT;
				if (strstr(tok, "lfwd"))
					r->d.flags |= SSHD_ALLOW_LOCAL_FWD;
				if (strstr(tok, "rfwd"))
					r->d.flags |= SSHD_ALLOW_REMOTE_FWD;
				if (strstr(tok, "root"))
					r->d.flags |= SSHD_ALLOW_ROOT;
			} else {
				fprintf(stderr, "table: unknown field '%s'\n", tok);
				fclose(f);
				return -1;
			}
		}
		if (msg)
			snprintf(r->d.message, sizeof(r->d.message), "%s", msg);
		n++;
	}
	fclose(f);
	nrules = n;
	return 0;
}

static const char *watch_dir;
static int nwatch;

struct watch {
	int n;
	FILE *f;
	size_t bytes, fail_after;
};

static void *on_session_start(void *ctx, const struct sshd_session_info *si, char *refuse,
			      size_t refuse_len)
{
	const struct rule *r = NULL;
	char path[4096];

	for (size_t i = 0; i < nrules && !r; i++)
		if (fnmatch(rules[i].user, si->ssh_user, 0) == 0)
			r = &rules[i];
	if (!r || !r->watch[0])
		return NULL;
	if (strcmp(r->watch, "refuse") == 0) {
		snprintf(refuse, refuse_len, "This session must be recorded; it is refused.");
		printf("watch refused user=%s\n", si->ssh_user);
		fflush(stdout);
		return NULL;
	}
	struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->n = ++nwatch;
	if (strncmp(r->watch, "fail:", 5) == 0)
		w->fail_after = (size_t)atol(r->watch + 5);
	snprintf(path, sizeof(path), "%s/%d.out", watch_dir, w->n);
	w->f = fopen(path, "w");
	printf("watch start %d user=%s local=%s pty=%d size=%ux%u term=%s cmd=%s\n", w->n,
	       si->ssh_user, si->local_user, (int)si->pty, si->cols, si->rows,
	       si->term ? si->term : "-", si->command ? si->command : "-");
	fflush(stdout);
	return w;
}

static bool on_session_output(void *sess, const void *data, size_t len, bool is_stderr,
			      char *message, size_t message_len)
{
	struct watch *w = sess;

	if (w->f)
		fwrite(data, 1, len, w->f);
	w->bytes += len;
	if (w->fail_after && w->bytes >= w->fail_after) {
		snprintf(message, message_len, "Session recording failed; the session is ended.");
		printf("watch failed %d\n", w->n);
		fflush(stdout);
		return false;
	}
	return true;
}

static void on_session_resize(void *sess, unsigned cols, unsigned rows)
{
	printf("watch resize %d %ux%u\n", ((struct watch *)sess)->n, cols, rows);
	fflush(stdout);
}

static void on_session_end(void *sess, int status)
{
	struct watch *w = sess;

	if (w->f)
		fclose(w->f);
	printf("watch end %d status=%d bytes=%zu\n", w->n, status, w->bytes);
	fflush(stdout);
	free(w);
}

static void authorize(void *ctx, const struct sockaddr *peer, const char *user,
		      struct sshd_check *check, struct sshd_decision *out)
{
	char ip[INET6_ADDRSTRLEN] = "";
	size_t i;

	if (peer->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, ip, sizeof(ip));
	for (i = 0; i < nrules; i++) {
		struct rule *r = &rules[i];
		if (fnmatch(r->user, user, 0) != 0 || (r->from[0] && strcmp(r->from, ip) != 0))
			continue;
		*out = r->d;
		if (r->same_user)
			snprintf(out->local_user, sizeof(out->local_user), "%s", user);
		if (out->action == VERDICT_CHECK && check && nheld < 256) {
			held[nheld] = check;
			held_d[nheld] = *out;
			nheld++;
			printf("check held user=%s\n", user);
			fflush(stdout);
		}
		return;
	}
	out->action = VERDICT_REJECT;
	snprintf(out->message, sizeof(out->message),
		 "policy does not permit you to SSH to this node");
}

static void check_cancel(void *ctx, struct sshd_check *check)
{
	for (size_t i = 0; i < nheld; i++)
		if (held[i] == check) {
			held[i] = held[--nheld];
			held_d[i] = held_d[nheld];
			printf("check cancelled\n");
			fflush(stdout);
			return;
		}
}

static void control(const char *cmd)
{
	if (strcmp(cmd, "reload") == 0) {
		unsigned n;
		if (load_table() < 0)
			return;
		n = sshd_revalidate(srv);
		printf("revalidated closed=%u\n", n);
	} else if (strcmp(cmd, "release") == 0 || strcmp(cmd, "reject") == 0) {
		while (nheld > 0) {
			struct sshd_decision d = held_d[--nheld];
			if (cmd[2] == 'l') {
				d.action = VERDICT_ACCEPT;
			} else {
				d.action = VERDICT_REJECT;
				snprintf(d.message, sizeof(d.message),
					 "check failed: the owner did not approve this login");
			}
			sshd_check_resolve(held[nheld], &d);
			printf("check %sd\n", cmd);
		}
	} else if (strcmp(cmd, "stats") == 0) {
		printf("stats conns=%u children=%u\n", sshd_connection_count(srv),
		       sshd_child_count(srv));
	} else {
		fprintf(stderr, "control: unknown command '%s'\n", cmd);
	}
	fflush(stdout);
}

static void on_control(uv_poll_t *h, int status, int events)
{
	ssize_t n = read(h->io_watcher.fd, ctl_buf + ctl_len, sizeof(ctl_buf) - 1 - ctl_len);
	char *nl;

	if (n <= 0)
		return;
	ctl_len += (size_t)n;
	ctl_buf[ctl_len] = '\0';
	while ((nl = strchr(ctl_buf, '\n'))) {
		*nl = '\0';
		control(ctl_buf);
		ctl_len -= (size_t)(nl + 1 - ctl_buf);
		memmove(ctl_buf, nl + 1, ctl_len + 1);
	}
	if (ctl_len >= sizeof(ctl_buf) - 1)
		ctl_len = 0;
}

static void on_listen(uv_poll_t *h, int status, int events)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(h->io_watcher.fd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		sshd_accept_fd(srv, fd, (struct sockaddr *)&ss, len);
	}
}

static void on_term(uv_signal_t *h, int sig)
{
	uv_stop(loop);
}

int main(int argc, char **argv)
{
	const char *listen_at = NULL, *state = NULL, *ctl = NULL, *known = NULL;
	struct sshd_config cfg = { 0 };
	struct sshd_hooks hooks = { .authorize = authorize, .check_cancel = check_cancel };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	uv_poll_t lpoll, cpoll;
	uv_signal_t sterm, sint;
	char host[64], *colon;
	int i, lfd, one = 1, rc;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--listen") == 0)
			listen_at = argv[i + 1];
		else if (strcmp(argv[i], "--state") == 0)
			state = argv[i + 1];
		else if (strcmp(argv[i], "--table") == 0)
			table_path = argv[i + 1];
		else if (strcmp(argv[i], "--control") == 0)
			ctl = argv[i + 1];
		else if (strcmp(argv[i], "--known-hosts") == 0)
			known = argv[i + 1];
		else if (strcmp(argv[i], "--preauth-ms") == 0)
			cfg.preauth_timeout_ms = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--max-conns") == 0)
			cfg.max_connections = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--max-channels") == 0)
			cfg.max_channels = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--stall-ms") == 0)
			cfg.stall_timeout_ms = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--rekey-data") == 0)
			cfg.rekey_data = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--keepalive-ms") == 0)
			cfg.keepalive_ms = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--watch") == 0)
			watch_dir = argv[i + 1];
		else
			break;
	}
	if (i != argc || !listen_at || !state || !table_path) {
		fprintf(stderr,
			"usage: %s --listen IP:PORT --state DIR --table FILE "
			"[--control FIFO] [--known-hosts FILE] [--preauth-ms N] "
			"[--max-conns N] [--max-channels N] [--stall-ms N] [--rekey-data BYTES] "
			"[--keepalive-ms N] [--watch DIR]\n",
			argv[0]);
		return 2;
	}
	snprintf(host, sizeof(host), "%s", listen_at);
	colon = strrchr(host, ':');
	if (!colon) {
		fprintf(stderr, "--listen: expected IP:PORT, got '%s'\n", listen_at);
		return 2;
	}
	*colon = '\0';
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "--listen: bad IPv4 address '%s'\n", host);
		return 2;
	}
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	if (load_table() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if (getenv("SSHD_TEST_DEBUG"))
		log_set_level(LOG_LEVEL_DEBUG);

	if (watch_dir) {
		hooks.session_start = on_session_start;
		hooks.session_output = on_session_output;
		hooks.session_resize = on_session_resize;
		hooks.session_end = on_session_end;
	}
	loop = uv_default_loop();
	cfg.state_dir = state;
	rc = sshd_server_new(loop, &cfg, &hooks, &srv);
	if (rc < 0) {
		fprintf(stderr, "sshd_server_new: %s\n", strerror(-rc));
		return 1;
	}
	if (known) {
		FILE *f = fopen(known, "w");
		for (size_t k = 0; f && k < sshd_host_key_count(srv); k++) {
			const char *line, *fp;
			sshd_host_key(srv, k, &line, &fp);
			fprintf(f, "[%s]:%d %s\n", host, ntohs(sin.sin_port), line);
		}
		if (f)
			fclose(f);
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 512) < 0) {
		fprintf(stderr, "listen on %s: %s\n", listen_at, strerror(errno));
		return 1;
	}
	uv_poll_init(loop, &lpoll, lfd);
	uv_poll_start(&lpoll, UV_READABLE, on_listen);
	if (ctl) {
		int cfd = open(ctl, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (cfd < 0) {
			fprintf(stderr, "control %s: %s\n", ctl, strerror(errno));
			return 1;
		}
		uv_poll_init(loop, &cpoll, cfd);
		uv_poll_start(&cpoll, UV_READABLE, on_control);
	}
	uv_signal_init(loop, &sterm);
	uv_signal_start(&sterm, on_term, SIGTERM);
	uv_signal_init(loop, &sint);
	uv_signal_start(&sint, on_term, SIGINT);
	for (size_t k = 0; k < sshd_host_key_count(srv); k++) {
		const char *line, *fp;
		sshd_host_key(srv, k, &line, &fp);
		printf("hostkey %s\n", fp);
	}
	printf("listening on %s\n", listen_at);
	fflush(stdout);
	uv_run(loop, UV_RUN_DEFAULT);

	sshd_server_close(srv, NULL, NULL);
	uv_close((uv_handle_t *)&lpoll, NULL);
	if (ctl)
		uv_close((uv_handle_t *)&cpoll, NULL);
	uv_close((uv_handle_t *)&sterm, NULL);
	uv_close((uv_handle_t *)&sint, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	close(lfd);
	printf("stopped\n");
	return uv_loop_close(loop) == 0 ? 0 : 1;
}
