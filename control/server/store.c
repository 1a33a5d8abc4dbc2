/* What the store's backends share: choosing one by URL (sqlite:PATH, postgres://...), the
 * rule that keeps a URL's password out of every message (the password in the URL's user
 * part or its password= parameter shown as "***", and cut out of libpq's messages, which
 * may quote a bad part of the URL), and the bounds on a tag list each backend checks before
 * it writes one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "control/server/internal.h"
#include "control/server/store.h"

int ctl__store_tags_check(const char *const *v, size_t n)
{
	if (n > CTL_TAGS_COUNT_MAX)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (!v[i][0] || strlen(v[i]) > CTL_TAG_LEN_MAX)
			return -EINVAL;
	return 0;
}

static bool is_pg(const char *url)
{
	return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

/* The secret parts of url: the password of its user part and the value of a password=
 * parameter (start and length each; length 0 when absent). */
static void secrets(const char *url, size_t at[2], size_t len[2])
{
	at[0] = at[1] = len[0] = len[1] = 0;
	const char *start = strstr(url, "://");
	if (!start)
		return;
	start += 3;
	/* libpq's rule: the user part ends at an '@' met before any '/' */
	const char *p = start + strcspn(start, "@/");
	if (*p == '@') {
		const char *colon = memchr(start, ':', (size_t)(p - start));
		if (colon) {
			at[0] = (size_t)(colon + 1 - url);
			len[0] = (size_t)(p - colon - 1);
		}
	}
	const char *q = strchr(url, '?');
	while (q) {
		q++;
		if (strncmp(q, "password=", 9) == 0) {
			at[1] = (size_t)(q + 9 - url);
			len[1] = strcspn(q + 9, "&");
		}
		q = strchr(q, '&');
	}
}

void ctl_store_url_redact(const char *url, char *out, size_t outlen)
{
	size_t at[2], len[2], o = 0;
	secrets(url, at, len);
	for (size_t i = 0; url[i] && o + 1 < outlen;) {
		int k = i == at[0] && len[0] ? 0 : i == at[1] && len[1] ? 1 : -1;
		if (k >= 0) {
			o += (size_t)snprintf(out + o, outlen - o, "***");
			i += len[k];
		} else {
			out[o++] = url[i++];
		}
	}
	out[o < outlen ? o : outlen - 1] = '\0';
}

/* The first place of the len bytes of secret in msg, or NULL. */
static char *find(char *msg, const char *secret, size_t len)
{
	for (char *c = msg; *c; c++)
		if (strncmp(c, secret, len) == 0)
			return c;
	return NULL;
}

void ctl_store_scrub(const char *url, char *msg)
{
	size_t at[2], len[2];
	secrets(url, at, len);
	for (int k = 0; k < 2; k++) {
		char *from = msg, *hit;
		while (len[k] && (hit = find(from, url + at[k], len[k])) != NULL) {
			/* "***" in its place; a secret shorter than that is starred in place */
			size_t stars = len[k] < 3 ? len[k] : 3;
			memset(hit, '*', stars);
			memmove(hit + stars, hit + len[k], strlen(hit + len[k]) + 1);
			from = hit + stars;
		}
	}
}

int ctl_store_url_check(const char *url, char *err, size_t errlen)
{
	char shown[512], *why = NULL;
	ctl_store_url_redact(url, shown, sizeof(shown));
	if (!is_pg(url)) {
		snprintf(err, errlen,
			 "'%s' is not a store URL (expected sqlite:PATH or postgres://...)", shown);
		return -EINVAL;
	}
	PQconninfoOption *opts = PQconninfoParse(url, &why);
	if (!opts) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", why ? why : "no memory");
		msg[strcspn(msg, "\n")] = '\0';
		ctl_store_scrub(url, msg);
		snprintf(err, errlen, "'%s' is not a PostgreSQL URL: %s", shown, msg);
		PQfreemem(why);
		return -EINVAL;
	}
	PQconninfoFree(opts);
	return 0;
}

int ctl_store_open(const char *url, struct ctl_store **out, char *err, size_t errlen)
{
	if (strncmp(url, "sqlite:", 7) == 0) {
		mode_t old = umask(077);
		int rc = ctl_store_open_sqlite(url + 7, out, err, errlen);
		umask(old);
		return rc;
	}
	return ctl_store_open_pg(url, out, err, errlen);
}
