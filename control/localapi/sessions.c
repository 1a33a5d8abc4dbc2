/* JSON codec of `meshctl sessions`: the node's live SSH sessions.  meshctl prints what it
 * reads, so every text member is checked or cleared of terminal controls, and a reply is
 * bounded (CTL_LAPI_SESSIONS_MAX sessions, commands cut by meshd). */
#include "control/localapi/localapi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"
#include "control/localapi/internal.h"
#include "control/netmap/netmap_json.h"

static json_t *session_json(const struct ctl_lapi_session *s)
{
	json_t *j = json_pack(
	    "{s:s, s:I, s:s?, s:s?, s:s?, s:o, s:s?, s:s?, s:b, s:s?, s:I, s:s?, "
	    "s:I, s:s?}",
	    "id", s->id, "conn_id", (json_int_t)(s->conn_id & INT64_MAX), "src_node", s->src_node,
	    "src_addr", s->src_addr, "src_owner", s->src_owner, "src_tags",
	    ctl__strv_json(s->src_tags, s->n_src_tags), "ssh_user", s->ssh_user, "local_user",
	    s->local_user, "pty", (int)s->pty, "command", s->command, "since", (json_int_t)s->since,
	    "recorder", s->recorder, "pid", (json_int_t)s->pid, "cgroup", s->cgroup);
	return j;
}

char *ctl_lapi_sessions_format(const struct ctl_lapi_session *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, session_json(&v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a ? ctl__lapi_dump_line(json_pack("{s:b, s:o}", "ok", 1, "sessions", a)) : NULL;
}

/* A required string member, cleared of terminal controls. */
static int need_str(json_t *o, const char *key, char **out, char *err, size_t errlen)
{
	int rc = ctl__lapi_opt_str(o, key, out, err, errlen);
	if (!rc && !*out)
		rc = ctl__fail(err, errlen, "\"%s\" is missing", key);
	if (!rc)
		ctl__lapi_printable(*out);
	return rc;
}

static int opt_text(json_t *o, const char *key, char **out, char *err, size_t errlen)
{
	int rc = ctl__lapi_opt_str(o, key, out, err, errlen);
	if (!rc && *out)
		ctl__lapi_printable(*out);
	return rc;
}

static int session_from_json(json_t *o, struct ctl_lapi_session *s, char *err, size_t errlen)
{
	long long conn = 0, since = 0, pid = 0;
	char *id = NULL;
	int rc;
	if (!json_is_object(o))
		return ctl__fail(err, errlen, "a session must be an object");
	if ((rc = ctl__lapi_opt_str(o, "id", &id, err, errlen)))
		return rc;
	size_t n = id ? strlen(id) : 0;
	if (!id || n < 2 || n >= CTL_LAPI_SESSION_ID_MAX || id[0] != 's' ||
	    strspn(id + 1, "0123456789") != n - 1) {
		free(id);
		return ctl__fail(err, errlen, "\"id\" must be \"s\" and 1 to %d digits",
				 CTL_LAPI_SESSION_ID_MAX - 2);
	}
	memcpy(s->id, id, n + 1);
	free(id);
	if ((rc = need_str(o, "src_addr", &s->src_addr, err, errlen)) ||
	    (rc = need_str(o, "ssh_user", &s->ssh_user, err, errlen)) ||
	    (rc = need_str(o, "local_user", &s->local_user, err, errlen)) ||
	    (rc = opt_text(o, "src_node", &s->src_node, err, errlen)) ||
	    (rc = opt_text(o, "src_owner", &s->src_owner, err, errlen)) ||
	    (rc = opt_text(o, "command", &s->command, err, errlen)) ||
	    (rc = opt_text(o, "recorder", &s->recorder, err, errlen)) ||
	    (rc = opt_text(o, "cgroup", &s->cgroup, err, errlen)) ||
	    (rc = ctl__strv_from_json(o, "src_tags", &s->src_tags, &s->n_src_tags, err, errlen)) ||
	    (rc = ctl__lapi_opt_int(o, "conn_id", 0, INT64_MAX, &conn, err, errlen)) ||
	    (rc = ctl__lapi_opt_int(o, "since", 0, INT64_MAX, &since, err, errlen)) ||
	    (rc = ctl__lapi_opt_int(o, "pid", 0, INT32_MAX, &pid, err, errlen)) ||
	    (rc = ctl__lapi_opt_bool(o, "pty", &s->pty, err, errlen)))
		return rc;
	if (s->command && strlen(s->command) >= CTL_LAPI_SESSION_CMD_MAX)
		return ctl__fail(err, errlen, "\"command\" is longer than %d bytes",
				 CTL_LAPI_SESSION_CMD_MAX - 1);
	for (size_t i = 0; i < s->n_src_tags; i++)
		ctl__lapi_printable(s->src_tags[i]);
	s->conn_id = (uint64_t)conn;
	s->since = since;
	s->pid = pid;
	return 0;
}

int ctl_lapi_sessions_parse(const char *text, size_t len, struct ctl_lapi_session **out, size_t *n,
			    char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	json_t *j = ctl__lapi_load(text, len, err, errlen);
	if (!j)
		return -EINVAL;
	json_t *a = json_object_get(j, "sessions");
	int rc = 0;
	if (!json_is_array(a)) {
		rc = ctl__fail(err, errlen, "\"sessions\" must be an array");
		goto out;
	}
	size_t count = json_array_size(a);
	if (count > CTL_LAPI_SESSIONS_MAX) {
		rc = ctl__fail(err, errlen, "\"sessions\" has %zu entries (at most %d)", count,
			       CTL_LAPI_SESSIONS_MAX);
		goto out;
	}
	if (count && !(*out = calloc(count, sizeof(**out)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		char why[512];
		rc = session_from_json(json_array_get(a, i), &(*out)[i], why, sizeof(why));
		*n = i + 1; /* cleared with the rest when it failed half way */
		if (rc) {
			if (rc == -EINVAL)
				ctl__fail(err, errlen, "sessions[%zu]: %s", i, why);
			goto out;
		}
	}
out:
	json_decref(j);
	if (rc) {
		ctl_lapi_sessions_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void ctl_lapi_session_clear(struct ctl_lapi_session *s)
{
	free(s->src_node);
	free(s->src_addr);
	free(s->src_owner);
	strv_free(s->src_tags, s->n_src_tags);
	free(s->ssh_user);
	free(s->local_user);
	free(s->command);
	free(s->recorder);
	free(s->cgroup);
	memset(s, 0, sizeof(*s));
}

void ctl_lapi_sessions_free(struct ctl_lapi_session *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		ctl_lapi_session_clear(&v[i]);
	free(v);
}
