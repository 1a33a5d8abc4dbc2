/* The node API "sessions" codec (sessions.h): a node's live SSH sessions, encoded by meshd and
 * parsed strictly by control, which takes them from any registered node. */
#include "control/netmap/sessions.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"
#include "control/netmap/netmap_json.h"

bool ctl_session_id_valid(const char *id)
{
	size_t n = strlen(id);
	return n >= 2 && n < CTL_SESSION_ID_MAX && id[0] == 's' &&
	       strspn(id + 1, "0123456789") == n - 1;
}

void ctl_session_text_set(char *dst, size_t size, const char *src)
{
	text_clean(dst, size, src);
}

/* The text members (absent: ""): name, offset in the struct, room (NUL included). */
static const struct {
	const char *name;
	size_t off, size;
} texts[] = {
#define T(m)                                                                              \
	{                                                                                 \
#m, offsetof(struct ctl_session, m), sizeof(((struct ctl_session *)0)->m) \
	}
	T(src_node), T(src_addr), T(who), T(ssh_user), T(local_user), T(command), T(recorder),
#undef T
};

json_t *ctl__session_json(const struct ctl_session *s)
{
	json_t *o = json_pack("{s:s, s:I, s:I, s:b}", "id", s->id, "since", (json_int_t)s->since,
			      "conn", (json_int_t)(s->conn & INT64_MAX), "pty", (int)s->pty);
	for (size_t i = 0; o && i < sizeof(texts) / sizeof(texts[0]); i++)
		if (json_object_set_new(o, texts[i].name,
					json_string((const char *)s + texts[i].off))) {
			json_decref(o); /* not valid UTF-8: ctl_session_text_set was skipped */
			return NULL;
		}
	return o;
}

char *ctl_sessions_format(const struct ctl_session *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, ctl__session_json(&v[i]))) {
			json_decref(a);
			return NULL;
		}
	json_t *j = a ? json_pack("{s:o}", "sessions", a) : NULL;
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

static int int_member(json_t *o, const char *key, int64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return ctl__fail(err, errlen, "\"%s\" must be an integer >= 0", key);
	*out = json_integer_value(v);
	return 0;
}

static int session_from_json(json_t *o, struct ctl_session *s, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	int64_t conn;
	int rc;
	if (!json_is_object(o))
		return ctl__fail(err, errlen, "must be an object");
	json_object_foreach(o, key, v)
	{
		bool known = !strcmp(key, "id") || !strcmp(key, "since") || !strcmp(key, "conn") ||
			     !strcmp(key, "pty");
		for (size_t i = 0; !known && i < sizeof(texts) / sizeof(texts[0]); i++)
			known = !strcmp(key, texts[i].name);
		if (!known)
			return ctl__fail(err, errlen, "unknown member '%.40s'", key);
	}
	const char *id = json_string_value(json_object_get(o, "id"));
	if (!id || !ctl_session_id_valid(id))
		return ctl__fail(err, errlen, "\"id\" must be \"s\" and 1 to %d digits",
				 CTL_SESSION_ID_MAX - 2);
	memcpy(s->id, id, strlen(id) + 1);
	if ((rc = int_member(o, "since", &s->since, err, errlen)) ||
	    (rc = int_member(o, "conn", &conn, err, errlen)))
		return rc;
	s->conn = (uint64_t)conn;
	v = json_object_get(o, "pty");
	if (v && !json_is_boolean(v))
		return ctl__fail(err, errlen, "\"pty\" must be true or false");
	s->pty = json_is_true(v);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		v = json_object_get(o, texts[i].name);
		if (!v)
			continue;
		size_t len = json_string_length(v);
		const char *t = json_string_value(v);
		if (!t)
			return ctl__fail(err, errlen, "\"%s\" must be a string", texts[i].name);
		if (len >= texts[i].size)
			return ctl__fail(err, errlen, "\"%s\" is longer than %zu bytes",
					 texts[i].name, texts[i].size - 1);
		if (!text_clean_valid(t, len))
			return ctl__fail(err, errlen,
					 "\"%s\" must be UTF-8 text without control characters",
					 texts[i].name);
		memcpy((char *)s + texts[i].off, t, len + 1);
	}
	return 0;
}

static int id_cmp(const void *a, const void *b)
{
	const struct ctl_session *x = *(const struct ctl_session *const *)a;
	const struct ctl_session *y = *(const struct ctl_session *const *)b;
	size_t lx = strlen(x->id), ly = strlen(y->id);
	return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->id, y->id);
}

/* The same ID twice: the first of them, else NULL. */
static const char *repeated_id(const struct ctl_session *v, size_t n)
{
	const struct ctl_session **p = n > 1 ? malloc(n * sizeof(*p)) : NULL;
	const char *dup = NULL;
	if (!p)
		return NULL; /* one entry; or no memory: the list is taken as it is */
	for (size_t i = 0; i < n; i++)
		p[i] = &v[i];
	qsort(p, n, sizeof(*p), id_cmp);
	for (size_t i = 1; i < n && !dup; i++)
		if (!strcmp(p[i]->id, p[i - 1]->id))
			dup = p[i]->id;
	free(p);
	return dup;
}

int ctl__sessions_from_json(json_t *j, struct ctl_session **out, size_t *n, char *err,
			    size_t errlen)
{
	const char *key;
	json_t *v, *a = json_object_get(j, "sessions");
	*out = NULL;
	*n = 0;
	json_object_foreach(j, key, v)
	{
		if (strcmp(key, "sessions") != 0)
			return ctl__fail(err, errlen, "unknown member '%.40s' (only \"sessions\")",
					 key);
	}
	if (!json_is_array(a))
		return ctl__fail(err, errlen, "\"sessions\" must be an array");
	size_t count = json_array_size(a);
	if (count > CTL_SESSIONS_MAX) {
		ctl__fail(err, errlen, "\"sessions\" has %zu entries (at most %d)", count,
			  CTL_SESSIONS_MAX);
		return -E2BIG;
	}
	struct ctl_session *s = count ? calloc(count, sizeof(*s)) : NULL;
	if (count && !s)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		char why[256];
		if (session_from_json(json_array_get(a, i), &s[i], why, sizeof(why))) {
			free(s);
			return ctl__fail(err, errlen, "sessions[%zu]: %s", i, why);
		}
	}
	const char *dup = repeated_id(s, count);
	if (dup) {
		ctl__fail(err, errlen, "session ID '%s' is in the list twice", dup);
		free(s);
		return -EINVAL;
	}
	*out = s;
	*n = count;
	return 0;
}

int ctl_sessions_parse(const char *text, size_t len, struct ctl_session **out, size_t *n, char *err,
		       size_t errlen)
{
	json_error_t jerr;
	*out = NULL;
	*n = 0;
	if (len > CTL_SESSIONS_BODY_MAX) {
		ctl__fail(err, errlen, "the list is %zu bytes (at most %d)", len,
			  CTL_SESSIONS_BODY_MAX);
		return -E2BIG;
	}
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		return j ? ctl__fail(err, errlen, "the list must be a JSON object")
			 : ctl__fail(err, errlen, "JSON, line %d column %d: %s", jerr.line,
				     jerr.column, jerr.text);
	}
	int rc = ctl__sessions_from_json(j, out, n, err, errlen);
	json_decref(j);
	return rc;
}
