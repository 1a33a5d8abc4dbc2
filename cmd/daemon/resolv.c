/* resolv.conf parsing and the file meshd writes (resolv.h): pure text in, text out. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd/daemon/resolv.h"
#include "control/netmap/dns.h"

/* err gets the sentence (errlen > 0); the parser's one way out. */
#define FAIL(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One "nameserver" line's argument (start..end, trimmed). */
static int nameserver(const char *arg, size_t len, unsigned line, bool ours,
		      struct meshd_resolv *out, char *err, size_t errlen)
{
	char text[ADDR_TEXT_MAX];
	struct addr_endpoint e = { .port = 53 };
	const struct addr_ip self = { AF_INET, { 100, 100, 100, 100 } };
	if (len == 0)
		return FAIL("line %u: nameserver without an address", line);
	if (len >= sizeof(text) ||
	    (memcpy(text, arg, len), text[len] = '\0', !addr_ip_parse(text, &e.ip, NULL)))
		return FAIL("line %u: nameserver '%.*s' is not an IP address", line,
			    (int)(len < 64 ? len : 64), arg);
	addr_ip_unmap(&e.ip);
	if (addr_ip_equal(&e.ip, &self) && !ours)
		return FAIL("line %u: nameserver %s is the tailnet resolver itself (a loop)", line,
			    CTL_DNS_RESOLVER_V4);
	if (out->n_ns == MESHD_RESOLV_NS_MAX)
		out->n_ignored++;
	else
		out->ns[out->n_ns++] = e;
	return 0;
}

int meshd_resolv_parse(const char *text, size_t len, struct meshd_resolv *out, char *err,
		       size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len > MESHD_RESOLV_FILE_MAX)
		return FAIL("%zu bytes, at most %d", len, MESHD_RESOLV_FILE_MAX);
	const char *nul = memchr(text, '\0', len);
	if (nul)
		return FAIL("a NUL byte at offset %zu", (size_t)(nul - text));
	size_t mlen = strlen(MESHD_RESOLV_MARKER);
	out->ours = len >= mlen && memcmp(text, MESHD_RESOLV_MARKER, mlen) == 0;
	unsigned line = 0;
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len, i = pos;
		line++;
		while (i < end && is_space(text[i]))
			i++;
		size_t kw = i;
		while (i < end && !is_space(text[i]))
			i++;
		static const char key[] = "nameserver";
		if (i - kw == sizeof(key) - 1 && memcmp(text + kw, key, sizeof(key) - 1) == 0) {
			while (i < end && is_space(text[i]))
				i++;
			size_t a = i;
			while (i < end && !is_space(text[i]))
				i++;
			/* a line glibc would not use (or ours, a loop) is skipped, as glibc
			 * skips it: the others still answer; the first one's reason is kept */
			char why[MESHD_RESOLV_ERR_MAX];
			if (nameserver(text + a, i - a, line, out->ours, out, why, sizeof(why))) {
				if (!out->n_skipped++)
					snprintf(out->skipped, sizeof(out->skipped), "%s", why);
			}
		}
		pos = end + 1;
	}
	return 0;
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"

/* Appends two strings at *n; false when out has no room for them and a NUL. */
static bool append(char *out, size_t outlen, size_t *n, const char *a, const char *b)
{
	int w = snprintf(out + *n, outlen - *n, "%s%s", a, b);
	if (w < 0 || (size_t)w >= outlen - *n)
		return false;
	*n += (size_t)w;
	return true;
}

int meshd_resolv_produce(const char *domain, const char *const *search, size_t n_search, char *out,
			 size_t outlen)
{
	size_t n = 0;
	const char *sep = "search ";
	/* names only (control checks them; the node's netmap parser does not check the
	 * domain): nothing that could end the line and start another */
	if (domain && strspn(domain, NAME_CHARS) != strlen(domain))
		return -EINVAL;
	for (size_t i = 0; i < n_search; i++)
		if (strspn(search[i], NAME_CHARS) != strlen(search[i]))
			return -EINVAL;
	if (!outlen ||
	    !append(out, outlen, &n, MESHD_RESOLV_MARKER,
		    "# The host's own file is back on 'meshctl down', when meshd "
		    "stops, and at meshd's next start\n# after a crash (meshd keeps it "
		    "in its state directory meanwhile).\nnameserver " CTL_DNS_RESOLVER_V4 "\n"))
		return -ENOSPC;
	if (domain && *domain) {
		if (!append(out, outlen, &n, sep, domain))
			return -ENOSPC;
		sep = " ";
	}
	for (size_t i = 0; i < n_search; i++) {
		if (!append(out, outlen, &n, sep, search[i]))
			return -ENOSPC;
		sep = " ";
	}
	if (*sep == ' ' && !append(out, outlen, &n, "\n", ""))
		return -ENOSPC;
	return (int)n;
}
