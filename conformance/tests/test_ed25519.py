"""Strict Ed25519 (parley/ed25519.py), spec §2.4, on cases built here from the curve."""

import hashlib
import os

import pytest

from parley import ed25519 as ed
from parley.errors import ParleyError
from parley.handshake import Identity

MSG = b"parley-noise-static-key:" + bytes(range(32))


def _enc(point):
    return ed.encode_point(point)


def _small_order_points():
    """The eight points of order dividing 8, by canonical encoding in hex."""
    seen = {}
    while len(seen) < 8:
        pt = ed.decode_point(os.urandom(32))
        if pt is None:
            continue
        torsion = ed.scalar_mult(ed.L, pt)
        for k in range(8):
            multiple = ed.scalar_mult(k, torsion)
            seen[_enc(multiple).hex()] = multiple
    return seen


SMALL_ORDER = _small_order_points()
ORDER_8 = next(pt for pt in SMALL_ORDER.values()
               if not ed.is_identity(ed.scalar_mult(4, pt)))


def _k(r_bytes, a_bytes, msg):
    return int.from_bytes(hashlib.sha512(r_bytes + a_bytes + msg).digest(), "little") % ed.L


def _sign(a, a_bytes, msg, r=None, r_extra=None):
    """A signature by scalar `a` for the key encoded `a_bytes`; `r_extra` is a point
    added to R (so R may be given a small-order component)."""
    r = r if r is not None else int.from_bytes(os.urandom(64), "little") % ed.L
    r_point = ed.scalar_mult(r, ed.BASE)
    if r_extra is not None:
        r_point = ed.point_add(r_point, r_extra)
    r_bytes = _enc(r_point)
    s = (r + _k(r_bytes, a_bytes, msg) * a) % ed.L
    return r_bytes + s.to_bytes(32, "little")


def _keypair():
    a = int.from_bytes(os.urandom(64), "little") % ed.L
    return a, _enc(ed.scalar_mult(a, ed.BASE))


def _le(n):
    return n.to_bytes(32, "little")


def test_a_signature_from_cryptography_is_accepted():
    """[ID-5] a valid signature made by a standard signer passes every rule."""
    ident = Identity(bytes(range(32)))
    sig = ident.sign(MSG)
    assert ed.check(ident.public_key, MSG, sig) is None
    ed.verify(ident.public_key, MSG, sig)
    assert ed.cofactorless_equation_holds(ident.public_key, MSG, sig)


def test_base_point_and_curve_arithmetic():
    assert _enc(ed.BASE).hex() == "58" + "66" * 31
    assert ed.is_identity(ed.scalar_mult(ed.L, ed.BASE))
    assert len(SMALL_ORDER) == 8
    assert all(ed.is_small_order(pt) for pt in SMALL_ORDER.values())
    assert not ed.is_small_order(ed.BASE)


def test_non_canonical_s_is_rejected():
    """[ID-1] S >= L: S = L, the malleable S + L and S + 2L, and all ones."""
    ident = Identity(bytes(32))
    sig = ident.sign(MSG)
    s = int.from_bytes(sig[32:], "little")
    for big in (ed.L, s + ed.L, s + 2 * ed.L, 2**256 - 1):
        bad = sig[:32] + _le(big)
        assert ed.check(ident.public_key, MSG, bad) == "ID-1"
        with pytest.raises(ParleyError) as err:
            ed.verify(ident.public_key, MSG, bad)
        assert err.value.name == "BAD_SIGNATURE" and err.value.rule == "ID-1"


def test_key_with_y_at_least_p_is_rejected():
    """[ID-2] y >= p: y = p + 1 names the same point as y = 1 but is not canonical."""
    ident = Identity(bytes(32))
    sig = ident.sign(MSG)
    for y in (ed.P, ed.P + 1, 2**255 - 1):
        assert ed.check(_le(y), MSG, sig) == "ID-2"


def test_key_with_x_zero_and_sign_bit_is_rejected():
    """[ID-2] x = 0 with the sign bit set (y = 1 and y = -1) is not canonical."""
    ident = Identity(bytes(32))
    sig = ident.sign(MSG)
    for y in (1, ed.P - 1):
        assert ed.check(_le(y | (1 << 255)), MSG, sig) == "ID-2"


def test_key_not_on_the_curve_is_rejected():
    """[ID-2] a y for which no x exists."""
    ident = Identity(bytes(32))
    sig = ident.sign(MSG)
    y = 2
    while ed.decode_point(_le(y)) is not None:
        y += 1
    assert ed.check(_le(y), MSG, sig) == "ID-2"


@pytest.mark.parametrize("encoding", sorted(SMALL_ORDER))
def test_small_order_key_is_rejected(encoding):
    """[ID-3] every canonical point of order 1, 2, 4 or 8 as A is rejected, before the
    equation is tried."""
    s = 12345
    r_bytes = _enc(ed.scalar_mult(s, ed.BASE))
    sig = r_bytes + _le(s)
    assert ed.check(bytes.fromhex(encoding), MSG, sig) == "ID-3"


def test_mixed_order_key_passes_id3_and_the_cofactorless_equation_decides():
    """[ID-3] a mixed-order A is not rejected by ID-3; [ID-5] the cofactorless equation
    accepts it exactly when [k]T vanishes, i.e. 8 divides k."""
    a, _ = _keypair()
    a_point = ed.point_add(ed.scalar_mult(a, ed.BASE), ORDER_8)
    a_bytes = _enc(a_point)
    accepted = rejected = 0
    while not (accepted and rejected):
        sig = _sign(a, a_bytes, MSG)
        k = _k(sig[:32], a_bytes, MSG)
        verdict = ed.check(a_bytes, MSG, sig)
        assert ed.cofactorless_equation_holds(a_bytes, MSG, sig) == (verdict is None)
        if k % 8 == 0:
            assert verdict is None
            accepted += 1
        else:
            assert verdict == "ID-5"
            rejected += 1


@pytest.mark.parametrize("encoding", sorted(SMALL_ORDER))
def test_small_order_r_is_rejected(encoding):
    """[ID-4] R of small order."""
    _, a_bytes = _keypair()
    assert ed.check(a_bytes, MSG, bytes.fromhex(encoding) + _le(1)) == "ID-4"


def test_non_canonical_or_off_curve_r_is_rejected():
    """[ID-4] R with y >= p, x = 0 with the sign bit, or no point at all."""
    _, a_bytes = _keypair()
    y = 2
    while ed.decode_point(_le(y)) is not None:
        y += 1
    for r in (_le(ed.P + 3), _le(1 | (1 << 255)), _le(y)):
        assert ed.check(a_bytes, MSG, r + _le(1)) == "ID-4"


def test_mixed_order_r_fails_the_cofactorless_equation():
    """[ID-5] R with a small-order component: a cofactored verifier accepts it, the
    cofactorless one (and OpenSSL) rejects it."""
    a, a_bytes = _keypair()
    sig = _sign(a, a_bytes, MSG, r_extra=ORDER_8)
    assert ed.check(a_bytes, MSG, sig) == "ID-5"
    assert not ed.cofactorless_equation_holds(a_bytes, MSG, sig)


def test_wrong_message_or_key_fails_the_equation():
    """[ID-5]"""
    a, a_bytes = _keypair()
    sig = _sign(a, a_bytes, MSG)
    assert ed.check(a_bytes, MSG, sig) is None
    assert ed.check(a_bytes, MSG + b"!", sig) == "ID-5"
    _, other = _keypair()
    assert ed.check(other, MSG, sig) == "ID-5"


def test_openssl_agrees_with_the_pure_python_equation_on_random_cases():
    """[ID-5] OpenSSL computes the cofactorless equation: on valid and tampered
    signatures its verdict equals the pure-Python one."""
    for _ in range(20):
        a, a_bytes = _keypair()
        sig = bytearray(_sign(a, a_bytes, MSG))
        if os.urandom(1)[0] & 1:
            sig[40] ^= 0x01  # stays below L: byte 40 is far from the top
        sig = bytes(sig)
        verdict = ed.check(a_bytes, MSG, sig)
        assert verdict in (None, "ID-5")
        assert (verdict is None) == ed.cofactorless_equation_holds(a_bytes, MSG, sig)


def test_wrong_lengths_are_a_caller_error():
    with pytest.raises(ValueError):
        ed.check(bytes(31), MSG, bytes(64))
    with pytest.raises(ValueError):
        ed.check(bytes(32), MSG, bytes(63))
