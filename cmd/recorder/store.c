/* meshrecorder's file store: DIR/SOURCE/ID.cast, appended only at the size held, fsync'ed
 * before anything is acknowledged (store.h has the offset rule and what a crash leaves). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cmd/recorder/proto.h"
#include "cmd/recorder/store.h"

struct recorder_store {
	int dirfd;
	uint64_t max;
	uint64_t min_free;
};

enum { NAME_MAX_LEN = RECORDER_ID_MAX + sizeof(".cast") };

int recorder_store_open(const char *dir, uint64_t max_bytes, struct recorder_store **out, char *err,
			size_t errlen)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "cannot create the directory %s: %s", dir, strerror(e));
		return -e;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open the directory %s: %s", dir, strerror(e));
		return -e;
	}
	struct recorder_store *st = calloc(1, sizeof(*st));
	if (!st) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	st->dirfd = fd;
	st->max = max_bytes;
	*out = st;
	return 0;
}

void recorder_store_set_min_free(struct recorder_store *st, uint64_t bytes)
{
	st->min_free = bytes;
}

/* -EDQUOT when writing len more bytes into fd's file system would leave less than min_free bytes
 * available to us on its file system. */
static int room_for(const struct recorder_store *st, int fd, size_t len)
{
	struct statvfs vfs;
	if (!st->min_free)
		return 0;
	if (fstatvfs(fd, &vfs) != 0)
		return -errno;
	uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	return avail < st->min_free || avail - st->min_free < len ? -EDQUOT : 0;
}

void recorder_store_free(struct recorder_store *st)
{
	if (!st)
		return;
	close(st->dirfd);
	free(st);
}

/* The directory of source, made (0700, its name fsync'ed into DIR) when create asks. */
static int source_dir(struct recorder_store *st, const char *source, bool create)
{
	int fd = openat(st->dirfd, source, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT || !create)
		return fd >= 0 ? fd : -errno;
	if (mkdirat(st->dirfd, source, 0700) != 0 && errno != EEXIST)
		return -errno;
	if (fsync(st->dirfd) != 0)
		return -errno;
	fd = openat(st->dirfd, source, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

/* SOURCE/ID.cast opened with flags (O_CREAT means O_CREAT | O_EXCL, then the existing file),
 * locked when lock says so, a regular file (-EINVAL otherwise); its size in *size.  A
 * descriptor or -errno. */
static int open_file(struct recorder_store *st, const char *source, const char *id, int flags,
		     bool lock, uint64_t *size, bool *ended)
{
	char name[NAME_MAX_LEN];
	snprintf(name, sizeof(name), "%s.cast", id);
	int dfd = source_dir(st, source, flags & O_CREAT);
	if (dfd < 0)
		return dfd;
	int base = (flags & ~O_CREAT) | O_NOFOLLOW | O_CLOEXEC, fd = -1, rc = 0;
	if (flags & O_CREAT) {
		fd = openat(dfd, name, base | O_CREAT | O_EXCL, 0600);
		if (fd >= 0 && fsync(dfd) != 0) /* the new name is durable before any ack */
			rc = -errno;
	}
	bool fallback = false;
	if (fd < 0)
		fd = openat(dfd, name, base);
	if (fd < 0 && errno == EACCES && (base & O_ACCMODE) == O_WRONLY) {
		/* an ended recording (0400) opened by a meshrecorder that is not root: read-only
		 * is all an ended one needs (its end said again, or a refusal) */
		fd = openat(dfd, name, (base & ~O_ACCMODE) | O_RDONLY);
		fallback = fd >= 0;
	}
	if (fd < 0)
		rc = -errno;
	close(dfd);
	struct stat sb;
	if (!rc && lock && flock(fd, LOCK_EX) != 0)
		rc = -errno;
	if (!rc && fstat(fd, &sb) != 0)
		rc = -errno;
	if (!rc && !S_ISREG(sb.st_mode))
		rc = -EINVAL;
	if (!rc && fallback && (sb.st_mode & S_IWUSR)) /* not ended: refused for another reason */
		rc = -EACCES;
	if (rc) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*size = (uint64_t)sb.st_size;
	if (ended)
		*ended = !(sb.st_mode & S_IWUSR);
	return fd;
}

static int write_all(int fd, const void *data, size_t len, uint64_t offset)
{
	const char *p = data;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

int recorder_store_append(struct recorder_store *st, const char *source, const char *id,
			  uint64_t offset, const void *data, size_t len, bool end, uint64_t *held)
{
	uint64_t size;
	bool ended;
	*held = 0;
	/* a recording that could not hold the body is not even created (the directory is on
	 * the recordings' file system) */
	int room = room_for(st, st->dirfd, len);
	bool create = offset == 0 && len <= st->max && !room;
	int fd = open_file(st, source, id, O_WRONLY | (create ? O_CREAT : 0), true, &size, &ended);
	if (fd == -ENOENT) /* nothing held: a wrong offset, or over the cap or the room at 0 */
		return offset ? -ESPIPE : len > st->max ? -EFBIG : room ? room : -EFBIG;
	if (fd < 0)
		return fd;
	int rc;
	if (ended) {
		/* the end said again (its answer was lost) is taken; anything else is refused */
		rc = offset == size && len == 0 && end ? 0 : -EROFS;
		*held = size;
	} else if (offset != size || offset + len > st->max) {
		rc = offset != size ? -ESPIPE : -EFBIG;
		if (fsync(fd) != 0) /* the size reported is durable, torn tail or not */
			rc = -errno;
		else
			*held = size;
	} else if ((rc = room) != 0) {
		if (fsync(fd) != 0) /* as for the cap: the size reported is durable */
			rc = -errno;
		else
			*held = size;
	} else {
		rc = write_all(fd, data, len, offset);
		if (rc && ftruncate(fd, (off_t)offset) != 0)
			rc = -errno;
		/* the end is the mode 0400, made durable with the bytes */
		if (!rc && end && fchmod(fd, 0400) != 0)
			rc = -errno;
		if (fsync(fd) != 0 && !rc)
			rc = -errno;
		if (!rc)
			*held = offset + len;
	}
	close(fd); /* and the lock with it */
	return rc;
}

int recorder_store_size(struct recorder_store *st, const char *source, const char *id,
			uint64_t *size)
{
	int fd = open_file(st, source, id, O_RDONLY, true, size, NULL);
	if (fd < 0)
		return fd;
	int rc = fsync(fd) != 0 ? -errno : 0;
	close(fd);
	return rc;
}

int recorder_store_read(struct recorder_store *st, const char *source, const char *id, int *fd,
			uint64_t *size)
{
	int f = open_file(st, source, id, O_RDONLY, false, size, NULL);
	if (f < 0)
		return f;
	*fd = f;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct recorder_entry *x = a, *y = b;
	int c = strcmp(x->source, y->source);
	return c ? c : strcmp(x->id, y->id);
}

/* Appends the recordings of the directory source (open as dfd) to *v. */
static int list_source(int dfd, const char *source, struct recorder_entry **v, size_t *n,
		       size_t *cap)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		return -e;
	}
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char id[RECORDER_ID_MAX + 1];
		struct stat sb;
		if (len <= 5 || len - 5 > RECORDER_ID_MAX || strcmp(de->d_name + len - 5, ".cast"))
			continue;
		memcpy(id, de->d_name, len - 5);
		id[len - 5] = '\0';
		if (!recorder_id_valid(id) ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 16;
			struct recorder_entry *nv = realloc(*v, c * sizeof(**v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			*v = nv;
			*cap = c;
		}
		struct recorder_entry *e = &(*v)[(*n)++];
		snprintf(e->source, sizeof(e->source), "%s", source);
		snprintf(e->id, sizeof(e->id), "%s", id);
		e->size = (uint64_t)sb.st_size;
		e->mtime = sb.st_mtime;
		e->ended = !(sb.st_mode & S_IWUSR);
	}
	closedir(d);
	return rc;
}

int recorder_store_list(struct recorder_store *st, struct recorder_entry **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	int top = openat(st->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = top >= 0 ? fdopendir(top) : NULL;
	if (!d) {
		int e = errno;
		if (top >= 0)
			close(top);
		return -e;
	}
	struct recorder_entry *v = NULL;
	size_t cap = 0;
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		if (!recorder_source_valid(de->d_name))
			continue;
		int dfd =
		    openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd >= 0)
			rc = list_source(dfd, de->d_name, &v, n, &cap);
	}
	closedir(d);
	if (rc) {
		free(v);
		*n = 0;
		return rc;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), entry_cmp);
	*out = v;
	return 0;
}
