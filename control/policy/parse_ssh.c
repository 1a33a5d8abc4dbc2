/* The ssh section: action (accept/check), src, dst, users (names, autogroup:nonroot,
 * localpart:*@domain), checkPeriod as Go's time.ParseDuration reads it, and acceptEnv.  Go's
 * duration grammar and its String form live here because checkPeriod is their only user and
 * the service's messages quote both. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

/* Go's time.ParseDuration, which the service uses for checkPeriod
 * (https://pkg.go.dev/time#ParseDuration: "A duration string is a possibly signed sequence
 * of decimal numbers, each with optional fraction and a unit suffix, such as "300ms",
 * "-1.5h" or "2h45m". Valid time units are "ns", "us" (or "µs"), "ms", "s", "m", "h".").
 * Digits and '.' only, so no exponents or hex that strtod would take.  Nanoseconds out;
 * false with Go's own message in msg. */
static bool go_duration(const char *orig, int64_t *out, char *msg, size_t msglen)
{
	static const struct {
		const char *u;
		int64_t ns;
	} units[] = { { "ns", 1 },
		      { "us", 1000 },
		      { "\xc2\xb5s", 1000 } /* U+00B5 */,
		      { "\xce\xbcs", 1000 } /* U+03BC */,
		      { "ms", 1000000 },
		      { "s", 1000000000 },
		      { "m", 60LL * 1000000000 },
		      { "h", 3600LL * 1000000000 } };
	const char *s = orig;
	double total = 0;
	bool neg = false;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return true;
	}
	if (!*s)
		goto invalid;
	while (*s) {
		double v = 0, scale = 1;
		bool digits = false;
		if (!((*s >= '0' && *s <= '9') || *s == '.'))
			goto invalid;
		for (; *s >= '0' && *s <= '9'; s++, digits = true)
			v = v * 10 + (*s - '0');
		if (*s == '.')
			for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
				v += (*s - '0') * (scale /= 10);
		if (!digits)
			goto invalid;
		size_t ul = 0;
		while (s[ul] && s[ul] != '.' && !(s[ul] >= '0' && s[ul] <= '9'))
			ul++;
		if (!ul) {
			snprintf(msg, msglen, "time: missing unit in duration \"%s\"", orig);
			return false;
		}
		size_t u = 0;
		while (u < sizeof(units) / sizeof(units[0]) &&
		       !(strlen(units[u].u) == ul && strncmp(s, units[u].u, ul) == 0))
			u++;
		if (u == sizeof(units) / sizeof(units[0])) {
			snprintf(msg, msglen, "time: unknown unit \"%.*s\" in duration \"%s\"",
				 (int)ul, s, orig);
			return false;
		}
		total += v * (double)units[u].ns;
		if (total > 9223372036854775807.0)
			goto invalid;
		s += ul;
	}
	*out = (int64_t)(neg ? -total : total);
	return true;
invalid:
	snprintf(msg, msglen, "time: invalid duration \"%s\"", orig);
	return false;
}

/* Go's Duration.String: "1h30m0s", "-1.5s", "500ms", "0s" (for the messages that echo a
 * parsed duration back, as the service does). */
static void go_duration_format(int64_t ns, char *buf, size_t n)
{
	static const char *const small[] = { "ns", "\xc2\xb5s", "ms" };
	bool neg = ns < 0;
	uint64_t u = neg ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
	const char *sign = neg ? "-" : "";
	if (u == 0) {
		snprintf(buf, n, "0s");
		return;
	}
	if (u < 1000000000ULL) {
		int k = u < 1000ULL ? 0 : u < 1000000ULL ? 1 : 2;
		uint64_t div = k == 0 ? 1 : k == 1 ? 1000 : 1000000;
		char frac[16] = "";
		if (u % div) {
			snprintf(frac, sizeof(frac), ".%0*llu", k == 1 ? 3 : 6,
				 (unsigned long long)(u % div));
			for (size_t l = strlen(frac); frac[l - 1] == '0'; l--)
				frac[l - 1] = '\0';
		}
		snprintf(buf, n, "%s%llu%s%s", sign, (unsigned long long)(u / div), frac, small[k]);
		return;
	}
	uint64_t secs = u / 1000000000ULL, sub = u % 1000000000ULL;
	char frac[16] = "";
	if (sub) {
		snprintf(frac, sizeof(frac), ".%09llu", (unsigned long long)sub);
		for (size_t l = strlen(frac); frac[l - 1] == '0'; l--)
			frac[l - 1] = '\0';
	}
	uint64_t h = secs / 3600, m = secs / 60 % 60, sec = secs % 60;
	if (h)
		snprintf(buf, n, "%s%lluh%llum%llu%ss", sign, (unsigned long long)h,
			 (unsigned long long)m, (unsigned long long)sec, frac);
	else if (m)
		snprintf(buf, n, "%s%llum%llu%ss", sign, (unsigned long long)m,
			 (unsigned long long)sec, frac);
	else
		snprintf(buf, n, "%s%llu%ss", sign, (unsigned long long)sec, frac);
}

static int parse_ssh_users(struct pol_policy *pol, struct pol__sshrule *r, json_t *uj, size_t idx,
			   struct pol_error *err)
{
	char **v;
	size_t n;
	if (!uj || json_is_null(uj) || (json_is_array(uj) && json_array_size(uj) == 0))
		return pol__fail(err, "ssh[%zu]: users must be specified", idx);
	int rc = pol__strv_get(uj, &v, &n, err, "ssh users");
	if (rc)
		return rc;
	r->users = calloc(n, sizeof(*r->users));
	if (!r->users) {
		strv_free(v, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		struct pol__sshuser *u = &r->users[i];
		if (!v[i][0] || strcmp(v[i], "*") == 0) {
			rc = pol__fail(err, "ssh[%zu]: user \"%s\" is not valid", idx, v[i]);
			break;
		}
		if (strcmp(v[i], "autogroup:nonroot") == 0) {
			u->kind = POL__U_NONROOT;
		} else if (pol__starts(v[i], "localpart:*@")) {
			const char *d = v[i] + strlen("localpart:*@");
			/* "localpart:*@" (no domain) is accepted and matches nobody. */
			if ((*d && !pol__domain_ok(pol, d)) || strchr(d, '*')) {
				rc = pol__fail(
				    err,
				    "ssh[%zu]: users \"%s\": %s is not associated with this "
				    "Tailnet and cannot be used in user:*@<domain> "
				    "expressions",
				    idx, v[i], d);
				break;
			}
			u->kind = POL__U_LOCALPART;
			u->name = strdup(d);
			if (!u->name)
				rc = -ENOMEM;
			r->n_users++;
			continue;
		} else {
			u->kind = POL__U_NAME;
		}
		u->name = v[i];
		v[i] = NULL;
		r->n_users++;
	}
	strv_free(v, n);
	return rc;
}

/* "recorder": the tags of recorder nodes or IP addresses of recorders, and "enforceRecorder",
 * which refuses sessions that cannot be recorded (Tailscale SSH session recording,
 * https://tailscale.com/kb/1246/tailscale-ssh-session-recording: 'adding a
 * recorder:["tag:<tag-name>"] field to each SSH policy entry.  SSH sessions permitted by that
 * stanza will be streamed to any recorder with the named tag').  Groups, users, hosts, CIDRs
 * and autogroups name no recorder.  enforceRecorder without a recorder could only refuse every
 * session, so it is refused as a mistake. */
static int parse_ssh_recorder(struct pol_policy *pol, struct pol__sshrule *r, json_t *j, size_t idx,
			      struct pol_error *err)
{
	char **v;
	size_t n;
	json_t *en = json_object_get(j, "enforceRecorder");
	if (en && !json_is_null(en) && !json_is_boolean(en))
		return pol__fail(err, "ssh[%zu]: enforceRecorder must be true or false", idx);
	r->enforce_recorder = json_is_true(en);
	int rc = pol__strv_get(json_object_get(j, "recorder"), &v, &n, err, "ssh recorder");
	if (rc)
		return rc;
	r->recorders = calloc(n + 1, sizeof(*r->recorders));
	for (size_t i = 0; r->recorders && i < n && !rc; i++) {
		char ctx[64];
		struct pol__alias *a = &r->recorders[i];
		snprintf(ctx, sizeof(ctx), "ssh[%zu]: recorder: ", idx);
		if (!pol__alias_parse(pol, v[i], a, err, ctx)) {
			rc = -EINVAL;
			break;
		}
		r->n_recorders++;
		bool one_ip = a->kind == POL__A_PREFIX &&
			      a->prefix.bits == addr_family_bits(a->prefix.ip.family);
		if (a->kind != POL__A_TAG && !one_ip)
			rc = pol__fail(err,
				       "ssh[%zu]: recorder \"%s\" must be a tag or an IP address",
				       idx, v[i]);
	}
	strv_free(v, n);
	if (!r->recorders)
		return -ENOMEM;
	if (!rc && r->enforce_recorder && !r->n_recorders)
		rc = pol__fail(err, "ssh[%zu]: enforceRecorder is set but no recorder is named",
			       idx);
	return rc;
}

static int parse_ssh_rule(struct pol_policy *pol, struct pol__sshrule *r, json_t *j, size_t idx,
			  struct pol_error *err)
{
	if (!json_is_object(j))
		return pol__fail(err, "ssh[%zu]: must be an object", idx);
	r->index = (int)idx;
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		if (strcmp(k, "action") && strcmp(k, "src") && strcmp(k, "dst") &&
		    strcmp(k, "users") && strcmp(k, "checkPeriod") && strcmp(k, "acceptEnv") &&
		    strcmp(k, "srcPosture") && strcmp(k, "message") && strcmp(k, "recorder") &&
		    strcmp(k, "enforceRecorder"))
			return pol__fail(err, "ssh[%zu]: unknown field \"%s\"", idx, k);
	}
	json_t *act = json_object_get(j, "action");
	if (act && !json_is_null(act) && !json_is_string(act))
		return pol__fail(err, "ssh[%zu]: action must be a string", idx);
	char *a = act && json_is_string(act) ? pol__trimdup(json_string_value(act)) : NULL;
	int rc = 0;
	if (!a || !*a)
		rc = pol__fail(err, "ssh[%zu]: action must be specified", idx);
	else if (strcmp(a, "accept") == 0)
		r->action = VERDICT_ACCEPT;
	else if (strcmp(a, "check") == 0)
		r->action = VERDICT_CHECK;
	else
		rc = pol__fail(err, "ssh[%zu]: \"%s\" is not a valid action", idx, a);
	free(a);
	if (rc)
		return rc;

	char **srcs, **dsts;
	size_t n_srcs, n_dsts;
	if ((rc = pol__strv_get(json_object_get(j, "src"), &srcs, &n_srcs, err, "ssh src")))
		return rc;
	r->srcs = calloc(n_srcs + 1, sizeof(*r->srcs));
	for (size_t i = 0; r->srcs && i < n_srcs && !rc; i++) {
		char ctx[64];
		snprintf(ctx, sizeof(ctx), "ssh[%zu]: src: ", idx);
		if (!pol__alias_parse(pol, srcs[i], &r->srcs[i], err, ctx)) {
			rc = -EINVAL;
			break;
		}
		r->n_srcs++;
		enum pol__alias_kind sk = r->srcs[i].kind;
		if (sk == POL__A_SELF || sk == POL__A_INTERNET || sk == POL__A_DANGER_ALL)
			rc = pol__fail(err, "ssh[%zu]: invalid src \"%s\"", idx, srcs[i]);
	}
	strv_free(srcs, n_srcs);
	if (!r->srcs)
		return -ENOMEM;
	if (rc)
		return rc;
	if ((rc = pol__strv_get(json_object_get(j, "dst"), &dsts, &n_dsts, err, "ssh dst")))
		return rc;
	r->dsts = calloc(n_dsts + 1, sizeof(*r->dsts));
	for (size_t i = 0; r->dsts && i < n_dsts && !rc; i++) {
		char ctx[64];
		snprintf(ctx, sizeof(ctx), "ssh[%zu]: dst: ", idx);
		if (!pol__alias_parse(pol, dsts[i], &r->dsts[i], err, ctx)) {
			rc = -EINVAL;
			break;
		}
		r->n_dsts++;
		enum pol__alias_kind dk = r->dsts[i].kind;
		if (dk != POL__A_TAG && dk != POL__A_SELF && dk != POL__A_MEMBER &&
		    dk != POL__A_TAGGED && dk != POL__A_USER)
			rc = pol__fail(err, "ssh[%zu]: invalid dst \"%s\"", idx, dsts[i]);
	}
	strv_free(dsts, n_dsts);
	if (!r->dsts)
		return -ENOMEM;
	if (rc)
		return rc;

	if ((rc = parse_ssh_users(pol, r, json_object_get(j, "users"), idx, err)))
		return rc;

	r->check_period_s = 12 * 3600;
	json_t *cp = json_object_get(j, "checkPeriod");
	if (cp && !json_is_null(cp)) {
		if (!json_is_string(cp))
			return pol__fail(err, "ssh[%zu]: checkPeriod must be a string", idx);
		char *s = pol__trimdup(json_string_value(cp));
		char why[POL_ERR_MAX / 2];
		int64_t ns;
		if (!s)
			return -ENOMEM;
		if (strcmp(s, "always") == 0) {
			r->check_period_s = 0;
		} else if (!go_duration(s, &ns, why, sizeof(why))) {
			rc = pol__fail(err, "ssh[%zu]: checkPeriod: %s", idx, why);
		} else if (ns <= 0) {
			char d[48];
			go_duration_format(ns, d, sizeof(d));
			rc = pol__fail(err, "ssh[%zu]: checkPeriod %s must be a positive duration",
				       idx, d);
		} else if (ns > 168LL * 3600 * 1000000000) {
			rc = pol__fail(err, "ssh[%zu]: checkPeriod \"%s\" is longer than 168h", idx,
				       s);
		} else {
			/* Whole seconds, rounded up: a positive period never becomes 0, which
			 * means "every connection". */
			r->check_period_s = (ns + 999999999) / 1000000000;
		}
		free(s);
		if (rc)
			return rc;
	}
	if ((rc = pol__strv_get(json_object_get(j, "acceptEnv"), &r->accept_env, &r->n_accept_env,
				err, "ssh acceptEnv")))
		return rc;
	for (size_t i = 0; i < r->n_accept_env; i++)
		if (!r->accept_env[i][0])
			return pol__fail(err, "ssh[%zu]: acceptEnv values cannot be empty", idx);
	return parse_ssh_recorder(pol, r, j, idx, err);
}

int pol__parse_ssh(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	if (!j)
		return 0;
	pol->has_ssh = true;
	int sec = pol__section_new(j, false, "ssh: must be a list of rules", &pol->ssh,
				   sizeof(*pol->ssh), err);
	if (sec <= 0)
		return sec;
	for (size_t i = 0; i < json_array_size(j); i++) {
		struct pol__sshrule *r = &pol->ssh[pol->n_ssh++];
		int rc = parse_ssh_rule(pol, r, json_array_get(j, i), i, err);
		if (rc)
			return rc;
		if (!(r->source = json_dumps(json_array_get(j, i), JSON_COMPACT)))
			return -ENOMEM;
	}
	return 0;
}
