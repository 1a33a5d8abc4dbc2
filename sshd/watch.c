/* The session hooks' side of a session (sshd.h's session_* hooks and sshd_session_*): asking
 * the embedder whether to watch a session, handing it the output, its end, and the verbs it
 * calls back with: hold a session's start, let it go, pause its output, stop it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sshd/internal.h"

/* Asks the embedder whether to watch the session; false when it refuses the session, which
 * then ends at the next pump with the message (the request itself succeeds, so the client
 * reads the message before the channel closes rather than racing a request failure). */
bool sshd__watch_start(struct sshd__chan *chan, const char *command)
{
	struct sshd_conn *conn = chan->conn;
	const struct sshd_hooks *h = &conn->srv->hooks;
	char refuse[SSHD_MESSAGE_MAX] = "";
	struct sshd_session_info si = { .session = (struct sshd_session *)chan,
					.conn_id = conn->id,
					.peer = (const struct sockaddr *)&conn->peer,
					.ssh_user = conn->req_user,
					.local_user = conn->user.name,
					.command = command,
					.term = chan->pty ? chan->term : NULL,
					.pty = chan->pty,
					.cols = chan->pty ? chan->ws.cols : 0,
					.rows = chan->pty ? chan->ws.rows : 0 };

	if (!h->session_start)
		return true;
	chan->watch = h->session_start(h->session_ctx, &si, refuse, sizeof(refuse));
	if (chan->watch && h->session_input) {
		chan->inq.seen = sshd__watch_input;
		chan->inq.seen_ctx = chan;
	}
	if (chan->watch || !refuse[0])
		return true;
	log_info(conn->subject, "session refused: %s", refuse);
	snprintf(chan->watch_stop, sizeof(chan->watch_stop), "%s", refuse);
	return false;
}

/* What the client was sent, to the hook; a refusal ends the session at the next pump. */
void sshd__watch_output(struct sshd__chan *chan, const char *p, size_t n, bool is_err)
{
	char msg[SSHD_MESSAGE_MAX] = "";

	if (!chan->watch || chan->watch_stop[0] || n == 0)
		return;
	chan->in_hook = true;
	bool go_on =
	    chan->conn->srv->hooks.session_output(chan->watch, p, n, is_err, msg, sizeof(msg));
	chan->in_hook = false;
	if (!go_on)
		snprintf(chan->watch_stop, sizeof(chan->watch_stop), "%s",
			 msg[0] ? msg : "Session recording failed.");
}

/* What the client typed (the inq's seen callback, set for watched sessions when the
 * embedder asks for input): to the hook, as taken. */
void sshd__watch_input(void *arg, const char *p, size_t n)
{
	struct sshd__chan *chan = arg;
	char msg[SSHD_MESSAGE_MAX] = "";

	if (!chan->watch || chan->watch_stop[0] || n == 0)
		return;
	/* from libssh's data callback: a refusal ends the session at the next pump */
	if (!chan->conn->srv->hooks.session_input(chan->watch, p, n, msg, sizeof(msg)))
		snprintf(chan->watch_stop, sizeof(chan->watch_stop), "%s",
			 msg[0] ? msg : "Session recording failed.");
}

void sshd__watch_end(struct sshd__chan *chan, int status)
{
	if (!chan->watch)
		return;
	chan->conn->srv->hooks.session_end(chan->watch, status);
	chan->watch = NULL;
}

void sshd_session_hold(struct sshd_session *s)
{
	struct sshd__chan *chan = (struct sshd__chan *)s;
	if (!chan->started)
		chan->held = true;
}

void sshd_session_go(struct sshd_session *s)
{
	struct sshd__chan *chan = (struct sshd__chan *)s;
	if (!chan->held || chan->detached)
		return;
	chan->held = false;
	char *cmd = chan->held_cmd;
	chan->held_cmd = NULL;
	int e = sshd__chan_spawn(chan, chan->held_has_cmd ? cmd : NULL);
	free(cmd);
	if (e < 0) {
		log_warn(chan->conn->subject, "session: %s", strerror(-e));
		snprintf(chan->watch_stop, sizeof(chan->watch_stop), "%s",
			 "The session could not start.");
	}
	sshd__conn_process(chan->conn); /* pumps the channel; may end the connection */
}

void sshd_session_pause(struct sshd_session *s, bool paused)
{
	struct sshd__chan *chan = (struct sshd__chan *)s;
	bool was = chan->watch_paused;
	chan->watch_paused = paused;
	if (was && !paused && !chan->detached && !chan->in_hook)
		sshd__conn_process(chan->conn); /* reads the child's output again */
}

void sshd_session_stop(struct sshd_session *s, const char *message)
{
	struct sshd__chan *chan = (struct sshd__chan *)s;
	if (chan->detached || chan->finished || chan->watch_stop[0])
		return;
	chan->held = false;
	snprintf(chan->watch_stop, sizeof(chan->watch_stop), "%s", message);
	sshd__conn_process(chan->conn); /* pumps the channel; may end the connection */
}

void sshd_session_process(const struct sshd_session *s, int *pid, char *cgroup, size_t len)
{
	const struct sshd__chan *chan = (const struct sshd__chan *)s;
	const char *cg = chan->cg ? chan->cg->path : "";
	size_t mount = strlen(chan->conn->srv->cg_mount);
	*pid = chan->started && !chan->exited ? (int)chan->pid : 0;
	if (chan->cg && mount > 1 && strncmp(cg, chan->conn->srv->cg_mount, mount) == 0)
		cg += mount; /* as /proc/PID/cgroup names it */
	snprintf(cgroup, len, "%s", cg);
}
