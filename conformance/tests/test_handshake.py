"""Chapter 02: the identity payload and the framed handshake (parley/handshake.py)."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley import noise, record
from parley.errors import ParleyError
from parley.handshake import (
    IDENTITY_CONTEXT,
    Handshake,
    Identity,
    IdentityPayload,
    check_deadline,
    read_identity_payload,
)

HELLO = b"PARLEY\x01\x01\x01"
ACCEPT = b"PARLEY\x02\x01"
PROLOGUE = HELLO + ACCEPT

ALICE = Identity(bytes([1]) * 32)
BOB = Identity(bytes([2]) * 32)
STATIC = noise.KeyPair(bytes([3]) * 32)


def _payload(identity=ALICE, static=STATIC.public, **fields):
    return IdentityPayload.signed(identity, static, **fields)


def _expect(name, fn, *args):
    with pytest.raises(ParleyError) as err:
        fn(*args)
    assert err.value.name == name, err.value
    return err.value


# --- the identity payload ----------------------------------------------------------------


def test_identity_payload_layout_is_114_bytes_big_endian():
    """[HS-5] the fixed part is 114 bytes, fields at the offsets of §2.2."""
    p = _payload(minor=7, capabilities=0x0000000F, max_tags=0x1234,
                 max_message=0x01020304, reassembly_budget=0x05060708,
                 listen_port=0xABCD)
    data = p.encode()
    assert len(data) == 114
    assert data[:32] == ALICE.public_key
    assert data[32:96] == ALICE.sign(IDENTITY_CONTEXT + STATIC.public)
    assert data[96:].hex() == "0007" "0000000f" "1234" "01020304" "05060708" "abcd"
    assert IdentityPayload.decode(data) == p


def test_extensions_round_trip_and_unknown_types_are_kept_for_the_caller_to_ignore():
    """[HS-9] unknown extension types and capability bits do not fail the payload."""
    p = _payload(capabilities=0xFFFFFFFF,
                 extensions=[(0xFFFF, b"unknown"), (7, b""), (1, b"x" * 300)])
    data = p.encode()
    assert len(data) == 114 + 4 + 7 + 4 + 4 + 300
    back = read_identity_payload(data, STATIC.public, BOB.public_key)
    assert back == p
    assert back.to_fields()["extensions"][0] == {"type": 0xFFFF, "value": b"unknown".hex()}


@pytest.mark.parametrize("size", [0, 1, 113])
def test_payload_shorter_than_114_bytes_is_malformed(size):
    """[HS-5]"""
    data = _payload().encode()[:size]
    _expect("PAYLOAD_MALFORMED", IdentityPayload.decode, data)


@pytest.mark.parametrize("tail", [b"\x00", b"\x00\x01\x00", b"\x00\x01\x00\x05abcd",
                                  b"\x00\x01\x00\x00\x00"])
def test_extension_running_past_the_end_is_malformed(tail):
    """[HS-5] a TLV header or value that runs past the end, [CONV-3]."""
    data = _payload().encode() + tail
    _expect("PAYLOAD_MALFORMED", read_identity_payload, data, STATIC.public, None)


@pytest.mark.parametrize("fields", [
    {"max_tags": 255},
    {"max_tags": 0},
    {"max_message": 1048575},
    {"max_message": 2**22, "reassembly_budget": 2**22 - 1},
    {"reassembly_budget": 0},
])
def test_limits_below_the_floors_are_refused(fields):
    """[HS-8]"""
    data = _payload(**fields).encode()
    _expect("LIMITS_BELOW_FLOOR", read_identity_payload, data, STATIC.public, None)


def test_limits_at_the_floors_are_accepted():
    """[HS-8] the floors themselves are valid: 256, 1048576, budget = max_message."""
    data = _payload(max_tags=256, max_message=1048576, reassembly_budget=1048576).encode()
    read_identity_payload(data, STATIC.public, BOB.public_key)


def test_own_identity_is_a_reflection():
    """[HS-7] a validly signed payload carrying our own key is REFLECTION."""
    data = _payload(ALICE).encode()
    _expect("REFLECTION", read_identity_payload, data, STATIC.public, ALICE.public_key)


def test_signature_over_another_static_key_fails():
    """[HS-6] a payload copied from another session (signed for another static key)."""
    data = _payload(static=bytes(32)).encode()
    err = _expect("BAD_SIGNATURE", read_identity_payload, data, STATIC.public, None)
    assert err.rule == "ID-5"


def test_identity_key_of_small_order_is_a_bad_signature():
    """[HS-6] a key that fails §2.4 ([ID-3]) is BAD_SIGNATURE."""
    p = _payload()
    p.identity_key = bytes(32)  # y = 0: a point of order 4
    err = _expect("BAD_SIGNATURE", read_identity_payload, p.encode(), STATIC.public, None)
    assert err.rule == "ID-3"


def test_checks_run_in_the_order_of_section_2_2():
    """[HS-5] [HS-8] [HS-7] [HS-6]: layout, then limits, then reflection, then the
    signature; the first failure is the one reported."""
    reflected_low_bad_sig = _payload(ALICE, static=bytes(32), max_tags=1)
    data = reflected_low_bad_sig.encode()
    _expect("PAYLOAD_MALFORMED", read_identity_payload, data + b"\x00",
            STATIC.public, ALICE.public_key)
    _expect("LIMITS_BELOW_FLOOR", read_identity_payload, data,
            STATIC.public, ALICE.public_key)
    reflected_bad_sig = _payload(ALICE, static=bytes(32)).encode()
    _expect("REFLECTION", read_identity_payload, reflected_bad_sig,
            STATIC.public, ALICE.public_key)
    _expect("BAD_SIGNATURE", read_identity_payload, reflected_bad_sig,
            STATIC.public, BOB.public_key)


# --- the handshake -----------------------------------------------------------------------


def _sides(init_prologue=PROLOGUE, resp_prologue=PROLOGUE, init_id=ALICE, resp_id=BOB,
           init_fields=None, resp_fields=None):
    init = Handshake(True, init_id, init_prologue, init_fields)
    resp = Handshake(False, resp_id, resp_prologue, resp_fields)
    return init, resp


def _run(init, resp):
    """Drive both sides message by message; returns the three framed messages."""
    m1 = init.write_message()
    resp.read_message(m1)
    m2 = resp.write_message()
    init.read_message(m2)
    m3 = init.write_message()
    resp.read_message(m3)
    return m1, m2, m3


def test_handshake_completes_and_both_sides_agree():
    """[HS-1] XX between the two roles; [HS-6] each side verifies the other's identity
    bound to the static key it received."""
    init, resp = _sides(resp_fields={"listen_port": 4242, "capabilities": 5})
    m1, m2, m3 = _run(init, resp)
    assert struct.unpack(">H", m1[:2])[0] == 32 and len(m1) == 34
    assert len(m2) == 2 + 32 + 48 + 114 + 16
    assert len(m3) == 2 + 48 + 114 + 16
    a, b = init.result(), resp.result()
    assert a.remote.identity_key == BOB.public_key
    assert a.remote.listen_port == 4242 and a.remote.capabilities == 5
    assert b.remote.identity_key == ALICE.public_key
    assert a.handshake_hash == b.handshake_hash
    assert (a.c1.k, a.c2.k) == (b.c1.k, b.c2.k)
    assert a.initiator_ephemeral == b.initiator_ephemeral == m1[2:]
    assert a.remote_static == resp.static_public and b.remote_static == init.static_public
    assert a.send is a.c1 and b.send is b.c2


def test_records_flow_both_ways_after_the_handshake():
    """[REC-1] c1 protects initiator to responder, c2 the other way."""
    init, resp = _sides()
    _run(init, resp)
    a = record.RecordChannel.from_handshake(init.result())
    b = record.RecordChannel.from_handshake(resp.result())
    assert b.feed(a.seal(b"\x02" * 16)) == [b"\x02" * 16]
    assert a.feed(b.seal(b"\x03" * 8)) == [b"\x03" * 8]


def test_streaming_byte_by_byte_with_records_after_message_3():
    """[HS-10] the responder completes on message 3; a record in the same read is left
    over for the record layer."""
    init, resp = _sides()
    to_resp = init.start()
    assert resp.start() == b""
    to_init = b""
    for byte in to_resp:
        to_init += resp.feed(bytes([byte]))
    to_resp = b""
    for byte in to_init:
        to_resp += init.feed(bytes([byte]))
    assert init.complete and not resp.complete
    first = record.RecordChannel.from_handshake(init.result()).seal(b"\x00" * 8)
    assert resp.feed(to_resp + first) == b""
    assert resp.complete and resp.leftover == first


@pytest.mark.parametrize("which", ["hello", "accept"])
def test_tampered_prologue_breaks_the_handshake(which):
    """[HS-2] [PRE-8] a HELLO or ACCEPT changed in transit: the initiator fails to
    decrypt message 2 (HANDSHAKE_FAILED)."""
    seen_by_resp = (b"PARLEY\x01\x02\x02\x01" + ACCEPT if which == "hello"
                    else HELLO + b"PARLEY\x02\x02")
    init, resp = _sides(resp_prologue=seen_by_resp)
    resp.read_message(init.write_message())
    _expect("HANDSHAKE_FAILED", init.read_message, resp.write_message())


@pytest.mark.parametrize("length", [0, 31, 33, 48, 65535])
def test_message_1_of_the_wrong_length_fails_at_its_length(length):
    """[HS-1] [HS-3] message 1 is exactly 32 bytes (an empty payload); the responder
    fails as soon as the two length bytes arrive."""
    _, resp = _sides()
    _expect("HANDSHAKE_FAILED", resp.feed, struct.pack(">H", length))


def test_message_1_with_a_payload_fails():
    """[HS-3] a message 1 carrying a payload, well framed, is refused."""
    _, resp = _sides()
    hs = noise.HandshakeState(True, PROLOGUE, bytes(32))
    m1 = hs.write_message(b"payload")
    _expect("HANDSHAKE_FAILED", resp.read_message, struct.pack(">H", len(m1)) + m1)


@pytest.mark.parametrize("length", [0, 32, 209])
def test_message_2_below_its_minimum_fails(length):
    """[HS-1] message 2 is at least 32 + 48 + 16 + 114 = 210 bytes."""
    init, _ = _sides()
    init.start()
    _expect("HANDSHAKE_FAILED", init.feed, struct.pack(">H", length))


@pytest.mark.parametrize("length", [0, 24, 177])
def test_message_3_below_its_minimum_fails(length):
    """[HS-1] message 3 is at least 48 + 16 + 114 = 178 bytes."""
    init, resp = _sides()
    init.feed(resp.feed(init.start()))
    _expect("HANDSHAKE_FAILED", resp.feed, struct.pack(">H", length))


def test_framed_message_whose_length_disagrees_with_its_bytes_fails():
    """[CONV-3] [HS-1] a whole framed message must hold exactly its length."""
    init, resp = _sides()
    m1 = init.write_message()
    _expect("HANDSHAKE_FAILED", resp.read_message, m1 + b"\x00")
    _expect("HANDSHAKE_FAILED", resp.read_message, m1[:-1])


@pytest.mark.parametrize("position", [2, 40, 100, -1])
def test_flipped_bit_in_message_2_fails(position):
    """[HS-4] the initiator cannot decrypt message 2: HANDSHAKE_FAILED."""
    init, resp = _sides()
    resp.read_message(init.write_message())
    m2 = bytearray(resp.write_message())
    m2[position] ^= 0x80
    _expect("HANDSHAKE_FAILED", init.read_message, bytes(m2))


@pytest.mark.parametrize("position", [2, 60, -1])
def test_flipped_bit_in_message_3_fails(position):
    """[HS-4]"""
    init, resp = _sides()
    resp.read_message(init.write_message())
    init.read_message(resp.write_message())
    m3 = bytearray(init.write_message())
    m3[position] ^= 0x01
    _expect("HANDSHAKE_FAILED", resp.read_message, bytes(m3))


@pytest.mark.parametrize("low_order", [bytes(32), b"\x01" + bytes(31)])
def test_low_order_ephemeral_fails_the_handshake(low_order):
    """[CONV-4] a low-order ephemeral key (X25519 gives zero) closes with
    HANDSHAKE_FAILED at either side, never an unhandled error."""
    _, resp = _sides()
    _expect("HANDSHAKE_FAILED", resp.feed, b"\x00\x20" + low_order)
    init, _ = _sides()
    init.start()
    message2 = low_order + bytes(48 + 114 + 16)
    _expect("HANDSHAKE_FAILED", init.feed, struct.pack(">H", len(message2)) + message2)


@pytest.mark.parametrize("size", [8, 400])
def test_record_instead_of_message_3_fails(size):
    """[HS-10] after message 2 the responder accepts only message 3: a record in its
    place has the wrong length or does not decrypt."""
    init, resp = _sides()
    init.feed(resp.feed(init.start()))
    sealed = record.seal(init.result().c1, b"\x00" * size)
    _expect("HANDSHAKE_FAILED", resp.feed, sealed)


def test_reflection_in_a_live_handshake():
    """[HS-7] a node that dials itself (same identity both ends): the initiator sees its
    own key in message 2 and closes with REFLECTION."""
    init, resp = _sides(resp_id=ALICE)
    resp.read_message(init.write_message())
    _expect("REFLECTION", init.read_message, resp.write_message())


def test_responder_sees_reflection_in_message_3():
    """[HS-7] the responder checks message 3 the same way. (The initiator here carries
    the responder's identity but checks reflection against another key, so that it
    gets as far as sending message 3.)"""
    init, resp = _sides(init_id=BOB)
    init.identity = ALICE
    resp.read_message(init.write_message())
    init.read_message(resp.write_message())
    _expect("REFLECTION", resp.read_message, init.write_message())


def test_limits_below_floor_in_a_live_handshake():
    """[HS-8] a responder advertising max_tags 255."""
    init, resp = _sides(resp_fields={"max_tags": 255})
    resp.read_message(init.write_message())
    _expect("LIMITS_BELOW_FLOOR", init.read_message, resp.write_message())


def test_identity_payload_copied_from_another_session_fails():
    """[HS-6] the responder replays a payload signed for a different static key."""
    init, resp = _sides()
    resp.payload = _payload(BOB, static=STATIC.public)
    resp.read_message(init.write_message())
    err = _expect("BAD_SIGNATURE", init.read_message, resp.write_message())
    assert err.rule == "ID-5"


def test_ephemeral_keys_are_fresh_for_every_handshake():
    """[HS-12] without explicit keys, two handshakes use different ephemerals."""
    first, _ = _sides()
    second, _ = _sides()
    assert first.start()[2:] != second.start()[2:]


# --- properties --------------------------------------------------------------------------

u16 = st.integers(0, 2**16 - 1)
u32 = st.integers(0, 2**32 - 1)


@settings(max_examples=200, deadline=None)
@given(minor=u16, capabilities=u32, max_tags=u16, max_message=u32,
       reassembly_budget=u32, listen_port=u16,
       extensions=st.lists(st.tuples(u16, st.binary(max_size=40)), max_size=5))
def test_payload_decode_inverts_encode(**fields):
    """[HS-5] [HS-9] any fields and extensions survive encode then decode."""
    p = _payload(**fields)
    assert IdentityPayload.decode(p.encode()) == p


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_payload_bytes_raise_only_registry_errors(data):
    """[CONV-4] arbitrary bytes as an identity payload give a §2.2 close reason or a
    payload, never another exception."""
    try:
        read_identity_payload(data, STATIC.public, BOB.public_key)
    except ParleyError as err:
        assert err.name in ("PAYLOAD_MALFORMED", "LIMITS_BELOW_FLOOR", "REFLECTION",
                            "BAD_SIGNATURE")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_random_handshake_bytes_close_with_handshake_failed(data, as_initiator):
    """[CONV-4] [HS-1] [HS-4] random bytes instead of message 1 or 2 never crash a side:
    the only outcome is HANDSHAKE_FAILED or waiting for more bytes."""
    init, resp = _sides()
    side = init if as_initiator else resp
    side.start()
    try:
        side.feed(data)
    except ParleyError as err:
        assert err.name == "HANDSHAKE_FAILED"
    assert not side.complete


def test_handshake_deadline_closes_with_timeout_after_ten_seconds():
    """[PRE-7] [HS-11] preface and handshake must finish within HANDSHAKE_TIMEOUT."""
    check_deadline(100.0, 100.0)
    check_deadline(100.0, 109.999)
    check_deadline(100.0, 90.0)  # a clock stepped back
    with pytest.raises(ParleyError) as e:
        check_deadline(100.0, 110.0)
    assert e.value.name == "TIMEOUT"
