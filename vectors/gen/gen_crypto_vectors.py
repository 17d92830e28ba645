#!/usr/bin/python3
"""Generate Parley's crypto golden vectors.

Writes, relative to the repository root (run it from there):
  vectors/handshake.json            group types "handshake" and "handshake_invalid"
  vectors/identity.json             group type "identity_payload"
  vectors/ed25519.json              group type "ed25519"
  vectors/records_sealed.part.json  group type "record" (merged into records.json by merge.py)
  vectors/noise-xx-cacophony.json   copied unchanged from /work/shared/vectors/ if missing

This is a third, minimal implementation written from spec/ (chapters 01-05) and the Noise
Protocol Framework revision 34. It imports neither the C reference peer nor the Python
conformance code. Primitives come from python3-cryptography (X25519, Ed25519 signing,
ChaCha20-Poly1305, SHA-256/512, HMAC); the Ed25519 edge cases use the pure-Python point
arithmetic below. Before anything is written, the Noise code must reproduce the public
cacophony vector for Noise_XX_25519_ChaChaPoly_SHA256 and the Ed25519 code the RFC 8032
test vectors (asserted).

Everything is deterministic: keys are fixed or derived from fixed labels, Ed25519 signing
is deterministic, and every search ("grinding") walks a fixed counter. Running the script
twice gives byte-identical files.

Run with /usr/bin/python3 only (Debian python3-cryptography).

Shapes beyond vectors/README.md:
  handshake          one group per case; params: hello, accept (hex), initiator_/responder_
                     identity_seed (Ed25519 seeds), initiator_/responder_static_private and
                     _ephemeral_private (X25519), initiator_payload / responder_payload (the
                     identity payload fields; the signature is computed). fields: prologue,
                     initiator_/responder_identity, _static_public, _ephemeral_public, msg1..msg3
                     (each with its u16 length, spec §2.1), responder_payload (the plaintext of
                     message 2), initiator_payload (of message 3), handshake_hash, i2r_key (c1),
                     r2i_key (c2), keylog (the two lines of §3.3), i2r_/r2i_plaintext_N and
                     i2r_/r2i_record_N for N = 0, 1 (records with their u16 length).
  handshake_invalid  one group; params as a handshake case. Each test: receiver ("initiator" or
                     "responder", the side under test, with its keys from params), prologue (hex,
                     that side's prologue), messages (the framed messages it receives, in order;
                     what it writes follows from its keys), failing_message (1, 2 or 3), error.
  ed25519            tests carry pk, msg, sig and, when invalid, rule: the first of ID-1..ID-5
                     (in that order) that rejects the signature.
  record             tcIds start at 1001 so that they stay apart from records_plaintext.part.json
                     when merge.py joins the two; nonces stay below 2^53 (exact as JSON numbers).
"""

import hashlib
import hmac
import json
import os
import shutil
import struct
import sys

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)
from cryptography.hazmat.primitives.asymmetric.x25519 import (X25519PrivateKey,
                                                              X25519PublicKey)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

SPEC_VERSION = "1.0"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VEC = os.path.join(ROOT, "vectors")
SHARED_CACOPHONY = "/work/shared/vectors/noise-xx-cacophony.json"

RAW = serialization.Encoding.Raw
RAWPUB = serialization.PublicFormat.Raw
RAWPRIV = serialization.PrivateFormat.Raw
NOENC = serialization.NoEncryption()


def H(b):
    return b.hex()


def label_bytes(label, n=32):
    """Fixed pseudo-random bytes named by a label (deterministic test inputs)."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"parley-vectors:" + label.encode() + b":" + struct.pack(">I", i)).digest()
        i += 1
    return out[:n]


# ---------------------------------------------------------------------------------------
# Spec constants (spec/07-constants.md)
# ---------------------------------------------------------------------------------------
MAGIC = b"PARLEY"
IDENTITY_CONTEXT = b"parley-noise-static-key:"
assert len(IDENTITY_CONTEXT) == 24
IDENTITY_FIXED_LEN = 114
MIN_MAX_TAGS = 256
MIN_MAX_MESSAGE = 1048576
DEFAULT_MAX_TAGS = 1024
DEFAULT_MAX_MESSAGE = 16777216
DEFAULT_REASSEMBLY_BUDGET = 33554432
RECORD_MIN = 24
RECORD_MAX = 65535
FRAME_HEADER_LEN = 8
FRAME_MAX_PAYLOAD = 16384
NOISE_PROTOCOL = b"Noise_XX_25519_ChaChaPoly_SHA256"

OP_ACK, OP_NACK, OP_PING, OP_SET_OPT = 0, 1, 2, 3
OP_STORE, OP_BYE = 9, 10
FL_RESPONSE, FL_MORE = 0x01, 0x02


def hello(majors):
    return MAGIC + bytes([1, len(majors)]) + bytes(majors)


def accept(major):
    return MAGIC + bytes([2, major])


def frame(opcode, flags, tag, payload):
    return struct.pack(">BBHI", opcode, flags, tag, len(payload)) + payload


def ping(tag, data):
    return frame(OP_PING, 0, tag, data)


def ack_ping(tag, data):
    return frame(OP_ACK, FL_RESPONSE, tag, bytes([OP_PING]) + data)


def bye(tag, reason, text):
    t = text.encode()
    return frame(OP_BYE, 0, tag, struct.pack(">HH", reason, len(t)) + t)


def u16len(b):
    assert len(b) <= 0xFFFF
    return struct.pack(">H", len(b)) + b


# ---------------------------------------------------------------------------------------
# Pure-Python Ed25519 (RFC 8032 arithmetic) and the verification rules of spec §2.4
# ---------------------------------------------------------------------------------------
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def inv(x):
    return pow(x, P - 2, P)


IDENT = (0, 1, 1, 0)


def padd(p1, p2):
    a = (p1[1] - p1[0]) * (p2[1] - p2[0]) % P
    b = (p1[1] + p1[0]) * (p2[1] + p2[0]) % P
    c = 2 * p1[3] * p2[3] * D % P
    d = 2 * p1[2] * p2[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def pneg(pt):
    return ((-pt[0]) % P, pt[1], pt[2], (-pt[3]) % P)


def pmul(s, pt):
    q = IDENT
    while s > 0:
        if s & 1:
            q = padd(q, pt)
        pt = padd(pt, pt)
        s >>= 1
    return q


def peq(p1, p2):
    return ((p1[0] * p2[2] - p2[0] * p1[2]) % P == 0 and
            (p1[1] * p2[2] - p2[1] * p1[2]) % P == 0)


def recover_x(y, sign):
    """x for y on the curve with the given sign bit, or None. No canonicity checks."""
    x2 = (y * y - 1) * inv(D * y * y + 1) % P
    if x2 == 0:
        return 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def decode_point(b, strict=True):
    """Decode a point. strict: the canonical rules of [ID-2] (y < p, no x=0 with the sign
    bit set, on the curve). Lenient: y reduced mod p, sign bit of x=0 ignored."""
    assert len(b) == 32
    v = int.from_bytes(b, "little")
    sign = v >> 255
    y = v & ((1 << 255) - 1)
    if y >= P:
        if strict:
            return None
        y -= P
    x = recover_x(y, sign)
    if x is None:
        return None
    if x == 0 and sign:
        if strict:
            return None
    return (x, y, 1, x * y % P)


def encode_point(pt):
    zi = inv(pt[2])
    x = pt[0] * zi % P
    y = pt[1] * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


BY = 4 * inv(5) % P
BASE = (recover_x(BY, 0), BY, 1, recover_x(BY, 0) * BY % P)


def is_small_order(pt):
    return peq(pmul(8, pt), IDENT)


def sha512_int(*parts):
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def expand_seed(seed):
    h = hashlib.sha512(seed).digest()
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    return int.from_bytes(a, "little"), h[32:]


def ed_sign_py(seed, msg):
    a, prefix = expand_seed(seed)
    A = encode_point(pmul(a, BASE))
    r = sha512_int(prefix, msg) % L
    R = encode_point(pmul(r, BASE))
    k = sha512_int(R, A, msg) % L
    S = (r + k * a) % L
    return R + S.to_bytes(32, "little")


def ed_public_py(seed):
    a, _ = expand_seed(seed)
    return encode_point(pmul(a, BASE))


def ed_sign(seed, msg):
    """Deterministic Ed25519 via cryptography, cross-checked with the pure-Python code."""
    sig = Ed25519PrivateKey.from_private_bytes(seed).sign(msg)
    assert sig == ed_sign_py(seed, msg)
    return sig


def ed_public(seed):
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(RAW, RAWPUB)
    assert pub == ed_public_py(seed)
    return pub


def spec_verify(pk, msg, sig):
    """The rules of spec §2.4. Returns None when valid, else the ID of the first rule (in
    the order ID-1, ID-2, ID-3, ID-4, ID-5) that rejects the signature."""
    if len(pk) != 32 or len(sig) != 64:
        return "ID-2" if len(pk) != 32 else "ID-1"
    S = int.from_bytes(sig[32:], "little")
    if S >= L:
        return "ID-1"
    A = decode_point(pk, strict=True)
    if A is None:
        return "ID-2"
    if is_small_order(A):
        return "ID-3"
    R = decode_point(sig[:32], strict=True)
    if R is None or is_small_order(R):
        return "ID-4"
    k = sha512_int(sig[:32], pk, msg) % L
    lhs = pmul(S, BASE)
    rhs = padd(R, pmul(k, A))
    if encode_point(lhs) != encode_point(rhs):
        return "ID-5"
    return None


def lenient_equation(pk, msg, sig, cofactored=False):
    """Does the signature satisfy the verification equation as points, with lenient
    decoding and no other checks? (Used to show the edge cases are real signatures.)"""
    A = decode_point(pk, strict=False)
    R = decode_point(sig[:32], strict=False)
    if A is None or R is None:
        return False
    S = int.from_bytes(sig[32:], "little")
    k = sha512_int(sig[:32], pk, msg) % L
    lhs = pmul(S, BASE)
    rhs = padd(R, pmul(k, A))
    if cofactored:
        return peq(pmul(8, lhs), pmul(8, rhs))
    return peq(lhs, rhs)


def openssl_verify(pk, msg, sig):
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        return "valid"
    except InvalidSignature:
        return "invalid"
    except Exception as e:  # e.g. a key cryptography refuses to load
        return "invalid (%s)" % type(e).__name__


# The torsion subgroup: find a point of order 8 from a y that is on the curve.
def _find_order8():
    y = 2
    while True:
        x = recover_x(y, 0)
        if x is not None:
            q = pmul(L, (x, y, 1, x * y % P))
            if not peq(pmul(4, q), IDENT):
                return q
        y += 1


T8 = _find_order8()
TORSION = [pmul(i, T8) for i in range(8)]  # TORSION[i] = [i]T8, order 8/gcd(i,8)
SMALL_ORDER_CANONICAL = {
    "0100000000000000000000000000000000000000000000000000000000000000": "identity (order 1)",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f": "(0, -1), order 2",
    "0000000000000000000000000000000000000000000000000000000000000000": "y = 0, order 4",
    "0000000000000000000000000000000000000000000000000000000000000080": "y = 0 with sign bit, order 4",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05": "order 8",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85": "order 8 (sign bit)",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a": "order 8",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa": "order 8 (sign bit)",
}
assert {H(encode_point(t)) for t in TORSION} == set(SMALL_ORDER_CANONICAL)
# Non-canonical encodings of small-order points: y >= p, or x = 0 with the sign bit set.
SMALL_ORDER_NONCANONICAL = {
    "0100000000000000000000000000000000000000000000000000000000000080": "identity, x = 0 with the sign bit set",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff": "order-2 point (0, -1), x = 0 with the sign bit set",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f": "identity encoded as y = p + 1",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff": "identity encoded as y = p + 1 with the sign bit set",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f": "order-4 point encoded as y = p (y = 0)",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff": "order-4 point encoded as y = p (y = 0), sign bit set",
}
for _h in SMALL_ORDER_NONCANONICAL:
    _pt = decode_point(bytes.fromhex(_h), strict=False)
    assert _pt is not None and is_small_order(_pt)
    assert decode_point(bytes.fromhex(_h), strict=True) is None


def point_order_small(pt):
    for o in (1, 2, 4, 8):
        if peq(pmul(o, pt), IDENT):
            return o
    return None


def forge_small_order_key_sig(pk, msg, label):
    """A signature (R = [r]B of prime order, S = r) that satisfies the cofactorless
    equation for a small-order key A: grind r until k = H(R||A||M) mod L is a multiple of
    the order of A, so that [k]A = O and [S]B = R + [k]A."""
    A = decode_point(pk, strict=False)
    order = point_order_small(A)
    i = 0
    while True:
        r = sha512_int(b"grind-small:" + label.encode(), struct.pack(">I", i)) % L
        R = encode_point(pmul(r, BASE))
        k = sha512_int(R, pk, msg) % L
        if k % order == 0:
            sig = R + r.to_bytes(32, "little")
            assert lenient_equation(pk, msg, sig)
            return sig
        i += 1


def mixed_key(label, torsion_index=1):
    """A mixed-order public key A = [a]B + T and its scalar a."""
    a = sha512_int(b"mixed-scalar:" + label.encode()) % L
    A = padd(pmul(a, BASE), TORSION[torsion_index])
    enc = encode_point(A)
    assert not is_small_order(A) and decode_point(enc) is not None
    return a, enc


def sign_scalar(a, pk, msg, label, want_k_mod8=None, r_torsion=0):
    """Sign with scalar a under public key encoding pk. R = [r]B + TORSION[r_torsion].
    want_k_mod8: grind r until k mod 8 == 0 (True) or != 0 (False)."""
    i = 0
    while True:
        r = sha512_int(b"grind-nonce:" + label.encode(), struct.pack(">I", i)) % L
        Rpt = padd(pmul(r, BASE), TORSION[r_torsion])
        R = encode_point(Rpt)
        k = sha512_int(R, pk, msg) % L
        ok = (want_k_mod8 is None or (want_k_mod8 and k % 8 == 0) or
              (not want_k_mod8 and k % 8 != 0))
        if ok:
            S = (r + k * a) % L
            return R + S.to_bytes(32, "little")
        i += 1


# ---------------------------------------------------------------------------------------
# Noise_XX_25519_ChaChaPoly_SHA256 (Noise Protocol Framework revision 34)
# ---------------------------------------------------------------------------------------
def x25519_pub(priv):
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(RAW, RAWPUB)


def x25519(priv, pub):
    return X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(pub))


def noise_nonce(n):
    return b"\x00" * 4 + struct.pack("<Q", n)


def hkdf(ck, ikm, n):
    tk = hmac.new(ck, ikm, hashlib.sha256).digest()
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = hmac.new(tk, prev + bytes([i]), hashlib.sha256).digest()
        out.append(prev)
    return out


def chacha_noauth_decrypt(k, n, ct):
    """ChaCha20 decryption of an AEAD ciphertext without checking its tag (block counter
    1 onwards, RFC 8439). Used only to build a deliberately inconsistent peer."""
    body = ct[:-16]
    dec = Cipher(algorithms.ChaCha20(k, struct.pack("<I", 1) + noise_nonce(n)), mode=None).decryptor()
    return dec.update(body) + dec.finalize()


class CipherState:
    def __init__(self, k=None):
        self.k = k
        self.n = 0

    def encrypt(self, ad, pt):
        if self.k is None:
            return pt
        ct = ChaCha20Poly1305(self.k).encrypt(noise_nonce(self.n), pt, ad)
        self.n += 1
        return ct

    def decrypt(self, ad, ct, noauth=False):
        if self.k is None:
            return ct
        if noauth:
            pt = chacha_noauth_decrypt(self.k, self.n, ct)
        else:
            pt = ChaCha20Poly1305(self.k).decrypt(noise_nonce(self.n), ct, ad)  # InvalidTag
        self.n += 1
        return pt


class HandshakeState:
    PATTERN = [["e"], ["e", "ee", "s", "es"], ["s", "se"]]

    def __init__(self, initiator, prologue, s, e):
        self.initiator = initiator
        name = NOISE_PROTOCOL
        self.h = name.ljust(32, b"\x00") if len(name) <= 32 else hashlib.sha256(name).digest()
        self.ck = self.h
        self.cs = CipherState()
        self.mix_hash(prologue)
        self.s, self.e = s, e
        self.s_pub = x25519_pub(s)
        self.e_pub = x25519_pub(e)
        self.rs = self.re = None
        self.msg_index = 0

    def mix_hash(self, data):
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm):
        self.ck, tk = hkdf(self.ck, ikm, 2)
        self.cs = CipherState(tk)

    def encrypt_and_hash(self, pt):
        ct = self.cs.encrypt(self.h, pt)
        self.mix_hash(ct)
        return ct

    def decrypt_and_hash(self, ct, noauth=False):
        pt = self.cs.decrypt(self.h, ct, noauth)
        self.mix_hash(ct)
        return pt

    def _dh(self, tok):
        if tok == "ee":
            return x25519(self.e, self.re)
        if tok == "es":
            return x25519(self.e, self.rs) if self.initiator else x25519(self.s, self.re)
        if tok == "se":
            return x25519(self.s, self.re) if self.initiator else x25519(self.e, self.rs)
        raise AssertionError(tok)

    def write_message(self, payload):
        out = b""
        for tok in self.PATTERN[self.msg_index]:
            if tok == "e":
                out += self.e_pub
                self.mix_hash(self.e_pub)
            elif tok == "s":
                out += self.encrypt_and_hash(self.s_pub)
            else:
                self.mix_key(self._dh(tok))
        out += self.encrypt_and_hash(payload)
        self.msg_index += 1
        return out

    def read_message(self, msg, noauth=False):
        off = 0
        for tok in self.PATTERN[self.msg_index]:
            if tok == "e":
                self.re = msg[off:off + 32]
                off += 32
                self.mix_hash(self.re)
            elif tok == "s":
                n = 48 if self.cs.k is not None else 32
                self.rs = self.decrypt_and_hash(msg[off:off + n], noauth)
                off += n
            else:
                self.mix_key(self._dh(tok))
        payload = self.decrypt_and_hash(msg[off:], noauth)
        self.msg_index += 1
        return payload

    def split(self):
        k1, k2 = hkdf(self.ck, b"", 2)
        return CipherState(k1), CipherState(k2)


def check_cacophony(path):
    with open(path) as f:
        doc = json.load(f)
    for v in doc["vectors"]:
        assert v["protocol_name"] == NOISE_PROTOCOL.decode()
        ini = HandshakeState(True, bytes.fromhex(v["init_prologue"]),
                             bytes.fromhex(v["init_static"]), bytes.fromhex(v["init_ephemeral"]))
        res = HandshakeState(False, bytes.fromhex(v["resp_prologue"]),
                             bytes.fromhex(v["resp_static"]), bytes.fromhex(v["resp_ephemeral"]))
        msgs = v["messages"]
        for i in range(3):
            snd, rcv = (ini, res) if i % 2 == 0 else (res, ini)
            pl = bytes.fromhex(msgs[i]["payload"])
            ct = snd.write_message(pl)
            assert H(ct) == msgs[i]["ciphertext"], "cacophony message %d" % (i + 1)
            assert rcv.read_message(ct) == pl
        assert H(ini.h) == v["handshake_hash"] and ini.h == res.h
        i1, i2 = ini.split()
        r1, r2 = res.split()
        for i in range(3, len(msgs)):
            pl = bytes.fromhex(msgs[i]["payload"])
            if i % 2 == 0:  # messages alternate: 4th is responder -> initiator (c2), 5th i -> r (c1)
                ct = i1.encrypt(b"", pl)
                assert r1.decrypt(b"", ct) == pl
            else:
                ct = r2.encrypt(b"", pl)
                assert i2.decrypt(b"", ct) == pl
            assert H(ct) == msgs[i]["ciphertext"], "cacophony transport message %d" % (i + 1)
    return len(doc["vectors"])


RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


def check_rfc8032():
    for sk, pk, msg, sig in RFC8032:
        sk, pk, msg, sig = map(bytes.fromhex, (sk, pk, msg, sig))
        assert ed_public(sk) == pk
        assert ed_sign(sk, msg) == sig
        assert spec_verify(pk, msg, sig) is None


# ---------------------------------------------------------------------------------------
# Identity payload (spec §2.2)
# ---------------------------------------------------------------------------------------
def tlvs(exts):
    return b"".join(struct.pack(">HH", t, len(v)) + v for t, v in exts)


def identity_payload(identity_key, signature, minor=0, capabilities=0, max_tags=DEFAULT_MAX_TAGS,
                     max_message=DEFAULT_MAX_MESSAGE, budget=DEFAULT_REASSEMBLY_BUDGET,
                     listen_port=0, extensions=(), raw_tail=None):
    assert len(identity_key) == 32 and len(signature) == 64
    body = identity_key + signature + struct.pack(">HIHIIH", minor, capabilities, max_tags,
                                                  max_message, budget, listen_port)
    assert len(body) == IDENTITY_FIXED_LEN
    return body + (raw_tail if raw_tail is not None else tlvs(extensions))


def payload_fields(pl):
    """Decode a (valid-layout) identity payload to the fields object of vectors/README.md."""
    ik, sig = pl[:32], pl[32:96]
    minor, caps, mt, mm, rb, port = struct.unpack(">HIHIIH", pl[96:114])
    exts, off = [], 114
    while off < len(pl):
        t, n = struct.unpack(">HH", pl[off:off + 4])
        exts.append({"type": t, "value": H(pl[off + 4:off + 4 + n])})
        off += 4 + n
    return {"identity_key": H(ik), "signature": H(sig), "minor": minor, "capabilities": caps,
            "max_tags": mt, "max_message": mm, "reassembly_budget": rb, "listen_port": port,
            "extensions": exts}


def check_identity_payload(pl, remote_static, own_identity):
    """The receiver's checks in the order of spec §2.2. Returns None or the close reason."""
    if len(pl) < IDENTITY_FIXED_LEN:
        return "PAYLOAD_MALFORMED"
    off = IDENTITY_FIXED_LEN
    while off < len(pl):
        if off + 4 > len(pl):
            return "PAYLOAD_MALFORMED"
        _, n = struct.unpack(">HH", pl[off:off + 4])
        if off + 4 + n > len(pl):
            return "PAYLOAD_MALFORMED"
        off += 4 + n
    _, _, mt, mm, rb, _ = struct.unpack(">HIHIIH", pl[96:114])
    if mt < MIN_MAX_TAGS or mm < MIN_MAX_MESSAGE or rb < mm:
        return "LIMITS_BELOW_FLOOR"
    if pl[:32] == own_identity:
        return "REFLECTION"
    if spec_verify(pl[:32], IDENTITY_CONTEXT + remote_static, pl[32:96]) is not None:
        return "BAD_SIGNATURE"
    return None


def make_payload(seed, static_pub, **kw):
    ik = ed_public(seed)
    sig = ed_sign(seed, IDENTITY_CONTEXT + static_pub)
    return identity_payload(ik, sig, **kw)


def payload_params(minor=0, capabilities=0, max_tags=DEFAULT_MAX_TAGS, max_message=DEFAULT_MAX_MESSAGE,
                   budget=DEFAULT_REASSEMBLY_BUDGET, listen_port=0, extensions=()):
    return {"minor": minor, "capabilities": capabilities, "max_tags": max_tags,
            "max_message": max_message, "reassembly_budget": budget, "listen_port": listen_port,
            "extensions": [{"type": t, "value": H(v)} for t, v in extensions]}


def payload_from_params(seed, static_pub, pp):
    return make_payload(seed, static_pub, minor=pp["minor"], capabilities=pp["capabilities"],
                        max_tags=pp["max_tags"], max_message=pp["max_message"],
                        budget=pp["reassembly_budget"], listen_port=pp["listen_port"],
                        extensions=[(e["type"], bytes.fromhex(e["value"])) for e in pp["extensions"]])


# ---------------------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------------------
class Counter:
    def __init__(self, start=1):
        self.n = start
        self.valid = 0
        self.invalid = 0
        self.seen = set()

    def case(self, comment, reqs, result, error=None, **kw):
        tc = {"tcId": self.n, "comment": comment, "reqs": list(reqs)}
        tc.update(kw)
        tc["result"] = result
        if result == "invalid":
            assert error is not None
            tc["error"] = error
            self.invalid += 1
        else:
            assert result == "valid" and error is None
            self.valid += 1
        assert self.n not in self.seen
        self.seen.add(self.n)
        self.n += 1
        return tc


def write_doc(fname, name, source, groups):
    n = sum(len(g["tests"]) for g in groups)
    doc = {"name": name, "specVersion": SPEC_VERSION, "source": source, "numberOfTests": n,
           "testGroups": groups}
    path = os.path.join(VEC, fname)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return n


SOURCE = ("vectors/gen/gen_crypto_vectors.py: a minimal Noise XX / Ed25519 / record implementation "
          "written from spec/ and Noise rev 34 on python3-cryptography primitives and pure-Python "
          "Ed25519 arithmetic; checked against the cacophony and RFC 8032 vectors")

# Keys shared by the files ---------------------------------------------------------------
SEED_I = label_bytes("initiator identity seed")
SEED_R = label_bytes("responder identity seed")
SEED_OTHER = label_bytes("third party identity seed")
ST_I = label_bytes("initiator noise static")
ST_R = label_bytes("responder noise static")
EP_I = label_bytes("initiator noise ephemeral")
EP_R = label_bytes("responder noise ephemeral")


# ---------------------------------------------------------------------------------------
# handshake.json
# ---------------------------------------------------------------------------------------
def run_handshake(prm, i_prologue=None, r_prologue=None, r_payload=None, i_payload=None):
    """Run a complete XX handshake from params; returns a dict of everything."""
    hel, acc = bytes.fromhex(prm["hello"]), bytes.fromhex(prm["accept"])
    prologue = hel + acc
    si, sr = bytes.fromhex(prm["initiator_static_private"]), bytes.fromhex(prm["responder_static_private"])
    ei, er = bytes.fromhex(prm["initiator_ephemeral_private"]), bytes.fromhex(prm["responder_ephemeral_private"])
    seed_i, seed_r = bytes.fromhex(prm["initiator_identity_seed"]), bytes.fromhex(prm["responder_identity_seed"])
    ini = HandshakeState(True, i_prologue if i_prologue is not None else prologue, si, ei)
    res = HandshakeState(False, r_prologue if r_prologue is not None else prologue, sr, er)
    if r_payload is None:
        r_payload = payload_from_params(seed_r, res.s_pub, prm["responder_payload"])
    if i_payload is None:
        i_payload = payload_from_params(seed_i, ini.s_pub, prm["initiator_payload"])
    m1 = ini.write_message(b"")
    assert res.read_message(m1) == b""
    m2 = res.write_message(r_payload)
    assert ini.read_message(m2) == r_payload and ini.rs == res.s_pub
    m3 = ini.write_message(i_payload)
    assert res.read_message(m3) == i_payload and res.rs == ini.s_pub
    assert ini.h == res.h
    c1, c2 = ini.split()
    d1, d2 = res.split()
    assert c1.k == d1.k and c2.k == d2.k
    return {"ini": ini, "res": res, "m1": m1, "m2": m2, "m3": m3, "r_payload": r_payload,
            "i_payload": i_payload, "c1": c1, "c2": c2, "d1": d1, "d2": d2, "prologue": prologue}


def seal(cs, pt):
    ct = cs.encrypt(b"", pt)
    return u16len(ct)


def handshake_params(hel, acc, seeds, statics, ephs, i_pp, r_pp):
    return {
        "hello": H(hel), "accept": H(acc),
        "initiator_identity_seed": H(seeds[0]), "responder_identity_seed": H(seeds[1]),
        "initiator_static_private": H(statics[0]), "responder_static_private": H(statics[1]),
        "initiator_ephemeral_private": H(ephs[0]), "responder_ephemeral_private": H(ephs[1]),
        "initiator_payload": i_pp, "responder_payload": r_pp,
    }


HS_PAYLOADS = {}


def gen_handshake():
    cnt = Counter()
    groups = []

    cases = []
    # 1: minimal, default limits, one major.
    cases.append(("Noise XX with HELLO [1] / ACCEPT 1, default limits, no extensions",
                  ["HS-1", "HS-2", "HS-5", "HS-6", "PRE-8", "REC-1", "KEYLOG-1", "PING-1"],
                  hello([1]), accept(1), (SEED_I, SEED_R), (ST_I, ST_R), (EP_I, EP_R),
                  payload_params(capabilities=0x0, listen_port=7701),
                  payload_params(capabilities=0xF, listen_port=7700)))
    # 2: extensions in both payloads, several majors offered.
    cases.append(("HELLO [3, 2, 1] / ACCEPT 1; both identity payloads carry TLV extensions "
                  "(unknown types, a zero-length value) and unknown capability bits",
                  ["HS-1", "HS-2", "HS-5", "HS-6", "HS-9", "PRE-8", "REC-1", "KEYLOG-1", "PING-1"],
                  hello([3, 2, 1]), accept(1),
                  (label_bytes("hs2 initiator seed"), label_bytes("hs2 responder seed")),
                  (label_bytes("hs2 initiator static"), label_bytes("hs2 responder static")),
                  (label_bytes("hs2 initiator ephemeral"), label_bytes("hs2 responder ephemeral")),
                  payload_params(minor=0, capabilities=0x80000003, listen_port=40000,
                                 extensions=[(0x0001, b"parley-test"), (0x7fff, b""),
                                             (0xffff, bytes(range(40)))]),
                  payload_params(minor=3, capabilities=0x5, listen_port=443,
                                 extensions=[(0x1234, b"\x00\x01\x02")])))
    # 3: listen_port 0 (dial-out only) and limits exactly at the floors.
    cases.append(("HELLO [2, 1] / ACCEPT 1; the initiator can only dial out (listen_port 0) and "
                  "advertises limits exactly at the floors",
                  ["HS-1", "HS-2", "HS-5", "HS-6", "HS-8", "LIMIT-1", "PRE-8", "REC-1", "KEYLOG-1",
                   "PING-1"],
                  hello([2, 1]), accept(1),
                  (label_bytes("hs3 initiator seed"), label_bytes("hs3 responder seed")),
                  (label_bytes("hs3 initiator static"), label_bytes("hs3 responder static")),
                  (label_bytes("hs3 initiator ephemeral"), label_bytes("hs3 responder ephemeral")),
                  payload_params(listen_port=0, max_tags=MIN_MAX_TAGS, max_message=MIN_MAX_MESSAGE,
                                 budget=MIN_MAX_MESSAGE),
                  payload_params(listen_port=65535, max_tags=65535, max_message=0xFFFFFFFF,
                                 budget=0xFFFFFFFF, capabilities=0xFFFFFFFF)))
    # 4: the largest messages 2 and 3 (length 65535 each).
    big_r = 65439 - IDENTITY_FIXED_LEN - 4
    big_i = 65471 - IDENTITY_FIXED_LEN - 4
    cases.append(("largest handshake: identity payloads of 65439 (message 2) and 65471 (message 3) "
                  "bytes, so both framed messages have length 65535",
                  ["HS-1", "HS-2", "HS-5", "HS-6", "HS-9", "PRE-8", "REC-1", "KEYLOG-1", "PING-1"],
                  hello([1]), accept(1),
                  (label_bytes("hs4 initiator seed"), label_bytes("hs4 responder seed")),
                  (label_bytes("hs4 initiator static"), label_bytes("hs4 responder static")),
                  (label_bytes("hs4 initiator ephemeral"), label_bytes("hs4 responder ephemeral")),
                  payload_params(listen_port=1, extensions=[(0x4242, label_bytes("hs4 i ext", big_i))]),
                  payload_params(listen_port=2, extensions=[(0x4243, label_bytes("hs4 r ext", big_r))])))

    for idx, (comment, reqs, hel, acc, seeds, statics, ephs, i_pp, r_pp) in enumerate(cases):
        prm = handshake_params(hel, acc, seeds, statics, ephs, i_pp, r_pp)
        hs = run_handshake(prm)
        HS_PAYLOADS[(idx + 1, "initiator")] = hs["i_payload"]
        HS_PAYLOADS[(idx + 1, "responder")] = hs["r_payload"]
        ini, res = hs["ini"], hs["res"]
        f1, f2, f3 = u16len(hs["m1"]), u16len(hs["m2"]), u16len(hs["m3"])
        assert len(hs["m1"]) == 32
        assert len(hs["m2"]) == 32 + 48 + 16 + len(hs["r_payload"])
        assert len(hs["m3"]) == 48 + 16 + len(hs["i_payload"])
        if idx == 3:
            assert len(hs["m2"]) == 65535 and len(hs["m3"]) == 65535
        c1, c2 = hs["c1"], hs["c2"]
        d1, d2 = hs["d1"], hs["d2"]
        pdata = label_bytes("ping data %d" % idx, 8)
        pt_i0 = ping(1, pdata)
        pt_r0 = ack_ping(1, pdata)
        pdata2 = label_bytes("ping data 2 %d" % idx, 4 * (idx + 1))
        pt_i1 = ping(2, pdata2) + ping(0, b"")
        pt_r1 = ack_ping(2, pdata2)
        rec_i0 = seal(c1, pt_i0)
        rec_r0 = seal(c2, pt_r0)
        rec_i1 = seal(c1, pt_i1)
        rec_r1 = seal(c2, pt_r1)
        # the other side opens them
        assert d1.decrypt(b"", rec_i0[2:]) == pt_i0 and d1.decrypt(b"", rec_i1[2:]) == pt_i1
        assert ini_open(c2_copy(hs), rec_r0, rec_r1) == (pt_r0, pt_r1)
        e_pub = ini.e_pub
        assert hs["m1"] == e_pub
        fields = {
            "prologue": H(hs["prologue"]),
            "initiator_identity": H(ed_public(seeds[0])),
            "responder_identity": H(ed_public(seeds[1])),
            "initiator_static_public": H(ini.s_pub),
            "responder_static_public": H(res.s_pub),
            "initiator_ephemeral_public": H(e_pub),
            "responder_ephemeral_public": H(res.e_pub),
            "msg1": H(f1), "msg2": H(f2), "msg3": H(f3),
            "responder_payload": H(hs["r_payload"]),
            "initiator_payload": H(hs["i_payload"]),
            "handshake_hash": H(ini.h),
            "i2r_key": H(c1.k), "r2i_key": H(c2.k),
            "keylog": ["PARLEY_I2R %s %s" % (H(e_pub), H(c1.k)),
                       "PARLEY_R2I %s %s" % (H(e_pub), H(c2.k))],
            "i2r_plaintext_0": H(pt_i0), "i2r_record_0": H(rec_i0),
            "r2i_plaintext_0": H(pt_r0), "r2i_record_0": H(rec_r0),
            "i2r_plaintext_1": H(pt_i1), "i2r_record_1": H(rec_i1),
            "r2i_plaintext_1": H(pt_r1), "r2i_record_1": H(rec_r1),
        }
        tc = cnt.case(comment + ". Records: i2r nonce 0 a PING (tag 1, 8 bytes), r2i nonce 0 its ACK; "
                      "i2r nonce 1 a PING on tag 2 and a PING on tag 0 in one record, r2i nonce 1 the "
                      "ACK of tag 2", reqs, "valid", fields=fields)
        groups.append({"type": "handshake", "comment": "a complete valid handshake with fixed keys, "
                       "then the first two records each way", "params": prm, "tests": [tc]})

    groups.append(gen_handshake_invalid(cnt))
    n = write_doc("handshake.json", "handshake", SOURCE, groups)
    return n, cnt


def c2_copy(hs):
    return CipherState(hs["c2"].k)


def ini_open(cs, *records):
    return tuple(cs.decrypt(b"", r[2:]) for r in records)


def gen_handshake_invalid(cnt):
    """Group "handshake_invalid": group params are the inputs of handshake case 1 (both sides'
    keys, HELLO/ACCEPT, payload fields). Each test names the side under test (`receiver`), the
    prologue that side uses (`prologue`, hex), and `messages`: the framed handshake messages it
    receives, in order (the messages it writes itself follow from its own keys and prologue
    and are not listed). Processing the last message fails with `error`; `failing_message`
    is its Noise message number (1, 2 or 3)."""
    i_pp = payload_params(capabilities=0x0, listen_port=7701)
    r_pp = payload_params(capabilities=0xF, listen_port=7700)
    hel, acc = hello([1]), accept(1)
    prm = handshake_params(hel, acc, (SEED_I, SEED_R), (ST_I, ST_R), (EP_I, EP_R), i_pp, r_pp)
    prologue = hel + acc
    good = run_handshake(prm)
    s_i_pub, s_r_pub = x25519_pub(ST_I), x25519_pub(ST_R)
    tests = []

    def add(comment, reqs, receiver, msgs, err, prol=prologue):
        failing = 2 if receiver == "initiator" else (1 if len(msgs) == 1 else 3)
        tests.append(cnt.case(comment, reqs, "invalid", err, receiver=receiver, prologue=H(prol),
                              messages=[H(m) for m in msgs], failing_message=failing))

    # Simulate what an implementation does, to check each verdict.
    def simulate(receiver, prol, framed):
        me = HandshakeState(receiver == "initiator", prol,
                            ST_I if receiver == "initiator" else ST_R,
                            EP_I if receiver == "initiator" else EP_R)
        own = ed_public(SEED_I if receiver == "initiator" else SEED_R)
        if receiver == "initiator":
            me.write_message(b"")
        for i, fm in enumerate(framed):
            n = struct.unpack(">H", fm[:2])[0]
            body = fm[2:]
            assert n == len(body)
            num = 2 if receiver == "initiator" else (1 if i == 0 else 3)
            if num == 1 and n != 32:
                return "HANDSHAKE_FAILED"
            if num == 2 and not (32 + 48 + 16 + 114 <= n <= 65535):
                return "HANDSHAKE_FAILED"
            if num == 3 and not (48 + 16 + 114 <= n <= 65535):
                return "HANDSHAKE_FAILED"
            try:
                pl = me.read_message(body)
            except InvalidTag:
                return "HANDSHAKE_FAILED"
            if num in (2, 3):
                err = check_identity_payload(pl, me.rs, own)
                if err:
                    return err
            if num == 1:
                me.write_message(payload_from_params(SEED_R, me.s_pub, r_pp))
        return None

    def add_checked(comment, reqs, receiver, msgs, err, prol=prologue):
        got = simulate(receiver, prol, msgs)
        assert got == err, (comment, got, err)
        add(comment, reqs, receiver, msgs, err, prol)

    f1, f2, f3 = u16len(good["m1"]), u16len(good["m2"]), u16len(good["m3"])
    # sanity: the unmodified transcript passes the simulation
    assert simulate("initiator", prologue, [f2]) is None
    assert simulate("responder", prologue, [f1, f3]) is None

    def resp_msg2(payload, prol=prologue):
        """Message 2 written by the responder of case 1 with another payload."""
        ini = HandshakeState(True, prol, ST_I, EP_I)
        res = HandshakeState(False, prol, ST_R, EP_R)
        res.read_message(ini.write_message(b""))
        return u16len(res.write_message(payload))

    def init_msg3(payload):
        ini = HandshakeState(True, prologue, ST_I, EP_I)
        res = HandshakeState(False, prologue, ST_R, EP_R)
        res.read_message(ini.write_message(b""))
        ini.read_message(res.write_message(payload_from_params(SEED_R, s_r_pub, r_pp)))
        return u16len(ini.write_message(payload))

    # --- tampered prologue, detected at message 2 (the initiator's view of HELLO differs) ---
    tampered_hello = hello([2, 1]) + acc
    add_checked("the initiator sent HELLO [2, 1] but the responder received HELLO [1] (a "
                "downgrade in transit): the responder's prologue is HELLO [1] || ACCEPT 1, so the "
                "initiator (prologue HELLO [2, 1] || ACCEPT 1) fails to decrypt message 2",
                ["HS-2", "HS-4", "PRE-8"], "initiator", [f2], "HANDSHAKE_FAILED", tampered_hello)
    add_checked("the responder received HELLO [2, 1] where the initiator sent HELLO [1] (HELLO "
                "altered in transit): message 2, written under the responder's prologue HELLO "
                "[2, 1] || ACCEPT 1, fails to decrypt at the initiator (prologue HELLO [1] || "
                "ACCEPT 1)", ["HS-2", "HS-4", "PRE-8"], "initiator",
                [resp_msg2(payload_from_params(SEED_R, s_r_pub, r_pp), tampered_hello)],
                "HANDSHAKE_FAILED")

    # --- tampered prologue, detected at message 3 ---
    # An initiator whose prologue differs (HELLO [2, 1]) and that ignores the failed tag of
    # message 2 writes message 3 under its own handshake hash; the responder (true prologue)
    # fails to decrypt it.
    bad_i = HandshakeState(True, tampered_hello, ST_I, EP_I)
    assert bad_i.write_message(b"") == good["m1"]
    r2 = bad_i.read_message(good["m2"], noauth=True)
    assert r2 == good["r_payload"] and bad_i.rs == s_r_pub
    m3_bad = bad_i.write_message(good["i_payload"])
    add_checked("message 3 written by an initiator whose prologue was HELLO [2, 1] || ACCEPT 1 (it "
                "ignored the failed tag of message 2): the responder, prologue HELLO [1] || "
                "ACCEPT 1, fails to decrypt message 3", ["HS-2", "HS-4", "PRE-8"], "responder",
                [f1, u16len(m3_bad)], "HANDSHAKE_FAILED")

    # --- message 1 with a non-empty payload ---
    add_checked("message 1 carries a one-byte payload (length 33)", ["HS-3", "HS-1"], "responder",
                [u16len(good["m1"] + b"\x00")], "HANDSHAKE_FAILED")
    add_checked("message 1 carries a 16-byte payload (length 48)", ["HS-3", "HS-1"], "responder",
                [u16len(good["m1"] + label_bytes("m1 payload", 16))], "HANDSHAKE_FAILED")
    add_checked("message 1 is 31 bytes (truncated ephemeral key)", ["HS-1"], "responder",
                [u16len(good["m1"][:31])], "HANDSHAKE_FAILED")

    # --- message 2 modified ---
    m2 = bytearray(good["m2"])
    m2[40] ^= 0x01  # inside the encrypted static key
    add_checked("message 2 with one bit flipped in the encrypted static key", ["HS-4"], "initiator",
                [u16len(bytes(m2))], "HANDSHAKE_FAILED")
    m2 = bytearray(good["m2"])
    m2[-1] ^= 0x80  # payload tag
    add_checked("message 2 with one bit flipped in the payload's tag", ["HS-4"], "initiator",
                [u16len(bytes(m2))], "HANDSHAKE_FAILED")
    m2 = bytearray(good["m2"])
    m2[0] ^= 0x01  # responder ephemeral
    add_checked("message 2 with one bit flipped in the responder's ephemeral key", ["HS-4"],
                "initiator", [u16len(bytes(m2))], "HANDSHAKE_FAILED")

    other_static = x25519_pub(label_bytes("some other noise static"))
    add_checked("message 2's identity signature is over another Noise static key (an identity "
                "payload copied from another session)", ["HS-6"], "initiator",
                [resp_msg2(make_payload(SEED_R, other_static, capabilities=0xF, listen_port=7700))],
                "BAD_SIGNATURE")
    add_checked("message 3's identity signature is over the responder's static key instead of the "
                "initiator's", ["HS-6"], "responder",
                [f1, init_msg3(make_payload(SEED_I, s_r_pub, listen_port=7701))], "BAD_SIGNATURE")
    # identity payload of handshake case 2's initiator (signed over its own static key)
    add_checked("message 3 carries an identity payload replayed from another handshake (valid "
                "there, signed over that session's initiator static key)", ["HS-6"], "responder",
                [f1, init_msg3(HS_PAYLOADS[(2, "initiator")])], "BAD_SIGNATURE")
    # payload shorter than 114 inside a correctly encrypted message 2
    short = make_payload(SEED_R, s_r_pub)[:113]
    add_checked("message 3 of length 177: its (correctly encrypted) identity payload is 113 bytes. "
                "§2.1 makes the message length wrong (payload below 114), checked before "
                "decryption", ["HS-1", "HS-5"], "responder",
                [f1, init_msg3(make_payload(SEED_I, s_i_pub)[:113])], "HANDSHAKE_FAILED")
    add_checked("a repeat of message 1 (length 32) where message 3 is expected", ["HS-10", "HS-1"],
                "responder", [f1, f1], "HANDSHAKE_FAILED")
    add_checked("a record (PING, length 34) where message 3 is expected", ["HS-10", "HS-1"],
                "responder", [f1, seal(CipherState(label_bytes("hs early record key")),
                                       ping(1, b"early!!!"))], "HANDSHAKE_FAILED")
    add_checked("message 2 of length 209: its (correctly encrypted) identity payload is 113 bytes. "
                "§2.1 makes the message length wrong (payload below 114), checked before "
                "decryption", ["HS-1", "HS-5"], "initiator", [resp_msg2(short)], "HANDSHAKE_FAILED")
    add_checked("message 3 whose identity payload's TLV value runs past the end",
                ["HS-5"], "responder",
                [f1, init_msg3(make_payload(SEED_I, s_i_pub, listen_port=7701,
                                            extensions=[(1, b"abc")])[:-1])], "PAYLOAD_MALFORMED")
    add_checked("message 2 whose identity payload advertises max_tags 255", ["HS-8"], "initiator",
                [resp_msg2(make_payload(SEED_R, s_r_pub, max_tags=255))], "LIMITS_BELOW_FLOOR")
    add_checked("message 3 carrying the responder's own identity (validly signed by it over the "
                "initiator's static key)", ["HS-7"], "responder",
                [f1, init_msg3(make_payload(SEED_R, s_i_pub, listen_port=7701))], "REFLECTION")
    # small-order identity key with a signature that satisfies the equation
    ik0 = bytes.fromhex("0100000000000000000000000000000000000000000000000000000000000000")
    sig0 = forge_small_order_key_sig(ik0, IDENTITY_CONTEXT + s_r_pub, "hs small order")
    add_checked("message 2's identity key is the identity point (small order); the signature "
                "satisfies the equation", ["HS-6", "ID-3"], "initiator",
                [resp_msg2(identity_payload(ik0, sig0, listen_port=7700))], "BAD_SIGNATURE")

    return {"type": "handshake_invalid",
            "comment": "handshakes that fail. params: the inputs of the first handshake case. Each "
                       "test: receiver (the side under test, using its keys from params), prologue "
                       "(the prologue that side uses, hex), messages (framed handshake messages it "
                       "receives, in order; the messages it writes follow from its keys and are not "
                       "listed), failing_message (the Noise message number whose processing fails "
                       "with error)",
            "params": prm, "tests": tests}


# ---------------------------------------------------------------------------------------
# identity.json
# ---------------------------------------------------------------------------------------
def gen_identity():
    cnt = Counter()
    st_priv = label_bytes("identity.json sender static")
    remote_static = x25519_pub(st_priv)
    own_seed = label_bytes("identity.json receiver identity seed")
    own = ed_public(own_seed)
    seed = label_bytes("identity.json sender identity seed")
    msg = IDENTITY_CONTEXT + remote_static
    tests = []

    def add(comment, reqs, pl, err=None):
        got = check_identity_payload(pl, remote_static, own)
        assert got == err, (comment, got, err)
        if err is None:
            tests.append(cnt.case(comment, reqs, "valid", hex=H(pl), fields=payload_fields(pl)))
        else:
            tests.append(cnt.case(comment, reqs, "invalid", err, hex=H(pl)))

    good = lambda **kw: make_payload(seed, remote_static, **kw)

    # valid
    add("minimal payload: default limits, no extensions", ["HS-5", "HS-6"],
        good(capabilities=0x1, listen_port=7700))
    add("several TLVs, all of types 1.0 does not define (ignored): type 0 with a zero-length value, type 1, "
        "type 0xabcd with a zero-length value, type 65535 with 256 bytes",
        ["HS-5", "HS-9"],
        good(listen_port=9000, extensions=[(0, b""), (1, b"hello"), (0xabcd, b""),
                                           (0xffff, bytes(range(256)))]))
    add("a single zero-length TLV (4 bytes of extensions)", ["HS-5", "HS-9"],
        good(listen_port=1, extensions=[(0x0102, b"")]))
    add("capabilities with every bit set: unknown bits 4..31 are ignored", ["HS-9"],
        good(capabilities=0xFFFFFFFF, listen_port=7700))
    add("capabilities with only unknown bits (0x80000010)", ["HS-9"],
        good(capabilities=0x80000010, listen_port=7700))
    add("listen_port 0: the sender can only dial out", ["HS-5"], good(listen_port=0))
    add("limits exactly at the floors: max_tags 256, max_message 1048576, budget 1048576",
        ["HS-8", "LIMIT-1"],
        good(max_tags=256, max_message=MIN_MAX_MESSAGE, budget=MIN_MAX_MESSAGE, listen_port=7700))
    add("largest values: max_tags 65535, max_message and budget 4294967295, port 65535, minor 65535",
        ["HS-8"], good(minor=0xFFFF, max_tags=0xFFFF, max_message=0xFFFFFFFF, budget=0xFFFFFFFF,
                       listen_port=0xFFFF))
    add("minor 1 (informational, accepted)", ["HS-5"], good(minor=1, listen_port=7700))
    # a mixed-order identity key with a signature valid under the cofactorless equation
    a, mixed = mixed_key("identity.json mixed")
    sig = sign_scalar(a, mixed, msg, "identity.json mixed", want_k_mod8=True)
    assert spec_verify(mixed, msg, sig) is None
    add("identity key of mixed order (prime-order point plus an order-8 component), signature "
        "valid under the cofactorless equation: accepted", ["HS-6", "ID-3", "ID-5"],
        identity_payload(mixed, sig, listen_port=7700))

    # invalid: layout
    base = good(listen_port=7700)
    add("113 bytes (one short of the fixed part)", ["HS-5"], base[:113], "PAYLOAD_MALFORMED")
    add("empty payload", ["HS-5"], b"", "PAYLOAD_MALFORMED")
    add("96 bytes: identity key and signature only", ["HS-5"], base[:96], "PAYLOAD_MALFORMED")
    add("TLV header overrun: 3 bytes after the fixed part", ["HS-5", "CONV-3"],
        base + b"\x00\x01\x00", "PAYLOAD_MALFORMED")
    add("TLV header overrun: 1 byte after a complete TLV", ["HS-5", "CONV-3"],
        good(listen_port=7700, raw_tail=tlvs([(1, b"ab")]) + b"\x00"), "PAYLOAD_MALFORMED")
    add("TLV value overrun: length 10 with 9 value bytes", ["HS-5", "CONV-3"],
        good(listen_port=7700, raw_tail=struct.pack(">HH", 5, 10) + b"x" * 9), "PAYLOAD_MALFORMED")
    add("TLV value overrun: second TLV's length 65535 with 2 value bytes", ["HS-5", "CONV-3"],
        good(listen_port=7700, raw_tail=tlvs([(1, b"")]) + struct.pack(">HH", 2, 0xFFFF) + b"zz"),
        "PAYLOAD_MALFORMED")
    # invalid: limits
    add("max_tags 255", ["HS-8"], good(max_tags=255, listen_port=7700), "LIMITS_BELOW_FLOOR")
    add("max_tags 0", ["HS-8"], good(max_tags=0, listen_port=7700), "LIMITS_BELOW_FLOOR")
    add("max_message 1048575", ["HS-8"], good(max_message=MIN_MAX_MESSAGE - 1, listen_port=7700),
        "LIMITS_BELOW_FLOOR")
    add("max_message 0 and budget 0", ["HS-8"], good(max_message=0, budget=0, listen_port=7700),
        "LIMITS_BELOW_FLOOR")
    add("reassembly_budget one below max_message (2097152 / 2097151)", ["HS-8"],
        good(max_message=2097152, budget=2097151, listen_port=7700), "LIMITS_BELOW_FLOOR")
    add("reassembly_budget 1048575 with max_message at the floor", ["HS-8"],
        good(max_message=MIN_MAX_MESSAGE, budget=MIN_MAX_MESSAGE - 1, listen_port=7700),
        "LIMITS_BELOW_FLOOR")
    # invalid: reflection
    add("the receiver's own identity key, validly signed by it over the sender's static key",
        ["HS-7"], make_payload(own_seed, remote_static, listen_port=7700), "REFLECTION")
    # invalid: signature
    other_static = x25519_pub(label_bytes("identity.json other static"))
    add("signature over a different Noise static key (payload copied from another session)",
        ["HS-6"], make_payload(seed, other_static, listen_port=7700), "BAD_SIGNATURE")
    ik = ed_public(seed)
    add("signature over the wrong context ('parley-noise-static-kex:')", ["HS-6"],
        identity_payload(ik, ed_sign(seed, b"parley-noise-static-kex:" + remote_static),
                         listen_port=7700), "BAD_SIGNATURE")
    add("signature over the static key without the context", ["HS-6"],
        identity_payload(ik, ed_sign(seed, remote_static), listen_port=7700), "BAD_SIGNATURE")
    add("signature over the context without its trailing ':'", ["HS-6"],
        identity_payload(ik, ed_sign(seed, IDENTITY_CONTEXT[:-1] + remote_static), listen_port=7700),
        "BAD_SIGNATURE")
    sig = bytearray(ed_sign(seed, msg))
    sig[5] ^= 0x10
    add("corrupted signature: one bit flipped in R", ["HS-6", "ID-5"],
        identity_payload(ik, bytes(sig), listen_port=7700), "BAD_SIGNATURE")
    sig = bytearray(ed_sign(seed, msg))
    sig[40] ^= 0x01
    add("corrupted signature: one bit flipped in S", ["HS-6", "ID-5"],
        identity_payload(ik, bytes(sig), listen_port=7700), "BAD_SIGNATURE")
    sig = ed_sign(seed, msg)
    s_nc = (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    assert lenient_equation(ik, msg, sig[:32] + s_nc)
    add("non-canonical S (S + L): satisfies the equation mod L, rejected", ["HS-6", "ID-1"],
        identity_payload(ik, sig[:32] + s_nc, listen_port=7700), "BAD_SIGNATURE")
    add("identity key signed by another identity (key and signature do not match)", ["HS-6", "ID-5"],
        identity_payload(ed_public(SEED_OTHER), ed_sign(seed, msg), listen_port=7700), "BAD_SIGNATURE")
    ik0 = bytes.fromhex("0100000000000000000000000000000000000000000000000000000000000000")
    add("small-order identity key (the identity point) with a signature satisfying the equation",
        ["HS-6", "ID-3"], identity_payload(ik0, forge_small_order_key_sig(ik0, msg, "idj o1"),
                                           listen_port=7700), "BAD_SIGNATURE")
    ik8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
    add("small-order identity key (order 8) with a signature satisfying the equation",
        ["HS-6", "ID-3"], identity_payload(ik8, forge_small_order_key_sig(ik8, msg, "idj o8"),
                                           listen_port=7700), "BAD_SIGNATURE")
    iknc = bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
    add("non-canonical identity key (identity point as y = p + 1) with a signature satisfying the "
        "equation", ["HS-6", "ID-2"],
        identity_payload(iknc, forge_small_order_key_sig(iknc, msg, "idj nc"), listen_port=7700),
        "BAD_SIGNATURE")
    add("all-zero identity key and signature", ["HS-6", "ID-3"],
        identity_payload(bytes(32), bytes(64), listen_port=7700), "BAD_SIGNATURE")
    a, mixed = mixed_key("identity.json mixed cofactored")
    sig = sign_scalar(a, mixed, msg, "identity.json mixed cofactored", want_k_mod8=False)
    assert lenient_equation(mixed, msg, sig, cofactored=True) and not lenient_equation(mixed, msg, sig)
    add("mixed-order identity key, signature valid only under the cofactored equation", ["HS-6", "ID-5"],
        identity_payload(mixed, sig, listen_port=7700), "BAD_SIGNATURE")

    # validation order of §2.2
    bad_sig = bytearray(ed_sign(seed, msg))
    bad_sig[0] ^= 1
    add("order: limits below the floors and a bad signature: the limits are reported first",
        ["HS-8", "HS-6"], identity_payload(ik, bytes(bad_sig), max_tags=255, listen_port=7700),
        "LIMITS_BELOW_FLOOR")
    add("order: TLV overrun, limits below the floors and a bad signature: the layout is reported "
        "first", ["HS-5", "HS-8", "HS-6"],
        identity_payload(ik, bytes(bad_sig), max_message=5, raw_tail=b"\x00\x01\x00\x09abc"),
        "PAYLOAD_MALFORMED")
    add("order: own identity key with a bad signature: reflection is reported before the signature",
        ["HS-7", "HS-6"], identity_payload(own, bytes(bad_sig), listen_port=7700), "REFLECTION")
    add("order: own identity key and limits below the floors: the limits are reported first",
        ["HS-8", "HS-7"], make_payload(own_seed, remote_static, budget=0, listen_port=7700),
        "LIMITS_BELOW_FLOOR")

    group = {"type": "identity_payload",
             "comment": "identity payloads (spec §2.2) sent by a peer whose Noise static key is "
                        "remote_static, received by a peer whose identity key is own_identity",
             "params": {"remote_static": H(remote_static), "own_identity": H(own)},
             "tests": tests}
    n = write_doc("identity.json", "identity", SOURCE, [group])
    return n, cnt


# ---------------------------------------------------------------------------------------
# ed25519.json
# ---------------------------------------------------------------------------------------
def gen_ed25519():
    cnt = Counter()
    tests = []
    disagreements = []

    def add(comment, reqs, pk, msg, sig, rule=None, expect_equation=None):
        got = spec_verify(pk, msg, sig)
        assert got == rule, (comment, got, rule)
        if expect_equation is not None:
            assert lenient_equation(pk, msg, sig) == expect_equation, comment
        ossl = openssl_verify(pk, msg, sig)
        spec = "valid" if rule is None else "invalid"
        mark = "" if ossl.startswith(spec) else "   <-- OpenSSL differs from the spec"
        print("  ed25519 tc %2d spec %-7s %-5s openssl %-8s %s%s" %
              (cnt.n, spec, rule or "", ossl, comment[:60], mark))
        if mark:
            disagreements.append((cnt.n, comment, spec, ossl))
        kw = {"pk": H(pk), "msg": H(msg), "sig": H(sig)}
        if rule is None:
            tests.append(cnt.case(comment, reqs, "valid", **kw))
        else:
            kw["rule"] = rule
            tests.append(cnt.case(comment, reqs, "invalid", "BAD_SIGNATURE", **kw))

    rfc = [tuple(map(bytes.fromhex, v)) for v in RFC8032]
    for i, (sk, pk, msg, sig) in enumerate(rfc):
        add("RFC 8032 §7.1 test %d" % (i + 1), ["ID-5"], pk, msg, sig)
    sk1, pk1, msg1, sig1 = rfc[0]
    sk2, pk2, msg2, sig2 = rfc[1]
    a1, _ = expand_seed(sk1)

    # a valid signature in the Parley identity context
    st = x25519_pub(label_bytes("ed25519.json static"))
    pmsg = IDENTITY_CONTEXT + st
    add("signature over 'parley-noise-static-key:' || a Noise static key", ["ID-5", "HS-6"],
        ed_public(SEED_OTHER), pmsg, ed_sign(SEED_OTHER, pmsg))

    # mixed-order A, cofactorless-valid
    a, mixed = mixed_key("ed25519 mixed", 1)
    m = b"mixed-order key"
    sig = sign_scalar(a, mixed, m, "ed25519 mixed valid", want_k_mod8=True)
    add("A of mixed order ([a]B + T, T of order 8); nonce ground until k = 0 mod 8, so the "
        "cofactorless equation holds: valid", ["ID-3", "ID-5"], mixed, m, sig, None, True)
    a4, mixed4 = mixed_key("ed25519 mixed order 4", 2)
    sig = sign_scalar(a4, mixed4, m, "ed25519 mixed4 valid", want_k_mod8=True)
    add("A of mixed order with an order-4 component; k = 0 mod 8: valid", ["ID-3", "ID-5"],
        mixed4, m, sig, None, True)

    # ID-1: S not canonical
    S1 = int.from_bytes(sig1[32:], "little")
    add("RFC 8032 test 1 with S + L (non-canonical S, same value mod L)", ["ID-1"], pk1, msg1,
        sig1[:32] + (S1 + L).to_bytes(32, "little"), "ID-1")
    add("RFC 8032 test 1 with the top three bits of S set (S + 7 * 2^253)", ["ID-1"], pk1, msg1,
        sig1[:32] + (S1 + (7 << 253)).to_bytes(32, "little"), "ID-1")
    add("S = L exactly", ["ID-1"], pk1, msg1, sig1[:32] + L.to_bytes(32, "little"), "ID-1")
    add("S = 2^256 - 1", ["ID-1"], pk1, msg1, sig1[:32] + b"\xff" * 32, "ID-1")
    # S + L where the high bit pattern is only bit 252: S + L < 2^253
    add("RFC 8032 test 2 with S + L", ["ID-1"], pk2, msg2,
        sig2[:32] + (int.from_bytes(sig2[32:], "little") + L).to_bytes(32, "little"), "ID-1")

    # ID-2: A not canonical / not on the curve
    y = 2
    while recover_x(y, 0) is None or decode_point((y).to_bytes(32, "little")) is None:
        y += 1
    assert y < 19 and not is_small_order(decode_point(y.to_bytes(32, "little")))
    nc_large = (y + P).to_bytes(32, "little")
    add("A = y + p for y = %d (non-canonical encoding of a point of large order); signature of "
        "RFC 8032 test 1" % y, ["ID-2"], nc_large, msg1, sig1, "ID-2")
    y = 2
    while recover_x(y, 0) is not None:
        y += 1
    off = y.to_bytes(32, "little")
    add("A encodes y = %d, which is not the y of any curve point" % y, ["ID-2"], off, msg1, sig1, "ID-2")
    # non-canonical small-order encodings with an equation-satisfying signature
    for hx, desc in SMALL_ORDER_NONCANONICAL.items():
        A = bytes.fromhex(hx)
        m = b"non-canonical A"
        add("A non-canonical: %s (also small order); the signature satisfies the equation under "
            "lenient decoding" % desc, ["ID-2", "ID-3"], A, m,
            forge_small_order_key_sig(A, m, "nc " + hx), "ID-2", True)

    # ID-3: small-order A, each of the 8 canonical encodings
    for hx, desc in SMALL_ORDER_CANONICAL.items():
        A = bytes.fromhex(hx)
        m = b"small-order A"
        add("A small order: %s; R of prime order and k = 0 mod ord(A), so [S]B = R + [k]A holds"
            % desc, ["ID-3"], A, m, forge_small_order_key_sig(A, m, "so " + hx), "ID-3", True)
    ident = bytes.fromhex("0100000000000000000000000000000000000000000000000000000000000000")
    add("A = identity, R = identity, S = 0: satisfies the equation for every message",
        ["ID-3", "ID-4"], ident, b"any message", ident + bytes(32), "ID-3", True)

    # ID-4: R small order / non-canonical
    m = b"small-order R"
    k = sha512_int(ident, pk1, m) % L
    add("R = identity, S = k * a: [S]B = R + [k]A holds; rejected because R has small order",
        ["ID-4"], pk1, m, ident + (k * a1 % L).to_bytes(32, "little"), "ID-4", True)
    # R of order 8 with a mixed-order A: R + [k]T = O, S = k*a
    a, mixedA = mixed_key("ed25519 mixed for R", 1)
    found = None
    for i in range(1000):
        mm = b"order-8 R " + str(i).encode()
        for j in (1, 3, 5, 7):
            R = encode_point(TORSION[j])
            k = sha512_int(R, mixedA, mm) % L
            if peq(padd(TORSION[j], pmul(k, TORSION[1])), IDENT):
                found = (mm, R + (k * a % L).to_bytes(32, "little"))
                break
        if found:
            break
    add("R of order 8 with a mixed-order A ([a]B + T): R = -[k]T and S = k * a satisfy the "
        "cofactorless equation; rejected because R has small order", ["ID-4"], mixedA, found[0],
        found[1], "ID-4", True)
    for hx in ("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
               "0100000000000000000000000000000000000000000000000000000000000080"):
        R = bytes.fromhex(hx)
        k = sha512_int(R, pk1, m) % L
        add("R non-canonical (%s), S = k * a: satisfies the equation as points"
            % SMALL_ORDER_NONCANONICAL[hx], ["ID-4"], pk1, m, R + (k * a1 % L).to_bytes(32, "little"),
            "ID-4", True)
    add("R = y + p for a point of large order (non-canonical), S of RFC 8032 test 1", ["ID-4"],
        pk1, msg1, nc_large + sig1[32:], "ID-4")
    add("R not on the curve", ["ID-4"], pk1, msg1, off + sig1[32:], "ID-4")
    add("R all zero (y = 0, a point of order 4), S of RFC 8032 test 1", ["ID-4"], pk1, msg1,
        bytes(32) + sig1[32:], "ID-4")

    # ID-5
    add("RFC 8032 test 2 signature over a different message (0x73)", ["ID-5"], pk2, b"\x73", sig2,
        "ID-5")
    add("RFC 8032 test 1 signature under the key of test 2", ["ID-5"], pk2, msg1, sig1, "ID-5")
    s = bytearray(sig1)
    s[33] ^= 0x02
    add("RFC 8032 test 1 with one bit of S flipped", ["ID-5"], pk1, msg1, bytes(s), "ID-5")
    s = bytearray(sig1)
    s[31] ^= 0x80
    add("RFC 8032 test 1 with the sign bit of R flipped (R is -R, still canonical)", ["ID-5"], pk1,
        msg1, bytes(s), "ID-5")
    a, mixed = mixed_key("ed25519 mixed cofactored", 1)
    m = b"cofactored only"
    sig = sign_scalar(a, mixed, m, "ed25519 mixed cofactored", want_k_mod8=False)
    assert lenient_equation(mixed, m, sig, cofactored=True)
    add("mixed-order A, k != 0 mod 8: [8][S]B = [8]R + [8k]A holds but [S]B = R + [k]A does not "
        "(valid only under the cofactored equation)", ["ID-5", "ID-3"], mixed, m, sig, "ID-5", False)
    m = b"mixed-order R"
    sig = sign_scalar(a1, pk1, m, "ed25519 mixed R", r_torsion=1)
    assert lenient_equation(pk1, m, sig, cofactored=True)
    add("R of mixed order ([r]B + T), S = r + k * a: valid only under the cofactored equation",
        ["ID-5", "ID-4"], pk1, m, sig, "ID-5", False)

    group = {"type": "ed25519",
             "comment": "Ed25519 signatures under the rules of spec §2.4. 'rule' names the first "
                        "rule, in the order ID-1, ID-2, ID-3, ID-4, ID-5, that rejects the case",
             "params": {}, "tests": tests}
    n = write_doc("ed25519.json", "ed25519", SOURCE, [group])
    return n, cnt, disagreements


# ---------------------------------------------------------------------------------------
# records_sealed.part.json
# ---------------------------------------------------------------------------------------
RECORD_TC_START = 1001  # keeps tcIds apart from the plaintext part when merged


def aead_seal(key, nonce, pt):
    return ChaCha20Poly1305(key).encrypt(noise_nonce(nonce), pt, b"")


def gen_records():
    cnt = Counter(RECORD_TC_START)
    hs = run_handshake(handshake_params(hello([1]), accept(1), (SEED_I, SEED_R), (ST_I, ST_R),
                                        (EP_I, EP_R), payload_params(capabilities=0x0, listen_port=7701),
                                        payload_params(capabilities=0xF, listen_port=7700)))
    k_i2r, k_r2i = hs["c1"].k, hs["c2"].k
    groups = []

    def opens(key, nonce, rec):
        n = struct.unpack(">H", rec[:2])[0]
        if n < RECORD_MIN:
            return "RECORD_LENGTH", None
        assert n == len(rec) - 2
        try:
            return None, ChaCha20Poly1305(key).decrypt(noise_nonce(nonce), rec[2:], b"")
        except InvalidTag:
            return "RECORD_AUTH", None

    def group(key, nonce, comment, cases):
        tests = []
        for c in cases:
            comment_c, reqs, rec, err = c[:4]
            got, pt = opens(key, nonce, rec)
            assert got == err, (comment_c, got, err)
            if err is None:
                tests.append(cnt.case(comment_c, reqs, "valid", hex=H(rec), fields={"plaintext": H(pt)}))
            else:
                tests.append(cnt.case(comment_c, reqs, "invalid", err, hex=H(rec)))
        groups.append({"type": "record", "comment": comment,
                       "params": {"key": H(key), "nonce": nonce}, "tests": tests})

    def rec(key, nonce, pt):
        return u16len(aead_seal(key, nonce, pt))

    one = ping(1, b"\x01\x02\x03\x04\x05\x06\x07\x08")
    several = (ping(1, b"abcdefgh") + ack_ping(7, b"xyz") + bye(0, 0, "bye now") +
               frame(OP_SET_OPT, 0, 3, b"\x00\x03"))
    minimal = ping(0, b"")
    assert len(rec(k_i2r, 0, minimal)) == 2 + 24

    # largest plaintext 65519: a fragmented message of 4 frames
    total_data = 65519 - 4 * FRAME_HEADER_LEN - 4
    data = label_bytes("max record data", total_data)
    f1 = frame(OP_STORE, FL_MORE, 5, struct.pack(">I", total_data) + data[:16380])
    f2 = frame(OP_STORE, FL_MORE, 5, data[16380:16380 + 16384])
    f3 = frame(OP_STORE, FL_MORE, 5, data[16380 + 16384:16380 + 2 * 16384])
    f4 = frame(OP_STORE, 0, 5, data[16380 + 2 * 16384:])
    maxpt = f1 + f2 + f3 + f4
    assert len(maxpt) == 65519 and all(len(f) - 8 <= FRAME_MAX_PAYLOAD for f in (f1, f2, f3, f4))

    good0 = rec(k_i2r, 0, one)
    flip_ct = bytearray(good0)
    flip_ct[2 + 3] ^= 0x04
    flip_tag = bytearray(good0)
    flip_tag[-1] ^= 0x01
    seven = aead_seal(k_i2r, 0, b"\x02\x00\x00\x00\x00\x00\x00")
    assert len(seven) == 23
    group(k_i2r, 0, "direction initiator-to-responder (i2r key of handshake case 1), first record",
          [("one frame: PING tag 1 with 8 bytes of data", ["REC-1", "FRAME-1"], good0, None),
           ("four frames in one record: PING, ACK of a PING, BYE on tag 0, SET_CONNECTION_OPT",
            ["REC-1", "REC-7", "FRAME-1"], rec(k_i2r, 0, several), None),
           ("smallest record: length 24, one 8-byte frame header with an empty payload",
            ["REC-1", "REC-2"], rec(k_i2r, 0, minimal), None),
           ("length field 23 (a 7-byte plaintext correctly sealed): below 24", ["REC-2"],
            u16len(seven), "RECORD_LENGTH"),
           ("length field 16: an empty plaintext correctly sealed (a bare tag) is still below 24",
            ["REC-2"], u16len(aead_seal(k_i2r, 0, b"")), "RECORD_LENGTH"),
           ("length field 0", ["REC-2"], b"\x00\x00", "RECORD_LENGTH"),
           ("length field 1", ["REC-2"], b"\x00\x01\x00", "RECORD_LENGTH"),
           ("one bit flipped in the ciphertext", ["REC-3", "REC-4"], bytes(flip_ct), "RECORD_AUTH"),
           ("one bit flipped in the tag", ["REC-3"], bytes(flip_tag), "RECORD_AUTH"),
           ("the tag's last byte dropped (length field adjusted to 31)", ["REC-3"],
            u16len(good0[2:-1]), "RECORD_AUTH"),
           ("sealed with the other direction's key (r2i) at nonce 0", ["REC-3", "REC-1"],
            rec(k_r2i, 0, one), "RECORD_AUTH"),
           ("a later record (sealed at nonce 1) arriving first: reorder", ["REC-3"],
            rec(k_i2r, 1, one), "RECORD_AUTH"),
           ("sealed with a non-empty associated data (the handshake hash)", ["REC-1", "REC-3"],
            u16len(ChaCha20Poly1305(k_i2r).encrypt(noise_nonce(0), one, hs["ini"].h)),
            "RECORD_AUTH"),
           ])
    group(k_i2r, 1, "direction initiator-to-responder, second record (nonce 1)",
          [("PING tag 2 sealed at nonce 1", ["REC-1"], rec(k_i2r, 1, ping(2, b"second")), None),
           ("the first record (nonce 0) replayed", ["REC-3", "REC-6"], good0, "RECORD_AUTH"),
           ("sealed at nonce 2 (a record skipped)", ["REC-3"], rec(k_i2r, 2, ping(2, b"second")),
            "RECORD_AUTH")])
    # Nonces stay below 2^53 so that JSON parsers that read numbers as doubles (cJSON) get
    # them exactly.
    big_nonce = 0x0001020304050607
    assert big_nonce < 2**53
    group(k_r2i, big_nonce, "direction responder-to-initiator (r2i key), counter 0x0001020304050607: "
          "the nonce is 4 zero bytes then the counter little-endian",
          [("ACK of PING tag 1 sealed at counter 0x0001020304050607", ["REC-1"],
            rec(k_r2i, big_nonce, ack_ping(1, b"12345678")), None),
           ("the same plaintext sealed with the counter big-endian in the nonce", ["REC-1", "REC-3"],
            u16len(ChaCha20Poly1305(k_r2i).encrypt(b"\x00" * 4 + struct.pack(">Q", big_nonce),
                                                   ack_ping(1, b"12345678"), b"")), "RECORD_AUTH"),
           ("the counter placed in the first 8 bytes of the nonce (little-endian, then 4 zero bytes)",
            ["REC-1", "REC-3"],
            u16len(ChaCha20Poly1305(k_r2i).encrypt(struct.pack("<Q", big_nonce) + b"\x00" * 4,
                                                   ack_ping(1, b"12345678"), b"")), "RECORD_AUTH")])
    group(k_r2i, 5, "direction responder-to-initiator, nonce 5: the largest record",
          [("largest record: length 65535, plaintext 65519 bytes (a STORE message in 4 fragments "
            "of 16384 + 16384 + 16384 + 16335 payload bytes)", ["REC-1", "FRAME-1", "REC-7"],
            rec(k_r2i, 5, maxpt), None),
           ("largest record with one bit flipped in its last ciphertext byte", ["REC-3"],
            (lambda b: b[:-17] + bytes([b[-17] ^ 0x40]) + b[-16:])(rec(k_r2i, 5, maxpt)),
            "RECORD_AUTH")])
    n32 = 2**32
    group(k_i2r, n32, "counter 2^32: a counter kept in 32 bits would wrap to 0",
          [("PING tag 0 sealed at counter 2^32", ["REC-1", "REC-6"], rec(k_i2r, n32, ping(0, b"wrap")),
            None),
           ("the same plaintext sealed at counter 0 (a 32-bit counter that wrapped)", ["REC-3", "REC-6"],
            rec(k_i2r, 0, ping(0, b"wrap")), "RECORD_AUTH")])
    top = 2**53 - 1
    group(k_r2i, top, "counter 2^53 - 1, the largest counter these JSON files carry exactly",
          [("ACK of PING tag 9 sealed at counter 2^53 - 1", ["REC-1"], rec(k_r2i, top, ack_ping(9, b"")),
            None),
           ("sealed at counter 2^53 - 2 (the previous record replayed)", ["REC-3"],
            rec(k_r2i, top - 1, ack_ping(9, b"")), "RECORD_AUTH")])

    n = write_doc("records_sealed.part.json", "records", SOURCE, groups)
    return n, cnt


# ---------------------------------------------------------------------------------------
def main():
    if not os.path.isdir(VEC) or not os.path.isdir(os.path.join(ROOT, "spec")):
        sys.exit("run from the repository root")
    dst = os.path.join(VEC, "noise-xx-cacophony.json")
    if not os.path.exists(dst):
        shutil.copyfile(SHARED_CACOPHONY, dst)
    else:
        with open(dst, "rb") as a, open(SHARED_CACOPHONY, "rb") as b:
            if a.read() != b.read():
                print("WARNING: vectors/noise-xx-cacophony.json differs from the shared copy")
    nv = check_cacophony(dst)
    print("cacophony: %d vector(s) reproduced" % nv)
    check_rfc8032()
    print("RFC 8032 tests 1-3 reproduced")

    total_v = total_i = 0
    n, c = gen_handshake()
    print("handshake.json: %d tests (%d valid, %d invalid)" % (n, c.valid, c.invalid))
    total_v += c.valid
    total_i += c.invalid
    n, c = gen_identity()
    print("identity.json: %d tests (%d valid, %d invalid)" % (n, c.valid, c.invalid))
    total_v += c.valid
    total_i += c.invalid
    n, c, dis = gen_ed25519()
    print("ed25519.json: %d tests (%d valid, %d invalid)" % (n, c.valid, c.invalid))
    total_v += c.valid
    total_i += c.invalid
    n, c = gen_records()
    print("records_sealed.part.json: %d tests (%d valid, %d invalid)" % (n, c.valid, c.invalid))
    total_v += c.valid
    total_i += c.invalid
    print("total: %d valid, %d invalid (%.0f%% invalid)" %
          (total_v, total_i, 100.0 * total_i / (total_v + total_i)))
    if dis:
        print("OpenSSL (python3-cryptography) disagrees with the spec on ed25519 cases:")
        for tc, comment, spec, ossl in dis:
            print("  tc %d: spec %s, OpenSSL %s: %s" % (tc, spec, ossl, comment))


if __name__ == "__main__":
    main()
