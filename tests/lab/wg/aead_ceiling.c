/* wg-aead-ceiling: single-core ChaCha20-Poly1305 throughput of libsodium on 1420-byte
 * packets, through wg/'s wrapper exactly as the send path uses it (in place, counter
 * nonce).  Prints "aead_mbit_per_s N".  Used by tests/bench/wg-throughput as the ceiling
 * a single-threaded data path can reach. */
#include <stdio.h>
#include <stdlib.h>

#include "common/now.h"
#include "wg/crypto.h"

enum { PACKET = 1420, MIN_NS = 1000000000 };

int main(int argc, char **argv)
{
	static uint8_t buf[PACKET + 16];
	uint8_t key[32] = { 1 };
	uint64_t n = 0, t0, t1;

	if (!wg__crypto_init())
		return 1;
	t0 = now_mono_ns();
	do {
		for (int i = 0; i < 1000; i++)
			wg__aead_encrypt(buf, buf, PACKET, NULL, 0, n++, key);
		t1 = now_mono_ns();
	} while (t1 - t0 < MIN_NS);
	printf("aead_mbit_per_s %.0f\n", (double)n * PACKET * 8 / ((double)(t1 - t0) / 1e3));
	return 0;
}
