"""Chapters 01, 04, 05: parley/codec.py and parley/session.py against every golden vector
of preface.json, frame_header.json, messages.json, session.json and the record_plaintext
groups of records.json, plus property tests on random input.

A valid case decodes to exactly its `fields` and re-encodes to exactly its `hex`; an
invalid case fails with exactly its registry name.
"""

import os
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley import codec, session, vectors
from parley.codec import from_vector, to_vector
from parley.errors import NACK_CODES, ParleyError
from parley.session import Session

VECTOR_GROUPS = [
    ("preface", "preface"),
    ("preface", "negotiate"),
    ("frame_header", "frame_header"),
    ("messages", "message"),
    ("records", "record_plaintext"),
    ("session", "session"),
]


def vector_cases(name, group_type):
    """(group, test) pairs, or none when the file is missing (test_vector_file_has_cases
    then fails)."""
    if not os.path.exists(os.path.join(vectors.VECTORS_DIR, name + ".json")):
        return []
    return vectors.cases(name, group_type)


def vector_params(name, group_type):
    """The cases as pytest params named like "message-12"."""
    return [pytest.param(case, id=vectors.case_id(case))
            for case in vector_cases(name, group_type)]


def expect_error(name, fn, *args, **kwargs):
    with pytest.raises(ParleyError) as err:
        fn(*args, **kwargs)
    assert err.value.name == name, err.value
    return err.value


def in_force(params):
    """A group's `compression` param (a bool, or null / a setting name) as a bool."""
    return bool(params.get("compression"))


@pytest.mark.parametrize("name, group_type", VECTOR_GROUPS,
                         ids=[f"{n}-{t}" for n, t in VECTOR_GROUPS])
def test_vector_file_has_cases(name, group_type):
    """Every vector file this module covers exists and has cases of each group type."""
    assert vector_cases(name, group_type), f"vectors/{name}.json has no {group_type} cases"


# --- preface.json ----------------------------------------------------------------------

@pytest.mark.parametrize("case", vector_params("preface", "preface"))
def test_preface_vector(case):
    """[PRE-1]..[PRE-6] a preface message decodes as the responder or initiator does."""
    group, test = case
    data = bytes.fromhex(test["hex"])
    params = {**group.get("params", {}), **test.get("params", {})}
    if params["expect"] == "hello":
        decode = codec.decode_hello
        args = ()
    else:
        decode = codec.decode_answer
        args = (params.get("offered"),)
    if test["result"] == "invalid":
        expect_error(test["error"], decode, data, *args)
        return
    fields = decode(data, *args)
    assert fields == test["fields"]
    assert codec.encode_preface(fields).hex() == test["hex"]


@pytest.mark.parametrize("case", vector_params("preface", "negotiate"))
def test_negotiate_vector(case):
    """[PRE-2]..[PRE-5] the responder sends exactly `answer`, and closes on an error."""
    group, test = case
    params = {**group.get("params", {}), **test.get("params", {})}
    result = codec.negotiate(bytes.fromhex(test["hex"]), params["responder_majors"])
    assert result.answer.hex() == test["answer"]
    if test["result"] == "invalid":
        assert result.error == test["error"]
        assert result.major is None
    else:
        assert result.error is None
        assert result.answer == codec.encode_accept(result.major)
        if "fields" in test:
            assert codec.decode_answer(result.answer) == test["fields"]


def test_bad_magic_is_decided_at_the_first_wrong_byte():
    """[PRE-2], [PRE-9] a wrong byte anywhere in the magic, even in a short input, is
    PREFACE_BAD_MAGIC, and nothing is sent back."""
    for data in (b"X", b"PARLEX\x01\x01\x01", b"GET / HTTP/1.1\r\n", b"PA\x00"):
        expect_error("PREFACE_BAD_MAGIC", codec.decode_hello, data)
        expect_error("PREFACE_BAD_MAGIC", codec.decode_answer, data)
        assert codec.negotiate(data, [1]).answer == b""


def test_refuse_lists_the_responder_majors_strictly_descending():
    """[PRE-5] REFUSE lists every major the responder supports, strictly descending."""
    result = codec.negotiate(codec.encode_hello([9, 7]), [1, 3, 2])
    assert result.answer == codec.encode_refuse([3, 2, 1])
    assert result.error == "NO_COMMON_MAJOR"


def test_accept_names_the_highest_common_major():
    """[PRE-4] ACCEPT carries the highest common major."""
    result = codec.negotiate(codec.encode_hello([5, 3, 2, 1]), [1, 2, 3, 4])
    assert (result.answer, result.major, result.error) == (codec.encode_accept(3), 3, None)


def test_accept_of_a_major_not_offered_is_a_bad_choice():
    """[PRE-6] the initiator closes on an ACCEPT of a major it did not offer."""
    expect_error("PREFACE_BAD_CHOICE", codec.decode_answer, codec.encode_accept(2), [3, 1])
    assert codec.decode_answer(codec.encode_accept(3), [3, 1]) == \
        {"kind": "ACCEPT", "major": 3}


# --- frame_header.json -----------------------------------------------------------------

@pytest.mark.parametrize("case", vector_params("frame_header", "frame_header"))
def test_frame_header_vector(case):
    """[FRAME-2]..[FRAME-7], [TAG-3] header checks in the order of §4.1."""
    group, test = case
    data = bytes.fromhex(test["hex"])
    params = {**group.get("params", {}), **test.get("params", {})}
    if test["result"] == "invalid":
        expect_error(test["error"], codec.decode_frame_header, data, in_force(params))
        return
    fields = codec.decode_frame_header(data, in_force(params))
    assert fields == test["fields"]
    assert codec.encode_frame_header(**fields).hex() == test["hex"]


def test_header_checks_follow_the_order_of_section_4_1():
    """[FRAME-9] length, then reserved bits, then flag rules, then opcode decide first."""
    too_long = codec.FRAME_MAX_PAYLOAD + 1
    header = {"opcode": 200, "flags": 0xF7, "tag": 0, "length": too_long}
    expect_error("FRAME_OVERRUN", codec.check_frame_header, header, False, room=10)
    expect_error("FRAME_TOO_LARGE", codec.check_frame_header, header, False)
    header["length"] = 0
    expect_error("BAD_FLAGS", codec.check_frame_header, header, False)
    header["flags"] = codec.FLAG_RESPONSE
    expect_error("BAD_FLAGS", codec.check_frame_header, header, False)
    header["flags"] = codec.FLAG_MORE
    expect_error("UNKNOWN_OPCODE", codec.check_frame_header, header, False)
    header["opcode"] = codec.OP_PING
    expect_error("BAD_FRAGMENT", codec.check_frame_header, header, False)


def test_compressed_flag_needs_compression_in_force():
    """[FRAME-6] COMPRESSED without a setting in force is BAD_FLAGS."""
    header = {"opcode": codec.OP_PING, "flags": codec.FLAG_COMPRESSED, "tag": 1,
              "length": 3}
    expect_error("BAD_FLAGS", codec.check_frame_header, header, False)
    codec.check_frame_header(header, True)


def test_abort_rules():
    """[FRAME-4] ABORT with MORE or COMPRESSED is BAD_FLAGS; with a payload MALFORMED."""
    ping = codec.OP_PING
    for flags in (codec.FLAG_ABORT | codec.FLAG_MORE,
                  codec.FLAG_ABORT | codec.FLAG_COMPRESSED):
        header = {"opcode": ping, "flags": flags, "tag": 1, "length": 0}
        expect_error("BAD_FLAGS", codec.check_frame_header, header, True)
    header = {"opcode": ping, "flags": codec.FLAG_ABORT, "tag": 1, "length": 1}
    expect_error("MALFORMED", codec.check_frame_header, header, False)
    header = {"opcode": codec.OP_ACK, "flags": codec.FLAG_ABORT | codec.FLAG_RESPONSE,
              "tag": 1, "length": 0}
    codec.check_frame_header(header, False)


# --- messages.json ---------------------------------------------------------------------

@pytest.mark.parametrize("case", vector_params("messages", "message"))
def test_message_vector(case):
    """[MSG-1]..[MSG-4], [ACK-1], [ACK-2], [NACK-1], [PING-2], [BYE-2], [ADMIN-2],
    [ADMIN-3], [ADMIN-6], [OPT-1], [CONV-1]..[CONV-3]: one whole frame as a receiver
    decodes it."""
    group, test = case
    data = bytes.fromhex(test["hex"])
    params = {**group.get("params", {}), **test.get("params", {})}
    if test["result"] == "invalid":
        expect_error(test["error"], codec.decode_message, data, in_force(params))
        return
    fields = codec.decode_message(data, in_force(params))
    assert to_vector(fields) == test["fields"]
    assert codec.encode_message(from_vector(test["fields"])).hex() == test["hex"]


# Strict UTF-8 ([CONV-1]): what Python's strict decoder must reject and accept.
BAD_UTF8 = {
    "overlong NUL": "c080",
    "overlong slash": "c0af",
    "overlong 2-byte lead C1": "c1bf",
    "overlong 3-byte": "e08080",
    "overlong 3-byte U+07FF": "e09fbf",
    "overlong 4-byte": "f0808080",
    "overlong 4-byte U+FFFF": "f08fbfbf",
    "surrogate U+D800": "eda080",
    "surrogate U+DFFF": "edbfbf",
    "surrogate pair, CESU-8": "eda0bdedb880",
    "above U+10FFFF": "f4908080",
    "lead F5": "f5808080",
    "lead FF": "ff",
    "lone continuation": "80",
    "truncated 2-byte": "c3",
    "truncated 3-byte": "e282",
    "truncated 4-byte": "f09f98",
    "truncated before ASCII": "e28241",
}
GOOD_UTF8 = {
    "empty": "",
    "ASCII": "6869",
    "U+0080": "c280",
    "U+07FF": "dfbf",
    "U+0800": "e0a080",
    "U+D7FF": "ed9fbf",
    "U+E000": "ee8080",
    "U+FFFD": "efbfbd",
    "U+FFFF": "efbfbf",
    "U+10000": "f0908080",
    "U+10FFFF": "f48fbfbf",
    "NUL": "00",
}


@pytest.mark.parametrize("raw", BAD_UTF8.values(), ids=BAD_UTF8.keys())
def test_invalid_utf8_in_a_request_is_bad_utf8(raw):
    """[CONV-1], [BYE-2] a BYE whose text is not strict UTF-8 is answered BAD_UTF8; a NACK
    with such text is discarded with BAD_UTF8 too."""
    text = bytes.fromhex(raw)
    bye = codec.encode_frame(codec.OP_BYE, 0, 1, codec.encode_bye({"reason": 0,
                                                                    "text": text}))
    expect_error("BAD_UTF8", codec.decode_message, bye)
    nack = codec.encode_frame(codec.OP_NACK, codec.FLAG_RESPONSE, 1, codec.encode_nack(
        {"req_opcode": codec.OP_PING, "code": 1, "text": text}))
    expect_error("BAD_UTF8", codec.decode_message, nack)


@pytest.mark.parametrize("raw", GOOD_UTF8.values(), ids=GOOD_UTF8.keys())
def test_valid_utf8_edges_are_accepted(raw):
    """[CONV-1] the edges of RFC 3629 (U+D7FF, U+E000, U+10FFFF, ...) are valid."""
    text = bytes.fromhex(raw)
    payload = codec.encode_bye({"reason": 2, "text": text})
    assert codec.decode_bye(payload) == {"reason": 2, "text": text.decode("utf-8")}


def test_text_length_is_checked_before_utf8():
    """[BYE-2] a text over 1024 bytes is MALFORMED even when it is also bad UTF-8."""
    payload = codec.encode_bye({"reason": 0, "text": b"\xff" * (codec.TEXT_MAX + 1)})
    expect_error("MALFORMED", codec.decode_bye, payload)
    payload = codec.encode_bye({"reason": 0, "text": "é" * (codec.TEXT_MAX // 2)})
    assert len(codec.decode_bye(payload)["text"]) == codec.TEXT_MAX // 2


def test_admin_request_on_tag_0_is_malformed():
    """[ADMIN-2] PEERS, STATS and SHUTDOWN need an answer: on tag 0 they are MALFORMED."""
    for opcode in codec.ADMIN_OPCODES:
        expect_error("MALFORMED", codec.decode_message, codec.encode_frame(opcode, 0, 0))
        expect_error("MALFORMED", codec.decode_message,
                     codec.encode_frame(opcode, 0, 1, b"\x00"))
        assert codec.decode_message(codec.encode_frame(opcode, 0, 1))["body"] == {}


def test_draft_opcodes_are_not_implemented():
    """[MSG-4] a request with a draft opcode is NOT_IMPLEMENTED; an ACK to one is opaque."""
    for opcode in codec.DRAFT_OPCODES:
        expect_error("NOT_IMPLEMENTED", codec.decode_message,
                     codec.encode_frame(opcode, 0, 1, b"anything"))
        ack = codec.encode_frame(codec.OP_ACK, codec.FLAG_RESPONSE, 1,
                                 bytes([opcode]) + b"opaque")
        assert codec.decode_message(ack)["body"] == \
            {"req_opcode": opcode, "data": b"opaque"}


def test_set_connection_opt_ranges():
    """[OPT-1] reserved option UNSUPPORTED; setting above 4 MALFORMED; not 2 bytes
    MALFORMED."""
    expect_error("UNSUPPORTED", codec.decode_set_connection_opt, b"\x02\x03")
    expect_error("MALFORMED", codec.decode_set_connection_opt, b"\x00\x05")
    expect_error("MALFORMED", codec.decode_set_connection_opt, b"\x00")
    expect_error("MALFORMED", codec.decode_set_connection_opt, b"\x00\x03\x00")
    assert codec.decode_set_connection_opt(b"\x01\x04") == {"option": 1, "setting": 4}


def test_nack_field_ranges():
    """[NACK-1], [NACK-2] code 0 is MALFORMED; unknown codes and any req_opcode are valid
    (0 and 1 report a request frame that carried ACK or NACK, [FRAME-5])."""
    def nack(req_opcode, code, text=b""):
        return codec.encode_nack({"req_opcode": req_opcode, "code": code, "text": text})
    assert codec.decode_nack(nack(0, 5))["req_opcode"] == 0
    assert codec.decode_nack(nack(1, 5))["req_opcode"] == 1
    expect_error("MALFORMED", codec.decode_nack, nack(2, 0))
    expect_error("MALFORMED", codec.decode_nack, nack(2, 1) + b"x")
    expect_error("MALFORMED", codec.decode_nack, nack(2, 1, b"x" * 1025))
    assert codec.decode_nack(nack(200, 65535, "?")) == \
        {"req_opcode": 200, "code": 65535, "text": "?"}


def test_peer_and_counter_lists():
    """[ADMIN-3], [ADMIN-6] family 4 or 6, reserved peer flags 0, counts that agree."""
    peer = {"node_id": bytes(range(32)), "family": 6, "address": bytes(16), "port": 1,
            "flags": 1}
    body = codec.encode_peer_list([peer])
    assert codec.decode_ack(b"\x0b" + body)["peers"] == [peer]
    for bad in ({**peer, "family": 5}, {**peer, "flags": 2}):
        expect_error("MALFORMED", codec.decode_ack, b"\x0b" + codec.encode_peer_list([bad]))
    expect_error("MALFORMED", codec.decode_ack, b"\x0b" + body[:-1])
    counters = [{"id": 1, "value": 2**64 - 1}, {"id": 999, "value": 0}]
    body = codec.encode_counter_list(counters)
    assert codec.decode_ack(b"\x0d" + body)["counters"] == counters
    expect_error("MALFORMED", codec.decode_ack, b"\x0d" + body + b"\x00")
    expect_error("MALFORMED", codec.decode_ack, b"\x0d\x00\x03" + body[2:])


# --- records.json: record plaintexts ---------------------------------------------------

@pytest.mark.parametrize("case", vector_params("records", "record_plaintext"))
def test_record_plaintext_vector(case):
    """[FRAME-1], [REC-5] a record plaintext is whole frames, the last ending at its end."""
    _, test = case
    data = bytes.fromhex(test["hex"])
    if test["result"] == "invalid":
        expect_error(test["error"], codec.split_record_plaintext, data)
        return
    frames = codec.split_record_plaintext(data)
    assert to_vector({"frames": frames}) == test["fields"]
    assert codec.encode_record_plaintext(
        from_vector(test["fields"])["frames"]).hex() == test["hex"]


def test_a_frame_past_the_record_end_closes():
    """[REC-5] a header or payload that runs past the plaintext is FRAME_OVERRUN."""
    frame = codec.encode_frame(codec.OP_PING, 0, 1, b"abc")
    for plaintext in (frame[:-1], frame + frame[:7], b"", frame + frame[:8]):
        expect_error("FRAME_OVERRUN", codec.split_record_plaintext, plaintext)
    assert len(codec.split_record_plaintext(frame * 3)) == 3


# --- session.json ----------------------------------------------------------------------

@pytest.mark.parametrize("case", vector_params("session", "session"))
def test_session_vector(case):
    """[FRAME-9] the receiver applies §4.5 in order: one event per frame, exactly."""
    group, test = case
    params = {**group.get("params", {}), **test.get("params", {})}
    session = Session.from_params(params)
    events = [to_vector(session.receive_frame(bytes.fromhex(frame)))
              for frame in test["frames"]]
    assert events == test["events"]


def test_a_record_with_an_overrun_is_rejected_whole():
    """[REC-5] the framing of the whole plaintext is checked first: a frame that overruns
    closes the connection, no frame of that record is handled, and it stays closed."""
    ping = codec.encode_frame(codec.OP_PING, 0, 1, b"x")
    session = Session()
    events = session.receive_plaintext(ping + ping[:5])
    assert events == [{"event": "close", "reason": "FRAME_OVERRUN"}]
    assert not session.remote_requests
    assert session.receive_frame(ping) == {"event": "close", "reason": "FRAME_OVERRUN"}
    assert Session().receive_plaintext(b"") == [{"event": "close",
                                                 "reason": "FRAME_OVERRUN"}]


def test_answering_a_request_frees_its_tag():
    """[TAG-2], [TAG-5] a delivered request keeps its tag until the caller answers it."""
    ping = codec.encode_frame(codec.OP_PING, 0, 7, b"x")
    session = Session()
    assert session.receive_frame(ping)["event"] == "message"
    assert session.receive_frame(ping)["code"] == "TAG_IN_USE"
    session.request_answered(7)
    assert session.receive_frame(ping)["event"] == "message"


def test_a_response_is_accepted_only_for_our_outstanding_requests():
    """[TAG-6] a response to a tag we did not register is ignored; to one we did, it is
    a response, and the tag is freed."""
    ack = codec.encode_frame(codec.OP_ACK, codec.FLAG_RESPONSE, 4, b"\x02hi")
    session = Session()
    assert session.receive_frame(ack) == {"event": "ignored", "tag": 4}
    session.request_sent(4)
    assert session.receive_frame(ack) == {"event": "response", "tag": 4, "opcode": 0,
                                          "body": {"req_opcode": 2, "data": b"hi"}}
    assert session.receive_frame(ack)["event"] == "ignored"


# --- properties ------------------------------------------------------------------------

u16 = st.integers(0, 0xFFFF)
texts = st.one_of(st.text(max_size=40),
                  st.text(min_size=300, max_size=400)).filter(
    lambda t: len(t.encode("utf-8")) <= codec.TEXT_MAX)
setopt_bodies = st.fixed_dictionaries({"option": st.integers(0, 1),
                                       "setting": st.integers(0, codec.SETTING_MAX)})
ping_bodies = st.fixed_dictionaries({"data": st.binary(max_size=codec.PING_MAX)})
peers = st.lists(st.integers(0, 1).flatmap(lambda v6: st.fixed_dictionaries({
    "node_id": st.binary(min_size=32, max_size=32),
    "family": st.just(6 if v6 else 4),
    "address": st.binary(min_size=16 if v6 else 4, max_size=16 if v6 else 4),
    "port": u16,
    "flags": st.integers(0, 1),
})), max_size=5)
counters = st.lists(st.fixed_dictionaries({"id": u16,
                                           "value": st.integers(0, 2**64 - 1)}),
                    max_size=12)
draft_opcodes = st.sampled_from(sorted(codec.DRAFT_OPCODES))


def _ack(req_opcode, **more):
    return st.fixed_dictionaries({"req_opcode": st.just(req_opcode), **more})


ack_bodies = st.one_of(
    _ack(codec.OP_PING, data=st.binary(max_size=codec.PING_MAX)),
    setopt_bodies.map(lambda b: {"req_opcode": codec.OP_SET_CONNECTION_OPT, **b}),
    _ack(codec.OP_BYE),
    _ack(codec.OP_SHUTDOWN),
    _ack(codec.OP_PEERS, peers=peers),
    _ack(codec.OP_STATS, counters=counters),
    draft_opcodes.flatmap(lambda op: _ack(op, data=st.binary(max_size=50))),
)
nack_bodies = st.fixed_dictionaries({"req_opcode": st.integers(2, 255),
                                     "code": st.integers(1, 0xFFFF), "text": texts})
bye_bodies = st.fixed_dictionaries({"reason": u16, "text": texts})


def _message(opcode, flags, body, tags=u16):
    return st.fixed_dictionaries({"opcode": st.just(opcode), "flags": st.just(flags),
                                  "tag": tags, "body": body})


valid_messages = st.one_of(
    _message(codec.OP_PING, 0, ping_bodies),
    _message(codec.OP_SET_CONNECTION_OPT, 0, setopt_bodies),
    _message(codec.OP_BYE, 0, bye_bodies),
    st.sampled_from(sorted(codec.ADMIN_OPCODES)).flatmap(
        lambda op: _message(op, 0, st.just({}), st.integers(1, 0xFFFF))),
    _message(codec.OP_ACK, codec.FLAG_RESPONSE, ack_bodies),
    _message(codec.OP_NACK, codec.FLAG_RESPONSE, nack_bodies),
)


@given(valid_messages, st.booleans())
def test_decode_inverts_encode(message, compressed):
    """[MSG-3], [OPT-4] decode(encode(m)) == m for every valid message, compressed too."""
    if compressed:
        message = {**message, "flags": message["flags"] | codec.FLAG_COMPRESSED}
    frame = codec.encode_message(message)
    assert codec.decode_message(frame, compression=compressed) == message


@given(st.binary(max_size=80), st.booleans())
def test_decoders_raise_only_parley_errors(data, compression):
    """[CONV-4] bad input never gets anything but a registry error from a decoder."""
    calls = [
        lambda: codec.decode_hello(data),
        lambda: codec.decode_answer(data, [1]),
        lambda: codec.negotiate(data, [1, 2]),
        lambda: codec.decode_frame_header(data, compression),
        lambda: codec.split_record_plaintext(data),
        lambda: codec.decode_message(data, compression),
        lambda: codec.decode_ack(data),
        lambda: codec.decode_nack(data),
        lambda: codec.decode_bye(data),
        lambda: codec.decode_set_connection_opt(data),
        lambda: codec.decompress(data, 100),
        lambda: Session().receive_frame(data),
        lambda: Session(compression="zlib").receive_plaintext(data),
    ]
    for call in calls:
        try:
            call()
        except ParleyError:
            pass


headers = st.fixed_dictionaries({
    "opcode": st.sampled_from([0, 1, 2, 3, 4, 10, 11, 13, 18, 255]),
    "flags": st.one_of(st.integers(0, 15), st.integers(0, 255)),
    "tag": st.sampled_from([0, 1, 2, 3]),
})


@st.composite
def frames(draw):
    """A frame with random header fields; its payload sometimes starts with a total."""
    header = draw(headers)
    payload = draw(st.binary(max_size=24))
    if draw(st.booleans()):
        payload = draw(st.integers(0, 40)).to_bytes(4, "big") + payload
    if draw(st.booleans()):
        payload = zlib.compress(payload)
    return codec.encode_frame(header["opcode"], header["flags"], header["tag"], payload)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames(), max_size=30), st.booleans(), st.booleans())
def test_session_gives_one_event_per_frame_and_keeps_its_books(stream, compression, admin):
    """[FRAME-9], [CONV-4], [FRAG-8] any frame sequence gets one event per frame, and the
    reserved bytes are always the totals of the messages in progress."""
    session = Session(max_tags=2, max_message=30, reassembly_budget=50,
                      compression="zlib" if compression else None, admin=admin,
                      outstanding=[1, 2])
    for frame in stream:
        event = session.receive_frame(frame)
        assert event["event"] in ("message", "response", "partial", "nack", "ignored",
                                  "close")
        if event["event"] == "nack":
            assert event["code"] in NACK_CODES
        assert session.reserved == sum(m.total for m in session.in_progress.values())
        assert session.reserved <= session.reassembly_budget
        assert len(session.remote_requests) <= session.max_tags


@given(bye_bodies, st.integers(1, 0xFFFF), st.integers(5, 300), st.booleans())
def test_fragmented_message_is_delivered_whole(body, tag, chunk, compressed):
    """[FRAG-1], [FRAG-2], [FRAG-8], [OPT-4] a message in fragments of any size is
    delivered once, on its last fragment, with a PING interleaved between fragments."""
    payload = codec.encode_bye(body)
    flags = 0
    if compressed:
        payload, flags = codec.compress(payload), codec.FLAG_COMPRESSED
    session = Session(compression="zlib")
    fragments = codec.encode_fragments(codec.OP_BYE, flags, tag, payload, chunk)
    ping = codec.encode_frame(codec.OP_PING, 0, 0, b"hi")
    for frame in fragments[:-1]:
        assert session.receive_frame(frame) == {"event": "partial", "tag": tag}
        assert session.receive_frame(ping)["event"] == "message"
    event = session.receive_frame(fragments[-1])
    assert event == {"event": "message", "tag": tag, "opcode": codec.OP_BYE,
                     "flags": codec.decode_frame_header(fragments[0], True)["flags"],
                     "body": body}
    assert session.reserved == 0 and not session.in_progress


def test_sender_respects_remote_limits_and_bye():
    """[LIMIT-2] no more than the remote's max_tags requests outstanding and no message
    above its max_message (the floors until it advertised); [BYE-3] no request after BYE."""
    s = session.Session()
    for tag in range(1, codec.MIN_MAX_TAGS + 1):
        s.request_sent(tag)
    with pytest.raises(ParleyError) as e:
        s.request_sent(1000)
    assert e.value.name == "TOO_MANY_TAGS"
    s.check_send(codec.MIN_MAX_MESSAGE)
    with pytest.raises(ParleyError) as e:
        s.check_send(codec.MIN_MAX_MESSAGE + 1)
    assert e.value.name == "MESSAGE_TOO_LARGE"
    s.set_remote_limits(300, 2 * codec.MIN_MAX_MESSAGE)
    s.request_sent(1000)
    s.check_send(2 * codec.MIN_MAX_MESSAGE)
    s.sent_bye()
    with pytest.raises(ValueError):
        s.request_sent(1001)


def test_acknowledged_compression_is_in_force_for_the_requester():
    """[OPT-3] once our SET_CONNECTION_OPT(0, zlib) is ACKed, compressed messages decode."""
    s = session.Session(outstanding=[1])
    ack = codec.encode_frame(codec.OP_ACK, codec.FLAG_RESPONSE, 1,
                             bytes([codec.OP_SET_CONNECTION_OPT, 0, 3]))
    assert s.receive_frame(ack)["event"] == "response"
    ping = codec.encode_frame(codec.OP_PING, codec.FLAG_COMPRESSED, 2, zlib.compress(b"hi"))
    ev = s.receive_frame(ping)
    assert ev["event"] == "message" and ev["body"] == {"data": b"hi"}
