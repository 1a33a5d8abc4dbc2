/* Every WireGuard wire format and protocol constant, as in the paper and the kernel's
 * messages.h.  Multi-byte fields are little-endian on the wire; the structs are packed so
 * they can be laid over a received datagram after its length was checked. */
#ifndef MESH_WG_MESSAGES_H
#define MESH_WG_MESSAGES_H

#include <stdint.h>

enum noise_lengths {
	NOISE_PUBLIC_KEY_LEN = 32,
	NOISE_SYMMETRIC_KEY_LEN = 32,
	NOISE_TIMESTAMP_LEN = 12, /* TAI64N */
	NOISE_AUTHTAG_LEN = 16,
	NOISE_HASH_LEN = 32,
};

#define noise_encrypted_len(plain_len) ((plain_len) + NOISE_AUTHTAG_LEN)

#define WG_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define WG_IDENTIFIER "WireGuard v1 zx2c4 Jason@zx2c4.com"
#define WG_LABEL_MAC1 "mac1----"
#define WG_LABEL_COOKIE "cookie--"

enum cookie_values {
	COOKIE_SECRET_MAX_AGE = 120, /* seconds */
	COOKIE_SECRET_LATENCY = 5,   /* seconds */
	COOKIE_NONCE_LEN = 24,	     /* XChaCha20-Poly1305 */
	COOKIE_LEN = 16,
};

enum counter_values {
	COUNTER_BITS_TOTAL = 8192,
	COUNTER_WORD_BITS = 64,
	COUNTER_WORDS = COUNTER_BITS_TOTAL / COUNTER_WORD_BITS,
	COUNTER_WINDOW_SIZE = COUNTER_BITS_TOTAL - COUNTER_WORD_BITS,
};

/* Times in seconds. */
enum limits {
	REKEY_TIMEOUT = 5,
	REKEY_TIMEOUT_JITTER_MAX_MS = 333,
	KEEPALIVE_TIMEOUT = 10,
	REKEY_AFTER_TIME = 120,
	REJECT_AFTER_TIME = 180,
	REKEY_AFTER_TIME_RECV = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT, /* 165 */
	REKEY_ATTEMPT_TIME = 90,
	NEW_HANDSHAKE_AFTER_SEND = KEEPALIVE_TIMEOUT + REKEY_TIMEOUT, /* 15 */
	ZERO_KEYS_AFTER = REJECT_AFTER_TIME * 3,		      /* 540 */
	MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT,
	INITIATIONS_PER_SECOND = 50,
	INITIATION_MIN_INTERVAL_MS = 1000 / INITIATIONS_PER_SECOND, /* 20 ms */
	INITIATIONS_BURSTABLE = 5,
	MAX_STAGED_PACKETS = 128,
	MAX_PEERS_PER_DEVICE = 1 << 20,
	UNDER_LOAD_QUEUE_LEN = 64, /* handshakes per loop iteration that count as load */
};

#define REKEY_AFTER_MESSAGES (1ULL << 60)
#define REJECT_AFTER_MESSAGES (UINT64_MAX - COUNTER_WINDOW_SIZE - 1)

enum message_type {
	MESSAGE_INVALID = 0,
	MESSAGE_HANDSHAKE_INITIATION = 1,
	MESSAGE_HANDSHAKE_RESPONSE = 2,
	MESSAGE_HANDSHAKE_COOKIE = 3,
	MESSAGE_DATA = 4,
};

struct message_header {
	/* type as a little-endian u32: one type byte and three zero reserved bytes */
	uint32_t type;
} __attribute__((packed));

struct message_macs {
	uint8_t mac1[COOKIE_LEN];
	uint8_t mac2[COOKIE_LEN];
} __attribute__((packed));

struct message_handshake_initiation {
	struct message_header header;
	uint32_t sender_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_static[noise_encrypted_len(NOISE_PUBLIC_KEY_LEN)];
	uint8_t encrypted_timestamp[noise_encrypted_len(NOISE_TIMESTAMP_LEN)];
	struct message_macs macs;
} __attribute__((packed));

struct message_handshake_response {
	struct message_header header;
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_nothing[noise_encrypted_len(0)];
	struct message_macs macs;
} __attribute__((packed));

struct message_handshake_cookie {
	struct message_header header;
	uint32_t receiver_index;
	uint8_t nonce[COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[noise_encrypted_len(COOKIE_LEN)];
} __attribute__((packed));

struct message_data {
	struct message_header header;
	uint32_t key_idx;
	uint64_t counter;
	uint8_t encrypted_data[];
} __attribute__((packed));

enum message_sizes {
	MESSAGE_INITIATION_LEN = sizeof(struct message_handshake_initiation), /* 148 */
	MESSAGE_RESPONSE_LEN = sizeof(struct message_handshake_response),     /* 92 */
	MESSAGE_COOKIE_LEN = sizeof(struct message_handshake_cookie),	      /* 64 */
	MESSAGE_DATA_HEADER_LEN = sizeof(struct message_data),		      /* 16 */
	MESSAGE_MINIMUM_LENGTH = MESSAGE_DATA_HEADER_LEN + NOISE_AUTHTAG_LEN, /* keepalive: 32 */
	MESSAGE_PADDING_MULTIPLE = 16,
	MESSAGE_MAX_INNER = 65535,
};

_Static_assert(MESSAGE_INITIATION_LEN == 148, "initiation is 148 bytes");
_Static_assert(MESSAGE_RESPONSE_LEN == 92, "response is 92 bytes");
_Static_assert(MESSAGE_COOKIE_LEN == 64, "cookie reply is 64 bytes");
_Static_assert(MESSAGE_DATA_HEADER_LEN == 16, "data header is 16 bytes");

#endif
