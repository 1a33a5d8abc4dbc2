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
 * So once libssh holds more than SSHD__OUT_MAX of our output, requests are not popped any
 * more: they wait in libssh's queue, unanswered, until that output has gone out.  The socket
 * is still read, so that channel data within the windows we granted and a key re-exchange
 * go on.  What waits in that queue is bounded instead: the client's input since the queue
 * was last seen empty (ssh_message_get() found nothing), channel data aside, each packet its
 * payload plus SSHD__REQ_PACKET, less the packets popped since; a client whose waiting
 * requests may cost more than SSHD__REQ_MAX is closed ("client sent requests faster than it
 * took the answers: ...").  The count is cleared only when the queue is seen empty, not when
 * our output dips under the limit, so a client that takes a little output now and then
 * cannot queue more each time.  libssh also answers some packets itself (window adjusts for
 * channel data, "unimplemented", unknown global requests), which the pop does not hold
 * back: a client that leaves more than SSHD__OUT_HARD of our output is closed too; and
 * during a key re-exchange libssh started, every answer waits in its own queue until the
 * client answers the exchange, so a client that sends as much input as SSHD__REQ_MAX,
 * channel data aside, while none of our packets goes out is closed ("client sent N KiB of
 * requests while none of our packets went out", review-72 A1).  Past a quarter of that we
 * send an SSH_MSG_IGNORE of our own: when it goes out (nothing is held back: the client
 * only said things that need no answer, like an idle session's IGNORE keepalives), the
 * count starts again.  And one over SSHD__OUT_MAX that
 * takes none of it for stall_timeout_ms is closed ("client stopped reading: ...").
 *
 * Why not stop reading instead: libssh 0.10 has no way to write without reading (its poll
 * handle always asks for POLLIN, and ssh_event_dopoll() and ssh_blocking_flush() both read
 * when the socket is readable), so watching our fd for writing only still read 4 KiB at
 * each wakeup, as the lab sshd-backlog's 'queue' case showed: the gate that did that let a
 * client that reads 1 KiB every 50 ms queue 10 000 channel opens in 10 s.  And a client may
 * write before it reads: paramiko's transport thread, the only one that reads, sends its
 * KEXINIT (and the channel data before it is in the socket first); with the socket not read
 * it blocks in that send, never takes our output, and both ends wait until its 30 s
 * key-exchange timeout ("Key-exchange timed out waiting for key negotiation").  Channel data
 * needs no limit here: libssh grants each channel a window and sshd__conn_overrun() cuts
 * off a client that ignores it.
 *
 * libssh 0.10 says only whether that buffer is empty (ssh_get_status()'s SSH_WRITE_PENDING:
 * its output buffer is not empty; ssh_get_poll_flags()' is set after every send until a
 * poll finds it empty), so its size is bounded from its counters: payload bytes and packets
 * put into it since it was last seen empty, each packet at most SSHD__PACKET_OVERHEAD larger
 * on the wire, less what the socket took since.  That overcounts small packets (the limit is
 * then reached early, until the buffer next empties) and undercounts nothing but the
 * identification line.  A key re-exchange libssh starts itself (after 1 GiB with chacha20)
 * keeps every other packet in a queue of its own until our NEWKEYS, counted only when it
 * leaves: the channel data we wrote meanwhile is added from our own writes (kex_held()), so
 * a client that never answers the exchange is one that takes none of our output (review-71
 * #1: the server grew to GiBs), and what the queue releases at once is at most what the
 * limit let in (review-71 #2).  Channels write only while under the limit
 * (sshd__conn_out_blocked()).  The client's input is told apart the same way: every packet
 * and its payload (libssh's raw counter), less the channel data our data callbacks saw
 * (sshd__inq_seen()).  No compression is offered: zlib would let one read unpack into MiBs.
 *
 * Bound, for each connection: our output, at most SSHD__OUT_HARD (1 MiB) plus what libssh
 * answers to the input read in one pass through the pumps; requests waiting in libssh's
 * queue, at most SSHD__REQ_MAX (1 MiB) of cost plus the input of one such pass (libssh
 * reads up to 4 KiB in many of the calls a pass makes: ssh_message_get() on an empty queue,
 * each channel's write, EOF and close, ssh_send_debug(), the keepalive); channel data,
 * SSHD__HELD_MAX (4 MiB) for each open channel (a channel we freed takes none: what arrives
 * there is dropped, SSHD__HELD_MAX of it for each); and the kernel's socket buffers.
 *
 * A key re-exchange libssh started that the client never answers (review-72 A2) is timed out
 * even when nothing grows (an idle shell's prompt, a keepalive): once a send of ours is seen
 * kept back for it (a channel write its counter did not see leave; a keepalive, or the
 * SSH_MSG_IGNORE after one that sent nothing, that added no packet; a refused open's answer
 * after the debug line that went out), the connection is closed ("client left our key
 * re-exchange unanswered for N s") unless some packet of ours goes out within
 * stall_timeout_ms: the exchange's own reply and our NEWKEYS are not kept back, and the
 * queue leaves right after them.  Packets libssh never keeps back (DEBUG, UNIMPLEMENTED)
 * count as going on too, so a client that provokes them restarts the wait; a refused open
 * re-marks the count after its own debug line, so its flood does not.  In authentication
 * preauth_timeout_ms governs instead. */
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

/* Channel data libssh took from us during a key re-exchange it started and kept out of
 * its output buffer (packet.c: every packet but the exchange's own waits in its out_queue
 * until our NEWKEYS): our writes that its counter did not see leave, less what it counted
 * since.  A few KiB low by the exchange's own packets, never high once the queue has gone. */
static uint64_t kex_held(struct sshd_conn *conn)
{
	struct sshd__out *o = &conn->out;
	uint64_t left = conn->raw_count.out_bytes - o->kex_base;

	if (!o->kex_queued)
		return 0;
	if (left >= o->kex_queued) {
		o->kex_queued = 0;
		return 0;
	}
	return o->kex_queued - left;
}

/* The output libssh holds, or more (never less, a key re-exchange's queue aside: a few KiB,
 * kex_held()); the buffer's part is 0 when it is empty, which sets the mark. */
static uint64_t out_held(struct sshd_conn *conn)
{
	struct sshd__out *o = &conn->out;
	uint64_t queued, sent;

	if (!(ssh_get_status(conn->session) & SSH_WRITE_PENDING)) {
		o->mark_payload = conn->raw_count.out_bytes;
		o->mark_packets = conn->raw_count.out_packets;
		o->mark_sent = conn->sock_count.out_bytes;
		return kex_held(conn);
	}
	queued = conn->raw_count.out_bytes - o->mark_payload +
		 (conn->raw_count.out_packets - o->mark_packets) * SSHD__PACKET_OVERHEAD;
	sent = conn->sock_count.out_bytes - o->mark_sent;
	return (queued > sent ? queued - sent : 0) + kex_held(conn);
}

/* True while the client leaves more of our output untaken than it may: its requests wait. */
static bool out_over(struct sshd_conn *conn)
{
	return out_held(conn) > SSHD__OUT_MAX;
}

bool sshd__conn_out_blocked(struct sshd_conn *conn)
{
	return (ssh_get_poll_flags(conn->session) & SSH_WRITE_PENDING) || out_over(conn);
}

/* A send of ours was just kept back for a key re-exchange libssh started (`before`: the packet
 * counter before that send): the exchange waits on the client from the first such send, until
 * a packet of ours goes out after this one (kex_check()); one that went out before it, since
 * the last such send, began a new wait. */
static void kex_wait(struct sshd_conn *conn, uint64_t before)
{
	struct sshd__out *o = &conn->out;
	bool waiting = o->kex_wait && before == o->kex_wait_out;

	o->kex_wait_out = conn->raw_count.out_packets;
	if (waiting)
		return;
	o->kex_wait = true;
	o->kex_wait_ms = now_mono_ms();
	if (conn->state == SSHD__CONN_READY) /* AUTH: preauth_timeout_ms */
		sshd__conn_timer_arm(conn);
}

/* Close a client that has left the exchange unanswered for stall_timeout_ms (one past the
 * output limit is out_check()'s). */
static void kex_check(struct sshd_conn *conn)
{
	struct sshd__out *o = &conn->out;
	char why[SSHD__WHY_MAX];

	if (!o->kex_wait)
		return;
	if (conn->raw_count.out_packets != o->kex_wait_out) { /* the exchange went on */
		o->kex_wait = false;
		return;
	}
	/* gated: out_check()'s stall closes it, and says how much waits */
	if (conn->state != SSHD__CONN_READY || conn->want_close || o->gated ||
	    now_mono_ms() - o->kex_wait_ms < conn->srv->stall_timeout_ms)
		return;
	snprintf(why, sizeof(why), "client left our key re-exchange unanswered for %u s",
		 conn->srv->stall_timeout_ms / 1000);
	sshd__conn_close(conn, why);
}

int sshd__conn_write(struct sshd_conn *conn, ssh_channel channel, bool is_err, const void *p,
		     uint32_t n)
{
	struct sshd__out *o = &conn->out;
	uint64_t before = conn->raw_count.out_bytes, packets = conn->raw_count.out_packets, seen;
	int w = is_err ? ssh_channel_write_stderr(channel, p, n) : ssh_channel_write(channel, p, n);

	seen = conn->raw_count.out_bytes - before;
	if (w > 0 && seen < (uint64_t)w) { /* kept back for a key re-exchange */
		if (!kex_held(conn))
			o->kex_base = before + seen;
		o->kex_queued += (uint64_t)w - seen;
		kex_wait(conn, packets);
	}
	return w;
}

static void in_mark(const struct sshd_conn *conn, struct sshd__in_mark *m)
{
	m->payload = conn->raw_count.in_bytes;
	m->packets = conn->raw_count.in_packets;
	m->data_packets = conn->budget.data_packets;
	m->data_bytes = conn->budget.data_bytes;
}

/* The client's input since the mark, channel data aside: its payload bytes (a data packet's
 * header included) plus SSHD__REQ_PACKET for each packet, less `popped` packets. */
static uint64_t in_cost(const struct sshd_conn *conn, const struct sshd__in_mark *m,
			uint64_t popped)
{
	uint64_t packets = conn->raw_count.in_packets - m->packets;
	uint64_t payload = conn->raw_count.in_bytes - m->payload;
	uint64_t dpackets = conn->budget.data_packets - m->data_packets;
	uint64_t data = conn->budget.data_bytes - m->data_bytes;

	packets = packets > dpackets ? packets - dpackets : 0;
	packets = packets > popped ? packets - popped : 0;
	payload = payload > data ? payload - data : 0;
	return payload + packets * SSHD__REQ_PACKET;
}

/* libssh's queue of requests was just seen empty: what the client sends from here on is what
 * may wait in it. */
static void queue_empty(struct sshd_conn *conn)
{
	in_mark(conn, &conn->out.q);
	conn->out.q_popped = 0;
}

/* Close a client past the hard limits (see the top of this file): requests waiting in
 * libssh's queue that may cost more than SSHD__REQ_MAX (the input since the queue was last
 * seen empty, less the requests popped since: every popped request was one of those
 * packets, and packets that were no request count as if waiting); as much input, channel
 * data aside, while none of our packets went out (libssh answers some requests itself, and
 * during a key re-exchange it started holds every answer back: review-72 A1); or more than
 * SSHD__OUT_HARD of our output untaken.  True when the connection is closing. */
static bool hard_limits(struct sshd_conn *conn)
{
	struct sshd__out *o = &conn->out;
	char why[SSHD__WHY_MAX];
	uint64_t cost, quiet, held;

	if (conn->want_close)
		return true;
	if (conn->raw_count.out_packets != o->quiet_out) {
		o->quiet_out = conn->raw_count.out_packets;
		o->quiet_probed = false;
		in_mark(conn, &o->quiet);
	}
	cost = in_cost(conn, &o->q, o->q_popped);
	quiet = in_cost(conn, &o->quiet, 0);
	if (quiet > SSHD__REQ_MAX / 4 && !o->quiet_probed && conn->state != SSHD__CONN_AUTH) {
		/* a client may have said much that needs no answer (SSH_MSG_IGNORE keepalives of
		 * an idle session): a packet of ours that goes out clears the count, one that
		 * libssh holds back for its key re-exchange does not */
		o->quiet_probed = true;
		ssh_send_ignore(conn->session, "");
		if (conn->raw_count.out_packets != o->quiet_out) { /* it went out */
			o->quiet_out = conn->raw_count.out_packets;
			o->quiet_probed = false;
			in_mark(conn, &o->quiet);
			quiet = 0;
		}
	}
	held = out_held(conn);
	if (cost > SSHD__REQ_MAX) {
		snprintf(why, sizeof(why),
			 "client sent requests faster than it took the answers: up to %" PRIu64
			 " KiB of them waiting (limit %u KiB), %" PRIu64 " KiB of our output",
			 cost >> 10, (unsigned)SSHD__REQ_MAX >> 10, held >> 10);
		sshd__conn_close(conn, why);
	} else if (quiet > SSHD__REQ_MAX) {
		snprintf(why, sizeof(why),
			 "client sent %" PRIu64 " KiB of requests while none of our packets went "
			 "out (limit %u KiB)",
			 quiet >> 10, (unsigned)SSHD__REQ_MAX >> 10);
		sshd__conn_close(conn, why);
	} else if (held > SSHD__OUT_HARD) {
		snprintf(why, sizeof(why),
			 "client took too little of our output: up to %" PRIu64
			 " KiB waiting (limit %u KiB)",
			 held >> 10, (unsigned)SSHD__OUT_HARD >> 10);
		sshd__conn_close(conn, why);
	}
	return conn->want_close;
}

/* After each activity: note when a client past the limit last took some output, and close
 * it once it has taken none for stall_timeout_ms. */
static void out_check(struct sshd_conn *conn)
{
	struct sshd__out *o = &conn->out;
	uint64_t held = out_held(conn), now;
	char why[SSHD__WHY_MAX];

	kex_check(conn);
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
				  "requests wait while up to %" PRIu64 " KiB of our output waits "
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
	if (ssh_get_poll_flags(conn->session) & SSH_WRITE_PENDING)
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
	/* their own cap, as large: a client's CLOSE can wait for its side to drain */
	if (conn->nfreed >= srv->max_channels) {
		snprintf(why, size,
			 "meshd: channel refused: this connection has %u channels closed by us "
			 "awaiting the client's close (limit %u)",
			 conn->nfreed, srv->max_channels);
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

/* A channel we freed, until the client's CLOSE: what it sends there is dropped and counted
 * as channel data (it was in flight when our CLOSE left: up to a window), against an
 * allowance of SSHD__HELD_MAX for each channel freed so; a client past it is cut off.
 * Taking it lets libssh open the window again, which the allowance bounds. */
static int freed_data(ssh_session s, ssh_channel c, void *data, uint32_t len, int is_stderr,
		      void *user)
{
	struct sshd_conn *conn = user;
	char why[SSHD__WHY_MAX];

	conn->budget.data_packets++;
	conn->budget.data_bytes += len;
	if (len > conn->freed_allow && !conn->want_close) {
		snprintf(why, sizeof(why),
			 "client sent data on channels we had closed past what was in flight "
			 "(%u KiB for each)",
			 (unsigned)SSHD__HELD_MAX >> 10);
		sshd__conn_close(conn, why);
	}
	conn->freed_allow -= len < conn->freed_allow ? len : conn->freed_allow;
	return (int)len;
}

static void freed_close(ssh_session s, ssh_channel c, void *user)
{
	struct sshd_conn *conn = user;

	if (conn->nfreed)
		conn->nfreed--;
}

void sshd__conn_free_channel(struct sshd_conn *conn, ssh_channel channel,
			     struct ssh_channel_callbacks_struct *cb, bool awaiting_close)
{
	ssh_remove_channel_callbacks(channel, cb);
	if (awaiting_close && conn->state != SSHD__CONN_DYING) {
		ssh_set_channel_callbacks(channel, &conn->freed_cb);
		conn->nfreed++;
		if (conn->freed_allow < (uint64_t)conn->srv->max_channels * SSHD__HELD_MAX)
			conn->freed_allow += SSHD__HELD_MAX;
	}
	ssh_channel_free(channel); /* sends our CLOSE; frees it now if the client's came */
}

/* libssh 0.10 can refuse a channel only with "administratively prohibited" and no text,
 * so the reason travels as an SSH debug message just before (ssh -v shows "Remote: …"). */
void sshd__refuse_open(struct sshd_conn *conn, ssh_message msg, const char *why)
{
	uint64_t before = conn->raw_count.out_packets;

	log_info(conn->subject, "%s", why);
	ssh_send_debug(conn->session, why, 1);
	ssh_message_reply_default(msg);
	if (conn->raw_count.out_packets - before < 2) /* the answer kept back, the debug not */
		kex_wait(conn, before);
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
	/* ssh_message_get() reads the socket once the queue is empty, and so do some of our
	 * answers (ssh_send_debug()): the hard limits are checked before each pop */
	while (!hard_limits(conn) && !out_over(conn)) {
		msg = ssh_message_get(conn->session);
		if (!msg) {
			queue_empty(conn);
			break;
		}
		conn->out.q_popped++;
		handle_msg(conn, msg);
	}
	for (n = conn->chans.next; n != &conn->chans; n = next) {
		next = n->next;
		sshd__chan_pump(container_of(n, struct sshd__chan, node));
	}
	sshd__fwd_pump(conn);
	out_check(conn);
	hard_limits(conn); /* the pumps read too (ssh_channel_poll()) */
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
 * connection still yields to the others; a burst of requests (a quarter of SSHD__REQ_MAX)
 * ends the rounds so that they are answered before more is read. */
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
		 conn->sock_count.in_bytes - before >= SSHD__LIBSSH_READ && !hard_limits(conn) &&
		 in_cost(conn, &conn->out.q, conn->out.q_popped) <= SSHD__REQ_MAX / 4 &&
		 ssh_is_connected(conn->session));
	conn->in_dopoll--;
	sshd__conn_process(conn);
}

/* End every session of the connection with a message on its stderr. */
void sshd__conn_abort_all(struct sshd_conn *conn, const char *message)
{
	while (conn->chans.next != &conn->chans)
		sshd__chan_abort(container_of(conn->chans.next, struct sshd__chan, node), message);
}

/* The keepalive, and the probe of a key re-exchange left unanswered: libssh keeps the request
 * back during one it started.  It sends none at all while the last one's answer is unread or
 * was read outside the call (ssh_global_request() looks at that instead), so when no packet
 * left, an SSH_MSG_IGNORE, which it always sends and keeps back likewise, tells. */
static void keepalive(struct sshd_conn *conn)
{
	uint64_t before = conn->raw_count.out_packets;

	ssh_send_keepalive(conn->session);
	if (conn->raw_count.out_packets != before)
		return;
	ssh_send_ignore(conn->session, "");
	if (conn->raw_count.out_packets == before)
		kex_wait(conn, before);
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
		keepalive(conn);
	}
	sshd__conn_process(conn);
	if (conn->state != SSHD__CONN_DYING)
		sshd__conn_timer_arm(conn);
}

/* Shorten `wait` (0: none yet) to reach `end`. */
static void wait_until(uint64_t *wait, uint64_t now, uint64_t end)
{
	uint64_t left = end > now ? end - now : 1;

	if (!*wait || *wait > left)
		*wait = left;
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
	if (conn->out.gated && conn->state != SSHD__CONN_AUTH) /* AUTH: preauth_timeout_ms */
		wait_until(&wait, now, conn->out.stall_since_ms + conn->srv->stall_timeout_ms);
	else if (conn->out.kex_wait && conn->state == SSHD__CONN_READY)
		wait_until(&wait, now, conn->out.kex_wait_ms + conn->srv->stall_timeout_ms);
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
	conn->freed_cb.userdata = conn;
	conn->freed_cb.channel_data_function = freed_data;
	conn->freed_cb.channel_close_function = freed_close;
	ssh_callbacks_init(&conn->freed_cb);
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
	/* No compression: one 4 KiB read of zlib could unpack into MiBs of queued requests
	 * before the limits are looked at (see the top of this file).  libssh reads these when
	 * ssh_handle_key_exchange() builds our KEXINIT (server_set_kex()). */
	if (ssh_options_set(conn->session, SSH_OPTIONS_COMPRESSION_C_S, "none") < 0 ||
	    ssh_options_set(conn->session, SSH_OPTIONS_COMPRESSION_S_C, "none") < 0 ||
	    (srv->rekey_data &&
	     ssh_options_set(conn->session, SSH_OPTIONS_REKEY_DATA, &srv->rekey_data) < 0)) {
		log_warn(SUBJ, "cannot set the session's options: %s",
			 ssh_get_error(conn->session));
		ssh_free(conn->session);
		free(conn);
		return -EIO;
	}
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
