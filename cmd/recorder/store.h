/* cmd/recorder/store.h: meshrecorder's files, DIR/SOURCE/ID.cast, append-only.
 *
 *	struct recorder_store *st;
 *	if (recorder_store_open("/var/lib/meshrecorder", 1 << 30, &st, err, sizeof(err)))
 *		...
 *	uint64_t held;
 *	int rc = recorder_store_append(st, "100.64.0.7", "web1-42-1765000000", offset,
 *				       body, len, &held);
 *	// 0: bytes up to held are on disk (fsync'ed): answer 200, Mesh-Acked: held
 *	// -ESPIPE: offset is not the size held: answer 409, Mesh-Acked: held
 *
 * The offset rule, the whole of it: a PUT at N is taken when N equals the file's size, and
 * only then (a file that does not exist holds 0 bytes; N = 0 creates it with O_EXCL, so an
 * existing recording is a 409 at 0 once it holds a byte, and one left empty by a crash
 * between its creation and its first write takes N = 0 again).  The
 * store never truncates below what it has held: an acknowledged byte cannot be taken back by
 * anyone, the node that wrote it included.
 *
 * Crashes: an append is pwrite, then fsync, then the answer.  A crash between the two leaves
 * a tail the node was never told about; on ext4 (data=ordered) and XFS the size grows only
 * with the data, so that tail is a prefix of the bytes the node sent.  After the restart the
 * size on disk is the truth: HEAD (and a 409) fsync the file and then report its size, so
 * the node, which keeps every byte it has not seen acknowledged, resumes from there and the
 * tail becomes part of the recording.  Nothing is ever reported that is not durable.  A
 * write that fails part way is cut back to its offset (those bytes were never acknowledged).
 *
 * Concurrency: each append and size query holds flock(LOCK_EX) on the file, so two PUTs at
 * the same offset are one 200 and one 409; the store itself has no lock and may be used from
 * any number of threads.  Files are 0600 and directories 0700; names are never followed
 * through symbolic links. */
#ifndef MESH_CMD_RECORDER_STORE_H
#define MESH_CMD_RECORDER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct recorder_store;

/* Opens (creating it 0700 when missing) the directory dir; max_bytes caps each file.
 * 0, or -errno with a sentence naming dir in err. */
int recorder_store_open(const char *dir, uint64_t max_bytes, struct recorder_store **out, char *err,
			size_t errlen);
void recorder_store_free(struct recorder_store *st);

/* Keep at least bytes available on the directory's file system: an append that would leave
 * less is refused with -EDQUOT (0, the default, refuses only when the disk is full).  So a
 * tailnet peer uploading without end cannot take the last of the disk from the others'
 * recordings, nor from whatever else shares it. */
void recorder_store_set_min_free(struct recorder_store *st, uint64_t bytes);

/* Appends len bytes at offset to SOURCE/ID.cast (source and id already valid, as
 * recorder_proto_parse checks them) and fsyncs; with end, the recording is finished with
 * them (its mode becomes 0400, durable with the bytes): nothing more is taken, except the
 * same end again (offset = size, len 0: a node whose answer was lost).  *held is the durable
 * size afterwards in every case that has one.  0; -ESPIPE offset is not the size held
 * (*held says it); -EFBIG offset + len over the cap (*held: the size, unchanged); -EROFS the
 * recording has ended (*held: its size); -EDQUOT it would leave less than the min_free bytes
 * available (*held: the size, unchanged); other -errno (-ENOSPC ...) with nothing
 * acknowledged. */
int recorder_store_append(struct recorder_store *st, const char *source, const char *id,
			  uint64_t offset, const void *data, size_t len, bool end, uint64_t *held);

/* The durable size of SOURCE/ID.cast (fsync'ed before it is reported): 0 or -ENOENT. */
int recorder_store_size(struct recorder_store *st, const char *source, const char *id,
			uint64_t *size);

/* SOURCE/ID.cast opened for reading: 0 with a descriptor the caller closes, or -ENOENT
 * (-ELOOP, -ENOTDIR or -EINVAL for a name that is not a plain file). */
int recorder_store_read(struct recorder_store *st, const char *source, const char *id, int *fd,
			uint64_t *size);

struct recorder_entry {
	char source[72]; /* ADDR_TEXT_MAX */
	char id[129];
	uint64_t size;
	time_t mtime;
	bool ended; /* an upload with end=1 finished it */
};

/* Every recording (sources and ids that the protocol could name; anything else in the
 * directory is skipped), sorted by source then id, in a malloc'd array.  0 or -errno. */
int recorder_store_list(struct recorder_store *st, struct recorder_entry **out, size_t *n);

#endif
