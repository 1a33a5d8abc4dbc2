/* STUN parsing and building: RFC 8489 section 5 (header), 14 (attributes, padding,
 * MESSAGE-INTEGRITY, FINGERPRINT); TURN's attributes are the same TLVs. */
#include "nat/stun.h"
#include "nat/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

enum { FINGERPRINT_XOR = 0x5354554e };

int nat__fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* The message type interleaves the 12 method bits with the 2 class bits (RFC 8489 5). */
static uint16_t type_encode(uint16_t method, enum nat_stun_class cls)
{
	unsigned c = (unsigned)cls;
	return (uint16_t)((method & 0x000F) | (method & 0x0070) << 1 | (method & 0x0F80) << 2 |
			  (c & 1) << 4 | (c & 2) << 7);
}

bool nat_stun_looks_like(const uint8_t *p, size_t n)
{
	return n >= NAT_STUN_HEADER && n <= NAT_STUN_MAX_LEN && (p[0] & 0xC0) == 0 &&
	       get32(p + 4) == NAT_STUN_MAGIC && (get16(p + 2) & 3) == 0 &&
	       (size_t)get16(p + 2) + NAT_STUN_HEADER == n;
}

int nat_stun_parse(const uint8_t *p, size_t n, struct nat_stun_msg *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	if (n < NAT_STUN_HEADER)
		return nat__fail(err, errlen, "%zu bytes: shorter than a STUN header", n);
	if (n > NAT_STUN_MAX_LEN)
		return nat__fail(err, errlen, "%zu bytes: longer than %d", n, NAT_STUN_MAX_LEN);
	if (p[0] & 0xC0)
		return nat__fail(err, errlen, "not STUN: the first two bits are not zero");
	if (get32(p + 4) != NAT_STUN_MAGIC)
		return nat__fail(err, errlen, "not STUN: no magic cookie");
	size_t body = get16(p + 2);
	if (body & 3)
		return nat__fail(err, errlen, "message length %zu is not a multiple of 4", body);
	if (body + NAT_STUN_HEADER != n)
		return nat__fail(err, errlen,
				 "message length %zu does not match the %zu bytes received", body,
				 n - NAT_STUN_HEADER);
	uint16_t t = get16(p);
	m->cls = (enum nat_stun_class)((t >> 4 & 1) | (t >> 7 & 2));
	m->method = (uint16_t)((t & 0x000F) | (t >> 1 & 0x0070) | (t >> 2 & 0x0F80));
	memcpy(m->txid, p + 8, NAT_STUN_TXID);
	m->raw = p;
	m->len = n;
	size_t off = NAT_STUN_HEADER;
	while (off < n) {
		if (m->fingerprint_at)
			return nat__fail(err, errlen, "attribute after FINGERPRINT");
		if (n - off < 4)
			return nat__fail(err, errlen, "truncated attribute header at offset %zu",
					 off);
		uint16_t type = get16(p + off), len = get16(p + off + 2);
		size_t padded = ((size_t)len + 3) & ~(size_t)3;
		if (padded > n - off - 4)
			return nat__fail(
			    err, errlen,
			    "attribute 0x%04x at offset %zu: length %u runs past the end", type,
			    off, len);
		if (type == NAT_STUN_FINGERPRINT) {
			if (len != 4)
				return nat__fail(err, errlen, "FINGERPRINT of %u bytes (must be 4)",
						 len);
			m->fingerprint_at = off;
		} else if (m->integrity_at) {
			off += 4 + padded; /* after MESSAGE-INTEGRITY: ignored (RFC 8489 14.5) */
			continue;
		} else if (type == NAT_STUN_MESSAGE_INTEGRITY) {
			if (len != NAT_STUN_HMAC)
				return nat__fail(err, errlen,
						 "MESSAGE-INTEGRITY of %u bytes (must be %d)", len,
						 NAT_STUN_HMAC);
			m->integrity_at = off;
		}
		if (m->n_attrs == NAT_STUN_MAX_ATTRS)
			return nat__fail(err, errlen, "more than %d attributes",
					 NAT_STUN_MAX_ATTRS);
		m->attrs[m->n_attrs++] = (struct nat_stun_attr){ type, len, p + off + 4 };
		off += 4 + padded;
	}
	return 0;
}

const struct nat_stun_attr *nat_stun_find(const struct nat_stun_msg *m, uint16_t type)
{
	for (size_t i = 0; i < m->n_attrs; i++)
		if (m->attrs[i].type == type)
			return &m->attrs[i];
	return NULL;
}

int nat_stun_get_addr(const struct nat_stun_msg *m, uint16_t type, struct sockaddr_storage *out,
		      char *err, size_t errlen)
{
	const struct nat_stun_attr *a = nat_stun_find(m, type);
	memset(out, 0, sizeof(*out));
	if (!a)
		return -ENOENT;
	bool xor = type != NAT_STUN_MAPPED_ADDRESS;
	uint8_t mask[16];
	put32(mask, NAT_STUN_MAGIC);
	memcpy(mask + 4, m->txid, NAT_STUN_TXID);
	if (a->len < 4)
		return nat__fail(err, errlen, "address attribute 0x%04x of %u bytes", type, a->len);
	uint16_t port = get16(a->val + 2) ^ (xor? (uint16_t)(NAT_STUN_MAGIC >> 16) : 0);
	switch (a->val[1]) {
	case 0x01: {
		if (a->len != 8)
			return nat__fail(err, errlen,
					 "IPv4 address attribute 0x%04x of %u bytes (must be 8)",
					 type, a->len);
		struct sockaddr_in *in = (struct sockaddr_in *)out;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		uint8_t *d = (uint8_t *)&in->sin_addr;
		for (int i = 0; i < 4; i++)
			d[i] = a->val[4 + i] ^ (xor? mask[i] : 0);
		return 0;
	}
	case 0x02: {
		if (a->len != 20)
			return nat__fail(err, errlen,
					 "IPv6 address attribute 0x%04x of %u bytes (must be 20)",
					 type, a->len);
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		for (int i = 0; i < 16; i++)
			in6->sin6_addr.s6_addr[i] = a->val[4 + i] ^ (xor? mask[i] : 0);
		return 0;
	}
	default:
		return nat__fail(err, errlen, "address attribute 0x%04x: unknown family %u", type,
				 a->val[1]);
	}
}

int nat_stun_get_error(const struct nat_stun_msg *m, int *code, char *reason, size_t size)
{
	const struct nat_stun_attr *a = nat_stun_find(m, NAT_STUN_ERROR_CODE);
	if (!a)
		return -ENOENT;
	if (a->len < 4 || (a->val[2] & 7) < 3 || (a->val[2] & 7) > 6 || a->val[3] > 99)
		return -EBADMSG;
	*code = (a->val[2] & 7) * 100 + a->val[3];
	if (size) {
		size_t n = (size_t)a->len - 4;
		if (n > size - 1)
			n = size - 1;
		for (size_t i = 0; i < n; i++) {
			uint8_t c = a->val[4 + i];
			reason[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
		reason[n] = '\0';
	}
	return 0;
}

/* HMAC-SHA1 over the message up to `at`, with the header's length field covering up to
 * the end of MESSAGE-INTEGRITY (RFC 8489 14.5). */
static void integrity(const uint8_t *msg, size_t at, const uint8_t *key, size_t keylen,
		      uint8_t out[NAT_STUN_HMAC])
{
	uint8_t buf[NAT_STUN_MAX_LEN];
	memcpy(buf, msg, at);
	put16(buf + 2, (uint16_t)(at + 4 + NAT_STUN_HMAC - NAT_STUN_HEADER));
	unsigned int len = NAT_STUN_HMAC;
	HMAC(EVP_sha1(), key, (int)keylen, buf, at, out, &len);
}

int nat_stun_check_integrity(const struct nat_stun_msg *m, const uint8_t *key, size_t keylen)
{
	if (!m->integrity_at)
		return -ENOENT;
	uint8_t mac[NAT_STUN_HMAC];
	integrity(m->raw, m->integrity_at, key, keylen, mac);
	return CRYPTO_memcmp(mac, m->raw + m->integrity_at + 4, NAT_STUN_HMAC) == 0 ? 0 : -EACCES;
}

static uint32_t fingerprint(const uint8_t *msg, size_t at)
{
	return (uint32_t)crc32(0L, msg, (uInt)at) ^ FINGERPRINT_XOR;
}

int nat_stun_check_fingerprint(const struct nat_stun_msg *m)
{
	if (!m->fingerprint_at)
		return -ENOENT;
	/* FINGERPRINT is last, so the header's length already covers it. */
	return fingerprint(m->raw, m->fingerprint_at) == get32(m->raw + m->fingerprint_at + 4)
		   ? 0
		   : -EBADMSG;
}

void nat_stun_long_term_key(const char *username, const char *realm, const char *password,
			    uint8_t key[NAT_STUN_LT_KEY])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = NAT_STUN_LT_KEY;
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL) ||
	    !EVP_DigestUpdate(ctx, username, strlen(username)) || !EVP_DigestUpdate(ctx, ":", 1) ||
	    !EVP_DigestUpdate(ctx, realm, strlen(realm)) || !EVP_DigestUpdate(ctx, ":", 1) ||
	    !EVP_DigestUpdate(ctx, password, strlen(password)) ||
	    !EVP_DigestFinal_ex(ctx, key, &len))
		memset(key, 0, NAT_STUN_LT_KEY); /* a zero key authenticates nothing */
	EVP_MD_CTX_free(ctx);
}

/* ---- building ---- */

void nat_stun_build_begin(struct nat_stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
			  enum nat_stun_class cls, const uint8_t txid[NAT_STUN_TXID])
{
	b->buf = buf;
	b->cap = cap < NAT_STUN_MAX_LEN ? cap : NAT_STUN_MAX_LEN;
	b->len = NAT_STUN_HEADER;
	b->overflow = b->cap < NAT_STUN_HEADER;
	if (b->overflow)
		return;
	put16(buf, type_encode(method, cls));
	put16(buf + 2, 0);
	put32(buf + 4, NAT_STUN_MAGIC);
	memcpy(buf + 8, txid, NAT_STUN_TXID);
}

static uint8_t *attr_room(struct nat_stun_builder *b, uint16_t type, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3;
	if (b->overflow || len > 0xFFFF || padded + 4 > b->cap - b->len) {
		b->overflow = true;
		return NULL;
	}
	uint8_t *p = b->buf + b->len;
	put16(p, type);
	put16(p + 2, (uint16_t)len);
	memset(p + 4 + len, 0, padded - len);
	b->len += 4 + padded;
	put16(b->buf + 2, (uint16_t)(b->len - NAT_STUN_HEADER));
	return p + 4;
}

void nat_stun_add(struct nat_stun_builder *b, uint16_t type, const void *val, size_t len)
{
	uint8_t *p = attr_room(b, type, len);
	if (p && len)
		memcpy(p, val, len);
}

void nat_stun_add_u32(struct nat_stun_builder *b, uint16_t type, uint32_t v)
{
	uint8_t *p = attr_room(b, type, 4);
	if (p)
		put32(p, v);
}

void nat_stun_add_xaddr(struct nat_stun_builder *b, uint16_t type, const struct sockaddr *sa)
{
	uint8_t mask[16];
	put32(mask, NAT_STUN_MAGIC);
	memcpy(mask + 4, b->buf + 8, NAT_STUN_TXID);
	const uint8_t *addr;
	size_t alen;
	uint16_t port;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		addr = (const uint8_t *)&in->sin_addr;
		alen = 4;
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		addr = in6->sin6_addr.s6_addr;
		alen = 16;
		port = ntohs(in6->sin6_port);
	} else {
		b->overflow = true; /* no such address: the message cannot be built */
		return;
	}
	uint8_t *p = attr_room(b, type, 4 + alen);
	if (!p)
		return;
	p[0] = 0;
	p[1] = alen == 4 ? 0x01 : 0x02;
	put16(p + 2, port ^ (uint16_t)(NAT_STUN_MAGIC >> 16));
	for (size_t i = 0; i < alen; i++)
		p[4 + i] = addr[i] ^ mask[i];
}

int nat_stun_build_end(struct nat_stun_builder *b, const uint8_t *key, size_t keylen,
		       bool fingerprint_too)
{
	if (key) {
		size_t at = b->len;
		uint8_t *p = attr_room(b, NAT_STUN_MESSAGE_INTEGRITY, NAT_STUN_HMAC);
		if (p)
			integrity(b->buf, at, key, keylen, p);
	}
	if (fingerprint_too) {
		size_t at = b->len;
		uint8_t *p = attr_room(b, NAT_STUN_FINGERPRINT, 4);
		if (p)
			put32(p, fingerprint(b->buf, at));
	}
	return b->overflow ? -ENOSPC : (int)b->len;
}

bool nat_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (b->sa_family != AF_INET6)
		return false;
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

void nat_sockaddr_format(const struct sockaddr_storage *a, char *out, size_t len)
{
	char h[INET6_ADDRSTRLEN] = "?";
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *)a;
		inet_ntop(AF_INET, &v4->sin_addr, h, sizeof(h));
		snprintf(out, len, "%s:%u", h, ntohs(v4->sin_port));
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const void *)a;
		inet_ntop(AF_INET6, &v6->sin6_addr, h, sizeof(h));
		snprintf(out, len, "[%s]:%u", h, ntohs(v6->sin6_port));
	} else {
		snprintf(out, len, "none");
	}
}
