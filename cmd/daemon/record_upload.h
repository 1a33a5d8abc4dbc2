/* meshd's uploader: one session's asciicast lines streamed to the recorders its SSH rule
 * names (meshrecorder, protocol v1: cmd/recorder/proto.h), over the tailnet, on the loop.
 *
 *   struct meshd_upload *u;
 *   meshd_upload_new(&cfg, recorders, n, "1765000000-laptop-3", header, hlen, &ev, s, &u);
 *   meshd_upload_append(u, line, len);	// each event line; -ENOBUFS: the buffer is full
 *   n = meshd_upload_room(u, want, &p);	// or written in place: room for at least want
 *   meshd_upload_commit(u, k);		// ... of which the first k bytes are whole lines
 *   meshd_upload_end(u);			// the last line is in: upload the rest, end=1
 *
 * Recorders are tried in order, each for cfg.timeout_ms (dial, or an answer to a PUT); the
 * first that answers takes the recording (ev.accepted, once).  Bytes are kept until that
 * recorder acknowledges them (Mesh-Acked, after its fsync): at most MESHD_UPLOAD_BUF_MAX.
 * Past MESHD_UPLOAD_PAUSE of them ev.pause(true) asks the session to stop producing, and
 * ev.pause(false) lets it go on once they are taken.  A recorder that fails (a dial or
 * answer timeout, the connection lost, an answer that is not 200/409) is tried again with
 * what it has not acknowledged (a 409 says where it stands) for up to timeout_ms; then the
 * next recorder takes over, with a recording of its own, ID-2, ID-3 ..., when the last one
 * took part of it: that starts with the header and the first whole line not acknowledged,
 * so each file plays on its own.  A recorder given up on is remembered for 30 s (for every
 * session): a new upload starts at the first one not down, and one down gets a single try
 * instead of a whole timeout.  When
 * every recorder failed in a row, ev.failed(why) runs once and the upload stops (it keeps
 * nothing more).  No callback runs from inside meshd_upload_new; pause(true) may run from
 * inside meshd_upload_append (sshd_session_pause allows that), the others never do.
 *
 * Bodies go coded lz4 (rec/lz4.h) once a recorder offers it (Accept-Encoding: lz4 in an
 * answer on that connection); offsets stay in plain bytes.
 *
 * Addresses: in TUN mode the kernel routes a recorder's tailnet address through our TUN; in
 * userspace mode the connection goes through the embedded stack (meshd_node_dial).
 * After meshd_upload_end no callback runs; the upload frees itself once the recorder took
 * the end (or every recorder failed).  meshd_upload_close_all ends them all at shutdown. */
#ifndef MESH_MESHD_RECORD_UPLOAD_H
#define MESH_MESHD_RECORD_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "common/addr.h"

struct meshd_node;
struct meshd_upload;
struct rec_lz4;

enum {
	MESHD_UPLOAD_BUF_MAX = 4 << 20, /* bytes not yet acknowledged, per session */
	MESHD_UPLOAD_PAUSE =
	    2
	    << 20, /* ... past which the session is paused: one body in flight, the next filling */
	MESHD_UPLOAD_TIMEOUT_MS = 5000,
	MESHD_RECORDER_PORT = 80,   /* where recorders listen on their tailnet address */
	MESHD_UPLOAD_DOWN_MAX = 16, /* recorders remembered as down */
};

struct meshd_upload_config {
	uv_loop_t *loop;
	struct meshd_node *node; /* userspace mode dials through it (NULL: the kernel, tests) */
	uint16_t port;		 /* 0: MESHD_RECORDER_PORT */
	unsigned timeout_ms;	 /* 0: MESHD_UPLOAD_TIMEOUT_MS */
	/* the uploader's own (zero at first): live uploads and open handles, for shutdown; the
	 * recorders given up on lately */
	struct meshd_upload *live;
	struct {
		struct addr_ip ip;
		uint64_t until;
	} down[MESHD_UPLOAD_DOWN_MAX];
	unsigned handles;
	struct rec_lz4 *lz4;	      /* the packer (one loop: one for every upload) */
	uint64_t lz4_plain, lz4_sent; /* bodies sent coded (lz4): their plain bytes, and sent */
	bool closing;
	void (*done)(void *);
	void *done_arg;
};

struct meshd_upload_events {
	void (*accepted)(void *ctx);		    /* a recorder took the header */
	void (*failed)(void *ctx, const char *why); /* no recorder takes it */
	void (*pause)(void *ctx, bool paused);	    /* backpressure */
};

/* Copies recorders, id and header (the first line of the stream, which is also appended).
 * cfg outlives the upload.  0 or -ENOMEM. */
int meshd_upload_new(struct meshd_upload_config *cfg, const struct addr_ip *recorders, size_t n,
		     const char *id, const void *header, size_t hlen,
		     const struct meshd_upload_events *ev, void *ctx, struct meshd_upload **out);

/* One or more whole lines.  0, or -ENOBUFS past MESHD_UPLOAD_BUF_MAX (nothing kept),
 * -ENOMEM, or -EPIPE after ev.failed. */
int meshd_upload_append(struct meshd_upload *u, const void *data, size_t len);

/* Room at the stream's end to write the next lines in place (the asciicast writer escapes
 * straight into the upload's buffer: no copy): *room gets where, the return value how many
 * bytes: at least want, or all MESHD_UPLOAD_BUF_MAX leaves when that is less (lines that do
 * not fit it are what _append refuses with -ENOBUFS).  -EPIPE after ev.failed; -ENOMEM.
 * Nothing joins the stream before meshd_upload_commit; the room is good until the loop runs
 * or the next call on u.  No callback runs from in here. */
ssize_t meshd_upload_room(struct meshd_upload *u, size_t want, char **room);

/* The first len bytes of the last room given are one or more whole lines: they join the
 * stream, as _append's would.  0, -EINVAL when len is over that room (nothing joins), -EPIPE
 * after ev.failed.  pause(true) may run from in here, as from _append. */
int meshd_upload_commit(struct meshd_upload *u, size_t len);

/* The recorder the upload is on (the one that took it, or the one being tried), as text in
 * out, which is returned (meshctl sessions). */
const char *meshd_upload_recorder(const struct meshd_upload *u, char out[static ADDR_TEXT_MAX]);

/* The session ended: the rest goes up with end=1; no callback runs after this. */
void meshd_upload_end(struct meshd_upload *u);

/* Shutdown: every upload (ended or not) stops now; done runs once their handles are closed.
 * An upload not ended yet must still get its meshd_upload_end. */
void meshd_upload_close_all(struct meshd_upload_config *cfg, void (*done)(void *), void *arg);

#endif
