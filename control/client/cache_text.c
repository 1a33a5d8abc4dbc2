/* The netmap cache's text: the bytes json_dumps(netmap, JSON_COMPACT) would give, made
 * without serializing again the peers that did not change since the last time.
 *
 * A server node sees hundreds of peers, and a policy change sends it a new filter and no
 * peer at all; writing its whole netmap as JSON after each delta cost more than folding the
 * delta (#21).  The fold (control/netmap/delta.c) keeps an unchanged peer's JSON object
 * and makes a new object for a changed one, and no one changes a peer object in place, so
 * the object's address names its text.  Each text is kept with a reference to its object:
 * while the table holds it the address cannot be reused by a newer peer. */
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

/* j exactly as json_dumps(j, JSON_COMPACT) writes it inside a larger value */
static void dump(struct sbuf *b, json_t *j)
{
	if (json_dump_callback(j, text_sink, b, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
		b->oom = true;
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

/* The peers array, each element's text from old when it is there (moved into fresh), else
 * made now; fresh ends up holding the text of every element. */
static void peers_text(struct sbuf *b, json_t *peers, struct ctl__cache_texts *old,
		       struct ctl__cache_texts *fresh)
{
	size_t i;
	json_t *p;
	sbuf_add(b, "[", 1);
	json_array_foreach(peers, i, p)
	{
		if (i)
			sbuf_add(b, ",", 1);
		struct ctl__peer_text *e = find(fresh, p); /* the same object twice */
		if (!e) {
			struct ctl__peer_text *o = find(old, p);
			e = insert(fresh, p);
			if (o && o->text) { /* a slot a failed call moved out is made again */
				*e = *o;
				o->text = NULL; /* moved; o->obj's reference goes with it */
				o->obj = json_incref(o->obj);
			} else {
				e->text = json_dumps(p, JSON_COMPACT | JSON_ENCODE_ANY);
				e->len = e->text ? strlen(e->text) : 0;
				e->obj = json_incref(p);
			}
		}
		if (!e->text)
			b->oom = true;
		else
			sbuf_add(b, e->text, e->len);
	}
	sbuf_add(b, "]", 1);
}

char *ctl__cache_text(struct ctl__cache_texts *t, json_t *netmap, size_t *len)
{
	struct ctl__cache_texts fresh = { 0 };
	struct sbuf b = { 0 };
	json_t *peers = json_object_get(netmap, "peers"), *v;
	const char *key;
	size_t keylen;
	bool first = true;
	if (json_is_array(peers)) {
		size_t cap = 16;
		while (cap < 2 * json_array_size(peers) + 2)
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
		json_t *k = json_stringn_nocheck(key, keylen);
		if (!k) {
			b.oom = true;
			break;
		}
		if (!first)
			sbuf_add(&b, ",", 1);
		first = false;
		dump(&b, k);
		json_decref(k);
		sbuf_add(&b, ":", 1);
		if (v == peers && json_is_array(peers))
			peers_text(&b, peers, t, &fresh);
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
