"""Chapter 02 live: the Noise XX handshake and the identity payload, the peer as responder.

Each attack runs the handshake step by step and changes one thing: a message's length or
bytes, our identity payload, the prologue, the order of messages. The peer must close
without sending anything more ([HS-4]) and without ever sending a record ([HS-10]).
Ed25519 edge cases are in test_live_handshake_identity.py; the peer as initiator in
test_live_initiator.py.
"""

import os
import struct

import pytest

from parley import codec, handshake, noise
from parley.errors import ParleyError
from parley.handshake import IDENTITY_CONTEXT, IdentityPayload
from parley.harness import net
from parley.harness.client import RawPayload
from parley.harness.outcomes import Violation, check


def up_to_message_2(live, label=None, **kwargs):
    """HELLO, ACCEPT, message 1, message 2 (checked): ready for our message 3."""
    s = live.connect(label)
    s.send_hello()
    s.read_answer()
    s.begin_handshake(**kwargs)
    s.send_handshake_message()
    s.read_handshake_message()
    return s


def expect_refused(s, req, what):
    """After our last handshake message: the peer closes and sends nothing, in particular
    no record ([HS-10])."""
    how = s.expect_closed_silently(req, what=f"{what}: close without sending anything")
    return how


def complete(s):
    s.send_handshake_message()
    s.finish_handshake()
    return s


# --- the valid handshake -----------------------------------------------------------------


@pytest.mark.reqs("HS-1", "HS-5", "HS-6", "LIMIT-1", "HS-10")
def test_handshake_completes_and_the_peer_identity_verifies_strictly(live):
    """[HS-1] Noise XX completes; [HS-5] [HS-6] the peer's identity payload is well formed
    and its signature binds its identity to its Noise static key under the strict rules of
    §2.4; [LIMIT-1] its advertised limits are at least the floors; [HS-10] it sends no
    record before our message 3."""
    s = up_to_message_2(live)
    remote = s.hs.remote
    check(remote.max_tags >= codec.MIN_MAX_TAGS and remote.max_message >= codec.MIN_MAX_MESSAGE
          and remote.reassembly_budget >= remote.max_message, "LIMIT-1",
          f"advertised limits below the floors: {remote.to_fields()}")
    try:
        early = s.conn.recv_some(timeout=0.2)
    except net.Timeout:
        early = b""
    check(not early, "HS-10", f"the peer sent {early.hex()} before our message 3")
    complete(s)
    s.roundtrip("HS-1")


@pytest.mark.reqs("HS-9")
def test_unknown_extensions_and_capability_bits_are_ignored(live):
    """[HS-9] our payload with every unknown capability bit and unknown extension TLVs
    (types 0, 0xabcd, 0xffff, one of 300 bytes) completes the handshake."""
    s = up_to_message_2(live, fields={"capabilities": 0xFFFFFFF0, "extensions": [
        (0, b""), (0xABCD, b"unknown"), (0xFFFF, bytes(300))]})
    complete(s)
    s.roundtrip("HS-9")


@pytest.mark.reqs("HS-8", "LIMIT-1")
def test_limits_exactly_at_the_floors_are_accepted(live):
    """[HS-8] max_tags 256, max_message 1 MiB, reassembly_budget 1 MiB are valid."""
    s = up_to_message_2(live, fields=dict(max_tags=256, max_message=1048576,
                                          reassembly_budget=1048576))
    complete(s)
    s.roundtrip("HS-8")


@pytest.mark.reqs("HS-8")
@pytest.mark.parametrize("fields", [
    dict(max_tags=255), dict(max_tags=0), dict(max_message=1048575, reassembly_budget=1048575),
    dict(max_message=2097152, reassembly_budget=2097151)],
    ids=["max_tags-255", "max_tags-0", "max_message-1048575", "budget-below-max_message"])
def test_limits_below_the_floors_close_the_connection(live, fields):
    """[HS-8] limits below the floors of §2.2: LIMITS_BELOW_FLOOR, close."""
    s = up_to_message_2(live, fields=fields)
    s.send_handshake_message()
    expect_refused(s, "HS-8", f"limits {fields}")


# --- message lengths and contents ----------------------------------------------------------


@pytest.mark.reqs("HS-3", "HS-1")
@pytest.mark.parametrize("extra", [1, 16], ids=["payload-1", "payload-16"])
def test_message_1_with_a_payload_closes(live, extra):
    """[HS-3] message 1 of length 33 or 48 (a non-empty payload): HANDSHAKE_FAILED, and no
    message 2."""
    s = live.connect()
    s.send_hello()
    s.read_answer()
    e = noise.KeyPair.generate().public
    s.send_handshake_message(struct.pack(">H", 32 + extra) + e + os.urandom(extra),
                             f"message 1 with {extra} payload bytes")
    expect_refused(s, "HS-3", f"message 1 of {32 + extra} bytes")


@pytest.mark.reqs("HS-1")
@pytest.mark.parametrize("length", [0, 31], ids=["empty", "31-bytes"])
def test_message_1_of_the_wrong_length_closes(live, length):
    """[HS-1] message 1 must be exactly 32 bytes: HANDSHAKE_FAILED."""
    s = live.connect()
    s.send_hello()
    s.read_answer()
    s.send_handshake_message(struct.pack(">H", length) + os.urandom(length),
                             f"message 1 of {length} bytes")
    expect_refused(s, "HS-1", f"message 1 of {length} bytes")


LOW_ORDER_X25519 = {
    "zero": bytes(32),
    "one": bytes([1]) + bytes(31),
    "order-8": bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    "p-1": bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
}


@pytest.mark.reqs("HS-4")
@pytest.mark.parametrize("name", sorted(LOW_ORDER_X25519))
def test_small_order_ephemeral_key_closes_without_message_2(live, name):
    """[HS-4] an ephemeral key whose X25519 result is all zeros: HANDSHAKE_FAILED, and
    nothing more is sent (no message 2)."""
    s = live.connect()
    s.send_hello()
    s.read_answer()
    key = LOW_ORDER_X25519[name]
    s.send_handshake_message(struct.pack(">H", 32) + key, f"message 1 with e = {name}")
    expect_refused(s, "HS-4", f"small-order ephemeral key {name}")


@pytest.mark.reqs("HS-1", "HS-5")
def test_message_3_with_a_113_byte_payload_closes(live):
    """[HS-1] [HS-5] an identity payload of 113 bytes makes message 3 of length 177, below
    what §2.1 allows: HANDSHAKE_FAILED."""
    s = up_to_message_2(live)
    good = IdentityPayload.signed(s.identity, s.hs.static_public, **s.fields).encode()
    s.hs.payload = RawPayload(good[:113])
    s.send_handshake_message()
    expect_refused(s, "HS-1", "message 3 of 177 bytes")


@pytest.mark.reqs("HS-5")
@pytest.mark.parametrize("tail", ["0001000a" + "00" * 9, "00", "0001000000ff"],
                         ids=["tlv-value-overrun", "tlv-header-overrun", "second-tlv-overrun"])
def test_identity_payload_whose_extensions_overrun_closes(live, tail):
    """[HS-5] extension TLVs that do not fill the payload exactly: PAYLOAD_MALFORMED."""
    s = up_to_message_2(live)
    payload = IdentityPayload.signed(s.identity, s.hs.static_public, **s.fields).encode()
    s.hs.payload = RawPayload(payload + bytes.fromhex(tail))
    s.send_handshake_message()
    expect_refused(s, "HS-5", f"payload with extensions {tail}")


@pytest.mark.reqs("HS-4")
@pytest.mark.parametrize("where", ["static", "payload-tag"])
def test_message_3_with_a_flipped_bit_closes(live, where):
    """[HS-4] message 3 that fails to decrypt (a bit flipped in the encrypted static key or
    in the payload's tag): HANDSHAKE_FAILED, nothing more sent."""
    s = up_to_message_2(live)
    message = bytearray(s.hs.write_message())
    index = 2 + 5 if where == "static" else len(message) - 1
    message[index] ^= 0x01
    s.send_handshake_message(bytes(message), f"message 3 with a bit flipped in its {where}")
    expect_refused(s, "HS-4", f"message 3 with a flipped bit ({where})")


# --- identity binding ----------------------------------------------------------------------


@pytest.mark.reqs("HS-6")
def test_identity_signature_with_a_flipped_bit_closes(live):
    """[HS-6] a corrupted identity signature: BAD_SIGNATURE."""
    s = up_to_message_2(live)
    signed = IdentityPayload.signed(s.identity, s.hs.static_public, **s.fields)
    payload = bytearray(signed.encode())
    payload[40] ^= 0x04
    s.hs.payload = RawPayload(bytes(payload))
    s.send_handshake_message()
    expect_refused(s, "HS-6", "identity signature with a flipped bit")


@pytest.mark.reqs("HS-6")
def test_identity_bound_to_another_static_key_closes(live):
    """[HS-6] an identity payload signed over another Noise static key: BAD_SIGNATURE."""
    s = up_to_message_2(live)
    other = noise.KeyPair.generate().public
    s.hs.payload = RawPayload(IdentityPayload.signed(s.identity, other, **s.fields).encode())
    s.send_handshake_message()
    expect_refused(s, "HS-6", "identity bound to another static key")


@pytest.mark.reqs("HS-6")
def test_identity_payload_copied_from_another_session_closes(live):
    """[HS-6] message 3's identity payload taken from a completed session (valid there,
    signed over that session's static key) fails in a new one."""
    first = up_to_message_2(live, label="first")
    copied = first.hs.payload.encode()
    complete(first)
    first.roundtrip("HS-6")
    s = up_to_message_2(live, label="second", identity=first.identity)
    s.hs.payload = RawPayload(copied)
    s.send_handshake_message()
    expect_refused(s, "HS-6", "identity payload copied from another session")


@pytest.mark.reqs("HS-6")
@pytest.mark.parametrize("signed", ["without-context", "wrong-context", "static-key-only"])
def test_identity_signature_over_the_wrong_message_closes(live, signed):
    """[HS-6] the signature must cover "parley-noise-static-key:" || s exactly."""
    s = up_to_message_2(live)
    static = s.hs.static_public
    message = {"without-context": static, "wrong-context": b"parley-noise-static-kex:" + static,
               "static-key-only": IDENTITY_CONTEXT[:-1] + static}[signed]
    payload = IdentityPayload(s.identity.public_key, s.identity.sign(message), **s.fields)
    s.hs.payload = RawPayload(payload.encode())
    s.send_handshake_message()
    expect_refused(s, "HS-6", f"signature {signed}")


@pytest.mark.reqs("HS-7")
def test_own_identity_reflected_is_refused(live):
    """[HS-7] our message 3 claims the peer's own node id (learnt in a first session):
    REFLECTION. When the peer's key file is readable the claim is validly signed by the
    peer's own key, so only the reflection rule can reject it."""
    s = up_to_message_2(live)
    own = live.info.identity
    if own is not None:
        s.note("signed with the peer's own key (read from its key file)")
        payload = IdentityPayload.signed(own, s.hs.static_public, **s.fields)
    else:
        s.note("the peer's key file is not readable: the signature is not the peer's")
        payload = IdentityPayload(live.info.node_id, bytes(64), **s.fields)
    s.hs.payload = RawPayload(payload.encode())
    s.send_handshake_message()
    expect_refused(s, "HS-7", "the peer's own identity")


# --- prologue, order, replay -----------------------------------------------------------------


@pytest.mark.reqs("HS-2", "PRE-8")
@pytest.mark.parametrize("tamper", ["hello-2-1", "accept-2"], ids=["downgraded-hello",
                                                                   "altered-accept"])
def test_tampered_prologue_fails_the_handshake(live, tamper):
    """[HS-2] [PRE-8] a side whose prologue differs from the HELLO and ACCEPT bytes that
    travelled cannot complete: message 2 does not decrypt for us, and the message 3 we
    make anyway is refused (the negotiation cannot be downgraded)."""
    s = live.connect()
    s.send_hello([1])
    s.read_answer()
    hello, accept = s.hello_bytes, s.answer_bytes
    if tamper == "hello-2-1":
        prologue = codec.encode_hello([2, 1]) + accept
    else:
        prologue = hello + codec.encode_accept(2)
    s.note(f"our prologue: {prologue.hex()} (the wire carried {(hello + accept).hex()})")
    s.begin_handshake(prologue=prologue)
    s.send_handshake_message()
    frame = s.read_handshake_frame()
    try:
        s.hs.read_message(frame)
        raise Violation("HS-2", "message 2 decrypts under a prologue that differs from the "
                                "HELLO || ACCEPT bytes: the peer did not bind the prefaces")
    except ParleyError:
        pass
    forged = os.urandom(handshake.MSG3_MIN)
    s.send_handshake_message(struct.pack(">H", len(forged)) + forged,
                             "a message 3 that cannot be right")
    expect_refused(s, "HS-2", "tampered prologue")


@pytest.mark.reqs("HS-4", "HS-10")
def test_replayed_message_3_closes(live):
    """[HS-4] message 3 of a completed session replayed into a new one fails to decrypt:
    HANDSHAKE_FAILED, and no record is sent."""
    first = up_to_message_2(live, label="first")
    message3 = first.send_handshake_message()
    first.finish_handshake()
    first.roundtrip("HS-4")
    s = up_to_message_2(live, label="second")
    s.send_handshake_message(message3, "message 3 replayed from the first session")
    expect_refused(s, "HS-4", "replayed message 3")


@pytest.mark.reqs("HS-10", "HS-1")
@pytest.mark.parametrize("instead", ["record", "message-1-again"])
def test_anything_but_message_3_after_message_2_closes(live, instead):
    """[HS-10] a record (a PING sealed as if the handshake were done) or a repeat of
    message 1 where message 3 is due: HANDSHAKE_FAILED."""
    s = up_to_message_2(live)
    if instead == "record":
        fake = noise.CipherState(os.urandom(32))
        data = fake.encrypt_with_ad(b"", codec.encode_frame(codec.OP_PING, 0, 1, b"early"))
        s.send_handshake_message(struct.pack(">H", len(data)) + data,
                                 "a record (PING) before message 3")
    else:
        e = noise.KeyPair.generate().public
        s.send_handshake_message(struct.pack(">H", 32) + e, "message 1 again")
    expect_refused(s, "HS-10", f"{instead} instead of message 3")


@pytest.mark.reqs("HS-10")
def test_message_3_and_a_record_in_one_segment_are_both_processed(live):
    """[HS-10] the initiator may send records right after message 3: both in one TCP
    write, and the PING is answered."""
    s = up_to_message_2(live)
    message3 = s.hs.write_message()
    s.finish_handshake()
    tag = 7
    ping = codec.encode_frame(codec.OP_PING, 0, tag, b"with-message-3")
    s._note_sent_frame(ping)
    sealed = s.seal(ping)
    s.send_handshake_message(message3 + sealed, "message 3 and a record together")
    body = s.expect_ack(tag, "HS-10", codec.OP_PING)
    check(body["data"] == b"with-message-3", "PING-1", f"echo {body['data']!r}")
