/* meshctl dns query NAME [TYPE]: the answer this node's MagicDNS view gives, as dig prints
 * it; works in userspace mode too, where no resolver address exists on the host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"

static const char usage_text[] =
    "Usage: meshctl dns query NAME [TYPE]\n"
    "Ask this node's MagicDNS view for NAME (TYPE A by default; AAAA, PTR, SOA, ...);\n"
    "an IP address asks for its name (PTR).\n"
    "Names outside the tailnet are not sent upstream: the answer says where they would go.\n";

int meshctl_dns(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc < 3 || argc > 4 || strcmp(argv[1], "query") != 0) {
		fputs(usage_text, stderr);
		return 2;
	}
	struct ctl_lapi_request req = {
		.cmd = CTL_LAPI_DNS,
		.host = argv[2],
		.type = argc == 4 ? argv[3] : NULL,
	};
	char *line = meshctl_call(&req, NULL);
	if (!line)
		return 1;
	bool ok = false;
	size_t cap = strlen(line) + 1;
	char *msg = malloc(cap);
	if (!msg || ctl_lapi_reply_parse(line, strlen(line), &ok, msg, cap) != 0 || !ok) {
		fprintf(stderr, "meshctl dns: meshd sent an answer I cannot read\n");
		free(msg);
		free(line);
		return 1;
	}
	for (char *p = msg; *p; p++) /* no terminal controls from the wire */
		if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t')
			*p = '?';
	fputs(msg, stdout);
	free(msg);
	free(line);
	return 0;
}
