/* Fuzz target for ctl_ssh_host_key_valid(), which sees every host key a node reports to
 * control and every key meshctl is about to write to known_hosts.  Checks its contract: a
 * key it accepts is one line "TYPE BASE64" of printable ASCII, and its error message (which
 * quotes the key) is itself one line of printable text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/netmap/hostkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	if (!line)
		abort();
	memcpy(line, data, size);
	line[size] = '\0';
	char err[256];
	memset(err, 'x', sizeof(err));
	bool ok = ctl_ssh_host_key_valid(line, err, sizeof(err));
	if (ok) {
		size_t spaces = 0;
		for (const char *p = line; *p; p++) {
			if ((unsigned char)*p <= 0x20 && *p != ' ')
				abort();
			if ((unsigned char)*p >= 0x7f)
				abort();
			spaces += *p == ' ';
		}
		if (spaces != 1 || strlen(line) > CTL_SSH_HOST_KEY_MAX)
			abort();
	} else {
		if (!memchr(err, '\0', sizeof(err)))
			abort();
		for (const char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				abort();
	}
	free(line);
	return 0;
}
