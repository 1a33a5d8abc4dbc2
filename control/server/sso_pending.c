/* Logins a browser started at /oidc/start and has not finished, and the query the provider
 * sends the browser back with.  Anyone who can reach meshcontrol can start a login, so the
 * table is bounded in all, per source address and per browser, and every entry expires;
 * a state is taken once (a replayed callback finds nothing) and only by the browser that
 * started it (its pre-session cookie), so a callback URL sent to someone else logs nobody
 * in (login CSRF). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "control/server/sso.h"

int srv_sso_table_init(struct srv_sso_table *t)
{
	t->n = 0;
	t->e = calloc(SRV_SSO_PENDING_MAX, sizeof(*t->e));
	return t->e ? 0 : -ENOMEM;
}

void srv_sso_table_uninit(struct srv_sso_table *t)
{
	if (t->e)
		sodium_memzero(t->e, SRV_SSO_PENDING_MAX * sizeof(*t->e));
	free(t->e);
	t->e = NULL;
	t->n = 0;
}

static void drop(struct srv_sso_table *t, size_t i)
{
	t->e[i] = t->e[--t->n];
	sodium_memzero(&t->e[t->n], sizeof(t->e[t->n]));
}

static void expire(struct srv_sso_table *t, int64_t now)
{
	for (size_t i = 0; i < t->n;)
		if (now - t->e[i].created >= SRV_SSO_PENDING_TTL_S || now < t->e[i].created)
			drop(t, i);
		else
			i++;
}

int srv_sso_table_add(struct srv_sso_table *t, const struct srv_sso_pending *p, int64_t now,
		      int64_t *retry_at)
{
	size_t from_source = 0, in_browser = 0, oldest = 0;
	int64_t source_oldest = INT64_MAX, all_oldest = INT64_MAX;
	expire(t, now);
	for (size_t i = 0; i < t->n; i++) {
		const struct srv_sso_pending *e = &t->e[i];
		if (e->created < all_oldest)
			all_oldest = e->created;
		if (strcmp(e->source, p->source) == 0) {
			from_source++;
			if (e->created < source_oldest)
				source_oldest = e->created;
		}
		if (strcmp(e->pre, p->pre) == 0 &&
		    (!in_browser++ || e->created < t->e[oldest].created))
			oldest = i;
	}
	/* A browser with all its tabs' logins open loses its oldest: its own only, so one
	 * browser cannot push out another's.  Counted before anything is dropped. */
	bool make_room = in_browser >= SRV_SSO_PENDING_PER_BROWSER;
	if (make_room && strcmp(t->e[oldest].source, p->source) == 0)
		from_source--;
	if (from_source >= SRV_SSO_PENDING_PER_SOURCE) {
		*retry_at = source_oldest + SRV_SSO_PENDING_TTL_S;
		return -EAGAIN;
	}
	if (t->n - make_room >= SRV_SSO_PENDING_MAX) {
		*retry_at = all_oldest + SRV_SSO_PENDING_TTL_S;
		return -ENOSPC;
	}
	if (make_room)
		drop(t, oldest);
	t->e[t->n] = *p;
	t->e[t->n].created = now;
	t->n++;
	return 0;
}

int srv_sso_table_take(struct srv_sso_table *t, const char *state, const char *pre, int64_t now,
		       struct srv_sso_pending *out)
{
	size_t len = strlen(state);
	expire(t, now);
	if (len != CTL_OIDC_RANDOM_LEN - 1)
		return -ENOENT;
	for (size_t i = 0; i < t->n; i++) {
		struct srv_sso_pending *e = &t->e[i];
		if (sodium_memcmp(e->state, state, len) != 0)
			continue;
		if (!pre || strlen(pre) != SRV_SSO_PRE_HEX ||
		    sodium_memcmp(e->pre, pre, SRV_SSO_PRE_HEX) != 0)
			return -EPERM;
		*out = *e;
		drop(t, i);
		return 0;
	}
	return -ENOENT;
}

/* ---- the callback's query ---- */

static bool b64url(const char *s)
{
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	       strlen(s);
}

static bool printable(const char *s, bool space)
{
	for (; *s; s++)
		if (*s < (space ? 0x20 : 0x21) || *s > 0x7e)
			return false;
	return true;
}

static int bad(char *err, size_t errlen, const char *key, const char *value, const char *why)
{
	char q[CTL_OIDC_QUOTE_BUF];
	snprintf(err, errlen, "the callback's %s \"%s\" %s", key, ctl_oidc_quote(value, q), why);
	return -EINVAL;
}

int srv_sso_callback_arg(struct srv_sso_callback *cb, const char *key, const char *value,
			 char *err, size_t errlen)
{
	size_t len = strlen(value);
	char *dst;
	size_t size;
	bool *has;
	if (strcmp(key, "state") == 0) {
		if (len != CTL_OIDC_RANDOM_LEN - 1 || !b64url(value))
			return bad(err, errlen, key, value, "is not a state meshcontrol makes");
		dst = cb->state, size = sizeof(cb->state), has = &cb->has_state;
	} else if (strcmp(key, "code") == 0) {
		if (!len || len >= SRV_SSO_CODE_MAX || !printable(value, false))
			return bad(err, errlen, key, value,
				   "is not 1 to 2047 printable ASCII characters");
		dst = cb->code, size = sizeof(cb->code), has = &cb->has_code;
	} else if (strcmp(key, "iss") == 0) {
		if (!len || len >= CTL_OIDC_URL_MAX || !printable(value, false))
			return bad(err, errlen, key, value, "is not a URL");
		dst = cb->iss, size = sizeof(cb->iss), has = &cb->has_iss;
	} else if (strcmp(key, "error") == 0 || strcmp(key, "error_description") == 0) {
		bool desc = key[5] == '_';
		if (len >= SRV_SSO_ERROR_MAX || !printable(value, desc))
			return bad(err, errlen, key, value,
				   "is not at most 255 printable ASCII characters");
		dst = desc ? cb->error_description : cb->error;
		size = SRV_SSO_ERROR_MAX;
		has = desc ? &cb->has_error_description : &cb->has_error;
	} else {
		return 0; /* providers add their own (session_state, scope) */
	}
	if (*has) {
		/* two values could be read differently by two readers: refuse both */
		snprintf(err, errlen, "the callback has %s twice", key);
		return -EINVAL;
	}
	snprintf(dst, size, "%s", value);
	*has = true;
	return 0;
}

int srv_sso_callback_finish(const struct srv_sso_callback *cb, char *err, size_t errlen)
{
	if (!cb->has_state) {
		snprintf(err, errlen, "the callback has no state");
		return -EINVAL;
	}
	if (!cb->has_code && !cb->has_error) {
		snprintf(err, errlen, "the callback has neither a code nor an error");
		return -EINVAL;
	}
	if (cb->has_code && cb->has_error) {
		snprintf(err, errlen, "the callback has both a code and an error");
		return -EINVAL;
	}
	return 0;
}
