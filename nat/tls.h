/* A TLS client for TURN over TLS on port 443 (RFC 8656 3.1), without I/O: OpenSSL over two
 * memory BIOs.  The caller owns the TCP connection: it hands every byte read from the
 * socket to nat_tls_input, writes what the send callback gives it to the socket, and gets
 * the relay's plaintext through the receive callback (for nat/stream.h).
 *
 *	nat_tls_new(ca_file, "relay.example.com", &cb, ctx, &tls, err, sizeof(err));
 *	nat_tls_start(tls);                   the ClientHello goes to cb.send
 *	...on each read:  rc = nat_tls_input(tls, buf, n);
 *	    rc == 1: the handshake is done and the relay's certificate verified: nat_turn_start
 *	    rc < 0:  close the connection; nat_tls_why(tls) says why
 *	...nat_turn's send callback:  nat_tls_write(tls, buf, n);
 *
 * The relay's certificate chain is verified against ca_file (or the system's trust store
 * when NULL) and must name host (a DNS name, or an IP address literal in an IP
 * subjectAltName); TLS 1.2 at least.  Errors are sentences: "relay certificate: ..." when
 * the certificate was refused, "relay TLS: ..." for the rest.  Every call consumes all it is
 * given: ciphertext buffered inside is at most one incomplete TLS record (OpenSSL refuses
 * longer ones); the caller bounds its own send queue. */
#ifndef MESH_NAT_TLS_H
#define MESH_NAT_TLS_H

#include <stddef.h>
#include <stdint.h>

struct nat_tls;

struct nat_tls_callbacks {
	/* Ciphertext for the relay: write it to the socket, in order. */
	void (*send)(void *ctx, const uint8_t *buf, size_t len);
	/* Plaintext from the relay.  A negative return stops the input call with that error
	 * (a broken nat_stream: the connection is to be closed). */
	int (*recv)(void *ctx, const uint8_t *buf, size_t len);
};

/* A client for one connection to host, trusting ca_file (NULL: the system's store).
 * -EINVAL with a sentence in err for a host that does not fit or a CA file that cannot be
 * loaded (quoting it), -ENOMEM. */
int nat_tls_new(const char *ca_file, const char *host, const struct nat_tls_callbacks *cb,
		void *ctx, struct nat_tls **out, char *err, size_t errlen);
/* Frees the client (nothing is sent: the caller closes the socket). */
void nat_tls_free(struct nat_tls *t);
/* Starts the handshake: the ClientHello goes to the send callback.  0, or a negative errno
 * (nat_tls_why). */
int nat_tls_start(struct nat_tls *t);
/* Bytes read from the socket.  1 when the handshake completed in this call, else 0;
 * -EPROTO (the relay's certificate refused or a TLS error) or -ECONNRESET (the relay closed
 * the TLS session), with nat_tls_why set; or the receive callback's error (the receiver
 * knows why).  Once failed, every call fails the same way. */
int nat_tls_input(struct nat_tls *t, const uint8_t *buf, size_t len);
/* Plaintext for the relay, encrypted to the send callback.  0, -EAGAIN before the
 * handshake is done (nothing is queued), or the error the connection failed with. */
int nat_tls_write(struct nat_tls *t, const uint8_t *buf, size_t len);
/* Why the connection failed; "" while it has not. */
const char *nat_tls_why(const struct nat_tls *t);

#endif
