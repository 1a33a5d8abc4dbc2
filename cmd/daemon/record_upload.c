/* The uploader of session recordings to meshrecorder (record_upload.h): a buffer of the lines
 * not acknowledged yet, one connection at a time with one PUT in flight, the recorders tried
 * in order.
 *
 * Offsets: the stream is every byte the session appended (the header first); buf holds the
 * stream from `base` on, always from the start of a line.  A segment is one recording on one
 * recorder: its bytes are `prefix` bytes of the header (0 for the first segment, whose stream
 * starts with the header; hlen for a later one, which starts at a line boundary past it) and
 * then the stream from seg_start; `acked` counts the segment's bytes the recorder holds.
 *
 * The session's asciicast writer escapes its events straight into buf (meshd_upload_room, then
 * _commit): the bytes are copied once, into the PUT's body or by LZ4 (tests/bench/results.md,
 * record-upload: the copy of each event into buf was 28 M instructions of 412 M for 16 MiB).
 *
 * Coding: a body goes as one lz4 frame (rec/lz4.h, Content-Encoding: lz4) once the recorder
 * on this connection offered it (Accept-Encoding: lz4 in an answer); the first PUT of each
 * connection goes plain, so an older recorder is never sent what it would store coded.
 * Offsets and Mesh-Acked count plain bytes either way. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/daemon/node.h"
#include "cmd/daemon/record_upload.h"
#include "cmd/recorder/proto.h"
#include "common/log.h"
#include "rec/lz4.h"

static const char subject[] = "record";

enum {
	RETRY_MS = 500,
	DOWN_MS = 30000, /* a recorder given up on is tried last, and once, for this long */
	UPLOAD_CONFLICTS_MAX = 3, /* 409s in a row before the recorder counts as failing */
};

enum state {
	S_IDLE,	   /* no connection */
	S_DIALING, /* connecting */
	S_READY,   /* connected, nothing in flight */
	S_WAITING, /* a PUT sent, its answer awaited */
	S_DONE,	   /* the end was taken, or every recorder failed */
};

/* One connection to one recorder; lives until its handle is closed (or, dialing through the
 * embedded stack, until the dial answers), whatever happened to its upload. */
struct conn {
	struct meshd_upload *u; /* NULL once abandoned */
	struct meshd_upload_config *cfg;
	uv_tcp_t tcp;
	bool tcp_init, ns_dialing;
	uv_connect_t creq;
	uv_write_t wreq;
	char *sendbuf;
	bool lz4; /* the recorder offered lz4 on this connection */
	char rbuf[RECORDER_REPLY_HEAD_MAX + RECORDER_REPLY_BODY_MAX];
	size_t rlen;
};

struct meshd_upload {
	struct meshd_upload_config *cfg;
	struct meshd_upload *next; /* cfg->live */
	struct meshd_upload_events ev;
	void *ctx;
	struct addr_ip *recorders;
	size_t n, cur, fails;  /* fails: recorders given up on in a row, since an answer taken */
	unsigned conflicts;    /* 409s in a row from the recorder in use (a resume that never
				* moves on is a recorder failing, not one to follow forever) */
	uint64_t trying_since; /* loop ms of the current recorder's first failure, 0: none */
	char base_id[RECORDER_ID_MAX + 1], id[RECORDER_ID_MAX + 1];
	unsigned segment;
	size_t seg_recorder; /* the recorder the segment is on */
	char *header;
	size_t hlen;
	char *buf;
	size_t off, len, cap;		       /* the bytes kept are buf[off, off + len) */
	size_t room;			       /* the last meshd_upload_room's, until committed */
	uint64_t base, seg_start, acked, sent; /* sent: segment bytes in the PUT in flight */
	size_t prefix;
	bool sent_end, ended, released, accepted, paused, timer_closed;
	bool seg_logged; /* "recording to" said for this segment */
	enum state state;
	struct conn *conn;
	uv_timer_t timer;
};

static void try_next(struct meshd_upload *u);
static void send_more(struct meshd_upload *u);
static void kick(struct meshd_upload *u, uint64_t ms);

static const char *rec_addr(const struct meshd_upload *u, char out[static ADDR_TEXT_MAX])
{
	return addr_ip_format(&u->recorders[u->cur], out);
}

const char *meshd_upload_recorder(const struct meshd_upload *u, char out[static ADDR_TEXT_MAX])
{
	return rec_addr(u, out);
}

static uint64_t seg_total(const struct meshd_upload *u)
{
	return u->prefix + (u->base + u->len - u->seg_start);
}

static void handle_closed(struct meshd_upload_config *cfg)
{
	if (--cfg->handles == 0 && cfg->closing && cfg->done) {
		void (*done)(void *) = cfg->done;
		cfg->done = NULL;
		done(cfg->done_arg);
	}
}

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct meshd_upload_config *cfg = c->cfg;
	free(c->sendbuf);
	free(c);
	handle_closed(cfg);
}

/* Lets the upload's connection go; its callbacks find u NULL from now on. */
static void abandon(struct meshd_upload *u)
{
	struct conn *c = u->conn;
	u->conn = NULL;
	if (u->state != S_DONE)
		u->state = S_IDLE;
	uv_timer_stop(&u->timer);
	if (!c)
		return;
	c->u = NULL;
	if (c->tcp_init) {
		if (!uv_is_closing((uv_handle_t *)&c->tcp))
			uv_close((uv_handle_t *)&c->tcp, conn_closed);
	} else if (!c->ns_dialing) {
		free(c);
	}
	/* an embedded-stack dial still running frees c when it answers */
}

static void unlink_live(struct meshd_upload *u)
{
	for (struct meshd_upload **p = &u->cfg->live; *p; p = &(*p)->next)
		if (*p == u) {
			*p = u->next;
			return;
		}
}

static void upload_free(struct meshd_upload *u)
{
	free(u->recorders);
	free(u->header);
	free(u->buf);
	free(u);
}

static void timer_closed(uv_handle_t *h)
{
	struct meshd_upload *u = h->data;
	struct meshd_upload_config *cfg = u->cfg;
	u->timer_closed = true;
	if (u->released)
		upload_free(u);
	handle_closed(cfg);
}

/* Done for good: the connection and the timer go; the memory once the session let go too. */
static void finish(struct meshd_upload *u)
{
	abandon(u);
	u->state = S_DONE;
	if (!uv_is_closing((uv_handle_t *)&u->timer)) {
		unlink_live(u);
		uv_close((uv_handle_t *)&u->timer, timer_closed);
	}
}

static void set_paused(struct meshd_upload *u, bool paused)
{
	if (u->paused == paused)
		return;
	u->paused = paused;
	if (!u->released && u->ev.pause)
		u->ev.pause(u->ctx, paused);
}

/* Recorders given up on lately, shared by the sessions (cfg->down): until (loop ms) > now. */
static bool down_lately(const struct meshd_upload_config *cfg, const struct addr_ip *ip,
			uint64_t now)
{
	for (size_t i = 0; i < MESHD_UPLOAD_DOWN_MAX; i++)
		if (cfg->down[i].until > now && addr_ip_equal(&cfg->down[i].ip, ip))
			return true;
	return false;
}

/* Marks ip down until then (0: up again); a full table forgets the entry ending first. */
static void mark(struct meshd_upload_config *cfg, const struct addr_ip *ip, uint64_t until)
{
	size_t slot = 0;
	for (size_t i = 0; i < MESHD_UPLOAD_DOWN_MAX; i++) {
		if (addr_ip_equal(&cfg->down[i].ip, ip)) {
			slot = i;
			break;
		}
		if (cfg->down[i].until < cfg->down[slot].until)
			slot = i;
	}
	if (!until && !addr_ip_equal(&cfg->down[slot].ip, ip))
		return;
	cfg->down[slot].ip = *ip;
	cfg->down[slot].until = until;
}

/* The recorder failed (why).  Within timeout_ms of the first failure it is tried again (every
 * RETRY_MS: a recorder restarting comes back to the same recording); after that the next one
 * takes over, and once each of them had its time in a row the upload gives up. */
static void recorder_failed(struct meshd_upload *u, const char *why)
{
	char a[ADDR_TEXT_MAX];
	uint64_t now = uv_now(u->cfg->loop);
	abandon(u);
	if (!u->trying_since)
		u->trying_since = now;
	/* one that failed lately (for any session) gets one try, not a whole timeout */
	bool down = down_lately(u->cfg, &u->recorders[u->cur], now);
	if (!down && now - u->trying_since + RETRY_MS < u->cfg->timeout_ms) {
		log_debug(subject, "%s: recorder %s: %s; again in %d ms", u->id, rec_addr(u, a),
			  why, RETRY_MS);
		kick(u, RETRY_MS);
		return;
	}
	log_warn(subject, "%s: recorder %s: %s", u->id, rec_addr(u, a), why);
	mark(u->cfg, &u->recorders[u->cur], now + DOWN_MS);
	u->trying_since = now;
	if (++u->fails >= u->n) {
		char msg[160];
		snprintf(msg, sizeof(msg),
			 "no recorder took the recording (%zu tried; the last: %s)", u->n, why);
		log_warn(subject, "%s: %s", u->id, msg);
		set_paused(u, false);
		bool report = !u->released && u->ev.failed;
		finish(u);
		if (report)
			u->ev.failed(u->ctx, msg);
		return;
	}
	u->cur = (u->cur + 1) % u->n;
	try_next(u);
}

static void on_timeout(uv_timer_t *t)
{
	struct meshd_upload *u = t->data;
	char why[96];
	snprintf(why, sizeof(why), "%s within %u ms",
		 u->state == S_DIALING ? "no connection" : "no answer", u->cfg->timeout_ms);
	/* a whole timeout went by: the recorder had its time */
	uint64_t now = uv_now(u->cfg->loop);
	if (!u->trying_since || now - u->trying_since < u->cfg->timeout_ms)
		u->trying_since = now > u->cfg->timeout_ms ? now - u->cfg->timeout_ms : 1;
	recorder_failed(u, why);
}

/* Drops the lines the recorder holds from buf (whole lines only: a later segment starts at
 * one) and lets a paused session go on. */
static void trim(struct meshd_upload *u)
{
	if (u->acked <= u->prefix)
		return;
	uint64_t upto = u->seg_start + (u->acked - u->prefix);
	if (upto <= u->base)
		return;
	size_t k = (size_t)(upto - u->base);
	const char *kept = u->buf + u->off, *nl = memrchr(kept, '\n', k);
	if (!nl)
		return;
	size_t drop = (size_t)(nl + 1 - kept);
	/* moved down only when appending needs it; a room given out stays where it is */
	u->off = u->len == drop && !u->room ? 0 : u->off + drop;
	u->len -= drop;
	u->base += drop;
	if (u->len <= MESHD_UPLOAD_PAUSE / 2)
		set_paused(u, false);
}

/* Where a recorder stands (Mesh-Acked) is where we go on from, when we still have what
 * follows it. */
static bool resume_at(struct meshd_upload *u, uint64_t held)
{
	if (held > seg_total(u))
		return false;
	uint64_t from = u->seg_start + (held > u->prefix ? held - u->prefix : 0);
	if (from < u->base) /* it lost bytes it acknowledged, and so did we */
		return false;
	u->acked = held;
	return true;
}

static void on_answer(struct meshd_upload *u, const struct recorder_reply *r, const char *body,
		      size_t blen)
{
	char why[RECORDER_WHY_MAX + 64], a[ADDR_TEXT_MAX];
	uv_timer_stop(&u->timer);
	u->state = S_READY;
	u->conn->lz4 = r->lz4;
	uint64_t want = u->acked + u->sent;
	bool end = u->sent_end;
	u->sent = 0;
	u->sent_end = false;
	if (r->status == 200 && r->has_acked && r->acked == want) {
		u->acked = r->acked;
		u->fails = 0;
		u->conflicts = 0;
		u->trying_since = 0;
		mark(u->cfg, &u->recorders[u->cur], 0);
		if (!u->seg_logged) {
			u->seg_logged = true;
			log_info(subject, "%s: recording to %s", u->id, rec_addr(u, a));
		}
		if (!u->accepted) {
			u->accepted = true;
			if (!u->released && u->ev.accepted)
				u->ev.accepted(u->ctx);
		}
		trim(u);
		if (end) {
			log_info(subject, "%s: recorder %s holds all %" PRIu64 " bytes", u->id,
				 rec_addr(u, a), u->acked);
			finish(u);
			return;
		}
	} else if ((r->status == 409 || (r->status == 410 && end)) && r->has_acked &&
		   u->conflicts < UPLOAD_CONFLICTS_MAX && resume_at(u, r->acked)) {
		u->conflicts++;
		if (r->status == 410) { /* the end was taken, its answer lost */
			finish(u);
			return;
		}
		log_info(subject, "%s: recorder %s holds %" PRIu64 " bytes: going on from there",
			 u->id, rec_addr(u, a), r->acked);
		trim(u);
	} else {
		int bl = (int)(blen > 200 ? 200 : blen);
		while (bl > 0 && (body[bl - 1] == '\n' || body[bl - 1] == '\r'))
			bl--;
		snprintf(why, sizeof(why), "answered %u%s%.*s (Mesh-Acked %s%" PRIu64 ")",
			 r->status, bl ? ": " : "", bl, body, r->has_acked ? "" : "none, ",
			 r->acked);
		recorder_failed(u, why);
		return;
	}
	if (r->close) {
		abandon(u);
		try_next(u);
		return;
	}
	send_more(u);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	buf->base = c->rbuf + c->rlen;
	buf->len = sizeof(c->rbuf) - c->rlen;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	struct meshd_upload *u = c->u;
	char why[RECORDER_WHY_MAX];
	(void)buf;
	if (!u || nread == 0)
		return;
	if (nread < 0 && u->state == S_READY && c->rlen == 0) {
		/* an idle connection the recorder closed (its idle timeout, a restart): connect
		 * again, a moment later so a recorder that closes at once cannot spin us */
		log_debug(subject, "%s: recorder closed an idle connection: %s", u->id,
			  uv_strerror((int)nread));
		abandon(u);
		kick(u, 200);
		return;
	}
	if (nread < 0) {
		snprintf(why, sizeof(why), "connection lost: %s", uv_strerror((int)nread));
		recorder_failed(u, why);
		return;
	}
	c->rlen += (size_t)nread;
	struct recorder_reply r;
	int head = recorder_reply_parse(c->rbuf, c->rlen, &r, why);
	if (head < 0 || (head == 0 && c->rlen == sizeof(c->rbuf))) {
		recorder_failed(u, head < 0 ? why : "an answer too long");
		return;
	}
	if (head == 0 || c->rlen < (size_t)head + r.content_length)
		return;
	if (u->state != S_WAITING || c->rlen > (size_t)head + r.content_length) {
		recorder_failed(u, "an answer to no request");
		return;
	}
	c->rlen = 0;
	on_answer(u, &r, c->rbuf + head, (size_t)r.content_length);
}

static void on_written(uv_write_t *w, int status)
{
	struct conn *c = w->data;
	free(c->sendbuf);
	c->sendbuf = NULL;
	if (c->u && status < 0) {
		char why[96];
		snprintf(why, sizeof(why), "cannot send: %s", uv_strerror(status));
		recorder_failed(c->u, why);
	}
}

/* The next PUT's body: the rest of the header (a later segment's prefix), then the stream;
 * len bytes from acked, as one or two parts. */
static size_t body_parts(const struct meshd_upload *u, size_t len, struct rec_part p[static 2])
{
	size_t n = 0, k = 0;
	if (u->acked < u->prefix) {
		k = u->prefix - (size_t)u->acked;
		k = k < len ? k : len;
		p[n++] = (struct rec_part){ u->header + u->acked, k };
	}
	if (len > k) {
		uint64_t from = u->seg_start + (u->acked + k - u->prefix);
		p[n++] = (struct rec_part){ u->buf + u->off + (from - u->base), len - k };
	}
	return n;
}

enum { PUT_HEAD_MAX = RECORDER_ID_MAX + 384 }; /* the request head: id, offset, host, headers */

/* The next PUT, when there is something to send (or the end to say).  sendbuf holds the
 * request head right before the body (the body first: a coded one's length is known after). */
static void send_more(struct meshd_upload *u)
{
	struct conn *c = u->conn;
	uint64_t total = seg_total(u);
	if (u->state != S_READY || !c || (u->acked == total && !u->ended))
		return;
	uint64_t len64 = total - u->acked;
	size_t len = len64 > RECORDER_BODY_MAX ? RECORDER_BODY_MAX : (size_t)len64;
	bool end = u->ended && u->acked + len == total;
	bool lz4 = c->lz4 && len && (u->cfg->lz4 || rec_lz4_new(&u->cfg->lz4) == 0);
	struct rec_part parts[2];
	size_t np = body_parts(u, len, parts);
	size_t cap = lz4 ? rec_lz4_bound(parts, np) : len;
	c->sendbuf = malloc(PUT_HEAD_MAX + cap);
	if (!c->sendbuf) {
		recorder_failed(u, "out of memory");
		return;
	}
	char *body = c->sendbuf + PUT_HEAD_MAX;
	ssize_t blen = (ssize_t)len;
	if (lz4) {
		blen = rec_lz4_pack(u->cfg->lz4, parts, np, body, cap);
		/* Bytes LZ4 cannot shrink (a session printing base64 of random data) come out
		 * a little larger: such a body goes plain, which always fits the recorder's
		 * RECORDER_BODY_MAX (a coded one of 1 MiB + 83 bytes was answered 413). */
		lz4 = blen >= 0 && (size_t)blen < len;
		if (lz4) {
			u->cfg->lz4_plain += len;
			u->cfg->lz4_sent += (uint64_t)blen;
		} else if (blen >= 0) {
			blen = (ssize_t)len;
		}
	}
	if (!lz4 && blen >= 0) {
		for (size_t i = 0, at = 0; i < np; at += parts[i].len, i++)
			memcpy(body + at, parts[i].data, parts[i].len);
	}
	if (blen < 0) {
		free(c->sendbuf);
		c->sendbuf = NULL;
		recorder_failed(u, "out of memory");
		return;
	}
	char head[PUT_HEAD_MAX], a[ADDR_TEXT_MAX];
	int hn = snprintf(head, sizeof(head),
			  "PUT /v1/recordings/%s?offset=%" PRIu64 "%s HTTP/1.1\r\n"
			  "Host: %s\r\nContent-Type: application/x-asciicast\r\n%s"
			  "Content-Length: %zd\r\n\r\n",
			  u->id, u->acked, end ? "&end=1" : "", rec_addr(u, a),
			  lz4 ? "Content-Encoding: " REC_LZ4_CODING "\r\n" : "", blen);
	memcpy(body - hn, head, (size_t)hn);
	uv_buf_t b = uv_buf_init(body - hn, (unsigned)((size_t)hn + (size_t)blen));
	int e = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
	if (e < 0) {
		free(c->sendbuf);
		c->sendbuf = NULL;
		recorder_failed(u, uv_strerror(e));
		return;
	}
	u->sent = len;
	u->sent_end = end;
	u->state = S_WAITING;
	uv_timer_start(&u->timer, on_timeout, u->cfg->timeout_ms, 0);
}

/* The connection's handle, counted for shutdown (conn_closed). */
static int open_tcp(struct conn *c)
{
	int e = uv_tcp_init(c->cfg->loop, &c->tcp);
	if (e < 0)
		return e;
	c->tcp_init = true;
	c->tcp.data = c;
	c->cfg->handles++;
	return 0;
}

static void connected(struct meshd_upload *u)
{
	struct conn *c = u->conn;
	uv_timer_stop(&u->timer);
	int e = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (e < 0) {
		recorder_failed(u, uv_strerror(e));
		return;
	}
	u->state = S_READY;
	send_more(u);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	if (!c->u)
		return;
	if (status < 0) {
		char why[96];
		snprintf(why, sizeof(why), "cannot connect: %s", uv_strerror(status));
		recorder_failed(c->u, why);
		return;
	}
	connected(c->u);
}

/* Userspace mode: the embedded stack's connection, as a socket. */
static void on_ns_dial(void *ctx, int fd)
{
	struct conn *c = ctx;
	c->ns_dialing = false;
	if (!c->u) {
		if (fd >= 0)
			close(fd);
		free(c);
		return;
	}
	struct meshd_upload *u = c->u;
	if (fd < 0) {
		char why[96];
		snprintf(why, sizeof(why), "cannot connect: %s", strerror(-fd));
		recorder_failed(u, why);
		return;
	}
	int e = open_tcp(c), adopted = -1;
	if (e == 0)
		e = adopted = uv_tcp_open(&c->tcp, fd);
	if (e < 0) {
		if (adopted < 0) /* the handle did not take fd: ours to close */
			close(fd);
		recorder_failed(u, uv_strerror(e));
		return;
	}
	connected(u);
}

/* Dials the current recorder; a recorder other than the segment's starts a new segment
 * (its own recording, ID-2 ...: it has none of what the last one acknowledged) when the last
 * one took anything. */
static void try_next(struct meshd_upload *u)
{
	struct meshd_upload_config *cfg = u->cfg;
	if (u->cur != u->seg_recorder && u->acked) {
		u->segment++;
		snprintf(u->id, sizeof(u->id), "%.*s-%u", RECORDER_ID_MAX - 12, u->base_id,
			 u->segment);
		u->prefix = u->base ? u->hlen : 0;
		u->seg_start = u->base;
		u->acked = 0;
		u->seg_logged = false;
	}
	u->seg_recorder = u->cur; /* a segment nobody took goes to the next as it is */
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		recorder_failed(u, "out of memory");
		return;
	}
	c->u = u;
	c->cfg = cfg;
	c->creq.data = c;
	c->wreq.data = c;
	u->conn = c;
	u->state = S_DIALING;
	uv_timer_start(&u->timer, on_timeout, cfg->timeout_ms, 0);
	const struct addr_ip *ip = &u->recorders[u->cur];
	int e;
	if (cfg->node && meshd_node_userspace(cfg->node)) {
		c->ns_dialing = true;
		e = meshd_node_dial(cfg->node, ip->family, ip->bytes, cfg->port, on_ns_dial, c);
		if (e < 0)
			c->ns_dialing = false;
	} else {
		struct addr_endpoint ep = { .ip = *ip, .port = cfg->port };
		struct sockaddr_storage ss;
		addr_endpoint_to_sockaddr(&ep, &ss);
		e = open_tcp(c);
		if (e == 0)
			e = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&ss,
					   on_connect);
	}
	if (e < 0) {
		char why[96];
		snprintf(why, sizeof(why), "cannot connect: %s", uv_strerror(e));
		recorder_failed(u, why);
	}
}

static void on_kick(uv_timer_t *t)
{
	struct meshd_upload *u = t->data;
	if (u->state == S_IDLE && !u->conn)
		try_next(u);
	else
		send_more(u);
}

/* Sends (or connects again) from the loop after ms, when nothing is in flight. */
static void kick(struct meshd_upload *u, uint64_t ms)
{
	if ((u->state == S_READY || (u->state == S_IDLE && !u->conn)) &&
	    !uv_is_active((uv_handle_t *)&u->timer))
		uv_timer_start(&u->timer, on_kick, ms, 0);
}

int meshd_upload_new(struct meshd_upload_config *cfg, const struct addr_ip *recorders, size_t n,
		     const char *id, const void *header, size_t hlen,
		     const struct meshd_upload_events *ev, void *ctx, struct meshd_upload **out)
{
	if (!cfg->port)
		cfg->port = MESHD_RECORDER_PORT;
	if (!cfg->timeout_ms)
		cfg->timeout_ms = MESHD_UPLOAD_TIMEOUT_MS;
	struct meshd_upload *u = calloc(1, sizeof(*u));
	if (!u || !n || cfg->closing)
		goto fail;
	u->cfg = cfg;
	u->ev = *ev;
	u->ctx = ctx;
	u->n = n;
	u->recorders = malloc(n * sizeof(*recorders));
	u->header = malloc(hlen);
	u->cap = hlen > 65536 ? hlen : 65536;
	u->buf = malloc(u->cap);
	if (!u->recorders || !u->header || !u->buf)
		goto fail;
	memcpy(u->recorders, recorders, n * sizeof(*recorders));
	memcpy(u->header, header, hlen);
	memcpy(u->buf, header, hlen);
	u->hlen = u->len = hlen;
	snprintf(u->base_id, sizeof(u->base_id), "%s", id);
	snprintf(u->id, sizeof(u->id), "%s", id);
	u->segment = 1;
	uint64_t now = uv_now(cfg->loop);
	while (u->cur + 1 < n && down_lately(cfg, &recorders[u->cur], now))
		u->cur++;
	u->seg_recorder = u->cur;
	if (uv_timer_init(cfg->loop, &u->timer) < 0)
		goto fail;
	u->timer.data = u;
	cfg->handles++;
	u->next = cfg->live;
	cfg->live = u;
	/* the first dial starts from the loop, so no callback runs from inside _new */
	u->state = S_IDLE;
	uv_timer_start(&u->timer, on_kick, 0, 0);
	*out = u;
	return 0;
fail:
	if (u) {
		free(u->recorders);
		free(u->header);
		free(u->buf);
	}
	free(u);
	return -ENOMEM;
}

ssize_t meshd_upload_room(struct meshd_upload *u, size_t want, char **room)
{
	u->room = 0;
	if (u->state == S_DONE)
		return -EPIPE;
	size_t left = MESHD_UPLOAD_BUF_MAX - u->len;
	want = want < left ? want : left;
	if (u->off + u->len + want > u->cap && u->off) { /* what trim dropped makes room */
		memmove(u->buf, u->buf + u->off, u->len);
		u->off = 0;
	}
	if (u->len + want > u->cap) {
		size_t cap = u->cap * 2;
		while (cap < u->len + want)
			cap *= 2;
		cap = cap > MESHD_UPLOAD_BUF_MAX ? MESHD_UPLOAD_BUF_MAX : cap;
		char *b = realloc(u->buf, cap);
		if (!b)
			return -ENOMEM;
		u->buf = b;
		u->cap = cap;
	}
	/* never past MESHD_UPLOAD_BUF_MAX: cap is at most that */
	u->room = u->cap - u->off - u->len;
	*room = u->buf + u->off + u->len;
	return (ssize_t)u->room;
}

int meshd_upload_commit(struct meshd_upload *u, size_t len)
{
	if (u->state == S_DONE)
		return -EPIPE;
	if (len > u->room)
		return -EINVAL;
	u->room = 0;
	u->len += len;
	if (u->len > MESHD_UPLOAD_PAUSE)
		set_paused(u, true);
	kick(u, 0); /* from the loop: no callback from in here */
	return 0;
}

int meshd_upload_append(struct meshd_upload *u, const void *data, size_t len)
{
	char *p;
	ssize_t n = meshd_upload_room(u, len, &p);
	if (n == -EPIPE || n == -ENOMEM)
		return (int)n;
	if (n < 0 || (size_t)n < len) /* past MESHD_UPLOAD_BUF_MAX */
		return -ENOBUFS;
	memcpy(p, data, len);
	return meshd_upload_commit(u, len);
}

void meshd_upload_end(struct meshd_upload *u)
{
	u->released = true;
	u->ended = true;
	if (u->state == S_DONE) {
		if (u->timer_closed)
			upload_free(u);
		return;
	}
	if (u->cfg->closing)
		finish(u);
	else
		kick(u, 0);
}

void meshd_upload_close_all(struct meshd_upload_config *cfg, void (*done)(void *), void *arg)
{
	cfg->closing = true;
	cfg->done = done;
	cfg->done_arg = arg;
	while (cfg->live)
		finish(cfg->live);
	rec_lz4_free(cfg->lz4);
	cfg->lz4 = NULL;
	if (cfg->handles == 0 && done) {
		cfg->done = NULL;
		done(arg);
	}
}
