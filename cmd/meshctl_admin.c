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

/* Runs one request; prints the error and returns NULL unless the status is 2xx. */
static char *admin_do(const struct admin_opts *o, const char *method, const char *path,
		      const char *body)
{
	struct ctl_admin_reply r;
	struct ctl_admin_server srv = { .url = o->server,
					.token = o->token,
					.ca_file = o->ca_file && *o->ca_file ? o->ca_file : NULL,
					.insecure_http = o->insecure_http };
	int rc = ctl_admin_call(&srv, method, path, body, body ? strlen(body) : 0, &r);
	if (r.warning[0])
		fprintf(stderr, "meshctl: warning: %s\n", r.warning);
	if (rc || r.status < 200 || r.status > 299) {
		fprintf(stderr, "meshctl: %s\n", r.error);
		ctl_admin_reply_clear(&r);
		return NULL;
	}
	return r.body;
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

int meshctl_policy_admin(int argc, char **argv)
{
	struct admin_opts o;
	if (!admin_parse(argc, argv, &o))
		return 2;
	/* args[0] is "get" or "set" */
	bool get = o.n == 1 && strcmp(o.args[0], "get") == 0;
	bool set = o.n == 2 && strcmp(o.args[0], "set") == 0;
	if (!get && !set) {
		fprintf(stderr, "Usage: meshctl policy get | meshctl policy set FILE\n");
		return 2;
	}
	if (!admin_ready("policy", &o))
		return 1;
	if (get) {
		char *b = admin_do(&o, "GET", "policy", NULL);
		if (!b)
			return 1;
		char *text = ctl_admin_string(b, "policy");
		free(b);
		printf("%s%s", text ? text : "",
		       text && *text && text[strlen(text) - 1] != '\n' ? "\n" : "");
		if (!text)
			fprintf(
			    stderr,
			    "meshctl policy get: no policy is set (allow-all network, no SSH)\n");
		free(text);
		return 0;
	}
	char *buf;
	int rc = file_read_all(o.args[1], 16u << 20, &buf, NULL);
	if (rc) {
		fprintf(stderr, "meshctl policy set: %s: %s\n", o.args[1],
			rc == -EFBIG ? "larger than 16 MiB" : strerror(-rc));
		return 1;
	}
	char *b = admin_do(&o, "PUT", "policy", buf);
	free(buf);
	if (!b)
		return 1;
	free(b);
	printf("policy set from %s\n", o.args[1]);
	return 0;
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
