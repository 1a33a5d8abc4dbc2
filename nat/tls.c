/* The TLS client over memory BIOs (see tls.h).  OpenSSL reads the relay's ciphertext from
 * one BIO (filled by nat_tls_input) and writes ours to the other (drained to the send
 * callback after every call), so it never touches a socket and never blocks: a read that
 * needs more bytes is SSL_ERROR_WANT_READ, which here only means "wait for the next input".
 * The certificate is verified during the handshake (SSL_VERIFY_PEER with the host set on
 * the verify parameters), so no plaintext is handed out and none accepted before it is. */
#include "nat/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

enum {
	HOST_MAX = 253,	    /* a DNS name's longest text form */
	READ_CHUNK = 16384, /* one TLS record's plaintext */
};

struct nat_tls {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out; /* ciphertext from the relay, ciphertext to it; owned by ssl */
	struct nat_tls_callbacks cb;
	void *cb_ctx;
	char host[HOST_MAX + 1];
	bool ready;
	int failed; /* 0, or the negative errno every later call returns */
	char why[256];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* OpenSSL's reason for the oldest queued error, or fallback. */
static const char *ssl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : fallback;
}

/* A DNS name or an IP literal: letters, digits, '.', '-', ':' only, so a host quoted in a
 * message can hold nothing else. */
static bool host_ok(const char *host)
{
	size_t n = strlen(host);
	if (n == 0 || n > HOST_MAX)
		return false;
	return strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") ==
	       n;
}

static bool is_ip(const char *host)
{
	unsigned char a[16];
	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* Sets the trust anchors and the name the relay's certificate must carry. */
static int setup(struct nat_tls *t, const char *ca_file, char *err, size_t errlen)
{
	if (SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1)
		return -ENOMEM;
	if (ca_file) {
		FILE *f = fopen(ca_file, "r");
		if (!f) {
			set_err(err, errlen, "relay CA file '%s': %s", ca_file, strerror(errno));
			return -EINVAL;
		}
		fclose(f);
		if (SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != 1) {
			set_err(err, errlen, "relay CA file '%s': %s", ca_file,
				ssl_reason("no certificate in it"));
			return -EINVAL;
		}
	} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		set_err(err, errlen, "relay CA: the system's trust store: %s",
			ssl_reason("cannot be loaded"));
		return -EINVAL;
	}
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	/* A renegotiation could make a write wait for a read; the relay has no need of one. */
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION);
	t->ssl = SSL_new(t->ctx);
	if (!t->ssl)
		return -ENOMEM;
	X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
	/* Only subjectAltName counts: a CN that looks like a host name is no promise. */
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
						   X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip(t->host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(param, t->host) != 1)
			return -ENOMEM;
	} else if (X509_VERIFY_PARAM_set1_host(param, t->host, 0) != 1 ||
		   SSL_set_tlsext_host_name(t->ssl, t->host) != 1) {
		return -ENOMEM;
	}
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	if (!t->in || !t->out) {
		BIO_free(t->in);
		BIO_free(t->out);
		return -ENOMEM;
	}
	BIO_set_mem_eof_return(t->in, -1); /* empty means "more later", not end of stream */
	SSL_set_bio(t->ssl, t->in, t->out);
	SSL_set_connect_state(t->ssl);
	return 0;
}

int nat_tls_new(const char *ca_file, const char *host, const struct nat_tls_callbacks *cb,
		void *ctx, struct nat_tls **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!host_ok(host)) {
		char shown[HOST_MAX + 1];
		size_t i;
		for (i = 0; host[i] && i < HOST_MAX; i++)
			shown[i] = host[i] >= 0x20 && host[i] < 0x7F ? host[i] : '?';
		shown[i] = '\0';
		set_err(err, errlen, "relay host '%s%s' is not a DNS name or an IP address", shown,
			host[i] ? "..." : "");
		return -EINVAL;
	}
	struct nat_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	strcpy(t->host, host);
	t->cb = *cb;
	t->cb_ctx = ctx;
	ERR_clear_error();
	t->ctx = SSL_CTX_new(TLS_client_method());
	int rc = t->ctx ? setup(t, ca_file, err, errlen) : -ENOMEM;
	ERR_clear_error();
	if (rc) {
		if (rc == -ENOMEM)
			set_err(err, errlen, "relay TLS: out of memory");
		nat_tls_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void nat_tls_free(struct nat_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl); /* and both BIOs */
	SSL_CTX_free(t->ctx);
	free(t);
}

/* Hands what OpenSSL wrote to the send callback. */
static void flush(struct nat_tls *t)
{
	char *p;
	long n = BIO_get_mem_data(t->out, &p);
	if (n > 0) {
		t->cb.send(t->cb_ctx, (const uint8_t *)p, (size_t)n);
		(void)BIO_reset(t->out);
	}
}

static int failed(struct nat_tls *t, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failed(struct nat_tls *t, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
	t->failed = rc;
	return rc;
}

/* After an SSL call returned r <= 0: 0 when it only waits for more bytes, else the
 * connection's error, with its sentence. */
static int ssl_failed(struct nat_tls *t, int r)
{
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_ZERO_RETURN)
		return failed(t, -ECONNRESET, "relay TLS: the relay closed the session");
	long v = SSL_get_verify_result(t->ssl);
	if (v != X509_V_OK)
		return failed(t, -EPROTO, "relay certificate: %s (host '%s')",
			      X509_verify_cert_error_string(v), t->host);
	return failed(t, -EPROTO, "relay TLS: %s", ssl_reason("handshake failed"));
}

int nat_tls_start(struct nat_tls *t)
{
	if (t->failed)
		return t->failed;
	ERR_clear_error();
	int rc = ssl_failed(t, SSL_do_handshake(t->ssl));
	flush(t);
	return rc;
}

int nat_tls_input(struct nat_tls *t, const uint8_t *buf, size_t len)
{
	int rc = 0, done = 0;
	if (t->failed)
		return t->failed;
	ERR_clear_error();
	while (len > 0) {
		int chunk = len > INT_MAX ? INT_MAX : (int)len;
		if (BIO_write(t->in, buf, chunk) != chunk)
			return failed(t, -ENOMEM, "relay TLS: out of memory");
		buf += chunk;
		len -= (size_t)chunk;
	}
	if (!t->ready) {
		int r = SSL_do_handshake(t->ssl);
		if (r != 1) {
			rc = ssl_failed(t, r);
			flush(t); /* the ClientHello's next flight, or our alert */
			return rc;
		}
		if (SSL_get_verify_result(t->ssl) != X509_V_OK ||
		    !SSL_get0_peer_certificate(t->ssl))
			return failed(t, -EPROTO, "relay certificate: none verified (host '%s')",
				      t->host);
		t->ready = true;
		done = 1;
	}
	for (;;) {
		uint8_t plain[READ_CHUNK];
		int n = SSL_read(t->ssl, plain, sizeof(plain));
		if (n <= 0) {
			rc = ssl_failed(t, n);
			break;
		}
		rc = t->cb.recv(t->cb_ctx, plain, (size_t)n);
		if (rc < 0) {
			t->failed = rc; /* the receiver has the reason */
			break;
		}
	}
	flush(t);
	return rc < 0 ? rc : done;
}

int nat_tls_write(struct nat_tls *t, const uint8_t *buf, size_t len)
{
	if (t->failed)
		return t->failed;
	if (!t->ready)
		return -EAGAIN;
	if (len == 0)
		return 0;
	if (len > INT_MAX)
		return -EMSGSIZE;
	ERR_clear_error();
	int n = SSL_write(t->ssl, buf, (int)len), rc = 0;
	if (n != (int)len) {
		rc = n > 0 ? failed(t, -EPROTO, "relay TLS: a write was cut short")
			   : ssl_failed(t, n);
		if (rc == 0) /* never queued: failing beats losing it silently */
			rc = failed(t, -EPROTO, "relay TLS: a write had to wait for the relay");
	}
	flush(t);
	return rc;
}

const char *nat_tls_why(const struct nat_tls *t)
{
	return t->why;
}
