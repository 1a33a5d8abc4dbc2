/* ctl-cache STATE_DIR: prints the netmap a node's cache holds (netmap.json with the deltas of
 * netmap.deltas folded into it: ctl_cache_read_text), one line of JSON; exit 1 with the
 * reason on stderr when there is none, 3 (after the JSON) when deltas were left out.  For
 * the lab tests that look at a node's netmap. */
#include <stdio.h>
#include <stdlib.h>

#include "control/client/client.h"

int main(int argc, char **argv)
{
	char err[512] = "";
	if (argc != 2) {
		fprintf(stderr, "usage: ctl-cache STATE_DIR\n");
		return 2;
	}
	char *text = ctl_cache_read_text(argv[1], err, sizeof(err));
	if (!text) {
		fprintf(stderr, "ctl-cache: %s\n", err);
		return 1;
	}
	puts(text);
	free(text);
	if (err[0]) {
		fprintf(stderr, "ctl-cache: %s\n", err);
		return 3;
	}
	return 0;
}
