/* The netmap cache: state_dir/netmap.json (0600, written atomically) so a node starts
 * from its last netmap when control is unreachable. */
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
	if (!cw || !(cw->json = json_dumps(c->netmap, JSON_COMPACT))) {
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
	c->open_handles++;
}

static void on_cache_timer(uv_timer_t *t)
{
	write_netmap(t->data);
}

/* The netmap changed: write the cache within CACHE_DELAY_MS. */
void ctl__cache_save(struct ctl_client *c)
{
	if (c->cache_due)
		return;
	c->cache_due = true;
	uv_timer_start(&c->cache_timer, on_cache_timer, CACHE_DELAY_MS, 0);
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
	if (!(json = json_dumps(c->netmap, JSON_COMPACT)))
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
