/* The STUN codec against the test vectors of RFC 5769 (section 2: a request with
 * short-term credentials, IPv4 and IPv6 responses, a request with long-term credentials),
 * each with its MESSAGE-INTEGRITY and FINGERPRINT checked and then broken by one bit; the
 * long-term request rebuilt byte for byte by the builder; and malformed datagrams refused
 * with the exact message. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "check.h"
#include "nat/stun.h"

/* RFC 5769 2.1: username "evtj:h6vY", password "VOkJxbRl1RmTxUk/WvJxBt". */
static const uint8_t req[] = {
	0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e,
	0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24,
	0x00, 0x04, 0x6e, 0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1,
	0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68,
	0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
	0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5,
	0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 2.2: XOR-MAPPED-ADDRESS 192.0.2.1 port 32853. */
static const uint8_t resp4[] = {
	0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
	0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
	0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
	0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b,
	0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* RFC 5769 2.3: XOR-MAPPED-ADDRESS 2001:db8:1234:5678:11:2233:4455:6677 port 32853. */
static const uint8_t resp6[] = {
	0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
	0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02,
	0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5,
	0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6,
	0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
	0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

/* RFC 5769 2.4: username U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9 (UTF-8), password
 * "TheMatrIX" (after SASLprep), realm "example.org", nonce "f//499k954d6OL34oL9FSTvy64sA". */
static const uint8_t reqltc[] = {
	0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72,
	0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88,
	0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00,
	0x15, 0x00, 0x1c, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
	0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73,
	0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72,
	0x67, 0x00, 0x00, 0x08, 0x00, 0x14, 0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02,
	0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66,
};

static const char short_pw[] = "VOkJxbRl1RmTxUk/WvJxBt";
static const char ltc_user[] =
    "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
static const char ltc_nonce[] = "f//499k954d6OL34oL9FSTvy64sA";

static const uint8_t *pw(void)
{
	return (const uint8_t *)short_pw;
}

/* Integrity and fingerprint hold, and each fails when one bit of the message changes. */
static void check_sealed(const uint8_t *msg, size_t n, const uint8_t *key, size_t keylen,
			 bool has_fp)
{
	uint8_t buf[NAT_STUN_MAX_LEN];
	struct nat_stun_msg m;
	char err[160];
	CHECK_INT(nat_stun_parse(msg, n, &m, err, sizeof(err)), 0);
	CHECK_INT(nat_stun_check_integrity(&m, key, keylen), 0);
	CHECK_INT(nat_stun_check_fingerprint(&m), has_fp ? 0 : -ENOENT);
	uint8_t wrong[32];
	memcpy(wrong, key, keylen);
	wrong[0] ^= 1;
	CHECK_INT(nat_stun_check_integrity(&m, wrong, keylen), -EACCES);
	memcpy(buf, msg, n);
	buf[NAT_STUN_HEADER + 5] ^= 0x01; /* inside the first attribute's value */
	CHECK_INT(nat_stun_parse(buf, n, &m, err, sizeof(err)), 0);
	CHECK_INT(nat_stun_check_integrity(&m, key, keylen), -EACCES);
	if (has_fp)
		CHECK_INT(nat_stun_check_fingerprint(&m), -EBADMSG);
}

static void test_vectors(void)
{
	struct nat_stun_msg m;
	struct sockaddr_storage ss;
	char err[160], text[INET6_ADDRSTRLEN];

	CHECK(nat_stun_looks_like(req, sizeof(req)));
	CHECK_INT(nat_stun_parse(req, sizeof(req), &m, err, sizeof(err)), 0);
	CHECK_INT(m.method, NAT_STUN_BINDING);
	CHECK_INT(m.cls, NAT_STUN_REQUEST);
	CHECK_INT(m.n_attrs, 6);
	const struct nat_stun_attr *u = nat_stun_find(&m, NAT_STUN_USERNAME);
	CHECK(u && u->len == 9 && memcmp(u->val, "evtj:h6vY", 9) == 0);
	check_sealed(req, sizeof(req), pw(), strlen(short_pw), true);

	CHECK_INT(nat_stun_parse(resp4, sizeof(resp4), &m, err, sizeof(err)), 0);
	CHECK_INT(m.cls, NAT_STUN_SUCCESS);
	CHECK_INT(nat_stun_get_addr(&m, NAT_STUN_XOR_MAPPED_ADDRESS, &ss, err, sizeof(err)), 0);
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	CHECK_INT(ss.ss_family, AF_INET);
	CHECK_STR(inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)), "192.0.2.1");
	CHECK_INT(ntohs(in->sin_port), 32853);
	check_sealed(resp4, sizeof(resp4), pw(), strlen(short_pw), true);

	CHECK_INT(nat_stun_parse(resp6, sizeof(resp6), &m, err, sizeof(err)), 0);
	CHECK_INT(nat_stun_get_addr(&m, NAT_STUN_XOR_MAPPED_ADDRESS, &ss, err, sizeof(err)), 0);
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	CHECK_INT(ss.ss_family, AF_INET6);
	CHECK_STR(inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text)),
		  "2001:db8:1234:5678:11:2233:4455:6677");
	CHECK_INT(ntohs(in6->sin6_port), 32853);
	check_sealed(resp6, sizeof(resp6), pw(), strlen(short_pw), true);
	CHECK_INT(nat_stun_get_addr(&m, NAT_STUN_MAPPED_ADDRESS, &ss, err, sizeof(err)), -ENOENT);

	uint8_t key[NAT_STUN_LT_KEY];
	nat_stun_long_term_key(ltc_user, "example.org", "TheMatrIX", key);
	check_sealed(reqltc, sizeof(reqltc), key, sizeof(key), false);
}

/* The builder reproduces RFC 5769 2.4 byte for byte (its padding is zeros, as ours). */
static void test_build(void)
{
	uint8_t buf[256], key[NAT_STUN_LT_KEY];
	struct nat_stun_builder b;
	nat_stun_long_term_key(ltc_user, "example.org", "TheMatrIX", key);
	nat_stun_build_begin(&b, buf, sizeof(buf), NAT_STUN_BINDING, NAT_STUN_REQUEST, reqltc + 8);
	nat_stun_add(&b, NAT_STUN_USERNAME, ltc_user, strlen(ltc_user));
	nat_stun_add(&b, NAT_STUN_NONCE, ltc_nonce, strlen(ltc_nonce));
	nat_stun_add(&b, NAT_STUN_REALM, "example.org", 11);
	CHECK_INT(nat_stun_build_end(&b, key, sizeof(key), false), (int)sizeof(reqltc));
	CHECK(memcmp(buf, reqltc, sizeof(reqltc)) == 0);

	/* A response with both address families round-trips, sealed. */
	const uint8_t txid[NAT_STUN_TXID] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(41641) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(3478) };
	inet_pton(AF_INET, "198.18.0.20", &a4.sin_addr);
	inet_pton(AF_INET6, "fd7a:115c:a1e0::1", &a6.sin6_addr);
	nat_stun_build_begin(&b, buf, sizeof(buf), NAT_TURN_ALLOCATE, NAT_STUN_SUCCESS, txid);
	nat_stun_add_xaddr(&b, NAT_TURN_XOR_RELAYED_ADDRESS, (struct sockaddr *)&a6);
	nat_stun_add_xaddr(&b, NAT_STUN_XOR_MAPPED_ADDRESS, (struct sockaddr *)&a4);
	nat_stun_add_u32(&b, NAT_TURN_LIFETIME, 600);
	int n = nat_stun_build_end(&b, key, sizeof(key), true);
	CHECK(n > 0);
	struct nat_stun_msg m;
	struct sockaddr_storage ss;
	char err[160], text[INET6_ADDRSTRLEN];
	CHECK(nat_stun_looks_like(buf, (size_t)n));
	CHECK_INT(nat_stun_parse(buf, (size_t)n, &m, err, sizeof(err)), 0);
	CHECK_INT(m.method, NAT_TURN_ALLOCATE);
	CHECK_INT(m.cls, NAT_STUN_SUCCESS);
	CHECK(memcmp(m.txid, txid, sizeof(txid)) == 0);
	CHECK_INT(nat_stun_check_integrity(&m, key, sizeof(key)), 0);
	CHECK_INT(nat_stun_check_fingerprint(&m), 0);
	CHECK_INT(nat_stun_get_addr(&m, NAT_TURN_XOR_RELAYED_ADDRESS, &ss, err, sizeof(err)), 0);
	CHECK_STR(inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, text, sizeof(text)),
		  "fd7a:115c:a1e0::1");
	CHECK_INT(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 3478);
	CHECK_INT(nat_stun_get_addr(&m, NAT_STUN_XOR_MAPPED_ADDRESS, &ss, err, sizeof(err)), 0);
	CHECK_STR(inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof(text)),
		  "198.18.0.20");
	const struct nat_stun_attr *lt = nat_stun_find(&m, NAT_TURN_LIFETIME);
	CHECK(lt && lt->len == 4 && lt->val[2] == 0x02 && lt->val[3] == 0x58);

	/* What does not fit is an error, not a cut message. */
	nat_stun_build_begin(&b, buf, 40, NAT_STUN_BINDING, NAT_STUN_REQUEST, txid);
	nat_stun_add(&b, NAT_STUN_SOFTWARE, "0123456789abcdef0123", 20);
	CHECK_INT(nat_stun_build_end(&b, NULL, 0, true), -ENOSPC);

	/* ERROR-CODE: code and a reason with a control character made harmless. */
	nat_stun_build_begin(&b, buf, sizeof(buf), NAT_TURN_ALLOCATE, NAT_STUN_ERROR, txid);
	static const uint8_t ec[] = { 0,   0,	4,   1,	  'U', 'n', 'a', 'u', 't',
				      'h', 'o', 'r', 'i', 'z', 'e', 'd', 0x1b };
	nat_stun_add(&b, NAT_STUN_ERROR_CODE, ec, sizeof(ec));
	n = nat_stun_build_end(&b, NULL, 0, false);
	CHECK_INT(nat_stun_parse(buf, (size_t)n, &m, err, sizeof(err)), 0);
	int code = 0;
	char reason[64];
	CHECK_INT(nat_stun_get_error(&m, &code, reason, sizeof(reason)), 0);
	CHECK_INT(code, 401);
	CHECK_STR(reason, "Unauthorized?");
}

struct bad {
	const char *what;
	size_t at;	 /* byte to overwrite (0 = none) */
	uint8_t val;	 /* with this */
	size_t cut;	 /* bytes to drop from the end */
	const char *err; /* exact message */
};

/* Malformed variants of the IPv4 response, each refused with the exact message. */
static void test_bad(void)
{
	static const struct bad cases[] = {
		{ "short", 0, 0, sizeof(resp4) - 19, "19 bytes: shorter than a STUN header" },
		{ "no cookie", 4, 0x22, 0, "not STUN: no magic cookie" },
		{ "length not x4", 3, 0x3d, 0, "message length 61 is not a multiple of 4" },
		{ "length mismatch", 3, 0x40, 0,
		  "message length 64 does not match the 60 bytes received" },
		{ "attr past end", 23, 0x40, 0,
		  "attribute 0x8022 at offset 20: length 64 runs past the end" },
		{ "FP length", 75, 0x08, 0,
		  "attribute 0x8028 at offset 72: length 8 runs past the end" },
	};
	uint8_t buf[sizeof(resp4)];
	struct nat_stun_msg m;
	char err[160];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad *c = &cases[i];
		if (!c->err)
			continue;
		memcpy(buf, resp4, sizeof(buf));
		if (c->at)
			buf[c->at] = c->val;
		err[0] = '\0';
		CHECK_INT(nat_stun_parse(buf, sizeof(buf) - c->cut, &m, err, sizeof(err)),
			  -EBADMSG);
		CHECK_STR(err, c->err);
	}

	memcpy(buf, resp4, sizeof(buf));
	buf[0] = 0x81;
	CHECK_INT(nat_stun_parse(buf, sizeof(buf), &m, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "not STUN: the first two bits are not zero");
	CHECK(!nat_stun_looks_like(buf, sizeof(buf)));

	/* MESSAGE-INTEGRITY of 16 bytes: the length says 0x10, the rest shifts. */
	uint8_t mi[NAT_STUN_HEADER + 4 + 16];
	memcpy(mi, resp4, NAT_STUN_HEADER);
	mi[2] = 0;
	mi[3] = 20;
	memcpy(mi + NAT_STUN_HEADER, "\x00\x08\x00\x10", 4);
	memset(mi + NAT_STUN_HEADER + 4, 0xab, 16);
	CHECK_INT(nat_stun_parse(mi, sizeof(mi), &m, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "MESSAGE-INTEGRITY of 16 bytes (must be 20)");

	/* Something after FINGERPRINT. */
	uint8_t fp[NAT_STUN_HEADER + 8 + 8];
	memcpy(fp, resp4, NAT_STUN_HEADER);
	fp[2] = 0;
	fp[3] = 16;
	static const uint8_t fp_then[16] = { 0x80, 0x28, 0, 4, 1,   2,	 3,   4,
					     0x80, 0x22, 0, 4, 'a', 'b', 'c', 'd' };
	memcpy(fp + NAT_STUN_HEADER, fp_then, sizeof(fp_then));
	CHECK_INT(nat_stun_parse(fp, sizeof(fp), &m, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "attribute after FINGERPRINT");

	/* More attributes than the bound: refused, not truncated. */
	uint8_t many[NAT_STUN_HEADER + 4 * (NAT_STUN_MAX_ATTRS + 1)];
	memset(many, 0, sizeof(many));
	memcpy(many, resp4, NAT_STUN_HEADER);
	many[2] = (uint8_t)((sizeof(many) - NAT_STUN_HEADER) >> 8);
	many[3] = (uint8_t)(sizeof(many) - NAT_STUN_HEADER);
	for (size_t i = 0; i <= NAT_STUN_MAX_ATTRS; i++)
		many[NAT_STUN_HEADER + 4 * i] = 0x80; /* SOFTWARE-like optional, length 0 */
	CHECK_INT(nat_stun_parse(many, sizeof(many), &m, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "more than 32 attributes");

	/* After MESSAGE-INTEGRITY, other attributes are ignored (RFC 8489 14.5): a forged
	 * XOR-MAPPED-ADDRESS there is not seen. */
	uint8_t after[sizeof(resp4) + 12];
	memcpy(after, resp4, 72);	    /* up to the end of MESSAGE-INTEGRITY */
	memcpy(after + 72, resp4 + 36, 12); /* XOR-MAPPED-ADDRESS again, after it */
	memcpy(after + 84, resp4 + 72, 8);  /* FINGERPRINT (now wrong, not checked here) */
	after[3] = (uint8_t)(sizeof(after) - NAT_STUN_HEADER);
	CHECK_INT(nat_stun_parse(after, sizeof(after), &m, err, sizeof(err)), 0);
	size_t xm = 0;
	for (size_t i = 0; i < m.n_attrs; i++)
		xm += m.attrs[i].type == NAT_STUN_XOR_MAPPED_ADDRESS;
	CHECK_INT(xm, 1);

	/* Address attributes: unknown family, wrong lengths. */
	struct sockaddr_storage ss;
	memcpy(buf, resp4, sizeof(buf));
	buf[41] = 0x03;
	CHECK_INT(nat_stun_parse(buf, sizeof(buf), &m, err, sizeof(err)), 0);
	CHECK_INT(nat_stun_get_addr(&m, NAT_STUN_XOR_MAPPED_ADDRESS, &ss, err, sizeof(err)),
		  -EBADMSG);
	CHECK_STR(err, "address attribute 0x0020: unknown family 3");
	buf[41] = 0x02;
	CHECK_INT(nat_stun_parse(buf, sizeof(buf), &m, err, sizeof(err)), 0);
	CHECK_INT(nat_stun_get_addr(&m, NAT_STUN_XOR_MAPPED_ADDRESS, &ss, err, sizeof(err)),
		  -EBADMSG);
	CHECK_STR(err, "IPv6 address attribute 0x0020 of 8 bytes (must be 20)");
}

int main(void)
{
	test_vectors();
	test_build();
	test_bad();
	/* addresses as text (status, logs, netcheck) and compared (link-local scopes count) */
	{
		struct sockaddr_storage a4 = { 0 }, a6 = { 0 }, b6, none = { 0 };
		struct sockaddr_in *v4 = (struct sockaddr_in *)&a4;
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a6;
		char text[80];
		v4->sin_family = AF_INET;
		v4->sin_port = htons(3478);
		inet_pton(AF_INET, "198.18.0.10", &v4->sin_addr);
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(41641);
		inet_pton(AF_INET6, "fe80::1", &v6->sin6_addr);
		v6->sin6_scope_id = 2;
		nat_sockaddr_format(&a4, text, sizeof(text));
		CHECK_STR(text, "198.18.0.10:3478");
		nat_sockaddr_format(&a6, text, sizeof(text));
		CHECK_STR(text, "[fe80::1]:41641");
		none.ss_family = AF_UNIX;
		nat_sockaddr_format(&none, text, sizeof(text));
		CHECK_STR(text, "none");
		b6 = a6;
		CHECK(nat_sockaddr_equal(&a6, (struct sockaddr *)&b6));
		((struct sockaddr_in6 *)&b6)->sin6_scope_id = 3;
		CHECK(!nat_sockaddr_equal(&a6, (struct sockaddr *)&b6));
		CHECK(!nat_sockaddr_equal(&a4, (struct sockaddr *)&a6));
		CHECK(!nat_sockaddr_equal(&none, (struct sockaddr *)&none));
	}

	return check_finish();
}
