/* The local API's framing: one line per direction, read in whatever pieces the socket
 * gives.  Both ends use it, so meshd and meshctl agree on where a message ends and on
 * what is too long. */
#include "control/localapi/localapi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ctl_lapi_line_feed(struct ctl_lapi_line *l, const char *p, size_t n)
{
	if (l->done)
		return 1; /* one message per connection: what follows the line is ignored */
	const char *nl = memchr(p, '\n', n);
	size_t take = nl ? (size_t)(nl - p) : n;
	if (take > l->max - l->len)
		return -EMSGSIZE;
	char *nb = realloc(l->buf, l->len + take + 1);
	if (!nb)
		return -ENOMEM;
	l->buf = nb;
	memcpy(l->buf + l->len, p, take);
	l->len += take;
	l->buf[l->len] = '\0';
	l->done = nl != NULL;
	return l->done ? 1 : 0;
}

void ctl_lapi_line_clear(struct ctl_lapi_line *l)
{
	free(l->buf);
	*l = (struct ctl_lapi_line){ .max = l->max };
}
