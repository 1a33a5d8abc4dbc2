/* nat_classify: a numbered table of datagrams on the shared socket — each class at its
 * edges, and each near miss with the exact reason nat_classify_why() gives — then real
 * messages from the STUN builder and the discovery sealer, which must land in their own
 * class. */
#include <arpa/inet.h>
#include <sodium.h>

#include "check.h"
#include "nat/classify.h"
#include "nat/disco.h"
#include "nat/stun.h"

#define COOKIE 0x21, 0x12, 0xA4, 0x42
#define MAGIC 0xF0, 'm', 'e', 's', 'h', 0x01

struct row {
	int n; /* row number, for the failure message */
	uint8_t head[8];
	size_t head_len, len; /* bytes after head are zero */
	enum nat_class want;
	const char *why; /* UNKNOWN only */
};

static const struct row rows[] = {
	{ 1, { 0 }, 0, 0, NAT_CLASS_UNKNOWN, "empty datagram" },
	/* WireGuard: each type at its exact length, one byte off, reserved bytes */
	{ 2, { 1, 0, 0, 0 }, 4, 148, NAT_CLASS_WIREGUARD, NULL },
	{ 3,
	  { 1, 0, 0, 0 },
	  4,
	  147,
	  NAT_CLASS_UNKNOWN,
	  "WireGuard initiation of 147 bytes (must be 148)" },
	{ 4,
	  { 1, 0, 0, 0 },
	  4,
	  149,
	  NAT_CLASS_UNKNOWN,
	  "WireGuard initiation of 149 bytes (must be 148)" },
	{ 5, { 2, 0, 0, 0 }, 4, 92, NAT_CLASS_WIREGUARD, NULL },
	{ 6,
	  { 2, 0, 0, 0 },
	  4,
	  91,
	  NAT_CLASS_UNKNOWN,
	  "WireGuard response of 91 bytes (must be 92)" },
	{ 7, { 3, 0, 0, 0 }, 4, 64, NAT_CLASS_WIREGUARD, NULL },
	{ 8,
	  { 3, 0, 0, 0 },
	  4,
	  65,
	  NAT_CLASS_UNKNOWN,
	  "WireGuard cookie reply of 65 bytes (must be 64)" },
	{ 9, { 4, 0, 0, 0 }, 4, 32, NAT_CLASS_WIREGUARD, NULL },
	{ 10, { 4, 0, 0, 0 }, 4, 1452, NAT_CLASS_WIREGUARD, NULL },
	{ 11, { 4, 0, 0, 0 }, 4, 65535, NAT_CLASS_WIREGUARD, NULL },
	{ 12,
	  { 4, 0, 0, 0 },
	  4,
	  31,
	  NAT_CLASS_UNKNOWN,
	  "WireGuard data of 31 bytes (at least 32)" },
	{ 13, { 1, 0, 0 }, 3, 3, NAT_CLASS_UNKNOWN, "3 bytes: shorter than a WireGuard header" },
	{ 14, { 4 }, 1, 1, NAT_CLASS_UNKNOWN, "1 bytes: shorter than a WireGuard header" },
	{ 15,
	  { 1, 0, 1, 0 },
	  4,
	  148,
	  NAT_CLASS_UNKNOWN,
	  "WireGuard type 1 with non-zero reserved bytes" },
	{ 16,
	  { 4, 0, 0, 0x80 },
	  4,
	  64,
	  NAT_CLASS_UNKNOWN,
	  "WireGuard type 4 with non-zero reserved bytes" },
	{ 17, { 5, 0, 0, 0 }, 4, 148, NAT_CLASS_UNKNOWN, "unknown first byte 0x05 (148 bytes)" },
	{ 18, { 0, 0, 0, 0 }, 4, 32, NAT_CLASS_UNKNOWN, "unknown first byte 0x00 (32 bytes)" },
	/* a data message whose receiver index is the STUN cookie stays WireGuard */
	{ 19, { 4, 0, 0, 0, COOKIE }, 8, 32, NAT_CLASS_WIREGUARD, NULL },
	/* STUN: Binding request and success (first byte 1, like an initiation), the 20-byte
	 * message type 0x0100 that starts exactly like a WireGuard initiation */
	{ 20, { 0, 1, 0, 0, COOKIE }, 8, 20, NAT_CLASS_STUN, NULL },
	{ 21, { 1, 1, 0, 12, COOKIE }, 8, 32, NAT_CLASS_STUN, NULL },
	{ 22, { 1, 0, 0, 0, COOKIE }, 8, 20, NAT_CLASS_STUN, NULL },
	{ 23, { 0x3F, 0xFF, 0, 4, COOKIE }, 8, 24, NAT_CLASS_STUN, NULL },
	{ 24,
	  { 1, 0, 0, 0, COOKIE },
	  8,
	  24,
	  NAT_CLASS_UNKNOWN,
	  "WireGuard initiation of 24 bytes (must be 148)" },
	{ 25,
	  { 0, 1, 0, 12, COOKIE },
	  8,
	  36,
	  NAT_CLASS_UNKNOWN,
	  "STUN: message length 12 does not match the 16 bytes received" },
	{ 26,
	  { 0, 1, 0, 6, COOKIE },
	  8,
	  26,
	  NAT_CLASS_UNKNOWN,
	  "STUN: message length 6 is not a multiple of 4" },
	{ 27,
	  { 0, 1, 0, 0, COOKIE },
	  8,
	  19,
	  NAT_CLASS_UNKNOWN,
	  "STUN: 19 bytes: shorter than a STUN header" },
	{ 28,
	  { 0, 1, 0x10, 0, COOKIE },
	  8,
	  4116,
	  NAT_CLASS_UNKNOWN,
	  "STUN: 4116 bytes: longer than 4096" },
	{ 29,
	  { 0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x43 },
	  8,
	  20,
	  NAT_CLASS_UNKNOWN,
	  "unknown first byte 0x00 (20 bytes)" },
	{ 30,
	  { 0x80, 1, 0, 0, COOKIE },
	  8,
	  20,
	  NAT_CLASS_UNKNOWN,
	  "unknown first byte 0x80 (20 bytes)" },
	/* ChannelData: lowest and highest channel, empty data, padding to 4, one more */
	{ 31, { 0x40, 0, 0, 4 }, 4, 8, NAT_CLASS_CHANNELDATA, NULL },
	{ 32, { 0x4F, 0xFF, 0, 0 }, 4, 4, NAT_CLASS_CHANNELDATA, NULL },
	{ 33, { 0x40, 0, 0, 5 }, 4, 12, NAT_CLASS_CHANNELDATA, NULL },
	{ 34,
	  { 0x40, 0, 0, 5 },
	  4,
	  13,
	  NAT_CLASS_UNKNOWN,
	  "ChannelData of 5 bytes followed by 4 more (padding is at most 3)" },
	{ 35,
	  { 0x40, 0, 0, 16 },
	  4,
	  8,
	  NAT_CLASS_UNKNOWN,
	  "ChannelData of 16 bytes in a datagram of 8" },
	{ 36,
	  { 0x41, 0, 0 },
	  3,
	  3,
	  NAT_CLASS_UNKNOWN,
	  "3 bytes: shorter than a ChannelData header" },
	{ 37, { 0x40, 0, 0x05, 0xB0 }, 4, 1460, NAT_CLASS_CHANNELDATA, NULL },
	{ 38, { 0x50, 0, 0, 4 }, 4, 8, NAT_CLASS_UNKNOWN, "unknown first byte 0x50 (8 bytes)" },
	{ 39, { 0x3F, 0, 0, 4 }, 4, 8, NAT_CLASS_UNKNOWN, "unknown first byte 0x3f (8 bytes)" },
	/* discovery: shortest and longest, one byte beyond each, magic off by one byte */
	{ 40, { MAGIC }, 6, NAT_DISCO_MIN, NAT_CLASS_DISCO, NULL },
	{ 41, { MAGIC }, 6, NAT_DISCO_MAX, NAT_CLASS_DISCO, NULL },
	{ 42,
	  { MAGIC },
	  6,
	  NAT_DISCO_MIN - 1,
	  NAT_CLASS_UNKNOWN,
	  "discovery message of 79 bytes (at least 80)" },
	{ 43,
	  { MAGIC },
	  6,
	  NAT_DISCO_MAX + 1,
	  NAT_CLASS_UNKNOWN,
	  "discovery message of 513 bytes (at most 512)" },
	{ 44,
	  { 0xF0, 'm', 'e', 's', 'h', 0x02 },
	  6,
	  100,
	  NAT_CLASS_UNKNOWN,
	  "first byte 0xf0 without the discovery magic" },
	{ 45, { 0xF0 }, 1, 1, NAT_CLASS_UNKNOWN, "first byte 0xf0 without the discovery magic" },
	{ 46,
	  { 0xFF, 0xFF, 0xFF, 0xFF },
	  4,
	  148,
	  NAT_CLASS_UNKNOWN,
	  "unknown first byte 0xff (148 bytes)" },
};

static uint8_t buf[65536];

static void table(void)
{
	char why[160];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		memset(buf, 0, r->len + 1);
		memcpy(buf, r->head, r->head_len);
		memset(why, 'x', sizeof(why));
		enum nat_class got = nat_classify_why(buf, r->len, why, sizeof(why));
		if (got != r->want || (r->why && strcmp(why, r->why)) || (!r->why && why[0]))
			fprintf(stderr, "row %d: %s, \"%s\"\n", r->n, nat_class_name(got), why);
		CHECK_INT(got, r->want);
		CHECK_STR(why, r->why ? r->why : "");
		CHECK_INT(nat_classify(buf, r->len), r->want);
	}
}

/* Real messages from the codecs land in their class. */
static void codecs(void)
{
	uint8_t txid[NAT_STUN_TXID] = { 1, 2, 3 }, pub[32], priv[32], out[NAT_DISCO_MAX];
	struct nat_stun_builder b;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(3478) };
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);

	/* a Binding success with XOR-MAPPED-ADDRESS and FINGERPRINT: first byte 0x01 */
	nat_stun_build_begin(&b, buf, sizeof(buf), NAT_STUN_BINDING, NAT_STUN_SUCCESS, txid);
	nat_stun_add_xaddr(&b, NAT_STUN_XOR_MAPPED_ADDRESS, (struct sockaddr *)&sin);
	int n = nat_stun_build_end(&b, NULL, 0, true);
	CHECK(n > 0);
	CHECK_INT(buf[0], 0x01);
	CHECK_INT(nat_classify(buf, (size_t)n), NAT_CLASS_STUN);
	/* a ChannelBind error answer (0x0119) */
	nat_stun_build_begin(&b, buf, sizeof(buf), NAT_TURN_CHANNEL_BIND, NAT_STUN_ERROR, txid);
	n = nat_stun_build_end(&b, NULL, 0, false);
	CHECK_INT(nat_classify(buf, (size_t)n), NAT_CLASS_STUN);

	/* a sealed ping */
	CHECK(sodium_init() >= 0);
	crypto_box_keypair(pub, priv);
	struct nat_disco_msg m = { .type = NAT_DISCO_PING };
	n = nat_disco_seal(&m, pub, priv, pub, out, sizeof(out));
	CHECK(n > 0);
	CHECK_INT(nat_classify(out, (size_t)n), NAT_CLASS_DISCO);

	CHECK_STR(nat_class_name(NAT_CLASS_CHANNELDATA), "ChannelData");
	CHECK_STR(nat_class_name((enum nat_class)99), "unknown");
}

int main(void)
{
	table();
	codecs();
	return check_finish();
}
