"""Strict Ed25519 verification, spec/02-handshake.md §2.4.

Ed25519 libraries disagree on edge cases, so Parley fixes them. A signature is accepted
only when every rule holds; they are checked in the order the spec lists them and the
first that fails is reported:

    [ID-1]  S < L
    [ID-2]  A is a canonical encoding (y < p, not x = 0 with the sign bit) of a curve point
    [ID-3]  A is not of small order ([8]A is not the identity)
    [ID-4]  R is a canonical encoding of a curve point that is not of small order
    [ID-5]  the cofactorless equation [S]B = R + [k]A, k = SHA-512(R || A || M) mod L

[ID-1]..[ID-4] are decided here, with a small pure-Python implementation of the curve in
extended coordinates (RFC 8032 §5.1). [ID-5] is computed by python3-cryptography
(OpenSSL), which after these checks computes exactly the cofactorless equation;
cofactorless_equation_holds() is the same equation in pure Python, kept so the tests can
check OpenSSL against the definition.
"""

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import ParleyError

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, -1, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64


class SignatureError(ParleyError):
    """BAD_SIGNATURE, with `rule` naming the §2.4 rule that rejected ("ID-1".."ID-5")."""

    def __init__(self, rule, detail=""):
        super().__init__("BAD_SIGNATURE", f"[{rule}] {detail}".rstrip())
        self.rule = rule


# --- the curve: -x^2 + y^2 = 1 + d x^2 y^2 over GF(p), extended coordinates -------------
# A point is a tuple (X, Y, Z, T) with x = X/Z, y = Y/Z and x*y = T/Z.

IDENTITY = (0, 1, 1, 0)


def point_add(p1, p2):
    """P1 + P2 (RFC 8032 §5.1.4); the formula is complete, so it also doubles."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def point_neg(pt):
    x, y, z, t = pt
    return (-x % P, y, z, -t % P)


def scalar_mult(scalar, pt):
    """[scalar]P by double-and-add (not constant time: verification has no secrets)."""
    result = IDENTITY
    while scalar > 0:
        if scalar & 1:
            result = point_add(result, pt)
        pt = point_add(pt, pt)
        scalar >>= 1
    return result


def is_identity(pt):
    x, y, z, _ = pt
    return x % P == 0 and (y - z) % P == 0


def is_small_order(pt):
    """True when the order of P divides 8 (1, 2, 4 or 8): [8]P is the identity."""
    for _ in range(3):
        pt = point_add(pt, pt)
    return is_identity(pt)


def decode_point(data):
    """The point a 32-byte encoding names, or None when the encoding is not canonical
    (y >= p, or x = 0 with the sign bit set) or names no point on the curve."""
    if len(data) != 32:
        return None
    value = int.from_bytes(data, "little")
    sign = value >> 255
    y = value & ((1 << 255) - 1)
    if y >= P:
        return None
    # x^2 = (y^2 - 1) / (d y^2 + 1); the denominator is never 0 since d is a non-square.
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if x * x % P != x2:
        x = x * SQRT_M1 % P
    if x * x % P != x2:
        return None
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def encode_point(pt):
    x, y, z, _ = pt
    zinv = pow(z, -1, P)
    x, y = x * zinv % P, y * zinv % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


BASE = decode_point(
    (4 * pow(5, -1, P) % P).to_bytes(32, "little")  # y = 4/5, x even
)


# --- verification ----------------------------------------------------------------------


def cofactorless_equation_holds(public_key, message, signature):
    """[ID-5] in pure Python: encode([S]B - [k]A) == R, k = SHA-512(R || A || M) mod L.

    Meant for keys and signatures that passed [ID-1]..[ID-4]."""
    r_bytes, s = signature[:32], int.from_bytes(signature[32:], "little")
    a = decode_point(public_key)
    k = int.from_bytes(
        hashlib.sha512(r_bytes + public_key + message).digest(), "little"
    ) % L
    check = point_add(scalar_mult(s, BASE), point_neg(scalar_mult(k, a)))
    return encode_point(check) == r_bytes


def check(public_key, message, signature):
    """None when the signature is accepted under §2.4, else the rule ID that rejects it
    ("ID-1" .. "ID-5"). Raises ValueError for a key or signature of the wrong length,
    which no rule covers (the identity payload's fields have fixed sizes)."""
    public_key, message, signature = bytes(public_key), bytes(message), bytes(signature)
    if len(public_key) != PUBLIC_KEY_LEN or len(signature) != SIGNATURE_LEN:
        raise ValueError("an Ed25519 key is 32 bytes and a signature 64")
    r_bytes, s_bytes = signature[:32], signature[32:]
    # [ID-1] S canonical: no malleable S + L.
    if int.from_bytes(s_bytes, "little") >= L:
        return "ID-1"
    # [ID-2] A canonical and on the curve.
    a = decode_point(public_key)
    if a is None:
        return "ID-2"
    # [ID-3] A not of small order (a mixed-order A passes this rule).
    if is_small_order(a):
        return "ID-3"
    # [ID-4] R canonical, on the curve and not of small order.
    r = decode_point(r_bytes)
    if r is None or is_small_order(r):
        return "ID-4"
    # [ID-5] the cofactorless equation, by OpenSSL.
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return "ID-5"
    return None


def verify(public_key, message, signature):
    """Accept the signature or raise SignatureError (BAD_SIGNATURE, `rule` set)."""
    rule = check(public_key, message, signature)
    if rule is not None:
        raise SignatureError(rule)
