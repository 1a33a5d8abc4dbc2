/* Fuzz target for the STUN parser: any datagram that reaches the WireGuard socket from
 * anyone on the network may be taken for STUN.  Checks the contract beyond "no crash":
 * a parsed message's attributes lie inside the datagram, at most NAT_STUN_MAX_ATTRS of
 * them, MESSAGE-INTEGRITY/FINGERPRINT offsets point at those attributes; the address,
 * error and seal checks answer without reading outside; and a message the builder makes
 * from the parsed attributes parses again to the same attributes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nat/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nat_stun_msg m, again;
	char err[160];
	uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees any overread */
	if (!copy)
		abort();
	memcpy(copy, data, size);
	bool looks = nat_stun_looks_like(copy, size);
	int rc = nat_stun_parse(copy, size, &m, err, sizeof(err));
	if (rc != 0 && rc != -EBADMSG)
		abort();
	if (rc == 0 && !looks)
		abort(); /* anything parsed passes the cheap test first */
	if (rc == 0) {
		if (m.n_attrs > NAT_STUN_MAX_ATTRS)
			abort();
		for (size_t i = 0; i < m.n_attrs; i++)
			if (m.attrs[i].val < copy || m.attrs[i].val + m.attrs[i].len > copy + size)
				abort();
		if (m.integrity_at &&
		    (m.integrity_at + 24 > size || copy[m.integrity_at + 1] != 0x08))
			abort();
		if (m.fingerprint_at && m.fingerprint_at + 8 != size)
			abort();
		struct sockaddr_storage ss;
		static const uint16_t addrs[] = { NAT_STUN_MAPPED_ADDRESS,
						  NAT_STUN_XOR_MAPPED_ADDRESS,
						  NAT_TURN_XOR_PEER_ADDRESS,
						  NAT_TURN_XOR_RELAYED_ADDRESS };
		for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
			nat_stun_get_addr(&m, addrs[i], &ss, err, sizeof(err));
		int code;
		char reason[32];
		if (nat_stun_get_error(&m, &code, reason, sizeof(reason)) == 0 &&
		    (code < 300 || code > 699 || strlen(reason) >= sizeof(reason)))
			abort();
		static const uint8_t key[16] = { 1 };
		nat_stun_check_integrity(&m, key, sizeof(key));
		nat_stun_check_fingerprint(&m);

		/* Rebuild without the seals: same attributes, in order. */
		uint8_t out[NAT_STUN_MAX_LEN];
		struct nat_stun_builder b;
		nat_stun_build_begin(&b, out, sizeof(out), m.method, m.cls, m.txid);
		size_t kept = 0;
		for (size_t i = 0; i < m.n_attrs; i++) {
			uint16_t t = m.attrs[i].type;
			if (t == NAT_STUN_MESSAGE_INTEGRITY || t == NAT_STUN_FINGERPRINT)
				continue;
			nat_stun_add(&b, t, m.attrs[i].val, m.attrs[i].len);
			kept++;
		}
		int n = nat_stun_build_end(&b, NULL, 0, false);
		if (n < 0)
			abort(); /* never longer than what was parsed */
		if (nat_stun_parse(out, (size_t)n, &again, err, sizeof(err)) != 0 ||
		    again.n_attrs != kept || again.method != m.method || again.cls != m.cls)
			abort();
	}
	free(copy);
	return 0;
}
