/* audit/: the queue file's exact record bytes, a crash between write and ack (the same events
 * again after reopening), a torn tail cut off, a full queue dropping its oldest with an
 * audit.lost event, seqs that continue after a reopen (also after a compaction), a file that
 * is not a queue refused, the queue's id (made with the file, kept across reopens and
 * compactions, another for a new file, none for a MESHAQ1 file), and the text rule of the
 * wire. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/record.h"
#include "check.h"

static char dir[] = "/tmp/mesh-audit-XXXXXX";
static char path[256];

static struct audit_queue *open_q(const struct audit_queue_limits *lim)
{
	struct audit_queue *q = NULL;
	char err[512] = "";
	int e = audit_queue_open(path, lim, &q, err, sizeof(err));
	if (e)
		fprintf(stderr, "open: %s\n", err);
	CHECK_INT(e, 0);
	return q;
}

static uint64_t add(struct audit_queue *q, enum audit_type t, const char *detail)
{
	struct audit_event *e = calloc(1, sizeof(*e));
	e->type = t;
	e->time_ms = 1700000000000;
	audit_text_set(e->src, "100.64.0.5");
	audit_text_set(e->detail, detail);
	CHECK_INT(audit_queue_append(q, e), 0);
	uint64_t seq = e->seq;
	free(e);
	return seq;
}

static struct audit_event batch[64];

static off_t file_size(void)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_record_bytes(void)
{
	static uint8_t buf[AUDIT_REC_MAX];
	struct audit_record r = { .kind = AUDIT_REC_ACK, .ack = 0x0102 };
	static const uint8_t ack[] = "\x09\x00\x00\x00\x23\x0f\xb2\xcb"
				     "A\x02\x01\x00\x00\x00\x00\x00\x00";
	CHECK_INT(audit_record_encode(&r, buf), sizeof(ack) - 1);
	CHECK(memcmp(buf, ack, sizeof(ack) - 1) == 0);

	static struct audit_record ev = { .kind = AUDIT_REC_EVENT };
	ev.ev.seq = 7;
	ev.ev.time_ms = 1700000000123;
	ev.ev.type = AUDIT_SSH_ACCEPT;
	audit_text_set(ev.ev.src, "100.64.0.5");
	audit_text_set(ev.ev.src_node, "laptop");
	audit_text_set(ev.ev.who, "alice@example.com");
	audit_text_set(ev.ev.ssh_user, "vinay");
	audit_text_set(ev.ev.local_user, "vinay");
	audit_text_set(ev.ev.rule, "ssh[0]");
	static const uint8_t want[] =
	    "\x55\x00\x00\x00\xd8\xc8\xe2\x04"	/* length 85, CRC-32 */
	    "E\x07\x00\x00\x00\x00\x00\x00\x00" /* seq 7 */
	    "\x7b\x68\xe5\xcf\x8b\x01\x00\x00"	/* time_ms */
	    "\x00"				/* ssh.accept */
	    "\x00\x00"				/* conn */
	    "\x00\x00"				/* session */
	    "\x0a\x00"				/* src */
	    "100.64.0.5"			/*  */
	    "\x06\x00laptop\x11\x00"
	    "alice@example.com"					/* src_node, who */
	    "\x05\x00vinay\x05\x00vinay\x06\x00ssh[0]\x00\x00"; /* users, rule, detail */
	size_t n = audit_record_encode(&ev, buf);
	CHECK_INT(n, sizeof(want) - 1);
	CHECK(memcmp(buf, want, sizeof(want) - 1) == 0);

	/* and back, byte for byte; each cut is SHORT, a flipped byte BAD */
	static struct audit_record back;
	size_t used = 0;
	const char *why = NULL;
	CHECK_INT(audit_record_decode(buf, n, &back, &used, &why), AUDIT_REC_OK);
	CHECK_INT(used, n);
	CHECK(memcmp(&back.ev, &ev.ev, sizeof(ev.ev)) == 0);
	for (size_t cut = 0; cut < n; cut++)
		CHECK_INT(audit_record_decode(buf, cut, &back, &used, &why), AUDIT_REC_SHORT);
	buf[20] ^= 1;
	CHECK_INT(audit_record_decode(buf, n, &back, &used, &why), AUDIT_REC_BAD);
	CHECK_STR(why, "bad checksum");
}

/* Appended and synced, never acked: a crash (close) and a reopen hand out the same events. */
static void test_crash_before_ack(void)
{
	unlink(path);
	struct audit_queue *q = open_q(NULL);
	CHECK_INT(add(q, AUDIT_SSH_ACCEPT, ""), 1);
	CHECK_INT(add(q, AUDIT_SSH_REFUSE, "policy does not permit you to SSH to this node"), 2);
	CHECK_INT(add(q, AUDIT_SSH_SESSION_END, "exit 0"), 3);
	CHECK_INT(audit_queue_peek(q, batch, 64), 0); /* not synced: not for sending yet */
	CHECK(audit_queue_dirty(q));
	CHECK_INT(audit_queue_sync(q), 0);
	CHECK_INT(audit_queue_peek(q, batch, 64), 3);
	audit_queue_close(q); /* the crash: sent, no ack */

	q = open_q(NULL);
	CHECK_INT(audit_queue_peek(q, batch, 64), 3);
	CHECK_INT(batch[0].seq, 1);
	CHECK_INT(batch[1].type, AUDIT_SSH_REFUSE);
	CHECK_STR(batch[1].detail, "policy does not permit you to SSH to this node");
	CHECK_STR(batch[2].detail, "exit 0");
	CHECK_STR(batch[2].src, "100.64.0.5");
	CHECK_INT(audit_queue_ack(q, 2), 0);
	audit_queue_close(q); /* the ack's record is not synced: a crash may lose it */

	q = open_q(NULL);
	CHECK_INT(audit_queue_peek(q, batch, 64), 1);
	CHECK_INT(batch[0].seq, 3);
	audit_queue_close(q);
}

/* A crash mid-append: the torn record is cut off, the next append goes where it began. */
static void test_torn_tail(void)
{
	unlink(path);
	struct audit_queue *q = open_q(NULL);
	add(q, AUDIT_SSH_ACCEPT, "");
	add(q, AUDIT_SSH_ACCEPT, "");
	audit_queue_close(q);
	off_t good = file_size();
	static uint8_t rec[AUDIT_REC_MAX];
	struct audit_record r = { .kind = AUDIT_REC_EVENT };
	r.ev.seq = 3;
	size_t n = audit_record_encode(&r, rec);
	int fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, rec, n - 3) == (ssize_t)n - 3);
	close(fd);
	CHECK_INT(file_size(), good + (off_t)n - 3);

	q = open_q(NULL);
	CHECK_INT(file_size(), good);
	CHECK_INT(audit_queue_peek(q, batch, 64), 2);
	CHECK_INT(add(q, AUDIT_SSH_REVOKE, ""), 3);
	audit_queue_close(q);

	/* the same with a whole record whose bytes went bad (a zeroed block after a crash) */
	fd = open(path, O_WRONLY | O_APPEND);
	memset(rec + AUDIT_REC_HEAD, 0, n - AUDIT_REC_HEAD);
	CHECK(write(fd, rec, n) == (ssize_t)n);
	close(fd);
	q = open_q(NULL);
	CHECK_INT(audit_queue_peek(q, batch, 64), 3);
	CHECK_INT(batch[2].type, AUDIT_SSH_REVOKE);
	CHECK_INT(add(q, AUDIT_SSH_ACCEPT, ""), 4);
	audit_queue_close(q);
}

/* Full: the oldest go (to 7/8 of the bound), counted, and audit.lost says which. */
static void test_full(void)
{
	unlink(path);
	struct audit_queue_limits lim = { .max_events = 16 };
	struct audit_queue *q = open_q(&lim);
	for (int i = 0; i < 16; i++)
		add(q, AUDIT_SSH_ACCEPT, "");
	CHECK_INT(add(q, AUDIT_SSH_FORWARD, "-A"), 18);
	struct audit_queue_stats st;
	audit_queue_stats(q, &st);
	CHECK_INT(st.lost, 4);
	CHECK_INT(st.pending, 14);
	CHECK_INT(st.acked, 4);
	CHECK_INT(audit_queue_sync(q), 0);
	CHECK_INT(audit_queue_peek(q, batch, 64), 14);
	CHECK_INT(batch[0].seq, 5);
	CHECK_INT(batch[12].seq, 17);
	CHECK_INT(batch[12].type, AUDIT_LOST);
	CHECK_STR(batch[12].detail, "lost 4 events (seq 1..4)");
	CHECK_INT(batch[13].type, AUDIT_SSH_FORWARD);
	audit_queue_close(q);
	q = open_q(&lim); /* the drop is on disk too */
	CHECK_INT(audit_queue_peek(q, batch, 64), 14);
	CHECK_INT(batch[0].seq, 5);
	audit_queue_close(q);

	/* by bytes: 4 KiB of records of about 560 bytes each */
	unlink(path);
	lim = (struct audit_queue_limits){ .max_bytes = 4096 };
	q = open_q(&lim);
	char big[501];
	memset(big, 'x', 500);
	big[500] = '\0';
	for (int i = 0; i < 7; i++)
		add(q, AUDIT_SSH_ACCEPT, big);
	audit_queue_stats(q, &st);
	CHECK_INT(st.lost, 0);
	add(q, AUDIT_SSH_ACCEPT, big);
	audit_queue_stats(q, &st);
	CHECK(st.lost >= 1);
	CHECK_INT(audit_queue_sync(q), 0);
	ssize_t n = audit_queue_peek(q, batch, 64);
	CHECK(n >= 2);
	char want[64];
	snprintf(want, sizeof(want), "lost %llu events (seq 1..%llu)", (unsigned long long)st.lost,
		 (unsigned long long)st.lost);
	CHECK_STR(batch[n - 2].detail, want);
	audit_queue_close(q);
}

/* Seqs never repeat: after a reopen, also when every event was acked and compacted away. */
static void test_seq_persists(void)
{
	unlink(path);
	struct audit_queue *q = open_q(NULL);
	char big[501];
	memset(big, 'y', 500);
	big[500] = '\0';
	for (int i = 0; i < 200; i++) /* 112 KB: past the 64 KiB that make a compaction */
		add(q, AUDIT_SSH_ACCEPT, big);
	CHECK_INT(audit_queue_sync(q), 0);
	CHECK_INT(audit_queue_ack(q, 200), 0);
	CHECK_INT(file_size(), AUDIT_FILE_HEAD + AUDIT_REC_ACK_LEN); /* compacted */
	audit_queue_close(q);
	q = open_q(NULL);
	struct audit_queue_stats st;
	audit_queue_stats(q, &st);
	CHECK_INT(st.pending, 0);
	CHECK_INT(st.next_seq, 201);
	CHECK_INT(add(q, AUDIT_SSH_ACCEPT, ""), 201);
	/* an ack past what was synced counts only to the last synced event */
	CHECK_INT(audit_queue_ack(q, 1000), 0);
	audit_queue_stats(q, &st);
	CHECK_INT(st.pending, 1);
	audit_queue_close(q);
	q = open_q(NULL);
	CHECK_INT(add(q, AUDIT_SSH_ACCEPT, ""), 202);
	audit_queue_close(q);
}

static void test_not_a_queue(void)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(write(fd, "{\"hello\": 1}\n", 13) == 13);
	close(fd);
	struct audit_queue *q = NULL;
	char err[512], want[512];
	CHECK_INT(audit_queue_open(path, NULL, &q, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s: not an audit queue (no MESHAQ2 or MESHAQ1 header); move it away to "
		 "start a new one",
		 path);
	CHECK_STR(err, want);
	CHECK_INT(file_size(), 13); /* left alone */
	/* a creation cut short (part of the magic) is a new queue */
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "MESH", 4) == 4);
	close(fd);
	q = open_q(NULL);
	CHECK_INT(add(q, AUDIT_SSH_ACCEPT, ""), 1);
	audit_queue_close(q);
}

static void read_file(uint8_t *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	CHECK(read(fd, buf, len) == (ssize_t)len);
	close(fd);
}

/* The id: 16 random bytes after "MESHAQ2\n", made with the file and kept in it (reopen,
 * compaction); a new file (the old one removed) has another.  A MESHAQ1 file has none and
 * keeps its header. */
static void test_queue_id(void)
{
	unlink(path);
	struct audit_queue *q = open_q(NULL);
	char id[AUDIT_QUEUE_ID_HEX + 1];
	snprintf(id, sizeof(id), "%s", audit_queue_id(q));
	CHECK_INT(strlen(id), AUDIT_QUEUE_ID_HEX);
	CHECK_INT(strspn(id, "0123456789abcdef"), AUDIT_QUEUE_ID_HEX);
	uint8_t head[AUDIT_FILE_HEAD];
	read_file(head, sizeof(head));
	CHECK(memcmp(head, "MESHAQ2\n", 8) == 0);
	char hex[3];
	snprintf(hex, sizeof(hex), "%02x", head[8]);
	CHECK(memcmp(hex, id, 2) == 0);
	char big[501];
	memset(big, 'y', 500);
	big[500] = '\0';
	for (int i = 0; i < 200; i++)
		add(q, AUDIT_SSH_ACCEPT, big);
	CHECK_INT(audit_queue_sync(q), 0);
	CHECK_INT(audit_queue_ack(q, 199), 0); /* compacted: one event left */
	CHECK(file_size() < AUDIT_FILE_HEAD + AUDIT_REC_ACK_LEN + 600);
	uint8_t after[AUDIT_FILE_HEAD];
	read_file(after, sizeof(after));
	CHECK(memcmp(after, head, sizeof(head)) == 0); /* the same header, the same id */
	audit_queue_close(q);
	q = open_q(NULL);
	CHECK_STR(audit_queue_id(q), id);
	CHECK_INT(audit_queue_peek(q, batch, 64), 1);
	CHECK_INT(batch[0].seq, 200);
	audit_queue_close(q);

	unlink(path); /* removed: a new queue, seq 1 again, under another id */
	q = open_q(NULL);
	CHECK(strcmp(audit_queue_id(q), id) != 0);
	CHECK_INT(add(q, AUDIT_SSH_ACCEPT, ""), 1);
	audit_queue_close(q);

	/* a MESHAQ1 file (made before ids): no id, its header kept by a compaction */
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(write(fd, "MESHAQ1\n", 8) == 8);
	close(fd);
	q = open_q(NULL);
	CHECK_STR(audit_queue_id(q), "");
	for (int i = 0; i < 200; i++)
		add(q, AUDIT_SSH_ACCEPT, big);
	CHECK_INT(audit_queue_sync(q), 0);
	CHECK_INT(audit_queue_ack(q, 200), 0);
	CHECK_INT(file_size(), AUDIT_FILE_MAGIC_LEN + AUDIT_REC_ACK_LEN);
	read_file(head, 8);
	CHECK(memcmp(head, "MESHAQ1\n", 8) == 0);
	audit_queue_close(q);
	q = open_q(NULL);
	CHECK_STR(audit_queue_id(q), "");
	CHECK_INT(add(q, AUDIT_SSH_ACCEPT, ""), 201);
	audit_queue_close(q);
}

static void test_text(void)
{
	static char t[AUDIT_TEXT_MAX + 1];
	audit_text_set(t, "a\tb\x7f"
			  "c\xc3\xa9\xff\xe2\x82");
	CHECK_STR(t, "a?b?c\xc3\xa9??");
	CHECK(audit_text_valid(t, strlen(t)));
	CHECK(!audit_text_valid("a\nb", 3));
	CHECK(!audit_text_valid("\xed\xa0\x80", 3)); /* a surrogate */
	/* C1 controls (control refuses them: an event with one would block the queue) */
	audit_text_set(t, "x\xc2\x85y\xc2\x9f\xc2\xa0");
	CHECK_STR(t, "x?y?\xc2\xa0");
	CHECK(!audit_text_valid("\xc2\x85", 2));
	/* batches fit control's request limit at their worst (all escaped) */
	static struct audit_event big[AUDIT_BATCH_MAX];
	for (size_t i = 0; i < AUDIT_BATCH_MAX; i++)
		memset(big[i].detail, '"', AUDIT_TEXT_MAX);
	size_t fit = audit_batch_fit(big, AUDIT_BATCH_MAX, AUDIT_BATCH_BYTES);
	CHECK_INT(fit, AUDIT_BATCH_BYTES / (256 + 3 * AUDIT_TEXT_MAX));
	CHECK_INT(audit_batch_fit(big, 1, 10), 1); /* one always goes */
	memset(big, 0, sizeof(big));
	CHECK_INT(audit_batch_fit(big, AUDIT_BATCH_MAX, AUDIT_BATCH_BYTES), AUDIT_BATCH_MAX);
	char long_in[600];
	memset(long_in, 'a', 511);
	strcpy(long_in + 511, "\xc3\xa9zz"); /* é would end at byte 513: cut before it */
	audit_text_set(t, long_in);
	CHECK_INT(strlen(t), 511);
	CHECK_STR(audit_type_name(AUDIT_SSH_CHECK_APPROVE), "ssh.check.approve");
	enum audit_type ty;
	CHECK(audit_type_parse("audit.lost", &ty) && ty == AUDIT_LOST);
	CHECK(!audit_type_parse("node.register", &ty));
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/audit.queue", dir);
	test_record_bytes();
	test_crash_before_ack();
	test_torn_tail();
	test_full();
	test_seq_persists();
	test_not_a_queue();
	test_queue_id();
	test_text();
	unlink(path);
	rmdir(dir);
	return check_finish();
}
