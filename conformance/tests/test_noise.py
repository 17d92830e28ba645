"""The Noise XX state machine (parley/noise.py) against the Noise specification."""

import struct

import pytest

from parley import noise

PROLOGUE = b"PARLEY\x01\x01\x01PARLEY\x02\x01"


def _pair(prologue_i=PROLOGUE, prologue_r=PROLOGUE):
    init = noise.HandshakeState(True, prologue_i, noise.KeyPair.generate().private)
    resp = noise.HandshakeState(False, prologue_r, noise.KeyPair.generate().private)
    return init, resp


def test_xx_handshake_between_both_roles_agrees_on_keys_and_hash():
    """[HS-1] the three XX messages; both sides end with the same h and split keys."""
    init, resp = _pair()
    assert resp.read_message(init.write_message(b"")) == b""
    assert init.read_message(resp.write_message(b"two")) == b"two"
    assert resp.read_message(init.write_message(b"three")) == b"three"
    assert init.complete and resp.complete
    assert init.handshake_hash == resp.handshake_hash
    i1, i2 = init.split()
    r1, r2 = resp.split()
    assert (i1.k, i2.k) == (r1.k, r2.k)
    assert i1.k != i2.k
    assert init.rs == resp.s.public and resp.rs == init.s.public


def test_xx_message_sizes_match_the_pattern():
    """[HS-1] -> e is 32 bytes; <- e, ee, s, es is 32 + 48 + payload + 16; -> s, se is
    48 + payload + 16."""
    init, resp = _pair()
    m1 = init.write_message(b"")
    resp.read_message(m1)
    m2 = resp.write_message(b"x" * 10)
    init.read_message(m2)
    m3 = init.write_message(b"y" * 7)
    assert (len(m1), len(m2), len(m3)) == (32, 32 + 48 + 10 + 16, 48 + 7 + 16)


def test_different_prologue_fails_message_2():
    """[HS-2] a prologue that differs makes message 2 fail to decrypt."""
    init, resp = _pair(prologue_r=PROLOGUE[:-1] + b"\x02")
    resp.read_message(init.write_message(b""))
    with pytest.raises(noise.DecryptError):
        init.read_message(resp.write_message(b"payload"))


def test_flipped_bit_in_message_3_fails():
    """[HS-4] a handshake message that does not decrypt is an error."""
    init, resp = _pair()
    resp.read_message(init.write_message(b""))
    init.read_message(resp.write_message(b""))
    m3 = bytearray(init.write_message(b"hello"))
    m3[-1] ^= 0x01
    with pytest.raises(noise.DecryptError):
        resp.read_message(bytes(m3))


def test_messages_out_of_turn_are_refused():
    init, resp = _pair()
    with pytest.raises(noise.NoiseError):
        resp.write_message(b"")
    with pytest.raises(noise.NoiseError):
        init.read_message(b"\x00" * 32)


def test_short_message_is_an_error_not_a_crash():
    """[CONV-4] a truncated message 2 raises NoiseError."""
    init, resp = _pair()
    resp.read_message(init.write_message(b""))
    m2 = resp.write_message(b"")
    for cut in (0, 31, 32, 79, 80, len(m2) - 1):
        attempt = noise.HandshakeState(True, PROLOGUE, init.s.private, init.e.private)
        attempt.write_message(b"")
        with pytest.raises(noise.NoiseError):
            attempt.read_message(m2[:cut])


@pytest.mark.parametrize("low_order", [bytes(32), b"\x01" + bytes(31)])
def test_low_order_ephemeral_is_rejected(low_order):
    """An all-zero X25519 result (a low-order point as e) raises BadPublicKey (Noise
    §12.1 allows it; libsodium and OpenSSL both refuse the all-zero value)."""
    _, resp = _pair()
    resp.read_message(low_order)
    with pytest.raises(noise.BadPublicKey):
        resp.write_message(b"")


def test_cipher_state_nonce_is_four_zero_bytes_and_le_counter():
    """[REC-1] the ChaChaPoly nonce: 4 zero bytes, then the counter little-endian."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    key = bytes(range(32))
    cs = noise.CipherState(key, nonce=0x0102030405)
    out = cs.encrypt_with_ad(b"ad", b"plaintext")
    nonce = b"\x00\x00\x00\x00" + struct.pack("<Q", 0x0102030405)
    assert out == ChaCha20Poly1305(key).encrypt(nonce, b"plaintext", b"ad")
    assert cs.n == 0x0102030406


def test_cipher_state_refuses_the_reserved_nonce():
    """[REC-6] nonce 2^64-1 is never used; 2^64-2 is the last one."""
    cs = noise.CipherState(bytes(32), nonce=2**64 - 2)
    cs.encrypt_with_ad(b"", b"last")
    with pytest.raises(noise.NonceExhausted):
        cs.encrypt_with_ad(b"", b"one too many")
    rx = noise.CipherState(bytes(32), nonce=2**64 - 1)
    with pytest.raises(noise.NonceExhausted):
        rx.decrypt_with_ad(b"", bytes(16))


def test_failed_decrypt_does_not_advance_the_nonce():
    tx = noise.CipherState(bytes(32))
    rx = noise.CipherState(bytes(32))
    good = tx.encrypt_with_ad(b"", b"abc")
    with pytest.raises(noise.DecryptError):
        rx.decrypt_with_ad(b"", good[:-1] + bytes([good[-1] ^ 1]))
    assert rx.n == 0
    assert rx.decrypt_with_ad(b"", good) == b"abc"


def test_hkdf_matches_rfc5869_shape():
    """Noise's HKDF is RFC 5869 with the chaining key as salt and an empty info."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    ck, ikm = bytes(range(32)), b"input key material"
    expected = HKDF(hashes.SHA256(), 96, ck, b"").derive(ikm)
    assert b"".join(noise.hkdf(ck, ikm, 3)) == expected
