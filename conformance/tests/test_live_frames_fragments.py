"""Chapter 04 live: fragments, ABORT and the limits on reassembly (§4.3, §4.4),
[FRAG-1]..[FRAG-11], [LIMIT-1], [LIMIT-3].

The messages are PINGs: small ones are ACKed with their data, large ones are reassembled
and then NACKed MALFORMED ([PING-2]) -- which proves the peer reassembled them rather
than refusing them for their size.
"""

import struct

import pytest

from parley import codec
from parley.harness.outcomes import check

MORE = codec.FLAG_MORE


def frame(tag, payload, flags=0, opcode=codec.OP_PING):
    return codec.encode_frame(opcode, flags, tag, payload)


def first(tag, total, data=b"", opcode=codec.OP_PING):
    return frame(tag, struct.pack(">I", total) + data, MORE, opcode)


@pytest.mark.reqs("FRAG-1", "FRAG-8", "TAG-4")
def test_fragments_of_different_tags_interleave_with_other_frames(live):
    """[FRAG-1] three fragmented PINGs interleaved fragment by fragment, with single-frame
    PINGs between them: each is reassembled with its own data ([FRAG-8])."""
    s = live.open()
    datas = {tag: bytes([tag]) * 60 for tag in (11, 12, 13)}
    frames = []
    for tag, data in datas.items():
        frames.append(first(tag, len(data), data[:20]))
    frames.append(frame(21, b"between-1"))
    for tag, data in datas.items():
        frames.append(frame(tag, data[20:40], MORE))
        frames.append(frame(22 + tag, b"between-2"))
    for tag, data in reversed(list(datas.items())):
        frames.append(frame(tag, data[40:]))
    s.send_frames(frames, pack=False)
    for tag, data in datas.items():
        body = s.expect_ack(tag, "FRAG-1", codec.OP_PING)
        check(body["data"] == data, "FRAG-1", f"tag {tag} reassembled {body['data'].hex()}")
    for tag in (21, 33, 34, 35):
        s.expect_ack(tag, "FRAG-1", codec.OP_PING)
    s.sync("FRAG-1")


@pytest.mark.reqs("FRAG-8")
def test_message_is_processed_only_when_its_last_fragment_arrives(live):
    """[FRAG-8] after the first fragment nothing is answered on its tag (a round trip on
    another tag proves the peer has read it); the last fragment brings the ACK."""
    s = live.open()
    s.send_frames([first(5, 6, b"abc")])
    events = s.sync("FRAG-8")
    check(not [e for e in events if e["event"] == "response" and e["tag"] == 5], "FRAG-8",
          f"answered before the last fragment: {events}")
    s.send_frames([frame(5, b"def")])
    body = s.expect_ack(5, "FRAG-8", codec.OP_PING)
    check(body["data"] == b"abcdef", "FRAG-8", f"reassembled {body['data']!r}")


@pytest.mark.reqs("FRAG-2")
@pytest.mark.parametrize("payload,code", [(b"", "MALFORMED"), (b"\x00\x00\x01", "MALFORMED"),
                                          (struct.pack(">I", 2) + b"abc", "LENGTH_MISMATCH")],
                         ids=["empty", "3-bytes", "total-below-data"])
def test_bad_first_fragment_is_nacked(live, payload, code):
    """[FRAG-2] a first fragment under 4 bytes: MALFORMED; a total below the data it
    carries: LENGTH_MISMATCH; the rest of the message is discarded."""
    s = live.open()
    s.manual_tags = True
    s.await_answer(3)
    s.send_frames([frame(3, payload, MORE)])
    s.expect_nack(3, code, "FRAG-2", req_opcode=codec.OP_PING)
    s.send_frames([frame(3, b"discarded")])
    events = s.sync("FRAG-3")
    check(not [e for e in events if e["event"] == "response"], "FRAG-3",
          f"the rest of the refused message was answered: {events}")


@pytest.mark.reqs("FRAG-3", "LIMIT-3")
def test_total_above_max_message_is_nacked_at_once_and_the_rest_discarded(live):
    """[FRAG-3] a first fragment announcing max_message + 1 bytes: NACK MESSAGE_TOO_LARGE
    before any further fragment is sent; its later fragments are dropped until one without
    MORE; then the tag serves a new request; [LIMIT-3] the connection survives."""
    s = live.open()
    s.manual_tags = True
    too_big = live.info.remote.max_message + 1
    s.await_answer(4)
    s.send_frames([first(4, too_big, b"x" * 100)])
    s.expect_nack(4, "MESSAGE_TOO_LARGE", "FRAG-3", req_opcode=codec.OP_PING)
    s.send_frames([frame(4, b"y" * 1000, MORE), frame(4, b"y" * 1000, MORE), frame(4, b"end")])
    s.await_answer(4)
    s.send_frames([frame(4, b"new")])
    body = s.expect_ack(4, "FRAG-3", codec.OP_PING)
    check(body["data"] == b"new", "FRAG-3", f"the new request echoes {body['data']!r}")
    s.sync("LIMIT-3")


@pytest.mark.reqs("FRAG-4", "LIMIT-3")
def test_reassembly_budget_is_enforced(live):
    """[FRAG-4] first fragments whose totals reserve exactly the peer's reassembly_budget
    are accepted; one more byte reserved: NACK BUDGET_EXCEEDED. ABORTs free the budget
    ([FRAG-8]) and a new message then fits."""
    s = live.open()
    s.manual_tags = True
    remote = live.info.remote
    budget, largest = remote.reassembly_budget, remote.max_message
    totals = []
    left = budget
    while left:
        totals.append(min(largest, left))
        left -= totals[-1]
    tags = list(range(1, len(totals) + 1))
    check(len(tags) < remote.max_tags, "FRAG-4", "harness: budget needs too many tags")
    s.send_frames([first(tag, total) for tag, total in zip(tags, totals)])
    over = len(tags) + 1
    s.await_answer(over)
    s.send_frames([first(over, 1)])
    s.expect_nack(over, "BUDGET_EXCEEDED", "FRAG-4", req_opcode=codec.OP_PING)
    events = s.sync("FRAG-4")
    check(not [e for e in events if e["event"] == "response"], "FRAG-4",
          f"messages within the budget were refused: {events}")
    s.send_frames([frame(tag, b"", codec.FLAG_ABORT) for tag in tags])
    s.await_answer(over + 1)
    s.send_frames([first(over + 1, 2, b"o"), frame(over + 1, b"k")])
    body = s.expect_ack(over + 1, "FRAG-4", codec.OP_PING)
    check(body["data"] == b"ok", "FRAG-8", f"after ABORTs: {body}")


@pytest.mark.reqs("FRAG-5")
@pytest.mark.parametrize("case", ["too-much-data", "ends-early"])
def test_fragment_data_that_disagrees_with_the_total_is_length_mismatch(live, case):
    """[FRAG-5] data beyond the total, or a last fragment before the total is reached:
    NACK LENGTH_MISMATCH, the message discarded."""
    s = live.open()
    s.manual_tags = True
    s.await_answer(6)
    if case == "too-much-data":
        s.send_frames([first(6, 4, b"ab"), frame(6, b"cde", MORE)])
        s.expect_nack(6, "LENGTH_MISMATCH", "FRAG-5", req_opcode=codec.OP_PING)
        s.send_frames([frame(6, b"tail")])  # discarded: ends the message
    else:
        s.send_frames([first(6, 10, b"ab"), frame(6, b"cd")])
        s.expect_nack(6, "LENGTH_MISMATCH", "FRAG-5", req_opcode=codec.OP_PING)
    events = s.sync("FRAG-5")
    check(not [e for e in events if e["event"] == "response"], "FRAG-5", f"extra: {events}")


@pytest.mark.reqs("FRAG-6")
@pytest.mark.parametrize("case", ["other-opcode", "compressed-bit"])
def test_later_fragment_that_differs_is_bad_fragment_with_the_first_opcode(live, case):
    """[FRAG-6] a later fragment with another opcode (or COMPRESSED set where the first had
    it clear, with zlib in force): NACK BAD_FRAGMENT carrying the first fragment's opcode."""
    s = live.open()
    s.manual_tags = True
    if case == "compressed-bit":
        tag = s.request(codec.OP_SET_CONNECTION_OPT, bytes([0, codec.SETTING_ZLIB]))
        s.expect_ack(tag, "OPT-2", codec.OP_SET_CONNECTION_OPT)
        later = frame(7, codec.compress(b"cd"), codec.FLAG_COMPRESSED)
    else:
        later = frame(7, b"cd", opcode=codec.OP_BYE)
    s.await_answer(7)
    s.send_frames([first(7, 4, b"ab"), later])
    s.expect_nack(7, "BAD_FRAGMENT", "FRAG-6", req_opcode=codec.OP_PING)
    s.sync("ERR-2")


@pytest.mark.reqs("FRAG-7", "FRAG-11")
@pytest.mark.parametrize("abort_opcode", [codec.OP_PING, codec.OP_BYE, codec.OP_STATS],
                         ids=["same-opcode", "bye", "admin-opcode"])
def test_abort_cancels_the_message_and_frees_the_tag(live, abort_opcode):
    """[FRAG-7] ABORT (whatever its opcode) cancels the message in progress on its tag and
    sends nothing; [FRAG-11] the tag is then reused for a new request."""
    s = live.open()
    s.manual_tags = True
    s.send_frames([first(9, 10, b"abc"), frame(9, b"", codec.FLAG_ABORT, abort_opcode)])
    events = s.sync("FRAG-7")
    check(not [e for e in events if e["event"] == "response"], "FRAG-7",
          f"ABORT was answered: {events}")
    s.await_answer(9)
    s.send_frames([frame(9, b"reused")])
    body = s.expect_ack(9, "FRAG-11", codec.OP_PING)
    check(body["data"] == b"reused", "FRAG-11", f"echo {body['data']!r}")


@pytest.mark.reqs("FRAG-7")
def test_abort_on_a_tag_without_a_message_is_ignored(live):
    """[FRAG-7] an ABORT on a tag where nothing is in progress is ignored."""
    s = live.open()
    s.manual_tags = True
    s.send_frames([frame(40, b"", codec.FLAG_ABORT), frame(0, b"", codec.FLAG_ABORT)])
    events = s.sync("FRAG-7")
    check(not [e for e in events if e["event"] == "response"], "FRAG-7", f"answered: {events}")


@pytest.mark.reqs("LIMIT-1", "FRAG-2", "FRAG-8")
@pytest.mark.parametrize("size", ["1MiB", "max_message"])
def test_message_of_the_largest_allowed_size_is_reassembled(live, size):
    """[LIMIT-1] a PING of 1 MiB, and one of the peer's own max_message, in fragments:
    reassembled and decoded (then NACK MALFORMED: PING data is at most 64 bytes), never
    refused for its size; the connection survives."""
    s = live.open()
    total = codec.MIN_MAX_MESSAGE if size == "1MiB" else live.info.remote.max_message
    frames = codec.encode_fragments(codec.OP_PING, 0, 10, bytes(total))
    s.send_frames(frames)
    s.expect_nack(10, "MALFORMED", "LIMIT-1", req_opcode=codec.OP_PING, timeout=10)
    s.sync("LIMIT-1")


@pytest.mark.reqs("FRAG-9")
def test_unfragmented_answers_carry_no_total(live):
    """[FRAG-9] the peer's single-frame answers carry no total: the ACK payload is the
    req_opcode and the echoed data, nothing before them."""
    s = live.open()
    tag = s.ping(b"\x00\x00\x00\x05hello")
    body = s.expect_ack(tag, "FRAG-9", codec.OP_PING)
    check(body["data"] == b"\x00\x00\x00\x05hello", "FRAG-9", f"echo {body['data']!r}")
    header = [h for h in s.headers_in if h["tag"] == tag][-1]
    check(not header["flags"] & MORE and header["length"] == 1 + 9, "FRAG-9",
          f"ACK frame header {header}")
