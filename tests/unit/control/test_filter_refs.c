/* A delta's filter naming its rules' sources by the index of a rule the node holds
 * (control/netmap/filter_refs.c): control's writer to the exact bytes, texts it must write as
 * they are, the node's resolution and its refusals, a delta folded in both forms, and a
 * round trip over random filters (whatever the writer makes resolves to the filter it was
 * given, and a rule whose sources the base has is never sent whole). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/sbuf.h"
#include "control/netmap/netmap_json.h"

static unsigned long long rng = 0x2545f4914f6cdd1dull;

/* control's side: the delta's filter text */
static char *refs(const char *base, const char *filter)
{
	struct sbuf b = { 0 };
	ctl__filter_refs_write(&b, base, filter);
	CHECK(!b.oom);
	return b.s;
}

#define S1 "[\"100.64.0.7/32\",\"fd7a:115c:a1e0::7/128\"]"
#define S2 "[\"100.64.0.9/32\",\"fd7a:115c:a1e0::9/128\"]"
#define TAIL(port, index)                                                                 \
	",\"dsts\":[\"100.64.0.1/32\"],\"ports\":[[" #port "," #port "]],\"protos\":[6]," \
	"\"section\":\"acls\",\"index\":" #index "}"

static void writer(void)
{
	/* the base's rule 0 has S1, rule 1 S2: a rule moved (index 0 -> 2) and a new one with
	 * S1 name it; S2 itself, by its first rule */
	const char *base = "[{\"srcs\":" S1 TAIL(22, 0) ",{\"srcs\":" S2 TAIL(80, 1) "]";
	const char *filter = "[{\"srcs\":" S2 TAIL(80, 1) ",{\"srcs\":" S1 TAIL(
	    22, 2) ",{\"srcs\":" S1 TAIL(443, 3) "]";
	char *t = refs(base, filter);
	CHECK_STR(t, "[{\"srcs\":1" TAIL(80, 1) ",{\"srcs\":0" TAIL(22, 2) ",{\"srcs\":0" TAIL(
			 443, 3) "]");
	free(t);

	/* sources the base does not have, and short lists (an index would save nothing) */
	const char *fresh = "[{\"srcs\":[\"100.64.0.3/32\",\"fd7a:115c:a1e0::3/128\"]" TAIL(
	    22, 0) ",{\"srcs\":[\"::/0\"]" TAIL(22, 1) "]";
	const char *base2 = "[{\"srcs\":[\"::/0\"]" TAIL(80, 0) ",{\"srcs\":" S1 TAIL(22, 1) "]";
	t = refs(base2, fresh);
	CHECK_STR(t, fresh);
	free(t);

	/* texts of another shape go as they are: the whole list is always right */
	const char *other[] = {
		"[]",
		"[ {\"srcs\":" S1 TAIL(22, 0) "]", /* white space */
		"[{\"dsts\":[],\"srcs\":" S1 "}]", /* srcs not first */
		"[{\"srcs\":[\"100.64.0.7/32\\u0000\",\"fd7a:115c:a1e0::7/128\"]" TAIL(22, 0) "]",
		"[{\"srcs\":" S1 TAIL(22, 0) "]x",	 /* something after it */
		"[{\"srcs\":" S1 ",\"section\":\"acls}", /* the text ends in a string */
		"{\"srcs\":" S1 "}",
		"",
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		t = refs(base, other[i]);
		CHECK_STR(t ? t : "", other[i]);
		free(t);
	}
	/* nor does a base of another shape or without rules give any index */
	const char *one = "[{\"srcs\":" S1 TAIL(22, 0) "]";
	const char *bases[] = { "[]", "", "[{\"srcs\":" S1 TAIL(22, 0), "null" };
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		t = refs(bases[i], one);
		CHECK_STR(t, one);
		free(t);
	}
	/* a string holding brackets, braces and what a rule's start looks like is copied as
	 * it is, not taken for a rule */
#define S1_ESC "[\\\"100.64.0.7/32\\\",\\\"fd7a:115c:a1e0::7/128\\\"]"
	const char *tricky = "[{\"srcs\":" S1 ",\"section\":\"x]},{\\\"srcs\\\":" S1_ESC "\"}]";
	json_t *valid = json_loads(tricky, JSON_REJECT_DUPLICATES, NULL);
	CHECK(valid != NULL);
	json_decref(valid);
	t = refs(one, tricky);
	CHECK_STR(t, "[{\"srcs\":0,\"section\":\"x]},{\\\"srcs\\\":" S1_ESC "\"}]");
	free(t);
}

static json_t *parse(const char *t)
{
	json_t *j = json_loads(t, JSON_REJECT_DUPLICATES, NULL);
	CHECK(j != NULL);
	return j;
}

static void resolver(void)
{
	char err[256];
	json_t *base = parse("[{\"srcs\":" S1 TAIL(22, 0) ",{\"dsts\":[]}]"), *out;
	json_t *f = parse("[{\"srcs\":0" TAIL(443, 1) "]");
	CHECK_INT(ctl__filter_refs_resolve(f, base, &out, err, sizeof(err)), 0);
	json_t *want = parse("[{\"srcs\":" S1 TAIL(443, 1) "]");
	CHECK(json_equal(out, want));
	/* the list is the base's own, not a copy; the delta is left as it came */
	CHECK(json_object_get(json_array_get(out, 0), "srcs") ==
	      json_object_get(json_array_get(base, 0), "srcs"));
	CHECK(json_is_integer(json_object_get(json_array_get(f, 0), "srcs")));
	json_decref(out);
	json_decref(want);
	json_decref(f);

	/* without references: the filter itself */
	f = parse("[{\"srcs\":" S2 TAIL(80, 0) "]");
	CHECK_INT(ctl__filter_refs_resolve(f, base, &out, err, sizeof(err)), 0);
	CHECK(out == f);
	json_decref(out);
	json_decref(f);

	static const struct {
		const char *filter;
		const char *err;
	} bad[] = {
		{ "[{\"srcs\":" S2 "},{\"srcs\":2}]",
		  "filter[1].srcs: rule 2 of the previous filter (of 2 rules) has no sources to "
		  "refer to" },
		{ "[{\"srcs\":-1}]", "filter[0].srcs: rule -1 of the previous filter (of 2 rules) "
				     "has no sources to refer to" },
		{ "[{\"srcs\":1}]", "filter[0].srcs: rule 1 of the previous filter (of 2 rules) "
				    "has no sources to refer to" },
		{ "[{\"srcs\":9223372036854775807}]",
		  "filter[0].srcs: rule 9223372036854775807 of the previous filter (of 2 rules) "
		  "has no sources to refer to" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = parse(bad[i].filter);
		err[0] = '\0';
		out = (json_t *)1;
		CHECK_INT(ctl__filter_refs_resolve(f, base, &out, err, sizeof(err)), -ESTALE);
		CHECK_STR(err, bad[i].err);
		CHECK(out == NULL);
		json_decref(f);
	}
	/* no base filter at all (a netmap without one) */
	f = parse("[{\"srcs\":0}]");
	CHECK_INT(ctl__filter_refs_resolve(f, NULL, &out, err, sizeof(err)), -ESTALE);
	CHECK_STR(err, "filter[0].srcs: rule 0 of the previous filter (of 0 rules) has no sources "
		       "to refer to");
	json_decref(f);
	json_decref(base);
}

/* A delta with references, folded by both folds, equals the one with whole rules; a bad
 * reference refuses it and changes nothing. */
static void fold(void)
{
	const char *full =
	    "{\"type\":\"full\",\"version\":1,\"netmap\":{\"version\":1,"
	    "\"domain\":\"mesh.internal\",\"self\":{\"id\":1,\"node_key\":"
	    "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\",\"addresses\":["
	    "\"100.64.0.1/32\"]},\"peers\":[],\"filter\":[{\"srcs\":" S1 TAIL(22, 0) "],"
										     "\"ssh\":[]}}";
	const char *with_ref = "{\"type\":\"delta\",\"version\":2,\"base\":1,\"filter\":["
			       "{\"srcs\":0" TAIL(22, 1) ",{\"srcs\":0" TAIL(443, 2) "]}";
	const char *whole = "{\"type\":\"delta\",\"version\":2,\"base\":1,\"filter\":["
			    "{\"srcs\":" S1 TAIL(22, 1) ",{\"srcs\":" S1 TAIL(443, 2) "]}";
	char err[256];
	char *a = NULL, *b = NULL;
	CHECK_INT(ctl_netmap_apply(&a, full, strlen(full), err, sizeof(err)), 0);
	CHECK_INT(ctl_netmap_apply(&b, full, strlen(full), err, sizeof(err)), 0);
	CHECK_INT(ctl_netmap_apply(&a, with_ref, strlen(with_ref), err, sizeof(err)), 0);
	CHECK_INT(ctl_netmap_apply(&b, whole, strlen(whole), err, sizeof(err)), 0);
	CHECK_STR(a, b);
	free(a);
	free(b);

	json_t *js = NULL, *m = parse(full);
	struct ctl_netmap *nm = NULL;
	bool ka;
	CHECK_INT(ctl__netmap_fold_both(&js, &nm, m, &ka, err, sizeof(err)), 0);
	json_decref(m);
	const char *bad = "{\"type\":\"delta\",\"version\":2,\"base\":1,\"filter\":["
			  "{\"srcs\":1" TAIL(22, 1) "]}";
	char *before = json_dumps(js, JSON_COMPACT);
	m = parse(bad);
	CHECK_INT(ctl__netmap_fold_both(&js, &nm, m, &ka, err, sizeof(err)), -ESTALE);
	CHECK_STR(err, "filter[0].srcs: rule 1 of the previous filter (of 1 rules) has no sources "
		       "to refer to");
	json_decref(m);
	char *after = json_dumps(js, JSON_COMPACT);
	CHECK_STR(after, before);
	CHECK_INT(nm->version, 1);
	free(after);
	free(before);
	m = parse(with_ref);
	CHECK_INT(ctl__netmap_fold_both(&js, &nm, m, &ka, err, sizeof(err)), 0);
	json_decref(m);
	CHECK_INT(nm->n_filter, 2);
	CHECK_INT(nm->n_filter == 2 ? nm->filter[1]->n_srcs : 0, 2);
	CHECK(nm->n_filter == 2 && nm->filter[1]->n_srcs == nm->filter[0]->n_srcs &&
	      memcmp(nm->filter[1]->srcs, nm->filter[0]->srcs,
		     nm->filter[0]->n_srcs * sizeof(*nm->filter[0]->srcs)) == 0);
	CHECK_INT(nm->n_filter == 2 ? nm->filter[1]->ports[0].first : 0, 443);
	ctl_netmap_free(nm);
	json_decref(js);
}

/* Random filters from a few source lists (some short, some the same): the delta's text
 * resolves to the filter, and every long list the base has is an index. */
static void round_trip(void)
{
	static const char *const lists[] = {
		S1,
		S2,
		"[]",
		"[\"::/0\"]",
		"[\"100.64.0.0/10\",\"fd7a:115c:a1e0::/48\"]",
		"[\"100.64.0.2/32\",\"100.64.0.3/32\",\"100.64.0.4/32\"]",
		/* 15, 16 and 17 bytes: only the last is long enough to name by index */
		"[\"10.2.3.4/32\"]",
		"[\"10.20.3.4/32\"]",
		"[\"10.20.30.4/32\"]",
	};
	size_t n_lists = sizeof(lists) / sizeof(lists[0]);
	char err[256];
	int bad = 0;
	unsigned named = 0;
	for (int round = 0; round < 3000; round++) {
		struct sbuf t[2] = { { 0 } };
		for (int k = 0; k < 2; k++) {
			unsigned n = check_rand(&rng, 5);
			sbuf_str(&t[k], "[");
			for (unsigned i = 0; i < n; i++) {
				sbuf_fmt(&t[k], "%s{\"srcs\":", i ? "," : "");
				sbuf_str(&t[k], lists[check_rand(&rng, (unsigned)n_lists)]);
				sbuf_fmt(&t[k],
					 ",\"dsts\":[],\"ports\":[[%u,%u]],\"section\":\"acls\","
					 "\"index\":%u}",
					 i, i, check_rand(&rng, 3));
			}
			sbuf_str(&t[k], "]");
		}
		char *d = refs(t[0].s, t[1].s);
		json_t *base = parse(t[0].s), *want = parse(t[1].s), *got = parse(d), *out = NULL;
		size_t i;
		json_t *r;
		json_array_foreach(got, i, r)
		{
			json_t *s = json_object_get(r, "srcs");
			named += json_is_integer(s);
			if (json_is_integer(s)) { /* and what it names is longer than 16 bytes */
				json_t *bs = json_object_get(
				    json_array_get(base, (size_t)json_integer_value(s)), "srcs");
				char *st = bs ? json_dumps(bs, JSON_COMPACT) : NULL;
				if (!st || strlen(st) <= 16)
					bad++;
				free(st);
			}
			/* a long list sent whole is one the base does not have */
			if (json_is_array(s)) {
				char *st = json_dumps(s, JSON_COMPACT), key[256];
				snprintf(key, sizeof(key), "\"srcs\":%s", st);
				if (strlen(st) > 16 && strstr(t[0].s, key))
					bad++;
				free(st);
			}
		}
		if (ctl__filter_refs_resolve(got, base, &out, err, sizeof(err)) != 0 ||
		    !json_equal(out, want)) {
			if (bad++ < 3)
				fprintf(stderr, "base %s\nfilter %s\nsent %s\n", t[0].s, t[1].s, d);
		}
		json_decref(out);
		json_decref(base);
		json_decref(want);
		json_decref(got);
		free(d);
		free(t[0].s);
		free(t[1].s);
	}
	CHECK_INT(bad, 0);
	fprintf(stderr, "%u rules named their sources by index\n", named);
	CHECK(named > 500);
}

int main(void)
{
	writer();
	resolver();
	fold();
	round_trip();
	return check_finish();
}
