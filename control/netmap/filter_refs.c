/* A delta's filter whose rules name their sources by the previous filter's rules (#21).
 *
 * A policy change often gives a node rules whose sources it holds already: a server its
 * team's 900 laptops may now reach on 443 as well as on 22 gets a second rule listing the
 * same 1 800 addresses (~40 KB of JSON), and a rule moved by an edit above it (its "index"
 * changed) is sent again whole.  Those bytes were most of a policy change's cost at 10 000
 * nodes: sealed and sent by control, parsed by every node.  So in a delta, and only there, a
 * rule's "srcs" may be an integer i instead of a list: the sources of rule i of the filter
 * the delta is based on.
 *
 *   base:  [{"srcs":["100.64.0.7/32", ...],"dsts":["100.64.0.1/32"],"ports":[[22,22]],...}]
 *   delta: "filter":[{"srcs":0,"dsts":["100.64.0.1/32"],"ports":[[443,443]],...}, ...]
 *
 * Control (ctl__filter_refs_write) works on the two texts it keeps per node, the filter the
 * node was sent and the new one: each rule's "srcs" that is byte for byte an earlier-sent
 * rule's, and longer than an index, becomes that rule's index.  A text it does not read as
 * a filter written by ctl__filter_json's shape is written as it is: the whole list is always
 * a right answer.  The node (ctl__filter_refs_resolve) puts the base rules' lists back
 * before it decodes anything, so its netmap, its cache and everything after hold whole
 * rules; a reference to a rule the base does not have refuses the delta as one based on
 * another version is (-ESTALE: the node asks for a full map at once).  Control names sources
 * so only to a node whose map requests say "filter_refs": true (one built before this takes
 * whole lists). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sbuf.h"
#include "control/netmap/netmap_json.h"

/* shorter lists are written out: an index would not save anything worth a lookup */
#define SRCS_REF_MIN 16

/* One rule of a filter text: its "srcs" list and the rest of it up to its closing brace. */
struct span {
	const char *srcs, *rest;
	size_t srcs_len, rest_len;
};

/* The list after "srcs": at p: an array of strings without escapes or brackets, so its
 * first ']' with an even number of quotes before it ends it.  Its length, or 0.  A server's
 * list is ~40 KB: found with strchr and strcspn, the quotes counted in a loop the compiler
 * vectorizes (a byte-at-a-time scan was a third of control's work in a policy change). */
static size_t srcs_len(const char *p)
{
	if (*p != '[')
		return 0;
	const char *end = strchr(p + 1, ']');
	if (!end || p + 1 + strcspn(p + 1, "\\[{}") < end)
		return 0;
	size_t quotes = 0;
	for (const char *q = p + 1; q < end; q++)
		quotes += *q == '"';
	return quotes % 2 == 0 ? (size_t)(end - p) + 1 : 0;
}

/* The rest of an object from p (just after its first member) through its closing brace,
 * strings and nested values skipped; its length, or 0 when the text ends first. */
static size_t rest_len(const char *p)
{
	size_t depth = 0;
	bool in_str = false;
	for (const char *q = p; *q; q++) {
		if (in_str) {
			if (*q == '\\') {
				if (!q[1])
					return 0;
				q++;
			} else if (*q == '"') {
				in_str = false;
			}
		} else if (*q == '"') {
			in_str = true;
		} else if (*q == '[' || *q == '{') {
			depth++;
		} else if (*q == ']' || *q == '}') {
			if (depth == 0)
				return *q == '}' ? (size_t)(q - p) + 1 : 0;
			depth--;
		}
	}
	return 0;
}

/* The rules of a filter text as `[{"srcs":[...],...},...]` (no white space, "srcs" first);
 * -1 for any other shape, or when memory is short. */
static long spans_of(const char *t, struct span **out)
{
	static const char head[] = "{\"srcs\":";
	size_t n = 0, cap = 0;
	struct span *v = NULL;
	*out = NULL;
	if (*t++ != '[')
		return -1;
	if (*t == ']')
		return t[1] ? -1 : 0;
	for (;;) {
		if (strncmp(t, head, sizeof(head) - 1) != 0)
			goto bad;
		t += sizeof(head) - 1;
		struct span s = { .srcs = t, .srcs_len = srcs_len(t) };
		if (!s.srcs_len)
			goto bad;
		s.rest = t + s.srcs_len;
		if (!(s.rest_len = rest_len(s.rest)))
			goto bad;
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			struct span *w = realloc(v, cap * sizeof(*v));
			if (!w)
				goto bad;
			v = w;
		}
		v[n++] = s;
		t = s.rest + s.rest_len;
		if (*t == ']' && !t[1])
			break;
		if (*t++ != ',')
			goto bad;
	}
	*out = v;
	return (long)n;
bad:
	free(v);
	return -1;
}

void ctl__filter_refs_write(struct sbuf *b, const char *base, const char *filter)
{
	struct span *bs = NULL, *fs = NULL;
	long nb = spans_of(base, &bs), nf = nb > 0 ? spans_of(filter, &fs) : -1;
	if (nf <= 0) {
		sbuf_str(b, filter);
		goto out;
	}
	sbuf_str(b, "[");
	for (long i = 0; i < nf; i++) {
		const struct span *f = &fs[i];
		long j = 0;
		if (f->srcs_len > SRCS_REF_MIN)
			for (; j < nb; j++)
				if (bs[j].srcs_len == f->srcs_len &&
				    memcmp(bs[j].srcs, f->srcs, f->srcs_len) == 0)
					break;
		sbuf_str(b, i ? ",{\"srcs\":" : "{\"srcs\":");
		if (f->srcs_len > SRCS_REF_MIN && j < nb)
			sbuf_fmt(b, "%ld", j);
		else
			sbuf_add(b, f->srcs, f->srcs_len);
		sbuf_add(b, f->rest, f->rest_len);
	}
	sbuf_str(b, "]");
out:
	free(bs);
	free(fs);
}

int ctl__filter_refs_resolve(json_t *filter, json_t *base, json_t **out, char *err, size_t errlen)
{
	size_t i, refs = 0;
	json_t *r;
	*out = NULL;
	json_array_foreach(filter, i, r) refs += json_is_integer(json_object_get(r, "srcs"));
	if (!refs) { /* not a list, or one without references: the decoder judges it */
		*out = json_incref(filter);
		return 0;
	}
	json_t *a = json_array();
	if (!a)
		return -ENOMEM;
	json_array_foreach(filter, i, r)
	{
		json_t *ref = json_object_get(r, "srcs");
		if (!json_is_integer(ref)) {
			if (json_array_append(a, r))
				goto oom;
			continue;
		}
		json_int_t j = json_integer_value(ref);
		size_t nb = json_array_size(base);
		json_t *srcs = j >= 0 && (size_t)j < nb
				   ? json_object_get(json_array_get(base, (size_t)j), "srcs")
				   : NULL;
		if (!json_is_array(srcs)) { /* not the base control meant: a full map */
			json_decref(a);
			ctl__fail(
			    err, errlen,
			    "filter[%zu].srcs: rule %lld of the previous filter (of %zu rules) "
			    "has no sources to refer to",
			    i, (long long)j, nb);
			return -ESTALE;
		}
		json_t *c = json_copy(r);
		if (!c)
			goto oom;
		if (json_object_set(c, "srcs", srcs)) {
			json_decref(c);
			goto oom;
		}
		if (json_array_append_new(a, c))
			goto oom;
	}
	*out = a;
	return 0;
oom:
	json_decref(a);
	return -ENOMEM;
}
