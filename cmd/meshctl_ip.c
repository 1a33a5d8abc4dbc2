/* meshctl ip: this node's (or a peer's) tailnet addresses. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cmd/meshctl.h"
#include "cmd/meshctl_client.h"

int meshctl_ip(int argc, char **argv)
{
	int family = 0;
	const char *host = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-4") == 0) {
			family = AF_INET;
		} else if (strcmp(argv[i], "-6") == 0) {
			family = AF_INET6;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("Usage: meshctl ip [-4|-6] [HOST]\n"
			       "Print this node's tailnet addresses, or HOST's (a peer's name or\n"
			       "address).\n"
			       "  -4   only the IPv4 address\n"
			       "  -6   only the IPv6 address\n");
			return 0;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "meshctl ip: unknown option '%s'\n", argv[i]);
			return 2;
		} else if (!host) {
			host = argv[i];
		} else {
			fprintf(stderr, "meshctl ip: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	struct ctl_lapi_status st;
	if (meshctl_get_status(&st, NULL))
		return 1;
	const struct ctl_lapi_node *n = host ? meshctl_find_node(&st, host) : &st.self;
	int rc = 0;
	if (!n || !n->n_addrs) {
		if (host)
			fprintf(stderr,
				"meshctl ip: unknown host '%s': no such node in the tailnet\n",
				host);
		else
			fprintf(stderr,
				"meshctl ip: this node has no address yet (not logged in)\n");
		rc = 1;
	} else {
		int printed = 0;
		for (size_t i = 0; i < n->n_addrs; i++) {
			int f = n->addrs[i].ip.family;
			if (family && f != family)
				continue;
			char buf[ADDR_TEXT_MAX];
			addr_ip_format(&n->addrs[i].ip, buf);
			printf("%s\n", buf);
			printed++;
		}
		if (!printed) {
			fprintf(stderr, "meshctl ip: %s has no IPv%d address\n",
				n->name ? n->name : "node", family == AF_INET ? 4 : 6);
			rc = 1;
		}
	}
	ctl_lapi_status_clear(&st);
	return rc;
}
