/* meshd's registry of live SSH sessions (cmd/daemon/sessions.h) driven through the sshd
 * hooks it installs, around fake "recording" hooks and a fake SSH server: every session is
 * listed whether the recording watches it or not, one the recording refuses is not, the
 * wrapped hooks see what they saw before, IDs are never reused, the bound refuses one more
 * before the recording sees it, kill finds by ID with the exact errors; a session refused
 * for the cap is an ssh.refuse audit event "too many sessions" in the node's queue, 20 a
 * minute from one source (the flood rule); then random starts, ends and kills against a
 * naive list. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "cmd/daemon/audit.h"
#include "cmd/daemon/internal.h"
#include "cmd/daemon/sessions.h"
#include "control/netmap/sessions.h"
#include "sshd/sshd.h"

/* ---- the wrapped hooks: a recording that watches users named "rec*" and refuses "no*" ---- */

struct inner {
	int starts, outputs, resizes, ends, last_status;
	bool fail_output;
};
static struct inner in;

static void *inner_start(void *ctx, const struct sshd_session_info *si, char *refuse, size_t len)
{
	(void)ctx;
	in.starts++;
	if (strncmp(si->ssh_user, "no", 2) == 0) {
		snprintf(refuse, len, "refused by the recording");
		return NULL;
	}
	return strncmp(si->ssh_user, "rec", 3) == 0 ? &in : NULL;
}

static bool inner_output(void *sess, const void *d, size_t n, bool err, char *msg, size_t len)
{
	(void)d;
	(void)n;
	(void)err;
	CHECK(sess == &in);
	in.outputs++;
	if (in.fail_output)
		snprintf(msg, len, "recording failed");
	return !in.fail_output;
}

static void inner_resize(void *sess, unsigned c, unsigned r)
{
	(void)c;
	(void)r;
	CHECK(sess == &in);
	in.resizes++;
}

static void inner_end(void *sess, int status)
{
	CHECK(sess == &in);
	in.ends++;
	in.last_status = status;
}

static void inner_where(const void *inner, char *out, size_t len)
{
	CHECK(inner == &in);
	snprintf(out, len, "100.64.0.9");
}

/* ---- the fake SSH server ---- */

static struct sshd_session *stopped;
static char stop_msg[256];

static void fake_stop(struct sshd_session *s, const char *message)
{
	stopped = s;
	snprintf(stop_msg, sizeof(stop_msg), "%s", message);
}

static void fake_process(const struct sshd_session *s, int *pid, char *cgroup, size_t len)
{
	*pid = (int)(uintptr_t)s; /* the fake sessions are small numbers */
	snprintf(cgroup, len, "/meshd/session-%d", *pid);
}

static struct sockaddr_in peer;

/* Starts session number k (its fake sshd pointer) for user: the registry's pointer, NULL
 * when refused (refuse[] then says why). */
static void *start(struct sshd_hooks *h, uintptr_t k, const char *user, const char *cmd,
		   char *refuse, size_t len)
{
	struct sshd_session_info si = { .session = (struct sshd_session *)k,
					.conn_id = 40 + k,
					.peer = (const struct sockaddr *)&peer,
					.ssh_user = user,
					.local_user = "vinay",
					.command = cmd,
					.pty = cmd == NULL };
	refuse[0] = '\0';
	return h->session_start(h->session_ctx, &si, refuse, len);
}

static void basics(void)
{
	struct sshd_hooks h = { .session_start = inner_start,
				.session_output = inner_output,
				.session_resize = inner_resize,
				.session_end = inner_end };
	struct meshd_sessions_config cfg = {
		.recorded = inner_where, .stop = fake_stop, .process = fake_process, .max = 3
	};
	struct meshd_sessions *reg;
	char refuse[SSHD_MESSAGE_MAX], err[128], msg[64] = "", longcmd[400];
	CHECK_INT(meshd_sessions_new(&cfg, &h, &reg), 0);
	CHECK(h.session_start != inner_start);

	/* 1: watched by the recording, 2: not watched, still listed, 3: refused, not listed */
	void *a = start(&h, 1, "rec", NULL, refuse, sizeof(refuse));
	/* a byte that is not UTF-8, then 'x' up to byte 251, then "é"s: cleaned, and cut
	 * before the "é" that byte 252 would split */
	memset(longcmd, 'x', 251);
	longcmd[0] = '\xff';
	for (size_t i = 251; i + 2 < sizeof(longcmd); i += 2)
		memcpy(longcmd + i, "\xc3\xa9", 2);
	longcmd[sizeof(longcmd) - 1] = '\0';
	void *b = start(&h, 2, "plain", longcmd, refuse, sizeof(refuse));
	void *c = start(&h, 3, "nobody", "true", refuse, sizeof(refuse));
	CHECK(a && b && !c);
	CHECK_STR(refuse, "refused by the recording");
	CHECK_INT(in.starts, 3);
	CHECK_INT(meshd_sessions_count(reg), 2);

	struct ctl_lapi_session *v;
	size_t n;
	CHECK_INT(meshd_sessions_list(reg, true, &v, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(v[0].id, "s1");
		CHECK_STR(v[1].id, "s2");
		CHECK_STR(v[0].src_addr, "100.64.0.2");
		CHECK_STR(v[0].src_node, "100.64.0.2"); /* no netmap: the address */
		CHECK(v[0].src_owner == NULL && v[0].n_src_tags == 0);
		CHECK_STR(v[0].ssh_user, "rec");
		CHECK_STR(v[0].local_user, "vinay");
		CHECK(v[0].pty && !v[1].pty);
		CHECK(v[0].command == NULL);
		CHECK_INT(strlen(v[1].command), 251 + 3);
		CHECK_STR(v[1].command + 251, "...");
		CHECK(v[1].command[0] == '?' && v[1].command[250] == 'x');
		CHECK_STR(v[0].recorder, "100.64.0.9");
		CHECK(v[1].recorder == NULL);
		CHECK_INT(v[0].conn_id, 41);
		CHECK_INT(v[1].pid, 2);
		CHECK_STR(v[1].cgroup, "/meshd/session-2");
		CHECK(v[0].since > 1700000000);
		/* what meshd lists, meshctl reads back */
		char *line = ctl_lapi_sessions_format(v, n);
		struct ctl_lapi_session *back;
		size_t nb;
		CHECK_INT(ctl_lapi_sessions_parse(line, strlen(line), &back, &nb, err, sizeof(err)),
			  0);
		CHECK_INT(nb, 2);
		if (nb == 2)
			CHECK_STR(back[1].command, v[1].command);
		ctl_lapi_sessions_free(back, nb);
		free(line);
	}
	ctl_lapi_sessions_free(v, n);
	/* for those who may not act as the node: no command lines (a shell stays a shell) */
	CHECK_INT(meshd_sessions_list(reg, false, &v, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK(v[0].command == NULL);
		CHECK_STR(v[1].command, "(not shown)");
	}
	ctl_lapi_sessions_free(v, n);

	/* the wrapped hooks see the watched session's output and resizes, not the other's */
	CHECK(h.session_output(a, "x", 1, false, msg, sizeof(msg)));
	CHECK(h.session_output(b, "y", 1, false, msg, sizeof(msg)));
	h.session_resize(a, 80, 24);
	h.session_resize(b, 80, 24);
	CHECK_INT(in.outputs, 1);
	CHECK_INT(in.resizes, 1);
	in.fail_output = true; /* a refusal and its message come through */
	CHECK(!h.session_output(a, "x", 1, false, msg, sizeof(msg)));
	CHECK_STR(msg, "recording failed");
	in.fail_output = false;

	/* kill: unknown, malformed (not quoted back), found */
	CHECK_INT(meshd_sessions_kill(reg, "s99", "uid 0", err, sizeof(err)), -ENOENT);
	CHECK_STR(err, "no session 's99' on this node");
	CHECK_INT(meshd_sessions_kill(reg, "s3", "uid 0", err, sizeof(err)), -ENOENT);
	CHECK_INT(meshd_sessions_kill(reg, "\x1b[2Js1", "uid 0", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "not a session ID (they look like s7): see meshctl sessions");
	CHECK(stopped == NULL);
	/* through control: only the session that started when control saw it listed */
	struct ctl_session *w;
	size_t nw;
	CHECK_INT(meshd_sessions_wire(reg, &w, &nw), 0);
	CHECK(nw == 2 && !strcmp(w[1].id, "s2") && w[1].since > 0);
	CHECK_INT(meshd_sessions_kill_since(reg, "s2", 1, "control admin", err, sizeof(err)),
		  -ENOENT);
	CHECK(strstr(err, "session 's2' on this node started at ") &&
	      strstr(err, ", not at 1 (another session: meshd restarted?)"));
	CHECK(stopped == NULL);
	free(w);
	CHECK_INT(meshd_sessions_kill(reg, "s2", "uid 0", err, sizeof(err)), 0);
	CHECK(stopped == (struct sshd_session *)2);
	CHECK_STR(stop_msg, "Session ended by the node's administrator.");
	CHECK_INT(meshd_sessions_count(reg), 2); /* ends when sshd says so */

	/* the bound: a third is live, a fourth refused before the recording sees it */
	void *d = start(&h, 4, "rec", NULL, refuse, sizeof(refuse));
	CHECK(d != NULL);
	int starts = in.starts;
	CHECK(start(&h, 5, "rec", NULL, refuse, sizeof(refuse)) == NULL);
	CHECK_STR(refuse, MESHD_SESSIONS_FULL_MSG);
	CHECK_INT(in.starts, starts);

	/* ends: the wrapped hook gets the watched one's status; IDs are not reused */
	h.session_end(b, -1);
	h.session_end(a, 5 << 8);
	CHECK_INT(in.ends, 1);
	CHECK_INT(in.last_status, 5 << 8);
	void *e = start(&h, 6, "plain", NULL, refuse, sizeof(refuse));
	CHECK_INT(meshd_sessions_list(reg, true, &v, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(v[0].id, "s3");
		CHECK_STR(v[1].id, "s4");
	}
	ctl_lapi_sessions_free(v, n);
	CHECK_INT(meshd_sessions_kill(reg, "s1", "uid 0", err, sizeof(err)), -ENOENT);
	h.session_end(d, 0);
	h.session_end(e, 0);
	CHECK_INT(meshd_sessions_count(reg), 0);
	CHECK_INT(meshd_sessions_list(reg, true, &v, &n), 0);
	CHECK_INT(n, 0);
	meshd_sessions_free(reg);
}

static void audit_closed(void *arg)
{
	*(bool *)arg = true;
}

/* The cap's refusals in a node's audit queue: ssh.refuse "too many sessions" with the users
 * and the connection, at most MESHD_REFUSE_BURST a minute from one source. */
static void cap_event(void)
{
	char dir[] = "/tmp/meshd-sessions-XXXXXX", path[128], refuse[SSHD_MESSAGE_MAX];
	CHECK(mkdtemp(dir) != NULL);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct meshd_node *node = calloc(1, sizeof(*node));
	CHECK_INT(meshd_audit_new(&loop, dir, &node->audit), 0);
	struct sshd_hooks h = { 0 };
	struct meshd_sessions_config cfg = {
		.node = node, .stop = fake_stop, .process = fake_process, .max = 1
	};
	struct meshd_sessions *reg;
	CHECK_INT(meshd_sessions_new(&cfg, &h, &reg), 0);
	void *first = start(&h, 1, "vinay", NULL, refuse, sizeof(refuse));
	CHECK(first != NULL);
	for (uintptr_t k = 2; k < 2 + MESHD_REFUSE_BURST + 5; k++) {
		CHECK(start(&h, k, "eve", "true", refuse, sizeof(refuse)) == NULL);
		CHECK_STR(refuse, MESHD_SESSIONS_FULL_MSG);
	}
	h.session_end(first, 0);
	meshd_sessions_free(reg);
	bool closed = false;
	meshd_audit_close(node->audit, audit_closed, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(closed);
	uv_loop_close(&loop);

	snprintf(path, sizeof(path), "%s/audit.queue", dir);
	struct audit_queue *q;
	CHECK_INT(audit_queue_open(path, NULL, &q, NULL, 0), 0);
	static struct audit_event ev[64];
	ssize_t n = audit_queue_peek(q, ev, 64);
	int refused = 0;
	for (ssize_t i = 0; i < n; i++) {
		if (ev[i].type != AUDIT_SSH_REFUSE)
			continue;
		if (!refused++) {
			CHECK_STR(ev[i].detail, "too many sessions");
			CHECK_STR(ev[i].ssh_user, "eve");
			CHECK_STR(ev[i].local_user, "vinay");
			CHECK_STR(ev[i].src, "100.64.0.2");
			CHECK_STR(ev[i].conn, "42");
		}
	}
	CHECK_INT(refused, MESHD_REFUSE_BURST);
	audit_queue_close(q);
	free(node);
	unlink(path);
	rmdir(dir);
}

/* Random starts, ends and kills against a naive array of (pointer, id number). */
static void against_naive(void)
{
	enum { MAX = 16, ROUNDS = 5000 };
	struct sshd_hooks h = { 0 }; /* no recording */
	struct meshd_sessions_config cfg = { .stop = fake_stop,
					     .process = fake_process,
					     .max = MAX };
	struct meshd_sessions *reg;
	struct {
		void *p;
		unsigned num;
	} live[MAX];
	size_t n_live = 0;
	unsigned next = 0;
	char refuse[SSHD_MESSAGE_MAX], err[128], id[16];
	srand(7);
	CHECK_INT(meshd_sessions_new(&cfg, &h, &reg), 0);
	for (int round = 0; round < ROUNDS; round++) {
		int op = rand() % 3;
		if (op == 0) {
			void *p =
			    start(&h, 100 + (uintptr_t)round, "u", NULL, refuse, sizeof(refuse));
			CHECK((p != NULL) == (n_live < MAX));
			if (p) {
				live[n_live].p = p;
				live[n_live++].num = ++next;
			}
		} else if (op == 1 && n_live) {
			size_t k = (size_t)rand() % n_live;
			h.session_end(live[k].p, 0);
			memmove(&live[k], &live[k + 1], (n_live - k - 1) * sizeof(live[0]));
			n_live--;
		} else {
			unsigned num = next ? 1 + (unsigned)rand() % next : 1;
			bool is_live = false;
			for (size_t i = 0; i < n_live; i++)
				is_live |= live[i].num == num;
			snprintf(id, sizeof(id), "s%u", num);
			CHECK_INT(meshd_sessions_kill(reg, id, "test", err, sizeof(err)),
				  is_live ? 0 : -ENOENT);
		}
		struct ctl_lapi_session *v;
		size_t n;
		CHECK_INT(meshd_sessions_list(reg, true, &v, &n), 0);
		CHECK_INT(n, n_live);
		for (size_t i = 0; i < n && i < n_live; i++) {
			snprintf(id, sizeof(id), "s%u", live[i].num);
			CHECK_STR(v[i].id, id);
		}
		ctl_lapi_sessions_free(v, n);
	}
	meshd_sessions_free(reg); /* frees the sessions a test leaves */
}

int main(void)
{
	peer.sin_family = AF_INET;
	peer.sin_port = htons(5555);
	inet_pton(AF_INET, "100.64.0.2", &peer.sin_addr);
	basics();
	cap_event();
	against_naive();
	return check_finish();
}
