/* Counting failed attempts per key (an account, a source address) in fixed windows, for the
 * web login and the check page's password.  An attempt is counted before it is checked, so
 * guesses sent in parallel count too; one that succeeds is given back.  The table has a
 * fixed size: anonymous clients choose the keys, so when it is full of live windows a new
 * key is refused (until the oldest window ends) rather than evicting someone's count. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/server/internal.h"

int ctl__throttle_init(struct ctl__throttle *t, int limit, int64_t window_s, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->e = calloc(cap, sizeof(*t->e));
	if (!t->e)
		return -ENOMEM;
	t->cap = cap;
	t->limit = limit;
	t->window_s = window_s;
	return 0;
}

void ctl__throttle_uninit(struct ctl__throttle *t)
{
	free(t->e);
	t->e = NULL;
	t->n = t->cap = 0;
}

static struct ctl__throttle_entry *find(struct ctl__throttle *t, const char *key, int64_t now)
{
	for (size_t i = 0; i < t->n;) {
		struct ctl__throttle_entry *e = &t->e[i];
		if (e->since + t->window_s <= now) { /* its window is over */
			*e = t->e[--t->n];
			continue;
		}
		if (strcmp(e->key, key) == 0)
			return e;
		i++;
	}
	return NULL;
}

int ctl__throttle_take(struct ctl__throttle *t, const char *key, int64_t now, int64_t *retry_at)
{
	struct ctl__throttle_entry *e = find(t, key, now);
	if (e && e->count >= t->limit) {
		*retry_at = e->since + t->window_s;
		return -EAGAIN;
	}
	if (!e && t->n == t->cap) {
		*retry_at = now + t->window_s;
		for (size_t i = 0; i < t->n; i++)
			if (t->e[i].since + t->window_s < *retry_at)
				*retry_at = t->e[i].since + t->window_s;
		return -ENOSPC;
	}
	if (!e) {
		e = &t->e[t->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->since = now;
	}
	e->count++;
	return 0;
}

void ctl__throttle_give_back(struct ctl__throttle *t, const char *key, bool all, int64_t now)
{
	struct ctl__throttle_entry *e = find(t, key, now);
	if (e && e->count > 0)
		e->count = all ? 0 : e->count - 1;
}
