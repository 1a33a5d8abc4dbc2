/* The queue of client data on its way to a local descriptor (a session's stdin, a
 * forwarded socket), with back-pressure that libssh 0.10 honours.
 *
 * libssh re-opens the client's window on every ssh_channel_read*() call, however much it
 * still buffers, and grows its buffer until a 256 MiB cap silently drops packets.  So
 * data is taken only in whole: the data callback consumes everything libssh holds or
 * nothing, and a backlog is pulled only when all of it fits.  libssh then holds at most
 * one window (about 1.25 MB) and we at most SSHD__INQ_CAP.  The buffer exists only while
 * it holds data and is charged to the connection's budget meanwhile: idle channels cost
 * nothing, and a connection with many busy channels stalls (data stays in libssh, whose
 * window toward the client stays shut) instead of growing past its budget. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sshd/internal.h"

static bool inq_room(struct sshd__inq *q, size_t len)
{
	if (!q->buf) {
		if (q->budget && q->budget->max - q->budget->used < SSHD__INQ_CAP)
			return false;
		q->buf = malloc(SSHD__INQ_CAP);
		if (!q->buf)
			return false;
		if (q->budget)
			q->budget->used += SSHD__INQ_CAP;
	}
	if (q->off == q->len)
		q->off = q->len = 0;
	if (SSHD__INQ_CAP - q->len >= len)
		return true;
	if (SSHD__INQ_CAP - (q->len - q->off) < len)
		return false;
	memmove(q->buf, q->buf + q->off, q->len - q->off);
	q->len -= q->off;
	q->off = 0;
	return true;
}

/* From the data callback: take all of `len` or nothing (then a backlog is noted). */
int sshd__inq_take(struct sshd__inq *q, const void *data, size_t len)
{
	if (!inq_room(q, len)) {
		q->backlog = true;
		return 0;
	}
	memcpy(q->buf + q->len, data, len);
	if (q->seen)
		q->seen(q->seen_ctx, q->buf + q->len, len);
	q->len += len;
	return (int)len;
}

int sshd__inq_seen(struct sshd__inq *q, uint32_t len, int took)
{
	if (q->budget) {
		q->budget->data_packets++;
		q->budget->data_bytes += len > q->lib_held ? len - q->lib_held : 0;
	}
	q->lib_held = took >= 0 && (uint32_t)took <= len ? len - (uint32_t)took : 0;
	return took;
}

/* Pull what libssh still holds once it all fits; false when nothing could be pulled. */
bool sshd__inq_pull(struct sshd__inq *q, ssh_channel channel)
{
	size_t before = q->len - q->off;
	int avail, n;

	if (!q->backlog)
		return false;
	avail = ssh_channel_poll(channel, 0); /* may run the data callback itself */
	q->lib_held = avail > 0 ? (uint32_t)avail : 0;
	if (q->len - q->off != before)
		return true;
	if (avail <= 0) {
		q->backlog = false;
		return false;
	}
	if (!inq_room(q, (size_t)avail))
		return false;
	n = ssh_channel_read_nonblocking(channel, q->buf + q->len, (uint32_t)avail, 0);
	if (n > 0 && q->seen)
		q->seen(q->seen_ctx, q->buf + q->len, (size_t)n);
	if (n > 0) {
		q->len += (size_t)n;
		q->lib_held -= (uint32_t)n < q->lib_held ? (uint32_t)n : q->lib_held;
	}
	if (n <= 0 || n == avail)
		q->backlog = false;
	return n > 0;
}

/* Write queued bytes to fd: 0 when drained, -EAGAIN when fd is full, other -errno. */
int sshd__inq_flush(struct sshd__inq *q, int fd)
{
	while (q->off < q->len) {
		ssize_t n = write(fd, q->buf + q->off, q->len - q->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		q->off += (size_t)n;
		q->total += (uint64_t)n;
	}
	sshd__inq_free(q); /* drained: give the budget back */
	return 0;
}

bool sshd__inq_empty(const struct sshd__inq *q)
{
	return q->off == q->len && !q->backlog;
}

void sshd__inq_drop(struct sshd__inq *q)
{
	sshd__inq_free(q);
	q->backlog = false;
}

/* Also when the channel is released: the budget belongs to a connection that may be freed
 * before the channel's memory is. */
void sshd__inq_free(struct sshd__inq *q)
{
	if (q->buf && q->budget)
		q->budget->used -= SSHD__INQ_CAP;
	free(q->buf);
	q->buf = NULL;
	q->off = q->len = 0;
}
