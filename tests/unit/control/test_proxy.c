/* The PROXY protocol's header (control/server/proxy.c): a numbered table of inputs with what
 * each must give (the header's length, or 0 for "more to come", or the exact error), and
 * every proper prefix of each accepted header answered "more to come", never an error or a
 * read past the header. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "control/server/proxy.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"
#define V4                 \
	"\xc0\x00\x02\x07" \
	"\x0a\x00\x00\x01" \
	"\xd4\x31\x01\xbb" /* 192.0.2.7:54321 -> :443 */
#define V6                                           \
	"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07" \
	"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01" \
	"\x00\x01\x01\xbb"
#define IN(s) (const uint8_t *)(s), sizeof(s) - 1

static const struct {
	const uint8_t *in;
	size_t len;
	int want;	  /* the header's length, 0, or a negative errno */
	const char *text; /* the client ("local" for LOCAL) or the error */
} cases[] = {
	/*  0 */ { IN(SIG "\x21\x11\x00\x0c" V4), 28, "192.0.2.7:54321" },
	/*  1 */ { IN(SIG "\x21\x11\x00\x0c" V4 "GET / HTTP/1.1"), 28, "192.0.2.7:54321" },
	/*  2 */ { IN(SIG "\x21\x21\x00\x24" V6 "\x16\x03"), 52, "[2001:db8::7]:1" },
	/*  3 */
	{ IN(SIG "\x21\x11\x00\x12" V4 "\x04\x00\x03"
		 "abc"),
	  34, "192.0.2.7:54321" },
	/*  4 */ { IN(SIG "\x20\x00\x00\x00"), 16, "local" },
	/*  5 */ { IN(SIG "\x20\x11\x00\x0c" V4), 28, "local" }, /* addresses ignored */
	/*  6 */
	{ IN("GET / HTTP/1.1\r\nHost: x\r\n"), -EPROTO,
	  "not a PROXY protocol header: the connection starts with 'GET / "
	  "HTTP/1.1\\x0d\\x0a'" },
	/*  7 */
	{ IN("\r\n\r\n\0\r\nQUIT!"), -EPROTO,
	  "not a PROXY protocol header: the connection starts with "
	  "'\\x0d\\x0a\\x0d\\x0a\\x00\\x0d\\x0aQUIT!'" },
	/*  8 */ { IN(SIG "\x11\x11\x00\x0c"), -EPROTO, "PROXY v2: version 1 (only 2 is defined)" },
	/*  9 */
	{ IN(SIG "\x22\x11\x00\x0c"), -EPROTO, "PROXY v2: command 0x2 (LOCAL or PROXY only)" },
	/* 10 */
	{ IN(SIG "\x21\x31\x00\xd8"), -ENOTSUP,
	  "PROXY v2: address family 0x3 (AF_UNIX) is not supported (TCP over IPv4 or "
	  "IPv6 only)" },
	/* 11 */
	{ IN(SIG "\x21\x00\x00\x00"), -ENOTSUP,
	  "PROXY v2: address family 0x0 (unspecified) is not supported (TCP over IPv4 "
	  "or IPv6 only)" },
	/* 12 */
	{ IN(SIG "\x21\x12\x00\x0c"), -ENOTSUP,
	  "PROXY v2: transport 0x2 (UDP) is not supported (TCP only)" },
	/* 13 */
	{ IN(SIG "\x21\x11\x00\x08"), -EPROTO, "PROXY v2: 8 address bytes for IPv4 (12 needed)" },
	/* 14 */
	{ IN(SIG "\x21\x11\xff\xff"), -EMSGSIZE,
	  "PROXY v2: a header of 65551 bytes (this server reads at most 536)" },
	/* 15 */
	{ IN(SIG "\x21\x11\x02\x09"), -EMSGSIZE,
	  "PROXY v2: a header of 537 bytes (this server reads at most 536)" },
	/* 16 */
	{ IN(SIG "\x21\x11\x00\x0f" V4 "\x01\x00\xff"), -EPROTO,
	  "PROXY v2: TLV 0x01 of 255 bytes runs past the header's end (0 left)" },
	/* 17 */
	{ IN(SIG "\x21\x11\x00\x0e" V4 "\x01\x00"), -EPROTO,
	  "PROXY v2: 2 stray byte(s) after the last TLV" },
	/* 18 */
	{ IN("PROXY TCP4 192.0.2.7 10.0.0.1 54321 443\r\nGET / HTTP/1.1"), 41, "192.0.2.7:54321" },
	/* 19 */
	{ IN("PROXY TCP6 2001:db8::7 2001:db8::1 1 443\r\n\x16\x03"), 42, "[2001:db8::7]:1" },
	/* 20 */ { IN("PROXY UNKNOWN\r\n"), 15, "local" },
	/* 21 */ { IN("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), 35, "local" },
	/* 22 */ { IN("PROXY TCP4 192.0.2.7 10.0.0.1 54321 443"), 0, "" }, /* no CRLF yet */
									   /* 23 */
	{ IN("PROXY TCP4 192.0.2.7 2001:db8::1 1 2\r\n"), -EPROTO,
	  "PROXY v1: addresses in 'TCP4 192.0.2.7 2' are not IPv4" },
	/* 24 */
	{ IN("PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n"), -ENOTSUP,
	  "PROXY v1: protocol in 'UDP4 192.0.2.7 1' is not TCP4, TCP6 or UNKNOWN" },
	/* 25 */
	{ IN("PROXY TCP4 1.2.3.4 5.6.7.8 65536 1\r\n"), -EPROTO,
	  "PROXY v1: ports in 'TCP4 1.2.3.4 5.6' are not 0-65535" },
	/* 26 */
	{ IN("PROXY TCP4 1.2.3.4 5.6.7.8 01 1\r\n"), -EPROTO,
	  "PROXY v1: ports in 'TCP4 1.2.3.4 5.6' are not 0-65535" },
	/* 27 */
	{ IN("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), -EPROTO,
	  "PROXY v1: 'TCP4 1.2.3.4 5.6' has 5 fields (PROXY, protocol, two addresses, "
	  "two ports)" },
	/* 28 */
	{ IN("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), -EPROTO,
	  "PROXY v1: fields not single-spaced in 'TCP4 1.2.3.4  5.'" },
	/* 29 */
	{ IN("PROXY TCP4\n"), -EPROTO,
	  "PROXY v1: byte 0x0a at offset 10 in the line ('OXY TCP4\\x0a')" },
	/* 30 */
	{ IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), -EPROTO,
	  "PROXY v1: byte 0x0d at offset 30 in the line ('.7.8 1 2\\x0dX')" },
	/* 31 */ { IN("PROXY "), 0, "" },
	/* 32 */ { IN("PROX"), 0, "" },
	/* 33 */ { IN(""), 0, "" },
	/* 34 */
	{ IN(SIG "\x21\x11\x00\x0c"
		 "\xc0\x00"),
	  0, "" }, /* the addresses to come */
	/* 35 */ { IN("PROXY TCP4 192.0.2.7 10.0.0.1 54321 443\r"), 0, "" }, /* the LF to come */
};

/* 107 bytes of v1 without a CRLF: no longer than the spec's longest line. */
static void v1_too_long(void)
{
	uint8_t b[CTL_PROXY_V1_MAX + 10];
	struct ctl_proxy_hdr h;
	char err[CTL_PROXY_ERR_MAX];
	memset(b, 'a', sizeof(b));
	memcpy(b, "PROXY ", 6);
	CHECK_INT(ctl_proxy_parse(b, CTL_PROXY_V1_MAX - 1, &h, err, sizeof(err)), 0);
	CHECK_INT(ctl_proxy_parse(b, CTL_PROXY_V1_MAX, &h, err, sizeof(err)), -EMSGSIZE);
	CHECK_STR(err, "PROXY v1: no CRLF within 107 bytes");
	/* a CR as the 107th byte with more after it: its LF would make the line 108 bytes
	 * (was "more to come" for ever: review-66 #4) */
	b[CTL_PROXY_V1_MAX - 1] = '\r';
	CHECK_INT(ctl_proxy_parse(b, CTL_PROXY_V1_MAX, &h, err, sizeof(err)), -EMSGSIZE);
	CHECK_INT(ctl_proxy_parse(b, CTL_PROXY_V1_MAX + 1, &h, err, sizeof(err)), -EMSGSIZE);
	CHECK_STR(err, "PROXY v1: no CRLF within 107 bytes");
	CHECK_INT(ctl_proxy_parse(b, sizeof(b), &h, err, sizeof(err)), -EMSGSIZE);
	memset(b + CTL_PROXY_V1_MAX - 1, 'a', 1);
	/* a CRLF that ends the longest line is taken */
	memcpy(b + CTL_PROXY_V1_MAX - 2, "\r\n", 2);
	memcpy(b, "PROXY UNKNOWN ", 14);
	CHECK_INT(ctl_proxy_parse(b, sizeof(b), &h, err, sizeof(err)), CTL_PROXY_V1_MAX);
	CHECK(h.local);
}

/* The longest v2 header read: the addresses and one TLV to CTL_PROXY_MAX. */
static void v2_longest(void)
{
	uint8_t b[CTL_PROXY_MAX + 4] = SIG "\x21\x11\x02\x08" V4;
	struct ctl_proxy_hdr h;
	char err[CTL_PROXY_ERR_MAX];
	size_t tlv = CTL_PROXY_MAX - 28 - 3;
	b[28] = 0x04;
	b[29] = (uint8_t)(tlv >> 8);
	b[30] = (uint8_t)tlv;
	CHECK_INT(ctl_proxy_parse(b, CTL_PROXY_MAX - 1, &h, err, sizeof(err)), 0);
	CHECK_INT(ctl_proxy_parse(b, sizeof(b), &h, err, sizeof(err)), CTL_PROXY_MAX);
	CHECK_INT(h.src.port, 54321);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ctl_proxy_hdr h;
		char err[CTL_PROXY_ERR_MAX], got[ADDR_TEXT_MAX];
		int rc = ctl_proxy_parse(cases[i].in, cases[i].len, &h, err, sizeof(err));
		if (rc != cases[i].want)
			fprintf(stderr, "case %zu: %d (%s)\n", i, rc, err);
		CHECK_INT(rc, cases[i].want);
		if (rc > 0) {
			CHECK_STR(h.local ? "local" : addr_endpoint_format(&h.src, got),
				  cases[i].text);
			for (int n = 0; n < rc; n++) /* every prefix: more to come */
				if (ctl_proxy_parse(cases[i].in, (size_t)n, &h, err, sizeof(err)))
					CHECK_INT(n, -1);
		} else {
			CHECK_STR(err, cases[i].text);
		}
	}
	v1_too_long();
	v2_longest();
	return check_finish();
}
