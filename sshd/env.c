/* Which environment variables a client may set (the "env" channel request).  LANG and
 * LC_* are always welcome; anything else must match the decision's acceptEnv globs.
 * Variables that steer the dynamic loader or a shell's startup (LD_*, DYLD_*, BASH_ENV,
 * IFS, ...) are dropped whatever the patterns say: they would run code as the user
 * before the user's own shell had a say, and some change the behaviour of setuid
 * programs the user may call. */
#include <fnmatch.h>
#include <string.h>

#include "sshd/internal.h"

static const char *const denied_prefixes[] = { "LD_", "DYLD_", "_RLD", "GCONV_", NULL };
static const char *const denied_names[] = {
	"LIBPATH",
	"SHLIB_PATH",
	"BASH_ENV",
	"ENV",
	"IFS",
	"PS4",
	"SHELLOPTS",
	"BASHOPTS",
	"GLOBIGNORE",
	"HOSTALIASES",
	"LOCALDOMAIN",
	"RES_OPTIONS",
	"NLSPATH",
	"MALLOC_CHECK_",
	"PATH",
	"HOME",
	"USER",
	"LOGNAME",
	"SHELL",
	"MAIL",
	"SSH_AUTH_SOCK",
	"SSH_CLIENT",
	"SSH_CONNECTION",
	"SSH_TTY",
	"TERM",
	NULL,
};

/* A syntactically valid name that is not on the deny lists. */
bool sshd__env_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > 128)
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (i > 0 && c >= '0' && c <= '9')))
			return false;
	}
	for (i = 0; denied_prefixes[i]; i++)
		if (strncmp(name, denied_prefixes[i], strlen(denied_prefixes[i])) == 0)
			return false;
	for (i = 0; denied_names[i]; i++)
		if (strcmp(name, denied_names[i]) == 0)
			return false;
	return true;
}

/* May the client set `name`, given comma- or space-separated glob `patterns`? */
bool sshd__env_accepted(const char *name, const char *patterns)
{
	char pat[SSHD_ENV_PATTERNS_MAX];
	const char *p = patterns;

	if (!sshd__env_name_ok(name))
		return false;
	if (strcmp(name, "LANG") == 0 || strncmp(name, "LC_", 3) == 0)
		return true;
	while (p && *p) {
		size_t n = strcspn(p, ", ");
		if (n > 0 && n < sizeof(pat)) {
			memcpy(pat, p, n);
			pat[n] = '\0';
			if (fnmatch(pat, name, 0) == 0)
				return true;
		}
		p += n;
		p += strspn(p, ", ");
	}
	return false;
}
