/* meshrecorder's file store (cmd/recorder/store.c) in a scratch directory: the offset rule
 * (the size held or 409), creation (O_EXCL, 0600, directories 0700), the cap, names never
 * followed through a symbolic link, the list, two appenders at once, and a crash between
 * write and ack: bytes written and never acknowledged, the store reopened, the node asks
 * HEAD (or gets a 409) and resumes from the size on disk, and the file is the whole stream;
 * the end of a recording (end=1: nothing taken after it but the same end again). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "cmd/recorder/store.h"
#include "common/file.h"

static char root[300];

static int mode_of(const char *rel)
{
	char p[512];
	struct stat sb;
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return lstat(p, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}

static void check_content(const char *rel, const char *want)
{
	char p[512], *got = NULL;
	size_t len = 0;
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	CHECK_INT(file_read_all(p, 1 << 20, &got, &len), 0);
	CHECK_STR(got, want);
	free(got);
}

struct racer {
	struct recorder_store *st;
	uint64_t offset, held;
	int rc;
	pthread_t t;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	uint64_t held;
	int rc =
	    recorder_store_append(r->st, "10.0.0.2", "race", r->offset, "def", 3, false, &held);
	r->held = held;
	__atomic_store_n(&r->rc, rc, __ATOMIC_SEQ_CST);
	return NULL;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char base[256];
	snprintf(base, sizeof(base), "%s/recorder-store-XXXXXX", tmp);
	CHECK(mkdtemp(base) != NULL);
	snprintf(root, sizeof(root), "%s/rec", base);
	struct recorder_store *st;
	char err[256];
	uint64_t held = 99, size = 99;
	const char *src = "100.64.0.7";

	/* 1: the directory is made 0700 */
	CHECK_INT(recorder_store_open(root, 100, &st, err, sizeof(err)), 0);
	CHECK_INT(mode_of(""), 0700);
	/* 2: offset 0 creates SOURCE/ID.cast 0600 in a 0700 directory */
	CHECK_INT(recorder_store_append(st, src, "s1", 0, "hello ", 6, false, &held), 0);
	CHECK_INT(held, 6);
	CHECK_INT(mode_of("100.64.0.7"), 0700);
	CHECK_INT(mode_of("100.64.0.7/s1.cast"), 0600);
	/* 3: the next bytes at the size held */
	CHECK_INT(recorder_store_append(st, src, "s1", 6, "world", 5, false, &held), 0);
	CHECK_INT(held, 11);
	/* 4: an offset behind or ahead is 409 with the size held, nothing written */
	CHECK_INT(recorder_store_append(st, src, "s1", 6, "WORLD", 5, false, &held), -ESPIPE);
	CHECK_INT(held, 11);
	CHECK_INT(recorder_store_append(st, src, "s1", 12, "x", 1, false, &held), -ESPIPE);
	CHECK_INT(held, 11);
	/* 5: offset 0 on a recording that holds bytes: 409, never a second start */
	CHECK_INT(recorder_store_append(st, src, "s1", 0, "new", 3, false, &held), -ESPIPE);
	CHECK_INT(held, 11);
	check_content("100.64.0.7/s1.cast", "hello world");
	/* 6: offset > 0 for a recording never started, from a source never seen: 409 at 0 */
	CHECK_INT(recorder_store_append(st, src, "none", 5, "x", 1, false, &held), -ESPIPE);
	CHECK_INT(held, 0);
	CHECK_INT(recorder_store_append(st, "10.9.9.9", "none", 5, "x", 1, false, &held), -ESPIPE);
	CHECK_INT(held, 0);
	CHECK_INT(mode_of("10.9.9.9"), -1);
	/* 7: HEAD */
	CHECK_INT(recorder_store_size(st, src, "s1", &size), 0);
	CHECK_INT(size, 11);
	CHECK_INT(recorder_store_size(st, src, "none", &size), -ENOENT);
	CHECK_INT(recorder_store_size(st, "10.9.9.9", "none", &size), -ENOENT);
	/* 8: the cap (100): up to it exactly, then 507 with the size unchanged */
	static char big[100];
	memset(big, 'b', sizeof(big));
	CHECK_INT(recorder_store_append(st, src, "s1", 11, big, 89, false, &held), 0);
	CHECK_INT(held, 100);
	CHECK_INT(recorder_store_append(st, src, "s1", 100, "x", 1, false, &held), -EFBIG);
	CHECK_INT(held, 100);
	CHECK_INT(recorder_store_append(st, src, "cap", 0, big, 100, false, &held), 0);
	CHECK_INT(recorder_store_append(st, src, "cap2", 0, big, 101, false, &held), -EFBIG);
	CHECK_INT(held, 0);
	CHECK_INT(recorder_store_size(st, src, "cap2", &size), -ENOENT); /* not even created */

	/* 9: crash between write and ack.  The node sent "line1\n" (acked, 6) and then
	 * "line2\nline3\n" at 6; the recorder wrote "line2\nli" and died before its fsync and
	 * its answer.  Simulated: the torn bytes written straight into the file. */
	CHECK_INT(recorder_store_append(st, src, "crash", 0, "line1\n", 6, false, &held), 0);
	recorder_store_free(st);
	{
		char p[512];
		snprintf(p, sizeof(p), "%s/100.64.0.7/crash.cast", root);
		int fd = open(p, O_WRONLY);
		CHECK(fd >= 0);
		CHECK_INT(pwrite(fd, "line2\nli", 8, 6), 8);
		close(fd);
	}
	CHECK_INT(recorder_store_open(root, 100, &st, err, sizeof(err)), 0);
	/* the node resends from its acked 6: 409, and the size on disk is the truth */
	CHECK_INT(recorder_store_append(st, src, "crash", 6, "line2\nline3\n", 12, false, &held),
		  -ESPIPE);
	CHECK_INT(held, 14);
	/* after a reconnect it asks HEAD instead: the same answer */
	CHECK_INT(recorder_store_size(st, src, "crash", &size), 0);
	CHECK_INT(size, 14);
	/* it still holds every byte not acknowledged, so it sends the rest from 14 */
	CHECK_INT(recorder_store_append(st, src, "crash", 14, "ne3\n", 4, false, &held), 0);
	CHECK_INT(held, 18);
	check_content("100.64.0.7/crash.cast", "line1\nline2\nline3\n");

	/* 10: a crash between the creation and the first write left an empty file: the node's
	 * offset 0 is the size held, so it is taken */
	{
		char p[512];
		snprintf(p, sizeof(p), "%s/100.64.0.7/empty.cast", root);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		CHECK(fd >= 0);
		close(fd);
	}
	CHECK_INT(recorder_store_append(st, src, "empty", 0, "x", 1, false, &held), 0);
	CHECK_INT(held, 1);

	/* 11: a symbolic link is never followed, for a recording or a source */
	{
		char p[512], t[512];
		snprintf(t, sizeof(t), "%s/outside", base);
		CHECK_INT(file_write_atomic(t, "secret", 6, 0600), 0);
		snprintf(p, sizeof(p), "%s/100.64.0.7/link.cast", root);
		CHECK_INT(symlink(t, p), 0);
		CHECK_INT(recorder_store_append(st, src, "link", 6, "x", 1, false, &held), -ELOOP);
		CHECK_INT(recorder_store_append(st, src, "link", 0, "x", 1, false, &held), -ELOOP);
		int fd;
		CHECK_INT(recorder_store_read(st, src, "link", &fd, &size), -ELOOP);
		snprintf(p, sizeof(p), "%s/10.0.0.66", root);
		CHECK_INT(symlink(base, p), 0);
		CHECK_INT(
		    recorder_store_append(st, "10.0.0.66", "outside", 0, "x", 1, false, &held),
		    -ENOTDIR);
		char *got = NULL;
		size_t len;
		CHECK_INT(file_read_all(t, 100, &got, &len), 0);
		CHECK_STR(got, "secret");
		free(got);
	}

	/* 12: read back */
	{
		int fd = -1;
		char buf[32] = "";
		CHECK_INT(recorder_store_read(st, src, "crash", &fd, &size), 0);
		CHECK_INT(size, 18);
		CHECK_INT(read(fd, buf, sizeof(buf)), 18);
		CHECK_STR(buf, "line1\nline2\nline3\n");
		close(fd);
		CHECK_INT(recorder_store_read(st, src, "none", &fd, &size), -ENOENT);
	}

	/* 13: eight appenders at the same offset: exactly one is taken */
	CHECK_INT(recorder_store_append(st, "10.0.0.2", "race", 0, "abc", 3, false, &held), 0);
	struct racer r[8];
	for (int i = 0; i < 8; i++) {
		r[i].st = st;
		r[i].offset = 3;
		CHECK_INT(pthread_create(&r[i].t, NULL, race, &r[i]), 0);
	}
	int won = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(r[i].t, NULL);
		CHECK(r[i].rc == 0 || r[i].rc == -ESPIPE);
		won += r[i].rc == 0;
	}
	CHECK_INT(won, 1);
	check_content("10.0.0.2/race.cast", "abcdef");
	/* 13b: the lock is what serializes them: while another holder has the file locked (and
	 * appends), an append waits, then finds the size moved and answers 409 */
	{
		char p[512];
		snprintf(p, sizeof(p), "%s/10.0.0.2/race.cast", root);
		int fd = open(p, O_WRONLY);
		CHECK(fd >= 0);
		CHECK_INT(flock(fd, LOCK_EX), 0);
		struct racer w = { .st = st, .rc = 1 };
		w.offset = 6;
		CHECK_INT(pthread_create(&w.t, NULL, race, &w), 0);
		usleep(200 * 1000);
		CHECK_INT(__atomic_load_n(&w.rc, __ATOMIC_SEQ_CST), 1); /* still waiting */
		CHECK_INT(pwrite(fd, "ghi", 3, 6), 3);
		CHECK_INT(flock(fd, LOCK_UN), 0);
		pthread_join(w.t, NULL);
		CHECK_INT(w.rc, -ESPIPE);
		CHECK_INT(w.held, 9);
		close(fd);
		check_content("10.0.0.2/race.cast", "abcdefghi");
	}

	/* 14: the list: sorted by source then id; links, other names and files skipped */
	{
		char p[512];
		snprintf(p, sizeof(p), "%s/100.64.0.7/notes.txt", root);
		CHECK_INT(file_write_atomic(p, "x", 1, 0600), 0);
		snprintf(p, sizeof(p), "%s/junk", root);
		CHECK_INT(mkdir(p, 0700), 0);
		snprintf(p, sizeof(p), "%s/junk/a.cast", root);
		CHECK_INT(file_write_atomic(p, "x", 1, 0600), 0);
		snprintf(p, sizeof(p), "%s/100.64.0.7/.x.cast", root);
		CHECK_INT(file_write_atomic(p, "x", 1, 0600), 0);
	}
	struct recorder_entry *v;
	size_t n;
	CHECK_INT(recorder_store_list(st, &v, &n), 0);
	const char *want[] = { "10.0.0.2 race 9", "100.64.0.7 cap 100", "100.64.0.7 crash 18",
			       "100.64.0.7 empty 1", "100.64.0.7 s1 100" };
	CHECK_INT(n, 5);
	for (size_t i = 0; i < n && i < 5; i++) {
		char got[256];
		snprintf(got, sizeof(got), "%s %s %llu", v[i].source, v[i].id,
			 (unsigned long long)v[i].size);
		CHECK_STR(got, want[i]);
		CHECK(v[i].mtime > 1700000000);
	}
	free(v);

	/* 16: the end: the bytes with end=1 are taken and finish the recording (mode 0400,
	 * "ended" in the list); the same end again is taken (its answer was lost), anything
	 * after it refused with the size held */
	CHECK_INT(recorder_store_append(st, "10.0.0.3", "fin", 0, "ab", 2, false, &held), 0);
	CHECK_INT(recorder_store_append(st, "10.0.0.3", "fin", 2, "cd", 2, true, &held), 0);
	CHECK_INT(held, 4);
	CHECK_INT(mode_of("10.0.0.3/fin.cast"), 0400);
	CHECK_INT(recorder_store_append(st, "10.0.0.3", "fin", 4, "", 0, true, &held), 0);
	CHECK_INT(held, 4);
	held = 0;
	CHECK_INT(recorder_store_append(st, "10.0.0.3", "fin", 4, "e", 1, false, &held), -EROFS);
	CHECK_INT(held, 4);
	CHECK_INT(recorder_store_append(st, "10.0.0.3", "fin", 4, "e", 1, true, &held), -EROFS);
	CHECK_INT(recorder_store_append(st, "10.0.0.3", "fin", 2, "", 0, true, &held), -EROFS);
	CHECK_INT(recorder_store_append(st, "10.0.0.3", "fin", 0, "x", 1, false, &held), -EROFS);
	check_content("10.0.0.3/fin.cast", "abcd");
	/* 16b: the same for a meshrecorder that is not root: an ended (0400) file cannot be
	 * opened for writing, and the end said again is still taken, anything else refused */
	if (geteuid() == 0) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "chown -R 65534:65534 '%s'", base);
		CHECK_INT(system(cmd), 0);
		pid_t pid = fork();
		if (pid == 0) {
			uint64_t h = 0;
			bool good =
			    setgid(65534) == 0 && setuid(65534) == 0 &&
			    recorder_store_append(st, "10.0.0.3", "fin", 4, "", 0, true, &h) == 0 &&
			    h == 4 &&
			    recorder_store_append(st, "10.0.0.3", "fin", 4, "e", 1, false, &h) ==
				-EROFS;
			_exit(good ? 0 : 1);
		}
		int status = -1;
		CHECK_INT(waitpid(pid, &status, 0), pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		snprintf(cmd, sizeof(cmd), "chown -R 0:0 '%s'", base);
		CHECK_INT(system(cmd), 0);
	}
	/* an empty end on a live recording ends it where it is */
	CHECK_INT(recorder_store_append(st, "10.0.0.3", "open", 0, "xy", 2, false, &held), 0);
	CHECK_INT(recorder_store_append(st, "10.0.0.3", "open", 2, "", 0, true, &held), 0);
	CHECK_INT(recorder_store_list(st, &v, &n), 0);
	CHECK_INT(n, 7);
	CHECK(n == 7 && !v[0].ended && v[1].ended && v[2].ended && !v[3].ended);
	free(v);
	recorder_store_free(st);

	/* 15: a store directory that cannot be made: the sentence names it */
	snprintf(err, sizeof(err), "?");
	char bad[512];
	snprintf(bad, sizeof(bad), "%s/outside/rec", base);
	CHECK_INT(recorder_store_open(bad, 100, &st, err, sizeof(err)), -ENOTDIR);
	char want_err[600];
	snprintf(want_err, sizeof(want_err), "cannot create the directory %s: Not a directory",
		 bad);
	CHECK_STR(err, want_err);

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	CHECK_INT(system(cmd), 0);
	return check_finish();
}
