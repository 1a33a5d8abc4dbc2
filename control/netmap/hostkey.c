/* The one check of an SSH host key line, for control (what a node reports) and meshctl
 * (what it writes to known_hosts). */
#include "control/netmap/hostkey.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *const known_types[] = {
	"ssh-ed25519",
	"ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521",
	"ssh-rsa",
	"sk-ssh-ed25519@openssh.com",
	"sk-ecdsa-sha2-nistp256@openssh.com",
};

/* The start of line for a message: printable ASCII only, at most 40 characters. */
static void quote(char *out, size_t len, const char *line)
{
	size_t n = 0;
	for (; line[n] && n < 40 && n + 4 < len; n++)
		out[n] = line[n] > 0x20 && line[n] < 0x7f ? line[n] : line[n] == ' ' ? ' ' : '?';
	if (line[n] && n + 4 < len) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[len ? n : 0] = '\0';
}

static bool fail(char *err, size_t errlen, const char *line, const char *what, const char *arg)
{
	if (!errlen)
		return false;
	char q[64];
	quote(q, sizeof(q), line);
	snprintf(err, errlen, "host key '%s': %s%s%s%s", q, what, arg ? " '" : "", arg ? arg : "",
		 arg ? "'" : "");
	return false;
}

bool ctl_ssh_host_key_valid(const char *line, char *err, size_t errlen)
{
	size_t len = strlen(line);
	if (!len) {
		if (errlen)
			snprintf(err, errlen, "empty host key");
		return false;
	}
	if (len > CTL_SSH_HOST_KEY_MAX) {
		if (errlen)
			snprintf(err, errlen, "host key longer than %d characters",
				 CTL_SSH_HOST_KEY_MAX);
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
			return fail(err, errlen, line, "not one line of printable text", NULL);
	const char *sp = strchr(line, ' ');
	size_t tlen = sp ? (size_t)(sp - line) : 0;
	if (!sp || !tlen || !sp[1] || strchr(sp + 1, ' '))
		return fail(err, errlen, line, "not 'TYPE BASE64'", NULL);
	char type[64];
	const char *known = NULL;
	snprintf(type, sizeof(type), "%.*s", (int)(tlen < sizeof(type) ? tlen : sizeof(type) - 1),
		 line);
	for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]) && !known; i++)
		if (strlen(known_types[i]) == tlen && memcmp(known_types[i], line, tlen) == 0)
			known = known_types[i];
	if (!known)
		return fail(err, errlen, line, "unknown key type", type);
	uint8_t blob[CTL_SSH_HOST_KEY_MAX];
	size_t blen = 0;
	const char *b64 = sp + 1, *end = NULL;
	if (sodium_base642bin(blob, sizeof(blob), b64, strlen(b64), NULL, &blen, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    *end)
		return fail(err, errlen, line, "the key is not valid base64", NULL);
	/* The blob is SSH wire format: string type, then the key; its type must be the line's. */
	if (blen <= 4 + tlen ||
	    (((uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 |
	      blob[3]) != tlen) ||
	    memcmp(blob + 4, known, tlen) != 0)
		return fail(err, errlen, line, "the key does not start with its type", known);
	return true;
}
