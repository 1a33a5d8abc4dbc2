/* audit/: the node's audit events — plain structs, and a bounded on-disk queue that keeps
 * them while control is away.  No JSON here (control/client encodes them for the wire,
 * docs of the wire: the node API path "audit"); no loop: the caller drives sync and send.
 *
 *   struct audit_queue *q;
 *   audit_queue_open("/var/lib/meshd/audit.queue", NULL, &q, err, sizeof(err));
 *   struct audit_event e = { .type = AUDIT_SSH_ACCEPT, .time_ms = now_ms };
 *   audit_text_set(e.src, "100.64.0.5");    // ≤ 512 bytes, valid UTF-8, no controls
 *   audit_queue_append(q, &e);               // e.seq assigned (1, 2, ... never reused)
 *   audit_queue_sync(q);                     // fdatasync: now it may be sent
 *   n = audit_queue_peek(q, batch, 256);     // oldest first, only synced events
 *   ... control answers {"acked": S} ...
 *   audit_queue_ack(q, S);                   // every event with seq <= S is gone
 *
 * Durability: append writes at once and syncs when the caller says (meshd: within 1 s of
 * the first unsynced append, so a flood costs one fdatasync a second); peek hands out only
 * synced events, so a seq control has seen is on disk and never given to another event after
 * a crash.  A crash between write and ack redelivers (control skips seqs it holds).
 *
 * Bounds: at most max_events pending events and max_bytes of their records (default 20 000
 * and 4 MiB).  When an append would pass either, the OLDEST pending events are dropped (down
 * to 7/8 of the bound, so a flood yields one notice per 2 500 events, not one per event),
 * counted, and an AUDIT_LOST event "lost N events (seq A..B)" is queued before the new one:
 * loss is never silent, and control sees the range.
 *
 * Errors: negative errno; err (when given) gets a sentence naming the file. */
#ifndef MESH_AUDIT_H
#define MESH_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The node's event types, in the wire's names (audit_type_name). */
enum audit_type {
	AUDIT_SSH_ACCEPT,	 /* "ssh.accept" */
	AUDIT_SSH_REFUSE,	 /* "ssh.refuse": detail is the reason */
	AUDIT_SSH_CHECK_HOLD,	 /* "ssh.check.hold" */
	AUDIT_SSH_CHECK_APPROVE, /* "ssh.check.approve" */
	AUDIT_SSH_CHECK_REJECT,	 /* "ssh.check.reject": detail is why */
	AUDIT_SSH_REVOKE,	 /* "ssh.revoke" */
	AUDIT_SSH_SESSION_START, /* "ssh.session.start" */
	AUDIT_SSH_SESSION_END,	 /* "ssh.session.end": "exit 0" / "signal 9" */
	AUDIT_SSH_SESSION_KILL,	 /* "ssh.session.kill" */
	AUDIT_SSH_FORWARD,	 /* "ssh.forward": "-L 127.0.0.1:5432" / "-R 0.0.0.0:8080" / "-A" */
	AUDIT_RECORD_FAIL,	 /* "record.fail": the recorder's failure */
	AUDIT_LOST,		 /* "audit.lost": "lost N events (seq A..B)" */
	AUDIT_TYPE_COUNT,
};

const char *audit_type_name(enum audit_type t); /* NULL past AUDIT_TYPE_COUNT */
bool audit_type_parse(const char *name, enum audit_type *out);

enum {
	AUDIT_TEXT_MAX = 512,  /* bytes of one string member, the wire's limit */
	AUDIT_FIELD_COUNT = 9, /* the string members below */
	AUDIT_BATCH_MAX = 256, /* events in one request to control */
	/* ... and at most this many bytes of them as JSON, at worst (audit_batch_fit): well
	 * under control's limit of a request (256 KiB) */
	AUDIT_BATCH_BYTES = 128 << 10,
};
/* The highest seq: the largest integer every JSON reader keeps exact (2^53).  Never reached
 * (a million events a day for 24 billion years); an append past it is -EOVERFLOW. */
#define AUDIT_SEQ_MAX ((uint64_t)1 << 53)

struct audit_event {
	uint64_t seq;	 /* per node, from 1, strictly increasing: audit_queue_append sets it */
	int64_t time_ms; /* unix milliseconds when it happened */
	enum audit_type type;
	/* The wire's string members, in its order; "" = absent.  Set them with audit_text_set
	 * so each holds at most AUDIT_TEXT_MAX bytes of valid UTF-8 without control bytes. */
	char conn[AUDIT_TEXT_MAX + 1];	     /* the SSH connection's id on this node */
	char session[AUDIT_TEXT_MAX + 1];    /* a session's id */
	char src[AUDIT_TEXT_MAX + 1];	     /* source tailnet address */
	char src_node[AUDIT_TEXT_MAX + 1];   /* source node's name in the netmap */
	char who[AUDIT_TEXT_MAX + 1];	     /* its owner's login, or its tags "tag:a,tag:b" */
	char ssh_user[AUDIT_TEXT_MAX + 1];   /* the user the client asked for */
	char local_user[AUDIT_TEXT_MAX + 1]; /* the Unix user it maps to */
	char rule[AUDIT_TEXT_MAX + 1];	     /* the deciding rule, "" when none */
	char detail[AUDIT_TEXT_MAX + 1];     /* type-specific text */
};

/* The string members in the wire's order, for the codecs: audit_field_names[i] and the
 * member itself (i < AUDIT_FIELD_COUNT). */
extern const char *const audit_field_names[AUDIT_FIELD_COUNT];
char *audit_field(struct audit_event *e, size_t i);
const char *audit_field_get(const struct audit_event *e, size_t i);

/* Copies text (NULL: "") into a member: each control byte (< 0x20, 0x7f) and each
 * ill-formed UTF-8 sequence becomes '?', and it is cut at a character boundary to
 * AUDIT_TEXT_MAX bytes.  The wire refuses anything else, and one refused event would stop
 * the queue for good. */
/* How many of the n events (at least 1) fit in max_bytes once encoded as JSON, counted at
 * their worst: every string byte escaped to 3 (a "\uXXXX" for each 2-byte character), and
 * the members' names and numbers.  A batch of 256 long events would be 3 MB, far over what
 * control takes in a request, and refused at every try. */
size_t audit_batch_fit(const struct audit_event *v, size_t n, size_t max_bytes);
void audit_text_set(char dst[static AUDIT_TEXT_MAX + 1], const char *text);
/* The rule a member must keep (what audit_text_set makes): length <= AUDIT_TEXT_MAX, valid
 * UTF-8, no control bytes. */
bool audit_text_valid(const char *s, size_t len);

/* ---- the queue ---- */

struct audit_queue;

enum {
	AUDIT_QUEUE_ID_LEN = 16, /* random bytes made with the file */
	AUDIT_QUEUE_ID_HEX = 2 * AUDIT_QUEUE_ID_LEN,
};

struct audit_queue_limits {
	size_t max_events; /* 0: AUDIT_QUEUE_MAX_EVENTS */
	size_t max_bytes;  /* of pending records; 0: AUDIT_QUEUE_MAX_BYTES */
};
enum {
	AUDIT_QUEUE_MAX_EVENTS = 20000,
	AUDIT_QUEUE_MAX_BYTES = 4 << 20,
};

/* Opens or creates path (0600); a torn or corrupt tail (a crash mid-append) is cut off and
 * logged with its size.  lim may be NULL.  A file that is not a queue is refused (-EINVAL):
 * it is never overwritten, seqs would start over. */
int audit_queue_open(const char *path, const struct audit_queue_limits *lim,
		     struct audit_queue **out, char *err, size_t errlen);
void audit_queue_close(struct audit_queue *q);

/* Appends e, setting e->seq (and maybe queuing an AUDIT_LOST first, see above).  Written at
 * once, not yet synced.  0 or -errno (nothing queued, the file as it was). */
int audit_queue_append(struct audit_queue *q, struct audit_event *e);
/* fdatasync when anything is unsynced; 0 or -errno. */
int audit_queue_sync(struct audit_queue *q);
bool audit_queue_dirty(const struct audit_queue *q);

/* Up to max pending synced events, oldest first, copied into out.  Count or -errno. */
ssize_t audit_queue_peek(struct audit_queue *q, struct audit_event *out, size_t max);
/* Control holds every event with seq <= seq: they are dropped (an ack past the last synced
 * event counts up to it).  The file is compacted once its dead bytes pass both 64 KiB and
 * the live ones (so the rewrite's cost is bounded by what was freed).  0 or -errno. */
int audit_queue_ack(struct audit_queue *q, uint64_t seq);

struct audit_queue_stats {
	uint64_t pending;    /* events not yet acked */
	uint64_t appended;   /* events appended since open (audit.lost events too) */
	uint64_t lost;	     /* events dropped for room since open */
	uint64_t next_seq;   /* the seq the next event gets */
	uint64_t acked;	     /* the highest seq acked or dropped */
	uint64_t file_bytes; /* the file's size */
};
void audit_queue_stats(const struct audit_queue *q, struct audit_queue_stats *out);

/* The queue's id in lowercase hex (AUDIT_QUEUE_ID_HEX digits), made at random when its file
 * was created and kept in it: a queue whose file was removed (or restored from before it
 * existed) starts again at seq 1 under another id, and control, which keeps each (node,
 * queue) apart, takes its events as new.  "" for a file made before queues had ids. */
const char *audit_queue_id(const struct audit_queue *q);

#endif
