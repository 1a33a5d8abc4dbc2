/* The local API codec (meshctl <-> meshd): every request round-trips; each kind of bad
 * request from a local client is refused with the exact message; replies and status
 * documents decode what was encoded. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "control/localapi/localapi.h"

static const struct {
	int n;
	const char *in;
	const char *msg;
} bad[] = {
	{ 1, "", "malformed JSON at line 1 column 0: '[' or '{' expected near end of file" },
	{ 2, "[1]", "expected a JSON object" },
	{ 3, "{}", "\"cmd\" is missing or not a string" },
	{ 4, "{\"cmd\": 7}", "\"cmd\" is missing or not a string" },
	{ 5, "{\"cmd\": \"reboot\"}", "unknown \"cmd\" \"reboot\"" },
	{ 6, "{\"cmd\": \"whois\"}", "\"whois\" needs \"host\"" },
	{ 7, "{\"cmd\": \"dial\", \"host\": \"a\"}", "\"dial\" needs \"port\" from 1 to 65535" },
	{ 8, "{\"cmd\": \"dial\", \"host\": \"a\", \"port\": 70000}",
	  "\"port\" is 70000, outside 0..65535" },
	{ 9, "{\"cmd\": \"dial\", \"host\": 5, \"port\": 22}", "\"host\" must be a string" },
	{ 10, "{\"cmd\": \"up\", \"ssh\": \"yes\"}", "\"ssh\" must be true or false" },
	{ 11, "{\"cmd\": \"up\", \"tags\": \"tag:x\"}",
	  NULL /* names "tags"; wording from netmap */ },
	{ 12, "{\"cmd\": \"status\", \"cmd\": \"up\"}", NULL /* duplicate key */ },
	{ 13, "{\"cmd\": \"up\", \"force_reauth\": 1}", "\"force_reauth\" must be true or false" },
	{ 14, "{\"cmd\": \"up\", \"ca_file\": 1}", "\"ca_file\" must be a string" },
	{ 15, "{\"cmd\": \"up\", \"insecure_http\": \"yes\"}",
	  "\"insecure_http\" must be true or false" },
	{ 16, "{\"cmd\": \"kill\"}", "\"kill\" needs \"id\"" },
	{ 17, "{\"cmd\": \"kill\", \"id\": \"\"}", "\"kill\" needs \"id\"" },
	{ 18, "{\"cmd\": \"kill\", \"id\": 7}", "\"id\" must be a string" },
};

/* The framing both ends use: a line in pieces, exactly max bytes, one byte more, what
 * follows the newline, and an empty line. */
static void line_framing(void)
{
	struct ctl_lapi_line l = { .max = 4 };
	CHECK_INT(ctl_lapi_line_feed(&l, "ab", 2), 0);
	CHECK_INT(ctl_lapi_line_feed(&l, "c\nxyz", 5), 1);
	CHECK_STR(l.buf, "abc");
	CHECK_INT(l.len, 3);
	CHECK_INT(ctl_lapi_line_feed(&l, "more\n", 5), 1);
	CHECK_STR(l.buf, "abc");
	ctl_lapi_line_clear(&l);
	CHECK_INT(l.max, 4);
	CHECK_INT(ctl_lapi_line_feed(&l, "abcd", 4), 0);
	CHECK_INT(ctl_lapi_line_feed(&l, "\n", 1), 1);
	CHECK_STR(l.buf, "abcd");
	ctl_lapi_line_clear(&l);
	CHECK_INT(ctl_lapi_line_feed(&l, "abcd", 4), 0);
	CHECK_INT(ctl_lapi_line_feed(&l, "e", 1), -EMSGSIZE);
	ctl_lapi_line_clear(&l);
	CHECK_INT(ctl_lapi_line_feed(&l, "abcde\n", 6), -EMSGSIZE);
	ctl_lapi_line_clear(&l);
	CHECK_INT(ctl_lapi_line_feed(&l, "\nabc", 4), 1);
	CHECK_STR(l.buf, "");
	CHECK_INT(l.len, 0);
	ctl_lapi_line_clear(&l);
	CHECK_INT(ctl_lapi_line_feed(&l, "a\0b\n", 4), 1);
	CHECK_INT(l.len, 3);
	ctl_lapi_line_clear(&l);
}

int main(void)
{
	line_framing();
	struct ctl_lapi_request r;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		int rc = ctl_lapi_request_parse(bad[i].in, strlen(bad[i].in), &r, err, sizeof(err));
		if (rc != -EINVAL)
			fprintf(stderr, "bad %d: accepted\n", bad[i].n);
		CHECK_INT(rc, -EINVAL);
		if (bad[i].msg)
			CHECK_STR(err, bad[i].msg);
		else
			CHECK(err[0] != '\0');
		if (bad[i].n == 11)
			CHECK(strstr(err, "tags") != NULL);
	}

	/* Round trip of a full "up". */
	char *tags[] = { "tag:server", "tag:ci" };
	struct ctl_lapi_request up = { .cmd = CTL_LAPI_UP,
				       .login_server = "http://ctl:8080",
				       .authkey = "mskey-abc",
				       .hostname = "box",
				       .tags = tags,
				       .n_tags = 2,
				       .tags_given = true,
				       .ssh = true,
				       .force_reauth = true,
				       .ca_file = "/etc/mesh/ca.pem",
				       .insecure_http = true };
	char *line = ctl_lapi_request_format(&up);
	CHECK(line && line[strlen(line) - 1] == '\n');
	CHECK_INT(ctl_lapi_request_parse(line, strlen(line), &r, err, sizeof(err)), 0);
	CHECK_INT(r.cmd, CTL_LAPI_UP);
	CHECK_STR(r.login_server, "http://ctl:8080");
	CHECK_STR(r.authkey, "mskey-abc");
	CHECK_STR(r.hostname, "box");
	CHECK_INT(r.n_tags, 2);
	CHECK_STR(r.tags[1], "tag:ci");
	CHECK(r.ssh);
	CHECK(r.tags_given);
	CHECK(r.force_reauth);
	CHECK_STR(r.ca_file, "/etc/mesh/ca.pem");
	CHECK(r.insecure_http);
	ctl_lapi_request_clear(&r);
	free(line);
	/* "tags": [] (asking for none) is not the same as no "tags" at all */
	struct ctl_lapi_request none = { .cmd = CTL_LAPI_UP, .tags_given = true };
	line = ctl_lapi_request_format(&none);
	CHECK_INT(ctl_lapi_request_parse(line, strlen(line), &r, err, sizeof(err)), 0);
	CHECK(r.tags_given);
	CHECK_INT(r.n_tags, 0);
	CHECK(!r.force_reauth);
	CHECK(!r.ca_file);
	CHECK(!r.insecure_http);
	ctl_lapi_request_clear(&r);
	free(line);

	/* Replies. */
	bool ok;
	char msg[128];
	line = ctl_lapi_reply_error("cannot connect to %s port %u: %s", "h", 22u, "refused");
	CHECK_INT(ctl_lapi_reply_parse(line, strlen(line), &ok, msg, sizeof(msg)), 0);
	CHECK(!ok);
	CHECK_STR(msg, "cannot connect to h port 22: refused");
	free(line);
	CHECK_INT(ctl_lapi_reply_parse("{\"x\":1}", 7, &ok, msg, sizeof(msg)), -EINVAL);
	CHECK_STR(msg, "meshd sent an answer without \"ok\"");

	/* Status round trip. */
	struct ctl_lapi_status st = { 0 }, back;
	st.state = "Running";
	st.tun = "mesh0";
	st.ssh = true;
	st.control_url = "http://ctl:8080";
	st.netmap_time = 1700000000;
	st.listen_port = 41641;
	st.self.name = "laptop";
	st.self.n_addrs = 1;
	addr_prefix_parse("100.64.0.2", &st.self.addrs[0], NULL);
	struct ctl_lapi_node peers[2] = {
		{ .name = "srv",
		  .online = true,
		  .rx_bytes = 5,
		  .tx_bytes = 7,
		  .endpoint = "10.0.0.2:41641",
		  .path = "direct 10.0.0.2:41641",
		  .rtt_ms = 3 },
		{ .name = "nas", .path = "relay turn:198.18.0.10:3478 (udp)", .rtt_ms = -1 },
	};
	st.peers = peers;
	st.n_peers = 2;
	struct ctl_lapi_counter ctr[2] = { { "drop.fragment", 3 }, { "conns.active", 0 } };
	st.counters = ctr;
	st.n_counters = 2;
	CHECK(ctl_relay_url_parse("turn:198.18.0.10", &st.relays[0].url, NULL, 0));
	st.relays[0].expires = 1700086400;
	CHECK(ctl_relay_url_parse("turns:relay.example.com", &st.relays[1].url, NULL, 0));
	st.n_relays = 2;
	line = ctl_lapi_status_format(&st);
	CHECK(strstr(line, "\"url\":\"turn:198.18.0.10:3478?transport=udp\"") != NULL);
	CHECK_INT(ctl_lapi_status_parse(line, strlen(line), &back, err, sizeof(err)), 0);
	CHECK_STR(back.state, "Running");
	CHECK(back.ssh && !back.control_connected);
	CHECK_INT(back.listen_port, 41641);
	CHECK_INT(back.netmap_time, 1700000000);
	CHECK_STR(back.self.name, "laptop");
	CHECK_INT(back.self.n_addrs, 1);
	CHECK_INT(back.n_peers, 2);
	CHECK_STR(back.peers[0].endpoint, "10.0.0.2:41641");
	CHECK_STR(back.peers[0].path, "direct 10.0.0.2:41641");
	CHECK_INT(back.peers[0].rtt_ms, 3);
	CHECK_STR(back.peers[1].path, "relay turn:198.18.0.10:3478 (udp)");
	CHECK_INT(back.peers[1].rtt_ms, -1);
	CHECK(back.self.path == NULL && back.self.rtt_ms == -1);
	CHECK_INT(back.peers[0].tx_bytes, 7);
	CHECK_INT(back.n_counters, 2);
	CHECK_STR(back.counters[0].name, "drop.fragment");
	CHECK_INT(back.counters[0].value, 3);
	CHECK_STR(back.counters[1].name, "conns.active");
	CHECK_INT(back.n_relays, 2);
	CHECK_STR(back.relays[0].url.host, "198.18.0.10");
	CHECK_INT(back.relays[0].expires, 1700086400);
	CHECK_INT(back.relays[1].url.transport, CTL_RELAY_TLS);
	CHECK_INT(back.relays[1].url.port, 5349);
	ctl_lapi_status_clear(&back);
	free(line);

	/* Relays: the one TURN URI parser, bounded, an expiry each (never credentials). */
	static const struct {
		const char *json, *err;
	} bad_relays[] = {
		{ "{\"ok\":true,\"status\":{\"relays\":{}}}",
		  "\"relays\" must be an array of at most 8" },
		{ "{\"ok\":true,\"status\":{\"relays\":[1,1,1,1,1,1,1,1,1]}}",
		  "\"relays\" must be an array of at most 8" },
		{ "{\"ok\":true,\"status\":{\"relays\":[{\"expires\":1}]}}",
		  "relays[0].url must be a string" },
		{ "{\"ok\":true,\"status\":{\"relays\":[{\"url\":\"stun:r\",\"expires\":1}]}}",
		  "relays[0].url: 'stun:r': expected a TURN URI, turn:HOST:PORT or turns:HOST:PORT "
		  "(RFC 7065)" },
		{ "{\"ok\":true,\"status\":{\"relays\":[{\"url\":\"turn:r\",\"expires\":-1}]}}",
		  "relays[0].expires must be a non-negative integer" },
	};
	for (size_t i = 0; i < sizeof(bad_relays) / sizeof(bad_relays[0]); i++) {
		CHECK_INT(ctl_lapi_status_parse(bad_relays[i].json, strlen(bad_relays[i].json),
						&back, err, sizeof(err)),
			  -EINVAL);
		CHECK_STR(err, bad_relays[i].err);
		CHECK_INT(back.n_relays, 0);
	}

	/* A peer's path: one of the three forms meshctl prints, each part checked by the
	 * parser that made it; the round trip bounded. */
	static const struct {
		const char *path, *err; /* err NULL: good */
	} paths[] = {
		/* 1 */ { "none", NULL },
		/* 2 */ { "direct [2001:db8::5]:41641", NULL },
		/* 3 */ { "relay turns:relay.example.com:443?transport=tcp (tls)", NULL },
		/* 4 */
		{ "direct", "\"path\" 'direct': expected none, direct ADDR:PORT or relay "
			    "TURN-URI (udp|tcp|tls)" },
		/* 5 */
		{ "direct 10.0.0.5", "\"path\" 'direct 10.0.0.5': endpoint '10.0.0.5': "
				     "expected addr:port" },
		/* 6 */
		{ "direct relay 10.0.0.5:1", "\"path\" 'direct relay 10.0.0.5:1': expected "
					     "direct ADDR:PORT" },
		/* 7 */
		{ "relay turn:r:3478 (quic)", "\"path\" 'relay turn:r:3478 (quic)': the "
					      "transport is (udp), (tcp) or (tls)" },
		/* 8 */
		{ "relay stun:r (udp)",
		  "\"path\" 'relay stun:r (udp)': 'stun:r': expected "
		  "a TURN URI, turn:HOST:PORT or turns:HOST:PORT (RFC 7065)" },
		/* 9 */
		{ "relay turn:r:3478", "\"path\" 'relay turn:r:3478': expected none, direct "
				       "ADDR:PORT or relay TURN-URI (udp|tcp|tls)" },
		/* 10 */
		{ "relay turn:r:3478 (udp) ", "\"path\" 'relay turn:r:3478 (udp) ': the "
					      "transport is (udp), (tcp) or (tls)" },
		/* 11 */
		{ "\\u001b[2J", "\"path\" '?[2J': expected none, direct ADDR:PORT or "
				"relay TURN-URI (udp|tcp|tls)" },
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char js[512];
		snprintf(js, sizeof(js), "{\"ok\":true,\"status\":{\"peers\":[{\"path\":\"%s\"}]}}",
			 paths[i].path);
		int rc = ctl_lapi_status_parse(js, strlen(js), &back, err, sizeof(err));
		if (paths[i].err && strcmp(err, paths[i].err) != 0)
			fprintf(stderr, "path %zu: got \"%s\"\n", i + 1, err);
		CHECK_INT(rc, paths[i].err ? -EINVAL : 0);
		if (paths[i].err)
			CHECK_STR(err, paths[i].err);
		ctl_lapi_status_clear(&back);
	}
	static const char *const bad_rtt[] = {
		"{\"ok\":true,\"status\":{\"peers\":[{\"path\":\"none\",\"rtt_ms\":-1}]}}",
		"{\"ok\":true,\"status\":{\"peers\":[{\"path\":\"none\",\"rtt_ms\":60001}]}}",
		"{\"ok\":true,\"status\":{\"peers\":[{\"path\":\"none\",\"rtt_ms\":\"3\"}]}}",
		"{\"ok\":true,\"status\":{\"peers\":[{\"path\":7}]}}",
	};
	static const char *const bad_rtt_err[] = {
		"\"rtt_ms\" is -1, outside 0..60000",
		"\"rtt_ms\" is 60001, outside 0..60000",
		"\"rtt_ms\" must be an integer",
		"\"path\" must be a string",
	};
	for (size_t i = 0; i < sizeof(bad_rtt) / sizeof(bad_rtt[0]); i++) {
		CHECK_INT(
		    ctl_lapi_status_parse(bad_rtt[i], strlen(bad_rtt[i]), &back, err, sizeof(err)),
		    -EINVAL);
		CHECK_STR(err, bad_rtt_err[i]);
	}

	/* The allocation on the first UDP relay: each form meshctl prints round-trips, and
	 * every member is checked by the parser that made it. */
	struct ctl_lapi_status ast = { 0 };
	CHECK(ctl_relay_url_parse("turn:198.18.0.10:3478", &ast.alloc.relay, NULL, 0));
	ast.alloc.state = CTL_LAPI_ALLOC_ALLOCATED;
	ast.alloc.allocations = 2;
	snprintf(ast.alloc.relayed, sizeof(ast.alloc.relayed), "198.18.0.10:49152");
	line = ctl_lapi_status_format(&ast);
	CHECK(strstr(line, "\"allocation\":{") != NULL);
	CHECK_INT(ctl_lapi_status_parse(line, strlen(line), &back, err, sizeof(err)), 0);
	CHECK_INT(back.alloc.state, CTL_LAPI_ALLOC_ALLOCATED);
	CHECK_STR(back.alloc.relayed, "198.18.0.10:49152");
	CHECK_INT(back.alloc.allocations, 2);
	CHECK_STR(back.alloc.relay.host, "198.18.0.10");
	ctl_lapi_status_clear(&back);
	free(line);
	ast.alloc.state = CTL_LAPI_ALLOC_FAILED;
	snprintf(ast.alloc.why, sizeof(ast.alloc.why), "no answer from the relay after 7 tries");
	ast.alloc.retry_s = 4;
	line = ctl_lapi_status_format(&ast);
	CHECK_INT(ctl_lapi_status_parse(line, strlen(line), &back, err, sizeof(err)), 0);
	CHECK_INT(back.alloc.state, CTL_LAPI_ALLOC_FAILED);
	CHECK_STR(back.alloc.why, "no answer from the relay after 7 tries");
	CHECK_INT(back.alloc.retry_s, 4);
	CHECK_STR(back.alloc.relayed, "");
	ctl_lapi_status_clear(&back);
	free(line);
	ast.alloc.state = CTL_LAPI_ALLOC_NONE;
	line = ctl_lapi_status_format(&ast);
	CHECK(strstr(line, "allocation") == NULL);
	CHECK_INT(ctl_lapi_status_parse(line, strlen(line), &back, err, sizeof(err)), 0);
	CHECK_INT(back.alloc.state, CTL_LAPI_ALLOC_NONE);
	ctl_lapi_status_clear(&back);
	free(line);
	static const struct {
		const char *alloc, *err; /* err NULL: good */
	} allocs[] = {
		/* 1 */ { "{\"relay\":\"turn:r\",\"state\":\"allocating\"}", NULL },
		/* 2 */
		{ "{\"relay\":\"turn:r\",\"state\":\"allocated\",\"relayed\":"
		  "\"[2001:db8::1]:49152\"}",
		  NULL },
		/* 3 */ { "[]", "\"allocation\" must be an object" },
		/* 4 */ { "{\"state\":\"allocating\"}", "allocation.relay must be a string" },
		/* 5 */
		{ "{\"relay\":\"stun:r\",\"state\":\"allocating\"}",
		  "allocation.relay: 'stun:r': expected a TURN URI, turn:HOST:PORT or "
		  "turns:HOST:PORT (RFC 7065)" },
		/* 6 */
		{ "{\"relay\":\"turn:r\",\"state\":\"none\"}",
		  "allocation.state 'none': expected allocating, allocated or failed" },
		/* 7 */
		{ "{\"relay\":\"turn:r\",\"state\":\"\\u001b[2J\"}",
		  "allocation.state '?[2J': expected allocating, allocated or failed" },
		/* 8 */
		{ "{\"relay\":\"turn:r\"}",
		  "allocation.state '': expected allocating, allocated or failed" },
		/* 9 */
		{ "{\"relay\":\"turn:r\",\"state\":\"allocated\"}",
		  "allocation.relayed must be a string" },
		/* 10 */
		{ "{\"relay\":\"turn:r\",\"state\":\"allocated\",\"relayed\":\"198.18.0.10\"}",
		  "allocation.relayed '198.18.0.10': endpoint '198.18.0.10': expected "
		  "addr:port" },
		/* 11 */
		{ "{\"relay\":\"turn:r\",\"state\":\"allocated\",\"relayed\":"
		  "\"relay 198.18.0.10:1\"}",
		  "allocation.relayed 'relay 198.18.0.10:1': expected ADDR:PORT" },
		/* 12 */
		{ "{\"relay\":\"turn:r\",\"state\":\"allocated\",\"relayed\":\"1.2.3.4:5\","
		  "\"allocations\":-1}",
		  "\"allocations\" is -1, outside 0..9223372036854775807" },
		/* 13 */
		{ "{\"relay\":\"turn:r\",\"state\":\"failed\",\"retry_s\":1}",
		  "allocation.why must be a string of 1 to 159 characters" },
		/* 14 */
		{ "{\"relay\":\"turn:r\",\"state\":\"failed\",\"why\":\"x\"}",
		  "allocation.retry_s is missing" },
		/* 15 */
		{ "{\"relay\":\"turn:r\",\"state\":\"failed\",\"why\":\"x\",\"retry_s\":3601}",
		  "\"retry_s\" is 3601, outside 0..3600" },
		/* 16 */
		{ "{\"relay\":\"turn:r\",\"state\":\"failed\",\"why\":\"x\",\"retry_s\":\"1\"}",
		  "\"retry_s\" must be an integer" },
	};
	for (size_t i = 0; i < sizeof(allocs) / sizeof(allocs[0]); i++) {
		char js[600];
		snprintf(js, sizeof(js), "{\"ok\":true,\"status\":{\"allocation\":%s}}",
			 allocs[i].alloc);
		int rc = ctl_lapi_status_parse(js, strlen(js), &back, err, sizeof(err));
		if (allocs[i].err && strcmp(err, allocs[i].err) != 0)
			fprintf(stderr, "allocation %zu: got \"%s\"\n", i + 1, err);
		CHECK_INT(rc, allocs[i].err ? -EINVAL : 0);
		if (allocs[i].err)
			CHECK_STR(err, allocs[i].err);
		ctl_lapi_status_clear(&back);
	}
	/* the relay's reason, printed by meshctl, loses its terminal controls */
	const char *esc =
	    "{\"ok\":true,\"status\":{\"allocation\":{\"relay\":\"turn:r\","
	    "\"state\":\"failed\",\"why\":\"refused: 403 \\u001b[2J\",\"retry_s\":2}}}";
	CHECK_INT(ctl_lapi_status_parse(esc, strlen(esc), &back, err, sizeof(err)), 0);
	CHECK_STR(back.alloc.why, "refused: 403 ?[2J");
	ctl_lapi_status_clear(&back);

	/* Counters are bounded in number, name and value: meshctl prints them. */
	static const struct {
		const char *json, *err;
	} bad_counters[] = {
		{ "{\"ok\":true,\"status\":{\"counters\":[1]}}", "\"counters\" must be an object" },
		{ "{\"ok\":true,\"status\":{\"counters\":{\"drop.x\":-1}}}",
		  "counter \"drop.x\" must be a non-negative integer" },
		{ "{\"ok\":true,\"status\":{\"counters\":{\"drop.x\":\"1\"}}}",
		  "counter \"drop.x\" must be a non-negative integer" },
		{ "{\"ok\":true,\"status\":{\"counters\":{\"\\u001b[2J\":1}}}",
		  "counter names are 1 to 31 characters of a-z, 0-9, '.' and '_'" },
		{ "{\"ok\":true,\"status\":{\"counters\":{\"\":1}}}",
		  "counter names are 1 to 31 characters of a-z, 0-9, '.' and '_'" },
		{ "{\"ok\":true,\"status\":{\"counters\":{\"abcdefghijabcdefghijabcdefghijab\":1}}"
		  "}",
		  "counter names are 1 to 31 characters of a-z, 0-9, '.' and '_'" },
	};
	for (size_t i = 0; i < sizeof(bad_counters) / sizeof(bad_counters[0]); i++) {
		CHECK_INT(ctl_lapi_status_parse(bad_counters[i].json, strlen(bad_counters[i].json),
						&back, err, sizeof(err)),
			  -EINVAL);
		CHECK_STR(err, bad_counters[i].err);
		CHECK(back.counters == NULL && back.n_counters == 0);
	}
	char many[8192];
	size_t o = (size_t)snprintf(many, sizeof(many), "{\"ok\":true,\"status\":{\"counters\":{");
	for (int i = 0; i < CTL_LAPI_MAX_COUNTERS + 1; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%s\"c%d\":1", i ? "," : "", i);
	snprintf(many + o, sizeof(many) - o, "}}}");
	CHECK_INT(ctl_lapi_status_parse(many, strlen(many), &back, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "\"counters\" has 129 entries (at most 128)");
	CHECK_INT(ctl_lapi_status_parse("{\"ok\":true,\"status\":{\"peers\":3}}", 32, &back, err,
					sizeof(err)),
		  -EINVAL);
	CHECK_STR(err, "\"peers\" must be an array");
	return check_finish();
}
