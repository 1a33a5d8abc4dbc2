/* meshctl whois: which node, owner and tags stand behind a tailnet address. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"

int meshctl_whois(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf(
		    "Usage: meshctl whois ADDRESS\n"
		    "Show the node, its owner or tags, and its addresses for a tailnet address.\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "Usage: meshctl whois ADDRESS\n");
		return 2;
	}
	struct ctl_lapi_request req = { .cmd = CTL_LAPI_WHOIS, .host = argv[1] };
	char *line = meshctl_call(&req, NULL);
	if (!line)
		return 1;
	struct ctl_lapi_node n;
	char err[256];
	if (ctl_lapi_node_parse(line, strlen(line), &n, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshctl whois: meshd sent an answer I cannot read: %s\n", err);
		free(line);
		return 1;
	}
	free(line);
	printf("Machine:\n  Name:      %s\n", n.dns_name ? n.dns_name : n.name ? n.name : "?");
	for (size_t i = 0; i < n.n_addrs; i++) {
		char buf[ADDR_TEXT_MAX];
		printf("  Address:   %s\n", addr_ip_format(&n.addrs[i].ip, buf));
	}
	if (n.n_tags) {
		printf("  Tags:     ");
		for (size_t i = 0; i < n.n_tags; i++)
			printf(" %s", n.tags[i]);
		printf("\n");
	} else {
		printf("User:\n  Login:     %s\n", n.owner ? n.owner : "-");
	}
	ctl_lapi_node_clear(&n);
	return 0;
}
