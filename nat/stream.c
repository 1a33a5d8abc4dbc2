/* The framing of STUN and ChannelData on a byte stream (see stream.h).  A message is
 * gathered in three steps so that a wrong header is refused as early as the bytes allow:
 * the first 4 bytes (its kind and length), for STUN the next 4 (the magic cookie), then the
 * rest.  Nothing longer than NAT_STREAM_MAX_MSG is ever buffered. */
#include "nat/stream.h"
#include "nat/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum {
	KIND_HEADER = 4, /* enough to know the kind and the length of either */
	COOKIE_END = 8,
};

static size_t pad4(size_t n)
{
	return (4 - (n & 3)) & 3;
}

static bool is_stun(uint8_t b0)
{
	return (b0 & 0xC0) == 0;
}

static bool is_channeldata(uint8_t b0)
{
	return (b0 & 0xF0) == 0x40;
}

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

void nat_stream_init(struct nat_stream *s)
{
	memset(s, 0, sizeof(*s));
}

/* The first 4 bytes are in: the message's whole length, or skip it, or refuse it. */
static int on_header(struct nat_stream *s)
{
	size_t len = be16(s->buf + 2);
	if (is_channeldata(s->buf[0])) {
		uint32_t ch = be16(s->buf);
		if (ch > NAT_STREAM_LAST_CHANNEL)
			return nat__fail(s->why, sizeof(s->why),
					 "relay stream: ChannelData at offset %" PRIu64
					 " on channel 0x%04x, not one of ours (0x%04x-0x%04x)",
					 s->msg_at, ch, NAT_TURN_CHANNEL_FIRST,
					 NAT_STREAM_LAST_CHANNEL);
		if (KIND_HEADER + len > NAT_STREAM_MAX_MSG) {
			s->skip = len + pad4(len);
			s->have = 0;
			s->oversized++;
			return 0;
		}
		s->need = KIND_HEADER + len;
		return 0;
	}
	if (!is_stun(s->buf[0]))
		return nat__fail(s->why, sizeof(s->why),
				 "relay stream: byte 0x%02x at offset %" PRIu64
				 " starts neither a STUN message nor ChannelData",
				 s->buf[0], s->msg_at);
	if (len & 3)
		return nat__fail(s->why, sizeof(s->why),
				 "relay stream: STUN message at offset %" PRIu64
				 " has length %zu, not a multiple of 4",
				 s->msg_at, len);
	if (NAT_STUN_HEADER + len > NAT_STREAM_MAX_MSG)
		return nat__fail(s->why, sizeof(s->why),
				 "relay stream: STUN message at offset %" PRIu64
				 " of %zu bytes is longer than %d",
				 s->msg_at, NAT_STUN_HEADER + len, NAT_STREAM_MAX_MSG);
	s->need = NAT_STUN_HEADER + len;
	return 0;
}

static int on_cookie(struct nat_stream *s)
{
	uint32_t cookie = be16(s->buf + 4) << 16 | be16(s->buf + 6);
	if (cookie != NAT_STUN_MAGIC)
		return nat__fail(s->why, sizeof(s->why),
				 "relay stream: STUN message at offset %" PRIu64
				 " without the magic cookie (0x%08x)",
				 s->msg_at, cookie);
	return 0;
}

int nat_stream_next(struct nat_stream *s, const uint8_t **p, size_t *n, const uint8_t **msg,
		    size_t *len)
{
	if (s->why[0])
		return -EBADMSG;
	while (*n > 0) {
		size_t k;
		if (s->skip) {
			k = s->skip < *n ? s->skip : *n;
			s->skip -= k;
		} else {
			size_t want = KIND_HEADER;
			if (s->need && is_stun(s->buf[0]) && s->have < COOKIE_END)
				want = COOKIE_END;
			else if (s->need)
				want = s->need;
			if (s->have == 0)
				s->msg_at = s->offset;
			k = want - s->have < *n ? want - s->have : *n;
			memcpy(s->buf + s->have, *p, k);
			s->have += k;
		}
		*p += k;
		*n -= k;
		s->offset += k;
		int rc = 0;
		if (s->skip || s->have == 0)
			continue;
		if (!s->need && s->have == KIND_HEADER)
			rc = on_header(s);
		else if (s->need && is_stun(s->buf[0]) && s->have == COOKIE_END)
			rc = on_cookie(s);
		if (rc < 0)
			return rc;
		if (s->need && s->have == s->need) {
			*msg = s->buf;
			*len = s->need;
			s->skip = is_stun(s->buf[0]) ? 0 : pad4(s->need);
			s->have = 0;
			s->need = 0;
			return 1;
		}
	}
	return 0;
}

int nat_stream_frame(uint8_t *buf, size_t len, size_t cap)
{
	if (len >= NAT_STUN_HEADER && is_stun(buf[0]) && NAT_STUN_HEADER + be16(buf + 2) == len &&
	    !(len & 3))
		return (int)len;
	return nat_stream_frame_data(buf, len, cap);
}

int nat_stream_frame_data(uint8_t *buf, size_t len, size_t cap)
{
	if (len < KIND_HEADER || !is_channeldata(buf[0]) || be16(buf) > NAT_STREAM_LAST_CHANNEL ||
	    KIND_HEADER + be16(buf + 2) != len)
		return -EINVAL;
	size_t pad = pad4(len);
	if (len + pad > cap)
		return -ENOSPC;
	memset(buf + len, 0, pad);
	return (int)(len + pad);
}
