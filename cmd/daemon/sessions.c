/* The registry of live SSH sessions (sessions.h): sshd's session hooks, wrapped around the
 * recording's, keep one entry per session from its start to its end; the local API lists
 * them and kills one by its ID. */
#include "cmd/daemon/sessions.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cmd/daemon/audit.h"
#include "cmd/daemon/node.h"
#include "common/common.h"
#include "common/strv.h"
#include "control/netmap/netmap.h"
#include "control/netmap/sessions.h"
#include "sshd/sshd.h"

static const char subject[] = "sessions";

struct entry {
	struct entry *prev, *next; /* the registry's list, oldest first */
	struct meshd_sessions *reg;
	struct sshd_session *ss;
	void *inner;  /* the wrapped hooks' pointer for this session, NULL: not watched */
	uint64_t num; /* the ID's number */
	uint64_t conn_id;
	int64_t since;
	bool pty;
	char src_addr[ADDR_TEXT_MAX];
	char *src_node, *src_owner, *command; /* command: cut to CTL_LAPI_SESSION_CMD_MAX */
	char **src_tags;
	size_t n_src_tags;
	char ssh_user[SSHD_NAME_MAX], local_user[SSHD_NAME_MAX];
};

struct meshd_sessions {
	struct meshd_sessions_config cfg;
	struct sshd_hooks inner; /* the wrapped session hooks (all NULL: none) */
	struct entry *head, *tail;
	size_t count;
	uint64_t last; /* the last ID's number */
	void (*changed)(void *ctx);
	void *changed_ctx;
};

static void entry_free(struct entry *e)
{
	free(e->src_node);
	free(e->src_owner);
	free(e->command);
	strv_free(e->src_tags, e->n_src_tags);
	free(e);
}

/* A command as listed: whole, or its first bytes and "..." (a cut UTF-8 sequence is the
 * printer's business: meshctl shows text, never controls). */
static char *cut_command(const char *cmd)
{
	enum { KEEP = CTL_LAPI_SESSION_CMD_MAX - 4 };
	char clean[AUDIT_TEXT_MAX + 1];
	if (!cmd)
		return NULL;
	/* the client's bytes: valid UTF-8 without controls (else the list could not be sent
	 * as JSON, or would write escapes to the admin's terminal), cut on a character */
	audit_text_set(clean, cmd);
	size_t n = strlen(clean);
	if (n < CTL_LAPI_SESSION_CMD_MAX)
		return strdup(clean);
	n = KEEP;
	while (n && ((uint8_t)clean[n] & 0xc0) == 0x80)
		n--;
	char *s = malloc(CTL_LAPI_SESSION_CMD_MAX);
	if (s)
		snprintf(s, CTL_LAPI_SESSION_CMD_MAX, "%.*s...", (int)n, clean);
	return s;
}

/* Who the session comes from: the peer with that address in the current netmap (its name,
 * owner or tags), else the address alone.  false when out of memory. */
static bool fill_source(struct meshd_sessions *reg, struct entry *e, const struct sockaddr *sa)
{
	struct addr_endpoint src;
	if (!addr_endpoint_from_sockaddr(sa, &src))
		return !!(e->src_node = strdup("?"));
	addr_ip_unmap(&src.ip);
	addr_ip_format(&src.ip, e->src_addr);
	const struct ctl_netmap *nm = reg->cfg.node ? meshd_node_netmap(reg->cfg.node) : NULL;
	struct addr_prefix host = addr_host_prefix(&src.ip);
	const struct ctl_node *peer = nm ? ctl_netmap_peer_by_addr(nm, &host) : NULL;
	e->src_node = strdup(peer && peer->name ? peer->name : e->src_addr);
	if (!e->src_node)
		return false;
	if (peer && peer->owner && !(e->src_owner = strdup(peer->owner)))
		return false;
	if (peer && peer->n_tags &&
	    strv_dup((const char *const *)peer->tags, peer->n_tags, &e->src_tags) != 0)
		return false;
	e->n_src_tags = peer && e->src_tags ? peer->n_tags : 0;
	return true;
}

/* The session's audit event (audit.h): its ID and connection, source, users (no node: a
 * test's registry, nothing is kept). */
static void audit(const struct entry *e, enum audit_type type, const char *detail)
{
	if (!e->reg->cfg.node)
		return;
	struct addr_ip src;
	char id[24];
	bool known = addr_ip_parse(e->src_addr, &src, NULL);
	snprintf(id, sizeof(id), "s%" PRIu64, e->num);
	meshd_audit_session(e->reg->cfg.node, type, known ? &src : NULL, e->ssh_user, e->local_user,
			    detail, id, e->conn_id);
}

static void *on_start(void *ctx, const struct sshd_session_info *si, char *refuse,
		      size_t refuse_len)
{
	struct meshd_sessions *reg = ctx;
	if (reg->count >= reg->cfg.max) {
		log_warn(subject, "%u sessions are live: a new one (%s) is refused", reg->cfg.max,
			 si->ssh_user);
		snprintf(refuse, refuse_len, "%s", MESHD_SESSIONS_FULL_MSG);
		if (reg->cfg.node) /* an ssh.refuse, under the flood rule (20 a minute a source) */
			meshd_audit_refuse(reg->cfg.node, si->peer, si->ssh_user, si->local_user,
					   MESHD_SESSIONS_FULL_AUDIT, si->conn_id);
		return NULL;
	}
	struct entry *e = calloc(1, sizeof(*e));
	if (!e || !fill_source(reg, e, si->peer) ||
	    (si->command && !(e->command = cut_command(si->command)))) {
		/* refused rather than run unlisted: an administrator could not end it */
		log_warn(subject, "out of memory: a new session (%s) is refused", si->ssh_user);
		snprintf(refuse, refuse_len, "meshd is out of memory; try again later.");
		if (e)
			entry_free(e);
		return NULL;
	}
	if (reg->inner.session_start) {
		e->inner = reg->inner.session_start(reg->inner.session_ctx, si, refuse, refuse_len);
		if (!e->inner && refuse[0]) {
			entry_free(e);
			return NULL;
		}
	}
	e->reg = reg;
	e->ss = si->session;
	e->num = ++reg->last;
	e->conn_id = si->conn_id;
	e->since = (int64_t)(now_wall_ns() / 1000000000u);
	e->pty = si->pty;
	snprintf(e->ssh_user, sizeof(e->ssh_user), "%s", si->ssh_user);
	snprintf(e->local_user, sizeof(e->local_user), "%s", si->local_user);
	e->prev = reg->tail;
	if (reg->tail)
		reg->tail->next = e;
	else
		reg->head = e;
	reg->tail = e;
	reg->count++;
	log_debug(subject, "s%" PRIu64 ": %s from %s as %s", e->num, e->ssh_user, e->src_node,
		  e->local_user);
	char what[AUDIT_TEXT_MAX + 1];
	snprintf(what, sizeof(what), "%s%s", si->command ? si->command : "shell",
		 si->pty ? " (pty)" : "");
	audit(e, AUDIT_SSH_SESSION_START, what);
	if (reg->changed)
		reg->changed(reg->changed_ctx);
	return e;
}

static bool on_output(void *sess, const void *data, size_t len, bool is_stderr, char *message,
		      size_t message_len)
{
	struct entry *e = sess;
	if (!e->inner)
		return true;
	return e->reg->inner.session_output(e->inner, data, len, is_stderr, message, message_len);
}

static bool on_input(void *sess, const void *data, size_t len, char *message, size_t message_len)
{
	struct entry *e = sess;
	if (!e->inner)
		return true;
	return e->reg->inner.session_input(e->inner, data, len, message, message_len);
}

static void on_resize(void *sess, unsigned cols, unsigned rows)
{
	struct entry *e = sess;
	if (e->inner)
		e->reg->inner.session_resize(e->inner, cols, rows);
}

static void on_end(void *sess, int wait_status)
{
	struct entry *e = sess;
	struct meshd_sessions *reg = e->reg;
	if (e->inner)
		reg->inner.session_end(e->inner, wait_status);
	char how[64];
	if (wait_status < 0)
		snprintf(how, sizeof(how), "ended by meshd");
	else if (WIFSIGNALED(wait_status))
		snprintf(how, sizeof(how), "signal %d", WTERMSIG(wait_status));
	else
		snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(wait_status));
	audit(e, AUDIT_SSH_SESSION_END, how);
	if (e->prev)
		e->prev->next = e->next;
	else
		reg->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		reg->tail = e->prev;
	reg->count--;
	entry_free(e);
	if (reg->changed)
		reg->changed(reg->changed_ctx);
}

int meshd_sessions_new(const struct meshd_sessions_config *cfg, struct sshd_hooks *hooks,
		       struct meshd_sessions **out)
{
	struct meshd_sessions *reg = calloc(1, sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	reg->cfg = *cfg;
	if (!reg->cfg.stop)
		reg->cfg.stop = sshd_session_stop;
	if (!reg->cfg.process)
		reg->cfg.process = sshd_session_process;
	if (!reg->cfg.max || reg->cfg.max > CTL_LAPI_SESSIONS_MAX)
		reg->cfg.max = CTL_LAPI_SESSIONS_MAX;
	reg->inner = *hooks;
	hooks->session_start = on_start;
	hooks->session_output = on_output;
	hooks->session_resize = on_resize;
	/* asked for only when the recording asks (what clients type is recorded on request) */
	hooks->session_input = reg->inner.session_input ? on_input : NULL;
	hooks->session_end = on_end;
	hooks->session_ctx = reg;
	*out = reg;
	return 0;
}

void meshd_sessions_free(struct meshd_sessions *reg)
{
	if (!reg)
		return;
	while (reg->head) { /* none after sshd closed; a test may leave some */
		struct entry *e = reg->head;
		reg->head = e->next;
		entry_free(e);
	}
	free(reg);
}

size_t meshd_sessions_count(const struct meshd_sessions *reg)
{
	return reg->count;
}

void meshd_sessions_on_change(struct meshd_sessions *reg, void (*cb)(void *ctx), void *ctx)
{
	reg->changed = cb;
	reg->changed_ctx = ctx;
}

int meshd_sessions_wire(const struct meshd_sessions *reg, struct ctl_session **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!reg->count)
		return 0;
	struct ctl_session *v = calloc(reg->count, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t i = 0;
	for (const struct entry *e = reg->head; e; e = e->next, i++) {
		struct ctl_session *s = &v[i];
		char who[CTL_SESSION_TEXT_MAX];
		size_t o = 0;
		snprintf(s->id, sizeof(s->id), "s%" PRIu64, e->num);
		s->since = e->since;
		s->conn = e->conn_id;
		s->pty = e->pty;
		snprintf(who, sizeof(who), "%s", e->src_owner ? e->src_owner : "");
		for (size_t t = 0; t < e->n_src_tags && o < sizeof(who); t++)
			o += (size_t)snprintf(who + o, sizeof(who) - o, "%s%s", t ? "," : "",
					      e->src_tags[t]);
		ctl_session_text_set(s->who, sizeof(s->who), who);
		ctl_session_text_set(s->src_node, sizeof(s->src_node), e->src_node);
		ctl_session_text_set(s->src_addr, sizeof(s->src_addr), e->src_addr);
		ctl_session_text_set(s->ssh_user, sizeof(s->ssh_user), e->ssh_user);
		ctl_session_text_set(s->local_user, sizeof(s->local_user), e->local_user);
		ctl_session_text_set(s->command, sizeof(s->command), e->command);
		if (e->inner && reg->cfg.recorded) {
			char where[160] = "";
			reg->cfg.recorded(e->inner, where, sizeof(where));
			ctl_session_text_set(s->recorder, sizeof(s->recorder), where);
		}
	}
	*out = v;
	*n = i;
	return 0;
}

static int list_one(const struct meshd_sessions *reg, const struct entry *e, bool commands,
		    struct ctl_lapi_session *s)
{
	char where[160] = "", cgroup[512];
	int pid = 0;
	snprintf(s->id, sizeof(s->id), "s%" PRIu64, e->num);
	s->conn_id = e->conn_id;
	s->since = e->since;
	s->pty = e->pty;
	reg->cfg.process(e->ss, &pid, cgroup, sizeof(cgroup));
	s->pid = pid;
	if (e->inner && reg->cfg.recorded)
		reg->cfg.recorded(e->inner, where, sizeof(where));
	if (!(s->src_node = strdup(e->src_node)) || !(s->src_addr = strdup(e->src_addr)) ||
	    !(s->ssh_user = strdup(e->ssh_user)) || !(s->local_user = strdup(e->local_user)) ||
	    (e->src_owner && !(s->src_owner = strdup(e->src_owner))) ||
	    (e->command && !(s->command = strdup(commands ? e->command : MESHD_SESSIONS_HIDDEN))) ||
	    (where[0] && !(s->recorder = strdup(where))) ||
	    (cgroup[0] && !(s->cgroup = strdup(cgroup))) ||
	    (e->n_src_tags &&
	     strv_dup((const char *const *)e->src_tags, e->n_src_tags, &s->src_tags) != 0))
		return -ENOMEM;
	s->n_src_tags = e->n_src_tags;
	return 0;
}

int meshd_sessions_list(const struct meshd_sessions *reg, bool commands,
			struct ctl_lapi_session **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!reg->count)
		return 0;
	struct ctl_lapi_session *v = calloc(reg->count, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t i = 0;
	for (const struct entry *e = reg->head; e; e = e->next) {
		int rc = list_one(reg, e, commands, &v[i++]);
		if (rc) {
			ctl_lapi_sessions_free(v, i);
			return rc;
		}
	}
	*out = v;
	*n = i;
	return 0;
}

int meshd_sessions_kill(struct meshd_sessions *reg, const char *id, const char *by, char *err,
			size_t errlen)
{
	return meshd_sessions_kill_since(reg, id, -1, by, err, errlen);
}

int meshd_sessions_kill_since(struct meshd_sessions *reg, const char *id, int64_t since,
			      const char *by, char *err, size_t errlen)
{
	struct entry *e = reg->head;
	char name[CTL_LAPI_SESSION_ID_MAX];
	size_t len = strlen(id);
	if (len < 2 || len >= sizeof(name) || id[0] != 's' ||
	    strspn(id + 1, "0123456789") != len - 1) { /* quoted back only when harmless */
		snprintf(err, errlen, "not a session ID (they look like s7): see meshctl sessions");
		return -EINVAL;
	}
	for (; e; e = e->next) {
		snprintf(name, sizeof(name), "s%" PRIu64, e->num);
		if (strcmp(name, id) == 0)
			break;
	}
	if (!e) {
		snprintf(err, errlen, "no session '%s' on this node", id);
		return -ENOENT;
	}
	if (since >= 0 && e->since != since) {
		snprintf(err, errlen,
			 "session '%s' on this node started at %" PRId64 ", not at %" PRId64
			 " (another session: meshd restarted?)",
			 id, e->since, since);
		return -ENOENT;
	}
	log_info(subject, "%s (%s from %s as %s) ended by %s", name, e->ssh_user, e->src_node,
		 e->local_user, by);
	char detail[160];
	snprintf(detail, sizeof(detail), "%s ended by %s", name, by);
	audit(e, AUDIT_SSH_SESSION_KILL, detail);
	reg->cfg.stop(e->ss, MESHD_SESSIONS_KILL_MSG); /* may end it now: e is freed */
	return 0;
}
