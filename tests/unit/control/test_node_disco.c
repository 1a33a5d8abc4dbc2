/* meshcontrol's node API on discovery keys and relay credentials, through the fuzz harness's
 * server without a socket (tests/fuzz/control/srv_harness.c: two prepared nodes, the second
 * with a discovery key; one relay): every malformed disco_key in a map or register request
 * is refused with its exact sentence and changes nothing; a good one is taken and reaches
 * the peer's map; another node's key is refused (409); the map carries the node's own
 * credentials and nothing of them in a node entry. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nat/rest.h"
#include "tests/fuzz/control/srv_harness.h"

static const char laptop_key[] = "ERERERERERERERERERERERERERERERERERERERERERE=";

int main(void)
{
	static const struct {
		const char *path, *msg;
		unsigned status;
		const char *err;
	} bad[] = {
		/* 1 */ { "map", "{\"disco_key\":\"AQEB\"}", 400,
			  "disco_key: key is 4 characters long; a base64 key is exactly 44" },
		/* 2 */ { "map", "{\"disco_key\":7}", 400, "disco_key: expected a base64 key" },
		/* 3 */
		{ "map", "{\"disco_key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}", 400,
		  "disco_key: the all-zero key is not a public key" },
		/* 4 */
		{ "map", "{\"disco_key\":\"ERERERERERERERERERERERERERERERERERERERERER*=\"}", 400,
		  "disco_key: invalid base64 character '*' at position 43" },
		/* 5 the server's key */
		{ "map", "{\"disco_key\":\"IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\"}", 409,
		  "disco_key: another node already uses this key" },
		/* 6 */
		{ "register",
		  "{\"node_key\":\"EBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBA=\","
		  "\"hostname\":\"laptop\",\"disco_key\":\"AQEB\"}",
		  400, "disco_key: key is 4 characters long; a base64 key is exactly 44" },
		/* 7 */
		{ "register",
		  "{\"node_key\":\"EBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBA=\","
		  "\"hostname\":\"laptop\",\"disco_key\":"
		  "\"IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\"}",
		  409, "disco_key: another node already uses this key" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ctl_server *srv = fz_srv_open();
		struct fz_reply rep;
		char want[256];
		fz_node(srv, 0, bad[i].path, bad[i].msg, strlen(bad[i].msg), &rep);
		snprintf(want, sizeof(want), "{\"error\":\"%s\"}", bad[i].err);
		if (rep.status != bad[i].status || !rep.body || strcmp(rep.body, want) != 0)
			fprintf(stderr, "bad %zu:\n", i + 1);
		CHECK_INT(rep.status, bad[i].status);
		CHECK_STR(rep.body, want);
		CHECK(!ctl__node_by_id(srv, 1)->rec.has_disco_key); /* nothing taken */
		free(rep.body);
		fz_srv_close(srv);
	}

	/* a good key: taken, stored, and in the server's view of the laptop */
	struct ctl_server *srv = fz_srv_open();
	struct fz_reply rep;
	char msg[256];
	snprintf(msg, sizeof(msg), "{\"since\":0,\"disco_key\":\"%s\"}", laptop_key);
	fz_node(srv, 0, "map", msg, strlen(msg), &rep);
	CHECK_INT(rep.status, 200);
	CHECK(rep.body && strstr(rep.body, "\"type\":\"full\""));
	/* the laptop's own map: its disco key in self, its credentials in relays */
	json_t *j = rep.body ? json_loads(rep.body, 0, NULL) : NULL;
	json_t *nm = json_object_get(j, "netmap");
	CHECK_STR(json_string_value(json_object_get(json_object_get(nm, "self"), "disco_key")),
		  laptop_key);
	json_t *r = json_array_get(json_object_get(nm, "relays"), 0);
	const char *user = json_string_value(json_object_get(r, "username"));
	char pass[NAT_TURN_REST_PASSWORD_SIZE];
	CHECK(user && strlen(user) > 2 && strcmp(user + strlen(user) - 2, ":1") == 0);
	nat_turn_rest_password((const uint8_t *)FZ_RELAY_SECRET, strlen(FZ_RELAY_SECRET),
			       user ? user : "", pass);
	CHECK_STR(json_string_value(json_object_get(r, "password")), pass);
	CHECK_STR(json_string_value(json_object_get(r, "url")), FZ_RELAY "?transport=udp");
	char *self = json_dumps(json_object_get(nm, "self"), 0);
	CHECK(self && !strstr(self, "password") && !strstr(self, "relays"));
	free(self);
	json_decref(j);
	free(rep.body);
	/* the server sees the laptop's key, and not the laptop's password */
	fz_node(srv, 1, "map", "{\"since\":0}", 11, &rep);
	CHECK_INT(rep.status, 200);
	CHECK(rep.body && strstr(rep.body, laptop_key));
	CHECK(rep.body && !strstr(rep.body, pass));
	CHECK(rep.body && strstr(rep.body, ":2\""));
	free(rep.body);
	fz_srv_close(srv);
	return check_finish();
}
