/* The policy's own tests and sshTests, run against the compiled form: each failed assertion
 * is one line of the report (a malformed entry too: parse_tests.c only checks their shape).
 * And pol_load, which strings parse, compile and tests together the way the service does: a
 * policy whose tests fail is refused with them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

struct report {
	char *buf;
	size_t len, cap;
	int failures;
	int rc;
};

__attribute__((format(printf, 2, 3))) static void report_fail(struct report *rep, const char *fmt,
							      ...)
{
	char line[600];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	rep->failures++;
	if (pol__grow(&rep->buf, &rep->cap, rep->len + (size_t)n + 2, 1)) {
		rep->rc = -ENOMEM;
		return;
	}
	memcpy(rep->buf + rep->len, line, (size_t)n);
	rep->len += (size_t)n;
	rep->buf[rep->len++] = '\n';
	rep->buf[rep->len] = '\0';
}

/* Addresses of a test's principal: nodes an identity alias selects, or an IP. */
static int principal_addrs(const struct pol_compiled *c, const struct pol__alias *a,
			   struct addr_ip **out, size_t *n)
{
	struct addr_ip *v = NULL;
	size_t nv = 0, cap = 0;
	*out = NULL;
	*n = 0;
	if (a->kind == POL__A_PREFIX || a->kind == POL__A_HOST) {
		if (a->prefix.bits != (a->prefix.ip.family == AF_INET ? 32 : 128))
			return 0;
		if (POL__PUSH(v, nv, cap, a->prefix.ip))
			return -ENOMEM;
		*out = v;
		*n = nv;
		return 0;
	}
	if (a->kind == POL__A_SELF || a->kind == POL__A_INTERNET || a->kind == POL__A_ANY ||
	    a->kind == POL__A_DANGER_ALL)
		return 0;
	int *nodes;
	size_t nn;
	int rc = pol__alias_nodes(c, a, &nodes, &nn);
	if (rc)
		return rc;
	for (size_t i = 0; i < nn && !rc; i++)
		for (size_t k = 0; k < c->nodes[nodes[i]].n_addrs && !rc; k++)
			rc = POL__PUSH(v, nv, cap, c->nodes[nodes[i]].addrs[k]);
	free(nodes);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = nv;
	return 0;
}

static void run_test_entry(const struct pol_compiled *c, struct report *rep, size_t ti,
			   const struct pol__test *t, const struct addr_ip *src, size_t n_src,
			   const char *entry, bool want)
{
	const char *colon = strrchr(entry, ':');
	struct pol_error err;
	char host[256];
	long port = -1;
	if (!colon || (size_t)(colon - entry) >= sizeof(host)) {
		report_fail(rep, "tests[%zu]: address \"%s\": want host:port", ti, entry);
		return;
	}
	memcpy(host, entry, (size_t)(colon - entry));
	host[colon - entry] = '\0';
	/* "[fd7a::1]:22" as in an acls dst; the bare "fd7a::1:22" splits at its last colon. */
	size_t hl = strlen(host);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	char *end;
	if (colon[1] >= '0' && colon[1] <= '9')
		port = strtol(colon + 1, &end, 10);
	if (port < 1 || port > 65535 || *end) {
		report_fail(rep,
			    "tests[%zu]: address \"%s\": port \"%s\" must be one number in "
			    "1-65535",
			    ti, entry, colon + 1);
		return;
	}
	struct pol__alias a;
	if (!pol__alias_parse(c->pol, host, &a, &err, "")) {
		report_fail(rep, "tests[%zu]: address \"%s\": %s", ti, entry, err.msg);
		return;
	}
	struct addr_ip *dst;
	size_t n_dst;
	int rc = principal_addrs(c, &a, &dst, &n_dst);
	pol__alias_clear(&a);
	if (rc) {
		rep->rc = rc;
		return;
	}
	if (!n_dst) {
		report_fail(rep, "tests[%zu]: address \"%s\": does not resolve to an address", ti,
			    entry);
		return;
	}
	uint8_t proto = t->n_protos ? t->protos[0] : POL_PROTO_TCP;
	bool ok = true;
	for (size_t s = 0; s < n_src && ok; s++)
		for (size_t d = 0; d < n_dst && ok; d++) {
			if (src[s].family != dst[d].family)
				continue;
			if (pol__filter_global(c, &src[s], &dst[d], proto, (uint16_t)port) != want)
				ok = false;
		}
	free(dst);
	if (!ok)
		report_fail(rep, "tests[%zu]: src \"%s\": address \"%s\": want %s, got %s", ti,
			    t->src.text, entry, want ? "Accept" : "Drop", want ? "Drop" : "Accept");
}

static void run_tests(const struct pol_compiled *c, struct report *rep)
{
	const struct pol_policy *pol = c->pol;
	for (size_t i = 0; i < pol->n_tests && !rep->rc; i++) {
		const struct pol__test *t = &pol->tests[i];
		struct pol__alias a;
		struct pol_error err;
		if (!t->src.text || !t->src.text[0]) {
			report_fail(rep, "tests[%zu]: src must be specified", i);
			continue;
		}
		if (!t->n_accept && !t->n_deny) {
			report_fail(rep, "tests[%zu]: src \"%s\": needs accept or deny", i,
				    t->src.text);
			continue;
		}
		if (!pol__alias_parse(pol, t->src.text, &a, &err, "")) {
			report_fail(rep, "tests[%zu]: src \"%s\": %s", i, t->src.text, err.msg);
			continue;
		}
		struct addr_ip *src;
		size_t n_src;
		int rc = principal_addrs(c, &a, &src, &n_src);
		pol__alias_clear(&a);
		if (rc) {
			rep->rc = rc;
			break;
		}
		if (!n_src) {
			report_fail(rep, "tests[%zu]: src \"%s\": matches no node", i, t->src.text);
			continue;
		}
		for (size_t k = 0; k < t->n_accept; k++)
			run_test_entry(c, rep, i, t, src, n_src, t->accept[k], true);
		for (size_t k = 0; k < t->n_deny; k++)
			run_test_entry(c, rep, i, t, src, n_src, t->deny[k], false);
		free(src);
	}
}

/* The node an sshTests address names.  Only IPv4 finds one: an IPv6 literal of a node
 * fails an accept assertion in the service's recorded behaviour (conformance case
 * sshtest-malformed-dst-bare-ipv6); no documentation says either way. */
static int test_node_at(const struct pol_compiled *c, const struct addr_ip *ad, int **out,
			size_t *n)
{
	int nd = ad->family == AF_INET ? pol__node_by_addr(c, ad) : -1;
	if (nd < 0)
		return 0;
	*out = malloc(sizeof(int));
	if (!*out)
		return -ENOMEM;
	**out = nd;
	*n = 1;
	return 0;
}

/* Nodes of an sshTests src/dst: an identity alias, one node's address, or a hosts entry
 * naming one address ("hosts, human readable shorthands for IP addresses",
 * https://tailscale.com/kb/1337/acl-syntax), which resolves as that address does. */
static int test_nodes(const struct pol_compiled *c, const char *s, int **out, size_t *n,
		      struct pol_error *err)
{
	struct addr_ip ad;
	*out = NULL;
	*n = 0;
	if (addr_ip_parse(s, &ad, NULL))
		return test_node_at(c, &ad, out, n);
	struct pol__alias a;
	if (!pol__alias_parse(c->pol, s, &a, err, ""))
		return -EINVAL;
	int rc = 0;
	if (a.kind == POL__A_HOST && a.prefix.bits == (a.prefix.ip.family == AF_INET ? 32 : 128))
		rc = test_node_at(c, &a.prefix.ip, out, n);
	else if (a.kind != POL__A_PREFIX && a.kind != POL__A_HOST && a.kind != POL__A_ANY &&
		 a.kind != POL__A_SELF && a.kind != POL__A_INTERNET)
		rc = pol__alias_nodes(c, &a, out, n);
	pol__alias_clear(&a);
	return rc;
}

static void sshtest_users(const struct pol_compiled *c, struct report *rep, size_t ti,
			  const struct pol__sshtest *t, const int *src, size_t n_src,
			  const int *dst, size_t n_dst, char **users, size_t n_users,
			  const char *kind)
{
	for (size_t u = 0; u < n_users; u++) {
		const char *user = users[u];
		bool ok = true;
		const char *got = "";
		if (!user[0]) {
			report_fail(rep, "sshTests[%zu]: %s user \"\" is not valid", ti, kind);
			continue;
		}
		for (size_t s = 0; s < n_src && ok; s++)
			for (size_t d = 0; d < n_dst && ok; d++) {
				struct pol_decision dec;
				if (src[s] == dst[d])
					continue;
				pol_ssh_decide(c, (size_t)src[s], (size_t)dst[d], user, &dec);
				if (strcmp(kind, "accept") == 0)
					ok = dec.verdict != VERDICT_REJECT;
				else if (strcmp(kind, "check") == 0)
					ok = dec.verdict == VERDICT_CHECK;
				else
					ok = dec.verdict == VERDICT_REJECT;
				got = dec.verdict == VERDICT_ACCEPT  ? "accept"
				      : dec.verdict == VERDICT_CHECK ? "check"
								     : "reject";
				if (!ok)
					report_fail(
					    rep,
					    "sshTests[%zu]: src \"%s\" to %s as \"%s\": want %s, "
					    "got %s",
					    ti, t->src.text, c->nodes[dst[d]].name, user, kind,
					    got);
			}
	}
}

static void run_sshtests(const struct pol_compiled *c, struct report *rep)
{
	const struct pol_policy *pol = c->pol;
	for (size_t i = 0; i < pol->n_sshtests && !rep->rc; i++) {
		const struct pol__sshtest *t = &pol->sshtests[i];
		struct pol_error err;
		int *src = NULL, *dst = NULL;
		size_t n_src = 0, n_dst = 0;
		if (!t->src.text[0]) {
			report_fail(rep, "sshTests[%zu]: src must be specified", i);
			continue;
		}
		int rc = test_nodes(c, t->src.text, &src, &n_src, &err);
		if (rc == -EINVAL) {
			report_fail(rep, "sshTests[%zu]: src \"%s\": %s", i, t->src.text, err.msg);
			continue;
		}
		if (rc) {
			rep->rc = rc;
			break;
		}
		if (!n_src) {
			report_fail(rep, "sshTests[%zu]: src \"%s\" matches no node", i,
				    t->src.text);
			free(src);
			continue;
		}
		for (size_t d = 0; d < t->n_dsts; d++) {
			int *dn = NULL;
			size_t nd = 0;
			rc = test_nodes(c, t->dsts[d].text, &dn, &nd, &err);
			if (rc == -EINVAL) {
				report_fail(rep, "sshTests[%zu]: dst \"%s\": %s", i,
					    t->dsts[d].text, err.msg);
				continue;
			}
			if (rc) {
				rep->rc = rc;
				break;
			}
			if (!nd) {
				report_fail(rep, "sshTests[%zu]: dst \"%s\" matches no node", i,
					    t->dsts[d].text);
				continue;
			}
			int *nv = realloc(dst, (n_dst + nd) * sizeof(int));
			if (!nv) {
				free(dn);
				rep->rc = -ENOMEM;
				break;
			}
			dst = nv;
			memcpy(dst + n_dst, dn, nd * sizeof(int));
			n_dst += nd;
			free(dn);
		}
		if (!t->n_accept && !t->n_check && !t->n_deny)
			report_fail(rep, "sshTests[%zu]: needs accept, check or deny", i);
		sshtest_users(c, rep, i, t, src, n_src, dst, n_dst, t->accept, t->n_accept,
			      "accept");
		sshtest_users(c, rep, i, t, src, n_src, dst, n_dst, t->check, t->n_check, "check");
		sshtest_users(c, rep, i, t, src, n_src, dst, n_dst, t->deny, t->n_deny, "deny");
		free(src);
		free(dst);
	}
}

int pol_run_tests(const struct pol_compiled *c, char **report)
{
	struct report rep = { 0 };
	run_tests(c, &rep);
	run_sshtests(c, &rep);
	if (rep.rc) {
		free(rep.buf);
		return rep.rc;
	}
	if (report) {
		*report = rep.buf ? rep.buf : strdup("");
		if (!*report)
			return -ENOMEM;
	} else {
		free(rep.buf);
	}
	return rep.failures;
}

/* Parse and compile; the tests' failures are counted into *failed with their report. */
static int load(const char *text, size_t len, const char *tailnet_domain,
		const struct pol_topology *topo, struct pol_compiled **out, int *failed,
		char **report, struct pol_error *err)
{
	struct pol_policy *pol;
	struct pol_compiled *c;
	*out = NULL;
	*report = NULL;
	int rc = pol_parse(text, len, tailnet_domain, &pol, err);
	if (rc)
		return rc;
	rc = pol_compile(pol, topo, &c, err);
	if (rc) {
		pol_policy_free(pol);
		return rc;
	}
	*failed = pol_run_tests(c, report);
	if (*failed < 0) {
		pol_compiled_free(c);
		pol_policy_free(pol);
		return *failed;
	}
	c->owned_pol = pol;
	*out = c;
	return 0;
}

int pol_reload(const char *text, size_t len, const char *tailnet_domain,
	       const struct pol_topology *topo, struct pol_compiled **out, int *failed,
	       char **report, struct pol_error *err)
{
	return load(text, len, tailnet_domain, topo, out, failed, report, err);
}

int pol_load(const char *text, size_t len, const char *tailnet_domain,
	     const struct pol_topology *topo, struct pol_compiled **out, struct pol_error *err)
{
	struct pol_compiled *c;
	char *report;
	int failed = 0;
	int rc = load(text, len, tailnet_domain, topo, &c, &failed, &report, err);
	if (rc)
		return rc;
	if (failed > 0) {
		size_t n = strlen(report);
		while (n && report[n - 1] == '\n')
			report[--n] = '\0';
		for (char *p = report; *p; p++)
			if (*p == '\n')
				*p = ';';
		pol__fail(err, "test(s) failed: %s", report);
		free(report);
		pol_compiled_free(c);
		return -EINVAL;
	}
	free(report);
	*out = c;
	return 0;
}
