/* Admin API client: one blocking libcurl request per call (meshctl is a one-shot tool). */
#include "control/admin/admin.h"
#include "common/strv.h"
#include "control/url/url.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* What the answer says goes to a terminal: control characters in it (ESC, CR, ...) become
 * '?', so an answer cannot drive the terminal or forge lines. */
static char *printable(char *s)
{
	for (char *p = s; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct ctl_admin_reply *r = ud;
	size_t n = size * nmemb;
	if (r->len + n > (64u << 20))
		return 0;
	char *b = realloc(r->body, r->len + n + 1);
	if (!b)
		return 0;
	r->body = b;
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* The headers an answer may carry for us: ETag and Mesh-Replica, cut to their buffers. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct ctl_admin_reply *r = ud;
	size_t n = size * nmemb;
	static const struct {
		const char *name;
		size_t off, len;
	} want[] = {
		{ "etag:", offsetof(struct ctl_admin_reply, etag), sizeof(r->etag) },
		{ "mesh-replica:", offsetof(struct ctl_admin_reply, replica), sizeof(r->replica) },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t k = strlen(want[i].name);
		if (n <= k || strncasecmp(ptr, want[i].name, k) != 0)
			continue;
		const char *v = ptr + k, *end = ptr + n;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
			end--;
		char *out = (char *)r + want[i].off;
		snprintf(out, want[i].len, "%.*s", (int)(end - v), v);
		printable(out);
	}
	return n;
}

struct sink {
	struct ctl_admin_reply *reply;
	CURL *c;
	int fd; /* a 2xx answer's body goes here; -1: into reply->body */
};

/* A 2xx answer's body to sink->fd when there is one (its status read from curl as the first
 * bytes arrive); anything else, and every body without an fd, into reply->body. */
static size_t on_sink(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *k = ud;
	long status = 0;
	curl_easy_getinfo(k->c, CURLINFO_RESPONSE_CODE, &status);
	if (k->fd < 0 || status < 200 || status > 299)
		return on_data(ptr, size, nmemb, k->reply);
	size_t n = size * nmemb, done = 0;
	while (done < n) {
		ssize_t w = write(k->fd, ptr + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0; /* the reader went away: curl stops */
		done += (size_t)w;
	}
	k->reply->len += n;
	return n;
}

/* One request to url with the URL rules of base; errors name who ("meshcontrol", "the
 * recorder").  0 when an answer arrived (reply->status; reply->error set for one not 2xx),
 * or -errno with reply->error. */
static int perform(const char *who, const char *base, bool insecure_http, const char *ca_file,
		   const char *url, const char *method, struct curl_slist *h, const char *body,
		   size_t body_len, int fd, struct ctl_admin_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	int checked = ctl_url_check(base, insecure_http, reply->error, sizeof(reply->error));
	if (checked < 0) {
		reply->body = calloc(1, 1);
		return checked;
	}
	if (checked == CTL_URL_INSECURE) {
		memcpy(reply->warning, reply->error, sizeof(reply->warning));
		reply->error[0] = '\0';
	}
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(reply->error, sizeof(reply->error), "cannot start an HTTP client");
		return -ENOMEM;
	}
	char curl_err[CURL_ERROR_SIZE] = "";
	struct sink k = { .reply = reply, .c = c, .fd = fd };
	ctl_url_curl_setup(c, ca_file, curl_err);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, reply);
	/* a whole answer within 30 s, except a file streamed out: then only a stall ends it */
	curl_easy_setopt(c, CURLOPT_TIMEOUT, fd < 0 ? 30L : 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	CURLcode rc = curl_easy_perform(c);
	int err = 0;
	if (ctl_url_tls_failure(rc, base, curl_err, reply->error, sizeof(reply->error))) {
		err = -EPERM;
	} else if (rc == CURLE_WRITE_ERROR && fd >= 0) {
		snprintf(reply->error, sizeof(reply->error), "cannot write the answer of %s at %s",
			 who, base);
		err = -EPIPE;
	} else if (rc != CURLE_OK) {
		snprintf(reply->error, sizeof(reply->error), "cannot reach %s at %s: %s", who, base,
			 curl_err[0] ? curl_err : curl_easy_strerror(rc));
		err = -EHOSTUNREACH;
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status);
	}
	if (!reply->body)
		reply->body = calloc(1, 1);
	curl_easy_cleanup(c);
	return err;
}

/* base without its trailing '/'s, into out (size n). */
static void trim_base(const char *base, char *out, size_t n)
{
	size_t len = strlen(base);
	while (len && base[len - 1] == '/')
		len--;
	snprintf(out, n, "%.*s", (int)len, base);
}

int ctl_admin_call(const struct ctl_admin_server *srv, const char *method, const char *path,
		   const char *body, size_t body_len, struct ctl_admin_reply *reply)
{
	return ctl_admin_call_if(srv, method, path, body, body_len, NULL, reply);
}

int ctl_admin_call_if(const struct ctl_admin_server *srv, const char *method, const char *path,
		      const char *body, size_t body_len, const char *if_match,
		      struct ctl_admin_reply *reply)
{
	char base[2048], url[2560], auth[600], cond[128];
	trim_base(srv->url, base, sizeof(base));
	snprintf(url, sizeof(url), "%s/api/v1/%s", base, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", srv->token);
	struct curl_slist *h = curl_slist_append(NULL, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	if (if_match) {
		snprintf(cond, sizeof(cond), "If-Match: %.100s", if_match);
		h = curl_slist_append(h, cond);
	}
	int err = perform("meshcontrol", base, srv->insecure_http, srv->ca_file, url, method, h,
			  body, body_len, -1, reply);
	if (!err && (reply->status < 200 || reply->status > 299))
		ctl_admin_error_text(reply->body, reply->status, reply->error,
				     sizeof(reply->error));
	curl_slist_free_all(h);
	return err;
}

int ctl_admin_health(const struct ctl_admin_server *srv, struct ctl_admin_reply *reply)
{
	char base[2048], url[2560];
	trim_base(srv->url, base, sizeof(base));
	snprintf(url, sizeof(url), "%s/healthz", base);
	return perform("meshcontrol", base, srv->insecure_http, srv->ca_file, url, "GET", NULL,
		       NULL, 0, -1, reply);
}

int ctl_admin_recorder_get(const char *recorder, const char *ca_file, const char *path, int fd,
			   struct ctl_admin_reply *reply)
{
	char base[2048], url[2560];
	trim_base(recorder, base, sizeof(base));
	snprintf(url, sizeof(url), "%s/v1/recordings%s", base, path);
	/* plain http:// is the rule on the tailnet (WireGuard carries it) and no token is sent:
	 * no warning for it */
	int err =
	    perform("the recorder", base, true, ca_file, url, "GET", NULL, NULL, 0, fd, reply);
	reply->warning[0] = '\0';
	if (!err && (reply->status < 200 || reply->status > 299)) {
		/* meshrecorder's refusals are one sentence of text */
		size_t n = strcspn(reply->body, "\n");
		snprintf(reply->error, sizeof(reply->error), "the recorder: %.*s (HTTP %ld)",
			 (int)(n > 300 ? 300 : n), reply->body, reply->status);
		printable(reply->error);
	}
	return err;
}

void ctl_admin_reply_clear(struct ctl_admin_reply *reply)
{
	free(reply->body);
	memset(reply, 0, sizeof(*reply));
}

char *ctl_admin_string(const char *json, const char *member)
{
	json_t *j = json_loads(json, 0, NULL);
	const char *s = json_string_value(json_object_get(j, member));
	char *r = s ? strdup(s) : NULL;
	json_decref(j);
	return r;
}

void ctl_admin_error_text(const char *body, long status, char *out, size_t outlen)
{
	char *e = body ? ctl_admin_string(body, "error") : NULL;
	snprintf(out, outlen, "meshcontrol: %s (HTTP %ld)", e ? e : "request refused", status);
	printable(out);
	free(e);
}

static const char *when(json_int_t t, char *buf, size_t len)
{
	if (t <= 0)
		return "-";
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%MZ", &tm);
	return buf;
}

/* Appends a formatted row to a growing buffer. */
static void add(char **out, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add(char **out, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *line = NULL;
	int n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0 || !*out)
		return;
	if (n > 0 && line[n - 1] == '\n') { /* every row ends with one; nothing else may */
		line[n - 1] = '\0';
		printable(line);
		line[n - 1] = '\n';
	}
	char *b = realloc(*out, *len + (size_t)n + 1);
	if (!b) {
		free(line);
		return;
	}
	memcpy(b + *len, line, (size_t)n + 1);
	*len += (size_t)n;
	*out = b;
	free(line);
}

char *ctl_admin_table(const char *kind, const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	json_t *a = json_object_get(j, kind);
	if (!json_is_array(a)) {
		json_decref(j);
		return NULL;
	}
	size_t len = 0, i;
	char *out = calloc(1, 1);
	json_t *e;
	char t1[32], t2[32];
	if (strcmp(kind, "users") == 0) {
		add(&out, &len, "%-6s %-32s %s\n", "ID", "LOGIN", "CREATED");
		json_array_foreach(a, i, e)
		    add(&out, &len, "%-6lld %-32s %s\n",
			(long long)json_integer_value(json_object_get(e, "id")),
			json_string_value(json_object_get(e, "login")) ?: "?",
			when(json_integer_value(json_object_get(e, "created")), t1, sizeof(t1)));
	} else if (strcmp(kind, "authkeys") == 0) {
		add(&out, &len, "%-14s %-5s %-9s %-9s %-7s %-5s %-20s %s\n", "PREFIX", "USER",
		    "REUSABLE", "EPHEMERAL", "REVOKED", "USES", "EXPIRES", "TAGS");
		json_array_foreach(a, i, e)
		    add(&out, &len, "%-14s %-5lld %-9s %-9s %-7s %-5lld %-20s %s\n",
			json_string_value(json_object_get(e, "prefix")) ?: "?",
			(long long)json_integer_value(json_object_get(e, "user_id")),
			json_is_true(json_object_get(e, "reusable")) ? "yes" : "no",
			json_is_true(json_object_get(e, "ephemeral")) ? "yes" : "no",
			json_is_true(json_object_get(e, "revoked")) ? "yes" : "no",
			(long long)json_integer_value(json_object_get(e, "uses")),
			when(json_integer_value(json_object_get(e, "expires")), t1, sizeof(t1)),
			json_string_value(json_object_get(e, "tags")) ?: "");
	} else if (strcmp(kind, "nodes") == 0) {
		add(&out, &len, "%-6s %-20s %-28s %-16s %-8s %s\n", "ID", "NAME", "OWNER/TAGS",
		    "ADDRESS", "ONLINE", "LAST SEEN");
		json_array_foreach(a, i, e)
		{
			char who[256] = "";
			json_t *tags = json_object_get(e, "tags");
			if (json_array_size(tags)) {
				size_t k, o = 0;
				json_t *t;
				json_array_foreach(tags, k, t) o += (size_t)snprintf(
				    who + o, o < sizeof(who) ? sizeof(who) - o : 0, "%s%s",
				    k ? "," : "", json_string_value(t) ?: "");
			} else {
				snprintf(who, sizeof(who), "%s",
					 json_string_value(json_object_get(e, "owner")) ?: "-");
			}
			const char *addr =
			    json_string_value(json_array_get(json_object_get(e, "addresses"), 0));
			char a4[64];
			snprintf(a4, sizeof(a4), "%s", addr ? addr : "-");
			char *slash = strchr(a4, '/');
			if (slash)
				*slash = '\0';
			add(&out, &len, "%-6lld %-20s %-28s %-16s %-8s %s\n",
			    (long long)json_integer_value(json_object_get(e, "id")),
			    json_string_value(json_object_get(e, "name")) ?: "?", who, a4,
			    json_is_true(json_object_get(e, "online")) ? "yes" : "no",
			    when(json_integer_value(json_object_get(e, "last_seen")), t2,
				 sizeof(t2)));
		}
	}
	json_decref(j);
	return out;
}

char *ctl_admin_recordings_table(const char *json)
{
	json_t *a = json_loads(json, 0, NULL), *e;
	if (!json_is_array(a)) {
		json_decref(a);
		return NULL;
	}
	size_t len = 0, i;
	char *out = calloc(1, 1);
	char t[32];
	add(&out, &len, "%-18s %-40s %10s %-6s %s\n", "SOURCE", "ID", "BYTES", "STATE", "MODIFIED");
	/* "ended": its node ended it (the file is final); "open": more may come */
	json_array_foreach(a, i, e)
	    add(&out, &len, "%-18s %-40s %10lld %-6s %s\n",
		json_string_value(json_object_get(e, "source")) ?: "?",
		json_string_value(json_object_get(e, "id")) ?: "?",
		(long long)json_integer_value(json_object_get(e, "size")),
		json_is_true(json_object_get(e, "ended")) ? "ended" : "open",
		when(json_integer_value(json_object_get(e, "mtime")), t, sizeof(t)));
	json_decref(a);
	return out;
}

long long ctl_admin_node_id(const char *json, const char *name)
{
	json_t *j = json_loads(json, 0, NULL);
	json_t *a = json_object_get(j, "nodes"), *e;
	size_t i;
	long long id = -1;
	char *end;
	long long want = strtoll(name, &end, 10);
	bool numeric = *name && !*end;
	json_array_foreach(a, i, e)
	{
		long long nid = (long long)json_integer_value(json_object_get(e, "id"));
		const char *nm = json_string_value(json_object_get(e, "name"));
		if ((nm && strcmp(nm, name) == 0) || (numeric && nid == want)) {
			id = nid;
			break;
		}
	}
	json_decref(j);
	return id;
}

/* {"k1": v1, "k2": v2} (malloc'd), NULL when out of memory or not UTF-8. */
static char *pair_body(const char *k1, const char *v1, const char *k2, const char *v2)
{
	json_t *j = json_pack("{s:s, s:s}", k1, v1, k2, v2);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

char *ctl_admin_user_body(const char *login, const char *password)
{
	return pair_body("login", login, "password", password);
}

char *ctl_admin_authkey_body(const char *user, int reusable, int ephemeral, const char *tags_csv,
			     long long expiry_s)
{
	json_t *j = json_pack("{s:s, s:b, s:b}", "user", user, "reusable", reusable, "ephemeral",
			      ephemeral);
	if (!j)
		return NULL;
	if (tags_csv && *tags_csv) {
		/* as given (the server checks each tag and their number) */
		char **v;
		size_t n;
		json_t *tags = json_array();
		if (strv_split(tags_csv, ',', SIZE_MAX, &v, &n) != 0) {
			json_decref(tags);
			json_decref(j);
			return NULL;
		}
		for (size_t i = 0; i < n; i++)
			json_array_append_new(tags, json_string(v[i]));
		strv_free(v, n);
		json_object_set_new(j, "tags", tags);
	}
	if (expiry_s > 0)
		json_object_set_new(j, "expiry", json_integer(expiry_s));
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* a member of an audit row as text ("" when absent) */
static const char *audit_str(json_t *e, const char *key)
{
	const char *s = json_string_value(json_object_get(e, key));
	return s ? s : "";
}

char *ctl_admin_audit_text(const char *json, bool json_lines, bool header, long long *next,
			   size_t *rows)
{
	json_t *j = json_loads(json, 0, NULL), *a = json_object_get(j, "events"), *e;
	json_t *nx = json_object_get(j, "next");
	if (!json_is_array(a) || !json_is_integer(nx)) {
		json_decref(j);
		return NULL;
	}
	*next = (long long)json_integer_value(nx);
	*rows = json_array_size(a);
	size_t len = 0, i;
	char *out = calloc(1, 1);
	if (header && !json_lines)
		add(&out, &len, "%-19s %-18s %-14s %-20s %-22s %s\n", "TIME (UTC)", "TYPE", "NODE",
		    "WHO", "SSH USER -> LOCAL", "RULE / DETAIL");
	json_array_foreach(a, i, e)
	{
		if (json_lines) {
			char *line = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
			if (line)
				add(&out, &len, "%s\n", line);
			free(line);
			continue;
		}
		char t[32], users[300], rd[1100];
		json_int_t ms = json_integer_value(json_object_get(e, "time"));
		time_t tt = (time_t)(ms / 1000);
		struct tm tm;
		gmtime_r(&tt, &tm);
		strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm);
		const char *su = audit_str(e, "ssh_user"), *lu = audit_str(e, "local_user");
		snprintf(users, sizeof(users), "%s%s%s", su, *su || *lu ? "->" : "", lu);
		const char *rule = audit_str(e, "rule"), *detail = audit_str(e, "detail");
		snprintf(rd, sizeof(rd), "%s%s%s", rule, *rule && *detail ? ": " : "", detail);
		const char *who = audit_str(e, "who");
		add(&out, &len, "%-19s %-18s %-14s %-20s %-22s %s\n", t, audit_str(e, "type"),
		    audit_str(e, "node")[0] ? audit_str(e, "node") : "-",
		    *who		       ? who
		    : audit_str(e, "actor")[0] ? audit_str(e, "actor")
					       : "-",
		    users[0] ? users : "-", rd[0] ? rd : "-");
	}
	json_decref(j);
	return out;
}

char *ctl_admin_sessions_text(const char *json, bool json_out, size_t *rows)
{
	json_t *j = json_loads(json, 0, NULL), *a = json_object_get(j, "sessions"), *s;
	if (!json_is_array(a)) {
		json_decref(j);
		return NULL;
	}
	*rows = json_array_size(a);
	size_t len = 0, i;
	char *out = calloc(1, 1);
	if (json_out) {
		char *text = json_dumps(a, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (text)
			add(&out, &len, "%s\n", text); /* JSON escapes every control character */
		free(text);
		json_decref(j);
		return out;
	}
	add(&out, &len, "%-14s %-6s %-16s %-22s %-20s %-11s %-32s %s\n", "NODE", "ID", "FROM",
	    "WHO", "AS", "SINCE (UTC)", "WHAT", "RECORDED");
	json_array_foreach(a, i, s)
	{
		char as[140], t[32], what[160], node[80];
		time_t tt = (time_t)json_integer_value(json_object_get(s, "since"));
		struct tm tm;
		gmtime_r(&tt, &tm);
		strftime(t, sizeof(t), time(NULL) - tt < 20 * 3600 ? "%H:%M:%S" : "%Y-%m-%d", &tm);
		snprintf(as, sizeof(as), "%s->%s", audit_str(s, "ssh_user"),
			 audit_str(s, "local_user"));
		const char *cmd = audit_str(s, "command");
		bool pty = json_is_true(json_object_get(s, "pty"));
		if (*cmd)
			snprintf(what, sizeof(what), "exec%s: %.26s%s", pty ? " (pty)" : "", cmd,
				 strlen(cmd) > 26 ? "..." : "");
		else
			snprintf(what, sizeof(what), "shell%s", pty ? " (pty)" : "");
		snprintf(node, sizeof(node), "%s%s", audit_str(s, "node"),
			 json_is_true(json_object_get(s, "stale")) ? " (stale)" : "");
		const char *who = audit_str(s, "who"), *rec = audit_str(s, "recorder");
		add(&out, &len, "%-14s %-6s %-16s %-22s %-20s %-11s %-32s %s\n", node,
		    audit_str(s, "id"), audit_str(s, "src_node"), *who ? who : "-", as, t, what,
		    *rec ? rec : "no");
	}
	json_decref(j);
	return out;
}

char *ctl_admin_session_kill_body(const char *node, const char *id)
{
	return pair_body("node", node, "id", id);
}
