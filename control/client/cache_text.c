/* The netmap cache's text: the bytes json_dumps(netmap, JSON_COMPACT) would give, made
 * without serializing again the peers that did not change since the last time.
 *
 * A server node sees hundreds of peers, and a policy change sends it a new filter and no
 * peer at all; writing its whole netmap as JSON after each delta cost more than folding the
 * delta (#21).  The fold (control/netmap/delta.c) keeps an unchanged peer's JSON object
 * and makes a new object for a changed one, and no one changes a peer object in place, so
 * the object's address names its text.  Each text is kept with a reference to its object:
 * while the table holds it the address cannot be reused by a newer peer.  The same goes for
 * each filter rule's "srcs" list: a delta that names a rule's sources by index leaves the new
 * rule holding the list object of the old one (control/netmap/filter_refs.c). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sbuf.h"
#include "control/client/internal.h"

struct ctl__peer_text {
	json_t *obj; /* a reference; NULL: an empty slot */
	char *text;
	size_t len;
};

/* json_dump_callback's sink: the text being made (common/sbuf.h). */
static int text_sink(const char *s, size_t n, void *ctx)
{
	struct sbuf *b = ctx;
	sbuf_add(b, s, n);
	return b->oom ? -1 : 0;
}

/* j through jansson itself (a real: its own number format) */
static void dump_jansson(struct sbuf *b, json_t *j)
{
	if (json_dump_callback(j, text_sink, b, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
		b->oom = true;
}

/* A string as jansson 2.14's dump_string writes it with JSON_COMPACT alone: '"' and '\\'
 * escaped, \b \f \n \r \t by name, other bytes below 0x20 as \u00XX (upper-case hex),
 * everything else (DEL, '/', UTF-8, which jansson has checked) as it is. */
static void dump_string(struct sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0;
	sbuf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sbuf_add(b, s + run, i - run);
		run = i + 1;
		static const char named[] = "\b\f\n\r\t\"\\", names[] = "bfnrt\"\\";
		const char *k = memchr(named, c, sizeof(named) - 1);
		char esc[6] = {
			'\\', k ? names[k - named] : 'u', '0', '0', hex[c >> 4], hex[c & 15]
		};
		size_t len = k ? 2 : 6;
		sbuf_add(b, esc, len);
	}
	sbuf_add(b, s + run, n - run);
	sbuf_add(b, "\"", 1);
}

/* j exactly as json_dumps(j, JSON_COMPACT) writes it inside a larger value, without going
 * through jansson's dump for all but reals: its callback per token was 27 % of a server
 * node's change (a new filter of ~3 600 address strings, written to the cache; #21).  Unit
 * control-cache holds the two equal over random JSON. */
static void dump(struct sbuf *b, json_t *j);

static void cached_text(struct sbuf *b, json_t *obj, struct ctl__cache_texts *old,
			struct ctl__cache_texts *fresh);

/* An object; with fresh, its "srcs" list's text cached (a filter rule's: cached_array). */
static void dump_object(struct sbuf *b, json_t *j, struct ctl__cache_texts *old,
			struct ctl__cache_texts *fresh)
{
	const char *key;
	size_t keylen;
	json_t *v;
	bool first = true;
	sbuf_add(b, "{", 1);
	json_object_keylen_foreach(j, key, keylen, v)
	{
		if (!first)
			sbuf_add(b, ",", 1);
		first = false;
		dump_string(b, key, keylen);
		sbuf_add(b, ":", 1);
		if (fresh && json_is_array(v) && keylen == 4 && memcmp(key, "srcs", 4) == 0)
			cached_text(b, v, old, fresh);
		else
			dump(b, v);
	}
	sbuf_add(b, "}", 1);
}

static void dump(struct sbuf *b, json_t *j)
{
	size_t i;
	json_t *v;
	char num[32];
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		dump_object(b, j, NULL, NULL);
		break;
	case JSON_ARRAY:
		sbuf_add(b, "[", 1);
		json_array_foreach(j, i, v)
		{
			if (i)
				sbuf_add(b, ",", 1);
			dump(b, v);
		}
		sbuf_add(b, "]", 1);
		break;
	case JSON_STRING:
		dump_string(b, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		sbuf_str(b, num);
		break;
	case JSON_TRUE:
		sbuf_add(b, "true", 4);
		break;
	case JSON_FALSE:
		sbuf_add(b, "false", 5);
		break;
	case JSON_NULL:
		sbuf_add(b, "null", 4);
		break;
	default:
		dump_jansson(b, j);
	}
}

static size_t slot_of(const json_t *obj, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)obj * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 17) & (cap - 1);
}

static struct ctl__peer_text *find(struct ctl__cache_texts *t, const json_t *obj)
{
	if (!t->cap)
		return NULL;
	for (size_t i = slot_of(obj, t->cap);; i = (i + 1) & (t->cap - 1)) {
		if (t->slots[i].obj == obj)
			return &t->slots[i];
		if (!t->slots[i].obj)
			return NULL;
	}
}

/* obj's slot in a table with room (at most half full) */
static struct ctl__peer_text *insert(struct ctl__cache_texts *t, json_t *obj)
{
	size_t i = slot_of(obj, t->cap);
	while (t->slots[i].obj)
		i = (i + 1) & (t->cap - 1);
	t->n++;
	return &t->slots[i];
}

void ctl__cache_texts_clear(struct ctl__cache_texts *t)
{
	for (size_t i = 0; i < t->cap; i++) {
		json_decref(t->slots[i].obj);
		free(t->slots[i].text);
	}
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* obj's text, from old when it is there (moved into fresh), else made now; fresh ends up
 * holding it. */
static void cached_text(struct sbuf *b, json_t *obj, struct ctl__cache_texts *old,
			struct ctl__cache_texts *fresh)
{
	struct ctl__peer_text *e = find(fresh, obj); /* the same object twice */
	if (!e) {
		struct ctl__peer_text *o = find(old, obj);
		e = insert(fresh, obj);
		if (o && o->text) { /* a slot a failed call moved out is made again */
			*e = *o;
			o->text = NULL; /* moved; o->obj's reference goes with it */
			o->obj = json_incref(o->obj);
		} else {
			struct sbuf pb = { 0 };
			dump(&pb, obj);
			if (pb.oom) {
				free(pb.s);
				pb.s = NULL;
				pb.len = 0;
			}
			e->text = pb.s;
			e->len = pb.len;
			e->obj = json_incref(obj);
		}
	}
	if (!e->text)
		b->oom = true;
	else
		sbuf_add(b, e->text, e->len);
}

/* The peers array, each element's text cached; or (rules) the filter, each rule's "srcs"
 * list's text cached: a delta naming a rule's sources by index (control/netmap/filter_refs.c)
 * leaves the new rule holding the old rule's list object, so a server's 1 800 addresses are
 * written from the text of last time. */
static void cached_array(struct sbuf *b, json_t *a, bool rules, struct ctl__cache_texts *old,
			 struct ctl__cache_texts *fresh)
{
	size_t i;
	json_t *e;
	sbuf_add(b, "[", 1);
	json_array_foreach(a, i, e)
	{
		if (i)
			sbuf_add(b, ",", 1);
		if (!rules)
			cached_text(b, e, old, fresh);
		else if (json_is_object(e))
			dump_object(b, e, old, fresh);
		else
			dump(b, e);
	}
	sbuf_add(b, "]", 1);
}

char *ctl__cache_text(struct ctl__cache_texts *t, json_t *netmap, size_t *len)
{
	struct ctl__cache_texts fresh = { 0 };
	struct sbuf b = { 0 };
	json_t *peers = json_object_get(netmap, "peers"), *v;
	json_t *filter = json_object_get(netmap, "filter");
	const char *key;
	size_t keylen;
	bool first = true;
	if (json_is_array(peers) || json_is_array(filter)) {
		size_t cap = 16;
		while (cap < 2 * (json_array_size(peers) + json_array_size(filter)) + 2)
			cap *= 2;
		if (!(fresh.slots = calloc(cap, sizeof(*fresh.slots))))
			return NULL;
		fresh.cap = cap;
	}
	/* one buffer as big as the last text and a little more: growing it by doubling cost
	 * 2.6 % of a server's change in copies (callgrind), and as much again in page faults */
	if (t->last_len)
		sbuf_reserve(&b, t->last_len + 4096);
	if (b.oom) {
		ctl__cache_texts_clear(&fresh);
		return NULL;
	}
	if (!json_is_object(netmap)) {
		dump(&b, netmap);
		goto out;
	}
	/* json_dumps' own order: the object's iteration order (keys as inserted) */
	sbuf_add(&b, "{", 1);
	json_object_keylen_foreach(netmap, key, keylen, v)
	{
		if (!first)
			sbuf_add(&b, ",", 1);
		first = false;
		dump_string(&b, key, keylen);
		sbuf_add(&b, ":", 1);
		if (v == peers && json_is_array(peers))
			cached_array(&b, peers, false, t, &fresh);
		else if (v == filter && json_is_array(filter))
			cached_array(&b, filter, true, t, &fresh);
		else
			dump(&b, v);
	}
	sbuf_add(&b, "}", 1);
out:
	if (b.oom) {
		/* the texts moved into fresh go with it: the next time makes them again */
		ctl__cache_texts_clear(&fresh);
		free(b.s);
		return NULL;
	}
	ctl__cache_texts_clear(t); /* the peers gone since, and the moved slots' references */
	*t = fresh;
	t->last_len = b.len;
	*len = b.len;
	return b.s;
}
