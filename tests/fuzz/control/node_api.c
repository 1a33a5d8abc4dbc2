/* Fuzz target: the node API handlers after the envelope (control/server/node.c): "N PATH\n"
 * then a JSON body, as prepared node N (0 a user's laptop, 1 a tagged server; '-' an unknown
 * machine key) sends to register, map (endpoint and host-key reports), hold or logout.
 * Checks that answers to a node are sealed to it, an unknown machine changes nothing (and
 * gets 401 from map and logout), what is stored of a node's reports is what meshd may use
 * (at most 16 endpoints addr:port, 8 valid host keys), and no request without an auth key or
 * a person changes a node's tags. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/netmap/hostkey.h"
#include "control/netmap/endpoint.h"
#include "tests/fuzz/control/srv_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_node(void *ctx, const struct ctl_node_rec *n)
{
	(void)ctx;
	if (strcmp(n->tags, n->id == 2 ? "tag:server" : "") != 0 || n->id > FZ_NODES)
		abort();
	json_t *ep = n->endpoints ? json_loads(n->endpoints, 0, NULL) : NULL;
	json_t *hk = n->ssh_host_keys ? json_loads(n->ssh_host_keys, 0, NULL) : NULL;
	size_t i;
	json_t *v;
	if (json_array_size(ep) > 16 || json_array_size(hk) > 8)
		abort();
	json_array_foreach(ep, i, v) {
		struct ctl_endpoint e;
		if (!ctl_endpoint_parse(json_string_value(v), &e, NULL, 0))
			abort();
	}
	json_array_foreach(hk, i, v)
		if (!ctl_ssh_host_key_valid(json_string_value(v), NULL, 0))
			abort();
	json_decref(ep);
	json_decref(hk);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	if (!nl || nl - data < 3 || nl - data > 20 || data[1] != ' ')
		return 0;
	int node = data[0] == '0' ? 0 : data[0] == '1' ? 1 : -1;
	char path[32];
	snprintf(path, sizeof(path), "%.*s", (int)(nl - data - 2), (const char *)data + 2);
	struct ctl_server *srv = fz_srv_open();
	struct fz_census before, after;
	fz_census(srv, &before);
	struct fz_reply rep;
	fz_node(srv, node, path, (const char *)nl + 1, size - (size_t)(nl - data) - 1, &rep);
	fz_census(srv, &after);
	/* an unknown machine may start an interactive registration, and nothing else */
	bool known_only = strcmp(path, "map") == 0 || strcmp(path, "logout") == 0;
	if (node < 0 && (memcmp(&before, &after, sizeof(before)) != 0 ||
			 (known_only && rep.queued && rep.status != 401)))
		abort();
	srv->store->ops->node_list(srv->store, check_node, NULL);
	free(rep.body);
	fz_srv_close(srv);
	return 0;
}
