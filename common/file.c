/* Whole-file helpers. */
#include "common/file.h"
#include "common/key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads the rest of fd (at most max bytes) into a NUL-terminated malloc'd buffer; closes fd. */
static int read_fd(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = max < 4096 ? max : 4096, n = 0;
	char *buf = malloc(cap + 1);
	int err = buf ? 0 : -ENOMEM;
	while (!err) {
		if (n == cap) {
			if (cap >= max) {
				char probe;
				ssize_t r = read(fd, &probe, 1);
				err = r > 0 ? -EFBIG : 0;
				break;
			}
			cap = cap * 2 > max ? max : cap * 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err = -errno;
		else if (r == 0)
			break;
		else
			n += (size_t)r;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

int file_read_all(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return read_fd(fd, max, out, len);
}

int file_read_secret(const char *path, size_t max, char **out, size_t *len, char *err,
		     size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	/* The mode of what was opened (a symlink's target), so a swap after a check cannot
	 * slip an open file past it. */
	if (st.st_mode & 077) {
		close(fd);
		snprintf(err, errlen,
			 "%s is open to other users (mode %04o): a secret must be "
			 "readable by its owner only (chmod 600 %s)",
			 path, (unsigned)(st.st_mode & 07777), path);
		return -EACCES;
	}
	int rc = read_fd(fd, max, out, len);
	if (rc)
		snprintf(err, errlen, "%s: %s", path,
			 rc == -EFBIG ? "larger than a key file can be" : strerror(-rc));
	return rc;
}

char *file_read_secret_line(const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	if (file_read_secret(path, FILE_SECRET_LINE_MAX, &buf, &len, err, errlen) != 0)
		return NULL;
	size_t line = strcspn(buf, "\r\n");
	explicit_bzero(buf + line, len - line); /* whatever followed the secret goes too */
	if (!*buf) {
		snprintf(err, errlen, "%s: the first line is empty", path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* All of data to fd (a write cut short goes on); 0 or -errno. */
static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		off += (size_t)w;
	}
	return 0;
}

int file_append(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	int err = write_all(fd, data, len);
	if (!err && fdatasync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4096];
	/* a name of its own (mkostemp: O_EXCL, 0600 until the fchmod below): two writers of
	 * one path (meshds sharing /etc in the labs' namespaces) never take each other's */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = write_all(fd, data, len);
	if (!err && fchmod(fd, mode) < 0)
		err = -errno;
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int file_key_load_or_create(const char *path, uint8_t key[static 32], bool *created, char *err,
			    size_t errlen)
{
	char *text;
	size_t len;
	*created = false;
	int rc = file_read_all(path, 128, &text, &len);
	if (rc == 0) {
		struct key_error kerr;
		text[strcspn(text, "\r\n")] = '\0';
		bool ok = key_from_base64(key, text, &kerr);
		key_wipe(text, len);
		free(text);
		if (!ok) {
			snprintf(err, errlen, "%s: not a valid key: %s", path, kerr.message);
			return -EINVAL;
		}
		return 0;
	}
	if (rc != -ENOENT) {
		snprintf(err, errlen, "%s: %s", path,
			 rc == -EFBIG ? "too long to be a key file" : strerror(-rc));
		return rc;
	}
	if (getrandom(key, KEY_LEN, 0) != KEY_LEN) {
		rc = -errno;
		snprintf(err, errlen, "%s: no randomness for a new key: %s", path, strerror(errno));
		return rc;
	}
	key[0] &= 248;
	key[31] = (uint8_t)((key[31] & 127) | 64);
	char b64[KEY_BASE64_SIZE];
	key_to_base64(b64, key);
	b64[KEY_BASE64_LEN] = '\n';
	rc = file_write_atomic(path, b64, KEY_BASE64_LEN + 1, 0600);
	key_wipe(b64, sizeof(b64));
	if (rc) {
		key_wipe(key, KEY_LEN);
		snprintf(err, errlen, "%s: cannot write a new key: %s", path, strerror(-rc));
		return rc;
	}
	*created = true;
	return 0;
}
