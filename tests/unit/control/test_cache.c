/* The netmap cache (control/client/cache.c, cache_text.c):
 *
 *  1. its text: ctl__cache_text, which keeps each unchanged peer's text, gives the bytes
 *     json_dumps(netmap, JSON_COMPACT) gives, over 3 000 random netmaps of arbitrary JSON
 *     (strings that need escapes, reals, nested values, keys added and removed, peers
 *     replaced, removed, added, moved, one object twice, "peers" not an array) and 3 000
 *     real map messages folded as the client folds them (ctl__netmap_fold_both);
 *  2. when it is written: ctl__cache_delay over a numbered table (1 s after a quiet spell,
 *     at most every 5 s while changes keep coming, a full map after 1 s whatever the
 *     interval), and which messages are written after 1 s whatever the interval
 *     (ctl__cache_prompt over a numbered table: a full map, a delta with peers removed, a
 *     filter or SSH rules; not one of peers changed, self, relays, DNS or kills alone);
 *  3. a node restarted right after a change: a node registers with a control server on
 *     loopback, its cache is written, another node joins (a delta whose write the interval
 *     puts off), the node is freed at once; the file then holds exactly the netmap the node
 *     had, and the node started again hands over that version and peer list from its cache;
 *  4. a change that takes access away (review-70 #5): a node's peer joins (a delta the
 *     interval puts off), then logs out (its key expires: a delta removing it), and the node's
 *     file has that delta within 1 s of it, not at the interval's end (appended to
 *     netmap.deltas, the netmap.json of the first full map left as it was);
 *  5. the deltas read back (ctl__cache_read): folded in order after netmap.json; a last
 *     record cut at each of its bytes (a crash during the append), one based on another
 *     version, not JSON or not a map message, and lengths that are not one leave it and
 *     what follows out; no netmap.json or one that is not JSON: no cache at all;
 *  6. a write that fails is tried again: a node's netmap.deltas is made a directory, a peer
 *     joins (a delta to append: refused, EISDIR), the directory goes, and within the interval
 *     the node writes its netmap whole (netmap.json at the delta's version, no deltas). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "common/file.h"
#include "common/now.h"
#include "control/client/internal.h"
#include "control/netmap/netmap_json.h"
#include "control/server/ident.h"
#include "control/server/server.h"
#include "control/server/store.h"
#include "tailnet.h"

static unsigned long long rng = 0x2545f4914f6cdd1dull;
static unsigned rnd(unsigned n)
{
	return check_rand(&rng, n);
}

/* ---- 1. the text ---- */

static const char *const odd_strings[] = {
	"",	    "a\"b",	   "back\\slash",	"tab\there",	    "nl\n",
	"\x01\x1f", "caf\xc3\xa9", "\xe2\x82\xac",	"\xf0\x9f\x94\x91", "a/b",
	"\x7f",	    "<script>",	   "b\bf\fr\r\x02\x1e",
};

static json_t *random_value(int depth)
{
	unsigned k = rnd(depth > 2 ? 6 : 8);
	switch (k) {
	case 0:
		return json_integer((json_int_t)rnd(1u << 31) * (rnd(2) ? -1 : 1) *
				    (json_int_t)(1 + rnd(1000)));
	case 1:
		return json_real((double)rnd(100000) / (1 + rnd(97)) * (rnd(2) ? -1 : 1));
	case 2:
		if (!rnd(8)) /* a NUL inside: "\u0000" */
			return json_stringn("n\0ul\0", 5);
		return json_string(odd_strings[rnd(sizeof(odd_strings) / sizeof(*odd_strings))]);
	case 3:
		return rnd(2) ? json_true() : json_false();
	case 4:
		return json_null();
	case 5: {
		char s[16];
		snprintf(s, sizeof(s), "v%u", rnd(100000));
		return json_string(s);
	}
	case 6: {
		json_t *a = json_array();
		for (unsigned i = rnd(4); i > 0; i--)
			json_array_append_new(a, random_value(depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (unsigned i = rnd(5); i > 0; i--) {
			char key[24];
			snprintf(key, sizeof(key), "%s%u", rnd(4) ? "k" : "\xc3\xa9\"", rnd(8));
			json_object_set_new(o, key, random_value(depth + 1));
		}
		return o;
	}
	}
}

static json_t *random_peer(unsigned id)
{
	json_t *p = json_pack("{s:I}", "id", (json_int_t)id);
	for (unsigned i = rnd(6); i > 0; i--) {
		char key[16];
		snprintf(key, sizeof(key), "f%u", rnd(10));
		json_object_set_new(p, key, random_value(1));
	}
	return p;
}

static const char *const top_keys[] = {
	"version", "domain", "self", "peers", "filter", "ssh", "relays", "dns", "k\"\xc3\xa9\t",
};

/* One step of a netmap's life: peers replaced, removed, added, moved (never changed in
 * place: the contract the fold keeps); top-level members replaced, added, removed. */
static void evolve(json_t *nm, unsigned step)
{
	json_t *peers = json_object_get(nm, "peers");
	if (json_is_array(peers) && rnd(8)) {
		json_t *np = json_array();
		size_t i;
		json_t *p;
		json_array_foreach(peers, i, p)
		{
			unsigned r = rnd(20);
			if (r == 0)
				continue; /* removed */
			if (r == 1)
				json_array_append_new(np, random_peer(rnd(1000))); /* changed */
			else
				json_array_append(np, p);
			if (r == 2)
				json_array_append_new(np, random_peer(1000 + step)); /* added */
		}
		if (json_array_size(np) > 2 && rnd(4) == 0) { /* moved */
			size_t a = rnd((unsigned)json_array_size(np)),
			       b = rnd((unsigned)json_array_size(np));
			json_t *pa = json_incref(json_array_get(np, a));
			json_array_set(np, a, json_array_get(np, b));
			json_array_set_new(np, b, pa);
		}
		if (json_array_size(np) && rnd(30) == 0) /* one object twice */
			json_array_append(np, json_array_get(np, 0));
		json_object_set_new(nm, "peers", np);
	} else if (rnd(3) == 0) {
		/* peers as something else, gone, or a new array */
		unsigned r = rnd(3);
		if (r == 0)
			json_object_set_new(nm, "peers", json_string("not an array"));
		else if (r == 1)
			json_object_del(nm, "peers");
		else
			json_object_set_new(nm, "peers", json_array());
	}
	for (unsigned i = rnd(3); i > 0; i--) {
		const char *k = top_keys[rnd(sizeof(top_keys) / sizeof(*top_keys))];
		if (strcmp(k, "peers") == 0)
			continue;
		if (rnd(5) == 0)
			json_object_del(nm, k);
		else
			json_object_set_new(nm, k, random_value(1));
	}
}

/* t's text of nm against json_dumps'; false (and why on stderr) when they differ */
static bool text_same(struct ctl__cache_texts *t, json_t *nm, const char *what, unsigned step)
{
	size_t len = 0;
	char *got = ctl__cache_text(t, nm, &len), *want = json_dumps(nm, JSON_COMPACT);
	bool same = got && want && len == strlen(want) && strcmp(got, want) == 0;
	if (!same)
		fprintf(stderr, "%s, step %u:\n  got:  %.400s\n  want: %.400s\n", what, step,
			got ? got : "(null)", want ? want : "(null)");
	free(got);
	free(want);
	return same;
}

static void random_json_cases(void)
{
	struct ctl__cache_texts t = { 0 };
	json_t *nm = json_object();
	json_t *peers = json_array();
	for (unsigned i = 0; i < 50; i++)
		json_array_append_new(peers, random_peer(i));
	json_object_set_new(nm, "version", json_integer(1));
	json_object_set_new(nm, "peers", peers);
	int bad = 0;
	for (unsigned step = 0; step < 3000 && bad < 3; step++) {
		if (step % 500 == 499) { /* a new netmap now and then (a full map) */
			json_decref(nm);
			nm = json_object();
			json_object_set_new(nm, "peers", json_array());
		}
		evolve(nm, step);
		bad += !text_same(&t, nm, "random JSON", step);
	}
	CHECK_INT(bad, 0);
	/* the table holds the current peers, and no more */
	peers = json_object_get(nm, "peers");
	size_t distinct = 0;
	for (size_t i = 0; json_is_array(peers) && i < json_array_size(peers); i++) {
		bool seen = false;
		for (size_t k = 0; k < i; k++)
			seen |= json_array_get(peers, k) == json_array_get(peers, i);
		distinct += !seen;
	}
	CHECK_INT(t.n, distinct);
	json_decref(nm);
	/* the empty cases: a netmap that is not an object, an empty one */
	json_t *odd[] = { json_array(), json_object(), json_pack("{s:[]}", "peers") };
	for (size_t i = 0; i < 3; i++) {
		CHECK(text_same(&t, odd[i], "odd netmap", (unsigned)i));
		json_decref(odd[i]);
	}
	ctl__cache_texts_clear(&t);
}

/* A node with random fields, through the codec's own encoder. */
static json_t *codec_node(uint64_t id, unsigned gen)
{
	struct ctl_node n;
	char name[48], owner[48], addr[32], ep[2][32], *eps[2] = { ep[0], ep[1] };
	char *tags[2] = { "tag:web", "tag:db" };
	memset(&n, 0, sizeof(n));
	snprintf(name, sizeof(name), "host-%llu-%u", (unsigned long long)id, gen);
	snprintf(owner, sizeof(owner), "u%u@ex\xc3\xa4mple.com", gen % 7);
	snprintf(addr, sizeof(addr), "100.%u.%u.%u", 64 + (unsigned)(id >> 16) % 64,
		 (unsigned)(id >> 8) & 255, (unsigned)id & 255);
	snprintf(ep[0], sizeof(ep[0]), "198.51.100.%u:%u", gen % 256, 1024 + gen % 60000);
	snprintf(ep[1], sizeof(ep[1]), "[2001:db8::%x]:41641", gen);
	n.id = id;
	n.name = name;
	if (rnd(3)) {
		n.owner = owner;
	} else {
		n.tags = tags;
		n.n_tags = 1 + rnd(2);
	}
	for (size_t i = 0; i < 32; i++)
		n.node_key[i] = (uint8_t)rnd(256);
	n.has_disco_key = rnd(2);
	memset(n.disco_key, (int)gen, 32);
	n.key_expiry = rnd(2) ? 1700000000 + gen : 0;
	addr_prefix_parse(addr, &n.addrs[0], NULL);
	n.n_addrs = 1;
	n.endpoints = eps;
	n.n_endpoints = rnd(3);
	n.online = rnd(2);
	n.last_seen = rnd(2) ? 1700000000 + gen : 0;
	return ctl__node_json(&n);
}

/* A new filter for a delta: 1-3 rules, each with fresh sources or, when base has rules, a
 * rule's sources named by index (control/netmap/filter_refs.c). */
static json_t *random_filter(json_t *base, unsigned gen)
{
	json_t *f = json_array();
	for (unsigned i = 1 + rnd(3); i > 0; i--) {
		json_t *srcs;
		if (json_array_size(base) && rnd(2)) {
			srcs = json_integer(rnd((unsigned)json_array_size(base)));
		} else {
			srcs = json_array();
			for (unsigned k = 1 + rnd(20); k > 0; k--) {
				char a[32];
				snprintf(a, sizeof(a), "100.64.%u.%u/32", rnd(4), rnd(250));
				json_array_append_new(srcs, json_string(a));
			}
		}
		json_array_append_new(f, json_pack("{s:o, s:[s], s:[[i, i]], s:[i], s:s, s:i}",
						   "srcs", srcs, "dsts", "100.64.0.1/32", "ports",
						   (int)(gen % 65536), (int)(gen % 65536), "protos",
						   6, "section", "acls", "index", (int)i));
	}
	return f;
}

/* The filter's distinct "srcs" list objects (the cache keeps a text for each). */
static size_t srcs_objects(json_t *filter)
{
	size_t n = 0, i, k;
	json_t *r, *q;
	json_array_foreach(filter, i, r)
	{
		json_t *s = json_object_get(r, "srcs");
		bool seen = false;
		json_array_foreach(filter, k, q)
		{
			if (k < i && json_object_get(q, "srcs") == s)
				seen = true;
		}
		n += json_is_array(s) && !seen;
	}
	return n;
}

static void fold_cases(void)
{
	struct ctl__cache_texts t = { 0 };
	json_t *json = NULL;
	struct ctl_netmap *nm = NULL;
	char err[256];
	bool ka;
	json_t *peers = json_array();
	for (uint64_t id = 2; id < 300; id++)
		json_array_append_new(peers, codec_node(id, 0));
	json_t *full = json_pack("{s:s, s:i, s:{s:i, s:s, s:o, s:o, s:[], s:[]}}", "type", "full",
				 "version", 1, "netmap", "version", 1, "domain", "mesh.internal",
				 "self", codec_node(1, 0), "peers", peers, "filter", "ssh");
	CHECK_INT(ctl__netmap_fold_both(&json, &nm, full, &ka, err, sizeof(err)), 0);
	json_decref(full);
	int bad = !text_same(&t, json, "full map", 0);
	json_int_t v = 1;
	for (unsigned gen = 1; gen <= 3000 && bad < 3; gen++) {
		json_t *m =
		    json_pack("{s:s, s:I, s:I}", "type", "delta", "base", v, "version", v + 1);
		json_t *ch = json_array(), *rm = json_array();
		for (unsigned i = rnd(4); i > 0; i--) /* distinct ids */
			json_array_append_new(ch, codec_node(2 + (gen * 13 + i * 101) % 400, gen));
		for (unsigned i = rnd(3); i > 0; i--)
			json_array_append_new(rm, json_integer(2 + rnd(400)));
		json_object_set_new(m, "peers_changed", ch);
		json_object_set_new(m, "peers_removed", rm);
		if (rnd(3) == 0)
			json_object_set_new(m, "self", codec_node(1, gen));
		if (rnd(5) == 0)
			json_object_set_new(m, "domain", json_string(gen % 2 ? "a.ts" : "b.ts"));
		if (rnd(4) == 0)
			json_object_set_new(m, "filter",
					    random_filter(json_object_get(json, "filter"), gen));
		int rc = ctl__netmap_fold_both(&json, &nm, m, &ka, err, sizeof(err));
		json_decref(m);
		if (rc) {
			fprintf(stderr, "delta %u refused: %s\n", gen, err);
			bad++;
			break;
		}
		v++;
		if (rnd(3)) /* not every delta is written (the interval) */
			bad += !text_same(&t, json, "folded deltas", gen);
	}
	bad += !text_same(&t, json, "folded deltas, the last", 0);
	CHECK_INT(bad, 0);
	/* a text for each peer and each rule's sources list: those named by index kept */
	CHECK_INT(t.n, (nm ? nm->n_peers : 0) + srcs_objects(json_object_get(json, "filter")));
	ctl__cache_texts_clear(&t);
	json_decref(json);
	ctl_netmap_free(nm);
}

/* ---- 2. when ---- */

static const struct delay_case {
	uint64_t now;
	bool written;
	uint64_t last;
	bool full;
	uint64_t want;
} delay_cases[] = {
	/* 1 */ { 5000, false, 0, false, 1000 },      /* never written: 1 s */
	/* 2 */ { 100000, true, 10000, false, 1000 }, /* a quiet spell since: 1 s */
	/* 3 */ { 14000, true, 10000, false, 1000 },  /* 4 s since: 1 s makes the 5 */
	/* 4 */ { 14001, true, 10000, false, 1000 },  /* past that, still 1 s */
	/* 5 */ { 13999, true, 10000, false, 1001 },  /* the interval: 5 s after the last */
	/* 6 */ { 10500, true, 10000, false, 4500 },  /* a burst right after a write */
	/* 7 */ { 10000, true, 10000, false, 5000 },
	/* 8 */ { 10500, true, 10000, true, 1000 }, /* a full map: 1 s whatever the interval */
	/* 9 */ { 3, true, 0, false, 4997 },	    /* loop time near its start */
};

static void delay_table(void)
{
	for (size_t i = 0; i < sizeof(delay_cases) / sizeof(*delay_cases); i++) {
		const struct delay_case *d = &delay_cases[i];
		uint64_t got = ctl__cache_delay(d->now, d->written, d->last, d->full);
		if (got != d->want)
			fprintf(stderr, "delay case %zu: %llu ms, want %llu\n", i + 1,
				(unsigned long long)got, (unsigned long long)d->want);
		CHECK_INT(got, d->want);
	}
}

static const struct prompt_case {
	const char *msg;
	bool want;
} prompt_cases[] = {
	/* 1 */ { "{\"type\":\"full\",\"version\":2,\"netmap\":{}}", true },
	/* 2 */ { "{\"type\":\"delta\",\"version\":3,\"base\":2,\"peers_removed\":[7]}", true },
	/* 3 */ { "{\"type\":\"delta\",\"version\":3,\"base\":2,\"filter\":[]}", true },
	/* 4 */ { "{\"type\":\"delta\",\"version\":3,\"base\":2,\"ssh\":[]}", true },
	/* 5 */
	{ "{\"type\":\"delta\",\"version\":3,\"base\":2,\"peers_changed\":[{\"id\":7}],"
	  "\"ssh\":[{\"action\":\"accept\"}]}",
	  true },
	/* 6 */
	{ "{\"type\":\"delta\",\"version\":3,\"base\":2,\"peers_changed\":[{\"id\":7}]}",
	  false }, /* peers online, endpoints: the interval */
	/* 7 */
	{ "{\"type\":\"delta\",\"version\":3,\"base\":2,\"self\":{},\"relays\":[],\"dns\":null,"
	  "\"kill_sessions\":[]}",
	  false },
	/* 8 */ { "{\"type\":\"keepalive\",\"version\":2}", false },
	/* 9 */ { "{\"type\":\"keepalive\",\"version\":2,\"filter\":[]}", false },
	/* 10 */ { "{\"version\":2,\"filter\":[]}", false }, /* no type: refused anyway */
	/* 11 */ { "[]", false },
};

static void prompt_table(void)
{
	for (size_t i = 0; i < sizeof(prompt_cases) / sizeof(*prompt_cases); i++) {
		json_t *m = json_loads(prompt_cases[i].msg, 0, NULL);
		CHECK(m != NULL);
		bool got = ctl__cache_prompt(m);
		if (got != prompt_cases[i].want)
			fprintf(stderr, "prompt case %zu: %d, want %d\n", i + 1, got,
				prompt_cases[i].want);
		CHECK(got == prompt_cases[i].want);
		json_decref(m);
	}
}

/* ---- 3. restarted right after a change ---- */

struct seen {
	int netmaps, cached;
	uint64_t version, cached_version;
	size_t peers, cached_peers;
};

static void on_netmap(void *ctx, const struct ctl_netmap *nm, bool from_cache)
{
	struct seen *s = ctx;
	if (from_cache) {
		s->cached++;
		s->cached_version = nm->version;
		s->cached_peers = nm->n_peers;
		return;
	}
	s->netmaps++;
	s->version = nm->version;
	s->peers = nm->n_peers;
}

static bool run_until(uv_loop_t *loop, const int *flag, int want, uint64_t ms)
{
	uint64_t end = now_mono_ms() + ms;
	while (*flag < want && now_mono_ms() < end)
		uv_run(loop, UV_RUN_NOWAIT), usleep(2000);
	return *flag >= want;
}

static bool run_until_peers(uv_loop_t *loop, const struct seen *s, size_t peers, uint64_t ms)
{
	uint64_t end = now_mono_ms() + ms;
	while (s->peers < peers && now_mono_ms() < end)
		uv_run(loop, UV_RUN_NOWAIT), usleep(2000);
	return s->peers >= peers;
}

static void client_stop(uv_loop_t *loop, struct ctl_client *c)
{
	ctl_client_free(c);
	for (int i = 0; i < 400 && uv_loop_alive(loop); i++)
		uv_run(loop, UV_RUN_NOWAIT), usleep(5000);
}

static struct ctl_client *client_start(uv_loop_t *loop, const char *url, const char *dir,
				       const char *key, const char *name, struct seen *s)
{
	char err[512];
	struct ctl_client_config cc = { .loop = loop,
					.server_url = url,
					.state_dir = dir,
					.auth_key = key,
					.hostname = name,
					.on_netmap = on_netmap,
					.ctx = s };
	struct ctl_client *c = NULL;
	CHECK_INT(ctl_client_new(&cc, &c, err, sizeof(err)), 0);
	if (c)
		CHECK_INT(ctl_client_start(c), 0);
	return c;
}

/* The cached file's version, -1 when there is none */
static long long file_version(const char *path)
{
	char *buf;
	size_t len;
	if (file_read_all(path, 1 << 24, &buf, &len) != 0)
		return -1;
	json_t *j = json_loadb(buf, len, 0, NULL);
	free(buf);
	long long v = json_is_integer(json_object_get(j, "version"))
			  ? (long long)json_integer_value(json_object_get(j, "version"))
			  : -1;
	json_decref(j);
	return v;
}

/* The version of the netmap cached in dir (netmap.json with netmap.deltas folded), -1 when
 * there is none */
static long long cached_version(const char *dir)
{
	struct ctl__cache_state st;
	char err[512];
	json_t *j = ctl__cache_read(dir, &st, err, sizeof(err));
	long long v = j ? (long long)st.version : -1;
	json_decref(j);
	return v;
}

static bool exists(const char *dir, const char *name)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

/* Under dir, with suffix to each name: control's state directory, nodes a's and b's, and
 * a's cache file. */
static void dirs_of(const char *dir, const char *suffix, char state[static 300],
		    char na[static 300], char nb[static 300], char path[static 320])
{
	snprintf(state, 300, "%s/control%s", dir, suffix);
	snprintf(na, 300, "%s/a%s", dir, suffix);
	snprintf(nb, 300, "%s/b%s", dir, suffix);
	snprintf(path, 320, "%s/netmap.json", na);
}

/* A control server on loopback over a new tailnet in state (test_tailnet_make): its URL in
 * url, alice's auth key in key. */
static struct ctl_server *control_start(const char *state, char url[static 64],
					char key[static CTL_AUTHKEY_TEXT_SIZE])
{
	char err[512];
	CHECK_INT(test_tailnet_make(state, key), 0);
	struct ctl_server_config sc = { .state_dir = state };
	struct ctl_server *srv;
	CHECK_INT(ctl_server_new(&sc, &srv, err, sizeof(err)), 0);
	CHECK_INT(ctl_server_start(srv, err, sizeof(err)), 0);
	snprintf(url, 64, "http://127.0.0.1:%u", ctl_server_port(srv));
	return srv;
}

/* The client's first full map is in its file at path within CACHE_DELAY_MS: when that write
 * began (uv_now). */
static uint64_t first_written(uv_loop_t *loop, const struct ctl_client *c, const struct seen *s,
			      const char *path)
{
	CHECK(run_until(loop, &s->netmaps, 1, 15000));
	uint64_t end = now_mono_ms() + 5000;
	while (file_version(path) != (long long)s->version && now_mono_ms() < end)
		uv_run(loop, UV_RUN_NOWAIT), usleep(5000);
	CHECK_INT(file_version(path), s->version);
	return c->cache_written_at;
}

/* Control on loopback with node a registered and its first full map cached: where cases 3,
 * 4 and 6 start (their directories under dir, named with suffix). */
struct fixture {
	char state[300], na[300], nb[300], path[320], url[64];
	char key[CTL_AUTHKEY_TEXT_SIZE];
	struct ctl_server *srv;
	uv_loop_t loop;
	struct seen sa;
	struct ctl_client *a;
	uint64_t written; /* when a's first full map was written (uv_now) */
};

static void fixture_start(struct fixture *f, const char *dir, const char *suffix)
{
	memset(f, 0, sizeof(*f));
	dirs_of(dir, suffix, f->state, f->na, f->nb, f->path);
	f->srv = control_start(f->state, f->url, f->key);
	uv_loop_init(&f->loop);
	f->a = client_start(&f->loop, f->url, f->na, f->key, "a", &f->sa);
	f->written = first_written(&f->loop, f->a, &f->sa, f->path);
}

static void fixture_end(struct fixture *f)
{
	CHECK_INT(uv_loop_close(&f->loop), 0);
	ctl_server_free(f->srv);
}

static void restart_cases(const char *dir)
{
	struct fixture f;
	fixture_start(&f, dir, "");
	char nc[300];
	snprintf(nc, sizeof(nc), "%s/c", dir);
	uv_loop_t *loop = &f.loop;
	const char *url = f.url, *na = f.na, *nb = f.nb, *path = f.path, *key = f.key;
	struct seen *sa = &f.sa;
	struct seen sb = { 0 }, sc2 = { 0 }, sa2 = { 0 };
	struct ctl_client *a = f.a;
	uint64_t written = f.written;

	/* two more nodes: deltas for a, whose write the interval puts off */
	struct ctl_client *b = client_start(loop, url, nb, key, "b", &sb);
	CHECK(run_until_peers(loop, sa, 1, 15000));
	struct ctl_client *c = client_start(loop, url, nc, key, "c", &sc2);
	CHECK(run_until_peers(loop, sa, 2, 15000));
	CHECK(a->cache_due);
	CHECK(a->cache_due_at >= written + CACHE_INTERVAL_MS);
	long long on_disk = file_version(path);
	fprintf(stderr, "restart: node a has version %llu (2 peers), its file version %lld\n",
		(unsigned long long)sa->version, on_disk);
	CHECK(on_disk < (long long)sa->version);

	/* restarted at once: the file is the netmap a had, byte for byte */
	char *want = json_dumps(a->netmap, JSON_COMPACT), *got = NULL;
	uint64_t version = sa->version;
	size_t len;
	client_stop(loop, a);
	CHECK_INT(file_read_all(path, 1 << 24, &got, &len), 0);
	CHECK_STR(got, want);
	CHECK(!exists(na, "netmap.deltas")); /* written whole at exit */
	free(got);
	free(want);
	a = client_start(loop, url, na, NULL, "a", &sa2);
	CHECK_INT(sa2.cached, 1); /* handed over in ctl_client_start */
	CHECK_INT(sa2.cached_version, version);
	CHECK_INT(sa2.cached_peers, 2);

	client_stop(loop, a);
	client_stop(loop, b);
	client_stop(loop, c);
	fixture_end(&f);
}

/* ---- 6. a failed write, tried again ---- */

static void failed_write_cases(const char *dir)
{
	struct fixture f;
	fixture_start(&f, dir, "6");
	uv_loop_t *loop = &f.loop;
	const char *url = f.url, *na = f.na, *nb = f.nb, *path = f.path, *key = f.key;
	struct seen *sa = &f.sa;
	struct seen sb = { 0 };
	struct ctl_client *a = f.a;
	char deltas[340];
	snprintf(deltas, sizeof(deltas), "%s/netmap.deltas", na);
	long long first = file_version(path);
	CHECK_INT(mkdir(deltas, 0700), 0); /* appending to it fails */

	struct ctl_client *b = client_start(loop, url, nb, key, "b", &sb);
	CHECK(run_until_peers(loop, sa, 1, 15000));
	uint64_t end = now_mono_ms() + 3 * CACHE_INTERVAL_MS;
	while (!a->cache_whole && now_mono_ms() < end)
		uv_run(loop, UV_RUN_NOWAIT), usleep(5000);
	CHECK(a->cache_whole); /* the append failed: the next write is whole */
	CHECK_INT(file_version(path), first);
	CHECK_INT(rmdir(deltas), 0);

	end = now_mono_ms() + 3 * CACHE_INTERVAL_MS;
	while (file_version(path) != (long long)sa->version && now_mono_ms() < end)
		uv_run(loop, UV_RUN_NOWAIT), usleep(5000);
	CHECK_INT(file_version(path), sa->version);
	CHECK(sa->version > (uint64_t)first);
	CHECK(!exists(na, "netmap.deltas"));
	CHECK(!a->cache_whole);

	client_stop(loop, a);
	client_stop(loop, b);
	fixture_end(&f);
}

/* ---- 4. a change that takes access away ---- */

static void on_logout(void *ctx, int status)
{
	*(int *)ctx = status == 0 ? 1 : -1;
}

static void revoke_cases(const char *dir)
{
	struct fixture f;
	fixture_start(&f, dir, "4");
	uv_loop_t *loop = &f.loop;
	const char *url = f.url, *na = f.na, *nb = f.nb, *path = f.path, *key = f.key;
	struct seen *sa = &f.sa;
	struct seen sb = { 0 };
	struct ctl_client *a = f.a;
	uint64_t written = f.written;

	/* b joins: a delta that only adds, put off by the interval */
	struct ctl_client *b = client_start(loop, url, nb, key, "b", &sb);
	CHECK(run_until_peers(loop, sa, 1, 15000));
	CHECK(a->cache_due && a->cache_due_at >= written + CACHE_INTERVAL_MS);

	/* b logs out: its key expires, a's delta removes it */
	int out = 0;
	CHECK_INT(ctl_client_logout(b, on_logout, &out), 0);
	uint64_t end = now_mono_ms() + 15000;
	while (sa->peers > 0 && now_mono_ms() < end)
		uv_run(loop, UV_RUN_NOWAIT), usleep(2000);
	CHECK_INT(sa->peers, 0);
	uint64_t removed = uv_now(loop);
	fprintf(stderr, "revoke: the removal came %llu ms after the last write\n",
		(unsigned long long)(removed - written));
	/* the test tells the two apart only if the removal came well before the interval's end */
	CHECK(removed + CACHE_DELAY_MS + 1000 < written + CACHE_INTERVAL_MS);
	CHECK(a->cache_due_at <= removed + CACHE_DELAY_MS);
	while (cached_version(na) != (long long)sa->version &&
	       uv_now(loop) < removed + CACHE_DELAY_MS + 1000)
		uv_run(loop, UV_RUN_NOWAIT), usleep(2000);
	CHECK_INT(cached_version(na), sa->version);
	/* appended: the two deltas (b joined, b removed) follow the first full map's file */
	CHECK(exists(na, "netmap.deltas"));
	CHECK(file_version(path) < (long long)sa->version);
	CHECK(run_until(loop, &out, 1, 15000));

	client_stop(loop, a);
	client_stop(loop, b);
	fixture_end(&f);
}

/* ---- 5. the deltas appended after the netmap, read back ---- */

#define KEY1 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define KEY3 "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="
static const char base_text[] =
    "{\"version\":1,\"self\":{\"id\":1,\"node_key\":\"" KEY1 "\"},\"peers\":[]}";
/* peer 3 joins (version 2), then leaves (version 3) */
static const char d2[] =
    "{\"type\":\"delta\",\"version\":2,\"base\":1,\"peers_changed\":[{\"id\":3,"
    "\"node_key\":\"" KEY3 "\",\"addresses\":[\"100.64.0.3/32\"]}]}";
static const char d3[] = "{\"type\":\"delta\",\"version\":3,\"base\":2,\"peers_removed\":[3]}";

static void put(const char *dir, const char *name, const char *text, size_t len)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (!text) {
		unlink(p);
		return;
	}
	FILE *f = fopen(p, "w");
	CHECK(f && fwrite(text, 1, len, f) == len);
	fclose(f);
}

/* the deltas file: its first line (the netmap.json it follows), then the messages' records,
 * each "<len>\n<msg>\n"; cut: bytes dropped from the end */
static size_t records(char *out, size_t cut, const char *const *msgs, size_t n)
{
	size_t len = (size_t)sprintf(out, "base 1 %zu\n", strlen(base_text));
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(out + len, "%zu\n%s\n", strlen(msgs[i]), msgs[i]);
	return len - cut;
}

/* the cache in dir read: its version and peer count (-1 when none), the deltas folded, why
 * the rest was left out ("" for nothing left out, NULL not checked) */
static void expect_read_why(const char *dir, long long version, int peers, size_t folded,
			    const char *why)
{
	struct ctl__cache_state st;
	char err[512] = "";
	json_t *j = ctl__cache_read(dir, &st, err, sizeof(err));
	CHECK_INT(j ? (long long)st.version : -1, version);
	if (j) {
		CHECK_INT(json_integer_value(json_object_get(j, "version")), version);
		CHECK_INT((int)json_array_size(json_object_get(j, "peers")), peers);
		CHECK_INT(st.folded, folded);
		CHECK_INT(st.base_len, strlen(base_text));
		if (why)
			CHECK_STR(st.dropped, why);
	}
	json_decref(j);
}

static void expect_read(const char *dir, long long version, int peers, size_t folded)
{
	expect_read_why(dir, version, peers, folded, NULL);
}

static void read_cases(const char *top)
{
	char dir[300], *log = malloc(CACHE_LOG_MIN + 4096);
	snprintf(dir, sizeof(dir), "%s/read", top);
	CHECK_INT(mkdir(dir, 0700), 0);
	const char *both[] = { d2, d3 }, *wrong[] = { d3, d2 }, *one[] = { d2 };
	put(dir, "netmap.json", base_text, strlen(base_text));
	expect_read_why(dir, 1, 0, 0, ""); /* no deltas */
	put(dir, "netmap.deltas", log, records(log, 0, one, 1));
	expect_read_why(dir, 2, 1, 1, "");
	put(dir, "netmap.deltas", log, records(log, 0, both, 2));
	expect_read_why(dir, 3, 0, 2, "");
	/* the exact reasons */
	size_t at = records(log, 0, one, 1), first = records(log, 0, one, 0);
	char want[300];
	put(dir, "netmap.deltas", log, records(log, 1, both, 2));
	snprintf(want, sizeof(want),
		 "from byte %zu on: a record cut short (a write that did not finish)", at);
	expect_read_why(dir, 2, 1, 1, want);
	put(dir, "netmap.deltas", log, records(log, 0, wrong, 2));
	snprintf(want, sizeof(want), "from byte %zu on: delta is based on another version", first);
	expect_read_why(dir, 1, 0, 0, want);
	size_t n = records(log, 0, one, 0);
	n += (size_t)sprintf(log + n, "x\n");
	put(dir, "netmap.deltas", log, n);
	snprintf(want, sizeof(want), "from byte %zu on: not a record's length", first);
	expect_read_why(dir, 1, 0, 0, want);
	n = records(log, 0, one, 0);
	n += (size_t)sprintf(log + n, "3\n{x}\n");
	put(dir, "netmap.deltas", log, n);
	snprintf(want, sizeof(want), "from byte %zu on: a key (a string) expected at byte 1",
		 first);
	expect_read_why(dir, 1, 0, 0, want);
	/* deltas that follow another netmap.json (a crash between writing it whole and removing
	 * them), or none named: left out whole */
	static const char *const heads[] = { "base 2 %zu\n", "base 1 %zu0\n", "%zu\n", "" };
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		size_t h = (size_t)snprintf(log, 64, heads[i], strlen(base_text));
		size_t r = records(log + h, 0, one, 1), skip = first;
		memmove(log + h, log + h + skip, r - skip);
		put(dir, "netmap.deltas", log, h + r - skip);
		expect_read_why(dir, 1, 0, 0, "all: they follow another netmap.json");
	}
	/* past what the writer lets them grow to */
	memset(log, ' ', CACHE_LOG_MIN + 100);
	records(log, 0, one, 0);
	put(dir, "netmap.deltas", log, CACHE_LOG_MIN + 100);
	expect_read_why(dir, 1, 0, 0, "all: larger than they may grow");
	/* a crash during an append: the last record cut anywhere, its '\n' or its length too */
	size_t whole = records(log, 0, both, 2), last = strlen(d3) + 4;
	for (size_t cut = 1; cut <= last; cut++) {
		put(dir, "netmap.deltas", log, records(log, cut, both, 2));
		expect_read(dir, 2, 1, 1);
	}
	CHECK_INT(whole - last, records(log, 0, one, 1));
	/* a record that does not fold onto what is before it (based on another version): it
	 * and what follows are left out */
	put(dir, "netmap.deltas", log, records(log, 0, wrong, 2));
	expect_read(dir, 1, 0, 0);
	/* lengths that are not one, or past the end, or past CTL_WIRE_MAX_BODY */
	static const char *const bad[] = { "x\n{}\n",		"\n{}\n", "-2\n{}\n", "99\n{}\n",
					   "99999999999\n{}\n", "2 {}\n", "2\n{}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = records(log, 0, one, 1);
		len += (size_t)sprintf(log + len, "%s", bad[i]);
		put(dir, "netmap.deltas", log, len);
		expect_read(dir, 2, 1, 1);
	}
	/* a record that is not JSON, or not a map message */
	const char *notjson[] = { d2, "{\"type\":" }, *notmsg[] = { d2, "{\"type\":\"other\"}" };
	put(dir, "netmap.deltas", log, records(log, 0, notjson, 2));
	expect_read(dir, 2, 1, 1);
	put(dir, "netmap.deltas", log, records(log, 0, notmsg, 2));
	expect_read(dir, 2, 1, 1);
	/* the whole text, for tools */
	put(dir, "netmap.deltas", log, records(log, 0, one, 1));
	char err[512] = "", *text = ctl_cache_read_text(dir, err, sizeof(err));
	CHECK(text && strstr(text, "\"version\":2") && strstr(text, KEY3));
	free(text);
	/* no netmap, or one that is not JSON: none, whatever the deltas */
	put(dir, "netmap.json", NULL, 0);
	expect_read(dir, -1, 0, 0);
	CHECK(!ctl_cache_read_text(dir, err, sizeof(err)));
	CHECK(strstr(err, "netmap.json: No such file or directory") != NULL);
	put(dir, "netmap.json", "{\"version\":", 11);
	expect_read(dir, -1, 0, 0);
	/* removed whole */
	put(dir, "netmap.json", base_text, strlen(base_text));
	ctl_cache_remove(dir);
	CHECK(!exists(dir, "netmap.json") && !exists(dir, "netmap.deltas"));
	free(log);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	random_json_cases();
	fold_cases();
	delay_table();
	prompt_table();
	char dir[] = "/tmp/ctl-cache-XXXXXX", cmd[300];
	CHECK(mkdtemp(dir) != NULL);
	restart_cases(dir);
	revoke_cases(dir);
	read_cases(dir);
	failed_write_cases(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return check_finish();
}
