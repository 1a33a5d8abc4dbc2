/* Session recordings on the node (record.h): the deciding rule's recording action from the
 * current netmap, one asciicast file per session, the size cap, and what a failure does. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/daemon/node.h"
#include "cmd/daemon/record.h"
#include "common/log.h"
#include "common/now.h"
#include "control/netmap/netmap.h"
#include "control/policy/policy.h"
#include "rec/asciicast.h"
#include "sshd/sshd.h"

static const char subject[] = "record";

enum {
	CHUNK = 16384, /* output is written in events of at most this many bytes */
	RESERVE = 512, /* room kept under the cap for the final marker */
	HEADER_MAX = 8192,
};

struct meshd_record {
	const struct meshd_node *node;
	char *dir; /* NULL: no local copies */
	uint64_t max_bytes;
	uint64_t count; /* sessions recorded: the file names' <n> */
	char buf[REC_CAST_EVENT_MAX(CHUNK) + HEADER_MAX];
};

struct rec_session {
	struct meshd_record *rec;
	int fd; /* -1 once stopped */
	struct rec_cast cast;
	uint64_t bytes;
	bool enforce;
	char path[4096];
};

static int64_t now_usec(void)
{
	return (int64_t)(now_mono_ns() / 1000);
}

/* A file name part: [A-Za-z0-9._-], others as '_', at most 63 bytes, never starting '.'. */
static void name_part(const char *s, char *out, size_t size)
{
	size_t n = 0;
	for (; s && *s && n + 1 < size && n < 63; s++) {
		bool keep = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
			    (*s == '.' && n > 0);
		out[n++] = keep ? *s : '_';
	}
	out[n] = '\0';
	if (!n)
		snprintf(out, size, "unknown");
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Ends the file with a marker that says why (room for it was kept under the cap). */
static void stop(struct rec_session *s, const char *why)
{
	if (s->fd < 0)
		return;
	ssize_t n = rec_cast_flush(&s->cast, now_usec(), s->rec->buf, sizeof(s->rec->buf));
	if (n > 0 && (uint64_t)n + s->bytes + RESERVE / 2 <= s->rec->max_bytes &&
	    write_all(s->fd, s->rec->buf, (size_t)n))
		s->bytes += (uint64_t)n;
	n = rec_cast_marker(&s->cast, now_usec(), why, s->rec->buf, sizeof(s->rec->buf));
	if (n > 0 && write_all(s->fd, s->rec->buf, (size_t)n))
		s->bytes += (uint64_t)n;
	close(s->fd);
	s->fd = -1;
}

/* Appends an event the writer put in rec->buf; false (and the recording stopped) at the
 * cap or on a write error. */
static bool append(struct rec_session *s, ssize_t n)
{
	char why[160];
	if (n <= 0)
		return n == 0;
	if (s->bytes + (uint64_t)n + RESERVE > s->rec->max_bytes) {
		snprintf(why, sizeof(why), "recording stopped: the size cap of %" PRIu64 " bytes",
			 s->rec->max_bytes);
		log_warn(subject,
			 "%s: size cap of %" PRIu64 " bytes reached; the rest of the "
			 "session is not recorded",
			 s->path, s->rec->max_bytes);
		stop(s, why);
		return false;
	}
	if (!write_all(s->fd, s->rec->buf, (size_t)n)) {
		log_warn(subject, "%s: %s; the rest of the session is not recorded", s->path,
			 strerror(errno));
		snprintf(why, sizeof(why), "recording stopped: %s", strerror(errno));
		stop(s, why);
		return false;
	}
	s->bytes += (uint64_t)n;
	return true;
}

/* The deciding rule's recording action for this login, from the current netmap. */
static const struct pol_ssh_rule *deciding_rule(const struct ctl_netmap *nm,
						const struct addr_ip *src, const char *user)
{
	struct pol_decision d;
	if (!nm)
		return NULL;
	pol_ssh_rules_decide((const struct pol_ssh_rule *const *)nm->ssh, nm->n_ssh, src, user, &d);
	return d.verdict == VERDICT_REJECT ? NULL : d.ssh_rule;
}

static bool open_file(struct meshd_record *rec, struct rec_session *s, const char *node_name)
{
	char name[64];
	name_part(node_name, name, sizeof(name));
	rec->count++;
	snprintf(s->path, sizeof(s->path), "%s/%lld-%s-%" PRIu64 ".cast", rec->dir,
		 (long long)(now_wall_ns() / 1000000000), name, rec->count);
	s->fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	return s->fd >= 0;
}

static void *on_start(void *ctx, const struct sshd_session_info *si, char *refuse,
		      size_t refuse_len)
{
	struct meshd_record *rec = ctx;
	const struct ctl_netmap *nm = meshd_node_netmap(rec->node);
	struct addr_endpoint src;
	char addr[ADDR_TEXT_MAX] = "", conn_id[32];
	if (!addr_endpoint_from_sockaddr(si->peer, &src))
		return NULL;
	addr_ip_unmap(&src.ip);
	addr_ip_format(&src.ip, addr);
	const struct pol_ssh_rule *r = deciding_rule(nm, &src.ip, si->ssh_user);
	bool wants = r && (r->n_recorders || r->enforce_recorder);
	bool enforce = r && r->enforce_recorder;
	if (!rec->dir) {
		if (wants)
			log_warn(subject,
				 "%s as %s: ssh[%d] asks for a recorder, and meshd keeps no copy "
				 "(no --record-dir) and has no uploader: %s",
				 addr, si->local_user, r->index,
				 enforce ? "refused" : "the session is not recorded");
		if (enforce)
			snprintf(refuse, refuse_len, "%s", POL_REC_REFUSE_MSG);
		return NULL;
	}
	struct addr_prefix host = addr_host_prefix(&src.ip);
	const struct ctl_node *peer = nm ? ctl_netmap_peer_by_addr(nm, &host) : NULL;
	struct rec_session *s = calloc(1, sizeof(*s));
	if (!s || !open_file(rec, s, peer ? peer->name : addr)) {
		log_warn(subject, "%s as %s: cannot record: %s; %s", addr, si->local_user,
			 s ? strerror(errno) : "out of memory",
			 enforce ? "refused" : "the session goes on unrecorded");
		if (enforce)
			snprintf(refuse, refuse_len, "%s", POL_REC_REFUSE_MSG);
		free(s);
		return NULL;
	}
	s->rec = rec;
	s->enforce = enforce;
	rec_cast_init(&s->cast, now_usec());
	snprintf(conn_id, sizeof(conn_id), "%" PRIu64, rec->count);
	struct rec_header h = { .width = si->cols,
				.height = si->rows,
				.timestamp = (int64_t)(now_wall_ns() / 1000000000),
				.command = si->command,
				.term = si->term,
				.src_node = peer ? peer->name : addr,
				.src_addr = addr,
				.src_owner = peer ? peer->owner : NULL,
				.src_tags = peer ? (const char *const *)peer->tags : NULL,
				.n_src_tags = peer ? peer->n_tags : 0,
				.ssh_user = si->ssh_user,
				.local_user = si->local_user,
				.conn_id = conn_id };
	ssize_t hn = rec_cast_header(&h, rec->buf, sizeof(rec->buf));
	if (hn < 0) {
		h.command = "(a command longer than the header allows)";
		hn = rec_cast_header(&h, rec->buf, sizeof(rec->buf));
	}
	if (hn < 0 || !append(s, hn)) {
		/* no header, no recording: a file of events alone would not play */
		log_warn(subject, "%s as %s: cannot write the recording's header to %s; %s", addr,
			 si->local_user, s->path,
			 enforce ? "refused" : "the session goes on unrecorded");
		if (s->fd >= 0)
			close(s->fd);
		unlink(s->path);
		if (enforce)
			snprintf(refuse, refuse_len, "%s", POL_REC_REFUSE_MSG);
		free(s);
		return NULL;
	}
	log_info(subject, "%s as %s: recording to %s", addr, si->local_user, s->path);
	return s;
}

static bool on_output(void *sess, const void *data, size_t len, bool is_stderr, char *message,
		      size_t message_len)
{
	struct rec_session *s = sess;
	const char *p = data;
	(void)is_stderr; /* asciicast has one output stream: both go to "o" */
	while (s->fd >= 0 && len) {
		size_t k = len < CHUNK ? len : CHUNK;
		ssize_t n =
		    rec_cast_output(&s->cast, now_usec(), p, k, s->rec->buf, sizeof(s->rec->buf));
		if (!append(s, n))
			break;
		p += k;
		len -= k;
	}
	if (s->fd < 0 && s->enforce) {
		snprintf(message, message_len, "%s", POL_REC_END_MSG);
		return false;
	}
	return true;
}

static void on_resize(void *sess, unsigned cols, unsigned rows)
{
	struct rec_session *s = sess;
	if (s->fd >= 0)
		append(s, rec_cast_resize(&s->cast, now_usec(), cols, rows, s->rec->buf,
					  sizeof(s->rec->buf)));
}

static void on_end(void *sess, int status)
{
	struct rec_session *s = sess;
	char why[64];
	if (status < 0)
		snprintf(why, sizeof(why), "session ended by meshd");
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "exit status %d", WEXITSTATUS(status));
	if (s->fd >= 0) {
		stop(s, why);
		log_info(subject, "%s: %" PRIu64 " bytes, %s", s->path, s->bytes, why);
	}
	free(s);
}

int meshd_record_new(const struct meshd_node *node, const char *dir, uint64_t max_bytes,
		     struct sshd_hooks *hooks, struct meshd_record **out)
{
	struct meshd_record *rec = calloc(1, sizeof(*rec));
	if (!rec)
		return -ENOMEM;
	rec->node = node;
	rec->max_bytes = max_bytes ? max_bytes : MESHD_RECORD_MAX_BYTES;
	if (rec->max_bytes < 2 * HEADER_MAX)
		rec->max_bytes = 2 * HEADER_MAX;
	if (dir) {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			int e = -errno;
			log_err(subject, "--record-dir %s: %s", dir, strerror(errno));
			free(rec);
			return e;
		}
		rec->dir = strdup(dir);
		if (!rec->dir) {
			free(rec);
			return -ENOMEM;
		}
	}
	hooks->session_start = on_start;
	hooks->session_output = on_output;
	hooks->session_resize = on_resize;
	hooks->session_end = on_end;
	hooks->session_ctx = rec;
	*out = rec;
	return 0;
}

void meshd_record_free(struct meshd_record *rec)
{
	if (!rec)
		return;
	free(rec->dir);
	free(rec);
}
