/* The PROXY protocol's header, versions 1 (a text line) and 2 (binary), parsed without I/O
 * (proxy.h has the contract).  The bytes come from a balancer we trust, but through it from
 * anyone: every length is checked against what was received and against CTL_PROXY_MAX, and
 * an error quotes at most 16 bytes of input, escaped. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "control/server/proxy.h"

static const uint8_t v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
static const char v1_sig[] = "PROXY ";

enum {
	V2_CMD_LOCAL = 0x0,
	V2_CMD_PROXY = 0x1,
	V2_AF_UNSPEC = 0x0,
	V2_AF_INET = 0x1,
	V2_AF_INET6 = 0x2,
	V2_AF_UNIX = 0x3,
	V2_STREAM = 0x1,
	V2_INET_LEN = 12,  /* two IPv4 addresses, two ports */
	V2_INET6_LEN = 36, /* two IPv6 addresses, two ports */
	QUOTE_MAX = 16,
};

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* At most QUOTE_MAX bytes of b as printable ASCII, others as \xNN. */
static void quote(char out[static QUOTE_MAX * 4 + 1], const uint8_t *b, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && i < QUOTE_MAX; i++) {
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\' && b[i] != '\'')
			out[o++] = (char)b[i];
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", b[i]);
	}
	out[o] = '\0';
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void v2_addr(struct addr_endpoint *e, int family, const uint8_t *ip, const uint8_t *port)
{
	memset(e, 0, sizeof(*e));
	e->ip.family = (uint8_t)family;
	memcpy(e->ip.bytes, ip, addr_family_len(family));
	e->port = be16(port);
}

/* The TLVs after the addresses: each whole inside the header (their values are not used). */
static int v2_tlvs(const uint8_t *p, size_t left, char *err, size_t errlen)
{
	while (left) {
		if (left < 3)
			return fail(-EPROTO, err, errlen,
				    "PROXY v2: %zu stray byte(s) after the last TLV", left);
		size_t n = be16(p + 1);
		if (n > left - 3)
			return fail(-EPROTO, err, errlen,
				    "PROXY v2: TLV 0x%02x of %zu bytes runs past the header's end "
				    "(%zu left)",
				    p[0], n, left - 3);
		p += 3 + n;
		left -= 3 + n;
	}
	return 0;
}

static int v2_parse(const uint8_t *b, size_t len, struct ctl_proxy_hdr *out, char *err,
		    size_t errlen)
{
	if (len < CTL_PROXY_V2_FIXED)
		return 0;
	size_t body = be16(b + 14), total = CTL_PROXY_V2_FIXED + body;
	unsigned version = b[12] >> 4, cmd = b[12] & 0xf, fam = b[13] >> 4, proto = b[13] & 0xf;
	if (version != 2)
		return fail(-EPROTO, err, errlen, "PROXY v2: version %u (only 2 is defined)",
			    version);
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return fail(-EPROTO, err, errlen, "PROXY v2: command 0x%x (LOCAL or PROXY only)",
			    cmd);
	if (total > CTL_PROXY_MAX)
		return fail(-EMSGSIZE, err, errlen,
			    "PROXY v2: a header of %zu bytes (this server reads at most %d)", total,
			    CTL_PROXY_MAX);
	size_t need = fam == V2_AF_INET ? V2_INET_LEN : V2_INET6_LEN;
	if (cmd == V2_CMD_PROXY) { /* LOCAL: the spec has the receiver ignore the rest */
		if (fam != V2_AF_INET && fam != V2_AF_INET6)
			return fail(-ENOTSUP, err, errlen,
				    "PROXY v2: address family 0x%x (%s) is not supported (TCP over "
				    "IPv4 or IPv6 only)",
				    fam,
				    fam == V2_AF_UNSPEC ? "unspecified"
				    : fam == V2_AF_UNIX ? "AF_UNIX"
							: "unknown");
		if (proto != V2_STREAM)
			return fail(-ENOTSUP, err, errlen,
				    "PROXY v2: transport 0x%x (%s) is not supported (TCP only)",
				    proto,
				    proto == 2	 ? "UDP"
				    : proto == 0 ? "unspecified"
						 : "unknown");
		if (body < need)
			return fail(-EPROTO, err, errlen,
				    "PROXY v2: %zu address bytes for %s (%zu needed)", body,
				    fam == V2_AF_INET ? "IPv4" : "IPv6", need);
	}
	if (len < total)
		return 0;
	memset(out, 0, sizeof(*out));
	if (cmd == V2_CMD_LOCAL) {
		out->local = true;
		return (int)total;
	}
	const uint8_t *a = b + CTL_PROXY_V2_FIXED;
	size_t alen = fam == V2_AF_INET ? 4 : 16;
	int family = fam == V2_AF_INET ? AF_INET : AF_INET6;
	int rc = v2_tlvs(a + need, body - need, err, errlen);
	if (rc)
		return rc;
	v2_addr(&out->src, family, a, a + 2 * alen);
	v2_addr(&out->dst, family, a + alen, a + 2 * alen + 2);
	return (int)total;
}

/* A port as v1 writes it: 1 to 5 digits, no leading zero, at most 65535. */
static bool v1_port(const char *s, uint16_t *out)
{
	size_t n = strlen(s);
	if (n < 1 || n > 5 || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0'))
		return false;
	unsigned long v = strtoul(s, NULL, 10);
	*out = (uint16_t)v;
	return v <= 65535;
}

static int v1_fields(char *line, struct ctl_proxy_hdr *out, char *err, size_t errlen)
{
	char *f[6], *save = NULL;
	size_t n = 0;
	char q[QUOTE_MAX * 4 + 1];
	memset(out, 0, sizeof(*out));
	/* "PROXY UNKNOWN" and whatever follows it, to the CRLF: the balancer's own */
	if (strncmp(line, "PROXY UNKNOWN", 13) == 0 && (line[13] == '\0' || line[13] == ' ')) {
		out->local = true;
		return 0;
	}
	quote(q, (const uint8_t *)line + 6, strlen(line + 6));
	if (strstr(line, "  ") || line[strlen(line) - 1] == ' ')
		return fail(-EPROTO, err, errlen, "PROXY v1: fields not single-spaced in '%s'", q);
	for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save))
		if (n++ < 6)
			f[n - 1] = t;
	if (strcmp(f[1], "TCP4") != 0 && strcmp(f[1], "TCP6") != 0)
		return fail(-ENOTSUP, err, errlen,
			    "PROXY v1: protocol in '%s' is not TCP4, TCP6 or UNKNOWN", q);
	if (n != 6)
		return fail(-EPROTO, err, errlen,
			    "PROXY v1: '%s' has %zu fields (PROXY, protocol, two addresses, two "
			    "ports)",
			    q, n);
	int family = f[1][3] == '4' ? AF_INET : AF_INET6;
	if (!addr_ip_parse(f[2], &out->src.ip, NULL) || out->src.ip.family != family ||
	    !addr_ip_parse(f[3], &out->dst.ip, NULL) || out->dst.ip.family != family)
		return fail(-EPROTO, err, errlen, "PROXY v1: addresses in '%s' are not %s", q,
			    family == AF_INET ? "IPv4" : "IPv6");
	if (!v1_port(f[4], &out->src.port) || !v1_port(f[5], &out->dst.port))
		return fail(-EPROTO, err, errlen, "PROXY v1: ports in '%s' are not 0-65535", q);
	return 0;
}

static int v1_parse(const uint8_t *b, size_t len, struct ctl_proxy_hdr *out, char *err,
		    size_t errlen)
{
	char line[CTL_PROXY_V1_MAX + 1];
	char q[QUOTE_MAX * 4 + 1];
	size_t n = len < CTL_PROXY_V1_MAX ? len : CTL_PROXY_V1_MAX;
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\r' && i + 1 == CTL_PROXY_V1_MAX)
			break; /* its LF would be byte 108: longer than any v1 line */
		if (b[i] == '\r' && i + 1 == len)
			return 0; /* the LF has not come yet */
		if (b[i] == '\r' && b[i + 1] == '\n') {
			memcpy(line, b, i);
			line[i] = '\0';
			int rc = v1_fields(line, out, err, errlen);
			return rc ? rc : (int)(i + 2);
		}
		if (b[i] < 0x20 || b[i] >= 0x7f) {
			quote(q, b + (i > 8 ? i - 8 : 0), n - (i > 8 ? i - 8 : 0));
			return fail(-EPROTO, err, errlen,
				    "PROXY v1: byte 0x%02x at offset %zu in the line ('%s')", b[i],
				    i, q);
		}
	}
	if (len >= CTL_PROXY_V1_MAX)
		return fail(-EMSGSIZE, err, errlen, "PROXY v1: no CRLF within %d bytes",
			    CTL_PROXY_V1_MAX);
	return 0;
}

int ctl_proxy_parse(const uint8_t *buf, size_t len, struct ctl_proxy_hdr *out, char *err,
		    size_t errlen)
{
	char q[QUOTE_MAX * 4 + 1];
	if (err && errlen)
		err[0] = '\0';
	if (!len)
		return 0;
	size_t n2 = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	size_t n1 = len < sizeof(v1_sig) - 1 ? len : sizeof(v1_sig) - 1;
	if (memcmp(buf, v2_sig, n2) == 0)
		return n2 < sizeof(v2_sig) ? 0 : v2_parse(buf, len, out, err, errlen);
	if (memcmp(buf, v1_sig, n1) == 0)
		return n1 < sizeof(v1_sig) - 1 ? 0 : v1_parse(buf, len, out, err, errlen);
	quote(q, buf, len);
	return fail(-EPROTO, err, errlen,
		    "not a PROXY protocol header: the connection starts with '%s'", q);
}
