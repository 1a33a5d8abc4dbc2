/* Configuration file reader: turns the file into long options so there is exactly one
 * parser (getopt in options.c) and one set of error messages for both. */
#include "cmd/daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

bool meshd_config_argv(const char *path, bool required, int argc, char **argv, int *out_argc,
		       char ***out_argv)
{
	FILE *f = fopen(path, "re");
	char **v = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0;
	if (!v) {
		if (f)
			fclose(f);
		fprintf(stderr, "meshd: out of memory\n");
		return false;
	}
	v[n++] = argv[0];
	if (!f && (required || errno != ENOENT)) {
		fprintf(stderr, "meshd: %s: %s\n", path, strerror(errno));
		free(v);
		return false;
	}
	char line[4096];
	unsigned lineno = 0;
	bool ok = true;
	while (f && fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "meshd: %s:%u: line longer than %zu characters\n", path,
				lineno, sizeof(line) - 1);
			ok = false;
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		char *name = s, *value = NULL;
		if (eq) {
			*eq = '\0';
			name = trim(s);
			value = trim(eq + 1);
		}
		if (!*name ||
		    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(name)) {
			fprintf(stderr, "meshd: %s:%u: '%s' is not a setting name\n", path, lineno,
				name);
			ok = false;
			break;
		}
		if (strcmp(name, "config") == 0) {
			fprintf(stderr, "meshd: %s:%u: 'config' cannot be set in the file\n", path,
				lineno);
			ok = false;
			break;
		}
		/* A key in a config file would sit beside every other setting; a path to
		 * where it is kept (0600, its own file) is fine. */
		if (strcmp(name, "authkey") == 0 && (!value || strncmp(value, "file:", 5) != 0)) {
			fprintf(stderr,
				"meshd: %s:%u: 'authkey' can only be 'file:PATH' in the file\n",
				path, lineno);
			ok = false;
			break;
		}
		size_t len = strlen(name) + (value ? strlen(value) + 1 : 0) + 3;
		char *opt = malloc(len);
		char **nv = realloc(v, ((size_t)n + (size_t)argc + 1) * sizeof(char *));
		if (!opt || !nv) {
			free(opt);
			if (nv)
				v = nv;
			fprintf(stderr, "meshd: out of memory\n");
			ok = false;
			break;
		}
		v = nv;
		snprintf(opt, len, value ? "--%s=%s" : "--%s", name, value ? value : "");
		v[n++] = opt;
	}
	if (ok && f && ferror(f)) { /* a directory, say: fgets gives EISDIR, not an empty file */
		fprintf(stderr, "meshd: %s: %s\n", path, strerror(errno));
		ok = false;
	}
	if (f)
		fclose(f);
	if (!ok) {
		for (int i = 1; i < n; i++)
			free(v[i]);
		free(v);
		return false;
	}
	int file_n = n;
	for (int i = 1; i < argc; i++)
		v[n++] = argv[i];
	v[n] = NULL;
	*out_argc = n;
	*out_argv = v;
	(void)file_n;
	return true;
}

void meshd_config_argv_free(int argc, char **argv, int orig_argc)
{
	int from_file = argc - orig_argc;
	for (int i = 1; i <= from_file; i++)
		free(argv[i]);
	free(argv);
}

void meshd_config_reload_log_level(const char *path)
{
	char *argv0 = "meshd";
	int n;
	char **v;
	if (!meshd_config_argv(path, false, 1, &argv0, &n, &v)) {
		log_warn("meshd", "SIGHUP: %s not reloaded (see the error above)", path);
		return;
	}
	for (int i = 1; i < n; i++) {
		if (strncmp(v[i], "--log-level=", 12) == 0) {
			enum log_level lv;
			if (log_level_parse(v[i] + 12, &lv)) {
				log_set_level(lv);
				log_info("meshd", "SIGHUP: log level %s", v[i] + 12);
			} else {
				log_warn("meshd", "SIGHUP: %s: bad log-level '%s' ignored", path,
					 v[i] + 12);
			}
		}
	}
	meshd_config_argv_free(n, v, 1);
}
