/* Fuzz target: our own post-auth request decisions (sshd/req.c) fed directly, since the
 * session fuzzer cannot get past libssh's key exchange.  Input layout: byte 0 picks the
 * request (pty-req, window-change, env, exec, subsystem, direct-tcpip, tcpip-forward),
 * byte 1 the decision flags, then four little-endian int32 numbers (sizes, ports, the
 * env count), then two strings separated by a NUL byte (term/name/command/host, value).
 * Checked on every input: an accepted request's values are in range; a refusal says why
 * in one printable line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sshd/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long num(const uint8_t *p)
{
	return (long)(int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			       (uint32_t)p[3] << 24);
}

static void check_why(bool ok, const char *why)
{
	if (ok)
		return;
	if (!why[0] || strchr(why, '\n') || strlen(why) >= SSHD__WHY_MAX)
		abort();
	for (const char *p = why; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			abort(); /* the client's bytes must be quoted, not echoed */
}

static void check_ws(const struct sshd__winsize *ws)
{
	if (ws->cols > 65535 || ws->rows > 65535 || ws->xpix > 65535 || ws->ypix > 65535)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *a, *b, why[SSHD__WHY_MAX];
	struct sshd__pty pty;
	struct sshd__winsize ws;
	long n[4];
	unsigned flags;
	size_t alen;
	bool ok = false;

	if (size < 18)
		return 0;
	flags = data[1] & 0x0f;
	for (int i = 0; i < 4; i++)
		n[i] = num(data + 2 + 4 * i);
	a = malloc(size - 18 + 2);
	if (!a)
		return 0;
	memcpy(a, data + 18, size - 18);
	a[size - 18] = a[size - 18 + 1] = '\0';
	alen = strlen(a);
	b = a + alen + (alen < size - 18 ? 1 : 0);
	memset(why, 0, sizeof(why));
	switch (data[0] % 7) {
	case 0:
		ok = sshd__req_pty(a, n[0], n[1], n[2], n[3], &pty, why, sizeof(why));
		if (ok) {
			check_ws(&pty.ws);
			if (strlen(pty.term) >= sizeof(pty.term) || strchr(pty.term, '='))
				abort();
		}
		break;
	case 1:
		ok = sshd__req_winsize(n[0], n[1], n[2], n[3], &ws, why, sizeof(why));
		if (ok)
			check_ws(&ws);
		break;
	case 2:
		ok = sshd__req_env(a, b, b, (size_t)(n[0] & 0x7f), why, sizeof(why));
		if (ok && (!sshd__env_name_ok(a) || strlen(b) > SSHD__ENV_VALUE_MAX))
			abort();
		break;
	case 3:
		ok = sshd__req_exec(a, why, sizeof(why));
		break;
	case 4:
		ok = sshd__req_subsystem(a, why, sizeof(why));
		if (ok && strcmp(a, "sftp") != 0)
			abort();
		break;
	case 5:
		ok = sshd__req_direct(a, n[0], flags, why, sizeof(why));
		if (ok && (!(flags & SSHD_ALLOW_LOCAL_FWD) || n[0] < 1 || n[0] > 65535 || !a[0] ||
			   a[0] == '-' || strlen(a) > SSHD__HOST_MAX))
			abort();
		break;
	case 6:
		ok = sshd__req_tcpip_forward(a, n[0], flags, n[1] & 1, why, sizeof(why));
		if (ok && (!(flags & SSHD_ALLOW_REMOTE_FWD) || n[0] < 0 || n[0] > 65535 ||
			   (n[0] > 0 && n[0] < 1024 && !(n[1] & 1))))
			abort();
		break;
	}
	check_why(ok, why);
	free(a);
	return 0;
}
