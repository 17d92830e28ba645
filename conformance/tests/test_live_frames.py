"""Chapter 04 live: the frame header and its checks (§4.1), [FRAME-1]..[FRAME-9].

Hand-written cases for each rule, then every case of vectors/frame_header.json sent live
inside an authenticated session: the 8 header bytes followed by `length` zero bytes (or
as many as fit in one record), answered as the receiver model predicts with the peer's
own limits (parley.harness.oracle).
"""

import pytest

from parley import codec, record, vectors
from parley.errors import NACK_CODES
from parley.harness.oracle import check_option_answer, replay
from parley.harness.outcomes import Violation, check


def enable_zlib(s, model=None):
    """SET_CONNECTION_OPT COMPRESSION zlib, ACKed ([OPT-2]: every peer supports it)."""
    tag = s.request(codec.OP_SET_CONNECTION_OPT,
                    bytes([codec.OPT_COMPRESSION, codec.SETTING_ZLIB]))
    if not check_option_answer(s, tag, codec.OPT_COMPRESSION, codec.SETTING_ZLIB, (), model):
        raise Violation("OPT-2", "the peer does not support zlib compression")


@pytest.mark.reqs("FRAME-7", "MSG-1", "ERR-2", "FRAME-8")
def test_unknown_opcode_is_nacked_and_connection_survives(live):
    """[FRAME-7] [MSG-1] every unassigned opcode 18..255 in a request: NACK UNKNOWN_OPCODE
    on its tag ([FRAME-8]) whose text names the opcode; the connection survives
    ([ERR-2])."""
    s = live.open()
    frames = [codec.encode_frame(op, 0, op, b"unknown") for op in range(18, 256)]
    s.send_frames(frames)
    for op in range(18, 256):
        body = s.expect_nack(op, "UNKNOWN_OPCODE", "FRAME-7", req_opcode=op)
        text = body["text"]
        check(str(op) in text or f"{op:#x}" in text.lower() or f"{op:02x}" in text.lower(),
              "FRAME-7", f"NACK text {text!r} does not name opcode {op}")
    s.roundtrip("ERR-2")


@pytest.mark.reqs("FRAME-3", "ERR-2")
@pytest.mark.parametrize("bit", [0x10, 0x20, 0x40, 0x80])
def test_reserved_flag_bit_is_nacked_bad_flags(live, bit):
    """[FRAME-3] a reserved flag bit: NACK BAD_FLAGS, the frame otherwise ignored (the PING
    is not answered), the connection survives."""
    s = live.open()
    s.send_frames([codec.encode_frame(codec.OP_PING, bit, 5, b"reserved")])
    s.expect_nack(5, "BAD_FLAGS", "FRAME-3", req_opcode=codec.OP_PING)
    events = s.sync("ERR-2")
    check(not [e for e in events if e["event"] == "response"], "FRAME-3",
          f"the frame was also processed: {events}")


@pytest.mark.reqs("FRAME-4")
@pytest.mark.parametrize("flags", [codec.FLAG_ABORT | codec.FLAG_MORE,
                                   codec.FLAG_ABORT | codec.FLAG_COMPRESSED],
                         ids=["abort-more", "abort-compressed"])
def test_abort_with_more_or_compressed_is_nacked_bad_flags(live, flags):
    """[FRAME-4] ABORT with MORE or COMPRESSED: NACK BAD_FLAGS."""
    s = live.open()
    s.manual_tags = True
    s.await_answer(6)
    s.send_frames([codec.encode_frame(codec.OP_PING, flags, 6)])
    s.expect_nack(6, "BAD_FLAGS", "FRAME-4", req_opcode=codec.OP_PING)
    s.sync("ERR-2")


@pytest.mark.reqs("FRAME-4")
def test_abort_with_a_payload_is_nacked_malformed(live):
    """[FRAME-4] an ABORT frame of non-zero length: NACK MALFORMED."""
    s = live.open()
    s.manual_tags = True
    s.await_answer(6)
    s.send_frames([codec.encode_frame(codec.OP_PING, codec.FLAG_ABORT, 6, b"x")])
    s.expect_nack(6, "MALFORMED", "FRAME-4", req_opcode=codec.OP_PING)
    s.sync("ERR-2")


@pytest.mark.reqs("FRAME-5")
@pytest.mark.parametrize("opcode", [codec.OP_ACK, codec.OP_NACK], ids=["ACK", "NACK"])
def test_request_with_opcode_ack_or_nack_is_nacked_bad_flags(live, opcode):
    """[FRAME-5] a request frame (RESPONSE clear) with opcode ACK or NACK: NACK BAD_FLAGS
    carrying that opcode."""
    s = live.open()
    s.send_frames([codec.encode_frame(opcode, 0, 9, bytes([codec.OP_PING]))])
    s.expect_nack(9, "BAD_FLAGS", "FRAME-5", req_opcode=opcode)
    s.sync("ERR-2")


@pytest.mark.reqs("FRAME-5", "TAG-6")
def test_response_flag_on_another_opcode_is_dropped_unanswered(live):
    """[FRAME-5] [TAG-6] RESPONSE with opcode PING fails the header checks; a frame with
    RESPONSE is never answered."""
    s = live.open()
    s.manual_tags = True
    s.send_frames([codec.encode_frame(codec.OP_PING, codec.FLAG_RESPONSE, 9, b"x")])
    events = s.sync("ERR-2")
    check(not [e for e in events if e["event"] == "response"], "TAG-6",
          f"a response frame was answered: {events}")


@pytest.mark.reqs("FRAME-6")
def test_compressed_without_a_setting_in_force_is_nacked_bad_flags(live):
    """[FRAME-6] COMPRESSED before any compression setting is acknowledged: BAD_FLAGS."""
    s = live.open()
    s.send_frames([codec.encode_frame(codec.OP_PING, codec.FLAG_COMPRESSED, 4,
                                      codec.compress(b"zipped"))])
    s.expect_nack(4, "BAD_FLAGS", "FRAME-6", req_opcode=codec.OP_PING)
    s.sync("ERR-2")


@pytest.mark.reqs("FRAME-2", "ERR-2")
def test_frame_over_16384_is_nacked_and_its_payload_skipped_unread(live):
    """[FRAME-2] a 16385-byte frame inside the record: NACK FRAME_TOO_LARGE on its tag, its
    payload skipped unread (the PING frames inside it are not answered), the next frame of
    the same record served."""
    s = live.open()
    s.manual_tags = True
    inner = codec.encode_frame(codec.OP_PING, 0, 77, b"inside")
    payload = (inner * (codec.FRAME_MAX_PAYLOAD // len(inner) + 1))[:codec.FRAME_MAX_PAYLOAD + 1]
    big = codec.encode_frame(codec.OP_PING, 0, 12, payload)
    after = codec.encode_frame(codec.OP_PING, 0, 13, b"after")
    s.await_answer(12)
    s.await_answer(13)
    s.send_record(big + after)
    s.expect_nack(12, "FRAME_TOO_LARGE", "FRAME-2", req_opcode=codec.OP_PING)
    s.expect_ack(13, "FRAME-2", codec.OP_PING)
    events = s.sync("ERR-2")
    check(not [e for e in events if e["event"] == "response"], "FRAME-2",
          f"frames inside the skipped payload were answered: {events}")


@pytest.mark.reqs("FRAME-8", "NACK-1")
def test_nack_is_sent_on_the_request_tag_with_its_opcode_and_a_utf8_text(live):
    """[FRAME-8] [NACK-1] a NACK travels on the request's tag with RESPONSE set, carries the
    request's opcode, a registry code and a UTF-8 text of at most 1024 bytes."""
    s = live.open()
    s.send_frames([codec.encode_frame(codec.OP_PING, 0, 321, bytes(65))])
    body = s.expect_nack(321, "MALFORMED", "PING-2", req_opcode=codec.OP_PING)
    check(body["code"] in NACK_CODES.values(), "NACK-1", f"code {body['code']} is unregistered")
    check(len(body["text"].encode()) <= codec.TEXT_MAX, "NACK-1", "NACK text over 1024 bytes")
    header = [h for h in s.headers_in if h["tag"] == 321][-1]
    check(header["flags"] & codec.FLAG_RESPONSE and header["opcode"] == codec.OP_NACK,
          "FRAME-8", f"NACK frame header {header}")


def _frame_header_cases():
    out = []
    for group, test in vectors.cases("frame_header"):
        comp = "compressed" if group["params"]["compression"] else "plain"
        out.append(pytest.param(group["params"]["compression"], test,
                                id=f"frame_header-{test['tcId']}-{comp}",
                                marks=pytest.mark.reqs(*test["reqs"])))
    return out


@pytest.mark.reqs("FRAME-2", "FRAME-3", "FRAME-4", "FRAME-5", "FRAME-6", "FRAME-7", "FRAME-9",
                  "TAG-3")
@pytest.mark.parametrize("compression,case", _frame_header_cases())
def test_frame_header_vector_is_answered_as_section_4_1_orders(live, compression, case):
    """[FRAME-9] each header of vectors/frame_header.json with `length` zero bytes after it
    (as many as fit in one record): the NACK, the answer or the close that the checks of
    §4.1, applied in order, call for."""
    header = bytes.fromhex(case["hex"])
    length = codec.parse_frame_header(header)["length"]
    frame = header + bytes(min(length, record.PLAINTEXT_MAX - codec.FRAME_HEADER_LEN))
    s = live.open()
    model = live.model(s)
    if compression:
        enable_zlib(s, model)
    s.note(f"vector frame_header#{case['tcId']}: {case['comment']} "
           f"({case['result']} {case.get('error', '')})")
    replay(s, model, [frame], case["reqs"][0], live.manifest.compression_settings)


def _message_header_cases():
    return [pytest.param(t, id=f"messages-{t['tcId']}", marks=pytest.mark.reqs(*t["reqs"]))
            for g, t in vectors.cases("messages", "message") if "header" in g["comment"]]


@pytest.mark.reqs("FRAME-3", "FRAME-6", "FRAME-9")
@pytest.mark.parametrize("case", _message_header_cases())
def test_whole_frame_failing_its_header_checks_is_nacked(live, case):
    """[FRAME-9] the whole frames of vectors/messages.json whose header fails §4.1."""
    s = live.open()
    s.note(f"vector messages#{case['tcId']}: {case['comment']}")
    replay(s, live.model(s), [bytes.fromhex(case["hex"])], case["reqs"][0],
           live.manifest.compression_settings)
