/* What the path manager's tests share: a fake clock's ticks that check the deadline is
 * exact, transaction ids 1, 2, 3, ... from a fake random source, the actions of a tick in
 * got[], and checks that name the step whose action is not the one wanted. */
#ifndef MESH_TESTS_NAT_PATH_STEPS_H
#define MESH_TESTS_NAT_PATH_STEPS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "check.h"
#include "nat/path.h"

enum { LOG = 64, RELAY = 77 };

static struct nat_path_action got[LOG];
static int n_got;
static uint32_t rng_counter;

/* Transaction ids 1, 2, 3, ... in their first four bytes: each test knows which is which. */
static void fake_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	memset(buf, 0, len);
	rng_counter++;
	memcpy(buf, &rng_counter, sizeof(rng_counter));
}

static void on_action(void *ctx, const struct nat_path_action *a)
{
	(void)ctx;
	if (n_got < LOG)
		got[n_got] = *a;
	n_got++;
}

/* An IPv4 or (with a colon) IPv6 address and port. */
static struct sockaddr_storage ap(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (strchr(ip, ':')) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		CHECK_INT(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
	} else {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		CHECK_INT(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static bool same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
	return x->sin_family == y->sin_family && x->sin_port == y->sin_port &&
	       x->sin_addr.s_addr == y->sin_addr.s_addr;
}

static void start(struct nat_path *p)
{
	struct nat_path_config cfg = { .random = fake_random };
	nat_path_init(p, &cfg);
}

/* Ticks at t; the actions land in got[].  The deadline after it must be later than t, and
 * when it was later than t before, a tick one ms before it must have done nothing (the
 * deadline is exact). */
static int tick(struct nat_path *p, uint64_t t)
{
	uint64_t before = nat_path_next_deadline(p);
	n_got = 0;
	nat_path_tick(p, t, on_action, NULL);
	if (before > t)
		CHECK_INT(n_got, 0);
	uint64_t after = nat_path_next_deadline(p);
	if (after <= t)
		fprintf(stderr, "tick at %llu: next deadline %llu is not later\n",
			(unsigned long long)t, (unsigned long long)after);
	CHECK(after > t);
	return n_got;
}

static void want_ping(int step, int i, const struct sockaddr_storage *to)
{
	if (i >= n_got || got[i].type != NAT_PATH_SEND_PING || !same(&got[i].addr, to))
		fprintf(stderr, "step %d: action %d is not the ping wanted\n", step, i);
	CHECK(i < n_got && got[i].type == NAT_PATH_SEND_PING && same(&got[i].addr, to));
}

static void want_changed(int step, int i, enum nat_path_kind kind,
			 const struct sockaddr_storage *to)
{
	bool ok = i < n_got && got[i].type == NAT_PATH_CHANGED && got[i].kind == kind &&
		  (kind != NAT_PATH_DIRECT || same(&got[i].addr, to)) &&
		  (kind != NAT_PATH_RELAY || got[i].relay == RELAY);
	if (!ok)
		fprintf(stderr, "step %d: action %d is not the change to %s wanted\n", step, i,
			nat_path_kind_name(kind));
	CHECK(ok);
}

static void want_cmm(int step, int i)
{
	bool ok = i < n_got && got[i].type == NAT_PATH_SEND_CALL_ME_MAYBE && got[i].relay == RELAY;
	if (!ok)
		fprintf(stderr, "step %d: action %d is not a call-me-maybe\n", step, i);
	CHECK(ok);
}

static bool has(const struct nat_path *p, const struct sockaddr_storage *a)
{
	for (size_t i = 0; i < p->n_cand; i++)
		if (same(&p->cand[i].addr, a))
			return true;
	return false;
}

/* A pong from `to` at t that must move the path there. */
static void pong_moves(struct nat_path *p, int step, const uint8_t *id,
		       const struct sockaddr_storage *to, uint64_t t)
{
	CHECK_INT(nat_path_on_pong(p, id, SA(*to), t), 0);
	CHECK_INT(tick(p, t), 1);
	want_changed(step, 0, NAT_PATH_DIRECT, to);
}

/* The txid of got[i], a ping. */
static const uint8_t *txid(int i)
{
	return got[i].txid;
}

#endif
