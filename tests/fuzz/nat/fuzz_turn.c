/* Fuzz target for the TURN client's input: datagrams from the relay's address (anyone who
 * can spoof it) while an Allocate is in flight and a channel is bound.  The first input
 * byte picks whether the datagram reuses the pending request's transaction id (to reach
 * the answer handlers), the rest is the datagram.  Contract: no crash, data returned for
 * a peer lies inside the datagram, the state stays one of the four. */
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "nat/turn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drop(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct nat_turn t;
	if (nat_turn_init(&t, "1900000000:fuzz", "cGFzcw==", drop, NULL) != 0)
		abort();
	nat_turn_start(&t, 1000);
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(50001) };
	peer.sin_addr.s_addr = htonl(0xC6120000u | 11);
	nat_turn_add_peer(&t, (struct sockaddr *)&peer, 1000);
	t.peers[0].bound = data[0] & 2; /* as if bound: reach ChannelData */
	uint8_t *copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		abort();
	memcpy(copy, data + 1, size - 1);
	if ((data[0] & 1) && size - 1 >= NAT_STUN_HEADER)
		memcpy(copy + 8, t.txn[0].txid, NAT_STUN_TXID);
	struct sockaddr_storage from;
	const uint8_t *d = NULL;
	size_t dlen = 0;
	int rc = nat_turn_input(&t, copy, size - 1, 1010, &from, &d, &dlen);
	if (rc == 2 && (d < copy || d + dlen > copy + (size - 1)))
		abort();
	if (t.state > NAT_TURN_FAILED)
		abort();
	nat_turn_timer(&t, 5000);
	free(copy);
	return 0;
}
