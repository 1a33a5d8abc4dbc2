/* Session channels: pty-req, env, exec, shell, subsystem sftp, window-change, signal,
 * auth-agent-req; the child's descriptors on the loop; exit-status and exit-signal.
 *
 * Flow control both ways.  Child output is read only while the client's window is open
 * and libssh has no output queued, so a slow client stops `cat` instead of growing a
 * buffer.  Client data is taken from libssh only as far as our 64 KiB buffer toward the
 * child has room; the rest stays in libssh (which then stops growing the client's window)
 * and is pulled with ssh_channel_read_nonblocking() once the child has drained ours.
 *
 * Ordering at the end: the channel finishes when the child has exited and its output is
 * drained — EOF on the stream, or, after the exit, the first empty read (a background
 * `sleep 100 &` holding the pipe must not hold the session).  Then EOF, exit-status (or
 * exit-signal), close. */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/log.h"
#include "sshd/internal.h"

static const struct {
	int sig;
	const char *name;
} signames[] = {
	{ SIGABRT, "ABRT" }, { SIGALRM, "ALRM" }, { SIGFPE, "FPE" },   { SIGHUP, "HUP" },
	{ SIGILL, "ILL" },   { SIGINT, "INT" },	  { SIGKILL, "KILL" }, { SIGPIPE, "PIPE" },
	{ SIGQUIT, "QUIT" }, { SIGSEGV, "SEGV" }, { SIGTERM, "TERM" }, { SIGUSR1, "USR1" },
	{ SIGUSR2, "USR2" },
};

static const char *sig_name(int sig)
{
	for (size_t i = 0; i < sizeof(signames) / sizeof(signames[0]); i++)
		if (signames[i].sig == sig)
			return signames[i].name;
	return "KILL";
}

static int sig_number(const char *name)
{
	for (size_t i = 0; i < sizeof(signames) / sizeof(signames[0]); i++)
		if (strcmp(signames[i].name, name) == 0)
			return signames[i].sig;
	return 0;
}

static void chan_free_if_done(struct sshd__chan *chan)
{
	size_t i;

	if (!chan->detached || chan->handles > 0)
		return;
	sshd__inq_free(&chan->inq);
	free(chan->out.pend);
	free(chan->err.pend);
	for (i = 0; i < chan->nenv; i++)
		free(chan->env[i]);
	free(chan->env);
	free(chan->held_cmd);
	free(chan);
}

static void io_handle_closed(uv_handle_t *h)
{
	struct sshd__chan *chan = h->data;

	chan->handles--;
	chan_free_if_done(chan);
}

static void io_close(struct sshd__chan *chan, struct sshd__io *io)
{
	if (!io->open)
		return;
	io->open = false;
	io->done = true;
	uv_poll_stop(&io->poll);
	close(io->fd);
	io->fd = -1;
	uv_close((uv_handle_t *)&io->poll, io_handle_closed);
}

static void on_io(uv_poll_t *h, int status, int events);

static int io_open(struct sshd__chan *chan, struct sshd__io *io, int fd)
{
	io->fd = fd;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (uv_poll_init(chan->conn->srv->loop, &io->poll, fd) < 0) {
		close(fd);
		io->fd = -1;
		io->done = true;
		return -EIO;
	}
	io->poll.data = chan;
	io->open = true;
	io->done = false;
	io->events = 0;
	chan->handles++;
	return 0;
}

static void io_want(struct sshd__io *io, int events)
{
	if (!io->open || events == io->events)
		return;
	io->events = events;
	if (events)
		uv_poll_start(&io->poll, events, on_io);
	else
		uv_poll_stop(&io->poll);
}

/* ---- libssh channel callbacks: record only ---- */

static int chan_take(struct sshd__chan *chan, void *data, uint32_t len)
{
	if (sshd__conn_overrun(chan->conn, len))
		return (int)len; /* dropped: the connection is closing */
	if (chan->detached || (chan->started && chan->in.done && !chan->pty))
		return (int)len; /* nobody reads it any more */
	if (!chan->started) {
		chan->inq.backlog = true;
		return 0;
	}
	return sshd__inq_take(&chan->inq, data, len);
}

static int cb_data(ssh_session s, ssh_channel c, void *data, uint32_t len, int is_stderr,
		   void *user)
{
	struct sshd__chan *chan = user;
	int took = chan_take(chan, data, len);

	return is_stderr ? took : sshd__inq_seen(&chan->inq, len, took);
}

static void cb_eof(ssh_session s, ssh_channel c, void *user)
{
	((struct sshd__chan *)user)->in_eof = true;
}

static void cb_close(ssh_session s, ssh_channel c, void *user)
{
	struct sshd__chan *chan = user;

	chan->in_eof = true;
	chan->remote_closed = true;
}

static void cb_signal(ssh_session s, ssh_channel c, const char *signal, void *user)
{
	struct sshd__chan *chan = user;
	int sig = sig_number(signal);

	if (sig)
		sshd__chan_kill(chan, sig);
}

static void cb_agent(ssh_session s, ssh_channel c, void *user)
{
	((struct sshd__chan *)user)->agent = true;
}

struct sshd__chan *sshd__chan_open(struct sshd_conn *conn)
{
	struct sshd__chan *chan = calloc(1, sizeof(*chan));

	if (!chan)
		return NULL;
	chan->conn = conn;
	chan->in.fd = chan->out.fd = chan->err.fd = -1;
	chan->ws.cols = 80;
	chan->ws.rows = 24;
	chan->cb.userdata = chan;
	chan->cb.channel_data_function = cb_data;
	chan->cb.channel_eof_function = cb_eof;
	chan->cb.channel_close_function = cb_close;
	chan->cb.channel_signal_function = cb_signal;
	/* libssh answers success whenever this callback exists: set it only when allowed */
	if (conn->decision.flags & SSHD_ALLOW_AGENT)
		chan->cb.channel_auth_agent_req_function = cb_agent;
	ssh_callbacks_init(&chan->cb);
	chan->inq.budget = &conn->budget;
	sshd__list_add(&conn->chans, &chan->node);
	conn->nchan++;
	return chan;
}

/* ---- starting the child ---- */

/* The child of a session the hooks let start (now, or when a held one goes). */
int sshd__chan_spawn(struct sshd__chan *chan, const char *command)
{
	struct sshd_conn *conn = chan->conn;
	struct sshd__spawn sp;
	char tty[64] = "", agent[256] = "", procs[sizeof(chan->cg->path) + 16];
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, master = -1, slave = -1;
	int e = 0;
	pid_t pid;

	memset(&sp, 0, sizeof(sp));
	if (chan->agent && sshd__agent_start(conn, agent, sizeof(agent)) == 0)
		sp.agent_sock = agent;
	if (chan->pty) {
		struct winsize ws = { .ws_row = (unsigned short)chan->ws.rows,
				      .ws_col = (unsigned short)chan->ws.cols,
				      .ws_xpixel = (unsigned short)chan->ws.xpix,
				      .ws_ypixel = (unsigned short)chan->ws.ypix };
		if (openpty(&master, &slave, tty, NULL, &ws) < 0)
			return -errno;
		sp.stdin_fd = sp.stdout_fd = sp.stderr_fd = slave;
		sp.tty_name = tty;
	} else {
		if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
		    pipe2(err, O_CLOEXEC) < 0) {
			e = -errno;
			goto fail;
		}
		/* bulk through `cat`: each pipe-full costs the child and us a wakeup */
		fcntl(in[1], F_SETPIPE_SZ, SSHD__PIPE_SIZE);
		fcntl(out[0], F_SETPIPE_SZ, SSHD__PIPE_SIZE);
		sp.stdin_fd = in[0];
		sp.stdout_fd = out[1];
		sp.stderr_fd = err[1];
		sp.tty_name = "";
	}
	sp.user = &conn->user;
	sp.pam_service = conn->srv->pam_service;
	sp.command = command;
	sp.pty = chan->pty;
	sp.term = chan->term;
	sp.client_env = chan->env;
	sp.nclient_env = chan->nenv;
	sp.peer_host = conn->peer_host;
	sp.peer_port = conn->peer_port;
	sp.local_host = conn->local_host;
	sp.local_port = conn->local_port;
	if (conn->srv->cg_ok) {
		/* no silent fallback: a session that cannot get its cgroup does not start */
		chan->cg = sshd__cg_new(conn->srv);
		if (!chan->cg) {
			e = -EIO;
			goto fail;
		}
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", chan->cg->path);
		sp.cgroup = procs;
	}
	pid = sshd__spawn(&sp, &e);
	if (pid < 0) {
		if (chan->cg)
			chan->cg->live = false;
		goto fail;
	}
	chan->pid = pid;
	chan->started = true;
	if (sshd__child_track(conn->srv, pid, chan, chan->cg) < 0)
		log_warn(conn->subject, "out of memory tracking pid %d", (int)pid);
	if (chan->pty) {
		close(slave);
		io_open(chan, &chan->out, master);
		chan->in.done = true;
		chan->err.done = true;
	} else {
		close(in[0]);
		close(out[1]);
		close(err[1]);
		io_open(chan, &chan->in, in[1]);
		io_open(chan, &chan->out, out[0]);
		io_open(chan, &chan->err, err[0]);
	}
	/* what a user runs is their business: the command line only at debug level */
	log_info(conn->subject, "%s %s as %s, pid %d", chan->pty ? "pty" : "no-pty",
		 command ? "exec" : "shell", conn->user.name, (int)pid);
	if (command)
		log_debug(conn->subject, "pid %d runs \"%s\"", (int)pid, command);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	sshd__watch_end(chan, -1);
	log_warn(conn->subject, "cannot start a session: %s", strerror(-e));
	return e ? e : -EIO;
}

/* A shell, exec or subsystem request: the hooks decide whether it starts now, waits
 * (held: sshd_session_go or _stop decide later) or is refused. */
static int chan_start(struct sshd__chan *chan, const char *command)
{
	if (chan->started || chan->held || chan->watch_stop[0])
		return -EALREADY;
	if (!sshd__watch_start(chan, command))
		return chan->watch_stop[0] ? 0 : -ENOMEM;
	if (!chan->held)
		return sshd__chan_spawn(chan, command);
	if (command && !(chan->held_cmd = strdup(command))) {
		chan->held = false;
		snprintf(chan->watch_stop, sizeof(chan->watch_stop), "%s",
			 "The session could not start: out of memory.");
		return 0;
	}
	chan->held_has_cmd = command != NULL;
	return 0;
}

static void env_store(struct sshd__chan *chan, const char *name, const char *value)
{
	char **env;
	size_t len;
	char *kv;

	len = strlen(name) + strlen(value) + 2;
	kv = malloc(len);
	env = realloc(chan->env, (chan->nenv + 1) * sizeof(*env));
	if (!kv || !env) {
		free(kv);
		if (env)
			chan->env = env;
		return;
	}
	chan->env = env;
	snprintf(kv, len, "%s=%s", name, value);
	chan->env[chan->nenv++] = kv;
}

static void winsize_apply(struct sshd__chan *chan)
{
	struct winsize ws = { .ws_row = (unsigned short)chan->ws.rows,
			      .ws_col = (unsigned short)chan->ws.cols,
			      .ws_xpixel = (unsigned short)chan->ws.xpix,
			      .ws_ypixel = (unsigned short)chan->ws.ypix };

	if (chan->pty && chan->out.open)
		ioctl(chan->out.fd, TIOCSWINSZ, &ws);
}

/* Returns 0 when answered, 1 for the default (failure) reply. */
int sshd__chan_request(struct sshd__chan *chan, ssh_message msg)
{
	struct sshd_conn *conn = chan->conn;
	char why[SSHD__WHY_MAX];
	struct sshd__pty pty;
	const char *s;

	switch (ssh_message_subtype(msg)) {
	case SSH_CHANNEL_REQUEST_PTY:
		if (chan->started || chan->pty)
			return 1;
		if (!sshd__req_pty(ssh_message_channel_request_pty_term(msg),
				   ssh_message_channel_request_pty_width(msg),
				   ssh_message_channel_request_pty_height(msg),
				   ssh_message_channel_request_pty_pxwidth(msg),
				   ssh_message_channel_request_pty_pxheight(msg), &pty, why,
				   sizeof(why))) {
			log_info(conn->subject, "%s", why);
			return 1;
		}
		chan->pty = true;
		snprintf(chan->term, sizeof(chan->term), "%s", pty.term);
		chan->ws = pty.ws;
		break;
	case SSH_CHANNEL_REQUEST_WINDOW_CHANGE:
		if (!sshd__req_winsize(ssh_message_channel_request_pty_width(msg),
				       ssh_message_channel_request_pty_height(msg),
				       ssh_message_channel_request_pty_pxwidth(msg),
				       ssh_message_channel_request_pty_pxheight(msg), &chan->ws,
				       why, sizeof(why))) {
			log_debug(conn->subject, "%s", why);
			return 1;
		}
		winsize_apply(chan);
		if (chan->watch)
			conn->srv->hooks.session_resize(chan->watch, chan->ws.cols, chan->ws.rows);
		break;
	case SSH_CHANNEL_REQUEST_ENV: {
		const char *name = ssh_message_channel_request_env_name(msg);
		const char *value = ssh_message_channel_request_env_value(msg);
		if (chan->started || !sshd__req_env(name, value, conn->decision.accept_env,
						    chan->nenv, why, sizeof(why))) {
			log_debug(conn->subject, "%s", chan->started ? "env after start" : why);
			return 1;
		}
		env_store(chan, name, value);
		break;
	}
	case SSH_CHANNEL_REQUEST_EXEC:
		s = ssh_message_channel_request_command(msg);
		if (!sshd__req_exec(s, why, sizeof(why))) {
			log_info(conn->subject, "%s", why);
			return 1;
		}
		if (chan_start(chan, s) < 0)
			return 1;
		break;
	case SSH_CHANNEL_REQUEST_SHELL:
		if (chan_start(chan, NULL) < 0)
			return 1;
		break;
	case SSH_CHANNEL_REQUEST_SUBSYSTEM:
		s = ssh_message_channel_request_subsystem(msg);
		if (!sshd__req_subsystem(s, why, sizeof(why))) {
			log_info(conn->subject, "%s", why);
			return 1;
		}
		if (chan_start(chan, conn->srv->sftp_server) < 0)
			return 1;
		break;
	case SSH_CHANNEL_REQUEST_X11:
		log_info(conn->subject, "X11 forwarding refused (not supported)");
		return 1;
	default:
		return 1;
	}
	ssh_message_channel_request_reply_success(msg);
	return 0;
}

/* ---- moving bytes ---- */

static bool output_blocked(struct sshd__chan *chan)
{
	return chan->watch_paused || sshd__conn_out_blocked(chan->conn) ||
	       ssh_channel_window_size(chan->channel) == 0;
}

static int chan_write(struct sshd__chan *chan, bool is_err, const char *p, size_t n)
{
	return sshd__conn_write(chan->conn, chan->channel, is_err, p, (uint32_t)n);
}

/* libssh takes less than offered while a key re-exchange runs: keep the rest. */
static bool stash(struct sshd__io *io, const char *p, size_t n)
{
	io->pend = malloc(n);
	if (!io->pend)
		return false;
	memcpy(io->pend, p, n);
	io->plen = n;
	io->poff = 0;
	return true;
}

/* Hand the stashed output to libssh; true once nothing is left. */
static bool flush_pending(struct sshd__chan *chan, struct sshd__io *io, bool is_err)
{
	while (io->pend) {
		uint32_t win = ssh_channel_window_size(chan->channel);
		size_t k = io->plen - io->poff;
		int w;

		if (win == 0)
			return false;
		if (k > win)
			k = win;
		w = chan_write(chan, is_err, io->pend + io->poff, k);
		if (w < 0) {
			io->done = true;
			w = (int)(io->plen - io->poff);
		} else {
			sshd__watch_output(chan, io->pend + io->poff, (size_t)w, is_err);
		}
		io->poff += (size_t)w;
		chan->bytes_out += (uint64_t)w;
		if (io->poff == io->plen) {
			free(io->pend);
			io->pend = NULL;
			io->plen = io->poff = 0;
			return true;
		}
		if ((size_t)w < k)
			return false;
	}
	return true;
}

static void read_output(struct sshd__chan *chan, struct sshd__io *io, bool is_err)
{
	char buf[SSHD__IOBUF];
	int rounds;

	if (!flush_pending(chan, io, is_err))
		return;
	for (rounds = 0;
	     io->open && !io->done && !chan->watch_stop[0] && !chan->watch_paused && rounds < 8;
	     rounds++) {
		uint32_t win = ssh_channel_window_size(chan->channel);
		size_t want = win < sizeof(buf) ? win : sizeof(buf);
		ssize_t n;
		int w;

		if (want == 0)
			return;
		n = read(io->fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (chan->exited)
				io->done = true; /* drained; a background job may hold the pipe */
			return;
		}
		if (n <= 0) {
			io->done = true; /* EOF, or EIO: the pty's last holder went away */
			return;
		}
		w = chan_write(chan, is_err, buf, (size_t)n);
		if (w < 0) {
			io->done = true;
			return;
		}
		sshd__watch_output(chan, buf, (size_t)w, is_err);
		chan->bytes_out += (uint64_t)w;
		if (w < n) {
			if (!stash(io, buf + w, (size_t)(n - w)))
				io->done = true;
			return;
		}
		if (sshd__conn_out_blocked(chan->conn))
			return;
	}
}

static void write_input(struct sshd__chan *chan)
{
	struct sshd__io *io = chan->pty ? &chan->out : &chan->in;

	if (!io->open || (io == &chan->in && io->done) || chan->in_full)
		return;
	for (;;) {
		int rc = sshd__inq_flush(&chan->inq, io->fd);
		if (rc == -EAGAIN) {
			chan->in_full = true; /* until the poll says writable */
			return;
		}
		if (rc < 0) {
			/* the child stopped reading: drop what remains */
			sshd__inq_drop(&chan->inq);
			if (!chan->pty)
				io_close(chan, &chan->in);
			return;
		}
		if (chan->detached || !sshd__inq_pull(&chan->inq, chan->channel))
			break;
	}
	if (chan->in_eof && sshd__inq_empty(&chan->inq) && !chan->pty && chan->in.open)
		io_close(chan, &chan->in);
}

static void finish(struct sshd__chan *chan)
{
	int st = chan->status;

	if (chan->finished || chan->detached)
		return;
	chan->finished = true;
	log_debug(chan->conn->subject, "session finished, status 0x%x, %llu bytes in, %llu out", st,
		  (unsigned long long)chan->inq.total, (unsigned long long)chan->bytes_out);
	ssh_channel_send_eof(chan->channel);
	if (WIFSIGNALED(st))
		ssh_channel_request_send_exit_signal(chan->channel, sig_name(WTERMSIG(st)),
						     WCOREDUMP(st) ? 1 : 0, "", "");
	else
		ssh_channel_request_send_exit_status(chan->channel,
						     WIFEXITED(st) ? WEXITSTATUS(st) : 255);
	ssh_channel_close(chan->channel);
	sshd__watch_end(chan, st);
	sshd__chan_release(chan);
}

void sshd__chan_pump(struct sshd__chan *chan)
{
	bool blocked;
	int ev_out;

	if (chan->detached)
		return;
	if (chan->watch_stop[0]) {
		char msg[SSHD_MESSAGE_MAX];
		snprintf(msg, sizeof(msg), "%s", chan->watch_stop);
		sshd__chan_abort(chan, msg);
		return;
	}
	if (chan->remote_closed) {
		sshd__chan_kill(chan, SIGHUP);
		sshd__chan_release(chan);
		return;
	}
	if (!chan->started)
		return;
	write_input(chan);
	if (!output_blocked(chan)) {
		flush_pending(chan, &chan->out, false);
		flush_pending(chan, &chan->err, true);
	}
	if (chan->exited && !output_blocked(chan)) {
		read_output(chan, &chan->out, false);
		read_output(chan, &chan->err, true);
	}
	if (chan->exited && chan->out.done && chan->err.done && !chan->out.pend &&
	    !chan->err.pend) {
		finish(chan);
		return;
	}
	blocked = output_blocked(chan);
	ev_out = (!chan->out.done && !blocked && !chan->out.pend) ? UV_READABLE : 0;
	if (chan->pty && chan->inq.off < chan->inq.len)
		ev_out |= UV_WRITABLE;
	io_want(&chan->out, ev_out);
	io_want(&chan->err, (!chan->err.done && !blocked && !chan->err.pend) ? UV_READABLE : 0);
	if (!chan->pty)
		io_want(&chan->in, chan->inq.off < chan->inq.len ? UV_WRITABLE : 0);
}

static void on_io(uv_poll_t *h, int status, int events)
{
	struct sshd__chan *chan = h->data;
	struct sshd_conn *conn = chan->conn;

	if (chan->detached)
		return;
	/* writable, or an error that the next write reports */
	if (h == (chan->pty ? &chan->out.poll : &chan->in.poll) &&
	    (status < 0 || (events & UV_WRITABLE)))
		chan->in_full = false;
	if (h == &chan->out.poll && (events & UV_READABLE))
		read_output(chan, &chan->out, false);
	if (h == &chan->err.poll && (events & UV_READABLE))
		read_output(chan, &chan->err, true);
	if (status < 0 && h == &chan->out.poll)
		chan->out.done = true;
	if (status < 0 && h == &chan->err.poll)
		chan->err.done = true;
	sshd__conn_process(conn); /* libssh may have met the peer's EOF meanwhile */
}

void sshd__chan_exited(struct sshd__chan *chan, int status)
{
	log_debug(chan->conn->subject, "pid %d exited, status 0x%x", (int)chan->pid, status);
	chan->exited = true;
	chan->status = status;
	chan->pid = 0;
}

void sshd__chan_kill(struct sshd__chan *chan, int sig)
{
	if (chan->pid > 0 && !chan->exited)
		kill(chan->pid, sig);
}

/* Tell the user why the session ends, then end it (revocation, time limit). */
void sshd__chan_abort(struct sshd__chan *chan, const char *message)
{
	char line[256];
	int n;

	if (chan->detached || chan->finished)
		return;
	sshd__watch_end(chan, -1);
	n = snprintf(line, sizeof(line), "\r\n%s\r\n", message);
	if (n > 0 && ssh_channel_window_size(chan->channel) >= (uint32_t)n)
		sshd__conn_write(chan->conn, chan->channel, true, line, (uint32_t)n);
	sshd__chan_kill(chan, SIGHUP);
	/* SIGHUP reaches the shell; what it started with setsid or nohup only its cgroup */
	if (chan->cg)
		sshd__cg_kill(chan->conn->srv, chan->cg, chan->exited ? 0 : chan->pid);
	else if (chan->started)
		log_warn(chan->conn->subject, "no cgroup for this session: only its process group "
					      "got SIGHUP; processes started with setsid or nohup "
					      "keep running");
	chan->finished = true;
	ssh_channel_send_eof(chan->channel);
	ssh_channel_request_send_exit_status(chan->channel, 255);
	ssh_channel_close(chan->channel);
	sshd__chan_release(chan);
}

/* Drop the libssh channel and our descriptors; the child (if any) is reaped later. */
void sshd__chan_release(struct sshd__chan *chan)
{
	struct sshd_conn *conn = chan->conn;

	if (chan->detached)
		return;
	sshd__watch_end(chan, -1);
	chan->detached = true;
	sshd__list_del(&chan->node);
	conn->nchan--;
	sshd__inq_free(&chan->inq);
	chan->inq.budget = NULL;
	chan->cg = NULL; /* the child record keeps it until the monitor is reaped */
	sshd__child_forget_chan(conn->srv, chan);
	if (chan->channel) {
		sshd__conn_free_channel(conn, chan->channel, &chan->cb, !chan->remote_closed);
		chan->channel = NULL;
	}
	io_close(chan, &chan->in);
	io_close(chan, &chan->out);
	io_close(chan, &chan->err);
	chan_free_if_done(chan);
}
