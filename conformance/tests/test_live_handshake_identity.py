"""Chapter 02 live: the identity payload and strict Ed25519 ([HS-6], [ID-1]..[ID-5]).

Three sources of identity payloads, each sent in our handshake message 3:

- forged edge cases (parley.harness.forge): for every rule of §2.4 a key and signature
  that satisfy the equation as a lax verifier computes it, for the exact message the peer
  verifies, so only the strict rule rejects them (and a mixed-order key that must pass);
- vectors/ed25519.json: each case's key and signature in a payload (their message is not
  ours, so the verdict is computed for the live message: rules [ID-1]..[ID-4] reject
  whatever the message);
- vectors/identity.json: each payload verbatim, with the sender's Noise static key the
  generator used (it is derived from the label the generator names); the verdict is
  computed with the live peer's own id ([HS-7] reflection needs the peer's key).
"""

import hashlib
import struct

import pytest

from parley import ed25519, noise, vectors
from parley.errors import ParleyError
from parley.handshake import IDENTITY_CONTEXT, IdentityPayload, read_identity_payload
from parley.harness import forge
from parley.harness.outcomes import check, not_run


def handshake_with(live, static, payload, label=None):
    """Our handshake with `static` as Noise static key and `payload` as message 3's
    identity payload; returns the session after message 3."""
    s = live.connect(label)
    s.send_hello()
    s.read_answer()
    s.begin_handshake(static=static, payload=payload)
    s.send_handshake_message()
    s.read_handshake_message()
    s.send_handshake_message()
    return s


def judge(s, accept, req, what):
    """Accepted: the session works. Refused: the peer closes without sending anything."""
    if accept:
        s.finish_handshake()
        s.roundtrip(req)
    else:
        s.expect_closed_silently(req, what=f"{what}: close without sending anything")


@pytest.mark.reqs("HS-6", "ID-1", "ID-2", "ID-3", "ID-4", "ID-5")
@pytest.mark.parametrize("name", forge.NAMES)
def test_identity_signature_edge_case_is_judged_strictly(live, name):
    """[ID-1] non-canonical S, [ID-2] non-canonical key, [ID-3] small-order key (a
    mixed-order key passes), [ID-4] small-order or non-canonical R, [ID-5] cofactorless
    equation: each forged for the live message, so only the strict rule decides."""
    f = forge.checked(name)
    static_public = noise.KeyPair(f.static).public
    s = handshake_with(live, f.static, f.payload())
    s.note(f"forgery {name}: {f.comment}; §2.4 verdict: "
           f"{'accept' if f.rule is None else 'reject by [' + f.rule + ']'}; "
           f"identity key {f.identity_key.hex()}, signed message "
           f"{(IDENTITY_CONTEXT + static_public).hex()}")
    req = f.rule or ("ID-3" if name == "mixed_order_key_valid" else "HS-6")
    judge(s, f.rule is None, req, f"forgery {name}")


def _ed25519_cases():
    return [pytest.param(test, id=f"ed25519-{test['tcId']}",
                         marks=pytest.mark.reqs("HS-6", *test.get("reqs", [])))
            for _, test in vectors.cases("ed25519")]


@pytest.mark.reqs("HS-6", "ID-1", "ID-2", "ID-3", "ID-4", "ID-5")
@pytest.mark.parametrize("case", _ed25519_cases())
def test_ed25519_vector_key_and_signature_in_an_identity_payload(live, case):
    """[HS-6] the vector's key and signature as our identity: the peer accepts exactly
    when §2.4 accepts them for the message it verifies ("parley-noise-static-key:" || our
    static key)."""
    static = noise.KeyPair.generate()
    pk, sig = bytes.fromhex(case["pk"]), bytes.fromhex(case["sig"])
    message = IDENTITY_CONTEXT + static.public
    rule = ed25519.check(pk, message, sig)
    payload = IdentityPayload(pk, sig).encode()
    s = handshake_with(live, static.private, payload)
    s.note(f"vector ed25519#{case['tcId']} ({case['comment']}), verdict there: "
           f"{case['result']} {case.get('rule', '')}; for the live message: "
           f"{'accept' if rule is None else 'reject by [' + rule + ']'}")
    judge(s, rule is None, rule or "HS-6", f"ed25519#{case['tcId']}")


def _identity_static():
    """The Noise static private key of the sender in vectors/identity.json: the generator
    derives it from the label "identity.json sender static" (vectors/gen, label_bytes)."""
    label = b"identity.json sender static"
    return hashlib.sha256(b"parley-vectors:" + label + b":" + struct.pack(">I", 0)).digest()


def _identity_cases():
    return [pytest.param(test, id=f"identity-{test['tcId']}",
                         marks=pytest.mark.reqs(*test["reqs"]))
            for _, test in vectors.cases("identity")]


@pytest.mark.reqs("HS-5", "HS-6", "HS-7", "HS-8", "HS-9")
@pytest.mark.parametrize("case", _identity_cases())
def test_identity_vector_payload_in_message_3(live, case):
    """[HS-5] layout, [HS-8] limits, [HS-6] signature, [HS-9] unknown fields ignored: each
    payload of vectors/identity.json sent verbatim, judged in the order of §2.2 with the
    live peer's id as the receiver's."""
    group = vectors.load("identity")["testGroups"][0]
    remote_static = bytes.fromhex(group["params"]["remote_static"])
    static = _identity_static()
    if noise.KeyPair(static).public != remote_static:
        not_run("the vectors' sender static key is not the one derived from its label")
    payload = bytes.fromhex(case["hex"])
    try:
        read_identity_payload(payload, remote_static, live.info.node_id)
        verdict, rule = None, "HS-5"
    except ParleyError as err:
        verdict = err.name
        rule = {"PAYLOAD_MALFORMED": "HS-5", "LIMITS_BELOW_FLOOR": "HS-8",
                "REFLECTION": "HS-7"}.get(err.name, "HS-6")
    if len(payload) < 114:
        rule = "HS-1"
    s = handshake_with(live, static, payload)
    s.note(f"vector identity#{case['tcId']} ({case['comment']}): {case['result']} "
           f"{case.get('error', '')} there; live verdict: {verdict or 'valid'}")
    judge(s, verdict is None, rule, f"identity#{case['tcId']}")
    if verdict is None:
        check(s.remote is not None, rule, "handshake state missing")
