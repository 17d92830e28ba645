"""Noise_XX_25519_ChaChaPoly_SHA256, written from the Noise Protocol Framework, revision 34.

Spec chapter 02 ([HS-1]) names this handshake; chapter 03 uses the cipher states that
Split() returns. The objects and method names follow the Noise specification (§5):

    CipherState      k, n       EncryptWithAd / DecryptWithAd
    SymmetricState   ck, h      MixKey / MixHash / EncryptAndHash / DecryptAndHash / Split
    HandshakeState   s, e, rs, re, the XX message patterns

Nothing here does I/O: messages are bytes in and bytes out. Keys are fresh random values
unless a test passes fixed ones explicitly ([HS-12]).

Errors, all NoiseError: NoiseError itself for a message that is too short or a call out
of turn; DecryptError when a ciphertext does not authenticate; BadPublicKey when a DH
with a remote key gives the all-zero value; NonceExhausted when a cipher state reached
the reserved nonce 2^64 - 1. Callers map them to the registry name their chapter gives.
"""

import hashlib
import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

PROTOCOL_NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"
DHLEN = 32
HASHLEN = 32
KEYLEN = 32
TAGLEN = 16
MAX_NONCE = 2**64 - 1  # reserved by Noise (§5.1): never used to encrypt

XX_PATTERN = (
    ("e",),
    ("e", "ee", "s", "es"),
    ("s", "se"),
)


class NoiseError(Exception):
    """A Noise message or call that cannot be processed."""


class DecryptError(NoiseError):
    """A ciphertext did not authenticate."""


class NonceExhausted(NoiseError):
    """The cipher state reached the reserved nonce 2^64 - 1."""


class BadPublicKey(NoiseError):
    """A remote public key for which X25519 gives the all-zero value (low order)."""


# --- DH functions: Curve25519 (Noise §12.1) -------------------------------------------


class KeyPair:
    """An X25519 key pair: `private` and `public`, 32 bytes each."""

    def __init__(self, private):
        if len(private) != DHLEN:
            raise ValueError("an X25519 private key is 32 bytes")
        key = X25519PrivateKey.from_private_bytes(private)
        self.private = bytes(private)
        self.public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._key = key

    @classmethod
    def generate(cls):
        """A fresh random key pair (GENERATE_KEYPAIR)."""
        raw = X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(raw)

    def dh(self, public):
        """DH(self, public): the 32-byte X25519 shared value.

        Noise §12.1 lets an implementation reject public keys that give the all-zero
        output; OpenSSL does, and so does libsodium, so such a key raises BadPublicKey.
        """
        if len(public) != DHLEN:
            raise BadPublicKey("an X25519 public key is 32 bytes")
        try:
            return self._key.exchange(X25519PublicKey.from_public_bytes(public))
        except ValueError as exc:
            raise BadPublicKey("X25519 gave the all-zero value") from exc


# --- HKDF (Noise §4.3) ------------------------------------------------------------------


def _hmac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def hkdf(chaining_key, input_key_material, num_outputs):
    """HKDF(ck, ikm, n) of Noise §4.3 with HMAC-SHA256: two or three 32-byte outputs."""
    temp_key = _hmac(chaining_key, input_key_material)
    output1 = _hmac(temp_key, b"\x01")
    output2 = _hmac(temp_key, output1 + b"\x02")
    if num_outputs == 2:
        return output1, output2
    output3 = _hmac(temp_key, output2 + b"\x03")
    return output1, output2, output3


# --- CipherState (Noise §5.1) -----------------------------------------------------------


def _nonce(n):
    # ChaChaPoly (Noise §12.3): 32 bits of zeros, then the 64-bit counter little-endian.
    return b"\x00" * 4 + struct.pack("<Q", n)


class CipherState:
    """A key `k` (None when empty) and a 64-bit nonce counter `n`."""

    def __init__(self, key=None, nonce=0):
        self.k = None
        self.n = 0
        self._aead = None
        if key is not None:
            self.initialize_key(key)
        self.n = nonce

    def initialize_key(self, key):
        if key is not None and len(key) != KEYLEN:
            raise ValueError("a cipher key is 32 bytes")
        self.k = None if key is None else bytes(key)
        self._aead = None if key is None else ChaCha20Poly1305(self.k)
        self.n = 0

    def has_key(self):
        return self.k is not None

    def set_nonce(self, nonce):
        self.n = nonce

    def encrypt_with_ad(self, ad, plaintext):
        """ENCRYPT(k, n++, ad, plaintext), or the plaintext when there is no key."""
        if self.k is None:
            return bytes(plaintext)
        if self.n >= MAX_NONCE:
            raise NonceExhausted("nonce 2^64-1 is reserved")
        out = self._aead.encrypt(_nonce(self.n), bytes(plaintext), bytes(ad))
        self.n += 1
        return out

    def decrypt_with_ad(self, ad, ciphertext):
        """DECRYPT(k, n, ad, ciphertext); n advances only when it authenticates."""
        if self.k is None:
            return bytes(ciphertext)
        if self.n >= MAX_NONCE:
            raise NonceExhausted("nonce 2^64-1 is reserved")
        try:
            out = self._aead.decrypt(_nonce(self.n), bytes(ciphertext), bytes(ad))
        except InvalidTag as exc:
            raise DecryptError("ciphertext does not authenticate") from exc
        self.n += 1
        return out


# --- SymmetricState (Noise §5.2) --------------------------------------------------------


class SymmetricState:
    """The chaining key `ck`, the handshake hash `h` and a CipherState."""

    def __init__(self, protocol_name=PROTOCOL_NAME):
        if len(protocol_name) <= HASHLEN:
            self.h = protocol_name + b"\x00" * (HASHLEN - len(protocol_name))
        else:
            self.h = hashlib.sha256(protocol_name).digest()
        self.ck = self.h
        self.cipher = CipherState()

    def mix_key(self, input_key_material):
        self.ck, temp_k = hkdf(self.ck, input_key_material, 2)
        self.cipher.initialize_key(temp_k)

    def mix_hash(self, data):
        self.h = hashlib.sha256(self.h + bytes(data)).digest()

    def mix_key_and_hash(self, input_key_material):
        self.ck, temp_h, temp_k = hkdf(self.ck, input_key_material, 3)
        self.mix_hash(temp_h)
        self.cipher.initialize_key(temp_k)

    def get_handshake_hash(self):
        return self.h

    def encrypt_and_hash(self, plaintext):
        ciphertext = self.cipher.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext):
        plaintext = self.cipher.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self):
        """The two transport cipher states: (c1 initiator to responder, c2 back)."""
        temp_k1, temp_k2 = hkdf(self.ck, b"", 2)
        return CipherState(temp_k1), CipherState(temp_k2)


# --- HandshakeState (Noise §5.3) for XX -------------------------------------------------


class HandshakeState:
    """One side of an XX handshake.

    `initiator`: True for the side that sends message 1. `static`: this side's static
    private key (32 bytes). `ephemeral`: a fixed ephemeral private key, for test vectors
    only; None (the default) generates a fresh one ([HS-12]).

    write_message(payload) and read_message(message) alternate as XX says; after the
    third message `complete` is True and split() gives (c1, c2).
    """

    def __init__(self, initiator, prologue, static, ephemeral=None):
        self.initiator = initiator
        self.symmetric = SymmetricState(PROTOCOL_NAME)
        self.symmetric.mix_hash(prologue)
        self.s = KeyPair(static)
        self.e = None if ephemeral is None else KeyPair(ephemeral)
        self.rs = None
        self.re = None
        self.message_index = 0

    @property
    def complete(self):
        return self.message_index == len(XX_PATTERN)

    @property
    def handshake_hash(self):
        return self.symmetric.get_handshake_hash()

    def is_my_turn(self):
        """True when this side writes the next message (initiator: 1 and 3)."""
        return (self.message_index % 2 == 0) == self.initiator

    def _dh_token(self, token):
        # "es": DH between the initiator's ephemeral and the responder's static;
        # "se": the initiator's static and the responder's ephemeral.
        if token == "ee":
            return self.e.dh(self.re)
        if token == "es":
            return self.e.dh(self.rs) if self.initiator else self.s.dh(self.re)
        if token == "se":
            return self.s.dh(self.re) if self.initiator else self.e.dh(self.rs)
        raise NoiseError(f"unknown token {token}")

    def write_message(self, payload=b""):
        """The next handshake message, carrying `payload`."""
        if self.complete or not self.is_my_turn():
            raise NoiseError("not this side's turn to write")
        out = bytearray()
        for token in XX_PATTERN[self.message_index]:
            if token == "e":
                if self.e is None:
                    self.e = KeyPair.generate()
                out += self.e.public
                self.symmetric.mix_hash(self.e.public)
            elif token == "s":
                out += self.symmetric.encrypt_and_hash(self.s.public)
            else:
                self.symmetric.mix_key(self._dh_token(token))
        out += self.symmetric.encrypt_and_hash(payload)
        self.message_index += 1
        return bytes(out)

    def read_message(self, message):
        """The payload of the next handshake message `message`."""
        if self.complete or self.is_my_turn():
            raise NoiseError("not this side's turn to read")
        message = bytes(message)
        pos = 0
        for token in XX_PATTERN[self.message_index]:
            if token == "e":
                if len(message) - pos < DHLEN:
                    raise NoiseError("message too short for an ephemeral key")
                self.re = message[pos:pos + DHLEN]
                pos += DHLEN
                self.symmetric.mix_hash(self.re)
            elif token == "s":
                size = DHLEN + (TAGLEN if self.symmetric.cipher.has_key() else 0)
                if len(message) - pos < size:
                    raise NoiseError("message too short for a static key")
                self.rs = self.symmetric.decrypt_and_hash(message[pos:pos + size])
                pos += size
            else:
                self.symmetric.mix_key(self._dh_token(token))
        if self.symmetric.cipher.has_key() and len(message) - pos < TAGLEN:
            raise NoiseError("message too short for the payload tag")
        payload = self.symmetric.decrypt_and_hash(message[pos:])
        self.message_index += 1
        return payload

    def split(self):
        """(c1, c2) once the handshake is complete."""
        if not self.complete:
            raise NoiseError("handshake not complete")
        return self.symmetric.split()
