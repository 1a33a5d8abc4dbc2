/* The netmap cache, so a node starts from its last netmap when control is unreachable:
 * state_dir/netmap.json, a full netmap (0600, written atomically), and state_dir/netmap.deltas,
 * the map messages folded into it since, as control sent them (0600, appended: a filter
 * change writes the few KB of its delta, not the whole netmap again, #21).  It starts with
 * "base <version> <length>\n", the netmap.json it follows, and each record is
 * "<length>\n<message>\n"; reading folds them into the netmap in order, up to the first
 * that is torn (a crash during its append) or does not fold onto what is before it (a delta
 * names the version it is based on), which is logged: what comes before it stands, as a
 * write that never happened; deltas that follow another netmap.json are left out whole.  The
 * whole netmap is written again (renamed into place, then the deltas removed: a crash in
 * between leaves deltas that follow the old one) after a full map, a failed write (retried
 * with the interval), a start from a cache that had deltas, and when the deltas would
 * outgrow the netmap (CACHE_LOG_MIN at least).  Written CACHE_DELAY_MS after a
 * change, at most once every CACHE_INTERVAL_MS while changes keep coming (but CACHE_DELAY_MS
 * after a full map or a change that takes access away, whatever the interval), and at exit
 * (the whole netmap). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "common/file.h"
#include "common/key.h"
#include "common/log.h"
#include "common/sbuf.h"
#include "control/client/internal.h"
#include "control/netmap/netmap_json.h"
#include "control/netmap/wire.h"

static void cache_paths(const char *dir, char base[static 4096], char log[static 4096])
{
	snprintf(base, 4096, "%s/netmap.json", dir);
	snprintf(log, 4096, "%s/netmap.deltas", dir);
}

static void remove_paths(const char *base, const char *log)
{
	unlink(log);
	unlink(base);
}

void ctl_cache_remove(const char *state_dir)
{
	char base[4096], log[4096];
	cache_paths(state_dir, base, log);
	remove_paths(base, log);
}

/* The whole netmap, then the deltas gone: a crash in between leaves deltas whose first line
 * names another netmap.json, which reading leaves out. */
static int write_whole(const char *base, const char *log, const char *text, size_t len)
{
	int rc = file_write_atomic(base, text, len, 0600);
	if (!rc && unlink(log) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

enum { HEAD_MAX = 64 };

/* The deltas file's first line: the netmap.json (its version and length) they follow; its
 * length. */
static size_t head_of(char out[static HEAD_MAX], json_int_t version, size_t base_len)
{
	return (size_t)snprintf(out, HEAD_MAX, "base %lld %zu\n", (long long)version, base_len);
}

/* A record's length: digits then '\n' at buf[*off..n), at most CTL_WIRE_MAX_BODY; *off moves
 * past the '\n'.  false: not a record's start. */
static bool record_len(const char *buf, size_t n, size_t *off, size_t *len)
{
	size_t v = 0, i = *off;
	for (; i < n && i - *off < 9 && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (size_t)(buf[i] - '0');
	if (i == *off || i >= n || buf[i] != '\n' || v > CTL_WIRE_MAX_BODY)
		return false;
	*off = i + 1;
	*len = v;
	return true;
}

json_t *ctl__cache_read(const char *dir, struct ctl__cache_state *st, char *err, size_t errlen)
{
	char base[4096], log[4096], *text = NULL, why[256] = "", head[HEAD_MAX];
	size_t len, n;
	json_error_t jerr;
	cache_paths(dir, base, log);
	memset(st, 0, sizeof(*st));
	int rc = file_read_all(base, CTL_WIRE_MAX_BODY, &text, &len);
	if (rc) {
		snprintf(err, errlen, "%s: %s", base, strerror(-rc));
		return NULL;
	}
	json_t *nm = ctl__json_loadb(text, len, 0, &jerr);
	free(text);
	text = NULL;
	if (!nm) {
		snprintf(err, errlen, "%s: %s", base, jerr.text);
		return NULL;
	}
	st->base_len = len;
	st->version = st->base_version = json_integer_value(json_object_get(nm, "version"));
	/* at most what the writer lets them grow to (ctl__cache_change) */
	size_t max = (len > CACHE_LOG_MIN ? len : CACHE_LOG_MIN) + sizeof(head);
	rc = file_read_all(log, max, &text, &n);
	if (rc == -ENOENT)
		return nm;
	st->had_log = true;
	size_t off = head_of(head, st->base_version, len), mlen;
	if (rc || n < off || memcmp(text, head, off) != 0) {
		snprintf(st->dropped, sizeof(st->dropped), "all: %s",
			 rc == -EFBIG ? "larger than they may grow"
			 : rc	      ? strerror(-rc)
				      : "they follow another netmap.json");
		log_warn("control", "cached deltas %s: ignoring them %s", log, st->dropped);
		free(text);
		return nm;
	}
	while (off < n) {
		size_t at = off;
		bool keepalive;
		json_t *m = NULL;
		if (!record_len(text, n, &off, &mlen)) {
			snprintf(why, sizeof(why), "not a record's length");
		} else if (mlen >= n - off || text[off + mlen] != '\n') {
			snprintf(why, sizeof(why),
				 "a record cut short (a write that did not finish)");
		} else if (!(m = ctl__json_loadb(text + off, mlen, 0, &jerr))) {
			snprintf(why, sizeof(why), "%s", jerr.text);
		} else if ((rc = ctl__netmap_fold(&nm, m, &keepalive, why, sizeof(why))) == 0) {
			json_decref(m);
			off += mlen + 1;
			st->folded++;
			continue;
		} else if (rc == -ENOMEM) { /* not the netmap before a change it may not undo */
			json_decref(m);
			json_decref(nm);
			free(text);
			snprintf(err, errlen, "%s: out of memory", log);
			return NULL;
		}
		json_decref(m);
		snprintf(st->dropped, sizeof(st->dropped), "from byte %zu on: %s", at, why);
		log_warn("control", "cached deltas %s: ignoring them %s", log, st->dropped);
		break;
	}
	free(text);
	st->version = json_integer_value(json_object_get(nm, "version"));
	return nm;
}

char *ctl_cache_read_text(const char *state_dir, char *err, size_t errlen)
{
	struct ctl__cache_state st;
	json_t *nm = ctl__cache_read(state_dir, &st, err, errlen);
	char *text = nm ? json_dumps(nm, JSON_COMPACT) : NULL;
	if (nm && !text)
		snprintf(err, errlen, "out of memory");
	else if (nm)
		snprintf(err, errlen, "%s%s", st.dropped[0] ? "deltas left out " : "", st.dropped);
	json_decref(nm);
	return text;
}

/* The cache is written on libuv's thread pool so a slow disk (fsync) never stalls the
 * loop meshd's data plane runs on.  One write at a time; the changes arriving meanwhile are
 * written when the current write is done, so the files never go back in time. */
struct cache_write {
	uv_work_t work;
	struct ctl_client *c;
	char base[4096], log[4096];
	char *data;
	size_t len;
	bool whole;	    /* data is the whole netmap; else records to append */
	json_int_t version; /* whole: the netmap's */
	int rc;
};

static void cache_write_work(uv_work_t *w)
{
	struct cache_write *cw = container_of(w, struct cache_write, work);
	cw->rc = cw->whole ? write_whole(cw->base, cw->log, cw->data, cw->len)
			   : file_append(cw->log, cw->data, cw->len, 0600);
}

static void write_netmap(struct ctl_client *c);

static void cache_write_done(uv_work_t *w, int status)
{
	struct cache_write *cw = container_of(w, struct cache_write, work);
	struct ctl_client *c = cw->c;
	if (cw->rc) {
		log_warn("control", "cannot cache the netmap in %s: %s",
			 cw->whole ? cw->base : cw->log, strerror(-cw->rc));
		c->cache_whole = true; /* the files may hold part of it: written whole next */
		if (!c->stopped && !c->logged_out)
			ctl__cache_save(c, false); /* again, after the interval */
	} else if (cw->whole) {
		c->cache_base_len = cw->len;
		c->cache_base_version = cw->version;
		c->cache_log_len = 0;
	} else {
		c->cache_log_len += cw->len;
	}
	if (c->logged_out) /* the logout came while this write was under way */
		remove_paths(cw->base, cw->log);
	c->cache_busy = false;
	if (c->stopped) {
		if (c->cache_last) {
			int rc =
			    write_whole(cw->base, cw->log, c->cache_last, strlen(c->cache_last));
			if (rc)
				log_warn("control", "cannot cache the netmap in %s: %s", cw->base,
					 strerror(-rc));
			free(c->cache_last);
			c->cache_last = NULL;
		}
		free(cw->data);
		free(cw);
		if (--c->open_handles == 0)
			free(c);
		return;
	}
	free(cw->data);
	free(cw);
	c->open_handles--;
	if (c->cache_again) {
		c->cache_again = false;
		write_netmap(c);
	}
}

/* The file's text (cache_text.c); NULL when memory is short. */
static char *netmap_text(struct ctl_client *c, size_t *len)
{
	return ctl__cache_text(&c->cache_texts, c->netmap, len);
}

static void pending_drop(struct ctl_client *c)
{
	free(c->cache_pending.s);
	c->cache_pending = (struct sbuf){ 0 };
}

static void write_netmap(struct ctl_client *c)
{
	c->cache_due = false;
	if (!c->netmap || c->logged_out)
		return;
	if (c->cache_busy) {
		c->cache_again = true;
		return;
	}
	if (!c->cache_whole && !c->cache_pending.len)
		return; /* nothing changed since the last write */
	struct cache_write *cw = calloc(1, sizeof(*cw));
	if (!cw) {
		log_warn("control", "out of memory caching the netmap");
		return;
	}
	cw->whole = c->cache_whole;
	if (cw->whole) {
		pending_drop(c); /* the netmap has them */
		cw->data = netmap_text(c, &cw->len);
		cw->version = json_integer_value(json_object_get(c->netmap, "version"));
	} else if (!c->cache_log_len) { /* a new file: the netmap.json it follows first */
		struct sbuf b = { 0 };
		char head[HEAD_MAX];
		sbuf_reserve(&b, c->cache_pending.len + HEAD_MAX);
		sbuf_add(&b, head, head_of(head, c->cache_base_version, c->cache_base_len));
		sbuf_add(&b, c->cache_pending.s, c->cache_pending.len);
		pending_drop(c);
		cw->data = b.oom ? (free(b.s), NULL) : b.s;
		cw->len = b.len;
	} else {
		cw->data = c->cache_pending.s;
		cw->len = c->cache_pending.len;
		c->cache_pending = (struct sbuf){ 0 };
	}
	if (!cw->data) {
		free(cw);
		log_warn("control", "out of memory caching the netmap");
		c->cache_whole = true;
		return;
	}
	cw->c = c;
	cache_paths(c->state_dir, cw->base, cw->log);
	if (uv_queue_work(c->cfg.loop, &cw->work, cache_write_work, cache_write_done) != 0) {
		free(cw->data);
		free(cw);
		c->cache_whole = true;
		return;
	}
	c->cache_whole = false;
	c->cache_busy = true;
	c->cache_written = true;
	c->cache_written_at = uv_now(c->cfg.loop);
	c->open_handles++;
}

static void on_cache_timer(uv_timer_t *t)
{
	write_netmap(t->data);
}

uint64_t ctl__cache_delay(uint64_t now, bool written, uint64_t last, bool prompt)
{
	uint64_t next = last + CACHE_INTERVAL_MS;
	if (prompt || !written || next <= now + CACHE_DELAY_MS)
		return CACHE_DELAY_MS;
	return next - now;
}

bool ctl__cache_prompt(json_t *m)
{
	const char *type = json_string_value(json_object_get(m, "type"));
	if (type && strcmp(type, "full") == 0)
		return true;
	/* a delta's sections are there only when they changed (control/server/map.c) */
	return type && strcmp(type, "delta") == 0 &&
	       (json_object_get(m, "peers_removed") || json_object_get(m, "filter") ||
		json_object_get(m, "ssh"));
}

void ctl__cache_save(struct ctl_client *c, bool prompt)
{
	uint64_t now = uv_now(c->cfg.loop);
	uint64_t delay = ctl__cache_delay(now, c->cache_written, c->cache_written_at, prompt);
	if (c->cache_due && c->cache_due_at <= now + delay)
		return; /* the write already due comes first, and carries this change */
	c->cache_due = true;
	c->cache_due_at = now + delay;
	uv_timer_start(&c->cache_timer, on_cache_timer, delay, 0);
}

void ctl__cache_change(struct ctl_client *c, const char *msg, size_t len, bool full, bool prompt)
{
	size_t limit = c->cache_base_len > CACHE_LOG_MIN ? c->cache_base_len : CACHE_LOG_MIN;
	if (full || c->cache_whole || c->cache_log_len + c->cache_pending.len + len + 16 > limit) {
		c->cache_whole = true;
		pending_drop(c);
	} else {
		sbuf_fmt(&c->cache_pending, "%zu\n", len);
		sbuf_add(&c->cache_pending, msg, len);
		sbuf_add(&c->cache_pending, "\n", 1);
		if (c->cache_pending.oom) {
			c->cache_whole = true;
			pending_drop(c);
		}
	}
	ctl__cache_save(c, prompt);
}

/* On free: a change still waiting for its write is written now, whole, on the caller's
 * thread, or right after the write under way (two writers would share the files). */
void ctl__cache_flush(struct ctl_client *c)
{
	char base[4096], log[4096];
	char *json;
	size_t len;
	pending_drop(c);
	if (!(c->cache_due || c->cache_again || c->cache_whole) || !c->netmap || c->logged_out)
		return;
	c->cache_due = c->cache_again = false;
	if (!(json = netmap_text(c, &len)))
		return;
	if (c->cache_busy) {
		c->cache_last = json;
		return;
	}
	cache_paths(c->state_dir, base, log);
	int rc = write_whole(base, log, json, len);
	if (rc)
		log_warn("control", "cannot cache the netmap in %s: %s", base, strerror(-rc));
	free(json);
}
