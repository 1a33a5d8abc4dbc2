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

#include "cmd/daemon/audit.h"
#include "cmd/daemon/node.h"
#include "cmd/daemon/record.h"
#include "cmd/daemon/record_upload.h"
#include "cmd/recorder/proto.h"
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
	struct meshd_upload_config up; /* the uploads to recorders */
	char *dir;		       /* NULL: no local copies */
	uint64_t max_bytes;
	uint64_t count; /* sessions recorded: the file names' <n> */
	char buf[REC_CAST_EVENT_MAX(CHUNK) + HEADER_MAX];
};

struct rec_session {
	struct meshd_record *rec;
	struct sshd_session *ss;
	int fd; /* the local copy, -1: none or stopped */
	struct rec_cast cast;
	uint64_t bytes;
	bool enforce;
	char path[4096];
	char id[RECORDER_ID_MAX + 1]; /* the recording's name: <unix time>-<source>-<n> */
	/* the upload to the rule's recorders: NULL none; up_failed once it gave up (it still
	 * gets its meshd_upload_end); held while enforced and no recorder took it yet */
	struct meshd_upload *up;
	bool up_failed, held;
	/* for the audit log's record.fail */
	struct addr_ip src;
	char ssh_user[SSHD_NAME_MAX], local_user[SSHD_NAME_MAX];
};

/* A recording that failed: record.fail in the audit log, what says how and what follows. */
static void audit_fail(const struct meshd_record *rec, const struct addr_ip *src,
		       const char *ssh_user, const char *local_user, const char *what)
{
	meshd_audit_ssh(rec->node, AUDIT_RECORD_FAIL, src, ssh_user, local_user, what);
}

static void session_fail(const struct rec_session *s, const char *what)
{
	char d[sizeof(s->id) + AUDIT_TEXT_MAX + 2]; /* cut to AUDIT_TEXT_MAX by audit_text_set */
	snprintf(d, sizeof(d), "%s: %s", s->id, what);
	audit_fail(s->rec, &s->src, s->ssh_user, s->local_user, d);
}

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

/* Ends the local file with a marker that says why (room for it was kept under the cap).  In a
 * buffer of its own: the event that hit the cap may be in rec->buf, still to go to the
 * recorder (its bytes were sent with this marker over them before). */
static void stop(struct rec_session *s, const char *why)
{
	char m[REC_CAST_EVENT_MAX(RESERVE)];
	if (s->fd < 0)
		return;
	ssize_t n = rec_cast_marker(&s->cast, now_usec(), why, m, sizeof(m));
	if (n > 0 && write_all(s->fd, m, (size_t)n))
		s->bytes += (uint64_t)n;
	close(s->fd);
	s->fd = -1;
}

/* Appends an event (buf[0..n)) to the local file; false (and the local copy stopped) at the
 * cap or on a write error. */
static bool append_local(struct rec_session *s, const char *buf, ssize_t n)
{
	char why[160];
	if (s->fd < 0)
		return false;
	if (s->bytes + (uint64_t)n + RESERVE > s->rec->max_bytes) {
		snprintf(why, sizeof(why), "recording stopped: the size cap of %" PRIu64 " bytes",
			 s->rec->max_bytes);
		log_warn(subject,
			 "%s: size cap of %" PRIu64 " bytes reached; the rest of the "
			 "session is not recorded",
			 s->path, s->rec->max_bytes);
		session_fail(s, why);
		stop(s, why);
		return false;
	}
	if (!write_all(s->fd, buf, (size_t)n)) {
		log_warn(subject, "%s: %s; the rest of the session is not recorded", s->path,
			 strerror(errno));
		snprintf(why, sizeof(why), "recording stopped: %s", strerror(errno));
		session_fail(s, why);
		stop(s, why);
		return false;
	}
	s->bytes += (uint64_t)n;
	return true;
}

/* An event to the recorder: committed when it was written in the upload's room (direct), else
 * copied from buf; false once the upload failed. */
static bool append_remote(struct rec_session *s, const char *buf, ssize_t n, bool direct)
{
	if (!s->up || s->up_failed)
		return false;
	int e = direct ? meshd_upload_commit(s->up, (size_t)n)
		       : meshd_upload_append(s->up, buf, (size_t)n);
	if (e == -ENOBUFS) {
		log_warn(subject, "%s: %d bytes wait for the recorder: %s", s->id,
			 MESHD_UPLOAD_BUF_MAX,
			 s->enforce ? "the session is ended" : "the rest is not recorded");
		session_fail(s, s->enforce
				    ? "the recorder cannot keep up; the session is ended"
				    : "the recorder cannot keep up; the rest is not recorded");
	} else if (e == -ENOMEM) {
		log_warn(subject, "%s: out of memory for the recorder's copy: %s", s->id,
			 s->enforce ? "the session is ended" : "the rest is not recorded");
		session_fail(s, s->enforce ? "meshd is out of memory; the session is ended"
					   : "meshd is out of memory; the rest is not recorded");
	} else if (e && e != -EPIPE) { /* -EPIPE: the upload's failure was told already */
		log_warn(subject, "%s: the recorder's copy stops: %s", s->id, strerror(-e));
	}
	if (e)
		s->up_failed = true;
	return !e;
}

/* An event to write: one of the asciicast writers' and its arguments. */
struct event {
	char type; /* 'o' output, 'i' input, 'r' resize */
	const void *data;
	size_t len;
	unsigned cols, rows;
};

static ssize_t event_write(struct rec_session *s, const struct event *e, char *buf, size_t cap)
{
	int64_t t = now_usec();
	switch (e->type) {
	case 'o':
		return rec_cast_output(&s->cast, t, e->data, e->len, buf, cap);
	case 'i':
		return rec_cast_input(&s->cast, t, e->data, e->len, buf, cap);
	default:
		return rec_cast_resize(&s->cast, t, e->cols, e->rows, buf, cap);
	}
}

/* The event written straight into the upload's buffer (meshd_upload_room): room for what
 * text needs first (its asciicast is ~1.05 times the output), for the worst case (every byte
 * \u00XX) only when that was short; a writer out of room consumes nothing, so it can try
 * again.  -ENOSPC when the upload has no room (rec->buf then, and _append says why). */
static ssize_t write_direct(struct rec_session *s, const struct event *e, char **at)
{
	size_t want = e->len + e->len / 4 + 128, worst = REC_CAST_EVENT_MAX(e->len);
	ssize_t r = meshd_upload_room(s->up, want, at), n = -ENOSPC;
	if (r >= 0)
		n = event_write(s, e, *at, (size_t)r);
	if (n == -ENOSPC && r >= 0 && (size_t)r < worst) {
		r = meshd_upload_room(s->up, worst, at);
		if (r >= 0)
			n = event_write(s, e, *at, (size_t)r);
	}
	return n;
}

/* An event to every copy kept; false when the session must end for it: an enforced
 * recording lost the copy it is enforced on (the recorders' when the rule names some, else
 * the local one). */
static bool emit(struct rec_session *s, const struct event *e)
{
	char *buf = s->rec->buf;
	ssize_t n = -ENOSPC;
	bool direct = false;
	if (s->up && !s->up_failed) {
		n = write_direct(s, e, &buf);
		direct = n >= 0;
	}
	if (!direct) {
		buf = s->rec->buf;
		n = event_write(s, e, buf, sizeof(s->rec->buf));
	}
	if (n <= 0)
		return n == 0;
	bool local = s->fd >= 0 && append_local(s, buf, n);
	bool remote = append_remote(s, buf, n, direct);
	return !s->enforce || (s->up ? remote : local);
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

static bool open_file(struct meshd_record *rec, struct rec_session *s)
{
	snprintf(s->path, sizeof(s->path), "%s/%s.cast", rec->dir, s->id);
	s->fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	return s->fd >= 0;
}

/* ---- the upload's events (record_upload.h), on the loop ---- */

static void up_accepted(void *ctx)
{
	struct rec_session *s = ctx;
	if (s->held) {
		s->held = false;
		sshd_session_go(s->ss);
	}
}

static void up_failed(void *ctx, const char *why)
{
	struct rec_session *s = ctx;
	s->up_failed = true;
	log_warn(subject, "%s: %s; %s", s->id, why,
		 !s->enforce ? "the session goes on, not recorded by a recorder"
		 : s->held   ? "the session is refused"
			     : "the session is ended");
	bool held = s->held;
	char what[AUDIT_TEXT_MAX + 1];
	snprintf(what, sizeof(what), "%s; %s", why,
		 !s->enforce ? "the session goes on, not recorded by a recorder"
		 : held	     ? "the session is refused"
			     : "the session is ended");
	session_fail(s, what);
	s->held = false;
	if (s->enforce) /* may end the session (on_end frees s) */
		sshd_session_stop(s->ss, held ? POL_REC_REFUSE_MSG : POL_REC_END_MSG);
}

static void up_pause(void *ctx, bool paused)
{
	struct rec_session *s = ctx;
	sshd_session_pause(s->ss, paused);
}

static const struct meshd_upload_events up_events = {
	.accepted = up_accepted,
	.failed = up_failed,
	.pause = up_pause,
};

/* The local copy: the file with its header; false (nothing kept) when it cannot be made. */
static bool start_local(struct rec_session *s, ssize_t hn, const char *who)
{
	if (!open_file(s->rec, s)) {
		log_warn(subject, "%s: cannot record to %s: %s", who, s->path, strerror(errno));
		return false;
	}
	if (hn < 0 || !append_local(s, s->rec->buf, hn)) {
		/* no header, no recording: a file of events alone would not play */
		log_warn(subject, "%s: cannot write the recording's header to %s", who, s->path);
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
		unlink(s->path);
		return false;
	}
	log_info(subject, "%s: recording to %s", who, s->path);
	return true;
}

/* The upload to the rule's recorders; false when it cannot start. */
static bool start_remote(struct rec_session *s, const struct pol_ssh_rule *r, ssize_t hn,
			 const char *who)
{
	if (hn < 0 || meshd_upload_new(&s->rec->up, r->recorders, r->n_recorders, s->id,
				       s->rec->buf, (size_t)hn, &up_events, s, &s->up) != 0) {
		log_warn(subject, "%s: cannot start the upload to the recorders: %s", who,
			 hn < 0 ? "no header" : "out of memory");
		s->up = NULL;
		return false;
	}
	return true;
}

static void *on_start(void *ctx, const struct sshd_session_info *si, char *refuse,
		      size_t refuse_len)
{
	struct meshd_record *rec = ctx;
	const struct ctl_netmap *nm = meshd_node_netmap(rec->node);
	struct addr_endpoint src;
	char addr[ADDR_TEXT_MAX] = "", conn_id[32], who[ADDR_TEXT_MAX + 2 * SSHD_NAME_MAX + 8];
	if (!addr_endpoint_from_sockaddr(si->peer, &src))
		return NULL;
	addr_ip_unmap(&src.ip);
	addr_ip_format(&src.ip, addr);
	snprintf(who, sizeof(who), "%s as %s", addr, si->local_user);
	const struct pol_ssh_rule *r = deciding_rule(nm, &src.ip, si->ssh_user);
	bool remote = r && r->n_recorders;
	bool enforce = r && r->enforce_recorder;
	if (!rec->dir && !remote) {
		if (enforce)
			log_warn(subject,
				 "%s: ssh[%d] enforces a recorder, none is named (no node carries "
				 "its tags) and meshd keeps no copy (no --record-dir): refused",
				 who, r->index);
		if (enforce) {
			snprintf(refuse, refuse_len, "%s", POL_REC_REFUSE_MSG);
			audit_fail(rec, &src.ip, si->ssh_user, si->local_user,
				   "the rule enforces a recorder, none is named and meshd keeps "
				   "no copy: refused");
		}
		return NULL;
	}
	struct addr_prefix host = addr_host_prefix(&src.ip);
	const struct ctl_node *peer = nm ? ctl_netmap_peer_by_addr(nm, &host) : NULL;
	struct rec_session *s = calloc(1, sizeof(*s));
	if (!s) {
		log_warn(subject, "%s: cannot record: out of memory; %s", who,
			 enforce ? "refused" : "the session goes on unrecorded");
		if (enforce)
			snprintf(refuse, refuse_len, "%s", POL_REC_REFUSE_MSG);
		return NULL;
	}
	s->rec = rec;
	s->ss = si->session;
	s->fd = -1;
	s->src = src.ip;
	snprintf(s->ssh_user, sizeof(s->ssh_user), "%s", si->ssh_user);
	snprintf(s->local_user, sizeof(s->local_user), "%s", si->local_user);
	s->enforce = enforce;
	char name[64];
	name_part(peer ? peer->name : addr, name, sizeof(name));
	rec->count++;
	snprintf(s->id, sizeof(s->id), "%lld-%s-%" PRIu64, (long long)(now_wall_ns() / 1000000000),
		 name, rec->count);
	rec_cast_init(&s->cast, now_usec());
	snprintf(conn_id, sizeof(conn_id), "%" PRIu64, si->conn_id);
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
	bool local = rec->dir && start_local(s, hn, who);
	bool up = remote && start_remote(s, r, hn, who);
	/* enforced on the recorders' copy when the rule names recorders, else on the local one */
	if (enforce && !(remote ? up : local)) {
		log_warn(subject, "%s: ssh[%d] enforces recording: refused", who, r->index);
		snprintf(refuse, refuse_len, "%s", POL_REC_REFUSE_MSG);
		session_fail(s, "the recording cannot start; refused (the rule enforces it)");
		if (s->fd >= 0) {
			close(s->fd);
			unlink(s->path);
		}
		free(s);
		return NULL;
	}
	if (!local && !up) {
		log_warn(subject, "%s: the session goes on unrecorded", who);
		session_fail(s, "the recording cannot start; the session goes on unrecorded");
		free(s);
		return NULL;
	}
	if (up) {
		char a[ADDR_TEXT_MAX];
		log_info(subject, "%s: recording %s for %zu recorder(s), the first %s%s", who,
			 s->id, r->n_recorders, addr_ip_format(&r->recorders[0], a),
			 enforce ? "; the session waits for one to take it" : "");
		if (enforce) {
			s->held = true;
			sshd_session_hold(s->ss);
		}
	}
	return s;
}

static bool on_output(void *sess, const void *data, size_t len, bool is_stderr, char *message,
		      size_t message_len)
{
	struct rec_session *s = sess;
	const char *p = data;
	(void)is_stderr; /* asciicast has one output stream: both go to "o" */
	while (len) {
		size_t k = len < CHUNK ? len : CHUNK;
		struct event e = { .type = 'o', .data = p, .len = k };
		if (!emit(s, &e)) {
			snprintf(message, message_len, "%s", POL_REC_END_MSG);
			return false;
		}
		if (s->fd < 0 && (!s->up || s->up_failed))
			break; /* nothing kept any more */
		p += k;
		len -= k;
	}
	return true;
}

/* What the client typed (--record-input only): "i" events in the same stream as the output,
 * with the same failure rule. */
static bool on_input(void *sess, const void *data, size_t len, char *message, size_t message_len)
{
	struct rec_session *s = sess;
	const char *p = data;
	while (len && (s->fd >= 0 || (s->up && !s->up_failed))) {
		size_t k = len < CHUNK ? len : CHUNK;
		struct event e = { .type = 'i', .data = p, .len = k };
		if (!emit(s, &e)) {
			snprintf(message, message_len, "%s", POL_REC_END_MSG);
			return false;
		}
		p += k;
		len -= k;
	}
	return true;
}

static void on_resize(void *sess, unsigned cols, unsigned rows)
{
	struct rec_session *s = sess;
	struct event e = { .type = 'r', .cols = cols, .rows = rows };
	emit(s, &e);
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
	/* the held-back bytes and the marker: to the recorder, and under the cap locally */
	ssize_t n = rec_cast_flush(&s->cast, now_usec(), s->rec->buf, sizeof(s->rec->buf));
	if (n > 0) {
		if (s->fd >= 0 && (uint64_t)n + s->bytes + RESERVE / 2 <= s->rec->max_bytes &&
		    write_all(s->fd, s->rec->buf, (size_t)n))
			s->bytes += (uint64_t)n;
		append_remote(s, s->rec->buf, n, false);
	}
	n = rec_cast_marker(&s->cast, now_usec(), why, s->rec->buf, sizeof(s->rec->buf));
	if (n > 0)
		append_remote(s, s->rec->buf, n, false);
	if (s->up)
		meshd_upload_end(s->up);
	if (s->fd >= 0) {
		stop(s, why);
		log_info(subject, "%s: %" PRIu64 " bytes, %s", s->path, s->bytes, why);
	}
	free(s);
}

void meshd_record_where(const void *sess, char *out, size_t len)
{
	const struct rec_session *s = sess;
	char a[ADDR_TEXT_MAX];
	bool remote = s->up && !s->up_failed;
	snprintf(out, len, "%s%s%s%s", remote ? meshd_upload_recorder(s->up, a) : "",
		 remote && s->held ? " (waiting)" : "", remote && s->fd >= 0 ? ", " : "",
		 s->fd >= 0 ? "local" : "");
}

int meshd_record_new(uv_loop_t *loop, struct meshd_node *node, const char *dir, uint64_t max_bytes,
		     bool input, struct sshd_hooks *hooks, struct meshd_record **out)
{
	struct meshd_record *rec = calloc(1, sizeof(*rec));
	if (!rec)
		return -ENOMEM;
	rec->node = node;
	rec->up.loop = loop;
	rec->up.node = node;
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
	hooks->session_input = input ? on_input : NULL;
	hooks->session_end = on_end;
	hooks->session_ctx = rec;
	*out = rec;
	return 0;
}

void meshd_record_close(struct meshd_record *rec, void (*done)(void *), void *arg)
{
	meshd_upload_close_all(&rec->up, done, arg);
}

void meshd_record_free(struct meshd_record *rec)
{
	if (!rec)
		return;
	free(rec->dir);
	free(rec);
}
