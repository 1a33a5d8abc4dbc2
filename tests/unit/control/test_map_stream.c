/* meshcontrol's map stream, end to end without a socket (the fuzz harness's server): after
 * every round of random changes — the other node's endpoints, host keys and discovery key,
 * our own endpoints, the policy (peers appear and go, rules change), the DNS settings (set,
 * withdrawn), the timer's tick, the other node's key expiring — the delta the server sends, folded
 * by the client's own fold (ctl__netmap_fold), must equal the full map the server sends next.  So a
 * change that the full map shows and the delta forgets (or the reverse) is caught, whatever it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "control/netmap/netmap_json.h"
#include "tests/fuzz/control/srv_harness.h"

static unsigned long long rng = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n)
{
	return check_rand(&rng, n);
}

static const char *const policies[] = {
	/* everyone reaches everyone; alice's SSH to tag:server is check mode */
	"{\"groups\": {\"group:admins\": [\"alice@example.com\"]},"
	" \"tagOwners\": {\"tag:server\": [\"group:admins\"]},"
	" \"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}],"
	" \"ssh\": [{\"action\": \"check\", \"src\": [\"group:admins\"], \"dst\": [\"tag:server\"],"
	" \"users\": [\"root\", \"autogroup:nonroot\"]}]}",
	/* admins reach the servers on 22 only; SSH accepted */
	"{\"groups\": {\"group:admins\": [\"alice@example.com\"]},"
	" \"tagOwners\": {\"tag:server\": [\"group:admins\"]},"
	" \"acls\": [{\"action\": \"accept\", \"src\": [\"group:admins\"], \"dst\": "
	"[\"tag:server:22\"]}],"
	" \"ssh\": [{\"action\": \"accept\", \"src\": [\"group:admins\"], \"dst\": "
	"[\"tag:server\"],"
	" \"users\": [\"autogroup:nonroot\"]}]}",
	/* nobody reaches anybody: no peers */
	"{\"tagOwners\": {\"tag:server\": [\"alice@example.com\"]}, \"acls\": []}",
	/* the servers reach alice's devices, not the reverse */
	"{\"tagOwners\": {\"tag:server\": [\"alice@example.com\"]},"
	" \"acls\": [{\"action\": \"accept\", \"src\": [\"tag:server\"],"
	" \"dst\": [\"alice@example.com:80,443\"]}]}",
	/* admins reach the servers on 22 and, by a rule of its own, on 443: the server's second
	 * rule has the first one's sources, sent as its index (filter_refs.c) */
	"{\"groups\": {\"group:admins\": [\"alice@example.com\"]},"
	" \"tagOwners\": {\"tag:server\": [\"group:admins\"]},"
	" \"acls\": [{\"action\": \"accept\", \"src\": [\"group:admins\"], \"dst\": "
	"[\"tag:server:22\"]},"
	" {\"action\": \"accept\", \"src\": [\"group:admins\"], \"dst\": [\"tag:server:443\"]}]}",
	/* the same two after a rule of the servers': their indexes move, their sources do not */
	"{\"groups\": {\"group:admins\": [\"alice@example.com\"]},"
	" \"tagOwners\": {\"tag:server\": [\"group:admins\"]},"
	" \"acls\": [{\"action\": \"accept\", \"src\": [\"tag:server\"],"
	" \"dst\": [\"alice@example.com:80\"]},"
	" {\"action\": \"accept\", \"src\": [\"group:admins\"], \"dst\": [\"tag:server:443\"]},"
	" {\"action\": \"accept\", \"src\": [\"group:admins\"], \"dst\": [\"tag:server:22\"]}]}",
};

/* Deltas whose filter named a rule's sources by the index of one the node held, and such
 * deltas sent to a node that did not say it takes them (must be none). */
static unsigned refs_seen, refs_unasked, delta_is_base;

static void count_refs(json_t *m, bool asked)
{
	size_t i;
	json_t *r;
	if (strcmp(json_string_value(json_object_get(m, "type")), "delta") != 0)
		return;
	/* a delta never has its base's version (map.c) */
	delta_is_base += json_equal(json_object_get(m, "version"), json_object_get(m, "base"));
	json_array_foreach(json_object_get(m, "filter"), i, r)
	{
		if (json_is_integer(json_object_get(r, "srcs"))) {
			refs_seen += asked;
			refs_unasked += !asked;
			break;
		}
	}
}

/* One node's side of the stream: the netmap it holds, folded from what it was sent. */
struct client {
	int node;
	json_t *nm;
	bool refs; /* its requests say "filter_refs": true, as the client's do */
};

static json_t *request(struct ctl_server *srv, int node, const char *msg)
{
	struct fz_reply rep;
	fz_node(srv, node, "map", msg, strlen(msg), &rep);
	json_t *j = rep.status == 200 && rep.body ? json_loads(rep.body, 0, NULL) : NULL;
	if (!j)
		fprintf(stderr, "node %d: %s -> %u %s\n", node, msg, rep.status,
			rep.body ? rep.body : "");
	free(rep.body);
	return j;
}

/* A map request from c, since the version it holds, with what it reports (extra: JSON
 * members or ""); the answer is folded into c->nm as the client does. */
static void map(struct ctl_server *srv, struct client *c, const char *extra)
{
	char msg[1024], err[256];
	bool keepalive;
	snprintf(msg, sizeof(msg), "{\"since\":%lld%s%s%s}",
		 (long long)json_integer_value(json_object_get(c->nm, "version")),
		 c->refs ? ",\"filter_refs\":true" : "", *extra ? "," : "", extra);
	json_t *j = request(srv, c->node, msg);
	CHECK(j != NULL);
	if (!j)
		return;
	count_refs(j, c->refs);
	int rc = ctl__netmap_fold(&c->nm, j, &keepalive, err, sizeof(err));
	if (rc)
		fprintf(stderr, "node %d: the fold refused the server's message: %s\n", c->node,
			err);
	CHECK_INT(rc, 0);
	json_decref(j);
}

static const char *const dns_settings[] = {
	"{}",
	"{\"magic_dns\": false}",
	"{\"search\": [\"corp.example\"], \"routes\": [{\"domain\": \"corp.example\", "
	"\"resolvers\": [\"10.0.0.53\"]}]}",
	"{\"records\": [{\"name\": \"db.corp.example\", \"addresses\": [\"10.0.0.5\"]}]}",
};

static void admin(struct ctl_server *srv, const char *method, const char *path, const char *body)
{
	char head[256];
	struct fz_reply rep;
	snprintf(head, sizeof(head), "%s /api/v1/%s\nAuthorization: Bearer " FZ_ADMIN_TOKEN "\n",
		 method, path);
	fz_http(srv, head, body, strlen(body), &rep);
	free(rep.body);
}

static void random_endpoints(char *out, size_t size)
{
	unsigned n = rnd(4);
	size_t k = (size_t)snprintf(out, size, "\"endpoints\":[");
	for (unsigned i = 0; i < n; i++)
		k += (size_t)snprintf(out + k, size - k, "%s\"192.0.2.%u:%u\"", i ? "," : "",
				      rnd(250) + 1, 41641 + rnd(3));
	snprintf(out + k, size - k, "]");
}

/* One random change; returns what it was, for the report of a mismatch. */
static const char *change(struct ctl_server *srv, struct client *c, int round)
{
	char buf[512];
	struct client *who = &c[rnd(2)];
	switch (rnd(8)) {
	case 0:
		random_endpoints(buf, sizeof(buf));
		map(srv, who, buf);
		return who->node ? "the server's endpoints" : "the laptop's endpoints";
	case 1: {
		uint8_t key[32];
		char b64[64];
		randombytes_buf(key, sizeof(key));
		sodium_bin2base64(b64, sizeof(b64), key, sizeof(key),
				  sodium_base64_VARIANT_ORIGINAL);
		snprintf(buf, sizeof(buf), "\"disco_key\":\"%s\"", b64);
		map(srv, who, buf);
		return who->node ? "the server's discovery key" : "the laptop's discovery key";
	}
	case 2: { /* an ed25519 key blob: string "ssh-ed25519", string 32 random bytes */
		uint8_t blob[4 + 11 + 4 + 32] = { 0,   0,   0,	 11,  's', 's', 'h', '-', 'e', 'd',
						  '2', '5', '5', '1', '9', 0,	0,   0,	  32 };
		char b64[128];
		randombytes_buf(blob + 19, 32);
		sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob),
				  sodium_base64_VARIANT_ORIGINAL);
		snprintf(buf, sizeof(buf), "\"ssh_host_keys\":[\"ssh-ed25519 %s\"]", b64);
		map(srv, who, buf);
		return who->node ? "the server's host keys" : "the laptop's host keys";
	}
	case 3:
		admin(srv, "PUT", "policy", policies[rnd(sizeof(policies) / sizeof(policies[0]))]);
		return "the policy";
	case 4:
		ctl__timer_tick(srv);
		return "the timer";
	case 5:
		admin(srv, "PUT", "dns",
		      dns_settings[rnd(sizeof(dns_settings) / sizeof(dns_settings[0]))]);
		return "the DNS settings";
	case 6:
		admin(srv, "DELETE", "dns", "");
		return "the DNS settings withdrawn";
	default:
		if (round == 250) { /* once, late: the server's key expires (it cannot come back) */
			admin(srv, "POST", "nodes/2/expire", "");
			return "the server's key expiring";
		}
		return "nothing";
	}
}

int main(void)
{
	struct ctl_server *srv = fz_srv_open();
	struct client c[2] = { { .node = 0 }, { .node = 1 } };
	unsigned deltas = 0, mismatches = 0;
	for (int k = 0; k < 2; k++)
		map(srv, &c[k], "");
	for (int round = 0; round < 300; round++) {
		const char *what[3] = { "", "", "" };
		unsigned n = 1 + rnd(3);
		for (int k = 0; k < 2;
		     k++) /* a node built before references, a third of the time */
			c[k].refs = (round + k) % 3 != 0;
		for (unsigned i = 0; i < n; i++)
			what[i] = change(srv, c, round);
		for (int k = 0; k < 2; k++) {
			json_int_t before = json_integer_value(json_object_get(c[k].nm, "version"));
			map(srv, &c[k], "");
			deltas += json_integer_value(json_object_get(c[k].nm, "version")) != before;
			json_t *full = request(srv, c[k].node, "{\"since\":0}");
			json_t *want = json_object_get(full, "netmap");
			/* versions count every change in the tailnet, so the full map may be
			 * newer than the last delta; never older */
			json_int_t vf = json_integer_value(json_object_get(c[k].nm, "version"));
			json_int_t vw = json_integer_value(json_object_get(want, "version"));
			CHECK(want && vw >= vf);
			json_object_set_new(c[k].nm, "version", json_integer(vw));
			if (!json_equal(c[k].nm, want)) {
				char *a = json_dumps(c[k].nm, JSON_SORT_KEYS | JSON_COMPACT);
				char *b = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
				if (mismatches++ < 3)
					fprintf(stderr,
						"round %d, node %d (changed: %s, %s, %s): folded "
						"deltas\n  %s\ndiffer from the full map\n  %s\n",
						round, c[k].node, what[0], what[1], what[2], a, b);
				free(a);
				free(b);
			}
			/* go on from the full map, as a client that reconnects would */
			json_decref(c[k].nm);
			c[k].nm = json_incref(want);
			json_decref(full);
		}
	}
	CHECK_INT(mismatches, 0);
	CHECK(deltas > 200);  /* the rounds did produce deltas, not only full maps */
	CHECK(refs_seen > 5); /* and filters with sources named by index */
	CHECK_INT(refs_unasked, 0);
	CHECK_INT(delta_is_base, 0);
	fprintf(stderr, "%u deltas folded, %u with a filter naming sources by index\n", deltas,
		refs_seen);
	for (int k = 0; k < 2; k++)
		json_decref(c[k].nm);
	fz_srv_close(srv);
	return check_finish();
}
