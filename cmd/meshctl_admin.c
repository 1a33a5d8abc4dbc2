/* meshctl user / authkey / node: administer the tailnet through meshcontrol's admin API.
 * The server comes from --server=URL or $MESH_SERVER; the admin token from
 * --token-file=FILE or $MESH_ADMIN_TOKEN (meshcontrol prints one with `admin-token`);
 * a private CA from --ca-file=FILE or $MESH_CA_FILE.  https:// is always verified; http://
 * goes only to loopback unless --insecure-http is given. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/meshctl.h"
#include "common/file.h"
#include "control/admin/admin.h"

struct admin_opts {
	const char *server, *ca_file;
	bool insecure_http;
	char token[512];
	char *args[32]; /* the remaining arguments */
	int n;
};

static const char admin_help[] =
    "Admin options (every admin verb):\n"
    "  --server=URL        meshcontrol's URL (default $MESH_SERVER)\n"
    "  --token-file=FILE   file with the admin token (default $MESH_ADMIN_TOKEN)\n"
    "  --ca-file=FILE      trust the CA in FILE for meshcontrol's certificate (default\n"
    "                      $MESH_CA_FILE, else the system's CAs)\n"
    "  --insecure-http     allow an http:// URL to a host that is not loopback (the\n"
    "                      token then crosses the network unencrypted)\n";

/* Splits admin options from the rest; false after printing a usage error. */
static bool admin_parse(int argc, char **argv, struct admin_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->server = getenv("MESH_SERVER");
	o->ca_file = getenv("MESH_CA_FILE");
	const char *tok = getenv("MESH_ADMIN_TOKEN");
	if (tok)
		snprintf(o->token, sizeof(o->token), "%s", tok);
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--server=", 9) == 0) {
			o->server = argv[i] + 9;
		} else if (strncmp(argv[i], "--ca-file=", 10) == 0) {
			o->ca_file = argv[i] + 10;
		} else if (strcmp(argv[i], "--insecure-http") == 0) {
			o->insecure_http = true;
		} else if (strncmp(argv[i], "--token-file=", 13) == 0) {
			char err[512];
			char *tok_line = file_read_secret_line(argv[i] + 13, err, sizeof(err));
			if (!tok_line || strlen(tok_line) >= sizeof(o->token)) {
				fprintf(stderr, "meshctl %s: --token-file %s\n", argv[0],
					tok_line ? "holds a line too long to be a token" : err);
				free(tok_line);
				return false;
			}
			snprintf(o->token, sizeof(o->token), "%s", tok_line);
			explicit_bzero(tok_line, strlen(tok_line));
			free(tok_line);
		} else if (o->n < 32) {
			o->args[o->n++] = argv[i];
		}
	}
	return true;
}

static bool admin_ready(const char *verb, const struct admin_opts *o)
{
	if (!o->server || !*o->server) {
		fprintf(stderr,
			"meshctl %s: which meshcontrol? give --server=URL or set MESH_SERVER\n",
			verb);
		return false;
	}
	if (!o->token[0]) {
		fprintf(stderr,
			"meshctl %s: no admin token: give --token-file=FILE or set "
			"MESH_ADMIN_TOKEN ('meshcontrol admin-token' makes one)\n",
			verb);
		return false;
	}
	return true;
}

/* Runs one request (with If-Match when if_match is not NULL): 0 with the answer in *r (the
 * caller's to clear), or -1 after printing the error, unless the status is 2xx. */
static int admin_request(const struct admin_opts *o, const char *method, const char *path,
			 const char *body, const char *if_match, struct ctl_admin_reply *r)
{
	struct ctl_admin_server srv = { .url = o->server,
					.token = o->token,
					.ca_file = o->ca_file && *o->ca_file ? o->ca_file : NULL,
					.insecure_http = o->insecure_http };
	int rc = ctl_admin_call_if(&srv, method, path, body, body ? strlen(body) : 0, if_match, r);
	if (r->warning[0])
		fprintf(stderr, "meshctl: warning: %s\n", r->warning);
	if (rc || r->status < 200 || r->status > 299) {
		fprintf(stderr, "meshctl: %s%s%s%s\n", r->error, r->replica[0] ? " [replica " : "",
			r->replica, r->replica[0] ? "]" : "");
		ctl_admin_reply_clear(r);
		return -1;
	}
	return 0;
}

/* Runs one request; prints the error and returns NULL unless the status is 2xx. */
static char *admin_do(const struct admin_opts *o, const char *method, const char *path,
		      const char *body)
{
	struct ctl_admin_reply r;
	return admin_request(o, method, path, body, NULL, &r) ? NULL : r.body;
}

static int print_table(const struct admin_opts *o, const char *kind)
{
	char *body = admin_do(o, "GET", kind, NULL);
	if (!body)
		return 1;
	char *t = ctl_admin_table(kind, body);
	free(body);
	if (!t) {
		fprintf(stderr, "meshctl: meshcontrol's answer is not a %s list\n", kind);
		return 1;
	}
	fputs(t, stdout);
	free(t);
	return 0;
}

static bool is_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/* A verb's start: --help prints help (0), bad admin options are a usage error (2); -1
 * when the verb goes on with o filled. */
static int admin_begin(int argc, char **argv, const char *help, struct admin_opts *o)
{
	if (is_help(argc, argv)) {
		printf("%s%s", help, admin_help);
		return 0;
	}
	return admin_parse(argc, argv, o) ? -1 : 2;
}

int meshctl_user(int argc, char **argv)
{
	static const char help[] =
	    "Usage: meshctl user add LOGIN   (the password is read from stdin)\n"
	    "       meshctl user list\n"
	    "       meshctl user remove LOGIN   (with the user's nodes and keys)\n";
	if (is_help(argc, argv)) {
		printf("%s%s", help, admin_help);
		return 0;
	}
	struct admin_opts o;
	if (!admin_parse(argc, argv, &o))
		return 2;
	const char *sub = o.n ? o.args[0] : "";
	if (!((strcmp(sub, "list") == 0 && o.n == 1) ||
	      ((strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0) && o.n == 2))) {
		fprintf(stderr, "%s", help);
		return 2;
	}
	if (!admin_ready("user", &o))
		return 1;
	if (strcmp(sub, "list") == 0)
		return print_table(&o, "users");
	char path[600];
	if (strcmp(sub, "remove") == 0) {
		snprintf(path, sizeof(path), "users/%s", o.args[1]);
		char *b = admin_do(&o, "DELETE", path, NULL);
		if (!b)
			return 1;
		free(b);
		printf("removed user %s and their nodes\n", o.args[1]);
		return 0;
	}
	char pw[1024];
	if (!fgets(pw, sizeof(pw), stdin)) {
		fprintf(stderr, "meshctl user add: give the password on stdin\n");
		return 2;
	}
	pw[strcspn(pw, "\r\n")] = '\0';
	char *body = ctl_admin_user_body(o.args[1], pw);
	explicit_bzero(pw, sizeof(pw));
	char *b = body ? admin_do(&o, "POST", "users", body) : NULL;
	if (body) {
		explicit_bzero(body, strlen(body));
		free(body);
	}
	if (!b)
		return 1;
	free(b);
	printf("added user %s\n", o.args[1]);
	return 0;
}

int meshctl_authkey(int argc, char **argv)
{
	static const char help[] =
	    "Usage: meshctl authkey create --user=LOGIN [--reusable] [--ephemeral]\n"
	    "                              [--tags=T,T] [--expiry=SECONDS]\n"
	    "       meshctl authkey list\n"
	    "       meshctl authkey revoke PREFIX\n"
	    "A key is printed once, when it is created; control keeps only its hash.\n";
	if (is_help(argc, argv)) {
		printf("%s%s", help, admin_help);
		return 0;
	}
	struct admin_opts o;
	if (!admin_parse(argc, argv, &o))
		return 2;
	const char *sub = o.n ? o.args[0] : "";
	if (strcmp(sub, "list") == 0 && o.n == 1) {
		if (!admin_ready("authkey", &o))
			return 1;
		return print_table(&o, "authkeys");
	}
	if (strcmp(sub, "revoke") == 0 && o.n == 2) {
		if (!admin_ready("authkey", &o))
			return 1;
		char path[600];
		snprintf(path, sizeof(path), "authkeys/%s", o.args[1]);
		char *b = admin_do(&o, "DELETE", path, NULL);
		if (!b)
			return 1;
		free(b);
		printf("revoked auth key %s\n", o.args[1]);
		return 0;
	}
	if (strcmp(sub, "create") != 0) {
		fprintf(stderr, "%s", help);
		return 2;
	}
	const char *user = NULL, *tags = NULL;
	int reusable = 0, ephemeral = 0;
	long long expiry = 0;
	for (int i = 1; i < o.n; i++) {
		const char *a = o.args[i];
		if (strncmp(a, "--user=", 7) == 0) {
			user = a + 7;
		} else if (strncmp(a, "--tags=", 7) == 0) {
			tags = a + 7;
		} else if (strcmp(a, "--reusable") == 0) {
			reusable = 1;
		} else if (strcmp(a, "--ephemeral") == 0) {
			ephemeral = 1;
		} else if (strncmp(a, "--expiry=", 9) == 0) {
			char *end;
			expiry = strtoll(a + 9, &end, 10);
			if (*end || expiry <= 0) {
				fprintf(stderr,
					"meshctl authkey create: --expiry: '%s' is not a "
					"positive number of seconds\n",
					a + 9);
				return 2;
			}
		} else {
			fprintf(stderr, "meshctl authkey create: unknown argument '%s'\n", a);
			return 2;
		}
	}
	if (!user) {
		fprintf(stderr, "meshctl authkey create: --user=LOGIN is required\n");
		return 2;
	}
	if (!admin_ready("authkey", &o))
		return 1;
	char *body = ctl_admin_authkey_body(user, reusable, ephemeral, tags, expiry);
	char *b = body ? admin_do(&o, "POST", "authkeys", body) : NULL;
	free(body);
	if (!b)
		return 1;
	char *key = ctl_admin_string(b, "key");
	free(b);
	if (!key) {
		fprintf(stderr, "meshctl authkey create: meshcontrol's answer has no key\n");
		return 1;
	}
	printf("%s\n", key);
	explicit_bzero(key, strlen(key));
	free(key);
	return 0;
}

int meshctl_node(int argc, char **argv)
{
	static const char help[] =
	    "Usage: meshctl node list\n"
	    "       meshctl node remove NAME|ID   (its sessions are closed)\n"
	    "       meshctl node expire NAME|ID   (its key expires now)\n";
	if (is_help(argc, argv)) {
		printf("%s%s", help, admin_help);
		return 0;
	}
	struct admin_opts o;
	if (!admin_parse(argc, argv, &o))
		return 2;
	const char *sub = o.n ? o.args[0] : "";
	bool remove = strcmp(sub, "remove") == 0, expire = strcmp(sub, "expire") == 0;
	if (!((strcmp(sub, "list") == 0 && o.n == 1) || ((remove || expire) && o.n == 2))) {
		fprintf(stderr, "%s", help);
		return 2;
	}
	if (!admin_ready("node", &o))
		return 1;
	if (!remove && !expire)
		return print_table(&o, "nodes");
	char *list = admin_do(&o, "GET", "nodes", NULL);
	if (!list)
		return 1;
	long long id = ctl_admin_node_id(list, o.args[1]);
	free(list);
	if (id < 0) {
		fprintf(stderr, "meshctl node %s: no node '%s' in the tailnet\n", sub, o.args[1]);
		return 1;
	}
	char path[64];
	snprintf(path, sizeof(path), remove ? "nodes/%lld" : "nodes/%lld/expire", id);
	char *b = admin_do(&o, remove ? "DELETE" : "POST", path, NULL);
	if (!b)
		return 1;
	free(b);
	printf("%s node %s (id %lld)\n", remove ? "removed" : "expired", o.args[1], id);
	return 0;
}

/* FILE.etag: where `policy get -o FILE` keeps the version it read, for `policy set FILE`. */
static void etag_path(const char *file, char *out, size_t len)
{
	snprintf(out, len, "%s.etag", file);
}

/* An ETag as given on the command line (7 or "7"), quoted, into out; false when it is not
 * one (empty, too long, quotes inside, spaces or control characters). */
static bool etag_arg(const char *in, char *out, size_t len)
{
	size_t n = strcspn(in, "\n");
	if (n >= 2 && in[0] == '"' && in[n - 1] == '"') {
		in++;
		n -= 2;
	}
	if (!n || n > 40)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] <= 0x20 || in[i] == '"' || in[i] == 0x7f)
			return false;
	snprintf(out, len, "\"%.*s\"", (int)n, in);
	return true;
}

static int etag_save(const char *file, const char *etag)
{
	char ep[4096], line[80];
	etag_path(file, ep, sizeof(ep));
	snprintf(line, sizeof(line), "%s\n", etag);
	int rc = file_write_atomic(ep, line, strlen(line), 0644);
	if (rc)
		fprintf(stderr, "meshctl policy: %s: %s\n", ep, strerror(-rc));
	return rc;
}

static int policy_get(const struct admin_opts *o, const char *out_file)
{
	struct ctl_admin_reply r;
	if (admin_request(o, "GET", "policy", NULL, NULL, &r) != 0)
		return 1;
	char *text = ctl_admin_string(r.body, "policy");
	const char *replica = r.replica[0] ? r.replica : "-";
	int rc = 0;
	if (!out_file) {
		printf("%s%s", text ? text : "",
		       text && *text && text[strlen(text) - 1] != '\n' ? "\n" : "");
		fprintf(stderr, "ETag %s (replica %s)\n", r.etag[0] ? r.etag : "-", replica);
	} else if ((rc = file_write_atomic(out_file, text ? text : "", text ? strlen(text) : 0,
					   0644)) != 0) {
		fprintf(stderr, "meshctl policy get: %s: %s\n", out_file, strerror(-rc));
	} else if ((rc = etag_save(out_file, r.etag)) == 0) {
		printf("policy written to %s, its ETag %s to %s.etag (replica %s)\n", out_file,
		       r.etag, out_file, replica);
	}
	if (!text)
		fprintf(stderr,
			"meshctl policy get: no policy is set (allow-all network, no SSH)\n");
	free(text);
	ctl_admin_reply_clear(&r);
	return rc ? 1 : 0;
}

/* The If-Match of a set into out: --if-match, else FILE.etag when `policy get -o FILE` left
 * one (*from_file), else none ("": a set that replaces whatever is there, as --force says).
 * false after a message. */
static bool policy_if_match(const char *file, const char *given, bool force, char *out, size_t len,
			    bool *from_file)
{
	char ep[4096], *line = NULL;
	*from_file = false;
	out[0] = '\0';
	if (given && !etag_arg(given, out, len)) {
		fprintf(stderr,
			"meshctl policy set: --if-match '%s' is not an ETag (such as '\"7\"', "
			"as policy get shows it)\n",
			given);
		return false;
	}
	if (given || force)
		return true;
	etag_path(file, ep, sizeof(ep));
	int rc = file_read_all(ep, 4096, &line, NULL);
	if (rc == -ENOENT)
		return true;
	bool ok = !rc && etag_arg(line, out, len);
	if (!ok)
		fprintf(stderr,
			"meshctl policy set: %s: %s; remove it, or give --force or --if-match\n",
			ep, rc ? strerror(-rc) : "not an ETag");
	free(line);
	*from_file = ok;
	return ok;
}

int meshctl_policy_admin(int argc, char **argv)
{
	static const char help[] =
	    "Usage: meshctl policy get [-o FILE]\n"
	    "       meshctl policy set FILE [--if-match ETAG | --force]\n"
	    "get prints the policy and, on stderr, its ETag (its version at meshcontrol);\n"
	    "-o writes it to FILE and the ETag to FILE.etag.  set sends If-Match: ETAG, or\n"
	    "the one in FILE.etag, and is refused when the policy changed since (get it\n"
	    "again and redo the edit); --force, or no ETag at all, replaces whatever is set.\n";
	struct admin_opts o;
	if (!admin_parse(argc, argv, &o))
		return 2;
	/* args[0] is "get" or "set" */
	const char *file = NULL, *out_file = NULL, *if_match = NULL;
	bool force = false, get = o.n && strcmp(o.args[0], "get") == 0;
	bool set = o.n && strcmp(o.args[0], "set") == 0, ok = get || set;
	for (int i = 1; ok && i < o.n; i++) {
		if (get && strcmp(o.args[i], "-o") == 0 && i + 1 < o.n && !out_file)
			out_file = o.args[++i];
		else if (set && strcmp(o.args[i], "--if-match") == 0 && i + 1 < o.n)
			if_match = o.args[++i];
		else if (set && strncmp(o.args[i], "--if-match=", 11) == 0)
			if_match = o.args[i] + 11;
		else if (set && strcmp(o.args[i], "--force") == 0)
			force = true;
		else if (set && o.args[i][0] != '-' && !file)
			file = o.args[i];
		else
			ok = false;
	}
	if (!ok || (set && !file) || (if_match && force)) {
		fprintf(stderr, "%s", help);
		return 2;
	}
	if (!admin_ready("policy", &o))
		return 1;
	if (get)
		return policy_get(&o, out_file);
	char etag[64];
	bool from_file;
	if (!policy_if_match(file, if_match, force, etag, sizeof(etag), &from_file))
		return 2;
	char *buf;
	int rc = file_read_all(file, 16u << 20, &buf, NULL);
	if (rc) {
		fprintf(stderr, "meshctl policy set: %s: %s\n", file,
			rc == -EFBIG ? "larger than 16 MiB" : strerror(-rc));
		return 1;
	}
	struct ctl_admin_reply r;
	rc = admin_request(&o, "PUT", "policy", buf, etag[0] ? etag : NULL, &r);
	free(buf);
	if (rc)
		return 1;
	if (from_file) /* the next edit of FILE starts from what was just set */
		etag_save(file, r.etag);
	printf("policy set from %s (ETag %s%s%s; replica %s)\n", file, r.etag,
	       etag[0] ? ", was " : "", etag, r.replica[0] ? r.replica : "-");
	ctl_admin_reply_clear(&r);
	return 0;
}

/* meshctl control status: which replica answers at --server, and its health. */
int meshctl_control(int argc, char **argv)
{
	static const char help[] =
	    "Usage: meshctl control status\n"
	    "Which meshcontrol replica answers at the server URL (behind a balancer, each\n"
	    "call may reach another) and its health: ok, draining, or that its store does\n"
	    "not answer.  No token is needed.  Exit status 0 when ok, 1 otherwise.\n";
	struct admin_opts o;
	int rc = admin_begin(argc, argv, help, &o);
	if (rc >= 0)
		return rc;
	if (o.n != 1 || strcmp(o.args[0], "status") != 0) {
		fprintf(stderr, "%s", help);
		return 2;
	}
	if (!o.server || !*o.server) {
		fprintf(
		    stderr,
		    "meshctl control: which meshcontrol? give --server=URL or set MESH_SERVER\n");
		return 2;
	}
	struct ctl_admin_reply r;
	struct ctl_admin_server srv = { .url = o.server,
					.ca_file = o.ca_file && *o.ca_file ? o.ca_file : NULL,
					.insecure_http = o.insecure_http };
	rc = ctl_admin_health(&srv, &r);
	if (r.warning[0])
		fprintf(stderr, "meshctl: warning: %s\n", r.warning);
	if (rc) {
		fprintf(stderr, "meshctl: %s\n", r.error);
		ctl_admin_reply_clear(&r);
		return 1;
	}
	char *status = ctl_admin_string(r.body, "status");
	char *replica = ctl_admin_string(r.body, "replica");
	printf("meshcontrol at %s: replica %s: %s (HTTP %ld)\n", o.server, replica ? replica : "?",
	       status ? status : "no status in its answer", r.status);
	rc = r.status == 200 ? 0 : 1;
	free(status);
	free(replica);
	ctl_admin_reply_clear(&r);
	return rc;
}

int meshctl_admin_document(int argc, char **argv, const struct meshctl_admin_doc *doc)
{
	struct admin_opts o;
	if (is_help(argc, argv)) {
		printf("%s%s", doc->help, admin_help);
		return 0;
	}
	if (!admin_parse(argc, argv, &o))
		return 2;
	bool get = o.n == 1 && strcmp(o.args[0], "get") == 0;
	bool set = o.n == 2 && strcmp(o.args[0], "set") == 0;
	bool clear = doc->cleared && o.n == 1 && strcmp(o.args[0], "clear") == 0;
	if (!get && !set && !clear) {
		fprintf(stderr, "%s", doc->help);
		return 2;
	}
	char *buf = NULL, *b;
	size_t len;
	if (set) {
		int rc = file_read_all(o.args[1], doc->max_bytes, &buf, &len);
		if (rc) {
			fprintf(stderr, "meshctl %s set: %s: %s\n", doc->verb, o.args[1],
				rc == -EFBIG ? "too large" : strerror(-rc));
			return 1;
		}
		if (!doc->check(o.args[1], buf, len)) {
			free(buf);
			return 1;
		}
	}
	if (!admin_ready(doc->verb, &o)) {
		free(buf);
		return 1;
	}
	b = admin_do(&o, set ? "PUT" : clear ? "DELETE" : "GET", doc->path, buf);
	free(buf);
	if (!b)
		return 1;
	if (get)
		printf("%s%s", b, *b && b[strlen(b) - 1] != '\n' ? "\n" : "");
	else if (clear)
		printf("%s\n", doc->cleared);
	else
		printf("%s set from %s\n", doc->what, o.args[1]);
	free(b);
	return 0;
}

/* For admin verbs in files of their own (meshctl.h). */
struct meshctl_admin {
	struct admin_opts o;
};

void meshctl_admin_param(char *path, size_t len, const char *key, const char *value)
{
	size_t o = strlen(path);
	o += (size_t)snprintf(path + o, len > o ? len - o : 0, "&%s=", key);
	for (const unsigned char *p = (const unsigned char *)value; *p && o + 4 < len; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			path[o++] = (char)*p;
		else
			o += (size_t)snprintf(path + o, len - o, "%%%02X", *p);
	}
	path[o < len ? o : len - 1] = '\0';
}

const char *meshctl_admin_help(void)
{
	return admin_help;
}

struct meshctl_admin *meshctl_admin_new(int argc, char **argv, char ***args, int *n)
{
	struct meshctl_admin *a = calloc(1, sizeof(*a));
	if (!a) {
		fprintf(stderr, "meshctl %s: out of memory\n", argv[0]);
		return NULL;
	}
	if (!admin_parse(argc, argv, &a->o) || !admin_ready(argv[0], &a->o)) {
		meshctl_admin_free(a);
		return NULL;
	}
	*args = a->o.args;
	*n = a->o.n;
	return a;
}

char *meshctl_admin_request(struct meshctl_admin *a, const char *method, const char *path,
			    const char *body)
{
	return admin_do(&a->o, method, path, body);
}

void meshctl_admin_free(struct meshctl_admin *a)
{
	if (a)
		explicit_bzero(a->o.token, sizeof(a->o.token));
	free(a);
}
