/* The netmap cache: state_dir/netmap.json (0600, written atomically) so a node starts
 * from its last netmap when control is unreachable.  Written CACHE_DELAY_MS after a change,
 * at most once every CACHE_INTERVAL_MS while changes keep coming (but CACHE_DELAY_MS after a
 * full map or a change that takes access away, whatever the interval), and at exit. */
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
#include "control/client/internal.h"
#include "control/netmap/netmap_json.h"
#include "control/netmap/wire.h"

/* The cache is written on libuv's thread pool so a slow disk (fsync) never stalls the
 * loop meshd's data plane runs on.  One write at a time; a newer netmap arriving meanwhile
 * is written when the current write is done, so the file never goes back in time. */
struct cache_write {
	uv_work_t work;
	struct ctl_client *c;
	char path[4096];
	char *json;
	int rc;
};

static void cache_write_work(uv_work_t *w)
{
	struct cache_write *cw = container_of(w, struct cache_write, work);
	cw->rc = file_write_atomic(cw->path, cw->json, strlen(cw->json), 0600);
}

static void write_netmap(struct ctl_client *c);

static void cache_write_done(uv_work_t *w, int status)
{
	struct cache_write *cw = container_of(w, struct cache_write, work);
	struct ctl_client *c = cw->c;
	if (cw->rc)
		log_warn("control", "cannot cache the netmap in %s: %s", cw->path,
			 strerror(-cw->rc));
	else if (c->logged_out)
		unlink(cw->path); /* the logout came while this write was under way */
	c->cache_busy = false;
	if (c->stopped) {
		if (c->cache_last) {
			int rc =
			    file_write_atomic(cw->path, c->cache_last, strlen(c->cache_last), 0600);
			if (rc)
				log_warn("control", "cannot cache the netmap in %s: %s", cw->path,
					 strerror(-rc));
			free(c->cache_last);
			c->cache_last = NULL;
		}
		free(cw->json);
		free(cw);
		if (--c->open_handles == 0)
			free(c);
		return;
	}
	free(cw->json);
	free(cw);
	c->open_handles--;
	if (c->cache_again) {
		c->cache_again = false;
		write_netmap(c);
	}
}

/* The file's text (cache_text.c); NULL when memory is short. */
static char *netmap_text(struct ctl_client *c)
{
	size_t len;
	return ctl__cache_text(&c->cache_texts, c->netmap, &len);
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
	struct cache_write *cw = calloc(1, sizeof(*cw));
	if (!cw || !(cw->json = netmap_text(c))) {
		free(cw);
		log_warn("control", "out of memory caching the netmap");
		return;
	}
	cw->c = c;
	ctl__path_of(c, "netmap.json", cw->path, sizeof(cw->path));
	if (uv_queue_work(c->cfg.loop, &cw->work, cache_write_work, cache_write_done) != 0) {
		free(cw->json);
		free(cw);
		return;
	}
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

/* On free: a change still waiting for its write is written now, on the caller's thread, or
 * right after the write under way (two writers would share the temporary file). */
void ctl__cache_flush(struct ctl_client *c)
{
	char path[4096];
	char *json;
	if (!(c->cache_due || c->cache_again) || !c->netmap || c->logged_out)
		return;
	c->cache_due = c->cache_again = false;
	if (!(json = netmap_text(c)))
		return;
	if (c->cache_busy) {
		c->cache_last = json;
		return;
	}
	ctl__path_of(c, "netmap.json", path, sizeof(path));
	int rc = file_write_atomic(path, json, strlen(json), 0600);
	if (rc)
		log_warn("control", "cannot cache the netmap in %s: %s", path, strerror(-rc));
	free(json);
}
