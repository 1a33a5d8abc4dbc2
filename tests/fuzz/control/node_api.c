/* Fuzz target: the node API handlers after the envelope (control/server/node_api.c): "N PATH\n"
 * then a JSON body, as prepared node N (0 a user's laptop, 1 a tagged server; '-' an unknown
 * machine key) sends to register, map (endpoint and host-key reports), hold or logout.
 * Checks that answers to a node are sealed to it, an unknown machine changes nothing (and
 * gets 401 from map and logout), what is stored of a node's reports is what meshd may use
 * (at most 16 endpoints addr:port, 8 valid host keys), and no request without an auth key or
 * a person changes a node's tags; no two nodes share a discovery key (nor is one all zero);
 * an answer to a node holds relay credentials only its own (username "<expiry>:<its id>",
 * password the TURN REST one), and none inside a node entry; a list of live sessions lands
 * on its sender only, and no node request queues a kill. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "control/netmap/hostkey.h"
#include "control/netmap/sessions.h"
#include "control/netmap/endpoint.h"
#include "nat/rest.h"
#include "tests/fuzz/control/srv_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct disco_seen {
	uint8_t keys[FZ_NODES + 1][32];
	size_t n;
};

static int check_node(void *ctx, const struct ctl_node_rec *n)
{
	struct disco_seen *seen = ctx;
	if (n->has_disco_key) {
		if (key_is_zero(n->disco_key))
			abort();
		for (size_t i = 0; i < seen->n; i++)
			if (memcmp(seen->keys[i], n->disco_key, 32) == 0)
				abort();
		if (seen->n <= FZ_NODES)
			memcpy(seen->keys[seen->n++], n->disco_key, 32);
	}
	if (n->n_tags != (n->id == 2) || (n->n_tags && strcmp(n->tags[0], "tag:server") != 0) ||
	    n->id > FZ_NODES)
		abort();
	json_t *ep = n->endpoints ? json_loads(n->endpoints, 0, NULL) : NULL;
	json_t *hk = n->ssh_host_keys ? json_loads(n->ssh_host_keys, 0, NULL) : NULL;
	size_t i;
	json_t *v;
	if (json_array_size(ep) > 16 || json_array_size(hk) > 8)
		abort();
	json_array_foreach(ep, i, v)
	{
		struct ctl_endpoint e;
		if (!ctl_endpoint_parse(json_string_value(v), &e, NULL, 0))
			abort();
	}
	json_array_foreach(hk, i, v) if (!ctl_ssh_host_key_valid(json_string_value(v), NULL, 0))
	    abort();
	json_decref(ep);
	json_decref(hk);
	return 0;
}

/* Every "relays" list in an answer to node id: its own credentials; no node entry (self,
 * peers, peers_changed, a registration's node) holds relays or a password. */
static void check_relays(json_t *j, int64_t id, bool in_node)
{
	const char *k;
	json_t *v;
	size_t i;
	if (json_is_array(j)) {
		json_array_foreach(j, i, v) check_relays(v, id, in_node);
		return;
	}
	if (!json_is_object(j))
		return;
	json_object_foreach(j, k, v)
	{
		bool node_part = in_node || strcmp(k, "self") == 0 || strcmp(k, "peers") == 0 ||
				 strcmp(k, "peers_changed") == 0 || strcmp(k, "node") == 0;
		if (in_node && (strcmp(k, "relays") == 0 || strcmp(k, "password") == 0))
			abort();
		if (strcmp(k, "relays") == 0) {
			json_t *e;
			json_array_foreach(v, i, e)
			{
				const char *u = json_string_value(json_object_get(e, "username"));
				const char *p = json_string_value(json_object_get(e, "password"));
				char want[NAT_TURN_REST_PASSWORD_SIZE], tail[32];
				snprintf(tail, sizeof(tail), ":%lld", (long long)id);
				if (!u || !p || strlen(u) < strlen(tail) ||
				    strcmp(u + strlen(u) - strlen(tail), tail) != 0)
					abort();
				nat_turn_rest_password((const uint8_t *)FZ_RELAY_SECRET,
						       strlen(FZ_RELAY_SECRET), u, want);
				if (strcmp(p, want) != 0)
					abort();
			}
			continue;
		}
		check_relays(v, id, node_part);
	}
}

/* A list stored for the node that sent the request only, and one the parser takes. */
static int own_list(void *ctx, int64_t node_id, const char *list, int64_t reported_ms)
{
	struct ctl_session *v;
	size_t n;
	char err[256];
	(void)reported_ms;
	if (node_id != *(const int64_t *)ctx ||
	    ctl_sessions_parse(list, strlen(list), &v, &n, err, sizeof(err)) != 0)
		abort();
	free(v);
	return 0;
}

static int no_kill(void *ctx, int64_t node_id, const struct ctl_session_kill *k)
{
	(void)ctx;
	(void)node_id;
	(void)k;
	abort();
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
	struct disco_seen seen = { .n = 0 };
	srv->store->ops->node_list(srv->store, check_node, &seen);
	/* a node's list of live sessions is its own (the envelope says whose), bounded, and
	 * no node request queues a kill */
	int64_t sender = node + 1;
	if (srv->store->ops->ssh_sessions_list(srv->store, 0, own_list, &sender) ||
	    srv->store->ops->ssh_kills_list(srv->store, 0, no_kill, NULL))
		abort();
	for (size_t i = 0; i < srv->n_nodes; i++)
		if (srv->nodes[i]->n_kills)
			abort();
	if (node >= 0 && rep.body) {
		json_t *j = json_loadb(rep.body, rep.len, 0, NULL);
		check_relays(j, node + 1, false);
		json_decref(j);
	}
	free(rep.body);
	fz_srv_close(srv);
	return 0;
}
