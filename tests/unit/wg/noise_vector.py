#!/usr/bin/python3
"""Independent reference for the WireGuard handshake (paper section 5.4), written from the
paper with Python's hashlib.blake2s and libsodium through PyNaCl, used to produce the
known-answer vectors in test_noise.c.  Run: /usr/bin/python3 tests/unit/wg/noise_vector.py"""
import hashlib, hmac, struct
from nacl.bindings import (crypto_scalarmult, crypto_scalarmult_base,
                           crypto_aead_chacha20poly1305_ietf_encrypt)

def HASH(x): return hashlib.blake2s(x).digest()
def MAC(k, x): return hashlib.blake2s(x, key=k, digest_size=16).digest()
def HMAC(k, x): return hmac.new(k, x, hashlib.blake2s).digest()
def KDF(n, key, inp):
    t0 = HMAC(key, inp); out = []; prev = b""
    for i in range(1, n + 1):
        prev = HMAC(t0, prev + bytes([i])); out.append(prev)
    return out
def AEAD(k, ctr, plain, ad):
    return crypto_aead_chacha20poly1305_ietf_encrypt(plain, ad, b"\0" * 4 + struct.pack("<Q", ctr), k)
def DH(priv, pub): return crypto_scalarmult(priv, pub)
def PUB(priv): return crypto_scalarmult_base(priv)

def handshake(prologue, psk):
    s_i = bytes(range(1, 33)); s_r = bytes(range(33, 65))
    e_i = bytes(range(65, 97)); e_r = bytes(range(97, 129))
    S_i, S_r, E_i, E_r = PUB(s_i), PUB(s_r), PUB(e_i), PUB(e_r)
    ts = bytes.fromhex("400000006553f1000a0b0c00")
    idx_i, idx_r = 0x11223344, 0x55667788
    C = HASH(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")
    H = HASH(HASH(C + prologue) + S_r)
    C = KDF(1, C, E_i)[0]; H = HASH(H + E_i)
    C, k = KDF(2, C, DH(e_i, S_r))
    enc_s = AEAD(k, 0, S_i, H); H = HASH(H + enc_s)
    C, k = KDF(2, C, DH(s_i, S_r))
    enc_t = AEAD(k, 0, ts, H); H = HASH(H + enc_t)
    init = struct.pack("<II", 1, idx_i) + E_i + enc_s + enc_t
    init += MAC(HASH(b"mac1----" + S_r), init) + b"\0" * 16
    C = KDF(1, C, E_r)[0]; H = HASH(H + E_r)
    C = KDF(1, C, DH(e_r, E_i))[0]
    C = KDF(1, C, DH(e_r, S_i))[0]
    C, tau, k = KDF(3, C, psk); H = HASH(H + tau)
    enc_n = AEAD(k, 0, b"", H); H = HASH(H + enc_n)
    resp = struct.pack("<III", 2, idx_r, idx_i) + E_r + enc_n
    resp += MAC(HASH(b"mac1----" + S_i), resp) + b"\0" * 16
    t_send_i, t_recv_i = KDF(2, C, b"")
    data = struct.pack("<IIQ", 4, idx_r, 0) + AEAD(t_send_i, 0, b"\x45" + b"\0" * 15, b"")
    return init, resp, t_send_i, t_recv_i, data

def c_array(name, b):
    body = ",".join("0x%02x" % x for x in b)
    return "static const uint8_t %s[%d] = {%s};" % (name, len(b), body)

for tag, prologue, psk in (("wg", b"WireGuard v1 zx2c4 Jason@zx2c4.com", b"\0" * 32),
                           ("alt", b"Mesh test prologue", bytes([0xaa]) * 32)):
    for n, v in zip(("init", "resp", "send_i", "recv_i", "data"), handshake(prologue, psk)):
        print(c_array("%s_%s" % (tag, n), v))
