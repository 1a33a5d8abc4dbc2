/* The on-disk audit queue (audit.h; the file's records in record.h).  Append-only: events
 * and acks are appended; a compaction rewrites the file beside it (the floor ack, then the
 * pending events), fsyncs and renames it over.  In memory only an index of the pending
 * records (seq, offset, length): 20 000 of them are 480 KiB, the events stay on disk. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/record.h"
#include "common/file.h"
#include "common/log.h"

static const char subject[] = "audit";

enum {
	COMPACT_MIN = 64 << 10, /* dead bytes worth a rewrite */
	FILE_MAX = 64 << 20,	/* a larger file is not ours: refused at open */
};

struct slot {
	uint64_t seq, off;
	uint32_t len;
};

struct audit_queue {
	int fd;
	char *path;
	struct audit_queue_limits lim;
	struct slot *slots; /* pending records: slots[head .. n) */
	size_t head, n, cap;
	uint64_t file_end, live_bytes;
	uint64_t acked, next_seq, synced_seq;
	bool dirty;
	uint64_t appended, lost;
	uint8_t hdr[AUDIT_FILE_HEAD]; /* the file's header, hdr_len bytes of it */
	size_t hdr_len;
	char id[AUDIT_QUEUE_ID_HEX + 1]; /* "" for a MESHAQ1 file */
	uint8_t buf[AUDIT_REC_MAX];
};

static size_t pending(const struct audit_queue *q)
{
	return q->n - q->head;
}

static int slot_push(struct audit_queue *q, uint64_t seq, uint64_t off, uint32_t len)
{
	if (q->head && q->head * 2 >= q->n) { /* slide the dropped ones out */
		memmove(q->slots, q->slots + q->head, pending(q) * sizeof(*q->slots));
		q->n -= q->head;
		q->head = 0;
	}
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		struct slot *s = realloc(q->slots, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		q->slots = s;
		q->cap = cap;
	}
	q->slots[q->n++] = (struct slot){ seq, off, len };
	q->live_bytes += len;
	return 0;
}

/* Pending events up to seq leave the index. */
static void drop_through(struct audit_queue *q, uint64_t seq)
{
	while (q->head < q->n && q->slots[q->head].seq <= seq)
		q->live_bytes -= q->slots[q->head++].len;
	if (seq > q->acked)
		q->acked = seq;
}

/* Writes len bytes of q->buf at the end; on failure the file is cut back. */
static int write_record(struct audit_queue *q, size_t len)
{
	ssize_t w = pwrite(q->fd, q->buf, len, (off_t)q->file_end);
	if (w == (ssize_t)len) {
		q->file_end += len;
		q->dirty = true;
		return 0;
	}
	int e = w < 0 ? -errno : -ENOSPC;
	if (ftruncate(q->fd, (off_t)q->file_end) < 0)
		log_warn(subject, "%s: cannot cut a failed append: %s", q->path, strerror(errno));
	return e;
}

static int append_ack(struct audit_queue *q, uint64_t seq)
{
	struct audit_record r = { .kind = AUDIT_REC_ACK, .ack = seq };
	return write_record(q, audit_record_encode(&r, q->buf));
}

static int append_event(struct audit_queue *q, struct audit_event *e)
{
	struct audit_record r = { .kind = AUDIT_REC_EVENT };
	if (q->next_seq > AUDIT_SEQ_MAX)
		return -EOVERFLOW;
	e->seq = q->next_seq;
	r.ev = *e;
	size_t len = audit_record_encode(&r, q->buf);
	uint64_t off = q->file_end;
	int err = write_record(q, len);
	if (!err && (err = slot_push(q, e->seq, off, (uint32_t)len)) != 0) {
		q->file_end = off; /* no room in the index: the record goes again */
		if (ftruncate(q->fd, (off_t)off) < 0)
			log_warn(subject, "%s: cannot cut an append: %s", q->path, strerror(errno));
	}
	if (err)
		return err;
	q->next_seq++;
	q->appended++;
	return 0;
}

/* ---- open ---- */

static int fail(char *err, size_t errlen, int e, const char *fmt, const char *path,
		const char *what)
{
	if (err)
		snprintf(err, errlen, fmt, path, what);
	return e;
}

/* Replays the file's records into q; cuts a torn or bad tail. */
static int load(struct audit_queue *q, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	size_t off = q->hdr_len, used = 0;
	const char *why = NULL;
	struct audit_record *r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	uint64_t last = 0;
	while (off < len) {
		if (audit_record_decode(data + off, len - off, r, &used, &why) != AUDIT_REC_OK)
			break;
		if (r->kind == AUDIT_REC_ACK) {
			drop_through(q, r->ack);
		} else if (r->ev.seq <= last) {
			why = "seq out of order";
			break;
		} else {
			last = r->ev.seq;
			if (r->ev.seq > q->acked) {
				int e = slot_push(q, r->ev.seq, off, (uint32_t)used);
				if (e) {
					free(r);
					return fail(err, errlen, e, "%s: %s", q->path,
						    strerror(-e));
				}
			}
		}
		off += used;
	}
	free(r);
	q->next_seq = (last > q->acked ? last : q->acked) + 1;
	q->file_end = off;
	if (off < len) {
		log_warn(subject, "%s: %zu bytes at offset %zu cut off (%s): a crash mid-append",
			 q->path, len - off, off, why);
		if (ftruncate(q->fd, (off_t)off) < 0)
			return fail(err, errlen, -errno, "%s: cannot cut its torn end: %s", q->path,
				    strerror(errno));
	}
	return 0;
}

/* Empty, or a header's start no event can follow yet (the header is synced first). */
static bool is_new(const char *data, size_t len)
{
	size_t magic = len < AUDIT_FILE_MAGIC_LEN ? len : AUDIT_FILE_MAGIC_LEN;
	if (len < AUDIT_FILE_MAGIC_LEN && memcmp(data, AUDIT_FILE_MAGIC_V1, magic) == 0)
		return true; /* an old meshd's creation cut short: made anew, with an id */
	return len < AUDIT_FILE_HEAD && memcmp(data, AUDIT_FILE_MAGIC, magic) == 0;
}

static void id_hex(struct audit_queue *q)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < AUDIT_QUEUE_ID_LEN; i++) {
		q->id[2 * i] = digits[q->hdr[AUDIT_FILE_MAGIC_LEN + i] >> 4];
		q->id[2 * i + 1] = digits[q->hdr[AUDIT_FILE_MAGIC_LEN + i] & 15];
	}
	q->id[AUDIT_QUEUE_ID_HEX] = '\0';
}

/* A new file: the MESHAQ2 header with a fresh random id, synced before any event. */
static int create(struct audit_queue *q, char *err, size_t errlen)
{
	memcpy(q->hdr, AUDIT_FILE_MAGIC, AUDIT_FILE_MAGIC_LEN);
	uint8_t *id = q->hdr + AUDIT_FILE_MAGIC_LEN;
	if (getrandom(id, AUDIT_QUEUE_ID_LEN, 0) != AUDIT_QUEUE_ID_LEN)
		return fail(err, errlen, -EIO, "%s: no random bytes for its id: %s", q->path,
			    strerror(errno));
	q->hdr_len = AUDIT_FILE_HEAD;
	id_hex(q);
	if (ftruncate(q->fd, 0) < 0 || pwrite(q->fd, q->hdr, q->hdr_len, 0) != AUDIT_FILE_HEAD ||
	    fdatasync(q->fd) < 0)
		return fail(err, errlen, -EIO, "%s: cannot write: %s", q->path, strerror(errno));
	q->file_end = q->hdr_len;
	q->next_seq = 1;
	log_info(subject, "%s: a new queue, id %s", q->path, q->id);
	return 0;
}

/* The header of a file that has one: MESHAQ2 with its id, or MESHAQ1 without. */
static int read_head(struct audit_queue *q, const uint8_t *data, size_t len, char *err,
		     size_t errlen)
{
	if (len >= AUDIT_FILE_HEAD && memcmp(data, AUDIT_FILE_MAGIC, AUDIT_FILE_MAGIC_LEN) == 0) {
		q->hdr_len = AUDIT_FILE_HEAD;
		memcpy(q->hdr, data, q->hdr_len);
		id_hex(q);
		return 0;
	}
	if (len >= AUDIT_FILE_MAGIC_LEN &&
	    memcmp(data, AUDIT_FILE_MAGIC_V1, AUDIT_FILE_MAGIC_LEN) == 0) {
		q->hdr_len = AUDIT_FILE_MAGIC_LEN;
		memcpy(q->hdr, data, q->hdr_len);
		return 0; /* no id: control takes its seqs as before queues had ids */
	}
	return fail(err, errlen, -EINVAL,
		    "%s: not an audit queue (%s); move it away to start a new one", q->path,
		    "no MESHAQ2 or MESHAQ1 header");
}

int audit_queue_open(const char *path, const struct audit_queue_limits *lim,
		     struct audit_queue **out, char *err, size_t errlen)
{
	struct audit_queue *q = calloc(1, sizeof(*q));
	if (!q || !(q->path = strdup(path))) {
		free(q);
		return fail(err, errlen, -ENOMEM, "%s: %s", path, "out of memory");
	}
	q->lim.max_events = lim && lim->max_events ? lim->max_events : AUDIT_QUEUE_MAX_EVENTS;
	q->lim.max_bytes = lim && lim->max_bytes ? lim->max_bytes : AUDIT_QUEUE_MAX_BYTES;
	q->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	char *data = NULL;
	size_t len = 0;
	int e = 0;
	if (q->fd < 0) {
		e = fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	e = file_read_all(path, FILE_MAX, &data, &len);
	if (e) {
		fail(err, errlen, e, "%s: %s", path,
		     e == -EFBIG ? "larger than any audit queue (64 MiB): not ours" : strerror(-e));
		goto out;
	}
	if (is_new(data, len)) { /* new, or its creation was cut short */
		if ((e = create(q, err, errlen)) != 0)
			goto out;
	} else if ((e = read_head(q, (const uint8_t *)data, len, err, errlen)) != 0) {
		goto out;
	} else if ((e = load(q, (const uint8_t *)data, len, err, errlen)) != 0) {
		goto out;
	} else if (fdatasync(q->fd) < 0) { /* what a crashed meshd wrote is ours from now */
		e = fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	q->synced_seq = q->next_seq - 1;
out:
	free(data);
	if (e) {
		audit_queue_close(q);
		return e;
	}
	*out = q;
	return 0;
}

void audit_queue_close(struct audit_queue *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	free(q->slots);
	free(q->path);
	free(q);
}

/* ---- append, with the oldest dropped when full ---- */

/* Room for one more record of len bytes and a notice: the oldest go, down to 7/8. */
static int make_room(struct audit_queue *q, size_t len, int64_t time_ms)
{
	if (pending(q) + 1 <= q->lim.max_events && q->live_bytes + len <= q->lim.max_bytes)
		return 0;
	size_t keep_events = q->lim.max_events / 8 * 7;
	uint64_t keep_bytes = q->lim.max_bytes / 8 * 7;
	keep_events = keep_events >= 2 ? keep_events - 2 : 0; /* the notice and the new one */
	uint64_t need = len + AUDIT_REC_MAX;
	keep_bytes = keep_bytes > need ? keep_bytes - need : 0;
	uint64_t first = q->slots[q->head].seq, last = first, n = 0, bytes = q->live_bytes;
	for (size_t i = q->head; i < q->n; i++) {
		if (pending(q) - n <= keep_events && bytes <= keep_bytes)
			break;
		last = q->slots[i].seq;
		bytes -= q->slots[i].len;
		n++;
	}
	if (n == 0)
		return 0; /* limits below one record: nothing would make room */
	int e = append_ack(q, last);
	if (e)
		return e;
	drop_through(q, last);
	q->lost += n;
	log_warn(subject,
		 "%s: full; the oldest %" PRIu64 " events (seq %" PRIu64 "..%" PRIu64 ") dropped",
		 q->path, n, first, last);
	struct audit_event *lost = calloc(1, sizeof(*lost));
	if (!lost)
		return -ENOMEM;
	lost->type = AUDIT_LOST;
	lost->time_ms = time_ms;
	snprintf(lost->detail, sizeof(lost->detail),
		 "lost %" PRIu64 " events (seq %" PRIu64 "..%" PRIu64 ")", n, first, last);
	e = append_event(q, lost);
	free(lost);
	return e;
}

int audit_queue_append(struct audit_queue *q, struct audit_event *e)
{
	struct audit_record r = { .kind = AUDIT_REC_EVENT, .ev = *e };
	size_t len = audit_record_encode(&r, q->buf);
	int err = pending(q) ? make_room(q, len, e->time_ms) : 0;
	return err ? err : append_event(q, e);
}

int audit_queue_sync(struct audit_queue *q)
{
	if (!q->dirty)
		return 0;
	if (fdatasync(q->fd) < 0)
		return -errno;
	q->dirty = false;
	q->synced_seq = q->next_seq - 1;
	return 0;
}

bool audit_queue_dirty(const struct audit_queue *q)
{
	return q->dirty;
}

ssize_t audit_queue_peek(struct audit_queue *q, struct audit_event *out, size_t max)
{
	size_t k = 0;
	struct audit_record *r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (size_t i = q->head; i < q->n && k < max && q->slots[i].seq <= q->synced_seq; i++) {
		const struct slot *s = &q->slots[i];
		size_t used;
		const char *why;
		if (pread(q->fd, q->buf, s->len, (off_t)s->off) != (ssize_t)s->len ||
		    audit_record_decode(q->buf, s->len, r, &used, &why) != AUDIT_REC_OK ||
		    r->kind != AUDIT_REC_EVENT || r->ev.seq != s->seq) {
			log_err(subject,
				"%s: the record of seq %" PRIu64 " at %" PRIu64
				" no longer reads back",
				q->path, s->seq, s->off);
			free(r);
			return -EIO;
		}
		out[k++] = r->ev;
	}
	free(r);
	return (ssize_t)k;
}

/* ---- ack and compaction ---- */

static int fsync_dir(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -errno;
	int e = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return e;
}

/* The floor ack and the pending records, to path.new, then over path. */
static int compact(struct audit_queue *q)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.new", q->path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	int e = 0;
	uint64_t off = q->hdr_len;
	struct audit_record r = { .kind = AUDIT_REC_ACK, .ack = q->acked };
	size_t len = audit_record_encode(&r, q->buf + q->hdr_len);
	memcpy(q->buf, q->hdr, q->hdr_len);
	if (pwrite(fd, q->buf, q->hdr_len + len, 0) != (ssize_t)(q->hdr_len + len))
		e = -EIO;
	off += len;
	for (size_t i = q->head; !e && i < q->n; i++) {
		struct slot *s = &q->slots[i];
		if (pread(q->fd, q->buf, s->len, (off_t)s->off) != (ssize_t)s->len ||
		    pwrite(fd, q->buf, s->len, (off_t)off) != (ssize_t)s->len)
			e = -EIO;
		off += s->len;
	}
	if (!e && fsync(fd) < 0)
		e = -errno;
	if (!e && rename(tmp, q->path) < 0)
		e = -errno;
	if (e) {
		close(fd);
		unlink(tmp);
		return e;
	}
	fsync_dir(q->path); /* the rename is durable; if not, the old file still reads right */
	close(q->fd);
	q->fd = fd;
	off = q->hdr_len + len;
	for (size_t i = q->head; i < q->n; i++) {
		q->slots[i].off = off;
		off += q->slots[i].len;
	}
	q->file_end = off;
	q->dirty = false;
	q->synced_seq = q->next_seq - 1;
	return 0;
}

int audit_queue_ack(struct audit_queue *q, uint64_t seq)
{
	if (seq > q->synced_seq)
		seq = q->synced_seq; /* control cannot hold what was never sent */
	if (seq <= q->acked)
		return 0;
	int e = append_ack(q, seq);
	if (e)
		return e;
	drop_through(q, seq);
	uint64_t dead = q->file_end - q->hdr_len - q->live_bytes;
	if (dead >= COMPACT_MIN && dead >= q->live_bytes && (e = compact(q)) != 0)
		log_warn(subject, "%s: cannot compact (%s); it grows until the next try", q->path,
			 strerror(-e));
	return 0;
}

void audit_queue_stats(const struct audit_queue *q, struct audit_queue_stats *out)
{
	*out = (struct audit_queue_stats){ .pending = pending(q),
					   .appended = q->appended,
					   .lost = q->lost,
					   .next_seq = q->next_seq,
					   .acked = q->acked,
					   .file_bytes = q->file_end };
}

const char *audit_queue_id(const struct audit_queue *q)
{
	return q->id;
}
