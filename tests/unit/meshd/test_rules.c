/* meshd's local SSH decision and packet filter over hand-built netmaps: first match,
 * user maps ("*", "=", ""), root only when named, node-vs-user reject banners, ports,
 * protocols, and replies to our own connections. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "check.h"
#include "cmd/daemon/rules.h"

static struct ctl_prefix pfx(const char *s)
{
	struct ctl_prefix p;
	if (!ctl_prefix_parse(s, &p)) {
		fprintf(stderr, "bad prefix %s\n", s);
		memset(&p, 0, sizeof(p));
	}
	return p;
}

int main(void)
{
	/* Rule 0: check, laptop -> root.  Rule 1: accept, laptop + ci -> any non-root name
	 * as itself, "admin" refused, "deploy" allowed with forwarding.  Rule 2: accept,
	 * 100.64.0.9 -> "svc" mapped to local "service". */
	struct ctl_prefix p0[] = { pfx("100.64.0.2/32") };
	struct ctl_prefix p1[] = { pfx("100.64.0.2/32"), pfx("100.64.0.3/32"),
				   pfx("fd7a:115c:a1e0::2/128") };
	struct ctl_prefix p2[] = { pfx("100.64.0.9/32") };
	struct ctl_ssh_usermap u0[] = { { "root", "root" } };
	struct ctl_ssh_usermap u1[] = { { "root", "" }, { "admin", "" }, { "*", "=" } };
	struct ctl_ssh_usermap u2[] = { { "svc", "service" } };
	char *env1[] = { "LANG", "GIT_*" };
	struct ctl_ssh_rule rules[] = {
		{ .principals = p0, .n_principals = 1, .users = u0, .n_users = 1,
		  .action = CTL_SSH_CHECK, .check_period_s = 3600 },
		{ .principals = p1, .n_principals = 3, .users = u1, .n_users = 3,
		  .action = CTL_SSH_ACCEPT, .allow_agent = true, .allow_local_fwd = true,
		  .accept_env = env1, .n_accept_env = 2 },
		{ .principals = p2, .n_principals = 1, .users = u2, .n_users = 1,
		  .action = CTL_SSH_ACCEPT },
	};
	struct ctl_netmap nm = { .ssh = rules, .n_ssh = 3 };
	struct meshd_ssh_verdict v;
	struct ctl_prefix laptop = pfx("100.64.0.2"), ci = pfx("100.64.0.3"),
			  stranger = pfx("100.64.0.7"), svc = pfx("100.64.0.9"),
			  laptop6 = pfx("fd7a:115c:a1e0::2");

	meshd_ssh_decide(&nm, &laptop, "root", &v);
	CHECK_INT(v.action, MESHD_SSH_CHECK);
	CHECK_STR(v.local_user, "root");
	CHECK(v.allow_root);
	CHECK_INT(v.rule, 0);
	CHECK_INT(v.check_period_s, 3600);

	meshd_ssh_decide(&nm, &laptop, "vinay", &v);
	CHECK_INT(v.action, MESHD_SSH_ACCEPT);
	CHECK_STR(v.local_user, "vinay");
	CHECK(!v.allow_root); /* via "*": "vinay" must not turn out to be uid 0 */
	CHECK(v.allow_agent && v.allow_local_fwd && !v.allow_remote_fwd);
	CHECK_STR(v.accept_env, "LANG,GIT_*");
	CHECK_INT(v.rule, 1);

	meshd_ssh_decide(&nm, &laptop6, "vinay", &v);
	CHECK_INT(v.action, MESHD_SSH_ACCEPT);

	meshd_ssh_decide(&nm, &ci, "root", &v);
	CHECK_INT(v.action, MESHD_SSH_REJECT);
	CHECK_STR(v.message, "policy does not permit you to SSH as user \"root\"");
	CHECK_INT(v.rule, -1);

	meshd_ssh_decide(&nm, &ci, "admin", &v);
	CHECK_INT(v.action, MESHD_SSH_REJECT);
	CHECK_STR(v.message, "policy does not permit you to SSH as user \"admin\"");

	meshd_ssh_decide(&nm, &ci, "0", &v); /* allowed by "*" but never as root */
	CHECK_INT(v.action, MESHD_SSH_ACCEPT);
	CHECK(!v.allow_root);

	meshd_ssh_decide(&nm, &stranger, "vinay", &v);
	CHECK_INT(v.action, MESHD_SSH_REJECT);
	CHECK_STR(v.message, "policy does not permit you to SSH to this node");

	meshd_ssh_decide(&nm, &svc, "svc", &v);
	CHECK_INT(v.action, MESHD_SSH_ACCEPT);
	CHECK_STR(v.local_user, "service");
	meshd_ssh_decide(&nm, &svc, "other", &v);
	CHECK_STR(v.message, "policy does not permit you to SSH as user \"other\"");

	meshd_ssh_decide(NULL, &laptop, "vinay", &v);
	CHECK_INT(v.action, MESHD_SSH_REJECT);

	/* Filter: laptop may reach us on tcp 22 and 8000-8080; anyone in 100.64/10 may ping. */
	struct ctl_prefix fs0[] = { pfx("100.64.0.2/32") };
	struct ctl_filter_dst fd0[] = { { pfx("100.64.0.1/32"), 22, 22 },
					{ pfx("100.64.0.1/32"), 8000, 8080 } };
	struct ctl_prefix fs1[] = { pfx("100.64.0.0/10") };
	struct ctl_filter_dst fd1[] = { { pfx("0.0.0.0/0"), 0, 65535 } };
	struct ctl_filter_rule filter[] = {
		{ .srcs = fs0, .n_srcs = 1, .dsts = fd0, .n_dsts = 2, .protos = CTL_PROTO_TCP },
		{ .srcs = fs1, .n_srcs = 1, .dsts = fd1, .n_dsts = 1, .protos = CTL_PROTO_ICMP },
	};
	struct ctl_netmap fm = { .filter = filter, .n_filter = 2 };
	uint8_t me[4] = { 100, 64, 0, 1 }, lap[4] = { 100, 64, 0, 2 }, other[4] = { 100, 64, 0, 3 };
	uint8_t far[4] = { 10, 0, 0, 1 };
	const struct {
		int n;
		const uint8_t *src;
		uint8_t proto;
		uint16_t port;
		bool syn, echo_reply, want;
	} cases[] = {
		{ 1, lap, IPPROTO_TCP, 22, true, false, true },
		{ 2, lap, IPPROTO_TCP, 23, true, false, false },
		{ 3, lap, IPPROTO_TCP, 8000, true, false, true },
		{ 4, lap, IPPROTO_TCP, 8080, true, false, true },
		{ 5, lap, IPPROTO_TCP, 8081, true, false, false },
		{ 6, other, IPPROTO_TCP, 22, true, false, false },
		/* not a SYN is not a reply: the filter never waves TCP through (finding 2) */
		{ 7, other, IPPROTO_TCP, 22, false, false, false },
		{ 8, lap, IPPROTO_UDP, 22, false, false, false },
		{ 9, other, IPPROTO_ICMP, 0, false, false, true },
		{ 10, far, IPPROTO_ICMP, 0, false, false, false },
		{ 11, far, IPPROTO_ICMP, 0, false, true, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct meshd_pkt p = { .family = AF_INET, .proto = cases[i].proto,
				       .src = cases[i].src, .dst = me, .dport = cases[i].port,
				       .icmp_echo_reply = cases[i].echo_reply };
		bool got = meshd_filter_allows(&fm, &p);
		if (got != cases[i].want)
			fprintf(stderr, "filter case %d: got %d want %d\n", cases[i].n, got,
				cases[i].want);
		CHECK(got == cases[i].want);
	}
	return check_finish();
}
