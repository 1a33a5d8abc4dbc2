/* The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake as WireGuard uses it (paper section
 * 5.4.2-5.4.5): the initiation (e, es, s, ss, {timestamp}), the response (e, ee, se, psk,
 * {}), and the split into transport keys.  The prologue is a parameter of the identity
 * (WireGuard's is WG_IDENTIFIER) so the handshake can be checked against vectors.
 *
 * Each step works on local copies of the chaining key and hash and commits them to the
 * handshake only when every check passed, so a bad message leaves no trace.  Ephemeral
 * secrets, DH results and chaining keys are wiped through the single `out:` exit. */
#include <string.h>

#include "common/key.h"
#include "wg/crypto.h"
#include "wg/internal.h"

static void mix_hash(uint8_t h[static 32], const uint8_t *in, size_t len)
{
	wg__hash2(h, h, 32, in, len);
}

/* ck, key = KDF2(ck, DH(priv, pub)); false for a zero DH result. */
static bool mix_dh(uint8_t ck[static 32], uint8_t *key, const uint8_t priv[static 32],
		   const uint8_t pub[static 32])
{
	uint8_t dh[32];
	bool ok = wg__dh(dh, priv, pub);
	if (ok)
		wg__kdf(ck, key, NULL, ck, dh, 32);
	key_wipe(dh, sizeof(dh));
	return ok;
}

static bool mix_precomputed_dh(uint8_t ck[static 32], uint8_t key[static 32],
			       const uint8_t dh[static 32])
{
	if (key_is_zero(dh))
		return false;
	wg__kdf(ck, key, NULL, ck, dh, 32);
	return true;
}

static void mix_psk(uint8_t ck[static 32], uint8_t h[static 32], uint8_t key[static 32],
		    const uint8_t psk[static 32])
{
	uint8_t tau[32];
	wg__kdf(ck, tau, key, ck, psk, 32);
	mix_hash(h, tau, 32);
	key_wipe(tau, sizeof(tau));
}

/* The "e" token with a PSK: MixHash(e) and MixKey(e). */
static void message_ephemeral(uint8_t ck[static 32], uint8_t h[static 32],
			      const uint8_t e[static 32])
{
	wg__kdf(ck, NULL, NULL, ck, e, 32);
	mix_hash(h, e, 32);
}

static void message_encrypt(uint8_t *dst, const uint8_t *src, size_t len,
			    const uint8_t key[static 32], uint8_t h[static 32])
{
	wg__aead_encrypt(dst, src, len, h, 32, 0, key);
	mix_hash(h, dst, noise_encrypted_len(len));
}

static bool message_decrypt(uint8_t *dst, const uint8_t *src, size_t len,
			    const uint8_t key[static 32], uint8_t h[static 32])
{
	if (!wg__aead_decrypt(dst, src, noise_encrypted_len(len), h, 32, 0, key))
		return false;
	mix_hash(h, src, noise_encrypted_len(len));
	return true;
}

static void put_le32(void *dst, uint32_t v)
{
	uint8_t *p = (uint8_t *)dst;
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const void *src)
{
	const uint8_t *p = (const uint8_t *)src;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A fresh ephemeral key pair (or the fixed one a test passes). */
static bool ephemeral_new(uint8_t priv[static 32], uint8_t pub[static 32], const uint8_t *fixed)
{
	if (fixed)
		memcpy(priv, fixed, 32);
	else
		wg__gen_privkey(priv);
	return wg__pubkey(pub, priv);
}

void wg__noise_identity_init(struct wg__static_identity *id, const uint8_t *private_key,
			     const uint8_t *prologue, size_t prologue_len)
{
	memset(id, 0, sizeof(*id));
	wg__hash2(id->initial_ck, WG_CONSTRUCTION, strlen(WG_CONSTRUCTION), NULL, 0);
	wg__hash2(id->initial_h, id->initial_ck, 32, prologue, prologue_len);
	if (private_key && !key_is_zero(private_key)) {
		memcpy(id->static_private, private_key, 32);
		wg__clamp(id->static_private);
		id->has_identity = wg__pubkey(id->static_public, id->static_private);
	}
}

void wg__noise_identity_clear(struct wg__static_identity *id)
{
	key_wipe(id->static_private, sizeof(id->static_private));
	memset(id->static_public, 0, sizeof(id->static_public));
	id->has_identity = false;
}

bool wg__noise_handshake_init(struct wg__handshake *hs, const struct wg__static_identity *id,
			      const uint8_t remote_static[static 32], const uint8_t *psk)
{
	memcpy(hs->remote_static, remote_static, 32);
	if (psk)
		memcpy(hs->preshared_key, psk, 32);
	if (!id->has_identity ||
	    !wg__dh(hs->precomputed_static_static, id->static_private, remote_static)) {
		memset(hs->precomputed_static_static, 0, 32);
		return false;
	}
	return true;
}

void wg__noise_handshake_clear(struct wg__handshake *hs)
{
	key_wipe(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	key_wipe(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	key_wipe(hs->hash, sizeof(hs->hash));
	key_wipe(hs->chaining_key, sizeof(hs->chaining_key));
	hs->remote_index = 0;
	hs->state = HANDSHAKE_ZEROED;
}

void wg__tai64n(uint8_t out[static NOISE_TIMESTAMP_LEN], uint64_t wall_ns)
{
	uint64_t sec = 0x400000000000000aULL + wall_ns / NS_PER_SEC;
	uint32_t nsec = (uint32_t)(wall_ns % NS_PER_SEC) & ~((1u << 24) - 1);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(sec >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(nsec >> (24 - 8 * i));
}

bool wg__noise_handshake_create_initiation(struct message_handshake_initiation *dst,
					   struct wg__handshake *hs,
					   const struct wg__static_identity *id,
					   const uint8_t *ephemeral,
					   const uint8_t timestamp[static NOISE_TIMESTAMP_LEN])
{
	uint8_t ck[32], h[32], key[32], e_priv[32], e_pub[32];
	bool ok = false;

	if (!id->has_identity)
		goto out;
	memcpy(ck, id->initial_ck, 32);
	memcpy(h, id->initial_h, 32);
	mix_hash(h, hs->remote_static, 32);

	if (!ephemeral_new(e_priv, e_pub, ephemeral))
		goto out;

	put_le32(&dst->header.type, MESSAGE_HANDSHAKE_INITIATION);
	memcpy(dst->unencrypted_ephemeral, e_pub, 32);
	message_ephemeral(ck, h, e_pub);
	/* es */
	if (!mix_dh(ck, key, e_priv, hs->remote_static))
		goto out;
	/* s */
	message_encrypt(dst->encrypted_static, id->static_public, 32, key, h);
	/* ss */
	if (!mix_precomputed_dh(ck, key, hs->precomputed_static_static))
		goto out;
	/* {t} */
	message_encrypt(dst->encrypted_timestamp, timestamp, NOISE_TIMESTAMP_LEN, key, h);

	put_le32(&dst->sender_index, hs->entry.index);
	memcpy(hs->ephemeral_private, e_priv, 32);
	memcpy(hs->chaining_key, ck, 32);
	memcpy(hs->hash, h, 32);
	hs->state = HANDSHAKE_CREATED_INITIATION;
	ok = true;
out:
	key_wipe(ck, sizeof(ck));
	key_wipe(h, sizeof(h));
	key_wipe(key, sizeof(key));
	key_wipe(e_priv, sizeof(e_priv));
	return ok;
}

struct wg__handshake *wg__noise_handshake_consume_initiation(
    const struct message_handshake_initiation *src, const struct wg__static_identity *id,
    struct wg__handshake *(*lookup)(void *ctx, const uint8_t pub[static 32]), void *ctx,
    uint64_t now_ns)
{
	uint8_t ck[32], h[32], key[32], s[32], t[NOISE_TIMESTAMP_LEN];
	struct wg__handshake *hs = NULL, *ret = NULL;

	if (!id->has_identity)
		goto out;
	memcpy(ck, id->initial_ck, 32);
	memcpy(h, id->initial_h, 32);
	mix_hash(h, id->static_public, 32);

	message_ephemeral(ck, h, src->unencrypted_ephemeral);
	/* es */
	if (!mix_dh(ck, key, id->static_private, src->unencrypted_ephemeral))
		goto out;
	/* s */
	if (!message_decrypt(s, src->encrypted_static, 32, key, h))
		goto out;
	hs = lookup(ctx, s);
	if (!hs)
		goto out;
	/* ss */
	if (!mix_precomputed_dh(ck, key, hs->precomputed_static_static))
		goto out;
	/* {t} */
	if (!message_decrypt(t, src->encrypted_timestamp, NOISE_TIMESTAMP_LEN, key, h))
		goto out;

	/* TAI64N is big-endian, so byte order is time order. */
	if (memcmp(t, hs->latest_timestamp, NOISE_TIMESTAMP_LEN) <= 0)
		goto out;
	if (hs->has_consumed_initiation &&
	    now_ns - hs->last_initiation_consumption_ns < INITIATION_MIN_INTERVAL_MS * NS_PER_MS)
		goto out;

	memcpy(hs->remote_ephemeral, src->unencrypted_ephemeral, 32);
	memcpy(hs->latest_timestamp, t, NOISE_TIMESTAMP_LEN);
	memcpy(hs->hash, h, 32);
	memcpy(hs->chaining_key, ck, 32);
	hs->remote_index = get_le32(&src->sender_index);
	hs->last_initiation_consumption_ns = now_ns;
	hs->has_consumed_initiation = true;
	hs->state = HANDSHAKE_CONSUMED_INITIATION;
	ret = hs;
out:
	key_wipe(ck, sizeof(ck));
	key_wipe(h, sizeof(h));
	key_wipe(key, sizeof(key));
	key_wipe(s, sizeof(s));
	key_wipe(t, sizeof(t));
	return ret;
}

bool wg__noise_handshake_create_response(struct message_handshake_response *dst,
					 struct wg__handshake *hs,
					 const struct wg__static_identity *id,
					 const uint8_t *ephemeral)
{
	uint8_t ck[32], h[32], key[32], e_priv[32], e_pub[32];
	bool ok = false;

	if (hs->state != HANDSHAKE_CONSUMED_INITIATION || !id->has_identity)
		goto out;
	memcpy(ck, hs->chaining_key, 32);
	memcpy(h, hs->hash, 32);

	if (!ephemeral_new(e_priv, e_pub, ephemeral))
		goto out;

	put_le32(&dst->header.type, MESSAGE_HANDSHAKE_RESPONSE);
	memcpy(dst->unencrypted_ephemeral, e_pub, 32);
	message_ephemeral(ck, h, e_pub);
	/* ee */
	if (!mix_dh(ck, NULL, e_priv, hs->remote_ephemeral))
		goto out;
	/* se */
	if (!mix_dh(ck, NULL, e_priv, hs->remote_static))
		goto out;
	/* psk */
	mix_psk(ck, h, key, hs->preshared_key);
	/* {} */
	message_encrypt(dst->encrypted_nothing, NULL, 0, key, h);

	put_le32(&dst->sender_index, hs->entry.index);
	put_le32(&dst->receiver_index, hs->remote_index);
	memcpy(hs->chaining_key, ck, 32);
	memcpy(hs->hash, h, 32);
	hs->state = HANDSHAKE_CREATED_RESPONSE;
	ok = true;
out:
	key_wipe(ck, sizeof(ck));
	key_wipe(h, sizeof(h));
	key_wipe(key, sizeof(key));
	key_wipe(e_priv, sizeof(e_priv));
	return ok;
}

bool wg__noise_handshake_consume_response(const struct message_handshake_response *src,
					  struct wg__handshake *hs,
					  const struct wg__static_identity *id)
{
	uint8_t ck[32], h[32], key[32];
	bool ok = false;

	if (hs->state != HANDSHAKE_CREATED_INITIATION || !id->has_identity)
		goto out;
	memcpy(ck, hs->chaining_key, 32);
	memcpy(h, hs->hash, 32);

	message_ephemeral(ck, h, src->unencrypted_ephemeral);
	/* ee */
	if (!mix_dh(ck, NULL, hs->ephemeral_private, src->unencrypted_ephemeral))
		goto out;
	/* se */
	if (!mix_dh(ck, NULL, id->static_private, src->unencrypted_ephemeral))
		goto out;
	/* psk */
	mix_psk(ck, h, key, hs->preshared_key);
	/* {} */
	if (!message_decrypt(NULL, src->encrypted_nothing, 0, key, h))
		goto out;

	memcpy(hs->remote_ephemeral, src->unencrypted_ephemeral, 32);
	memcpy(hs->chaining_key, ck, 32);
	memcpy(hs->hash, h, 32);
	hs->remote_index = get_le32(&src->sender_index);
	hs->state = HANDSHAKE_CONSUMED_RESPONSE;
	ok = true;
out:
	key_wipe(ck, sizeof(ck));
	key_wipe(h, sizeof(h));
	key_wipe(key, sizeof(key));
	return ok;
}

bool wg__noise_handshake_begin_session(struct wg__handshake *hs, struct wg__keypair *kp,
				       uint64_t now_ns)
{
	if (hs->state != HANDSHAKE_CREATED_RESPONSE && hs->state != HANDSHAKE_CONSUMED_RESPONSE)
		return false;
	memset(kp, 0, sizeof(*kp));
	kp->i_am_initiator = hs->state == HANDSHAKE_CONSUMED_RESPONSE;
	if (kp->i_am_initiator)
		wg__kdf(kp->send_key, kp->recv_key, NULL, hs->chaining_key, NULL, 0);
	else
		wg__kdf(kp->recv_key, kp->send_key, NULL, hs->chaining_key, NULL, 0);
	wg__replay_init(&kp->replay);
	kp->entry.index = hs->entry.index;
	kp->entry.type = WG_INDEX_KEYPAIR;
	kp->entry.keypair = kp;
	kp->remote_index = hs->remote_index;
	kp->birth_ns = now_ns;
	kp->valid = true;
	wg__noise_handshake_clear(hs);
	return true;
}
