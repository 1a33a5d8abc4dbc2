/* mac1, mac2 and cookie replies (paper section 5.4.4 and 5.4.7).  mac1 proves the sender
 * knows our public key and is checked before any Diffie-Hellman; under load a message
 * must also carry mac2, keyed with a cookie we gave to its source address, or it gets a
 * cookie reply (XChaCha20-Poly1305, random nonce, the message's mac1 as associated data)
 * instead of an answer.  The secret behind cookies is replaced every two minutes. */
#include <netinet/in.h>
#include <string.h>

#include <sodium.h>

#include "common/key.h"
#include "wg/crypto.h"
#include "wg/internal.h"

static void derive_key(uint8_t out[static 32], const char *label, const uint8_t pub[static 32])
{
	wg__hash2(out, label, 8, pub, 32);
}

void wg__cookie_checker_init(struct wg__cookie_checker *c, const uint8_t *our_public)
{
	key_wipe(c, sizeof(*c));
	if (!our_public)
		return;
	derive_key(c->message_mac1_key, WG_LABEL_MAC1, our_public);
	derive_key(c->message_cookie_key, WG_LABEL_COOKIE, our_public);
}

void wg__cookie_maker_init(struct wg__cookie_maker *m, const uint8_t remote_public[static 32])
{
	key_wipe(m, sizeof(*m));
	derive_key(m->mac1_key, WG_LABEL_MAC1, remote_public);
	derive_key(m->cookie_key, WG_LABEL_COOKIE, remote_public);
}

static void compute_mac1(uint8_t out[static COOKIE_LEN], const uint8_t *msg, size_t len,
			 const uint8_t key[static 32])
{
	wg__blake2s(out, COOKIE_LEN, msg, len - sizeof(struct message_macs), key, 32);
}

static void compute_mac2(uint8_t out[static COOKIE_LEN], const uint8_t *msg, size_t len,
			 const uint8_t cookie[static COOKIE_LEN])
{
	wg__blake2s(out, COOKIE_LEN, msg, len - COOKIE_LEN, cookie, COOKIE_LEN);
}

/* cookie = MAC(secret, source IP || source port), or MAC(secret, path) for a datagram that
 * came on a path (a relay's peers share its address: each gets its own cookie) */
static void make_cookie(struct wg__cookie_checker *c, uint8_t cookie[static COOKIE_LEN],
			const struct wg__path *from, uint64_t now_ns)
{
	const struct sockaddr *src = from->sa;
	uint8_t buf[18];
	size_t n = 0;

	if (!c->secret_set || now_ns - c->secret_birth_ns > COOKIE_SECRET_MAX_AGE * NS_PER_SEC) {
		wg__random(c->secret, sizeof(c->secret));
		c->secret_birth_ns = now_ns;
		c->secret_set = true;
	}
	if (from->id) {
		memcpy(buf, &from->id, 8);
		n = 8;
	} else if (src->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)src;
		memcpy(buf, &s4->sin_addr, 4);
		memcpy(buf + 4, &s4->sin_port, 2);
		n = 6;
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)src;
		memcpy(buf, &s6->sin6_addr, 16);
		memcpy(buf + 16, &s6->sin6_port, 2);
		n = 18;
	}
	wg__blake2s(cookie, COOKIE_LEN, buf, n, c->secret, sizeof(c->secret));
}

void wg__cookie_add_macs(struct wg__cookie_maker *m, uint8_t *msg, size_t len, uint64_t now_ns)
{
	struct message_macs *macs = (struct message_macs *)(msg + len - sizeof(*macs));

	compute_mac1(macs->mac1, msg, len, m->mac1_key);
	memcpy(m->last_mac1_sent, macs->mac1, COOKIE_LEN);
	m->have_sent_mac1 = true;

	const uint64_t max_age = (COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY) * NS_PER_SEC;
	if (m->cookie_valid && now_ns - m->cookie_birth_ns < max_age)
		compute_mac2(macs->mac2, msg, len, m->cookie);
	else
		memset(macs->mac2, 0, COOKIE_LEN);
}

enum wg__cookie_mac_state wg__cookie_validate(struct wg__cookie_checker *c, const uint8_t *msg,
					      size_t len, const struct wg__path *src,
					      bool check_cookie, uint64_t now_ns)
{
	const struct message_macs *macs = (const struct message_macs *)(msg + len - sizeof(*macs));
	uint8_t computed[COOKIE_LEN], cookie[COOKIE_LEN];
	enum wg__cookie_mac_state ret = COOKIE_INVALID_MAC;

	compute_mac1(computed, msg, len, c->message_mac1_key);
	if (crypto_verify_16(computed, macs->mac1) != 0)
		goto out;
	ret = COOKIE_VALID_MAC_BUT_NO_COOKIE;
	if (!check_cookie)
		goto out;
	make_cookie(c, cookie, src, now_ns);
	compute_mac2(computed, msg, len, cookie);
	if (crypto_verify_16(computed, macs->mac2) != 0)
		goto out;
	ret = COOKIE_VALID_MAC_WITH_COOKIE;
out:
	key_wipe(cookie, sizeof(cookie));
	return ret;
}

void wg__cookie_create_reply(struct wg__cookie_checker *c, struct message_handshake_cookie *dst,
			     const uint8_t *msg, size_t len, uint32_t index,
			     const struct wg__path *src, uint64_t now_ns)
{
	const struct message_macs *macs = (const struct message_macs *)(msg + len - sizeof(*macs));
	uint8_t cookie[COOKIE_LEN];
	uint8_t *t = (uint8_t *)&dst->header.type;

	t[0] = MESSAGE_HANDSHAKE_COOKIE;
	t[1] = t[2] = t[3] = 0;
	memcpy(&dst->receiver_index, &index, 4); /* echoed exactly as received */
	wg__random(dst->nonce, COOKIE_NONCE_LEN);
	make_cookie(c, cookie, src, now_ns);
	wg__xaead_encrypt(dst->encrypted_cookie, cookie, COOKIE_LEN, macs->mac1, COOKIE_LEN,
			  dst->nonce, c->message_cookie_key);
	key_wipe(cookie, sizeof(cookie));
}

bool wg__cookie_consume_reply(struct wg__cookie_maker *m,
			      const struct message_handshake_cookie *src, uint64_t now_ns)
{
	uint8_t cookie[COOKIE_LEN];
	bool ok = false;

	if (!m->have_sent_mac1)
		goto out;
	if (!wg__xaead_decrypt(cookie, src->encrypted_cookie, sizeof(src->encrypted_cookie),
			       m->last_mac1_sent, COOKIE_LEN, src->nonce, m->cookie_key))
		goto out;
	memcpy(m->cookie, cookie, COOKIE_LEN);
	m->cookie_birth_ns = now_ns;
	m->cookie_valid = true;
	m->have_sent_mac1 = false;
	ok = true;
out:
	key_wipe(cookie, sizeof(cookie));
	return ok;
}
