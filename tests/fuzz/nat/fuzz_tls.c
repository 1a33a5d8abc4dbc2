/* Fuzz target for the TLS client's input (nat/tls.h): what comes back on a TCP connection
 * to a relay's port 443 after our ClientHello — from the relay, or from anyone on the
 * path.  The first input byte picks the chunk size, the rest is the stream.  Contract: no
 * crash or leak; no plaintext is ever handed out and the handshake never completes (the
 * client trusts one CA whose key no one has: it was thrown away once it signed itself);
 * an error has its sentence, and every call after it returns the same error.  (The
 * system's trust store is not used: loading it for every input takes 0.3 s.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nat/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A self-signed P-256 CA (CN=fuzz CA) whose private key was never kept. */
static const char ca_pem[] = "-----BEGIN CERTIFICATE-----\n"
			     "MIIBejCCASGgAwIBAgIUEM2YjEHX5jTn+VrDobKA49FbTxwwCgYIKoZIzj0EAwIw\n"
			     "EjEQMA4GA1UEAwwHZnV6eiBDQTAgFw0yNjEyMDUyMzQwMDlaGA8yMTI2MTExMTIz\n"
			     "NDAwOVowEjEQMA4GA1UEAwwHZnV6eiBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
			     "A0IABKGamxVBVLnNMR3sTVx/qbFaixWHct2lIgmnAPoxHhcfKnK6nZ87zIenkWjO\n"
			     "cRQmOYkTqUK7dOVude2SjxgWlSmjUzBRMB0GA1UdDgQWBBTNbdcZ+RUwH6R/t/eG\n"
			     "uUvNhHrQzjAfBgNVHSMEGDAWgBTNbdcZ+RUwH6R/t/eGuUvNhHrQzjAPBgNVHRMB\n"
			     "Af8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIHTiLMfcnnnIa0SGd1r8ks4wvZqW\n"
			     "WtKPTCTq/uSCNSXwAiBYxN324tNGVphZJin97Vf8T6zElHmrbbNB7WkooXTYyw==\n"
			     "-----END CERTIFICATE-----\n";

static char path[] = "/tmp/mesh-fuzz-tls-ca.XXXXXX";

static void remove_ca(void)
{
	unlink(path);
}

/* The CA written once to a file of its own (removed at exit), for nat_tls_new. */
static const char *ca_file(void)
{
	static int done;
	if (!done) {
		int fd = mkstemp(path);
		if (fd < 0 || write(fd, ca_pem, sizeof(ca_pem) - 1) != (ssize_t)sizeof(ca_pem) - 1)
			abort();
		close(fd);
		atexit(remove_ca);
		done = 1;
	}
	return path;
}

static void ignore_send(void *ctx, const uint8_t *buf, size_t len)
{
}

static int no_plaintext(void *ctx, const uint8_t *buf, size_t len)
{
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct nat_tls_callbacks cb = { ignore_send, no_plaintext };
	struct nat_tls *t;
	char err[256];
	if (size < 1)
		return 0;
	if (nat_tls_new(ca_file(), "relay.invalid", &cb, NULL, &t, err, sizeof(err)) != 0)
		abort();
	if (nat_tls_start(t) != 0)
		abort();
	size_t chunk = 1 + data[0] % 64 * 37;
	int rc = 0;
	for (size_t i = 1; i < size && rc == 0; i += chunk) {
		size_t n = size - i < chunk ? size - i : chunk;
		uint8_t *copy = malloc(n); /* exact size: ASan sees overreads */
		if (!copy)
			abort();
		memcpy(copy, data + i, n);
		rc = nat_tls_input(t, copy, n);
		free(copy);
	}
	if (rc > 0)
		abort();
	if (rc < 0 && (!nat_tls_why(t)[0] || nat_tls_input(t, data, 1) != rc ||
		       nat_tls_write(t, data, 1) != rc))
		abort();
	if (rc == 0 && nat_tls_write(t, data, 1) != -EAGAIN)
		abort();
	nat_tls_free(t);
	return 0;
}
