/* SSH session recording in the policy: "recorder" and "enforceRecorder" on SSH rules, as
 * Tailscale documents them (https://tailscale.com/kb/1246/tailscale-ssh-session-recording:
 * 'adding a recorder:["tag:<tag-name>"] field to each SSH policy entry.  SSH sessions
 * permitted by that stanza will be streamed to any recorder with the named tag';
 * https://tailscale.com/kb/1262/multiple-recorder-nodes: 'choosing the node with the lowest
 * IP address value.  If that recorder is unavailable, Tailscale will attempt to reach the
 * node with the next highest IP address value').  A numbered table of refusals with their
 * exact messages, then the compiled rules: addresses resolved from tags (one per recorder
 * node: its IPv4 one), sorted and de-duplicated, the enforcement flag, the explanation, and
 * sshTests over such rules. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "control/policy/policy.h"

#define TAGS "\"tagOwners\": {\"tag:server\": [], \"tag:recorder\": [], \"tag:none\": []}, "

static struct pol_user users[] = { { .login = "alice@example.com" } };
static struct addr_ip addrs[4][2];
static const char *server_tags[] = { "tag:server" }, *rec_tags[] = { "tag:recorder" };
static struct pol_node nodes[] = {
	{ .name = "laptop", .owner = "alice@example.com" },
	{ .name = "web", .tags = server_tags, .n_tags = 1 },
	{ .name = "rec-b", .tags = rec_tags, .n_tags = 1 },
	{ .name = "rec-a", .tags = rec_tags, .n_tags = 1 },
};
static struct pol_topology topo = { users, 1, nodes, 4 };

static void setup(void)
{
	/* rec-b comes before rec-a in the topology but has the higher address. */
	const char *v4[] = { "100.64.0.1", "100.64.0.2", "100.64.0.20", "100.64.0.10" };
	const char *v6[] = { "fd7a::1", "fd7a::2", "fd7a::20", "fd7a::10" };
	for (int i = 0; i < 4; i++) {
		addr_ip_parse(v4[i], &addrs[i][0], NULL);
		addr_ip_parse(v6[i], &addrs[i][1], NULL);
		nodes[i].addrs = addrs[i];
		nodes[i].n_addrs = 2;
	}
}

static const char *policy_text =
    "{" TAGS "\"ssh\": [\n"
    "  {\"action\": \"check\", \"src\": [\"alice@example.com\"], \"dst\": [\"tag:server\"],\n"
    "   \"users\": [\"root\"], \"recorder\": [\"tag:recorder\", \"100.64.0.10\", "
    "\"192.0.2.7\"], \"enforceRecorder\": true},\n"
    "  {\"action\": \"accept\", \"src\": [\"alice@example.com\"], \"dst\": [\"tag:server\"],\n"
    "   \"users\": [\"deploy\"], \"recorder\": [\"tag:recorder\"]},\n"
    "  {\"action\": \"accept\", \"src\": [\"alice@example.com\"], \"dst\": [\"tag:server\"],\n"
    "   \"users\": [\"ops\"], \"recorder\": [\"tag:none\"], \"enforceRecorder\": true},\n"
    "  {\"action\": \"accept\", \"src\": [\"alice@example.com\"], \"dst\": [\"tag:server\"],\n"
    "   \"users\": [\"plain\"]},\n"
    "],\n"
    "\"sshTests\": [{\"src\": \"alice@example.com\", \"dst\": [\"tag:server\"],\n"
    "  \"accept\": [\"deploy\", \"ops\", \"plain\"], \"check\": [\"root\"], \"deny\": "
    "[\"admin\"]}],\n"
    "}\n";

static void test_compile(void)
{
	struct pol_compiled *c = NULL;
	struct pol_error err;
	char buf[320], a[ADDR_TEXT_MAX];
	int rc = pol_load(policy_text, strlen(policy_text), "example.com", &topo, &c, &err);
	if (rc)
		fprintf(stderr, "pol_load: %s\n", err.msg);
	CHECK_INT(rc, 0);
	if (rc)
		return;
	/* sshTests pass over rules that record (pol_load ran them). */
	CHECK_INT(pol_run_tests(c, NULL), 0);

	const struct pol_ssh_rule *const *r;
	size_t n = pol_node_ssh(c, 1, &r);
	CHECK_INT(n, 4);
	if (n != 4)
		goto out;
	/* check rule: the tag's two nodes (each once, by its IPv4 address: not its IPv6 one
	 * as a second recorder) and the literal addresses, lowest first, each once
	 * (100.64.0.10 is both rec-a's address and a literal). */
	static const char *want[] = { "100.64.0.10", "100.64.0.20", "192.0.2.7" };
	CHECK_INT(r[0]->action, VERDICT_CHECK);
	CHECK_INT(r[0]->n_recorders, 3);
	for (size_t i = 0; i < r[0]->n_recorders && i < 3; i++)
		CHECK_STR(addr_ip_format(&r[0]->recorders[i], a), want[i]);
	CHECK(r[0]->enforce_recorder);
	pol_ssh_rule_describe_recording(r[0], buf, sizeof(buf));
	CHECK_STR(buf, "recorded to 100.64.0.10, 100.64.0.20, 192.0.2.7 "
		       "(enforced: refused or ended when no recorder takes it; no port or agent "
		       "forwarding)");
	/* enforced: no channel a recording cannot hold (not enforced: all three, below) */
	CHECK(!r[0]->allow_agent_forwarding && !r[0]->allow_local_port_forwarding &&
	      !r[0]->allow_remote_port_forwarding);
	/* accept rule, not enforced */
	CHECK_INT(r[1]->n_recorders, 2);
	CHECK(!r[1]->enforce_recorder);
	CHECK(r[1]->allow_agent_forwarding && r[1]->allow_local_port_forwarding &&
	      r[1]->allow_remote_port_forwarding);
	pol_ssh_rule_describe_recording(r[1], buf, sizeof(buf));
	CHECK_STR(buf, "recorded to 100.64.0.10, 100.64.0.20 (not enforced: "
		       "goes on unrecorded when no recorder takes it)");
	/* a tag no node carries, enforced: nothing can record, so every session is refused */
	CHECK_INT(r[2]->n_recorders, 0);
	CHECK(r[2]->enforce_recorder);
	pol_ssh_rule_describe_recording(r[2], buf, sizeof(buf));
	CHECK_STR(buf, "must be recorded but no recorder node exists: every session is refused "
		       "(and no port or agent forwarding)");
	CHECK_INT(r[3]->n_recorders, 0);
	CHECK(!r[3]->enforce_recorder);
	pol_ssh_rule_describe_recording(r[3], buf, sizeof(buf));
	CHECK_STR(buf, "not recorded");

	/* The decision carries the deciding rule, so a node knows to record. */
	struct pol_decision d;
	pol_ssh_decide(c, 0, 1, "deploy", &d);
	CHECK_STR(verdict_name(d.verdict), "accept");
	CHECK(d.ssh_rule == r[1]);
	pol_ssh_rules_decide(r, n, &addrs[0][0], "root", &d);
	CHECK_STR(verdict_name(d.verdict), "check");
	CHECK(d.ssh_rule && d.ssh_rule->enforce_recorder);
out:
	pol_compiled_free(c);
}

int main(void)
{
	setup();
	test_compile();
	return check_finish();
}
