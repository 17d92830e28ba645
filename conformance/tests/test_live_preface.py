"""Chapter 01 live: preface and version negotiation, the peer as responder.

Requirements: [PRE-2] [PRE-3] [PRE-4] [PRE-5] [PRE-7] [PRE-8] here; [PRE-1] and [PRE-6]
(the peer as initiator) in test_live_initiator.py; the [PRE-7] timeout in
test_live_timeouts.py.
"""

import pytest

from parley import codec, vectors
from parley.errors import ParleyError
from parley.harness import net
from parley.harness.outcomes import Violation, check
from parley.harness.transcript import describe_preface


def _hello_inputs():
    """Every HELLO a responder judges in vectors/preface.json, once each."""
    seen = {}
    for group, test in vectors.cases("preface"):
        if group["type"] == "negotiate" or group["params"].get("expect") == "hello":
            seen.setdefault(test["hex"], test)
    return [pytest.param(t, id=f"preface-{t['tcId']}", marks=pytest.mark.reqs(*t["reqs"]))
            for t in seen.values()]


@pytest.mark.reqs("PRE-2", "PRE-3", "PRE-4", "PRE-5")
@pytest.mark.parametrize("case", _hello_inputs())
def test_responder_answers_each_hello_vector_as_negotiation_requires(live, case):
    """[PRE-2] bad magic: close, nothing sent; [PRE-3] malformed: REFUSE listing every
    major, close; [PRE-4] ACCEPT of the highest common major; [PRE-5] no common major:
    REFUSE, close. The answer is computed for the peer's own majors."""
    hello = bytes.fromhex(case["hex"])
    expected = codec.negotiate(hello, live.info.majors)
    s = live.connect()
    s.note(f"vector preface#{case['tcId']}: {case['comment']}; the peer's majors are "
           f"{live.info.majors}, so the answer due is {expected.answer.hex() or 'nothing'}")
    s.send_raw(hello, "HELLO from the vector")
    rule = {"PREFACE_BAD_MAGIC": "PRE-2", "PREFACE_MALFORMED": "PRE-3",
            "NO_COMMON_MAJOR": "PRE-5", None: "PRE-4"}[expected.error]
    if not expected.answer:
        _expect_silent_close(s, rule)
        return
    try:
        got = s.read_preface()
    except (net.Timeout, net.Closed) as exc:
        raise Violation(rule, f"no answer {expected.answer.hex()} to HELLO {hello.hex()}: {exc}")
    s.transcript.add(s.label, "recv", "preface", got, describe_preface(got))
    check(got == expected.answer, rule,
          f"HELLO {hello.hex()} answered {got.hex()}, not {expected.answer.hex()}")
    if expected.error:  # REFUSE: the peer closes and does no cryptographic work
        s.expect_closed_silently(rule, what="close after REFUSE")


def _expect_silent_close(s, rule):
    """Close without a byte sent. A peer that reads a whole preface before judging the
    magic may wait for more bytes; our FIN then ends the wait ([PRE-9] is a SHOULD of
    the implementation, not tested)."""
    try:
        s.expect_closed_silently(rule, timeout=1.0, what="close without sending anything")
    except Violation as exc:
        if "still open" not in str(exc):
            raise
        s.note("still open after 1 s (the peer waits for more bytes); sending FIN")
        s.conn.shutdown_write()
        s.expect_closed_silently(rule, what="close without sending anything")


@pytest.mark.reqs("PRE-2")
@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00" * 16,
                                  b"PARLEX\x01\x01\x01", b"SSH-2.0-OpenSSH_9.2\r\n"],
                         ids=["http", "zeros", "parlex", "ssh"])
def test_bad_magic_is_closed_without_sending_anything(live, data):
    """[PRE-2] bytes that do not begin with the magic: close, no reflection of the input."""
    s = live.connect()
    s.send_raw(data, "not a Parley preface")
    _expect_silent_close(s, "PRE-2")


@pytest.mark.reqs("PRE-4", "PRE-8", "HS-2", "HS-1")
def test_hello_with_major_1_is_accepted_and_the_prologue_binds_both_prefaces(live):
    """[PRE-4] ACCEPT 1; [PRE-8] [HS-2] message 2 decrypts under the prologue HELLO ||
    ACCEPT, byte for byte; [HS-1] the handshake completes and a PING is answered."""
    s = live.connect()
    s.send_hello([codec.PROTOCOL_MAJOR])
    _, answer = s.read_answer()
    check(answer == {"kind": "ACCEPT", "major": 1}, "PRE-4", f"HELLO [1] answered {answer}")
    s.begin_handshake()
    s.send_handshake_message()
    try:
        s.read_handshake_message()
    except ParleyError as err:
        raise Violation("PRE-8", "message 2 does not decrypt under the prologue HELLO || "
                                 f"ACCEPT: {err}") from None
    s.send_handshake_message()
    s.finish_handshake()
    s.roundtrip("HS-1")


@pytest.mark.reqs("PRE-4")
@pytest.mark.parametrize("extra", [[255], [9, 7], list(range(16, 1, -1))],
                         ids=["255", "9-7", "16-down-to-2"])
def test_highest_common_major_is_chosen(live, extra):
    """[PRE-4] HELLO listing higher majors the peer may not speak, then 1: ACCEPT of the
    highest one the peer supports."""
    majors = sorted(set(extra) | {1}, reverse=True)[:16]
    common = [m for m in majors if m in live.info.majors]
    s = live.connect()
    s.send_hello(majors)
    _, answer = s.read_answer()
    check(answer == {"kind": "ACCEPT", "major": max(common)}, "PRE-4",
          f"HELLO {majors} answered {answer}; the peer supports {live.info.majors}")
    if answer["major"] == 1:
        s.begin_handshake()
        s.send_handshake_message()
        s.read_handshake_message()
        s.send_handshake_message()
        s.finish_handshake()
        s.roundtrip("PRE-4")


@pytest.mark.reqs("PRE-5")
def test_hello_without_a_common_major_is_refused_with_every_major_then_closed(live):
    """[PRE-5] REFUSE listing every major the peer supports, strictly descending; then
    close, with no cryptographic work (nothing more is sent)."""
    offered = [m for m in (254, 200, 100) if m not in live.info.majors][:2]
    s = live.connect()
    s.send_hello(offered)
    data, answer = s.read_answer()
    if isinstance(answer, ParleyError):
        raise Violation("PRE-5", f"HELLO {offered} answered an invalid preface: {answer}")
    check(answer["kind"] == "REFUSE", "PRE-5", f"HELLO {offered} answered {answer}")
    check(answer["majors"] == sorted(answer["majors"], reverse=True), "PRE-5",
          f"REFUSE majors {answer['majors']} are not strictly descending")
    check(1 in answer["majors"], "PRE-5", f"REFUSE {answer['majors']} omits major 1, which "
                                          "the peer speaks")
    s.expect_closed_silently("PRE-5", what="close after REFUSE")


@pytest.mark.reqs("PRE-3")
@pytest.mark.parametrize("hello", ["5041524c45590100", "5041524c4559010100",
                                   "5041524c455901020102", "5041524c4559040101"],
                         ids=["count-0", "major-0", "ascending", "kind-4"])
def test_malformed_hello_is_refused_listing_every_major_then_closed(live, hello):
    """[PRE-3] a bad kind, count 0, major 0 or a list not strictly descending: REFUSE with
    every major the peer supports, then close."""
    s = live.connect()
    s.send_raw(bytes.fromhex(hello), "malformed HELLO")
    data, answer = s.read_answer()
    check(isinstance(answer, dict) and answer["kind"] == "REFUSE", "PRE-3",
          f"malformed HELLO {hello} answered {data.hex()} ({answer})")
    check(answer["majors"] == live.info.majors, "PRE-3",
          f"REFUSE lists {answer['majors']}, the peer's majors are {live.info.majors}")
    s.expect_closed_silently("PRE-3", what="close after REFUSE")


@pytest.mark.reqs("PRE-7")
def test_nothing_is_sent_before_the_hello_is_complete(live):
    """[PRE-7] the responder sends nothing before a complete HELLO: the last byte is held
    back for a while, then ACCEPT follows it. A HELLO arriving one byte per segment is
    read as well."""
    s = live.connect()
    hello = codec.encode_hello([1])
    for byte in hello[:-1]:
        s.send_raw(bytes([byte]), "one byte of HELLO")
    try:
        early = s.conn.recv_some(timeout=0.3)
    except net.Timeout:
        early = b""
    except net.Closed as exc:
        raise Violation("PRE-7", f"the peer closed ({exc.how}) a HELLO one byte short") from None
    check(not early, "PRE-7", f"the peer sent {early.hex()} before the HELLO was complete")
    s.send_raw(hello[-1:], "the last byte of HELLO")
    s.hello_bytes = hello
    _, answer = s.read_answer()
    check(answer == {"kind": "ACCEPT", "major": 1}, "PRE-4", f"HELLO answered {answer}")
