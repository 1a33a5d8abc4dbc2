/* file_read_all and file_write_atomic: contents, limits, modes, and nothing left behind
 * on failure. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/file.h"

int main(void)
{
	char dir[] = "/tmp/mesh-test-file.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], tmp[256], *buf = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(tmp, sizeof(tmp), "%s/f.tmp", dir);

	CHECK_INT(file_read_all(path, 100, &buf, &len), -ENOENT);

	CHECK_INT(file_write_atomic(path, "hello\n", 6, 0600), 0);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(access(tmp, F_OK), -1);
	CHECK_INT(file_read_all(path, 100, &buf, &len), 0);
	CHECK_INT(len, 6);
	CHECK_STR(buf, "hello\n");
	free(buf);

	/* Exactly at the limit is fine; one byte over is -EFBIG. */
	CHECK_INT(file_read_all(path, 6, &buf, &len), 0);
	free(buf);
	CHECK_INT(file_read_all(path, 5, &buf, &len), -EFBIG);

	/* Larger than the first buffer, replaced atomically with another mode. */
	static char big[100000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	CHECK_INT(file_write_atomic(path, big, sizeof(big), 0644), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0644);
	CHECK_INT(file_read_all(path, 1 << 20, &buf, &len), 0);
	CHECK_INT(len, sizeof(big));
	CHECK_MEM(buf, big, sizeof(big));
	free(buf);

	/* A directory that does not exist: an error, and no stray file anywhere. */
	char bad[300];
	snprintf(bad, sizeof(bad), "%s/missing/f", dir);
	CHECK_INT(file_write_atomic(bad, "x", 1, 0600), -ENOENT);
	CHECK_INT(file_read_all(dir, 10, &buf, &len), -EISDIR);

	/* Key files: created once (0600, clamped), then loaded; bad ones are errors, never
	 * replaced. */
	char kpath[256], msg[512];
	uint8_t k1[32], k2[32];
	bool created;
	snprintf(kpath, sizeof(kpath), "%s/node.key", dir);
	CHECK_INT(file_key_load_or_create(kpath, k1, &created, msg, sizeof(msg)), 0);
	CHECK(created);
	CHECK_INT(k1[0] & 7, 0);
	CHECK_INT(k1[31] & 0xc0, 0x40);
	CHECK_INT(stat(kpath, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(file_key_load_or_create(kpath, k2, &created, msg, sizeof(msg)), 0);
	CHECK(!created);
	CHECK_MEM(k1, k2, 32);
	CHECK_INT(file_write_atomic(kpath, "not a key\n", 10, 0600), 0);
	CHECK_INT(file_key_load_or_create(kpath, k2, &created, msg, sizeof(msg)), -EINVAL);
	char want[600];
	snprintf(want, sizeof(want),
		 "%s: not a valid key: key is 9 characters long; a base64 key is exactly 44", kpath);
	CHECK_STR(msg, want);
	CHECK_INT(file_read_all(kpath, 100, &buf, &len), 0); /* untouched */
	CHECK_STR(buf, "not a key\n");
	free(buf);
	unlink(kpath);
	CHECK_INT(mkdir(kpath, 0700), 0); /* unreadable as a file: an error, not a new key */
	CHECK_INT(file_key_load_or_create(kpath, k2, &created, msg, sizeof(msg)), -EISDIR);
	CHECK(!created);
	rmdir(kpath);

	unlink(path);
	CHECK_INT(rmdir(dir), 0); /* empty: nothing was left behind */
	return check_finish();
}
