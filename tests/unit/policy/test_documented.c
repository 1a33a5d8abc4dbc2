/* Behaviour taken from Tailscale's documentation (or, where the documentation is silent,
 * from the service's recorded behaviour, said so on the row), one numbered row each with
 * the page it follows: where each autogroup may stand, which values checkPeriod takes, and
 * which destinations `tests` and `sshTests` take and what each resolves to.  Every refusal
 * is checked word for word. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "control/policy/policy.h"

/* Sources cited below. */
#define TARGETS "https://tailscale.com/kb/1396/targets"
#define SYNTAX "https://tailscale.com/kb/1337/acl-syntax"
#define TS_SSH "https://tailscale.com/kb/1193/tailscale-ssh"
#define GO_DUR "https://pkg.go.dev/time#ParseDuration"
#define RECORDED "conformance corpus (service's recorded behaviour)"

#define TAGS "\"tagOwners\": {\"tag:server\": [\"alice@example.com\"]}, "
#define ACL(src, dst) \
	"{" TAGS "\"acls\": [{\"action\": \"accept\", \"src\": [" src "], \"dst\": [" dst "]}]}"
#define GRANT(src, dst) \
	"{" TAGS "\"grants\": [{\"src\": [" src "], \"dst\": [" dst "], \"ip\": [\"*\"]}]}"
#define SSH(src, dst, extra)                                                            \
	"{" TAGS "\"ssh\": [{\"action\": \"check\", \"src\": [" src "], \"dst\": [" dst \
	"], \"users\": [\"root\"]" extra "}]}"
#define CP(v) SSH("\"autogroup:member\"", "\"tag:server\"", ", \"checkPeriod\": \"" v "\"")

/* Validation: NULL = accepted. */
static const struct {
	const char *policy;
	const char *msg;
	const char *source;
} parse_rows[] = {
	/* autogroups in acls.  TARGETS: "autogroup:member ... includes all members of your
	 * tailnet"; "autogroup:self | Includes all devices owned by the same user" (the
	 * source's own devices: a destination); "autogroup:internet | Includes all public IP
	 * addresses" (exit traffic: a destination); "autogroup:danger-all | Includes all
	 * devices, even those outside your tailnet". */
	/* 1 */ { ACL("\"autogroup:member\"", "\"*:*\""), NULL, TARGETS },
	/* 2 */ { ACL("\"autogroup:tagged\"", "\"*:*\""), NULL, TARGETS },
	/* 3 */
	{ ACL("\"autogroup:self\"", "\"*:*\""), "acls[0]: autogroup:self cannot be used as a src",
	  TARGETS },
	/* 4 */
	{ ACL("\"autogroup:internet\"", "\"*:*\""),
	  "acls[0]: autogroup:internet cannot be used as a src", TARGETS },
	/* 5 */ { ACL("\"autogroup:danger-all\"", "\"*:*\""), NULL, TARGETS },
	/* 6 */
	{ ACL("\"autogroup:bogus\"", "\"*:*\""), "src=unknown autogroup \"autogroup:bogus\"",
	  TARGETS },
	/* 7 */ { ACL("\"*\"", "\"autogroup:member:*\""), NULL, TARGETS },
	/* 8 */ { ACL("\"*\"", "\"autogroup:tagged:22\""), NULL, TARGETS },
	/* 9 */ { ACL("\"autogroup:member\"", "\"autogroup:self:*\""), NULL, TARGETS },
	/* 10 */ { ACL("\"*\"", "\"autogroup:internet:443\""), NULL, TARGETS },
	/* 11 */
	{ ACL("\"*\"", "\"autogroup:danger-all:*\""),
	  "dst=\"autogroup:danger-all:*\": cannot use autogroup:danger-all as a dst", RECORDED },
	/* autogroups in grants: the same places as in acls. */
	/* 12 */ { GRANT("\"autogroup:member\"", "\"autogroup:self\""), NULL, TARGETS },
	/* 13 */
	{ GRANT("\"autogroup:self\"", "\"*\""), "grants[0]: autogroup:self cannot be used as a src",
	  TARGETS },
	/* 14 */
	{ GRANT("\"autogroup:internet\"", "\"*\""),
	  "grants[0]: autogroup:internet cannot be used as a src", TARGETS },
	/* 15 */ { GRANT("\"autogroup:danger-all\"", "\"*\""), NULL, RECORDED },
	/* 16 */ { GRANT("\"*\"", "\"autogroup:internet\""), NULL, TARGETS },
	/* 17 */
	{ GRANT("\"*\"", "\"autogroup:danger-all\""),
	  "grants[0]: dst \"autogroup:danger-all\": cannot use autogroup:danger-all as a dst",
	  RECORDED },
	/* 18 */
	{ GRANT("\"tag:server\"", "\"autogroup:self\""),
	  "grants[0]: src \"tag:server\": autogroup:self can only be used with users, groups, or "
	  "supported autogroups",
	  RECORDED },
	/* autogroups in ssh (TS_SSH: a rule's src are people or tagged devices, its dst the
	 * devices logged in to; neither the internet nor "every device" is one). */
	/* 19 */ { SSH("\"autogroup:member\"", "\"autogroup:self\"", ""), NULL, TS_SSH },
	/* 20 */ { SSH("\"autogroup:tagged\"", "\"tag:server\"", ""), NULL, TS_SSH },
	/* 21 */ { SSH("\"autogroup:member\"", "\"autogroup:member\"", ""), NULL, TS_SSH },
	/* 22 */ { SSH("\"autogroup:member\"", "\"autogroup:tagged\"", ""), NULL, TS_SSH },
	/* 23 */
	{ SSH("\"autogroup:self\"", "\"tag:server\"", ""), "ssh[0]: invalid src \"autogroup:self\"",
	  TS_SSH },
	/* 24 */
	{ SSH("\"autogroup:internet\"", "\"tag:server\"", ""),
	  "ssh[0]: invalid src \"autogroup:internet\"", TS_SSH },
	/* 25 */
	{ SSH("\"autogroup:danger-all\"", "\"tag:server\"", ""),
	  "ssh[0]: invalid src \"autogroup:danger-all\"", TS_SSH },
	/* 26 */
	{ SSH("\"autogroup:member\"", "\"autogroup:internet\"", ""),
	  "ssh[0]: invalid dst \"autogroup:internet\"", TS_SSH },
	/* 27 */
	{ SSH("\"autogroup:member\"", "\"autogroup:danger-all\"", ""),
	  "ssh[0]: invalid dst \"autogroup:danger-all\"", TS_SSH },
	/* checkPeriod.  TS_SSH: check mode lets the user in "for the next 12 hours or for a
	 * specified check period"; "always" asks every time (RECORDED); the value is a Go
	 * duration (GO_DUR: "a possibly signed sequence of decimal numbers, each with
	 * optional fraction and a unit suffix ... Valid time units are "ns", "us" (or "µs"),
	 * "ms", "s", "m", "h""). */
	/* 28 */ { CP("12h"), NULL, TS_SSH },
	/* 29 */ { CP("always"), NULL, RECORDED },
	/* 30 */ { CP("30s"), NULL, RECORDED },
	/* 31 */ { CP("1h30m"), NULL, GO_DUR },
	/* 32 */ { CP("1.5h"), NULL, GO_DUR },
	/* 33 */ { CP(".5h"), NULL, GO_DUR },
	/* 34 */ { CP("90000000\xce\xbcs"), NULL, GO_DUR },
	/* 35 */ { CP("168h"), NULL, "engine bound (no document found)" },
	/* 36 */
	{ CP("169h"), "ssh[0]: checkPeriod \"169h\" is longer than 168h",
	  "engine bound (no document found)" },
	/* 37 */ { CP("abc"), "ssh[0]: checkPeriod: time: invalid duration \"abc\"", RECORDED },
	/* 38 */
	{ CP("1d"), "ssh[0]: checkPeriod: time: unknown unit \"d\" in duration \"1d\"", GO_DUR },
	/* 39 */ { CP("5"), "ssh[0]: checkPeriod: time: missing unit in duration \"5\"", GO_DUR },
	/* 40 */
	{ CP("1e1m"), "ssh[0]: checkPeriod: time: unknown unit \"e\" in duration \"1e1m\"",
	  GO_DUR },
	/* 41 */
	{ CP("0x10m"), "ssh[0]: checkPeriod: time: unknown unit \"x\" in duration \"0x10m\"",
	  GO_DUR },
	/* 42 */ { CP("."), "ssh[0]: checkPeriod: time: invalid duration \".\"", GO_DUR },
	/* 43 */ { CP("-1m"), "ssh[0]: checkPeriod -1m0s must be a positive duration", RECORDED },
	/* 44 */ { CP("-1.5s"), "ssh[0]: checkPeriod -1.5s must be a positive duration", GO_DUR },
	/* 45 */ { CP("-500ms"), "ssh[0]: checkPeriod -500ms must be a positive duration", GO_DUR },
	/* 46 */ { CP("0"), "ssh[0]: checkPeriod 0s must be a positive duration", GO_DUR },
	/* 47 */
	{ CP("Always"), "ssh[0]: checkPeriod: time: invalid duration \"Always\"", RECORDED },
};

/* tests and sshTests run against a tailnet: alice's laptop, bob's laptop, a tag:server. */
static struct pol_user users[] = { { .login = "alice@example.com" },
				   { .login = "bob@example.com" } };
static struct addr_ip addrs[3][2];
static const char *server_tags[] = { "tag:server" };
static struct pol_node nodes[] = {
	{ .name = "alice-laptop", .owner = "alice@example.com" },
	{ .name = "bob-laptop", .owner = "bob@example.com" },
	{ .name = "web", .tags = server_tags, .n_tags = 1 },
};
static struct pol_topology topo = { users, 2, nodes, 3 };

#define NET_BASE                                                                                  \
	"{" TAGS "\"hosts\": {\"websrv\": \"100.64.0.3\", \"websrv6\": \"fd7a::3\", \"lan\": "    \
	"\"10.0.0.0/8\"}, \"acls\": [{\"action\": \"accept\", \"src\": [\"alice@example.com\"], " \
	"\"dst\": [\"tag:server:22\", \"lan:22\"]}], "
#define TEST(k, d) NET_BASE "\"tests\": [{\"src\": \"alice@example.com\", \"" k "\": [\"" d "\"]}]}"
#define SSHTEST(k, d, u)                                                                          \
	NET_BASE "\"ssh\": [{\"action\": \"accept\", \"src\": [\"alice@example.com\"], \"dst\": " \
		 "[\"tag:server\"], \"users\": [\"root\"]}], \"sshTests\": [{\"src\": "           \
		 "\"alice@example.com\", \"dst\": [\"" d "\"], \"" k "\": [\"" u "\"]}]}"
#define FAILED "test(s) failed: "

/* pol_load: NULL = loaded, all tests passing. */
static const struct {
	const char *policy;
	const char *msg;
	const char *source;
} load_rows[] = {
	/* tests destinations: "host:port" with one port; the host a user, tag, hosts entry or
	 * IP of either family (SYNTAX: "hosts, human readable shorthands for IP addresses";
	 * TARGETS: "192.0.2.23 is a target that only selects the device using the IP address
	 * 192.0.2.23"); a range is no single destination (RECORDED: "10.0.0.0/8:22" and
	 * "internal:22" for a /8 fail even when a rule covers them). */
	/* 1 */ { TEST("accept", "tag:server:22"), NULL, SYNTAX },
	/* 2 */ { TEST("accept", "websrv:22"), NULL, SYNTAX },
	/* 3 */ { TEST("accept", "100.64.0.3:22"), NULL, TARGETS },
	/* 4 */ { TEST("accept", "[fd7a::3]:22"), NULL, TARGETS },
	/* 5 */ { TEST("accept", "fd7a::3:22"), NULL, TARGETS },
	/* 6 */ { TEST("accept", "websrv6:22"), NULL, SYNTAX },
	/* 7 */ { TEST("deny", "websrv:80"), NULL, SYNTAX },
	/* 8 */ { TEST("deny", "bob@example.com:22"), NULL, SYNTAX },
	/* 9 */
	{ TEST("accept", "bob@example.com:22"),
	  FAILED
	  "tests[0]: src \"alice@example.com\": address \"bob@example.com:22\": want Accept, "
	  "got Drop",
	  SYNTAX },
	/* 10 */
	{ TEST("accept", "lan:22"),
	  FAILED "tests[0]: address \"lan:22\": does not resolve to an address", RECORDED },
	/* 11 */
	{ TEST("accept", "10.0.0.0/8:22"),
	  FAILED "tests[0]: address \"10.0.0.0/8:22\": does not resolve to an address", RECORDED },
	/* 12 */
	{ TEST("accept", "websrv"), FAILED "tests[0]: address \"websrv\": want host:port", SYNTAX },
	/* 13 */
	{ TEST("accept", "websrv:*"),
	  FAILED "tests[0]: address \"websrv:*\": port \"*\" must be one number in 1-65535",
	  RECORDED },
	/* 14 */
	{ TEST("accept", "nohost:22"),
	  FAILED
	  "tests[0]: address \"nohost:22\": host \"nohost\" not found (not a user, group, tag, "
	  "host or IP)",
	  RECORDED },
	/* sshTests destinations: devices, named by tag, user, IPv4 address or a hosts entry for
	 * one (SYNTAX); a range, "*" or autogroup:internet is refused (RECORDED). */
	/* 15 */ { SSHTEST("accept", "tag:server", "root"), NULL, SYNTAX },
	/* 16 */ { SSHTEST("accept", "100.64.0.3", "root"), NULL, RECORDED },
	/* 17 */ { SSHTEST("accept", "websrv", "root"), NULL, SYNTAX },
	/* 18 */ { SSHTEST("deny", "bob@example.com", "root"), NULL, SYNTAX },
	/* 19 */
	{ SSHTEST("accept", "fd7a::3", "root"),
	  FAILED "sshTests[0]: dst \"fd7a::3\" matches no node", RECORDED },
	/* 20 */
	{ SSHTEST("accept", "websrv6", "root"),
	  FAILED "sshTests[0]: dst \"websrv6\" matches no node", SYNTAX },
	/* 21 */
	{ SSHTEST("accept", "lan", "root"),
	  "sshTests[0]: SSH tests dst contains disallowed element \"lan\"", SYNTAX },
	/* 22 */
	{ SSHTEST("accept", "10.0.0.0/8", "root"),
	  "sshTests[0]: SSH tests dst contains disallowed element \"10.0.0.0/8\"", RECORDED },
	/* 23 */
	{ SSHTEST("accept", "autogroup:internet", "root"),
	  "sshTests[0]: SSH tests dst contains disallowed element \"autogroup:internet\"",
	  RECORDED },
	/* 24 */
	{ SSHTEST("accept", "*", "root"),
	  "sshTests[0]: SSH tests dst contains disallowed element \"*\"", RECORDED },
};

static void setup(void)
{
	for (int i = 0; i < 3; i++) {
		char v4[16], v6[16];
		snprintf(v4, sizeof(v4), "100.64.0.%d", i + 1);
		snprintf(v6, sizeof(v6), "fd7a::%d", i + 1);
		addr_ip_parse(v4, &addrs[i][0], NULL);
		addr_ip_parse(v6, &addrs[i][1], NULL);
		nodes[i].addrs = addrs[i];
		nodes[i].n_addrs = 2;
	}
}

/* One row's outcome: want NULL = accepted, else refused with exactly that message. */
static void expect(const char *what, size_t i, const char *source, int rc, const char *got,
		   const char *want)
{
	if (want == NULL) {
		if (rc)
			fprintf(stderr, "%s row %zu (%s): %s\n", what, i + 1, source, got);
		CHECK_INT(rc, 0);
		return;
	}
	if (rc != -EINVAL || strcmp(got, want))
		fprintf(stderr, "%s row %zu (%s)\n", what, i + 1, source);
	CHECK_INT(rc, -EINVAL);
	CHECK_STR(got, want);
}

static void test_parse(void)
{
	for (size_t i = 0; i < sizeof(parse_rows) / sizeof(parse_rows[0]); i++) {
		struct pol_policy *pol = NULL;
		struct pol_error err = { 0 };
		const char *t = parse_rows[i].policy;
		int rc = pol_parse(t, strlen(t), "example.com", &pol, &err);
		expect("parse", i, parse_rows[i].source, rc, err.msg, parse_rows[i].msg);
		pol_policy_free(pol);
	}
}

static void test_load(void)
{
	for (size_t i = 0; i < sizeof(load_rows) / sizeof(load_rows[0]); i++) {
		struct pol_compiled *c = NULL;
		struct pol_error err = { 0 };
		const char *t = load_rows[i].policy;
		int rc = pol_load(t, strlen(t), "example.com", &topo, &c, &err);
		expect("load", i, load_rows[i].source, rc, err.msg, load_rows[i].msg);
		pol_compiled_free(c);
	}
}

/* A positive period shorter than a second still asks again after a second; it never
 * turns into 0, which means "every connection" (GO_DUR, TS_SSH). */
static void test_check_period_value(void)
{
	static const struct {
		const char *period;
		int64_t secs;
	} rows[] = {
		{ "500ms", 1 }, { "1.5s", 2 }, { "1h30m", 5400 }, { "always", 0 }, { "12h", 43200 }
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char text[512];
		struct pol_compiled *c = NULL;
		struct pol_error err = { 0 };
		snprintf(text, sizeof(text), CP("%s"), rows[i].period);
		CHECK_INT(pol_load(text, strlen(text), "example.com", &topo, &c, &err), 0);
		if (!c)
			continue;
		size_t web;
		CHECK_INT(pol_compiled_find_node(c, "web", &web), 0);
		const struct pol_ssh_rule *const *rules;
		CHECK_INT(pol_node_ssh(c, web, &rules), 1);
		CHECK_INT(rules[0]->check_period_s, rows[i].secs);
		pol_compiled_free(c);
	}
}

int main(void)
{
	setup();
	test_parse();
	test_load();
	test_check_period_value();
	return check_finish();
}
