/* dns/'s TCP framing (dns_tcp_frame) as a numbered table of streams, with the exact error
 * each bad one gets, then against a naive reader (every length read by hand) on random
 * streams cut at random points; and `meshctl dns query`'s text (dns_view_lookup_text):
 * a peer's A and AAAA by short and full name, PTR, NXDOMAIN, a name left upstream, and the
 * errors for a bad type and a bad name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dns/dns.h"
#include "fixture.h"

static const struct {
	const char *bytes;
	size_t len, max;
	int rc;
	size_t msg_len;
	const char *why;
} frames[] = {
	/* 1 */ { "", 0, 512, 0, 0, NULL },
	/* 2 */ { "\0", 1, 512, 0, 0, NULL },
	/* 3 */ { "\0\1", 2, 512, 0, 0, NULL },
	/* 4 */ { "\0\1x", 3, 512, 1, 1, NULL },
	/* 5 */ { "\0\1xy", 4, 512, 1, 1, NULL }, /* the next message's first byte */
	/* 6 */ { "\0\0", 2, 512, -EBADMSG, 0, "a zero-length message" },
	/* 7 */ { "\2\1", 2, 512, -EMSGSIZE, 0, "a message longer than the limit" },
	/* 8 */ { "\2\0", 2, 512, 0, 0, NULL }, /* exactly the limit: wait for it */
	/* 9 */ { "\xff\xff", 2, 65535, 0, 0, NULL },
	/* 10 */ { "\x10\x01", 2, 4096, -EMSGSIZE, 0, "a message longer than the limit" },
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		size_t n = 99;
		const char *why = NULL;
		int rc = dns_tcp_frame((const uint8_t *)frames[i].bytes, frames[i].len,
				       frames[i].max, &n, &why);
		if (rc != frames[i].rc || n != frames[i].msg_len ||
		    (frames[i].why ? !why || strcmp(why, frames[i].why) != 0 : false))
			fprintf(stderr, "frame %zu: rc %d, len %zu, why %s\n", i + 1, rc, n,
				why ? why : "-");
		CHECK_INT(rc, frames[i].rc);
		CHECK_INT(n, frames[i].msg_len);
		if (frames[i].why)
			CHECK_STR(why ? why : "", frames[i].why);
	}
}

/* Random streams of messages (some zero-length or too long), fed in random pieces as a
 * reader does, against the lengths written. */
static void test_random(void)
{
	srand(20);
	for (int round = 0; round < 2000; round++) {
		uint8_t stream[4096], buf[4096];
		size_t lens[64], n_msgs = 0, used = 0, have = 0, fed = 0, got = 0;
		size_t max = 1 + (size_t)(rand() % 300);
		int bad_at = -1;
		while (n_msgs < 64) {
			size_t l = (size_t)(rand() % 320);
			if (used + 2 + l > sizeof(stream))
				break;
			stream[used] = (uint8_t)(l >> 8);
			stream[used + 1] = (uint8_t)l;
			for (size_t k = 0; k < l; k++)
				stream[used + 2 + k] = (uint8_t)rand();
			if ((l == 0 || l > max) && bad_at < 0)
				bad_at = (int)n_msgs;
			lens[n_msgs++] = l;
			used += 2 + l;
		}
		int rc = 0;
		while (fed < used && rc >= 0) {
			size_t piece = 1 + (size_t)(rand() % 40);
			if (piece > used - fed)
				piece = used - fed;
			memcpy(buf + have, stream + fed, piece);
			have += piece;
			fed += piece;
			size_t m;
			const char *why;
			while ((rc = dns_tcp_frame(buf, have, max, &m, &why)) == 1) {
				CHECK(got < n_msgs && m == lens[got]);
				got++;
				memmove(buf, buf + 2 + m, have - 2 - m);
				have -= 2 + m;
			}
		}
		if (bad_at >= 0) {
			CHECK(rc < 0);
			CHECK_INT(got, (size_t)bad_at);
		} else {
			CHECK_INT(rc, 0);
			CHECK_INT(got, n_msgs);
			CHECK_INT(have, 0);
		}
	}
}

static void expect_text(const struct dns_view *v, const char *name, const char *type,
			const char *needle)
{
	char *out = NULL, err[256] = "";
	CHECK_INT(dns_view_lookup_text(v, name, type, &out, err, sizeof(err)), 0);
	if (!out || !strstr(out, needle))
		fprintf(stderr, "%s %s: '%s' not in:\n%s\n", name, type ? type : "-", needle,
			out ? out : err);
	CHECK(out && strstr(out, needle));
	free(out);
}

static void expect_error(const struct dns_view *v, const char *name, const char *type,
			 const char *want)
{
	char *out = NULL, err[256] = "";
	CHECK_INT(dns_view_lookup_text(v, name, type, &out, err, sizeof(err)), -EINVAL);
	CHECK(out == NULL);
	CHECK_STR(err, want);
}

static void test_lookup_text(void)
{
	struct dns_resolver *r = resolver(16, 4);
	const struct dns_view *v = dns_resolver_view(r);
	expect_text(v, "my-server", NULL, "my-server.\t300\tIN\tA\t100.64.0.1");
	expect_text(v, "MY-SERVER.tail.example.", "AAAA", "IN\tAAAA\tfd7a:115c:a1e0::1");
	expect_text(v, "1.0.64.100.in-addr.arpa", "PTR", "PTR\tmy-server.tail.example.");
	expect_text(v, "nobody.tail.example", "A", "rcode: NXDOMAIN");
	expect_text(v, "100.64.0.1", NULL, "1.0.64.100.in-addr.arpa.\t300\tIN\tPTR\tmy-server");
	expect_text(v, "fd7a:115c:a1e0::1", NULL,
		    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.1.a.c.5.1.1.a."
		    "7.d.f.ip6.arpa.\t300\tIN\tPTR\tmy-server.tail.example.");
	expect_text(v, "example.com", "A",
		    ";; example.com is not the tailnet's: it would go upstream to 192.0.2.53:53");
	expect_error(v, "my-server", "BOGUS", "unknown record type 'BOGUS'");
	expect_error(v, "a..b", "A", "'a..b' is not a DNS name: an empty label");
	dns_resolver_free(r);
}

int main(void)
{
	test_table();
	test_random();
	test_lookup_text();
	return check_finish();
}
