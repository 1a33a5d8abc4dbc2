/* The node key: rotation (ctl_client_rotate_key) and re-login when the key expires.
 * A new node key is written to node.key.next before control hears of it, and renamed over
 * node.key once control confirms it (in its answer, or in a netmap whose self carries it),
 * so a crash in between loses nothing: the next start finds node.key.next and finishes. */
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

int ctl__next_key_prepare(struct ctl_client *c)
{
	char err[512];
	if (c->have_next)
		return 0;
	int rc = ctl__load_key(c, "node.key.next", c->next_pub, c->next_priv, err, sizeof(err));
	if (rc) {
		log_err("control", "new node key: %s", err);
		return rc;
	}
	c->have_next = true;
	return 0;
}

/* Control refused the new key (or the change): forget it, the next try makes another. */
void ctl__next_key_discard(struct ctl_client *c)
{
	char path[4096];
	if (!c->have_next)
		return;
	ctl__path_of(c, "node.key.next", path, sizeof(path));
	unlink(path);
	sodium_memzero(c->next_priv, 32);
	c->have_next = false;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Control knows this node by key: when it is the one being rotated to, make it ours. */
void ctl__node_key_seen(struct ctl_client *c, const uint8_t key[32])
{
	char from[4096], to[4096], fp[KEY_FINGERPRINT_SIZE];
	if (!c->have_next || sodium_memcmp(key, c->next_pub, 32) != 0)
		return;
	ctl__path_of(c, "node.key.next", from, sizeof(from));
	ctl__path_of(c, "node.key", to, sizeof(to));
	if (rename(from, to) != 0)
		/* node.key.next stays: the next start finds it confirmed and renames it then */
		log_err("control", "cannot rename %s to %s: %s", from, to, strerror(errno));
	else
		sync_dir(c->state_dir);
	memcpy(c->node_pub, c->next_pub, 32);
	memcpy(c->node_priv, c->next_priv, 32);
	sodium_memzero(c->next_priv, 32);
	c->have_next = c->rotating = c->relogin = false;
	key_fingerprint(fp, c->node_pub);
	log_info("control", "the node key is now %s", fp);
	if (c->cfg.on_node_key)
		c->cfg.on_node_key(c->cfg.ctx, c->node_priv);
}

static void on_expiry_timer(uv_timer_t *t)
{
	ctl__check_expiry(t->data);
}

/* Arm a timer for the node key's expiry; once it has passed, log in again with a new key
 * (control hands out a login URL, or takes the auth key given to `up`). */
void ctl__check_expiry(struct ctl_client *c)
{
	int64_t exp = c->nm ? c->nm->self.key_expiry : 0, now = (int64_t)time(NULL);
	uv_timer_stop(&c->expiry_timer);
	if (!exp || c->relogin || c->stopped || c->logged_out || c->refused)
		return;
	if (exp > now || now - c->relogin_at < RELOGIN_RETRY_S) {
		int64_t at = exp > now ? exp : c->relogin_at + RELOGIN_RETRY_S;
		uv_timer_start(&c->expiry_timer, on_expiry_timer, (uint64_t)(at - now) * 1000 + 500,
			       0);
		return;
	}
	if (ctl__next_key_prepare(c) != 0)
		return;
	c->relogin = true;
	c->relogin_at = now;
	ctl__event(c, CTL_CLIENT_KEY_EXPIRED,
		   "the node key expired; log in again to stay in the "
		   "tailnet");
	/* unless a connect is under way (its answer registers) */
	if (c->pinned && !c->key_pending && !uv_is_active((uv_handle_t *)&c->retry_timer))
		ctl__register_send(c);
}

int ctl_client_rotate_key(struct ctl_client *c)
{
	if (!c->registered || !c->pinned)
		return -ENOTCONN;
	if (c->rotating || c->relogin || c->reg_req || c->followup[0])
		return -EBUSY; /* a registration or a login is under way */
	int rc = ctl__next_key_prepare(c);
	if (rc)
		return rc;
	c->rotating = true;
	ctl__register_send(c);
	return 0;
}
