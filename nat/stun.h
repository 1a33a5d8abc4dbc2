/* STUN messages (RFC 8489) with the TURN methods and attributes (RFC 8656) our client uses:
 * a parser that turns one untrusted datagram into a bounded view of its attributes, checks
 * of MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT (CRC-32), and a builder for requests.
 *
 * Nothing here allocates or keeps state: a view points into the caller's buffer and lives
 * as long as it.  Every error names what was wrong, for the log; the caller drops the
 * datagram (a STUN client never answers a malformed message). */
#ifndef MESH_NAT_STUN_H
#define MESH_NAT_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum {
	NAT_STUN_HEADER = 20,
	NAT_STUN_MAX_LEN = 4096, /* longest message parsed or built (a datagram is < MTU) */
	NAT_STUN_MAGIC = 0x2112A442,
	NAT_STUN_TXID = 12,
	NAT_STUN_MAX_ATTRS = 32, /* more in one message is refused, not truncated */
	NAT_STUN_HMAC = 20,	 /* MESSAGE-INTEGRITY's value: HMAC-SHA1 */
	NAT_STUN_LT_KEY = 16,	 /* long-term credential key: MD5 */
};

enum nat_stun_method {
	NAT_STUN_BINDING = 0x001,
	NAT_TURN_ALLOCATE = 0x003,
	NAT_TURN_REFRESH = 0x004,
	NAT_TURN_SEND = 0x006,
	NAT_TURN_DATA = 0x007,
	NAT_TURN_CREATE_PERMISSION = 0x008,
	NAT_TURN_CHANNEL_BIND = 0x009,
};

enum nat_stun_class {
	NAT_STUN_REQUEST = 0,
	NAT_STUN_INDICATION = 1,
	NAT_STUN_SUCCESS = 2,
	NAT_STUN_ERROR = 3,
};

enum nat_stun_attr_type {
	NAT_STUN_MAPPED_ADDRESS = 0x0001,
	NAT_STUN_USERNAME = 0x0006,
	NAT_STUN_MESSAGE_INTEGRITY = 0x0008,
	NAT_STUN_ERROR_CODE = 0x0009,
	NAT_STUN_UNKNOWN_ATTRIBUTES = 0x000A,
	NAT_TURN_CHANNEL_NUMBER = 0x000C,
	NAT_TURN_LIFETIME = 0x000D,
	NAT_TURN_XOR_PEER_ADDRESS = 0x0012,
	NAT_TURN_DATA_ATTR = 0x0013,
	NAT_STUN_REALM = 0x0014,
	NAT_STUN_NONCE = 0x0015,
	NAT_TURN_XOR_RELAYED_ADDRESS = 0x0016,
	NAT_TURN_REQUESTED_TRANSPORT = 0x0019,
	NAT_STUN_XOR_MAPPED_ADDRESS = 0x0020,
	NAT_STUN_SOFTWARE = 0x8022,
	NAT_STUN_FINGERPRINT = 0x8028,
};

struct nat_stun_attr {
	uint16_t type, len;
	const uint8_t *val;
};

/* A parsed message: a view into the datagram it came from. */
struct nat_stun_msg {
	uint16_t method;
	enum nat_stun_class cls;
	uint8_t txid[NAT_STUN_TXID];
	const uint8_t *raw;
	size_t len;
	size_t integrity_at;   /* offset of MESSAGE-INTEGRITY's header; 0 = absent */
	size_t fingerprint_at; /* offset of FINGERPRINT's header; 0 = absent */
	struct nat_stun_attr attrs[NAT_STUN_MAX_ATTRS];
	size_t n_attrs;
};

/* Cheap test for the shared UDP socket: the two top bits zero, the magic cookie, a length
 * that is a multiple of 4 and matches the datagram.  Says nothing about the attributes. */
bool nat_stun_looks_like(const uint8_t *p, size_t n);

/* Parses one datagram (p, n) into m.  -EBADMSG with a message in err when the header or an
 * attribute is malformed, anything follows FINGERPRINT, or there are more than
 * NAT_STUN_MAX_ATTRS attributes.  Attributes after MESSAGE-INTEGRITY other than FINGERPRINT
 * are skipped, never seen by the caller (RFC 8489 14.5: they are not authenticated). */
int nat_stun_parse(const uint8_t *p, size_t n, struct nat_stun_msg *m, char *err, size_t errlen);

/* The first attribute of this type, or NULL. */
const struct nat_stun_attr *nat_stun_find(const struct nat_stun_msg *m, uint16_t type);

/* An address attribute: XOR-MAPPED/-PEER/-RELAYED (un-XORed with the cookie and, for
 * IPv6, the transaction id) or the plain MAPPED-ADDRESS.  -ENOENT when absent, -EBADMSG
 * (message in err) when malformed. */
int nat_stun_get_addr(const struct nat_stun_msg *m, uint16_t type, struct sockaddr_storage *out,
		      char *err, size_t errlen);

/* ERROR-CODE: the code (300..699) and its reason phrase (control characters replaced, cut
 * to fit).  -ENOENT when absent, -EBADMSG when malformed. */
int nat_stun_get_error(const struct nat_stun_msg *m, int *code, char *reason, size_t size);

/* 0 when MESSAGE-INTEGRITY is present and matches key (constant-time compare); -ENOENT
 * when absent; -EACCES when it does not match. */
int nat_stun_check_integrity(const struct nat_stun_msg *m, const uint8_t *key, size_t keylen);

/* 0 when FINGERPRINT is present and right; -ENOENT when absent; -EBADMSG when wrong. */
int nat_stun_check_fingerprint(const struct nat_stun_msg *m);

/* The long-term credential key MD5(username ":" realm ":" password) (RFC 8489 9.2.2).
 * No SASLprep: our credentials (TURN REST usernames, base64 passwords) are ASCII. */
void nat_stun_long_term_key(const char *username, const char *realm, const char *password,
			    uint8_t key[NAT_STUN_LT_KEY]);

/* True when a and b are the same IPv4 or IPv6 address and port (and scope, for link-local
 * IPv6): a relay, a mapping, a path; false for any other family. */
bool nat_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr *b);
/* "a.b.c.d:port" or "[v6]:port" ("none" for any other family), into out (len bytes). */
void nat_sockaddr_format(const struct sockaddr_storage *a, char *out, size_t len);

/* Building a message into a caller's buffer.  Errors stick: nat_stun_build_end() reports
 * -ENOSPC if anything did not fit. */
struct nat_stun_builder {
	uint8_t *buf;
	size_t cap, len;
	bool overflow;
};

void nat_stun_build_begin(struct nat_stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
			  enum nat_stun_class cls, const uint8_t txid[NAT_STUN_TXID]);
void nat_stun_add(struct nat_stun_builder *b, uint16_t type, const void *val, size_t len);
void nat_stun_add_u32(struct nat_stun_builder *b, uint16_t type, uint32_t v);
/* An XOR-* address attribute (IPv4 or IPv6 sockaddr). */
void nat_stun_add_xaddr(struct nat_stun_builder *b, uint16_t type, const struct sockaddr *sa);
/* Appends MESSAGE-INTEGRITY when key is not NULL, then FINGERPRINT when asked; returns the
 * message length, or -ENOSPC. */
int nat_stun_build_end(struct nat_stun_builder *b, const uint8_t *key, size_t keylen,
		       bool fingerprint);

#endif
