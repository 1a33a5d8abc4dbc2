/* Session cgroups (cgroup v2), so that revoking a session ends everything it started,
 * also what left the process group with setsid or nohup.
 *
 * Each session gets "<meshd's cgroup>/session-<meshd pid>-<n>", made before the login
 * child forks; the user's process moves itself in before it drops root (child.c), and
 * its descendants inherit it.  meshd creates no controllers, so the no-internal-processes
 * rule does not apply and meshd can stay where it is.  When PAM puts the session into a
 * logind scope (pam_systemd), that scope is the session's group and is ended instead,
 * with the monitor (which must close the PAM session) spared.  Ending a group uses
 * cgroup.kill (Linux 5.14), else SIGKILL to every pid in cgroup.procs until it is empty.
 *
 * Where the cgroup v2 tree is missing or not writable, the server says so loudly once at
 * start and at every revocation, and sessions are ended through their process group. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "sshd/internal.h"

#define SUBJ "sshd"

enum { KILL_ROUNDS = 50 };

/* Copy `s` whole or not at all: a cut path would name another cgroup. */
static bool copy_text(char *out, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size)
		return false;
	memcpy(out, s, n + 1);
	return true;
}

/* The rest of the first line of `path` that starts with `prefix`, without its newline;
 * false when unreadable or too long. */
static bool read_line(const char *path, const char *prefix, char *out, size_t size)
{
	char line[1024];
	FILE *f = fopen(path, "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, prefix, strlen(prefix)) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		found = copy_text(out, size, line + strlen(prefix));
		break;
	}
	fclose(f);
	return found;
}

/* Where cgroup2 is mounted (mountinfo: "... MOUNTPOINT ... - cgroup2 ..."). */
static bool find_mount(char *out, size_t size)
{
	char line[1024];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - cgroup2 "), *mnt;
		if (!dash)
			continue;
		/* fields: id parent major:minor root mountpoint */
		mnt = line;
		for (int i = 0; i < 4 && mnt; i++) {
			mnt = strchr(mnt, ' ');
			if (mnt)
				mnt++;
		}
		if (!mnt)
			continue;
		mnt[strcspn(mnt, " ")] = '\0';
		found = copy_text(out, size, mnt);
		break;
	}
	fclose(f);
	return found;
}

void sshd__cg_init(struct sshd_server *srv)
{
	char probe[sizeof(srv->cg_base) + 32];
	const char *why = NULL;

	srv->cg_ok = false;
	if (!find_mount(srv->cg_mount, sizeof(srv->cg_mount)))
		why = "no cgroup v2 file system is mounted";
	else if (!read_line("/proc/self/cgroup", "0::", srv->cg_self, sizeof(srv->cg_self)))
		why = "/proc/self/cgroup names no cgroup v2 path";
	else if (strlen(srv->cg_mount) + strlen(srv->cg_self) >= sizeof(srv->cg_base))
		why = "the cgroup path is too long";
	if (!why) {
		strcpy(srv->cg_base, srv->cg_mount);
		if (strcmp(srv->cg_self, "/") != 0)
			strcat(srv->cg_base, srv->cg_self);
		snprintf(probe, sizeof(probe), "%s/session-%d-probe", srv->cg_base, (int)getpid());
		rmdir(probe);
		if (mkdir(probe, 0755) < 0)
			why = strerror(errno);
		else
			rmdir(probe);
	}
	if (why) {
		log_warn(SUBJ,
			 "session cgroups unavailable (%s%s%s): a revoked session is ended "
			 "through its process group only, and processes its user started with "
			 "setsid or nohup keep running",
			 why, srv->cg_base[0] ? " at " : "", srv->cg_base);
		return;
	}
	srv->cg_ok = true;
	log_info(SUBJ, "sessions get cgroups under %s", srv->cg_base);
}

struct sshd__cg *sshd__cg_new(struct sshd_server *srv)
{
	struct sshd__cg *cg = calloc(1, sizeof(*cg));

	if (!cg)
		return NULL;
	snprintf(cg->path, sizeof(cg->path), "%s/session-%d-%u", srv->cg_base, (int)getpid(),
		 ++srv->cg_seq);
	if (mkdir(cg->path, 0755) < 0) {
		log_err(SUBJ, "cannot make the session cgroup %s: %s", cg->path, strerror(errno));
		free(cg);
		return NULL;
	}
	cg->live = true;
	sshd__list_add(&srv->cgroups, &cg->node);
	return cg;
}

/* SIGKILL every pid in `dir`/cgroup.procs but `spare`, until none is left; true when
 * done within KILL_ROUNDS passes (a fork bomb racing us is frozen first). */
static bool kill_procs(const char *dir, pid_t spare)
{
	char path[512], line[32];
	bool frozen;
	int round;

	snprintf(path, sizeof(path), "%s/cgroup.freeze", dir);
	frozen = spare == 0 && access(path, W_OK) == 0;
	if (frozen) {
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		frozen = fd >= 0 && write(fd, "1", 1) == 1;
		if (fd >= 0)
			close(fd);
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	for (round = 0; round < KILL_ROUNDS; round++) {
		FILE *f = fopen(path, "re");
		int others = 0;
		if (!f)
			break;
		while (fgets(line, sizeof(line), f)) {
			pid_t pid = (pid_t)atoi(line);
			if (pid > 0 && pid != spare) {
				kill(pid, SIGKILL);
				others++;
			}
		}
		fclose(f);
		if (others == 0)
			break;
		usleep(1000);
	}
	if (frozen) {
		snprintf(path, sizeof(path), "%s/cgroup.freeze", dir);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "0", 1) != 1) {
				/* killed tasks leave a frozen group all the same */
			}
			close(fd);
		}
	}
	return round < KILL_ROUNDS;
}

static bool write_kill(const char *dir)
{
	char path[512];
	int fd;
	bool ok;

	snprintf(path, sizeof(path), "%s/cgroup.kill", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = write(fd, "1", 1) == 1;
	close(fd);
	return ok;
}

void sshd__cg_kill(struct sshd_server *srv, struct sshd__cg *cg, pid_t monitor)
{
	char proc[64], scope[256], dir[sizeof(srv->cg_mount) + sizeof(scope)];

	/* a monitor outside meshd's own cgroup was put into a logind scope by PAM */
	snprintf(proc, sizeof(proc), "/proc/%d/cgroup", (int)monitor);
	if (monitor > 0 && read_line(proc, "0::", scope, sizeof(scope)) &&
	    strcmp(scope, srv->cg_self) != 0) {
		snprintf(dir, sizeof(dir), "%s%s", srv->cg_mount, scope);
		if (!kill_procs(dir, monitor))
			log_warn(SUBJ, "%s: processes keep appearing; gave up after %d rounds", dir,
				 KILL_ROUNDS);
		else
			log_info(SUBJ, "ended the processes of the session scope %s", scope);
	}
	if (!write_kill(cg->path) && !kill_procs(cg->path, 0))
		log_warn(SUBJ, "%s: processes keep appearing; gave up after %d rounds", cg->path,
			 KILL_ROUNDS);
	else
		log_info(SUBJ, "ended every process in %s", cg->path);
}

void sshd__cg_sweep(struct sshd_server *srv, bool all)
{
	struct sshd__node *n, *next;

	for (n = srv->cgroups.next; n != &srv->cgroups; n = next) {
		struct sshd__cg *cg = container_of(n, struct sshd__cg, node);

		next = n->next;
		if (cg->live && !all)
			continue;
		if (rmdir(cg->path) < 0 && errno != ENOENT) {
			if (!all)
				continue; /* processes still run in it (nohup); next time */
			log_info(SUBJ, "%s still holds processes; left in place", cg->path);
		}
		sshd__list_del(&cg->node);
		free(cg);
	}
}
