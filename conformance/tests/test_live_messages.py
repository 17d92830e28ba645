"""Chapter 05 live: message payloads, PING and BYE ([MSG-1]..[MSG-4], [ACK-1], [ACK-2],
[NACK-1], [PING-1], [PING-2], [BYE-1], [BYE-2], [CONV-1]..[CONV-3]).

Every case of vectors/messages.json is sent live in an authenticated session (the header
group is in test_live_frames.py): requests get the NACK the vector names, or their answer;
responses (the peer has no request of its own outstanding) are ignored, never answered
([TAG-6]). Admin operations: test_live_messages_admin.py; options:
test_live_messages_options.py.
"""

import pytest

from parley import codec, vectors
from parley.harness.oracle import replay
from parley.harness.outcomes import check, not_run


def _message_cases():
    out = []
    for group, test in vectors.cases("messages", "message"):
        if "header" in group["comment"]:
            continue
        marks = [pytest.mark.reqs(*test["reqs"])]
        out.append(pytest.param(test, id=f"messages-{test['tcId']}", marks=marks))
    return out


@pytest.mark.reqs("MSG-3", "MSG-4", "CONV-1", "CONV-2", "CONV-3", "PING-1", "PING-2",
                  "BYE-1", "BYE-2", "ACK-2", "NACK-2", "ADMIN-1", "ADMIN-2", "OPT-1",
                  "TAG-6", "ERR-1")
@pytest.mark.parametrize("case", _message_cases())
def test_message_vector_is_answered_as_its_layout_requires(live, case):
    """[MSG-3] [CONV-1] [CONV-2] [CONV-3] a request breaking its layout gets the NACK its
    vector names ([ERR-1]); a valid one its answer; [ACK-2] [TAG-6] a response, valid or
    not, is never answered."""
    s = live.open()
    s.note(f"vector messages#{case['tcId']}: {case['comment']} ({case['result']} "
           f"{case.get('error', '')})")
    replay(s, live.model(s), [bytes.fromhex(case["hex"])], case["reqs"][0],
           live.manifest.compression_settings)


@pytest.mark.reqs("PING-1", "ACK-1")
@pytest.mark.parametrize("size", [0, 1, 63, 64])
def test_ping_is_acked_with_its_data_echoed(live, size):
    """[PING-1] a PING with 0..64 bytes is ACKed, [ACK-1] req_opcode PING, data echoed
    byte for byte."""
    s = live.open()
    data = bytes((i * 37 + size) & 0xFF for i in range(size))
    tag = s.ping(data)
    body = s.expect_ack(tag, "PING-1", codec.OP_PING)
    check(body["data"] == data, "PING-1", f"echo {body['data'].hex()} for {data.hex()}")


@pytest.mark.reqs("PING-2", "ERR-2")
@pytest.mark.parametrize("size", [65, 1000])
def test_ping_over_64_bytes_is_nacked_malformed(live, size):
    """[PING-2] PING data over 64 bytes: NACK MALFORMED; the connection survives."""
    s = live.open()
    tag = s.ping(bytes(size))
    s.expect_nack(tag, "MALFORMED", "PING-2", req_opcode=codec.OP_PING)
    s.roundtrip("ERR-2")


@pytest.mark.reqs("MSG-4")
@pytest.mark.parametrize("opcode", sorted(codec.DRAFT_OPCODES),
                         ids=[codec.OPCODE_NAMES[o] for o in sorted(codec.DRAFT_OPCODES)])
def test_draft_opcode_is_nacked_not_implemented_and_connection_survives(live, opcode):
    """[MSG-4] an opcode of a draft chapter the peer does not claim: NACK NOT_IMPLEMENTED;
    the connection survives."""
    if opcode in live.manifest.draft_opcodes:
        not_run(f"the manifest claims the chapter of opcode {opcode}; the suite has no tests "
                "for draft chapters yet")
    s = live.open()
    tag = s.request(opcode, b"draft body")
    s.expect_nack(tag, "NOT_IMPLEMENTED", "MSG-4", req_opcode=opcode)
    s.roundtrip("ERR-2")


@pytest.mark.reqs("MSG-2", "MSG-3", "FRAME-6")
def test_invalid_request_has_no_effect_besides_its_nack(live):
    """[MSG-2] SET_CONNECTION_OPT zlib with a trailing byte: NACK MALFORMED, and no
    compression is in force afterwards (a COMPRESSED frame then gets BAD_FLAGS,
    [FRAME-6])."""
    s = live.open()
    tag = s.request(codec.OP_SET_CONNECTION_OPT, bytes([0, codec.SETTING_ZLIB, 0]))
    s.expect_nack(tag, "MALFORMED", "MSG-3", req_opcode=codec.OP_SET_CONNECTION_OPT)
    tag = s.request(codec.OP_PING, codec.compress(b"zip"), flags=codec.FLAG_COMPRESSED)
    s.expect_nack(tag, "BAD_FLAGS", "MSG-2", req_opcode=codec.OP_PING)


def bye(reason=codec.BYE_NORMAL, text="bye"):
    return codec.encode_bye({"reason": reason, "text": text})


@pytest.mark.reqs("BYE-1")
def test_bye_is_acked_and_then_the_connection_closed(live):
    """[BYE-1] a valid BYE on a non-zero tag: ACK (req_opcode BYE), then close."""
    s = live.open()
    tag = s.request(codec.OP_BYE, bye())
    s.expect_ack(tag, "BYE-1", codec.OP_BYE)
    s.expect_close("BYE-1", what="close after the BYE's ACK")


@pytest.mark.reqs("BYE-1")
def test_bye_on_tag_0_closes_without_an_ack(live):
    """[BYE-1] [TAG-3] a BYE on tag 0 gets no ACK; the peer closes."""
    s = live.open()
    s.request(codec.OP_BYE, bye(codec.BYE_SHUTDOWN, "tag zero"), tag=0)
    s.expect_close("BYE-1", what="close after a tag-0 BYE")
    check(not [e for e in s.inbox if e["event"] == "response"], "TAG-3",
          f"a tag-0 BYE was answered: {s.inbox}")


@pytest.mark.reqs("BYE-1", "TAG-2")
def test_bye_answers_what_is_owed_before_closing(live):
    """[BYE-1] PINGs then a BYE in one record: the PINGs' ACKs (owed) and the BYE's ACK
    all arrive before the close."""
    s = live.open()
    frames = [codec.encode_frame(codec.OP_PING, 0, tag, b"owed") for tag in (1, 2, 3)]
    frames.append(codec.encode_frame(codec.OP_BYE, 0, 4, bye(77, "other reason")))
    s.send_frames(frames)
    for tag in (1, 2, 3):
        s.expect_ack(tag, "BYE-1", codec.OP_PING)
    s.expect_ack(4, "BYE-1", codec.OP_BYE)
    s.expect_close("BYE-1", what="close after answering everything owed")


@pytest.mark.reqs("BYE-2", "CONV-1", "ERR-2")
@pytest.mark.parametrize("payload,code", [
    (codec.encode_bye({"reason": 0, "text": "x"}) + b"!", "MALFORMED"),
    (b"\x00\x00" + codec.encode_text(b"\xc0\xaf"), "BAD_UTF8"),
    (b"\x00\x00" + codec.encode_text(b"\xed\xa0\x80"), "BAD_UTF8"),
    (b"\x00\x00" + codec.encode_text("y" * 1025), "MALFORMED"),
    (b"\x00\x00\x00\x0aabc", "MALFORMED"),
], ids=["trailing-byte", "overlong-utf8", "surrogate", "text-1025", "length-past-end"])
def test_invalid_bye_is_nacked_and_the_connection_survives(live, payload, code):
    """[BYE-2] a BYE breaking its layout (trailing bytes [CONV-2], bad UTF-8 [CONV-1],
    text over 1024 bytes, a length past the end [CONV-3]): NACK, and the connection
    survives ([ERR-2])."""
    s = live.open()
    tag = s.request(codec.OP_BYE, payload)
    s.expect_nack(tag, code, "BYE-2", req_opcode=codec.OP_BYE)
    s.roundtrip("ERR-2")
