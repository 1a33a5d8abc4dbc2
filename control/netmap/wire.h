/* control/netmap/wire.h: the node protocol's envelope (see docs/control-protocol.md).
 *
 * Every request body is  "MSH1" | machine public key (32) | nonce (24) | box, where box is
 * libsodium crypto_box_easy (X25519, XSalsa20-Poly1305) from the machine key to the
 * server key over  timestamp (8, big-endian unix milliseconds) | JSON.  The server refuses
 * timestamps more than CTL_WIRE_MAX_SKEW_MS away from its clock and nonces it has seen in
 * that window.  Every response body is  nonce (24) | box  from the server key to the
 * machine key over  request nonce (24) | JSON, so a response only ever answers the request
 * it was made for.  Plain HTTP carries it; nothing in it is readable or forgeable without
 * one of the two private keys. */
#ifndef MESH_CONTROL_WIRE_H
#define MESH_CONTROL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CTL_WIRE_MAGIC_LEN = 4,
	CTL_WIRE_NONCE_LEN = 24,
	CTL_WIRE_MAC_LEN = 16,
	CTL_WIRE_TS_LEN = 8,
	CTL_WIRE_REQ_HDR = CTL_WIRE_MAGIC_LEN + 32 + CTL_WIRE_NONCE_LEN,
	CTL_WIRE_MAX_BODY = 4 << 20, /* 4 MiB: a full netmap of several thousand peers */
	CTL_WIRE_MAX_SKEW_MS = 120 * 1000,
};

#define CTL_WIRE_MAGIC "MSH1"

/* Seal a request.  *out is malloc'd; nonce_out receives the nonce to match the answer. */
int ctl_wire_seal_request(const uint8_t server_pub[static 32], const uint8_t machine_pub[static 32],
			  const uint8_t machine_priv[static 32], uint64_t now_ms, const char *json,
			  size_t len, uint8_t **out, size_t *outlen,
			  uint8_t nonce_out[static CTL_WIRE_NONCE_LEN]);

/* Split a request body without decrypting: checks the magic and the length.  Returns
 * false with a message naming the problem. */
bool ctl_wire_peek_request(const uint8_t *body, size_t len, const uint8_t **machine_pub,
			   const char **why);

/* Open a request sealed to server_priv.  On success *plain (malloc'd, NUL-terminated,
 * without the timestamp; it may hold NUL bytes, use *plainlen) and *ts_ms are set.  Returns false
 * with *why when the body is malformed or does not authenticate. */
bool ctl_wire_open_request(const uint8_t server_priv[static 32], const uint8_t *body, size_t len,
			   uint8_t machine_pub[static 32], uint8_t nonce[static CTL_WIRE_NONCE_LEN],
			   uint64_t *ts_ms, char **plain, size_t *plainlen, const char **why);

/* Seal a response to machine_pub answering the request with req_nonce. */
int ctl_wire_seal_response(const uint8_t machine_pub[static 32],
			   const uint8_t server_priv[static 32],
			   const uint8_t req_nonce[static CTL_WIRE_NONCE_LEN], const char *json,
			   size_t len, uint8_t **out, size_t *outlen);

/* Open a response; false unless it authenticates and answers req_nonce. */
bool ctl_wire_open_response(const uint8_t server_pub[static 32],
			    const uint8_t machine_priv[static 32],
			    const uint8_t req_nonce[static CTL_WIRE_NONCE_LEN], const uint8_t *body,
			    size_t len, char **plain, size_t *plainlen, const char **why);

/* Sealing and opening keep crypto_box's precomputed key per (public, private) pair in a
 * bounded table of the process (wire.c says why).  Whether a pair's key is kept shows in
 * the time a seal or an open takes (one X25519 more on a miss): acceptable, as it tells
 * only that these two keys, both public, talked lately; the shared key itself never leaves
 * the table but in a wiped copy.  Entries are wiped when replaced and at exit; forget wipes
 * them all now (a server key retired): the number that were kept. */
size_t ctl_wire_keys_forget(void);
/* How many keys were made and kept since the process started (each one X25519): a miss of
 * the table costs one. */
uint64_t ctl_wire_keys_made(void);

/* A replay cache of request nonces seen within CTL_WIRE_MAX_SKEW_MS (not thread-safe). */
struct ctl_replay;
int ctl_replay_new(struct ctl_replay **out);
void ctl_replay_free(struct ctl_replay *r);
/* True (and remembered) when the nonce is fresh and ts_ms within the skew of now_ms. */
bool ctl_replay_check(struct ctl_replay *r, const uint8_t nonce[static CTL_WIRE_NONCE_LEN],
		      uint64_t ts_ms, uint64_t now_ms, const char **why);

#endif
