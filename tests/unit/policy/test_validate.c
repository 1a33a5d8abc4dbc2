/* Validation: every refusal names the offending section, field and value.  Each row is a
 * policy and the exact message an admin would see (or NULL: accepted). */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "control/policy/policy.h"

#define TAGS "\"tagOwners\": {\"tag:server\": [\"alice@example.com\"]}, "
#define REC_RULE(extra)                                                                        \
	"{\"tagOwners\": {\"tag:server\": [], \"tag:recorder\": []}, \"ssh\": [{\"action\": "  \
	"\"accept\", \"src\": [\"alice@example.com\"], \"dst\": [\"tag:server\"], \"users\": " \
	"[\"root\"]" extra "}]}"
#define GROUPS "\"groups\": {\"group:dev\": [\"alice@example.com\", \"bob@example.com\"]}, "

static const struct {
	const char *policy;
	const char *msg;
} cases[] = {
	/* 1 */ { "{}", NULL },
	/* 2 */ { "{\"acl\": []}", "unknown top-level key \"acl\"" },
	/* 3 */
	{ "{\"groups\": {\"dev\": []}}", "groups[\"dev\"]: group names must start with 'group:'" },
	/* 4 */
	{ "{\"groups\": {\"group:a\": [\"group:b\"], \"group:b\": []}}",
	  "groups[\"group:a\"]: \"group:b\": group members cannot be recursive" },
	/* 5 */
	{ "{\"groups\": {\"group:a\": [\"tag:x\"]}}",
	  "groups[\"group:a\"]: \"tag:x\": group members must be users (logins such as "
	  "alice@example.com)" },
	/* 6 */
	{ "{\"tagOwners\": {\"tag:1x\": []}}",
	  "tagOwners[\"tag:1x\"]: tag names must start with a letter, after 'tag:'" },
	/* 7 */
	{ "{\"tagOwners\": {\"server\": []}}",
	  "tagOwners[\"server\"]: tag names must start with 'tag:'" },
	/* 8 */
	{ "{\"tagOwners\": {\"tag:a\": [\"group:nope\"]}}",
	  "tagOwners[\"tag:a\"]: group \"group:nope\" not found" },
	/* 9 */
	{ "{\"hosts\": {\"db\": \"10.0.0.300\"}}",
	  "hosts[\"db\"]: \"10.0.0.300\" is not an IP address or CIDR" },
	/* 10 */
	{ "{\"acls\": [{\"action\": \"deny\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}]}",
	  "acls[0]: action=\"deny\" is not supported (only \"accept\")" },
	/* 11 */
	{ "{\"acls\": [{\"action\": \"accept\", \"src\": [\"tag:nope\"], \"dst\": [\"*:*\"]}]}",
	  "src=tag not found: \"tag:nope\"" },
	/* 12 */
	{ "{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"tag:nope:22\"]}]}",
	  "dst=\"tag:nope:22\": tag not found: \"tag:nope\"" },
	/* 13 */
	{ "{" TAGS
	  "\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"tag:server:ssh\"]}]}",
	  "dst=\"tag:server:ssh\": port range \"ssh\": invalid first integer" },
	/* 14 */
	{ "{" TAGS
	  "\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"tag:server:0\"]}]}",
	  "dst=\"tag:server:0\": port range \"0\": first port must be >0, or use '*' for "
	  "wildcard" },
	/* 15 */
	{ "{" TAGS "\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": "
	  "[\"tag:server:90-80\"]}]}",
	  "dst=\"tag:server:90-80\": port range \"90-80\": last port is before first port" },
	/* 16 */
	{ "{" TAGS "\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": "
	  "[\"tag:server:70000\"]}]}",
	  "dst=\"tag:server:70000\": port range \"70000\": port out of range (1-65535)" },
	/* 17 */
	{ "{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"autogroup:self\"]}]}",
	  "dst=\"autogroup:self\": port range \"self\": invalid first integer" },
	/* 18 */
	{ "{" TAGS "\"acls\": [{\"action\": \"accept\", \"src\": [\"tag:server\"], \"dst\": "
	  "[\"autogroup:self:*\"]}]}",
	  "acls[0]: src \"tag:server\": autogroup:self can only be used with users, groups, or "
	  "supported autogroups" },
	/* 19 */
	{ "{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"], \"proto\": "
	  "\"tcpx\"}]}",
	  "acls[0]: proto=\"tcpx\" is not a known protocol" },
	/* 20 */
	{ "{\"acls\": [{\"action\": \"accept\", \"src\": [\"nohost\"], \"dst\": [\"*:*\"]}]}",
	  "src=host \"nohost\" not found (not a user, group, tag, host or IP)" },
	/* 21 */
	{ "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"ip\": []}]}",
	  "grants[0]: ip and app can not both be empty" },
	/* 22 */
	{ "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"0.0.0.0/0\"], \"ip\": [\"*\"]}]}",
	  "grants[0]: dst \"0.0.0.0/0\": to allow all IP addresses, use \"*\" or "
	  "\"autogroup:internet\"" },
	/* 23 */
	{ "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"autogroup:danger-all\"], \"ip\": "
	  "[\"*\"]}]}",
	  "grants[0]: dst \"autogroup:danger-all\": cannot use autogroup:danger-all as a dst" },
	/* 24 */
	{ "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"autogroup:self\"], \"ip\": [\"*\"]}]}",
	  "grants[0]: src \"*\": autogroup:self can only be used with users, groups, or "
	  "supported autogroups" },
	/* 25 */
	{ "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"app\": {\"nodomain\": [{}]}}]}",
	  "grants[0].app \"nodomain\": capability name must have the form {domain}/{path}" },
	/* 26 */
	{ "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"app\": {\"tailscale.com/cap/x\": "
	  "[{}]}}]}",
	  "grants[0].app \"tailscale.com/cap/x\": capability name must not be in the "
	  "tailscale.com domain" },
	/* 27 */
	{ "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"autogroup:internet\"], \"app\": "
	  "{\"example.com/c\": [{}]}}]}",
	  "grants[0]: dst \"autogroup:internet\": cannot use app grants with autogroup:internet" },
	/* 28 */
	{ "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"ip\": [\"tcp:0\"]}]}",
	  "grants[0].ip \"tcp:0\": port range \"0\": first port must be >0, or use '*' for "
	  "wildcard" },
	/* 29 */
	{ "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"ip\": [\"bogus:22\"]}]}",
	  "grants[0].ip \"bogus:22\": unknown protocol \"bogus\"" },
	/* 30 */
	{ "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"10.0.0.0/8\"], \"ip\": [\"*\"], \"via\": "
	  "[\"tag:nope\"]}]}",
	  "grants[0].via: tag \"tag:nope\" not found" },
	/* 31 */
	{ "{" TAGS
	  "\"ssh\": [{\"src\": [\"*\"], \"dst\": [\"tag:server\"], \"users\": [\"root\"]}]}",
	  "ssh[0]: action must be specified" },
	/* 32 */
	{ "{" TAGS "\"ssh\": [{\"action\": \"Accept\", \"src\": [\"alice@example.com\"], \"dst\": "
	  "[\"tag:server\"], \"users\": [\"root\"]}]}",
	  "ssh[0]: \"Accept\" is not a valid action" },
	/* 33 */
	{ "{" TAGS
	  "\"ssh\": [{\"action\": \" accept \", \"src\": [\"alice@example.com\"], \"dst\": "
	  "[\"tag:server\"], \"users\": [\"root\"]}]}",
	  NULL },
	/* 34 */
	{ "{" TAGS "\"ssh\": [{\"action\": \"accept\", \"src\": [\"alice@example.com\"], \"dst\": "
	  "[\"tag:server\"]}]}",
	  "ssh[0]: users must be specified" },
	/* 35 */
	{ "{" TAGS "\"ssh\": [{\"action\": \"accept\", \"src\": [\"alice@example.com\"], \"dst\": "
	  "[\"tag:server\"], \"users\": [\"root\", \"*\"]}]}",
	  "ssh[0]: user \"*\" is not valid" },
	/* 36 */
	{ "{" TAGS "\"ssh\": [{\"action\": \"accept\", \"src\": [\"alice@example.com\"], \"dst\": "
	  "[\"tag:server\"], \"users\": [\"\"]}]}",
	  "ssh[0]: user \"\" is not valid" },
	/* 37 */
	{ "{\"hosts\": {\"srv\": \"100.64.0.1\"}, \"ssh\": [{\"action\": \"accept\", \"src\": "
	  "[\"alice@example.com\"], \"dst\": [\"srv\"], \"users\": [\"root\"]}]}",
	  "ssh[0]: invalid dst \"srv\"" },
	/* 38 */
	{ "{\"ssh\": [{\"action\": \"accept\", \"src\": [\"alice@example.com\"], \"dst\": [\"*\"], "
	  "\"users\": [\"root\"]}]}",
	  "ssh[0]: invalid dst \"*\"" },
	/* 39 */
	{ "{" TAGS "\"ssh\": [{\"action\": \"check\", \"src\": [\"alice@example.com\"], \"dst\": "
	  "[\"tag:server\"], \"users\": [\"root\"], \"checkPeriod\": \"abc\"}]}",
	  "ssh[0]: checkPeriod: time: invalid duration \"abc\"" },
	/* 40 */
	{ "{" TAGS "\"ssh\": [{\"action\": \"check\", \"src\": [\"alice@example.com\"], \"dst\": "
	  "[\"tag:server\"], \"users\": [\"root\"], \"checkPeriod\": \"-1m\"}]}",
	  "ssh[0]: checkPeriod -1m0s must be a positive duration" },
	/* 41 */
	{ "{" TAGS "\"ssh\": [{\"action\": \"check\", \"src\": [\"alice@example.com\"], \"dst\": "
	  "[\"tag:server\"], \"users\": [\"root\"], \"checkPeriod\": \"169h\"}]}",
	  "ssh[0]: checkPeriod \"169h\" is longer than 168h" },
	/* 42 */
	{ "{" TAGS "\"ssh\": [{\"action\": \"accept\", \"src\": [\"alice@example.com\"], \"dst\": "
	  "[\"tag:server\"], \"users\": [\"root\"], \"acceptEnv\": [\"GIT_*\", \"\"]}]}",
	  "ssh[0]: acceptEnv values cannot be empty" },
	/* 43 */
	{ "{" TAGS "\"ssh\": [{\"action\": \"accept\", \"src\": [\"user:*@other.org\"], \"dst\": "
	  "[\"tag:server\"], \"users\": [\"root\"]}]}",
	  "ssh[0]: src: other.org is not associated with this Tailnet and cannot be used in "
	  "user:*@<domain> expressions" },
	/* 44 */
	{ "{" TAGS "\"ssh\": [{\"action\": \"accept\", \"src\": [\"autogroup:member\"], \"dst\": "
	  "[\"tag:server\"], \"users\": [\"localpart:*@other.org\"]}]}",
	  "ssh[0]: users \"localpart:*@other.org\": other.org is not associated with this "
	  "Tailnet and cannot be used in user:*@<domain> expressions" },
	/* 45 */
	{ "{\"sshTests\": [{\"src\": \"alice@example.com\", \"dst\": [\"100.64.0.0/24\"], "
	  "\"accept\": "
	  "[\"root\"]}]}",
	  "sshTests[0]: SSH tests dst contains disallowed element \"100.64.0.0/24\"" },
	/* 46 */
	{ "{\"sshTests\": [{\"src\": \"alice@example.com\", \"dst\": [\"autogroup:internet\"], "
	  "\"accept\": [\"root\"]}]}",
	  "sshTests[0]: SSH tests dst contains disallowed element \"autogroup:internet\"" },
	/* 47 */
	{ "{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": "
	  "[\"autogroup:bogus:*\"]}]}",
	  "dst=\"autogroup:bogus:*\": unknown autogroup \"autogroup:bogus\"" },
	/* 48 */
	{ "{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"], \"extra\": "
	  "1}]}",
	  "acls[0]: unknown field \"extra\"" },
	/* 49 */
	{ "{\"ssh\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"autogroup:self\"], "
	  "\"users\": [\"x\"], \"typo\": 1}]}",
	  "ssh[0]: unknown field \"typo\"" },
	/* 50 */
	{ "{\"autoApprovers\": {\"routes\": {\"10.0.0.0/8\": [\"tag:nope\"]}}}",
	  "autoApprovers.routes[\"10.0.0.0/8\"]: tag \"tag:nope\" not found" },
	/* 51 */
	{ "{\"acls\": [{\"action\": \"accept\", \"src\": \"*\", \"dst\": [\"*:*\"]}]}",
	  "acls[0].src: must be a list of strings" },
	/* 52 */
	{ "{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"host\"]}]}",
	  "dst=\"host\": missing port (use \"host:*\" for all ports)" },
	/* 53 */
	{ "{// comment\n\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": "
	  "[\"*:*\"],},],}",
	  NULL },
	/* 54 */
	{ "{\n\"acls\": [\n  {\"action\": \"accept\" \"src\": []}\n]}",
	  "line 3, column 27: '}' expected near '\"src\"'" },
	/* 55: field names compare without regard to case; the legacy Users/Ports form */
	{ "{\"ACLs\": [{\"Action\": \"accept\", \"Users\": [\"*\"], \"Ports\": [\"*:22\"]}]}",
	  NULL },
	/* 56 */
	{ "{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"users\": [\"*\"], \"dst\": "
	  "[\"*:*\"]}]}",
	  "acls[0]: give \"src\" or \"users\", not both" },
	/* 57 */
	{ "{\"Acls\": [], \"acls\": []}", "policy: \"Acls\" and \"acls\" both given" },
	/* 58 */
	{ "{\"ssh\": [{\"Action\": \"accept\", \"SRC\": [\"*\"], \"dst\": [\"autogroup:self\"], "
	  "\"users\": [\"x\"]}]}",
	  NULL },
	/* 59-65: a section of the wrong JSON type is refused by name; null is no section */
	{ "{\"groups\": []}", "groups: must be an object" },
	{ "{\"tagOwners\": [\"tag:a\"]}", "tagOwners: must be an object" },
	{ "{\"hosts\": \"db\"}", "hosts: must be an object" },
	{ "{\"ssh\": {}}", "ssh: must be a list of rules" },
	{ "{\"tests\": {\"src\": \"*\"}}", "tests: must be a list" },
	{ "{\"sshTests\": 3}", "sshTests: must be a list" },
	{ "{\"groups\": null, \"tagOwners\": null, \"hosts\": null, \"ssh\": null, "
	  "\"tests\": null, \"sshTests\": null}",
	  NULL },
	/* 66-77: session recording, "recorder" and "enforceRecorder" (test_recorder.c) */
	{ REC_RULE(", \"recorder\": [\"tag:recorder\"]"), NULL },
	{ REC_RULE(", \"recorder\": [\"tag:recorder\"], \"enforceRecorder\": true"), NULL },
	{ REC_RULE(", \"recorder\": [\"100.64.0.9\", \"fd7a::9\"]"), NULL },
	{ REC_RULE(", \"recorder\": [], \"enforceRecorder\": false"), NULL },
	{ REC_RULE(", \"recorder\": [\"tag:nope\"]"),
	  "ssh[0]: recorder: tag not found: \"tag:nope\"" },
	{ REC_RULE(", \"recorder\": [\"alice@example.com\"]"),
	  "ssh[0]: recorder \"alice@example.com\" must be a tag or an IP address" },
	{ REC_RULE(", \"recorder\": [\"autogroup:member\"]"),
	  "ssh[0]: recorder \"autogroup:member\" must be a tag or an IP address" },
	{ REC_RULE(", \"recorder\": [\"100.64.0.0/24\"]"),
	  "ssh[0]: recorder \"100.64.0.0/24\" must be a tag or an IP address" },
	{ REC_RULE(", \"recorder\": [\"*\"]"),
	  "ssh[0]: recorder \"*\" must be a tag or an IP address" },
	{ REC_RULE(", \"enforceRecorder\": true"),
	  "ssh[0]: enforceRecorder is set but no recorder is named" },
	{ REC_RULE(", \"recorder\": [\"tag:recorder\"], \"enforceRecorder\": \"yes\""),
	  "ssh[0]: enforceRecorder must be true or false" },
	{ REC_RULE(", \"recorder\": \"tag:recorder\""), "ssh recorder: must be a list of strings" },
};

static const struct {
	const char *topo;
	const char *msg;
} topos[] = {
	{ "{\"users\": [], \"nodes\": {}}", NULL },
	{ "{\"users\": {}}", "topology: needs \"users\" (a list) and \"nodes\" (an object)" },
	{ "{\"users\": [{\"name\": \"a\"}], \"nodes\": {}}",
	  "topology: users[0]: needs \"email\"" },
	{ "{\"users\": [], \"nodes\": {\"n\": {\"user\": \"x\", \"ipv4\": \"100.64.0.1\"}}}",
	  "topology: nodes[\"n\"]: user \"x\" is not in users" },
	{ "{\"users\": [], \"nodes\": {\"n\": {\"tags\": [\"tag:a\"]}}}",
	  "topology: nodes[\"n\"]: needs ipv4 or ipv6" },
	{ "{\"users\": [], \"nodes\": {\"n\": {\"tags\": [\"tag:a\"], \"ipv4\": \"fd7a::1\"}}}",
	  "topology: nodes[\"n\"].ipv4: not an IPv4 address" },
	{ "{\"users\": [], \"nodes\": {\"n\": {\"ipv4\": \"100.64.0.1\"}}}",
	  "topology: nodes[\"n\"]: needs a user or tags" },
	{ "{\"users\": [], \"nodes\": {\"n\": {\"tags\": [\"tag:a\"], \"ipv4\": \"100.64.0.1\", "
	  "\"approved_routes\": [\"10.0.0.0/33\"]}}}",
	  "topology: nodes[\"n\"].approved_routes[0]: not a CIDR" },
};

static void test_topologies(void)
{
	for (size_t i = 0; i < sizeof(topos) / sizeof(topos[0]); i++) {
		struct pol_topology_doc *d = NULL;
		struct pol_error err;
		int rc = pol_topology_parse(topos[i].topo, strlen(topos[i].topo), &d, &err);
		if (!topos[i].msg) {
			CHECK_INT(rc, 0);
		} else {
			CHECK_INT(rc, -EINVAL);
			if (rc)
				CHECK_STR(err.msg, topos[i].msg);
		}
		pol_topology_doc_free(d);
	}
}

int main(void)
{
	test_topologies();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pol_policy *p = NULL;
		struct pol_error err;
		int rc =
		    pol_parse(cases[i].policy, strlen(cases[i].policy), "example.com", &p, &err);
		if (!cases[i].msg) {
			if (rc)
				fprintf(stderr, "case %zu: %s\n", i + 1, err.msg);
			CHECK_INT(rc, 0);
		} else {
			CHECK_INT(rc, -EINVAL);
			if (rc && strcmp(err.msg, cases[i].msg) != 0)
				fprintf(stderr, "case %zu:\n", i + 1);
			if (rc)
				CHECK_STR(err.msg, cases[i].msg);
		}
		pol_policy_free(p);
	}
	return check_finish();
}
