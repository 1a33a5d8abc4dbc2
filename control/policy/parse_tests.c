/* The tests and sshTests sections: only their shape is checked here (and sshTests' dst
 * against the elements the service disallows); the aliases are read when the tests run
 * (eval_tests.c), so a malformed entry is a failed test, as in the reference service. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

/* An entry's common start: an object whose src, when given, is a string; *src is it trimmed,
 * or "" when absent (the runner reports that). */
static int entry_src(json_t *t, const char *sec, size_t i, char **src, struct pol_error *err)
{
	if (!json_is_object(t))
		return pol__fail(err, "%s[%zu]: must be an object", sec, i);
	json_t *s = json_object_get(t, "src");
	if (s && !json_is_string(s))
		return pol__fail(err, "%s[%zu]: src must be a string", sec, i);
	*src = pol__trimdup(s ? json_string_value(s) : "");
	return *src ? 0 : -ENOMEM;
}

int pol__parse_tests(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	int sec = pol__section_new(j, false, "tests: must be a list", &pol->tests,
				   sizeof(*pol->tests), err);
	if (sec <= 0)
		return sec;
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *t = json_array_get(j, i);
		struct pol__test *x = &pol->tests[pol->n_tests++];
		int rc = entry_src(t, "tests", i, &x->src.text, err);
		if (rc)
			return rc;
		json_t *pj = json_object_get(t, "proto");
		if (pj && json_is_string(pj)) {
			uint8_t p;
			if (!pol_proto_parse(json_string_value(pj), &p))
				return pol__fail(err, "tests[%zu]: proto \"%s\" is not a protocol",
						 i, json_string_value(pj));
			x->protos = malloc(1);
			if (!x->protos)
				return -ENOMEM;
			x->protos[0] = p;
			x->n_protos = 1;
		}
		rc = pol__strv_get(json_object_get(t, "accept"), &x->accept, &x->n_accept, err,
				   "tests accept");
		if (!rc)
			rc = pol__strv_get(json_object_get(t, "deny"), &x->deny, &x->n_deny, err,
					   "tests deny");
		if (rc)
			return rc;
	}
	return 0;
}

int pol__parse_sshtests(struct pol_policy *pol, json_t *j, struct pol_error *err)
{
	int sec = pol__section_new(j, false, "sshTests: must be a list", &pol->sshtests,
				   sizeof(*pol->sshtests), err);
	if (sec <= 0)
		return sec;
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *t = json_array_get(j, i);
		struct pol__sshtest *x = &pol->sshtests[pol->n_sshtests++];
		int rc = entry_src(t, "sshTests", i, &x->src.text, err);
		if (rc)
			return rc;
		char **dsts;
		size_t n;
		rc = pol__strv_get(json_object_get(t, "dst"), &dsts, &n, err, "sshTests dst");
		if (rc)
			return rc;
		x->dsts = calloc(n + 1, sizeof(*x->dsts));
		for (size_t d = 0; x->dsts && d < n && !rc; d++) {
			struct addr_prefix p;
			const char *s = dsts[d];
			/* A hosts entry stands for its prefix, so one naming a range is refused
			 * like the range written out. */
			int h = pol__strmap_get(&pol->host_idx, s);
			bool range =
			    h >= 0 ? pol->hosts[h].prefix.bits !=
					 (pol->hosts[h].prefix.ip.family == AF_INET ? 32 : 128)
				   : strchr(s, '/') && addr_net_parse(s, &p, NULL);
			if (strcmp(s, "autogroup:internet") == 0 || strcmp(s, "*") == 0 ||
			    strcmp(s, "autogroup:danger-all") == 0 || range) {
				rc = pol__fail(err,
					       "sshTests[%zu]: SSH tests dst contains disallowed "
					       "element \"%s\"",
					       i, s);
				break;
			}
			x->dsts[d].text = strdup(s);
			if (!x->dsts[d].text)
				rc = -ENOMEM;
			x->n_dsts++;
		}
		strv_free(dsts, n);
		if (!x->dsts)
			return -ENOMEM;
		if (rc)
			return rc;
		rc = pol__strv_get(json_object_get(t, "accept"), &x->accept, &x->n_accept, err,
				   "sshTests accept");
		if (!rc)
			rc = pol__strv_get(json_object_get(t, "check"), &x->check, &x->n_check, err,
					   "sshTests check");
		if (!rc)
			rc = pol__strv_get(json_object_get(t, "deny"), &x->deny, &x->n_deny, err,
					   "sshTests deny");
		if (rc)
			return rc;
	}
	return 0;
}
