/* meshctl recordings: the SSH session recordings a meshrecorder holds.
 *
 *	meshctl recordings list --recorder=URL
 *	meshctl recordings play --recorder=URL SOURCE/ID	(in Debian's asciinema)
 *	meshctl recordings get  --recorder=URL SOURCE/ID > x.cast
 *
 * The recorder comes from --recorder=URL or $MESH_RECORDER, a private CA from --ca-file=FILE
 * or $MESH_CA_FILE.  Reading needs the recorder to list this host in its --readers.  play
 * downloads the file first (to an unlinked temporary file, so a refusal is reported as one
 * and not as a file asciinema cannot read), then runs `asciinema play -` on it. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/meshctl.h"
#include "cmd/recorder/proto.h"
#include "control/admin/admin.h"

static const char usage_text[] =
    "Usage: meshctl recordings list [OPTION]...\n"
    "       meshctl recordings play [OPTION]... SOURCE/ID\n"
    "       meshctl recordings get [OPTION]... SOURCE/ID\n"
    "The SSH session recordings a meshrecorder holds: list them, play one in asciinema,\n"
    "or write one (asciicast v2) to stdout.\n"
    "\n"
    "  --recorder=URL   the recorder, e.g. http://100.64.0.9:8443 (default $MESH_RECORDER)\n"
    "  --ca-file=FILE   trust the CA in FILE for an https:// recorder (default\n"
    "                   $MESH_CA_FILE, else the system's CAs)\n";

struct rec_opts {
	const char *recorder, *ca_file, *verb, *name;
	char path[ADDR_TEXT_MAX + RECORDER_ID_MAX + 8];
};

/* false after printing a usage error */
static bool parse(int argc, char **argv, struct rec_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->recorder = getenv("MESH_RECORDER");
	o->ca_file = getenv("MESH_CA_FILE");
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--recorder=", 11) == 0) {
			o->recorder = argv[i] + 11;
		} else if (strcmp(argv[i], "--recorder") == 0 && i + 1 < argc) {
			o->recorder = argv[++i];
		} else if (strncmp(argv[i], "--ca-file=", 10) == 0) {
			o->ca_file = argv[i] + 10;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "meshctl recordings: unknown option '%s'\n", argv[i]);
			return false;
		} else if (!o->verb) {
			o->verb = argv[i];
		} else if (!o->name) {
			o->name = argv[i];
		} else {
			fprintf(stderr, "meshctl recordings: unexpected argument '%s'\n", argv[i]);
			return false;
		}
	}
	bool list = o->verb && strcmp(o->verb, "list") == 0;
	if (!o->verb || (!list && strcmp(o->verb, "play") && strcmp(o->verb, "get")) ||
	    list != !o->name) {
		fputs(usage_text, stderr);
		return false;
	}
	if (!o->recorder || !*o->recorder) {
		fprintf(stderr, "meshctl recordings: no recorder (--recorder=URL or "
				"$MESH_RECORDER)\n");
		return false;
	}
	if (o->ca_file && !*o->ca_file)
		o->ca_file = NULL;
	if (list)
		return true;
	/* SOURCE/ID as the list shows them, so nothing else reaches the URL */
	const char *slash = strrchr(o->name, '/');
	char source[ADDR_TEXT_MAX] = "";
	if (slash && (size_t)(slash - o->name) < sizeof(source))
		snprintf(source, sizeof(source), "%.*s", (int)(slash - o->name), o->name);
	if (!slash || !recorder_source_valid(source) || !recorder_id_valid(slash + 1)) {
		fprintf(stderr,
			"meshctl recordings %s: '%s' is not SOURCE/ID as 'meshctl recordings list' "
			"shows them\n",
			o->verb, o->name);
		return false;
	}
	snprintf(o->path, sizeof(o->path), "/%s", o->name);
	return true;
}

/* GET path into fd (-1: into *body); prints the error and returns 1 unless 2xx. */
static int fetch(const struct rec_opts *o, const char *path, int fd, char **body)
{
	struct ctl_admin_reply r;
	int rc = ctl_admin_recorder_get(o->recorder, o->ca_file, path, fd, &r);
	if (rc || r.status < 200 || r.status > 299) {
		fprintf(stderr, "meshctl: %s\n", r.error);
		ctl_admin_reply_clear(&r);
		return 1;
	}
	if (body)
		*body = r.body;
	else
		free(r.body);
	return 0;
}

static int list(const struct rec_opts *o)
{
	char *body;
	if (fetch(o, "", -1, &body))
		return 1;
	char *t = ctl_admin_recordings_table(body);
	free(body);
	if (!t) {
		fprintf(stderr, "meshctl: the recorder's answer is not a list of recordings\n");
		return 1;
	}
	fputs(t, stdout);
	free(t);
	return 0;
}

static int play(const struct rec_opts *o)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	if (!dir || !*dir || strlen(dir) > sizeof(path) - 32)
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/meshctl-recording-XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "meshctl: cannot make a temporary file in %s: %s\n", dir,
			strerror(errno));
		return 1;
	}
	unlink(path); /* gone when closed */
	if (fetch(o, o->path, fd, NULL) || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return 1;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "meshctl: cannot start asciinema: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	if (pid == 0) {
		dup2(fd, STDIN_FILENO);
		if (fd != STDIN_FILENO)
			close(fd);
		execlp("asciinema", "asciinema", "play", "-", (char *)NULL);
		fprintf(stderr,
			"meshctl: cannot run asciinema: %s (Debian's package asciinema; or write "
			"the file with 'meshctl recordings get')\n",
			strerror(errno));
		_exit(127);
	}
	close(fd);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int meshctl_recordings(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
	struct rec_opts o;
	if (!parse(argc, argv, &o))
		return 2;
	if (strcmp(o.verb, "list") == 0)
		return list(&o);
	if (strcmp(o.verb, "play") == 0)
		return play(&o);
	fflush(stdout);
	return fetch(&o, o.path, STDOUT_FILENO, NULL);
}
