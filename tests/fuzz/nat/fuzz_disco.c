/* Fuzz target for discovery messages: anyone on the network can send them to the
 * WireGuard socket.  The first byte picks the mode: the rest is either a raw datagram
 * (must be refused unless it opens, which random bytes never do) or a payload that is
 * sealed with a peer's real key first, so the payload parser behind the authentication
 * is reached.  Contract: no crash, candidates within bounds, and what opens re-seals to
 * a message that opens to the same content. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "nat/disco.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t a_pub[32], a_priv[32], b_pub[32], b_priv[32];

static void keys(void)
{
	static bool done;
	if (done)
		return;
	if (sodium_init() < 0)
		abort();
	/* fixed keys: runs are reproducible */
	uint8_t seed[32] = { 1 };
	crypto_box_seed_keypair(a_pub, a_priv, seed);
	seed[0] = 2;
	crypto_box_seed_keypair(b_pub, b_priv, seed);
	done = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	keys();
	uint8_t buf[NAT_DISCO_MAX + 64];
	size_t n;
	if (data[0] & 1) {
		static const uint8_t magic[6] = { 0xF0, 'm', 'e', 's', 'h', 0x01 };
		size_t len = size - 1;
		if (len > NAT_DISCO_MAX - 62 - crypto_box_MACBYTES)
			return 0;
		memcpy(buf, magic, 6);
		memcpy(buf + 6, a_pub, 32);
		memset(buf + 38, 0, 24);
		if (crypto_box_easy(buf + 62, data + 1, len, buf + 38, b_pub, a_priv) != 0)
			abort();
		n = 62 + crypto_box_MACBYTES + len;
	} else {
		n = size - 1 < sizeof(buf) ? size - 1 : sizeof(buf);
		memcpy(buf, data + 1, n);
	}
	uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
	if (!copy)
		abort();
	memcpy(copy, buf, n);
	struct nat_disco_msg m, again;
	char err[160];
	if (nat_disco_open(copy, n, a_pub, b_priv, &m, err, sizeof(err)) == 0) {
		if (m.n_cand > NAT_DISCO_MAX_CANDIDATES)
			abort();
		uint8_t out[NAT_DISCO_MAX];
		int len = nat_disco_seal(&m, a_pub, a_priv, b_pub, out, sizeof(out));
		if (len < 0 ||
		    nat_disco_open(out, (size_t)len, a_pub, b_priv, &again, err, sizeof(err)) !=
			0 ||
		    again.type != m.type || again.n_cand != m.n_cand ||
		    memcmp(again.txid, m.txid, sizeof(m.txid)) != 0)
			abort();
	}
	free(copy);
	return 0;
}
