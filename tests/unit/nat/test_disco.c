/* Discovery messages: each type sealed by one node and opened by the other; a third
 * node's key, a flipped bit, the wrong claimed sender, a wrong version, an unknown type
 * and wrong lengths refused with the exact message; what cannot be encoded refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>

#include "check.h"
#include "nat/disco.h"

static uint8_t a_pub[32], a_priv[32], b_pub[32], b_priv[32], c_pub[32], c_priv[32];

/* Seals a raw payload as a would (to test what seal itself refuses to make). */
static size_t seal_raw(const uint8_t *plain, size_t len, uint8_t *out)
{
	static const uint8_t magic[6] = { 0xF0, 'm', 'e', 's', 'h', 0x01 };
	memcpy(out, magic, 6);
	memcpy(out + 6, a_pub, 32);
	randombytes_buf(out + 38, 24);
	CHECK_INT(crypto_box_easy(out + 62, plain, len, out + 38, b_pub, a_priv), 0);
	return 62 + crypto_box_MACBYTES + len;
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	crypto_box_keypair(a_pub, a_priv);
	crypto_box_keypair(b_pub, b_priv);
	crypto_box_keypair(c_pub, c_priv);
	uint8_t buf[NAT_DISCO_MAX];
	char err[160], text[INET6_ADDRSTRLEN];
	struct nat_disco_msg m = { .type = NAT_DISCO_PING }, back;

	/* ping */
	memset(m.txid, 7, sizeof(m.txid));
	memset(m.node_key, 9, sizeof(m.node_key));
	int n = nat_disco_seal(&m, a_pub, a_priv, b_pub, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK(nat_disco_looks_like(buf, (size_t)n));
	CHECK(memcmp(nat_disco_sender(buf, (size_t)n), a_pub, 32) == 0);
	CHECK_INT(nat_disco_open(buf, (size_t)n, a_pub, b_priv, &back, err, sizeof(err)), 0);
	CHECK_INT(back.type, NAT_DISCO_PING);
	CHECK(memcmp(back.txid, m.txid, 12) == 0 && memcmp(back.node_key, m.node_key, 32) == 0);

	/* not for c; not from c; one bit changed */
	CHECK_INT(nat_disco_open(buf, (size_t)n, a_pub, c_priv, &back, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "does not open with our key: forged or not for us");
	CHECK_INT(nat_disco_open(buf, (size_t)n, c_pub, b_priv, &back, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "sent with another discovery key");
	buf[n - 1] ^= 1;
	CHECK_INT(nat_disco_open(buf, (size_t)n, a_pub, b_priv, &back, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "does not open with our key: forged or not for us");

	/* pong, IPv4 and IPv6 sources */
	m.type = NAT_DISCO_PONG;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&m.src;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(41641);
	inet_pton(AF_INET, "198.18.0.20", &s4->sin_addr);
	n = nat_disco_seal(&m, a_pub, a_priv, b_pub, buf, sizeof(buf));
	CHECK_INT(nat_disco_open(buf, (size_t)n, a_pub, b_priv, &back, err, sizeof(err)), 0);
	CHECK_INT(back.type, NAT_DISCO_PONG);
	CHECK_INT(back.src.ss_family, AF_INET);
	CHECK_STR(
	    inet_ntop(AF_INET, &((struct sockaddr_in *)&back.src)->sin_addr, text, sizeof(text)),
	    "198.18.0.20");
	CHECK_INT(ntohs(((struct sockaddr_in *)&back.src)->sin_port), 41641);

	/* call-me-maybe with both families */
	memset(&m, 0, sizeof(m));
	m.type = NAT_DISCO_CALL_ME_MAYBE;
	m.n_cand = 2;
	struct sockaddr_in6 *c6 = (struct sockaddr_in6 *)&m.cand[1];
	memcpy(&m.cand[0], s4, sizeof(*s4));
	((struct sockaddr_in *)&m.cand[0])->sin_family = AF_INET;
	((struct sockaddr_in *)&m.cand[0])->sin_port = htons(1);
	inet_pton(AF_INET, "10.1.0.2", &((struct sockaddr_in *)&m.cand[0])->sin_addr);
	c6->sin6_family = AF_INET6;
	c6->sin6_port = htons(2);
	inet_pton(AF_INET6, "2001:db8::5", &c6->sin6_addr);
	n = nat_disco_seal(&m, a_pub, a_priv, b_pub, buf, sizeof(buf));
	CHECK_INT(nat_disco_open(buf, (size_t)n, a_pub, b_priv, &back, err, sizeof(err)), 0);
	CHECK_INT(back.n_cand, 2);
	CHECK_STR(inet_ntop(AF_INET, &((struct sockaddr_in *)&back.cand[0])->sin_addr, text,
			    sizeof(text)),
		  "10.1.0.2");
	CHECK_STR(inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&back.cand[1])->sin6_addr, text,
			    sizeof(text)),
		  "2001:db8::5");
	CHECK_INT(ntohs(((struct sockaddr_in6 *)&back.cand[1])->sin6_port), 2);

	/* what cannot be encoded */
	m.n_cand = 0;
	CHECK_INT(nat_disco_seal(&m, a_pub, a_priv, b_pub, buf, sizeof(buf)), -EINVAL);
	m.n_cand = NAT_DISCO_MAX_CANDIDATES + 1;
	CHECK_INT(nat_disco_seal(&m, a_pub, a_priv, b_pub, buf, sizeof(buf)), -EINVAL);
	m.n_cand = 1;
	m.cand[0].ss_family = AF_UNIX;
	CHECK_INT(nat_disco_seal(&m, a_pub, a_priv, b_pub, buf, sizeof(buf)), -EINVAL);
	m.type = 9;
	CHECK_INT(nat_disco_seal(&m, a_pub, a_priv, b_pub, buf, sizeof(buf)), -EINVAL);
	m.type = NAT_DISCO_PING;
	CHECK_INT(nat_disco_seal(&m, a_pub, a_priv, b_pub, buf, 60), -ENOSPC);

	/* malformed payloads, sealed properly: exact messages */
	static const struct {
		uint8_t plain[64];
		size_t len;
		const char *err;
	} bad[] = {
		{ { 1, 2 }, 46, "version 2 (we speak 1)" },
		{ { 1, 1 }, 45, "ping of 45 bytes (must be 46)" },
		{ { 2, 1 }, 33, "pong of 33 bytes (must be 32)" },
		{ { 3, 1 }, 2, "call-me-maybe of 2 bytes (1 to 16 candidates of 18 bytes)" },
		{ { 3, 1 }, 21, "call-me-maybe of 21 bytes (1 to 16 candidates of 18 bytes)" },
		{ { 7, 1 }, 20, "unknown discovery message type 7" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = seal_raw(bad[i].plain, bad[i].len, buf);
		CHECK_INT(nat_disco_open(buf, len, a_pub, b_priv, &back, err, sizeof(err)),
			  -EBADMSG);
		CHECK_STR(err, bad[i].err);
	}
	uint8_t big[2 + 17 * 18] = { 3, 1 };
	size_t len = seal_raw(big, sizeof(big), buf);
	CHECK_INT(nat_disco_open(buf, len, a_pub, b_priv, &back, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "call-me-maybe of 308 bytes (1 to 16 candidates of 18 bytes)");
	CHECK_INT(nat_disco_open(buf, 70, a_pub, b_priv, &back, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "70 bytes: too short for a discovery message");
	buf[0] = 0x01;
	CHECK_INT(nat_disco_open(buf, len, a_pub, b_priv, &back, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "not a discovery message");
	return check_finish();
}
