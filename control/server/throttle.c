/* Counting failed passwords per key (an account, a source address) in fixed windows, for the
 * web login and the check page's password.  The counts live in the store (store.h's
 * throttle_*), so replicas sharing it count together: N replicas allow no more guesses than
 * one.  An attempt is counted before it is checked (one upsert), so guesses sent in parallel,
 * to one replica or several, count too; one that succeeds is given back.  The keys with a
 * live window are capped per kind: anonymous clients choose the keys, so when the cap is
 * reached a new key is refused (until the oldest window ends) rather than evicting someone's
 * count. */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "control/server/internal.h"

static const struct ctl_throttle_rule rules[] = {
	[CTL_THROTTLE_ACCOUNT] = { CTL_THROTTLE_ACCOUNT, SRV_THROTTLE_ACCOUNT,
				   SRV_THROTTLE_WINDOW_S, SRV_THROTTLE_KEYS },
	[CTL_THROTTLE_SOURCE] = { CTL_THROTTLE_SOURCE, SRV_THROTTLE_SOURCE, SRV_THROTTLE_WINDOW_S,
				  SRV_THROTTLE_KEYS },
};

int ctl__throttle_take(struct ctl_server *srv, enum ctl_throttle_kind kind, const char *key,
		       int64_t now, int64_t *retry_at)
{
	int rc = srv->store->ops->throttle_take(srv->store, &rules[kind], key, now, retry_at);
	if (rc && rc != -EAGAIN && rc != -ENOSPC)
		log_err("meshcontrol", "cannot count a password attempt: %s", strerror(-rc));
	return rc;
}

void ctl__throttle_give_back(struct ctl_server *srv, enum ctl_throttle_kind kind, const char *key,
			     bool all, int64_t now)
{
	int rc = srv->store->ops->throttle_give_back(srv->store, kind, key, all, now);
	if (rc)
		log_err("meshcontrol", "cannot give a password attempt back: %s", strerror(-rc));
}
