/* Addresses, prefixes, address sets, ports and protocols for the policy engine, plus the
 * small containers the rest of the module shares (growable arrays, a string hash map).
 * Address sets keep the prefixes callers see and, after pol__addrset_finish, sorted
 * merged intervals so that membership is a binary search whatever the set's size. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/policy/internal.h"

int pol__grow(void *vp, size_t *cap, size_t need, size_t elem)
{
	void **v = vp;
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 4;
	while (nc < need)
		nc *= 2;
	void *nv = realloc(*v, nc * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

int pol__fail(struct pol_error *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->line = err->column = 0;
	}
	return -EINVAL;
}

uint64_t pol__hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

static int strmap_rehash(struct pol__strmap *m, size_t ncap)
{
	const char **keys = calloc(ncap, sizeof(*keys));
	int *vals = calloc(ncap, sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = pol__hash(m->keys[i], strlen(m->keys[i])) & (ncap - 1);
		while (keys[j])
			j = (j + 1) & (ncap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = ncap;
	return 0;
}

int pol__strmap_put(struct pol__strmap *m, const char *key, int val)
{
	if ((m->n + 1) * 2 > m->cap) {
		int rc = strmap_rehash(m, m->cap ? m->cap * 2 : 16);
		if (rc)
			return rc;
	}
	size_t j = pol__hash(key, strlen(key)) & (m->cap - 1);
	while (m->keys[j]) {
		if (strcmp(m->keys[j], key) == 0) {
			m->vals[j] = val;
			return 0;
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->keys[j] = key;
	m->vals[j] = val;
	m->n++;
	return 0;
}

int pol__strmap_get(const struct pol__strmap *m, const char *key)
{
	if (!m->cap || !key)
		return -1;
	size_t j = pol__hash(key, strlen(key)) & (m->cap - 1);
	while (m->keys[j]) {
		if (strcmp(m->keys[j], key) == 0)
			return m->vals[j];
		j = (j + 1) & (m->cap - 1);
	}
	return -1;
}

void pol__strmap_free(struct pol__strmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- address sets ---- */

int pol__addrset_add(struct pol__addrset *s, const struct addr_prefix *p)
{
	return POL__PUSH(s->prefixes, s->n_prefixes, s->cap_prefixes, *p);
}

static int iv4_cmp(const void *a, const void *b)
{
	const struct pol__iv4 *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int iv6_cmp(const void *a, const void *b)
{
	const struct pol__iv6 *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static unsigned __int128 be128(const uint8_t *b)
{
	unsigned __int128 v = 0;
	for (int i = 0; i < 16; i++)
		v = (v << 8) | b[i];
	return v;
}

int pol__addrset_finish(struct pol__addrset *s)
{
	size_t n4 = 0, n6 = 0;
	free(s->v4);
	free(s->v6);
	s->v4 = NULL;
	s->v6 = NULL;
	for (size_t i = 0; i < s->n_prefixes; i++)
		s->prefixes[i].ip.family == AF_INET ? n4++ : n6++;
	s->v4 = n4 ? malloc(n4 * sizeof(*s->v4)) : NULL;
	s->v6 = n6 ? malloc(n6 * sizeof(*s->v6)) : NULL;
	if ((n4 && !s->v4) || (n6 && !s->v6))
		return -ENOMEM;
	n4 = n6 = 0;
	for (size_t i = 0; i < s->n_prefixes; i++) {
		const struct addr_prefix *p = &s->prefixes[i];
		if (p->ip.family == AF_INET) {
			uint32_t v = (uint32_t)p->ip.bytes[0] << 24 |
				     (uint32_t)p->ip.bytes[1] << 16 |
				     (uint32_t)p->ip.bytes[2] << 8 | p->ip.bytes[3];
			uint32_t span = p->bits == 0 ? 0xffffffffu : ((1u << (32 - p->bits)) - 1);
			if (p->bits == 32)
				span = 0;
			s->v4[n4++] = (struct pol__iv4){ v, v | span };
		} else {
			unsigned __int128 v = be128(p->ip.bytes);
			unsigned __int128 span =
			    p->bits == 0     ? ~(unsigned __int128)0
			    : p->bits == 128 ? 0
					     : (((unsigned __int128)1 << (128 - p->bits)) - 1);
			s->v6[n6++] = (struct pol__iv6){ v, v | span };
		}
	}
	if (n4)
		qsort(s->v4, n4, sizeof(*s->v4), iv4_cmp);
	if (n6)
		qsort(s->v6, n6, sizeof(*s->v6), iv6_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n4; i++) {
		if (m && (s->v4[m - 1].hi == 0xffffffffu || s->v4[i].lo <= s->v4[m - 1].hi + 1)) {
			if (s->v4[i].hi > s->v4[m - 1].hi)
				s->v4[m - 1].hi = s->v4[i].hi;
		} else {
			s->v4[m++] = s->v4[i];
		}
	}
	s->n_v4 = m;
	m = 0;
	for (size_t i = 0; i < n6; i++) {
		if (m && (s->v6[m - 1].hi == ~(unsigned __int128)0 ||
			  s->v6[i].lo <= s->v6[m - 1].hi + 1)) {
			if (s->v6[i].hi > s->v6[m - 1].hi)
				s->v6[m - 1].hi = s->v6[i].hi;
		} else {
			s->v6[m++] = s->v6[i];
		}
	}
	s->n_v6 = m;
	return 0;
}

bool pol__addrset_has(const struct pol__addrset *s, const struct addr_ip *a)
{
	if (a->family == AF_INET) {
		uint32_t v = (uint32_t)a->bytes[0] << 24 | (uint32_t)a->bytes[1] << 16 |
			     (uint32_t)a->bytes[2] << 8 | a->bytes[3];
		size_t lo = 0, hi = s->n_v4;
		while (lo < hi) { /* first interval with lo > v */
			size_t mid = (lo + hi) / 2;
			if (s->v4[mid].lo <= v)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo > 0 && s->v4[lo - 1].hi >= v;
	}
	unsigned __int128 v = be128(a->bytes);
	size_t lo = 0, hi = s->n_v6;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->v6[mid].lo <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && s->v6[lo - 1].hi >= v;
}

void pol__addrset_free(struct pol__addrset *s)
{
	free(s->prefixes);
	free(s->v4);
	free(s->v6);
	memset(s, 0, sizeof(*s));
}

/* ---- ports and protocols ---- */

static bool port_num(const char *s, size_t n, long *out)
{
	if (n == 0 || n > 6)
		return false;
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool pol__ports_parse(const char *s, struct pol_port_range **out, size_t *n, struct pol_error *err,
		      const char *ctx)
{
	struct pol_port_range *v = NULL;
	size_t nv = 0, cap = 0;
	*out = NULL;
	*n = 0;
	if (strcmp(s, "*") == 0) {
		v = malloc(sizeof(*v));
		if (!v)
			return pol__fail(err, "out of memory"), false;
		v[0] = (struct pol_port_range){ 0, 65535 };
		*out = v;
		*n = 1;
		return true;
	}
	const char *p = s;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char item[32];
		if (len >= sizeof(item))
			len = sizeof(item) - 1;
		memcpy(item, p, len);
		item[len] = '\0';
		const char *dash = strchr(item, '-');
		long first, last;
		if (!port_num(item, dash ? (size_t)(dash - item) : len, &first)) {
			free(v);
			pol__fail(err, "%sport range \"%s\": invalid first integer", ctx, item);
			return false;
		}
		if (dash) {
			if (!port_num(dash + 1, strlen(dash + 1), &last)) {
				free(v);
				pol__fail(err, "%sport range \"%s\": invalid last integer", ctx,
					  item);
				return false;
			}
		} else {
			last = first;
		}
		if (first == 0) {
			free(v);
			pol__fail(
			    err,
			    "%sport range \"%s\": first port must be >0, or use '*' for wildcard",
			    ctx, item);
			return false;
		}
		if (first > 65535 || last > 65535) {
			free(v);
			pol__fail(err, "%sport range \"%s\": port out of range (1-65535)", ctx,
				  item);
			return false;
		}
		if (last < first) {
			free(v);
			pol__fail(err, "%sport range \"%s\": last port is before first port", ctx,
				  item);
			return false;
		}
		if (POL__PUSH(v, nv, cap,
			      ((struct pol_port_range){ (uint16_t)first, (uint16_t)last }))) {
			free(v);
			pol__fail(err, "out of memory");
			return false;
		}
		if (!end)
			break;
		p = end + 1;
	}
	*out = v;
	*n = nv;
	return true;
}

static const struct {
	const char *name;
	uint8_t num;
} protos[] = {
	{ "icmp", POL_PROTO_ICMP },	{ "igmp", POL_PROTO_IGMP },
	{ "tcp", POL_PROTO_TCP },	{ "udp", POL_PROTO_UDP },
	{ "gre", POL_PROTO_GRE },	{ "esp", POL_PROTO_ESP },
	{ "ah", POL_PROTO_AH },		{ "ipv6-icmp", POL_PROTO_ICMPV6 },
	{ "icmpv6", POL_PROTO_ICMPV6 }, { "sctp", POL_PROTO_SCTP },
};

bool pol_proto_parse(const char *s, uint8_t *out)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strcmp(s, protos[i].name) == 0) {
			*out = protos[i].num;
			return true;
		}
	long v;
	if (!port_num(s, strlen(s), &v) || v < 1 || v > 255)
		return false;
	*out = (uint8_t)v;
	return true;
}
