/* Discovery message encoding (see disco.h).  Payload, inside the box:
 *   type (1) | version (1, = 1) | body
 *   ping:          txid (12) | node key (32)
 *   pong:          txid (12) | address (16, IPv4 as ::ffff:a.b.c.d) | port (2)
 *   call-me-maybe: n x (address (16) | port (2)), 0 < n <= NAT_DISCO_MAX_CANDIDATES
 * Lengths are exact: anything longer or shorter is refused. */
#include "nat/disco.h"
#include "nat/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const uint8_t magic[NAT_DISCO_MAGIC_LEN] = { 0xF0, 'm', 'e', 's', 'h', 0x01 };

enum {
	VERSION = 1,
	ADDR_LEN = 18,
	PING_LEN = 2 + NAT_DISCO_TXID + 32,
	PONG_LEN = 2 + NAT_DISCO_TXID + ADDR_LEN,
	NONCE = crypto_box_NONCEBYTES,
	MAX_PLAIN = 2 + NAT_DISCO_MAX_CANDIDATES * ADDR_LEN,
};
_Static_assert(NAT_DISCO_MIN == NAT_DISCO_HEADER + crypto_box_MACBYTES + 2, "disco.h's minimum");

bool nat_disco_looks_like(const uint8_t *p, size_t n)
{
	return n >= NAT_DISCO_MAGIC_LEN && memcmp(p, magic, NAT_DISCO_MAGIC_LEN) == 0;
}

const uint8_t *nat_disco_sender(const uint8_t *p, size_t n)
{
	return n >= NAT_DISCO_MAGIC_LEN + NAT_DISCO_KEY ? p + NAT_DISCO_MAGIC_LEN : NULL;
}

static int put_addr(uint8_t *p, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		memset(p, 0, 10);
		p[10] = p[11] = 0xff;
		memcpy(p + 12, &in->sin_addr, 4);
		memcpy(p + 16, &in->sin_port, 2);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		memcpy(p, &in6->sin6_addr, 16);
		memcpy(p + 16, &in6->sin6_port, 2);
		return 0;
	}
	return -EINVAL;
}

static void get_addr(const uint8_t *p, struct sockaddr_storage *ss)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	memset(ss, 0, sizeof(*ss));
	if (memcmp(p, v4mapped, 12) == 0) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, p + 12, 4);
		memcpy(&in->sin_port, p + 16, 2);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, p, 16);
		memcpy(&in6->sin6_port, p + 16, 2);
	}
}

int nat_disco_seal(const struct nat_disco_msg *m, const uint8_t my_pub[NAT_DISCO_KEY],
		   const uint8_t my_priv[NAT_DISCO_KEY], const uint8_t their_pub[NAT_DISCO_KEY],
		   uint8_t *out, size_t cap)
{
	uint8_t plain[MAX_PLAIN];
	size_t len = 2;
	plain[0] = (uint8_t)m->type;
	plain[1] = VERSION;
	switch (m->type) {
	case NAT_DISCO_PING:
		memcpy(plain + len, m->txid, NAT_DISCO_TXID);
		memcpy(plain + len + NAT_DISCO_TXID, m->node_key, 32);
		len = PING_LEN;
		break;
	case NAT_DISCO_PONG:
		memcpy(plain + len, m->txid, NAT_DISCO_TXID);
		if (put_addr(plain + len + NAT_DISCO_TXID, &m->src))
			return -EINVAL;
		len = PONG_LEN;
		break;
	case NAT_DISCO_CALL_ME_MAYBE:
		if (m->n_cand == 0 || m->n_cand > NAT_DISCO_MAX_CANDIDATES)
			return -EINVAL;
		for (size_t i = 0; i < m->n_cand; i++, len += ADDR_LEN)
			if (put_addr(plain + len, &m->cand[i]))
				return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	size_t total = NAT_DISCO_HEADER + crypto_box_MACBYTES + len;
	if (total > cap || total > NAT_DISCO_MAX)
		return -ENOSPC;
	memcpy(out, magic, NAT_DISCO_MAGIC_LEN);
	memcpy(out + NAT_DISCO_MAGIC_LEN, my_pub, NAT_DISCO_KEY);
	uint8_t *nonce = out + NAT_DISCO_MAGIC_LEN + NAT_DISCO_KEY;
	randombytes_buf(nonce, NONCE);
	if (crypto_box_easy(out + NAT_DISCO_HEADER, plain, len, nonce, their_pub, my_priv) != 0)
		return -EINVAL; /* their key is a weak point: nothing to send */
	return (int)total;
}

int nat_disco_open(const uint8_t *p, size_t n, const uint8_t sender_pub[NAT_DISCO_KEY],
		   const uint8_t my_priv[NAT_DISCO_KEY], struct nat_disco_msg *m, char *err,
		   size_t errlen)
{
	memset(m, 0, sizeof(*m));
	if (!nat_disco_looks_like(p, n))
		return nat__fail(err, errlen, "not a discovery message");
	if (n < NAT_DISCO_MIN)
		return nat__fail(err, errlen, "%zu bytes: too short for a discovery message", n);
	if (n > NAT_DISCO_MAX)
		return nat__fail(err, errlen, "%zu bytes: longer than %d", n, NAT_DISCO_MAX);
	if (sodium_memcmp(p + NAT_DISCO_MAGIC_LEN, sender_pub, NAT_DISCO_KEY) != 0)
		return nat__fail(err, errlen, "sent with another discovery key");
	size_t len = n - NAT_DISCO_HEADER - crypto_box_MACBYTES;
	uint8_t plain[NAT_DISCO_MAX];
	if (crypto_box_open_easy(plain, p + NAT_DISCO_HEADER, n - NAT_DISCO_HEADER,
				 p + NAT_DISCO_MAGIC_LEN + NAT_DISCO_KEY, sender_pub, my_priv) != 0)
		return nat__fail(err, errlen, "does not open with our key: forged or not for us");
	if (plain[1] != VERSION)
		return nat__fail(err, errlen, "version %u (we speak %d)", plain[1], VERSION);
	m->type = (enum nat_disco_type)plain[0];
	switch (plain[0]) {
	case NAT_DISCO_PING:
		if (len != PING_LEN)
			return nat__fail(err, errlen, "ping of %zu bytes (must be %d)", len,
					 PING_LEN);
		memcpy(m->txid, plain + 2, NAT_DISCO_TXID);
		memcpy(m->node_key, plain + 2 + NAT_DISCO_TXID, 32);
		return 0;
	case NAT_DISCO_PONG:
		if (len != PONG_LEN)
			return nat__fail(err, errlen, "pong of %zu bytes (must be %d)", len,
					 PONG_LEN);
		memcpy(m->txid, plain + 2, NAT_DISCO_TXID);
		get_addr(plain + 2 + NAT_DISCO_TXID, &m->src);
		return 0;
	case NAT_DISCO_CALL_ME_MAYBE:
		if (len <= 2 || (len - 2) % ADDR_LEN ||
		    (len - 2) / ADDR_LEN > NAT_DISCO_MAX_CANDIDATES)
			return nat__fail(
			    err, errlen,
			    "call-me-maybe of %zu bytes (1 to %d candidates of %d bytes)", len,
			    NAT_DISCO_MAX_CANDIDATES, ADDR_LEN);
		m->n_cand = (len - 2) / ADDR_LEN;
		for (size_t i = 0; i < m->n_cand; i++)
			get_addr(plain + 2 + i * ADDR_LEN, &m->cand[i]);
		return 0;
	default:
		return nat__fail(err, errlen, "unknown discovery message type %u", plain[0]);
	}
}
