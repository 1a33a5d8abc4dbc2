/* control/admin: meshctl's client for meshcontrol's admin API (users, auth keys, nodes,
 * policy), and for reading a meshrecorder's recordings.  HTTP with libcurl; the JSON answers are
 * turned into text for people here, so jansson stays inside control/. */
#ifndef MESH_CONTROL_ADMIN_H
#define MESH_CONTROL_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

/* Where meshcontrol is and how to trust it (see control/url/url.h for the rules). */
struct ctl_admin_server {
	const char *url;
	const char *token;
	const char *ca_file; /* NULL: the system's CAs */
	bool insecure_http;  /* allow http:// to a host that is not loopback */
};

struct ctl_admin_reply {
	long status; /* HTTP status, 0 when no answer */
	char *body;  /* the answer (malloc'd, NUL-terminated) */
	size_t len;
	char error[512];   /* a sentence for people when status is not 2xx */
	char warning[512]; /* when not empty: tell people (plain HTTP by --insecure-http) */
	/* the answer's ETag and Mesh-Replica headers (the replica of meshcontrol that
	 * answered), "" when absent; printable */
	char etag[64];
	char replica[64];
};

/* method path (under /api/v1/) with an optional body; 0 when an answer (of any status)
 * arrived, -errno with reply->error set when none did (also -EINVAL for a URL the rules
 * refuse, before anything is sent: the token never goes out over plain HTTP unasked). */
int ctl_admin_call(const struct ctl_admin_server *srv, const char *method, const char *path,
		   const char *body, size_t body_len, struct ctl_admin_reply *reply);
/* The same with an If-Match header (NULL: none): a PUT of the policy refused with 412 when
 * it is no longer that version. */
int ctl_admin_call_if(const struct ctl_admin_server *srv, const char *method, const char *path,
		      const char *body, size_t body_len, const char *if_match,
		      struct ctl_admin_reply *reply);
/* GET /healthz (no token sent): 0 when an answer arrived, 200 or 503, with its JSON
 * ({"status", "replica"}) in reply->body. */
int ctl_admin_health(const struct ctl_admin_server *srv, struct ctl_admin_reply *reply);
void ctl_admin_reply_clear(struct ctl_admin_reply *reply);

/* GET recorder/v1/recordings PATH ("" for the list, "/SOURCE/ID" for a file) from a
 * meshrecorder (http:// anywhere: the tailnet carries it, and no token is sent; https://
 * verified with ca_file or the system's CAs).  A 2xx answer's body goes to fd, or into
 * reply->body when fd is -1; one not 2xx sets reply->error to "the recorder: SENTENCE (HTTP
 * N)".  0 when an answer arrived, or -errno with reply->error (-EPIPE: fd would not take
 * the body). */
int ctl_admin_recorder_get(const char *recorder, const char *ca_file, const char *path, int fd,
			   struct ctl_admin_reply *reply);

/* Text for people: the "users", "authkeys" or "nodes" list as a table, one row a line and no
 * other control characters; NULL on bad JSON. */
char *ctl_admin_table(const char *kind, const char *json);
/* The recorder's list (GET /v1/recordings) as a table for people: SOURCE, ID, BYTES,
 * MODIFIED, one row a line and no other control characters; NULL on bad JSON. */
char *ctl_admin_recordings_table(const char *json);
/* GET /api/v1/audit's answer for people: a table (TIME, TYPE, NODE, WHO: the node event's
 * who or control's actor, SSH USER -> LOCAL, RULE / DETAIL; with header, its title line
 * first) or, json_lines, each row as one line of JSON; the answer's "next" in *next, its
 * number of rows in *rows.  One row a line, no other control characters; NULL on bad JSON. */
char *ctl_admin_audit_text(const char *json, bool json_lines, bool header, long long *next,
			   size_t *rows);
/* GET /api/v1/sessions's answer for people: a table (NODE, with "(stale)" when its stream
 * is down, ID, FROM, WHO, AS, SINCE, WHAT, RECORDED) or, json_out, the list as indented JSON; its
 * number of sessions in *rows.  No control characters but the rows' ends; NULL on bad JSON. */
char *ctl_admin_sessions_text(const char *json, bool json_out, size_t *rows);
/* The sentence for a refused request: control's "error" (control characters as '?') and the
 * HTTP status. */
void ctl_admin_error_text(const char *body, long status, char *out, size_t outlen);
/* A top-level string member of a JSON answer (malloc'd) or NULL. */
char *ctl_admin_string(const char *json, const char *member);
/* The id of the node called name (or whose id is name) in a "nodes" answer; -1 if none. */
long long ctl_admin_node_id(const char *json, const char *name);
/* JSON bodies for requests (malloc'd). */
char *ctl_admin_user_body(const char *login, const char *password);
char *ctl_admin_session_kill_body(const char *node, const char *id);
char *ctl_admin_authkey_body(const char *user, int reusable, int ephemeral, const char *tags_csv,
			     long long expiry_s);

#endif
