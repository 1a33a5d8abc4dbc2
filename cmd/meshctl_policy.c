/* meshctl policy: check a policy file offline and explain decisions.
 *
 *   meshctl policy check FILE [--topology FILE]
 *   meshctl policy explain FILE --topology FILE --src NODE --dst NODE [--user U | --port P/proto]
 *
 * `check` validates the policy (every refusal names the field and value, syntax errors
 * give line:column) and, with a topology, compiles it and runs its tests and sshTests.
 * `explain` says which rule decided an SSH login or a packet and why, or why none did. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/meshctl.h"
#include "control/policy/policy.h"

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: meshctl policy check FILE [--topology FILE]\n"
	    "       meshctl policy explain FILE --topology FILE --src NODE --dst NODE\n"
	    "                              [--user USER | --port PORT/PROTO]\n"
	    "       meshctl policy get [-o FILE]      (the policy meshcontrol enforces; -o:\n"
	    "                                         into FILE, its ETag into FILE.etag)\n"
	    "       meshctl policy set FILE [--if-match ETAG | --force]\n"
	    "                                         (validated and tested by meshcontrol;\n"
	    "                                         refused when the policy changed since\n"
	    "                                         ETAG, or the one in FILE.etag)\n"
	    "Check a Tailscale-format policy file (HuJSON) offline, or explain a decision;\n"
	    "get and set talk to meshcontrol (--server=URL, --token-file=FILE, or\n"
	    "$MESH_SERVER and $MESH_ADMIN_TOKEN; --ca-file=FILE or $MESH_CA_FILE for a\n"
	    "private CA; --insecure-http for http:// to a host that is not loopback).\n"
	    "\n"
	    "  check      validate FILE; with --topology also compile it for those nodes and\n"
	    "             run its tests and sshTests (one line per failed assertion)\n"
	    "  explain    the rule that decides SSH from --src to --dst as --user, or a packet\n"
	    "             to --port (e.g. 443/tcp, 53/udp, icmp); or why no rule matched\n"
	    "\n"
	    "  --topology FILE  users and nodes as JSON: {\"tailnet_owner\": LOGIN,\n"
	    "                   \"users\": [{\"name\", \"email\"}], \"nodes\": {NAME: {\"user\" "
	    "or\n"
	    "                   \"tags\", \"ipv4\", \"ipv6\", \"approved_routes\"}}}; a user's\n"
	    "                   \"oidc_groups\" and \"oidc_login\" (UTC) are the provider's\n"
	    "                   groups at their last sign-in, which oidc:NAME members match\n"
	    "  --src, --dst     node name, hostname or address\n"
	    "\n"
	    "Exit status: 0 ok / accepted, 1 refused policy, failed tests or denied, 2 usage.\n");
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "meshctl policy: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (n < cap)
			break;
		char *nb = realloc(buf, cap *= 2);
		if (!nb) {
			free(buf);
			buf = NULL;
		}
		buf = nb;
	}
	if (!buf || ferror(f)) {
		fprintf(stderr, "meshctl policy: %s: read failed\n", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

struct opts {
	const char *file, *topology, *src, *dst, *user, *port;
};

static int parse_opts(int argc, char **argv, struct opts *o, const char *verb)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < argc; i++) {
		const char **slot = NULL;
		if (strcmp(argv[i], "--topology") == 0)
			slot = &o->topology;
		else if (strcmp(argv[i], "--src") == 0)
			slot = &o->src;
		else if (strcmp(argv[i], "--dst") == 0)
			slot = &o->dst;
		else if (strcmp(argv[i], "--user") == 0)
			slot = &o->user;
		else if (strcmp(argv[i], "--port") == 0)
			slot = &o->port;
		if (slot) {
			if (i + 1 >= argc) {
				fprintf(stderr, "meshctl policy %s: %s needs a value\n", verb,
					argv[i]);
				return 2;
			}
			*slot = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "meshctl policy %s: unknown option '%s'\n", verb, argv[i]);
			return 2;
		} else if (!o->file) {
			o->file = argv[i];
		} else {
			fprintf(stderr, "meshctl policy %s: unexpected argument '%s'\n", verb,
				argv[i]);
			return 2;
		}
	}
	if (!o->file) {
		fprintf(stderr, "meshctl policy %s: which policy FILE?\n", verb);
		return 2;
	}
	return 0;
}

/* Loads the policy (and topology); prints the refusal and returns 1 on bad input. */
static int load(const struct opts *o, struct pol_policy **pol, struct pol_topology_doc **topo)
{
	struct pol_error err;
	size_t len;
	char *text;
	*pol = NULL;
	*topo = NULL;
	if (o->topology) {
		if (!(text = slurp(o->topology, &len)))
			return 1;
		int rc = pol_topology_parse(text, len, topo, &err);
		free(text);
		if (rc) {
			fprintf(stderr, "%s: %s\n", o->topology,
				rc == -ENOMEM ? "out of memory" : err.msg);
			return 1;
		}
	}
	if (!(text = slurp(o->file, &len))) {
		pol_topology_doc_free(*topo);
		return 1;
	}
	int rc = pol_parse(text, len, *topo ? pol_topology_doc_domain(*topo) : NULL, pol, &err);
	free(text);
	if (rc) {
		fprintf(stderr, "%s: %s\n", o->file, rc == -ENOMEM ? "out of memory" : err.msg);
		pol_topology_doc_free(*topo);
		*topo = NULL;
		return 1;
	}
	return 0;
}

static int compile(const struct opts *o, struct pol_policy *pol, struct pol_topology_doc *topo,
		   struct pol_compiled **c)
{
	struct pol_error err;
	int rc = pol_compile(pol, pol_topology_doc_get(topo), c, &err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", o->topology, rc == -ENOMEM ? "out of memory" : err.msg);
		return 1;
	}
	return 0;
}

/* Members through the identity provider, and where each came from. */
static void print_idp_members(const struct pol_compiled *c, const struct pol_topology *t)
{
	char why[1024];
	for (size_t i = 0; i < t->n_users; i++)
		if (t->users[i].n_idp_groups &&
		    pol_user_groups_describe(c, t->users[i].login, why, sizeof(why)))
			printf("  member: %s: %s\n", t->users[i].login, why);
}

/* The source's owner's groups, for an explanation, when some may come from the provider
 * (the owner's last sign-in carried groups). */
static void print_owner_groups(const struct pol_compiled *c, const struct pol_topology *t,
			       const struct pol_node *sn)
{
	char why[1024];
	for (size_t i = 0; sn->owner && i < t->n_users; i++)
		if (strcmp(t->users[i].login, sn->owner) == 0 && t->users[i].n_idp_groups &&
		    pol_user_groups_describe(c, sn->owner, why, sizeof(why)))
			printf("  groups: %s: %s\n", sn->owner, why);
}

static int run_check(int argc, char **argv)
{
	struct opts o;
	struct pol_policy *pol;
	struct pol_topology_doc *topo;
	struct pol_compiled *c;
	char summary[200];
	int rc = parse_opts(argc, argv, &o, "check");
	if (rc)
		return rc;
	if (o.src || o.dst || o.user || o.port) {
		fprintf(stderr,
			"meshctl policy check: --src/--dst/--user/--port belong to explain\n");
		return 2;
	}
	if ((rc = load(&o, &pol, &topo)))
		return rc;
	pol_policy_summary(pol, summary, sizeof(summary));
	if (!topo) {
		printf("%s: ok: %s; tests not run (give --topology)\n", o.file, summary);
		pol_policy_free(pol);
		return 0;
	}
	if ((rc = compile(&o, pol, topo, &c)) == 0) {
		char *report;
		int failed = pol_run_tests(c, &report);
		if (failed < 0) {
			fprintf(stderr, "meshctl policy check: out of memory\n");
			rc = 1;
		} else if (failed > 0) {
			printf("%s", report);
			printf("%s: refused: %d test assertion(s) failed\n", o.file, failed);
			rc = 1;
		} else {
			printf("%s: ok: %s; tests pass on %zu nodes\n", o.file, summary,
			       pol_compiled_node_count(c));
		}
		if (failed >= 0)
			print_idp_members(c, pol_topology_doc_get(topo));
		if (failed >= 0)
			free(report);
		pol_compiled_free(c);
	}
	pol_policy_free(pol);
	pol_topology_doc_free(topo);
	return rc;
}

/* A filter's reject is a drop. */
static const char *shown_verdict(enum verdict v, bool ssh)
{
	return v == VERDICT_REJECT && !ssh ? "drop" : verdict_name(v);
}

/* "443/tcp", "53/udp", "icmp", "22" (tcp). */
static bool parse_port(const char *s, uint8_t *proto, uint16_t *port)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	*port = 0;
	*proto = POL_PROTO_TCP;
	if (!slash) {
		if (pol_proto_parse(buf, proto) && (buf[0] < '0' || buf[0] > '9'))
			return *proto != POL_PROTO_TCP && *proto != POL_PROTO_UDP;
		slash = buf + strlen(buf);
	} else {
		*slash = '\0';
		if (!pol_proto_parse(slash + 1, proto))
			return false;
	}
	char *end;
	long p = strtol(buf, &end, 10);
	if (end == buf || *end || p < 0 || p > 65535)
		return false;
	*port = (uint16_t)p;
	return true;
}

static const struct addr_ip *pick_addr(const struct pol_node *n, int family)
{
	for (size_t i = 0; i < n->n_addrs; i++)
		if (!family || n->addrs[i].family == family)
			return &n->addrs[i];
	return NULL;
}

static void print_rule(const struct pol_policy *pol, const struct pol_decision *d)
{
	if (d->rule_index < 0)
		return;
	const char *text = pol_policy_rule_text(pol, d->section, d->rule_index);
	printf("  rule:   %s[%d] %s\n", d->section, d->rule_index, text ? text : "");
}

static bool node_in(const struct addr_prefix *p, size_t n, const struct pol_node *nd)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < nd->n_addrs; k++)
			if (addr_prefix_contains(&p[i], &nd->addrs[k]))
				return true;
	return false;
}

/* Without --user or --port: every rule of dst that admits src, packets and SSH. */
static int summarize(const struct pol_compiled *c, const struct pol_topology *t, size_t si,
		     size_t di)
{
	const struct pol_node *sn = &t->nodes[si], *dn = &t->nodes[di];
	const struct pol_filter_rule *const *fr;
	const struct pol_ssh_rule *const *sr;
	size_t nf = pol_node_filter(c, di, &fr), ns = pol_node_ssh(c, di, &sr), shown = 0;
	char sa[ADDR_TEXT_MAX], da[ADDR_TEXT_MAX], what[200];
	printf("access %s (%s) -> %s (%s):\n", sn->name, addr_ip_format(pick_addr(sn, 0), sa),
	       dn->name, addr_ip_format(pick_addr(dn, 0), da));
	for (size_t i = 0; i < nf; i++) {
		if (!node_in(fr[i]->srcs, fr[i]->n_srcs, sn) ||
		    !node_in(fr[i]->dsts, fr[i]->n_dsts, dn))
			continue;
		pol_filter_rule_describe(fr[i], what, sizeof(what));
		printf("  packets: %s[%d] allows %s\n", fr[i]->section, fr[i]->index, what);
		shown++;
	}
	if (!shown)
		printf("  packets: none of the destination's %zu rule(s) admits this source\n", nf);
	shown = 0;
	for (size_t i = 0; i < ns; i++) {
		if (!node_in(sr[i]->principals, sr[i]->n_principals, sn))
			continue;
		pol_ssh_rule_describe_users(sr[i], what, sizeof(what));
		printf("  ssh:     ssh[%d] %s as %s\n", sr[i]->index, verdict_name(sr[i]->action),
		       what);
		if (sr[i]->n_recorders || sr[i]->enforce_recorder) {
			pol_ssh_rule_describe_recording(sr[i], what, sizeof(what));
			printf("           %s\n", what);
		}
		shown++;
	}
	if (!shown)
		printf("  ssh:     no rule admits this source\n");
	return 0;
}

static int run_explain(int argc, char **argv)
{
	struct opts o;
	struct pol_policy *pol;
	struct pol_topology_doc *topo;
	struct pol_compiled *c;
	int rc = parse_opts(argc, argv, &o, "explain");
	if (rc)
		return rc;
	if (!o.topology || !o.src || !o.dst || (o.user && o.port)) {
		fprintf(stderr,
			"meshctl policy explain: needs --topology, --src, --dst and at most "
			"one of --user or --port\n");
		return 2;
	}
	uint8_t proto = 0;
	uint16_t port = 0;
	if (o.port && !parse_port(o.port, &proto, &port)) {
		fprintf(stderr,
			"meshctl policy explain: --port '%s': want PORT/PROTO such as "
			"443/tcp, 53/udp or icmp\n",
			o.port);
		return 2;
	}
	if ((rc = load(&o, &pol, &topo)))
		return rc;
	if ((rc = compile(&o, pol, topo, &c))) {
		pol_policy_free(pol);
		pol_topology_doc_free(topo);
		return rc;
	}
	size_t si, di;
	const struct pol_topology *t = pol_topology_doc_get(topo);
	if (pol_compiled_find_node(c, o.src, &si) || pol_compiled_find_node(c, o.dst, &di)) {
		fprintf(stderr, "%s: no node named '%s'\n", o.topology,
			pol_compiled_find_node(c, o.src, &si) ? o.src : o.dst);
		rc = 1;
		goto out;
	}
	struct pol_decision d;
	char sa[ADDR_TEXT_MAX], da[ADDR_TEXT_MAX];
	const struct pol_node *sn = &t->nodes[si], *dn = &t->nodes[di];
	if (!o.user && !o.port) {
		rc = summarize(c, t, si, di);
		print_owner_groups(c, t, sn);
		goto out;
	}
	if (o.user) {
		pol_ssh_decide(c, si, di, o.user, &d);
		printf("ssh %s (%s) -> %s (%s) as \"%s\": %s\n", sn->name,
		       addr_ip_format(pick_addr(sn, 0), sa), dn->name,
		       addr_ip_format(pick_addr(dn, 0), da), o.user,
		       shown_verdict(d.verdict, true));
		if (d.verdict != VERDICT_REJECT)
			printf("  login:  %s\n", d.local_user);
		if (d.verdict != VERDICT_REJECT && d.ssh_rule &&
		    (d.ssh_rule->n_recorders || d.ssh_rule->enforce_recorder)) {
			char rec[POL_WHY_MAX];
			pol_ssh_rule_describe_recording(d.ssh_rule, rec, sizeof(rec));
			printf("  record: %s\n", rec);
		}
	} else {
		int fam = proto == POL_PROTO_ICMPV6 ? AF_INET6 : AF_INET;
		const struct addr_ip *s = pick_addr(sn, fam), *dst = pick_addr(dn, fam);
		if (!s || !dst) {
			s = pick_addr(sn, AF_INET6);
			dst = pick_addr(dn, AF_INET6);
		}
		if (!s || !dst) {
			fprintf(stderr, "%s: %s and %s share no address family\n", o.topology,
				sn->name, dn->name);
			rc = 1;
			goto out;
		}
		pol_filter_decide(c, s, dst, proto, port, &d);
		char pb[32];
		if (proto == POL_PROTO_TCP || proto == POL_PROTO_UDP || proto == POL_PROTO_SCTP)
			snprintf(pb, sizeof(pb), "%u/%s", port,
				 proto == POL_PROTO_TCP	  ? "tcp"
				 : proto == POL_PROTO_UDP ? "udp"
							  : "sctp");
		else
			snprintf(pb, sizeof(pb), "proto %u", proto);
		printf("packet %s (%s) -> %s (%s) %s: %s\n", sn->name, addr_ip_format(s, sa),
		       dn->name, addr_ip_format(dst, da), pb, shown_verdict(d.verdict, false));
	}
	print_rule(pol, &d);
	printf("  why:    %s\n", d.why);
	print_owner_groups(c, t, sn);
	rc = d.verdict == VERDICT_REJECT ? 1 : 0;
out:
	pol_compiled_free(c);
	pol_policy_free(pol);
	pol_topology_doc_free(topo);
	return rc;
}

int meshctl_policy(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	if (strcmp(argv[1], "check") == 0)
		return run_check(argc - 2, argv + 2);
	if (strcmp(argv[1], "explain") == 0)
		return run_explain(argc - 2, argv + 2);
	if (strcmp(argv[1], "get") == 0 || strcmp(argv[1], "set") == 0)
		return meshctl_policy_admin(argc, argv);
	fprintf(stderr, "meshctl policy: unknown command '%s' (check, explain, get or set)\n",
		argv[1]);
	return 2;
}
