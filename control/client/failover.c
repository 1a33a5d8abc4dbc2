/* Which control server to try next.  A node may know several (meshd --login-server
 * A,B,...: replicas without a balancer in front, or a balancer and a replica reachable
 * directly); it sticks to the one that answers and, when that one fails, tries the next in
 * order, wrapping around.  Each try waits the backoff with jitter (75 % to 125 % of it, so
 * many nodes do not come back in step); the backoff doubles, up to BACKOFF_MAX_MS, each time
 * a whole round of servers has failed, and falls back to BACKOFF_MIN_MS once one answers.
 * With one server this is the single backoff the client always had.  The jitter comes from
 * a small generator seeded once (from libsodium in the client, fixed in the tests), so the
 * choices can be replayed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"
#include "control/client/internal.h"

void ctl__failover_init(struct ctl__failover *f, size_t n, uint64_t seed)
{
	memset(f, 0, sizeof(*f));
	f->n = n ? n : 1;
	f->backoff_ms = BACKOFF_MIN_MS;
	f->rng = seed ? seed : 0x9e3779b97f4a7c15ull; /* xorshift's state must not be 0 */
}

/* xorshift64* (Vigna): plenty for jitter, and replayable from its seed. */
static uint64_t next_random(struct ctl__failover *f)
{
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return f->rng * 0x2545f4914f6cdd1dull;
}

unsigned ctl__failover_failed(struct ctl__failover *f)
{
	unsigned b = f->backoff_ms;
	unsigned ms = b * 3 / 4 + (unsigned)(next_random(f) % (b / 2 + 1));
	f->cur = (f->cur + 1) % f->n;
	if (++f->failed_in_round >= f->n) {
		f->failed_in_round = 0;
		f->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
	}
	return ms;
}

void ctl__failover_ok(struct ctl__failover *f)
{
	f->failed_in_round = 0;
	f->backoff_ms = BACKOFF_MIN_MS;
}

int ctl__servers_parse(const char *list, char ***urls, size_t *n, char *err, size_t errlen)
{
	char **v = NULL;
	size_t k = 0;
	const char *p = list;
	*urls = NULL;
	*n = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *s = p, *e = p + len;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '/'))
			e--;
		p += len + (p[len] == ',');
		if (s == e)
			continue; /* "A,,B" or a trailing comma */
		if (k == CTL_SERVERS_MAX) {
			snprintf(err, errlen, "more than %d control servers in '%.200s'",
				 CTL_SERVERS_MAX, list);
			strv_free(v, k);
			return -E2BIG;
		}
		char **nv = realloc(v, (k + 1) * sizeof(*v));
		char *u = nv ? strndup(s, (size_t)(e - s)) : NULL;
		if (nv)
			v = nv;
		if (!u) {
			strv_free(v, k);
			return -ENOMEM;
		}
		v[k++] = u;
	}
	if (!k) {
		snprintf(err, errlen, "no control server URL in '%.200s'", list);
		free(v);
		return -EINVAL;
	}
	*urls = v;
	*n = k;
	return 0;
}
