"""Identity payloads carrying Ed25519 edge cases, made for the live message being signed.

The identity signature covers `"parley-noise-static-key:" || s`, where s is our Noise
static key in this handshake ([HS-6]); a signature from vectors/ed25519.json covers another
message. So for each rule of spec §2.4 this module builds a key and a signature that
satisfy the verification equation as a lax library computes it, for the exact message
the peer will verify: only the strict rule tells the peer to reject (or, for a key of
mixed order with k = 0 mod 8, to accept). The static key is ground until k has the needed
residue. Each forgery is checked against the package's own strict verifier before use.

Curve arithmetic is parley.ed25519's (extended coordinates, RFC 8032 §5.1).
"""

import hashlib
from dataclasses import dataclass

from .. import ed25519, noise
from ..ed25519 import BASE, IDENTITY, L, P, encode_point, point_add, scalar_mult
from ..handshake import IDENTITY_CONTEXT, Identity, IdentityPayload

MAX_GRIND = 4096


def _torsion_point_of_order_8():
    """A point of order 8: [L]Q for curve points Q until one has order exactly 8."""
    y = 2
    while True:
        q = ed25519.decode_point(y.to_bytes(32, "little"))
        y += 1
        if q is None:
            continue
        t = scalar_mult(L, q)
        if not ed25519.is_identity(scalar_mult(4, t)):
            return t


T8 = _torsion_point_of_order_8()


def _k(r_bytes, a_bytes, message):
    return int.from_bytes(hashlib.sha512(r_bytes + a_bytes + message).digest(), "little") % L


def _scalar(label):
    return int.from_bytes(hashlib.sha512(b"parley-harness-forge:" + label).digest(), "little") % L


@dataclass
class Forgery:
    name: str
    rule: str  # the §2.4 rule that decides ("ID-1".."ID-5"), or None when valid
    static: bytes  # our Noise static private key for the handshake
    identity_key: bytes
    signature: bytes
    comment: str

    def payload(self, **fields):
        return IdentityPayload(self.identity_key, self.signature, **fields).encode()


def _grind(make, want_k_mod_8):
    """Noise static keys until the forged (A, R) gives k with the wanted residue mod 8
    (`want_k_mod_8`: 0, "nonzero" or None for any)."""
    for _ in range(MAX_GRIND):
        static = noise.KeyPair.generate()
        message = IDENTITY_CONTEXT + static.public
        a_bytes, r_bytes, finish = make(message)
        k = _k(r_bytes, a_bytes, message)
        if want_k_mod_8 is None or (want_k_mod_8 == 0 and k % 8 == 0) or \
                (want_k_mod_8 == "nonzero" and k % 8 != 0):
            return static, a_bytes, r_bytes + finish(k).to_bytes(32, "little")
    raise RuntimeError("could not grind a static key")


def _encode_y(y, sign=0):
    return (y | (sign << 255)).to_bytes(32, "little")


def forge(name):
    """The Forgery called `name` (one of NAMES)."""
    a = _scalar(b"a")
    r = _scalar(b"r")
    a_point = scalar_mult(a, BASE)
    r_point = scalar_mult(r, BASE)

    if name == "valid":
        identity = Identity(hashlib.sha256(b"forge-valid").digest())
        static = noise.KeyPair.generate()
        sig = identity.sign_static_key(static.public)
        return Forgery(name, None, static.private, identity.public_key, sig,
                       "an ordinary valid signature")
    if name == "s_plus_l":
        identity = Identity(hashlib.sha256(b"forge-s").digest())
        static = noise.KeyPair.generate()
        sig = identity.sign_static_key(static.public)
        s = int.from_bytes(sig[32:], "little") + L
        return Forgery(name, "ID-1", static.private, identity.public_key,
                       sig[:32] + s.to_bytes(32, "little"),
                       "a valid signature with S + L: the same value mod L, not canonical")
    if name == "small_order_key_identity":
        def make(m):
            return encode_point(IDENTITY), encode_point(r_point), lambda k: r
        static, key, sig = _grind(make, None)
        return Forgery(name, "ID-3", static.private, key, sig,
                       "A = the identity point (order 1): [S]B = R + [k]A holds for any k")
    if name == "small_order_key_order_8":
        def make(m):
            return encode_point(T8), encode_point(r_point), lambda k: r
        static, key, sig = _grind(make, 0)
        return Forgery(name, "ID-3", static.private, key, sig,
                       "A of order 8 and k = 0 mod 8: [S]B = R + [k]A holds")
    if name == "noncanonical_key":
        def make(m):
            return _encode_y(P + 1), encode_point(r_point), lambda k: r
        static, key, sig = _grind(make, None)
        return Forgery(name, "ID-2", static.private, key, sig,
                       "A = the identity encoded as y = p + 1 (not canonical)")
    if name == "small_order_r":
        def make(m):
            return encode_point(a_point), encode_point(IDENTITY), lambda k: k * a % L
        static, key, sig = _grind(make, None)
        return Forgery(name, "ID-4", static.private, key, sig,
                       "R = the identity point, S = k * a: [S]B = R + [k]A holds")
    if name == "noncanonical_r":
        def make(m):
            return encode_point(a_point), _encode_y(P + 1), lambda k: k * a % L
        static, key, sig = _grind(make, None)
        return Forgery(name, "ID-4", static.private, key, sig,
                       "R = the identity encoded as y = p + 1 (not canonical), S = k * a")
    if name == "mixed_order_key_valid":
        mixed = point_add(a_point, T8)

        def make(m):
            return encode_point(mixed), encode_point(r_point), lambda k: (r + k * a) % L
        static, key, sig = _grind(make, 0)
        return Forgery(name, None, static.private, key, sig,
                       "A of mixed order ([a]B + T8) with k = 0 mod 8: valid under the "
                       "cofactorless equation; [ID-3] does not reject mixed order")
    if name == "mixed_order_key_cofactored_only":
        mixed = point_add(a_point, T8)

        def make(m):
            return encode_point(mixed), encode_point(r_point), lambda k: (r + k * a) % L
        static, key, sig = _grind(make, "nonzero")
        return Forgery(name, "ID-5", static.private, key, sig,
                       "A of mixed order with k != 0 mod 8: only the cofactored equation holds")
    if name == "mixed_order_r":
        mixed_r = point_add(r_point, T8)

        def make(m):
            return encode_point(a_point), encode_point(mixed_r), lambda k: (r + k * a) % L
        static, key, sig = _grind(make, None)
        return Forgery(name, "ID-5", static.private, key, sig,
                       "R of mixed order ([r]B + T8), S = r + k * a: only the cofactored "
                       "equation holds")
    if name == "other_identity":
        signer = Identity(hashlib.sha256(b"forge-signer").digest())
        claimed = Identity(hashlib.sha256(b"forge-claimed").digest())
        static = noise.KeyPair.generate()
        return Forgery(name, "ID-5", static.private, claimed.public_key,
                       signer.sign_static_key(static.public),
                       "the key of one identity with the signature of another")
    raise ValueError(f"unknown forgery {name!r}")


NAMES = ("valid", "s_plus_l", "small_order_key_identity", "small_order_key_order_8",
         "noncanonical_key", "small_order_r", "noncanonical_r", "mixed_order_key_valid",
         "mixed_order_key_cofactored_only", "mixed_order_r", "other_identity")


def checked(name):
    """forge(name), after the package's strict verifier agrees with its rule."""
    f = forge(name)
    static_public = noise.KeyPair(f.static).public
    got = ed25519.check(f.identity_key, IDENTITY_CONTEXT + static_public, f.signature)
    if got != f.rule:
        raise AssertionError(f"forgery {name}: the strict verifier says {got}, not {f.rule}")
    if f.rule in ("ID-2", "ID-3", "ID-4") or name in ("mixed_order_key_valid",):
        _check_lax_equation(f, static_public)
    return f


def _check_lax_equation(f, static_public):
    """The forgery satisfies [S]B = R + [k]A with the points a lax library decodes
    (y reduced mod p), so only the strict rule rejects it."""
    message = IDENTITY_CONTEXT + static_public
    r_bytes, s = f.signature[:32], int.from_bytes(f.signature[32:], "little")
    a_pt, r_pt = _lax_decode(f.identity_key), _lax_decode(r_bytes)
    k = _k(r_bytes, f.identity_key, message)
    left = scalar_mult(s, BASE)
    right = point_add(r_pt, scalar_mult(k, a_pt))
    if encode_point(left) != encode_point(right):
        raise AssertionError(f"forgery {f.name}: the equation does not hold")


def _lax_decode(data):
    value = int.from_bytes(data, "little")
    sign, y = value >> 255, (value & ((1 << 255) - 1)) % P
    point = ed25519.decode_point(_encode_y(y, sign))
    if point is None:
        point = ed25519.decode_point(_encode_y(y, 0))
    return point
