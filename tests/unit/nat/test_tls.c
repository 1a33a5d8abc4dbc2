/* The TLS client over memory BIOs (nat/tls.h) against an OpenSSL server in the same
 * process, the bytes carried between them by the test (certificates made here: a lab CA,
 * a relay certificate for DNS:relay.lab and IP:198.18.0.10, one with that name only in its
 * CN, another CA).  Numbered cases: the handshake by DNS name (SNI sent) and by IP, the
 * relay's bytes fed one at a time, data both ways, nothing written before the handshake;
 * refused with their exact sentences: a wrong host name, a wrong IP, another CA, a name
 * only in the CN, a relay that speaks no TLS, the relay closing the session, a receiver
 * that refuses what came, a host that is no host, a CA file missing or empty. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "nat/tls.h"

/* ---- certificates ---- */

static void add_ext(X509 *x, X509V3_CTX *v, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v, nid, value);
	CHECK(e != NULL);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for key named cn, signed by issuer (NULL: self-signed), with san. */
static X509 *cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		  const char *san, int ca)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509V3_CTX v;
	X509V3_set_ctx_nodb(&v);
	X509V3_set_ctx(&v, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &v, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, &v, NID_key_usage,
		ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	if (san)
		add_ext(x, &v, NID_subject_alt_name, san);
	CHECK(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	CHECK(f && PEM_write_X509(f, x) == 1);
	fclose(f);
}

/* ---- the relay: an OpenSSL server on memory BIOs ---- */

struct wire {
	uint8_t c2s[1 << 16], s2c[1 << 16], plain[1 << 16];
	size_t c2s_len, s2c_len, plain_len;
	int recv_rc; /* what the client's receive callback returns */
};

static void on_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct wire *w = ctx;
	CHECK(w->c2s_len + len <= sizeof(w->c2s));
	memcpy(w->c2s + w->c2s_len, buf, len);
	w->c2s_len += len;
}

static int on_recv(void *ctx, const uint8_t *buf, size_t len)
{
	struct wire *w = ctx;
	CHECK(w->plain_len + len <= sizeof(w->plain));
	memcpy(w->plain + w->plain_len, buf, len);
	w->plain_len += len;
	return w->recv_rc;
}

static const struct nat_tls_callbacks cbs = { on_send, on_recv };

struct relay {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out;
};

static void relay_new(struct relay *r, X509 *leaf, EVP_PKEY *key)
{
	r->ctx = SSL_CTX_new(TLS_server_method());
	CHECK(SSL_CTX_use_certificate(r->ctx, leaf) == 1);
	CHECK(SSL_CTX_use_PrivateKey(r->ctx, key) == 1);
	r->ssl = SSL_new(r->ctx);
	r->in = BIO_new(BIO_s_mem());
	r->out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(r->in, -1);
	SSL_set_bio(r->ssl, r->in, r->out);
	SSL_set_accept_state(r->ssl);
}

static void relay_free(struct relay *r)
{
	SSL_free(r->ssl);
	SSL_CTX_free(r->ctx);
}

/* Moves what the client sent to the relay and the relay's answer to the client (one byte
 * per nat_tls_input call when bytewise), until nothing moves; the relay reads plaintext into
 * got.  Returns the first nonzero nat_tls_input result (1 or an error), else 0. */
static int pump(struct nat_tls *c, struct wire *w, struct relay *r, int bytewise, char *got,
		size_t cap)
{
	int result = 0;
	for (int round = 0; round < 20; round++) {
		if (w->c2s_len) {
			BIO_write(r->in, w->c2s, (int)w->c2s_len);
			w->c2s_len = 0;
		}
		if (!SSL_is_init_finished(r->ssl))
			SSL_do_handshake(r->ssl);
		if (SSL_is_init_finished(r->ssl) && got) {
			size_t have = strlen(got);
			int n = SSL_read(r->ssl, got + have, (int)(cap - have - 1));
			if (n > 0)
				got[have + (size_t)n] = '\0';
		}
		char *p;
		long n = BIO_get_mem_data(r->out, &p);
		if (n <= 0 && !w->c2s_len)
			break;
		memcpy(w->s2c, p, (size_t)n);
		w->s2c_len = (size_t)n;
		(void)BIO_reset(r->out);
		for (size_t i = 0; i < w->s2c_len;) {
			size_t k = bytewise ? 1 : w->s2c_len - i;
			int rc = nat_tls_input(c, w->s2c + i, k);
			if (rc && !result)
				result = rc;
			if (rc < 0)
				return result;
			i += k;
		}
	}
	return result;
}

static char dir[] = "/tmp/mesh-test-tls.XXXXXX";
static char ca_path[64], other_ca_path[64], empty_path[64];

/* A client for host trusting ca; a handshake with the relay serving leaf; the result. */
static int connect_to(const char *ca, const char *host, X509 *leaf, EVP_PKEY *key,
		      struct nat_tls **c, struct wire *w, struct relay *r)
{
	char err[256] = "";
	memset(w, 0, sizeof(*w));
	int rc = nat_tls_new(ca, host, &cbs, w, c, err, sizeof(err));
	CHECK_INT(rc, 0);
	CHECK_STR(err, "");
	if (rc)
		return rc;
	relay_new(r, leaf, key);
	CHECK_INT(nat_tls_start(*c), 0);
	CHECK(w->c2s_len > 0); /* the ClientHello */
	return pump(*c, w, r, 0, NULL, 0);
}

/* The handshake fails with why, and so does everything after. */
static void refused(int n, const char *ca, const char *host, X509 *leaf, EVP_PKEY *key,
		    const char *why)
{
	struct nat_tls *c = NULL;
	struct wire w;
	struct relay r;
	int rc = connect_to(ca, host, leaf, key, &c, &w, &r);
	if (rc != -EPROTO)
		fprintf(stderr, "case %d:\n", n);
	CHECK_INT(rc, -EPROTO);
	CHECK_STR(nat_tls_why(c), why);
	CHECK_INT(nat_tls_write(c, (const uint8_t *)"x", 1), -EPROTO);
	CHECK_INT(nat_tls_input(c, (const uint8_t *)"x", 1), -EPROTO);
	CHECK_INT(w.plain_len, 0);
	nat_tls_free(c);
	relay_free(&r);
}

int main(void)
{
	CHECK(mkdtemp(dir) != NULL);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
	snprintf(other_ca_path, sizeof(other_ca_path), "%s/other.pem", dir);
	snprintf(empty_path, sizeof(empty_path), "%s/empty.pem", dir);

	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256"),
		 *other_key = EVP_EC_gen("P-256");
	X509 *ca = cert(ca_key, "Mesh lab CA", NULL, NULL, NULL, 1);
	X509 *other = cert(other_key, "Another CA", NULL, NULL, NULL, 1);
	X509 *leaf = cert(key, "relay.lab", ca, ca_key, "DNS:relay.lab,IP:198.18.0.10", 0);
	X509 *cn_only = cert(key, "relay.lab", ca, ca_key, NULL, 0);
	write_pem(ca_path, ca);
	write_pem(other_ca_path, other);
	fclose(fopen(empty_path, "w"));

	struct nat_tls *c;
	struct wire w;
	struct relay r;
	char got[64] = "";

	/* 1. By DNS name, the relay's bytes one at a time: 1 exactly once, SNI sent, TLS 1.3
	 * here; data both ways; nothing could be written before. */
	memset(&w, 0, sizeof(w));
	CHECK_INT(nat_tls_new(ca_path, "relay.lab", &cbs, &w, &c, NULL, 0), 0);
	relay_new(&r, leaf, key);
	CHECK_INT(nat_tls_write(c, (const uint8_t *)"early", 5), -EAGAIN);
	CHECK_INT(nat_tls_start(c), 0);
	CHECK_INT(pump(c, &w, &r, 1, got, sizeof(got)), 1);
	CHECK_STR(nat_tls_why(c), "");
	CHECK_STR(SSL_get_servername(r.ssl, TLSEXT_NAMETYPE_host_name), "relay.lab");
	CHECK_INT(SSL_version(r.ssl), TLS1_3_VERSION);
	CHECK_INT(nat_tls_write(c, (const uint8_t *)"ping", 4), 0);
	pump(c, &w, &r, 0, got, sizeof(got));
	CHECK_STR(got, "ping"); /* and not "early" */
	CHECK_INT(SSL_write(r.ssl, "pong", 4), 4);
	CHECK_INT(pump(c, &w, &r, 1, NULL, 0), 0);
	CHECK(w.plain_len == 4 && memcmp(w.plain, "pong", 4) == 0);

	/* 2. The relay closes the session: -ECONNRESET, and it stays so. */
	CHECK_INT(SSL_shutdown(r.ssl), 0);
	CHECK_INT(pump(c, &w, &r, 0, NULL, 0), -ECONNRESET);
	CHECK_STR(nat_tls_why(c), "relay TLS: the relay closed the session");
	CHECK_INT(nat_tls_write(c, (const uint8_t *)"x", 1), -ECONNRESET);
	nat_tls_free(c);
	relay_free(&r);

	/* 3. By IP address (no SNI for an address). */
	CHECK_INT(connect_to(ca_path, "198.18.0.10", leaf, key, &c, &w, &r), 1);
	CHECK(SSL_get_servername(r.ssl, TLSEXT_NAMETYPE_host_name) == NULL);
	nat_tls_free(c);
	relay_free(&r);

	/* 4. The receiver refuses what came (a broken nat_stream): its error, from then on. */
	CHECK_INT(connect_to(ca_path, "relay.lab", leaf, key, &c, &w, &r), 1);
	w.recv_rc = -EBADMSG;
	CHECK_INT(SSL_write(r.ssl, "HTTP", 4), 4);
	CHECK_INT(pump(c, &w, &r, 0, NULL, 0), -EBADMSG);
	CHECK_INT(nat_tls_input(c, (const uint8_t *)"x", 1), -EBADMSG);
	nat_tls_free(c);
	relay_free(&r);

	/* 5-9. Certificates refused. */
	refused(5, ca_path, "other.lab", leaf, key,
		"relay certificate: hostname mismatch (host 'other.lab')");
	refused(6, ca_path, "198.18.0.11", leaf, key,
		"relay certificate: IP address mismatch (host '198.18.0.11')");
	refused(7, other_ca_path, "relay.lab", leaf, key,
		"relay certificate: unable to get local issuer certificate (host 'relay.lab')");
	refused(8, ca_path, "relay.lab", cn_only, key,
		"relay certificate: hostname mismatch (host 'relay.lab')");
	refused(9, ca_path, "relay.lab", other, other_key,
		"relay certificate: self-signed certificate (host 'relay.lab')");

	/* 10. A relay that speaks no TLS. */
	char err[256] = "";
	memset(&w, 0, sizeof(w));
	CHECK_INT(nat_tls_new(ca_path, "relay.lab", &cbs, &w, &c, err, sizeof(err)), 0);
	CHECK_INT(nat_tls_start(c), 0);
	static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	CHECK_INT(nat_tls_input(c, (const uint8_t *)http, sizeof(http) - 1), -EPROTO);
	CHECK_STR(nat_tls_why(c), "relay TLS: wrong version number");
	nat_tls_free(c);

	/* 11-14. Refused before any byte is sent. */
	c = (struct nat_tls *)&w;
	CHECK_INT(nat_tls_new(ca_path, "relay lab", &cbs, &w, &c, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "relay host 'relay lab' is not a DNS name or an IP address");
	CHECK(c == NULL);
	CHECK_INT(nat_tls_new(ca_path, "", &cbs, &w, &c, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "relay host '' is not a DNS name or an IP address");
	CHECK_INT(nat_tls_new("/nonexistent/ca.pem", "relay.lab", &cbs, &w, &c, err, sizeof(err)),
		  -EINVAL);
	CHECK_STR(err, "relay CA file '/nonexistent/ca.pem': No such file or directory");
	CHECK_INT(nat_tls_new(empty_path, "relay.lab", &cbs, &w, &c, err, sizeof(err)), -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "relay CA file '%s': no certificate or crl found", empty_path);
	CHECK_STR(err, want);

	unlink(ca_path);
	unlink(other_ca_path);
	unlink(empty_path);
	rmdir(dir);
	X509_free(ca);
	X509_free(other);
	X509_free(leaf);
	X509_free(cn_only);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	return check_finish();
}
