/* A connection: a libssh session driven by the libuv loop, its requests dispatched, its
 * lifetime (pre-auth timeout, session duration, keepalives) and its teardown.
 *
 * libssh runs non-blocking.  Each connection has one ssh_event holding its socket; a
 * uv_poll_t on the same fd calls ssh_event_dopoll(event, 0) when the socket is readable
 * (or writable while libssh has output queued, ssh_get_poll_flags()).  Requests are not
 * handled inside libssh callbacks: they queue up as ssh_message objects that we pop after
 * each poll, which lets a check-mode auth request be held (and answered later, auth.c)
 * without stalling the loop.  Channel data, EOF and close arrive through channel callbacks
 * (session.c, forward.c) that only record state; the pump after each poll acts on it.
 *
 * A client that does not read.  libssh queues what we send in one output buffer that it
 * empties as the socket takes it, and reads the socket (answering some packets itself,
 * queueing requests for us) whenever it is polled; ssh_message_get() reads it too when its
 * queue is empty.  A client that sends requests (channel opens past --max-channels, global
 * requests, ...) and never reads the answers would have them pile up there without bound.
 * So once libssh holds more than SSHD__OUT_MAX of our output the connection is not read any
 * more: the socket is watched for writing only, on_poll() reads no further round and no
 * request is popped, and the client's sends stall in the kernel.  It is read again once the
 * buffer has gone out; a client past the limit that takes none of it for stall_timeout_ms
 * is closed ("client stopped reading: ...").
 *
 * libssh 0.10 says only whether that buffer is empty (ssh_get_status()), so its size is
 * bounded from its counters: payload bytes and packets queued since it was last seen empty,
 * each packet at most SSHD__PACKET_OVERHEAD larger on the wire, less what the socket took
 * since.  That overcounts small packets (the limit is then reached early, until the buffer
 * next empties) and undercounts nothing but the identification line.
 *
 * A key re-exchange is not held up: libssh keeps the packets we send during one out of that
 * buffer until the new keys are in, and a client in a key exchange reads, so the buffer
 * empties and reading goes on.  (Stopping on SSH_WRITE_PENDING instead, which libssh sets
 * after every send until a poll finds the buffer empty, stopped reading so often that
 * paramiko's rekeys timed out and bulk transfers crawled: 936f961, taken back in 0fa0166.)
 *
 * Bound: a client that never reads makes us hold at most SSHD__OUT_MAX (256 KiB) of output,
 * plus the answers to the one 4 KiB read that crossed it and to one request, plus the
 * requests read in the same wakeup and not answered yet (at most SSHD__POLL_ROUNDS x 4 KiB =
 * 256 KiB of input), plus the kernel's socket buffers; for stall_timeout_ms (30 s) after it
 * last took a byte. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/now.h"
#include "sshd/internal.h"
#define SUBJ "sshd"

static void on_poll(uv_poll_t *h, int status, int events);

/* The output libssh holds, or more (never less); 0 when its buffer is empty, which sets the
 * mark. */
static uint64_t out_held(struct sshd_conn *conn)
{
	struct sshd__out *o = &conn->out;
	uint64_t queued, sent;

	if (!(ssh_get_status(conn->session) & SSH_WRITE_PENDING)) {
		o->mark_payload = conn->raw_count.out_bytes;
		o->mark_packets = conn->raw_count.out_packets;
		o->mark_sent = conn->sock_count.out_bytes;
		return 0;
	}
	queued = conn->raw_count.out_bytes - o->mark_payload +
		 (conn->raw_count.out_packets - o->mark_packets) * SSHD__PACKET_OVERHEAD;
	sent = conn->sock_count.out_bytes - o->mark_sent;
	return queued > sent ? queued - sent : 0;
}

/* True while the client leaves more of our output untaken than it may: it is not read. */
static bool out_over(struct sshd_conn *conn)
{
	return out_held(conn) > SSHD__OUT_MAX;
}

/* After each activity: note when a client past the limit last took some output, and close
 * it once it has taken none for stall_timeout_ms. */
static void out_check(struct sshd_conn *conn)
{
	struct sshd__out *o = &conn->out;
	uint64_t held = out_held(conn), now;
	char why[SSHD__WHY_MAX];

	if (held <= SSHD__OUT_MAX) {
		o->gated = false;
		return;
	}
	now = now_mono_ms();
	if (!o->gated || conn->sock_count.out_bytes != o->stall_sent) {
		bool first = !o->gated;
		o->gated = true;
		o->stall_sent = conn->sock_count.out_bytes;
		o->stall_since_ms = now;
		if (first) {
			log_debug(conn->subject,
				  "not read while up to %" PRIu64 " KiB of our output waits "
				  "(limit %u KiB)",
				  held >> 10, (unsigned)SSHD__OUT_MAX >> 10);
			if (conn->state != SSHD__CONN_AUTH) /* AUTH: preauth_timeout_ms */
				sshd__conn_timer_arm(conn);
		}
		return;
	}
	if (now - o->stall_since_ms >= conn->srv->stall_timeout_ms && !conn->want_close) {
		snprintf(why, sizeof(why),
			 "client stopped reading: took none of our output for %u s, up to %" PRIu64
			 " KiB waiting (limit %u KiB)",
			 conn->srv->stall_timeout_ms / 1000, held >> 10,
			 (unsigned)SSHD__OUT_MAX >> 10);
		sshd__conn_close(conn, why);
	}
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct sshd_conn *conn = h->data;

	if (--conn->handles > 0)
		return;
	if (conn->event) {
		ssh_event_free(conn->event);
	}
	ssh_free(conn->session);
	free(conn);
}

/* Tear the connection down now (not from inside libssh). */
void sshd__conn_destroy(struct sshd_conn *conn)
{
	struct sshd_server *srv = conn->srv;
	struct sshd__node *n, *next;

	if (conn->state == SSHD__CONN_DYING)
		return;
	conn->state = SSHD__CONN_DYING;
	if (conn->check_pending) {
		conn->check_pending = false;
		if (srv->hooks.check_cancel)
			srv->hooks.check_cancel(srv->hooks.ctx, &conn->check);
	}
	if (conn->held)
		ssh_message_free(sshd__held_msg(conn, NULL));
	uv_poll_stop(&conn->poll);
	uv_timer_stop(&conn->timer);
	for (n = conn->chans.next; n != &conn->chans; n = next) {
		struct sshd__chan *chan = container_of(n, struct sshd__chan, node);
		next = n->next;
		sshd__chan_kill(chan, SIGHUP);
		sshd__chan_release(chan);
	}
	sshd__fwd_close_all(conn);
	if (conn->close_reason[0] && !conn->end_phase)
		ssh_session_set_disconnect_message(conn->session, conn->close_reason);
	ssh_disconnect(conn->session);
	sshd__list_del(&conn->node);
	srv->nconns--;
	if (conn->end_phase)
		log_info(conn->subject, "closed in %s: %s", conn->end_phase, conn->close_reason);
	else
		log_info(conn->subject, "closed%s%s", conn->close_reason[0] ? ": " : "",
			 conn->close_reason);
	uv_close((uv_handle_t *)&conn->poll, conn_handle_closed);
	uv_close((uv_handle_t *)&conn->timer, conn_handle_closed);
}

void sshd__conn_close(struct sshd_conn *conn, const char *reason)
{
	if (reason && !conn->close_reason[0])
		snprintf(conn->close_reason, sizeof(conn->close_reason), "%s", reason);
	conn->want_close = true;
}

void sshd__conn_update(struct sshd_conn *conn)
{
	int want = UV_READABLE;

	if (conn->state == SSHD__CONN_DYING)
		return;
	if (out_over(conn))
		want = UV_WRITABLE; /* not read: see the top of this file */
	else if (ssh_get_poll_flags(conn->session) & SSH_WRITE_PENDING)
		want |= UV_WRITABLE;
	if (want != conn->poll_events) {
		conn->poll_events = want;
		uv_poll_start(&conn->poll, want, on_poll);
	}
}

bool sshd__conn_room(struct sshd_conn *conn, char *why, size_t size)
{
	struct sshd_server *srv = conn->srv;

	if (conn->nchan >= srv->max_channels) {
		snprintf(why, size,
			 "meshd: channel refused: this connection has %u channels open "
			 "(limit %u)",
			 conn->nchan, srv->max_channels);
		return false;
	}
	if (conn->budget.max - conn->budget.used < SSHD__INQ_CAP) {
		snprintf(why, size,
			 "meshd: channel refused: this connection buffers %zu KiB of "
			 "client data (limit %zu KiB)",
			 conn->budget.used / 1024, conn->budget.max / 1024);
		return false;
	}
	return true;
}

bool sshd__conn_overrun(struct sshd_conn *conn, size_t held)
{
	char why[SSHD__WHY_MAX];

	if (held <= SSHD__HELD_MAX)
		return false;
	if (!conn->want_close) {
		snprintf(why, sizeof(why),
			 "client ignored the channel window: %zu bytes held for one channel "
			 "(a client keeping to the window sends at most %u)",
			 held, (unsigned)SSHD__HELD_MAX);
		sshd__conn_close(conn, why);
	}
	return true;
}

/* libssh 0.10 can refuse a channel only with "administratively prohibited" and no text,
 * so the reason travels as an SSH debug message just before (ssh -v shows "Remote: …"). */
void sshd__refuse_open(struct sshd_conn *conn, ssh_message msg, const char *why)
{
	log_info(conn->subject, "%s", why);
	ssh_send_debug(conn->session, why, 1);
	ssh_message_reply_default(msg);
}

static struct sshd__chan *chan_of(struct sshd_conn *conn, ssh_channel channel)
{
	struct sshd__node *n;

	for (n = conn->chans.next; n != &conn->chans; n = n->next) {
		struct sshd__chan *chan = container_of(n, struct sshd__chan, node);
		if (chan->channel == channel)
			return chan;
	}
	return NULL;
}

static void handle_msg(struct sshd_conn *conn, ssh_message msg)
{
	int type = ssh_message_type(msg), rc = 1;

	switch (type) {
	case SSH_REQUEST_SERVICE:
		ssh_message_service_reply_success(msg);
		rc = 0;
		break;
	case SSH_REQUEST_AUTH:
		sshd__auth_handle(conn, msg);
		return;
	case SSH_REQUEST_CHANNEL_OPEN:
		if (conn->state != SSHD__CONN_READY)
			break;
		if (ssh_message_subtype(msg) == SSH_CHANNEL_SESSION) {
			struct sshd__chan *chan;
			char why[SSHD__WHY_MAX];
			if (!sshd__conn_room(conn, why, sizeof(why))) {
				sshd__refuse_open(conn, msg, why);
				rc = 0;
				break;
			}
			chan = sshd__chan_open(conn);
			if (!chan)
				break;
			chan->channel = ssh_message_channel_request_open_reply_accept(msg);
			if (!chan->channel) {
				sshd__chan_release(chan);
				rc = 0;
				break;
			}
			ssh_set_channel_callbacks(chan->channel, &chan->cb);
			rc = 0;
		} else if (ssh_message_subtype(msg) == SSH_CHANNEL_DIRECT_TCPIP) {
			rc = sshd__fwd_direct(conn, msg);
			if (rc == 2)
				return; /* kept until the connect is done */
		}
		break;
	case SSH_REQUEST_CHANNEL: {
		struct sshd__chan *chan;
		if (conn->state != SSHD__CONN_READY)
			break;
		chan = chan_of(conn, ssh_message_channel_request_channel(msg));
		if (chan)
			rc = sshd__chan_request(chan, msg);
		break;
	}
	case SSH_REQUEST_GLOBAL:
		if (conn->state == SSHD__CONN_READY)
			rc = sshd__fwd_global(conn, msg);
		break;
	default:
		break;
	}
	if (rc)
		ssh_message_reply_default(msg);
	ssh_message_free(msg);
}

/* Where a connection was when libssh ended it: the first key exchange (no cipher in use
 * yet), authentication (a held check too), or the session (a later key exchange included). */
static const char *conn_phase(struct sshd_conn *conn)
{
	if (conn->state == SSHD__CONN_READY)
		return "session";
	return ssh_get_cipher_in(conn->session) ? "auth" : "kex";
}

/* After any activity (socket, child, timer, hook): pop queued requests (while the client
 * takes our output), move channel data, retire, close. */
void sshd__conn_process(struct sshd_conn *conn)
{
	struct sshd__node *n, *next;
	ssh_message msg;
	int status;

	if (conn->state == SSHD__CONN_DYING)
		return;
	while (!conn->want_close && !out_over(conn) &&
	       (msg = ssh_message_get(conn->session)) != NULL)
		handle_msg(conn, msg);
	for (n = conn->chans.next; n != &conn->chans; n = next) {
		next = n->next;
		sshd__chan_pump(container_of(n, struct sshd__chan, node));
	}
	sshd__fwd_pump(conn);
	out_check(conn);
	status = ssh_get_status(conn->session);
	if ((status & (SSH_CLOSED | SSH_CLOSED_ERROR)) || !ssh_is_connected(conn->session)) {
		if (!conn->close_reason[0]) {
			/* libssh's own words: the client's disconnect message, an EOF, or why
			 * libssh gave up (no common algorithm, a packet it refused) */
			const char *why = ssh_get_error(conn->session);
			conn->end_phase = conn_phase(conn);
			snprintf(conn->close_reason, sizeof(conn->close_reason), "%s",
				 why && why[0] ? why : "libssh gave no reason");
		}
		conn->want_close = true;
	}
	if (conn->want_close) {
		sshd__conn_destroy(conn);
		return;
	}
	sshd__conn_update(conn);
}

/* libssh 0.10 reads at most 4 KiB from the socket per poll (MAX_BUF_SIZE), so a wakeup that
 * polled once left the rest of a burst for another trip through the loop (epoll_wait, our
 * pump, a write attempt to the child) per 4 KiB.  While a poll filled libssh's read, the
 * socket likely holds more: poll again, up to SSHD__POLL_ROUNDS times (256 KiB), so one busy
 * connection still yields to the others. */
enum { SSHD__LIBSSH_READ = 4096, SSHD__POLL_ROUNDS = 64 };

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct sshd_conn *conn = h->data;
	uint64_t before;
	int rounds = 0;

	conn->in_dopoll++;
	do {
		before = conn->sock_count.in_bytes;
		if (ssh_event_dopoll(conn->event, 0) == SSH_ERROR)
			break;
	} while (++rounds < SSHD__POLL_ROUNDS &&
		 conn->sock_count.in_bytes - before >= SSHD__LIBSSH_READ && !conn->want_close &&
		 !out_over(conn) && ssh_is_connected(conn->session));
	conn->in_dopoll--;
	sshd__conn_process(conn);
}

/* End every session of the connection with a message on its stderr. */
void sshd__conn_abort_all(struct sshd_conn *conn, const char *message)
{
	while (conn->chans.next != &conn->chans)
		sshd__chan_abort(container_of(conn->chans.next, struct sshd__chan, node), message);
}

static void on_timer(uv_timer_t *t)
{
	struct sshd_conn *conn = t->data;
	uint64_t now = now_mono_ms();

	if (conn->state == SSHD__CONN_AUTH) {
		sshd__conn_close(conn, "authentication timed out");
	} else if (conn->deadline_ms && now >= conn->deadline_ms) {
		sshd__conn_abort_all(conn, "meshd: session time limit reached");
		sshd__conn_close(conn, "session time limit reached");
	} else if (conn->out.gated) {
		/* no keepalive into output nobody takes; sshd__conn_process() checks the stall */
	} else if (conn->srv->keepalive_ms && conn->state == SSHD__CONN_READY) {
		ssh_send_keepalive(conn->session);
	}
	sshd__conn_process(conn);
	if (conn->state != SSHD__CONN_DYING)
		sshd__conn_timer_arm(conn);
}

void sshd__conn_timer_arm(struct sshd_conn *conn)
{
	uint64_t now = now_mono_ms(), wait = 0;

	if (conn->state == SSHD__CONN_AUTH) {
		wait = conn->srv->preauth_timeout_ms;
	} else if (conn->state == SSHD__CONN_READY) {
		if (conn->deadline_ms)
			wait = conn->deadline_ms > now ? conn->deadline_ms - now : 1;
		if (conn->srv->keepalive_ms && (!wait || wait > conn->srv->keepalive_ms))
			wait = conn->srv->keepalive_ms;
	}
	if (conn->out.gated && conn->state != SSHD__CONN_AUTH) { /* AUTH: preauth_timeout_ms */
		uint64_t end = conn->out.stall_since_ms + conn->srv->stall_timeout_ms;
		uint64_t left = end > now ? end - now : 1;
		if (!wait || wait > left)
			wait = left;
	}
	if (wait)
		uv_timer_start(&conn->timer, on_timer, wait, 0);
	else
		uv_timer_stop(&conn->timer);
}

static void addr_text(const struct sockaddr *sa, char *host, size_t size, int *port)
{
	host[0] = '\0';
	*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)size);
		*port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)size);
		*port = ntohs(in6->sin6_port);
	}
	if (!host[0])
		snprintf(host, size, "0.0.0.0");
}

int sshd_accept_fd(struct sshd_server *srv, int fd, const struct sockaddr *peer, socklen_t peer_len)
{
	struct sockaddr_storage local;
	socklen_t local_len = sizeof(local);
	struct sshd_conn *conn;
	int rc;

	if (srv->closing || peer_len > sizeof(conn->peer)) {
		close(fd);
		return -EINVAL;
	}
	if (srv->nconns >= srv->max_connections) {
		log_warn(SUBJ, "connection limit (%u) reached, refusing a connection",
			 srv->max_connections);
		close(fd);
		return -EMFILE;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn) {
		close(fd);
		return -ENOMEM;
	}
	conn->srv = srv;
	conn->fd = fd;
	conn->check.conn = conn;
	sshd__list_init(&conn->chans);
	sshd__list_init(&conn->fwds);
	sshd__list_init(&conn->dials);
	conn->budget.max = srv->max_conn_buffer;
	memcpy(&conn->peer, peer, peer_len);
	conn->peer_len = peer_len;
	addr_text(peer, conn->peer_host, sizeof(conn->peer_host), &conn->peer_port);
	memset(&local, 0, sizeof(local));
	if (getsockname(fd, (struct sockaddr *)&local, &local_len) < 0)
		local.ss_family = AF_UNSPEC;
	addr_text((struct sockaddr *)&local, conn->local_host, sizeof(conn->local_host),
		  &conn->local_port);
	if (!conn->local_port)
		conn->local_port = 22;
	snprintf(conn->subject, sizeof(conn->subject), "sshd: %s:%d", conn->peer_host,
		 conn->peer_port);
	conn->id = ++srv->conn_seq;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);

	conn->session = ssh_new();
	if (!conn->session) {
		close(fd);
		free(conn);
		return -ENOMEM;
	}
	if (ssh_bind_accept_fd(srv->bind, conn->session, fd) != SSH_OK) {
		log_warn(SUBJ, "cannot start a session: %s", ssh_get_error(srv->bind));
		ssh_free(conn->session); /* closes fd once libssh owns it */
		free(conn);
		return -EIO;
	}
	ssh_set_blocking(conn->session, 0);
	ssh_set_counters(conn->session, &conn->sock_count, &conn->raw_count);
	ssh_set_auth_methods(conn->session, SSH_AUTH_METHOD_NONE | SSH_AUTH_METHOD_PASSWORD |
						SSH_AUTH_METHOD_PUBLICKEY);
	rc = ssh_handle_key_exchange(conn->session);
	conn->event = ssh_event_new();
	if ((rc != SSH_OK && rc != SSH_AGAIN) || !conn->event ||
	    ssh_event_add_session(conn->event, conn->session) != SSH_OK) {
		log_warn(SUBJ, "key exchange could not start: %s", ssh_get_error(conn->session));
		if (conn->event)
			ssh_event_free(conn->event);
		ssh_free(conn->session);
		free(conn);
		return -EIO;
	}
	uv_poll_init(srv->loop, &conn->poll, fd);
	uv_timer_init(srv->loop, &conn->timer);
	conn->poll.data = conn;
	conn->timer.data = conn;
	conn->handles = 2;
	conn->poll_events = UV_READABLE;
	uv_poll_start(&conn->poll, UV_READABLE, on_poll);
	sshd__list_add(&srv->conns, &conn->node);
	srv->nconns++;
	conn->state = SSHD__CONN_AUTH;
	sshd__conn_timer_arm(conn);
	log_info(conn->subject, "connection accepted");
	sshd__conn_update(conn);
	return 0;
}
