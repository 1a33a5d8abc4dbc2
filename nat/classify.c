/* Classification of a datagram on the shared socket (see classify.h).  The first byte
 * already separates the classes, so no datagram can be two things:
 *   WireGuard    0x01-0x04, then three zero bytes, so a length of at least 32;
 *   STUN         0x00-0x3F (top two bits zero); its length field is bytes 2-3, so one
 *                starting like WireGuard is a 20-byte message, never 32 or more, and
 *                is STUN when its length rules hold;
 *   ChannelData  0x40-0x4F (channel numbers 0x4000-0x4FFF, RFC 8656 12);
 *   discovery    0xF0 (nat/disco.h's magic).
 * Within its range each class must also match exactly (length rules below); everything
 * else is unknown.  The STUN and discovery rules are their codecs' own cheap tests, so
 * what those parsers accept is always classified as theirs. */
#include <stdarg.h>
#include <stdio.h>

#include "nat/classify.h"
#include "nat/disco.h"
#include "nat/internal.h"
#include "nat/stun.h"

enum {
	CHANNELDATA_HEADER = 4,
	CHANNELDATA_MAX_PAD = 3, /* RFC 8656 12.5: UDP may carry the padding to 4 bytes */
};

static const char *const wg_names[] = { "", "initiation", "response", "cookie reply", "data" };
static const size_t wg_lens[] = { 0, NAT_WG_INITIATION_LEN, NAT_WG_RESPONSE_LEN, NAT_WG_COOKIE_LEN,
				  NAT_WG_DATA_MIN_LEN };

static enum nat_class unknown(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum nat_class unknown(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return NAT_CLASS_UNKNOWN;
}

static enum nat_class wireguard(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	unsigned int type = buf[0];

	if (len < 4)
		return unknown(err, errlen, "%zu bytes: shorter than a WireGuard header", len);
	if (type == 4 ? len >= wg_lens[4] : len == wg_lens[type])
		return NAT_CLASS_WIREGUARD;
	/* a STUN message type 0x0100-0x0400 with no attributes (20 bytes) starts alike */
	if (nat_stun_looks_like(buf, len))
		return NAT_CLASS_STUN;
	return unknown(err, errlen, "WireGuard %s of %zu bytes (%s %zu)", wg_names[type], len,
		       type == 4 ? "at least" : "must be", wg_lens[type]);
}

static enum nat_class stun(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct nat_stun_msg m;
	char why[128];

	if (nat_stun_looks_like(buf, len))
		return NAT_CLASS_STUN;
	if (!err)
		return NAT_CLASS_UNKNOWN;
	if (len >= 8 && buf[4] == 0x21 && buf[5] == 0x12 && buf[6] == 0xA4 && buf[7] == 0x42) {
		/* the magic cookie: the parser's header checks name what is wrong */
		nat_stun_parse(buf, len, &m, why, sizeof(why));
		return unknown(err, errlen, "STUN: %s", why);
	}
	if (buf[0] >= 1 && buf[0] <= 4)
		return unknown(err, errlen, "WireGuard type %u with non-zero reserved bytes",
			       buf[0]);
	return unknown(err, errlen, "unknown first byte 0x%02x (%zu bytes)", buf[0], len);
}

static enum nat_class channeldata(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	size_t data;

	if (len < CHANNELDATA_HEADER)
		return unknown(err, errlen, "%zu bytes: shorter than a ChannelData header", len);
	data = (size_t)buf[2] << 8 | buf[3];
	if (data > len - CHANNELDATA_HEADER)
		return unknown(err, errlen, "ChannelData of %zu bytes in a datagram of %zu", data,
			       len);
	if (len - CHANNELDATA_HEADER - data > CHANNELDATA_MAX_PAD)
		return unknown(err, errlen,
			       "ChannelData of %zu bytes followed by %zu more (padding is at "
			       "most %d)",
			       data, len - CHANNELDATA_HEADER - data, CHANNELDATA_MAX_PAD);
	return NAT_CLASS_CHANNELDATA;
}

static enum nat_class disco(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	if (!nat_disco_looks_like(buf, len))
		return unknown(err, errlen, "first byte 0xf0 without the discovery magic");
	if (len < NAT_DISCO_MIN)
		return unknown(err, errlen, "discovery message of %zu bytes (at least %d)", len,
			       NAT_DISCO_MIN);
	if (len > NAT_DISCO_MAX)
		return unknown(err, errlen, "discovery message of %zu bytes (at most %d)", len,
			       NAT_DISCO_MAX);
	return NAT_CLASS_DISCO;
}

enum nat_class nat_classify_why(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = 0;
	if (len == 0)
		return unknown(err, errlen, "empty datagram");
	/* WireGuard first: it is nearly all the traffic */
	if (buf[0] >= 1 && buf[0] <= 4 && (len < 4 || (buf[1] | buf[2] | buf[3]) == 0))
		return wireguard(buf, len, err, errlen);
	if ((buf[0] & 0xC0) == 0)
		return stun(buf, len, err, errlen);
	if ((buf[0] & 0xF0) == 0x40)
		return channeldata(buf, len, err, errlen);
	if (buf[0] == 0xF0)
		return disco(buf, len, err, errlen);
	return unknown(err, errlen, "unknown first byte 0x%02x (%zu bytes)", buf[0], len);
}

enum nat_class nat_classify(const uint8_t *buf, size_t len)
{
	return nat_classify_why(buf, len, NULL, 0);
}

const char *nat_class_name(enum nat_class c)
{
	switch (c) {
	case NAT_CLASS_WIREGUARD:
		return "WireGuard";
	case NAT_CLASS_STUN:
		return "STUN";
	case NAT_CLASS_CHANNELDATA:
		return "ChannelData";
	case NAT_CLASS_DISCO:
		return "discovery";
	case NAT_CLASS_UNKNOWN:
		break;
	}
	return "unknown";
}
