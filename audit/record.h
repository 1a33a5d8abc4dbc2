/* audit/: the queue file's records (queue.c reads and writes them; tests check the bytes).
 *
 * The file: a header, then records.  The header of a file made since queues have an
 * identity: the 8-byte magic "MESHAQ2\n" and 16 random bytes, the queue's id (made when the
 * file is created; control tells a queue that started again at seq 1 by it).  A file made
 * before: "MESHAQ1\n" alone (no id; it stays so, compactions keep its header).  Records,
 * each
 *   u32 LE  payload length L (1 .. AUDIT_REC_PAYLOAD_MAX)
 *   u32 LE  CRC-32 (zlib's, IEEE) of the payload
 *   L bytes payload:
 *     'A' u64 LE seq                       an ack: every event with seq <= seq is gone
 *     'E' u64 LE seq, i64 LE time_ms, u8 type, then the 9 string members in the wire's
 *         order (conn, session, src, src_node, who, ssh_user, local_user, rule, detail),
 *         each u16 LE length + bytes (no NUL)
 * A record that does not check (short, bad length, bad CRC, a member the wire would
 * refuse) ends the file: a crash mid-append leaves at most one, and open cuts it off. */
#ifndef MESH_AUDIT_RECORD_H
#define MESH_AUDIT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"

#define AUDIT_FILE_MAGIC "MESHAQ2\n"
#define AUDIT_FILE_MAGIC_V1 "MESHAQ1\n" /* no queue id */
enum {
	AUDIT_FILE_MAGIC_LEN = 8,
	AUDIT_FILE_HEAD = AUDIT_FILE_MAGIC_LEN + AUDIT_QUEUE_ID_LEN, /* MESHAQ2's header */
	AUDIT_REC_HEAD = 8,
	AUDIT_REC_PAYLOAD_MAX = 1 + 8 + 8 + 1 + AUDIT_FIELD_COUNT * (2 + AUDIT_TEXT_MAX),
	AUDIT_REC_MAX = AUDIT_REC_HEAD + AUDIT_REC_PAYLOAD_MAX,
	AUDIT_REC_ACK_LEN = AUDIT_REC_HEAD + 1 + 8,
};

enum audit_rec_kind { AUDIT_REC_EVENT = 'E', AUDIT_REC_ACK = 'A' };

struct audit_record {
	enum audit_rec_kind kind;
	uint64_t ack;	       /* AUDIT_REC_ACK */
	struct audit_event ev; /* AUDIT_REC_EVENT */
};

enum audit_rec_status {
	AUDIT_REC_OK,
	AUDIT_REC_SHORT, /* the buffer ends inside the record (a torn append) */
	AUDIT_REC_BAD,	 /* it does not check; *why says how */
};

/* Writes r into buf (at least AUDIT_REC_MAX bytes); returns its length. */
size_t audit_record_encode(const struct audit_record *r, uint8_t *buf);
/* The record at the start of buf: *used gets its length when OK. */
enum audit_rec_status audit_record_decode(const uint8_t *buf, size_t len, struct audit_record *out,
					  size_t *used, const char **why);

#endif
