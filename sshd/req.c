/* Decisions on post-auth requests, from plain values: pty-req, env, exec, subsystem,
 * direct-tcpip and tcpip-forward.  The handlers in session.c and forward.c take the
 * fields out of libssh's message and ask these functions; nothing here touches libssh,
 * the loop or the system, so a libFuzzer target (tests/fuzz/sshd/fuzz_requests.c) drives
 * them directly.  Every refusal fills `why` with one line that quotes the bad input
 * (shortened to SSHD__QUOTE_MAX characters, non-printable bytes as '?'): it is logged and
 * sent to the client as an SSH debug message.  Also the one pre-auth reading of a plain
 * value: the "+key" suffix of a requested user name. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sshd/internal.h"

enum { SSHD__QUOTE_MAX = 64 };

/* The client's text, safe to print: at most SSHD__QUOTE_MAX bytes, control and non-ASCII
 * bytes replaced, "..." when cut. */
static void quote(char *out, size_t size, const char *s)
{
	size_t i, n = 0;

	for (i = 0; s[i] && i < SSHD__QUOTE_MAX && n + 4 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (s[i] && n + 4 <= size) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

__attribute__((format(printf, 3, 4))) static bool refuse(char *why, size_t size, const char *fmt,
							 ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return false;
}

bool sshd__req_pty(const char *term, long cols, long rows, long xpix, long ypix,
		   struct sshd__pty *out, char *why, size_t size)
{
	char q[SSHD__QUOTE_MAX + 8];

	if (!term)
		term = "";
	quote(q, sizeof(q), term);
	if (strlen(term) >= sizeof(out->term))
		return refuse(why, size, "pty-req: terminal name '%s' is longer than %zu bytes", q,
			      sizeof(out->term) - 1);
	for (size_t i = 0; term[i]; i++) {
		unsigned char c = (unsigned char)term[i];
		if (c <= 0x20 || c >= 0x7f || c == '=')
			return refuse(why, size, "pty-req: terminal name '%s' has a bad character",
				      q);
	}
	if (!sshd__req_winsize(cols, rows, xpix, ypix, &out->ws, why, size))
		return false;
	snprintf(out->term, sizeof(out->term), "%s", term);
	return true;
}

bool sshd__req_winsize(long cols, long rows, long xpix, long ypix, struct sshd__winsize *out,
		       char *why, size_t size)
{
	/* struct winsize holds unsigned shorts: a larger value would wrap silently */
	if (cols < 0 || rows < 0 || xpix < 0 || ypix < 0 || cols > 65535 || rows > 65535 ||
	    xpix > 65535 || ypix > 65535)
		return refuse(why, size, "window size %ldx%ld (%ldx%ld pixels) is out of range",
			      cols, rows, xpix, ypix);
	out->cols = (unsigned)cols;
	out->rows = (unsigned)rows;
	out->xpix = (unsigned)xpix;
	out->ypix = (unsigned)ypix;
	return true;
}

bool sshd__req_env(const char *name, const char *value, const char *patterns, size_t nenv,
		   char *why, size_t size)
{
	char q[SSHD__QUOTE_MAX + 8];

	if (!name || !value)
		return refuse(why, size, "env: request without a name or value");
	quote(q, sizeof(q), name);
	if (nenv >= SSHD__ENV_MAX)
		return refuse(why, size, "env: '%s' refused: already %d variables", q,
			      SSHD__ENV_MAX);
	if (strlen(value) > SSHD__ENV_VALUE_MAX)
		return refuse(why, size, "env: '%s' refused: value longer than %d bytes", q,
			      SSHD__ENV_VALUE_MAX);
	if (!sshd__env_accepted(name, patterns))
		return refuse(why, size, "env: '%s' refused by the acceptEnv patterns", q);
	return true;
}

bool sshd__req_exec(const char *command, char *why, size_t size)
{
	if (!command)
		return refuse(why, size, "exec: request without a command");
	if (strlen(command) > SSHD__COMMAND_MAX)
		return refuse(why, size, "exec: command of %zu bytes is longer than %d",
			      strlen(command), SSHD__COMMAND_MAX);
	return true;
}

bool sshd__req_subsystem(const char *name, char *why, size_t size)
{
	char q[SSHD__QUOTE_MAX + 8];

	if (!name)
		return refuse(why, size, "subsystem: request without a name");
	if (strcmp(name, "sftp") == 0)
		return true;
	quote(q, sizeof(q), name);
	return refuse(why, size, "subsystem '%s' is not offered (only sftp)", q);
}

/* A host name or an address literal: letters, digits and . - _ : % only. */
static bool host_ok(const char *host)
{
	size_t n = strlen(host);

	if (n == 0 || n > SSHD__HOST_MAX || host[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = host[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_' || c == ':' || c == '%'))
			return false;
	}
	return true;
}

bool sshd__req_direct(const char *host, long port, unsigned flags, char *why, size_t size)
{
	char q[SSHD__QUOTE_MAX + 8];

	quote(q, sizeof(q), host ? host : "");
	if (!(flags & SSHD_ALLOW_LOCAL_FWD))
		return refuse(why, size, "local port forwarding to %s:%ld refused by policy", q,
			      port);
	if (!host || !host_ok(host))
		return refuse(why, size, "direct-tcpip: bad host name '%s'", q);
	if (port <= 0 || port > 65535)
		return refuse(why, size, "direct-tcpip: bad port %ld for '%s'", port, q);
	return true;
}

bool sshd__req_tcpip_forward(const char *addr, long port, unsigned flags, bool root, char *why,
			     size_t size)
{
	char q[SSHD__QUOTE_MAX + 8];

	quote(q, sizeof(q), addr ? addr : "");
	if (!(flags & SSHD_ALLOW_REMOTE_FWD))
		return refuse(why, size, "remote port forwarding on %s:%ld refused by policy", q,
			      port);
	if (addr && strlen(addr) >= SSHD__FWD_ADDR_MAX)
		return refuse(why, size, "tcpip-forward: address '%s' is too long", q);
	if (port < 0 || port > 65535)
		return refuse(why, size, "tcpip-forward: bad port %ld", port);
	if (port > 0 && port < 1024 && !root)
		return refuse(why, size,
			      "tcpip-forward: port %ld is privileged and the user is not root",
			      port);
	return true;
}

bool sshd__req_user_key(const char *user, size_t *name_len)
{
	size_t n = strlen(user), k = strlen(SSHD__KEY_SUFFIX);
	bool key = n > k && strcmp(user + n - k, SSHD__KEY_SUFFIX) == 0;

	*name_len = key ? n - k : n;
	return key;
}
