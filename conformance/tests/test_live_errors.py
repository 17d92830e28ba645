"""Chapters 00 and 06 live: bad input never costs more than the NACK or the close the spec
names ([CONV-4], [ERR-1]..[ERR-3]), and text fields are strict UTF-8 ([CONV-1]).

After every test of the suite the harness also checks, on a fresh session, that the peer
neither crashed nor hangs ([CONV-4]); a failure there is charged to the test that caused
it.
"""

import os
import struct

import pytest

from parley import codec

BAD_REQUESTS = [
    (codec.encode_frame(codec.OP_PING, 0x10, 1, b"x"), "BAD_FLAGS"),
    (codec.encode_frame(99, 0, 2, b""), "UNKNOWN_OPCODE"),
    (codec.encode_frame(codec.OP_PING, 0, 3, bytes(65)), "MALFORMED"),
    (codec.encode_frame(codec.OP_BYE, 0, 4, b"\x00\x00\x00\x02\xff\xfe"), "BAD_UTF8"),
    (codec.encode_frame(codec.OP_SET_CONNECTION_OPT, 0, 5, bytes([0, 9])), "MALFORMED"),
    (codec.encode_frame(codec.OP_SET_CONNECTION_OPT, 0, 6, bytes([7, 0])), "UNSUPPORTED"),
    (codec.encode_frame(codec.OP_STATS, 0, 7), "UNAUTHORIZED"),
    (codec.encode_frame(codec.OP_FIND_NODE, 0, 8, bytes(32)), "NOT_IMPLEMENTED"),
    (codec.encode_frame(codec.OP_PING, codec.FLAG_MORE, 9, b"\x00"), "MALFORMED"),
]


@pytest.mark.reqs("ERR-2", "ERR-1", "ERR-3")
def test_connection_stays_usable_after_every_kind_of_nack(live):
    """[ERR-2] after each NACK the peer keeps reading and answering; [ERR-1] each error
    gets its registry code; [ERR-3] none of them closes the connection."""
    s = live.open()
    for frame, code in BAD_REQUESTS:
        header = codec.parse_frame_header(frame)
        s.send_frames([frame])
        s.expect_nack(header["tag"], code, "ERR-1", req_opcode=header["opcode"])
        s.roundtrip("ERR-2")


@pytest.mark.reqs("CONV-4", "ERR-3")
def test_bad_input_on_one_connection_does_not_disturb_the_others(live):
    """[CONV-4] while other connections send garbage records, bad prefaces and broken
    handshakes, an established session keeps being served, and the peer keeps accepting."""
    keeper = live.open("keeper")
    keeper.roundtrip("CONV-4")
    broken = live.open("broken")
    broken.send_raw(struct.pack(">H", 100) + os.urandom(100), "a record that does not open")
    junk = live.connect("junk")
    junk.send_raw(b"\xff" * 64, "junk instead of a preface")
    half = live.connect("half")
    half.send_hello()
    half.read_answer()
    half.send_raw(struct.pack(">H", 32) + os.urandom(20), "message 1 cut short")
    for _ in range(3):
        keeper.roundtrip("CONV-4")
    broken.expect_closed_silently("REC-3", what="garbage record")
    junk.expect_closed_silently("PRE-2", what="junk preface")
    live.open("newcomer").roundtrip("CONV-4")
    keeper.roundtrip("CONV-4")


@pytest.mark.reqs("CONV-4")
def test_abrupt_resets_mid_message_are_survived(live):
    """[CONV-4] connections reset in the middle of a record, of a fragmented message and
    of the handshake leave the peer serving."""
    a = live.open("mid-record")
    sealed = a.seal(codec.encode_frame(codec.OP_PING, 0, 1, b"cut"))
    a.send_raw(sealed[:7], "the first 7 bytes of a record")
    a.conn.reset()
    b = live.open("mid-message")
    b.send_frames([codec.encode_frame(codec.OP_PING, codec.FLAG_MORE, 2,
                                      struct.pack(">I", 1 << 20) + bytes(1000))])
    b.conn.reset()
    c = live.connect("mid-handshake")
    c.send_hello()
    c.read_answer()
    c.conn.reset()
    live.open("after").roundtrip("CONV-4")


@pytest.mark.reqs("CONV-1")
@pytest.mark.parametrize("raw", [b"\xc0\x80", b"\xe0\x80\x80", b"\xed\xbf\xbf",
                                 b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80", b"ok\xff"],
                         ids=["overlong-nul", "overlong-3", "surrogate", "above-10ffff",
                              "truncated", "lone-continuation", "ff"])
def test_invalid_utf8_in_a_request_text_is_nacked_bad_utf8(live, raw):
    """[CONV-1] a BYE text that is not strict UTF-8 (RFC 3629): NACK BAD_UTF8."""
    s = live.open()
    tag = s.request(codec.OP_BYE, b"\x00\x00" + codec.encode_text(raw))
    s.expect_nack(tag, "BAD_UTF8", "CONV-1", req_opcode=codec.OP_BYE)
    s.roundtrip("ERR-2")


@pytest.mark.reqs("CONV-1", "BYE-1")
def test_valid_multibyte_utf8_text_is_accepted(live):
    """[CONV-1] valid UTF-8 of 1..4 bytes per character (and U+10FFFF) is accepted: the
    BYE is ACKed and the connection closed."""
    s = live.open()
    tag = s.request(codec.OP_BYE, codec.encode_bye({"reason": 0, "text": "aé€😀\U0010ffff"}))
    s.expect_ack(tag, "CONV-1", codec.OP_BYE)
    s.expect_close("BYE-1")


@pytest.mark.reqs("CONV-2", "CONV-3")
@pytest.mark.parametrize("opcode,payload,req", [
    (codec.OP_SET_CONNECTION_OPT, bytes([0, 3, 0]), "CONV-2"),
    (codec.OP_SET_CONNECTION_OPT, bytes([0]), "CONV-3"),
    (codec.OP_BYE, b"\x00\x00\x00\x00\x00", "CONV-2"),
    (codec.OP_BYE, b"\x00\x00\x00\x05ab", "CONV-3"),
    (codec.OP_BYE, b"\x00", "CONV-3"),
], ids=["opt-trailing", "opt-short", "bye-trailing", "bye-length-past-end", "bye-short"])
def test_trailing_bytes_and_lengths_past_the_end_are_malformed(live, opcode, payload, req):
    """[CONV-2] bytes left over after the last field, [CONV-3] a field or length running
    past the end: NACK MALFORMED."""
    s = live.open()
    tag = s.request(opcode, payload)
    s.expect_nack(tag, "MALFORMED", req, req_opcode=opcode)
    s.roundtrip("ERR-2")

