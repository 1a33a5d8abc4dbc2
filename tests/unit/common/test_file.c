/* file_read_all, file_write_atomic and file_append: contents, limits, modes, and nothing
 * left behind on failure; file_read_secret refuses a key other users may read, with its exact
 * words. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "common/file.h"

/* How many entries dir holds (. and .. aside). */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/mesh-test-file.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], *buf = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/f", dir);

	CHECK_INT(file_read_all(path, 100, &buf, &len), -ENOENT);

	CHECK_INT(file_write_atomic(path, "hello\n", 6, 0600), 0);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(entries(dir), 1); /* no temporary file left beside it */
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

	/* Two writers of one path at once (meshds sharing /etc in namespaces): each write
	 * succeeds and leaves the file whole — with one temporary name for both, one's rename
	 * found the other's file gone (ENOENT) or renamed a half-written one. */
	pid_t kid[2];
	for (int k = 0; k < 2; k++) {
		if ((kid[k] = fork()) == 0) {
			int bad_writes = 0;
			for (int i = 0; i < 300; i++)
				bad_writes += file_write_atomic(path, big, sizeof(big), 0644) != 0;
			_exit(bad_writes ? 1 : 0);
		}
	}
	for (int k = 0; k < 2; k++) {
		int status = -1;
		CHECK_INT(waitpid(kid[k], &status, 0), kid[k]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK_INT(entries(dir), 1);
	CHECK_INT(file_read_all(path, 1 << 20, &buf, &len), 0);
	CHECK_INT(len, sizeof(big));
	free(buf);

	/* A directory that does not exist: an error, and no stray file anywhere. */
	char bad[300];
	snprintf(bad, sizeof(bad), "%s/missing/f", dir);
	CHECK_INT(file_write_atomic(bad, "x", 1, 0600), -ENOENT);
	CHECK_INT(file_read_all(dir, 10, &buf, &len), -EISDIR);

	/* file_append: created with the mode, then added to; a symlink refused */
	char apath[256], alink[256];
	snprintf(apath, sizeof(apath), "%s/log", dir);
	snprintf(alink, sizeof(alink), "%s/log-link", dir);
	CHECK_INT(file_append(apath, "ab", 2, 0600), 0);
	CHECK_INT(file_append(apath, "cd\n", 3, 0644), 0);
	CHECK_INT(stat(apath, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(file_read_all(apath, 100, &buf, &len), 0);
	CHECK_INT(len, 5);
	CHECK_STR(buf, "abcd\n");
	free(buf);
	CHECK_INT(symlink(apath, alink), 0);
	CHECK_INT(file_append(alink, "x", 1, 0600), -ELOOP);
	CHECK_INT(file_append(bad, "x", 1, 0600), -ENOENT);
	CHECK_INT(unlink(alink), 0);
	CHECK_INT(unlink(apath), 0);

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
	char want[1400];
	snprintf(want, sizeof(want),
		 "%s: not a valid key: key is 9 characters long; a base64 key is exactly 44",
		 kpath);
	CHECK_STR(msg, want);
	CHECK_INT(file_read_all(kpath, 100, &buf, &len), 0); /* untouched */
	CHECK_STR(buf, "not a key\n");
	free(buf);
	unlink(kpath);
	CHECK_INT(mkdir(kpath, 0700), 0); /* unreadable as a file: an error, not a new key */
	CHECK_INT(file_key_load_or_create(kpath, k2, &created, msg, sizeof(msg)), -EISDIR);
	CHECK(!created);
	rmdir(kpath);

	/* Secret files (TLS keys): a numbered table of modes, each read through a symlink too
	 * (the mode that counts is the target's). */
	static const struct {
		mode_t mode;
		int want;
	} modes[] = {
		/* 0 */ { 0600, 0 },	   /* 1 */ { 0400, 0 },
		/* 2 */ { 0644, -EACCES },
		/* 3 */ { 0640, -EACCES }, /* 4 */ { 0604, -EACCES },
		/* 5 */ { 0620, -EACCES },
		/* 6 */ { 0602, -EACCES }, /* 7 */ { 0610, -EACCES },
		/* 8 */ { 0700, 0 },
	};
	char link[256];
	snprintf(link, sizeof(link), "%s/key.link", dir);
	CHECK_INT(symlink(kpath, link), 0);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		CHECK_INT(file_write_atomic(kpath, "secret\n", 7, modes[i].mode), 0);
		for (int via_link = 0; via_link < 2; via_link++) {
			const char *p = via_link ? link : kpath;
			buf = NULL;
			msg[0] = '\0';
			int rc = file_read_secret(p, 100, &buf, &len, msg, sizeof(msg));
			if (rc != modes[i].want)
				fprintf(stderr, "mode case %zu (%s)\n", i, p);
			CHECK_INT(rc, modes[i].want);
			if (rc == 0) {
				CHECK_STR(buf, "secret\n");
				CHECK_INT(len, 7);
			} else {
				CHECK(buf == NULL);
				snprintf(want, sizeof(want),
					 "%s is open to other users (mode %04o): a "
					 "secret must be readable by its owner only (chmod 600 %s)",
					 p, (unsigned)modes[i].mode, p);
				CHECK_STR(msg, want);
			}
			free(buf);
		}
	}
	chmod(kpath, 0600);
	CHECK_INT(file_read_secret(kpath, 3, &buf, &len, msg, sizeof(msg)), -EFBIG);
	snprintf(want, sizeof(want), "%s: larger than a key file can be", kpath);
	CHECK_STR(msg, want);
	unlink(kpath);
	CHECK_INT(file_read_secret(link, 100, &buf, &len, msg, sizeof(msg)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", link);
	CHECK_STR(msg, want);
	unlink(link);

	/* a secret on one line (an auth key, an admin token): the first line, the rest gone */
	CHECK_INT(file_write_atomic(kpath, "mskey-abc\r\nsecond line\n", 22, 0600), 0);
	char *line = file_read_secret_line(kpath, msg, sizeof(msg));
	CHECK_STR(line, "mskey-abc");
	CHECK_STR(line + strlen(line) + 1, ""); /* what followed was wiped */
	free(line);
	CHECK_INT(file_write_atomic(kpath, "\nmskey-abc\n", 11, 0600), 0);
	CHECK(file_read_secret_line(kpath, msg, sizeof(msg)) == NULL);
	snprintf(want, sizeof(want), "%s: the first line is empty", kpath);
	CHECK_STR(msg, want);
	CHECK_INT(file_write_atomic(kpath, "mskey-abc\n", 10, 0644), 0);
	CHECK(file_read_secret_line(kpath, msg, sizeof(msg)) == NULL);
	snprintf(want, sizeof(want),
		 "%s is open to other users (mode 0644): a secret must be "
		 "readable by its owner only (chmod 600 %s)",
		 kpath, kpath);
	CHECK_STR(msg, want);
	unlink(kpath);
	CHECK(file_read_secret_line(kpath, msg, sizeof(msg)) == NULL);
	snprintf(want, sizeof(want), "%s: No such file or directory", kpath);
	CHECK_STR(msg, want);

	unlink(path);
	CHECK_INT(rmdir(dir), 0); /* empty: nothing was left behind */
	return check_finish();
}
