/* Fuzz target for nat_classify: every datagram anyone sends to the WireGuard socket is
 * classified first.  Contract: exactly one class or none — checked against each
 * protocol's own test (wg/'s exact WireGuard check, which decides what ops.other gets; the
 * STUN codec's cheap test and its parser; ChannelData as the TURN client frames it with a
 * bound channel; the discovery opener's length and magic checks) — and a reason exactly
 * for the unknown ones. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nat/classify.h"
#include "nat/disco.h"
#include "nat/stun.h"
#include "nat/turn.h"
#include "wg/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore_send(void *ctx, const uint8_t *buf, size_t len)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees any overread */
	char why[160], err[160];
	if (!copy)
		abort();
	memcpy(copy, data, size);

	enum nat_class c = nat_classify_why(copy, size, why, sizeof(why));
	if (c != nat_classify(copy, size) || memchr(why, 0, sizeof(why)) == NULL)
		abort();
	if ((c == NAT_CLASS_UNKNOWN) != (why[0] != 0))
		abort(); /* a reason for exactly the unknown ones */

	/* each protocol's own view; at most one may claim the datagram */
	bool wg = wg__is_message(copy, size);
	bool stun = nat_stun_looks_like(copy, size);
	bool cd = size >= 4 && (copy[0] & 0xF0) == 0x40 &&
		  (size_t)(copy[2] << 8 | copy[3]) + 4 <= size &&
		  size - 4 - (size_t)(copy[2] << 8 | copy[3]) <= 3;
	bool disco =
	    nat_disco_looks_like(copy, size) && size >= NAT_DISCO_MIN && size <= NAT_DISCO_MAX;
	if (wg + stun + cd + disco > 1)
		abort();
	enum nat_class want = wg      ? NAT_CLASS_WIREGUARD
			      : stun  ? NAT_CLASS_STUN
			      : cd    ? NAT_CLASS_CHANNELDATA
			      : disco ? NAT_CLASS_DISCO
				      : NAT_CLASS_UNKNOWN;
	if (c != want)
		abort();

	/* what the parsers accept is classified as theirs */
	struct nat_stun_msg m;
	if (nat_stun_parse(copy, size, &m, err, sizeof(err)) == 0 && c != NAT_CLASS_STUN)
		abort();
	if (c == NAT_CLASS_CHANNELDATA) {
		/* the TURN client takes it as a peer's data once that channel is bound */
		struct nat_turn t;
		struct sockaddr_storage peer;
		const uint8_t *d;
		size_t dlen;
		if (nat_turn_init(&t, "u", "p", ignore_send, NULL))
			abort();
		t.n_peers = 1;
		t.peers[0].bound = true;
		t.peers[0].channel = (uint16_t)(copy[0] << 8 | copy[1]);
		if (nat_turn_input(&t, copy, size, 0, &peer, &d, &dlen) != 2 || d != copy + 4 ||
		    dlen != (size_t)(copy[2] << 8 | copy[3]))
			abort();
	}
	if (nat_disco_looks_like(copy, size)) {
		/* the opener refuses by length exactly what the classifier does */
		static const uint8_t key[32];
		struct nat_disco_msg dm;
		nat_disco_open(copy, size, key, key, &dm, err, sizeof(err));
		bool by_length = strstr(err, "bytes") != NULL;
		if (by_length != (c != NAT_CLASS_DISCO))
			abort();
	}
	free(copy);
	return 0;
}
