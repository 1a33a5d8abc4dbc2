/* STUN messages and ChannelData on a byte stream: TURN over TCP or TLS (RFC 8656 12.5), for
 * nodes whose network lets only TCP 443 out.  Without I/O: the caller feeds the bytes it
 * read (plaintext, after nat/tls.h for TLS) in chunks of any size, and gets whole messages
 * back, each ready for nat_turn_input().
 *
 *	struct nat_stream s;
 *	nat_stream_init(&s);
 *	...on each read of (p, n):
 *	while ((rc = nat_stream_next(&s, &p, &n, &msg, &len)) == 1)
 *		nat_turn_input(&turn, msg, len, now, ...);
 *	if (rc < 0)
 *		close the connection; s.why says why (once broken, it stays broken)
 *
 * Framing: a STUN message is delimited by its length field (20 + length bytes, a multiple
 * of 4); ChannelData by its own (4 + length), then padded to a multiple of 4, the padding
 * skipped.  The relay is the only sender (a TCP connection we opened, or TLS with a
 * verified certificate), but a plain TCP stream can be written into by anyone on the path,
 * so: at most NAT_STREAM_MAX_MSG bytes are ever buffered, and anything that is neither STUN
 * nor ChannelData on one of our channels (0x4000 up to NAT_STREAM_LAST_CHANNEL: text such
 * as "HTTP/1.1" would otherwise pass for ChannelData), or a STUN message longer than that
 * bound, breaks the stream (its framing is lost: nothing after it can be trusted to start a
 * message).  A ChannelData message longer than the bound is a peer's datagram too large
 * for us (the relay passes whatever a peer sends, up to 64 KiB): it is skipped without
 * being buffered and counted in `oversized`, and the stream goes on, as a too-large
 * datagram would be dropped on UDP. */
#ifndef MESH_NAT_STREAM_H
#define MESH_NAT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "nat/stun.h"
#include "nat/turn.h"

enum {
	NAT_STREAM_MAX_MSG = NAT_STUN_MAX_LEN, /* longest message buffered (STUN or ChannelData) */
	/* the channels nat_turn binds; ChannelData on any other is garbage */
	NAT_STREAM_LAST_CHANNEL = NAT_TURN_CHANNEL_FIRST + NAT_TURN_MAX_PEERS - 1,
};

struct nat_stream {
	uint8_t buf[NAT_STREAM_MAX_MSG];
	size_t have;	    /* bytes of the current message in buf */
	size_t need;	    /* its whole length, once its header is known; else 0 */
	size_t skip;	    /* bytes still to be skipped: padding, or an oversized ChannelData */
	uint64_t offset;    /* stream offset of the next byte, for the error messages */
	uint64_t msg_at;    /* stream offset of the current message */
	uint64_t oversized; /* ChannelData messages skipped for their length */
	char why[160];	    /* set when broken */
};

/* An empty reassembler. */
void nat_stream_init(struct nat_stream *s);

/* Consumes bytes from (*p, *n), advancing both, until one whole message is buffered: then
 * returns 1 with (*msg, *len) pointing at it (ChannelData without its padding), valid until
 * the next call.  0 when every byte was consumed without completing a message.  -EBADMSG
 * with a sentence in s->why when the stream is broken (and on every call after). */
int nat_stream_next(struct nat_stream *s, const uint8_t **p, size_t *n, const uint8_t **msg,
		    size_t *len);

/* Frames a message that is in buf (len bytes, cap the buffer's size) for a stream: a
 * ChannelData message gets zero padding to a multiple of 4; a STUN message already is one.
 * Returns the length to send, or -ENOSPC when the padding does not fit, -EINVAL when buf
 * holds neither kind of message. */
int nat_stream_frame(uint8_t *buf, size_t len, size_t cap);
/* The same for ChannelData only, on one of nat_turn's channels (a datagram of WireGuard's for
 * a peer): -EINVAL for a STUN message too, which only our TURN client may send on the stream. */
int nat_stream_frame_data(uint8_t *buf, size_t len, size_t cap);

#endif
